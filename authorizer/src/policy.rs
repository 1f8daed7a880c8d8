//! The IAM policy an allowed (or, with `INSUFFICIENT_SCOPE=deny`, a denied)
//! token gets, and an evaluator with API Gateway's rules to check it.
//!
//! API Gateway caches the policy per identity source (the token) and applies
//! it to every later request with that token, whatever its route. So the
//! policy does not describe the current request: it lists every configured
//! route this token may call (Allow), and, where an allowed ARN pattern could
//! also match requests that API Gateway routes to a route the token may NOT
//! call, an explicit Deny for that route. Deny beats Allow, so a cached policy
//! never opens a route the scopes do not allow.

use std::collections::BTreeSet;

use aws_lambda_events::event::apigw::ApiGatewayCustomAuthorizerPolicy;
use aws_lambda_events::event::iam::{IamPolicyEffect, IamPolicyStatement};

use crate::arn::MethodArn;
use crate::glob::{Atom, glob_match, globs_intersect, iam_atoms, patterns_intersect};
use crate::routes::{Method, Route, RouteKey, RouteTable};

/// The most bytes an answer's policy document may take. API Gateway enforces
/// an undocumented limit on an authorizer's policy (requests are denied past
/// it); every policy this crate writes stays below 8 KiB.
pub const MAX_POLICY_BYTES: usize = 8 * 1024;

/// Denied wherever an Allow has a wildcard: any request path with an empty
/// segment. Whether API Gateway routes `/users//admin` as `/users/admin` while
/// the method ARN keeps `//` is not documented; if it does, an allowed
/// `GET/users/*` would match a refused `GET /users/admin` spelled that way.
pub(crate) const EMPTY_SEGMENT_DENY: &str = "*//*";

/// An IAM pattern as glob atoms and as text.
type Pattern = (Vec<Atom>, String);

/// Which routes a policy allows and denies, as ARN patterns below the stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyPlan {
    /// `METHOD/path` patterns of routes the token may call.
    pub allow: BTreeSet<String>,
    /// Patterns of routes it may not call that an allowed pattern overlaps.
    pub deny: BTreeSet<String>,
}

impl PolicyPlan {
    /// Plans the policy for a token given which routes it is permitted.
    pub fn for_table(table: &RouteTable, permitted: impl Fn(&Route) -> bool) -> Self {
        let (yes, no): (Vec<&Route>, Vec<&Route>) =
            table.routes().iter().partition(|r| permitted(r));
        let allow: BTreeSet<String> = yes.iter().flat_map(|r| r.key.arn_patterns()).collect();
        // Deny a route the token may not call when an allowed IAM pattern
        // (whose `*` also spans `/`) matches a request API Gateway routes to
        // it. Skipped only where the allowed route wins that request anyway:
        // it dominates, and no overflow of its `*` can reach a greedy tail.
        // Each allowed route with its patterns, as glob atoms and as text.
        let allowed: Vec<(&Route, Vec<Pattern>)> = yes
            .iter()
            .map(|r| {
                let patterns = r.key.arn_patterns();
                (
                    *r,
                    patterns.into_iter().map(|p| (iam_atoms(&p), p)).collect(),
                )
            })
            .collect();
        let mut deny = BTreeSet::new();
        for d in &no {
            let requests = d.key.request_pattern();
            // API Gateway routes `GET /users/` to `GET /users`, and the method
            // ARN keeps the slash: the route's requests in both spellings.
            let mut with_slash = requests.clone();
            with_slash.push(Atom::Lit(b'/'));
            let d_pattern = d.key.arn_pattern();
            let d_prefix = literal_prefix(&d_pattern);
            // `whole`: deny both spellings. `slash`: only the slash spelling, for
            // an allowed route that wins every bare request of both: its `*`s
            // stay within their segments there, but one can swallow the extra
            // `/` of a slash spelling (`GET/orgs/*/members/*` matches
            // `GET/orgs/o1/billing/members/`, routed to `GET /orgs/{o}/{k}/{id}`).
            let (mut whole, mut slash) = (false, false);
            for (a, patterns) in &allowed {
                let routed_to_a =
                    a.key.dominates(&d.key) && (a.key.is_literal() || !d.key.is_greedy());
                for (p, text) in patterns {
                    // Two patterns whose literal prefixes disagree cannot match a
                    // common string: most pairs of a large table end here,
                    // without the automaton.
                    let p_prefix = literal_prefix(text);
                    let n = p_prefix.len().min(d_prefix.len());
                    if !(a.key.method() == Method::Any
                        || d.key.method() == Method::Any
                        || p_prefix[..n] == d_prefix[..n])
                    {
                        continue;
                    }
                    if !routed_to_a && patterns_intersect(p, &requests) {
                        whole = true;
                    } else if patterns_intersect(p, &with_slash) {
                        if routed_to_a {
                            slash = true;
                        } else {
                            whole = true;
                        }
                    }
                }
                if whole {
                    break;
                }
            }
            for p in d.key.arn_patterns() {
                if whole || slash {
                    deny.insert(format!("{p}/"));
                }
                if whole {
                    deny.insert(p);
                }
            }
        }
        if allow.iter().any(|p| p.contains('*')) {
            deny.insert(EMPTY_SEGMENT_DENY.to_owned());
        }
        Self { allow, deny }
    }

