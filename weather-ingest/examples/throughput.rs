//! The figures of README.md, measured in one run on this machine:
//!
//! * messages per second, batches of 10 (INGEST_CONCURRENCY 10), through the real
//!   poster and token cache against the local API of the tests (real validation and
//!   Idempotency-Key semantics) on 127.0.0.1;
//! * token requests per 1,000 messages (a counting local token server);
//! * init time with `CLIENT_SECRET_ARN` against a local moto (Secrets Manager read,
//!   token cache, HTTP client, SQS client), median of 20.
//!
//! `cargo run --release -p weather-ingest --example throughput -- [BATCHES]` (default 500).

#[path = "../tests/support/api.rs"]
mod api;

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::config::{Credentials, Region};
use test_support::moto::Moto;
use test_support::token::TokenMock;
use weather_ingest::Config;

fn records(batch: usize) -> Vec<SqsMessage> {
    let records: Vec<serde_json::Value> = (0..10)
        .map(|i| {
            serde_json::json!({
                "messageId": format!("bench-{batch}-{i}"),
                "body": format!(r#"{{"name": "Storm {batch}-{i}", "dateStart": "2026-01-01", "dateEnd": "2026-01-02"}}"#),
                "eventSource": "aws:sqs",
            })
        })
        .collect();
    serde_json::from_value::<SqsEvent>(serde_json::json!({ "Records": records }))
        .unwrap()
        .records
}

fn config(pairs: &[(&str, String)]) -> Config {
    Config::from_lookup(|name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("settings")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let batches: usize = std::env::args()
        .nth(1)
        .map_or(500, |n| n.parse().expect("BATCHES"));
    let api = api::ApiStub::start().await;
    let tokens = TokenMock::start().await;
    let moto = Moto::start();
    let sdk = weather_ingest::sdk_config_loader()
        .endpoint_url(&moto.endpoint)
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "bench"))
        .load()
        .await;
    let arn = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name("bench-ingest")
        .secret_string(r#"{"client_id": "bench-client", "client_secret": "bench-secret"}"#)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let settings = config(&[
        ("WEATHER_API_URL", api.url.clone()),
        ("TOKEN_URL", tokens.url()),
        ("CLIENT_SECRET_ARN", arn),
        (
            "DEAD_LETTER_QUEUE_URL",
            format!("{}/123456789012/unused", moto.endpoint),
        ),
    ]);

    // Init with CLIENT_SECRET_ARN: median of 20 (the first also warms the connection).
    let mut inits = Vec::new();
    let mut ingest = None;
    for _ in 0..20 {
        let start = Instant::now();
        let built = weather_ingest::init(&settings, &sdk).await.expect("init");
        inits.push(start.elapsed());
        ingest = Some(built);
    }
    inits.sort();
    let ingest = ingest.unwrap();

    // Warm-up batch (the token request, the connections), then the timed run.
    let (answer, _) = ingest
        .handle(&records(usize::MAX), Duration::from_secs(60))
        .await
        .unwrap();
    assert!(answer.batch_item_failures.is_empty());
    let start = Instant::now();
    for batch in 0..batches {
        let (answer, _) = ingest
            .handle(&records(batch), Duration::from_secs(60))
            .await
            .unwrap();
        assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    }
    let elapsed = start.elapsed();
    let messages = batches * 10 + 10;
    assert_eq!(api.created(), messages);
    let token_requests = tokens.calls();
    println!(
        "batches={batches} messages={} elapsed={:.2}s messages_per_second={:.0}",
        batches * 10,
        elapsed.as_secs_f64(),
        (batches * 10) as f64 / elapsed.as_secs_f64()
    );
    println!(
        "token_requests={token_requests} for {messages} messages = {:.2} per 1000",
        token_requests as f64 * 1000.0 / messages as f64
    );
    println!(
        "init_with_secret_arn median={:.1}ms min={:.1}ms max={:.1}ms (20 runs)",
        inits[10].as_secs_f64() * 1000.0,
        inits[0].as_secs_f64() * 1000.0,
        inits[19].as_secs_f64() * 1000.0
    );
}
