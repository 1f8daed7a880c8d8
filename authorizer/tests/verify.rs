//! Every verification and decision rule, driven through `Authorizer::handle`
//! with TEST-ONLY keys and a clock fixed at `NOW`: tables of named cases
//! (`cargo test -p authorizer --test verify exp_missing`) for a token and what
//! it must get, then the cases that check more than the outcome.

mod support;

use std::mem::discriminant;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use authorizer::{AuthError, Authorizer, AuthorizerEvent, AuthorizerResponse, evaluate};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rstest::rstest;
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
    get_builder().sign()
}

fn with_header(header: Value, rest_of: &str) -> String {
    let (_, payload_and_sig) = rest_of.split_once('.').unwrap();
    format!(
        "{}.{payload_and_sig}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap())
    )
}

// ---- the expectation of a case ----

/// What a case expects: an Allow policy, or the rejection of this variant
/// (compared by variant: `Malformed("")` stands for any `Malformed`).
#[derive(Debug)]
enum Expect {
    Allowed,
    Rejected(AuthError),
}

use AuthError::*;
use Expect::{Allowed, Rejected};

impl Expect {
    fn check(&self, result: Result<AuthorizerResponse, AuthError>) {
        match (self, result) {
            (Allowed, result) => {
                assert_allowed(result);
            }
            (Rejected(want), Err(got)) if discriminant(want) == discriminant(&got) => {}
            (Rejected(want), other) => panic!("expected {want:?}, got {other:?}"),
        }
    }
}

/// An access token with the `weather-api/get` scope, to override claims of.
fn reader() -> TokenBuilder {
    TokenBuilder::access("weather-api/get")
}

/// The valid get+post token, changed by `mangle`.
fn mangled(mangle: impl Fn(&str) -> String) -> String {
    mangle(&get_token())
}

// ---- a token for GET /events ----

#[rstest]
// token shape
#[case::valid_access_token_allowed(
    TokenBuilder::access("weather-api/get weather-api/post"),
    Allowed
)]
// algorithm and key
#[case::es256_label_on_rs256_signature_rejected(reader().header("alg", json!("ES256")), Rejected(AlgorithmNotAllowed))]
#[case::ps256_and_rs512_labels_rejected_ps256(reader().header("alg", json!("PS256")), Rejected(AlgorithmNotAllowed))]
#[case::ps256_and_rs512_labels_rejected_rs512(reader().header("alg", json!("RS512")), Rejected(AlgorithmNotAllowed))]
#[case::ps256_and_rs512_labels_rejected_lower_case_rs256(reader().header("alg", json!("rs256")), Rejected(AlgorithmNotAllowed))]
#[case::alg_missing_rejected(reader().header("alg", json!(null)), Rejected(Malformed("")))]
#[case::crit_header_rejected(reader().header("crit", json!(["exp"])), Rejected(Malformed("")))]
#[case::crit_null_rejected(reader().header("crit", json!(null)), Rejected(Malformed("")))]
// The key named by jku is never fetched: the token is verified with the pool's key.
#[case::jku_header_not_followed(reader().header("jku", json!("http://127.0.0.1:9/evil.json")).signed_with(other_key()), Rejected(InvalidSignature))]
#[case::missing_kid_rejected(reader().without_header("kid"), Rejected(MissingKid))]
#[case::kid_not_a_string_rejected(reader().header("kid", json!(1)), Rejected(Malformed("")))]
#[case::signed_with_another_key_rejected(reader().signed_with(other_key()), Rejected(InvalidSignature))]
// time (NOW is x.5: exp = x + 1 is half a second away; sub-second precision matters)
#[case::exp_half_a_second_ahead_allowed(reader().claim("exp", json!(NOW.ceil() as i64)), Allowed)]
#[case::exp_half_a_second_past_rejected(reader().claim("exp", json!(NOW.floor() as i64)), Rejected(Expired))]
#[case::exp_missing_rejected(reader().without("exp"), Rejected(Malformed("")))]
#[case::exp_as_string_rejected(reader().claim("exp", json!("4102444800")), Rejected(Malformed("")))]
#[case::nbf_in_future_rejected(reader().claim("nbf", json!(NOW as i64 + 60)), Rejected(NotYetValid))]
#[case::iat_as_string_rejected(reader().claim("iat", json!("yesterday")), Rejected(Malformed("")))]
// issuer
#[case::wrong_iss_rejected(reader().claim("iss", json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other")), Rejected(IssuerNotAllowed))]
#[case::iss_with_trailing_slash_rejected(reader().claim("iss", json!(format!("{ISSUER}/"))), Rejected(IssuerNotAllowed))]
#[case::iss_missing_rejected(reader().without("iss"), Rejected(IssuerNotAllowed))]
#[case::issuer_cognito_idp_host_variant_allowed(reader().claim("iss", json!("https://issuer-cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1")), Allowed)]
// token_use and client
#[case::token_use_id_on_scoped_route_rejected(TokenBuilder::id(), Rejected(TokenUseNotAccepted))]
#[case::token_use_refresh_rejected(reader().claim("token_use", json!("refresh")), Rejected(TokenUseNotAccepted))]
#[case::token_use_missing_rejected(reader().without("token_use"), Rejected(TokenUseNotAccepted))]
#[case::app_client_ids_unset_accepts_any_client_of_the_pool(reader().claim("client_id", json!("any-client")), Allowed)]
#[case::client_id_missing_rejected(reader().without("client_id"), Rejected(ClientNotAllowed))]
#[case::claim_null_rejected(reader().claim("sub", json!(null)), Rejected(Malformed("")))]
// scopes
#[case::scope_claim_missing_rejected(TokenBuilder::access("").without("scope"), Rejected(InsufficientScope))]
#[case::scope_claim_empty_rejected(TokenBuilder::access(""), Rejected(InsufficientScope))]
#[case::scope_claim_non_string_rejected(TokenBuilder::access("").claim("scope", json!(["weather-api/get"])), Rejected(Malformed("")))]
#[case::scope_claim_tab_separated_no_match(
    TokenBuilder::access("weather-api/post\tweather-api/get"),
    Rejected(InsufficientScope)
)]
#[case::scope_claim_different_case_no_match(
    TokenBuilder::access("Weather-Api/Get"),
    Rejected(InsufficientScope)
)]
#[case::scope_claim_prefix_of_required_no_match(
    TokenBuilder::access("weather-api/ge weather-api"),
    Rejected(InsufficientScope)
)]
fn token_for_get_events(#[case] token: TokenBuilder, #[case] expect: Expect) {
    expect.check(get_events(&token.sign()));
}

