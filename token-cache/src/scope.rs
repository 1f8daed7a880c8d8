//! `ScopeSet`: the cache key. Parsed once, canonical (sorted, deduplicated).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use crate::error::TokenCacheError;

/// A set of OAuth 2.0 scopes (`resourceServer/scope` for Cognito), sorted and
/// deduplicated, so `b a a` and `a b` are the same set and share one token.
/// The empty set means "send no `scope` parameter" (Cognito then grants every
/// scope the app client allows) and is a cache key of its own.
#[derive(Clone)]
pub struct ScopeSet {
    /// Canonical form: the scopes sorted, deduplicated and joined by one space.
    joined: Arc<str>,
    /// Hash of `joined`, computed once: hashing a `ScopeSet` feeds only this.
    hash: u64,
}

impl ScopeSet {
    fn from_joined(joined: String) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        joined.hash(&mut hasher);
        Self {
            joined: Arc::from(joined),
            hash: hasher.finish(),
        }
    }
}

impl PartialEq for ScopeSet {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
            && (Arc::ptr_eq(&self.joined, &other.joined) || self.joined == other.joined)
    }
}

impl Eq for ScopeSet {}

impl Hash for ScopeSet {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialOrd for ScopeSet {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ScopeSet {
    fn cmp(&self, other: &Self) -> Ordering {
        self.joined.cmp(&other.joined)
    }
}

impl ScopeSet {
    /// No scope: the token request carries no `scope` parameter.
    pub fn empty() -> Self {
        Self::from_joined(String::new())
    }

    /// Builds a set from individual scopes. Each must be a non-empty RFC 6749
    /// `scope-token` (printable ASCII without space, `"` or `\`).
    pub fn new<I, S>(scopes: I) -> Result<Self, TokenCacheError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = Vec::new();
        for scope in scopes {
            let scope = scope.as_ref();
            validate(scope)?;
            list.push(scope.to_owned());
        }
        list.sort_unstable();
        list.dedup();
        Ok(Self::from_joined(list.join(" ")))
    }

    /// Parses a space-separated list, as in the `scope` form parameter.
    pub fn parse(space_separated: &str) -> Result<Self, TokenCacheError> {
        Self::new(space_separated.split_ascii_whitespace())
    }

    /// Whether the set holds no scope.
    pub fn is_empty(&self) -> bool {
        self.joined.is_empty()
    }

    /// Number of scopes.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// The scopes, in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.joined.split(' ').filter(|s| !s.is_empty())
    }

    /// The value of the `scope` form parameter, `None` for the empty set.
    pub fn as_param(&self) -> Option<&str> {
        (!self.is_empty()).then_some(&*self.joined)
    }

    /// The scopes of this set missing from a granted, space-separated `scope`.
    pub fn missing_from(&self, granted: &str) -> Vec<String> {
        let granted: Vec<&str> = granted.split_ascii_whitespace().collect();
        self.iter()
            .filter(|s| !granted.contains(s))
            .map(str::to_owned)
            .collect()
    }
}

fn validate(scope: &str) -> Result<(), TokenCacheError> {
    let reason = if scope.is_empty() {
        "empty scope"
    } else if !scope
        .bytes()
        .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
    {
        "scopes are printable ASCII without spaces, '\"' or '\\' (RFC 6749 section 3.3)"
    } else {
        return Ok(());
    };
    Err(TokenCacheError::InvalidScope {
        scope: scope.escape_debug().to_string(),
        reason,
    })
}

impl FromStr for ScopeSet {
    type Err = TokenCacheError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            f.write_str("(none)")
        } else {
            f.write_str(&self.joined)
        }
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScopeSet({:?})", &*self.joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_duplicates_do_not_matter() {
        let a = ScopeSet::new(["weather-api/post", "weather-api/get", "weather-api/get"]).unwrap();
        let b = ScopeSet::parse("  weather-api/get weather-api/post ").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_param(), Some("weather-api/get weather-api/post"));
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn empty_set_sends_no_scope_and_differs_from_any_scope() {
        let empty = ScopeSet::parse("").unwrap();
        assert_eq!(empty, ScopeSet::empty());
        assert!(empty.is_empty());
        assert_eq!(empty.as_param(), None);
        assert_eq!(empty.len(), 0);
        assert_ne!(empty, ScopeSet::parse("a").unwrap());
        assert_eq!(empty.to_string(), "(none)");
    }

    #[test]
    fn invalid_scopes_are_rejected() {
        for bad in ["", "has space", "quote\"", "back\\slash", "tab\t", "é"] {
            let err = ScopeSet::new([bad]).unwrap_err();
            assert!(
                matches!(err, TokenCacheError::InvalidScope { .. }),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn missing_from_lists_scopes_not_granted() {
        let wanted = ScopeSet::parse("a/get a/post").unwrap();
        assert!(wanted.missing_from("a/post a/get a/delete").is_empty());
        assert_eq!(wanted.missing_from("a/get"), vec!["a/post".to_owned()]);
    }
}
