//! Every verification and decision rule, driven through `Authorizer::handle`
//! with TEST-ONLY keys and a clock fixed at `NOW`.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use authorizer::{AuthError, Authorizer, AuthorizerEvent, AuthorizerResponse, evaluate};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use support::*;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn decide_with(
    extra: &[(&str, &str)],
    event: &AuthorizerEvent,
) -> Result<AuthorizerResponse, AuthError> {
    let a = authorizer_at(NOW, extra);
    rt().block_on(a.handle(event)).result
}

fn decide(event: &AuthorizerEvent) -> Result<AuthorizerResponse, AuthError> {
    decide_with(&[], event)
}

fn get_events(token: &str) -> Result<AuthorizerResponse, AuthError> {
    decide(&token_event(token, "GET", "/events"))
}

macro_rules! assert_rejected {
    ($result:expr, $pattern:pat) => {
        match $result {
            Err($pattern) => {}
            other => panic!("expected {}, got {:?}", stringify!($pattern), other),
        }
    };
}

fn assert_allowed(result: Result<AuthorizerResponse, AuthError>) -> Value {
    match result {
        Ok(r @ AuthorizerResponse::Policy(_)) => {
            let json = serde_json::to_value(&r).unwrap();
            assert_eq!(
                json["policyDocument"]["Statement"][0]["Effect"], "Allow",
                "{json}"
            );
            json
        }
        other => panic!("expected an Allow policy, got {other:?}"),
    }
}

fn get_token() -> String {
    TokenBuilder::access("weather-api/get weather-api/post").sign()
}

fn with_header(header: Value, rest_of: &str) -> String {
    let (_, payload_and_sig) = rest_of.split_once('.').unwrap();
    format!(
        "{}.{payload_and_sig}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap())
    )
}

// ---- token shape ----

#[test]
fn valid_access_token_allowed() {
    assert_allowed(get_events(&get_token()));
}

#[test]
fn empty_token_rejected() {
    assert_rejected!(get_events(""), AuthError::MissingToken);
    assert_rejected!(get_events("Bearer "), AuthError::MissingToken);
}

#[test]
fn missing_authorization_header_rejected() {
    let e = v2_event(None, "GET /events", "/events");
    assert_eq!(
        serde_json::to_value(decide(&e).unwrap()).unwrap()["isAuthorized"],
        false
    );
    let e = request_event("X-Other", "x", "GET", "/events", "/events");
    assert_rejected!(decide(&e), AuthError::MissingToken);
}

#[test]
fn oversize_token_rejected_before_decoding() {
    let huge = format!("{}.{}.{}", "a".repeat(9000), "b".repeat(9000), "c");
    assert_rejected!(get_events(&huge), AuthError::TokenTooLarge { .. });
}

#[test]
fn two_segments_rejected() {
    let t = get_token();
    let two: Vec<&str> = t.split('.').take(2).collect();
    assert_rejected!(get_events(&two.join(".")), AuthError::Malformed(_));
}

#[test]
fn four_segments_rejected() {
    assert_rejected!(
        get_events(&format!("{}.x", get_token())),
        AuthError::Malformed(_)
    );
}

#[test]
fn bad_base64_rejected() {
    let t = get_token();
    let (h, rest) = t.split_once('.').unwrap();
    assert_rejected!(get_events(&format!("{h}!.{rest}")), AuthError::Malformed(_));
    assert_rejected!(
        get_events(&format!("{h}==.{rest}")),
        AuthError::Malformed(_)
    );
    let (input, _) = t.rsplit_once('.').unwrap();
    assert_rejected!(get_events(&format!("{input}.%%%")), AuthError::Malformed(_));
}

#[test]
fn header_not_object_rejected() {
    assert_rejected!(
        get_events(&with_header(json!(["RS256"]), &get_token())),
        AuthError::Malformed(_)
    );
}

#[test]
fn payload_not_object_rejected() {
    let t = get_token();
    let parts: Vec<&str> = t.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(b"\"just a string\""),
        parts[2]
    );
    assert_rejected!(get_events(&forged), AuthError::Malformed(_));
}

#[test]
fn bearer_prefix_any_case_accepted() {
    for prefix in ["Bearer ", "bearer ", "BEARER ", "bEaReR  "] {
        assert_allowed(get_events(&format!("{prefix}{}", get_token())));
    }
}

