//! An OAuth 2.0 token endpoint on 127.0.0.1 (a [`wiremock`] server): issues numbered
//! tokens (`tok-1`, `tok-2`… by request), answers as the test sets or scripts, can take
//! one client secret only, records and counts the requests, and (started
//! [`TokenMock::gated`]) holds its answers until the test releases them ([`Gate`]).
//!
//! [`Issue`] is its counting responder on its own, for tests that mount their own
//! matchers (Cognito's `GetClientToken` protocol included); [`basic`] is the
//! `Authorization` header a client sends.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::gate::Gate;

/// The path the token endpoint is served at.
pub const TOKEN_PATH: &str = "/oauth2/token";

/// A marker every issued token starts with, so log tests can look for leaks.
pub const TOKEN_MARKER: &str = "tok-";

/// The lifetime tokens are issued with unless [`TokenMock::set_expires_in`] says otherwise.
pub const DEFAULT_EXPIRES_IN: u64 = 3600;

/// `Basic base64(client_id:secret)`, as RFC 6749 §2.3.1 clients send it.
pub fn basic(client_id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"))
    )
}

/// What the token endpoint answers.
#[derive(Debug, Clone)]
pub enum TokenReply {
    /// 200 with token `tok-<n>` (n: the request's number) granting the requested scope.
    Issue,
    /// Like `Issue`, after this delay.
    Slow(Duration),
    /// 429 with this `Retry-After`.
    TooManyRequests(&'static str),
    /// 500 with a body that is not JSON.
    ServerError,
    /// This status with an empty body.
    Status(u16),
    /// `{"error":"invalid_client"}` with this status (400 or 401).
    InvalidClient(u16),
    /// 400 `{"error":"invalid_scope"}`.
    InvalidScope,
    /// 200 with a body that is not a token response.
    Garbage,
    /// 200 with a token granting only the first requested scope.
    NarrowScope,
}

/// One token request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The form body.
    pub body: String,
}

/// A token endpoint; see the module documentation.
pub struct TokenMock {
    server: MockServer,
    gate: Option<Gate>,
    base: String,
    state: Arc<State>,
}

struct State {
    calls: AtomicUsize,
    reply: Mutex<TokenReply>,
    script: Mutex<VecDeque<TokenReply>>,
    expires_in: AtomicU64,
    /// `Some(header)`: any other `Authorization` gets 401 `invalid_client`.
    accepted: Mutex<Option<String>>,
    recorded: Mutex<Vec<Recorded>>,
}

/// The responder wiremock holds; the test keeps the other handle.
struct Shared(Arc<State>);

impl Respond for Shared {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let state = &self.0;
        let n = state.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let authorization = header("authorization");
        let body = String::from_utf8_lossy(&request.body).into_owned();
        state.recorded.lock().unwrap().push(Recorded {
            authorization: authorization.clone(),
            content_type: header("content-type"),
            body: body.clone(),
        });
        let accepted = state.accepted.lock().unwrap().clone();
        if accepted.is_some_and(|wanted| authorization.as_deref() != Some(wanted.as_str())) {
            // Refused before any scripted answer is used up.
            return oauth_error(401, "invalid_client");
        }
        let scripted = state.script.lock().unwrap().pop_front();
        let reply = scripted.unwrap_or_else(|| state.reply.lock().unwrap().clone());
        let expires_in = state.expires_in.load(Ordering::SeqCst);
        let scope = form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == "scope")
            .map(|(_, v)| v.into_owned());
        let issue = |granted: Option<String>| {
            oauth_token(&format!("{TOKEN_MARKER}{n}"), expires_in, granted)
        };
        match reply {
            TokenReply::Issue => issue(scope),
            TokenReply::Slow(delay) => issue(scope).set_delay(delay),
            TokenReply::TooManyRequests(retry_after) => ResponseTemplate::new(429)
                .insert_header("retry-after", retry_after)
                .set_body_json(serde_json::json!({"message": "slow down"})),
            TokenReply::ServerError => {
                ResponseTemplate::new(500).set_body_raw("internal error", "application/json")
            }
            TokenReply::Status(status) => ResponseTemplate::new(status),
            TokenReply::InvalidClient(status) => oauth_error(status, "invalid_client"),
            TokenReply::InvalidScope => oauth_error(400, "invalid_scope"),
            TokenReply::Garbage => {
                ResponseTemplate::new(200).set_body_raw("<html>oops</html>", "application/json")
            }
            TokenReply::NarrowScope => {
                issue(scope.and_then(|s| s.split(' ').next().map(str::to_owned)))
            }
        }
    }
}

