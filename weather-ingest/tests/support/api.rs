//! A local weather API for the tests and the throughput harness: `POST /events` with
//! the real API's body validation (`weather_api::NewEvent::from_json`) and its
//! `Idempotency-Key` semantics (same key and event: the first answer replayed with
//! `Idempotent-Replayed: true`; same key, other event: 422), on 127.0.0.1:0 (a
//! wiremock server behind test-support's hold-and-release [`Gate`]).
//!
//! It counts what it created, checks the bearer token, can inject faults, and can hold
//! every answer until the test releases it (counting the answers held, at most and now).

#![allow(dead_code)] // each test binary uses a different part

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use test_support::gate::Gate;
use weather_api::NewEvent;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A fault the API injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers as the API does.
    None,
    /// Answers this status before doing anything.
    Status(u16),
    /// Creates the event, then answers this status (the answer is "lost").
    CreateThen(u16),
}

/// The API's state, shared with the test.
pub struct ApiState {
    claims: Mutex<HashMap<String, NewEvent>>,
    /// Events created (each at most once per key).
    pub created: AtomicUsize,
    /// Answers replayed for a repeated key.
    pub replayed: AtomicUsize,
    /// `POST /events` requests received.
    pub requests: AtomicUsize,
    accepted_tokens: Mutex<Option<Vec<String>>>,
    fault: Mutex<Fault>,
    /// The bearer tokens received, in order.
    pub tokens: Mutex<Vec<String>>,
}

/// A running API; stopped on drop.
pub struct ApiStub {
    /// `http://127.0.0.1:PORT` (the base URL: events are at `/events`).
    pub url: String,
    /// `127.0.0.1:PORT`.
    pub addr: std::net::SocketAddr,
    /// Shared state.
    pub state: Arc<ApiState>,
    gate: Gate,
    _server: MockServer,
}

impl ApiStub {
    /// Starts it on a free port.
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(ApiState {
            claims: Mutex::default(),
            created: AtomicUsize::new(0),
            replayed: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            accepted_tokens: Mutex::new(None),
            fault: Mutex::new(Fault::None),
            tokens: Mutex::default(),
        });
        Mock::given(method("POST"))
            .and(path("/events"))
            .respond_with(Api(Arc::clone(&state)))
            .mount(&server)
            .await;
        let gate = Gate::start(*server.address()).await;
        Self {
            url: format!("http://{}", gate.addr()),
            addr: gate.addr(),
            state,
            gate,
            _server: server,
        }
    }

    /// Events created so far.
    pub fn created(&self) -> usize {
        self.state.created.load(Ordering::SeqCst)
    }

    /// Answers `fault` from now on.
    pub fn fault(&self, fault: Fault) {
        *self.state.fault.lock().unwrap() = fault;
    }

    /// Accepts only these bearer tokens from now on (401 otherwise).
    pub fn accept_only(&self, tokens: &[&str]) {
        *self.state.accepted_tokens.lock().unwrap() =
            Some(tokens.iter().map(|t| t.to_string()).collect());
    }

    /// Holds every answer from now on until [`ApiStub::release`] lets it through.
    pub fn hold(&self) {
        self.gate.hold(true);
    }

    /// Lets `n` held answers through.
    pub fn release(&self, n: usize) {
        self.gate.release(n);
    }

    /// Answers held now (requests in flight while holding).
    pub fn held(&self) -> usize {
        self.gate.held()
    }

    /// The most answers ever held at once.
    pub fn max_held(&self) -> usize {
        self.gate.max_held()
    }

    /// Answers that reached the client (held or not).
    pub fn answered(&self) -> usize {
        self.gate.passed()
    }

    /// Records `key` as already used for the event `body` (as an earlier request
    /// would have).
    pub fn claim(&self, key: &str, body: &str) {
        let event = NewEvent::from_json(body.as_bytes()).unwrap();
        self.state
            .claims
            .lock()
            .unwrap()
            .insert(key.to_owned(), event);
    }
}

fn message(status: u16, text: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(serde_json::json!({ "message": text }))
}

/// `POST /events` as the API answers it.
struct Api(Arc<ApiState>);

impl Respond for Api {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let state = &self.0;
        state.requests.fetch_add(1, Ordering::SeqCst);
        let header = |name: &str| {
            req.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let token =
            header("authorization").and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned));
        let key = header("idempotency-key");
        let Some(token) = token else {
            return message(401, "Unauthorized");
        };
        state.tokens.lock().unwrap().push(token.clone());
        let accepted = state.accepted_tokens.lock().unwrap().clone();
        if accepted.is_some_and(|list| !list.contains(&token)) {
            return message(401, "Unauthorized");
        }
        let fault = *state.fault.lock().unwrap();
        if let Fault::Status(status) = fault {
            return message(status, "injected fault");
        }
        let event = match NewEvent::from_json(&req.body) {
            Ok(event) => event,
            Err(err) => return message(err.status().as_u16(), &err.client_message()),
        };
        let mut replayed = false;
        if let Some(key) = key {
            let mut claims = state.claims.lock().unwrap();
            match claims.get(&key) {
                Some(first) if *first == event => replayed = true,
                Some(_) => {
                    return message(
                        422,
                        "this `Idempotency-Key` was already used for a different event: send a new key for a new event",
                    );
                }
                None => {
                    claims.insert(key, event);
                }
            }
        }
        if replayed {
            state.replayed.fetch_add(1, Ordering::SeqCst);
        } else {
            state.created.fetch_add(1, Ordering::SeqCst);
        }
        if let Fault::CreateThen(status) = fault {
            return message(status, "injected fault after creating");
        }
        let response = ResponseTemplate::new(201)
            .set_body_json(serde_json::json!({"id": "00000000-0000-4000-8000-000000000000"}));
        if replayed {
            response.insert_header("idempotent-replayed", "true")
        } else {
            response
        }
    }
}
