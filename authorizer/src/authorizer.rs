//! The authorizer: configuration, key caches and the verified-token cache
//! built once, then one [`Authorizer::handle`] per event. The only I/O below
//! is the JWKS fetch; the clock is injected.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use aws_lambda_events::event::apigw::ApiGatewayCustomAuthorizerPolicy;

use crate::arn::MethodArn;
use crate::config::{Config, ConfigError, InsufficientScope};
use crate::decision::{self, Decision};
use crate::error::AuthError;
use crate::event::{AuthorizerEvent, AuthorizerResponse, Context, PolicyResponse, RouteRef};
use crate::jwks::{JwksCache, JwksSettings, KeySet};
use crate::policy::PolicyPlan;
use crate::routes::{Route, RouteKey};
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
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
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

/// A verified token as cached: its claims, the policy plan they imply and
/// the context they give, all computed once per token.
#[derive(Debug)]
pub struct Verified {
    /// The verified claims.
    pub claims: Claims,
    plan: Arc<PolicyPlan>,
    context: Context,
    /// The Allow policy rendered for the first API and stage seen (an
    /// authorizer normally serves one), reused while the prefix matches.
    allow_document: OnceLock<(String, Arc<ApiGatewayCustomAuthorizerPolicy>)>,
}

impl Verified {
    fn allow_document(&self, arn: &MethodArn) -> Arc<ApiGatewayCustomAuthorizerPolicy> {
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

/// Outcome of one event, for the caller to log and answer.
pub struct Outcome<'a> {
    /// The answer, or the error to fail with.
    pub result: Result<AuthorizerResponse, AuthError>,
    /// The route's key, when one matched.
    pub route: Option<&'a RouteKey>,
    /// The verified token, when it verified.
    pub verified: Option<Arc<Verified>>,
    /// `allow`, `deny`, `unauthorized` or `error`.
    pub decision: &'static str,
    /// Why it was not allowed, for the log line.
    pub reason: Option<&'static str>,
}

/// The authorizer.
pub struct Authorizer<C: Clock = SystemClock> {
    config: Config,
    pools: Vec<Pool>,
    cache: Option<quick_cache::sync::Cache<Box<str>, Arc<Verified>>>,
    /// Policy plans by the set of routes a token may call (a bit per route):
    /// tokens of one client share one plan.
    plans: Mutex<HashMap<u64, Arc<PolicyPlan>>>,
    clock: C,
}

impl<C: Clock> Authorizer<C> {
    /// Builds the authorizer; loads `JWKS_FILE` if set (a bad file stops init).
    pub fn new(config: Config, clock: C) -> Result<Self, ConfigError> {
        let client = JwksCache::http_client(config.jwks_timeout).map_err(|e| ConfigError {
            var: "JWKS_URI",
            problem: format!("cannot build the HTTP client: {e}"),
        })?;
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
                let problem = |p: String| ConfigError {
                    var: "JWKS_FILE",
                    problem: p,
                };
                let bytes = std::fs::read(path).map_err(|e| problem(format!("{path}: {e}")))?;
                let keys =
                    KeySet::from_json(&bytes).map_err(|e| problem(format!("{path}: {e}")))?;
                jwks.preload(keys);
                preloaded = true;
            }
            pools.push(Pool {
                issuers: pool.issuers.clone(),
                jwks,
                preloaded,
            });
        }
        let cache = (config.token_cache_size > 0)
            .then(|| quick_cache::sync::Cache::new(config.token_cache_size));
        Ok(Self {
            config,
            pools,
            cache,
            plans: Mutex::default(),
            clock,
        })
    }

    /// Fetches the JWKS of every pool not preloaded from a file. Failures are
    /// logged and left for the first request to retry.
    pub async fn fetch_keys(&self) {
        for pool in self.pools.iter().filter(|p| !p.preloaded) {
            match pool.jwks.fetch_now().await {
                Ok(n) => {
                    tracing::info!(keys = n, issuer = %pool.issuers[0], "JWKS fetched at init")
                }
                Err(e) => {
                    tracing::error!(error = %e, issuer = %pool.issuers[0], "JWKS fetch at init failed; requests will retry")
                }
            }
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Decides one event. Never panics; every failure is an [`AuthError`].
    pub async fn handle(&self, event: &AuthorizerEvent) -> Outcome<'_> {
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

    async fn decide(&self, event: &AuthorizerEvent) -> Outcome<'_> {
        let mut outcome = Outcome {
            result: Err(AuthError::RouteNotConfigured),
            route: None,
            verified: None,
            decision: "unauthorized",
            reason: None,
        };
        let inputs = match event.inputs() {
            Ok(inputs) => inputs,
            Err(e) => {
                outcome.result = Err(e);
                return outcome;
            }
        };
        let table = &self.config.routes;
        let route: Option<&Route> = match inputs.route() {
            // A method API Gateway does not route on matches no route.
            RouteRef::Template(method, template) => method
                .parse()
                .ok()
                .and_then(|m| table.by_template(m, template)),
            RouteRef::Path(method, path) => {
                method.parse().ok().and_then(|m| table.by_path(m, path))
            }
        };
        outcome.route = route.map(|r| &r.key);
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
                outcome.verified = Some(v);
                return outcome;
            }
            (Ok(v), Some(route)) => (v, route),
        };
        let (v, route) = verified;
        let decision = decision::decide(&v.claims, route, &v.plan, self.config.insufficient_scope);
        let context = v.context.clone();
        let principal = v
            .claims
            .sub
            .clone()
            .unwrap_or_else(|| v.claims.client.clone());
        outcome.result = match (decision, event.is_http_api()) {
            (Decision::Allow(_), true) => {
                outcome.decision = "allow";
                Ok(AuthorizerResponse::simple(true, context))
            }
            (Decision::Deny(_), true) => Err(AuthError::InsufficientScope),
            (Decision::Unauthorized(e), true) => Err(e),
            (Decision::Allow(_), false) => {
                outcome.decision = "allow";
                Ok(AuthorizerResponse::Policy(PolicyResponse {
                    principal_id: principal,
                    policy_document: v.allow_document(&inputs.arn),
                    context,
                }))
            }
            (Decision::Deny(plan), false) => {
                outcome.decision = "deny";
                debug_assert_eq!(self.config.insufficient_scope, InsufficientScope::Deny);
                Ok(AuthorizerResponse::Policy(PolicyResponse {
                    principal_id: principal,
                    policy_document: Arc::new(
                        plan.document(&inputs.arn, Some(&route.key.arn_pattern())),
                    ),
                    context,
                }))
            }
            (Decision::Unauthorized(e), false) => Err(e),
        };
        outcome.verified = Some(v);
        outcome
    }

    async fn verify(&self, token: &str) -> Result<Arc<Verified>, AuthError> {
        let now = self.clock.now();
        let skew = self.config.clock_skew_seconds;
        if let Some(cache) = &self.cache
            && let Some(hit) = cache.get(token)
        {
            if now < hit.claims.exp + skew {
                return Ok(hit);
            }
            cache.remove(token);
        }
        let unverified = UnverifiedToken::parse(token)?;
        let pool = unverified
            .issuer()
            .and_then(|iss| {
                self.pools
                    .iter()
                    .find(|p| p.issuers.iter().any(|i| i == iss))
            })
            .ok_or(AuthError::IssuerNotAllowed)?;
        let key = pool.jwks.key(unverified.kid(), now).await?;
        let issuers: Vec<&str> = pool.issuers.iter().map(String::as_str).collect();
        let rules = Rules {
            issuers: &issuers,
            client_ids: self.config.app_client_ids.as_deref(),
            skew,
        };
        let claims = unverified.verify(&key, &rules, now)?;
        let plan = self.plan_for(&claims);
        let context = Arc::new(decision::context(&claims));
        let verified = Arc::new(Verified {
            claims,
            plan,
            context,
            allow_document: OnceLock::new(),
        });
        if let Some(cache) = &self.cache {
            cache.insert(token.into(), verified.clone());
        }
        Ok(verified)
    }

    fn plan_for(&self, claims: &Claims) -> Arc<PolicyPlan> {
        let routes = self.config.routes.routes();
        if routes.len() > 64 {
            return Arc::new(decision::plan(claims, &self.config.routes));
        }
        let mask = routes
            .iter()
            .enumerate()
            .filter(|(_, r)| decision::permits(claims, r))
            .fold(0u64, |m, (i, _)| m | 1 << i);
        let mut plans = self
            .plans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        plans
            .entry(mask)
            .or_insert_with(|| Arc::new(decision::plan(claims, &self.config.routes)))
            .clone()
    }
}
