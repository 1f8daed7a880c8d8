//! The route table (`ROUTE_SCOPES`) and matching a request to one of its routes.
//!
//! A route is `METHOD /template`, where the template uses API Gateway's
//! `{param}` (one path segment) and `{proxy+}` (one or more trailing segments),
//! and `METHOD` may be `ANY`. Each route lists the scopes of which ANY grants
//! access; an empty list means the route takes an ID token, as the built-in
//! COGNITO_USER_POOLS authorizer does when a method has no OAuth scopes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// HTTP methods API Gateway routes on, plus `ANY`.
const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
];

/// A problem in the `ROUTE_SCOPES` setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RouteTableError(String);

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// A literal segment such as `events`.
    Static(String),
    /// `{name}`: exactly one non-empty segment.
    Param(String),
    /// `{name+}`: one or more segments; always the last one.
    Greedy(String),
}

/// A parsed `METHOD /template` key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteKey {
    method: String,
    segments: Vec<Segment>,
    /// Precomputed [`RouteKey::specificity`].
    rank: (Vec<u8>, bool),
}

impl RouteKey {
    /// Parses `"GET /events/{id}"`.
    pub fn parse(key: &str) -> Result<Self, RouteTableError> {
        let err = |why: &str| RouteTableError(format!("route {key:?}: {why}"));
        let (method, template) = key
            .split_once(' ')
            .ok_or_else(|| err("expected \"METHOD /path\""))?;
        if !METHODS.contains(&method) {
            return Err(err(
                "unknown method (use GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY)",
            ));
        }
        let rest = template
            .strip_prefix('/')
            .ok_or_else(|| err("the path must start with '/'"))?;
        let mut segments = Vec::new();
        if !rest.is_empty() {
            let parts: Vec<&str> = rest.split('/').collect();
            for (i, part) in parts.iter().enumerate() {
                let segment = if let Some(inner) =
                    part.strip_prefix('{').and_then(|p| p.strip_suffix('}'))
                {
                    if let Some(name) = inner.strip_suffix('+') {
                        if i + 1 != parts.len() {
                            return Err(err("a greedy {name+} parameter must be the last segment"));
                        }
                        Segment::Greedy(valid_param(name).ok_or_else(|| err("bad parameter name"))?)
                    } else {
                        Segment::Param(valid_param(inner).ok_or_else(|| err("bad parameter name"))?)
                    }
                } else if part.is_empty() {
                    return Err(err("empty path segment"));
                } else if part.contains(['{', '}', '*', '?', ' ']) {
                    return Err(err(
                        "a static segment may not contain '{', '}', '*', '?' or spaces",
                    ));
                } else {
                    Segment::Static((*part).to_owned())
                };
                segments.push(segment);
            }
        }
        Ok(Self::new(method.to_owned(), segments))
    }

    fn new(method: String, segments: Vec<Segment>) -> Self {
        let mut key = Self {
            method,
            segments,
            rank: (Vec::new(), false),
        };
        key.rank = key.specificity();
        key
    }

    /// Whether two keys route the same requests (parameter names aside).
    pub fn same_shape(&self, other: &Self) -> bool {
        self.method == other.method
            && self.specificity() == other.specificity()
            && self.arn_pattern() == other.arn_pattern()
    }

    /// True when every request this route matches would also match `other`,
    /// and API Gateway would pick this route for it: segment by segment at
    /// least as specific, and the same method or `other` being `ANY`.
    pub fn dominates(&self, other: &Self) -> bool {
        if self.same_shape(other) || !(self.method == other.method || other.method == "ANY") {
            return false;
        }
        let mut i = 0;
        for theirs in &other.segments {
            match theirs {
                Segment::Greedy(_) => return self.segments.len() > i,
                Segment::Static(t) => match self.segments.get(i) {
                    Some(Segment::Static(m)) if m == t => {}
                    _ => return false,
                },
                Segment::Param(_) => match self.segments.get(i) {
                    Some(Segment::Static(_) | Segment::Param(_)) => {}
                    _ => return false,
                },
            }
            i += 1;
        }
        i == self.segments.len()
    }

    /// Whether the IAM pattern of this route ([`RouteKey::arn_pattern`]) matches
    /// exactly the requests the route matches: true when it has no parameters.
    pub fn is_literal(&self) -> bool {
        self.method != "ANY"
            && self
                .segments
                .iter()
                .all(|s| matches!(s, Segment::Static(_)))
    }