// ---- a token text (not a builder's) for GET /events ----

#[rstest]
#[case::empty_token_rejected(String::new(), Rejected(MissingToken))]
#[case::empty_token_rejected_after_bearer("Bearer ".to_owned(), Rejected(MissingToken))]
#[case::oversize_token_rejected_before_decoding(
    format!("{}.{}.{}", "a".repeat(9000), "b".repeat(9000), "c"),
    Rejected(TokenTooLarge { limit: 0 })
)]
#[case::two_segments_rejected(mangled(|t| t.split('.').take(2).collect::<Vec<_>>().join(".")), Rejected(Malformed("")))]
#[case::four_segments_rejected(mangled(|t| format!("{t}.x")), Rejected(Malformed("")))]
#[case::bad_base64_rejected_in_header(mangled(|t| t.replacen('.', "!.", 1)), Rejected(Malformed("")))]
#[case::bad_base64_rejected_padding(mangled(|t| t.replacen('.', "==.", 1)), Rejected(Malformed("")))]
#[case::bad_base64_rejected_in_signature(mangled(|t| format!("{}.%%%", t.rsplit_once('.').unwrap().0)), Rejected(Malformed("")))]
#[case::header_not_object_rejected(mangled(|t| with_header(json!(["RS256"]), t)), Rejected(Malformed("")))]
#[case::payload_not_object_rejected(
    mangled(|t| {
        let parts: Vec<&str> = t.split('.').collect();
        format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(b"\"just a string\""), parts[2])
    }),
    Rejected(Malformed(""))
)]
#[case::bearer_prefix_any_case_accepted(mangled(|t| format!("Bearer {t}")), Allowed)]
#[case::bearer_prefix_any_case_accepted_lower(mangled(|t| format!("bearer {t}")), Allowed)]
#[case::bearer_prefix_any_case_accepted_upper(mangled(|t| format!("BEARER {t}")), Allowed)]
#[case::bearer_prefix_any_case_accepted_mixed_two_spaces(mangled(|t| format!("bEaReR  {t}")), Allowed)]
#[case::other_scheme_rejected(mangled(|t| format!("Basic {t}")), Rejected(Malformed("")))]
#[case::alg_none_rejected_unsigned(
    format!("{}.", reader().header("alg", json!("none")).signing_input()),
    Rejected(Malformed(""))
)]
#[case::alg_none_rejected_with_signature(
    format!("{}.AAAA", reader().header("alg", json!("none")).signing_input()),
    Rejected(AlgorithmNotAllowed)
)]
// The classic key-confusion attack: HMAC keyed with the public key.
#[case::hs256_signed_with_rsa_public_key_bytes_rejected(
    hs256_with_public_key(),
    Rejected(AlgorithmNotAllowed)
)]
// 342 base64url characters carry 256 bytes; 336 carry 252, a valid encoding of a short signature.
#[case::truncated_signature_rejected(mangled(|t| t[..t.len() - 6].to_owned()), Rejected(InvalidSignature))]
#[case::truncated_signature_rejected_bad_length(mangled(|t| t[..t.len() - 4].to_owned()), Rejected(Malformed("")))]
fn token_text_for_get_events(#[case] token: String, #[case] expect: Expect) {
    expect.check(get_events(&token));
}

