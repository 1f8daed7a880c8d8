//! The route table (`ROUTE_SCOPES`) and matching a request to one of its routes.
//!
//! A route is `METHOD /template`, where the template uses API Gateway's
//! `{param}` (one path segment) and `{proxy+}` (one or more trailing segments),
//! and `METHOD` may be `ANY`. Each route lists the scopes of which ANY grants
//! access; an empty list means the route takes an ID token, as the built-in
//! COGNITO_USER_POOLS authorizer does when a method has no OAuth scopes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use crate::glob::Atom;

/// A route's method: one of the HTTP methods API Gateway routes on (REST and
/// HTTP APIs alike), or `ANY`, which stands for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// `ANY`: a route for every method (never a request's method).
    Any,
}

impl Method {
    /// The HTTP methods a request can have, in the order policies list them
    /// for an `ANY` route.
    pub const HTTP: [Method; 7] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Head,
        Method::Options,
    ];

    /// The name as API Gateway writes it: `GET`, ..., `ANY`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Any => "ANY",
        }
    }

    /// Parses a method in any case (`get`, as AWS SAM's `Method` property
    /// allows); [`str::parse`] takes upper case only, as `ROUTE_SCOPES` does.
    pub fn parse_any_case(name: &str) -> Result<Self, RouteTableError> {
        name.to_ascii_uppercase().parse()
    }

    /// Whether a route of this method answers a request of `request`'s.
    pub fn serves(self, request: Method) -> bool {
        self == request || self == Method::Any
    }
}

