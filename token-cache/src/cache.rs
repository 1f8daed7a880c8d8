//! The cache: one entry per scope set, lock-free reads on a hit,
//! single-flight token requests run as tasks.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use reqwest::StatusCode;
use tokio::sync::watch;
use tracing::Instrument as _;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, RetryPolicy};
use crate::error::OAuthErrorKind;
use crate::error::TokenCacheError;
use crate::fetch::{HttpFetcher, SecretProvider, TokenFetcher};
use crate::scope::ScopeSet;
use crate::secret::{AccessToken, IssuedToken};
use crate::shared::{self, Fleet, SharedRecord, SharedSettings, SharedTokenStore};
use crate::state::{Action, TokenTimes, decide};

type FlightResult = Result<AccessToken, TokenCacheError>;
type EntryMap = HashMap<ScopeSet, Arc<Entry>, BuildHasherDefault<PrehashedHasher>>;

/// `ScopeSet` hashes itself once at construction and feeds that `u64`;
/// this hasher passes it through instead of hashing it again.
#[derive(Default)]
struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not reached for `ScopeSet`; stays correct for any other input.
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The copies of one token, one per shard: concurrent hits on different
/// threads clone different `Arc`s and so do not contend on one reference count.
struct TokenShards {
    shards: Box<[Arc<IssuedToken>]>,
}

impl TokenShards {
    fn new(token: &AccessToken, count: usize) -> Self {
        let shards = (0..count.max(1))
            .map(|i| {
                if i == 0 {
                    Arc::clone(&token.0)
                } else {
                    token.shard_copy()
                }
            })
            .collect();
        Self { shards }
    }

    #[inline]
    fn pick(&self) -> &Arc<IssuedToken> {
        &self.shards[thread_shard() % self.shards.len()]
    }

    fn id(&self) -> u64 {
        self.shards[0].id
    }

    fn times(&self) -> &TokenTimes {
        &self.shards[0].times
    }
}

/// A small per-thread number, assigned round-robin on first use.
#[inline]
fn thread_shard() -> usize {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SHARD.with(|shard| {
        let mut value = shard.get();
        if value == usize::MAX {
            value = NEXT.fetch_add(1, Ordering::Relaxed) as usize;
            shard.set(value);
        }
        value
    })
}
type FlightReceiver = watch::Receiver<Option<FlightResult>>;

/// Caches OAuth 2.0 client-credentials tokens per scope set.
///
/// Cheap to clone (one `Arc`); clones share the cache. A hit reads an
/// immutable snapshot without any lock. See the crate documentation.
#[derive(Clone)]
pub struct TokenCache {
    inner: Arc<Inner>,
}

/// Counters of token requests, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// HTTP requests sent to the token endpoint (every attempt counts).
    pub token_requests: u64,
    /// Of those, the ones that failed.
    pub failed_token_requests: u64,
    /// Background refreshes that succeeded.
    pub background_refreshes: u64,
    /// Tokens taken from the shared store (another process's token request).
    pub shared_tokens_used: u64,
}

/// Builds a [`TokenCache`] with an injected clock, fetcher or HTTP client.
pub struct TokenCacheBuilder {
    config: Config,
    clock: Option<Arc<dyn Clock>>,
    fetcher: Option<Arc<dyn TokenFetcher>>,
    client: Option<reqwest::ClientBuilder>,
    secret_provider: Option<Arc<dyn SecretProvider>>,
    shared: Option<(Arc<dyn SharedTokenStore>, SharedSettings)>,
}

impl TokenCacheBuilder {
    /// Shares tokens with every other process using `store` and the same
    /// client (a fleet of containers): a token request for a scope set is made
    /// by one process and used by all, sealed with a key derived from the
    /// client secret. The hit path does not touch the store. See the crate
    /// README, "Sharing tokens across a fleet".
    pub fn shared_store(mut self, store: Arc<dyn SharedTokenStore>) -> Self {
        let settings = self.shared.as_ref().map(|(_, s)| *s).unwrap_or_default();
        self.shared = Some((store, settings));
        self
    }

    /// The shared level's timing (after [`TokenCacheBuilder::shared_store`]).
    pub fn shared_settings(mut self, settings: SharedSettings) -> Self {
        if let Some((_, s)) = self.shared.as_mut() {
            *s = settings;
        }
        self
    }

    /// The clock token ages are judged by (default: [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Replaces the HTTP token request (tests, other transports).
    pub fn fetcher(mut self, fetcher: Arc<dyn TokenFetcher>) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    /// Builds the token requests' HTTP client from this builder (a proxy,
    /// custom TLS roots, a resolver…). The cache sets over it: no redirects,
    /// no `Referer`, its own timeouts (see [`HttpFetcher::with_client_builder`]:
    /// why a ready `reqwest::Client` is not accepted).
    pub fn http_client_builder(mut self, builder: reqwest::ClientBuilder) -> Self {
        self.client = Some(builder);
        self
    }

