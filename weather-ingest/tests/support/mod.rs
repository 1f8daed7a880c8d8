//! What the tests share: [`World`] (the function built exactly as `main` builds it,
//! with the local API ([`api`]), a counting token endpoint (test-support's
//! [`TokenMock`]) and a dead-letter queue on moto), one moto server per test binary
//! (SQS for the dead-letter queue, Secrets Manager), and SQS batches.

#![allow(dead_code)] // each test binary uses a different part

pub mod api;

use std::sync::OnceLock;
use std::time::Duration;

use api::ApiStub;
use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::config::{Credentials, Region};
use test_support::Switch;
use test_support::moto::Moto;
pub use test_support::token::{TokenMock, TokenReply};
use weather_ingest::{Config, Ingest, Summary};

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

/// The function and everything it talks to, started for one test: the local API, a
/// token endpoint issuing `tok-1`, `tok-2`…, moto's SQS and a fresh dead-letter queue.
pub struct World {
    /// The local weather API.
    pub api: ApiStub,
    /// Between the function and the API, if [`WorldBuilder::api_behind_switch`].
    pub switch: Option<Switch>,
    /// The token endpoint.
    pub tokens: TokenMock,
    /// SDK settings for moto.
    pub sdk: SdkConfig,
    /// The dead-letter queue's URL.
    pub dlq: String,
    /// The function.
    pub ingest: Ingest,
}

/// How to start a [`World`]; [`World::start`] takes every default.
#[derive(Default)]
pub struct WorldBuilder {
    settings: Vec<(String, String)>,
    behind_switch: bool,
    missing_dead_letter_queue: bool,
    token_reply: Option<TokenReply>,
}

impl WorldBuilder {
    /// Sets (or overrides) one of the function's settings.
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Puts a [`Switch`] between the function and the API (the API can go down).
    pub fn api_behind_switch(mut self) -> Self {
        self.behind_switch = true;
        self
    }

    /// A dead-letter queue URL on moto for a queue that does not exist.
    pub fn missing_dead_letter_queue(mut self) -> Self {
        self.missing_dead_letter_queue = true;
        self
    }

    /// The token endpoint answers `reply` from the start.
    pub fn token_reply(mut self, reply: TokenReply) -> Self {
        self.token_reply = Some(reply);
        self
    }

    /// Starts everything and builds the function.
    pub async fn start(self) -> World {
        let api = ApiStub::start().await;
        let switch = if self.behind_switch {
            Some(Switch::start(&api.addr.to_string()).await)
        } else {
            None
        };
        let api_url = match &switch {
            Some(switch) => format!("http://{}", switch.addr()),
            None => api.url.clone(),
        };
        let tokens = TokenMock::start().await;
        if let Some(reply) = self.token_reply {
            tokens.set(reply);
        }
        let sdk = sdk(moto()).await;
        let dlq = if self.missing_dead_letter_queue {
            format!("{}/123456789012/no-such-queue", moto())
        } else {
            queue(&sdk).await
        };
        let extra: Vec<(&str, &str)> = self
            .settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let ingest = ingest(&settings(&api_url, &tokens.url(), &dlq, &extra), &sdk).await;
        World {
            api,
            switch,
            tokens,
            sdk,
            dlq,
            ingest,
        }
    }
}

impl World {
    /// A builder, to change a default.
    pub fn builder() -> WorldBuilder {
        WorldBuilder::default()
    }

    /// Every default.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// One invocation with `batch`, plenty of time left; it must not fail as a whole.
    pub async fn invoke(&self, batch: &[SqsMessage]) -> (SqsBatchResponse, Summary) {
        self.ingest
            .handle(batch, TIME_LEFT)
            .await
            .expect("invocation")
    }

    /// Everything in the dead-letter queue (received once each).
    pub async fn dead_letters(&self) -> Vec<aws_sdk_sqs::types::Message> {
        drain(&self.sdk, &self.dlq).await
    }
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
