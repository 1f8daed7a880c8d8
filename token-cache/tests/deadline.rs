//! The documented bound on `get`: a caller without a usable token gets an
//! answer by `retry.deadline` after the token request it waits for started,
//! even when the fetcher ignores cancellation, and the error says how many
//! attempts were made.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use token_cache::{
    Config, FetchFuture, FetchedToken, RetryPolicy, ScopeSet, TokenCache, TokenCacheError,
    TokenFetcher,
};

/// Blocks its thread instead of awaiting, so no timeout can cut it, then
/// succeeds: only the cache's last-resort guard can answer the caller in time.
struct Stubborn {
    calls: AtomicU32,
    blocks_for: Duration,
}

impl TokenFetcher for Stubborn {
    fn fetch<'a>(&'a self, _scopes: &'a ScopeSet) -> FetchFuture<'a> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(self.blocks_for);
            Ok(FetchedToken {
                access_token: "late-token".to_owned(),
                expires_in: Duration::from_secs(3600),
            })
        })
    }
}

async fn cut_at_the_deadline() -> (TokenCacheError, u32) {
    let mut config = Config::new(
        "https://auth.example.com/oauth2/token",
        "test-client",
        "test-secret-value".to_owned(),
    )
    .unwrap();
    // A request timeout far beyond the deadline: the bound must be the
    // deadline alone, not deadline + request timeout.
    config.request_timeout = Duration::from_secs(30);
    config.retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
        deadline: Duration::from_millis(400),
    };
    let fetcher = Arc::new(Stubborn {
        calls: AtomicU32::new(0),
        blocks_for: Duration::from_secs(3),
    });
    let cache = TokenCache::builder(config)
        .fetcher(Arc::clone(&fetcher) as Arc<dyn TokenFetcher>)
        .build()
        .unwrap();
    let error = cache
        .get(&ScopeSet::parse("a/b").unwrap())
        .await
        .expect_err("the late token arrives after the deadline");
    (error, fetcher.calls.load(Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetcher_ignoring_cancellation_is_cut_at_the_deadline_with_its_attempts() {
    let (error, calls) = cut_at_the_deadline().await;
    assert!(
        matches!(
            error,
            TokenCacheError::DeadlineExceeded {
                attempts: 1,
                last: None
            }
        ),
        "{error:?}"
    );
    assert_eq!(calls, 1);
}
