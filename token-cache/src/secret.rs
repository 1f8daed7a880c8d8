//! Values that must never reach a log line: the client secret and access tokens.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::state::TokenTimes;

const REDACTED: &str = "[redacted]";

/// The OAuth 2.0 client secret. `Debug` and `Display` print `[redacted]`;
/// the value is only reachable through [`ClientSecret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for building the token request. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for ClientSecret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientSecret({REDACTED})")
    }
}

impl fmt::Display for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A cached access token. Cloning is cheap (one reference count).
/// `Debug` and `Display` print `[redacted]`; the bearer value is only reachable
/// through [`AccessToken::secret`].
#[derive(Clone)]
pub struct AccessToken(pub(crate) Arc<IssuedToken>);

/// One token response. Aligned to two cache lines: the cache keeps several
/// copies (one per CPU shard) so concurrent hits bump different reference counts.
#[repr(align(128))]
pub(crate) struct IssuedToken {
    /// Identifies the token response (shared by its shard copies).
    pub(crate) id: u64,
    pub(crate) value: Arc<str>,
    pub(crate) times: TokenTimes,
}

static NEXT_TOKEN_ID: AtomicU64 = AtomicU64::new(1);

impl AccessToken {
    pub(crate) fn new(value: String, times: TokenTimes) -> Self {
        Self(Arc::new(IssuedToken {
            id: NEXT_TOKEN_ID.fetch_add(1, Ordering::Relaxed),
            value: Arc::from(value),
            times,
        }))
    }

    /// Another handle to the same token response with its own reference count.
    pub(crate) fn shard_copy(&self) -> Arc<IssuedToken> {
        Arc::new(IssuedToken {
            id: self.0.id,
            value: Arc::clone(&self.0.value),
            times: self.0.times,
        })
    }

    /// The bearer value for an `Authorization: Bearer` header. Do not log it.
    pub fn secret(&self) -> &str {
        &self.0.value
    }

    /// When the token expires according to the token endpoint's `expires_in`
    /// (measured from the moment the request was sent, on the cache's clock).
    pub fn expires_at(&self) -> std::time::Instant {
        self.0.times.expires_at
    }

    /// The refresh and expiry points computed for this token.
    pub fn times(&self) -> &TokenTimes {
        &self.0.times
    }

    /// Whether both handles come from the same token response.
    pub fn same_token(&self, other: &AccessToken) -> bool {
        self.0.id == other.0.id
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &format_args!("{REDACTED}"))
            .field("times", &self.0.times)
            .finish()
    }
}

impl fmt::Display for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn client_secret_debug_and_display_are_redacted() {
        let secret = ClientSecret::new("s3cr3t-value");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "ClientSecret([redacted])");
        assert_eq!(format!("{secret:#?}"), "ClientSecret([redacted])");
        assert_eq!(secret.expose(), "s3cr3t-value");
    }

    #[test]
    fn access_token_debug_and_display_are_redacted() {
        let times = TokenTimes::new(
            Instant::now(),
            Duration::from_secs(3600),
            0.8,
            Duration::from_secs(30),
        );
        let token = AccessToken::new("eyJ.token.value".to_owned(), times);
        assert_eq!(format!("{token}"), "[redacted]");
        let debug = format!("{token:?}");
        assert!(!debug.contains("eyJ"), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
        assert_eq!(token.secret(), "eyJ.token.value");
    }

    #[test]
    fn same_token_compares_identity_not_value() {
        let times = TokenTimes::new(
            Instant::now(),
            Duration::from_secs(60),
            0.8,
            Duration::from_secs(5),
        );
        let a = AccessToken::new("same".to_owned(), times);
        let b = AccessToken::new("same".to_owned(), times);
        assert!(a.same_token(&a.clone()));
        assert!(a.same_token(&AccessToken(a.shard_copy())));
        assert!(!a.same_token(&b));
    }
}
