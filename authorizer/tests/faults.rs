//! Fault injection on the JWKS endpoint, beyond the single-fault tests of
//! tests/jwks.rs (slow, 500 with no keys, garbage, 200 KB body, rotation,
//! 100 unknown kids): every fault in turn against the same authorizer, with a
//! set of bad tokens that must never be allowed, the good token that must stay
//! allowed from the cached keys, and recovery without a restart; the endpoint
//! really down (connection refused) and back; a 10 MB body with and without
//! `content-length`; 10,000 concurrent requests with distinct unknown kids.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use authorizer::{AuthError, Authorizer};
use serde_json::json;
use support::*;
use test_support::Switch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Long enough that a good fetch on a loaded machine never times out, far below
/// the late reply's delay.
const TIMEOUT_MS: u64 = 1000;

/// An authorizer fetching from `uri`, with a movable clock; the verified-token
/// cache is off so that every request verifies from scratch and no cache hides a fault.
fn faulty_authorizer(
    uri: &str,
    penalty_seconds: &str,
) -> (Authorizer<impl authorizer::Clock + use<>>, Arc<AtomicU64>) {
    fetching_authorizer(
        uri,
        &[
            ("JWKS_TIMEOUT_MS", &TIMEOUT_MS.to_string()),
            ("JWKS_PENALTY_SECONDS", penalty_seconds),
            ("TOKEN_CACHE_SIZE", "0"),
        ],
    )
}

fn get(token: &str) -> authorizer::AuthorizerEvent {
    token_event(token, "GET", "/events")
}

fn good() -> String {
    TokenBuilder::access("weather-api/get").sign()
}

fn other_kid_token() -> String {
    TokenBuilder::access("weather-api/get")
        .header("kid", json!("other-key-1"))
        .signed_with(other_key())
        .sign()
}

/// Tokens that must never be allowed, whatever the JWKS endpoint does.
fn bad_tokens() -> Vec<(&'static str, String)> {
    let mut forged = good();
    forged.truncate(forged.len() - 8);
    forged.push_str("AAAAAAAA");
    vec![
        (
            "other key, known kid",
            TokenBuilder::access("weather-api/get")
                .signed_with(other_key())
                .sign(),
        ),
        ("forged signature", forged),
        (
            "unknown kid",
            TokenBuilder::access("weather-api/get")
                .header("kid", json!("attacker-kid"))
                .signed_with(other_key())
                .sign(),
        ),
        (
            "alg none",
            format!(
                "{}.",
                TokenBuilder::access("weather-api/get")
                    .header("alg", json!("none"))
                    .signing_input()
            ),
        ),
        (
            "expired",
            TokenBuilder::access("weather-api/get")
                .claim("exp", json!(NOW as i64 - 1))
                .sign(),
        ),
        (
            "no scope for the route",
            TokenBuilder::access("weather-api/post").sign(),
        ),
    ]
}

