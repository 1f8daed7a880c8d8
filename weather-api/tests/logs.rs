//! What the handler logs: one line per request with method, route, status, client and
//! latency, the reason for a refusal, and never the token or the Authorization header.
//!
//! A test binary of its own, with one global subscriber installed before anything logs.
//! tracing caches each callsite's interest for the whole process, and a thread-local
//! subscriber (`set_default`) races with test threads that log without one: the callsite
//! can end up cached as "never" and the line is lost (seen as an intermittent failure
//! when these tests shared a binary with the fixture tests). Each test reads only what
//! its own thread wrote; the tests run on current-thread runtimes, so the handler logs
//! on the test's thread.

mod support;

use std::cell::RefCell;
use std::io::Write;
use std::sync::Once;

use lambda_http::Request;
use lambda_http::http::StatusCode;
use support::{FIXTURE_CLIENT, FIXTURE_TOKEN, Reply, fixture, new_container, rest, send};
use weather_api::event::SEED_DUDLEY_ID;
use weather_api::{Api, InMemoryStore};

thread_local! {
    /// What this thread logged since `logs_of` started capturing, if it is capturing.
    static CAPTURED: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// Appends to the current thread's capture; drops lines of threads that are not capturing.
struct ThreadWriter;

impl Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED.with_borrow_mut(|captured| {
            if let Some(captured) = captured {
                captured.extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn install_subscriber() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| ThreadWriter)
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
    });
}

/// Sends the request and returns the reply with everything logged meanwhile.
async fn logs_of(api: &Api<InMemoryStore>, req: Request) -> (Reply, String) {
    install_subscriber();
    CAPTURED.set(Some(Vec::new()));
    let reply = send(api, req).await;
    let captured = CAPTURED.take().expect("still capturing");
    (
        reply,
        String::from_utf8(captured).expect("log lines are UTF-8"),
    )
}

#[tokio::test]
async fn logs_method_route_status_client_and_latency_never_the_token() {
    let api = new_container();
    let (reply, logs) = logs_of(&api, fixture("apigw-request-create-event.json")).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let line = logs
        .lines()
        .find(|l| l.contains("request served"))
        .unwrap_or_else(|| panic!("no request line in {logs:?}"));
    for field in [
        "method=POST",
        "route=\"/events\"",
        "status=201",
        &format!("client_id=\"{FIXTURE_CLIENT}\""),
        "latency_ms=",
    ] {
        assert!(line.contains(field), "{field} missing from {line:?}");
    }
    assert!(!logs.contains(FIXTURE_TOKEN), "token logged: {logs}");
    assert!(
        !logs.to_lowercase().contains("authorization"),
        "header logged: {logs}"
    );

    let get_path = format!("/events/{SEED_DUDLEY_ID}");
    let (_, logs) = logs_of(&api, rest("apigw-request-get-event.json", "GET", &get_path)).await;
    assert!(logs.contains("route=\"/events/{id}\""), "{logs}");
    assert!(!logs.contains(FIXTURE_TOKEN), "token logged: {logs}");
}

#[tokio::test]
async fn refused_requests_log_the_reason_never_the_token() {
    let api = new_container();
    let (reply, logs) = logs_of(
        &api,
        fixture("apigw-request-create-event-invalid-date.json"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(logs.contains("status=400"), "{logs}");
    assert!(logs.contains("2022-02-30"), "reason not logged: {logs}");
    assert!(!logs.contains(FIXTURE_TOKEN), "token logged: {logs}");

    let (_, logs) = logs_of(&api, fixture("apigw-request-unknown-path.json")).await;
    assert!(
        logs.contains("route=\"unmatched\"") && logs.contains("status=404"),
        "{logs}"
    );
}