impl std::str::FromStr for Method {
    type Err = RouteTableError;

    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`, `OPTIONS` or `ANY`, upper case.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Ok(match name {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "ANY" => Method::Any,
            _ => {
                return Err(RouteTableError(format!(
                    "unknown method {name:?} (use GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY)"
                )));
            }
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    method: Method,
    segments: Vec<Segment>,
    /// Precomputed [`RouteKey::specificity`].
    rank: (Vec<u8>, bool),
}

impl RouteKey {
    /// Parses `"GET /events/{id}"`: an upper-case [`Method`], one space and
    /// a template as [`RouteKey::new`] takes it.
    pub fn parse(key: &str) -> Result<Self, RouteTableError> {
        let err = |why: &str| RouteTableError(format!("route {key:?}: {why}"));
        let (method, template) = key
            .split_once(' ')
            .ok_or_else(|| err("expected \"METHOD /path\""))?;
        let method: Method = method.parse().map_err(|e: RouteTableError| err(&e.0))?;
        Self::new(method, template).map_err(|e| err(&e.0))
    }

    /// A route of `method` on a path template (`/events/{id}`): segments
    /// separated by `/`, each a literal, a `{param}` or, last, a `{proxy+}`.
    pub fn new(method: Method, template: &str) -> Result<Self, RouteTableError> {
        let err = |why: &str| RouteTableError(format!("path {template:?}: {why}"));
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
        Ok(Self::from_parts(method, segments))
    }

    fn from_parts(method: Method, segments: Vec<Segment>) -> Self {
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
        if self.same_shape(other) || !other.method.serves(self.method) {
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
        self.method != Method::Any
            && self
                .segments
                .iter()
                .all(|s| matches!(s, Segment::Static(_)))
    }

    /// Whether the template ends in a greedy `{name+}`.
    pub fn is_greedy(&self) -> bool {
        matches!(self.segments.last(), Some(Segment::Greedy(_)))
    }

    /// The language of requests this route matches, as `METHOD/path` glob
    /// atoms for the policy's intersection test: a parameter is one or more
    /// characters other than `/`, a greedy parameter one or more of any.
    pub(crate) fn request_pattern(&self) -> Vec<Atom> {
        let mut out: Vec<Atom> = Vec::new();
        if self.method == Method::Any {
            // Only real method names: the policy never writes `*` for ANY.
            out.extend([Atom::NonSlash, Atom::SegStar]);
        } else {
            out.extend(self.method.as_str().bytes().map(Atom::Lit));
        }
        if self.segments.is_empty() {
            out.push(Atom::Lit(b'/'));
        }
        for segment in &self.segments {
            out.push(Atom::Lit(b'/'));
            match segment {
                Segment::Static(s) => out.extend(s.bytes().map(Atom::Lit)),
                Segment::Param(_) => out.extend([Atom::NonSlash, Atom::SegStar]),
                Segment::Greedy(_) => out.extend([Atom::Any, Atom::AnyStar]),
            }
        }
        out
    }

    /// The method, or [`Method::Any`].
    pub fn method(&self) -> Method {
        self.method
    }

    /// The same template with another method (`OPTIONS` for a path's CORS preflight).
    pub fn with_method(&self, method: Method) -> Self {
        Self::from_parts(method, self.segments.clone())
    }

    /// The template's segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The IAM resource pattern of this route below `stage/`: `GET/events/*`.
    /// Path parameters become `*`; `ANY` stays `ANY` here (see [`RouteKey::arn_patterns`]).
    pub fn arn_pattern(&self) -> String {
        self.pattern_for(self.method)
    }

    /// The IAM resource patterns a policy lists for this route: one per HTTP
    /// method for `ANY`, so that no `*` stands in the method position (it
    /// would also match requests of routes the table does not list).
    pub fn arn_patterns(&self) -> Vec<String> {
        if self.method == Method::Any {
            Method::HTTP.iter().map(|m| self.pattern_for(*m)).collect()
        } else {
            vec![self.arn_pattern()]
        }
    }

    /// The IAM resource pattern of this route for a request of `method`
    /// (the route's own method, or any for an `ANY` route).
    pub fn arn_pattern_for(&self, method: Method) -> String {
        if self.method == Method::Any {
            self.pattern_for(method)
        } else {
            self.arn_pattern()
        }
    }

    fn pattern_for(&self, method: Method) -> String {
        let mut out = String::from(method.as_str());
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
        (ranks, self.method != Method::Any)
    }

    /// Whether a concrete path (`/events/42`, no query string) matches the template.
    pub fn matches_path(&self, path: &str) -> bool {
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

impl std::str::FromStr for RouteKey {
    type Err = RouteTableError;

    /// [`RouteKey::parse`].
    fn from_str(key: &str) -> Result<Self, Self::Err> {
        Self::parse(key)
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

/// The parsed `ROUTE_SCOPES` table, indexed: a request's route is found by
/// walking a tree of path segments (never a scan of the table), a template's
/// route by a hash lookup, and every scope of the table has a small number so
/// that the routes a token may call can be keyed by its scopes alone.
#[derive(Debug, Clone)]
pub struct RouteTable {
    routes: Vec<Route>,
    by_key: HashMap<RouteKey, usize>,
    tree: Node,
    scope_ids: HashMap<String, u32>,
}

impl PartialEq for RouteTable {
    fn eq(&self, other: &Self) -> bool {
        self.routes == other.routes
    }
}

impl Eq for RouteTable {}

/// What makes two routes indistinguishable to API Gateway: method, IAM
/// pattern and specificity (parameter names aside).
type Shape = (Method, String, (Vec<u8>, bool));

/// One node of the path tree: the routes whose template ends here, those
/// whose greedy `{proxy+}` starts here, and the children by segment kind.
#[derive(Debug, Clone, Default)]
struct Node {
    ends: Vec<usize>,
    greedy: Vec<usize>,
    statics: HashMap<String, Node>,
    param: Option<Box<Node>>,
}

impl RouteTable {
    /// Parses `{"GET /events": ["weather-api/get"], ...}`.
    pub fn from_json(json: &str) -> Result<Self, RouteTableError> {
        let raw: BTreeMap<String, Vec<String>> = serde_json::from_str(json).map_err(|e| {
            RouteTableError(format!(
                "expected a JSON object from \"METHOD /path\" to a list of scopes: {e}"
            ))
        })?;
        let mut routes = Vec::with_capacity(raw.len());
        for (key, scopes) in raw {
            let route_key = RouteKey::parse(&key)?;
            let scopes = ScopeSet::new(scopes)
                .map_err(|e| RouteTableError(format!("route {key:?}: {e}")))?;
            routes.push(Route {
                key: route_key,
                scopes,
            });
        }
        Self::new(routes)
    }

    /// A table of already parsed routes; refuses an empty table and two
    /// routes of the same shape (`GET /a/{x}` and `GET /a/{y}`), which API
    /// Gateway could not tell apart.
    pub fn new(routes: impl IntoIterator<Item = Route>) -> Result<Self, RouteTableError> {
        let mut table: Vec<Route> = Vec::new();
        let mut shapes: HashMap<Shape, usize> = HashMap::new();
        let mut by_key = HashMap::new();
        let mut tree = Node::default();
        let mut scope_ids = HashMap::new();
        for route in routes {
            let shape = (
                route.key.method,
                route.key.arn_pattern(),
                route.key.rank.clone(),
            );
            if let Some(&other) = shapes.get(&shape) {
                return Err(RouteTableError(format!(
                    "route \"{}\" repeats {}",
                    route.key, table[other].key
                )));
            }
            let index = table.len();
            shapes.insert(shape, index);
            by_key.insert(route.key.clone(), index);
            tree.insert(&route.key.segments, index);
            for scope in route.scopes.iter() {
                let next = u32::try_from(scope_ids.len()).unwrap_or(u32::MAX);
                scope_ids.entry(scope.to_owned()).or_insert(next);
            }
            table.push(route);
        }
        if table.is_empty() {
            return Err(RouteTableError("no routes configured".into()));
        }
        Ok(Self {
            routes: table,
            by_key,
            tree,
            scope_ids,
        })
    }

    /// All routes.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route with exactly this key (parameter names included), if listed.
    pub fn get(&self, key: &RouteKey) -> Option<&Route> {
        self.by_key.get(key).map(|&i| &self.routes[i])
    }

    /// The route for a method and a route template as API Gateway names it
    /// (REQUEST events' `resource`, HTTP API `routeKey`): an exact method
    /// beats `ANY`.
    pub fn by_template(&self, method: Method, template: &str) -> Option<&Route> {
        let key = RouteKey::new(method, template).ok()?;
        self.get(&key).or_else(|| {
            let any = RouteKey::from_parts(Method::Any, key.segments);
            self.get(&any)
        })
    }

    /// The route API Gateway would pick for a concrete method and path
    /// (TOKEN events only carry the path, in the method ARN): the most
    /// specific of the routes that match, found by walking the path tree.
    pub fn by_path(&self, method: Method, path: &str) -> Option<&Route> {
        let rest = path.strip_prefix('/')?;
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        let mut best: Option<&Route> = None;
        let mut consider = |i: usize| {
            let route = &self.routes[i];
            if route.key.method.serves(method)
                && best.is_none_or(|b: &Route| route.key.rank > b.key.rank)
            {
                best = Some(route);
            }
        };
        self.tree.walk(&parts, &mut consider);
        best
    }

    /// The route API Gateway's REST router picks for a request path: as
    /// [`RouteTable::by_path`], and a path with one trailing slash routed as the
    /// path without it (`GET /users/` to `GET /users`; the method ARN keeps the
    /// slash).
    pub fn by_request_path(&self, method: Method, path: &str) -> Option<&Route> {
        self.by_path(method, path).or_else(|| {
            let bare = path
                .strip_suffix('/')
                .filter(|b| !b.is_empty() && !b.ends_with('/'))?;
            self.by_path(method, bare)
        })
    }

    /// The small numbers of the table's scopes named in a `scope` claim,
    /// sorted and deduplicated: with the token's use, all that decides which
    /// routes it may call. Entries no route lists are left out.
    pub fn scope_ids(&self, scope_claim: &str) -> Vec<u32> {
        let mut ids: Vec<u32> = scope_claim
            .split(' ')
            .filter_map(|entry| self.scope_ids.get(entry).copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

impl Node {
    fn insert(&mut self, segments: &[Segment], index: usize) {
        match segments.split_first() {
            None => self.ends.push(index),
            Some((Segment::Greedy(_), _)) => self.greedy.push(index),
            Some((Segment::Static(s), rest)) => self
                .statics
                .entry(s.clone())
                .or_default()
                .insert(rest, index),
            Some((Segment::Param(_), rest)) => self
                .param
                .get_or_insert_with(Default::default)
                .insert(rest, index),
        }
    }

    /// Every route matching the remaining path `parts`: a literal segment
    /// equal to the part, a `{param}` for any non-empty part, a greedy tail
    /// for one or more non-empty parts. At most three branches per segment.
    fn walk(&self, parts: &[&str], found: &mut impl FnMut(usize)) {
        let Some((part, rest)) = parts.split_first() else {
            self.ends.iter().for_each(|&i| found(i));
            return;
        };
        if part.is_empty() {
            return;
        }
        if !self.greedy.is_empty() && rest.iter().all(|p| !p.is_empty()) {
            self.greedy.iter().for_each(|&i| found(i));
        }
        if let Some(child) = self.statics.get(*part) {
            child.walk(rest, found);
        }
        if let Some(child) = &self.param {
            child.walk(rest, found);
        }
    }
}

#[cfg(test)]
#[path = "../tests/support/generate.rs"]
#[allow(missing_docs)]
mod generate;

#[cfg(test)]
mod tests {
    use super::*;

    use super::generate;

    /// The old way: every route tested, the most specific match kept.
    fn scan(t: &RouteTable, method: Method, path: &str) -> Option<String> {
        t.routes
            .iter()
            .filter(|r| r.key.method.serves(method) && r.key.matches_path(path))
            .max_by(|a, b| a.key.rank.cmp(&b.key.rank))
            .map(|r| r.key.to_string())
    }

    #[test]
    fn indexed_matching_agrees_with_a_scan_of_a_generated_table() {
        let routes = generate::routes(1000);
        let t = RouteTable::from_json(&generate::json(1000)).unwrap();
        let mut requests = generate::requests(&routes);
        requests.extend(
            [
                "/",
                "//",
                "/accounts//x",
                "/nope",
                "/accounts/v7/files",
                "/accounts/v7/files/a//b",
            ]
            .map(|p| ("GET".to_owned(), p.to_owned())),
        );
        let mut found = 0;
        for (method, path) in &requests {
            let method: Method = method.parse().unwrap();
            let indexed = key_of(t.by_path(method, path));
            assert_eq!(indexed, scan(&t, method, path), "{method} {path}");
            found += usize::from(indexed.is_some());
        }
        assert!(
            found > 1000,
            "most generated requests reach a route: {found}"
        );
    }

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
            key_of(t.by_path(Method::Get, "/events/42")),
            Some("GET /events/{id}".into())
        );
        assert_eq!(key_of(t.by_path(Method::Get, "/events/42/x")), None);
        assert_eq!(key_of(t.by_path(Method::Get, "/events/")), None);
        assert_eq!(
            key_of(t.by_request_path(Method::Get, "/events/")),
            Some("GET /events".into())
        );
        assert_eq!(
            key_of(t.by_request_path(Method::Get, "/events/42/")),
            Some("GET /events/{id}".into())
        );
        assert_eq!(key_of(t.by_request_path(Method::Get, "/events//")), None);
        assert_eq!(key_of(t.by_request_path(Method::Get, "/")), None);
    }

    #[test]
    fn static_path_matches_exactly() {
        let t = table();
        assert_eq!(
            key_of(t.by_path(Method::Get, "/events")),
            Some("GET /events".into())
        );
        assert_eq!(
            key_of(t.by_path(Method::Post, "/events")),
            Some("POST /events".into())
        );
        assert_eq!(key_of(t.by_path(Method::Put, "/events")), None);
        assert_eq!(
            key_of(t.by_path(Method::Get, "/Events")),
            None,
            "paths are case-sensitive"
        );
    }

    #[test]
    fn proxy_template_matches_one_or_more_segments() {
        let t = table();
        assert_eq!(
            key_of(t.by_path(Method::Put, "/files/a")),
            Some("ANY /files/{proxy+}".into())
        );
        assert_eq!(
            key_of(t.by_path(Method::Get, "/files/a/b/c")),
            Some("ANY /files/{proxy+}".into())
        );
        assert_eq!(key_of(t.by_path(Method::Get, "/files")), None);
    }

    #[test]
    fn static_route_beats_proxy() {
        let t = table();
        assert_eq!(
            key_of(t.by_path(Method::Get, "/files/readme")),
            Some("GET /files/readme".into())
        );
        assert_eq!(
            key_of(t.by_path(Method::Post, "/files/readme")),
            Some("ANY /files/{proxy+}".into())
        );
    }

    #[test]
    fn template_lookup_prefers_exact_method_over_any() {
        let t = table();
        assert_eq!(
            key_of(t.by_template(Method::Get, "/events/{id}")),
            Some("GET /events/{id}".into())
        );
        assert_eq!(
            key_of(t.by_template(Method::Patch, "/files/{proxy+}")),
            Some("ANY /files/{proxy+}".into())
        );
        assert_eq!(key_of(t.by_template(Method::Patch, "/events/{id}")), None);
    }

    #[test]
    fn route_not_configured_not_found() {
        let t = table();
        assert!(t.by_path(Method::Get, "/admin").is_none());
        assert!(t.by_template(Method::Get, "/admin").is_none());
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
    fn methods_upper_case_in_route_scopes_any_case_from_sam() {
        for m in Method::HTTP.into_iter().chain([Method::Any]) {
            assert_eq!(m.as_str().parse::<Method>(), Ok(m));
            assert_eq!(
                Method::parse_any_case(&m.as_str().to_ascii_lowercase()),
                Ok(m)
            );
        }
        assert!(
            "get".parse::<Method>().is_err(),
            "ROUTE_SCOPES is case-sensitive"
        );
        for bad in ["CONNECT", "TRACE", "", "*"] {
            assert!(Method::parse_any_case(bad).is_err(), "{bad:?}");
        }
        assert!(Method::Any.serves(Method::Delete));
        assert!(!Method::Get.serves(Method::Head));
    }

    #[test]
    fn typed_table_refuses_empty_and_repeated_shapes() {
        let route = |method, path| Route {
            key: RouteKey::new(method, path).unwrap(),
            scopes: ScopeSet::default(),
        };
        let t =
            RouteTable::new([route(Method::Get, "/a/{x}"), route(Method::Any, "/a/{x}")]).unwrap();
        assert_eq!(
            key_of(t.by_path(Method::Put, "/a/1")),
            Some("ANY /a/{x}".into())
        );
        let err = RouteTable::new([route(Method::Get, "/a/{x}"), route(Method::Get, "/a/{y}")])
            .unwrap_err();
        assert!(err.to_string().contains("repeats"), "{err}");
        let err = RouteTable::new([]).unwrap_err();
        assert!(err.to_string().contains("no routes"), "{err}");
        assert!(RouteKey::new(Method::Get, "/a/{p+}/b").is_err());
        assert!(RouteKey::new(Method::Get, "a").is_err());
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
