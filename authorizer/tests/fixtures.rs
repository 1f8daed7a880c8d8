//! Every event fixture gives the answer `fixtures/expected.json` (and the
//! crate README's table, checked against it) promise, under the configuration of `fixtures/authorizer.env`,
//! the same files `cargo lambda invoke --data-file` uses.

use std::collections::BTreeMap;
use std::path::PathBuf;

use authorizer::{Authorizer, AuthorizerEvent, Config, SystemClock, handler};
use lambda_runtime::{Context, LambdaEvent};
use test_support::fixtures::{ExpectedTable, Outcome};

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
    let table = ExpectedTable::load(&root(), "authorizer").unwrap();
    assert_eq!(table.function, "authorizer");
    assert_eq!(
        table.env_file.as_deref(),
        Some("authorizer/fixtures/authorizer.env")
    );
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("apigw-") && name.ends_with(".json"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = table.fixtures.iter().map(|f| f.file.clone()).collect();
    listed.sort();
    assert_eq!(files, listed, "every fixture once in expected.json");
    for fixture in &table.fixtures {
        let event: AuthorizerEvent =
            serde_json::from_str(&std::fs::read_to_string(dir.join(&fixture.file)).unwrap())
                .unwrap();
        let outcome =
            match handler::handle(&authorizer, LambdaEvent::new(event, Context::default())).await {
                Ok(answer) => Outcome::Answer(serde_json::to_value(&answer).unwrap()),
                Err(d) => Outcome::Error(d.error_message),
            };
        if let Err(problem) = fixture.expect.check(&outcome) {
            panic!("{}: {problem}", fixture.file);
        }
    }
}
