//! The authorizer: configuration, key caches and the verified-token cache
//! built once, then one [`Authorizer::handle`] per event. The only I/O below
//! is the JWKS fetch; the clock is injected.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::config::{Config, ConfigError, InsufficientScope};
use crate::decision::{self, Decision};
use crate::error::AuthError;
use crate::event::{AuthorizerEvent, AuthorizerResponse, PolicyResponse, RouteRef};
use crate::jwks::{JwksCache, JwksSettings, KeySet};
use crate::policy::PolicyPlan;
use crate::routes::Route;
use crate::token::{self, Claims, Rules, UnverifiedToken};

/// The time, in Unix seconds with sub-second precision.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> f64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
    }
}

impl<F: Fn() -> f64 + Send + Sync> Clock for F {
    fn now(&self) -> f64 {
        self()
    }
}

struct Pool {
    issuers: Vec<String>,
    jwks: JwksCache,
    preloaded: bool,
}

/// A verified token as cached: its claims and the policy plan they imply.
#[derive(Debug)]
struct Verified {
    claims: Claims,
    plan: PolicyPlan,
}

/// Outcome of one event, for the caller to log and answer.
pub struct Outcome {
    /// The answer, or the error to fail with.
    pub result: Result<AuthorizerResponse, AuthError>,
    /// The route's key, when one matched.
    pub route: Option<String>,
    /// The claims, when the token verified.
    pub claims: Option<Claims>,
    /// `allow`, `deny`, `unauthorized` or `error`.
    pub decision: &'static str,
    /// Why it was not allowed, for the log line.
    pub reason: Option<&'static str>,
}

/// The authorizer.
pub struct Authorizer<C: Clock = SystemClock> {
    config: Config,
    pools: Vec<Pool>,
    cache: Option<quick_cache::sync::Cache<[u8; 32], Arc<Verified>>>,
    clock: C,
}

impl<C: Clock> Authorizer<C> {
    /// Builds the authorizer; loads `JWKS_FILE` if set (a bad file stops init).
    pub fn new(config: Config, clock: C) -> Result<Self, ConfigError> {
        let client = JwksCache::http_client(config.jwks_timeout);
        let mut pools = Vec::with_capacity(config.pools.len());
        for pool in &config.pools {
            let jwks = JwksCache::new(
                JwksSettings {
                    uri: pool.jwks_uri.clone(),
                    timeout: config.jwks_timeout,
                    max_bytes: config.jwks_max_bytes,
                    penalty_seconds: config.jwks_penalty_seconds,
                },
                client.clone(),
            );
            let mut preloaded = false;
            if let Some(path) = &pool.jwks_file {
                let problem = |p: String| ConfigError { var: "JWKS_FILE", problem: p };
                let bytes = std::fs::read(path).map_err(|e| problem(format!("{path}: {e}")))?;
                let keys = KeySet::from_json(&bytes).map_err(|e| problem(format!("{path}: {e}")))?;
                jwks.preload(keys);
                preloaded = true;
            }
            pools.push(Pool { issuers: pool.issuers.clone(), jwks, preloaded });
        }
        let cache = (config.token_cache_size > 0).then(|| quick_cache::sync::Cache::new(config.token_cache_size));
        Ok(Self { config, pools, cache, clock })
    }

