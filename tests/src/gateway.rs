//! A local stand-in for the REST API in `template.yaml` (API Gateway, REST semantics),
//! in front of the real functions running under `cargo lambda watch`.
//!
//! For each request under `/{stage}`:
//!
//! 1. Match the route with API Gateway's rules (static beats `{param}` beats
//!    `{proxy+}`; a path with one trailing slash is routed as the path without it): an
//!    unknown path, or a known path with another method, is 403
//!    `Missing Authentication Token`. `OPTIONS` on a known path is the CORS preflight,
//!    answered here without the authorizer.
//! 2. The default Lambda authorizer, TOKEN or REQUEST. Its identity sources (TOKEN:
//!    the configured header; REQUEST: the listed headers, query strings and
//!    `context.httpMethod` / `context.resourcePath`) are the cache key: one missing
//!    or empty is 401 without invoking (when caching is on). Else the policy cached
//!    for those values (for `ReauthorizeEvery` seconds; only policy answers are
//!    cached), else invoke the authorizer with `{"type": "TOKEN",
//!    "authorizationToken", "methodArn"}` or the REQUEST event (the proxy event's
//!    request fields, `type` and `methodArn`): its error `Unauthorized` is 401, any
//!    other error or a malformed answer 500.
//! 3. Evaluate the policy against the method ARN with IAM's wildcards: deny is 403.
//! 4. Invoke the route's function with the REST proxy event (authorizer context and
//!    `principalId` in `requestContext.authorizer`) and return its answer; a function
//!    error or malformed answer is 502.
//!
//! Error answers follow the template's Gateway Responses (status, headers such as
//! `WWW-Authenticate`, body template). One line per request goes to the log file:
//! method, path (never the query string), status, latency, the authorizer's part.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use authorizer::{Method as RouteMethod, Route, RouteKey, RouteTable, ScopeSet, Segment};
use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayProxyRequest, ApiGatewayProxyRequestContext,
    ApiGatewayProxyResponse,
};
use aws_lambda_events::encodings::Body as LambdaBody;
use aws_lambda_events::query_map::QueryMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::http::request::Parts;
use hyper::{HeaderMap, Method, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::StackError;
use crate::http::{Body, Handler, HttpResponse};
use crate::log::LogFile;
use crate::template::{
    Cors, GatewayResponse, IdentitySource, PayloadType, RouteAuth, RouteTarget, StackModel,
};

/// API Gateway's payload limit.
pub const MAX_BODY: usize = 10 * 1024 * 1024;
/// The account id in local method ARNs.
pub const ACCOUNT_ID: &str = "123456789012";
/// The API id in local method ARNs.
pub const API_ID: &str = "localapi";

/// The Lambda authorizer of the API (its `DefaultAuthorizer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayAuthorizer {
    /// The function (binary) to invoke.
    pub function: String,
    /// `TOKEN` or `REQUEST`.
    pub payload: PayloadType,
    /// The identity sources: the cache key, each required when caching is on. A
    /// TOKEN authorizer has one, its header.
    pub identity: Vec<IdentitySource>,
    /// Policy cache TTL (`ReauthorizeEvery`; zero disables the cache).
    pub ttl: Duration,
}

impl GatewayAuthorizer {
    /// The values of the identity sources for a request, in order; `None` when one
    /// is missing or empty (API Gateway then answers 401 without invoking).
    fn identity_values(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        method: &str,
        resource: &str,
    ) -> Option<Vec<String>> {
        self.identity
            .iter()
            .map(|source| {
                let value = match source {
                    IdentitySource::Header(h) => headers
                        .get(h.as_str())
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                    // The last value, as the event's `queryStringParameters` holds.
                    IdentitySource::QueryString(q) => query.and_then(|query| {
                        form_urlencoded::parse(query.as_bytes())
                            .filter(|(k, _)| k == q)
                            .last()
                            .map(|(_, v)| v.into_owned())
                    }),
                    IdentitySource::Context(c) if c == "httpMethod" => Some(method.to_owned()),
                    IdentitySource::Context(c) if c == "resourcePath" => Some(resource.to_owned()),
                    // Refused by `GatewayConfig::from_model`.
                    IdentitySource::Context(_) | IdentitySource::StageVariable(_) => None,
                };
                value.filter(|v| !v.trim().is_empty())
            })
            .collect()
    }
}

/// A route's target and authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    function: String,
    authorized: bool,
}

