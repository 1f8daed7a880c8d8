//! One contract, two stores: every case here runs against the [`InMemoryStore`] and
//! against the [`DynamoDbStore`] on a moto server this binary starts on 127.0.0.1
//! (`tools/moto-serial.py`: one request at a time, so concurrency cases test the store,
//! not moto's own races). moto must be installed (`scripts/setup-tools`).

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use support::moto::{self, Moto};
use weather_api::event::{SEED_DUDLEY_ID, SEED_MALIK_ID};
use weather_api::{
    ApiError, Claim, Clock, Created, DynamoDbStore, Event, EventId, EventStore, IdempotencyKey,
    InMemoryStore, ManualClock, NewEvent, PageLimit, SystemClock,
};

/// The moto server shared by the cases of this binary (each case has its own table).
/// It exits with the test process: its standard input closes.
fn shared_moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(Moto::start)
}

/// Everything a case needs from a store kind.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Memory,
    Dynamo,
}

/// A store of `kind` on `clock`: seeded (the in-memory one as a new container, the
/// DynamoDB one as a new table on first open).
async fn open(kind: Kind, clock: Arc<dyn Clock>) -> AnyStore {
    match kind {
        Kind::Memory => AnyStore::Memory(InMemoryStore::seeded_with_clock(clock)),
        Kind::Dynamo => {
            let client = moto::client(&shared_moto().endpoint).await;
            let table = moto::create_table(&client).await;
            AnyStore::Dynamo(DynamoDbStore::open(client, table, clock).await.unwrap())
        }
    }
}

/// Either store, behind the one trait.
enum AnyStore {
    Memory(InMemoryStore),
    Dynamo(DynamoDbStore),
}

impl EventStore for AnyStore {
    async fn page(
        &self,
        after: Option<weather_api::OrderKey>,
        limit: PageLimit,
    ) -> Result<weather_api::Page, ApiError> {
        match self {
            Self::Memory(s) => s.page(after, limit).await,
            Self::Dynamo(s) => s.page(after, limit).await,
        }
    }
    async fn get(&self, id: EventId) -> Result<Option<Event>, ApiError> {
        match self {
            Self::Memory(s) => s.get(id).await,
            Self::Dynamo(s) => s.get(id).await,
        }
    }
    async fn create(&self, event: Event, claim: Option<Claim>) -> Result<Created, ApiError> {
        match self {
            Self::Memory(s) => s.create(event, claim).await,
            Self::Dynamo(s) => s.create(event, claim).await,
        }
    }
    async fn delete(&self, id: EventId) -> Result<bool, ApiError> {
        match self {
            Self::Memory(s) => s.delete(id).await,
            Self::Dynamo(s) => s.delete(id).await,
        }
    }
    fn page_key(&self) -> &weather_api::PageKey {
        match self {
            Self::Memory(s) => s.page_key(),
            Self::Dynamo(s) => s.page_key(),
        }
    }
}

fn event(name: &str) -> Event {
    NewEvent::new(name.to_owned(), "2022-01-01", "2022-01-02")
        .unwrap()
        .into_event(EventId::random(), Some("client".into()))
}

fn claim(caller: &str, key: &str, event: &Event, clock: &dyn Clock) -> Claim {
    let key = IdempotencyKey::parse(key.as_bytes()).unwrap();
    let location = format!("/events/{}", event.id);
    Claim::new(caller, &key, event, location, clock.now_secs())
}

fn ids(events: &[Event]) -> Vec<EventId> {
    events.iter().map(|e| e.id).collect()
}

fn limit(n: usize) -> PageLimit {
    PageLimit::new(n).unwrap()
}

fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000),
    ))
}

/// Every page from the start with `limit`: the events, and how many pages.
async fn walk(store: &impl EventStore, limit: PageLimit) -> (Vec<Event>, usize) {
    let mut events = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = store.page(after, limit).await.unwrap();
        pages += 1;
        assert!(page.events.len() <= limit.get());
        events.extend(page.events);
        match page.next {
            Some(next) => after = Some(next),
            None => return (events, pages),
        }
    }
}

// ------------------------------------------------------------------------------------
// The cases, each run for both kinds (see the `contract!` list at the end).
// ------------------------------------------------------------------------------------

async fn seeded_with_the_two_seed_events_in_order(kind: Kind) {
    let store = open(kind, Arc::new(SystemClock)).await;
    assert_eq!(
        ids(&store.list().await.unwrap()),
        [SEED_DUDLEY_ID, SEED_MALIK_ID]
    );
}

