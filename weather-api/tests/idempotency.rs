//! `POST /events` with `Idempotency-Key` through the handler: a repeat answers the
//! first 201 and stores nothing, another body is 422, bad keys are 400, keys are per
//! caller, and concurrent repeats create one event.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde_json::json;
use support::{FIXTURE_CLIENT, error_message, fixture, fixture_with, send};
use weather_api::{Api, Config, EventStore, InMemoryStore, ManualClock};

const FIXTURE: &str = "apigw-request-create-event-idempotent.json";

fn container() -> (Api<InMemoryStore>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000),
    ));
    let store = InMemoryStore::seeded_with_clock(clock.clone());
    (
        Api::with_clock(store, Config::default(), clock.clone()),
        clock,
    )
}

/// The idempotent POST fixture with this key (raw header bytes) and body.
fn post(key: &[u8], body: &str) -> Request {
    let mut req = fixture_with(FIXTURE, |e| {
        e["body"] = json!(body);
    });
    let value = lambda_http::http::HeaderValue::from_bytes(key).unwrap();
    req.headers_mut().insert("idempotency-key", value);
    req
}

const CIARA: &str =
    r#"{"name": "Storm Ciara", "dateStart": "2020-02-08", "dateEnd": "2020-02-10"}"#;

async fn count(api: &Api<InMemoryStore>) -> usize {
    api.store().list().await.unwrap().len()
}

#[tokio::test]
async fn repeat_answers_the_first_201_and_stores_nothing() {
    let (api, _) = container();
    let first = send(&api, fixture(FIXTURE)).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["name"], "Storm Ciara");
    assert!(!first.headers.contains_key("idempotent-replayed"));
    // Same key, same event (other JSON spacing and field order).
    let again = send(
        &api,
        post(
            b"8e03978e-40d5-43e8-bc93-6894a57f9324",
            r#"{"dateEnd":"2020-02-10","name":"Storm Ciara","dateStart":"2020-02-08"}"#,
        ),
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body, "same id and body");
    assert_eq!(again.headers["location"], first.headers["location"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(count(&api).await, 3);
}

#[tokio::test]
async fn same_key_other_event_is_422_and_stores_nothing() {
    let (api, _) = container();
    send(&api, post(b"k-1", CIARA)).await;
    let other = send(
        &api,
        post(
            b"k-1",
            r#"{"name": "Storm Dennis", "dateStart": "2020-02-15", "dateEnd": "2020-02-16"}"#,
        ),
    )
    .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_message(&other).contains("already used for a different event"));
    assert_eq!(count(&api).await, 3);
}

#[tokio::test]
async fn keys_are_remembered_24_hours() {
    let (api, clock) = container();
    let first = send(&api, post(b"k-ttl", CIARA)).await;
    clock.advance(Duration::from_secs(24 * 3600 - 1));
    let again = send(&api, post(b"k-ttl", CIARA)).await;
    assert_eq!(again.body["id"], first.body["id"]);
    clock.advance(Duration::from_secs(1));
    let later = send(&api, post(b"k-ttl", CIARA)).await;
    assert_eq!(later.status, StatusCode::CREATED);
    assert_ne!(later.body["id"], first.body["id"], "forgotten after 24 h");
    assert_eq!(count(&api).await, 4);
}

#[tokio::test]
async fn keys_are_per_caller() {
    let (api, _) = container();
    let mine = send(&api, post(b"shared", CIARA)).await;
    let mut theirs = fixture_with(FIXTURE, |e| {
        e["requestContext"]["authorizer"]["client_id"] = json!("another-client");
    });
    theirs
        .headers_mut()
        .insert("idempotency-key", "shared".parse().unwrap());
    let theirs = send(&api, theirs).await;
    assert_eq!(mine.body["createdBy"], FIXTURE_CLIENT);
    assert_eq!(theirs.body["createdBy"], "another-client");
    assert_ne!(mine.body["id"], theirs.body["id"]);
    assert!(!theirs.headers.contains_key("idempotent-replayed"));
    assert_eq!(count(&api).await, 4);
}

#[tokio::test]
async fn bad_keys_are_400_and_store_nothing() {
    let (api, _) = container();
    let long = vec![b'k'; 256];
    for (key, needle) in [
        (&b""[..], "`Idempotency-Key` must not be empty"),
        (&long[..], "at most 255 characters"),
        ("caf\u{e9}".as_bytes(), "visible ASCII"),
        (b"two words", "visible ASCII"),
    ] {
        let reply = send(&api, post(key, CIARA)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{key:?}");
        assert!(
            error_message(&reply).contains(needle),
            "{key:?}: {}",
            reply.body
        );
    }
    // Sent twice.
    let mut req = post(b"a", CIARA);
    req.headers_mut()
        .append("idempotency-key", "b".parse().unwrap());
    let reply = send(&api, req).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(error_message(&reply).contains("must be sent once"));
    // A 255-character key is fine.
    let ok = send(&api, post(&[b'k'; 255], CIARA)).await;
    assert_eq!(ok.status, StatusCode::CREATED);
    assert_eq!(count(&api).await, 3);
}

#[tokio::test]
async fn a_refused_body_does_not_use_up_the_key() {
    let (api, _) = container();
    let bad = send(&api, post(b"k-bad", r#"{"name": ""}"#)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let good = send(&api, post(b"k-bad", CIARA)).await;
    assert_eq!(good.status, StatusCode::CREATED);
    assert!(!good.headers.contains_key("idempotent-replayed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_repeats_create_one_event() {
    let (api, _) = container();
    let api = Arc::new(api);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let api = api.clone();
            tokio::spawn(async move { send(&api, post(b"burst", CIARA)).await })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, StatusCode::CREATED);
        ids.push(reply.body["id"].clone());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "one event for all");
    assert_eq!(count(&api).await, 3);
}
