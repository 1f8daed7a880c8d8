//! The shared level across a fleet: many independent caches (separate
//! `TokenCache`s and stores, nothing shared in memory but the SDK's HTTP
//! connector) on one DynamoDB table served by moto (one request at a time,
//! `tools/moto-serial.py`), and a token server on 127.0.0.1 that counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use test_support::ClosedPort;
use test_support::moto::Moto;
use token_cache::{
    Clock, Config, DynamoDbTokenStore, ManualClock, ScopeSet, SharedRecord, SharedSettings,
    SharedState, SharedTokenStore, StoreError, StoreFuture, SystemClock, TokenCache,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SECRET: &str = "fleet-secret";

/// A token endpoint: `fleet-token-N` for the Nth good answer; 429 with
/// `Retry-After: 10` while `throttled`.
struct Issuer {
    issued: AtomicU64,
    refused: AtomicU64,
    throttled: AtomicBool,
}

struct Issue(Arc<Issuer>);

impl Respond for Issue {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.0.throttled.load(Ordering::SeqCst) {
            self.0.refused.fetch_add(1, Ordering::SeqCst);
            return ResponseTemplate::new(429).insert_header("Retry-After", "10");
        }
        let n = self.0.issued.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": format!("fleet-token-{n}"),
            "token_type": "Bearer",
            "expires_in": 3600,
        }))
    }
}

/// The counting token endpoint on 127.0.0.1. It keeps no request log: the
/// responder counts (wiremock's drop-time verification of hundreds of recorded
/// requests was seen to spin here).
async fn token_server() -> (MockServer, Arc<Issuer>) {
    let server = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    let issuer = Arc::new(Issuer {
        issued: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        throttled: AtomicBool::new(false),
    });
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(Issue(Arc::clone(&issuer)))
        .mount(&server)
        .await;
    (server, issuer)
}

struct Fleet {
    _moto: Moto,
    endpoint: String,
    dynamodb: Client,
    table: String,
    server: MockServer,
    issuer: Arc<Issuer>,
}

fn scopes() -> ScopeSet {
    ScopeSet::parse("weather-api/post").unwrap()
}

async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("eu-west-2"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}

