//! The authorizer at API scale, through the whole pipeline (real tokens,
//! real events) on generated tables of 100, 300 and 1,000 routes
//! (`support::generate`): every answer's policy stays within 8 KiB and is
//! cache-safe, in both `POLICY_SCOPE` modes.
//!
//! Cache-safety is checked as API Gateway applies a cached answer:
//! - `POLICY_SCOPE=token` (TOKEN authorizer, cached by token): the answer to
//!   the token's first request is evaluated against every request of the
//!   table; it must never allow one whose route the token's scopes do not allow.
//! - `POLICY_SCOPE=route` (REQUEST authorizer, cached by token, method and
//!   resource path): the answer to the first request of each route and method
//!   is evaluated against every request API Gateway routes there; it must
//!   allow exactly what the scopes allow, with one ARN.

mod support;

use std::collections::BTreeMap;

use authorizer::{
    AuthError, AuthorizerResponse, MAX_POLICY_BYTES, Method, Route, RouteTable, evaluate,
};
use support::generate::{self, GenRoute};
use support::*;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn arn(method: &str, path: &str) -> String {
    format!("{METHOD_ARN_BASE}/{method}{path}")
}

/// What the token's scopes allow for the route API Gateway picks.
fn permitted(route: &Route, claim: &str) -> bool {
    !route.scopes.is_empty() && route.scopes.any_granted_by(claim)
}

/// Whether a request path is spelled otherwise than its route: a trailing
/// slash API Gateway routes past, or an empty segment (`//`, routed here at
/// worst as if merged). Answers may refuse these (fail closed), never open them.
fn respelled(path: &str) -> bool {
    path.len() > 1 && path.ends_with('/') || path.contains("//")
}

/// The table and, for each request that reaches a route, the route.
fn routed(routes: &[GenRoute]) -> (RouteTable, Vec<(String, String, usize)>) {
    let table = RouteTable::from_json(&generate::json(routes.len())).unwrap();
    let index: BTreeMap<String, usize> = table
        .routes()
        .iter()
        .enumerate()
        .map(|(i, r)| (r.key.to_string(), i))
        .collect();
    let requests = generate::requests(routes)
        .into_iter()
        .chain(generate::splices(routes))
        // Each with its last slash doubled.
        .flat_map(|(m, p)| {
            let doubled = p.rfind('/').filter(|i| *i > 0).map(|i| {
                let (head, tail) = p.split_at(i);
                (m.clone(), format!("{head}/{tail}"))
            });
            std::iter::once((m, p)).chain(doubled)
        })
        .filter_map(|(m, p)| {
            let route = table.by_request_path(m.parse().ok()?, &p.replace("//", "/"))?;
            Some((m, p, index[&route.key.to_string()]))
        })
        .collect();
    (table, requests)
}

fn policy_of(answer: &Result<AuthorizerResponse, AuthError>) -> Option<(usize, usize)> {
    match answer {
        Ok(AuthorizerResponse::Policy(p)) => {
            let bytes = serde_json::to_vec(&*p.policy_document).unwrap().len();
            let resources = p
                .policy_document
                .statement
                .iter()
                .map(|s| s.resource.len())
                .sum();
            Some((bytes, resources))
        }
        _ => None,
    }
}

#[test]
fn token_mode_policies_bounded_and_cache_safe_on_large_tables() {
    let rt = rt();
    for (n, samples) in [(100, 12), (300, 8), (1000, 8)] {
        let routes = generate::routes(n);
        let (table, requests) = routed(&routes);
        let json = generate::json(n);
        let mut largest = 0;
        let mut one_arn = 0;
        for mode in ["unauthorized", "deny"] {
            let a = authorizer_at(
                NOW,
                &[("ROUTE_SCOPES", &json), ("INSUFFICIENT_SCOPE", mode)],
            );
            for (i, claim) in generate::scope_claims(&routes, samples)
                .into_iter()
                .enumerate()
            {
                let token = format!("Bearer {}", TokenBuilder::access(&claim).sign());
                // The first request: one the token may call (an Allow), or in
                // deny mode one it may not (a Deny policy).
                let want = mode == "unauthorized";
                let Some((m, p, _)) = requests.iter().find(|(_, p, r)| {
                    let route = &table.routes()[*r];
                    !respelled(p) && !route.scopes.is_empty() && permitted(route, &claim) == want
                }) else {
                    continue;
                };
                let answer = rt.block_on(a.handle(&token_event(&token, m, p))).result;
                let Some((bytes, resources)) = policy_of(&answer) else {
                    panic!(
                        "{n} routes, {claim:?}, {m} {p}: no policy: {:?}",
                        answer.err()
                    );
                };
                assert!(
                    bytes <= MAX_POLICY_BYTES,
                    "{n} routes, {claim:?}: {bytes} bytes"
                );
                largest = largest.max(bytes);
                one_arn += usize::from(resources == 1);
                let Ok(AuthorizerResponse::Policy(policy)) = &answer else {
                    unreachable!()
                };
                let doc = &policy.policy_document;
                if n == 1000 && i == 1 {
                    // Every scope: the plan is far over 8 KiB, so the answer
                    // is narrowed to the request's exact ARN.
                    assert_eq!(doc.statement[0].resource, [arn(m, p)]);
                }
                assert_eq!(
                    evaluate(doc, &arn(m, p)),
                    want,
                    "the first request's own answer"
                );
                for (m2, p2, r) in &requests {
                    let route = &table.routes()[*r];
                    if evaluate(doc, &arn(m2, p2)) {
                        assert!(
                            permitted(route, &claim),
                            "{n} routes, scopes {claim:?}: the answer to {m} {p} opens {m2} {p2} ({})",
                            route.key
                        );
                    }
                }
            }
        }
        eprintln!(
            "POLICY_SCOPE=token, {n} routes: largest policy {largest} bytes, {one_arn} answers of one ARN"
        );
    }
}