    /// Whether the template ends in a greedy `{name+}`.
    pub fn is_greedy(&self) -> bool {
        matches!(self.segments.last(), Some(Segment::Greedy(_)))
    }

    /// The language of requests this route matches, as `METHOD/path` tokens
    /// for [`crate::policy`]'s intersection test: a parameter is one or more
    /// characters other than `/`, a greedy parameter one or more of any.
    pub fn request_pattern(&self) -> Vec<crate::policy::Token> {
        use crate::policy::Token;
        let mut out: Vec<Token> = Vec::new();
        if self.method == "ANY" {
            // Only real method names: the policy never writes `*` for ANY.
            out.extend([Token::NonSlash, Token::SegStar]);
        } else {
            out.extend(self.method.bytes().map(Token::Lit));
        }
        if self.segments.is_empty() {
            out.push(Token::Lit(b'/'));
        }
        for segment in &self.segments {
            out.push(Token::Lit(b'/'));
            match segment {
                Segment::Static(s) => out.extend(s.bytes().map(Token::Lit)),
                Segment::Param(_) => out.extend([Token::NonSlash, Token::SegStar]),
                Segment::Greedy(_) => out.extend([Token::Any, Token::AnyStar]),
            }
        }
        out
    }

    /// The method, or `ANY`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The template's segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The IAM resource pattern of this route below `stage/`: `GET/events/*`.
    /// Path parameters become `*`; `ANY` stays `ANY` here (see [`RouteKey::arn_patterns`]).
    pub fn arn_pattern(&self) -> String {
        self.pattern_for(&self.method)
    }

    /// The IAM resource patterns a policy lists for this route: one per HTTP
    /// method for `ANY`, so that no `*` stands in the method position (it
    /// would also match requests of routes the table does not list).
    pub fn arn_patterns(&self) -> Vec<String> {
        if self.method == "ANY" {
            METHODS
                .iter()
                .filter(|m| **m != "ANY")
                .map(|m| self.pattern_for(m))
                .collect()
        } else {
            vec![self.arn_pattern()]
        }
    }

    fn pattern_for(&self, method: &str) -> String {
        let mut out = String::from(method);
        if self.segments.is_empty() {
            out.push('/');
        }
        for segment in &self.segments {
            out.push('/');
            match segment {
                Segment::Static(s) => out.push_str(s),
                Segment::Param(_) | Segment::Greedy(_) => out.push('*'),
            }
        }
        out
    }

    /// How specific this route is for a path it matches, as API Gateway ranks
    /// candidates: static segments beat parameters, which beat a greedy tail;
    /// an exact method beats `ANY`. Larger is more specific.
    fn specificity(&self) -> (Vec<u8>, bool) {
        let ranks = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Static(_) => 3,
                Segment::Param(_) => 2,
                Segment::Greedy(_) => 1,
            })
            .collect();
        (ranks, self.method != "ANY")
    }

    /// Whether a concrete path (`/events/42`, no query string) matches the template.
    fn matches_path(&self, path: &str) -> bool {
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let mut parts = rest.split('/').filter(|_| !rest.is_empty());
        for segment in &self.segments {
            match (segment, parts.next()) {
                (Segment::Static(s), Some(part)) if s == part => {}
                (Segment::Param(_), Some(part)) if !part.is_empty() => {}
                (Segment::Greedy(_), Some(part)) if !part.is_empty() => {
                    return parts.all(|p| !p.is_empty());
                }
                _ => return false,
            }
        }
        parts.next().is_none()
    }
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} /", self.method)?;
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            match segment {
                Segment::Static(s) => f.write_str(s)?,
                Segment::Param(p) => write!(f, "{{{p}}}")?,
                Segment::Greedy(p) => write!(f, "{{{p}+}}")?,
            }
        }
        Ok(())
    }
}

fn valid_param(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    ok.then(|| name.to_owned())
}

/// The scopes of which any one grants access to a route; sorted, deduplicated.
/// Empty means the route takes an ID token instead of scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    /// Builds a set, rejecting empty scopes and scopes containing whitespace
    /// (the `scope` claim is space-separated, so such a scope could never match).
    pub fn new<I, S>(scopes: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut set = BTreeSet::new();
        for scope in scopes {
            let scope = scope.into();
            if scope.is_empty() {
                return Err("a scope may not be empty".into());
            }
            if scope.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("scope {scope:?} contains whitespace"));
            }
            set.insert(scope);
        }
        Ok(Self(set))
    }

    /// True when the route takes an ID token (no scopes configured).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Cognito authorizer semantics: access if ANY required scope is exactly
    /// one of the space-separated entries of the token's `scope` claim.
    pub fn any_granted_by(&self, scope_claim: &str) -> bool {
        scope_claim
            .split(' ')
            .any(|entry| !entry.is_empty() && self.0.contains(entry))
    }

    /// The scopes, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

