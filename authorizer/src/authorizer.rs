//! The authorizer: configuration, key caches and the verified-token cache
//! built once, then one [`Authorizer::handle`] per event. The only I/O below
//! is the JWKS fetch; the clock is injected.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cache::{PlanCache, TokenCache, Verified};
use crate::config::{Config, ConfigError, InsufficientScope, PolicyScope};
use crate::decision::{self, Decision};
use crate::error::AuthError;
use crate::event::{AuthorizerEvent, AuthorizerResponse, PolicyResponse, RouteRef};
use crate::jwks::{JwksCache, JwksSettings, KeySet};
use crate::policy::{self, PolicyPlan};
use crate::routes::{Method, Route, RouteKey};
use crate::token::{self, Rules, UnverifiedToken};

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

/// Outcome of one event, for the caller to log and answer.
pub struct Outcome<'a> {
    /// The answer, or the error to fail with.
    pub result: Result<AuthorizerResponse, AuthError>,
    /// The route's key, when one matched.
    pub route: Option<&'a RouteKey>,
    /// The verified token, when it verified.
    pub verified: Option<Arc<Verified>>,
    /// What was answered.
    pub decision: Verdict,
    /// Why it was not allowed, for the log line.
    pub reason: Option<&'static str>,
}

/// What an event was answered, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// An Allow policy or `isAuthorized: true`.
    Allow,
    /// A Deny policy (`INSUFFICIENT_SCOPE=deny`) or `isAuthorized: false`.
    Deny,
    /// The error `Unauthorized` (401).
    Unauthorized,
    /// A failure of the authorizer or its dependencies (500).
    Error,
}

impl Verdict {
    /// `allow`, `deny`, `unauthorized` or `error`, as logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::Unauthorized => "unauthorized",
            Verdict::Error => "error",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authorizer.
pub struct Authorizer<C: Clock = SystemClock> {
    config: Config,
    pools: Vec<Pool>,
    tokens: TokenCache,
    plans: PlanCache,
    /// The plan of every token with `POLICY_SCOPE=route`: answers are per route.
    no_plan: Arc<PolicyPlan>,
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
        // A method ARN's prefix is about 60 bytes (region, account, API id, stage).
        let everything = PolicyPlan::for_table(&config.routes, |_| true);
        if config.policy_scope == PolicyScope::Token && !everything.fits(64, None) {
            tracing::warn!(
                routes = config.routes.routes().len(),
                "POLICY_SCOPE=token: a token allowed most of these routes gets a policy over 8 KiB, \
                 which is narrowed to the one request (its other routes refused while cached); \
                 set POLICY_SCOPE=route with a REQUEST authorizer"
            );
        }
        Ok(Self {
            tokens: TokenCache::new(config.token_cache_size),
            config,
            pools,
            plans: PlanCache::default(),
            no_plan: Arc::default(),
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
                outcome.decision = Verdict::Error;
            } else if event.is_http_api() {
                // HTTP API simple answers: every client failure is isAuthorized false.
                outcome.decision = Verdict::Deny;
                outcome.result = Ok(AuthorizerResponse::simple(false, Default::default()));
            }
        } else if outcome.decision == Verdict::Deny {
            outcome.reason = Some(AuthError::InsufficientScope.reason());
        }
        outcome
    }

