//! The optional fleet-wide second level: tokens shared between processes
//! (every container of a Lambda function) through a [`SharedTokenStore`], so a
//! fleet makes about one token request per scope set per token lifetime
//! instead of one per container.
//!
//! What is stored is sealed: the access token encrypted and authenticated with
//! AES-256-GCM under a key derived by HKDF-SHA256 from the client secret, bound
//! to the token URL, the client id, the scope set and the token's times. A
//! reader without the secret learns nothing usable; a writer without it can
//! only make entries that every reader ignores. Design and threat model: the
//! crate README, "Sharing tokens across a fleet".
//!
//! The store is an I/O edge behind a trait; the rules (what entry may be
//! used, how long to wait for another process's token) are pure functions
//! here, tested without a store. The DynamoDB implementation is
//! [`DynamoDbTokenStore`] (feature `dynamodb`).

#[cfg(feature = "dynamodb")]
mod dynamodb;

#[cfg(feature = "dynamodb")]
pub use dynamodb::DynamoDbTokenStore;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, UNIX_EPOCH};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest;
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};

use crate::clock::Clock;
use crate::scope::ScopeSet;
use crate::secret::ClientSecret;
use crate::state::TokenTimes;

/// The future a [`SharedTokenStore`] method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A shared store failed (unavailable, throttled, refused). The cache then
/// behaves as it does without a store: its own token request.
#[derive(Debug, Clone, thiserror::Error)]
#[error("shared token store: {0}")]
pub struct StoreError(pub String);

/// One published token as the store keeps it: opaque sealed bytes and the two
/// times readers need before opening it (both also authenticated inside).
#[derive(Clone, PartialEq, Eq)]
pub struct SharedRecord {
    /// Version byte, nonce, ciphertext and tag. Meaningless without the secret.
    pub sealed: Vec<u8>,
    /// When the token request was sent, Unix milliseconds.
    pub issued_ms: u64,
    /// `issued_ms` plus the token's `expires_in`, Unix milliseconds.
    pub expires_ms: u64,
}

impl fmt::Debug for SharedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRecord")
            .field("sealed_len", &self.sealed.len())
            .field("issued_ms", &self.issued_ms)
            .field("expires_ms", &self.expires_ms)
            .finish()
    }
}

/// What the store holds under one key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedState {
    /// The published token, if any.
    pub record: Option<SharedRecord>,
    /// Until when another process holds the lease to fetch (Unix ms), if any.
    pub lease_until_ms: Option<u64>,
}

/// Where a fleet's processes publish tokens for each other. Keys are opaque
/// hex digests (no scope, client id or URL in clear). Every method is one
/// conditional operation, so any store with compare-and-set fits (DynamoDB:
/// [`DynamoDbTokenStore`]).
pub trait SharedTokenStore: Send + Sync + 'static {
    /// The record and lease under `key` (strongly consistent).
    fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, SharedState>;

    /// Takes the lease to fetch for `key` until `until_ms`, if nobody holds
    /// one that is still running at `now_ms` and the record is still the one
    /// the caller looked at (`seen_issued_ms`: its `issued_ms`; `None`: there
    /// was none). So a process never fetches after another just published.
    /// `true` when taken.
    fn try_lease<'a>(
        &'a self,
        key: &'a str,
        holder: &'a str,
        now_ms: u64,
        until_ms: u64,
        seen_issued_ms: Option<u64>,
    ) -> StoreFuture<'a, bool>;

    /// Publishes `record` unless a newer one (greater `issued_ms`) is already
    /// there; clears the lease. `true` when written.
    fn publish<'a>(&'a self, key: &'a str, record: &'a SharedRecord) -> StoreFuture<'a, bool>;

    /// Gives the lease back if `holder` still has it (its fetch failed).
    fn release<'a>(&'a self, key: &'a str, holder: &'a str) -> StoreFuture<'a, ()>;

    /// Removes the record if it is still exactly `sealed` (the resource
    /// server refused that token). `true` when removed.
    fn invalidate<'a>(&'a self, key: &'a str, sealed: &'a [u8]) -> StoreFuture<'a, bool>;
}

