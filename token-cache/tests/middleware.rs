//! `TokenMiddleware` in a reqwest-middleware stack with reqwest-retry around
//! it: bearer tokens on every call, one refresh and one retry on a 401 (as
//! `TokenCache::send`), and no retry ever multiplies the token requests.

mod support;

use std::time::Duration;

use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;
use support::fast_retries;
use test_support::token::{TokenMock, TokenReply};
use token_cache::{ClientSecret, Config, ScopeSet, TokenCache, TokenCacheError, TokenMiddleware};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

struct Fixture {
    token_server: TokenMock,
    api: MockServer,
    cache: TokenCache,
    client: ClientWithMiddleware,
}

async fn fixture() -> Fixture {
    let token_server = TokenMock::start().await;
    let mut config = Config::new(
        &token_server.url(),
        "mw-client",
        ClientSecret::new("mw-secret"),
    )
    .unwrap();
    config.retry = fast_retries(Duration::from_secs(10));
    let cache = TokenCache::new(config).unwrap();
    let retries = ExponentialBackoff::builder()
        .retry_bounds(Duration::from_millis(5), Duration::from_millis(20))
        .build_with_max_retries(2);
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(RetryTransientMiddleware::new_with_policy(retries))
        .with(TokenMiddleware::new(
            cache.clone(),
            ScopeSet::parse("weather-api/post").unwrap(),
        ))
        .build();
    Fixture {
        token_server,
        api: MockServer::start().await,
        cache,
        client,
    }
}

#[tokio::test]
async fn retried_resource_calls_reuse_one_token() {
    let f = fixture().await;
    Mock::given(method("POST"))
        .and(path("/events"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&f.api)
        .await;
    Mock::given(method("POST"))
        .and(path("/events"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&f.api)
        .await;
    let response = f
        .client
        .post(format!("{}/events", f.api.uri()))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let calls = f.api.received_requests().await.unwrap();
    assert_eq!(calls.len(), 3, "two 503s retried by reqwest-retry");
    for call in &calls {
        assert_eq!(call.headers["authorization"], "Bearer tok-1");
    }
    assert_eq!(f.token_server.calls(), 1, "one token for all three");
}

#[tokio::test]
async fn a_401_refreshes_once_and_retries_once_and_is_not_retried_again() {
    let f = fixture().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&f.api)
        .await;
    let response = f
        .client
        .get(format!("{}/events", f.api.uri()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        401,
        "the second answer is returned as it is"
    );
    let calls = f.api.received_requests().await.unwrap();
    let tokens: Vec<_> = calls
        .iter()
        .map(|c| c.headers["authorization"].clone())
        .collect();
    assert_eq!(tokens, ["Bearer tok-1", "Bearer tok-2"]);
    assert_eq!(f.token_server.calls(), 2);

    // A 401 that a refreshed token cures: the caller sees the success.
    f.api.reset().await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer tok-2"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&f.api)
        .await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer tok-3"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&f.api)
        .await;
    let response = f
        .client
        .get(format!("{}/events", f.api.uri()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(f.token_server.calls(), 3);
}

#[tokio::test]
async fn a_failing_token_endpoint_is_retried_by_the_cache_alone() {
    let f = fixture().await;
    f.token_server.set(TokenReply::Status(500));
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&f.api)
        .await;
    let error = f
        .client
        .get(format!("{}/events", f.api.uri()))
        .send()
        .await
        .unwrap_err();
    let reqwest_middleware::Error::Middleware(source) = &error else {
        panic!("{error:?}");
    };
    // reqwest-retry wraps what it did not retry as `RetryError::Error`
    // (`WithRetries` when it did retry); inside is this middleware's error.
    let Some(reqwest_retry::RetryError::Error(reqwest_middleware::Error::Middleware(inner))) =
        source.downcast_ref::<reqwest_retry::RetryError>()
    else {
        panic!("not retried, a middleware error inside: {source:?}");
    };
    let cause = inner
        .downcast_ref::<TokenCacheError>()
        .expect("a TokenCacheError inside");
    assert!(
        matches!(cause, TokenCacheError::RetriesExhausted { attempts: 3, .. }),
        "{cause:?}"
    );
    // max_attempts (3) token requests once: reqwest-retry did not retry them.
    f.token_server.assert_calls(3);
    assert_eq!(f.cache.stats().token_requests, 3);
    assert!(f.api.received_requests().await.unwrap().is_empty());
}
