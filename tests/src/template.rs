//! `template.yaml` read into a typed [`StackModel`].
//!
//! The AWS SAM template is the single description of the deployed system: the Cognito
//! user pool, its resource server and scopes, the app clients and what they may ask for,
//! the REST API's routes, the Lambda authorizer and its `ROUTE_SCOPES`. This module reads
//! it once, keeping CloudFormation's short-form tags (`!Ref`, `!GetAtt`, `!Sub`, `!Join`)
//! as [`Expr`] values, so that
//!
//! - the consistency test (`tests/template_consistency.rs`) can prove routes, scopes and
//!   clients are in step before anything is deployed, and
//! - a local stack (a local token issuer and a local API gateway) can mirror exactly the
//!   configuration that `sam deploy` would create.
//!
//! Only what the system uses is modelled; anything the model does not understand where it
//! matters (an unknown authorizer kind, a route on an implicit API, a malformed
//! `ROUTE_SCOPES`) is a [`TemplateError`] naming the place, never silently skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use authorizer::routes::{Method, RouteKey, RouteTable};
use serde_yaml_ng::{Mapping, Value};

/// Everything that can go wrong reading a template into a [`StackModel`].
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file that was asked for.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The text is not YAML (or has duplicate keys, which CloudFormation rejects too).
    #[error("template is not valid YAML")]
    Yaml(#[source] serde_yaml_ng::Error),
    /// A property the model needs is absent.
    #[error("{at}: missing {what}")]
    Missing {
        /// Where it was looked for, e.g. `Resources.ServiceClient.Properties`.
        at: String,
        /// What was looked for.
        what: String,
    },
    /// A property is present but of a shape the model does not accept.
    #[error("{at}: {problem}")]
    Invalid {
        /// Where, e.g. `Resources.WeatherApi.Properties.Auth.Authorizers.X.Identity`.
        at: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The template has more (or fewer) resources of a kind than the model supports.
    #[error("expected exactly one {kind} resource, found {found}")]
    Cardinality {
        /// The CloudFormation/SAM resource type.
        kind: &'static str,
        /// How many were found.
        found: usize,
    },
    /// The authorizer's `ROUTE_SCOPES` is not the JSON object of route keys to scope
    /// lists the authorizer expects.
    #[error("ROUTE_SCOPES: {problem}")]
    RouteScopes {
        /// What is wrong with it.
        problem: String,
    },
}

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
    /// `!Sub STRING` (variables, if any, are not kept).
    Sub(String),
    /// `!Join [DELIMITER, [PARTS...]]`.
    Join {
        /// The delimiter.
        delimiter: String,
        /// The joined values.
        parts: Vec<Expr>,
    },
    /// Another intrinsic function (`!If`, `!FindInMap`, ...), by name; not interpreted.
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

    /// Every name this value `!Ref`s, in order (looking inside `!Join`).
    pub fn refs(&self) -> Vec<&str> {
        match self {
            Expr::Ref(name) => vec![name.as_str()],
            Expr::Join { parts, .. } => parts.iter().flat_map(Expr::refs).collect(),
            _ => Vec::new(),
        }
    }
}

/// A template parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// `Type`, e.g. `String` or `Number`.
    pub kind: String,
    /// `Default`, if any, as written.
    pub default: Option<String>,
    /// `AllowedValues`, as written (empty when unrestricted).
    pub allowed_values: Vec<String>,
}

/// The Cognito user pool (`AWS::Cognito::UserPool`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPool {
    /// Logical id in the template.
    pub logical_id: String,
}

/// The user pool domain that serves `/oauth2/token` (`AWS::Cognito::UserPoolDomain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPoolDomain {
    /// Logical id in the template.
    pub logical_id: String,
    /// The domain prefix (usually `!Ref DomainPrefix`).
    pub domain: Expr,
    /// The pool it belongs to.
    pub user_pool: Expr,
}

/// One custom scope of a resource server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeDefinition {
    /// The scope name, e.g. `get`.
    pub name: String,
    /// Its description.
    pub description: String,
}

/// A resource server (`AWS::Cognito::UserPoolResourceServer`) and its custom scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceServer {
    /// Logical id in the template.
    pub logical_id: String,
    /// The identifier, the prefix of its scopes, e.g. `weather-api`.
    pub identifier: String,
    /// The friendly name.
    pub name: String,
    /// Its scopes, in template order.
    pub scopes: Vec<ScopeDefinition>,
}

impl ResourceServer {
    /// The full scope strings as they appear in tokens: `identifier/name`.
    pub fn full_scopes(&self) -> BTreeSet<String> {
        self.scopes
            .iter()
            .map(|s| format!("{}/{}", self.identifier, s.name))
            .collect()
    }
}

/// Unit of a Cognito token validity (`TokenValidityUnits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidityUnit {
    /// `seconds`
    Seconds,
    /// `minutes`
    Minutes,
    /// `hours` (Cognito's default for access tokens)
    Hours,
    /// `days`
    Days,
}

impl ValidityUnit {
    fn seconds(self) -> u64 {
        match self {
            ValidityUnit::Seconds => 1,
            ValidityUnit::Minutes => 60,
            ValidityUnit::Hours => 3600,
            ValidityUnit::Days => 86_400,
        }
    }
}