    /// The plan of a REQUEST authorizer cached by token, method and resource
    /// path (`POLICY_SCOPE=route`): each answer covers requests of one route
    /// and one method only, so it lists that route's one pattern.
    pub fn for_route(route: &RouteKey, method: Method) -> Self {
        Self {
            allow: BTreeSet::from([route.arn_pattern_for(method)]),
            deny: BTreeSet::new(),
        }
    }

    /// An upper bound of the serialized size of [`PolicyPlan::document`] for
    /// an ARN prefix of `prefix_len` bytes without an extra Deny, computed
    /// without rendering it.
    pub fn document_bytes(&self, prefix_len: usize) -> usize {
        self.document_bytes_with(prefix_len, None)
    }

    /// As [`PolicyPlan::document_bytes`], with `extra_deny` (the pattern
    /// [`PolicyPlan::document`] is given, if any).
    pub fn document_bytes_with(&self, prefix_len: usize, extra_deny: Option<&str>) -> usize {
        let resource = |p: &str| prefix_len + p.len() + 3;
        let resources = |set: &BTreeSet<String>| set.iter().map(|p| resource(p)).sum::<usize>();
        // Version and two statements' keys, effects and action.
        const FRAME: usize = 200;
        FRAME + resources(&self.allow) + resources(&self.deny) + extra_deny.map_or(0, resource)
    }

    /// Whether the plan's document for an ARN prefix of `prefix_len` bytes
    /// (with `extra_deny`, if any) stays within [`MAX_POLICY_BYTES`].
    pub fn fits(&self, prefix_len: usize, extra_deny: Option<&str>) -> bool {
        self.document_bytes_with(prefix_len, extra_deny) <= MAX_POLICY_BYTES
    }

    /// The IAM policy document for the API and stage of `arn`. `extra_deny`
    /// adds Deny patterns (the current request, when scopes are insufficient
    /// and `INSUFFICIENT_SCOPE=deny`).
    pub fn document(
        &self,
        arn: &MethodArn,
        extra_deny: Option<&str>,
    ) -> ApiGatewayCustomAuthorizerPolicy {
        let mut statements = Vec::new();
        if !self.allow.is_empty() {
            statements.push(statement(
                IamPolicyEffect::Allow,
                self.allow.iter().map(|p| arn.with_resource(p)),
            ));
        }
        // An extra Deny (the current request, INSUFFICIENT_SCOPE=deny) is only
        // written where it cannot also cover an allowed route's requests; the
        // request is denied either way (nothing allows it, or the plan's own
        // Deny covers it).
        let extra_deny = extra_deny.filter(|d| !self.allow.iter().any(|a| globs_intersect(a, d)));
        let deny: BTreeSet<&str> = self
            .deny
            .iter()
            .map(String::as_str)
            .chain(extra_deny)
            .collect();
        if !deny.is_empty() {
            statements.push(statement(
                IamPolicyEffect::Deny,
                deny.into_iter().map(|p| arn.with_resource(p)),
            ));
        }
        if statements.is_empty() {
            // An empty Statement list is invalid IAM; an explicit Deny of the
            // whole stage says the same thing validly.
            statements.push(statement(
                IamPolicyEffect::Deny,
                std::iter::once(arn.with_resource("*")),
            ));
        }
        let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
        policy.version = Some("2012-10-17".into());
        policy.statement = statements;
        policy
    }
}