    /// Fetches the JWKS of every pool not preloaded from a file. Failures are
    /// logged and left for the first request to retry.
    pub async fn fetch_keys(&self) {
        for pool in self.pools.iter().filter(|p| !p.preloaded) {
            match pool.jwks.fetch_now().await {
                Ok(n) => tracing::info!(keys = n, issuer = %pool.issuers[0], "JWKS fetched at init"),
                Err(e) => tracing::error!(error = %e, issuer = %pool.issuers[0], "JWKS fetch at init failed; requests will retry"),
            }
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Decides one event. Never panics; every failure is an [`AuthError`].
    pub async fn handle(&self, event: &AuthorizerEvent) -> Outcome {
        let mut outcome = self.decide(event).await;
        if let Err(e) = &outcome.result {
            outcome.reason = Some(e.reason());
            if e.is_server_fault() {
                outcome.decision = "error";
            } else if event.is_http_api() {
                // HTTP API simple answers: every client failure is isAuthorized false.
                outcome.decision = "deny";
                outcome.result = Ok(AuthorizerResponse::simple(false, Default::default()));
            }
        } else if outcome.decision == "deny" {
            outcome.reason = Some(AuthError::InsufficientScope.reason());
        }
        outcome
    }

    async fn decide(&self, event: &AuthorizerEvent) -> Outcome {
        let mut outcome =
            Outcome { result: Err(AuthError::RouteNotConfigured), route: None, claims: None, decision: "unauthorized", reason: None };
        let inputs = match event.inputs() {
            Ok(inputs) => inputs,
            Err(e) => {
                outcome.result = Err(e);
                return outcome;
            }
        };
        let table = &self.config.routes;
        let route: Option<&Route> = match inputs.route() {
            RouteRef::Template(method, template) => table.by_template(method, template),
            RouteRef::Path(method, path) => table.by_path(method, path),
        };
        outcome.route = route.map(|r| r.key.to_string());
        let verified = match token::extract_token(inputs.authorization) {
            Ok(token) => self.verify(token).await,
            Err(e) => Err(e),
        };
        let verified = match (verified, route) {
            (Err(e), _) => {
                outcome.result = Err(e);
                return outcome;
            }
            (Ok(v), None) => {
                outcome.claims = Some(v.claims.clone());
                return outcome;
            }
            (Ok(v), Some(route)) => (v, route),
        };
        let (v, route) = verified;
        outcome.claims = Some(v.claims.clone());
        let decision = decision::decide(&v.claims, route, &v.plan, self.config.insufficient_scope);
        let context = decision::context(&v.claims);
        let principal = v.claims.sub.clone().unwrap_or_else(|| v.claims.client.clone());
        outcome.result = match (decision, event.is_http_api()) {
            (Decision::Allow(_), true) => {
                outcome.decision = "allow";
                Ok(AuthorizerResponse::simple(true, context))
            }
            (Decision::Deny(_), true) => Err(AuthError::InsufficientScope),
            (Decision::Unauthorized(e), true) => Err(e),
            (Decision::Allow(plan), false) => {
                outcome.decision = "allow";
                Ok(AuthorizerResponse::Policy(PolicyResponse {
                    principal_id: principal,
                    policy_document: plan.document(&inputs.arn, None),
                    context,
                }))
            }
            (Decision::Deny(plan), false) => {
                outcome.decision = "deny";
                debug_assert_eq!(self.config.insufficient_scope, InsufficientScope::Deny);
                Ok(AuthorizerResponse::Policy(PolicyResponse {
                    principal_id: principal,
                    policy_document: plan.document(&inputs.arn, Some(&route.key.arn_pattern())),
                    context,
                }))
            }
            (Decision::Unauthorized(e), false) => Err(e),
        };
        outcome
    }

    async fn verify(&self, token: &str) -> Result<Arc<Verified>, AuthError> {
        let now = self.clock.now();
        let skew = self.config.clock_skew_seconds;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(cache) = &self.cache
            && let Some(hit) = cache.get(&digest)
        {
            if now < hit.claims.exp + skew {
                return Ok(hit);
            }
            cache.remove(&digest);
        }
        let unverified = UnverifiedToken::parse(token)?;
        let pool = unverified
            .issuer()
            .and_then(|iss| self.pools.iter().find(|p| p.issuers.iter().any(|i| i == iss)))
            .ok_or(AuthError::IssuerNotAllowed)?;
        let key = pool.jwks.key(unverified.kid(), now).await?;
        let issuers: Vec<&str> = pool.issuers.iter().map(String::as_str).collect();
        let rules = Rules { issuers: &issuers, client_ids: self.config.app_client_ids.as_deref(), skew };
        let claims = unverified.verify(&key, &rules, now)?;
        let plan = decision::plan(&claims, &self.config.routes);
        let verified = Arc::new(Verified { claims, plan });
        if let Some(cache) = &self.cache {
            cache.insert(digest, verified.clone());
        }
        Ok(verified)
    }
}