/// What the local gateway serves, from the template.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Stage name: the first path segment.
    pub stage: String,
    /// Region for method ARNs.
    pub region: String,
    routes: RouteTable,
    targets: HashMap<RouteKey, Target>,
    /// The Lambda authorizer.
    pub authorizer: GatewayAuthorizer,
    cors: Option<Cors>,
    gateway_responses: BTreeMap<String, GatewayResponse>,
}

impl GatewayConfig {
    /// Routes, authorizer, CORS and Gateway Responses of `model`.
    pub fn from_model(model: &StackModel, region: &str) -> Result<Self, StackError> {
        let stage = model.resolve(&model.api.stage_name).ok_or_else(|| {
            StackError::Unsupported(
                "StageName must be literal or a parameter with a default".into(),
            )
        })?;
        let mut table = Vec::new();
        let mut targets = HashMap::new();
        for route in model.function_routes() {
            let RouteTarget::Function { function, .. } = &route.target else {
                continue;
            };
            let binary = model
                .functions
                .get(function)
                .and_then(|f| f.binary.clone())
                .ok_or_else(|| {
                    StackError::Unsupported(format!(
                        "{function}: no Metadata.BuildProperties.Binary, so no binary to run"
                    ))
                })?;
            table.push(Route {
                key: route.key.clone(),
                scopes: ScopeSet::default(),
            });
            targets.insert(
                route.key.clone(),
                Target {
                    function: binary,
                    authorized: matches!(route.auth, RouteAuth::Authorizer(_)),
                },
            );
        }
        let routes = RouteTable::new(table)
            .map_err(|e| StackError::Unsupported(format!("API routes: {e}")))?;
        let name =
            model.api.default_authorizer.as_ref().ok_or_else(|| {
                StackError::Unsupported("the API has no DefaultAuthorizer".into())
            })?;
        let spec = &model.api.authorizers[name];
        for source in &spec.identity {
            let supported = match source {
                IdentitySource::Header(_) | IdentitySource::QueryString(_) => true,
                IdentitySource::Context(c) => c == "httpMethod" || c == "resourcePath",
                IdentitySource::StageVariable(_) => false,
            };
            if !supported {
                return Err(StackError::Unsupported(format!(
                    "authorizer {name}: identity source {source} is not mirrored locally \
                     (headers, query strings, context.httpMethod and context.resourcePath are)"
                )));
            }
        }
        if let Some(other) = model.function_routes().find_map(|r| match &r.auth {
            RouteAuth::Authorizer(n) if n != name => Some(n),
            _ => None,
        }) {
            return Err(StackError::Unsupported(format!(
                "a route uses authorizer {other}: only the DefaultAuthorizer is mirrored locally"
            )));
        }
        let function = model
            .functions
            .get(&spec.function)
            .and_then(|f| f.binary.clone())
            .ok_or_else(|| {
                StackError::Unsupported(format!("{}: no BuildProperties.Binary", spec.function))
            })?;
        Ok(Self {
            stage,
            region: region.to_owned(),
            routes,
            targets,
            authorizer: GatewayAuthorizer {
                function,
                payload: spec.payload,
                identity: spec.identity.clone(),
                ttl: Duration::from_secs(u64::from(spec.reauthorize_every.unwrap_or(300))),
            },
            cors: model.api.cors.clone(),
            gateway_responses: model.api.gateway_responses.clone(),
        })
    }

    /// The method ARN API Gateway builds for a request (path without the stage).
    pub fn method_arn(&self, method: &str, path: &str) -> String {
        format!(
            "arn:aws:execute-api:{}:{ACCOUNT_ID}:{API_ID}/{}/{method}{path}",
            self.region, self.stage
        )
    }

    /// Renders a Gateway Response of `kind` (falling back to `DEFAULT_4XX`/`DEFAULT_5XX`)
    /// with API Gateway's default status and message.
    pub fn error_response(
        &self,
        kind: &str,
        status: StatusCode,
        message: Option<&str>,
        request_id: &str,
    ) -> HttpResponse {
        let fallback = if status.is_server_error() {
            "DEFAULT_5XX"
        } else {
            "DEFAULT_4XX"
        };
        let custom = self
            .gateway_responses
            .get(kind)
            .or_else(|| self.gateway_responses.get(fallback));
        let status = custom
            .and_then(|c| c.status_code)
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(status);
        let message_json = match message {
            Some(m) => Value::String(m.to_owned()).to_string(),
            None => "null".to_owned(),
        };
        let body = custom
            .and_then(|c| c.templates.get("application/json"))
            .map(|t| t.replace("$context.error.messageString", &message_json))
            .unwrap_or_else(|| format!("{{\"message\":{message_json}}}"));
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        if let Some(custom) = custom {
            for (name, value) in &custom.headers {
                if let (Ok(n), Ok(v)) = (
                    header::HeaderName::from_bytes(name.as_bytes()),
                    header::HeaderValue::from_str(value),
                ) {
                    headers.insert(n, v);
                }
            }
        }
        let error_type = match kind {
            "UNAUTHORIZED" => "UnauthorizedException",
            "ACCESS_DENIED" => "AccessDeniedException",
            "MISSING_AUTHENTICATION_TOKEN" => "MissingAuthenticationTokenException",
            "AUTHORIZER_CONFIGURATION_ERROR" | "AUTHORIZER_FAILURE" => {
                "AuthorizerConfigurationException"
            }
            "REQUEST_TOO_LARGE" => "RequestTooLargeException",
            _ => "InternalServerErrorException",
        };
        headers.insert(
            "x-amzn-errortype",
            header::HeaderValue::from_static(error_type),
        );
        set_request_id(headers, request_id);
        response
    }
}