fn oauth_token(token: &str, expires_in: u64, scope: Option<String>) -> ResponseTemplate {
    let mut body = serde_json::json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": expires_in,
    });
    if let Some(scope) = scope {
        body["scope"] = scope.into();
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn oauth_error(status: u16, error: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(serde_json::json!({ "error": error }))
}

impl TokenMock {
    /// Serves `POST /oauth2/token`, issuing tokens (anything else is a 404, not counted).
    pub async fn start() -> Self {
        Self::serve(false).await
    }

    /// Like [`TokenMock::start`], behind a [`Gate`]: [`TokenMock::hold`] and
    /// [`TokenMock::release`] work.
    pub async fn gated() -> Self {
        Self::serve(true).await
    }

    async fn serve(gated: bool) -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(State {
            calls: AtomicUsize::new(0),
            reply: Mutex::new(TokenReply::Issue),
            script: Mutex::default(),
            expires_in: AtomicU64::new(DEFAULT_EXPIRES_IN),
            accepted: Mutex::default(),
            recorded: Mutex::default(),
        });
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(Shared(Arc::clone(&state)))
            .mount(&server)
            .await;
        let gate = if gated {
            Some(Gate::start(*server.address()).await)
        } else {
            None
        };
        let base = match &gate {
            Some(gate) => format!("http://{}", gate.addr()),
            None => server.uri(),
        };
        Self {
            server,
            gate,
            base,
            state,
        }
    }

    /// `http://127.0.0.1:PORT/oauth2/token` (through the gate, if gated).
    pub fn url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.base)
    }

    /// `host:port` of the wiremock server behind (not through the gate).
    pub fn address(&self) -> String {
        self.server.address().to_string()
    }

    /// The wiremock server behind, to mount more endpoints on.
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// Answers `reply` from now on.
    pub fn set(&self, reply: TokenReply) {
        *self.state.reply.lock().unwrap() = reply;
    }

    /// Answers consumed one per request before falling back to the [`TokenMock::set`] one.
    pub fn script(&self, replies: impl IntoIterator<Item = TokenReply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    /// Issues tokens with this `expires_in` from now on.
    pub fn set_expires_in(&self, secs: u64) {
        self.state.expires_in.store(secs, Ordering::SeqCst);
    }

    /// From now on takes only `Basic client_id:secret` and answers `invalid_client`
    /// (401, as Cognito does) to any other client authentication.
    pub fn accept_only(&self, client_id: &str, secret: &str) {
        *self.state.accepted.lock().unwrap() = Some(basic(client_id, secret));
    }

    /// Token requests answered so far (each counts once its answer is chosen, a held or
    /// slow one included).
    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }

    /// Fails the test unless exactly `n` token requests were answered.
    #[track_caller]
    pub fn assert_calls(&self, n: usize) {
        assert_eq!(self.calls(), n, "token requests answered");
    }

    /// Waits until `n` token requests arrived (polling, at most 10 s).
    pub async fn wait_for_calls(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.calls() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {n} token requests, got {}",
                self.calls()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The token requests received so far, in order.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.state.recorded.lock().unwrap().clone()
    }

    /// While held (`true`), answers wait for [`TokenMock::release`]; see [`Gate::hold`].
    /// Only on a [`TokenMock::gated`] one.
    #[track_caller]
    pub fn hold(&self, on: bool) {
        self.gate().hold(on);
    }

    /// Lets `n` held answers through.
    #[track_caller]
    pub fn release(&self, n: usize) {
        self.gate().release(n);
    }

    #[track_caller]
    fn gate(&self) -> &Gate {
        self.gate
            .as_ref()
            .expect("hold and release need TokenMock::gated()")
    }
}

/// Which protocol [`Issue`] answers in.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    OAuth,
    GetClientToken,
}

/// A counting responder issuing a fresh token per request: `tok-<n>` as an RFC 6749
/// token response, or `gct-<n>` as Cognito's `GetClientToken` answers (JSON protocol).
/// Clones share the count.
#[derive(Debug, Clone)]
pub struct Issue {
    issued: Arc<AtomicUsize>,
    protocol: Protocol,
}

impl Issue {
    /// RFC 6749 token responses, `tok-<n>`, an hour each.
    pub fn oauth() -> Self {
        Self {
            issued: Arc::default(),
            protocol: Protocol::OAuth,
        }
    }

    /// Cognito `GetClientToken` answers, `gct-<n>`, an hour each.
    pub fn get_client_token() -> Self {
        Self {
            issued: Arc::default(),
            protocol: Protocol::GetClientToken,
        }
    }

    /// Tokens issued so far.
    pub fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }
}

impl Respond for Issue {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        match self.protocol {
            Protocol::OAuth => oauth_token(&format!("{TOKEN_MARKER}{n}"), DEFAULT_EXPIRES_IN, None),
            Protocol::GetClientToken => ResponseTemplate::new(200)
                .insert_header("content-type", "application/x-amz-json-1.1")
                .set_body_json(serde_json::json!({
                    "ClientAuthenticationResult": {
                        "AccessToken": format!("gct-{n}"),
                        "ExpiresIn": DEFAULT_EXPIRES_IN,
                        "TokenType": "Bearer",
                    }
                })),
        }
    }
}
