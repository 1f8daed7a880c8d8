//! The weather event: its typed values, the validation of a new event, and the seed data.
//!
//! Everything here is pure: no store, no clock, no Lambda. A request body becomes a
//! [`NewEvent`] only through [`NewEvent::from_json`], so a `NewEvent` is always valid.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};
use time::Date;
use time::format_description::BorrowedFormatItem;
use time::macros::{date, format_description};
use uuid::{Uuid, uuid};

use crate::error::ApiError;

/// Largest request body accepted, after base64 decoding (64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest event name accepted, in characters (Unicode scalar values).
pub const MAX_NAME_CHARS: usize = 200;

/// `YYYY-MM-DD`, four-digit year, zero-padded month and day.
const DATE_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year repr:full sign:automatic]-[month]-[day]");

/// An event's identifier: a UUID, printed in its hyphenated lower-case form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(Uuid);

impl EventId {
    /// A fresh random (version 4) identifier.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The identifier holding this UUID.
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl FromStr for EventId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::try_parse(s).map(Self)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A calendar date written `YYYY-MM-DD` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventDate(Date);

impl EventDate {
    /// Parses a real calendar date in exactly the `YYYY-MM-DD` form: `2022-02-30`,
    /// `2022-2-16`, `+2022-02-16` and `20220216` are all refused.
    pub fn parse(field: &'static str, value: &str) -> Result<Self, ApiError> {
        let invalid = || ApiError::InvalidDate {
            field,
            value: echo(value),
        };
        // The year is four ASCII digits: no sign, no extended years.
        if value.len() != 10 || !value.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
            return Err(invalid());
        }
        Date::parse(value, DATE_FORMAT)
            .map(Self)
            .map_err(|_| invalid())
    }
}

impl fmt::Display for EventDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.format(DATE_FORMAT).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl Serialize for EventDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A stored weather event, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Identifier, assigned by the API.
    pub id: EventId,
    /// Human-readable name, 1 to [`MAX_NAME_CHARS`] characters.
    pub name: String,
    /// First day of the event.
    pub date_start: EventDate,
    /// Last day of the event, never before `date_start`.
    pub date_end: EventDate,
    /// The client that created the event; absent for the seed events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// A validated `POST /events` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    name: String,
    date_start: EventDate,
    date_end: EventDate,
}

/// The wire shape of a `POST /events` body, before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewEventBody {
    name: String,
    date_start: String,
    date_end: String,
}

impl NewEvent {
    /// Parses and validates a `POST /events` body (already base64-decoded).
    ///
    /// Refuses, in this order: a body over [`MAX_BODY_BYTES`], a body that is not JSON,
    /// JSON that is not an object, unknown/missing/duplicate/mistyped fields, an empty
    /// or too long name, dates that are not real `YYYY-MM-DD` dates, and a start after
    /// the end.
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::BodyTooLarge { len: body.len() });
        }
        let value: serde_json::Value = serde_json::from_slice(body).map_err(ApiError::NotJson)?;
        if !value.is_object() {
            return Err(ApiError::NotAnObject {
                found: json_kind(&value),
            });
        }
        // Parse the bytes again (at most 64 KiB) rather than the `Value`, so that a
        // duplicated key is refused instead of silently keeping the last one.
        let raw: NewEventBody = serde_json::from_slice(body).map_err(ApiError::InvalidBody)?;
        Self::new(raw.name, &raw.date_start, &raw.date_end)
    }

    /// Validates the three fields of a new event.
    pub fn new(name: String, date_start: &str, date_end: &str) -> Result<Self, ApiError> {
        if name.trim().is_empty() {
            return Err(ApiError::EmptyName);
        }
        let chars = name.chars().count();
        if chars > MAX_NAME_CHARS {
            return Err(ApiError::NameTooLong { chars });
        }
        let date_start = EventDate::parse("dateStart", date_start)?;
        let date_end = EventDate::parse("dateEnd", date_end)?;
        if date_start > date_end {
            return Err(ApiError::StartAfterEnd {
                date_start: date_start.to_string(),
                date_end: date_end.to_string(),
            });
        }
        Ok(Self {
            name,
            date_start,
            date_end,
        })
    }

    /// The stored event this becomes, with its identifier and creator.
    pub fn into_event(self, id: EventId, created_by: Option<String>) -> Event {
        Event {
            id,
            name: self.name,
            date_start: self.date_start,
            date_end: self.date_end,
            created_by,
        }
    }
}

/// Longest part of a client's value echoed back in an error (and so in the logs).
const ECHO_CHARS: usize = 32;