/// The first part of an IAM pattern up to its first wildcard.
fn literal_prefix(pattern: &str) -> &[u8] {
    let end = pattern.find(['*', '?']).unwrap_or(pattern.len());
    &pattern.as_bytes()[..end]
}

/// The answer when a token's plan does not fit in [`MAX_POLICY_BYTES`]
/// (`POLICY_SCOPE=token` with a large table): the one request's exact ARN,
/// allowed or denied. Cache-safe (it opens nothing else) but, cached for the
/// token, it blocks the token's other requests until it expires: large tables
/// want `POLICY_SCOPE=route`. `None` when the ARN itself holds a wildcard
/// character, which a policy could not name exactly, or is too long.
pub(crate) fn narrowed(arn: &MethodArn, allow: bool) -> Option<ApiGatewayCustomAuthorizerPolicy> {
    let exact = arn.to_string();
    if exact.contains(['*', '?']) || exact.len() + 200 > MAX_POLICY_BYTES {
        return None;
    }
    let effect = if allow {
        IamPolicyEffect::Allow
    } else {
        IamPolicyEffect::Deny
    };
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".into());
    policy.statement = vec![statement(effect, std::iter::once(exact))];
    Some(policy)
}

fn statement(
    effect: IamPolicyEffect,
    resources: impl Iterator<Item = String>,
) -> IamPolicyStatement {
    let mut s = IamPolicyStatement::default();
    s.action = vec!["execute-api:Invoke".into()];
    s.effect = effect;
    s.resource = resources.collect();
    s
}

