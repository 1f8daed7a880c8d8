//! The cache against a real token server on 127.0.0.1.

mod support;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use support::{
    Resource, TokenMock, TokenReply, callers, clocked, config, eventually_token, is_token, patient,
    scopes, spawn_get, token_server, wait_until,
};
use test_support::ClosedPort;
use token_cache::{ClientAuth, ManualClock, OAuthErrorKind, ScopeSet, TokenCache, TokenCacheError};

const HOUR: Duration = Duration::from_secs(3600);

fn cache_with_clock(server: &TokenMock) -> (TokenCache, Arc<ManualClock>) {
    clocked(config(server))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_cache_1000_concurrent_callers_make_one_token_request() {
    let server = token_server().await;
    server.hold(true);
    let cache = TokenCache::new(patient(config(&server))).unwrap();
    let wanted = scopes("weather-api/get");

    let callers = callers(&cache, &wanted, 1000);
    server.wait_for_calls(1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.release(1);

    for caller in callers {
        let token = caller.await.unwrap().unwrap();
        assert!(is_token(&token, 1));
    }
    assert_eq!(server.calls(), 1);
    assert_eq!(cache.stats().token_requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_refresh_point_callers_never_wait_and_one_background_request() {
    let server = token_server().await;
    let (cache, clock) = clocked(patient(config(&server)));
    let wanted = scopes("weather-api/get");
    assert!(is_token(&cache.get(&wanted).await.unwrap(), 1));

    // The refresh will hang until released: anyone waiting for it would hang too.
    server.hold(true);
    clock.advance(Duration::from_secs(3000)); // past 80% of 3600 s, before 3570 s
    let callers = callers(&cache, &wanted, 200);
    for caller in callers {
        let token = tokio::time::timeout(Duration::from_secs(5), caller)
            .await
            .expect("a caller waited for the background refresh")
            .unwrap()
            .unwrap();
        assert!(is_token(&token, 1), "callers get the current token");
    }
    server.wait_for_calls(2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.calls(), 2, "exactly one background request");

    server.release(1);
    eventually_token(&cache, &wanted, 2).await;
    assert_eq!(server.calls(), 2);
    assert_eq!(cache.stats().background_refreshes, 1);
}

#[tokio::test]
async fn endpoint_failing_while_token_valid_keeps_serving_then_refreshes_after_recovery() {
    let server = token_server().await;
    let (cache, clock) = cache_with_clock(&server);
    let wanted = scopes("weather-api/get");
    assert!(is_token(&cache.get(&wanted).await.unwrap(), 1));

    server.set(TokenReply::ServerError);
    clock.advance(Duration::from_secs(3000));
    assert!(is_token(&cache.get(&wanted).await.unwrap(), 1));
    // The background refresh retries (3 attempts) and gives up.
    server.wait_for_calls(4).await;
    wait_until("3 failed attempts", || {
        cache.stats().failed_token_requests >= 3
    })
    .await;
    assert_eq!(cache.stats().failed_token_requests, 3);

    // Still served, and no new request while backing off.
    for _ in 0..20 {
        assert!(is_token(&cache.get(&wanted).await.unwrap(), 1));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.calls(), 4);

    // Recovery: after the backoff, the next call refreshes in the background.
    server.set(TokenReply::Issue);
    clock.advance(Duration::from_secs(60));
    assert!(is_token(&cache.get(&wanted).await.unwrap(), 1));
    eventually_token(&cache, &wanted, 5).await;
    assert_eq!(server.calls(), 5);
}

async fn assert_fails_within_deadline(cache: &TokenCache, wanted: &ScopeSet) -> TokenCacheError {
    // Deadline 3 s (see support::config) + one request timeout at most.
    tokio::time::timeout(Duration::from_secs(6), cache.get(wanted))
        .await
        .expect("caller hung past the deadline")
        .expect_err("no token expected")
}

#[tokio::test]
async fn expired_token_and_endpoint_down_errors_within_deadline() {
    let server = token_server().await;
    let (cache, clock) = cache_with_clock(&server);
    let wanted = scopes("weather-api/get");
    cache.get(&wanted).await.unwrap();

    server.set(TokenReply::ServerError);
    clock.advance(HOUR);
    let err = assert_fails_within_deadline(&cache, &wanted).await;
    assert!(
        matches!(err, TokenCacheError::RetriesExhausted { attempts: 3, .. }),
        "{err}"
    );
    assert!(matches!(
        err.last_attempt(),
        TokenCacheError::ServerError { status: 500, .. }
    ));
    assert_eq!(server.calls(), 4);
}

#[tokio::test]
async fn hanging_endpoint_errors_within_deadline() {
    let server = token_server().await;
    let mut config = config(&server);
    config.request_timeout = Duration::from_millis(300);
    config.retry.max_attempts = 100;
    config.retry.deadline = Duration::from_secs(1);
    let cache = TokenCache::new(config).unwrap();
    server.set(TokenReply::Slow(Duration::from_secs(30)));

    let err = assert_fails_within_deadline(&cache, &scopes("a/b")).await;
    assert!(
        matches!(err, TokenCacheError::DeadlineExceeded { .. }),
        "{err}"
    );
    assert!(
        matches!(err.last_attempt(), TokenCacheError::Timeout),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_endpoint_errors_within_deadline() {
    let server = token_server().await;
    // Refuses connections, and nothing else on the machine can take its port meanwhile.
    let closed = ClosedPort::new();
    let mut config = config(&server);
    config.token_url = format!("http://{}/oauth2/token", closed.addr())
        .parse()
        .unwrap();
    let cache = TokenCache::new(config).unwrap();
    let err = assert_fails_within_deadline(&cache, &scopes("a/b")).await;
    assert!(
        matches!(err.last_attempt(), TokenCacheError::Connect(_)),
        "{err:?}"
    );
    assert_eq!(cache.stats().token_requests, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_failure() {
    let server = token_server().await;
    server.set(TokenReply::ServerError);
    server.hold(true);
    let cache = TokenCache::new(patient(config(&server))).unwrap();
    let wanted = scopes("a/b");
    let callers = callers(&cache, &wanted, 100);
    server.wait_for_calls(1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.hold(false);
    server.release(10);
    for caller in callers {
        let err = caller.await.unwrap().unwrap_err();
        assert!(
            matches!(err, TokenCacheError::RetriesExhausted { .. }),
            "{err}"
        );
    }
    assert_eq!(
        server.calls(),
        3,
        "one flight of 3 attempts for all 100 callers"
    );
}

#[tokio::test]
async fn scope_sets_are_separate_and_order_insensitive() {
    let server = token_server().await;
    let cache = TokenCache::new(config(&server)).unwrap();

    let both = cache.get(&scopes("w/get w/post")).await.unwrap();
    let both_again = cache.get(&scopes("w/post w/get w/get")).await.unwrap();
    let get_only = cache.get(&scopes("w/get")).await.unwrap();
    let none = cache.get(&ScopeSet::empty()).await.unwrap();

    assert!(both.same_token(&both_again));
    assert!(is_token(&both, 1));
    assert!(is_token(&get_only, 2));
    assert!(is_token(&none, 3));
    assert_eq!(server.calls(), 3);

    let bodies: Vec<String> = server.recorded().into_iter().map(|r| r.body).collect();
    assert_eq!(
        bodies[0],
        "grant_type=client_credentials&scope=w%2Fget+w%2Fpost"
    );
    assert_eq!(bodies[1], "grant_type=client_credentials&scope=w%2Fget");
    assert_eq!(
        bodies[2], "grant_type=client_credentials",
        "no scope means no scope parameter"
    );
}

#[tokio::test]
async fn basic_client_authentication() {
    let server = token_server().await;
    let cache = TokenCache::new(config(&server)).unwrap();
    cache.get(&scopes("a/b")).await.unwrap();
    let request = &server.recorded()[0];
    let expected =
        base64::engine::general_purpose::STANDARD.encode("test-client:test-secret-value");
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Basic {expected}").as_str())
    );
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert!(!request.body.contains("client_secret"));
}

#[tokio::test]
async fn request_body_client_authentication() {
    let server = token_server().await;
    let mut config = config(&server);
    config.client_auth = ClientAuth::RequestBody;
    let cache = TokenCache::new(config).unwrap();
    cache.get(&scopes("a/b")).await.unwrap();
    let request = &server.recorded()[0];
    assert_eq!(request.authorization, None);
    assert_eq!(
        request.body,
        "grant_type=client_credentials&scope=a%2Fb&client_id=test-client&client_secret=test-secret-value"
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let server = token_server().await;
    server.script([TokenReply::ServerError, TokenReply::ServerError]);
    let cache = TokenCache::new(config(&server)).unwrap();
    let token = cache.get(&scopes("a/b")).await.unwrap();
    assert!(is_token(&token, 3));
    assert_eq!(server.calls(), 3);
}

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    let server = token_server().await;
    server.script([TokenReply::TooManyRequests("1")]);
    let cache = TokenCache::new(config(&server)).unwrap();
    let started = std::time::Instant::now();
    let token = cache.get(&scopes("a/b")).await.unwrap();
    assert!(is_token(&token, 2));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retried before Retry-After"
    );
}

#[tokio::test]
async fn retry_after_beyond_deadline_fails_fast_and_is_remembered() {
    let server = token_server().await;
    server.set(TokenReply::TooManyRequests("120"));
    let cache = TokenCache::new(config(&server)).unwrap();
    let wanted = scopes("a/b");
    let err = cache.get(&wanted).await.unwrap_err();
    assert!(
        matches!(err, TokenCacheError::DeadlineExceeded { attempts: 1, .. }),
        "{err}"
    );
    assert_eq!(
        err.last_attempt().retry_after(),
        Some(Duration::from_secs(120))
    );

    // The next caller does not hit the endpoint before Retry-After has passed.
    let err = cache.get(&wanted).await.unwrap_err();
    assert!(
        matches!(
            err,
            TokenCacheError::RateLimited {
                retry_after: Some(_)
            }
        ),
        "{err}"
    );
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn oauth_errors_are_typed_and_not_retried() {
    for (mode, kind) in [
        (
            TokenReply::InvalidClient(400),
            OAuthErrorKind::InvalidClient,
        ),
        (
            TokenReply::InvalidClient(401),
            OAuthErrorKind::InvalidClient,
        ),
        (TokenReply::InvalidScope, OAuthErrorKind::InvalidScope),
    ] {
        let server = token_server().await;
        server.set(mode.clone());
        let cache = TokenCache::new(config(&server)).unwrap();
        let err = cache.get(&scopes("weather-api/delete")).await.unwrap_err();
        assert_eq!(err.oauth_kind(), Some(&kind), "{mode:?}: {err}");
        assert!(matches!(err, TokenCacheError::OAuth { .. }));
        assert_eq!(server.calls(), 1, "{mode:?} must not be retried");
    }
}

#[tokio::test]
async fn garbage_response_is_malformed_and_not_retried() {
    let server = token_server().await;
    server.set(TokenReply::Garbage);
    let cache = TokenCache::new(config(&server)).unwrap();
    let err = cache.get(&scopes("a/b")).await.unwrap_err();
    assert!(
        matches!(err, TokenCacheError::MalformedResponse { .. }),
        "{err}"
    );
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn narrower_grant_is_an_error_not_a_token() {
    let server = token_server().await;
    server.set(TokenReply::NarrowScope);
    let cache = TokenCache::new(config(&server)).unwrap();
    let err = cache.get(&scopes("w/get w/post")).await.unwrap_err();
    assert!(
        matches!(&err, TokenCacheError::ScopeNotGranted { missing } if missing == &["w/post"]),
        "{err}"
    );
}

#[tokio::test]
async fn invalidate_forces_a_new_token() {
    let server = token_server().await;
    let cache = TokenCache::new(config(&server)).unwrap();
    let wanted = scopes("a/b");
    let first = cache.get(&wanted).await.unwrap();
    cache.invalidate(&wanted);
    let second = cache.get(&wanted).await.unwrap();
    assert!(is_token(&first, 1) && is_token(&second, 2));
    // Conditional invalidation leaves a newer token alone.
    assert!(!cache.invalidate_token(&wanted, &first));
    assert!(cache.get(&wanted).await.unwrap().same_token(&second));
    assert!(cache.invalidate_token(&wanted, &second));
    assert!(is_token(&cache.get(&wanted).await.unwrap(), 3));
}

#[tokio::test]
async fn send_refreshes_once_on_401_and_retries_once() {
    let server = token_server().await;
    let api = Resource::start().await;
    api.refuse("tok-1");
    let cache = TokenCache::new(config(&server)).unwrap();
    let http = reqwest::Client::new();
    let response = cache
        .send(&scopes("a/b"), http.get(api.url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(api.requests(), 2);
    assert_eq!(server.calls(), 2);

    // Token 2 is cached and accepted: one call, no token request.
    let response = cache
        .send(&scopes("a/b"), http.get(api.url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!((api.requests(), server.calls()), (3, 2));
}

#[tokio::test]
async fn send_gives_up_after_one_retry() {
    let server = token_server().await;
    let api = Resource::start().await;
    api.refuse_tokens_starting_with("tok-");
    let cache = TokenCache::new(config(&server)).unwrap();
    let http = reqwest::Client::new();
    let response = cache
        .send(&scopes("a/b"), http.get(api.url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(api.requests(), 2);
    assert_eq!(server.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_first_caller_does_not_cancel_the_token_request() {
    let server = token_server().await;
    server.hold(true);
    let cache = TokenCache::new(patient(config(&server))).unwrap();
    let wanted = scopes("a/b");
    let first = spawn_get(&cache, &wanted);
    server.wait_for_calls(1).await;
    first.abort();
    let second = spawn_get(&cache, &wanted);
    server.release(1);
    let token = second.await.unwrap().unwrap();
    assert!(is_token(&token, 1));
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn scoped_handle_shares_the_entry() {
    let server = token_server().await;
    let cache = TokenCache::new(config(&server)).unwrap();
    let scoped = cache.scoped(&scopes("w/post w/get"));
    let a = scoped.get().await.unwrap();
    let b = cache.get(&scopes("w/get w/post")).await.unwrap();
    assert!(a.same_token(&b));
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn short_lived_tokens_are_not_refetched_on_every_call() {
    let server = token_server().await;
    server.set_expires_in(20); // shorter than the 30 s hard margin
    let (cache, clock) = cache_with_clock(&server);
    let wanted = scopes("a/b");
    cache.get(&wanted).await.unwrap();
    clock.advance(Duration::from_secs(5));
    assert!(is_token(&cache.get(&wanted).await.unwrap(), 1));
    assert_eq!(server.calls(), 1);
}