fn set_request_id(headers: &mut HeaderMap, request_id: &str) {
    if let Ok(v) = header::HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", v);
    }
}

/// A cached authorizer answer.
#[derive(Debug, Clone)]
struct CachedPolicy {
    principal_id: String,
    policy: ApiGatewayCustomAuthorizerPolicy,
    context: BTreeMap<String, String>,
    expires: Instant,
}

/// Why an authorizer answer is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizerAnswer {
    /// The function failed with `Unauthorized`.
    Unauthorized,
    /// Any other failure, or an answer API Gateway would not accept.
    Invalid(String),
}

/// Parses an authorizer's REST answer as API Gateway does: `principalId` a string,
/// `policyDocument` a policy, `context` (optional) a map of strings, numbers and
/// booleans (given to the backend as strings). A `null` anywhere is invalid.
pub fn parse_policy_answer(
    answer: &Value,
) -> Result<
    (
        String,
        ApiGatewayCustomAuthorizerPolicy,
        BTreeMap<String, String>,
    ),
    String,
> {
    let object = answer
        .as_object()
        .ok_or("the answer is not a JSON object")?;
    if let Some((key, _)) = object.iter().find(|(_, v)| v.is_null()) {
        return Err(format!("{key} is null"));
    }
    let principal_id = object
        .get("principalId")
        .and_then(Value::as_str)
        .ok_or("principalId is missing or not a string")?
        .to_owned();
    let document = object
        .get("policyDocument")
        .ok_or("policyDocument is missing")?;
    let policy: ApiGatewayCustomAuthorizerPolicy = serde_json::from_value(document.clone())
        .map_err(|e| format!("policyDocument is not an IAM policy: {e}"))?;
    let mut context = BTreeMap::new();
    if let Some(ctx) = object.get("context") {
        let ctx = ctx.as_object().ok_or("context is not an object")?;
        for (key, value) in ctx {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(format!("context.{key} is not a string, number or boolean")),
            };
            context.insert(key.clone(), text);
        }
    }
    Ok((principal_id, policy, context))
}

/// Invokes functions through `cargo lambda watch`.
#[derive(Debug, Clone)]
pub struct LambdaClient {
    base_url: String,
    http: reqwest::Client,
}

/// A function's outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// It answered.
    Ok(Value),
    /// It failed: `errorType`, `errorMessage`.
    FunctionError {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        error_message: String,
    },
}

impl LambdaClient {
    /// A client of the watcher at `base_url` (`http://127.0.0.1:PORT`).
    pub fn new(base_url: String, timeout: Duration) -> Result<Self, StackError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| StackError::Tool {
                tool: "reqwest",
                problem: e.to_string(),
            })?;
        Ok(Self { base_url, http })
    }

    /// Invokes `function` with `event` (Lambda's Invoke API as `cargo lambda watch`
    /// serves it: a function error is HTTP 500 with `errorType` and `errorMessage`).
    pub async fn invoke(&self, function: &str, event: &Value) -> Result<Invocation, StackError> {
        let url = format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.base_url
        );
        let failed = |problem: String| StackError::Invoke {
            function: function.to_owned(),
            problem,
        };
        let response = self
            .http
            .post(url)
            .json(event)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| failed(format!("HTTP {status}, answer not JSON: {e}")))?;
        if status.is_success() {
            return Ok(Invocation::Ok(body));
        }
        match (body.get("errorType"), body.get("errorMessage")) {
            (Some(t), Some(m)) => Ok(Invocation::FunctionError {
                error_type: t.as_str().unwrap_or_default().to_owned(),
                error_message: m.as_str().unwrap_or_default().to_owned(),
            }),
            _ => Err(failed(format!("HTTP {status}"))),
        }
    }
}

