//! The READMEs' fixture tables say what `CRATE/fixtures/expected.json` says, row for
//! row and in its order: the JSON file is the source (the fixture runner and the crates'
//! fixture tests read it); a README that drifts from it fails here.

use local_stack::stack::workspace_dir;
use serde_json::Value;
use test_support::fixtures::{Expect, ExpectedTable};

/// The `| `file.json` | ... |` rows of a README: the file and the row's last cell.
fn rows(krate: &str) -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(workspace_dir().join(krate).join("README.md")).unwrap();
    readme
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .strip_prefix('|')?
                .strip_suffix('|')?
                .split('|')
                .collect();
            let file = cells
                .first()?
                .trim()
                .strip_prefix('`')?
                .strip_suffix(".json`")?;
            Some((format!("{file}.json"), cells.last()?.trim().to_owned()))
        })
        .collect()
}

fn table(krate: &str) -> ExpectedTable {
    ExpectedTable::load(&workspace_dir(), krate).unwrap()
}

fn files(table: &ExpectedTable) -> Vec<String> {
    table.fixtures.iter().map(|f| f.file.clone()).collect()
}

#[test]
fn weather_api_readme_table_is_expected_json() {
    let table = table("weather-api");
    let want: Vec<(String, String)> = table
        .fixtures
        .iter()
        .map(|f| match &f.expect {
            Expect::Answer(answer) => (f.file.clone(), answer["statusCode"].to_string()),
            other => panic!(
                "{}: weather-api fixtures expect a status, not {other}",
                f.file
            ),
        })
        .collect();
    assert_eq!(rows("weather-api"), want);
}

/// The answer column of authorizer/README.md for an expectation.
fn authorizer_cell_agrees(cell: &str, expect: &Expect) -> bool {
    match expect {
        Expect::Error(message) => cell == format!("error `{message}`"),
        Expect::Answer(answer) => match (
            &answer["isAuthorized"],
            &answer["policyDocument"]["Statement"][0]["Effect"],
        ) {
            (Value::Bool(b), _) => cell.contains(&format!(r#""isAuthorized": {b}"#)),
            (_, Value::String(effect)) => cell.starts_with(effect.as_str()),
            _ => false,
        },
    }
}

#[test]
fn authorizer_readme_table_is_expected_json() {
    let table = table("authorizer");
    let rows = rows("authorizer");
    let listed: Vec<String> = rows.iter().map(|(f, _)| f.clone()).collect();
    assert_eq!(listed, files(&table), "the same fixtures in the same order");
    for ((file, cell), fixture) in rows.iter().zip(&table.fixtures) {
        assert!(
            authorizer_cell_agrees(cell, &fixture.expect),
            "{file}: README says {cell:?}, expected.json {}",
            fixture.expect
        );
    }
}

#[test]
fn every_fixture_file_is_in_its_table_once() {
    for krate in ["authorizer", "weather-api"] {
        let mut present: Vec<String> =
            std::fs::read_dir(workspace_dir().join(krate).join("fixtures"))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.ends_with(".json") && n != "expected.json")
                .collect();
        present.sort();
        let mut listed = files(&table(krate));
        listed.sort();
        assert_eq!(present, listed, "{krate}");
    }
}

#[test]
fn a_drifted_readme_cell_is_caught() {
    let allow =
        Expect::Answer(serde_json::json!({"policyDocument": {"Statement": [{"Effect": "Allow"}]}}));
    assert!(authorizer_cell_agrees("Allow: `GET/events`", &allow));
    assert!(!authorizer_cell_agrees("Deny", &allow));
    assert!(!authorizer_cell_agrees("error `Unauthorized`", &allow));
    let error = Expect::Error("Unauthorized".into());
    assert!(authorizer_cell_agrees("error `Unauthorized`", &error));
    assert!(!authorizer_cell_agrees("Allow", &error));
    let v2 = Expect::Answer(serde_json::json!({"isAuthorized": false}));
    assert!(authorizer_cell_agrees(
        r#"`{"isAuthorized": false, ...}`"#,
        &v2
    ));
    assert!(!authorizer_cell_agrees(
        r#"`{"isAuthorized": true, ...}`"#,
        &v2
    ));
}
