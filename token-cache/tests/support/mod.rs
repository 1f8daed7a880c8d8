//! A real OAuth 2.0 token server (and a resource endpoint) on 127.0.0.1:0 for
//! the tests: counts requests, records them, and answers as told.
#![allow(dead_code)] // each test binary uses a different part
#![allow(unreachable_pub)] // and sees the `pub` items of this module as its own

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use token_cache::{AccessToken, Config, ManualClock, RetryPolicy, ScopeSet, TokenCache};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How the token endpoint answers.
#[derive(Debug, Clone)]
pub enum Mode {
    /// 200 with a new token `tok-<n>-...` granting the requested scope.
    Ok,
    /// Sleeps, then answers like `Ok`.
    Slow(Duration),
    /// 429 with this `Retry-After`.
    TooManyRequests(&'static str),
    /// 500 with a non-JSON body.
    ServerError,
    /// `{"error":"invalid_client"}` with this status (400 or 401).
    InvalidClient(u16),
    /// 400 `{"error":"invalid_scope"}`.
    InvalidScope,
    /// 200 with a body that is not a token response.
    Garbage,
    /// 200 with a token granting only the first requested scope.
    NarrowScope,
}

/// One recorded token request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

struct State {
    token_requests: AtomicUsize,
    resource_requests: AtomicUsize,
    mode: Mutex<Mode>,
    script: Mutex<VecDeque<Mode>>,
    hold: AtomicBool,
    gate: Semaphore,
    expires_in: Mutex<u64>,
    recorded: Mutex<Vec<Recorded>>,
    rejected_token_prefixes: Mutex<Vec<String>>,
}

pub struct TestServer {
    pub base: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A marker every token carries, so log tests can look for leaks.
pub const TOKEN_MARKER: &str = "tok-";

impl TestServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            token_requests: AtomicUsize::new(0),
            resource_requests: AtomicUsize::new(0),
            mode: Mutex::new(Mode::Ok),
            script: Mutex::new(VecDeque::new()),
            hold: AtomicBool::new(false),
            gate: Semaphore::new(0),
            expires_in: Mutex::new(3600),
            recorded: Mutex::new(Vec::new()),
            rejected_token_prefixes: Mutex::new(Vec::new()),
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
            base: format!("http://{addr}"),
            state,
            task,
        }
    }

    pub fn token_url(&self) -> String {
        format!("{}/oauth2/token", self.base)
    }

    pub fn api_url(&self) -> String {
        format!("{}/api", self.base)
    }

    /// Token requests received so far.
    pub fn token_requests(&self) -> usize {
        self.state.token_requests.load(Ordering::SeqCst)
    }

    pub fn resource_requests(&self) -> usize {
        self.state.resource_requests.load(Ordering::SeqCst)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// Answers consumed one per request before falling back to the mode.
    pub fn script(&self, modes: impl IntoIterator<Item = Mode>) {
        self.state.script.lock().unwrap().extend(modes);
    }

    /// While held, token requests wait for `release` before answering.
    pub fn hold(&self, on: bool) {
        self.state.hold.store(on, Ordering::SeqCst);
    }

    pub fn release(&self, n: usize) {
        self.state.gate.add_permits(n);
    }

    pub fn set_expires_in(&self, secs: u64) {
        *self.state.expires_in.lock().unwrap() = secs;
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.state.recorded.lock().unwrap().clone()
    }

    /// The resource endpoint answers 401 to tokens starting with this.
    pub fn reject_tokens_starting_with(&self, prefix: &str) {
        self.state
            .rejected_token_prefixes
            .lock()
            .unwrap()
            .push(prefix.to_owned());
    }

    /// Waits (bounded) until `n` token requests arrived.
    pub async fn wait_for_token_requests(&self, n: usize) {
        for _ in 0..1000 {
            if self.token_requests() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("expected {n} token requests, got {}", self.token_requests());
    }
}

pub fn scopes(s: &str) -> ScopeSet {
    ScopeSet::parse(s).unwrap()
}

/// Token number `n` as the test server issues it.
pub fn is_token(token: &AccessToken, n: usize) -> bool {
    token.secret().starts_with(&format!("tok-{n}-"))
}

/// A cache on `config` with a clock the test moves.
pub fn clocked(config: Config) -> (TokenCache, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let cache = TokenCache::builder(config)
        .clock(clock.clone())
        .build()
        .unwrap();
    (cache, clock)
}

/// Calls `get` until it returns token `n` (bounded); every answer must be a token.
pub async fn eventually_token(cache: &TokenCache, scopes: &ScopeSet, n: usize) {
    for _ in 0..1000 {
        if is_token(&cache.get(scopes).await.unwrap(), n) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("token {n} never served");
}

/// Waits until `done` holds, polling every 5 ms, at most 10 s (then fails naming `what`).
/// For counts that move after the server saw a request (the client still has to read
/// the answer), where a fixed sleep would race with a slow machine.
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `config` for tests that hold token requests on the server and release them by
/// hand: no request may time out meanwhile, however slow the machine, or a retry would
/// change the counts they assert.
pub fn patient(mut config: Config) -> Config {
    config.request_timeout = Duration::from_secs(30);
    config.retry.deadline = Duration::from_secs(60);
    config
}

/// A config for the test server: fast retries, short deadline.
pub fn config(server: &TestServer) -> Config {
    let mut config = Config::new(
        &server.token_url(),
        "test-client",
        "test-secret-value".to_owned(),
    )
    .unwrap();
    config.request_timeout = Duration::from_secs(2);
    config.retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        deadline: Duration::from_secs(3),
    };
    config
}

fn respond(status: u16, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

fn form_value(body: &str, key: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.replace('+', " ").replace("%2F", "/"))
    })
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let authorization = header("authorization");
    let content_type = header("content-type");
    let path = req.uri().path().to_owned();

    if path == "/api" {
        state.resource_requests.fetch_add(1, Ordering::SeqCst);
        let token = authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "));
        let rejected = match token {
            None => true,
            Some(t) => state
                .rejected_token_prefixes
                .lock()
                .unwrap()
                .iter()
                .any(|p| t.starts_with(p.as_str())),
        };
        return Ok(if rejected {
            respond(401, r#"{"message":"Unauthorized"}"#.into())
        } else {
            respond(200, r#"{"events":[]}"#.into())
        });
    }

    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    let n = state.token_requests.fetch_add(1, Ordering::SeqCst) + 1;
    state.recorded.lock().unwrap().push(Recorded {
        authorization,
        content_type,
        body: body.clone(),
    });
    let scripted = state.script.lock().unwrap().pop_front();
    let mode = scripted.unwrap_or_else(|| state.mode.lock().unwrap().clone());
    if state.hold.load(Ordering::SeqCst) {
        state.gate.acquire().await.expect("gate open").forget();
    }
    let expires_in = *state.expires_in.lock().unwrap();
    let scope = form_value(&body, "scope");
    let token = |granted: Option<String>| {
        let scope = granted
            .map(|s| format!(r#","scope":"{s}""#))
            .unwrap_or_default();
        format!(
            r#"{{"access_token":"{TOKEN_MARKER}{n}-a1b2c3","expires_in":{expires_in},"token_type":"Bearer"{scope}}}"#
        )
    };
    let response = match mode {
        Mode::Ok => respond(200, token(scope)),
        Mode::Slow(d) => {
            tokio::time::sleep(d).await;
            respond(200, token(scope))
        }
        Mode::TooManyRequests(retry_after) => {
            let mut r = respond(429, r#"{"message":"slow down"}"#.into());
            r.headers_mut()
                .insert("retry-after", retry_after.parse().unwrap());
            r
        }
        Mode::ServerError => respond(500, "internal error".into()),
        Mode::InvalidClient(status) => respond(status, r#"{"error":"invalid_client"}"#.into()),
        Mode::InvalidScope => respond(400, r#"{"error":"invalid_scope"}"#.into()),
        Mode::Garbage => respond(200, "<html>oops</html>".into()),
        Mode::NarrowScope => {
            let first = scope.and_then(|s| s.split(' ').next().map(str::to_owned));
            respond(200, token(first))
        }
    };
    Ok(response)
}
