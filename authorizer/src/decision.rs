//! The decision: a pure function of (verified claims, route, route table, mode).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::InsufficientScope;
use crate::error::AuthError;
use crate::policy::PolicyPlan;
use crate::routes::{Route, RouteTable};
use crate::token::{Claims, TokenUse};

/// What to answer API Gateway.
#[derive(Debug)]
pub enum Decision {
    /// Allowed: the policy lists every route the token may call.
    Allow(Arc<PolicyPlan>),
    /// Valid token without the route's scope, `INSUFFICIENT_SCOPE=deny`:
    /// the same plan plus an explicit Deny of the current request (403).
    Deny(Arc<PolicyPlan>),
    /// Fail with `Unauthorized` (401).
    Unauthorized(AuthError),
}

/// Whether a verified token may call `route`, with the built-in Cognito
/// authorizer's semantics: a route with scopes takes an access token holding
/// ANY of them; a route without scopes takes an ID token.
pub fn permits(claims: &Claims, route: &Route) -> bool {
    if route.scopes.is_empty() {
        claims.token_use == TokenUse::Id
    } else {
        claims.token_use == TokenUse::Access
            && claims
                .scope
                .as_deref()
                .is_some_and(|s| route.scopes.any_granted_by(s))
    }
}

/// The policy plan of a token: which routes of the table it may call.
pub fn plan(claims: &Claims, table: &RouteTable) -> PolicyPlan {
    PolicyPlan::for_table(table, |r| permits(claims, r))
}

/// Decides a request for `route`, given the token's precomputed `plan`.
pub fn decide(
    claims: &Claims,
    route: &Route,
    plan: &Arc<PolicyPlan>,
    mode: InsufficientScope,
) -> Decision {
    if permits(claims, route) {
        return Decision::Allow(plan.clone());
    }
    let wanted = if route.scopes.is_empty() {
        TokenUse::Id
    } else {
        TokenUse::Access
    };
    if claims.token_use != wanted {
        return Decision::Unauthorized(AuthError::TokenUseNotAccepted);
    }
    match mode {
        InsufficientScope::Unauthorized => Decision::Unauthorized(AuthError::InsufficientScope),
        InsufficientScope::Deny => Decision::Deny(plan.clone()),
    }
}

