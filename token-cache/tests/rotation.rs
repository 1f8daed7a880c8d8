//! A client secret rotated at its source without a restart: when the token
//! endpoint answers `invalid_client`, the cache re-reads the secret from the
//! caller's `SecretProvider` once (rate-limited, one read at a time) and
//! sends the request once more with the new value before failing.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{callers, fast_retries};
use test_support::token::{TokenMock, basic};
use token_cache::{
    ClientAuth, ClientSecret, Config, OAuthErrorKind, ScopeSet, SecretFuture, SecretProvider,
    TokenCache,
};
use wiremock::matchers::{body_string_contains, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CLIENT_ID: &str = "rotating-client";

/// The secret's source: a value the test changes, and a read counter.
#[derive(Default)]
struct Source {
    value: Mutex<String>,
    reads: AtomicUsize,
}

impl Source {
    fn set(&self, value: &str) {
        *self.value.lock().unwrap() = value.to_owned();
    }
}

impl SecretProvider for Source {
    fn client_secret(&self) -> SecretFuture<'_> {
        Box::pin(async move {
            self.reads.fetch_add(1, Ordering::SeqCst);
            // Slow enough that concurrent re-reads would overlap.
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(ClientSecret::new(self.value.lock().unwrap().clone()))
        })
    }
}

fn cache(server: &TokenMock, initial: &str, source: &Arc<Source>) -> TokenCache {
    let mut config = Config::new(&server.url(), CLIENT_ID, ClientSecret::new(initial)).unwrap();
    config.retry = fast_retries(Duration::from_secs(10));
    TokenCache::builder(config)
        .secret_provider(Arc::clone(source) as Arc<dyn SecretProvider>)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_secret_is_re_read_once_and_no_caller_fails() {
    let server = TokenMock::start().await;
    server.accept_only(CLIENT_ID, "old-secret");
    let source = Arc::new(Source::default());
    source.set("old-secret");
    let cache = cache(&server, "old-secret", &source);
    let scopes = ScopeSet::parse("weather-api/post").unwrap();
    assert_eq!(cache.get(&scopes).await.unwrap().secret(), "tok-1");
    assert_eq!(
        source.reads.load(Ordering::SeqCst),
        0,
        "read only after invalid_client"
    );

    // Rotation: the source and the endpoint move to the new secret together.
    source.set("new-secret");
    server.accept_only(CLIENT_ID, "new-secret");
    cache.invalidate(&scopes);
    let callers = callers(&cache, &scopes, 50);
    for caller in callers {
        let token = caller
            .await
            .unwrap()
            .expect("no caller fails across the rotation");
        assert_eq!(token.secret(), "tok-3");
    }
    assert_eq!(source.reads.load(Ordering::SeqCst), 1, "one re-read");
    // One rejected request with the old secret, one accepted (token 3) with the new.
    let stats = cache.stats();
    assert_eq!((stats.token_requests, stats.failed_token_requests), (3, 1));
    let sent: Vec<_> = server
        .recorded()
        .into_iter()
        .map(|r| r.authorization.unwrap())
        .collect();
    let (old, new) = (
        basic(CLIENT_ID, "old-secret"),
        basic(CLIENT_ID, "new-secret"),
    );
    assert_eq!(sent, [old.clone(), old, new]);
    // Later requests use the new secret from the first attempt.
    cache.invalidate(&scopes);
    cache.get(&scopes).await.unwrap();
    assert_eq!(cache.stats().failed_token_requests, 1);
}

#[tokio::test]
async fn a_wrong_secret_fails_after_one_re_read_and_re_reads_are_rate_limited() {
    let server = TokenMock::start().await;
    server.accept_only(CLIENT_ID, "the-right-one");
    let source = Arc::new(Source::default());
    source.set("still-wrong");
    let cache = cache(&server, "wrong", &source);
    let scopes = ScopeSet::parse("a/b").unwrap();

    // The re-read gives a new value that is wrong too: one retry, then the error.
    let error = cache.get(&scopes).await.unwrap_err();
    assert_eq!(error.oauth_kind(), Some(&OAuthErrorKind::InvalidClient));
    assert_eq!(source.reads.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats().token_requests, 2);

    // Within the reload interval (30 s by default) the source is not read again.
    let error = cache.get(&scopes).await.unwrap_err();
    assert_eq!(error.oauth_kind(), Some(&OAuthErrorKind::InvalidClient));
    assert_eq!(source.reads.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats().token_requests, 3);
}

#[tokio::test]
async fn an_unchanged_secret_at_the_source_means_no_second_request() {
    let server = TokenMock::start().await;
    server.accept_only(CLIENT_ID, "the-right-one");
    let source = Arc::new(Source::default());
    source.set("wrong");
    let cache = cache(&server, "wrong", &source);
    let error = cache
        .get(&ScopeSet::parse("a/b").unwrap())
        .await
        .unwrap_err();
    assert_eq!(error.oauth_kind(), Some(&OAuthErrorKind::InvalidClient));
    assert_eq!(source.reads.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats().token_requests, 1);
}

#[tokio::test]
async fn the_re_read_secret_goes_in_the_body_with_body_authentication() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("client_secret=new-secret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "ok",
            "token_type": "Bearer",
            "expires_in": 3600,
        })))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(serde_json::json!({"error": "invalid_client"})),
        )
        .mount(&server)
        .await;
    let source = Arc::new(Source::default());
    source.set("new-secret");
    let mut config = Config::new(
        &format!("{}/oauth2/token", server.uri()),
        CLIENT_ID,
        ClientSecret::new("old-secret"),
    )
    .unwrap();
    config.client_auth = ClientAuth::RequestBody;
    let cache = TokenCache::builder(config)
        .secret_provider(Arc::clone(&source) as Arc<dyn SecretProvider>)
        .build()
        .unwrap();
    assert_eq!(
        cache
            .get(&ScopeSet::parse("a/b").unwrap())
            .await
            .unwrap()
            .secret(),
        "ok"
    );
    assert_eq!(cache.stats().token_requests, 2);
}
