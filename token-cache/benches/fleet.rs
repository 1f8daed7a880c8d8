//! A cold container's first `get`: its own token request to a local token
//! server (HTTP on 127.0.0.1, the real `HttpFetcher`), against taking a warm
//! shared entry (one read and one AES-256-GCM open) from an in-memory store
//! and from DynamoDB's API served locally by moto. Each measured call is the
//! first `get` of a cache built (unmeasured) just before it.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use token_cache::{
    Config, DynamoDbTokenStore, ScopeSet, SharedRecord, SharedState, SharedTokenStore, StoreFuture,
    TokenCache,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A store in one process's memory: what the shared level costs without the network.
#[derive(Default)]
struct MemoryStore(Mutex<HashMap<String, SharedState>>);

impl MemoryStore {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, SharedState>) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }
}

impl SharedTokenStore for MemoryStore {
    fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, SharedState> {
        let state = self.with(|m| m.get(key).cloned().unwrap_or_default());
        Box::pin(async move { Ok(state) })
    }

    fn try_lease<'a>(
        &'a self,
        key: &'a str,
        _holder: &'a str,
        now_ms: u64,
        until_ms: u64,
        seen_issued_ms: Option<u64>,
    ) -> StoreFuture<'a, bool> {
        let taken = self.with(|m| {
            let state = m.entry(key.to_owned()).or_default();
            let free = state.lease_until_ms.is_none_or(|until| until < now_ms);
            let unchanged = state.record.as_ref().map(|r| r.issued_ms) <= seen_issued_ms;
            if free && unchanged {
                state.lease_until_ms = Some(until_ms);
            }
            free && unchanged
        });
        Box::pin(async move { Ok(taken) })
    }

    fn publish<'a>(&'a self, key: &'a str, record: &'a SharedRecord) -> StoreFuture<'a, bool> {
        let written = self.with(|m| {
            let state = m.entry(key.to_owned()).or_default();
            let newer = state
                .record
                .as_ref()
                .is_none_or(|r| r.issued_ms < record.issued_ms);
            if newer {
                state.record = Some(record.clone());
                state.lease_until_ms = None;
            }
            newer
        });
        Box::pin(async move { Ok(written) })
    }

    fn release<'a>(&'a self, key: &'a str, _holder: &'a str) -> StoreFuture<'a, ()> {
        self.with(|m| m.entry(key.to_owned()).or_default().lease_until_ms = None);
        Box::pin(async { Ok(()) })
    }

    fn invalidate<'a>(&'a self, key: &'a str, sealed: &'a [u8]) -> StoreFuture<'a, bool> {
        let removed = self.with(|m| {
            let state = m.entry(key.to_owned()).or_default();
            let same = state.record.as_ref().is_some_and(|r| r.sealed == sealed);
            if same {
                state.record = None;
            }
            same
        });
        Box::pin(async move { Ok(removed) })
    }
}

fn config(server: &MockServer) -> Config {
    Config::new(
        &format!("{}/oauth2/token", server.uri()),
        "bench-client",
        "bench-secret".to_owned(),
    )
    .expect("config")
}

fn cold_start(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let scopes = ScopeSet::parse("weather-api/post").expect("scopes");
    let server = runtime.block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth2/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": "e".repeat(1000),
                "token_type": "Bearer",
                "expires_in": 3600,
            })))
            .mount(&server)
            .await;
        server
    });
    let moto = test_support::moto::Moto::start();
    let (memory, dynamodb): (Arc<dyn SharedTokenStore>, Arc<dyn SharedTokenStore>) = runtime
        .block_on(async {
            let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .endpoint_url(&moto.endpoint)
                .region(aws_config::Region::new("eu-west-2"))
                .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                    "test", "test", None, None, "bench",
                ))
                .load()
                .await;
            let client = aws_sdk_dynamodb::Client::new(&sdk);
            client
                .create_table()
                .table_name("bench")
                .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
                .attribute_definitions(
                    aws_sdk_dynamodb::types::AttributeDefinition::builder()
                        .attribute_name("pk")
                        .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                        .build()
                        .expect("attribute"),
                )
                .key_schema(
                    aws_sdk_dynamodb::types::KeySchemaElement::builder()
                        .attribute_name("pk")
                        .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                        .build()
                        .expect("key"),
                )
                .send()
                .await
                .expect("create_table");
            let memory: Arc<dyn SharedTokenStore> = Arc::new(MemoryStore::default());
            let dynamodb: Arc<dyn SharedTokenStore> =
                Arc::new(DynamoDbTokenStore::new(client, "bench").expect("table"));
            (memory, dynamodb)
        });
    let build = |store: Option<&Arc<dyn SharedTokenStore>>| {
        let builder = TokenCache::builder(config(&server));
        match store {
            Some(store) => builder.shared_store(Arc::clone(store)),
            None => builder,
        }
        .build()
        .expect("cache")
    };
    // Warm both stores: one process has published its token.
    for store in [&memory, &dynamodb] {
        let cache = build(Some(store));
        runtime.block_on(cache.get(&scopes)).expect("first token");
    }

    let mut group = c.benchmark_group("cold_first_get");
    group.measurement_time(Duration::from_secs(5));
    let cases: [(&str, Option<&Arc<dyn SharedTokenStore>>); 3] = [
        ("token_request", None),
        ("shared_entry_in_memory", Some(&memory)),
        ("shared_entry_dynamodb_moto", Some(&dynamodb)),
    ];
    for (name, store) in cases {
        group.bench_function(name, |b| {
            b.iter_batched(
                || build(store),
                |cache| {
                    let token = runtime.block_on(cache.get(&scopes)).expect("token");
                    let from_store = cache.stats().shared_tokens_used;
                    assert_eq!(from_store, u64::from(store.is_some()), "{name}");
                    // Dropped after the measurement.
                    black_box((token, cache))
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, cold_start);
criterion_main!(benches);