    async fn decide(&self, event: &AuthorizerEvent) -> Outcome<'_> {
        let mut outcome = Outcome {
            result: Err(AuthError::RouteNotConfigured),
            route: None,
            verified: None,
            decision: Verdict::Unauthorized,
            reason: None,
        };
        let inputs = match event.inputs() {
            Ok(inputs) => inputs,
            Err(e) => {
                outcome.result = Err(e);
                return outcome;
            }
        };
        let route_scope = self.config.policy_scope == PolicyScope::Route;
        if route_scope && matches!(event, AuthorizerEvent::Token(_)) {
            // A TOKEN authorizer is cached by token alone: a one-route answer
            // would be reused for other routes. Fail closed, loudly.
            outcome.result = Err(AuthError::InvalidEvent(
                "POLICY_SCOPE=route answers REQUEST events (cached by token, method and resource path), not TOKEN events".into(),
            ));
            return outcome;
        }
        let table = &self.config.routes;
        let route: Option<&Route> = match inputs.route() {
            // A method API Gateway does not route on matches no route.
            RouteRef::Template(method, template) => method
                .parse()
                .ok()
                .and_then(|m| table.by_template(m, template)),
            RouteRef::Path(method, path) => method
                .parse()
                .ok()
                .and_then(|m| table.by_request_path(m, path)),
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
            (Decision::Allow, true) => {
                outcome.decision = Verdict::Allow;
                Ok(AuthorizerResponse::simple(true, context))
            }
            (Decision::Deny(_), true) => Err(AuthError::InsufficientScope),
            (Decision::Unauthorized(e), true) => Err(e),
            (Decision::Allow, false) => {
                outcome.decision = Verdict::Allow;
                let document = if route_scope {
                    Some(Arc::new(
                        self.route_plan(route, &inputs.arn)
                            .document(&inputs.arn, None),
                    ))
                } else {
                    v.allow_document(&inputs.arn).or_else(|| {
                        tracing::warn!(route = %route.key, "policy over 8 KiB narrowed to the request; set POLICY_SCOPE=route");
                        policy::narrowed(&inputs.arn, true).map(Arc::new)
                    })
                };
                match document {
                    Some(document) => Ok(AuthorizerResponse::Policy(PolicyResponse {
                        principal_id: principal,
                        policy_document: document,
                        context,
                    })),
                    None => {
                        outcome.decision = Verdict::Unauthorized;
                        Err(AuthError::InsufficientScope)
                    }
                }
            }
            (Decision::Deny(plan), false) => {
                outcome.decision = Verdict::Deny;
                debug_assert_eq!(self.config.insufficient_scope, InsufficientScope::Deny);
                let extra = route
                    .key
                    .arn_pattern_for(request_method(route, &inputs.arn));
                let document = if route_scope {
                    let denied = PolicyPlan {
                        allow: Default::default(),
                        deny: self.route_plan(route, &inputs.arn).allow,
                    };
                    Some(denied.document(&inputs.arn, None))
                } else if plan.fits(inputs.arn.prefix().len(), Some(&extra)) {
                    Some(plan.document(&inputs.arn, Some(&extra)))
                } else {
                    policy::narrowed(&inputs.arn, false)
                };
                match document {
                    Some(document) => Ok(AuthorizerResponse::Policy(PolicyResponse {
                        principal_id: principal,
                        policy_document: Arc::new(document),
                        context,
                    })),
                    None => {
                        outcome.decision = Verdict::Unauthorized;
                        Err(AuthError::InsufficientScope)
                    }
                }
            }
            (Decision::Unauthorized(e), false) => Err(e),
        };
        outcome.verified = Some(v);
        outcome
    }

    /// `POLICY_SCOPE=route`: the one pattern of the current route and method.
    fn route_plan(&self, route: &Route, arn: &crate::arn::MethodArn) -> PolicyPlan {
        PolicyPlan::for_route(&route.key, request_method(route, arn))
    }

    async fn verify(&self, token: &str) -> Result<Arc<Verified>, AuthError> {
        let now = self.clock.now();
        let skew = self.config.clock_skew_seconds;
        if let Some(hit) = self.tokens.get(token, now, skew) {
            return Ok(hit);
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
        let plan = match self.config.policy_scope {
            PolicyScope::Token => self.plans.plan_for(&claims, &self.config.routes),
            PolicyScope::Route => self.no_plan.clone(),
        };
        let verified = Arc::new(Verified::new(claims, plan));
        self.tokens.insert(token, verified.clone());
        Ok(verified)
    }
}

/// The method a request's policy names: the ARN's method (an ANY route's
/// `ANY/...` would match no method ARN), else the route's; GET for an ANY route
/// under an ARN without a method API Gateway routes on.
fn request_method(route: &Route, arn: &crate::arn::MethodArn) -> Method {
    match arn.method().parse().unwrap_or(route.key.method()) {
        Method::Any => Method::Get,
        method => method,
    }
}
