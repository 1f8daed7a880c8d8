//! The crate's one error type.

use std::sync::Arc;
use std::time::Duration;

/// Everything that can go wrong getting a token. Cheap to clone: one failed
/// token request is handed to every caller that waited for it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TokenCacheError {
    /// A configuration setting is missing or invalid (checked at construction).
    #[error("invalid configuration: {setting}: {reason}")]
    Config {
        /// The setting (environment variable name for `from_env`/`from_lookup`).
        setting: String,
        /// What is wrong with it (never the secret's value).
        reason: String,
    },

    /// A scope is not a valid RFC 6749 scope token.
    #[error("invalid scope {scope:?}: {reason}")]
    InvalidScope {
        /// The offending scope (escaped).
        scope: String,
        /// Why it is invalid.
        reason: &'static str,
    },

    /// The token endpoint answered with an OAuth 2.0 error (RFC 6749 §5.2).
    /// Never retried: the request itself is wrong.
    #[error("token endpoint rejected the request (HTTP {status}): {kind}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    OAuth {
        /// The `error` code.
        kind: OAuthErrorKind,
        /// The `error_description`, if any (truncated to 200 characters).
        description: Option<String>,
        /// The HTTP status (Cognito: 400, or 401 for `invalid_client`).
        status: u16,
    },

    /// The endpoint granted fewer scopes than requested; the narrower token is
    /// not used.
    #[error("token endpoint did not grant the requested scopes: {}", missing.join(" "))]
    ScopeNotGranted {
        /// The requested scopes absent from the response's `scope`.
        missing: Vec<String>,
    },

    /// HTTP 429 from the token endpoint. Retried, honouring `Retry-After`.
    #[error("token endpoint is rate limiting (HTTP 429){}", retry_after.map(|d| format!(", retry after {d:?}")).unwrap_or_default())]
    RateLimited {
        /// The parsed `Retry-After`, if the endpoint sent one.
        retry_after: Option<Duration>,
    },

    /// HTTP 5xx from the token endpoint. Retried.
    #[error("token endpoint failed (HTTP {status})")]
    ServerError {
        /// The HTTP status.
        status: u16,
        /// The parsed `Retry-After` (e.g. on 503), if any.
        retry_after: Option<Duration>,
    },

    /// The token endpoint answered with a redirect (301, 302, 303, 307, 308).
    /// Redirects are never followed (they would carry the credentials
    /// elsewhere), and an answer from any URL but `token_url` is refused. Not
    /// retried: `token_url` is misconfigured.
    #[error("{}", redirected_message(*status))]
    Redirected {
        /// The 3xx status, or `None` when the answer came from another URL
        /// than `token_url` (not expected: redirects are switched off).
        status: Option<u16>,
    },

    /// An HTTP status that is neither success, a redirect, 429, 5xx nor a 4xx
    /// carrying an OAuth error body. Not retried.
    #[error("unexpected HTTP status {status} from the token endpoint")]
    UnexpectedStatus {
        /// The HTTP status.
        status: u16,
    },

    /// The response is not a valid token response (bad JSON, missing or invalid
    /// field, not a bearer token, too large). Not retried.
    #[error("malformed token response: {reason}")]
    MalformedResponse {
        /// What is wrong (never contains response content).
        reason: String,
    },

    /// One token request took longer than the request timeout. Retried.
    #[error("token request timed out")]
    Timeout,

    /// Connecting to or talking with the token endpoint failed (refused,
    /// reset, TLS, DNS). Retried.
    #[error("cannot reach the token endpoint")]
    Connect(#[source] Arc<reqwest::Error>),

    /// Any other HTTP client error on the token request. Not retried.
    #[error("token request failed")]
    Http(#[source] Arc<reqwest::Error>),

    /// Every attempt failed with a retryable error.
    #[error("token request failed after {attempts} attempts")]
    RetriesExhausted {
        /// Requests sent.
        attempts: u32,
        /// The last attempt's error.
        #[source]
        last: Box<TokenCacheError>,
    },

    /// The overall deadline for getting a token passed (or waiting out the
    /// next backoff or `Retry-After` would pass it).
    #[error("no token within the deadline after {attempts} attempts")]
    DeadlineExceeded {
        /// Requests sent.
        attempts: u32,
        /// The last attempt's error, if one was sent.
        #[source]
        last: Option<Box<TokenCacheError>>,
    },

    /// The request to the resource server (in [`crate::TokenCache::send`])
    /// failed. The URL is stripped from the source.
    #[error("request to the resource server failed")]
    Request(#[source] Arc<reqwest::Error>),

    /// `get` was polled outside a Tokio runtime, which the background and
    /// single-flight token requests run on.
    #[error("token-cache needs a Tokio runtime")]
    NoRuntime,

    /// The task fetching the token stopped without an answer (runtime shutdown).
    #[error("token request was abandoned")]
    Abandoned,
}

impl TokenCacheError {
    /// Whether a new attempt may succeed: 429, 5xx, timeouts, connection errors.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::ServerError { .. } | Self::Timeout | Self::Connect(_)
        )
    }

    /// The `Retry-After` the endpoint asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::ServerError { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// The error of the last attempt: unwraps `RetriesExhausted` and `DeadlineExceeded`.
    pub fn last_attempt(&self) -> &TokenCacheError {
        match self {
            Self::RetriesExhausted { last, .. } => last.last_attempt(),
            Self::DeadlineExceeded {
                last: Some(last), ..
            } => last.last_attempt(),
            other => other,
        }
    }

    /// The OAuth error code, if the endpoint answered with one.
    pub fn oauth_kind(&self) -> Option<&OAuthErrorKind> {
        match self.last_attempt() {
            Self::OAuth { kind, .. } => Some(kind),
            _ => None,
        }
    }

    /// A short, fixed label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Config { .. } => "config",
            Self::InvalidScope { .. } => "invalid_scope_syntax",
            Self::OAuth { kind, .. } => kind.as_str_static(),
            Self::ScopeNotGranted { .. } => "scope_not_granted",
            Self::RateLimited { .. } => "rate_limited",
            Self::ServerError { .. } => "server_error",
            Self::Redirected { .. } => "redirected",
            Self::UnexpectedStatus { .. } => "unexpected_status",
            Self::MalformedResponse { .. } => "malformed_response",
            Self::Timeout => "timeout",
            Self::Connect(_) => "connect",
            Self::Http(_) => "http",
            Self::RetriesExhausted { .. } => "retries_exhausted",
            Self::DeadlineExceeded { .. } => "deadline_exceeded",
            Self::Request(_) => "resource_request",
            Self::NoRuntime => "no_runtime",
            Self::Abandoned => "abandoned",
        }
    }

    pub(crate) fn config(setting: &str, reason: impl Into<String>) -> Self {
        Self::Config {
            setting: setting.to_owned(),
            reason: reason.into(),
        }
    }
}

