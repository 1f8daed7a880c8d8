//! CloudFormation values: a literal or an intrinsic function, in the short (`!Ref X`)
//! or the long (`{Ref: X}`, `{"Fn::GetAtt": [X, Arn]}`) form, read by serde.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, EnumAccess, MapAccess, VariantAccess, Visitor};
use serde_yaml_ng::Value;

/// A CloudFormation value: a literal or one of the intrinsic functions the template uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A literal scalar (string, number or boolean), as written.
    Literal(String),
    /// `!Ref NAME`: a parameter, a pseudo parameter or a resource.
    Ref(String),
    /// `!GetAtt RESOURCE.ATTRIBUTE`.
    GetAtt {
        /// Logical id of the resource.
        resource: String,
        /// Attribute name, e.g. `Arn`.
        attribute: String,
    },
    /// `!Sub STRING`.
    Sub(String),
    /// `!Sub [STRING, {NAME: VALUE, ...}]`: the string and its own variables.
    SubWith {
        /// The string, with `${NAME}` placeholders.
        text: String,
        /// The variables, by name.
        variables: std::collections::BTreeMap<String, Expr>,
    },
    /// `!Join [DELIMITER, [PARTS...]]`.
    Join {
        /// The delimiter.
        delimiter: String,
        /// The joined values.
        parts: Vec<Expr>,
    },
    /// `!If [CONDITION, THEN, ELSE]`: `THEN` where the named condition holds.
    If {
        /// Name of a condition under `Conditions`.
        condition: String,
        /// The value where it holds.
        then: Box<Expr>,
        /// The value where it does not.
        otherwise: Box<Expr>,
    },
    /// `!Equals [A, B]` (in `Conditions`).
    Equals(Box<Expr>, Box<Expr>),
    /// Another intrinsic function (`!FindInMap`, `!Select`, ...), by name; not interpreted.
    Other(String),
}

impl Expr {
    /// The literal text, if this is a literal.
    pub fn as_literal(&self) -> Option<&str> {
        match self {
            Expr::Literal(s) => Some(s),
            _ => None,
        }
    }

    /// The name referenced, if this is a `!Ref`.
    pub fn as_ref_name(&self) -> Option<&str> {
        match self {
            Expr::Ref(name) => Some(name),
            _ => None,
        }
    }

    /// Every name this value `!Ref`s, in order (looking inside `!Join` and `!If`).
    pub fn refs(&self) -> Vec<&str> {
        match self {
            Expr::Ref(name) => vec![name.as_str()],
            Expr::Join { parts, .. } => parts.iter().flat_map(Expr::refs).collect(),
            Expr::If {
                then, otherwise, ..
            } => then.refs().into_iter().chain(otherwise.refs()).collect(),
            Expr::Equals(a, b) => a.refs().into_iter().chain(b.refs()).collect(),
            Expr::SubWith { variables, .. } => variables.values().flat_map(Expr::refs).collect(),
            _ => Vec::new(),
        }
    }

    /// Interprets intrinsic function `name` (without `!` or `Fn::`) applied to `arg`.
    fn call(name: &str, arg: Value) -> Result<Self, String> {
        let text = |v: &Value| scalar(v).ok_or_else(|| format!("!{name}: expected a literal"));
        let expr = |v: Value| Expr::deserialize(v).map_err(|e| format!("!{name}: {e}"));
        Ok(match name {
            "Ref" => Expr::Ref(text(&arg)?),
            "GetAtt" => {
                let (resource, attribute) = match &arg {
                    Value::Sequence(parts) if parts.len() == 2 => {
                        (text(&parts[0])?, text(&parts[1])?)
                    }
                    other => {
                        let s = text(other)?;
                        let (r, a) = s
                            .split_once('.')
                            .ok_or("!GetAtt needs RESOURCE.ATTRIBUTE")?;
                        (r.to_owned(), a.to_owned())
                    }
                };
                Expr::GetAtt {
                    resource,
                    attribute,
                }
            }
            "Sub" => match arg {
                Value::Sequence(mut parts) if parts.len() == 2 => {
                    let variables = serde_yaml_ng::from_value(parts.remove(1))
                        .map_err(|e| format!("!Sub: its variables: {e}"))?;
                    Expr::SubWith {
                        text: text(&parts[0])?,
                        variables,
                    }
                }
                Value::Sequence(_) => {
                    return Err("!Sub needs STRING or [STRING, {VARIABLES}]".into());
                }
                other => Expr::Sub(text(&other)?),
            },
            "Join" => {
                let Value::Sequence(mut parts) = arg else {
                    return Err("!Join needs [DELIMITER, [VALUES...]]".into());
                };
                if parts.len() != 2 {
                    return Err("!Join needs [DELIMITER, [VALUES...]]".into());
                }
                let Value::Sequence(values) = parts.remove(1) else {
                    return Err("!Join needs a list of values".into());
                };
                Expr::Join {
                    delimiter: text(&parts[0])?,
                    parts: values.into_iter().map(expr).collect::<Result<_, _>>()?,
                }
            }
            "If" => {
                let Value::Sequence(parts) = arg else {
                    return Err("!If needs [CONDITION, THEN, ELSE]".into());
                };
                let Ok([condition, then, otherwise]) = <[Value; 3]>::try_from(parts) else {
                    return Err("!If needs [CONDITION, THEN, ELSE]".into());
                };
                Expr::If {
                    condition: text(&condition)?,
                    then: Box::new(expr(then)?),
                    otherwise: Box::new(expr(otherwise)?),
                }
            }
            "Equals" => {
                let Value::Sequence(parts) = arg else {
                    return Err("!Equals needs [A, B]".into());
                };
                let Ok([a, b]) = <[Value; 2]>::try_from(parts) else {
                    return Err("!Equals needs [A, B]".into());
                };
                Expr::Equals(Box::new(expr(a)?), Box::new(expr(b)?))
            }
            other => Expr::Other(other.to_owned()),
        })
    }
}