async fn oldest_first_and_stable(kind: Kind) {
    let clock = manual_clock();
    let store = open(kind, clock.clone()).await;
    let mut expected = vec![SEED_DUDLEY_ID, SEED_MALIK_ID];
    for name in ["a", "b", "c", "d"] {
        clock.advance(Duration::from_millis(1));
        let e = event(name);
        expected.push(e.id);
        store.insert(e).await.unwrap();
    }
    assert_eq!(ids(&store.list().await.unwrap()), expected);
    // The same again, page by page of one.
    let (events, pages) = walk(&store, limit(1)).await;
    assert_eq!(ids(&events), expected);
    assert_eq!(pages, 6, "no empty last page");
}

async fn insert_get_delete_round_trip(kind: Kind) {
    let store = open(kind, Arc::new(SystemClock)).await;
    let storm = event("Storm Arwen");
    store.insert(storm.clone()).await.unwrap();
    assert_eq!(store.get(storm.id).await.unwrap(), Some(storm.clone()));
    assert!(store.delete(storm.id).await.unwrap());
    assert_eq!(store.get(storm.id).await.unwrap(), None);
    assert!(!store.delete(storm.id).await.unwrap(), "second delete");
    assert!(
        !store.delete(EventId::random()).await.unwrap(),
        "never there"
    );
    assert_eq!(store.list().await.unwrap().len(), 2);
}

async fn duplicate_id_refused_and_first_kept(kind: Kind) {
    let store = open(kind, Arc::new(SystemClock)).await;
    let first = event("first");
    let mut second = event("second");
    second.id = first.id;
    store.insert(first.clone()).await.unwrap();
    assert!(matches!(
        store.insert(second).await,
        Err(ApiError::DuplicateId(id)) if id == first.id
    ));
    let listed = store.list().await.unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[2], first);
    assert_eq!(store.get(first.id).await.unwrap(), Some(first));
}

async fn pages_split_exactly(kind: Kind) {
    let clock = manual_clock();
    let store = open(kind, clock.clone()).await;
    for i in 0..118 {
        clock.advance(Duration::from_micros(1));
        store.insert(event(&format!("e{i}"))).await.unwrap();
    }
    // 120 events: 50 + 50 + 20.
    let (events, pages) = walk(&store, limit(50)).await;
    assert_eq!(pages, 3);
    assert_eq!(events.len(), 120);
    assert_eq!(events, store.list().await.unwrap());
    // A full last page has no next page either.
    let (events, pages) = walk(&store, limit(40)).await;
    assert_eq!((events.len(), pages), (120, 3));
    let (events, pages) = walk(&store, PageLimit::max()).await;
    assert_eq!((events.len(), pages), (120, 2));
}

async fn walk_under_concurrent_change_sees_each_stable_event_once(kind: Kind) {
    let store = Arc::new(open(kind, Arc::new(SystemClock)).await);
    let mut stable: HashSet<EventId> = [SEED_DUDLEY_ID, SEED_MALIK_ID].into();
    for i in 0..40 {
        let e = event(&format!("stable {i}"));
        stable.insert(e.id);
        store.insert(e).await.unwrap();
    }
    // Churn: create and delete other events while the walks run.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut rounds = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let e = event("churn");
                store.insert(e.clone()).await.unwrap();
                tokio::task::yield_now().await;
                assert!(store.delete(e.id).await.unwrap());
                rounds += 1;
            }
            rounds
        })
    };
    for _ in 0..3 {
        // Between pages, also inline (the in-memory store never yields to the churn
        // task): a new event, and the previous page's new event deleted again.
        let mut events = Vec::new();
        let mut after = None;
        let mut inline: Option<EventId> = None;
        loop {
            let page = store.page(after, limit(7)).await.unwrap();
            events.extend(page.events);
            if let Some(id) = inline.take() {
                assert!(store.delete(id).await.unwrap());
            }
            let e = event("inline churn");
            inline = Some(e.id);
            store.insert(e).await.unwrap();
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        if let Some(id) = inline {
            assert!(store.delete(id).await.unwrap());
        }
        let mut seen: HashMap<EventId, usize> = HashMap::new();
        for e in &events {
            *seen.entry(e.id).or_default() += 1;
        }
        assert!(seen.values().all(|&n| n == 1), "an event listed twice");
        for id in &stable {
            assert_eq!(seen.get(id), Some(&1), "stable event {id} missed");
        }
        assert!(
            events.iter().any(|e| e.name == "inline churn"),
            "events created during the walk after its position are seen"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    churn.await.unwrap();
    let ids: HashSet<_> = store.list().await.unwrap().iter().map(|e| e.id).collect();
    assert_eq!(ids, stable);
}

async fn concurrent_inserts_and_deletes_lose_nothing(kind: Kind) {
    let store = Arc::new(open(kind, Arc::new(SystemClock)).await);
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut kept = Vec::new();
                for i in 0..10 {
                    let e = event(&format!("task {task} event {i}"));
                    let id = e.id;
                    store.insert(e).await.unwrap();
                    if i % 2 == 0 {
                        assert!(store.delete(id).await.unwrap(), "lost {id}");
                    } else {
                        kept.push(id);
                    }
                }
                kept
            })
        })
        .collect();
    let mut expected: HashSet<_> = [SEED_DUDLEY_ID, SEED_MALIK_ID].into();
    for task in tasks {
        expected.extend(task.await.unwrap());
    }
    let listed = store.list().await.unwrap();
    let listed_ids: HashSet<_> = listed.iter().map(|e| e.id).collect();
    assert_eq!(listed.len(), listed_ids.len(), "an event is stored twice");
    assert_eq!(listed_ids, expected);
}