    /// Where the client secret is read again when the token endpoint answers
    /// `invalid_client` (it was rotated): once, rate-limited by
    /// `secret_reload_interval`, one read at a time; with a new value the
    /// token request is sent once more before it fails. `config.client_secret`
    /// is the first value. Ignored with a custom [`TokenCacheBuilder::fetcher`].
    pub fn secret_provider(mut self, provider: Arc<dyn SecretProvider>) -> Self {
        self.secret_provider = Some(provider);
        self
    }

    /// Validates the configuration and builds the cache.
    pub fn build(self) -> Result<TokenCache, TokenCacheError> {
        let config = self.config;
        config.validate()?;
        let http = |fetcher: HttpFetcher| -> Arc<dyn TokenFetcher> {
            match self.secret_provider {
                Some(provider) => {
                    Arc::new(fetcher.with_secret_provider(provider, config.secret_reload_interval))
                }
                None => Arc::new(fetcher),
            }
        };
        let fetcher: Arc<dyn TokenFetcher> = match (self.fetcher, self.client) {
            (Some(fetcher), _) => fetcher,
            (None, Some(builder)) => http(HttpFetcher::with_client_builder(&config, builder)?),
            (None, None) => http(HttpFetcher::new(&config)?),
        };
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let shards = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 64);
        let origin = clock.now();
        let fleet = self.shared.map(|(store, settings)| {
            Fleet::new(
                store,
                settings,
                config.token_url.as_str(),
                &config.client_id,
                config.client_secret.clone(),
            )
        });
        Ok(TokenCache {
            inner: Arc::new(Inner {
                fetcher,
                clock,
                origin,
                refresh_ratio: config.refresh_ratio,
                hard_margin: config.hard_margin,
                request_timeout: config.request_timeout,
                retry: config.retry,
                shards,
                entries: ArcSwap::from_pointee(EntryMap::default()),
                insert_lock: Mutex::new(()),
                token_requests: AtomicU64::new(0),
                failed_token_requests: AtomicU64::new(0),
                background_refreshes: AtomicU64::new(0),
                shared_tokens_used: AtomicU64::new(0),
                fleet,
            }),
        })
    }
}

impl TokenCache {
    /// A cache talking HTTP to `config.token_url`.
    pub fn new(config: Config) -> Result<Self, TokenCacheError> {
        Self::builder(config).build()
    }

    /// A cache configured from `TOKEN_URL`, `CLIENT_ID`, `CLIENT_SECRET` and
    /// the optional `TOKEN_*` settings. `TOKEN_CACHE_TABLE` set is an error
    /// here (this constructor cannot reach DynamoDB): use
    /// `TokenCache::from_env_shared` (feature `dynamodb`).
    pub fn from_env() -> Result<Self, TokenCacheError> {
        let table = std::env::var(crate::config::env::TOKEN_CACHE_TABLE).unwrap_or_default();
        if !table.trim().is_empty() {
            return Err(TokenCacheError::config(
                crate::config::env::TOKEN_CACHE_TABLE,
                "is set, but TokenCache::from_env does not share tokens: use \
                 TokenCache::from_env_shared().await (feature dynamodb)",
            ));
        }
        Self::new(Config::from_env()?)
    }

    /// [`TokenCache::from_env`], sharing tokens through the DynamoDB table
    /// `TOKEN_CACHE_TABLE` when it is set (today's behaviour when unset).
    #[cfg(feature = "dynamodb")]
    pub async fn from_env_shared() -> Result<Self, TokenCacheError> {
        let builder = Self::builder(Config::from_env()?);
        match crate::shared::DynamoDbTokenStore::from_env().await? {
            Some(store) => builder.shared_store(Arc::new(store)).build(),
            None => builder.build(),
        }
    }

    /// Starts a builder.
    pub fn builder(config: Config) -> TokenCacheBuilder {
        TokenCacheBuilder {
            config,
            clock: None,
            fetcher: None,
            client: None,
            secret_provider: None,
            shared: None,
        }
    }