/// Sends the bad tokens and the good one (which must be allowed unless its
/// key was retired); returns the longest answer time.
async fn probe(
    a: &Authorizer<impl authorizer::Clock>,
    fault: &str,
    good_key_kept: bool,
) -> Duration {
    let mut slowest = Duration::ZERO;
    for (what, token) in bad_tokens() {
        let started = Instant::now();
        let outcome = a.handle(&get(&token)).await;
        slowest = slowest.max(started.elapsed());
        assert!(
            outcome.result.is_err() && outcome.decision != "allow",
            "{fault}: {what} was allowed"
        );
    }
    let started = Instant::now();
    let r = a.handle(&get(&good())).await.result;
    slowest = slowest.max(started.elapsed());
    if good_key_kept {
        assert!(
            r.is_ok(),
            "{fault}: the good token must stay allowed from the cached keys: {r:?}"
        );
    } else {
        assert!(r.is_err(), "{fault}: a retired key must not verify");
    }
    slowest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_in_turn_never_allows_a_bad_token_and_recovers_without_restart() {
    let server = JwksServer::start(Reply::Body(jwks_body("keys/test-jwks.json"))).await;
    let (a, clock) = faulty_authorizer(&server.uri, "5");
    a.fetch_keys().await;
    let faults = [
        ("500", Reply::Status(500)),
        ("503", Reply::Status(503)),
        ("404", Reply::Status(404)),
        ("garbage", Reply::Garbage),
        ("empty key set", Reply::Body(r#"{"keys": []}"#.into())),
        (
            "JSON of the wrong shape",
            Reply::Body(r#"{"keys": {"kid": "x"}}"#.into()),
        ),
        ("10 MB body", Reply::Huge(10 * 1024 * 1024)),
        (
            "slow past the timeout",
            Reply::Slow(Duration::from_secs(30), jwks_body("keys/test-jwks.json")),
        ),
        (
            "keys rotated to another key",
            Reply::Body(jwks_body("keys/other-jwks.json")),
        ),
    ];
    let mut survived = 0;
    for (fault, reply) in faults {
        server.set(reply);
        // A new penalty window: the unknown kid among the bad tokens triggers one refetch.
        advance(&clock, 6.0);
        let before = server.hits();
        let rotation = fault == "keys rotated to another key";
        let slowest = probe(&a, fault, !rotation).await;
        // Not a speed assertion: only that nothing waited for the 30 s reply.
        assert!(
            slowest < Duration::from_secs(10),
            "{fault}: an answer took {slowest:?}"
        );
        assert!(
            server.hits() - before <= 1,
            "{fault}: at most one fetch per penalty window, got {}",
            server.hits() - before
        );
        if rotation {
            // The old key is gone from the endpoint: the cached set was replaced.
            let r = a.handle(&get(&other_kid_token())).await.result;
            assert!(r.is_ok(), "rotated key must be accepted: {r:?}");
        }
        survived += 1;
    }
    assert_eq!(survived, 9);
    // Recovery: the endpoint is healthy again; a rotation is picked up without a restart.
    server.set(Reply::Body(
        json!({"keys": [
            serde_json::from_str::<serde_json::Value>(&jwks_body("keys/test-jwks.json")).unwrap()["keys"][0],
            serde_json::from_str::<serde_json::Value>(&jwks_body("keys/other-jwks.json")).unwrap()["keys"][0],
        ]})
        .to_string(),
    ));
    advance(&clock, 6.0);
    assert!(a.handle(&get(&other_kid_token())).await.result.is_ok());
    assert!(a.handle(&get(&good())).await.result.is_ok());
}

/// A [`Switch`] in front of `server`, and the JWKS URI through it.
async fn behind_switch(server: &JwksServer) -> (Switch, String) {
    let backend = server.uri.trim_start_matches("http://").split('/').next();
    let switch = Switch::start(backend.expect("an http:// URI")).await;
    let uri = format!("http://{}/.well-known/jwks.json", switch.addr());
    (switch, uri)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_down_then_back_with_rotated_keys() {
    let server = JwksServer::start(Reply::Body(jwks_body("keys/test-jwks.json"))).await;
    let (switch, switch_uri) = behind_switch(&server).await;
    let (a, clock) = faulty_authorizer(&switch_uri, "5");
    a.fetch_keys().await;
    server.assert_calls(1);

    switch.down().await;
    server.set(Reply::Body(jwks_body("keys/other-jwks.json")));
    for _ in 0..3 {
        advance(&clock, 6.0);
        probe(&a, "endpoint down", true).await;
        // The rotated key cannot be fetched: its token is refused, never allowed.
        let r = a.handle(&get(&other_kid_token())).await.result;
        assert!(
            matches!(
                r,
                Err(AuthError::UnknownKid | AuthError::KeysUnavailable(_))
            ),
            "{r:?}"
        );
    }
    assert_eq!(server.hits(), 1, "nothing reached the server while down");

    switch.up().await;
    advance(&clock, 6.0);
    let r = a.handle(&get(&other_kid_token())).await.result;
    assert!(r.is_ok(), "recovered without a restart: {r:?}");
    server.assert_calls(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_down_at_init_fails_closed_then_recovers() {
    let server = JwksServer::start(Reply::Body(jwks_body("keys/test-jwks.json"))).await;
    let (switch, switch_uri) = behind_switch(&server).await;
    switch.down().await;
    let (a, clock) = faulty_authorizer(&switch_uri, "5");
    a.fetch_keys().await;
    let r = a.handle(&get(&good())).await.result;
    let err = r.expect_err("no keys: nothing can be allowed");
    assert!(err.is_server_fault(), "a 500, not a 401: {err:?}");
    for (what, token) in bad_tokens() {
        assert!(
            a.handle(&get(&token)).await.result.is_err(),
            "{what} allowed"
        );
    }
    switch.up().await;
    advance(&clock, 6.0);
    assert!(a.handle(&get(&good())).await.result.is_ok());
}

/// Serves `size` bytes of a JWKS-looking body without `content-length`
/// (HTTP/1.0-style, closed at the end), so only the streaming cap can stop it.
async fn streaming_server(
    size: usize,
    sent: Arc<AtomicUsize>,
) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let sent = sent.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"keys\": [\"";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'a'; 64 * 1024];
                let mut left = size;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if socket.write_all(&chunk[..n]).await.is_err() {
                        return;
                    }
                    sent.fetch_add(n, Ordering::SeqCst);
                    left -= n;
                }
                let _ = socket.write_all(b"\"]}").await;
            });
        }
    });
    (uri, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_megabyte_body_without_content_length_is_cut_at_the_cap() {
    let sent = Arc::new(AtomicUsize::new(0));
    let (uri, task) = streaming_server(10 * 1024 * 1024, sent.clone()).await;
    let (a, _) = faulty_authorizer(&uri, "5");
    let r = a.handle(&get(&good())).await.result;
    let Err(AuthError::KeysUnavailable(e)) = r else {
        panic!("{r:?}")
    };
    assert!(e.to_string().contains("larger than"), "{e}");
    for (what, token) in bad_tokens() {
        assert!(
            a.handle(&get(&token)).await.result.is_err(),
            "{what} allowed"
        );
    }
    task.abort();
    // The reader stopped early: far less than 10 MB was accepted by the socket.
    tokio::time::sleep(Duration::from_millis(100)).await;
    eprintln!(
        "10 MB body without content-length: {} bytes taken by the socket (kernel buffers included) before the cut",
        sent.load(Ordering::SeqCst)
    );
    assert!(
        sent.load(Ordering::SeqCst) < 10 * 1024 * 1024,
        "the whole body was read: {}",
        sent.load(Ordering::SeqCst)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_distinct_unknown_kids_at_most_one_fetch_per_penalty_window() {
    let server = JwksServer::start(Reply::Body(jwks_body("keys/test-jwks.json"))).await;
    let (a, clock) = faulty_authorizer(&server.uri, "10");
    a.fetch_keys().await;
    let a = Arc::new(a);
    // Signing is slow: one signature reused under 10,000 headers (the kid is
    // looked up before the signature is checked, so each is a distinct unknown kid).
    let base = TokenBuilder::access("weather-api/get").signed_with(other_key());
    let sig = base.sign().rsplit('.').next().unwrap().to_owned();
    let windows = 4;
    let per_window = 2_500;
    let allowed = Arc::new(AtomicUsize::new(0));
    for w in 0..windows {
        let tasks: Vec<_> = (0..per_window)
            .map(|i| {
                let input = base
                    .clone()
                    .header("kid", json!(format!("unknown-{w}-{i}")))
                    .signing_input();
                let token = format!("{input}.{sig}");
                let (a, allowed) = (a.clone(), allowed.clone());
                tokio::spawn(async move {
                    let r = a.handle(&get(&token)).await.result;
                    if r.is_ok() {
                        allowed.fetch_add(1, Ordering::SeqCst);
                    }
                    matches!(r, Err(AuthError::UnknownKid))
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap(), "an unknown kid must be UnknownKid");
        }
        assert_eq!(
            server.hits(),
            1 + (w + 1),
            "window {w}: one init fetch plus at most one refetch per window"
        );
        advance(&clock, 10.5);
    }
    assert_eq!(allowed.load(Ordering::SeqCst), 0);
    // The good token still works after the flood.
    assert!(a.handle(&get(&good())).await.result.is_ok());
}
