//! Where events live: the [`EventStore`] interface the handlers use, and the in-memory
//! implementation that runs when no table is configured (`cargo lambda watch`, fixtures,
//! unit tests). The table-backed store is `DynamoDbStore` (the `dynamodb` feature);
//! both pass the same contract suite (`tests/store_contract.rs`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::clock::{Clock, SystemClock};
use crate::error::ApiError;
use crate::event::{Event, EventId, seed_events};
use crate::idempotency::{Claim, Created};
use crate::page::{OrderKey, Page, PageKey, PageLimit};

/// Storage of events. Every method is async and fallible so that a networked store fits.
///
/// Events are listed oldest first by their [`OrderKey`], which never changes: walking
/// the pages with [`EventStore::page`] returns every event present for the whole walk
/// exactly once, whatever is created or deleted meanwhile.
pub trait EventStore: Send + Sync {
    /// At most `limit` events after `after` (from the start when `None`), oldest first,
    /// and where the next page starts if there are more.
    fn page(
        &self,
        after: Option<OrderKey>,
        limit: PageLimit,
    ) -> impl Future<Output = Result<Page, ApiError>> + Send;

    /// The event with this identifier, if any.
    fn get(&self, id: EventId) -> impl Future<Output = Result<Option<Event>, ApiError>> + Send;

    /// Stores a new event, atomically with its idempotency claim if there is one:
    /// - [`Created::Stored`]: stored (with the claim);
    /// - [`Created::Replayed`]: the claim's key was used before, unexpired, for the same
    ///   event fields: nothing is stored, the first request's event and `Location` are
    ///   returned;
    /// - [`ApiError::IdempotencyKeyReused`]: the key was used for another event;
    /// - [`ApiError::DuplicateId`]: the event's identifier is taken.
    ///
    /// On any error nothing changes.
    fn create(
        &self,
        event: Event,
        claim: Option<Claim>,
    ) -> impl Future<Output = Result<Created, ApiError>> + Send;

    /// Deletes the event; `Ok(false)` if there was none (nothing changes).
    fn delete(&self, id: EventId) -> impl Future<Output = Result<bool, ApiError>> + Send;

    /// The key that seals this store's page tokens.
    fn page_key(&self) -> &PageKey;

    /// Stores a new event without an idempotency key; [`ApiError::DuplicateId`] if its
    /// identifier is taken, in which case nothing changes.
    fn insert(&self, event: Event) -> impl Future<Output = Result<(), ApiError>> + Send {
        async move { self.create(event, None).await.map(|_| ()) }
    }

    /// Every event, oldest first, walking the pages (for tests and tools: a request
    /// never reads more than one page).
    fn list(&self) -> impl Future<Output = Result<Vec<Event>, ApiError>> + Send {
        async move {
            let mut events = Vec::new();
            let mut after = None;
            loop {
                let page = self.page(after, PageLimit::max()).await?;
                events.extend(page.events);
                match page.next {
                    Some(next) => after = Some(next),
                    None => return Ok(events),
                }
            }
        }
    }
}

/// Events kept in the Lambda container's memory, oldest first.
///
/// Survives from one invocation to the next in the same container and is lost with it.
/// Same semantics as the table: pages cut at a sequence number, idempotency keys per
/// caller remembered for 24 hours (by the injected clock), every change under one lock.
#[derive(Debug)]
pub struct InMemoryStore {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
    page_key: PageKey,
}

#[derive(Debug, Default)]
struct State {
    /// The events in list order.
    events: BTreeMap<OrderKey, Event>,
    /// Each event's place in `events`.
    order: HashMap<EventId, OrderKey>,
    /// The next event's sequence number (the seed takes 0 and 1).
    next_seq: u64,
    /// Unexpired idempotency claims by scope, with the event each created.
    claims: HashMap<String, (Claim, Event)>,
    /// Claims in the order they were made, to forget expired ones cheaply.
    expiry: VecDeque<(u64, String)>,
}

impl State {
    fn push(&mut self, event: Event) {
        let key = OrderKey {
            at: self.next_seq,
            id: event.id,
        };
        self.next_seq += 1;
        self.order.insert(event.id, key);
        self.events.insert(key, event);
    }

    fn forget_expired(&mut self, now_secs: u64) {
        while let Some((expires_at, _)) = self.expiry.front() {
            if *expires_at > now_secs {
                break;
            }
            if let Some((expires_at, scope)) = self.expiry.pop_front()
                && self
                    .claims
                    .get(&scope)
                    .is_some_and(|(claim, _)| claim.expires_at == expires_at)
            {
                self.claims.remove(&scope);
            }
        }
    }
}

impl Default for InMemoryStore {
    fn default() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }
}

