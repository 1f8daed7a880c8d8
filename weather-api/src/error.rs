//! The crate's one error type, and its single mapping to an HTTP status and client message.

use lambda_http::http::StatusCode;

use crate::event::{EventId, MAX_BODY_BYTES, MAX_NAME_CHARS};
use crate::page::MAX_LIMIT;

/// Seconds a client is told to wait (`Retry-After`) when the store is unavailable.
pub const RETRY_AFTER_SECS: u32 = 1;

/// Everything that can make a request fail.
///
/// [`ApiError::status`] and [`ApiError::client_message`] are the only places an error is
/// turned into what the client sees; the `Display` text (which may carry internal
/// details) goes to the logs only.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No route matches the request path.
    #[error("no route for this path")]
    UnknownPath,
    /// The path is known but not for this method; `allow` lists the methods it has.
    #[error("method not allowed (allowed: {allow})")]
    MethodNotAllowed {
        /// Value of the `Allow` response header.
        allow: &'static str,
    },
    /// No event has this identifier (including identifiers that are not UUIDs).
    #[error("event not found")]
    EventNotFound,
    /// The request body, after base64 decoding, is over [`MAX_BODY_BYTES`].
    #[error("request body is {len} bytes, over the {MAX_BODY_BYTES}-byte limit")]
    BodyTooLarge {
        /// Decoded body length in bytes.
        len: usize,
    },
    /// The request body is not JSON at all.
    #[error("request body is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// The request body is JSON but not an object.
    #[error("request body must be a JSON object, not {found}")]
    NotAnObject {
        /// What the body is instead (`an array`, `a string`, ...).
        found: &'static str,
    },
    /// The JSON object has an unknown, missing, duplicated or mistyped field.
    #[error("invalid request body: {0}")]
    InvalidBody(#[source] serde_json::Error),
    /// `name` is empty or only whitespace.
    #[error("`name` must not be empty")]
    EmptyName,
    /// `name` is over [`MAX_NAME_CHARS`] characters.
    #[error("`name` is {chars} characters long, over the {MAX_NAME_CHARS}-character limit")]
    NameTooLong {
        /// Length of the name, in characters.
        chars: usize,
    },
    /// A date field is not a real calendar date in `YYYY-MM-DD` form.
    #[error("`{field}` must be a real calendar date written YYYY-MM-DD, got {value:?}")]
    InvalidDate {
        /// Wire name of the field (`dateStart` or `dateEnd`).
        field: &'static str,
        /// The value sent, cut to 32 characters (with `…`) when longer.
        value: String,
    },
    /// `dateStart` is after `dateEnd`.
    #[error("`dateStart` ({date_start}) is after `dateEnd` ({date_end})")]
    StartAfterEnd {
        /// The start date sent.
        date_start: String,
        /// The end date sent.
        date_end: String,
    },
    /// A write came without an authorizer context naming the caller.
    #[error("the request context carries no authorizer identity (client_id, principalId or sub)")]
    NoCaller,
    /// The store already holds an event with this identifier.
    #[error("an event with id {0} already exists")]
    DuplicateId(EventId),
    /// A setting read at init is invalid (never produced on a request path).
    #[error("setting {name} {reason}")]
    InvalidSetting {
        /// Name of the setting (environment variable).
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `limit` is not an integer from 1 to [`MAX_LIMIT`].
    #[error("`limit` must be an integer from 1 to {MAX_LIMIT}, got {value:?}")]
    InvalidLimit {
        /// The value sent, cut to 32 characters (with `…`) when longer.
        value: String,
    },
    /// `nextToken` is not a token this deployment issued (forged, truncated, changed, or
    /// from another deployment).
    #[error(
        "`nextToken` is not a token this API issued: pass the `nextToken` of the previous page unchanged"
    )]
    InvalidPageToken,
    /// A query parameter the API reads is given more than once.
    #[error("query parameter `{name}` must be given at most once")]
    RepeatedParameter {
        /// The parameter's name.
        name: &'static str,
    },
    /// The `Idempotency-Key` header is malformed, or sent more than once.
    #[error("`Idempotency-Key` {reason}")]
    InvalidIdempotencyKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The `Idempotency-Key` was used, within the last 24 hours, for another event.
    #[error(
        "this `Idempotency-Key` was already used for a different event: send a new key for a new event"
    )]
    IdempotencyKeyReused,
    /// The store is throttled, unavailable or too slow right now; retrying later may work.
    /// Nothing was changed, or the whole change was (never part of it).
    #[error("event store unavailable: {0}")]
    StoreUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store backend failed in a way retrying will not fix (a missing table, denied
    /// access, an item the store cannot read).
    #[error("event store failed: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnknownPath | Self::EventNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotJson(_)
            | Self::NotAnObject { .. }
            | Self::InvalidBody(_)
            | Self::EmptyName
            | Self::NameTooLong { .. }
            | Self::InvalidDate { .. }
            | Self::StartAfterEnd { .. }
            | Self::InvalidLimit { .. }
            | Self::InvalidPageToken
            | Self::RepeatedParameter { .. }
            | Self::InvalidIdempotencyKey { .. } => StatusCode::BAD_REQUEST,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::NoCaller => StatusCode::UNAUTHORIZED,
            Self::InvalidSetting { .. } | Self::DuplicateId(_) | Self::Store(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The `message` the client sees. Client errors describe the client's own input;
    /// server errors get a fixed text and their details stay in the logs.
    pub fn client_message(&self) -> String {
        match self {
            Self::UnknownPath => "not found".to_owned(),
            Self::MethodNotAllowed { .. } => "method not allowed".to_owned(),
            Self::InvalidSetting { .. } | Self::DuplicateId(_) | Self::Store(_) => {
                "internal server error".to_owned()
            }
            Self::StoreUnavailable(_) => {
                "the event store is unavailable, retry after a second".to_owned()
            }
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_hide_their_details() {
        let err = ApiError::Store("connection to table-xyz.internal refused".into());
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(err.client_message(), "internal server error");
        assert!(err.to_string().contains("table-xyz"));
    }

    #[test]
    fn unavailable_store_is_503_without_details() {
        let err = ApiError::StoreUnavailable("throttled on table-xyz".into());
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!err.client_message().contains("table-xyz"));
        assert!(err.client_message().contains("unavailable"));
    }

    #[test]
    fn idempotency_key_reuse_is_422() {
        assert_eq!(
            ApiError::IdempotencyKeyReused.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert!(
            ApiError::IdempotencyKeyReused
                .client_message()
                .contains("different event")
        );
    }

    #[test]
    fn client_errors_name_the_problem() {
        let err = ApiError::InvalidDate {
            field: "dateEnd",
            value: "2022-02-30".into(),
        };
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            err.client_message(),
            "`dateEnd` must be a real calendar date written YYYY-MM-DD, got \"2022-02-30\""
        );
        assert_eq!(
            ApiError::BodyTooLarge { len: 70_000 }.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(ApiError::NoCaller.status(), StatusCode::UNAUTHORIZED);
    }
}
