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
pub(crate) enum Decision {
    /// Allowed: the token's plan (every route it may call) is the policy.
    Allow,
    /// Valid token without the route's scope, `INSUFFICIENT_SCOPE=deny`:
    /// the same plan plus an explicit Deny of the current request (403).
    Deny(Arc<PolicyPlan>),
    /// Fail with `Unauthorized` (401).
    Unauthorized(AuthError),
}

/// Whether a verified token may call `route`, with the built-in Cognito
/// authorizer's semantics: a route with scopes takes an access token holding
/// ANY of them; a route without scopes takes an ID token.
pub(crate) fn permits(claims: &Claims, route: &Route) -> bool {
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
pub(crate) fn plan(claims: &Claims, table: &RouteTable) -> PolicyPlan {
    PolicyPlan::for_table(table, |r| permits(claims, r))
}

/// Decides a request for `route`, given the token's precomputed `plan`.
pub(crate) fn decide(
    claims: &Claims,
    route: &Route,
    plan: &Arc<PolicyPlan>,
    mode: InsufficientScope,
) -> Decision {
    if permits(claims, route) {
        return Decision::Allow;
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
pub(crate) fn context(claims: &Claims) -> BTreeMap<String, String> {
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

    /// What a case expects: the plan's Allow patterns of an Allow or a Deny,
    /// or the `Unauthorized` error (compared by variant).
    #[derive(Debug)]
    enum Want {
        Allow(&'static [&'static str]),
        Deny(&'static [&'static str]),
        Unauthorized(AuthError),
    }

    use InsufficientScope::{Deny, Unauthorized};

    #[rstest::rstest]
    #[case::reader_get_allowed_with_both_get_routes_in_policy(
        access(Some("weather-api/get")), "GET /events", Unauthorized,
        Want::Allow(&["GET/events", "GET/events/*"])
    )]
    #[case::reader_delete_unauthorized(
        access(Some("weather-api/get weather-api/post")),
        "DELETE /events/{id}",
        Unauthorized,
        Want::Unauthorized(AuthError::InsufficientScope)
    )]
    #[case::insufficient_scope_deny_mode_gives_deny_policy(
        access(Some("weather-api/post")), "GET /events", Deny,
        Want::Deny(&["POST/events"])
    )]
    #[case::scope_claim_missing_unauthorized(
        access(None),
        "GET /events",
        Unauthorized,
        Want::Unauthorized(AuthError::InsufficientScope)
    )]
    #[case::scope_claim_empty_unauthorized(
        access(Some("")),
        "GET /events",
        Unauthorized,
        Want::Unauthorized(AuthError::InsufficientScope)
    )]
    #[case::token_use_id_on_scoped_route_unauthorized_even_in_deny_mode(
        id_token(),
        "GET /events",
        Deny,
        Want::Unauthorized(AuthError::TokenUseNotAccepted)
    )]
    #[case::unscoped_route_takes_id_token_only(
        id_token(), "GET /me", Unauthorized,
        Want::Allow(&["GET/me"])
    )]
    #[case::unscoped_route_takes_id_token_only_not_access(
        access(Some("weather-api/get")),
        "GET /me",
        Unauthorized,
        Want::Unauthorized(AuthError::TokenUseNotAccepted)
    )]
    fn decides(
        #[case] claims: Claims,
        #[case] route: &str,
        #[case] mode: InsufficientScope,
        #[case] want: Want,
    ) {
        let t = table();
        let key: crate::routes::RouteKey = route.parse().unwrap();
        let route = t.get(&key).unwrap();
        let plan = Arc::new(super::plan(&claims, &t));
        let allowed = plan.allow.iter().map(String::as_str).collect::<Vec<_>>();
        match (decide(&claims, route, &plan, mode), want) {
            (Decision::Allow, Want::Allow(a)) => assert_eq!(allowed, a),
            (Decision::Deny(p), Want::Deny(a)) => {
                assert!(Arc::ptr_eq(&p, &plan), "the token's own plan");
                assert_eq!(allowed, a)
            }
            (Decision::Unauthorized(got), Want::Unauthorized(e))
                if std::mem::discriminant(&got) == std::mem::discriminant(&e) => {}
            (got, want) => panic!("expected {want:?}, got {got:?}"),
        }
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
