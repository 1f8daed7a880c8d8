//! weather-ingest's figures through the local stack, measured in one run (recorded in
//! weather-ingest/README.md):
//!
//! * messages per second: BATCHES batches of 10 new events (default 50), invoked one
//!   after the other through `cargo lambda watch` as the event source mapping does, each
//!   posted by the function through the local API Gateway (the real authorizer,
//!   weather-api on moto's DynamoDB);
//! * token requests per 1,000 messages, counted at the local Cognito for the ingest
//!   client over the whole run (`token_requests_of`);
//! * init time of weather-ingest with `CLIENT_SECRET_ARN` against the stack's moto:
//!   `weather_ingest::init` with the functions' own environment (`functions.env`: the
//!   secret on moto, `TOKEN_CACHE_TABLE`, the queues), median of 20.
//!
//! A message the function reports (a transient failure: under this load the API's
//! DynamoDB on moto, served one request at a time, can time out and the API answers
//! 503) is delivered again with the same id, as SQS would, and counted; every event
//! must be listed exactly once at the end, or the run fails. moto's DynamoDB slows down
//! as the events table grows: with about 950 events in it, one run saw a write time
//! out (the API's 1 s attempt timeout) at every delivery, so keep BATCHES at 50 or so. The functions run as the watcher serves them (the dev profile,
//! built by the stack); the example's own profile only changes the harness.
//!
//! `cargo run -p local-stack --example ingest_throughput -- [BATCHES]` (needs `cargo
//! lambda` and moto on PATH: `.venv/bin` of `scripts/setup-tools`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_sqs::config::{Credentials, Region};
use local_stack::gateway::Invocation;
use local_stack::{Stack, StackOptions};
use serde_json::{Value, json};

/// The `KEY='value'` / `KEY="value"` lines the stack writes to `functions.env`.
fn read_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let value = if let Some(v) = v.strip_prefix('\'') {
                v.trim_end_matches('\'').to_owned()
            } else {
                v.trim_start_matches('"')
                    .trim_end_matches('"')
                    .replace("\\\"", "\"")
            };
            (k.to_owned(), value)
        })
        .collect()
}

/// A batch of 10 new events as Lambda's SQS event from `queue_arn`.
fn batch(queue_arn: &str, run: &str, n: usize) -> Value {
    let records: Vec<Value> = (0..10)
        .map(|i| {
            let body = json!({
                "name": format!("Throughput {run} {n}-{i}"),
                "dateStart": "2026-04-01",
                "dateEnd": "2026-04-02",
            });
            json!({
                "messageId": uuid::Uuid::new_v4().to_string(),
                "receiptHandle": format!("bench-{n}-{i}"),
                "body": body.to_string(),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    json!({ "Records": records })
}

/// How many events the API lists whose name starts with `prefix` (every page).
async fn listed(stack: &Stack, http: &reqwest::Client, token: &str, prefix: &str) -> usize {
    let (mut count, mut next) = (0, None::<String>);
    loop {
        let mut url = format!("{}/events?limit=100", stack.api_url);
        if let Some(t) = &next {
            url.push_str(&format!("&nextToken={}", urlencode(t)));
        }
        let page: Value = http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        count += page["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
            .count();
        match page["nextToken"].as_str() {
            Some(t) => next = Some(t.to_owned()),
            None => return count,
        }
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let batches: usize = std::env::args()
        .nth(1)
        .map_or(50, |n| n.parse().expect("BATCHES: a number"));
    let log_dir = std::env::temp_dir().join(format!("ingest-throughput-{}", uuid::Uuid::new_v4()));
    let mut options = StackOptions::for_tests(log_dir.clone());
    options.record_tokens = false;
    let stack = Stack::start(options).await.expect("the local stack");
    let consumer = stack
        .consumers
        .iter()
        .find(|c| c.binary == "weather-ingest")
        .expect("the stack runs weather-ingest")
        .clone();
    let config = stack.cognito.config();
    let ingest_client = config.client("IngestClient").unwrap().client_id.clone();
    let service = config.client("ServiceClient").unwrap();
    let http = reqwest::Client::new();
    let token: Value = http
        .post(stack.cognito.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", service.client_id.as_str()),
            ("client_secret", service.secret.expose()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();

    // Init with CLIENT_SECRET_ARN, the function's own settings, against the stack's moto.
    let env = read_env_file(&std::fs::read_to_string(log_dir.join("functions.env")).unwrap());
    assert!(env.contains_key("CLIENT_SECRET_ARN") && !env.contains_key("CLIENT_SECRET"));
    let settings = weather_ingest::Config::from_lookup(|name| env.get(name).cloned()).unwrap();
    let sdk = weather_ingest::sdk_config_loader()
        .endpoint_url(&env["AWS_ENDPOINT_URL"])
        .region(Region::new(env["AWS_REGION"].clone()))
        .credentials_provider(Credentials::new("local", "local", None, None, "bench"))
        .load()
        .await;
    let mut inits = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        weather_ingest::init(&settings, &sdk).await.expect("init");
        inits.push(start.elapsed());
    }
    inits.sort();

    // The timed run: every token request of the ingest client is in it (the stack's
    // warm-up posts nothing, so the first batch asks for the token).
    let run = uuid::Uuid::new_v4().simple().to_string();
    let before = stack.cognito.token_requests_of(&ingest_client);
    let start = Instant::now();
    let (mut redelivered, mut most_deliveries) = (0, 1);
    for n in 0..batches {
        let mut event = batch(&consumer.queue.arn, &run, n);
        // As SQS does: the messages reported come again (same ids). Beyond the queue's
        // maxReceiveCount of 5 SQS would dead-letter them; the harness keeps going (up
        // to 20) so that the run measures every message created, and says so.
        for delivery in 1.. {
            let failed: Vec<String> = match stack.invoke(&consumer.binary, &event).await.unwrap() {
                Invocation::Ok(answer) => answer["batchItemFailures"]
                    .as_array()
                    .unwrap_or_else(|| panic!("batch {n}: {answer}"))
                    .iter()
                    .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
                    .collect(),
                other => panic!("batch {n}: {other:?}"),
            };
            if failed.is_empty() {
                break;
            }
            assert!(delivery < 20, "batch {n}: {failed:?} still failing");
            redelivered += failed.len();
            most_deliveries = most_deliveries.max(delivery + 1);
            let records = event["Records"].as_array_mut().unwrap();
            records.retain(|r| failed.iter().any(|f| r["messageId"] == f.as_str()));
        }
    }
    let elapsed = start.elapsed();
    let token_requests = stack.cognito.token_requests_of(&ingest_client) - before;
    let messages = batches * 10;
    let created = listed(&stack, &http, &token, &format!("Throughput {run} ")).await;
    assert_eq!(created, messages, "every message created once");
    stack.stop().await;
    let _ = std::fs::remove_dir_all(&log_dir);

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "batches={batches} messages={messages} elapsed={:.2}s messages_per_second={:.0} \
         (one batch every {:.1}ms)",
        elapsed.as_secs_f64(),
        messages as f64 / elapsed.as_secs_f64(),
        ms(elapsed) / batches as f64
    );
    println!(
        "redelivered={redelivered} deliveries, most for one message={most_deliveries} \
         (transient failures delivered again, each created once in the end)"
    );
    println!(
        "token_requests={token_requests} for {messages} messages = {:.2} per 1000",
        token_requests as f64 * 1000.0 / messages as f64
    );
    println!(
        "init_with_secret_arn median={:.1}ms min={:.1}ms max={:.1}ms (20 inits)",
        ms(inits[10]),
        ms(inits[0]),
        ms(inits[19])
    );
}
