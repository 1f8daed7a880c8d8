//! Every fixture of `fixtures/expected.json`, in its order, through the function (as
//! `cargo lambda invoke weather-ingest --data-file weather-ingest/fixtures/FILE` sends
//! it) against the local API, a token server and moto's SQS: the answers are the
//! expected ones, and the API and the dead-letter queue hold what each fixture says.

mod support;

use std::path::PathBuf;

use aws_lambda_events::event::sqs::SqsEvent;
use support::*;
use weather_ingest::dead_letter::SOURCE_ID_ATTRIBUTE;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_answer_as_expected_json_says() {
    let expected: serde_json::Value = serde_json::from_str(&fixture("expected.json")).unwrap();
    assert_eq!(expected["function"], "weather-ingest");
    let w = World::start().await;

    let mut files = Vec::new();
    for case in expected["fixtures"].as_array().unwrap() {
        let file = case["file"].as_str().unwrap();
        files.push(file.to_owned());
        let event: SqsEvent = serde_json::from_str(&fixture(file)).unwrap();
        let (answer, _) = w.invoke(&event.records).await;
        assert_eq!(
            serde_json::to_value(&answer).unwrap(),
            case["answer"],
            "{file}"
        );
        let created = w.api.created();
        match file {
            // 10 events.
            "sqs-batch.json" => assert_eq!(created, 10),
            // The same 10 messages again: nothing new.
            "sqs-batch-redelivered.json" => assert_eq!(created, 10),
            // 2 valid events; the 3 others in the dead-letter queue.
            "sqs-batch-invalid-bodies.json" => assert_eq!(created, 12),
            other => panic!("no check for fixture {other}"),
        }
    }
    assert_eq!(
        files,
        [
            "sqs-batch.json",
            "sqs-batch-redelivered.json",
            "sqs-batch-invalid-bodies.json"
        ]
    );
    let mut dead: Vec<String> = w
        .dead_letters()
        .await
        .iter()
        .filter_map(|m| {
            m.message_attributes
                .as_ref()?
                .get(SOURCE_ID_ATTRIBUTE)?
                .string_value
                .clone()
        })
        .collect();
    dead.sort();
    assert_eq!(
        dead,
        [
            "7a9d0f64-0000-4000-8000-000000000002",
            "7a9d0f64-0000-4000-8000-000000000003",
            "7a9d0f64-0000-4000-8000-000000000004"
        ]
    );
    w.tokens.assert_calls(1);
}
