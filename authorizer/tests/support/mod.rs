//! Shared test support: the one test-token builder, TEST-ONLY keys, events,
//! and a real JWKS server on 127.0.0.1 that counts requests and injects faults
//! (test-support's `JwksMock`, on wiremock).
#![allow(unreachable_pub)] // one module shared by several test crates and the bench, each using a part
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use authorizer::{Authorizer, AuthorizerEvent, Config};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Map, Value, json};

pub const POOL: &str = "us-east-1_TestPool1";
pub const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1";
pub const CLIENT: &str = "testclient123";
pub const KID: &str = "test-key-1";
/// A fixed "now" with a fractional part: 2023-11-14T22:13:20.5Z.
pub const NOW: f64 = 1_700_000_000.5;
pub const ROUTES: &str = r#"{"GET /events": ["weather-api/get"], "GET /events/{id}": ["weather-api/get"], "POST /events": ["weather-api/post"], "DELETE /events/{id}": ["weather-api/delete"], "GET /me": [], "ANY /files/{proxy+}": ["files/all"]}"#;
pub const METHOD_ARN_BASE: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod";

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

pub fn test_key() -> EncodingKey {
    key_from("keys/test-key.pem")
}

pub fn other_key() -> EncodingKey {
    key_from("keys/other-key.pem")
}

fn key_from(path: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(&std::fs::read(fixture(path)).unwrap()).unwrap()
}

/// Builds and signs test tokens; every claim and header field can be overridden.
#[derive(Clone)]
pub struct TokenBuilder {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    key: Option<Arc<EncodingKey>>,
}

impl TokenBuilder {
    /// A Cognito client-credentials access token, as Cognito issues it.
    pub fn access(scope: &str) -> Self {
        let claims = json!({
            "sub": CLIENT, "token_use": "access", "scope": scope, "auth_time": NOW as i64,
            "iss": ISSUER, "exp": NOW as i64 + 3600, "iat": NOW as i64, "version": 2,
            "jti": "1f0e8a52-6c52-4b06-9d3c-5c9c2a1d0000", "client_id": CLIENT,
        });
        Self {
            header: json!({"kid": KID, "alg": "RS256"})
                .as_object()
                .unwrap()
                .clone(),
            claims: claims.as_object().unwrap().clone(),
            key: Some(Arc::new(test_key())),
        }
    }

    /// A Cognito ID token.
    pub fn id() -> Self {
        let mut b = Self::access("");
        b.claims = json!({
            "sub": "7d8ca528-4931-4254-9273-ea5ee853f271", "aud": CLIENT, "token_use": "id",
            "auth_time": NOW as i64, "iss": ISSUER, "exp": NOW as i64 + 3600, "iat": NOW as i64,
            "cognito:username": "alice", "cognito:groups": ["admins", "readers"], "email": "alice@example.com",
        })
        .as_object()
        .unwrap()
        .clone();
        b
    }

    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.into(), value);
        self
    }

    pub fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    pub fn header(mut self, name: &str, value: Value) -> Self {
        self.header.insert(name.into(), value);
        self
    }

    pub fn without_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    pub fn signed_with(mut self, key: EncodingKey) -> Self {
        self.key = Some(Arc::new(key));
        self
    }

    /// `header.payload` base64url-encoded.
    pub fn signing_input(&self) -> String {
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&self.header).unwrap()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&self.claims).unwrap())
        )
    }

    /// The compact JWS, signed RS256 whatever the header says.
    pub fn sign(&self) -> String {
        let input = self.signing_input();
        let key = self.key.as_ref().expect("a key");
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, Algorithm::RS256).unwrap();
        format!("{input}.{sig}")
    }
}

/// Configuration with the test pool, the test JWKS preloaded, and `extra` on top.
pub fn config(extra: &[(&str, &str)]) -> Config {
    let jwks_file = fixture("keys/test-jwks.json").display().to_string();
    let mut vars: HashMap<String, String> = HashMap::from([
        ("USER_POOL_ID".into(), POOL.into()),
        ("ROUTE_SCOPES".into(), ROUTES.into()),
        ("JWKS_FILE".into(), jwks_file),
        // Nothing listens there: a refetch fails fast unless a test sets JWKS_URI.
        ("JWKS_URI".into(), "http://127.0.0.1:9/jwks.json".into()),
    ]);
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    Config::from_lookup(|name| vars.get(name).cloned()).unwrap()
}

/// An authorizer at a fixed clock.
pub fn authorizer_at(
    now: f64,
    extra: &[(&str, &str)],
) -> Authorizer<impl authorizer::Clock + use<>> {
    Authorizer::new(config(extra), move || now).unwrap()
}