async fn idempotent_repeat_replays_and_stores_nothing(kind: Kind) {
    let clock = manual_clock();
    let store = open(kind, clock.clone()).await;
    let first = event("Storm Arwen");
    let c = claim("client", "key-1", &first, &*clock);
    assert_eq!(
        store.create(first.clone(), Some(c.clone())).await.unwrap(),
        Created::Stored
    );
    // The retry carries a new random id and the same fields.
    let mut retry = first.clone();
    retry.id = EventId::random();
    let retry_claim = claim("client", "key-1", &retry, &*clock);
    assert_eq!(
        store.create(retry, Some(retry_claim)).await.unwrap(),
        Created::Replayed {
            event: first.clone(),
            location: c.location.clone(),
        }
    );
    // Same key, another event: refused, nothing stored.
    let other = event("Storm Barra");
    let other_claim = claim("client", "key-1", &other, &*clock);
    assert!(matches!(
        store.create(other.clone(), Some(other_claim)).await,
        Err(ApiError::IdempotencyKeyReused)
    ));
    // The same key from another caller is another key.
    clock.advance(Duration::from_millis(1));
    let theirs = event("Storm Arwen");
    let their_claim = claim("other-client", "key-1", &theirs, &*clock);
    assert_eq!(
        store
            .create(theirs.clone(), Some(their_claim))
            .await
            .unwrap(),
        Created::Stored
    );
    assert_eq!(
        ids(&store.list().await.unwrap()),
        [SEED_DUDLEY_ID, SEED_MALIK_ID, first.id, theirs.id]
    );
    assert_eq!(store.get(other.id).await.unwrap(), None);
}

async fn idempotency_keys_forgotten_after_24_hours(kind: Kind) {
    let clock = manual_clock();
    let store = open(kind, clock.clone()).await;
    let first = event("Storm Arwen");
    let c = claim("client", "key-ttl", &first, &*clock);
    store.create(first.clone(), Some(c)).await.unwrap();
    // Just inside 24 hours: still a repeat.
    clock.advance(Duration::from_secs(24 * 3600 - 1));
    let mut again = first.clone();
    again.id = EventId::random();
    let c = claim("client", "key-ttl", &again, &*clock);
    assert!(matches!(
        store.create(again.clone(), Some(c)).await.unwrap(),
        Created::Replayed { .. }
    ));
    // Past it: a new request (and even another event) with that key is new.
    clock.advance(Duration::from_secs(2));
    let later = event("Storm Barra");
    let c = claim("client", "key-ttl", &later, &*clock);
    assert_eq!(
        store.create(later.clone(), Some(c)).await.unwrap(),
        Created::Stored
    );
    assert_eq!(store.list().await.unwrap().len(), 4);
}

async fn concurrent_requests_with_one_key_create_one_event(kind: Kind) {
    let store = Arc::new(open(kind, Arc::new(SystemClock)).await);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let e = event("Storm Arwen");
                let c = claim("client", "one-key", &e, &SystemClock);
                let id = e.id;
                (id, store.create(e, Some(c)).await.unwrap())
            })
        })
        .collect();
    let mut stored = Vec::new();
    let mut replayed = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (id, Created::Stored) => stored.push(id),
            (_, Created::Replayed { event, .. }) => replayed.push(event.id),
        }
    }
    assert_eq!(stored.len(), 1, "exactly one request stores");
    assert_eq!(replayed.len(), 7);
    assert!(
        replayed.iter().all(|id| *id == stored[0]),
        "all replay the one event"
    );
    assert_eq!(
        ids(&store.list().await.unwrap()),
        [SEED_DUDLEY_ID, SEED_MALIK_ID, stored[0]]
    );
}

