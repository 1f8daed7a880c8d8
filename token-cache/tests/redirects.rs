//! A token endpoint that redirects must never get the credentials sent
//! anywhere else, nor make the cache accept a token from anywhere else:
//! whichever HTTP client the cache uses (its own, or one from a caller's
//! builder that asks to follow redirects), whichever client authentication,
//! for both kinds of redirect (307/308 keep the method and body; 301/302/303
//! turn a POST into a GET), to another server, to the same one, or to another
//! server that redirects again.

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
    /// `TokenCache::builder(config).http_client_builder(..)` from a builder
    /// asking to follow up to 10 redirects (the cache overrides that).
    CallersBuilder,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    /// Another server.
    OtherOrigin,
    /// Another path of the token endpoint's own server.
    SameOrigin,
    /// Another server that redirects again within itself (where reqwest,
    /// following, would put a stripped `Authorization` back).
    TwoHops,
}

fn token_response(token: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 3600,
    }))
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
        Client::CallersBuilder => builder
            .http_client_builder(
                reqwest::Client::builder().redirect(reqwest::redirect::Policy::limited(10)),
            )
            .build()
            .unwrap(),
    }
}

async fn run(status: u16, auth: ClientAuth, client: Client, target: Target) {
    let case = format!("{status} {auth:?} {client:?} {target:?}");
    let token_server = MockServer::start().await;
    let other = MockServer::start().await;
    let location = match target {
        Target::OtherOrigin => format!("{}/steal", other.uri()),
        Target::SameOrigin => "/elsewhere".to_owned(),
        Target::TwoHops => format!("{}/1", other.uri()),
    };
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(status).insert_header("Location", location.as_str()))
        .expect(1) // refused at once, never retried
        .mount(&token_server)
        .await;
    Mock::given(path("/elsewhere"))
        .respond_with(token_response(FOREIGN_TOKEN))
        .mount(&token_server)
        .await;
    Mock::given(path("/1"))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", "/2"))
        .mount(&other)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(token_response(FOREIGN_TOKEN))
        .mount(&other)
        .await;
    let token_url = format!("{}/oauth2/token", token_server.uri());
    let cache = cache(&token_url, auth, client);
    let scopes = ScopeSet::parse("weather-api/get").unwrap();

    let error = cache.get(&scopes).await.expect_err(&case);
    assert!(
        matches!(error, TokenCacheError::Redirected { status: Some(s) } if s == status),
        "{case}: {error:?}"
    );
    assert!(!error.is_retryable(), "{case}");
    assert!(!error.to_string().contains(SECRET), "{case}: {error}");
    assert_eq!(cache.stats().token_requests, 1, "{case}: not retried");

    // Nothing at all left the process towards any URL but the token endpoint:
    // no body, no Authorization, not even a body-less GET.
    let elsewhere: Vec<_> = other
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .chain(
            token_server
                .received_requests()
                .await
                .unwrap()
                .into_iter()
                .filter(|r| r.url.path() != "/oauth2/token"),
        )
        .collect();
    assert!(
        elsewhere.is_empty(),
        "{case}: requests elsewhere: {:?}",
        elsewhere
            .iter()
            .map(|r| (
                r.method.as_str().to_owned(),
                r.url.path().to_owned(),
                r.headers.contains_key("authorization")
            ))
            .collect::<Vec<_>>()
    );
    token_server.verify().await;
}

#[tokio::test]
async fn redirect_is_refused_and_carries_no_credentials_anywhere() {
    for status in [301, 302, 303, 307, 308] {
        for auth in [ClientAuth::RequestBody, ClientAuth::Basic] {
            for client in [Client::BuiltIn, Client::CallersBuilder] {
                for target in [Target::OtherOrigin, Target::SameOrigin, Target::TwoHops] {
                    run(status, auth, client, target).await;
                }
            }
        }
    }
}

#[tokio::test]
async fn other_3xx_statuses_are_unexpected_not_redirects() {
    for status in [300, 304, 305] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).insert_header("Location", "/x"))
            .expect(1)
            .mount(&server)
            .await;
        let cache = cache(
            &format!("{}/oauth2/token", server.uri()),
            ClientAuth::Basic,
            Client::BuiltIn,
        );
        let error = cache
            .get(&ScopeSet::parse("a/b").unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(error, TokenCacheError::UnexpectedStatus { status: s } if s == status),
            "{status}: {error:?}"
        );
        server.verify().await;
    }
}

/// A caller's builder gives a client that talks to the token endpoint
/// normally (the non-replayable body is a valid form, sent once).
#[tokio::test]
async fn callers_builder_gets_the_token() {
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
        let cache = cache(&token_url, auth, Client::CallersBuilder);
        let token = cache.get(&scopes).await.unwrap();
        assert_eq!(token.secret(), "the-real-token");
    }
    server.verify().await;
}
