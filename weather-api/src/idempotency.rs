//! `Idempotency-Key` on `POST /events`: the key a client sends, and the claim a store
//! records with the event it creates, so that a repeat of the request answers the first
//! answer instead of creating a second event.
//!
//! Pure: hashing and parsing only. The stores decide atomically (one transaction, or one
//! lock) whether a claim is new, a repeat, or a reuse of the key for another body.

use std::time::Duration;

use aws_lc_rs::digest;

use crate::error::ApiError;
use crate::event::Event;

/// Name of the request header.
pub const HEADER: &str = "idempotency-key";
/// Response header set (to `true`) on an answer replayed for a repeated key.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest key accepted, in characters.
pub const MAX_KEY_LEN: usize = 255;
/// How long a key is remembered after the request that first used it.
pub const REMEMBERED_FOR: Duration = Duration::from_secs(24 * 60 * 60);

/// A valid `Idempotency-Key` value: 1 to [`MAX_KEY_LEN`] visible ASCII characters
/// (`!` to `~`; no spaces, no control characters, nothing beyond ASCII), taken as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses a header value (its raw bytes).
    pub fn parse(value: &[u8]) -> Result<Self, ApiError> {
        let invalid = |reason| ApiError::InvalidIdempotencyKey { reason };
        if value.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if value.len() > MAX_KEY_LEN {
            return Err(invalid("must be at most 255 characters long"));
        }
        if !value.iter().all(|b| (0x21..=0x7e).contains(b)) {
            return Err(invalid(
                "must be visible ASCII characters only (no spaces, control or non-ASCII characters)",
            ));
        }
        // All ASCII, so this is valid UTF-8.
        Ok(Self(String::from_utf8_lossy(value).into_owned()))
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a store records, atomically with the event, for a request that carried a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The key's identity: SHA-256 of the caller and the key, hex. Keys are per caller:
    /// two clients using the same key never see each other's events.
    pub scope: String,
    /// SHA-256 of the request's event fields (name, dateStart, dateEnd), hex: a repeat
    /// must carry the same event, whatever its JSON spacing or field order.
    pub fingerprint: String,
    /// The `Location` of the first answer, replayed as it was.
    pub location: String,
    /// When the store may forget the key: Unix seconds.
    pub expires_at: u64,
}

impl Claim {
    /// The claim of `caller`'s request with `key` creating `event` (answered at
    /// `location`), made at `now_secs` (Unix seconds).
    pub fn new(
        caller: &str,
        key: &IdempotencyKey,
        event: &Event,
        location: String,
        now_secs: u64,
    ) -> Self {
        Self {
            scope: sha256_hex(&[caller.as_bytes(), key.as_str().as_bytes()]),
            fingerprint: fingerprint(event),
            location,
            expires_at: now_secs.saturating_add(REMEMBERED_FOR.as_secs()),
        }
    }
}

/// The request fields a repeat must match.
pub fn fingerprint(event: &Event) -> String {
    sha256_hex(&[
        event.name.as_bytes(),
        event.date_start.to_string().as_bytes(),
        event.date_end.to_string().as_bytes(),
    ])
}

/// SHA-256 over length-prefixed parts (so `("ab", "c")` and `("a", "bc")` differ), hex.
fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut context = digest::Context::new(&digest::SHA256);
    for part in parts {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part);
    }
    context
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What [`crate::EventStore::create`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The event is stored (and its claim, if any, with it).
    Stored,
    /// The key was used before with the same event: nothing is stored, and this is the
    /// first answer's event and `Location`.
    Replayed {
        /// The event the first request created.
        event: Event,
        /// The first answer's `Location`.
        location: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventId, NewEvent};

    fn event(name: &str) -> Event {
        NewEvent::new(name.to_owned(), "2022-01-01", "2022-01-02")
            .unwrap()
            .into_event(EventId::random(), None)
    }

    #[test]
    fn visible_ascii_keys_up_to_255_accepted() {
        for key in [
            "a",
            "8e03978e-40d5-43e8-bc93-6894a57f9324",
            "!~\"quoted\"",
            &"k".repeat(255),
        ] {
            assert_eq!(IdempotencyKey::parse(key.as_bytes()).unwrap().as_str(), key);
        }
    }

    #[test]
    fn empty_long_or_non_visible_keys_refused_with_reason() {
        for (key, reason) in [
            (&b""[..], "must not be empty"),
            (&[b'k'; 256][..], "at most 255"),
            (b"has space", "visible ASCII"),
            (b"tab\there", "visible ASCII"),
            ("caf\u{e9}".as_bytes(), "visible ASCII"),
            (b"\x7f", "visible ASCII"),
        ] {
            match IdempotencyKey::parse(key) {
                Err(err @ ApiError::InvalidIdempotencyKey { .. }) => {
                    assert!(err.to_string().contains(reason), "{key:?}: {err}");
                }
                other => panic!("{key:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn claims_are_per_caller_and_key_and_expire_after_24_hours() {
        let key = IdempotencyKey::parse(b"k1").unwrap();
        let e = event("Storm");
        let a = Claim::new("client-a", &key, &e, "/events/1".into(), 1_000);
        let b = Claim::new("client-b", &key, &e, "/events/1".into(), 1_000);
        assert_ne!(a.scope, b.scope);
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.expires_at, 1_000 + 86_400);
        // Length prefixes: the split between caller and key matters.
        let c = Claim::new(
            "client-ak",
            &IdempotencyKey::parse(b"1").unwrap(),
            &e,
            String::new(),
            0,
        );
        assert_ne!(a.scope, c.scope);
    }

    #[test]
    fn fingerprint_covers_the_event_fields_not_the_id() {
        let a = event("Storm");
        let mut b = a.clone();
        b.id = EventId::random();
        b.created_by = Some("someone".into());
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&event("Storm 2")));
    }
}