    /// A token for `scopes`.
    ///
    /// * fresh token: returned at once, no lock taken;
    /// * past the refresh point: returned at once, and one background refresh starts;
    /// * no usable token: waits for the one token request in flight for this
    ///   scope set (starting it if needed); bounded by the retry deadline.
    pub async fn get(&self, scopes: &ScopeSet) -> Result<AccessToken, TokenCacheError> {
        {
            let entries = self.inner.entries.load();
            if let Some(entry) = entries.get(scopes)
                && let Some(token) = self.inner.try_serve(entry)
            {
                return Ok(token);
            }
        }
        let entry = self.inner.entry(scopes);
        Box::pin(self.inner.wait_for_token(&entry)).await
    }

    /// A handle bound to one scope set: skips the map lookup on every call.
    pub fn scoped(&self, scopes: &ScopeSet) -> ScopedTokenCache {
        ScopedTokenCache {
            inner: Arc::clone(&self.inner),
            entry: self.inner.entry(scopes),
        }
    }

    /// Drops the cached token for `scopes`; the next call fetches a new one.
    pub fn invalidate(&self, scopes: &ScopeSet) {
        if let Some(entry) = self.inner.entries.load().get(scopes) {
            entry.token.store(None);
            tracing::debug!(scopes = %scopes, "cached token invalidated");
        }
        self.inner.invalidate_shared(scopes, None);
    }

    /// Drops the cached token for `scopes` only if it is still `token` (so a
    /// token another task already refreshed is kept). Returns whether it was dropped.
    pub fn invalidate_token(&self, scopes: &ScopeSet, token: &AccessToken) -> bool {
        let Some(entry) = self.inner.entries.load().get(scopes).cloned() else {
            return false;
        };
        let current = entry.token.load_full();
        if current.as_ref().is_none_or(|c| c.id() != token.0.id) {
            return false;
        }
        let previous = entry.token.compare_and_swap(&current, None);
        let dropped = previous.as_ref().is_some_and(|p| p.id() == token.0.id);
        if dropped {
            tracing::debug!(scopes = %scopes, "cached token invalidated");
            self.inner.invalidate_shared(scopes, Some(token.0.id));
        }
        dropped
    }

    /// Sends `request` with `Authorization: Bearer <token for scopes>`. On a
    /// 401 from the resource server, drops that token, gets a new one and sends
    /// the request once more (if the request can be cloned, i.e. its body is
    /// not a stream); the second response is returned whatever its status.
    pub async fn send(
        &self,
        scopes: &ScopeSet,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, TokenCacheError> {
        let retry = request.try_clone();
        let token = self.get(scopes).await?;
        let response = request
            .bearer_auth(token.secret())
            .send()
            .await
            .map_err(|e| TokenCacheError::Request(Arc::new(e.without_url())))?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let Some(retry) = retry else {
            return Ok(response);
        };
        tracing::info!(scopes = %scopes, "resource server answered 401: refreshing the token and retrying once");
        self.invalidate_token(scopes, &token);
        let token = self.get(scopes).await?;
        retry
            .bearer_auth(token.secret())
            .send()
            .await
            .map_err(|e| TokenCacheError::Request(Arc::new(e.without_url())))
    }

    /// Token request counters.
    pub fn stats(&self) -> Stats {
        Stats {
            token_requests: self.inner.token_requests.load(Ordering::Relaxed),
            failed_token_requests: self.inner.failed_token_requests.load(Ordering::Relaxed),
            background_refreshes: self.inner.background_refreshes.load(Ordering::Relaxed),
            shared_tokens_used: self.inner.shared_tokens_used.load(Ordering::Relaxed),
        }
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scopes: Vec<String> = self
            .inner
            .entries
            .load()
            .keys()
            .map(ToString::to_string)
            .collect();
        f.debug_struct("TokenCache")
            .field("scope_sets", &scopes)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// A [`TokenCache`] handle for one scope set (see [`TokenCache::scoped`]).
#[derive(Clone)]
pub struct ScopedTokenCache {
    inner: Arc<Inner>,
    entry: Arc<Entry>,
}

impl ScopedTokenCache {
    /// Same as [`TokenCache::get`] for the bound scope set.
    pub async fn get(&self) -> Result<AccessToken, TokenCacheError> {
        if let Some(token) = self.inner.try_serve(&self.entry) {
            return Ok(token);
        }
        Box::pin(self.inner.wait_for_token(&self.entry)).await
    }

    /// The bound scope set.
    pub fn scopes(&self) -> &ScopeSet {
        &self.entry.scopes
    }
}

impl fmt::Debug for ScopedTokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedTokenCache")
            .field("scopes", &self.entry.scopes)
            .finish_non_exhaustive()
    }
}

struct Inner {
    fetcher: Arc<dyn TokenFetcher>,
    clock: Arc<dyn Clock>,
    /// Instants stored in atomics are nanoseconds since this one (0 = none).
    origin: Instant,
    refresh_ratio: f64,
    hard_margin: Duration,
    request_timeout: Duration,
    retry: RetryPolicy,
    /// Copies kept of each token (the CPU count, at most 64).
    shards: usize,
    /// Copy-on-write map: readers load a snapshot, inserts (new scope sets) swap it.
    entries: ArcSwap<EntryMap>,
    insert_lock: Mutex<()>,
    token_requests: AtomicU64,
    failed_token_requests: AtomicU64,
    background_refreshes: AtomicU64,
    shared_tokens_used: AtomicU64,
    /// The shared level, if configured.
    fleet: Option<Fleet>,
}

struct Entry {
    scopes: ScopeSet,
    token: ArcSwapOption<TokenShards>,
    /// Mirrors `flight.receiver.is_some()` for the lock-free read path.
    in_flight: AtomicBool,
    /// After failed background refreshes, none starts before this (nanos since origin).
    refresh_blocked_until: AtomicU64,
    failed_refreshes: AtomicU32,
    flight: Mutex<FlightSlot>,
}

/// What one flight has done so far, for a waiter cut off at its deadline.
/// Each flight has its own (a waiter never reads a later flight's).
struct FlightProgress {
    /// When the flight's waiters get their answer at the latest.
    deadline: tokio::time::Instant,
    /// Requests sent.
    attempts: AtomicU32,
    /// The last failed attempt.
    last_error: Mutex<Option<TokenCacheError>>,
}

#[derive(Default)]
struct FlightSlot {
    /// The flight in progress: its answer and its progress.
    receiver: Option<(FlightReceiver, Arc<FlightProgress>)>,
    /// The endpoint's last `Retry-After`: no request before this instant.
    rate_limited_until: Option<Instant>,
}

impl Entry {
    fn slot(&self) -> MutexGuard<'_, FlightSlot> {
        self.flight.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FlightKind {
    Foreground,
    Background,
}

/// `now + d` on Tokio's clock, saturating far in the future instead of
/// overflowing (the configuration bounds `d`; this keeps a request path from
/// ever panicking on it).
fn after(d: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
}

/// Clears the flight slot when the flight ends, even by panic or runtime shutdown.
struct FlightGuard(Arc<Entry>);

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let mut slot = self.0.slot();
        slot.receiver = None;
        self.0.in_flight.store(false, Ordering::Release);
    }
}

