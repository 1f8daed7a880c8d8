//! The authorizer's three caches, each keyed by what makes its value reusable:
//!
//! - [`TokenCache`]: verified tokens by their text, until `exp` (plus the skew),
//!   so a repeated token costs a lookup instead of a signature check;
//! - [`PlanCache`]: policy plans by what decides them, the token's use and
//!   the table's scopes it holds (never by route: the key costs the same for
//!   4 routes or 1,000), so the tokens of one client share one plan;
//! - the Allow document of a [`Verified`] token, rendered once for the first API
//!   and stage seen (an authorizer normally serves one).

use std::sync::{Arc, OnceLock};

use aws_lambda_events::event::apigw::ApiGatewayCustomAuthorizerPolicy;

use crate::arn::MethodArn;
use crate::decision;
use crate::event::Context;
use crate::policy::PolicyPlan;
use crate::routes::RouteTable;
use crate::token::{Claims, TokenUse};

/// A verified token as cached: its claims, the policy plan they imply and
/// the context they give, all computed once per token.
#[derive(Debug)]
pub struct Verified {
    /// The verified claims.
    pub claims: Claims,
    pub(crate) plan: Arc<PolicyPlan>,
    pub(crate) context: Context,
    /// The Allow policy rendered for the first API and stage seen, reused
    /// while the prefix matches; `None` when it would not fit.
    allow_document: OnceLock<(String, Option<Arc<ApiGatewayCustomAuthorizerPolicy>>)>,
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
    /// they are the first seen, else rendered anew. `None` when the plan's
    /// document would exceed [`crate::policy::MAX_POLICY_BYTES`].
    pub(crate) fn allow_document(
        &self,
        arn: &MethodArn,
    ) -> Option<Arc<ApiGatewayCustomAuthorizerPolicy>> {
        let render = || {
            self.plan
                .fits(arn.prefix().len(), None)
                .then(|| Arc::new(self.plan.document(arn, None)))
        };
        let (prefix, document) = self
            .allow_document
            .get_or_init(|| (arn.prefix().to_owned(), render()));
        if prefix == arn.prefix() {
            document.clone()
        } else {
            render()
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

/// Policy plans by the token's use and the table's scopes it holds, which
/// decide the routes it may call; bounded, as every cache here.
pub(crate) struct PlanCache(quick_cache::sync::Cache<(TokenUse, Vec<u32>), Arc<PolicyPlan>>);

/// Plans kept: one per distinct scope combination of the pool's clients.
const PLAN_CACHE_SIZE: usize = 256;

impl Default for PlanCache {
    fn default() -> Self {
        Self(quick_cache::sync::Cache::new(PLAN_CACHE_SIZE))
    }
}

impl PlanCache {
    /// The plan for `claims` on `table`, shared with every token of the same
    /// use holding the same scopes of the table. The key's cost depends on
    /// the token's `scope` claim, not on the table's size.
    pub(crate) fn plan_for(&self, claims: &Claims, table: &RouteTable) -> Arc<PolicyPlan> {
        let ids = match claims.token_use {
            TokenUse::Access => claims
                .scope
                .as_deref()
                .map(|s| table.scope_ids(s))
                .unwrap_or_default(),
            // Scopes decide nothing for an ID token (it takes the unscoped routes).
            TokenUse::Id => Vec::new(),
        };
        let key = (claims.token_use, ids);
        if let Some(plan) = self.0.get(&key) {
            return plan;
        }
        let plan = Arc::new(decision::plan(claims, table));
        self.0.insert(key, plan.clone());
        plan
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
        let d = cache.plan_for(&claims("write read write", 1.0), &t);
        let e = cache.plan_for(&claims("read write", 1.0), &t);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(
            Arc::ptr_eq(&d, &e),
            "order and repeats of scopes do not matter"
        );
        assert_eq!(d.allow.len(), 2);
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(a.allow.iter().collect::<Vec<_>>(), ["GET/a"]);
    }

    #[test]
    fn plans_shared_past_64_routes() {
        let json: Vec<String> = (0..200)
            .map(|i| format!(r#""GET /r{i}": ["s{}"]"#, i % 3))
            .collect();
        let t = RouteTable::from_json(&format!("{{{}}}", json.join(","))).unwrap();
        let cache = PlanCache::default();
        let a = cache.plan_for(&claims("s1", 1.0), &t);
        let b = cache.plan_for(&claims("unknown s1", 2.0), &t);
        assert!(
            Arc::ptr_eq(&a, &b),
            "one plan for the same scopes of the table"
        );
        assert_eq!(a.allow.len(), 67);
        assert!(!Arc::ptr_eq(&a, &cache.plan_for(&claims("s2", 1.0), &t)));
    }

    #[test]
    fn allow_document_cached_for_the_first_stage_only() {
        let t = table();
        let c = claims("read", 1.0);
        let v = Verified::new(c.clone(), Arc::new(decision::plan(&c, &t)));
        let prod = MethodArn::parse("arn:aws:execute-api:us-east-1:1:api/prod/GET/a").unwrap();
        let test = MethodArn::parse("arn:aws:execute-api:us-east-1:1:api/test/GET/a").unwrap();
        let first = v.allow_document(&prod).unwrap();
        assert!(Arc::ptr_eq(&first, &v.allow_document(&prod).unwrap()));
        let other = v.allow_document(&test).unwrap();
        assert!(other.statement[0].resource[0].contains("/test/GET/a"));
        assert!(!Arc::ptr_eq(&other, &first));
    }
}