impl InMemoryStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store on `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Mutex::default(),
            clock,
            page_key: PageKey::random(),
        }
    }

    /// A store holding the seed's two events, as a new container starts.
    pub fn seeded() -> Self {
        Self::seeded_with_clock(Arc::new(SystemClock))
    }

    /// A seeded store on `clock`.
    pub fn seeded_with_clock(clock: Arc<dyn Clock>) -> Self {
        let store = Self::with_clock(clock);
        {
            let mut state = store.lock();
            for event in seed_events() {
                state.push(event);
            }
        }
        store
    }

    // No code holding the lock can panic half-way through a change, so a poisoned lock
    // still guards consistent data.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl EventStore for InMemoryStore {
    async fn page(&self, after: Option<OrderKey>, limit: PageLimit) -> Result<Page, ApiError> {
        let state = self.lock();
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut range = state.events.range((start, Bound::Unbounded));
        let mut events = Vec::with_capacity(limit.get());
        let mut last = None;
        for (key, event) in range.by_ref().take(limit.get()) {
            events.push(event.clone());
            last = Some(*key);
        }
        let next = if range.next().is_some() { last } else { None };
        Ok(Page { events, next })
    }

    async fn get(&self, id: EventId) -> Result<Option<Event>, ApiError> {
        let state = self.lock();
        Ok(state
            .order
            .get(&id)
            .and_then(|key| state.events.get(key))
            .cloned())
    }

    async fn create(&self, event: Event, claim: Option<Claim>) -> Result<Created, ApiError> {
        let now = self.clock.now_secs();
        let mut state = self.lock();
        state.forget_expired(now);
        if let Some(claim) = &claim
            && let Some((first, created)) = state.claims.get(&claim.scope)
            && first.expires_at > now
        {
            return if first.fingerprint == claim.fingerprint {
                Ok(Created::Replayed {
                    event: created.clone(),
                    location: first.location.clone(),
                })
            } else {
                Err(ApiError::IdempotencyKeyReused)
            };
        }
        if state.order.contains_key(&event.id) {
            return Err(ApiError::DuplicateId(event.id));
        }
        if let Some(claim) = claim {
            state
                .expiry
                .push_back((claim.expires_at, claim.scope.clone()));
            state
                .claims
                .insert(claim.scope.clone(), (claim, event.clone()));
        }
        state.push(event);
        Ok(Created::Stored)
    }

    async fn delete(&self, id: EventId) -> Result<bool, ApiError> {
        let mut state = self.lock();
        match state.order.remove(&id) {
            Some(key) => {
                state.events.remove(&key);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn page_key(&self) -> &PageKey {
        &self.page_key
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use super::*;
    use crate::event::{NewEvent, SEED_DUDLEY_ID, SEED_MALIK_ID};

    fn event(name: &str) -> Event {
        NewEvent::new(name.to_owned(), "2022-01-01", "2022-01-02")
            .unwrap()
            .into_event(EventId::random(), Some("client".into()))
    }

    #[tokio::test]
    async fn seeded_store_holds_the_two_seed_events_in_order() {
        let ids: Vec<_> = InMemoryStore::seeded()
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, [SEED_DUDLEY_ID, SEED_MALIK_ID]);
    }

    #[tokio::test]
    async fn insert_get_delete_round_trip() {
        let store = InMemoryStore::new();
        let storm = event("Storm Arwen");
        store.insert(storm.clone()).await.unwrap();
        assert_eq!(store.get(storm.id).await.unwrap(), Some(storm.clone()));
        assert!(store.delete(storm.id).await.unwrap());
        assert_eq!(store.get(storm.id).await.unwrap(), None);
        assert!(!store.delete(storm.id).await.unwrap());
    }

    #[tokio::test]
    async fn list_keeps_insertion_order() {
        let store = InMemoryStore::new();
        let names = ["a", "b", "c"];
        for name in names {
            store.insert(event(name)).await.unwrap();
        }
        let listed: Vec<_> = store
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(listed, names);
    }

    #[tokio::test]
    async fn duplicate_id_refused_and_first_kept() {
        let store = InMemoryStore::new();
        let first = event("first");
        let mut second = event("second");
        second.id = first.id;
        store.insert(first.clone()).await.unwrap();
        assert!(matches!(
            store.insert(second).await,
            Err(ApiError::DuplicateId(id)) if id == first.id
        ));
        assert_eq!(store.list().await.unwrap(), [first]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_inserts_lose_nothing() {
        let store = Arc::new(InMemoryStore::seeded());
        let tasks: Vec<_> = (0..64)
            .map(|task| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for i in 0..50 {
                        let e = event(&format!("task {task} event {i}"));
                        ids.push(e.id);
                        store.insert(e).await.unwrap();
                    }
                    ids
                })
            })
            .collect();
        let mut inserted = HashSet::new();
        for task in tasks {
            inserted.extend(task.await.unwrap());
        }
        let listed = store.list().await.unwrap();
        assert_eq!(listed.len(), 2 + 64 * 50);
        let listed_ids: HashSet<_> = listed.iter().map(|e| e.id).collect();
        assert!(inserted.is_subset(&listed_ids));
        assert!(listed_ids.contains(&SEED_DUDLEY_ID) && listed_ids.contains(&SEED_MALIK_ID));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_inserts_and_deletes_lose_nothing() {
        // Half of each task's events are deleted again while other tasks insert: exactly
        // the other half, and the seed, must remain.
        let store = Arc::new(InMemoryStore::seeded());
        let tasks: Vec<_> = (0..64)
            .map(|task| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let mut kept = Vec::new();
                    for i in 0..50 {
                        let e = event(&format!("task {task} event {i}"));
                        let id = e.id;
                        store.insert(e).await.unwrap();
                        tokio::task::yield_now().await;
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
}