async fn page_tokens_fit_only_their_store(kind: Kind) {
    let a = open(kind, Arc::new(SystemClock)).await;
    let b = open(kind, Arc::new(SystemClock)).await;
    let page = a.page(None, limit(1)).await.unwrap();
    let token = a.page_key().seal(page.next.unwrap());
    let after = a.page_key().open(&token).unwrap();
    assert_eq!(
        ids(&a.page(Some(after), limit(1)).await.unwrap().events),
        [SEED_MALIK_ID]
    );
    assert!(matches!(
        b.page_key().open(&token),
        Err(ApiError::InvalidPageToken)
    ));
}

/// Runs each case once per store kind, as `in_memory::case` and `dynamodb::case`.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod in_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::Kind::Memory).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::Kind::Dynamo).await;
                }
            )*
        }
    };
}

contract! {
    seeded_with_the_two_seed_events_in_order,
    oldest_first_and_stable,
    insert_get_delete_round_trip,
    duplicate_id_refused_and_first_kept,
    pages_split_exactly,
    walk_under_concurrent_change_sees_each_stable_event_once,
    concurrent_inserts_and_deletes_lose_nothing,
    idempotent_repeat_replays_and_stores_nothing,
    idempotency_keys_forgotten_after_24_hours,
    concurrent_requests_with_one_key_create_one_event,
    page_tokens_fit_only_their_store,
}

/// What only a table has: seeding once across cold starts, and failures of the table.
mod dynamodb_only {
    use std::collections::HashSet;
    use std::sync::Arc;
    use std::time::Duration;

    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::types::AttributeValue;
    use lambda_http::http::StatusCode;
    use test_support::Switch;
    use weather_api::event::{SEED_DUDLEY_ID, SEED_MALIK_ID};
    use weather_api::{Api, ApiError, Config, DynamoDbStore, EventId, EventStore, SystemClock};

    use super::support::moto::{self, Moto};
    use super::support::{error_message, fixture, send};
    use super::{claim, event, ids, shared_moto};

    async fn open(client: &Client, table: &str) -> DynamoDbStore {
        DynamoDbStore::open(client.clone(), table, Arc::new(SystemClock))
            .await
            .unwrap()
    }

    /// Every event has both its items (by id and in the list), and every idempotency
    /// claim's event was stored: nothing is ever half-written.
    async fn assert_whole(client: &Client, table: &str) -> HashSet<String> {
        let items = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default();
        let text = |item: &std::collections::HashMap<String, AttributeValue>, name: &str| {
            item[name].as_s().unwrap().clone()
        };
        let mut by_id = HashSet::new();
        let mut listed = HashSet::new();
        let mut claimed = HashSet::new();
        for item in &items {
            let pk = text(item, "pk");
            if pk.starts_with("EVENT#") {
                by_id.insert(text(item, "id"));
            } else if pk == "EVENTS" {
                listed.insert(text(item, "id"));
            } else if pk.starts_with("IDEMPOTENCY#") {
                claimed.insert(item["event"].as_m().unwrap()["id"].as_s().unwrap().clone());
            }
        }
        assert_eq!(
            by_id, listed,
            "an event without its list entry, or the reverse"
        );
        assert!(claimed.is_subset(&by_id), "a claim without its event");
        by_id
    }