/// The running local API Gateway.
#[derive(Debug)]
pub struct LocalGateway {
    config: GatewayConfig,
    lambda: LambdaClient,
    cache: Mutex<HashMap<String, CachedPolicy>>,
    authorizer_invocations: AtomicU64,
    authorizer_policy_bytes: AtomicU64,
    log: LogFile,
}

/// What the authorizer step decided, for the log line.
enum AuthStep {
    Allowed {
        principal_id: String,
        context: BTreeMap<String, String>,
        cached: bool,
    },
    Refused(HttpResponse, &'static str),
}

impl LocalGateway {
    /// A gateway for `config` invoking functions through `lambda`.
    pub fn new(config: GatewayConfig, lambda: LambdaClient, log: LogFile) -> Self {
        Self {
            config,
            lambda,
            cache: Mutex::new(HashMap::new()),
            authorizer_invocations: AtomicU64::new(0),
            authorizer_policy_bytes: AtomicU64::new(0),
            log,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// How many times the authorizer function was invoked.
    pub fn authorizer_invocations(&self) -> u64 {
        self.authorizer_invocations.load(Ordering::SeqCst)
    }

    /// The bytes of the policy documents the authorizer answered, in all (their JSON).
    pub fn authorizer_policy_bytes(&self) -> u64 {
        self.authorizer_policy_bytes.load(Ordering::SeqCst)
    }

    /// Whether a route other than a preflight serves `path`.
    fn path_known(&self, path: &str) -> bool {
        self.config
            .routes
            .routes()
            .iter()
            .any(|r| r.key.method() != RouteMethod::Options && r.key.matches_path(path))
    }

    fn preflight(&self, request_id: &str) -> HttpResponse {
        let mut response = Response::new(Full::new(Bytes::new()));
        let headers = response.headers_mut();
        if let Some(cors) = &self.config.cors {
            let mut put = |name: &'static str, value: &str| {
                if let Ok(v) = header::HeaderValue::from_str(value) {
                    headers.insert(name, v);
                }
            };
            put("access-control-allow-origin", &cors.allow_origin);
            if let Some(m) = &cors.allow_methods {
                put("access-control-allow-methods", m);
            }
            if let Some(h) = &cors.allow_headers {
                put("access-control-allow-headers", h);
            }
            if let Some(a) = &cors.max_age {
                put("access-control-max-age", a);
            }
        }
        set_request_id(response.headers_mut(), request_id);
        response
    }

    /// `resource` is the route's template (`/events/{id}`); `request_event` builds
    /// the REQUEST authorizer's event when one is needed.
    async fn authorize(
        &self,
        parts: &Parts,
        arn: &str,
        resource: &str,
        request_event: impl FnOnce() -> Value,
        request_id: &str,
    ) -> AuthStep {
        let authorizer = &self.config.authorizer;
        let values = authorizer.identity_values(
            &parts.headers,
            parts.uri.query(),
            parts.method.as_str(),
            resource,
        );
        // API Gateway checks the identity sources only when it caches: without a
        // cache, a REQUEST authorizer is invoked whatever the request carries.
        let values = match values {
            None if authorizer.ttl.is_zero() && authorizer.payload == PayloadType::Request => {
                Some(Vec::new())
            }
            other => other,
        };
        let unauthorized = || {
            self.config.error_response(
                "UNAUTHORIZED",
                StatusCode::UNAUTHORIZED,
                Some("Unauthorized"),
                request_id,
            )
        };
        let server_error = |kind: &str| {
            self.config
                .error_response(kind, StatusCode::INTERNAL_SERVER_ERROR, None, request_id)
        };
        let Some(values) = values else {
            return AuthStep::Refused(unauthorized(), "no-identity");
        };
        let cache_key = cache_key(&values);
        let cached = self.cache.lock().ok().and_then(|mut cache| {
            let now = Instant::now();
            cache.retain(|_, entry| entry.expires > now);
            cache.get(&cache_key).cloned()
        });
        let (entry, from_cache) = match cached {
            Some(entry) => (entry, true),
            None => {
                self.authorizer_invocations.fetch_add(1, Ordering::SeqCst);
                let event = match authorizer.payload {
                    PayloadType::Token => json!({
                        "type": "TOKEN",
                        "authorizationToken": values.first(),
                        "methodArn": arn,
                    }),
                    PayloadType::Request => {
                        let mut event = request_event();
                        if let Value::Object(fields) = &mut event {
                            fields.insert("type".into(), json!("REQUEST"));
                            fields.insert("methodArn".into(), json!(arn));
                        }
                        event
                    }
                };
                let answer = match self
                    .lambda
                    .invoke(&self.config.authorizer.function, &event)
                    .await
                {
                    Ok(Invocation::Ok(answer)) => answer,
                    Ok(Invocation::FunctionError { error_message, .. })
                        if error_message == "Unauthorized" =>
                    {
                        return AuthStep::Refused(unauthorized(), "unauthorized");
                    }
                    Ok(Invocation::FunctionError { .. }) | Err(_) => {
                        return AuthStep::Refused(
                            server_error("AUTHORIZER_FAILURE"),
                            "authorizer-error",
                        );
                    }
                };
                let Ok((principal_id, policy, context)) = parse_policy_answer(&answer) else {
                    return AuthStep::Refused(
                        server_error("AUTHORIZER_CONFIGURATION_ERROR"),
                        "authorizer-malformed",
                    );
                };
                let entry = CachedPolicy {
                    principal_id,
                    policy,
                    context,
                    expires: Instant::now() + self.config.authorizer.ttl,
                };
                let policy_bytes = answer
                    .get("policyDocument")
                    .map_or(0, |p| p.to_string().len());
                self.authorizer_policy_bytes
                    .fetch_add(policy_bytes as u64, Ordering::SeqCst);
                if !self.config.authorizer.ttl.is_zero()
                    && let Ok(mut cache) = self.cache.lock()
                {
                    cache.insert(cache_key, entry.clone());
                }
                (entry, false)
            }
        };
        if !authorizer::evaluate(&entry.policy, arn) {
            let response = self.config.error_response(
                "ACCESS_DENIED",
                StatusCode::FORBIDDEN,
                Some("User is not authorized to access this resource"),
                request_id,
            );
            return AuthStep::Refused(response, if from_cache { "deny-cached" } else { "deny" });
        }
        AuthStep::Allowed {
            principal_id: entry.principal_id,
            context: entry.context,
            cached: from_cache,
        }
    }

    async fn serve(
        &self,
        parts: &Parts,
        body: Body,
        peer: SocketAddr,
        request_id: &str,
    ) -> (HttpResponse, String) {
        let missing_token = || {
            self.config.error_response(
                "MISSING_AUTHENTICATION_TOKEN",
                StatusCode::FORBIDDEN,
                Some("Missing Authentication Token"),
                request_id,
            )
        };
        let full_path = parts.uri.path();
        let stage_prefix = format!("/{}", self.config.stage);
        let path = match full_path.strip_prefix(&stage_prefix) {
            Some("") => "/",
            Some(rest) if rest.starts_with('/') => rest,
            _ => return (missing_token(), "no-stage".into()),
        };
        let method = parts.method.as_str();
        if parts.method == Method::OPTIONS && self.config.cors.is_some() && self.path_known(path) {
            return (self.preflight(request_id), "preflight".into());
        }
        // A method API Gateway does not route on (CONNECT, TRACE) matches no route.
        // A REST API routes a path with one trailing slash to the route of the path
        // without it; the method ARN and the event's path keep the slash.
        let route = method
            .parse()
            .ok()
            .and_then(|m| self.config.routes.by_request_path(m, path));
        let Some(route) = route else {
            return (missing_token(), "no-route".into());
        };
        let Some(target) = self.config.targets.get(&route.key).cloned() else {
            return (missing_token(), "no-route".into());
        };
        let body = match body {
            Body::Complete(b) => b,
            Body::TooLarge => {
                let r = self.config.error_response(
                    "REQUEST_TOO_LARGE",
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Some("Request Too Long"),
                    request_id,
                );
                return (r, "too-large".into());
            }
            Body::Broken => {
                let r = self.config.error_response(
                    "BAD_REQUEST_BODY",
                    StatusCode::BAD_REQUEST,
                    Some("Invalid request body"),
                    request_id,
                );
                return (r, "broken-body".into());
            }
        };
        let arn = self.config.method_arn(method, path);
        let route_key = route.key.to_string();
        let resource = resource_of(&route_key);
        let request_event = || {
            let event = self.proxy_event(
                parts,
                path,
                &route_key,
                route.key.segments(),
                &Bytes::new(),
                None,
                BTreeMap::new(),
                peer,
                request_id,
            );
            authorizer_request_event(serde_json::to_value(event).unwrap_or(Value::Null))
        };
        let (principal_id, context, auth_note) = if target.authorized {
            match self
                .authorize(parts, &arn, resource, request_event, request_id)
                .await
            {
                AuthStep::Allowed {
                    principal_id,
                    context,
                    cached,
                } => (
                    Some(principal_id),
                    context,
                    if cached { "allow-cached" } else { "allow" },
                ),
                AuthStep::Refused(response, note) => return (response, note.into()),
            }
        } else {
            (None, BTreeMap::new(), "no-auth")
        };

        let event = self.proxy_event(
            parts,
            path,
            &route_key,
            route.key.segments(),
            &body,
            principal_id,
            context,
            peer,
            request_id,
        );
        let event = match serde_json::to_value(&event) {
            Ok(v) => v,
            Err(_) => {
                return (
                    self.bad_gateway(request_id),
                    format!("{auth_note} event-error"),
                );
            }
        };
        let answer = match self.lambda.invoke(&target.function, &event).await {
            Ok(Invocation::Ok(answer)) => answer,
            _ => {
                return (
                    self.bad_gateway(request_id),
                    format!("{auth_note} function-error"),
                );
            }
        };
        match proxy_response(answer) {
            Some(mut response) => {
                set_request_id(response.headers_mut(), request_id);
                (response, auth_note.into())
            }
            None => (
                self.bad_gateway(request_id),
                format!("{auth_note} malformed-answer"),
            ),
        }
    }

    fn bad_gateway(&self, request_id: &str) -> HttpResponse {
        self.config.error_response(
            "DEFAULT_5XX",
            StatusCode::BAD_GATEWAY,
            Some("Internal server error"),
            request_id,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn proxy_event(
        &self,
        parts: &Parts,
        path: &str,
        route_key: &str,
        segments: &[Segment],
        body: &Bytes,
        principal_id: Option<String>,
        context: BTreeMap<String, String>,
        peer: SocketAddr,
        request_id: &str,
    ) -> ApiGatewayProxyRequest {
        let resource = resource_of(route_key).to_owned();
        let mut single = HashMap::new();
        let mut multi: HashMap<String, Vec<String>> = HashMap::new();
        if let Some(query) = parts.uri.query() {
            for (k, v) in form_urlencoded::parse(query.as_bytes()) {
                single.insert(k.to_string(), v.to_string());
                multi.entry(k.to_string()).or_default().push(v.to_string());
            }
        }
        let mut event = ApiGatewayProxyRequest::default();
        event.resource = Some(resource.clone());
        event.path = Some(path.to_owned());
        event.http_method = parts.method.clone();
        event.headers = parts.headers.clone();
        event.multi_value_headers = parts.headers.clone();
        event.query_string_parameters = QueryMap::from(single);
        event.multi_value_query_string_parameters = QueryMap::from(multi);
        event.path_parameters = path_parameters(segments, path);
        match std::str::from_utf8(body) {
            _ if body.is_empty() => {}
            Ok(text) => event.body = Some(text.to_owned()),
            Err(_) => {
                event.body = Some(STANDARD.encode(body));
                event.is_base64_encoded = true;
            }
        }
        let now = time::OffsetDateTime::now_utc();
        let mut rc = ApiGatewayProxyRequestContext::default();
        rc.account_id = Some(ACCOUNT_ID.into());
        rc.resource_id = Some("local0".into());
        rc.stage = Some(self.config.stage.clone());
        rc.domain_name = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned);
        rc.request_id = Some(request_id.to_owned());
        rc.protocol = Some(format!("{:?}", parts.version));
        rc.identity.source_ip = Some(peer.ip().to_string());
        rc.identity.user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned);
        rc.resource_path = Some(resource);
        rc.path = Some(format!("/{}{path}", self.config.stage));
        rc.http_method = parts.method.clone();
        rc.request_time = now
            .format(time::macros::format_description!(
                "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
            ))
            .ok();
        rc.request_time_epoch = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        rc.apiid = Some(API_ID.into());
        if let Some(principal_id) = principal_id {
            let mut fields: HashMap<String, Value> = context
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            fields.insert("principalId".into(), Value::String(principal_id));
            rc.authorizer.fields = fields;
        }
        event.request_context = rc;
        event
    }
}

/// `{name}` and `{name+}` values of a concrete path.
fn path_parameters(segments: &[Segment], path: &str) -> HashMap<String, String> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut out = HashMap::new();
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Static(_) => {}
            Segment::Param(name) => {
                if let Some(v) = parts.get(i) {
                    out.insert(name.clone(), (*v).to_owned());
                }
            }
            Segment::Greedy(name) => {
                out.insert(name.clone(), parts.get(i..).unwrap_or_default().join("/"));
            }
        }
    }
    out
}