impl Inner {
    fn nanos_since_origin(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn instant_from_nanos(&self, nanos: u64) -> Option<Instant> {
        (nanos != 0).then(|| self.origin + Duration::from_nanos(nanos))
    }

    /// The entry for `scopes`, created if new.
    fn entry(&self, scopes: &ScopeSet) -> Arc<Entry> {
        if let Some(entry) = self.entries.load().get(scopes) {
            return Arc::clone(entry);
        }
        let _serialised = self
            .insert_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let current = self.entries.load_full();
        if let Some(entry) = current.get(scopes) {
            return Arc::clone(entry);
        }
        let entry = Arc::new(Entry {
            scopes: scopes.clone(),
            token: ArcSwapOption::empty(),
            in_flight: AtomicBool::new(false),
            refresh_blocked_until: AtomicU64::new(0),
            failed_refreshes: AtomicU32::new(0),
            flight: Mutex::new(FlightSlot::default()),
        });
        let mut next = EntryMap::clone(&current);
        next.insert(scopes.clone(), Arc::clone(&entry));
        self.entries.store(Arc::new(next));
        entry
    }

    /// The lock-free path: a usable token, or `None` when the caller must wait.
    #[inline]
    fn try_serve(self: &Arc<Self>, entry: &Arc<Entry>) -> Option<AccessToken> {
        let guard = entry.token.load();
        let issued = guard.as_ref()?.pick();
        let now = self.clock.now();
        let in_flight = entry.in_flight.load(Ordering::Acquire);
        let blocked = self.instant_from_nanos(entry.refresh_blocked_until.load(Ordering::Acquire));
        match decide(Some(&issued.times), now, in_flight, blocked) {
            Action::Serve => {}
            Action::ServeAndRefresh => self.start_background_refresh(entry),
            Action::Wait => return None,
        }
        tracing::trace!(scopes = %entry.scopes, "token served from cache");
        Some(AccessToken(Arc::clone(issued)))
    }

    fn start_background_refresh(self: &Arc<Self>, entry: &Arc<Entry>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::debug!(scopes = %entry.scopes, "no Tokio runtime: background refresh skipped");
            return;
        };
        let mut slot = entry.slot();
        if slot.receiver.is_none() {
            self.start_flight(&mut slot, entry, &runtime, FlightKind::Background);
        }
    }