#[test]
fn other_scheme_rejected() {
    assert_rejected!(
        get_events(&format!("Basic {}", get_token())),
        AuthError::Malformed(_)
    );
}

// ---- algorithm and key ----

#[test]
fn alg_none_rejected() {
    let b = TokenBuilder::access("weather-api/get").header("alg", json!("none"));
    let unsigned = format!("{}.", b.signing_input());
    assert_rejected!(get_events(&unsigned), AuthError::Malformed(_));
    assert_rejected!(
        get_events(&format!("{unsigned}AAAA")),
        AuthError::AlgorithmNotAllowed
    );
}

#[test]
fn hs256_signed_with_rsa_public_key_bytes_rejected() {
    // The classic key-confusion attack: HMAC keyed with the public key.
    let public = std::fs::read(fixture("keys/test-jwks.json")).unwrap();
    let b = TokenBuilder::access("weather-api/get")
        .header("alg", json!("HS256"))
        .signed_with(jsonwebtoken::EncodingKey::from_secret(&public));
    let input = b.signing_input();
    let key = jsonwebtoken::EncodingKey::from_secret(&public);
    let sig =
        jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).unwrap();
    assert_rejected!(
        get_events(&format!("{input}.{sig}")),
        AuthError::AlgorithmNotAllowed
    );
}

#[test]
fn es256_label_on_rs256_signature_rejected() {
    let t = TokenBuilder::access("weather-api/get")
        .header("alg", json!("ES256"))
        .sign();
    assert_rejected!(get_events(&t), AuthError::AlgorithmNotAllowed);
}

#[test]
fn ps256_and_rs512_labels_rejected() {
    for alg in ["PS256", "RS512", "rs256"] {
        let t = TokenBuilder::access("weather-api/get")
            .header("alg", json!(alg))
            .sign();
        assert_rejected!(get_events(&t), AuthError::AlgorithmNotAllowed);
    }
}

#[test]
fn alg_missing_rejected() {
    let t = TokenBuilder::access("weather-api/get")
        .header("alg", json!(null))
        .sign();
    assert_rejected!(get_events(&t), AuthError::Malformed(_));
}

#[test]
fn crit_header_rejected() {
    let t = TokenBuilder::access("weather-api/get")
        .header("crit", json!(["exp"]))
        .sign();
    assert_rejected!(get_events(&t), AuthError::Malformed(_));
}

#[test]
fn jku_header_not_followed() {
    // The key named by jku is never fetched: the token is verified with the pool's key.
    let t = TokenBuilder::access("weather-api/get")
        .header("jku", json!("http://127.0.0.1:9/evil.json"))
        .signed_with(other_key())
        .sign();
    assert_rejected!(get_events(&t), AuthError::InvalidSignature);
}

#[test]
fn missing_kid_rejected() {
    let t = TokenBuilder::access("weather-api/get")
        .without_header("kid")
        .sign();
    assert_rejected!(get_events(&t), AuthError::MissingKid);
}

#[test]
fn kid_not_a_string_rejected() {
    let t = TokenBuilder::access("weather-api/get")
        .header("kid", json!(1))
        .sign();
    assert_rejected!(get_events(&t), AuthError::Malformed(_));
}

#[test]
fn tampered_payload_rejected() {
    let t = TokenBuilder::access("weather-api/get").sign();
    let forged_payload = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(
            &json!({"sub": CLIENT, "token_use": "access", "scope": "weather-api/delete",
            "iss": ISSUER, "exp": NOW as i64 + 3600, "client_id": CLIENT}),
        )
        .unwrap(),
    );
    let parts: Vec<&str> = t.split('.').collect();
    assert_rejected!(
        decide(&token_event(
            &format!("{}.{forged_payload}.{}", parts[0], parts[2]),
            "DELETE",
            "/events/1"
        )),
        AuthError::InvalidSignature
    );
}

#[test]
fn signed_with_another_key_rejected() {
    let t = TokenBuilder::access("weather-api/get")
        .signed_with(other_key())
        .sign();
    assert_rejected!(get_events(&t), AuthError::InvalidSignature);
}

#[test]
fn truncated_signature_rejected() {
    let t = get_token();
    // 342 base64url characters carry 256 bytes; 336 carry 252, a valid encoding of a short signature.
    assert_rejected!(get_events(&t[..t.len() - 6]), AuthError::InvalidSignature);
    assert_rejected!(get_events(&t[..t.len() - 4]), AuthError::Malformed(_));
}

