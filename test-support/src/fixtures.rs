//! `CRATE/fixtures/expected.json`: which answer each event fixture must give, in the
//! order `scripts/invoke-fixtures CRATE` invokes them. Read by that runner, by the
//! crates' own fixture tests and by the test that checks the READMEs' fixture tables.
//!
//! ```json
//! {
//!   "function": "authorizer",
//!   "env_file": "authorizer/fixtures/authorizer.env",
//!   "fixtures": [
//!     {"file": "apigw-v2-request.json", "answer": {"isAuthorized": true}},
//!     {"file": "apigw-token-request-expired.json", "error": "Unauthorized"}
//!   ]
//! }
//! ```
//!
//! An `answer` is a pattern the function's JSON answer must contain ([`contains`]);
//! an `error` is the message the invocation must fail with.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// One crate's `fixtures/expected.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedTable {
    /// The binary that answers the fixtures.
    pub function: String,
    /// The functions' environment for `cargo lambda watch --env-file`, relative to the
    /// workspace root, if any.
    #[serde(default)]
    pub env_file: Option<String>,
    /// The fixtures, in the order they run (an earlier one may change state a later one
    /// sees, e.g. a delete).
    pub fixtures: Vec<Fixture>,
}

/// One fixture and what it must give.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// The event file, in `CRATE/fixtures/`.
    pub file: String,
    /// The answer expected.
    #[serde(flatten)]
    pub expect: Expect,
}

/// What a fixture must give.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// An answer containing this pattern ([`contains`]).
    Answer(Value),
    /// A failed invocation with this error message.
    Error(String),
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Answer(pattern) => write!(f, "an answer containing {pattern}"),
            Expect::Error(message) => write!(f, "the error {message:?}"),
        }
    }
}

/// What a function gave for a fixture.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Its JSON answer.
    Answer(Value),
    /// The invocation failed with this message.
    Error(String),
}

impl Expect {
    /// `Ok` if `outcome` is what is expected, else what differs.
    pub fn check(&self, outcome: &Outcome) -> Result<(), String> {
        match (self, outcome) {
            (Expect::Answer(pattern), Outcome::Answer(answer)) => contains(answer, pattern, "$"),
            (Expect::Error(want), Outcome::Error(got)) if want == got => Ok(()),
            (_, got) => Err(format!("expected {self}, got {got:?}")),
        }
    }
}

impl ExpectedTable {
    /// Reads `CRATE/fixtures/expected.json` under `workspace`.
    pub fn load(workspace: &Path, krate: &str) -> Result<Self, String> {
        let path = Self::path(workspace, krate);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// `CRATE/fixtures/expected.json` under `workspace`.
    pub fn path(workspace: &Path, krate: &str) -> PathBuf {
        workspace.join(krate).join("fixtures").join("expected.json")
    }
}

/// Whether `actual` contains `pattern`: an object pattern's every key is in `actual`
/// with a value that contains the pattern's; an array pattern matches an array of the
/// same length element by element; anything else must be equal. `Err` names the first
/// difference by its path from `at` (e.g. `$.policyDocument.Statement[0].Effect`).
pub fn contains(actual: &Value, pattern: &Value, at: &str) -> Result<(), String> {
    match (actual, pattern) {
        (Value::Object(actual), Value::Object(pattern)) => {
            for (key, want) in pattern {
                let path = format!("{at}.{key}");
                match actual.get(key) {
                    Some(got) => contains(got, want, &path)?,
                    None => return Err(format!("{path}: missing, expected {want}")),
                }
            }
            Ok(())
        }
        (Value::Array(actual), Value::Array(pattern)) if actual.len() == pattern.len() => actual
            .iter()
            .zip(pattern)
            .enumerate()
            .try_for_each(|(i, (got, want))| contains(got, want, &format!("{at}[{i}]"))),
        (got, want) if got == want => Ok(()),
        (got, want) => Err(format!("{at}: expected {want}, got {got}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_allow_pattern_does_not_match_a_deny() {
        let allow = json!({"policyDocument": {"Statement": [{"Effect": "Allow"}]}});
        let deny = json!({"principalId": "x", "policyDocument": {"Version": "2012-10-17",
            "Statement": [{"Action": ["execute-api:Invoke"], "Effect": "Deny"}]}});
        assert_eq!(
            contains(&deny, &allow, "$"),
            Err(r#"$.policyDocument.Statement[0].Effect: expected "Allow", got "Deny""#.into())
        );
        let mut allowed = deny.clone();
        allowed["policyDocument"]["Statement"][0]["Effect"] = json!("Allow");
        assert_eq!(contains(&allowed, &allow, "$"), Ok(()));
    }

    #[test]
    fn missing_keys_and_other_lengths_differ() {
        assert!(contains(&json!({}), &json!({"statusCode": 200}), "$").is_err());
        assert!(contains(&json!([1, 2]), &json!([1]), "$").is_err());
        assert!(
            contains(
                &json!({"statusCode": 201}),
                &json!({"statusCode": 200}),
                "$"
            )
            .is_err()
        );
        assert!(
            contains(
                &json!({"statusCode": 200, "body": "x"}),
                &json!({"statusCode": 200}),
                "$"
            )
            .is_ok()
        );
    }

    #[test]
    fn an_error_is_not_an_answer() {
        let expect = Expect::Error("Unauthorized".into());
        assert!(expect.check(&Outcome::Error("Unauthorized".into())).is_ok());
        assert!(
            expect
                .check(&Outcome::Error("Unauthorized!".into()))
                .is_err()
        );
        assert!(
            expect
                .check(&Outcome::Answer(json!({"errorMessage": "Unauthorized"})))
                .is_err()
        );
        let answer = Expect::Answer(json!({"isAuthorized": false}));
        assert!(
            answer
                .check(&Outcome::Error("Unauthorized".into()))
                .is_err()
        );
    }

    #[test]
    fn the_table_reads_with_either_expectation() {
        let table: ExpectedTable = serde_json::from_value(json!({
            "function": "f",
            "fixtures": [
                {"file": "a.json", "answer": {"statusCode": 200}},
                {"file": "b.json", "error": "Unauthorized"}
            ]
        }))
        .unwrap();
        assert_eq!(table.env_file, None);
        assert_eq!(
            table.fixtures[1].expect,
            Expect::Error("Unauthorized".into())
        );
        let bad = serde_json::from_value::<ExpectedTable>(json!({
            "function": "f", "fixtures": [{"file": "a.json", "status": 200}]
        }));
        assert!(bad.is_err());
    }
}