impl Fleet {
    async fn start() -> Self {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_test_writer()
            .try_init();
        let moto = Moto::start();
        let endpoint = moto.endpoint.clone();
        let dynamodb = Client::new(&sdk(&endpoint).await);
        let table = format!("token-cache-{}", fastrand::u64(..));
        let definition = template_table();
        assert_eq!(definition.key, "pk", "template.yaml TokenCacheTable key");
        dynamodb
            .create_table()
            .table_name(&table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(&definition.key)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(&definition.key)
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("create_table on moto");
        let (server, issuer) = token_server().await;
        Self {
            _moto: moto,
            endpoint,
            dynamodb,
            table,
            server,
            issuer,
        }
    }

    fn config(&self, secret: &str) -> Config {
        let mut config = Config::new(
            &format!("{}/oauth2/token", self.server.uri()),
            "fleet-client",
            secret.to_owned(),
        )
        .unwrap();
        // moto answers one request at a time, and slowly under 200 clients: a call
        // may queue for many seconds behind the others. DynamoDB serves them in
        // parallel in milliseconds; the defaults (1 s per call, 5 s of waiting, a
        // lease of the request timeout plus 1 s) are for that.
        config.retry.deadline = Duration::from_secs(120);
        config.request_timeout = Duration::from_secs(10);
        config
    }

    /// One process's cache: its own SDK client and store.
    async fn cache(&self, secret: &str, clock: Arc<dyn Clock>, endpoint: &str) -> TokenCache {
        let store =
            DynamoDbTokenStore::new(Client::new(&sdk(endpoint).await), &self.table).unwrap();
        TokenCache::builder(self.config(secret))
            .clock(clock)
            .shared_store(Arc::new(store))
            .shared_settings(SharedSettings {
                op_timeout: Duration::from_secs(60),
                max_wait: Duration::from_secs(100),
                lease: Some(Duration::from_secs(100)),
            })
            .build()
            .unwrap()
    }

    async fn process(&self) -> TokenCache {
        self.cache(SECRET, Arc::new(SystemClock), &self.endpoint.clone())
            .await
    }

    /// Token requests the server answered with a token / refused.
    fn issued(&self) -> u64 {
        self.issuer.issued.load(Ordering::SeqCst)
    }

    /// Every request the token endpoint answered (a token or a 429). Counted by
    /// the responder: the server keeps no request log (wiremock's drop-time
    /// verification of hundreds of recorded requests was seen to spin here).
    async fn token_requests(&self) -> usize {
        let answered =
            self.issuer.issued.load(Ordering::SeqCst) + self.issuer.refused.load(Ordering::SeqCst);
        usize::try_from(answered).unwrap_or(usize::MAX)
    }

    /// The one item of the table (the tests use one scope set).
    async fn item(&self) -> std::collections::HashMap<String, AttributeValue> {
        let items = self
            .dynamodb
            .scan()
            .table_name(&self.table)
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default();
        assert_eq!(items.len(), 1, "one item per scope set");
        items.into_iter().next().unwrap()
    }

    async fn put(&self, item: std::collections::HashMap<String, AttributeValue>) {
        self.dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
}

struct TableDefinition {
    key: String,
}

/// `Resources.TokenCacheTable` of template.yaml: the key the store expects,
/// on-demand billing and TTL on `expiresAt`.
fn template_table() -> TableDefinition {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let properties = &doc["Resources"]["TokenCacheTable"]["Properties"];
    assert_eq!(properties["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        properties["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some("expiresAt")
    );
    assert_eq!(
        properties["TimeToLiveSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
    let keys = properties["KeySchema"].as_sequence().unwrap();
    assert_eq!(keys.len(), 1, "a partition key only");
    assert_eq!(keys[0]["KeyType"].as_str(), Some("HASH"));
    let key = keys[0]["AttributeName"].as_str().unwrap().to_owned();
    let attributes = properties["AttributeDefinitions"].as_sequence().unwrap();
    assert!(
        attributes
            .iter()
            .any(|a| a["AttributeName"].as_str() == Some(&key)
                && a["AttributeType"].as_str() == Some("S"))
    );
    TableDefinition { key }
}

/// Gets a token in `count` fresh processes at once.
async fn cold_start(fleet: &Arc<Fleet>, count: usize, endpoint: &str) -> Vec<(String, TokenCache)> {
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let fleet = Arc::clone(fleet);
            let endpoint = endpoint.to_owned();
            tokio::spawn(async move {
                let cache = fleet.cache(SECRET, Arc::new(SystemClock), &endpoint).await;
                let token = cache
                    .get(&scopes())
                    .await
                    .expect("every process gets a token");
                (token.secret().to_owned(), cache)
            })
        })
        .collect();
    let mut out = Vec::with_capacity(count);
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_cold_processes_make_at_most_two_token_requests() {
    let fleet = Arc::new(Fleet::start().await);
    let endpoint = fleet.endpoint.clone();
    let processes = cold_start(&fleet, 200, &endpoint).await;

    let requests = fleet.token_requests().await;
    assert!(
        (1..=2).contains(&requests),
        "{requests} token requests for 200 processes"
    );
    let issued: Vec<String> = (1..=fleet.issued())
        .map(|n| format!("fleet-token-{n}"))
        .collect();
    let mut from_store = 0;
    for (token, cache) in &processes {
        assert!(issued.contains(token), "{token} was never issued");
        from_store += cache.stats().shared_tokens_used;
    }
    assert!(
        from_store >= 198,
        "{from_store} of 200 took the shared token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_table_unavailable_each_process_makes_its_own_request() {
    let fleet = Arc::new(Fleet::start().await);
    let closed = ClosedPort::new();
    let processes = cold_start(&fleet, 200, &format!("http://{}", closed.addr())).await;

    assert_eq!(fleet.token_requests().await, 200);
    for (_, cache) in &processes {
        let stats = cache.stats();
        assert_eq!(stats.token_requests, 1);
        assert_eq!(stats.shared_tokens_used, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_throttled_endpoint_during_the_fleet_refresh_fails_no_caller() {
    let fleet = Arc::new(Fleet::start().await);
    let clock = Arc::new(ManualClock::new());
    let endpoint = fleet.endpoint.clone();
    let mut caches = Vec::new();
    for _ in 0..20 {
        caches.push(fleet.cache(SECRET, clock.clone(), &endpoint).await);
    }
    for cache in &caches {
        assert_eq!(
            cache.get(&scopes()).await.unwrap().secret(),
            "fleet-token-1"
        );
    }
    assert_eq!(fleet.token_requests().await, 1);

    // Past every spread refresh point (at most 2880 s + 345 s), before the hard limit (3570 s).
    fleet.issuer.throttled.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(3300));
    for cache in &caches {
        assert_eq!(
            cache.get(&scopes()).await.unwrap().secret(),
            "fleet-token-1"
        );
    }
    // Processes that start now take the still valid token from the table.
    for _ in 0..20 {
        let cache = fleet.cache(SECRET, clock.clone(), &endpoint).await;
        assert_eq!(
            cache.get(&scopes()).await.unwrap().secret(),
            "fleet-token-1"
        );
        caches.push(cache);
    }
    // The refresh was tried (and refused) while everyone kept being served.
    wait_for(|| fleet.issuer.refused.load(Ordering::SeqCst) >= 1).await;
    for cache in &caches {
        assert_eq!(
            cache.get(&scopes()).await.unwrap().secret(),
            "fleet-token-1"
        );
    }

    // The endpoint recovers; after the Retry-After the fleet refreshes once.
    fleet.issuer.throttled.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(60));
    let mut rounds = 0;
    loop {
        let mut fresh = 0;
        for cache in &caches {
            let token = cache.get(&scopes()).await.expect("no caller fails");
            if token.secret() != "fleet-token-1" {
                fresh += 1;
            }
        }
        if fresh == caches.len() {
            break;
        }
        rounds += 1;
        assert!(rounds < 600, "{fresh} of {} refreshed", caches.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        fleet.issued() <= 3,
        "{} tokens issued for one fleet refresh",
        fleet.issued()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_of_another_secret_scope_set_or_time_or_tampered_are_never_used() {
    let fleet = Arc::new(Fleet::start().await);
    let first = fleet.process().await;
    assert_eq!(
        first.get(&scopes()).await.unwrap().secret(),
        "fleet-token-1"
    );
    let published = fleet.item().await;

    // Another client secret (another client, or a rotated secret): not readable.
    let other = fleet
        .cache(
            "another-secret",
            Arc::new(SystemClock),
            &fleet.endpoint.clone(),
        )
        .await;
    assert_eq!(
        other.get(&scopes()).await.unwrap().secret(),
        "fleet-token-2"
    );
    assert_eq!(other.stats().shared_tokens_used, 0);

    // Tampered bytes, times moved, or the entry copied to another scope set's key.
    let sealed = published["sealed"].as_b().unwrap().as_ref().to_vec();
    let mut flipped = sealed.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x80;
    let expires: u64 = published["expiresMs"].as_n().unwrap().parse().unwrap();
    let mut tampered = vec![];
    let mut with = |name: &str, value: AttributeValue| {
        let mut item = published.clone();
        item.insert(name.to_owned(), value);
        tampered.push(item);
    };
    with("sealed", AttributeValue::B(Blob::new(flipped)));
    with(
        "expiresMs",
        AttributeValue::N((expires + 86_400_000).to_string()),
    );
    let other_scopes_key = {
        let cache = fleet.process().await;
        let write = ScopeSet::parse("weather-api/write").unwrap();
        cache.get(&write).await.unwrap();
        let items = fleet
            .dynamodb
            .scan()
            .table_name(&fleet.table)
            .send()
            .await
            .unwrap();
        items
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| item["pk"].as_s().unwrap().clone())
            .find(|pk| pk != published["pk"].as_s().unwrap())
            .unwrap()
    };
    fleet
        .dynamodb
        .delete_item()
        .table_name(&fleet.table)
        .key("pk", AttributeValue::S(other_scopes_key.clone()))
        .send()
        .await
        .unwrap();
    let before = fleet.issued();
    for item in tampered {
        fleet.put(item).await;
        let cache = fleet.process().await;
        let token = cache.get(&scopes()).await.unwrap();
        assert_ne!(token.secret(), "fleet-token-1");
        assert_eq!(cache.stats().shared_tokens_used, 0);
    }
    assert_eq!(fleet.issued(), before + 2);
    let mut copied = published.clone();
    copied.insert("pk".into(), AttributeValue::S(other_scopes_key));
    fleet.put(copied).await;
    let cache = fleet.process().await;
    let write = ScopeSet::parse("weather-api/write").unwrap();
    assert_ne!(cache.get(&write).await.unwrap().secret(), "fleet-token-1");
    assert_eq!(cache.stats().shared_tokens_used, 0);

    // Expired: a process an hour later does not take the entry.
    fleet
        .dynamodb
        .delete_item()
        .table_name(&fleet.table)
        .key("pk", published["pk"].clone())
        .send()
        .await
        .unwrap();
    fleet.put(published.clone()).await;
    let late_clock = Arc::new(ManualClock::new());
    let late = fleet
        .cache(SECRET, late_clock.clone(), &fleet.endpoint.clone())
        .await;
    late_clock.advance(Duration::from_secs(3600));
    assert_ne!(late.get(&scopes()).await.unwrap().secret(), "fleet-token-1");
    assert_eq!(late.stats().shared_tokens_used, 0);
    // The same entry still serves a process on time (the checks above were the cause).
    fleet
        .dynamodb
        .delete_item()
        .table_name(&fleet.table)
        .key("pk", published["pk"].clone())
        .send()
        .await
        .unwrap();
    fleet.put(published).await;
    let on_time = fleet.process().await;
    assert_eq!(
        on_time.get(&scopes()).await.unwrap().secret(),
        "fleet-token-1"
    );
    assert_eq!(on_time.stats().shared_tokens_used, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_dropped_for_the_fleet_only_while_it_is_still_that_token() {
    let fleet = Arc::new(Fleet::start().await);
    let first = fleet.process().await;
    let token = first.get(&scopes()).await.unwrap();
    let first_entry = fleet.item().await;
    let second = fleet.process().await;
    let same = second.get(&scopes()).await.unwrap();
    assert_eq!(same.secret(), token.secret());
    assert_eq!(second.stats().shared_tokens_used, 1);

    // The resource server refused it (TokenCache::send's 401 path): the fleet's entry goes too.
    assert!(second.invalidate_token(&scopes(), &same));
    wait_for_async(|| async { !fleet.item().await.contains_key("sealed") }).await;
    let third = fleet.process().await;
    assert_eq!(
        third.get(&scopes()).await.unwrap().secret(),
        "fleet-token-2"
    );
    assert_eq!(third.stats().shared_tokens_used, 0);

    // Dropping the old token again must not remove the newer one now in the table.
    let store = DynamoDbTokenStore::new(fleet.dynamodb.clone(), &fleet.table).unwrap();
    let key = first_entry["pk"].as_s().unwrap();
    let old = first_entry["sealed"].as_b().unwrap().as_ref();
    assert!(
        !token_cache::SharedTokenStore::invalidate(&store, key, old)
            .await
            .unwrap()
    );
    let fourth = fleet.process().await;
    assert_eq!(
        fourth.get(&scopes()).await.unwrap().secret(),
        "fleet-token-2"
    );
    assert_eq!(fourth.stats().shared_tokens_used, 1);
}

async fn wait_for(condition: impl Fn() -> bool) {
    wait_for_async(|| std::future::ready(condition())).await;
}

async fn wait_for_async<F, Fut>(condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met in 30 s");
}

/// A table that never answers, or always refuses (throttled): every store call.
enum Faulty {
    Hangs,
    Throttled,
}

impl Faulty {
    fn fail<'a, T: Send + 'a>(&self) -> StoreFuture<'a, T> {
        match self {
            Self::Hangs => Box::pin(std::future::pending()),
            Self::Throttled => Box::pin(std::future::ready(Err(StoreError(
                "UpdateItem: ProvisionedThroughputExceededException".into(),
            )))),
        }
    }
}

impl SharedTokenStore for Faulty {
    fn load<'a>(&'a self, _: &'a str) -> StoreFuture<'a, SharedState> {
        self.fail()
    }
    fn try_lease<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: u64,
        _: u64,
        _: Option<u64>,
    ) -> StoreFuture<'a, bool> {
        self.fail()
    }
    fn publish<'a>(&'a self, _: &'a str, _: &'a SharedRecord) -> StoreFuture<'a, bool> {
        self.fail()
    }
    fn release<'a>(&'a self, _: &'a str, _: &'a str) -> StoreFuture<'a, ()> {
        self.fail()
    }
    fn invalidate<'a>(&'a self, _: &'a str, _: &'a [u8]) -> StoreFuture<'a, bool> {
        self.fail()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_or_throttled_table_leaves_each_process_as_without_one() {
    let (server, issuer) = token_server().await;
    for store in [Faulty::Hangs, Faulty::Throttled] {
        let store: Arc<dyn SharedTokenStore> = Arc::new(store);
        let before = issuer.issued.load(Ordering::SeqCst);
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                // The defaults: 1 s per store call, the token request's 10 s deadline.
                let cache = TokenCache::builder(
                    Config::new(
                        &format!("{}/oauth2/token", server.uri()),
                        "fleet-client",
                        SECRET.to_owned(),
                    )
                    .unwrap(),
                )
                .shared_store(Arc::clone(&store))
                .build()
                .unwrap();
                tokio::spawn(async move {
                    let token = cache
                        .get(&scopes())
                        .await
                        .expect("a token despite the table");
                    (token.secret().to_owned(), cache.stats())
                })
            })
            .collect();
        for task in tasks {
            let (token, stats) = task.await.unwrap();
            assert!(token.starts_with("fleet-token-"));
            assert_eq!(stats.token_requests, 1, "its own request");
            assert_eq!(stats.shared_tokens_used, 0);
        }
        assert_eq!(issuer.issued.load(Ordering::SeqCst) - before, 20);
    }
}