    /// Starts the one token request for `entry`; the caller holds the slot lock.
    fn start_flight(
        self: &Arc<Self>,
        slot: &mut FlightSlot,
        entry: &Arc<Entry>,
        runtime: &tokio::runtime::Handle,
        kind: FlightKind,
    ) -> (FlightReceiver, Arc<FlightProgress>) {
        let (sender, receiver) = watch::channel(None);
        let progress = Arc::new(FlightProgress {
            deadline: after(self.retry.deadline),
            attempts: AtomicU32::new(0),
            last_error: Mutex::new(None),
        });
        slot.receiver = Some((receiver.clone(), Arc::clone(&progress)));
        entry.in_flight.store(true, Ordering::Release);
        let span = tracing::info_span!(
            "token_request",
            scopes = %entry.scopes,
            background = kind == FlightKind::Background
        );
        let inner = Arc::clone(self);
        let guard = FlightGuard(Arc::clone(entry));
        let flight = Arc::clone(&progress);
        runtime.spawn(
            async move {
                let result = inner.fetch_flight(&guard.0, &flight, kind).await;
                inner.record_outcome(&guard.0, &result, kind);
                drop(guard);
                sender.send_replace(Some(result));
            }
            .instrument(span),
        );
        (receiver, progress)
    }

    /// The slow path: wait for (or start) the token request for `entry`.
    async fn wait_for_token(
        self: &Arc<Self>,
        entry: &Arc<Entry>,
    ) -> Result<AccessToken, TokenCacheError> {
        let (mut receiver, progress) = {
            let mut slot = entry.slot();
            let token = entry.token.load_full();
            let now = self.clock.now();
            let blocked =
                self.instant_from_nanos(entry.refresh_blocked_until.load(Ordering::Acquire));
            let action = decide(
                token.as_deref().map(TokenShards::times),
                now,
                slot.receiver.is_some(),
                blocked,
            );
            match (action, token) {
                (Action::Serve, Some(token)) => return Ok(AccessToken(Arc::clone(token.pick()))),
                (Action::ServeAndRefresh, Some(token)) => {
                    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                        self.start_flight(&mut slot, entry, &runtime, FlightKind::Background);
                    }
                    return Ok(AccessToken(Arc::clone(token.pick())));
                }
                _ => match &slot.receiver {
                    Some((receiver, progress)) => (receiver.clone(), Arc::clone(progress)),
                    None => {
                        let runtime = tokio::runtime::Handle::try_current()
                            .map_err(|_| TokenCacheError::NoRuntime)?;
                        self.start_flight(&mut slot, entry, &runtime, FlightKind::Foreground)
                    }
                },
            }
        };
        // The flight itself ends a little before its deadline (every attempt's
        // timeout is cut to what is left of it), so its own answer arrives
        // first; this guard only matters for a fetcher that ignores
        // cancellation, and keeps the documented bound even then.
        let outcome =
            tokio::time::timeout_at(progress.deadline, receiver.wait_for(Option::is_some))
                .await
                .map(|waited| waited.map(|result| result.clone()));
        match outcome {
            Ok(Err(_)) => Err(TokenCacheError::Abandoned),
            Ok(Ok(result)) => result.unwrap_or(Err(TokenCacheError::Abandoned)),
            Err(_) => {
                if let Some(result) = receiver.borrow().as_ref() {
                    return result.clone();
                }
                // The flight may have stored a token just now.
                if let Some(token) = entry.token.load_full()
                    && self.clock.now() < token.times().usable_until
                {
                    return Ok(AccessToken(Arc::clone(token.pick())));
                }
                Err(TokenCacheError::DeadlineExceeded {
                    attempts: progress.attempts.load(Ordering::Relaxed),
                    last: progress
                        .last_error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone()
                        .map(Box::new),
                })
            }
        }
    }

    fn record_outcome(&self, entry: &Entry, result: &FlightResult, kind: FlightKind) {
        match result {
            Ok(token) => {
                entry
                    .token
                    .store(Some(Arc::new(TokenShards::new(token, self.shards))));
                entry.failed_refreshes.store(0, Ordering::Relaxed);
                entry.refresh_blocked_until.store(0, Ordering::Release);
                if kind == FlightKind::Background {
                    self.background_refreshes.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(scopes = %entry.scopes, "token refreshed in background");
                }
            }
            Err(error) => {
                let failures = entry
                    .failed_refreshes
                    .fetch_add(1, Ordering::Relaxed)
                    .saturating_add(1);
                let retry_after = error.last_attempt().retry_after();
                let backoff = self.retry.backoff(failures, retry_after, fastrand::f64());
                let now = self.clock.now();
                entry
                    .refresh_blocked_until
                    .store(self.nanos_since_origin(now + backoff), Ordering::Release);
                if let Some(wait) = retry_after {
                    entry.slot().rate_limited_until = Some(now + wait);
                }
                let still_usable = entry
                    .token
                    .load()
                    .as_ref()
                    .is_some_and(|t| now < t.times().usable_until);
                tracing::warn!(
                    scopes = %entry.scopes,
                    error = %error,
                    cause = %error.last_attempt(),
                    serving_cached_token = still_usable,
                    next_refresh_in_ms = backoff.as_millis() as u64,
                    "token request failed"
                );
            }
        }
    }

    /// One token request: attempts with backoff until success, a
    /// non-retryable error, `max_attempts` or the deadline.
    async fn fetch_with_retry(
        &self,
        entry: &Entry,
        progress: &FlightProgress,
    ) -> Result<AccessToken, TokenCacheError> {
        // Stop a little before the waiters' deadline, so they get this
        // flight's own answer, not the last-resort guard's.
        let room = (self.retry.deadline / 10).min(Duration::from_millis(50));
        let deadline = progress
            .deadline
            .checked_sub(room)
            .unwrap_or(progress.deadline);
        let rate_limited_until = entry.slot().rate_limited_until;
        if let Some(until) = rate_limited_until {
            let wait = until.saturating_duration_since(self.clock.now());
            if !wait.is_zero() {
                if after(wait) >= deadline {
                    tracing::warn!(
                        wait_ms = wait.as_millis() as u64,
                        "token endpoint asked to wait past the deadline: not sending"
                    );
                    return Err(TokenCacheError::RateLimited {
                        retry_after: Some(wait),
                    });
                }
                tokio::time::sleep(wait).await;
            }
        }
        let mut last: Option<TokenCacheError> = None;
        let mut attempt: u32 = 0;
        let mut reloaded_secret = false;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            if remaining.is_zero() {
                return Err(TokenCacheError::DeadlineExceeded {
                    attempts: attempt,
                    last: last.map(Box::new),
                });
            }
            attempt += 1;
            progress.attempts.store(attempt, Ordering::Relaxed);
            let generation = self.fetcher.credentials_generation();
            let issued_at = self.clock.now();
            self.token_requests.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let outcome = tokio::time::timeout(
                remaining.min(self.request_timeout),
                self.fetcher.fetch(&entry.scopes),
            )
            .await
            .unwrap_or(Err(TokenCacheError::Timeout));
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            let error = match outcome {
                Ok(fetched) => {
                    tracing::info!(
                        scopes = %entry.scopes,
                        attempt,
                        latency_ms,
                        outcome = "ok",
                        expires_in_s = fetched.expires_in.as_secs(),
                        "token requested"
                    );
                    let times = TokenTimes::new(
                        issued_at,
                        fetched.expires_in,
                        self.refresh_ratio,
                        self.hard_margin,
                    );
                    return Ok(AccessToken::new(fetched.access_token, times));
                }
                Err(error) => error,
            };
            self.failed_token_requests.fetch_add(1, Ordering::Relaxed);
            *progress
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(error.clone());
            tracing::warn!(
                scopes = %entry.scopes,
                attempt,
                latency_ms,
                outcome = error.label(),
                error = %error,
                "token requested"
            );
            if error.oauth_kind() == Some(&OAuthErrorKind::InvalidClient) && !reloaded_secret {
                // A rotated secret: re-read it (once per flight) and, if it
                // changed, send the request once more at once.
                reloaded_secret = true;
                let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
                let renewed =
                    tokio::time::timeout(remaining, self.fetcher.reload_credentials(generation))
                        .await
                        .unwrap_or(false);
                if renewed {
                    tracing::info!(
                        scopes = %entry.scopes,
                        "invalid_client: retrying once with the re-read client secret"
                    );
                    last = Some(error);
                    continue;
                }
            }
            if !error.is_retryable() {
                return Err(error);
            }
            if attempt >= self.retry.max_attempts {
                return Err(TokenCacheError::RetriesExhausted {
                    attempts: attempt,
                    last: Box::new(error),
                });
            }
            let delay = self
                .retry
                .backoff(attempt, error.retry_after(), fastrand::f64());
            if after(delay) >= deadline {
                return Err(TokenCacheError::DeadlineExceeded {
                    attempts: attempt,
                    last: Some(Box::new(error)),
                });
            }
            tokio::time::sleep(delay).await;
            last = Some(error);
        }
    }
}

