//! A local weather API for the tests and the throughput harness: `POST /events` with
//! the real API's body validation (`weather_api::NewEvent::from_json`) and its
//! `Idempotency-Key` semantics (same key and event: the first answer replayed with
//! `Idempotent-Replayed: true`; same key, other event: 422), on 127.0.0.1:0.
//!
//! It counts what it created, checks the bearer token, can inject faults, records
//! the requests in flight (their maximum) and can hold every request at a gate.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use weather_api::NewEvent;

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
    /// Requests being handled now.
    pub in_flight: AtomicUsize,
    /// Most requests ever in flight at once.
    pub max_in_flight: AtomicUsize,
    /// Requests answered (any status).
    pub answered: AtomicUsize,
    accepted_tokens: Mutex<Option<Vec<String>>>,
    fault: Mutex<Fault>,
    gate: Mutex<Option<Arc<Semaphore>>>,
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
    task: JoinHandle<()>,
}

impl ApiStub {
    /// Starts it on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ApiState {
            claims: Mutex::default(),
            created: AtomicUsize::new(0),
            replayed: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            answered: AtomicUsize::new(0),
            accepted_tokens: Mutex::new(None),
            fault: Mutex::new(Fault::None),
            gate: Mutex::new(None),
            tokens: Mutex::default(),
        });
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(Arc::clone(&state), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            url: format!("http://{addr}"),
            addr,
            state,
            task,
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

    /// Holds every request until the returned gate gives it a permit.
    pub fn hold(&self) -> Arc<Semaphore> {
        let gate = Arc::new(Semaphore::new(0));
        *self.state.gate.lock().unwrap() = Some(Arc::clone(&gate));
        gate
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

impl Drop for ApiStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn respond(status: u16, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

fn message(status: u16, text: &str) -> Response<Full<Bytes>> {
    respond(status, &serde_json::json!({ "message": text }).to_string())
}

/// Decrements the in-flight count when the request is answered (or dropped).
struct InFlight<'a>(&'a ApiState);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.answered.fetch_add(1, Ordering::SeqCst);
    }
}

async fn handle(
    state: Arc<ApiState>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != hyper::Method::POST || req.uri().path() != "/events" {
        return Ok(message(404, "not found"));
    }
    state.requests.fetch_add(1, Ordering::SeqCst);
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _in_flight = InFlight(&state);
    let gate = state.gate.lock().unwrap().clone();
    if let Some(gate) = gate {
        gate.acquire().await.unwrap().forget();
    }

    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let token = header("authorization").and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned));
    let key = header("idempotency-key");
    let Some(token) = token else {
        return Ok(message(401, "Unauthorized"));
    };
    state.tokens.lock().unwrap().push(token.clone());
    let accepted = state.accepted_tokens.lock().unwrap().clone();
    if accepted.is_some_and(|list| !list.contains(&token)) {
        return Ok(message(401, "Unauthorized"));
    }
    let fault = *state.fault.lock().unwrap();
    if let Fault::Status(status) = fault {
        return Ok(message(status, "injected fault"));
    }
    let body = match req.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Ok(message(400, "unreadable body")),
    };
    let event = match NewEvent::from_json(&body) {
        Ok(event) => event,
        Err(err) => return Ok(message(err.status().as_u16(), &err.client_message())),
    };
    let mut replayed = false;
    if let Some(key) = key {
        let mut claims = state.claims.lock().unwrap();
        match claims.get(&key) {
            Some(first) if *first == event => replayed = true,
            Some(_) => {
                return Ok(message(
                    422,
                    "this `Idempotency-Key` was already used for a different event: send a new key for a new event",
                ));
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
        return Ok(message(status, "injected fault after creating"));
    }
    let mut response = respond(201, r#"{"id":"00000000-0000-4000-8000-000000000000"}"#);
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", "true".parse().unwrap());
    }
    Ok(response)
}
