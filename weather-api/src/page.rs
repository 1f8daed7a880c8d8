//! Pages of the event list: the page size a client asks for, the position in the list's
//! order where a page ends, and the opaque, tamper-evident `nextToken` that carries it.
//!
//! Pure: no store, no clock. A store lists events in [`OrderKey`] order and answers a
//! page "after" a key; the handler seals that key into a token with the store's
//! [`PageKey`] and opens the token of the next request with it.

use std::fmt;

use aws_lc_rs::{hmac, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::error::ApiError;
use crate::event::{Event, EventId};

/// Page size when the request names none.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page size a request may ask for.
pub const MAX_LIMIT: usize = 100;

/// How many events a page may hold: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] if unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(usize);

impl PageLimit {
    /// Parses the `limit` query parameter: a decimal integer from 1 to [`MAX_LIMIT`]
    /// (no sign, no spaces), or [`DEFAULT_LIMIT`] when absent.
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        let Some(value) = value else {
            return Ok(Self(DEFAULT_LIMIT));
        };
        let invalid = || ApiError::InvalidLimit {
            value: crate::event::echo(value),
        };
        if value.is_empty() || value.len() > 3 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        match value.parse() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(Self(n)),
            _ => Err(invalid()),
        }
    }

    /// A page size; `None` unless 1 to [`MAX_LIMIT`].
    pub fn new(n: usize) -> Option<Self> {
        (1..=MAX_LIMIT).contains(&n).then_some(Self(n))
    }

    /// The largest page, as used to walk a whole list.
    pub fn max() -> Self {
        Self(MAX_LIMIT)
    }

    /// The number of events.
    pub fn get(self) -> usize {
        self.0
    }
}

/// An event's place in the list's order: oldest first, ties broken by id.
///
/// `at` is the creation time in microseconds since the Unix epoch for the DynamoDB store
/// and a sequence number for the in-memory store; the seed events take 0 and 1. The key
/// never changes once the event is stored, so pages cut at a key never show an event
/// twice or skip one that stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderKey {
    /// Creation time (µs since the epoch) or sequence number.
    pub at: u64,
    /// The event's id (the tie-breaker).
    pub id: EventId,
}

impl OrderKey {
    /// Length of [`OrderKey::to_sort_key`]'s text: 20 digits, `#`, a 36-character UUID.
    const SORT_KEY_LEN: usize = 20 + 1 + 36;

    /// The key as text that sorts like the key: `at` zero-padded to 20 digits, `#`, the id.
    pub fn to_sort_key(&self) -> String {
        format!("{:020}#{}", self.at, self.id)
    }

    /// Parses [`OrderKey::to_sort_key`]'s text back; `None` for anything else.
    pub fn from_sort_key(text: &str) -> Option<Self> {
        if text.len() != Self::SORT_KEY_LEN {
            return None;
        }
        let (at, id) = text.split_once('#')?;
        if at.len() != 20 || !at.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            at: at.parse().ok()?,
            id: id.parse().ok()?,
        })
    }

    fn to_bytes(self) -> [u8; 24] {
        let mut bytes = [0; 24];
        bytes[..8].copy_from_slice(&self.at.to_be_bytes());
        bytes[8..].copy_from_slice(self.id.as_uuid().as_bytes());
        bytes
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let at = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let id = Uuid::from_slice(bytes.get(8..24)?).ok()?;
        Some(Self {
            at,
            id: EventId::from_uuid(id),
        })
    }
}

/// One page of the list, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// At most the limit asked for.
    pub events: Vec<Event>,
    /// Where the next page starts (after this key); `None` on the last page.
    pub next: Option<OrderKey>,
}

/// The secret that seals and opens page tokens: 32 random bytes.
///
/// One per store: the DynamoDB store keeps it in its table (created with the seed, so
/// every container of a deployment shares it and no two deployments do); the in-memory
/// store draws one per container, as its events are per container too. A token sealed
/// with another key is refused, as is any change to a token.
#[derive(Clone)]
pub struct PageKey(hmac::Key);

/// Version byte at the start of every token, so a future format can be told apart.
const TOKEN_VERSION: u8 = 1;
/// What the MAC covers besides the position, so a MAC made for something else never fits.
const TOKEN_CONTEXT: &[u8] = b"weather-api nextToken v1";
/// Bytes of the HMAC-SHA256 tag kept in a token (128 bits).
const TAG_LEN: usize = 16;
/// Length of a decoded token: version, position, tag.
const TOKEN_LEN: usize = 1 + 24 + TAG_LEN;

impl PageKey {
    /// Length of the key material, in bytes.
    pub const LEN: usize = 32;

    /// A fresh random key.
    pub fn random() -> Self {
        Self::from_bytes(&Self::random_bytes())
    }