/// What one look at the shared store gave.
enum Look {
    /// A token this process may use, and the record it came from.
    Token(AccessToken, SharedRecord),
    /// Nothing usable: whether another process holds a running lease, and
    /// the `issued_ms` of the record that was there (unusable), if any.
    Nothing { leased: bool, seen: Option<u64> },
    /// The store failed or was too slow.
    Unavailable,
}

/// The shared level: one token request per scope set for the whole fleet.
impl Inner {
    async fn fetch_flight(
        &self,
        entry: &Entry,
        progress: &FlightProgress,
        kind: FlightKind,
    ) -> FlightResult {
        match &self.fleet {
            Some(fleet) => self.fetch_via_fleet(fleet, entry, progress, kind).await,
            None => self.fetch_with_retry(entry, progress).await,
        }
    }

    /// Takes the token from the store, or (holding the lease) fetches and
    /// publishes it, or waits a bounded time for the holder's; whenever the
    /// store fails or nothing comes in time, fetches on its own as without a
    /// store, within the same deadline.
    async fn fetch_via_fleet(
        &self,
        fleet: &Fleet,
        entry: &Entry,
        progress: &FlightProgress,
        kind: FlightKind,
    ) -> FlightResult {
        let scopes = &entry.scopes;
        let binding = fleet.binding(scopes);
        // A refresh wants a token newer than the one held (unknown: fetch).
        let newer_than = match kind {
            FlightKind::Foreground => None,
            FlightKind::Background => Some(fleet.seen_issued(scopes).unwrap_or(u64::MAX)),
        };
        let deadline = progress.deadline;
        let mut seen = match self.look(fleet, &binding, deadline, newer_than).await {
            Look::Token(token, record) => return Ok(self.adopt(fleet, scopes, token, &record)),
            Look::Unavailable => {
                return self
                    .fetch_and_share(fleet, &binding, entry, progress, false)
                    .await;
            }
            Look::Nothing { seen, .. } => seen,
        };
        let own_request = self.request_timeout.min(self.retry.deadline / 2);
        let wait_until = shared::wait_until(
            tokio::time::Instant::now(),
            deadline,
            fleet.settings.max_wait,
            own_request,
        );
        let lease = fleet
            .settings
            .lease
            .unwrap_or(self.request_timeout + Duration::from_secs(1))
            .min(self.retry.deadline);
        let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
        let mut polls = 0;
        loop {
            if tokio::time::Instant::now() >= wait_until {
                break;
            }
            let now_ms = Fleet::wall_ms(self.clock.as_ref(), self.clock.now());
            let leased = fleet.store.try_lease(
                &binding.key,
                &fleet.holder,
                now_ms,
                now_ms.saturating_add(lease_ms),
                seen,
            );
            match self.store_call(fleet, deadline, leased).await {
                None => break,
                Some(true) => {
                    return self
                        .fetch_and_share(fleet, &binding, entry, progress, true)
                        .await;
                }
                Some(false) => {}
            }
            // Another process is fetching, or has just published: poll for its token.
            loop {
                let now = tokio::time::Instant::now();
                if now >= wait_until {
                    break;
                }
                let pause = shared::poll_interval(polls, fastrand::f64());
                tokio::time::sleep_until((now + pause).min(wait_until)).await;
                polls += 1;
                match self.look(fleet, &binding, deadline, newer_than).await {
                    Look::Token(token, record) => {
                        return Ok(self.adopt(fleet, scopes, token, &record));
                    }
                    Look::Unavailable => {
                        return self
                            .fetch_and_share(fleet, &binding, entry, progress, false)
                            .await;
                    }
                    Look::Nothing {
                        leased,
                        seen: now_seen,
                    } => {
                        seen = now_seen;
                        // The holder gave up or its lease ran out: try to take it.
                        if !leased {
                            break;
                        }
                    }
                }
            }
        }
        tracing::info!(scopes = %scopes, "no shared token in time: requesting one of its own");
        self.fetch_and_share(fleet, &binding, entry, progress, false)
            .await
    }

