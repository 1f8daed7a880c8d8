//! Every event fixture gives the answer `fixtures/expected.json` (and the
//! crate README) promise, under the configuration of `fixtures/authorizer.env`,
//! the same files `cargo lambda invoke --data-file` uses.

use std::collections::BTreeMap;
use std::path::PathBuf;

use authorizer::{Authorizer, AuthorizerEvent, Config, SystemClock};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture_config() -> Config {
    let env_file = root().join("authorizer/fixtures/authorizer.env");
    let vars: BTreeMap<String, String> = dotenvy::from_path_iter(&env_file)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    Config::from_lookup(|name| {
        let value = vars.get(name).cloned()?;
        // Paths in the env file are relative to the workspace root, where `cargo lambda watch` runs.
        Some(if name == "JWKS_FILE" {
            root().join(value).display().to_string()
        } else {
            value
        })
    })
    .unwrap()
}

#[tokio::test]
async fn every_fixture_gives_its_documented_answer() {
    let authorizer = Authorizer::new(fixture_config(), SystemClock).unwrap();
    let dir = root().join("authorizer/fixtures");
    let expected: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !(name.starts_with("apigw-") && name.ends_with(".json")) {
            continue;
        }
        let want = expected
            .get(&name)
            .unwrap_or_else(|| panic!("{name} has no entry in expected.json"));
        let event: AuthorizerEvent =
            serde_json::from_str(&std::fs::read_to_string(dir.join(&name)).unwrap()).unwrap();
        let answer =
            authorizer::handle(&authorizer, LambdaEvent::new(event, Context::default())).await;
        let got = match answer {
            Ok(r) => {
                let json = serde_json::to_value(&r).unwrap();
                match (
                    json.get("isAuthorized"),
                    &json["policyDocument"]["Statement"][0]["Effect"],
                ) {
                    (Some(Value::Bool(true)), _) => "authorized",
                    (Some(Value::Bool(false)), _) => "not-authorized",
                    (None, Value::String(e)) if e == "Allow" => "allow",
                    (None, Value::String(e)) if e == "Deny" => "deny",
                    _ => panic!("{name}: unexpected answer {json}"),
                }
            }
            Err(d) if d.error_message == "Unauthorized" => "unauthorized",
            Err(d) => panic!("{name}: unexpected error {d:?}"),
        };
        assert_eq!(got, want, "{name}");
        seen += 1;
    }
    assert_eq!(
        seen,
        expected.len(),
        "expected.json lists fixtures that do not exist"
    );
}