    /// Fresh random key material, as stored in a table.
    pub fn random_bytes() -> [u8; Self::LEN] {
        let mut bytes = [0; Self::LEN];
        // aws-lc's system RNG does not fail on Linux; fall back to UUIDs' RNG if it does.
        if rand::fill(&mut bytes).is_err() {
            for chunk in bytes.chunks_mut(16) {
                chunk.copy_from_slice(&Uuid::new_v4().as_bytes()[..chunk.len()]);
            }
        }
        bytes
    }

    /// The key with this material.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// The token for a page starting after `after`: URL-safe base64 without padding.
    pub fn seal(&self, after: OrderKey) -> String {
        let mut token = Vec::with_capacity(TOKEN_LEN);
        token.push(TOKEN_VERSION);
        token.extend_from_slice(&after.to_bytes());
        let tag = self.tag(&token);
        token.extend_from_slice(&tag.as_ref()[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(token)
    }

    /// The position a token of ours carries; [`ApiError::InvalidPageToken`] for anything
    /// this key did not seal (forged, truncated, extended, from another deployment).
    pub fn open(&self, token: &str) -> Result<OrderKey, ApiError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| ApiError::InvalidPageToken)?;
        if bytes.len() != TOKEN_LEN || bytes[0] != TOKEN_VERSION {
            return Err(ApiError::InvalidPageToken);
        }
        let (body, tag) = bytes.split_at(1 + 24);
        if !constant_time_eq(&self.tag(body).as_ref()[..TAG_LEN], tag) {
            return Err(ApiError::InvalidPageToken);
        }
        OrderKey::from_bytes(&body[1..]).ok_or(ApiError::InvalidPageToken)
    }

    fn tag(&self, body: &[u8]) -> hmac::Tag {
        let mut message = TOKEN_CONTEXT.to_vec();
        message.extend_from_slice(body);
        hmac::sign(&self.0, &message)
    }
}

/// Compares without an early exit, so timing does not tell how much of a tag was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl fmt::Debug for PageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PageKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_at(at: u64) -> OrderKey {
        OrderKey {
            at,
            id: EventId::random(),
        }
    }

    #[test]
    fn limit_defaults_to_50_and_accepts_1_to_100() {
        assert_eq!(PageLimit::parse(None).unwrap().get(), 50);
        assert_eq!(PageLimit::parse(Some("1")).unwrap().get(), 1);
        assert_eq!(PageLimit::parse(Some("100")).unwrap().get(), 100);
        assert_eq!(PageLimit::parse(Some("007")).unwrap().get(), 7);
    }

    #[test]
    fn limit_out_of_range_or_not_a_number_refused() {
        for bad in [
            "0",
            "101",
            "abc",
            "",
            "-1",
            "+5",
            " 5",
            "5 ",
            "1e2",
            "1000",
            "99999999999",
        ] {
            let err = PageLimit::parse(Some(bad)).unwrap_err();
            assert!(
                matches!(&err, ApiError::InvalidLimit { value } if value == bad),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn token_round_trips() {
        let key = PageKey::random();
        let at = key_at(1_733_000_000_123_456);
        let token = key.seal(at);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(key.open(&token).unwrap(), at);
    }

    #[test]
    fn token_from_another_key_refused() {
        let token = PageKey::random().seal(key_at(5));
        assert!(matches!(
            PageKey::random().open(&token),
            Err(ApiError::InvalidPageToken)
        ));
    }

    #[test]
    fn tampered_truncated_or_extended_token_refused() {
        let key = PageKey::from_bytes(&[7; 32]);
        let token = key.seal(key_at(42));
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for i in 0..bytes.len() {
            bytes[i] ^= 1;
            let forged = URL_SAFE_NO_PAD.encode(&bytes);
            assert!(key.open(&forged).is_err(), "byte {i} flipped");
            bytes[i] ^= 1;
        }
        for bad in [
            &token[..token.len() - 1],
            &token[..10],
            "",
            "not base64 at all!",
            &format!("{token}AA"),
            &format!("{token}="),
        ] {
            assert!(
                matches!(key.open(bad), Err(ApiError::InvalidPageToken)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sort_key_text_sorts_like_the_key_and_round_trips() {
        let a = OrderKey {
            at: 9,
            id: EventId::random(),
        };
        let b = OrderKey {
            at: 10,
            id: EventId::random(),
        };
        assert!(a.to_sort_key() < b.to_sort_key());
        assert_eq!(OrderKey::from_sort_key(&a.to_sort_key()), Some(a));
        assert_eq!(OrderKey::from_sort_key("00000000000000000009#x"), None);
        assert_eq!(OrderKey::from_sort_key(""), None);
    }

    #[test]
    fn page_key_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", PageKey::from_bytes(b"secret")),
            "PageKey([redacted])"
        );
    }
}