impl FromStr for ValidityUnit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "seconds" => Ok(ValidityUnit::Seconds),
            "minutes" => Ok(ValidityUnit::Minutes),
            "hours" => Ok(ValidityUnit::Hours),
            "days" => Ok(ValidityUnit::Days),
            other => Err(format!(
                "unknown token validity unit {other:?} (seconds, minutes, hours or days)"
            )),
        }
    }
}

/// An app client (`AWS::Cognito::UserPoolClient`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppClient {
    /// Logical id in the template, e.g. `ServiceClient`.
    pub logical_id: String,
    /// The pool it belongs to.
    pub user_pool: Expr,
    /// `GenerateSecret` (false when absent).
    pub generate_secret: bool,
    /// `AllowedOAuthFlowsUserPoolClient` (false when absent).
    pub oauth_flows_enabled: bool,
    /// `AllowedOAuthFlows`, e.g. `client_credentials`.
    pub oauth_flows: BTreeSet<String>,
    /// `AllowedOAuthScopes`: the scopes a token request may ask for.
    pub allowed_scopes: BTreeSet<String>,
    /// `SupportedIdentityProviders`.
    pub identity_providers: BTreeSet<String>,
    /// `AccessTokenValidity`, if set.
    pub access_token_validity: Option<Expr>,
    /// `TokenValidityUnits.AccessToken` (Cognito's default is hours).
    pub access_token_unit: ValidityUnit,
    /// `DependsOn`.
    pub depends_on: BTreeSet<String>,
}

/// A Lambda authorizer's payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadType {
    /// `TOKEN`: API Gateway passes the identity header's value.
    Token,
    /// `REQUEST`: API Gateway passes the whole request.
    Request,
}

/// A Lambda authorizer of the REST API (`Auth.Authorizers.NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaAuthorizer {
    /// Its name under `Auth.Authorizers`.
    pub name: String,
    /// Logical id of the authorizer function (from `FunctionArn: !GetAtt F.Arn`).
    pub function: String,
    /// `FunctionPayloadType` (SAM's default is `TOKEN`).
    pub payload: PayloadType,
    /// `Identity.Header` for TOKEN authorizers (SAM's default is `Authorization`).
    pub identity_header: String,
    /// `Identity.ReauthorizeEvery` as written: the policy cache TTL in seconds
    /// (`None` when absent, where SAM and API Gateway default to 300).
    pub reauthorize_every: Option<u32>,
}

/// The API's CORS settings (`Cors`), values without API Gateway's single quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// `AllowOrigin`, e.g. `*`.
    pub allow_origin: String,
    /// `AllowMethods`, e.g. `GET,POST,DELETE,OPTIONS`.
    pub allow_methods: Option<String>,
    /// `AllowHeaders`, e.g. `Authorization,Content-Type`.
    pub allow_headers: Option<String>,
    /// `MaxAge` in seconds.
    pub max_age: Option<String>,
}

/// A Gateway Response (`GatewayResponses.TYPE`), header values without API Gateway's
/// single quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayResponse {
    /// `StatusCode`, if overridden.
    pub status_code: Option<u16>,
    /// `ResponseParameters.Headers`.
    pub headers: BTreeMap<String, String>,
    /// `ResponseTemplates` by content type.
    pub templates: BTreeMap<String, String>,
}

/// The REST API (`AWS::Serverless::Api`) and how it authorizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestApi {
    /// Logical id in the template.
    pub logical_id: String,
    /// `StageName`.
    pub stage_name: Expr,
    /// `Auth.DefaultAuthorizer`, if any.
    pub default_authorizer: Option<String>,
    /// `Auth.Authorizers`, by name.
    pub authorizers: BTreeMap<String, LambdaAuthorizer>,
    /// `Auth.AddDefaultAuthorizerToCorsPreflight` (SAM's default is true).
    pub authorize_cors_preflight: bool,
    /// `Cors`, if set: SAM then adds an `OPTIONS` method on every path.
    pub cors: Option<Cors>,
    /// `GatewayResponses`, by response type (`UNAUTHORIZED`, `ACCESS_DENIED`, ...).
    pub gateway_responses: BTreeMap<String, GatewayResponse>,
}

/// How a route is authorized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteAuth {
    /// By the named Lambda authorizer of the API.
    Authorizer(String),
    /// Not at all (`Auth.Authorizer: NONE`, or no default authorizer).
    None,
}

/// What answers a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// A function's `Api` event.
    Function {
        /// Logical id of the function.
        function: String,
        /// Name of the event under `Events`.
        event: String,
    },
    /// The mock integration SAM generates for CORS preflight (`OPTIONS`).
    CorsPreflight,
}

/// One method on one resource path of the REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Method and path template.
    pub key: RouteKey,
    /// How it is authorized.
    pub auth: RouteAuth,
    /// What answers it.
    pub target: RouteTarget,
}