/// Evaluates a policy for a request ARN as API Gateway does: an explicit Deny
/// wins, then any Allow, else denied. Resource patterns use IAM wildcards:
/// `*` any run of characters (including `/`), `?` one character.
pub fn evaluate(policy: &ApiGatewayCustomAuthorizerPolicy, request_arn: &str) -> bool {
    let matches = |effect: IamPolicyEffect| {
        policy.statement.iter().any(|s| {
            s.effect == effect
                && s.action
                    .iter()
                    .any(|a| a == "execute-api:Invoke" || a == "execute-api:*" || a == "*")
                && s.resource.iter().any(|r| glob_match(r, request_arn))
        })
    };
    !matches(IamPolicyEffect::Deny) && matches(IamPolicyEffect::Allow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::Method;

    const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/events";

    fn table(json: &str) -> RouteTable {
        RouteTable::from_json(json).unwrap()
    }

    fn weather() -> RouteTable {
        table(
            r#"{"GET /events": ["weather-api/get"], "GET /events/{id}": ["weather-api/get"],
                "POST /events": ["weather-api/post"], "DELETE /events/{id}": ["weather-api/delete"]}"#,
        )
    }

    #[test]
    fn allow_lists_only_permitted_routes() {
        let t = weather();
        let plan = PolicyPlan::for_table(&t, |r| r.scopes.any_granted_by("weather-api/get"));
        assert_eq!(
            plan.allow,
            BTreeSet::from(["GET/events".to_string(), "GET/events/*".to_string()])
        );
        // Only the empty-segment Deny: no refused route is reachable.
        assert_eq!(plan.deny, BTreeSet::from([EMPTY_SEGMENT_DENY.to_string()]));
        let arn = MethodArn::parse(ARN).unwrap();
        let doc = plan.document(&arn, None);
        assert_eq!(doc.version.as_deref(), Some("2012-10-17"));
        assert_eq!(doc.statement.len(), 2);
        assert_eq!(
            doc.statement[0].resource,
            vec![
                "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/events",
                "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/events/*"
            ]
        );
        assert_eq!(doc.statement[1].effect, IamPolicyEffect::Deny);
        assert_eq!(
            doc.statement[1].resource,
            vec!["arn:aws:execute-api:us-east-1:123456789012:api/prod/*//*"]
        );
        let base = "arn:aws:execute-api:us-east-1:123456789012:api/prod/";
        assert!(evaluate(&doc, &format!("{base}GET/events/1")));
        assert!(!evaluate(&doc, &format!("{base}GET/events//1")));
        assert!(!evaluate(&doc, &format!("{base}GET//events")));
    }

    #[test]
    fn overlapped_denied_route_gets_explicit_deny() {
        let t = table(r#"{"GET /events/{id}": ["get"], "GET /events/{id}/secret": ["admin"]}"#);
        let plan = PolicyPlan::for_table(&t, |r| r.scopes.any_granted_by("get"));
        assert_eq!(
            plan.deny,
            BTreeSet::from([
                EMPTY_SEGMENT_DENY.to_string(),
                "GET/events/*/secret".to_string(),
                "GET/events/*/secret/".to_string()
            ])
        );
        let doc = plan.document(&MethodArn::parse(ARN).unwrap(), None);
        let base = "arn:aws:execute-api:us-east-1:123456789012:api/prod/";
        assert!(evaluate(&doc, &format!("{base}GET/events/1")));
        assert!(!evaluate(&doc, &format!("{base}GET/events/1/secret")));
        assert!(
            !evaluate(&doc, &format!("{base}GET/events/1/secret/")),
            "trailing slash"
        );
    }

    #[test]
    fn more_specific_allowed_route_needs_no_deny() {
        let t = table(
            r#"{"GET /files/readme": ["read"], "ANY /files/{proxy+}": ["admin"], "ANY /x": ["admin"], "GET /x": ["read"]}"#,
        );
        let plan = PolicyPlan::for_table(&t, |r| r.scopes.any_granted_by("read"));
        assert!(plan.deny.is_empty(), "{plan:?}");
    }

    #[test]
    fn any_route_listed_per_method_never_as_wildcard() {
        let t = table(r#"{"ANY /files/{proxy+}": ["files"], "GET /admin": ["admin"]}"#);
        let doc = PolicyPlan::for_table(&t, |r| r.scopes.any_granted_by("files"))
            .document(&MethodArn::parse(ARN).unwrap(), None);
        let base = "arn:aws:execute-api:us-east-1:123456789012:api/prod/";
        assert!(evaluate(&doc, &format!("{base}PATCH/files/a/b")));
        // A route the table does not list, reached through a wildcard method, stays closed.
        assert!(!evaluate(&doc, &format!("{base}DELETE/users/7/files/x")));
        assert!(
            doc.statement
                .iter()
                .filter(|s| s.effect == IamPolicyEffect::Allow)
                .all(|s| s.resource.iter().all(|r| !r.contains("prod/*")))
        );
    }

    #[test]
    fn deny_mode_extra_deny_never_blocks_an_allowed_route() {
        let t = table(r#"{"GET /events/{id}": ["admin"], "GET /events/{id}/public": ["read"]}"#);
        let plan = PolicyPlan::for_table(&t, |r| r.scopes.any_granted_by("read"));
        let doc = plan.document(&MethodArn::parse(ARN).unwrap(), Some("GET/events/*"));
        let base = "arn:aws:execute-api:us-east-1:123456789012:api/prod/";
        assert!(!evaluate(&doc, &format!("{base}GET/events/1")));
        assert!(evaluate(&doc, &format!("{base}GET/events/1/public")));
    }

    /// The cache-safety property on random small tables (methods GET, POST and
    /// ANY; up to four segments over two words, `{param}` and `{proxy+}`; three
    /// scopes), every scope subset, every path of up to four segments over the
    /// two words and a value, each with a trailing slash and with one slash
    /// doubled (routed at worst as if merged): no policy opens a refused route.
    #[test]
    fn random_tables_never_open_a_refused_route() {
        let mut seed: u64 = 1;
        let mut below = move |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let mut paths: Vec<String> = vec!["/".into()];
        let mut frontier: Vec<Vec<&str>> = vec![vec![]];
        for _ in 0..4 {
            frontier = frontier
                .iter()
                .flat_map(|f| {
                    ["a", "b", "v7"].map(|w| {
                        let mut g = f.clone();
                        g.push(w);
                        g
                    })
                })
                .collect();
            for g in &frontier {
                let p = format!("/{}", g.join("/"));
                paths.push(format!("{p}/"));
                paths.push(p);
            }
        }
        let doubled = with_a_slash_doubled(&paths);
        paths.extend(doubled);
        let base = "arn:aws:execute-api:us-east-1:123456789012:api/prod/";
        let arn = MethodArn::parse(ARN).unwrap();
        let mut tables = 0;
        while tables < 1000 {
            let mut routes = BTreeSet::new();
            for _ in 0..2 + below(3) {
                let method = ["GET", "ANY", "POST"][below(3) as usize];
                let len = below(4) as usize;
                // Parameters half the time: the shapes where patterns overlap.
                let segments: Vec<String> = (0..len)
                    .map(|i| match below(if i + 1 == len { 6 } else { 4 }) {
                        0 => "a".to_owned(),
                        1 => "b".to_owned(),
                        2 | 3 => format!("{{p{i}}}"),
                        _ => "{g+}".to_owned(),
                    })
                    .collect();
                let scope = ["s1", "s2", "s3"][below(3) as usize];
                routes.insert(format!(
                    r#""{method} /{}": ["{scope}"]"#,
                    segments.join("/")
                ));
            }
            let json = format!("{{{}}}", routes.into_iter().collect::<Vec<_>>().join(","));
            // Tables the authorizer refuses at init (two keys of one shape).
            let Ok(t) = RouteTable::from_json(&json) else {
                continue;
            };
            tables += 1;
            // Each request that reaches a route, with its route and method ARN.
            let routed: Vec<(&Route, String)> = [Method::Get, Method::Post, Method::Put]
                .into_iter()
                .flat_map(|m| paths.iter().map(move |p| (m, p)))
                .filter_map(|(m, p)| {
                    let route = t.by_request_path(m, &p.replace("//", "/"))?;
                    Some((route, format!("{base}{m}{p}")))
                })
                .collect();
            for mask in 0..8u32 {
                let claim: Vec<&str> = (0..3)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| ["s1", "s2", "s3"][i])
                    .collect();
                let claim = claim.join(" ");
                let permitted = |r: &Route| r.scopes.any_granted_by(&claim);
                let doc = PolicyPlan::for_table(&t, permitted).document(&arn, None);
                for (route, request) in &routed {
                    assert!(
                        permitted(route) || !evaluate(&doc, request),
                        "policy opens a route: table {json}\nscopes {claim:?}\n{request}\n{doc:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn document_bytes_bounds_the_rendered_document() {
        // Short allowed patterns, one long refused one: the extra Deny of deny
        // mode is the refused route's pattern, not an allowed one.
        let mut routes: Vec<String> = (0..60)
            .map(|i| format!(r#""GET /r{i}/{{id}}": ["read"]"#))
            .collect();
        let long = "x".repeat(400);
        routes.push(format!(r#""DELETE /r0/{{id}}/{long}": ["admin"]"#));
        routes.push(r#""ANY /r1/{id}/files/{proxy+}": ["files"]"#.into());
        let t = table(&format!("{{{}}}", routes.join(",")));
        let arn = MethodArn::parse(ARN).unwrap();
        for claim in ["read", "admin", "files", "read files", ""] {
            let plan = PolicyPlan::for_table(&t, |r| r.scopes.any_granted_by(claim));
            for route in t.routes() {
                for method in [Method::Get, Method::Delete, Method::Options] {
                    let extra = route.key.arn_pattern_for(method);
                    for extra in [None, Some(extra.as_str())] {
                        let rendered = serde_json::to_vec(&plan.document(&arn, extra))
                            .unwrap()
                            .len();
                        let bound = plan.document_bytes_with(arn.prefix().len(), extra);
                        assert!(
                            rendered <= bound,
                            "{claim:?} {extra:?}: {rendered} > {bound}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn no_permitted_route_denies_whole_stage() {
        let plan = PolicyPlan::for_table(&weather(), |_| false);
        let doc = plan.document(&MethodArn::parse(ARN).unwrap(), None);
        assert_eq!(doc.statement.len(), 1);
        assert_eq!(doc.statement[0].effect, IamPolicyEffect::Deny);
        assert_eq!(
            doc.statement[0].resource,
            vec!["arn:aws:execute-api:us-east-1:123456789012:api/prod/*"]
        );
    }

    #[test]
    fn extra_deny_added() {
        let plan =
            PolicyPlan::for_table(&weather(), |r| r.scopes.any_granted_by("weather-api/post"));
        let doc = plan.document(&MethodArn::parse(ARN).unwrap(), Some("GET/events"));
        assert_eq!(doc.statement.len(), 2);
        assert!(!evaluate(&doc, ARN));
        assert!(evaluate(
            &doc,
            "arn:aws:execute-api:us-east-1:123456789012:api/prod/POST/events"
        ));
    }

    /// Each path with one of its slashes doubled, every way (`/a/b`: `//a/b`,
    /// `/a//b`).
    fn with_a_slash_doubled<'p>(paths: impl IntoIterator<Item = &'p String>) -> Vec<String> {
        paths
            .into_iter()
            .flat_map(|p| {
                p.match_indices('/')
                    .map(|(i, _)| format!("{}/{}", &p[..i], &p[i..]))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Request paths spliced from two routes: a prefix of one route's concrete
    /// segments and a suffix of another's (every cut, both orders), each route
    /// with one parameter spelled as a static word of the table, and each path
    /// with a trailing slash. They include the strings an allowed pattern's `*`
    /// matches by spanning several segments into a refused route (`/x/7/files/
    /// m/files/index` for `GET/x/*/files/index` and `ANY /x/{id}/files/{proxy+}`).
    pub(crate) fn spliced_paths(t: &RouteTable) -> BTreeSet<String> {
        let concrete = |r: &Route| -> Vec<String> {
            r.key
                .segments()
                .iter()
                .map(|s| match s {
                    crate::Segment::Static(s) => s.clone(),
                    crate::Segment::Param(_) => "v7".to_owned(),
                    crate::Segment::Greedy(_) => "g".to_owned(),
                })
                .collect()
        };
        let mut out = BTreeSet::new();
        // Each route with one parameter spelled as a static word of the table
        // (`/orgs/v7/v7/members` of `GET /orgs/{org}/{kind}/{id}`).
        let words: BTreeSet<String> = t
            .routes()
            .iter()
            .flat_map(|r| r.key.segments())
            .filter_map(|s| match s {
                crate::Segment::Static(w) => Some(w.clone()),
                _ => None,
            })
            .collect();
        for r in t.routes() {
            let c = concrete(r);
            for (i, s) in r.key.segments().iter().enumerate() {
                if matches!(s, crate::Segment::Static(_)) {
                    continue;
                }
                for w in &words {
                    let mut c = c.clone();
                    c[i] = w.clone();
                    let path = format!("/{}", c.join("/"));
                    out.insert(format!("{path}/"));
                    out.insert(path);
                }
            }
        }
        for a in t.routes() {
            let a = concrete(a);
            for b in t.routes() {
                let b = concrete(b);
                for i in 0..=a.len() {
                    for j in 0..=b.len() {
                        let parts: Vec<&str> =
                            a[..i].iter().chain(&b[j..]).map(String::as_str).collect();
                        let path = format!("/{}", parts.join("/"));
                        if path.len() > 1 {
                            out.insert(format!("{path}/"));
                        }
                        out.insert(path);
                    }
                }
            }
        }
        out
    }

    /// The cache-safety property, checked exhaustively over a set of route
    /// tables, every subset of their scopes and many concrete requests:
    /// the policy never allows a request whose route the token may not call
    /// (all tables), and never blocks one it may (tables marked exact; the
    /// others overlap routes of different scopes at the same depth, where the
    /// plan errs on the side of Deny, as documented in the README).
    #[test]
    fn cached_policy_agrees_with_per_route_decision() {
        let tables = [
            (
                true,
                r#"{"GET /events": ["get"], "GET /events/{id}": ["get"], "POST /events": ["post"], "DELETE /events/{id}": ["delete"]}"#,
            ),
            (
                true,
                r#"{"GET /events/{id}": ["get"], "GET /events/{id}/secret": ["admin"], "GET /events/special": ["admin"]}"#,
            ),
            (
                true,
                r#"{"ANY /events/{id}": ["any"], "GET /events/{id}": ["get"], "GET /events": ["get", "any"]}"#,
            ),
            (
                true,
                r#"{"GET /files/readme": ["read"], "ANY /files/{proxy+}": ["admin"], "GET /": ["root"]}"#,
            ),
            (
                false,
                r#"{"ANY /{proxy+}": ["admin"], "GET /events": ["get"], "GET /events/{id}": ["get"]}"#,
            ),
            (
                false,
                r#"{"GET /a/{x}/c": ["one"], "GET /a/b/{y}": ["two"], "GET /a/b/c": ["three"]}"#,
            ),
            // A static route inside a proxy with other scopes, under a {param}.
            (
                false,
                r#"{"GET /x/{id}/files/index": ["read"], "ANY /x/{id}/files/{proxy+}": ["files"], "GET /x/{id}": ["read"]}"#,
            ),
            // An allowed route that wins every bare request of a refused one of
            // the same length, but whose `*` swallows the slash spelling's extra
            // `/` (`GET /orgs/o1/billing/members/`, `GET /x/y/b/`).
            (
                true,
                r#"{"GET /orgs/{org}/members/{m}": ["read"], "GET /orgs/{org}/{kind}/{id}": ["admin"]}"#,
            ),
            (
                true,
                r#"{"GET /{x}/b/{z}": ["read"], "GET /{p}/{q}/{r}": ["admin"]}"#,
            ),
            // A collection refused, its items allowed: `GET /users/` is routed to
            // `GET /users`, and the item's `GET/users/*` matches its ARN.
            (
                true,
                r#"{"GET /users": ["admin"], "GET /users/{id}": ["read"], "DELETE /users/{id}/keys/{k}": ["admin"], "GET /users/{id}/keys": ["read"]}"#,
            ),
        ];
        let paths = [
            "/",
            "/events",
            "/events/1",
            "/events/special",
            "/events/1/secret",
            "/events/special/secret",
            "/a/b/c",
            "/a/x/c",
            "/a/b/x",
            "/a/x/x",
            "/files/readme",
            "/files/a",
            "/files/a/b",
            "/files",
            "/x/y/z",
            "/users",
            "/users/",
            "/users/7",
            "/users/7/",
            "/users/7/keys",
            "/users/7/keys/",
            "/users/7/keys/k1",
            "/users/7/keys/k1/",
            "/events/",
            "/events/1/",
            "/files/readme/",
        ];
        let methods = [Method::Get, Method::Post, Method::Delete, Method::Put];
        let base = "arn:aws:execute-api:us-east-1:123456789012:api/prod/";
        for (exact, json) in tables {
            let t = table(json);
            let mut paths: BTreeSet<String> = paths.iter().map(|p| p.to_string()).collect();
            paths.extend(spliced_paths(&t));
            // Each path with one of its slashes doubled, routed at worst as if API
            // Gateway merged them (the method ARN keeping both).
            let doubled = with_a_slash_doubled(&paths);
            paths.extend(doubled);
            let mut scopes: BTreeSet<&str> = BTreeSet::new();
            for r in t.routes() {
                scopes.extend(r.scopes.iter());
            }
            let scopes: Vec<&str> = scopes.into_iter().collect();
            for mask in 0..(1u32 << scopes.len()) {
                let claim: Vec<&str> = (0..scopes.len())
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| scopes[i])
                    .collect();
                let claim = claim.join(" ");
                let permitted = |r: &Route| r.scopes.any_granted_by(&claim);
                let doc = PolicyPlan::for_table(&t, permitted)
                    .document(&MethodArn::parse(ARN).unwrap(), None);
                for method in methods {
                    for path in paths.iter().map(String::as_str) {
                        // A request that matches no route never reaches the
                        // authorizer or its cached policy: API Gateway answers it.
                        let merged = path.replace("//", "/");
                        let Some(route) = t.by_request_path(method, &merged) else {
                            continue;
                        };
                        let expected = permitted(route);
                        let got = evaluate(&doc, &format!("{base}{method}{path}"));
                        let context =
                            format!("table {json}\nscopes {claim:?}\n{method} {path}\n{doc:?}");
                        assert!(!got || expected, "policy opens a route: {context}");
                        // A trailing slash is only ever refused wrongly (fail
                        // closed): the policy lists each route's one spelling.
                        if exact && merged == path && (path == "/" || !path.ends_with('/')) {
                            assert!(got || !expected, "policy blocks a route: {context}");
                        }
                    }
                }
            }
        }
    }
}