/// The HTTP response of a proxy integration answer, if well-formed.
fn proxy_response(answer: Value) -> Option<HttpResponse> {
    let answer: ApiGatewayProxyResponse = serde_json::from_value(answer).ok()?;
    let status = StatusCode::from_u16(u16::try_from(answer.status_code).ok()?).ok()?;
    let bytes = match answer.body {
        None => Bytes::new(),
        Some(LambdaBody::Empty) => Bytes::new(),
        Some(LambdaBody::Text(t)) if answer.is_base64_encoded => {
            Bytes::from(STANDARD.decode(t).ok()?)
        }
        Some(LambdaBody::Text(t)) => Bytes::from(t),
        Some(LambdaBody::Binary(b)) => Bytes::from(b),
        Some(_) => return None,
    };
    let mut response = Response::new(Full::new(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in answer.multi_value_headers.iter() {
        headers.append(name.clone(), value.clone());
    }
    for (name, value) in answer.headers.iter() {
        if !answer.multi_value_headers.contains_key(name) {
            headers.insert(name.clone(), value.clone());
        }
    }
    Some(response)
}

impl Handler for LocalGateway {
    async fn handle(&self, parts: Parts, body: Body, peer: SocketAddr) -> HttpResponse {
        let start = Instant::now();
        let request_id = uuid::Uuid::new_v4().to_string();
        let (response, note) = self.serve(&parts, body, peer, &request_id).await;
        self.log.request(
            &parts,
            response.status(),
            start,
            &format!("auth={note} requestId={request_id}"),
        );
        response
    }
}

/// The policy cache key of an authorizer answer: the identity values as a JSON
/// array, so no two lists of values share a key, whatever bytes a (decoded)
/// query value carries.
fn cache_key(values: &[String]) -> String {
    Value::from(values.to_vec()).to_string()
}

/// The resource template of a route key: `/events/{id}` of `GET /events/{id}`.
fn resource_of(route_key: &str) -> &str {
    route_key
        .split_once(' ')
        .map_or(route_key, |(_, template)| template)
}

/// A REST REQUEST authorizer's event from the proxy event of the same request: the
/// request's fields without its body (`type` and `methodArn` are added by the caller).
fn authorizer_request_event(proxy: Value) -> Value {
    const FIELDS: [&str; 10] = [
        "resource",
        "path",
        "httpMethod",
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "requestContext",
    ];
    let Value::Object(mut fields) = proxy else {
        return json!({});
    };
    fields.retain(|k, _| FIELDS.contains(&k.as_str()));
    if let Some(Value::Object(context)) = fields.get_mut("requestContext") {
        context.remove("authorizer");
    }
    Value::Object(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Template;

    fn config() -> GatewayConfig {
        let model = Template::load(Template::workspace_path()).unwrap();
        GatewayConfig::from_model(&model, "us-east-1").unwrap()
    }

    #[test]
    fn reads_routes_authorizer_and_ttl_from_the_template() {
        let c = config();
        assert_eq!(c.stage, "weather");
        assert_eq!(c.authorizer.function, "authorizer");
        assert_eq!(c.authorizer.payload, PayloadType::Token);
        assert_eq!(
            c.authorizer.identity,
            [IdentitySource::Header("Authorization".into())]
        );
        assert_eq!(c.authorizer.ttl, Duration::from_secs(300));
        let get = c.routes.by_path(RouteMethod::Get, "/events/42").unwrap();
        assert_eq!(get.key.to_string(), "GET /events/{id}");
        assert_eq!(c.targets[&get.key].function, "weather-api");
        assert!(c.routes.by_path(RouteMethod::Put, "/events").is_none());
    }

    #[test]
    fn request_authorizer_is_keyed_by_every_identity_source() {
        let a = GatewayAuthorizer {
            function: "authorizer".into(),
            payload: PayloadType::Request,
            identity: vec![
                IdentitySource::Header("Authorization".into()),
                IdentitySource::QueryString("tenant".into()),
                IdentitySource::Context("httpMethod".into()),
                IdentitySource::Context("resourcePath".into()),
            ],
            ttl: Duration::from_secs(300),
        };
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer t".parse().unwrap());
        let values = a.identity_values(&headers, Some("x=1&tenant=acme"), "GET", "/events/{id}");
        assert_eq!(
            values,
            Some(vec![
                "Bearer t".to_owned(),
                "acme".into(),
                "GET".into(),
                "/events/{id}".into()
            ])
        );
        // A repeated query key: the last value, as `queryStringParameters` holds.
        assert_eq!(
            a.identity_values(&headers, Some("tenant=a&tenant=b"), "GET", "/x")
                .map(|v| v[1].clone()),
            Some("b".to_owned())
        );
        // Any source missing or blank: no key (401 without an invocation).
        assert_eq!(
            a.identity_values(&headers, None, "GET", "/events/{id}"),
            None
        );
        assert_eq!(
            a.identity_values(&headers, Some("tenant=%20"), "GET", "/events/{id}"),
            None
        );
        assert_eq!(
            a.identity_values(&HeaderMap::new(), Some("tenant=acme"), "GET", "/events"),
            None
        );
    }

    #[test]
    fn cache_keys_of_different_values_differ() {
        let key = |v: &[&str]| cache_key(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_ne!(key(&["a\u{0}b", "c"]), key(&["a", "b\u{0}c"]));
        assert_ne!(key(&["a,b"]), key(&["a", "b"]));
        assert_ne!(key(&["a\"", "b"]), key(&["a", "\"b"]));
    }

    #[test]
    fn request_authorizer_event_is_the_request_without_body_or_authorizer() {
        let proxy = json!({
            "resource": "/events/{id}", "path": "/events/1", "httpMethod": "GET",
            "headers": {"authorization": "Bearer t"}, "multiValueHeaders": {},
            "queryStringParameters": {}, "multiValueQueryStringParameters": {},
            "pathParameters": {"id": "1"}, "stageVariables": {},
            "requestContext": {"resourcePath": "/events/{id}", "authorizer": {"principalId": "p"}},
            "body": "secret", "isBase64Encoded": false,
        });
        let event = authorizer_request_event(proxy);
        assert!(event.get("body").is_none());
        assert!(event.get("isBase64Encoded").is_none());
        assert!(event["requestContext"].get("authorizer").is_none());
        assert_eq!(event["requestContext"]["resourcePath"], "/events/{id}");
        assert_eq!(event["pathParameters"]["id"], "1");
        assert_eq!(event["headers"]["authorization"], "Bearer t");
    }

    #[test]
    fn method_arn_has_stage_method_and_path() {
        assert_eq!(
            config().method_arn("GET", "/events/42"),
            "arn:aws:execute-api:us-east-1:123456789012:localapi/weather/GET/events/42"
        );
    }

    #[test]
    fn gateway_responses_apply_template_headers_and_body() {
        let r = config().error_response(
            "UNAUTHORIZED",
            StatusCode::UNAUTHORIZED,
            Some("Unauthorized"),
            "id",
        );
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.headers()["www-authenticate"],
            "Bearer realm=\"weather-api\""
        );
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        let r = config().error_response(
            "AUTHORIZER_FAILURE",
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "id",
        );
        assert_eq!(r.status(), 500);
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
    }

    #[test]
    fn policy_answers_with_nulls_or_bad_context_are_refused() {
        let policy = json!({"Version": "2012-10-17", "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:x"}]});
        let good = json!({"principalId": "p", "policyDocument": policy, "context": {"a": "b", "n": 1, "t": true}});
        let (p, _, ctx) = parse_policy_answer(&good).unwrap();
        assert_eq!(p, "p");
        assert_eq!(ctx["n"], "1");
        assert_eq!(ctx["t"], "true");
        for bad in [
            json!({"principalId": "p", "policyDocument": policy, "usageIdentifierKey": null}),
            json!({"principalId": "p", "policyDocument": policy, "context": null}),
            json!({"principalId": null, "policyDocument": policy}),
            json!({"principalId": "p"}),
            json!({"principalId": "p", "policyDocument": policy, "context": {"o": {"x": 1}}}),
            json!({"principalId": "p", "policyDocument": {"Statement": "nope"}}),
        ] {
            assert!(parse_policy_answer(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn path_parameters_single_and_greedy() {
        let table =
            RouteTable::from_json(r#"{"GET /a/{id}/b": [], "GET /f/{proxy+}": []}"#).unwrap();
        let r = table.by_path(RouteMethod::Get, "/a/7/b").unwrap();
        assert_eq!(path_parameters(r.key.segments(), "/a/7/b")["id"], "7");
        let r = table.by_path(RouteMethod::Get, "/f/x/y/z").unwrap();
        assert_eq!(
            path_parameters(r.key.segments(), "/f/x/y/z")["proxy"],
            "x/y/z"
        );
    }

    #[test]
    fn proxy_answer_becomes_the_response() {
        let answer = json!({"statusCode": 201, "headers": {"location": "/x"}, "multiValueHeaders": {"content-type": ["application/json"]}, "body": "{}", "isBase64Encoded": false});
        let r = proxy_response(answer).unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["location"], "/x");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert!(proxy_response(json!({"body": "no status"})).is_none());
    }
}
