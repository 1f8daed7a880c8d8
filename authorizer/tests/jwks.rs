//! The key cache against a real JWKS server on 127.0.0.1: shared fetches,
//! rotation, the penalty window, and failing endpoints (fail closed).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use authorizer::{AuthError, Authorizer, Config};
use serde_json::json;
use support::*;

fn get(token: &str) -> authorizer::AuthorizerEvent {
    token_event(token, "GET", "/events")
}

fn other_kid_token() -> String {
    TokenBuilder::access("weather-api/get")
        .header("kid", json!("other-key-1"))
        .signed_with(other_key())
        .sign()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_first_requests_share_one_fetch() {
    let server = JwksServer::start(Reply::Slow(
        Duration::from_millis(100),
        jwks_body("keys/test-jwks.json"),
    ))
    .await;
    let (a, _) = fetching_authorizer(&server.uri, &[("TOKEN_CACHE_SIZE", "0")]);
    let a = Arc::new(a);
    let token = TokenBuilder::access("weather-api/get").sign();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (a, t) = (a.clone(), token.clone());
            tokio::spawn(async move { a.handle(&get(&t)).await.result.is_ok() })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap());
    }
    server.assert_calls(1);
}

#[tokio::test]
async fn init_fetch_loads_keys() {
    let server = JwksServer::start(Reply::Body(jwks_body("keys/test-jwks.json"))).await;
    let (a, _) = fetching_authorizer(&server.uri, &[]);
    a.fetch_keys().await;
    server.assert_calls(1);
    assert!(
        a.handle(&get(&TokenBuilder::access("weather-api/get").sign()))
            .await
            .result
            .is_ok()
    );
    assert_eq!(server.hits(), 1, "known kid: no further fetch");
}

#[tokio::test]
async fn failed_init_fetch_retried_by_first_request() {
    let server = JwksServer::start(Reply::Status(500)).await;
    let (a, _) = fetching_authorizer(&server.uri, &[]);
    a.fetch_keys().await;
    server.set(Reply::Body(jwks_body("keys/test-jwks.json")));
    assert!(
        a.handle(&get(&TokenBuilder::access("weather-api/get").sign()))
            .await
            .result
            .is_ok()
    );
    server.assert_calls(2);
}

#[tokio::test]
async fn rotated_key_found_by_one_refetch() {
    let server = JwksServer::start(Reply::Body(jwks_body("keys/test-jwks.json"))).await;
    let (a, _) = fetching_authorizer(&server.uri, &[]);
    a.fetch_keys().await;
    server.set(Reply::Body(jwks_body("keys/other-jwks.json")));
    assert!(a.handle(&get(&other_kid_token())).await.result.is_ok());
    server.assert_calls(2);
}

#[tokio::test]
async fn unknown_kid_refetched_once_then_penalty_window() {
    let server = JwksServer::start(Reply::Body(jwks_body("keys/test-jwks.json"))).await;
    let (a, clock) = fetching_authorizer(&server.uri, &[("JWKS_PENALTY_SECONDS", "10")]);
    a.fetch_keys().await;
    for i in 0..100 {
        let t = TokenBuilder::access("weather-api/get")
            .header("kid", json!(format!("random-{i}")))
            .sign();
        let r = a.handle(&get(&t)).await.result;
        assert!(matches!(r, Err(AuthError::UnknownKid)), "{r:?}");
    }
    assert_eq!(
        server.hits(),
        2,
        "one init fetch, one refetch, then the penalty window"
    );
    advance(&clock, 10.5);
    let t = TokenBuilder::access("weather-api/get")
        .header("kid", json!("random-after"))
        .sign();
    assert!(matches!(
        a.handle(&get(&t)).await.result,
        Err(AuthError::UnknownKid)
    ));
    assert_eq!(server.hits(), 3, "window over: one more refetch");
}

#[tokio::test]
async fn no_keys_and_endpoint_down_fails_closed_as_server_fault() {
    let server = JwksServer::start(Reply::Status(500)).await;
    let (a, _) = fetching_authorizer(&server.uri, &[]);
    let r = a
        .handle(&get(&TokenBuilder::access("weather-api/get").sign()))
        .await
        .result;
    let err = r.expect_err("must not allow");
    assert!(matches!(err, AuthError::KeysUnavailable(_)), "{err:?}");
    assert!(err.is_server_fault());
    let diagnostic = authorizer::handler::to_diagnostic(err);
    assert_ne!(diagnostic.error_message, "Unauthorized");
}

