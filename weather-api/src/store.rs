//! Where events live: the [`EventStore`] interface the handlers use, and the in-memory
//! implementation the function runs with today.
//!
//! A table-backed store (DynamoDB, say) implements the same trait and is passed to
//! [`crate::Api::new`] in `main.rs`; the handlers do not change.

use std::future::Future;
use std::sync::{PoisonError, RwLock};

use crate::error::ApiError;
use crate::event::{Event, EventId, seed_events};

/// Storage of events. Every method is async and fallible so that a networked store fits.
pub trait EventStore: Send + Sync {
    /// All events, oldest first.
    fn list(&self) -> impl Future<Output = Result<Vec<Event>, ApiError>> + Send;

    /// The event with this identifier, if any.
    fn get(&self, id: EventId) -> impl Future<Output = Result<Option<Event>, ApiError>> + Send;

    /// Stores a new event; [`ApiError::DuplicateId`] if its identifier is taken, in which
    /// case nothing changes.
    fn insert(&self, event: Event) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// Deletes the event; `Ok(false)` if there was none (nothing changes).
    fn delete(&self, id: EventId) -> impl Future<Output = Result<bool, ApiError>> + Send;
}

/// Events kept in the Lambda container's memory, in insertion order.
///
/// Survives from one invocation to the next in the same container and is lost with it.
/// Lookups are linear scans: this store is for the mock-integrated API's handful of
/// events, not for a large table.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    events: RwLock<Vec<Event>>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding the seed's two events, as a new container starts.
    pub fn seeded() -> Self {
        Self {
            events: RwLock::new(seed_events()),
        }
    }

    // No code holding the lock can panic half-way through a change (each change is a
    // single `push` or `remove`), so a poisoned lock still guards consistent data.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Event>> {
        self.events.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Event>> {
        self.events.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl EventStore for InMemoryStore {
    async fn list(&self) -> Result<Vec<Event>, ApiError> {
        Ok(self.read().clone())
    }

    async fn get(&self, id: EventId) -> Result<Option<Event>, ApiError> {
        Ok(self.read().iter().find(|event| event.id == id).cloned())
    }

    async fn insert(&self, event: Event) -> Result<(), ApiError> {
        let mut events = self.write();
        if events.iter().any(|existing| existing.id == event.id) {
            return Err(ApiError::DuplicateId(event.id));
        }
        events.push(event);
        Ok(())
    }

    async fn delete(&self, id: EventId) -> Result<bool, ApiError> {
        let mut events = self.write();
        match events.iter().position(|event| event.id == id) {
            Some(index) => {
                events.remove(index);
                Ok(true)
            }
            None => Ok(false),
        }
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