/// Parses `ROUTE_SCOPES` with the authorizer's own rules ([`RouteTable::from_json`]),
/// so a table the authorizer would refuse at init is an error here too.
pub fn route_scopes(json: &str) -> Result<RouteTable, TemplateError> {
    RouteTable::from_json(json).map_err(|e| TemplateError::RouteScopes {
        problem: e.to_string(),
    })
}

/// A Lambda function (`AWS::Serverless::Function`), with `Globals` applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// Logical id in the template.
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary`: the cargo binary `sam build` packages.
    pub binary: Option<String>,
    /// `Environment.Variables`, `Globals` merged in.
    pub environment: BTreeMap<String, Expr>,
}

/// The authorizer function's configuration, from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerSettings {
    /// Logical id of the authorizer function.
    pub function: String,
    /// `USER_POOL_ID`.
    pub user_pool_id: Expr,
    /// `APP_CLIENT_IDS`.
    pub app_client_ids: Expr,
    /// `ROUTE_SCOPES`, parsed as the authorizer parses it.
    pub route_scopes: RouteTable,
    /// `INSUFFICIENT_SCOPE`, if set.
    pub insufficient_scope: Option<Expr>,
    /// `CLOCK_SKEW_SECONDS`, if set.
    pub clock_skew_seconds: Option<Expr>,
}

/// The deployed system as `template.yaml` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackModel {
    /// Template parameters, by name.
    pub parameters: BTreeMap<String, Parameter>,
    /// The user pool.
    pub user_pool: UserPool,
    /// The pool's domain, if any (without one there is no `/oauth2/token`).
    pub domain: Option<UserPoolDomain>,
    /// The resource servers, in template order.
    pub resource_servers: Vec<ResourceServer>,
    /// The app clients, by logical id.
    pub clients: BTreeMap<String, AppClient>,
    /// The REST API.
    pub api: RestApi,
    /// The API's routes: the functions' `Api` events, then the CORS preflights.
    pub routes: Vec<Route>,
    /// The functions, by logical id.
    pub functions: BTreeMap<String, Function>,
    /// The default authorizer's function settings.
    pub authorizer: AuthorizerSettings,
    /// Output names.
    pub outputs: BTreeSet<String>,
}

/// Reads `template.yaml`.
pub struct Template;

impl Template {
    /// Reads and models the template at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<StackModel, TemplateError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Models a template given as text.
    pub fn parse(yaml: &str) -> Result<StackModel, TemplateError> {
        let doc: Value = serde_yaml_ng::from_str(yaml).map_err(TemplateError::Yaml)?;
        build(&doc)
    }

    /// The workspace's `template.yaml` (next to the root `Cargo.toml`).
    pub fn workspace_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or_else(|| Path::new(".."))
            .join("template.yaml")
    }
}

impl StackModel {
    /// The value of a literal, or of a `!Ref` to a parameter with a default.
    pub fn resolve(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::Literal(s) => Some(s.clone()),
            Expr::Ref(name) => self.parameters.get(name)?.default.clone(),
            _ => None,
        }
    }

    /// A client's access token lifetime in seconds, resolving parameter defaults
    /// (Cognito's default is 60 minutes).
    pub fn access_token_validity_seconds(&self, client: &AppClient) -> Option<u64> {
        let amount = match &client.access_token_validity {
            None => return Some(3600),
            Some(expr) => self.resolve(expr)?.parse::<u64>().ok()?,
        };
        Some(amount * client.access_token_unit.seconds())
    }

    /// Every scope defined on any resource server, as `identifier/name`.
    pub fn defined_scopes(&self) -> BTreeSet<String> {
        self.resource_servers
            .iter()
            .flat_map(ResourceServer::full_scopes)
            .collect()
    }

    /// The routes answered by functions (everything but the CORS preflights).
    pub fn function_routes(&self) -> impl Iterator<Item = &Route> {
        self.routes
            .iter()
            .filter(|r| matches!(r.target, RouteTarget::Function { .. }))
    }

    /// The `OPTIONS` routes SAM generates for CORS.
    pub fn preflight_routes(&self) -> impl Iterator<Item = &Route> {
        self.routes
            .iter()
            .filter(|r| r.target == RouteTarget::CorsPreflight)
    }

    /// An app client by logical id.
    pub fn client(&self, logical_id: &str) -> Option<&AppClient> {
        self.clients.get(logical_id)
    }
}

// ---------------------------------------------------------------------------------
// Reading the YAML
// ---------------------------------------------------------------------------------

fn missing(at: &str, what: &str) -> TemplateError {
    TemplateError::Missing {
        at: at.to_owned(),
        what: what.to_owned(),
    }
}

fn invalid(at: &str, problem: impl Into<String>) -> TemplateError {
    TemplateError::Invalid {
        at: at.to_owned(),
        problem: problem.into(),
    }
}

fn get<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    map.as_mapping()?.get(key)
}

fn mapping<'a>(value: &'a Value, at: &str) -> Result<&'a Mapping, TemplateError> {
    value
        .as_mapping()
        .ok_or_else(|| invalid(at, "expected a mapping"))
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn string_at(parent: &Value, key: &str, at: &str) -> Result<String, TemplateError> {
    let value = get(parent, key).ok_or_else(|| missing(at, key))?;
    scalar(value).ok_or_else(|| invalid(&format!("{at}.{key}"), "expected a literal value"))
}

fn opt_string_at(parent: &Value, key: &str, at: &str) -> Result<Option<String>, TemplateError> {
    match get(parent, key) {
        None => Ok(None),
        Some(v) => scalar(v)
            .map(Some)
            .ok_or_else(|| invalid(&format!("{at}.{key}"), "expected a literal value")),
    }
}

fn bool_at(parent: &Value, key: &str, at: &str) -> Result<Option<bool>, TemplateError> {
    match get(parent, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
        Some(_) => Err(invalid(&format!("{at}.{key}"), "expected true or false")),
    }
}

fn string_list(value: &Value, at: &str) -> Result<Vec<String>, TemplateError> {
    match value {
        Value::Sequence(items) => items
            .iter()
            .map(|v| scalar(v).ok_or_else(|| invalid(at, "expected a list of literal values")))
            .collect(),
        // CloudFormation accepts a single value where a list of one is meant (DependsOn).
        other => scalar(other)
            .map(|s| vec![s])
            .ok_or_else(|| invalid(at, "expected a list")),
    }
}

fn string_set_at(parent: &Value, key: &str, at: &str) -> Result<BTreeSet<String>, TemplateError> {
    match get(parent, key) {
        None => Ok(BTreeSet::new()),
        Some(v) => Ok(string_list(v, &format!("{at}.{key}"))?
            .into_iter()
            .collect()),
    }
}

/// A value with CloudFormation's intrinsic functions, short (`!Ref X`) or long
/// (`{Ref: X}`, `{"Fn::GetAtt": [X, Arn]}`) form.
fn expr(value: &Value, at: &str) -> Result<Expr, TemplateError> {
    if let Some(s) = scalar(value) {
        return Ok(Expr::Literal(s));
    }
    let (function, arg) = match value {
        Value::Tagged(tagged) => (tagged.tag.to_string(), &tagged.value),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, v) = m
                .iter()
                .next()
                .ok_or_else(|| invalid(at, "empty mapping"))?;
            let name = k
                .as_str()
                .ok_or_else(|| invalid(at, "expected an intrinsic function"))?;
            let short = match name {
                "Ref" => "!Ref".to_owned(),
                long => match long.strip_prefix("Fn::") {
                    Some(f) => format!("!{f}"),
                    None => return Err(invalid(at, format!("unexpected mapping {name:?}"))),
                },
            };
            (short, v)
        }
        _ => return Err(invalid(at, "expected a value or an intrinsic function")),
    };
    let text =
        |v: &Value| scalar(v).ok_or_else(|| invalid(at, format!("{function}: bad argument")));
    Ok(match function.as_str() {
        "!Ref" => Expr::Ref(text(arg)?),
        "!GetAtt" => {
            let (resource, attribute) = match arg {
                Value::Sequence(parts) if parts.len() == 2 => (text(&parts[0])?, text(&parts[1])?),
                other => {
                    let s = text(other)?;
                    let (r, a) = s
                        .split_once('.')
                        .ok_or_else(|| invalid(at, "!GetAtt needs RESOURCE.ATTRIBUTE"))?;
                    (r.to_owned(), a.to_owned())
                }
            };
            Expr::GetAtt {
                resource,
                attribute,
            }
        }
        "!Sub" => match arg {
            Value::Sequence(parts) if !parts.is_empty() => Expr::Sub(text(&parts[0])?),
            other => Expr::Sub(text(other)?),
        },
        "!Join" => {
            let parts = arg
                .as_sequence()
                .filter(|p| p.len() == 2)
                .ok_or_else(|| invalid(at, "!Join needs [DELIMITER, [VALUES...]]"))?;
            let delimiter = text(&parts[0])?;
            let values = parts[1]
                .as_sequence()
                .ok_or_else(|| invalid(at, "!Join needs a list of values"))?
                .iter()
                .map(|v| expr(v, at))
                .collect::<Result<_, _>>()?;
            Expr::Join {
                delimiter,
                parts: values,
            }
        }
        other => Expr::Other(other.trim_start_matches('!').to_owned()),
    })
}

/// API Gateway writes static header values in single quotes: `"'*'"`.
fn unquote(s: &str) -> String {
    s.strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or(s)
        .to_owned()
}

struct Resource<'a> {
    id: String,
    kind: String,
    body: &'a Value,
    at: String,
}

impl Resource<'_> {
    fn properties(&self) -> Result<&Value, TemplateError> {
        get(self.body, "Properties").ok_or_else(|| missing(&self.at, "Properties"))
    }
}

fn build(doc: &Value) -> Result<StackModel, TemplateError> {
    let resources = mapping(
        get(doc, "Resources").ok_or_else(|| missing("template", "Resources"))?,
        "Resources",
    )?;
    let mut all = Vec::new();
    for (id, body) in resources {
        let id = id
            .as_str()
            .ok_or_else(|| invalid("Resources", "logical ids must be strings"))?
            .to_owned();
        let at = format!("Resources.{id}");
        let kind = string_at(body, "Type", &at)?;
        all.push(Resource { id, kind, body, at });
    }
    let of_kind = |kind: &'static str| all.iter().filter(move |r| r.kind == kind);
    let exactly_one = |kind: &'static str| -> Result<&Resource<'_>, TemplateError> {
        let found: Vec<_> = of_kind(kind).collect();
        match found.as_slice() {
            [one] => Ok(*one),
            _ => Err(TemplateError::Cardinality {
                kind,
                found: found.len(),
            }),
        }
    };

    let parameters = parameters(doc)?;
    let globals_env = match get(doc, "Globals")
        .and_then(|g| get(g, "Function"))
        .and_then(|f| get(f, "Environment"))
        .and_then(|e| get(e, "Variables"))
    {
        Some(vars) => env_vars(vars, "Globals.Function.Environment.Variables")?,
        None => BTreeMap::new(),
    };

    let user_pool = UserPool {
        logical_id: exactly_one("AWS::Cognito::UserPool")?.id.clone(),
    };

    let mut domain = None;
    for r in of_kind("AWS::Cognito::UserPoolDomain") {
        if domain.is_some() {
            return Err(TemplateError::Cardinality {
                kind: "AWS::Cognito::UserPoolDomain",
                found: of_kind("AWS::Cognito::UserPoolDomain").count(),
            });
        }
        let props = r.properties()?;
        let at = format!("{}.Properties", r.at);
        domain = Some(UserPoolDomain {
            logical_id: r.id.clone(),
            domain: expr(
                get(props, "Domain").ok_or_else(|| missing(&at, "Domain"))?,
                &at,
            )?,
            user_pool: expr(
                get(props, "UserPoolId").ok_or_else(|| missing(&at, "UserPoolId"))?,
                &at,
            )?,
        });
    }

    let resource_servers = of_kind("AWS::Cognito::UserPoolResourceServer")
        .map(resource_server)
        .collect::<Result<Vec<_>, _>>()?;

    let clients = of_kind("AWS::Cognito::UserPoolClient")
        .map(|r| app_client(r).map(|c| (c.logical_id.clone(), c)))
        .collect::<Result<BTreeMap<_, _>, _>>()?;

    let functions = of_kind("AWS::Serverless::Function")
        .map(|r| function(r, &globals_env).map(|f| (f.logical_id.clone(), f)))
        .collect::<Result<BTreeMap<_, _>, _>>()?;

    let api = rest_api(exactly_one("AWS::Serverless::Api")?)?;

    let mut routes = Vec::new();
    for r in of_kind("AWS::Serverless::Function") {
        routes.extend(function_routes(r, &api)?);
    }
    if api.cors.is_some() {
        let paths: BTreeSet<RouteKey> = routes
            .iter()
            .map(|r: &Route| r.key.with_method(Method::Options))
            .collect();
        let auth = match (&api.default_authorizer, api.authorize_cors_preflight) {
            (Some(name), true) => RouteAuth::Authorizer(name.clone()),
            _ => RouteAuth::None,
        };
        for key in paths {
            // An explicit OPTIONS event replaces SAM's generated preflight on that path.
            if !routes.iter().any(|r| r.key == key) {
                routes.push(Route {
                    key,
                    auth: auth.clone(),
                    target: RouteTarget::CorsPreflight,
                });
            }
        }
    }

    let authorizer = authorizer_settings(&api, &functions)?;

    let outputs = match get(doc, "Outputs") {
        None => BTreeSet::new(),
        Some(o) => mapping(o, "Outputs")?
            .keys()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect(),
    };

    Ok(StackModel {
        parameters,
        user_pool,
        domain,
        resource_servers,
        clients,
        api,
        routes,
        functions,
        authorizer,
        outputs,
    })
}

fn parameters(doc: &Value) -> Result<BTreeMap<String, Parameter>, TemplateError> {
    let mut out = BTreeMap::new();
    let Some(params) = get(doc, "Parameters") else {
        return Ok(out);
    };
    for (name, body) in mapping(params, "Parameters")? {
        let name = name
            .as_str()
            .ok_or_else(|| invalid("Parameters", "names must be strings"))?
            .to_owned();
        let at = format!("Parameters.{name}");
        out.insert(
            name,
            Parameter {
                kind: string_at(body, "Type", &at)?,
                default: opt_string_at(body, "Default", &at)?,
                allowed_values: match get(body, "AllowedValues") {
                    None => Vec::new(),
                    Some(v) => string_list(v, &format!("{at}.AllowedValues"))?,
                },
            },
        );
    }
    Ok(out)
}

fn resource_server(r: &Resource<'_>) -> Result<ResourceServer, TemplateError> {
    let props = r.properties()?;
    let at = format!("{}.Properties", r.at);
    let scopes = match get(props, "Scopes") {
        None => Vec::new(),
        Some(list) => list
            .as_sequence()
            .ok_or_else(|| invalid(&format!("{at}.Scopes"), "expected a list"))?
            .iter()
            .map(|s| {
                let at = format!("{at}.Scopes");
                Ok(ScopeDefinition {
                    name: string_at(s, "ScopeName", &at)?,
                    description: string_at(s, "ScopeDescription", &at)?,
                })
            })
            .collect::<Result<_, TemplateError>>()?,
    };
    Ok(ResourceServer {
        logical_id: r.id.clone(),
        identifier: string_at(props, "Identifier", &at)?,
        name: string_at(props, "Name", &at)?,
        scopes,
    })
}

fn app_client(r: &Resource<'_>) -> Result<AppClient, TemplateError> {
    let props = r.properties()?;
    let at = format!("{}.Properties", r.at);
    let access_token_unit = match get(props, "TokenValidityUnits") {
        Some(units) => {
            match opt_string_at(units, "AccessToken", &format!("{at}.TokenValidityUnits"))? {
                Some(unit) => unit
                    .parse()
                    .map_err(|e: String| invalid(&format!("{at}.TokenValidityUnits"), e))?,
                None => ValidityUnit::Hours,
            }
        }
        None => ValidityUnit::Hours,
    };
    Ok(AppClient {
        logical_id: r.id.clone(),
        user_pool: expr(
            get(props, "UserPoolId").ok_or_else(|| missing(&at, "UserPoolId"))?,
            &at,
        )?,
        generate_secret: bool_at(props, "GenerateSecret", &at)?.unwrap_or(false),
        oauth_flows_enabled: bool_at(props, "AllowedOAuthFlowsUserPoolClient", &at)?
            .unwrap_or(false),
        oauth_flows: string_set_at(props, "AllowedOAuthFlows", &at)?,
        allowed_scopes: string_set_at(props, "AllowedOAuthScopes", &at)?,
        identity_providers: string_set_at(props, "SupportedIdentityProviders", &at)?,
        access_token_validity: get(props, "AccessTokenValidity")
            .map(|v| expr(v, &format!("{at}.AccessTokenValidity")))
            .transpose()?,
        access_token_unit,
        depends_on: string_set_at(r.body, "DependsOn", &r.at)?,
    })
}

fn env_vars(vars: &Value, at: &str) -> Result<BTreeMap<String, Expr>, TemplateError> {
    mapping(vars, at)?
        .iter()
        .map(|(k, v)| {
            let name = k
                .as_str()
                .ok_or_else(|| invalid(at, "variable names must be strings"))?;
            Ok((name.to_owned(), expr(v, &format!("{at}.{name}"))?))
        })
        .collect()
}

fn function(
    r: &Resource<'_>,
    globals_env: &BTreeMap<String, Expr>,
) -> Result<Function, TemplateError> {
    let props = r.properties()?;
    let mut environment = globals_env.clone();
    if let Some(vars) = get(props, "Environment").and_then(|e| get(e, "Variables")) {
        environment.extend(env_vars(
            vars,
            &format!("{}.Properties.Environment.Variables", r.at),
        )?);
    }
    let binary = match get(r.body, "Metadata").and_then(|m| get(m, "BuildProperties")) {
        Some(bp) => opt_string_at(bp, "Binary", &format!("{}.Metadata.BuildProperties", r.at))?,
        None => None,
    };
    Ok(Function {
        logical_id: r.id.clone(),
        binary,
        environment,
    })
}

fn rest_api(r: &Resource<'_>) -> Result<RestApi, TemplateError> {
    let props = r.properties()?;
    let at = format!("{}.Properties", r.at);
    let stage_name = expr(
        get(props, "StageName").ok_or_else(|| missing(&at, "StageName"))?,
        &at,
    )?;

    let mut default_authorizer = None;
    let mut authorizers = BTreeMap::new();
    let mut authorize_cors_preflight = true;
    if let Some(auth) = get(props, "Auth") {
        let at = format!("{at}.Auth");
        default_authorizer = opt_string_at(auth, "DefaultAuthorizer", &at)?;
        authorize_cors_preflight =
            bool_at(auth, "AddDefaultAuthorizerToCorsPreflight", &at)?.unwrap_or(true);
        if let Some(list) = get(auth, "Authorizers") {
            for (name, body) in mapping(list, &format!("{at}.Authorizers"))? {
                let name = name
                    .as_str()
                    .ok_or_else(|| invalid(&at, "authorizer names must be strings"))?
                    .to_owned();
                let a = lambda_authorizer(&name, body, &format!("{at}.Authorizers.{name}"))?;
                authorizers.insert(name, a);
            }
        }
        if let Some(name) = &default_authorizer
            && !authorizers.contains_key(name)
        {
            return Err(invalid(
                &at,
                format!("DefaultAuthorizer {name:?} is not among Authorizers"),
            ));
        }
    }

    let cors = match get(props, "Cors") {
        None => None,
        Some(Value::String(origin)) => Some(Cors {
            allow_origin: unquote(origin),
            allow_methods: None,
            allow_headers: None,
            max_age: None,
        }),
        Some(c) => {
            let at = format!("{at}.Cors");
            Some(Cors {
                allow_origin: unquote(&string_at(c, "AllowOrigin", &at)?),
                allow_methods: opt_string_at(c, "AllowMethods", &at)?.map(|s| unquote(&s)),
                allow_headers: opt_string_at(c, "AllowHeaders", &at)?.map(|s| unquote(&s)),
                max_age: opt_string_at(c, "MaxAge", &at)?.map(|s| unquote(&s)),
            })
        }
    };

    let mut gateway_responses = BTreeMap::new();
    if let Some(list) = get(props, "GatewayResponses") {
        for (kind, body) in mapping(list, &format!("{at}.GatewayResponses"))? {
            let kind = kind
                .as_str()
                .ok_or_else(|| invalid(&at, "gateway response types must be strings"))?
                .to_owned();
            let at = format!("{at}.GatewayResponses.{kind}");
            let status_code = opt_string_at(body, "StatusCode", &at)?
                .map(|s| {
                    s.parse::<u16>()
                        .map_err(|_| invalid(&at, format!("StatusCode {s:?} is not a number")))
                })
                .transpose()?;
            let headers = match get(body, "ResponseParameters").and_then(|p| get(p, "Headers")) {
                None => BTreeMap::new(),
                Some(h) => mapping(h, &at)?
                    .iter()
                    .map(|(k, v)| {
                        let k = k.as_str().ok_or_else(|| invalid(&at, "header names"))?;
                        let v = scalar(v).ok_or_else(|| invalid(&at, "header values"))?;
                        Ok((k.to_owned(), unquote(&v)))
                    })
                    .collect::<Result<_, TemplateError>>()?,
            };
            let templates = match get(body, "ResponseTemplates") {
                None => BTreeMap::new(),
                Some(t) => mapping(t, &at)?
                    .iter()
                    .map(|(k, v)| {
                        let k = k.as_str().ok_or_else(|| invalid(&at, "content types"))?;
                        let v = scalar(v).ok_or_else(|| invalid(&at, "templates"))?;
                        Ok((k.to_owned(), v))
                    })
                    .collect::<Result<_, TemplateError>>()?,
            };
            gateway_responses.insert(
                kind,
                GatewayResponse {
                    status_code,
                    headers,
                    templates,
                },
            );
        }
    }

    Ok(RestApi {
        logical_id: r.id.clone(),
        stage_name,
        default_authorizer,
        authorizers,
        authorize_cors_preflight,
        cors,
        gateway_responses,
    })
}

fn lambda_authorizer(
    name: &str,
    body: &Value,
    at: &str,
) -> Result<LambdaAuthorizer, TemplateError> {
    let function = match expr(
        get(body, "FunctionArn")
            .ok_or_else(|| missing(at, "FunctionArn (only Lambda authorizers are modelled)"))?,
        at,
    )? {
        Expr::GetAtt {
            resource,
            attribute,
        } if attribute == "Arn" => resource,
        other => {
            return Err(invalid(
                at,
                format!("FunctionArn must be !GetAtt FUNCTION.Arn, found {other:?}"),
            ));
        }
    };
    let payload = match opt_string_at(body, "FunctionPayloadType", at)?.as_deref() {
        None | Some("TOKEN") => PayloadType::Token,
        Some("REQUEST") => PayloadType::Request,
        Some(other) => {
            return Err(invalid(
                at,
                format!("unknown FunctionPayloadType {other:?}"),
            ));
        }
    };
    let identity = get(body, "Identity");
    let identity_header = match identity {
        Some(id) => opt_string_at(id, "Header", &format!("{at}.Identity"))?,
        None => None,
    }
    .unwrap_or_else(|| "Authorization".to_owned());
    let reauthorize_every = match identity {
        Some(id) => opt_string_at(id, "ReauthorizeEvery", &format!("{at}.Identity"))?
            .map(|s| {
                s.parse::<u32>().map_err(|_| {
                    invalid(
                        &format!("{at}.Identity"),
                        format!("ReauthorizeEvery {s:?} is not a number of seconds"),
                    )
                })
            })
            .transpose()?,
        None => None,
    };
    Ok(LambdaAuthorizer {
        name: name.to_owned(),
        function,
        payload,
        identity_header,
        reauthorize_every,
    })
}

fn function_routes(r: &Resource<'_>, api: &RestApi) -> Result<Vec<Route>, TemplateError> {
    let props = r.properties()?;
    let mut routes = Vec::new();
    let Some(events) = get(props, "Events") else {
        return Ok(routes);
    };
    for (event, body) in mapping(events, &format!("{}.Properties.Events", r.at))? {
        let event = event
            .as_str()
            .ok_or_else(|| invalid(&r.at, "event names must be strings"))?
            .to_owned();
        let at = format!("{}.Properties.Events.{event}", r.at);
        if string_at(body, "Type", &at)? != "Api" {
            continue;
        }
        let ep = get(body, "Properties").ok_or_else(|| missing(&at, "Properties"))?;
        let at = format!("{at}.Properties");
        match get(ep, "RestApiId").map(|v| expr(v, &at)).transpose()? {
            Some(Expr::Ref(id)) if id == api.logical_id => {}
            Some(other) => {
                return Err(invalid(
                    &at,
                    format!("RestApiId must be !Ref {}, found {other:?}", api.logical_id),
                ));
            }
            None => {
                return Err(invalid(
                    &at,
                    format!(
                        "no RestApiId: the route would go to SAM's implicit API, not {}",
                        api.logical_id
                    ),
                ));
            }
        }
        let method = Method::parse_any_case(&string_at(ep, "Method", &at)?)
            .map_err(|e| invalid(&at, e.to_string()))?;
        let key = RouteKey::new(method, &string_at(ep, "Path", &at)?)
            .map_err(|e| invalid(&at, e.to_string()))?;
        let named = match get(ep, "Auth") {
            Some(auth) => opt_string_at(auth, "Authorizer", &format!("{at}.Auth"))?,
            None => None,
        };
        let auth = match named.or_else(|| api.default_authorizer.clone()) {
            None => RouteAuth::None,
            Some(n) if n == "NONE" => RouteAuth::None,
            Some(n) if api.authorizers.contains_key(&n) => RouteAuth::Authorizer(n),
            Some(n) => return Err(invalid(&at, format!("unknown authorizer {n:?}"))),
        };
        routes.push(Route {
            key,
            auth,
            target: RouteTarget::Function {
                function: r.id.clone(),
                event,
            },
        });
    }
    Ok(routes)
}

fn authorizer_settings(
    api: &RestApi,
    functions: &BTreeMap<String, Function>,
) -> Result<AuthorizerSettings, TemplateError> {
    let at = format!("Resources.{}.Properties.Auth", api.logical_id);
    let name = api
        .default_authorizer
        .as_ref()
        .ok_or_else(|| missing(&at, "DefaultAuthorizer"))?;
    let function_id = &api.authorizers[name].function;
    let function = functions.get(function_id).ok_or_else(|| {
        invalid(
            &at,
            format!("authorizer {name:?} names {function_id:?}, not an AWS::Serverless::Function"),
        )
    })?;
    let env_at = format!("Resources.{function_id}.Properties.Environment.Variables");
    let var = |key: &str| function.environment.get(key).cloned();
    let required = |key: &str| var(key).ok_or_else(|| missing(&env_at, key));
    let route_scopes = match required("ROUTE_SCOPES")? {
        Expr::Literal(json) | Expr::Sub(json) => route_scopes(&json)?,
        other => {
            return Err(TemplateError::RouteScopes {
                problem: format!("must be a literal JSON string, found {other:?}"),
            });
        }
    };
    Ok(AuthorizerSettings {
        function: function_id.clone(),
        user_pool_id: required("USER_POOL_ID")?,
        app_client_ids: required("APP_CLIENT_IDS")?,
        route_scopes,
        insufficient_scope: var("INSUFFICIENT_SCOPE"),
        clock_skew_seconds: var("CLOCK_SKEW_SECONDS"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_scopes_rejects_bad_shapes() {
        for bad in [
            r#"["GET /events"]"#,
            r#"{"GET /events": "weather-api/get"}"#,
            r#"{"GET /events": [1]}"#,
            r#"{"GET /events": ["two words"]}"#,
            r#"{"GET /events": [""]}"#,
            r#"{"events": ["weather-api/get"]}"#,
            r#"{"get /events": ["weather-api/get"]}"#,
            r#"{"GET  /events": ["weather-api/get"]}"#,
            // Accepted by the looser rules this module had before the authorizer's.
            r#"{}"#,
            r#"{"GET /events//x": ["weather-api/get"]}"#,
            r#"{"GET /events/{p+}/x": ["weather-api/get"]}"#,
            r#"{"GET /events/*": ["weather-api/get"]}"#,
            r#"{"GET /events/{id}": ["a"], "GET /events/{eventId}": ["b"]}"#,
        ] {
            assert!(
                matches!(route_scopes(bad), Err(TemplateError::RouteScopes { .. })),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn intrinsics_short_and_long_form() {
        let doc: Value = serde_yaml_ng::from_str(
            r#"
a: !Ref Pool
b: { Ref: Pool }
c: !GetAtt Fn.Arn
d: { "Fn::GetAtt": [Fn, Arn] }
e: !Join [",", [!Ref A, !Ref B]]
f: !Sub "x-${AWS::Region}"
g: !If [Cond, a, b]
h: 300
"#,
        )
        .unwrap();
        let e = |k: &str| expr(get(&doc, k).unwrap(), k).unwrap();
        assert_eq!(e("a"), Expr::Ref("Pool".into()));
        assert_eq!(e("b"), Expr::Ref("Pool".into()));
        let arn = Expr::GetAtt {
            resource: "Fn".into(),
            attribute: "Arn".into(),
        };
        assert_eq!(e("c"), arn);
        assert_eq!(e("d"), arn);
        assert_eq!(e("e").refs(), vec!["A", "B"]);
        assert_eq!(e("f"), Expr::Sub("x-${AWS::Region}".into()));
        assert_eq!(e("g"), Expr::Other("If".into()));
        assert_eq!(e("h"), Expr::Literal("300".into()));
    }

    #[test]
    fn unquote_strips_api_gateway_quotes_only() {
        assert_eq!(unquote("'*'"), "*");
        assert_eq!(unquote("*"), "*");
        assert_eq!(unquote("'Bearer realm=\"x\"'"), "Bearer realm=\"x\"");
    }

    #[test]
    fn load_names_the_missing_file() {
        let err = Template::load("/nonexistent/template.yaml").unwrap_err();
        assert!(matches!(err, TemplateError::Io { .. }));
        assert!(err.to_string().contains("/nonexistent/template.yaml"));
    }
}