    /// One look at the store: a usable token, or why not.
    async fn look(
        &self,
        fleet: &Fleet,
        binding: &shared::Binding,
        deadline: tokio::time::Instant,
        newer_than: Option<u64>,
    ) -> Look {
        let Some(state) = self
            .store_call(fleet, deadline, fleet.store.load(&binding.key))
            .await
        else {
            return Look::Unavailable;
        };
        let now = self.clock.now();
        let now_ms = Fleet::wall_ms(self.clock.as_ref(), now);
        let seen = state.record.as_ref().map(|r| r.issued_ms);
        if let Some(record) = state.record
            && shared::usable(&record, now_ms, self.hard_margin, newer_than)
        {
            let spread = fastrand::f64();
            let opened = binding.open(&record).and_then(|value| {
                shared::local_times(
                    &record,
                    now,
                    now_ms,
                    self.refresh_ratio,
                    self.hard_margin,
                    spread,
                )
                .map(|times| AccessToken::new(value, times))
            });
            match opened {
                Some(token) => return Look::Token(token, record),
                // Another secret, another binding, or tampered: never used.
                None => tracing::warn!(
                    "shared token entry does not open with this client's secret: ignored"
                ),
            }
        }
        Look::Nothing {
            leased: state.lease_until_ms.is_some_and(|until| until > now_ms),
            seen,
        }
    }

