//! What the tests share: the local API ([`api`]), a counting token server (wiremock),
//! one moto server per test binary (SQS for the dead-letter queue, Secrets Manager),
//! SQS batches, and the function built exactly as `main` builds it.

#![allow(dead_code)] // each test binary uses a different part

pub mod api;

use std::sync::OnceLock;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::config::{Credentials, Region};
use test_support::moto::Moto;
use weather_ingest::{Config, Ingest};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The client id the token server expects.
pub const CLIENT_ID: &str = "ingest-client";
/// The client secret the token server expects (never in a log).
pub const CLIENT_SECRET: &str = "S3cr3t-Never-Logged-7f2a";
/// Plenty for a batch: nothing here runs out of time.
pub const TIME_LEFT: Duration = Duration::from_secs(60);

/// One moto for the whole test binary (it exits with the binary: its stdin closes).
pub fn moto() -> &'static str {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    &MOTO.get_or_init(Moto::start).endpoint
}

/// SDK settings for `endpoint` with test credentials (what `AWS_ENDPOINT_URL` gives
/// the function), with the function's own retries and timeouts.
pub async fn sdk(endpoint: &str) -> SdkConfig {
    weather_ingest::sdk_config_loader()
        .endpoint_url(endpoint)
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await
}

/// A fresh queue on moto; its URL.
pub async fn queue(sdk: &SdkConfig) -> String {
    let name = format!("dlq-{}", uuid::Uuid::new_v4().simple());
    aws_sdk_sqs::Client::new(sdk)
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create_queue on moto")
        .queue_url
        .unwrap()
}

/// Every message in `queue_url` (received once each, not deleted).
pub async fn drain(sdk: &SdkConfig, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let client = aws_sdk_sqs::Client::new(sdk);
    let mut all = Vec::new();
    loop {
        let answer = client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .visibility_timeout(600)
            .send()
            .await
            .expect("receive_message on moto");
        let messages = answer.messages.unwrap_or_default();
        if messages.is_empty() {
            return all;
        }
        all.extend(messages);
    }
}

/// A token server granting `tok-1`, `tok-2`… (one per request), 1 hour each.
pub async fn token_server() -> MockServer {
    let server = MockServer::start().await;
    grant_tokens(&server).await;
    server
}

/// Mounts the numbered-token responder on `server`.
pub async fn grant_tokens(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(NumberedTokens::default())
        .mount(server)
        .await;
}

/// Answers `tok-<n>` for the n-th request.
#[derive(Default)]
pub struct NumberedTokens(std::sync::atomic::AtomicUsize);

impl wiremock::Respond for NumberedTokens {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": format!("tok-{n}"),
            "token_type": "Bearer",
            "expires_in": 3600,
        }))
    }
}

/// Token requests `server` received.
pub async fn token_requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

/// The settings `main` would read, for these endpoints, plus `extra` (which win).
pub fn settings(
    api: &str,
    token_url: &str,
    dead_letter_queue_url: &str,
    extra: &[(&str, &str)],
) -> Config {
    let mut pairs: Vec<(String, String)> = vec![
        ("WEATHER_API_URL".into(), api.into()),
        ("TOKEN_URL".into(), token_url.into()),
        ("CLIENT_ID".into(), CLIENT_ID.into()),
        ("CLIENT_SECRET".into(), CLIENT_SECRET.into()),
        ("DEAD_LETTER_QUEUE_URL".into(), dead_letter_queue_url.into()),
        // Fast retries, so a token endpoint that is down fails the batch quickly.
        ("TOKEN_RETRY_INITIAL_BACKOFF_SECS".into(), "0.01".into()),
        ("TOKEN_RETRY_MAX_BACKOFF_SECS".into(), "0.05".into()),
        ("TOKEN_RETRY_DEADLINE_SECS".into(), "3".into()),
    ];
    for (k, v) in extra {
        pairs.retain(|(name, _)| name != k);
        pairs.push((k.to_string(), v.to_string()));
    }
    Config::from_lookup(|name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("test settings are valid")
}

/// The function, built as `main` builds it.
pub async fn ingest(config: &Config, sdk: &SdkConfig) -> Ingest {
    weather_ingest::init(config, sdk).await.expect("init")
}

/// A valid event body, unique per `n`.
pub fn event(n: usize) -> String {
    format!(
        r#"{{"name": "Storm {n}", "dateStart": "2026-01-{d:02}", "dateEnd": "2026-01-{d:02}"}}"#,
        d = n % 28 + 1
    )
}

/// SQS records with these ids and bodies, as Lambda delivers them.
pub fn records(messages: &[(String, String)]) -> Vec<SqsMessage> {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|(id, body)| {
            serde_json::json!({
                "messageId": id,
                "receiptHandle": format!("handle-{id}"),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1764547200000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1764547200001"
                },
                "messageAttributes": {
                    "source": {"stringValue": "station-42", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
                },
                "md5OfBody": "0",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:ingest",
                "awsRegion": "eu-west-1"
            })
        })
        .collect();
    let event: SqsEvent =
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
    event.records
}

/// `n` valid messages with fresh ids.
pub fn valid_batch(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (uuid::Uuid::new_v4().to_string(), event(i)))
        .collect()
}

/// The reported message ids, sorted.
pub fn reported(answer: &SqsBatchResponse) -> Vec<String> {
    let mut ids: Vec<String> = answer
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    ids.sort();
    ids
}

/// The ids of `messages`, sorted.
pub fn ids(messages: &[(String, String)]) -> Vec<String> {
    let mut ids: Vec<String> = messages.iter().map(|(id, _)| id.clone()).collect();
    ids.sort();
    ids
}

/// Waits (bounded) until `condition` holds.
pub async fn eventually(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..2000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}