#[tokio::test]
async fn slow_endpoint_times_out_within_bound() {
    let server = JwksServer::start(Reply::Slow(
        Duration::from_secs(30),
        jwks_body("keys/test-jwks.json"),
    ))
    .await;
    let (a, _) = fetching_authorizer(&server.uri, &[("JWKS_TIMEOUT_MS", "300")]);
    let started = Instant::now();
    let r = a
        .handle(&get(&TokenBuilder::access("weather-api/get").sign()))
        .await
        .result;
    assert!(matches!(r, Err(AuthError::KeysUnavailable(_))), "{r:?}");
    // Not a timing assertion on speed: only that the call did not wait for the 30 s reply.
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn garbage_body_never_replaces_good_keys() {
    let server = JwksServer::start(Reply::Body(jwks_body("keys/test-jwks.json"))).await;
    let (a, clock) = fetching_authorizer(&server.uri, &[("JWKS_PENALTY_SECONDS", "1")]);
    a.fetch_keys().await;
    server.set(Reply::Garbage);
    let r = a.handle(&get(&other_kid_token())).await.result;
    assert!(matches!(r, Err(AuthError::KeysUnavailable(_))), "{r:?}");
    advance(&clock, 2.0);
    server.set(Reply::Body(r#"{"keys": []}"#.into()));
    let r = a.handle(&get(&other_kid_token())).await.result;
    assert!(matches!(r, Err(AuthError::KeysUnavailable(_))), "{r:?}");
    // The good key set is still in place.
    assert!(
        a.handle(&get(&TokenBuilder::access("weather-api/get").sign()))
            .await
            .result
            .is_ok()
    );
}

#[tokio::test]
async fn oversize_body_rejected() {
    let server = JwksServer::start(Reply::Huge(200_000)).await;
    let (a, _) = fetching_authorizer(&server.uri, &[]);
    let r = a
        .handle(&get(&TokenBuilder::access("weather-api/get").sign()))
        .await
        .result;
    let Err(AuthError::KeysUnavailable(e)) = r else {
        panic!("{r:?}")
    };
    assert!(e.to_string().contains("larger than"), "{e}");
}

#[tokio::test]
async fn duplicate_kid_in_jwks_rejected() {
    let one: serde_json::Value = serde_json::from_str(&jwks_body("keys/test-jwks.json")).unwrap();
    let other: serde_json::Value =
        serde_json::from_str(&jwks_body("keys/other-jwks.json")).unwrap();
    let key = one["keys"][0].clone();
    let body = json!({"keys": [key.clone(), other["keys"][0].clone(), key]}).to_string();
    let server = JwksServer::start(Reply::Body(body)).await;
    let (a, _) = fetching_authorizer(&server.uri, &[]);
    a.fetch_keys().await;
    // Even identical copies are ambiguous: a JWKS may not repeat a kid.
    let r = a
        .handle(&get(&TokenBuilder::access("weather-api/get").sign()))
        .await
        .result;
    assert!(matches!(r, Err(AuthError::KeyNotUsable(_))), "{r:?}");
    assert!(
        a.handle(&get(&other_kid_token())).await.result.is_ok(),
        "the other key still works"
    );
}

#[tokio::test]
async fn use_enc_key_rejected() {
    let mut set: serde_json::Value =
        serde_json::from_str(&jwks_body("keys/test-jwks.json")).unwrap();
    let mut enc = set["keys"][0].clone();
    enc["use"] = json!("enc");
    enc["kid"] = json!("enc-key");
    set["keys"].as_array_mut().unwrap().push(enc);
    let server = JwksServer::start(Reply::Body(set.to_string())).await;
    let (a, _) = fetching_authorizer(&server.uri, &[]);
    a.fetch_keys().await;
    let t = TokenBuilder::access("weather-api/get")
        .header("kid", json!("enc-key"))
        .sign();
    let r = a.handle(&get(&t)).await.result;
    assert!(matches!(r, Err(AuthError::KeyNotUsable(_))), "{r:?}");
}

#[tokio::test]
async fn jwks_file_needs_no_network() {
    // JWKS_URI points at a closed port; the preloaded file is enough.
    let a = authorizer_at(NOW, &[]);
    assert!(
        a.handle(&get(&TokenBuilder::access("weather-api/get").sign()))
            .await
            .result
            .is_ok()
    );
}

#[test]
fn bad_jwks_file_stops_init_naming_the_setting() {
    let mut vars = [
        ("USER_POOL_ID", POOL.to_string()),
        ("ROUTE_SCOPES", ROUTES.to_string()),
        ("JWKS_FILE", fixture("keys/README.md").display().to_string()),
    ];
    let config =
        Config::from_lookup(|n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()))
            .unwrap();
    let err = Authorizer::new(config, || NOW)
        .err()
        .expect("init must fail");
    assert_eq!(err.var, "JWKS_FILE");
    vars[2].1 = "/nonexistent/jwks.json".into();
    let config =
        Config::from_lookup(|n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()))
            .unwrap();
    assert_eq!(
        Authorizer::new(config, || NOW)
            .err()
            .expect("init must fail")
            .var,
        "JWKS_FILE"
    );
}

#[tokio::test]
async fn malformed_entry_with_same_kid_makes_the_kid_unusable() {
    let one: serde_json::Value = serde_json::from_str(&jwks_body("keys/test-jwks.json")).unwrap();
    let good = one["keys"][0].clone();
    let broken = json!({"kid": KID, "kty": "RSA", "n": 123, "e": "AQAB"});
    let other: serde_json::Value =
        serde_json::from_str(&jwks_body("keys/other-jwks.json")).unwrap();
    let body = json!({"keys": [broken, good, other["keys"][0].clone()]}).to_string();
    let server = JwksServer::start(Reply::Body(body)).await;
    let (a, _) = fetching_authorizer(&server.uri, &[]);
    a.fetch_keys().await;
    let r = a
        .handle(&get(&TokenBuilder::access("weather-api/get").sign()))
        .await
        .result;
    assert!(matches!(r, Err(AuthError::KeyNotUsable(_))), "{r:?}");
}
