//! A JWKS endpoint on 127.0.0.1 (a [`wiremock`] server) whose answer a test sets and
//! changes, counting the requests it answered.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The path the key set is served at.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// What the JWKS endpoint answers.
#[derive(Debug, Clone)]
pub enum JwksReply {
    /// 200 with this body.
    Body(String),
    /// This status with the body `{}`.
    Status(u16),
    /// 200 with this body, after this delay.
    Slow(Duration, String),
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with this many spaces.
    Huge(usize),
}

/// A JWKS endpoint; see the module documentation.
#[derive(Debug)]
pub struct JwksMock {
    /// `http://127.0.0.1:PORT/.well-known/jwks.json`.
    pub uri: String,
    server: MockServer,
    responder: Arc<Responder>,
}

#[derive(Debug)]
struct Responder {
    reply: Mutex<JwksReply>,
    calls: AtomicUsize,
}

/// The responder wiremock holds; the test keeps the other handle.
struct Shared(Arc<Responder>);

impl Respond for Shared {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        let reply = self.0.reply.lock().unwrap().clone();
        let json = |status: u16, body: Vec<u8>| {
            ResponseTemplate::new(status).set_body_raw(body, "application/json")
        };
        match reply {
            JwksReply::Body(body) => json(200, body.into_bytes()),
            JwksReply::Status(status) => json(status, b"{}".to_vec()),
            JwksReply::Slow(delay, body) => json(200, body.into_bytes()).set_delay(delay),
            JwksReply::Garbage => json(200, b"<html>not json".to_vec()),
            JwksReply::Huge(n) => json(200, vec![b' '; n]),
        }
    }
}

impl JwksMock {
    /// Serves `reply` to `GET /.well-known/jwks.json` (anything else is a 404, not counted).
    pub async fn start(reply: JwksReply) -> Self {
        let server = MockServer::start().await;
        let responder = Arc::new(Responder {
            reply: Mutex::new(reply),
            calls: AtomicUsize::new(0),
        });
        Mock::given(method("GET"))
            .and(path(JWKS_PATH))
            .respond_with(Shared(responder.clone()))
            .mount(&server)
            .await;
        Self {
            uri: format!("{}{JWKS_PATH}", server.uri()),
            server,
            responder,
        }
    }

    /// `host:port` of the server.
    pub fn address(&self) -> String {
        self.server.address().to_string()
    }

    /// Key set requests answered so far (each reply counts once it is chosen, a slow one
    /// included).
    pub fn calls(&self) -> usize {
        self.responder.calls.load(Ordering::SeqCst)
    }

    /// Fails the test unless exactly `n` key set requests were answered.
    #[track_caller]
    pub fn assert_calls(&self, n: usize) {
        assert_eq!(self.calls(), n, "JWKS requests answered");
    }

    /// Answers `reply` from now on.
    pub fn set(&self, reply: JwksReply) {
        *self.responder.reply.lock().unwrap() = reply;
    }
}