// ---- time ----

#[test]
fn exp_equal_now_rejected() {
    let now = 1_700_000_000.0;
    let a = authorizer_at(now, &[]);
    let t = TokenBuilder::access("weather-api/get")
        .claim("exp", json!(now as i64))
        .sign();
    assert_rejected!(
        rt().block_on(a.handle(&token_event(&t, "GET", "/events")))
            .result,
        AuthError::Expired
    );
}

#[test]
fn exp_half_a_second_ahead_allowed() {
    // NOW is x.5: exp = x + 1 is half a second away; sub-second precision matters.
    let t = TokenBuilder::access("weather-api/get")
        .claim("exp", json!(NOW.ceil() as i64))
        .sign();
    assert_allowed(get_events(&t));
}

#[test]
fn exp_half_a_second_past_rejected() {
    let t = TokenBuilder::access("weather-api/get")
        .claim("exp", json!(NOW.floor() as i64))
        .sign();
    assert_rejected!(get_events(&t), AuthError::Expired);
}

#[test]
fn exp_within_skew_allowed() {
    let t = TokenBuilder::access("weather-api/get")
        .claim("exp", json!(NOW as i64 - 5))
        .sign();
    assert_allowed(decide_with(
        &[("CLOCK_SKEW_SECONDS", "10")],
        &token_event(&t, "GET", "/events"),
    ));
}

#[test]
fn exp_plus_skew_boundary_rejected() {
    let now = 1_700_000_010.0;
    let a = authorizer_at(now, &[("CLOCK_SKEW_SECONDS", "10")]);
    let t = TokenBuilder::access("weather-api/get")
        .claim("exp", json!(1_700_000_000))
        .sign();
    assert_rejected!(
        rt().block_on(a.handle(&token_event(&t, "GET", "/events")))
            .result,
        AuthError::Expired
    );
}

#[test]
fn exp_missing_rejected() {
    let t = TokenBuilder::access("weather-api/get")
        .without("exp")
        .sign();
    assert_rejected!(get_events(&t), AuthError::Malformed(_));
}

#[test]
fn exp_as_string_rejected() {
    let t = TokenBuilder::access("weather-api/get")
        .claim("exp", json!("4102444800"))
        .sign();
    assert_rejected!(get_events(&t), AuthError::Malformed(_));
}

#[test]
fn nbf_in_future_rejected() {
    let t = TokenBuilder::access("weather-api/get")
        .claim("nbf", json!(NOW as i64 + 60))
        .sign();
    assert_rejected!(get_events(&t), AuthError::NotYetValid);
}

#[test]
fn nbf_within_skew_allowed() {
    let t = TokenBuilder::access("weather-api/get")
        .claim("nbf", json!(NOW as i64 + 5))
        .sign();
    assert_allowed(decide_with(
        &[("CLOCK_SKEW_SECONDS", "10")],
        &token_event(&t, "GET", "/events"),
    ));
}

#[test]
fn iat_as_string_rejected() {
    let t = TokenBuilder::access("weather-api/get")
        .claim("iat", json!("yesterday"))
        .sign();
    assert_rejected!(get_events(&t), AuthError::Malformed(_));
}

// ---- issuer ----

#[test]
fn wrong_iss_rejected() {
    let t = TokenBuilder::access("weather-api/get")
        .claim(
            "iss",
            json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"),
        )
        .sign();
    assert_rejected!(get_events(&t), AuthError::IssuerNotAllowed);
}

#[test]
fn iss_with_trailing_slash_rejected() {
    let t = TokenBuilder::access("weather-api/get")
        .claim("iss", json!(format!("{ISSUER}/")))
        .sign();
    assert_rejected!(get_events(&t), AuthError::IssuerNotAllowed);
}

#[test]
fn iss_missing_rejected() {
    let t = TokenBuilder::access("weather-api/get")
        .without("iss")
        .sign();
    assert_rejected!(get_events(&t), AuthError::IssuerNotAllowed);
}

#[test]
fn issuer_cognito_idp_host_variant_allowed() {
    let t = TokenBuilder::access("weather-api/get")
        .claim(
            "iss",
            json!("https://issuer-cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1"),
        )
        .sign();
    assert_allowed(get_events(&t));
}

// ---- token_use and client ----

