//! Token parsing and verification: `Authorization` value -> extract -> parse
//! (segments, base64url, JSON, claim types) -> RS256 verification with the
//! TEST-ONLY key -> claim checks. Must never panic; a token only verifies if
//! the TEST-ONLY key signed it (the seeds carry such tokens).
#![no_main]

use std::sync::{Arc, LazyLock};

use authorizer::{Rules, UnverifiedToken, extract_token};
use jsonwebtoken::DecodingKey;
use libfuzzer_sys::fuzz_target;

const NOW: f64 = 1_700_000_000.5;
const ISSUERS: &[&str] = &["https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1"];

static KEY: LazyLock<Arc<DecodingKey>> = LazyLock::new(|| {
    authorizer::KeySet::from_json(include_bytes!(
        "../../authorizer/fixtures/keys/test-jwks.json"
    ))
    .expect("TEST-ONLY JWKS")
    .get("test-key-1")
    .expect("kid")
    .expect("usable")
});
static CLIENTS: LazyLock<Vec<String>> = LazyLock::new(|| vec!["testclient123".to_owned()]);

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(token) = extract_token(Some(value)) else {
        return;
    };
    let Ok(unverified) = UnverifiedToken::parse(token) else {
        return;
    };
    let _ = (unverified.kid(), unverified.issuer());
    let rules = Rules {
        issuers: ISSUERS,
        client_ids: Some(&CLIENTS),
        skew: 0.0,
    };
    if let Ok(claims) = unverified.verify(&KEY, &rules, NOW) {
        // Whatever verified must satisfy the rules it was checked against.
        assert!(NOW < claims.exp, "verified an expired token");
        assert_eq!(claims.client, "testclient123");
    }
});