/// A scalar as written: strings as they are, numbers and booleans in their YAML spelling.
pub(crate) fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ExprVisitor)
    }
}

struct ExprVisitor;

impl<'de> Visitor<'de> for ExprVisitor {
    type Value = Expr;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value or an intrinsic function (!Ref, !GetAtt, !Sub, !Join, !If, ...)")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Expr, E> {
        Ok(Expr::Literal(v.to_owned()))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Expr, E> {
        Ok(Expr::Literal(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Expr, E> {
        Ok(Expr::Literal(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Expr, E> {
        Ok(Expr::Literal(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Expr, E> {
        Ok(Expr::Literal(serde_yaml_ng::Number::from(v).to_string()))
    }

    /// The short form: YAML tags reach serde as an enum named by the tag.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Expr, A::Error> {
        let (name, arg): (String, _) = data.variant()?;
        let arg: Value = arg.newtype_variant()?;
        Expr::call(&name, arg).map_err(de::Error::custom)
    }

    /// The long form: a mapping with one key, `Ref` or `Fn::NAME`.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Expr, A::Error> {
        let Some(key) = map.next_key::<String>()? else {
            return Err(de::Error::custom("an empty mapping is not a value"));
        };
        let name = match key.as_str() {
            "Ref" => "Ref",
            long => long
                .strip_prefix("Fn::")
                .ok_or_else(|| de::Error::custom(format!("unexpected mapping {key:?}")))?,
        }
        .to_owned();
        let arg: Value = map.next_value()?;
        if map.next_key::<String>()?.is_some() {
            return Err(de::Error::custom(format!(
                "{key}: an intrinsic function is a mapping of one key"
            )));
        }
        Expr::call(&name, arg).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn intrinsics_short_and_long_form() {
        let doc: BTreeMap<String, Expr> = serde_yaml_ng::from_str(
            r#"
a: !Ref Pool
b: { Ref: Pool }
c: !GetAtt Fn.Arn
d: { "Fn::GetAtt": [Fn, Arn] }
e: !Join [",", [!Ref A, !Ref B]]
f: !Sub "x-${AWS::Region}"
g: !If [Cond, !Ref T, ""]
h: 300
i: !Equals [!Ref EventStore, dynamodb]
j: !FindInMap [M, a, b]
k: true
l: !Sub ["${A}-${B}", {A: !Ref Client, B: !GetAtt Client.ClientSecret}]
"#,
        )
        .unwrap();
        assert_eq!(doc["a"], Expr::Ref("Pool".into()));
        assert_eq!(doc["b"], Expr::Ref("Pool".into()));
        let arn = Expr::GetAtt {
            resource: "Fn".into(),
            attribute: "Arn".into(),
        };
        assert_eq!(doc["c"], arn);
        assert_eq!(doc["d"], arn);
        assert_eq!(doc["e"].refs(), vec!["A", "B"]);
        assert_eq!(doc["f"], Expr::Sub("x-${AWS::Region}".into()));
        assert_eq!(
            doc["g"],
            Expr::If {
                condition: "Cond".into(),
                then: Box::new(Expr::Ref("T".into())),
                otherwise: Box::new(Expr::Literal(String::new())),
            }
        );
        assert_eq!(doc["h"], Expr::Literal("300".into()));
        assert_eq!(doc["i"].refs(), vec!["EventStore"]);
        assert_eq!(doc["j"], Expr::Other("FindInMap".into()));
        assert_eq!(doc["k"], Expr::Literal("true".into()));
        let Expr::SubWith { text, variables } = &doc["l"] else {
            panic!("{:?}", doc["l"])
        };
        assert_eq!(text, "${A}-${B}");
        assert_eq!(variables["A"], Expr::Ref("Client".into()));
        assert_eq!(doc["l"].refs(), vec!["Client"]);
    }

    #[test]
    fn malformed_intrinsics_are_errors() {
        for bad in [
            "a: !GetAtt NoDot",
            "a: !Join [\",\"]",
            "a: !If [Cond, x]",
            "a: !Sub [x]",
            "a: {Ref: X, Other: Y}",
            "a: {NotAFunction: X}",
            "a: [1, 2]",
        ] {
            assert!(
                serde_yaml_ng::from_str::<BTreeMap<String, Expr>>(bad).is_err(),
                "{bad} accepted"
            );
        }
    }
}
