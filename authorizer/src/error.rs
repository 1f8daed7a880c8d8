//! The one error type of the authorizer. Every rejection is a variant, so
//! callers and tests match on variants, never on strings. Towards API Gateway
//! they become exactly two answers (see [`AuthError::is_server_fault`]).

/// Why a request was not allowed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No token in the identity source, or an empty one.
    #[error("no token")]
    MissingToken,
    /// The token is longer than the 16 KiB limit; it was not decoded.
    #[error("token longer than {limit} bytes")]
    TokenTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Not a compact JWS: segment count, base64url, JSON objects, claim types.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header's `alg` is not RS256 (includes `none`, HS*, ES*, PS*).
    #[error("algorithm not allowed")]
    AlgorithmNotAllowed,
    /// The header has no `kid`.
    #[error("no kid in header")]
    MissingKid,
    /// The `kid` is not in the pool's JWKS (after one refetch, or within the penalty window).
    #[error("unknown kid")]
    UnknownKid,
    /// The JWK for the `kid` is not an RSA signing key for RS256, or appears twice.
    #[error("key not usable: {0}")]
    KeyNotUsable(&'static str),
    /// The signature does not verify with the key.
    #[error("invalid signature")]
    InvalidSignature,
    /// `exp` is past (with the configured skew).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (with the configured skew).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` is not one of the configured pools' issuers.
    #[error("issuer not allowed")]
    IssuerNotAllowed,
    /// `token_use` is missing, not `access`/`id`, or not what the route takes.
    #[error("token_use not accepted")]
    TokenUseNotAccepted,
    /// `client_id` (access) or `aud` (ID token) is not in `APP_CLIENT_IDS`.
    #[error("client not allowed")]
    ClientNotAllowed,
    /// The token is valid but holds none of the route's scopes.
    #[error("insufficient scope")]
    InsufficientScope,
    /// The request's route is not in `ROUTE_SCOPES` (fail closed).
    #[error("route not configured")]
    RouteNotConfigured,
    /// The event is not a TOKEN, REQUEST or HTTP API 2.0 authorizer event.
    #[error("invalid authorizer event: {0}")]
    InvalidEvent(String),
    /// No key could be had for the pool (JWKS unreachable or invalid and none cached).
    #[error("signing keys unavailable")]
    KeysUnavailable(#[source] crate::jwks::JwksError),
}

impl AuthError {
    /// True for failures of the authorizer or its dependencies, not of the
    /// caller: these must not look like a 401 (API Gateway answers 500).
    pub fn is_server_fault(&self) -> bool {
        matches!(self, Self::KeysUnavailable(_) | Self::InvalidEvent(_))
    }

    /// A short, stable name for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::TokenTooLarge { .. } => "token_too_large",
            Self::Malformed(_) => "malformed",
            Self::AlgorithmNotAllowed => "alg_not_allowed",
            Self::MissingKid => "missing_kid",
            Self::UnknownKid => "unknown_kid",
            Self::KeyNotUsable(_) => "key_not_usable",
            Self::InvalidSignature => "invalid_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuerNotAllowed => "issuer_not_allowed",
            Self::TokenUseNotAccepted => "token_use_not_accepted",
            Self::ClientNotAllowed => "client_not_allowed",
            Self::InsufficientScope => "insufficient_scope",
            Self::RouteNotConfigured => "route_not_configured",
            Self::InvalidEvent(_) => "invalid_event",
            Self::KeysUnavailable(_) => "keys_unavailable",
        }
    }
}

/// The exact error message API Gateway turns into a 401.
pub const UNAUTHORIZED: &str = "Unauthorized";

/// The one place errors meet API Gateway: fixed messages, details only in logs.
impl From<AuthError> for lambda_runtime::Diagnostic {
    fn from(error: AuthError) -> Self {
        if error.is_server_fault() {
            Self {
                error_type: "AuthorizerError".into(),
                error_message: "authorizer unavailable".into(),
            }
        } else {
            Self {
                error_type: UNAUTHORIZED.into(),
                error_message: UNAUTHORIZED.into(),
            }
        }
    }
}
