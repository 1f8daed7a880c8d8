//! The pool's signing keys: a parsed JWKS ([`KeySet`], pure) and the cache
//! that fetches it ([`JwksCache`], the only network I/O of the authorizer).
//!
//! Fetch rules: at init (or preloaded from a file); on an unknown `kid`, one
//! refetch shared by all concurrent callers, then a penalty window in which
//! unknown kids are rejected without fetching. A failed or malformed fetch
//! never replaces a good key set.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;

use crate::error::AuthError;

/// Why a JWKS could not be had.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The HTTP request failed (connection, timeout, redirect refused).
    #[error("JWKS request failed: {0}")]
    Http(#[source] reqwest::Error),
    /// The endpoint answered with a status other than 200.
    #[error("JWKS endpoint answered HTTP {0}")]
    Status(u16),
    /// The body was larger than the configured cap.
    #[error("JWKS body larger than {0} bytes")]
    TooLarge(usize),
    /// The body is not a JWKS with at least one usable RS256 key.
    #[error("JWKS is malformed: {0}")]
    Malformed(String),
    /// No JWKS has been fetched yet and the penalty window forbids another try.
    #[error("no keys cached and a fetch failed recently")]
    NoneCached,
}

#[derive(Debug, Clone)]
enum KeyEntry {
    Usable(Arc<DecodingKey>),
    Unusable(&'static str),
}

/// A parsed JWKS: `kid` to RS256 verification key.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, KeyEntry>,
}

#[derive(Deserialize)]
struct JwkSetJson {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct JwkJson {
    kty: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

impl KeySet {
    /// Parses a JWKS document. Keys that are not RSA signing keys for RS256
    /// are kept as unusable (a token naming them is rejected); a `kid` that
    /// appears twice is unusable (ambiguous). At least one usable key is required.
    pub fn from_json(bytes: &[u8]) -> Result<Self, JwksError> {
        let set: JwkSetJson = serde_json::from_slice(bytes)
            .map_err(|e| JwksError::Malformed(format!("expected {{\"keys\": [...]}}: {e}")))?;
        let mut keys: HashMap<String, KeyEntry> = HashMap::new();
        for value in set.keys {
            // The kid first, so that an entry that does not parse still counts
            // as a use of its kid (a duplicate makes the kid unusable).
            let Some(kid) = value.get("kid").and_then(|k| k.as_str()).map(str::to_owned) else {
                continue;
            };
            let entry = match serde_json::from_value::<JwkJson>(value) {
                Ok(jwk) => usable_key(&jwk)
                    .map_or_else(KeyEntry::Unusable, |k| KeyEntry::Usable(Arc::new(k))),
                Err(_) => KeyEntry::Unusable("malformed JWK"),
            };
            keys.entry(kid)
                .and_modify(|existing| *existing = KeyEntry::Unusable("duplicate kid in JWKS"))
                .or_insert(entry);
        }
        if !keys.values().any(|k| matches!(k, KeyEntry::Usable(_))) {
            return Err(JwksError::Malformed("no usable RS256 signing key".into()));
        }
        Ok(Self { keys })
    }

    /// The key for `kid`: `None` if absent, an error if present but unusable.
    pub fn get(&self, kid: &str) -> Option<Result<Arc<DecodingKey>, AuthError>> {
        self.keys.get(kid).map(|entry| match entry {
            KeyEntry::Usable(key) => Ok(key.clone()),
            KeyEntry::Unusable(why) => Err(AuthError::KeyNotUsable(why)),
        })
    }