/// The value, cut to [`ECHO_CHARS`] characters with `…` when longer: a 60 KiB "date"
/// is not worth sending back in full.
pub(crate) fn echo(value: &str) -> String {
    match value.char_indices().nth(ECHO_CHARS) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Identifier of the seed event "Storms Dudley, Eunice and Franklin".
pub const SEED_DUDLEY_ID: EventId = EventId(uuid!("6f1c2a4e-9b0d-4c1e-8a3f-5d7e9b2c4a10"));
/// Identifier of the seed event "Storms Malik and Corrie".
pub const SEED_MALIK_ID: EventId = EventId(uuid!("3a8e5b7c-1d2f-4e6a-9c0b-8f4d2e6a1b20"));

/// The two events of the acceptance story (`shared/seeds/002`), with fixed identifiers so
/// that fixtures and clients can address them. Ids and dates are checked at compile time.
pub fn seed_events() -> Vec<Event> {
    vec![
        Event {
            id: SEED_DUDLEY_ID,
            name: "Storms Dudley, Eunice and Franklin".to_owned(),
            date_start: EventDate(date!(2022 - 02 - 16)),
            date_end: EventDate(date!(2022 - 02 - 21)),
            created_by: None,
        },
        Event {
            id: SEED_MALIK_ID,
            name: "Storms Malik and Corrie".to_owned(),
            date_start: EventDate(date!(2022 - 01 - 29)),
            date_end: EventDate(date!(2022 - 01 - 31)),
            created_by: None,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> Result<NewEvent, ApiError> {
        NewEvent::from_json(json.as_bytes())
    }

    #[test]
    fn seed_events_are_the_acceptance_story() {
        let seed = seed_events();
        assert_eq!(seed.len(), 2);
        assert_eq!(seed[0].name, "Storms Dudley, Eunice and Franklin");
        assert_eq!(seed[0].date_start.to_string(), "2022-02-16");
        assert_eq!(seed[0].date_end.to_string(), "2022-02-21");
        assert_eq!(seed[1].name, "Storms Malik and Corrie");
        assert_eq!(seed[1].date_start.to_string(), "2022-01-29");
        assert_eq!(seed[1].date_end.to_string(), "2022-01-31");
        assert_ne!(seed[0].id, seed[1].id);
        assert_eq!(seed[0].id, SEED_DUDLEY_ID);
        for event in &seed {
            // Each seed event also passes the validation a POST goes through.
            let new = NewEvent::new(
                event.name.clone(),
                &event.date_start.to_string(),
                &event.date_end.to_string(),
            );
            assert!(new.is_ok(), "{event:?}");
        }
    }

    #[test]
    fn event_serializes_in_camel_case() {
        let event = NewEvent::new("Storm".into(), "2022-01-01", "2022-01-02")
            .unwrap()
            .into_event(SEED_MALIK_ID, Some("client-1".into()));
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "3a8e5b7c-1d2f-4e6a-9c0b-8f4d2e6a1b20",
                "name": "Storm",
                "dateStart": "2022-01-01",
                "dateEnd": "2022-01-02",
                "createdBy": "client-1",
            })
        );
    }

    #[test]
    fn seed_event_has_no_created_by() {
        let json = serde_json::to_value(&seed_events()[0]).unwrap();
        assert!(json.get("createdBy").is_none(), "{json}");
    }

    #[test]
    fn valid_body_accepted() {
        let new = body(r#"{"name":"Storm Arwen","dateStart":"2021-11-26","dateEnd":"2021-11-27"}"#)
            .unwrap();
        assert_eq!(new.name, "Storm Arwen");
        assert_eq!(new.date_start.to_string(), "2021-11-26");
    }

    #[test]
    fn single_day_event_accepted() {
        assert!(body(r#"{"name":"Gust","dateStart":"2024-02-29","dateEnd":"2024-02-29"}"#).is_ok());
    }

    #[test]
    fn not_json_refused() {
        assert!(matches!(body("{name: 1"), Err(ApiError::NotJson(_))));
        assert!(matches!(body(""), Err(ApiError::NotJson(_))));
    }

    #[test]
    fn not_object_refused() {
        for (json, kind) in [
            ("[1,2]", "an array"),
            ("\"x\"", "a string"),
            ("null", "null"),
            ("3", "a number"),
        ] {
            match body(json) {
                Err(ApiError::NotAnObject { found }) => assert_eq!(found, kind),
                other => panic!("{json}: {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_field_refused_and_named() {
        let err = body(r#"{"name":"a","dateStart":"2022-01-01","dateEnd":"2022-01-02","id":"x"}"#)
            .unwrap_err();
        assert!(matches!(err, ApiError::InvalidBody(_)));
        assert!(err.to_string().contains("unknown field `id`"), "{err}");
    }

    #[test]
    fn missing_field_refused_and_named() {
        let err = body(r#"{"name":"a","dateStart":"2022-01-01"}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `dateEnd`"), "{err}");
    }

    #[test]
    fn duplicate_field_refused() {
        let err =
            body(r#"{"name":"a","name":"b","dateStart":"2022-01-01","dateEnd":"2022-01-02"}"#)
                .unwrap_err();
        assert!(err.to_string().contains("duplicate field `name`"), "{err}");
    }

    #[test]
    fn mistyped_field_refused() {
        let err =
            body(r#"{"name":5,"dateStart":"2022-01-01","dateEnd":"2022-01-02"}"#).unwrap_err();
        assert!(matches!(err, ApiError::InvalidBody(_)), "{err:?}");
    }

    #[test]
    fn empty_or_blank_name_refused() {
        for name in ["", "   ", "\t\n"] {
            let err = NewEvent::new(name.into(), "2022-01-01", "2022-01-02").unwrap_err();
            assert!(matches!(err, ApiError::EmptyName), "{name:?}: {err:?}");
        }
    }

    #[test]
    fn name_length_counted_in_characters() {
        let at_limit = "é".repeat(MAX_NAME_CHARS);
        assert!(NewEvent::new(at_limit, "2022-01-01", "2022-01-02").is_ok());
        let over = "a".repeat(MAX_NAME_CHARS + 1);
        let err = NewEvent::new(over, "2022-01-01", "2022-01-02").unwrap_err();
        assert!(
            matches!(err, ApiError::NameTooLong { chars: 201 }),
            "{err:?}"
        );
    }

    #[test]
    fn impossible_or_malformed_dates_refused() {
        for bad in [
            "2022-02-30",
            "2023-02-29",
            "2022-13-01",
            "2022-00-10",
            "2022-04-31",
            "2022-2-16",
            "22-02-16",
            "+2022-02-16",
            "02022-02-16",
            "20220216",
            "2022-02-16T00:00:00Z",
            " 2022-02-16",
            "2022/02/16",
            "",
        ] {
            let err = EventDate::parse("dateStart", bad).unwrap_err();
            assert!(
                matches!(&err, ApiError::InvalidDate { field: "dateStart", value } if value == bad),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn long_invalid_date_is_echoed_cut() {
        let long = "9".repeat(60_000);
        match EventDate::parse("dateEnd", &long) {
            Err(ApiError::InvalidDate { value, .. }) => {
                assert_eq!(value, format!("{}…", "9".repeat(ECHO_CHARS)));
            }
            other => panic!("{other:?}"),
        }
        let short = "é".repeat(ECHO_CHARS);
        assert_eq!(echo(&short), short);
    }

    #[test]
    fn leap_day_accepted() {
        assert_eq!(
            EventDate::parse("dateEnd", "2024-02-29")
                .unwrap()
                .to_string(),
            "2024-02-29"
        );
    }

    #[test]
    fn start_after_end_refused() {
        let err = NewEvent::new("a".into(), "2022-02-21", "2022-02-16").unwrap_err();
        assert!(matches!(err, ApiError::StartAfterEnd { .. }), "{err:?}");
    }

    #[test]
    fn body_over_limit_refused_before_parsing() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert!(matches!(
            NewEvent::from_json(&big),
            Err(ApiError::BodyTooLarge { len }) if len == MAX_BODY_BYTES + 1
        ));
    }

    #[test]
    fn body_at_limit_is_parsed() {
        let json = r#"{"name":"a","dateStart":"2022-01-01","dateEnd":"2022-01-02"}"#;
        let mut padded = json.as_bytes().to_vec();
        padded.resize(MAX_BODY_BYTES, b' ');
        assert!(NewEvent::from_json(&padded).is_ok());
    }

    #[test]
    fn event_id_round_trips_and_rejects_garbage() {
        let text = "6f1c2a4e-9b0d-4c1e-8a3f-5d7e9b2c4a10";
        let id: EventId = text.parse().unwrap();
        assert_eq!(id, SEED_DUDLEY_ID);
        assert_eq!(id.to_string(), text);
        assert!("not-a-uuid".parse::<EventId>().is_err());
        assert_ne!(EventId::random(), EventId::random());
    }
}
