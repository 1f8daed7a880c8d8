//! What happened to one message, and the pure rules that decide it from the API's
//! answer: created, worth retrying (the message stays in the queue), or never going
//! to succeed (the message goes to the dead-letter queue).

use std::fmt;

use token_cache::TokenCacheError;

use crate::event::BodyError;

/// The fate of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The API holds the event: created now (201), or by an earlier delivery of the
    /// same message (the `Idempotency-Key` replayed the first answer).
    Created {
        /// The API answered `Idempotent-Replayed: true`.
        replayed: bool,
    },
    /// Not created this time; SQS delivers the message again.
    Transient(Transient),
    /// Can never be created; the message goes to the dead-letter queue.
    Permanent(Permanent),
}

/// Why a message is to be retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transient {
    /// The API answered 5xx, 429 or another status that says nothing about the
    /// message (401 after the one refresh, 403, 404, a redirect…).
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The API did not answer within `WEATHER_API_TIMEOUT_SECS`.
    Timeout,
    /// The API could not be reached (refused, reset, DNS, TLS).
    Connect,
    /// Any other failure of the request to the API.
    Request,
    /// No token: the token cache's error kind ([`TokenCacheError::label`]).
    NoToken {
        /// The error's label, e.g. `server_error`, `invalid_client`.
        label: &'static str,
    },
    /// The invocation ran out of time before this message was done.
    OutOfTime,
    /// It was a permanent failure, but the dead-letter queue did not take it: it stays
    /// in the ingest queue (the redrive policy moves it after `maxReceiveCount`).
    DeadLetterFailed {
        /// The permanent reason.
        permanent: Permanent,
        /// Why the send failed.
        error: String,
    },
}

/// Why a message can never be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permanent {
    /// The body is not an event the API accepts (checked before sending).
    Body(BodyError),
    /// The API refused it: 400, 413 or 422 (e.g. the `Idempotency-Key`, the message id,
    /// was already used for another event).
    Refused {
        /// The HTTP status.
        status: u16,
        /// The API's `message`, at most 200 characters.
        message: String,
    },
}

impl fmt::Display for Transient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status { status } => write!(f, "weather API answered HTTP {status}"),
            Self::Timeout => f.write_str("weather API did not answer in time"),
            Self::Connect => f.write_str("cannot reach the weather API"),
            Self::Request => f.write_str("request to the weather API failed"),
            Self::NoToken { label } => write!(f, "no access token ({label})"),
            Self::OutOfTime => f.write_str("invocation ran out of time"),
            Self::DeadLetterFailed { permanent, error } => {
                write!(
                    f,
                    "{permanent}; not taken by the dead-letter queue: {error}"
                )
            }
        }
    }
}

impl fmt::Display for Permanent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Body(err) => err.fmt(f),
            Self::Refused { status, message } => {
                write!(
                    f,
                    "weather API refused the event (HTTP {status}): {message}"
                )
            }
        }
    }
}

/// Longest part of the API's `message` kept in a reason.
const MESSAGE_CHARS: usize = 200;

/// The outcome of an API answer with `status`. `replayed` is the
/// `Idempotent-Replayed` header; `body` is the answer's body (read for refusals only).
pub fn from_status(status: u16, replayed: bool, body: &[u8]) -> Outcome {
    match status {
        200..=299 => Outcome::Created { replayed },
        400 | 413 | 422 => Outcome::Permanent(Permanent::Refused {
            status,
            message: api_message(body),
        }),
        _ => Outcome::Transient(Transient::Status { status }),
    }
}

/// The outcome of a failed `TokenCache::send`.
pub fn from_error(err: &TokenCacheError) -> Outcome {
    Outcome::Transient(match err {
        TokenCacheError::Request(e) if e.is_timeout() => Transient::Timeout,
        TokenCacheError::Request(e) if e.is_connect() => Transient::Connect,
        TokenCacheError::Request(_) => Transient::Request,
        other => Transient::NoToken {
            label: other.label(),
        },
    })
}

/// The API's `{"message": ...}`, cut; a fixed text when there is none.
fn api_message(body: &[u8]) -> String {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_owned));
    match message {
        Some(m) => match m.char_indices().nth(MESSAGE_CHARS) {
            Some((cut, _)) => format!("{}…", &m[..cut]),
            None => m,
        },
        None => "(no message)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_and_replayed_are_created() {
        assert_eq!(
            from_status(201, false, b""),
            Outcome::Created { replayed: false }
        );
        assert_eq!(
            from_status(201, true, b""),
            Outcome::Created { replayed: true }
        );
    }

    #[test]
    fn refusals_are_permanent_with_the_api_message() {
        for status in [400, 413, 422] {
            let outcome = from_status(status, false, br#"{"message":"`name` must not be empty"}"#);
            assert_eq!(
                outcome,
                Outcome::Permanent(Permanent::Refused {
                    status,
                    message: "`name` must not be empty".into()
                })
            );
        }
        let Outcome::Permanent(Permanent::Refused { message, .. }) =
            from_status(400, false, b"<html>")
        else {
            panic!()
        };
        assert_eq!(message, "(no message)");
        let long = format!(r#"{{"message":"{}"}}"#, "m".repeat(500));
        let Outcome::Permanent(Permanent::Refused { message, .. }) =
            from_status(422, false, long.as_bytes())
        else {
            panic!()
        };
        assert_eq!(message.chars().count(), MESSAGE_CHARS + 1);
    }

    #[test]
    fn server_errors_throttling_and_auth_are_transient() {
        for status in [500, 502, 503, 504, 429, 401, 403, 404, 301, 307] {
            assert_eq!(
                from_status(status, false, b"{}"),
                Outcome::Transient(Transient::Status { status }),
                "{status}"
            );
        }
    }

    #[test]
    fn no_token_is_transient() {
        let err = TokenCacheError::ServerError {
            status: 503,
            retry_after: None,
        };
        assert_eq!(
            from_error(&err),
            Outcome::Transient(Transient::NoToken { label: err.label() })
        );
    }
}