/// Timing of the shared level. The defaults suit a Lambda fleet on DynamoDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedSettings {
    /// Bound of each store call; past it the store counts as unavailable for
    /// this token request. Default 1 s.
    pub op_timeout: Duration,
    /// How long a process waits for another's published token before it sends
    /// its own request. Always also kept within the token request's deadline,
    /// leaving a request timeout for its own request. Default 5 s.
    pub max_wait: Duration,
    /// How long a lease holds: a holder that dies delays nobody beyond it.
    /// Default: the request timeout plus 1 s, at most the deadline.
    pub lease: Option<Duration>,
}

impl Default for SharedSettings {
    fn default() -> Self {
        Self {
            op_timeout: Duration::from_secs(1),
            max_wait: Duration::from_secs(5),
            lease: None,
        }
    }
}

const SEAL_VERSION: u8 = 1;
const KEY_DOMAIN: &[u8] = b"token-cache shared entry v1";

/// The key and cipher of one scope set: the store key (a digest of what the
/// entry is bound to) and the AES-256-GCM key derived from the client secret.
pub(crate) struct Binding {
    /// Hex SHA-256 of the bound context; what the store is keyed by.
    pub(crate) key: String,
    context: Vec<u8>,
    cipher: LessSafeKey,
}

struct AesKeyLen;

impl KeyType for AesKeyLen {
    fn len(&self) -> usize {
        AES_256_GCM.key_len()
    }
}

impl Binding {
    /// Binds to `token_url`, `client_id` and `scopes`, keyed by `secret`.
    pub(crate) fn new(
        token_url: &str,
        client_id: &str,
        scopes: &ScopeSet,
        secret: &ClientSecret,
    ) -> Self {
        let mut context = Vec::with_capacity(64 + token_url.len() + client_id.len());
        for part in [
            KEY_DOMAIN,
            token_url.as_bytes(),
            client_id.as_bytes(),
            scopes.as_param().unwrap_or("").as_bytes(),
        ] {
            context.extend_from_slice(&(part.len() as u64).to_be_bytes());
            context.extend_from_slice(part);
        }
        let key = hex(digest::digest(&digest::SHA256, &context).as_ref());
        let prk = Salt::new(HKDF_SHA256, KEY_DOMAIN).extract(secret.expose().as_bytes());
        let info = [context.as_slice()];
        let mut bytes = [0u8; 32];
        // Both calls fail only for an output length HKDF cannot give (over
        // 255 blocks); 32 bytes always fits, and AES-256 takes 32 bytes.
        let cipher = prk
            .expand(&info, AesKeyLen)
            .and_then(|okm| okm.fill(&mut bytes))
            .ok()
            .and_then(|()| UnboundKey::new(&AES_256_GCM, &bytes).ok())
            .map(LessSafeKey::new)
            .expect("HKDF-SHA256 gives 32 bytes for AES-256-GCM");
        Self {
            key,
            context,
            cipher,
        }
    }

    fn aad(&self, issued_ms: u64, expires_ms: u64) -> Vec<u8> {
        let mut aad = Vec::with_capacity(self.context.len() + 17);
        aad.push(SEAL_VERSION);
        aad.extend_from_slice(&self.context);
        aad.extend_from_slice(&issued_ms.to_be_bytes());
        aad.extend_from_slice(&expires_ms.to_be_bytes());
        aad
    }