#[test]
fn token_use_id_on_scoped_route_rejected() {
    assert_rejected!(
        get_events(&TokenBuilder::id().sign()),
        AuthError::TokenUseNotAccepted
    );
}

#[test]
fn token_use_refresh_rejected() {
    let t = TokenBuilder::access("weather-api/get")
        .claim("token_use", json!("refresh"))
        .sign();
    assert_rejected!(get_events(&t), AuthError::TokenUseNotAccepted);
}

#[test]
fn token_use_missing_rejected() {
    let t = TokenBuilder::access("weather-api/get")
        .without("token_use")
        .sign();
    assert_rejected!(get_events(&t), AuthError::TokenUseNotAccepted);
}

#[test]
fn access_token_on_unscoped_route_rejected() {
    assert_rejected!(
        decide(&token_event(&get_token(), "GET", "/me")),
        AuthError::TokenUseNotAccepted
    );
}

#[test]
fn id_token_on_unscoped_route_allowed_with_user_context() {
    let json = assert_allowed(decide(&token_event(
        &TokenBuilder::id().sign(),
        "GET",
        "/me",
    )));
    assert_eq!(json["context"]["username"], "alice");
    assert_eq!(json["context"]["groups"], "admins,readers");
    assert_eq!(json["context"]["aud"], CLIENT);
    assert_eq!(json["context"]["token_use"], "id");
}

#[test]
fn aud_array_on_id_token_rejected() {
    let t = TokenBuilder::id().claim("aud", json!([CLIENT])).sign();
    assert_rejected!(
        decide(&token_event(&t, "GET", "/me")),
        AuthError::Malformed(_)
    );
}

#[test]
fn id_token_aud_not_allowed_rejected() {
    let t = TokenBuilder::id()
        .claim("aud", json!("someone-else"))
        .sign();
    let e = token_event(&t, "GET", "/me");
    assert_rejected!(
        decide_with(&[("APP_CLIENT_IDS", CLIENT)], &e),
        AuthError::ClientNotAllowed
    );
}

#[test]
fn client_id_not_allowed_rejected() {
    let e = token_event(&get_token(), "GET", "/events");
    assert_rejected!(
        decide_with(&[("APP_CLIENT_IDS", "another-client")], &e),
        AuthError::ClientNotAllowed
    );
}

#[test]
fn client_id_in_allow_list_allowed() {
    let e = token_event(&get_token(), "GET", "/events");
    assert_allowed(decide_with(
        &[("APP_CLIENT_IDS", &format!("another-client,{CLIENT}"))],
        &e,
    ));
}

#[test]
fn app_client_ids_unset_accepts_any_client_of_the_pool() {
    let t = TokenBuilder::access("weather-api/get")
        .claim("client_id", json!("any-client"))
        .sign();
    assert_allowed(get_events(&t));
}

#[test]
fn client_id_missing_rejected() {
    let t = TokenBuilder::access("weather-api/get")
        .without("client_id")
        .sign();
    assert_rejected!(get_events(&t), AuthError::ClientNotAllowed);
}

#[test]
fn claim_null_rejected() {
    let t = TokenBuilder::access("weather-api/get")
        .claim("sub", json!(null))
        .sign();
    assert_rejected!(get_events(&t), AuthError::Malformed(_));
}

// ---- scopes ----

#[test]
fn scope_claim_missing_rejected() {
    let t = TokenBuilder::access("").without("scope").sign();
    assert_rejected!(get_events(&t), AuthError::InsufficientScope);
}

#[test]
fn scope_claim_empty_rejected() {
    assert_rejected!(
        get_events(&TokenBuilder::access("").sign()),
        AuthError::InsufficientScope
    );
}

#[test]
fn scope_claim_non_string_rejected() {
    let t = TokenBuilder::access("")
        .claim("scope", json!(["weather-api/get"]))
        .sign();
    assert_rejected!(get_events(&t), AuthError::Malformed(_));
}

#[test]
fn scope_claim_tab_separated_no_match() {
    let t = TokenBuilder::access("weather-api/post\tweather-api/get").sign();
    assert_rejected!(get_events(&t), AuthError::InsufficientScope);
}

#[test]
fn scope_claim_different_case_no_match() {
    assert_rejected!(
        get_events(&TokenBuilder::access("Weather-Api/Get").sign()),
        AuthError::InsufficientScope
    );
}

