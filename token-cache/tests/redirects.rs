//! A token endpoint that redirects must never get the credentials sent
//! anywhere else, nor make the cache accept a token from anywhere else:
//! whichever HTTP client the cache uses (its own, or a caller's
//! `reqwest::Client::new()`, which follows redirects), whichever client
//! authentication, and for both kinds of redirect (307/308 keep the method and
//! body; 301/302/303 turn a POST into a GET).

use token_cache::{
    ClientAuth, ClientSecret, Config, RetryPolicy, ScopeSet, TokenCache, TokenCacheError,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CLIENT_ID: &str = "redirect-test-client";
const SECRET: &str = "s3cret-VALUE-never-elsewhere";
const FOREIGN_TOKEN: &str = "foreign-token-must-not-be-used";

#[derive(Debug, Clone, Copy)]
enum Client {
    /// The cache's own client (`TokenCache::new`).
    BuiltIn,
    /// `TokenCache::builder(config).http_client(reqwest::Client::new())`.
    Callers,
}

/// A server that answers every request with a valid-looking token, and
/// remembers what it was sent.
async fn foreign_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": FOREIGN_TOKEN,
            "token_type": "Bearer",
            "expires_in": 3600,
        })))
        .mount(&server)
        .await;
    server
}

/// The configured token endpoint: answers `status` to `location`.
async fn redirecting_token_server(status: u16, location: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(status).insert_header("Location", location))
        .expect(1) // refused at once, never retried
        .mount(&server)
        .await;
    server
}

fn cache(token_url: &str, auth: ClientAuth, client: Client) -> TokenCache {
    let mut config = Config::new(token_url, CLIENT_ID, ClientSecret::new(SECRET)).unwrap();
    config.client_auth = auth;
    config.retry = RetryPolicy {
        max_attempts: 3,
        ..RetryPolicy::default()
    };
    let builder = TokenCache::builder(config);
    match client {
        Client::BuiltIn => builder.build().unwrap(),
        Client::Callers => builder.http_client(reqwest::Client::new()).build().unwrap(),
    }
}

async fn run(status: u16, auth: ClientAuth, client: Client, same_origin: bool) {
    let case = format!("{status} {auth:?} {client:?} same_origin={same_origin}");
    let foreign = foreign_server().await;
    let token_server;
    let (token_url, location) = if same_origin {
        // The redirect stays on the token endpoint's own server, to another path.
        token_server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth2/token"))
            .respond_with(ResponseTemplate::new(status).insert_header("Location", "/elsewhere"))
            .expect(1)
            .mount(&token_server)
            .await;
        Mock::given(path("/elsewhere"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": FOREIGN_TOKEN,
                "token_type": "Bearer",
                "expires_in": 3600,
            })))
            .mount(&token_server)
            .await;
        (
            format!("{}/oauth2/token", token_server.uri()),
            "/elsewhere".to_owned(),
        )
    } else {
        let location = format!("{}/steal", foreign.uri());
        token_server = redirecting_token_server(status, &location).await;
        (format!("{}/oauth2/token", token_server.uri()), location)
    };
    let cache = cache(&token_url, auth, client);
    let scopes = ScopeSet::parse("weather-api/get").unwrap();

    let error = cache.get(&scopes).await.expect_err(&case);
    let followed = matches!(client, Client::Callers) && matches!(status, 301..=303);
    let expected_status = (!followed).then_some(status);
    assert!(
        matches!(error, TokenCacheError::Redirected { status: s } if s == expected_status),
        "{case}: {error:?}"
    );
    assert!(!error.is_retryable(), "{case}");
    assert!(!error.to_string().contains(SECRET), "{case}: {error}");
    assert_eq!(cache.stats().token_requests, 1, "{case}: not retried");

    // What left the process towards any URL but the token endpoint.
    let mut elsewhere = foreign.received_requests().await.unwrap_or_default();
    if same_origin {
        elsewhere.extend(
            token_server
                .received_requests()
                .await
                .unwrap_or_default()
                .into_iter()
                .filter(|r| r.url.path() != "/oauth2/token"),
        );
    }
    for request in &elsewhere {
        let body = String::from_utf8_lossy(&request.body);
        assert!(
            !body.contains(SECRET),
            "{case}: secret sent to {location} in the body"
        );
        assert!(
            !body.contains(CLIENT_ID),
            "{case}: client id sent to {location}"
        );
        assert_eq!(
            request.method.as_str(),
            "GET",
            "{case}: only a body-less GET may follow"
        );
        assert!(
            request.body.is_empty(),
            "{case}: a body was sent to {location}"
        );
        if !same_origin {
            assert!(
                !request.headers.contains_key("authorization"),
                "{case}: Authorization sent to another origin"
            );
        }
    }
    match (status, client) {
        // 307/308 keep the body: the cache's body cannot be replayed, so even a
        // client that follows redirects sends nothing anywhere else.
        (307 | 308, _) | (_, Client::BuiltIn) => {
            assert!(
                elsewhere.is_empty(),
                "{case}: {} requests elsewhere",
                elsewhere.len()
            );
        }
        _ => assert!(elsewhere.len() <= 1, "{case}"),
    }
    // The token endpoint was asked exactly once (the `expect(1)` above).
    token_server.verify().await;
}

#[tokio::test]
async fn redirect_is_refused_and_carries_no_credentials_anywhere() {
    for status in [301, 302, 303, 307, 308] {
        for auth in [ClientAuth::RequestBody, ClientAuth::Basic] {
            for client in [Client::BuiltIn, Client::Callers] {
                run(status, auth, client, false).await;
            }
        }
    }
}

#[tokio::test]
async fn same_origin_redirect_is_refused_and_sends_no_body() {
    for status in [301, 302, 303, 307, 308] {
        for auth in [ClientAuth::RequestBody, ClientAuth::Basic] {
            run(status, auth, Client::Callers, true).await;
        }
    }
}

/// A caller's client that follows redirects still talks to the token endpoint
/// normally when it does not redirect (the non-replayable body is a valid form).
#[tokio::test]
async fn callers_client_without_redirect_gets_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .and(wiremock::matchers::header(
            "content-type",
            "application/x-www-form-urlencoded",
        ))
        .and(wiremock::matchers::body_string_contains(
            "grant_type=client_credentials",
        ))
        .and(wiremock::matchers::body_string_contains(
            "scope=weather-api%2Fget",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "the-real-token",
            "token_type": "Bearer",
            "expires_in": 3600,
        })))
        .expect(2)
        .mount(&server)
        .await;
    let token_url = format!("{}/oauth2/token", server.uri());
    let scopes = ScopeSet::parse("weather-api/get").unwrap();
    for auth in [ClientAuth::RequestBody, ClientAuth::Basic] {
        let cache = cache(&token_url, auth, Client::Callers);
        let token = cache.get(&scopes).await.unwrap();
        assert_eq!(token.secret(), "the-real-token");
    }
    server.verify().await;
}
