//! The authorizer's three caches, each keyed by what makes its value reusable:
//!
//! - [`TokenCache`]: verified tokens by their text, until `exp` (plus the skew),
//!   so a repeated token costs a lookup instead of a signature check;
//! - [`PlanCache`]: policy plans by the set of routes a token may call (a bit
//!   per route), so the tokens of one client share one plan;
//! - the Allow document of a [`Verified`] token, rendered once for the first API
//!   and stage seen (an authorizer normally serves one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use aws_lambda_events::event::apigw::ApiGatewayCustomAuthorizerPolicy;

use crate::arn::MethodArn;
use crate::decision;
use crate::event::Context;
use crate::policy::PolicyPlan;
use crate::routes::RouteTable;
use crate::token::Claims;

/// A verified token as cached: its claims, the policy plan they imply and
/// the context they give, all computed once per token.
#[derive(Debug)]
pub struct Verified {
    /// The verified claims.
    pub claims: Claims,
    pub(crate) plan: Arc<PolicyPlan>,
    pub(crate) context: Context,
    /// The Allow policy rendered for the first API and stage seen, reused
    /// while the prefix matches.
    allow_document: OnceLock<(String, Arc<ApiGatewayCustomAuthorizerPolicy>)>,
}

impl Verified {
    pub(crate) fn new(claims: Claims, plan: Arc<PolicyPlan>) -> Self {
        let context = Arc::new(decision::context(&claims));
        Self {
            claims,
            plan,
            context,
            allow_document: OnceLock::new(),
        }
    }

    /// The Allow policy for the API and stage of `arn`: the cached one when
    /// they are the first seen, else rendered anew.
    pub(crate) fn allow_document(&self, arn: &MethodArn) -> Arc<ApiGatewayCustomAuthorizerPolicy> {
        let (prefix, document) = self.allow_document.get_or_init(|| {
            (
                arn.prefix().to_owned(),
                Arc::new(self.plan.document(arn, None)),
            )
        });
        if prefix == arn.prefix() {
            document.clone()
        } else {
            Arc::new(self.plan.document(arn, None))
        }
    }
}

/// Verified tokens by their text (`TOKEN_CACHE_SIZE` entries; 0 disables it).
pub(crate) struct TokenCache(Option<quick_cache::sync::Cache<Box<str>, Arc<Verified>>>);

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self((capacity > 0).then(|| quick_cache::sync::Cache::new(capacity)))
    }

    /// The cached verification of `token`, if it has not expired by `now`
    /// (with `skew`); an expired entry is dropped.
    pub(crate) fn get(&self, token: &str, now: f64, skew: f64) -> Option<Arc<Verified>> {
        let cache = self.0.as_ref()?;
        let hit = cache.get(token)?;
        if now < hit.claims.exp + skew {
            return Some(hit);
        }
        cache.remove(token);
        None
    }

    pub(crate) fn insert(&self, token: &str, verified: Arc<Verified>) {
        if let Some(cache) = &self.0 {
            cache.insert(token.into(), verified);
        }
    }
}

/// Policy plans by the set of routes a token may call, a bit per route.
#[derive(Default)]
pub(crate) struct PlanCache(Mutex<HashMap<u64, Arc<PolicyPlan>>>);

impl PlanCache {
    /// The plan for `claims` on `table`, shared with every token permitted the
    /// same routes (computed afresh for tables of more than 64 routes).
    pub(crate) fn plan_for(&self, claims: &Claims, table: &RouteTable) -> Arc<PolicyPlan> {
        let routes = table.routes();
        if routes.len() > 64 {
            return Arc::new(decision::plan(claims, table));
        }
        let mask = routes
            .iter()
            .enumerate()
            .filter(|(_, r)| decision::permits(claims, r))
            .fold(0u64, |m, (i, _)| m | 1 << i);
        let mut plans = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        plans
            .entry(mask)
            .or_insert_with(|| Arc::new(decision::plan(claims, table)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::TokenUse;

    fn claims(scope: &str, exp: f64) -> Claims {
        Claims {
            sub: Some("c".into()),
            client: "c".into(),
            scope: Some(scope.into()),
            token_use: TokenUse::Access,
            username: None,
            groups: None,
            exp,
            kid: "k".into(),
        }
    }

    fn table() -> RouteTable {
        RouteTable::from_json(r#"{"GET /a": ["read"], "POST /a": ["write"]}"#).unwrap()
    }

    #[test]
    fn token_cache_serves_until_exp_plus_skew_then_drops() {
        let cache = TokenCache::new(4);
        let plan = Arc::new(PolicyPlan::default());
        cache.insert("t", Arc::new(Verified::new(claims("read", 100.0), plan)));
        assert!(cache.get("t", 99.0, 0.0).is_some());
        assert!(cache.get("t", 100.0, 5.0).is_some(), "within the skew");
        assert!(cache.get("t", 105.0, 5.0).is_none(), "expired");
        assert!(cache.get("t", 0.0, 0.0).is_none(), "dropped when expired");
    }

    #[test]
    fn token_cache_of_size_zero_keeps_nothing() {
        let cache = TokenCache::new(0);
        let plan = Arc::new(PolicyPlan::default());
        cache.insert("t", Arc::new(Verified::new(claims("read", 100.0), plan)));
        assert!(cache.get("t", 0.0, 0.0).is_none());
    }

    #[test]
    fn tokens_permitted_the_same_routes_share_one_plan() {
        let (cache, t) = (PlanCache::default(), table());
        let a = cache.plan_for(&claims("read", 1.0), &t);
        let b = cache.plan_for(&claims("read other", 2.0), &t);
        let c = cache.plan_for(&claims("write", 1.0), &t);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(a.allow.iter().collect::<Vec<_>>(), ["GET/a"]);
    }

    #[test]
    fn allow_document_cached_for_the_first_stage_only() {
        let t = table();
        let c = claims("read", 1.0);
        let v = Verified::new(c.clone(), Arc::new(decision::plan(&c, &t)));
        let prod = MethodArn::parse("arn:aws:execute-api:us-east-1:1:api/prod/GET/a").unwrap();
        let test = MethodArn::parse("arn:aws:execute-api:us-east-1:1:api/test/GET/a").unwrap();
        assert!(Arc::ptr_eq(
            &v.allow_document(&prod),
            &v.allow_document(&prod)
        ));
        let other = v.allow_document(&test);
        assert!(other.statement[0].resource[0].contains("/test/GET/a"));
        assert!(!Arc::ptr_eq(&other, &v.allow_document(&prod)));
    }
}