    fn adopt(
        &self,
        fleet: &Fleet,
        scopes: &ScopeSet,
        token: AccessToken,
        record: &SharedRecord,
    ) -> AccessToken {
        fleet.remember(scopes, token.0.id, record);
        self.shared_tokens_used.fetch_add(1, Ordering::Relaxed);
        tracing::info!(scopes = %scopes, "token taken from the shared store");
        token
    }

    /// This process's own token request; the token is then sealed and
    /// published (awaited when holding the lease, so waiters see it at once;
    /// in the background otherwise). A failed holder gives the lease back.
    async fn fetch_and_share(
        &self,
        fleet: &Fleet,
        binding: &shared::Binding,
        entry: &Entry,
        progress: &FlightProgress,
        leased: bool,
    ) -> FlightResult {
        let result = self.fetch_with_retry(entry, progress).await;
        let token = match result {
            Ok(token) => token,
            Err(error) => {
                if leased {
                    self.spawn_store_call(fleet, {
                        let store = Arc::clone(&fleet.store);
                        let key = binding.key.clone();
                        let holder = fleet.holder.clone();
                        async move { store.release(&key, &holder).await.map(|()| true) }
                    });
                }
                return Err(error);
            }
        };
        let times = token.0.times;
        let issued_ms = Fleet::wall_ms(self.clock.as_ref(), times.issued_at);
        let lifetime_ms =
            u64::try_from((times.expires_at - times.issued_at).as_millis()).unwrap_or(u64::MAX);
        let token = AccessToken::new(
            token.secret().to_owned(),
            shared::spread_refresh(times, fastrand::f64()),
        );
        let Some(record) = binding.seal(
            token.secret(),
            issued_ms,
            issued_ms.saturating_add(lifetime_ms),
        ) else {
            return Ok(token);
        };
        fleet.remember(&entry.scopes, token.0.id, &record);
        let publish = {
            let store = Arc::clone(&fleet.store);
            let key = binding.key.clone();
            async move { store.publish(&key, &record).await }
        };
        if leased {
            let written = self
                .store_call(fleet, after(fleet.settings.op_timeout), Box::pin(publish))
                .await;
            tracing::debug!(scopes = %entry.scopes, written = written.unwrap_or(false), "token published to the shared store");
        } else {
            self.spawn_store_call(fleet, publish);
        }
        Ok(token)
    }

    /// One store call, bounded by the settings and by `deadline`; `None`
    /// (logged) when it failed or took too long.
    async fn store_call<T>(
        &self,
        fleet: &Fleet,
        deadline: tokio::time::Instant,
        call: shared::StoreFuture<'_, T>,
    ) -> Option<T> {
        let until = after(fleet.settings.op_timeout).min(deadline);
        match tokio::time::timeout_at(until, call).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(error)) => {
                tracing::warn!(error = %error, "shared token store failed: going on without it");
                None
            }
            Err(_) => {
                tracing::warn!("shared token store timed out: going on without it");
                None
            }
        }
    }

    /// A best-effort store write off the request path.
    fn spawn_store_call(
        &self,
        fleet: &Fleet,
        call: impl Future<Output = Result<bool, shared::StoreError>> + Send + 'static,
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let timeout = fleet.settings.op_timeout;
        runtime.spawn(async move {
            match tokio::time::timeout(timeout, call).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(error = %error, "shared token store write failed"),
                Err(_) => tracing::warn!("shared token store write timed out"),
            }
        });
    }

    /// After a 401 or an explicit invalidation: removes the fleet's entry if
    /// it is still the token this process dropped.
    fn invalidate_shared(&self, scopes: &ScopeSet, token_id: Option<u64>) {
        let Some(fleet) = &self.fleet else {
            return;
        };
        let Some((key, sealed)) = fleet.forget(scopes, token_id) else {
            return;
        };
        let store = Arc::clone(&fleet.store);
        self.spawn_store_call(fleet, async move { store.invalidate(&key, &sealed).await });
        tracing::debug!(scopes = %scopes, "shared token invalidated for the fleet");
    }
}