    #[tokio::test]
    async fn seeded_once_a_deleted_seed_event_stays_deleted_across_cold_starts() {
        let client = moto::client(&shared_moto().endpoint).await;
        let table = moto::create_table(&client).await;
        let first = open(&client, &table).await;
        assert_eq!(
            ids(&first.list().await.unwrap()),
            [SEED_DUDLEY_ID, SEED_MALIK_ID]
        );
        assert!(first.delete(SEED_MALIK_ID).await.unwrap());
        let token = first.page_key().seal(weather_api::OrderKey {
            at: 0,
            id: SEED_DUDLEY_ID,
        });
        for _ in 0..5 {
            let cold = open(&client, &table).await;
            assert_eq!(ids(&cold.list().await.unwrap()), [SEED_DUDLEY_ID]);
            // Every container of the deployment opens the others' page tokens.
            assert!(cold.page_key().open(&token).is_ok());
        }
        assert_whole(&client, &table).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_first_starts_seed_once() {
        let client = moto::client(&shared_moto().endpoint).await;
        let table = moto::create_table(&client).await;
        let starts: Vec<_> = (0..6)
            .map(|_| {
                let (client, table) = (client.clone(), table.clone());
                tokio::spawn(async move { open(&client, &table).await })
            })
            .collect();
        let mut stores = Vec::new();
        for start in starts {
            stores.push(start.await.unwrap());
        }
        let token = stores[0].page_key().seal(weather_api::OrderKey {
            at: 0,
            id: SEED_DUDLEY_ID,
        });
        for store in &stores {
            assert!(store.page_key().open(&token).is_ok(), "one key for all");
        }
        assert_eq!(
            ids(&stores[0].list().await.unwrap()),
            [SEED_DUDLEY_ID, SEED_MALIK_ID]
        );
        assert_eq!(assert_whole(&client, &table).await.len(), 2);
    }

    #[tokio::test]
    async fn missing_table_fails_open_without_creating_anything() {
        let client = moto::client(&shared_moto().endpoint).await;
        let err = DynamoDbStore::open(client, "no-such-table", Arc::new(SystemClock))
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::Store(_)), "{err:?}");
        assert!(err.to_string().contains("ResourceNotFound"), "{err}");
    }

    /// The four requests every store failure must answer with a clean 503.
    async fn assert_503_through_the_handler(api: &Api<DynamoDbStore>) {
        for name in [
            "apigw-request-list-events.json",
            "apigw-request-get-event.json",
            "apigw-request-create-event.json",
            "apigw-request-create-event-idempotent.json",
            "apigw-request-delete-event.json",
        ] {
            // Well inside the function's 10 s timeout: the SDK's retries are bounded.
            let reply = tokio::time::timeout(Duration::from_secs(9), send(api, fixture(name)))
                .await
                .unwrap_or_else(|_| panic!("{name}: no answer within the function timeout"));
            assert_eq!(
                reply.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{name}: {}",
                reply.body
            );
            assert_eq!(reply.headers["retry-after"], "1", "{name}");
            let message = error_message(&reply);
            assert_eq!(
                message,
                "the event store is unavailable, retry after a second"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn table_unreachable_is_503_then_everything_is_as_before() {
        let moto = shared_moto();
        let switch = Switch::start(moto.host_port()).await;
        let client = moto::client(&format!("http://{}", switch.addr())).await;
        let table = moto::create_table(&client).await;
        let api = Api::new(open(&client, &table).await, Config::default());
        let kept = event("kept");
        api.store().insert(kept.clone()).await.unwrap();
        let before = api.store().list().await.unwrap();

        // Creates in flight while the table goes away: each is whole or absent.
        let writers: Vec<_> = (0..6)
            .map(|i| {
                let store = api.store().clone();
                tokio::spawn(async move {
                    let e = event(&format!("in flight {i}"));
                    let c = claim("client", &format!("flight-{i}"), &e, &SystemClock);
                    store.create(e, Some(c)).await
                })
            })
            .collect();
        switch.down().await;
        for writer in writers {
            match writer.await.unwrap() {
                Ok(_) | Err(ApiError::StoreUnavailable(_)) => {}
                Err(other) => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            api.store().get(kept.id).await,
            Err(ApiError::StoreUnavailable(_))
        ));
        assert_503_through_the_handler(&api).await;

        switch.up().await;
        let after = api.store().list().await.unwrap();
        assert!(
            before.iter().all(|e| after.contains(e)),
            "nothing lost while the table was away"
        );
        // Only whole in-flight creates were added; the 503s added nothing.
        let stored = assert_whole(&client, &table).await;
        let listed: HashSet<String> = after.iter().map(|e| e.id.to_string()).collect();
        assert_eq!(stored, listed);
    }

    #[tokio::test]
    async fn server_stopped_mid_test_is_503() {
        let mut own = Moto::start();
        let client = moto::client(&own.endpoint).await;
        let table = moto::create_table(&client).await;
        let api = Api::new(open(&client, &table).await, Config::default());
        assert_eq!(api.store().list().await.unwrap().len(), 2);
        own.stop();
        assert!(matches!(
            api.store().delete(EventId::random()).await,
            Err(ApiError::StoreUnavailable(_))
        ));
        assert_503_through_the_handler(&api).await;
    }

    #[tokio::test]
    async fn table_that_never_answers_is_503_within_the_timeouts() {
        // Accepts connections and never answers: every attempt times out.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        // A store opened against moto, then pointed at the silent server.
        let client = moto::client(&shared_moto().endpoint).await;
        let table = moto::create_table(&client).await;
        open(&client, &table).await;
        let silent = moto::function_client(&format!("http://{addr}")).await;
        let err = DynamoDbStore::open(silent, &table, Arc::new(SystemClock))
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::StoreUnavailable(_)), "{err:?}");
        held.abort();
    }
}