/// The authorizer context passed to the backend: strings only, absent claims omitted.
pub fn context(claims: &Claims) -> BTreeMap<String, String> {
    let mut ctx = BTreeMap::new();
    let client_key = match claims.token_use {
        TokenUse::Access => "client_id",
        TokenUse::Id => "aud",
    };
    ctx.insert(client_key.to_owned(), claims.client.clone());
    ctx.insert("token_use".to_owned(), claims.token_use.as_str().to_owned());
    for (key, value) in [
        ("sub", &claims.sub),
        ("scope", &claims.scope),
        ("username", &claims.username),
        ("groups", &claims.groups),
    ] {
        if let Some(v) = value {
            ctx.insert(key.to_owned(), v.clone());
        }
    }
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        RouteTable::from_json(
            r#"{"GET /events": ["weather-api/get"], "GET /events/{id}": ["weather-api/get"],
                "POST /events": ["weather-api/post"], "DELETE /events/{id}": ["weather-api/delete"],
                "GET /me": []}"#,
        )
        .unwrap()
    }

    fn access(scope: Option<&str>) -> Claims {
        Claims {
            sub: Some("client-a".into()),
            client: "client-a".into(),
            scope: scope.map(str::to_owned),
            token_use: TokenUse::Access,
            username: None,
            groups: None,
            exp: 2e9,
            kid: "k1".into(),
        }
    }

    fn id_token() -> Claims {
        Claims {
            token_use: TokenUse::Id,
            scope: None,
            username: Some("alice".into()),
            groups: Some("a,b".into()),
            ..access(None)
        }
    }

    fn plan(c: &Claims, t: &RouteTable) -> Arc<PolicyPlan> {
        Arc::new(super::plan(c, t))
    }

    fn route<'a>(t: &'a RouteTable, method: &str, template: &str) -> &'a Route {
        t.by_template(method.parse().unwrap(), template).unwrap()
    }

    #[test]
    fn reader_get_allowed_with_both_get_routes_in_policy() {
        let t = table();
        let c = access(Some("weather-api/get"));
        let p = plan(&c, &t);
        let Decision::Allow(p) = decide(
            &c,
            route(&t, "GET", "/events"),
            &p,
            InsufficientScope::Unauthorized,
        ) else {
            panic!("expected allow")
        };
        assert_eq!(
            p.allow.iter().collect::<Vec<_>>(),
            ["GET/events", "GET/events/*"]
        );
    }

    #[test]
    fn reader_delete_unauthorized() {
        let t = table();
        let c = access(Some("weather-api/get weather-api/post"));
        let d = decide(
            &c,
            route(&t, "DELETE", "/events/{id}"),
            &plan(&c, &t),
            InsufficientScope::Unauthorized,
        );
        assert!(
            matches!(d, Decision::Unauthorized(AuthError::InsufficientScope)),
            "{d:?}"
        );
    }

    #[test]
    fn insufficient_scope_deny_mode_gives_deny_policy() {
        let t = table();
        let c = access(Some("weather-api/post"));
        let d = decide(
            &c,
            route(&t, "GET", "/events"),
            &plan(&c, &t),
            InsufficientScope::Deny,
        );
        let Decision::Deny(p) = d else {
            panic!("expected deny: {d:?}")
        };
        assert_eq!(p.allow.iter().collect::<Vec<_>>(), ["POST/events"]);
    }

    #[test]
    fn scope_claim_missing_unauthorized() {
        let t = table();
        let c = access(None);
        let d = decide(
            &c,
            route(&t, "GET", "/events"),
            &plan(&c, &t),
            InsufficientScope::Unauthorized,
        );
        assert!(matches!(
            d,
            Decision::Unauthorized(AuthError::InsufficientScope)
        ));
    }

    #[test]
    fn scope_claim_empty_unauthorized() {
        let t = table();
        let c = access(Some(""));
        let d = decide(
            &c,
            route(&t, "GET", "/events"),
            &plan(&c, &t),
            InsufficientScope::Unauthorized,
        );
        assert!(matches!(
            d,
            Decision::Unauthorized(AuthError::InsufficientScope)
        ));
    }

    #[test]
    fn token_use_id_on_scoped_route_unauthorized_even_in_deny_mode() {
        let t = table();
        let c = id_token();
        let d = decide(
            &c,
            route(&t, "GET", "/events"),
            &plan(&c, &t),
            InsufficientScope::Deny,
        );
        assert!(
            matches!(d, Decision::Unauthorized(AuthError::TokenUseNotAccepted)),
            "{d:?}"
        );
    }

    #[test]
    fn unscoped_route_takes_id_token_only() {
        let t = table();
        let id = id_token();
        assert!(matches!(
            decide(
                &id,
                route(&t, "GET", "/me"),
                &plan(&id, &t),
                InsufficientScope::Unauthorized
            ),
            Decision::Allow(_)
        ));
        let acc = access(Some("weather-api/get"));
        let d = decide(
            &acc,
            route(&t, "GET", "/me"),
            &plan(&acc, &t),
            InsufficientScope::Unauthorized,
        );
        assert!(matches!(
            d,
            Decision::Unauthorized(AuthError::TokenUseNotAccepted)
        ));
    }

    #[test]
    fn context_has_strings_only_and_omits_absent_claims() {
        let ctx = context(&access(Some("weather-api/get")));
        assert_eq!(
            ctx.keys().map(String::as_str).collect::<Vec<_>>(),
            ["client_id", "scope", "sub", "token_use"]
        );
        let ctx = context(&id_token());
        assert_eq!(ctx.get("aud").map(String::as_str), Some("client-a"));
        assert_eq!(ctx.get("groups").map(String::as_str), Some("a,b"));
        assert!(!ctx.contains_key("client_id") && !ctx.contains_key("scope"));
    }
}