#[test]
fn route_mode_answers_one_arn_exactly_right_for_every_route() {
    let rt = rt();
    for n in [100, 1000] {
        let routes = generate::routes(n);
        let (table, requests) = routed(&routes);
        let json = generate::json(n);
        let a = authorizer_at(NOW, &[("ROUTE_SCOPES", &json), ("POLICY_SCOPE", "route")]);
        let mut largest = 0;
        for claim in generate::scope_claims(&routes, 6) {
            let token = format!("Bearer {}", TokenBuilder::access(&claim).sign());
            // API Gateway's cache key: token, method, resource path.
            let mut groups: BTreeMap<(&str, String), Vec<&str>> = BTreeMap::new();
            for (m, p, r) in &requests {
                let template = table.routes()[*r].key.to_string();
                let template = template.split_once(' ').unwrap().1.to_owned();
                groups.entry((m, template)).or_default().push(p);
            }
            for ((m, template), paths) in groups {
                let route = table.by_template(m.parse().unwrap(), &template).unwrap();
                let answer = rt
                    .block_on(a.handle(&request_event(
                        "Authorization",
                        &token,
                        m,
                        &template,
                        paths[0],
                    )))
                    .result;
                let allowed = permitted(route, &claim);
                let Some((bytes, resources)) = policy_of(&answer) else {
                    assert!(!allowed, "{m} {template} {claim:?}: {:?}", answer.err());
                    continue;
                };
                assert_eq!(resources, 1, "one ARN per answer");
                largest = largest.max(bytes);
                let Ok(AuthorizerResponse::Policy(policy)) = &answer else {
                    unreachable!()
                };
                for p in paths {
                    let got = evaluate(&policy.policy_document, &arn(m, p));
                    let context =
                        format!("{n} routes, {claim:?}: the answer for {m} {template} on {p}");
                    if respelled(p) {
                        // The answer lists the route's one spelling: another
                        // may be refused (fail closed), never opened.
                        assert!(!got || allowed, "{context}");
                    } else {
                        assert_eq!(got, allowed, "{context}");
                    }
                }
            }
        }
        assert!(largest <= MAX_POLICY_BYTES);
        eprintln!("POLICY_SCOPE=route, {n} routes: largest policy {largest} bytes");
    }
}

#[test]
fn route_mode_refuses_token_events() {
    let a = authorizer_at(NOW, &[("POLICY_SCOPE", "route")]);
    let token = format!("Bearer {}", TokenBuilder::access("weather-api/get").sign());
    let outcome = rt().block_on(a.handle(&token_event(&token, "GET", "/events")));
    assert_eq!(outcome.decision, authorizer::Verdict::Error);
    assert!(matches!(outcome.result, Err(AuthError::InvalidEvent(_))));
}

#[test]
fn route_mode_any_route_answers_the_requests_method_only() {
    let a = authorizer_at(NOW, &[("POLICY_SCOPE", "route")]);
    let token = format!("Bearer {}", TokenBuilder::access("files/all").sign());
    let event = request_event(
        "Authorization",
        &token,
        "PATCH",
        "/files/{proxy+}",
        "/files/a/b",
    );
    let answer = rt().block_on(a.handle(&event)).result;
    let Ok(AuthorizerResponse::Policy(p)) = answer else {
        panic!("{:?}", answer.err())
    };
    let resources: Vec<&str> = p.policy_document.statement[0]
        .resource
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        resources,
        [format!("{METHOD_ARN_BASE}/PATCH/files/*").as_str()]
    );
}

#[test]
fn thousand_route_table_parses_and_every_route_is_found_by_its_own_request() {
    let routes = generate::routes(1000);
    let table = RouteTable::from_json(&generate::json(1000)).unwrap();
    assert_eq!(table.routes().len(), 1000);
    for route in table.routes() {
        let template = route.key.to_string();
        let (method, path) = template.split_once(' ').unwrap();
        let method: Method = method.parse().unwrap();
        let request = if method == Method::Any {
            Method::Put
        } else {
            method
        };
        assert_eq!(
            table.by_template(request, path).map(|r| &r.key),
            Some(&route.key)
        );
    }
    assert!(
        generate::json(1000).len() > 4 * 1024,
        "beyond Lambda's 4 KB environment"
    );
    assert_eq!(routes.len(), 1000);
}