#[test]
fn scope_claim_prefix_of_required_no_match() {
    assert_rejected!(
        get_events(&TokenBuilder::access("weather-api/ge weather-api").sign()),
        AuthError::InsufficientScope
    );
}

#[test]
fn post_only_token_gets_post_not_get() {
    let t = TokenBuilder::access("weather-api/post").sign();
    assert_rejected!(get_events(&t), AuthError::InsufficientScope);
    assert_allowed(decide(&token_event(&t, "POST", "/events")));
}

#[test]
fn insufficient_scope_deny_mode_returns_explicit_deny() {
    let t = TokenBuilder::access("weather-api/post").sign();
    let arn = format!("{METHOD_ARN_BASE}/GET/events");
    let r = decide_with(
        &[("INSUFFICIENT_SCOPE", "deny")],
        &token_event(&t, "GET", "/events"),
    )
    .unwrap();
    let AuthorizerResponse::Policy(p) = r else {
        panic!("policy expected")
    };
    assert!(!evaluate(&p.policy_document, &arn));
    assert!(evaluate(
        &p.policy_document,
        &format!("{METHOD_ARN_BASE}/POST/events")
    ));
}

// ---- routes and ARNs ----

#[test]
fn route_not_configured_rejected() {
    assert_rejected!(
        decide(&token_event(&get_token(), "GET", "/admin")),
        AuthError::RouteNotConfigured
    );
    assert_rejected!(
        decide(&token_event(&get_token(), "PUT", "/events")),
        AuthError::RouteNotConfigured
    );
}

#[test]
fn id_param_route_matched() {
    assert_allowed(decide(&token_event(&get_token(), "GET", "/events/42")));
    assert_rejected!(
        decide(&token_event(&get_token(), "DELETE", "/events/42")),
        AuthError::InsufficientScope
    );
}

#[test]
fn proxy_route_matched() {
    let t = TokenBuilder::access("files/all").sign();
    let json = assert_allowed(decide(&token_event(&t, "PATCH", "/files/a/b/c")));
    // ANY is listed method by method: a `*` method would also match routes the table does not list.
    let methods = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];
    let expected: Vec<String> = methods
        .iter()
        .map(|m| format!("{METHOD_ARN_BASE}/{m}/files/*"))
        .collect();
    assert_eq!(
        json["policyDocument"]["Statement"][0]["Resource"],
        json!(expected)
    );
}

#[test]
fn aws_cn_partition_kept_in_policy() {
    let e: AuthorizerEvent =
        serde_json::from_value(json!({"type": "TOKEN", "authorizationToken": get_token(),
        "methodArn": "arn:aws-cn:execute-api:cn-north-1:123456789012:abc/test/GET/events"}))
        .unwrap();
    let json = assert_allowed(decide(&e));
    for r in json["policyDocument"]["Statement"][0]["Resource"]
        .as_array()
        .unwrap()
    {
        assert!(
            r.as_str()
                .unwrap()
                .starts_with("arn:aws-cn:execute-api:cn-north-1:123456789012:abc/test/"),
            "{r}"
        );
    }
}

#[test]
fn malformed_method_arn_is_a_server_fault() {
    let e: AuthorizerEvent = serde_json::from_value(
        json!({"type": "TOKEN", "authorizationToken": get_token(), "methodArn": "nope"}),
    )
    .unwrap();
    let err = decide(&e).unwrap_err();
    assert!(err.is_server_fault(), "{err:?}");
}

// ---- answers ----

#[test]
fn allowed_answer_has_principal_every_permitted_route_and_no_null() {
    let json = assert_allowed(get_events(&get_token()));
    assert_eq!(json["principalId"], CLIENT);
    assert_eq!(json["policyDocument"]["Version"], "2012-10-17");
    assert_eq!(
        json["policyDocument"]["Statement"][0]["Resource"],
        json!([
            format!("{METHOD_ARN_BASE}/GET/events"),
            format!("{METHOD_ARN_BASE}/GET/events/*"),
            format!("{METHOD_ARN_BASE}/POST/events"),
        ])
    );
    assert_eq!(
        json["policyDocument"]["Statement"][0]["Action"],
        json!(["execute-api:Invoke"])
    );
    assert_eq!(json["context"]["client_id"], CLIENT);
    assert_eq!(json["context"]["scope"], "weather-api/get weather-api/post");
    let text = serde_json::to_string(&json).unwrap();
    assert!(!text.contains("null"), "{text}");
    assert!(json.get("usageIdentifierKey").is_none());
}