    /// Seals `token` with its times; `None` only if the system's random
    /// source fails (the token is then simply not shared).
    pub(crate) fn seal(
        &self,
        token: &str,
        issued_ms: u64,
        expires_ms: u64,
    ) -> Option<SharedRecord> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).ok()?;
        let mut in_out = token.as_bytes().to_vec();
        self.cipher
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.aad(issued_ms, expires_ms)),
                &mut in_out,
            )
            .ok()?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        sealed.push(SEAL_VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&in_out);
        Some(SharedRecord {
            sealed,
            issued_ms,
            expires_ms,
        })
    }

    /// The token inside `record`, if it was sealed by this binding (same
    /// secret, URL, client, scope set) with these very times.
    pub(crate) fn open(&self, record: &SharedRecord) -> Option<String> {
        let (&version, rest) = record.sealed.split_first()?;
        if version != SEAL_VERSION || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .cipher
            .open_in_place(
                nonce,
                Aad::from(self.aad(record.issued_ms, record.expires_ms)),
                &mut in_out,
            )
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Whether a record found in the store may be used (pure).
///
/// * it must open (checked by the caller) and not be past the hard limit:
///   more than `hard_margin` (capped at half its life) before its expiry;
/// * in a background refresh, it must be newer than the token this process
///   already holds (`newer_than`), or it is the same token the refresh is for.
pub(crate) fn usable(
    record: &SharedRecord,
    now_ms: u64,
    hard_margin: Duration,
    newer_than: Option<u64>,
) -> bool {
    if record.expires_ms <= record.issued_ms {
        return false;
    }
    if newer_than.is_some_and(|seen| record.issued_ms <= seen) {
        return false;
    }
    let lifetime = record.expires_ms - record.issued_ms;
    let margin = u64::try_from(hard_margin.as_millis())
        .unwrap_or(u64::MAX)
        .min(lifetime / 2);
    now_ms < record.expires_ms.saturating_sub(margin)
}

/// The token's times on this process's clock, anchored on its expiry (so a
/// publisher whose wall clock runs ahead never makes a reader keep a token
/// longer). The refresh point is spread at random over the first half of the
/// refresh window, so the fleet's first process to reach it refreshes for
/// everyone. `None` when the record is already expired.
pub(crate) fn local_times(
    record: &SharedRecord,
    now: Instant,
    now_ms: u64,
    refresh_ratio: f64,
    hard_margin: Duration,
    spread: f64,
) -> Option<TokenTimes> {
    if record.expires_ms <= now_ms {
        return None;
    }
    let lifetime = Duration::from_millis(record.expires_ms.checked_sub(record.issued_ms)?);
    let left = Duration::from_millis(record.expires_ms - now_ms);
    let expires_at = now.checked_add(left)?;
    let issued_at = expires_at.checked_sub(lifetime)?;
    Some(spread_refresh(
        TokenTimes::new(issued_at, lifetime, refresh_ratio, hard_margin),
        spread,
    ))
}

/// Moves the refresh point later by `spread` (in `[0, 1)`) of half the refresh window.
pub(crate) fn spread_refresh(mut times: TokenTimes, spread: f64) -> TokenTimes {
    let window = times
        .usable_until
        .saturating_duration_since(times.refresh_at);
    times.refresh_at += window.mul_f64(spread.clamp(0.0, 1.0) / 2.0);
    times
}

/// How long a process that did not get the lease keeps polling for the
/// holder's token (pure): the lease's end, `max_wait`, and the point that
/// leaves `own_request` before the deadline for its own request, whichever
/// comes first.
pub(crate) fn wait_until(
    start: tokio::time::Instant,
    deadline: tokio::time::Instant,
    max_wait: Duration,
    own_request: Duration,
) -> tokio::time::Instant {
    let latest = deadline
        .checked_sub(own_request)
        .unwrap_or(start)
        .max(start);
    (start + max_wait).min(latest)
}

/// The poll interval after `polls` polls: 50 ms doubling to 800 ms, jittered
/// by ±50% (`jitter` in `[0, 1)`), so a fleet of waiters does not poll in
/// step, and a thousand of them read a table about a thousand times a second at most.
pub(crate) fn poll_interval(polls: u32, jitter: f64) -> Duration {
    let base = Duration::from_millis(50 << polls.min(4));
    base.mul_f64(0.5 + jitter.clamp(0.0, 1.0))
}

/// What this process last used for a scope set, for a conditional
/// invalidation and for "newer than mine".
struct Seen {
    token_id: u64,
    issued_ms: u64,
    sealed: Vec<u8>,
}

/// The shared level as the cache holds it.
pub(crate) struct Fleet {
    pub(crate) store: std::sync::Arc<dyn SharedTokenStore>,
    pub(crate) settings: SharedSettings,
    token_url: String,
    client_id: String,
    secret: ClientSecret,
    /// This process's lease holder id (random).
    pub(crate) holder: String,
    seen: Mutex<HashMap<ScopeSet, Seen>>,
}

impl Fleet {
    pub(crate) fn new(
        store: std::sync::Arc<dyn SharedTokenStore>,
        settings: SharedSettings,
        token_url: &str,
        client_id: &str,
        secret: ClientSecret,
    ) -> Self {
        Self {
            store,
            settings,
            token_url: token_url.to_owned(),
            client_id: client_id.to_owned(),
            secret,
            holder: format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
            seen: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn binding(&self, scopes: &ScopeSet) -> Binding {
        Binding::new(&self.token_url, &self.client_id, scopes, &self.secret)
    }

    /// Unix milliseconds at instant `at` of `clock` (at or before its now).
    pub(crate) fn wall_ms(clock: &dyn Clock, at: Instant) -> u64 {
        let wall = clock
            .wall_now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let ago = clock.now().saturating_duration_since(at);
        wall.saturating_sub(u64::try_from(ago.as_millis()).unwrap_or(u64::MAX))
    }

    /// The `issued_ms` of the token this process holds for `scopes`, if it
    /// came through the shared level.
    pub(crate) fn seen_issued(&self, scopes: &ScopeSet) -> Option<u64> {
        self.seen_map().get(scopes).map(|s| s.issued_ms)
    }

    pub(crate) fn remember(&self, scopes: &ScopeSet, token_id: u64, record: &SharedRecord) {
        self.seen_map().insert(
            scopes.clone(),
            Seen {
                token_id,
                issued_ms: record.issued_ms,
                sealed: record.sealed.clone(),
            },
        );
    }

    /// The store key and sealed bytes to invalidate for the fleet, if this
    /// process's token `token_id` for `scopes` came through the shared level.
    pub(crate) fn forget(
        &self,
        scopes: &ScopeSet,
        token_id: Option<u64>,
    ) -> Option<(String, Vec<u8>)> {
        let mut seen = self.seen_map();
        let matches = seen
            .get(scopes)
            .is_some_and(|s| token_id.is_none_or(|id| id == s.token_id));
        if !matches {
            return None;
        }
        let s = seen.remove(scopes)?;
        Some((self.binding(scopes).key, s.sealed))
    }

    fn seen_map(&self) -> std::sync::MutexGuard<'_, HashMap<ScopeSet, Seen>> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap()
    }

    fn binding(secret: &str, scope: &str) -> Binding {
        Binding::new(
            "https://auth.example.com/oauth2/token",
            "client-1",
            &scopes(scope),
            &ClientSecret::new(secret),
        )
    }

    #[test]
    fn a_sealed_token_opens_only_with_the_same_secret_url_client_and_scopes() {
        let b = binding("s3cret", "api/read");
        let record = b.seal("the-token", 1_000, 3_601_000).unwrap();
        assert_eq!(b.open(&record).as_deref(), Some("the-token"));
        assert!(!record.sealed.windows(9).any(|w| w == b"the-token"));

        assert_eq!(binding("other", "api/read").open(&record), None);
        assert_eq!(binding("s3cret", "api/write").open(&record), None);
        let other_client = Binding::new(
            "https://auth.example.com/oauth2/token",
            "client-2",
            &scopes("api/read"),
            &ClientSecret::new("s3cret"),
        );
        assert_eq!(other_client.open(&record), None);
        let other_url = Binding::new(
            "https://evil.example.com/oauth2/token",
            "client-1",
            &scopes("api/read"),
            &ClientSecret::new("s3cret"),
        );
        assert_eq!(other_url.open(&record), None);
    }

    #[test]
    fn changed_times_or_bytes_make_a_record_unreadable() {
        let b = binding("s3cret", "api/read");
        let record = b.seal("the-token", 1_000, 3_601_000).unwrap();
        let later = SharedRecord {
            expires_ms: record.expires_ms + 3_600_000,
            ..record.clone()
        };
        assert_eq!(b.open(&later), None);
        let earlier_issue = SharedRecord {
            issued_ms: 2_000,
            ..record.clone()
        };
        assert_eq!(b.open(&earlier_issue), None);
        for i in 0..record.sealed.len() {
            let mut tampered = record.clone();
            tampered.sealed[i] ^= 0x01;
            assert_eq!(b.open(&tampered), None, "byte {i}");
        }
        let mut short = record.clone();
        short.sealed.truncate(5);
        assert_eq!(b.open(&short), None);
        assert_eq!(
            b.open(&SharedRecord {
                sealed: Vec::new(),
                ..record
            }),
            None
        );
    }

    #[test]
    fn keys_differ_per_binding_and_reveal_nothing() {
        let a = binding("s3cret", "api/read");
        assert_eq!(a.key.len(), 64);
        assert_eq!(a.key, binding("s3cret", "api/read").key);
        assert_eq!(a.key, binding("another secret", "api/read").key);
        assert_ne!(a.key, binding("s3cret", "api/write").key);
        assert!(!a.key.contains("api"));
    }

    #[test]
    fn usable_records_are_before_the_hard_limit_and_newer_when_refreshing() {
        let b = binding("s3cret", "api/read");
        let record = b.seal("t", 0, 3_600_000).unwrap();
        let margin = Duration::from_secs(30);
        assert!(usable(&record, 0, margin, None));
        assert!(usable(&record, 3_569_999, margin, None));
        assert!(!usable(&record, 3_570_000, margin, None));
        assert!(!usable(&record, 9_999_999, margin, None));
        // A refresh needs a newer token than the one held.
        assert!(!usable(&record, 1_000, margin, Some(0)));
        let newer = b.seal("t2", 2_000, 3_602_000).unwrap();
        assert!(usable(&newer, 2_500, margin, Some(0)));
        // Nonsense times are never usable.
        let backwards = SharedRecord {
            issued_ms: 10,
            expires_ms: 5,
            ..record
        };
        assert!(!usable(&backwards, 0, margin, None));
    }

    #[test]
    fn local_times_anchor_on_expiry_and_spread_the_refresh_point() {
        let b = binding("s3cret", "api/read");
        let now = Instant::now();
        // Issued 1,000 s ago (wall), one hour of life.
        let record = b.seal("t", 0, 3_600_000).unwrap();
        let margin = Duration::from_secs(30);
        let t = local_times(&record, now, 1_000_000, 0.8, margin, 0.0).unwrap();
        assert_eq!(t.expires_at - now, Duration::from_secs(2600));
        assert_eq!(t.usable_until - now, Duration::from_secs(2570));
        assert_eq!(t.refresh_at - now, Duration::from_secs(1880));
        let spread = local_times(&record, now, 1_000_000, 0.8, margin, 0.999_999).unwrap();
        let window = t.usable_until - t.refresh_at;
        assert!(spread.refresh_at > t.refresh_at);
        assert!(spread.refresh_at - t.refresh_at <= window / 2);
        assert_eq!(spread.usable_until, t.usable_until);
        assert_eq!(local_times(&record, now, 3_600_000, 0.8, margin, 0.0), None);
    }

    #[test]
    fn waiting_for_another_process_keeps_room_for_an_own_request() {
        let start = tokio::time::Instant::now();
        let deadline = start + Duration::from_secs(10);
        let five = Duration::from_secs(5);
        assert_eq!(
            wait_until(start, deadline, Duration::from_secs(3), five),
            start + Duration::from_secs(3)
        );
        assert_eq!(
            wait_until(start, deadline, Duration::from_secs(8), five),
            start + five
        );
        assert_eq!(
            wait_until(
                start,
                deadline,
                Duration::from_secs(8),
                Duration::from_secs(20)
            ),
            start
        );
    }

    #[test]
    fn poll_intervals_grow_to_a_cap_and_are_jittered() {
        assert_eq!(poll_interval(0, 0.5), Duration::from_millis(50));
        assert_eq!(poll_interval(4, 0.5), Duration::from_millis(800));
        assert_eq!(poll_interval(30, 0.5), Duration::from_millis(800));
        assert!(poll_interval(3, 0.0) < poll_interval(3, 0.99));
    }
}