fn redirected_message(status: Option<u16>) -> String {
    match status {
        Some(status) => format!(
            "the token endpoint answered with a redirect (HTTP {status}); redirects are never followed: check TOKEN_URL"
        ),
        None => "the token response came from another URL than TOKEN_URL; it is refused: check TOKEN_URL".to_owned(),
    }
}

/// The `error` code of an OAuth 2.0 error response (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OAuthErrorKind {
    /// `invalid_request`
    InvalidRequest,
    /// `invalid_client`: unknown client or wrong secret.
    InvalidClient,
    /// `invalid_grant`
    InvalidGrant,
    /// `unauthorized_client`: the client may not use client credentials.
    UnauthorizedClient,
    /// `unsupported_grant_type`
    UnsupportedGrantType,
    /// `invalid_scope`: a requested scope is unknown or not allowed for the client.
    InvalidScope,
    /// Any other code (truncated to 64 characters).
    Other(String),
}

impl OAuthErrorKind {
    /// Maps an `error` code.
    pub fn from_code(code: &str) -> Self {
        match code {
            "invalid_request" => Self::InvalidRequest,
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_scope" => Self::InvalidScope,
            other => Self::Other(other.chars().take(64).collect()),
        }
    }

    fn as_str_static(&self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::Other(_) => "oauth_error",
        }
    }
}

impl std::fmt::Display for OAuthErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Other(code) => f.write_str(code),
            known => f.write_str(known.as_str_static()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_errors_are_retryable() {
        assert!(TokenCacheError::RateLimited { retry_after: None }.is_retryable());
        assert!(
            TokenCacheError::ServerError {
                status: 503,
                retry_after: None
            }
            .is_retryable()
        );
        assert!(TokenCacheError::Timeout.is_retryable());
        let oauth = TokenCacheError::OAuth {
            kind: OAuthErrorKind::InvalidClient,
            description: None,
            status: 401,
        };
        assert!(!oauth.is_retryable());
        assert!(!TokenCacheError::MalformedResponse { reason: "x".into() }.is_retryable());
        assert!(!TokenCacheError::UnexpectedStatus { status: 304 }.is_retryable());
        assert!(!TokenCacheError::Redirected { status: Some(302) }.is_retryable());
        assert!(!TokenCacheError::Redirected { status: None }.is_retryable());
    }

    #[test]
    fn oauth_codes_map_to_kinds() {
        assert_eq!(
            OAuthErrorKind::from_code("invalid_scope"),
            OAuthErrorKind::InvalidScope
        );
        assert_eq!(
            OAuthErrorKind::from_code("invalid_client"),
            OAuthErrorKind::InvalidClient
        );
        assert_eq!(
            OAuthErrorKind::from_code("invalid_grant"),
            OAuthErrorKind::InvalidGrant
        );
        assert_eq!(
            OAuthErrorKind::from_code("unauthorized_client"),
            OAuthErrorKind::UnauthorizedClient
        );
        assert_eq!(
            OAuthErrorKind::from_code("unsupported_grant_type"),
            OAuthErrorKind::UnsupportedGrantType
        );
        assert_eq!(
            OAuthErrorKind::from_code("invalid_request"),
            OAuthErrorKind::InvalidRequest
        );
        assert_eq!(
            OAuthErrorKind::from_code("slow_down"),
            OAuthErrorKind::Other("slow_down".into())
        );
    }

    #[test]
    fn last_attempt_unwraps_retry_wrappers() {
        let err = TokenCacheError::RetriesExhausted {
            attempts: 3,
            last: Box::new(TokenCacheError::ServerError {
                status: 500,
                retry_after: None,
            }),
        };
        assert!(matches!(
            err.last_attempt(),
            TokenCacheError::ServerError { status: 500, .. }
        ));
        let oauth = TokenCacheError::OAuth {
            kind: OAuthErrorKind::InvalidScope,
            description: Some("bad".into()),
            status: 400,
        };
        assert_eq!(oauth.oauth_kind(), Some(&OAuthErrorKind::InvalidScope));
        assert_eq!(
            oauth.to_string(),
            "token endpoint rejected the request (HTTP 400): invalid_scope: bad"
        );
    }
}
