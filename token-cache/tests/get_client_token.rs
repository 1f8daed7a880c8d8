//! Cognito's `GetClientToken` as the token source: the same cache, single
//! flight, refresh-ahead, retries and typed errors as the OAuth 2.0 endpoint,
//! against a local server speaking the user pools API's JSON protocol.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use support::callers;
use test_support::token::Issue;
use token_cache::{
    Config, ManualClock, OAuthErrorKind, ScopeSet, TokenCache, TokenCacheError, TokenSource,
};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TARGET: &str = "AWSCognitoIdentityProviderService.GetClientToken";
const CLIENT_ID: &str = "gct-client";
const SECRET: &str = "gct-secret-value";

fn config(server: &MockServer) -> Config {
    let settings: HashMap<&str, String> = HashMap::from([
        ("TOKEN_SOURCE", "get-client-token".to_owned()),
        ("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", server.uri()),
        ("CLIENT_ID", CLIENT_ID.to_owned()),
        ("CLIENT_SECRET", SECRET.to_owned()),
        ("TOKEN_RETRY_INITIAL_BACKOFF_SECS", "0.01".to_owned()),
        ("TOKEN_RETRY_MAX_BACKOFF_SECS", "0.05".to_owned()),
        ("TOKEN_RETRY_DEADLINE_SECS", "10".to_owned()),
    ]);
    let config = Config::from_lookup(|name| settings.get(name).cloned()).unwrap();
    assert_eq!(config.source, TokenSource::GetClientToken);
    config
}

fn aws_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header(
            "x-amzn-errortype",
            format!("{code}:http://internal.amazon.com/coral/com.amazonaws.cognito/"),
        )
        .set_body_json(serde_json::json!({ "__type": code, "message": message }))
}

/// The request Cognito expects: JSON protocol headers, the id, the secret and
/// the scopes in the body; nothing in an `Authorization` header.
fn get_client_token_request(scopes: &[&str]) -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path("/"))
        .and(header("x-amz-target", TARGET))
        .and(header("content-type", "application/x-amz-json-1.1"))
        .and(body_json(serde_json::json!({
            "ClientId": CLIENT_ID,
            "Secret": SECRET,
            "Scopes": scopes,
        })))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cold_callers_share_one_get_client_token_request() {
    let server = MockServer::start().await;
    get_client_token_request(&["weather-api/get", "weather-api/post"])
        .respond_with(Issue::get_client_token())
        .expect(1)
        .mount(&server)
        .await;
    let cache = TokenCache::new(config(&server)).unwrap();
    let scopes = ScopeSet::parse("weather-api/post weather-api/get").unwrap();
    let callers = callers(&cache, &scopes, 200);
    for caller in callers {
        assert_eq!(caller.await.unwrap().unwrap().secret(), "gct-1");
    }
    assert_eq!(cache.stats().token_requests, 1);
    server.verify().await;
    let sent = &server.received_requests().await.unwrap()[0];
    assert!(!sent.headers.contains_key("authorization"));
}

#[tokio::test]
async fn refresh_ahead_serves_the_current_token_while_one_request_renews_it() {
    let server = MockServer::start().await;
    let issue = Issue::get_client_token();
    get_client_token_request(&["a/b"])
        .respond_with(issue.clone())
        .mount(&server)
        .await;
    let clock = Arc::new(ManualClock::new());
    let cache = TokenCache::builder(config(&server))
        .clock(clock.clone())
        .build()
        .unwrap();
    let scopes = ScopeSet::parse("a/b").unwrap();
    assert_eq!(cache.get(&scopes).await.unwrap().secret(), "gct-1");
    clock.advance(Duration::from_secs(3000)); // past 80 % of the lifetime
    assert_eq!(cache.get(&scopes).await.unwrap().secret(), "gct-1");
    // The one background refresh lands; later callers get the new token.
    let renewed = async {
        loop {
            let token = cache.get(&scopes).await.unwrap();
            if token.secret() != "gct-1" {
                return token;
            }
            tokio::task::yield_now().await;
        }
    };
    let token = tokio::time::timeout(Duration::from_secs(30), renewed)
        .await
        .expect("the background refresh lands");
    assert_eq!(token.secret(), "gct-2");
    assert_eq!(cache.stats().background_refreshes, 1);
    assert_eq!(issue.issued(), 2);
}

#[tokio::test]
async fn throttling_and_internal_errors_are_retried() {
    for (status, code) in [
        (400, "TooManyRequestsException"),
        (500, "InternalErrorException"),
        (503, ""),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(aws_error(status, code, "slow down"))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        get_client_token_request(&["a/b"])
            .respond_with(Issue::get_client_token())
            .mount(&server)
            .await;
        let cache = TokenCache::new(config(&server)).unwrap();
        let token = cache.get(&ScopeSet::parse("a/b").unwrap()).await;
        assert_eq!(token.unwrap().secret(), "gct-1", "{status} {code}");
        assert_eq!(cache.stats().token_requests, 2, "{status} {code}");
        assert_eq!(cache.stats().failed_token_requests, 1, "{status} {code}");
    }
}

#[tokio::test]
async fn client_errors_are_typed_and_not_retried() {
    let cases = [
        ("NotAuthorizedException", OAuthErrorKind::InvalidClient),
        ("ResourceNotFoundException", OAuthErrorKind::InvalidClient),
        ("InvalidParameterException", OAuthErrorKind::InvalidRequest),
        ("ScopeDoesNotExistException", OAuthErrorKind::InvalidScope),
    ];
    for (code, kind) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(aws_error(400, code, "Invalid client secret."))
            .expect(1)
            .mount(&server)
            .await;
        let cache = TokenCache::new(config(&server)).unwrap();
        let error = cache
            .get(&ScopeSet::parse("a/b").unwrap())
            .await
            .unwrap_err();
        assert_eq!(error.oauth_kind(), Some(&kind), "{code}: {error:?}");
        assert!(!error.is_retryable(), "{code}");
        assert!(!error.to_string().contains(SECRET), "{code}: {error}");
        server.verify().await;
    }
}

#[tokio::test]
async fn a_get_client_token_redirect_is_refused_like_any_other() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(307).insert_header("Location", "http://127.0.0.1:9/"))
        .expect(1)
        .mount(&server)
        .await;
    let error = TokenCache::new(config(&server))
        .unwrap()
        .get(&ScopeSet::parse("a/b").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(error, TokenCacheError::Redirected { status: Some(307) }),
        "{error:?}"
    );
}
