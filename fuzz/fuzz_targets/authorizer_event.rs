//! Authorizer event decoding and the whole decision: raw invocation bytes ->
//! `AuthorizerEvent` (TOKEN, REQUEST, HTTP API 2.0) -> `Authorizer::handle`
//! with the TEST-ONLY JWKS preloaded, a fixed clock and the JWKS endpoint on a
//! closed port. Must never panic; an Allow needs a verified token.
#![no_main]

use std::collections::HashMap;
use std::sync::LazyLock;

use authorizer::{Authorizer, AuthorizerEvent, AuthorizerResponse, Config, Verdict};
use libfuzzer_sys::fuzz_target;

const NOW: f64 = 1_700_000_000.5;
const ROUTES: &str = r#"{"GET /events": ["weather-api/get"], "GET /events/{id}": ["weather-api/get"], "POST /events": ["weather-api/post"], "DELETE /events/{id}": ["weather-api/delete"], "GET /me": [], "ANY /files/{proxy+}": ["files/all"]}"#;

fn now() -> f64 {
    NOW
}

static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
});

static AUTHORIZER: LazyLock<Authorizer<fn() -> f64>> = LazyLock::new(|| {
    let jwks = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../authorizer/fixtures/keys/test-jwks.json"
    );
    let vars: HashMap<&str, &str> = HashMap::from([
        ("USER_POOL_ID", "us-east-1_TestPool1"),
        ("ROUTE_SCOPES", ROUTES),
        ("JWKS_FILE", jwks),
        // Nothing listens there: one failed refetch, then the penalty window (the clock is fixed).
        ("JWKS_URI", "http://127.0.0.1:9/jwks.json"),
        ("JWKS_TIMEOUT_MS", "200"),
        ("JWKS_PENALTY_SECONDS", "3600"),
        // No verified-token cache: every input is decided from scratch (reproducible crashes).
        ("TOKEN_CACHE_SIZE", "0"),
        ("APP_CLIENT_IDS", "testclient123"),
    ]);
    let config =
        Config::from_lookup(|name| vars.get(name).map(|v| (*v).to_owned())).expect("config");
    Authorizer::new(config, now as fn() -> f64).expect("authorizer")
});

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<AuthorizerEvent>(data) else {
        return;
    };
    let outcome = RT.block_on(AUTHORIZER.handle(&event));
    if outcome.decision == Verdict::Allow {
        assert!(outcome.verified.is_some(), "allow without a verified token");
        match &outcome.result {
            Ok(AuthorizerResponse::Simple(r)) => assert!(r.is_authorized),
            Ok(AuthorizerResponse::Policy(p)) => assert!(!p.principal_id.is_empty()),
            Err(e) => panic!("allow with an error: {e}"),
        }
    }
    // The answer must serialize (the runtime writes it back to API Gateway).
    if let Ok(answer) = &outcome.result {
        serde_json::to_vec(answer).expect("answer serializes");
    }
});