    /// Number of kids (usable or not).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is known.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn usable_key(jwk: &JwkJson) -> Result<DecodingKey, &'static str> {
    if jwk.kty.as_deref() != Some("RSA") {
        return Err("not an RSA key");
    }
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return Err("not a signing key");
    }
    if jwk.alg.as_deref().is_some_and(|a| a != "RS256") {
        return Err("key is not for RS256");
    }
    let (Some(n), Some(e)) = (jwk.n.as_deref(), jwk.e.as_deref()) else {
        return Err("missing n or e");
    };
    let n = URL_SAFE_NO_PAD
        .decode(n)
        .map_err(|_| "n is not base64url")?;
    let e = URL_SAFE_NO_PAD
        .decode(e)
        .map_err(|_| "e is not base64url")?;
    let bits = n
        .iter()
        .position(|b| *b != 0)
        .map_or(0, |i| (n.len() - i) * 8);
    if bits < 2048 {
        return Err("RSA modulus shorter than 2048 bits");
    }
    Ok(DecodingKey::from_rsa_raw_components(&n, &e))
}

/// Settings of the key cache.
#[derive(Debug, Clone)]
pub(crate) struct JwksSettings {
    /// Where to fetch the JWKS.
    pub(crate) uri: String,
    /// Request timeout.
    pub(crate) timeout: Duration,
    /// Body size cap in bytes.
    pub(crate) max_bytes: usize,
    /// After a refetch, unknown kids are rejected without fetching for this long (seconds).
    pub(crate) penalty_seconds: f64,
}

#[derive(Debug, Default)]
struct State {
    keys: Arc<KeySet>,
    /// When the last request-path fetch started (seconds); drives the penalty window.
    last_fetch: Option<f64>,
    /// Bumped by every fetch attempt, so callers queued behind one can tell.
    generation: u64,
}

/// The key cache of one user pool.
#[derive(Debug)]
pub(crate) struct JwksCache {
    settings: JwksSettings,
    client: reqwest::Client,
    state: RwLock<State>,
    fetching: tokio::sync::Mutex<()>,
}

impl JwksCache {
    /// A cache with no keys yet; `client` is shared by all pools.
    pub(crate) fn new(settings: JwksSettings, client: reqwest::Client) -> Self {
        Self {
            settings,
            client,
            state: RwLock::default(),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The HTTP client an authorizer should use for JWKS: rustls, no redirects, timeouts.
    pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, JwksError> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(JwksError::Http)
    }

    /// Replaces the key set (from `JWKS_FILE` or a test).
    pub(crate) fn preload(&self, keys: KeySet) {
        if let Ok(mut state) = self.state.write() {
            state.keys = Arc::new(keys);
        }
    }

    /// Fetches the JWKS now (init). A failure leaves the cache as it was and
    /// does not start a penalty window: the first request tries again.
    pub(crate) async fn fetch_now(&self) -> Result<usize, JwksError> {
        let _guard = self.fetching.lock().await;
        let keys = self.fetch().await?;
        let n = keys.len();
        if let Ok(mut state) = self.state.write() {
            state.keys = Arc::new(keys);
            state.generation += 1;
        }
        Ok(n)
    }

    /// The verification key for `kid` at time `now` (seconds).
    pub(crate) async fn key(&self, kid: &str, now: f64) -> Result<Arc<DecodingKey>, AuthError> {
        let seen_generation = {
            let state = self.read();
            if let Some(found) = state.keys.get(kid) {
                return found;
            }
            if self.in_penalty(&state, now) {
                return Err(self.miss(&state));
            }
            state.generation
        };
        let _guard = self.fetching.lock().await;
        {
            let state = self.read();
            if let Some(found) = state.keys.get(kid) {
                return found;
            }
            if state.generation != seen_generation || self.in_penalty(&state, now) {
                // Someone fetched while we queued: share their answer.
                return Err(self.miss(&state));
            }
        }
        let result = self.fetch().await;
        let mut state = self
            .state
            .write()
            .map_err(|_| AuthError::KeysUnavailable(JwksError::NoneCached))?;
        state.last_fetch = Some(now);
        state.generation += 1;
        match result {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "JWKS refetched for an unknown kid");
                state.keys = Arc::new(keys);
                state.keys.get(kid).unwrap_or(Err(AuthError::UnknownKid))
            }
            Err(e) => {
                tracing::error!(error = %e, "JWKS refetch failed; keeping the cached keys");
                Err(AuthError::KeysUnavailable(e))
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn in_penalty(&self, state: &State, now: f64) -> bool {
        state
            .last_fetch
            .is_some_and(|t| now - t < self.settings.penalty_seconds && now >= t)
    }

    fn miss(&self, state: &State) -> AuthError {
        if state.keys.is_empty() {
            AuthError::KeysUnavailable(JwksError::NoneCached)
        } else {
            AuthError::UnknownKid
        }
    }

    async fn fetch(&self) -> Result<KeySet, JwksError> {
        let mut response = self
            .client
            .get(&self.settings.uri)
            .timeout(self.settings.timeout)
            .send()
            .await
            .map_err(JwksError::Http)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(JwksError::Status(response.status().as_u16()));
        }
        let cap = self.settings.max_bytes;
        if response.content_length().is_some_and(|n| n > cap as u64) {
            return Err(JwksError::TooLarge(cap));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(JwksError::Http)? {
            if body.len() + chunk.len() > cap {
                return Err(JwksError::TooLarge(cap));
            }
            body.extend_from_slice(&chunk);
        }
        KeySet::from_json(&body)
    }
}
