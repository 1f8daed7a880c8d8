//! No token and no secret ever reaches a log line: capture everything the
//! crate logs (TRACE level) through success, refresh and failure paths.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use support::{Resource, TOKEN_MARKER, TokenReply, config, token_server};
use token_cache::{ClientAuth, ManualClock, ScopeSet, TokenCache};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

const SECRET: &str = "test-secret-value";

#[tokio::test]
async fn tokens_and_secrets_never_reach_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // Global, not `set_default`: tracing caches each callsite's interest for the whole
    // process, and a thread-local subscriber races with any other thread that logs
    // first. This binary holds this one test, so the capture is its alone.
    tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");

    let server = token_server().await;
    let clock = Arc::new(ManualClock::new());
    let cache = TokenCache::builder(config(&server))
        .clock(clock.clone())
        .build()
        .unwrap();
    let wanted = ScopeSet::parse("weather-api/get").unwrap();

    // Success, cache hit, background refresh.
    let first = cache.get(&wanted).await.unwrap();
    cache.get(&wanted).await.unwrap();
    clock.advance(Duration::from_secs(3000));
    cache.get(&wanted).await.unwrap();
    server.wait_for_calls(2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    // 401 from the resource server, refresh and retry.
    let api = Resource::start().await;
    api.refuse_tokens_starting_with(TOKEN_MARKER);
    let http = reqwest::Client::new();
    cache.send(&wanted, http.get(api.url())).await.unwrap();

    // Failures: 500 (retried), invalid_client, garbage, narrower grant.
    for mode in [
        TokenReply::ServerError,
        TokenReply::InvalidClient(401),
        TokenReply::Garbage,
        TokenReply::NarrowScope,
    ] {
        server.set(mode);
        cache.invalidate(&wanted);
        let err = cache
            .get(&ScopeSet::parse("weather-api/get weather-api/post").unwrap())
            .await;
        assert!(err.is_err());
        let _ = cache.get(&wanted).await;
    }

    // Client secret in the body.
    let mut body_config = config(&server);
    body_config.client_auth = ClientAuth::RequestBody;
    server.set(TokenReply::Issue);
    let body_cache = TokenCache::new(body_config.clone()).unwrap();
    body_cache.get(&wanted).await.unwrap();

    // What a careless caller might print.
    tracing::info!(?cache, ?first, %first, config = ?body_config, "debug output of the public types");

    let logs = captured.text();
    assert!(logs.contains("token requested"), "{logs}");
    assert!(logs.contains("served from cache"), "{logs}");
    assert!(logs.contains("refreshed in background"), "{logs}");
    assert!(logs.contains("token request failed"), "{logs}");
    assert!(logs.contains("invalid_client"), "{logs}");
    assert!(logs.contains("resource server answered 401"), "{logs}");

    let basic = base64::engine::general_purpose::STANDARD.encode(format!("test-client:{SECRET}"));
    for leak in [SECRET, TOKEN_MARKER, basic.as_str(), "Bearer ", "Basic "] {
        assert!(
            !logs.contains(leak),
            "{leak:?} leaked into the logs:\n{logs}"
        );
    }
}