/// One configured route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `METHOD /template`.
    pub key: RouteKey,
    /// Scopes of which any grants access; empty: ID token required.
    pub scopes: ScopeSet,
}

/// The parsed `ROUTE_SCOPES` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Parses `{"GET /events": ["weather-api/get"], ...}`.
    pub fn from_json(json: &str) -> Result<Self, RouteTableError> {
        let raw: BTreeMap<String, Vec<String>> = serde_json::from_str(json).map_err(|e| {
            RouteTableError(format!(
                "expected a JSON object from \"METHOD /path\" to a list of scopes: {e}"
            ))
        })?;
        if raw.is_empty() {
            return Err(RouteTableError("no routes configured".into()));
        }
        let mut routes: Vec<Route> = Vec::with_capacity(raw.len());
        for (key, scopes) in raw {
            let route_key = RouteKey::parse(&key)?;
            if let Some(other) = routes.iter().find(|r| r.key.same_shape(&route_key)) {
                return Err(RouteTableError(format!(
                    "route {key:?} repeats {}",
                    other.key
                )));
            }
            let scopes = ScopeSet::new(scopes)
                .map_err(|e| RouteTableError(format!("route {key:?}: {e}")))?;
            routes.push(Route {
                key: route_key,
                scopes,
            });
        }
        Ok(Self { routes })
    }

    /// All routes.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route for a method and a route template as API Gateway names it
    /// (REQUEST events' `resource`, HTTP API `routeKey`): an exact method
    /// beats `ANY`.
    pub fn by_template(&self, method: &str, template: &str) -> Option<&Route> {
        let key = RouteKey::parse(&format!("{method} {template}")).ok()?;
        let any = RouteKey::new("ANY".into(), key.segments.clone());
        self.routes
            .iter()
            .find(|r| r.key == key)
            .or_else(|| self.routes.iter().find(|r| r.key == any))
    }

    /// The route API Gateway would pick for a concrete method and path
    /// (TOKEN events only carry the path, in the method ARN).
    pub fn by_path(&self, method: &str, path: &str) -> Option<&Route> {
        self.routes
            .iter()
            .filter(|r| {
                (r.key.method == method || r.key.method == "ANY") && r.key.matches_path(path)
            })
            .max_by(|a, b| a.key.rank.cmp(&b.key.rank))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        RouteTable::from_json(
            r#"{"GET /events": ["weather-api/get"], "GET /events/{id}": ["weather-api/get"],
                "POST /events": ["weather-api/post"], "DELETE /events/{id}": ["weather-api/delete"],
                "ANY /files/{proxy+}": ["files/all"], "GET /files/readme": ["files/read"],
                "GET /profile": []}"#,
        )
        .unwrap()
    }

    fn key_of(route: Option<&Route>) -> Option<String> {
        route.map(|r| r.key.to_string())
    }

    #[test]
    fn param_template_matches_one_segment() {
        let t = table();
        assert_eq!(
            key_of(t.by_path("GET", "/events/42")),
            Some("GET /events/{id}".into())
        );
        assert_eq!(key_of(t.by_path("GET", "/events/42/x")), None);
        assert_eq!(key_of(t.by_path("GET", "/events/")), None);
    }

    #[test]
    fn static_path_matches_exactly() {
        let t = table();
        assert_eq!(
            key_of(t.by_path("GET", "/events")),
            Some("GET /events".into())
        );
        assert_eq!(
            key_of(t.by_path("POST", "/events")),
            Some("POST /events".into())
        );
        assert_eq!(key_of(t.by_path("PUT", "/events")), None);
        assert_eq!(
            key_of(t.by_path("GET", "/Events")),
            None,
            "paths are case-sensitive"
        );
    }

    #[test]
    fn proxy_template_matches_one_or_more_segments() {
        let t = table();
        assert_eq!(
            key_of(t.by_path("PUT", "/files/a")),
            Some("ANY /files/{proxy+}".into())
        );
        assert_eq!(
            key_of(t.by_path("GET", "/files/a/b/c")),
            Some("ANY /files/{proxy+}".into())
        );
        assert_eq!(key_of(t.by_path("GET", "/files")), None);
    }

    #[test]
    fn static_route_beats_proxy() {
        let t = table();
        assert_eq!(
            key_of(t.by_path("GET", "/files/readme")),
            Some("GET /files/readme".into())
        );
        assert_eq!(
            key_of(t.by_path("POST", "/files/readme")),
            Some("ANY /files/{proxy+}".into())
        );
    }

    #[test]
    fn template_lookup_prefers_exact_method_over_any() {
        let t = table();
        assert_eq!(
            key_of(t.by_template("GET", "/events/{id}")),
            Some("GET /events/{id}".into())
        );
        assert_eq!(
            key_of(t.by_template("PATCH", "/files/{proxy+}")),
            Some("ANY /files/{proxy+}".into())
        );
        assert_eq!(key_of(t.by_template("PATCH", "/events/{id}")), None);
    }

    #[test]
    fn route_not_configured_not_found() {
        let t = table();
        assert!(t.by_path("GET", "/admin").is_none());
        assert!(t.by_template("GET", "/admin").is_none());
    }

    #[test]
    fn arn_patterns_use_star_for_params_and_any() {
        let t = table();
        let patterns: Vec<String> = t
            .routes()
            .iter()
            .flat_map(|r| r.key.arn_patterns())
            .collect();
        assert!(patterns.contains(&"GET/events/*".to_string()));
        assert!(patterns.contains(&"PUT/files/*".to_string()));
        assert!(
            !patterns.iter().any(|p| p.starts_with('*')),
            "ANY never becomes a wildcard method: {patterns:?}"
        );
        assert!(patterns.contains(&"GET/events".to_string()));
        assert_eq!(RouteKey::parse("GET /").unwrap().arn_pattern(), "GET/");
    }

    #[test]
    fn bad_tables_rejected_with_reason() {
        for (json, why) in [
            ("[]", "JSON object"),
            ("{}", "no routes"),
            (r#"{"FETCH /x": ["a"]}"#, "unknown method"),
            (r#"{"GET x": ["a"]}"#, "must start with '/'"),
            (r#"{"GET /a/{p+}/b": ["a"]}"#, "last segment"),
            (r#"{"GET /a//b": ["a"]}"#, "empty path segment"),
            (r#"{"GET /a": [""]}"#, "may not be empty"),
            (r#"{"GET /a": ["x y"]}"#, "whitespace"),
            (r#"{"GET /a": "x"}"#, "JSON object"),
            (r#"{"GET /a/{x}": ["a"], "GET /a/{y}": ["b"]}"#, "repeats"),
            (r#"{"GET /a/*": ["a"]}"#, "static segment"),
        ] {
            let err = RouteTable::from_json(json).unwrap_err().to_string();
            assert!(err.contains(why), "{json}: {err}");
        }
    }

    #[test]
    fn scope_match_any_listed_scope() {
        let s = ScopeSet::new(["weather-api/get", "weather-api/admin"]).unwrap();
        assert!(s.any_granted_by("weather-api/post weather-api/admin"));
        assert!(s.any_granted_by("weather-api/get"));
        assert!(!s.any_granted_by("weather-api/post"));
    }

    #[test]
    fn scope_claim_tab_separated_no_match() {
        let s = ScopeSet::new(["weather-api/get"]).unwrap();
        assert!(!s.any_granted_by("weather-api/post\tweather-api/get"));
    }

    #[test]
    fn scope_claim_different_case_no_match() {
        let s = ScopeSet::new(["weather-api/get"]).unwrap();
        assert!(!s.any_granted_by("Weather-API/GET"));
    }

    #[test]
    fn scope_claim_prefix_no_match() {
        let s = ScopeSet::new(["weather-api/get"]).unwrap();
        assert!(!s.any_granted_by("weather-api/ge weather-api/getx weather-api"));
    }

    #[test]
    fn scope_claim_double_spaces_still_split() {
        let s = ScopeSet::new(["weather-api/get"]).unwrap();
        assert!(s.any_granted_by("  weather-api/post  weather-api/get "));
        assert!(!s.any_granted_by(""));
    }

    #[test]
    fn display_round_trips() {
        for key in [
            "GET /events/{id}",
            "ANY /files/{proxy+}",
            "POST /",
            "DELETE /a/b",
        ] {
            assert_eq!(RouteKey::parse(key).unwrap().to_string(), key);
        }
    }
}