/// An authorizer fetching its keys from `uri` (no JWKS_FILE; a 5 s timeout, so a
/// loaded CI machine never turns a good fetch into a fault: the tests of the timeout
/// set a short one),
/// `extra` settings on top, with a clock the test moves ([`advance`]).
pub fn fetching_authorizer(
    uri: &str,
    extra: &[(&str, &str)],
) -> (Authorizer<impl authorizer::Clock + use<>>, Arc<AtomicU64>) {
    let clock = Arc::new(AtomicU64::new(NOW.to_bits()));
    let c = clock.clone();
    let mut vars: HashMap<String, String> = HashMap::from([
        ("USER_POOL_ID".into(), POOL.into()),
        ("ROUTE_SCOPES".into(), ROUTES.into()),
        ("JWKS_URI".into(), uri.into()),
        ("JWKS_TIMEOUT_MS".into(), "5000".into()),
    ]);
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    let config = Config::from_lookup(|name| vars.get(name).cloned()).unwrap();
    let a = Authorizer::new(config, move || f64::from_bits(c.load(Ordering::SeqCst))).unwrap();
    (a, clock)
}

/// Moves a [`fetching_authorizer`]'s clock forward.
pub fn advance(clock: &AtomicU64, seconds: f64) {
    let now = f64::from_bits(clock.load(Ordering::SeqCst));
    clock.store((now + seconds).to_bits(), Ordering::SeqCst);
}

/// A REST TOKEN event.
pub fn token_event(authorization: &str, method: &str, path: &str) -> AuthorizerEvent {
    serde_json::from_value(json!({
        "type": "TOKEN",
        "authorizationToken": authorization,
        "methodArn": format!("{METHOD_ARN_BASE}/{method}{path}"),
    }))
    .unwrap()
}

/// A REST REQUEST event with the token in an `Authorization` header spelled `header_name`.
pub fn request_event(
    header_name: &str,
    authorization: &str,
    method: &str,
    resource: &str,
    path: &str,
) -> AuthorizerEvent {
    serde_json::from_value(json!({
        "type": "REQUEST",
        "methodArn": format!("{METHOD_ARN_BASE}/{method}{path}"),
        "resource": resource, "path": path, "httpMethod": method,
        "headers": {header_name: authorization, "Accept": "application/json"},
        "multiValueHeaders": {header_name: [authorization]},
        "queryStringParameters": {}, "pathParameters": {}, "stageVariables": {},
        "requestContext": {"path": path, "accountId": "123456789012", "resourceId": "abc", "stage": "prod",
            "requestId": "r1", "resourcePath": resource, "httpMethod": method, "apiId": "abcdef1234"}
    }))
    .unwrap()
}

/// An HTTP API payload 2.0 event.
pub fn v2_event(authorization: Option<&str>, route_key: &str, path: &str) -> AuthorizerEvent {
    let method = route_key.split(' ').next().unwrap_or("GET");
    let mut headers = json!({"accept": "application/json"});
    if let Some(a) = authorization {
        headers["authorization"] = json!(a);
    }
    serde_json::from_value(json!({
        "version": "2.0", "type": "REQUEST",
        "routeArn": format!("arn:aws:execute-api:us-east-1:123456789012:abcdef1234/$default/{method}{path}"),
        "identitySource": authorization.map(|a| vec![a]).unwrap_or_default(),
        "routeKey": route_key, "rawPath": path, "rawQueryString": "", "headers": headers,
        "requestContext": {"accountId": "123456789012", "apiId": "abcdef1234", "domainName": "x", "domainPrefix": "x",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4", "userAgent": "t"},
            "requestId": "r1", "routeKey": route_key, "stage": "$default", "time": "12/Mar/2020:19:03:58 +0000", "timeEpoch": 1583348638390u64}
    }))
    .unwrap()
}

/// What a JWKS server answers.
pub use test_support::jwks::JwksReply as Reply;

/// A real HTTP server on 127.0.0.1 serving a JWKS (test-support's wiremock-based mock);
/// counts requests; the reply can change.
pub struct JwksServer {
    pub uri: String,
    mock: test_support::jwks::JwksMock,
}

impl JwksServer {
    pub async fn start(reply: Reply) -> Self {
        let mock = test_support::jwks::JwksMock::start(reply).await;
        Self {
            uri: mock.uri.clone(),
            mock,
        }
    }

    pub fn hits(&self) -> usize {
        self.mock.calls()
    }

    /// Fails the test unless exactly `n` key set requests were answered.
    #[track_caller]
    pub fn assert_calls(&self, n: usize) {
        self.mock.assert_calls(n);
    }

    pub fn set(&self, reply: Reply) {
        self.mock.set(reply);
    }
}

pub fn jwks_body(file: &str) -> String {
    std::fs::read_to_string(fixture(file)).unwrap()
}
pub mod generate;

/// Resident set size of this process, in KiB (Linux `/proc/self/status`).
pub fn vm_rss_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