#[test]
fn request_event_header_found_case_insensitively() {
    for name in ["Authorization", "authorization", "AUTHORIZATION"] {
        let e = request_event(
            name,
            &format!("Bearer {}", get_token()),
            "GET",
            "/events/{id}",
            "/events/7",
        );
        assert_allowed(decide(&e));
    }
}

#[test]
fn request_event_uses_resource_template() {
    let e = request_event(
        "Authorization",
        &get_token(),
        "DELETE",
        "/events/{id}",
        "/events/7",
    );
    assert_rejected!(decide(&e), AuthError::InsufficientScope);
}

#[test]
fn http_api_allowed_gets_simple_answer_with_context() {
    let r = decide(&v2_event(
        Some(&format!("Bearer {}", get_token())),
        "GET /events/{id}",
        "/events/1",
    ))
    .unwrap();
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["isAuthorized"], true);
    assert_eq!(json["context"]["client_id"], CLIENT);
    assert!(json.get("policyDocument").is_none());
}

#[test]
fn http_api_denied_gets_is_authorized_false() {
    for e in [
        v2_event(Some(&get_token()), "DELETE /events/{id}", "/events/1"),
        v2_event(Some("garbage"), "GET /events", "/events"),
        v2_event(Some(&get_token()), "$default", "/anything"),
    ] {
        let json = serde_json::to_value(decide(&e).unwrap()).unwrap();
        assert_eq!(json, json!({"isAuthorized": false, "context": {}}));
    }
}

// ---- verified-token cache ----

#[test]
fn repeated_token_served_from_cache_until_exp() {
    let clock = Arc::new(AtomicU64::new(NOW.to_bits()));
    let c = clock.clone();
    let a = Authorizer::new(config(&[]), move || {
        f64::from_bits(c.load(Ordering::SeqCst))
    })
    .unwrap();
    let t = TokenBuilder::access("weather-api/get")
        .claim("exp", json!(NOW as i64 + 10))
        .sign();
    let rt = rt();
    assert_allowed(
        rt.block_on(a.handle(&token_event(&t, "GET", "/events")))
            .result,
    );
    // Same token on another route: decided by its scopes, from the cache.
    assert_rejected!(
        rt.block_on(a.handle(&token_event(&t, "POST", "/events")))
            .result,
        AuthError::InsufficientScope
    );
    clock.store((NOW + 10.0).to_bits(), Ordering::SeqCst);
    assert_rejected!(
        rt.block_on(a.handle(&token_event(&t, "GET", "/events")))
            .result,
        AuthError::Expired
    );
}

#[test]
fn cache_disabled_still_decides() {
    let e = token_event(&get_token(), "GET", "/events");
    assert_allowed(decide_with(&[("TOKEN_CACHE_SIZE", "0")], &e));
}

// ---- findings of the security review ----

#[test]
fn crit_null_rejected() {
    let t = TokenBuilder::access("weather-api/get")
        .header("crit", json!(null))
        .sign();
    assert_rejected!(get_events(&t), AuthError::Malformed(_));
}

#[test]
fn http_api_decides_on_the_identity_source_value() {
    // API Gateway caches the answer under the identity source: a valid token in
    // another header must not authorize a request whose identity source is not it.
    let mut e = serde_json::to_value(
        match v2_event(Some(&get_token()), "GET /events", "/events") {
            AuthorizerEvent::HttpV2(e) => *e,
            _ => unreachable!(),
        },
    )
    .unwrap();
    e["identitySource"] = json!(["tenant-acme"]);
    let e: AuthorizerEvent = serde_json::from_value(e).unwrap();
    assert_eq!(
        serde_json::to_value(decide(&e).unwrap()).unwrap()["isAuthorized"],
        false
    );
}

#[test]
fn malformed_event_error_never_quotes_the_token() {
    let token = get_token();
    let raw = json!({"type": "REQUEST", "methodArn": format!("{METHOD_ARN_BASE}/GET/events"),
        "headers": {"Authorization": format!("Bearer {token}\u{1}")}, "requestContext": {}});
    let err = serde_json::from_value::<AuthorizerEvent>(raw)
        .unwrap_err()
        .to_string();
    assert!(!err.contains(&token[..20]), "{err}");
}
