//! A message body as a weather event: the API's own `POST /events` rules, checked
//! before anything is sent, so a body that can never be created is known as such
//! without spending a token or a request.
//!
//! Pure. The rules are weather-api's (`weather_api::event::NewEvent::from_json`), and
//! `tests/validation.rs` runs both over the same bodies: they must agree.

use serde::Deserialize;
use time::Date;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// Largest body the API accepts (64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest event name the API accepts, in characters.
pub const MAX_NAME_CHARS: usize = 200;

const DATE_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year repr:full sign:automatic]-[month]-[day]");

/// Why a body is not an event the API would create. The texts are fixed or quote at
/// most a field name: a body is never echoed into the logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The message has no body at all.
    #[error("the message has no body")]
    Missing,
    /// Over [`MAX_BODY_BYTES`].
    #[error("body is {len} bytes, over the {MAX_BODY_BYTES}-byte limit")]
    TooLarge {
        /// Body length in bytes.
        len: usize,
    },
    /// Not JSON.
    #[error("body is not JSON")]
    NotJson,
    /// JSON, but not an object.
    #[error("body is JSON but not an object")]
    NotAnObject,
    /// An unknown, missing, duplicated or mistyped field.
    #[error("body is not an event (fields name, dateStart, dateEnd, all strings, nothing else)")]
    NotTheSchema,
    /// `name` is empty or only whitespace.
    #[error("`name` is empty")]
    EmptyName,
    /// `name` is over [`MAX_NAME_CHARS`] characters.
    #[error("`name` is {chars} characters long, over the {MAX_NAME_CHARS}-character limit")]
    NameTooLong {
        /// Length in characters.
        chars: usize,
    },
    /// A date is not a real `YYYY-MM-DD` date.
    #[error("`{field}` is not a real calendar date written YYYY-MM-DD")]
    InvalidDate {
        /// `dateStart` or `dateEnd`.
        field: &'static str,
    },
    /// `dateStart` is after `dateEnd`.
    #[error("`dateStart` is after `dateEnd`")]
    StartAfterEnd,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Wire {
    name: String,
    date_start: String,
    date_end: String,
}

/// A body the API will accept, kept as the message's own text (sent unchanged, so the
/// API sees exactly what was queued).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBody(String);

impl EventBody {
    /// Checks `body` against the API's rules, in the API's order.
    pub fn parse(body: Option<&str>) -> Result<Self, BodyError> {
        let body = body.ok_or(BodyError::Missing)?;
        if body.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge { len: body.len() });
        }
        let value: serde_json::Value =
            serde_json::from_str(body).map_err(|_| BodyError::NotJson)?;
        if !value.is_object() {
            return Err(BodyError::NotAnObject);
        }
        // From the text again, not the `Value`: a duplicated field is refused.
        let wire: Wire = serde_json::from_str(body).map_err(|_| BodyError::NotTheSchema)?;
        if wire.name.trim().is_empty() {
            return Err(BodyError::EmptyName);
        }
        let chars = wire.name.chars().count();
        if chars > MAX_NAME_CHARS {
            return Err(BodyError::NameTooLong { chars });
        }
        let start = date("dateStart", &wire.date_start)?;
        let end = date("dateEnd", &wire.date_end)?;
        if start > end {
            return Err(BodyError::StartAfterEnd);
        }
        Ok(Self(body.to_owned()))
    }

    /// The body as queued.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn date(field: &'static str, value: &str) -> Result<Date, BodyError> {
    let invalid = BodyError::InvalidDate { field };
    if value.len() != 10 || !value.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
        return Err(invalid);
    }
    Date::parse(value, DATE_FORMAT).map_err(|_| invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<EventBody, BodyError> {
        EventBody::parse(Some(body))
    }

    #[test]
    fn valid_event_kept_as_sent() {
        let body = r#"{"name": "Storm", "dateStart": "2022-02-16", "dateEnd": "2022-02-21"}"#;
        assert_eq!(parse(body).unwrap().as_str(), body);
        // A one-day event.
        assert!(parse(r#"{"name":"x","dateStart":"2022-02-16","dateEnd":"2022-02-16"}"#).is_ok());
    }

    #[test]
    fn each_rule_names_its_case() {
        let long = format!(
            r#"{{"name":"{}","dateStart":"2022-01-01","dateEnd":"2022-01-02"}}"#,
            "n".repeat(201)
        );
        let huge = format!(r#"{{"name":"{}"}}"#, "n".repeat(MAX_BODY_BYTES));
        for (body, expected) in [
            ("not json", BodyError::NotJson),
            ("[1, 2]", BodyError::NotAnObject),
            (r#""text""#, BodyError::NotAnObject),
            (
                r#"{"name":"x","dateStart":"2022-01-01"}"#,
                BodyError::NotTheSchema,
            ),
            (
                r#"{"name":"x","dateStart":"2022-01-01","dateEnd":"2022-01-02","id":"1"}"#,
                BodyError::NotTheSchema,
            ),
            (
                r#"{"name":"x","name":"y","dateStart":"2022-01-01","dateEnd":"2022-01-02"}"#,
                BodyError::NotTheSchema,
            ),
            (
                r#"{"name":1,"dateStart":"2022-01-01","dateEnd":"2022-01-02"}"#,
                BodyError::NotTheSchema,
            ),
            (
                r#"{"name":"  ","dateStart":"2022-01-01","dateEnd":"2022-01-02"}"#,
                BodyError::EmptyName,
            ),
            (&long, BodyError::NameTooLong { chars: 201 }),
            (
                r#"{"name":"x","dateStart":"2022-02-30","dateEnd":"2022-03-02"}"#,
                BodyError::InvalidDate { field: "dateStart" },
            ),
            (
                r#"{"name":"x","dateStart":"2022-01-01","dateEnd":"+2022-01-02"}"#,
                BodyError::InvalidDate { field: "dateEnd" },
            ),
            (
                r#"{"name":"x","dateStart":"2022-01-03","dateEnd":"2022-01-02"}"#,
                BodyError::StartAfterEnd,
            ),
            (&huge, BodyError::TooLarge { len: huge.len() }),
        ] {
            assert_eq!(
                parse(body),
                Err(expected),
                "{}",
                &body[..body.len().min(80)]
            );
        }
        assert_eq!(EventBody::parse(None), Err(BodyError::Missing));
    }

    #[test]
    fn errors_never_quote_the_body() {
        let secretish = r#"{"name":"x","dateStart":"s3cr3t-value","dateEnd":"2022-01-02"}"#;
        let err = parse(secretish).unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
        let err = parse("s3cr3t-value").unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }
}
