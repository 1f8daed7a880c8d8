//! Fault injection on the token endpoint while a token is still valid, beyond
//! tests/cache.rs (which covers 500s while valid, 429 and Retry-After on a cold
//! cache, hanging and unreachable endpoints on a cold cache): the endpoint
//! really down (connection refused) and back, slow past the request timeout,
//! rate limited with Retry-After, and a burst of 500s under many concurrent
//! callers. In every case callers keep the still-valid token without waiting,
//! the cache sends no request beyond its one background refresh (with its
//! retries) per backoff window, and it recovers without a restart.

mod support;

use std::time::{Duration, Instant};

use support::{
    TokenMock, TokenReply, clocked, config, eventually_token, is_token, scopes, token_server,
    wait_until,
};
use test_support::Switch;
use token_cache::{ScopeSet, TokenCache};

/// `callers` concurrent `get`s: each must return one of the tokens `ns`
/// without waiting for the endpoint (bounded by 2 s, below the faults' delays).
async fn all_served_at_once(cache: &TokenCache, wanted: &ScopeSet, callers: usize, ns: &[usize]) {
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (cache, wanted) = (cache.clone(), wanted.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let token = cache.get(&wanted).await.unwrap();
                (token, started.elapsed())
            })
        })
        .collect();
    for task in tasks {
        let (token, waited) = task.await.unwrap();
        assert!(
            ns.iter().any(|n| is_token(&token, *n)),
            "a valid token is served: {}",
            token.secret().split('-').nth(1).unwrap_or("?")
        );
        assert!(
            waited < Duration::from_secs(2),
            "a caller waited for the endpoint: {waited:?}"
        );
    }
}

/// Lets the background refresh run, then checks the request count is stable.
async fn settle_at(server: &TokenMock, requests: usize) {
    server.wait_for_calls(requests).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(server.calls(), requests, "no extra request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_down_while_token_valid_serves_it_then_recovers() {
    let server = token_server().await;
    let switch = Switch::start(&server.address()).await;
    let mut config = config(&server);
    config.token_url = format!("http://{}/oauth2/token", switch.addr())
        .parse()
        .unwrap();
    let (cache, clock) = clocked(config);
    let wanted = scopes("weather-api/get");
    assert!(is_token(&cache.get(&wanted).await.unwrap(), 1));

    switch.down().await;
    clock.advance(Duration::from_secs(3000)); // past the refresh point, still valid
    all_served_at_once(&cache, &wanted, 500, &[1]).await;
    // One background refresh, three refused attempts, none reached the server.
    for _ in 0..200 {
        if cache.stats().failed_token_requests >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = cache.stats();
    assert_eq!(
        (stats.token_requests, stats.failed_token_requests),
        (4, 3),
        "one refresh sequence of 3 attempts, not one per caller"
    );
    // Backing off: more callers, no more attempts.
    all_served_at_once(&cache, &wanted, 100, &[1]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(cache.stats().token_requests, 4);
    assert_eq!(server.calls(), 1);

    switch.up().await;
    clock.advance(Duration::from_secs(60));
    all_served_at_once(&cache, &wanted, 10, &[1, 2]).await;
    eventually_token(&cache, &wanted, 2).await;
    settle_at(&server, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_endpoint_past_the_timeout_while_token_valid_never_makes_callers_wait() {
    let server = token_server().await;
    let mut config = config(&server);
    config.request_timeout = Duration::from_millis(300);
    // Room for every attempt however slow the machine: the sequence always ends the same.
    config.retry.deadline = Duration::from_secs(10);
    let max_attempts = config.retry.max_attempts as usize;
    let (cache, clock) = clocked(config);
    let wanted = scopes("weather-api/get");
    assert!(is_token(&cache.get(&wanted).await.unwrap(), 1));

    server.set(TokenReply::Slow(Duration::from_secs(5)));
    clock.advance(Duration::from_secs(3000));
    all_served_at_once(&cache, &wanted, 300, &[1]).await;
    // The background refresh times out and retries; it never exceeds its attempts.
    wait_until("the refresh sequence to give up", || {
        cache.stats().failed_token_requests >= max_attempts as u64
    })
    .await;
    all_served_at_once(&cache, &wanted, 50, &[1]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        server.calls(),
        1 + max_attempts,
        "one refresh sequence, no more"
    );

    server.set(TokenReply::Issue);
    clock.advance(Duration::from_secs(60));
    let before = server.calls();
    all_served_at_once(&cache, &wanted, 10, &[1, before + 1]).await;
    eventually_token(&cache, &wanted, before + 1).await;
    settle_at(&server, before + 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_while_token_valid_waits_for_retry_after_then_recovers() {
    let server = token_server().await;
    let (cache, clock) = clocked(config(&server));
    let wanted = scopes("weather-api/get");
    assert!(is_token(&cache.get(&wanted).await.unwrap(), 1));

    server.set(TokenReply::TooManyRequests("120"));
    clock.advance(Duration::from_secs(3000));
    all_served_at_once(&cache, &wanted, 200, &[1]).await;
    settle_at(&server, 2).await;
    // Within Retry-After (by the cache's clock): served, and not one request more.
    for _ in 0..4 {
        clock.advance(Duration::from_secs(25));
        all_served_at_once(&cache, &wanted, 50, &[1]).await;
    }
    settle_at(&server, 2).await;

    server.set(TokenReply::Issue);
    clock.advance(Duration::from_secs(30)); // 130 s after the 429
    all_served_at_once(&cache, &wanted, 10, &[1, 3]).await;
    eventually_token(&cache, &wanted, 3).await;
    settle_at(&server, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_burst_under_concurrent_callers_costs_one_refresh_sequence_per_window() {
    let server = token_server().await;
    let (cache, clock) = clocked(config(&server));
    let wanted = scopes("weather-api/get");
    assert!(is_token(&cache.get(&wanted).await.unwrap(), 1));

    // A burst of five 500s, then healthy again.
    server.script(std::iter::repeat_n(TokenReply::ServerError, 5));
    clock.advance(Duration::from_secs(3000));
    all_served_at_once(&cache, &wanted, 1000, &[1]).await;
    settle_at(&server, 4).await; // 1 + three failed attempts, not 1,000
    all_served_at_once(&cache, &wanted, 200, &[1]).await;
    settle_at(&server, 4).await; // backing off

    clock.advance(Duration::from_secs(60));
    all_served_at_once(&cache, &wanted, 200, &[1, 7]).await;
    // Second sequence: 500, 500, then the endpoint answers: token 7.
    eventually_token(&cache, &wanted, 7).await;
    settle_at(&server, 7).await;
    assert_eq!(cache.stats().failed_token_requests, 5);
}
