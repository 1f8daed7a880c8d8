//! Helpers shared by the handler test binaries: fixtures loaded as the runtime loads
//! them, and replies decoded for assertions.
// Each test binary compiles this module on its own and uses part of it.
#![allow(dead_code)]
#![allow(unreachable_pub)]

#[cfg(feature = "dynamodb")]
pub mod moto;

use std::path::PathBuf;

use lambda_http::http::{HeaderMap, StatusCode};
use lambda_http::{Body, Request};
use serde_json::{Value, json};
use weather_api::{Api, Config, EventStore, InMemoryStore};

/// The authorizer context's `client_id` in the fixtures.
pub const FIXTURE_CLIENT: &str = "4example0client0id0test0only";
/// The (fake) bearer token in the fixtures' Authorization headers.
pub const FIXTURE_TOKEN: &str = "test-only.not-a-real-token.do-not-log";

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture_json(name: &str) -> Value {
    let path = crate_dir().join("fixtures").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

pub fn request(event: &Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).expect("fixture is an API Gateway event")
}

pub fn fixture(name: &str) -> Request {
    request(&fixture_json(name))
}

/// A fixture with `edit` applied to its event JSON first.
pub fn fixture_with(name: &str, edit: impl FnOnce(&mut Value)) -> Request {
    let mut event = fixture_json(name);
    edit(&mut event);
    request(&event)
}

/// A REST fixture re-pointed at another method and path.
pub fn rest(name: &str, method: &str, path: &str) -> Request {
    fixture_with(name, |e| {
        e["httpMethod"] = json!(method);
        e["path"] = json!(path);
    })
}

pub fn new_container() -> Api<InMemoryStore> {
    Api::new(InMemoryStore::seeded(), Config::default())
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

pub async fn send<S: EventStore>(api: &Api<S>, req: Request) -> Reply {
    let response = api.handle(req).await;
    let status = response.status();
    let headers = response.headers().clone();
    let body = match response.body() {
        Body::Empty => Value::Null,
        Body::Text(text) => serde_json::from_str(text).expect("response body is JSON"),
        Body::Binary(bytes) => serde_json::from_slice(bytes).expect("response body is JSON"),
        other => panic!("unexpected body {other:?}"),
    };
    Reply {
        status,
        headers,
        body,
    }
}

pub fn error_message(reply: &Reply) -> String {
    let object = reply.body.as_object().expect("error body is an object");
    assert_eq!(
        object.len(),
        1,
        "error body has only `message`: {}",
        reply.body
    );
    let message = object["message"].as_str().expect("message is a string");
    assert!(!message.is_empty());
    assert_eq!(
        reply.headers["content-type"], "application/json",
        "error bodies are JSON"
    );
    message.to_owned()
}
