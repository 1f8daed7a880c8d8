//! The token endpoint of the tests (test-support's [`TokenMock`], gated so that a test
//! can hold its answers), a resource endpoint on 127.0.0.1:0 that counts requests and
//! refuses the tokens it is told to, and the helpers the tests share.
#![allow(dead_code, unused_imports)] // each test binary uses a different part
#![allow(unreachable_pub)] // and sees the `pub` items of this module as its own

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use test_support::token::{TOKEN_MARKER, TokenMock, TokenReply};
use token_cache::{
    AccessToken, Config, ManualClock, RetryPolicy, ScopeSet, TokenCache, TokenCacheError,
};
use tokio::task::JoinHandle;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The token endpoint, gated: [`TokenMock::hold`] works.
pub async fn token_server() -> TokenMock {
    TokenMock::gated().await
}

/// A resource endpoint (`GET /api`): 200 to a bearer token, 401 to none or to one it
/// was told to refuse; counts the requests.
pub struct Resource {
    server: MockServer,
    state: Arc<ResourceState>,
}

#[derive(Default)]
struct ResourceState {
    requests: AtomicUsize,
    refused: Mutex<Vec<Refused>>,
}

enum Refused {
    Token(String),
    Prefix(String),
}

struct Answer(Arc<ResourceState>);

impl Respond for Answer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.requests.fetch_add(1, Ordering::SeqCst);
        let token = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|a| a.strip_prefix("Bearer "));
        let refused = token.is_none_or(|t| {
            self.0.refused.lock().unwrap().iter().any(|r| match r {
                Refused::Token(refused) => t == refused,
                Refused::Prefix(prefix) => t.starts_with(prefix.as_str()),
            })
        });
        if refused {
            ResponseTemplate::new(401).set_body_json(serde_json::json!({"message": "Unauthorized"}))
        } else {
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"events": []}))
        }
    }
}

impl Resource {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(ResourceState::default());
        Mock::given(method("GET"))
            .and(path("/api"))
            .respond_with(Answer(Arc::clone(&state)))
            .mount(&server)
            .await;
        Self { server, state }
    }

    pub fn url(&self) -> String {
        format!("{}/api", self.server.uri())
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Answers 401 to this token from now on.
    pub fn refuse(&self, token: &str) {
        self.state
            .refused
            .lock()
            .unwrap()
            .push(Refused::Token(token.to_owned()));
    }

    /// Answers 401 to every token starting with `prefix` from now on.
    pub fn refuse_tokens_starting_with(&self, prefix: &str) {
        self.state
            .refused
            .lock()
            .unwrap()
            .push(Refused::Prefix(prefix.to_owned()));
    }
}

pub fn scopes(s: &str) -> ScopeSet {
    ScopeSet::parse(s).unwrap()
}

/// Token number `n` as the token endpoint issues it.
pub fn is_token(token: &AccessToken, n: usize) -> bool {
    token.secret() == format!("{TOKEN_MARKER}{n}")
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

/// `cache.get(scopes)` in a task of its own.
pub fn spawn_get(
    cache: &TokenCache,
    scopes: &ScopeSet,
) -> JoinHandle<Result<AccessToken, TokenCacheError>> {
    let (cache, scopes) = (cache.clone(), scopes.clone());
    tokio::spawn(async move { cache.get(&scopes).await })
}

/// `n` concurrent callers of `cache.get(scopes)`, each in a task of its own.
pub fn callers(
    cache: &TokenCache,
    scopes: &ScopeSet,
    n: usize,
) -> Vec<JoinHandle<Result<AccessToken, TokenCacheError>>> {
    (0..n).map(|_| spawn_get(cache, scopes)).collect()
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

/// A config for the token endpoint: fast retries, short deadline.
pub fn config(server: &TokenMock) -> Config {
    let mut config =
        Config::new(&server.url(), "test-client", "test-secret-value".to_owned()).unwrap();
    config.request_timeout = Duration::from_secs(2);
    config.retry = fast_retries(Duration::from_secs(3));
    config
}

/// Three attempts, 10 to 50 ms apart, within `deadline`: failures fail fast.
pub fn fast_retries(deadline: Duration) -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        deadline,
    }
}