fn hs256_with_public_key() -> String {
    let public = std::fs::read(fixture("keys/test-jwks.json")).unwrap();
    let input = reader().header("alg", json!("HS256")).signing_input();
    let key = jsonwebtoken::EncodingKey::from_secret(&public);
    let sig =
        jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).unwrap();
    format!("{input}.{sig}")
}

// ---- a token on a route, with settings ----

#[rstest]
#[case::exp_within_skew_allowed(reader().claim("exp", json!(NOW as i64 - 5)), "GET /events", &[("CLOCK_SKEW_SECONDS", "10")], Allowed)]
#[case::nbf_within_skew_allowed(reader().claim("nbf", json!(NOW as i64 + 5)), "GET /events", &[("CLOCK_SKEW_SECONDS", "10")], Allowed)]
#[case::client_id_not_allowed_rejected(get_builder(), "GET /events", &[("APP_CLIENT_IDS", "another-client")], Rejected(ClientNotAllowed))]
#[case::cache_disabled_still_decides(get_builder(), "GET /events", &[("TOKEN_CACHE_SIZE", "0")], Allowed)]
#[case::id_token_aud_not_allowed_rejected(TokenBuilder::id().claim("aud", json!("someone-else")), "GET /me", &[("APP_CLIENT_IDS", CLIENT)], Rejected(ClientNotAllowed))]
#[case::access_token_on_unscoped_route_rejected(get_builder(), "GET /me", &[], Rejected(TokenUseNotAccepted))]
#[case::aud_array_on_id_token_rejected(TokenBuilder::id().claim("aud", json!([CLIENT])), "GET /me", &[], Rejected(Malformed("")))]
#[case::post_only_token_gets_post_not_get_get(TokenBuilder::access("weather-api/post"), "GET /events", &[], Rejected(InsufficientScope))]
#[case::post_only_token_gets_post_not_get_post(TokenBuilder::access("weather-api/post"), "POST /events", &[], Allowed)]
#[case::route_not_configured_rejected(get_builder(), "GET /admin", &[], Rejected(RouteNotConfigured))]
#[case::route_not_configured_rejected_other_method(get_builder(), "PUT /events", &[], Rejected(RouteNotConfigured))]
#[case::id_param_route_matched(get_builder(), "GET /events/42", &[], Allowed)]
#[case::id_param_route_matched_without_delete_scope(get_builder(), "DELETE /events/42", &[], Rejected(InsufficientScope))]
fn token_on_route(
    #[case] token: TokenBuilder,
    #[case] request: &str,
    #[case] settings: &[(&str, &str)],
    #[case] expect: Expect,
) {
    let (method, path) = request.split_once(' ').unwrap();
    expect.check(decide_with(
        settings,
        &token_event(&token.sign(), method, path),
    ));
}

/// The builder of [`get_token`].
fn get_builder() -> TokenBuilder {
    TokenBuilder::access("weather-api/get weather-api/post")
}

// ---- a token at another clock ----

#[rstest]
#[case::exp_equal_now_rejected(1_700_000_000.0, 1_700_000_000, &[])]
#[case::exp_plus_skew_boundary_rejected(1_700_000_010.0, 1_700_000_000, &[("CLOCK_SKEW_SECONDS", "10")])]
fn token_expired_at(#[case] now: f64, #[case] exp: i64, #[case] settings: &[(&str, &str)]) {
    let a = authorizer_at(now, settings);
    let t = reader().claim("exp", json!(exp)).sign();
    Rejected(Expired).check(
        rt().block_on(a.handle(&token_event(&t, "GET", "/events")))
            .result,
    );
}

// ---- cases of their own ----

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
fn client_id_in_allow_list_allowed() {
    let e = token_event(&get_token(), "GET", "/events");
    assert_allowed(decide_with(
        &[("APP_CLIENT_IDS", &format!("another-client,{CLIENT}"))],
        &e,
    ));
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

#[test]
fn insufficient_scope_deny_mode_denies_an_any_route_by_the_request_method() {
    let t = TokenBuilder::access("weather-api/get").sign();
    let json = {
        let r = decide_with(
            &[("INSUFFICIENT_SCOPE", "deny")],
            &token_event(&t, "PATCH", "/files/a"),
        )
        .unwrap();
        serde_json::to_value(&r).unwrap()
    };
    let statements = json["policyDocument"]["Statement"].as_array().unwrap();
    let denied: Vec<&str> = statements
        .iter()
        .filter(|s| s["Effect"] == "Deny")
        .flat_map(|s| s["Resource"].as_array().unwrap())
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(
        denied,
        [
            format!("{METHOD_ARN_BASE}/*//*"),
            format!("{METHOD_ARN_BASE}/PATCH/files/*")
        ],
        "{json}"
    );
}

#[test]
fn trailing_slash_routed_as_api_gateway_routes_it() {
    // A REST API hands `GET /events/` to `GET /events`; the method ARN keeps the slash.
    let json = assert_allowed(decide(&token_event(&get_token(), "GET", "/events/")));
    assert_eq!(json["principalId"], json!(CLIENT));
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
