//! End to end: the real authorizer and weather-api under `cargo lambda watch`, behind the
//! local API Gateway, with tokens from the local Cognito, all read from template.yaml.
//!
//! One stack is started for the whole file (building and starting it is the slow part),
//! on the first case that runs, and every case below is a named test run against it, in
//! order, one at a time (a libtest-mimic harness: `cargo test -p local-stack --test
//! local_stack_e2e -- policy_cache` runs just that one; a failing case does not hide the
//! others). The stack is stopped at the end of the binary whatever ran; the last two
//! cases stop it themselves: `stop_leaves_no_process_behind` checks nothing it started
//! is left, `logs_hold_no_token_or_secret` scans every log line the stack wrote during
//! all the cases that ran.
//!
//! Needs `cargo lambda` on PATH (`scripts/test` puts `.venv/bin` there); without it every
//! case fails and says so.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use local_stack::cognito::{Signer, token_claims, token_header, unix_now};
use local_stack::gateway::Invocation;
use local_stack::supervisor::ServiceProcess;
use local_stack::{Stack, StackOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SERVICE: &str = "ServiceClient";
const READ_ONLY: &str = "ReadOnlyClient";
const SEED_DUDLEY: &str = "6f1c2a4e-9b0d-4c1e-8a3f-5d7e9b2c4a10";

struct Ctx {
    stack: Stack,
    http: reqwest::Client,
    /// Tokens the steps made themselves (expired, foreign): the log scan looks for them too.
    forged: Mutex<Vec<String>>,
    /// Once stopped: what ran just before, and in how many sessions.
    stopped: tokio::sync::Mutex<Option<Stopped>>,
}

/// The stack's processes just before [`Ctx::stop`], with their sessions.
#[derive(Clone)]
struct Stopped {
    running: Vec<ServiceProcess>,
    sessions: BTreeSet<i32>,
}

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Ctx {
    fn client_id(&self, client: &str) -> String {
        self.stack
            .cognito
            .config()
            .client(client)
            .unwrap()
            .client_id
            .clone()
    }

    fn secret(&self, client: &str) -> String {
        let config = self.stack.cognito.config();
        config.client(client).unwrap().secret.expose().to_owned()
    }

    /// `POST /oauth2/token` with the client's credentials in the body.
    async fn token_request(&self, client: &str, scope: Option<&str>) -> Reply {
        let mut form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", self.client_id(client)),
            ("client_secret", self.secret(client)),
        ];
        if let Some(s) = scope {
            form.push(("scope", s.to_owned()));
        }
        let r = self
            .http
            .post(self.stack.cognito.token_url())
            .form(&form)
            .send()
            .await
            .unwrap();
        reply(r).await
    }

    async fn token(&self, client: &str, scope: Option<&str>) -> String {
        let r = self.token_request(client, scope).await;
        assert_eq!(r.status, 200, "token for {client} {scope:?}: {}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    async fn call(&self, method: Method, path: &str, token: Option<&str>) -> Reply {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.stack.api_url));
        if let Some(t) = token {
            request = request.header("Authorization", format!("Bearer {t}"));
        }
        if method == Method::POST {
            request = request.json(&json!({
                "name": "Storm Arwen", "dateStart": "2021-11-26", "dateEnd": "2021-11-27"
            }));
        }
        reply(request.send().await.unwrap()).await
    }

    fn forge(&self, signer: &Signer, claims: Value) -> String {
        let token = signer.sign(&claims).unwrap();
        self.forged.lock().unwrap().push(token.clone());
        token
    }

    fn invocations(&self) -> u64 {
        self.stack.gateway.authorizer_invocations()
    }

    /// Stops the stack once (every process flushes its logs), noting what ran just before.
    async fn stop(&self) -> Stopped {
        let mut stopped = self.stopped.lock().await;
        if let Some(s) = &*stopped {
            return s.clone();
        }
        let running = self.stack.processes().await;
        let sessions = running.iter().filter_map(|p| session(p.pid)).collect();
        self.stack.stop().await;
        stopped.insert(Stopped { running, sessions }).clone()
    }

    async fn is_stopped(&self) -> bool {
        self.stopped.lock().await.is_some()
    }
}

async fn reply(r: reqwest::Response) -> Reply {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        headers,
        body,
    }
}

fn claims(token: &str) -> Value {
    token_claims(token).expect("a JWT's claims")
}

fn header(token: &str) -> Value {
    token_header(token).expect("a JWT's header")
}

fn assert_unauthorized(r: &Reply, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.body);
    assert_eq!(r.body, json!({"message": "Unauthorized"}), "{what}");
    assert_eq!(
        r.headers["www-authenticate"], "Bearer realm=\"weather-api\"",
        "{what}: the UNAUTHORIZED gateway response's header"
    );
}

/// A 403 with API Gateway's `{"message": ...}` body.
fn assert_forbidden(r: &Reply, message: &str, what: &str) {
    assert_eq!(r.status, 403, "{what}: {}", r.body);
    assert_eq!(r.body, json!({ "message": message }), "{what}");
}

fn assert_denied(r: &Reply, what: &str) {
    assert_forbidden(r, "User is not authorized to access this resource", what);
}

fn assert_missing_token(r: &Reply, what: &str) {
    assert_forbidden(r, "Missing Authentication Token", what);
}

// ---------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------

/// Seed 002, in the article's order.
async fn seed_002_walkthrough(ctx: Arc<Ctx>) {
    // A token with the client's default scopes: GET /events answers the two seed events.
    let token = ctx.token(SERVICE, None).await;
    assert_eq!(claims(&token)["scope"], "weather-api/get weather-api/post");
    let r = ctx.call(Method::GET, "/events", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let names: Vec<&str> = r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Storms Dudley, Eunice and Franklin"),
        "{names:?}"
    );
    assert!(names.contains(&"Storms Malik and Corrie"), "{names:?}");
    let dudley = &r.body["events"][0];
    assert_eq!(dudley["dateStart"], "2022-02-16");
    assert_eq!(dudley["dateEnd"], "2022-02-21");

    // Only weather-api/post: GET is 401, POST is 201, created by this client.
    let token = ctx.token(SERVICE, Some("weather-api/post")).await;
    assert_eq!(claims(&token)["scope"], "weather-api/post");
    let r = ctx.call(Method::GET, "/events", Some(&token)).await;
    assert_unauthorized(&r, "GET with only weather-api/post");
    let r = ctx.call(Method::POST, "/events", Some(&token)).await;
    assert_eq!(r.status, 201, "POST with weather-api/post: {}", r.body);
    assert_eq!(r.body["createdBy"], ctx.client_id(SERVICE));
    assert_eq!(r.body["name"], "Storm Arwen");
    let id = r.body["id"].as_str().unwrap();
    // Through the gateway the Location carries the stage, as the deployed API's does.
    assert_eq!(
        r.headers["location"].to_str().unwrap(),
        format!("/weather/events/{id}")
    );

    // weather-api/delete is defined in the pool but not allowed to the client.
    let issued = ctx.stack.cognito.tokens_issued();
    let r = ctx.token_request(SERVICE, Some("weather-api/delete")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body, json!({"error": "invalid_scope"}));
    assert_eq!(ctx.stack.cognito.tokens_issued(), issued, "no token issued");

    // ReadOnlyClient cannot POST: refused by the authorizer (401) on a fresh token,
    // and by the cached policy (403) after an allowed GET.
    let token = ctx.token(READ_ONLY, None).await;
    assert_eq!(claims(&token)["scope"], "weather-api/get");
    let r = ctx.call(Method::POST, "/events", Some(&token)).await;
    assert_unauthorized(&r, "ReadOnlyClient POST");
    let token = ctx.token(READ_ONLY, None).await;
    let r = ctx.call(Method::GET, "/events", Some(&token)).await;
    assert_eq!(r.status, 200, "ReadOnlyClient GET: {}", r.body);
    let r = ctx.call(Method::POST, "/events", Some(&token)).await;
    assert_denied(&r, "ReadOnlyClient POST after a GET");

    // No token, garbage, expired, another issuer: 401.
    let r = ctx.call(Method::GET, "/events", None).await;
    assert_unauthorized(&r, "no token");
    let r = ctx
        .call(Method::GET, "/events", Some("garbage.not.ajwt"))
        .await;
    assert_unauthorized(&r, "garbage token");

    let cognito = &ctx.stack.cognito;
    let now = unix_now();
    let mut good = claims(&ctx.token(SERVICE, None).await);
    good["jti"] = json!(uuid::Uuid::new_v4().to_string());

    let mut expired = good.clone();
    expired["iat"] = json!(now - 7200);
    expired["auth_time"] = json!(now - 7200);
    expired["exp"] = json!(now - 3600);
    let token = ctx.forge(cognito.signer(), expired);
    let r = ctx.call(Method::GET, "/events", Some(&token)).await;
    assert_unauthorized(&r, "expired token signed by the pool's key");

    let mut other_issuer = good.clone();
    other_issuer["iss"] = json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other1");
    let token = ctx.forge(cognito.signer(), other_issuer);
    let r = ctx.call(Method::GET, "/events", Some(&token)).await;
    assert_unauthorized(&r, "token of another issuer, signed by the pool's key");

    let foreign = Signer::generate("foreign-1").unwrap();
    let token = ctx.forge(&foreign, good.clone());
    let r = ctx.call(Method::GET, "/events", Some(&token)).await;
    assert_unauthorized(&r, "token signed by a key the pool does not publish");

    // The control: the same claims signed by the pool's key pass.
    let token = ctx.forge(cognito.signer(), good);
    let r = ctx.call(Method::GET, "/events", Some(&token)).await;
    assert_eq!(r.status, 200, "control token: {}", r.body);
}

/// The token endpoint's other answers and the pool's public documents.
async fn token_endpoint_and_keys(ctx: Arc<Ctx>) {
    let cognito = &ctx.stack.cognito;
    let token_url = cognito.token_url();

    // `basic`: HTTP Basic credentials; the form as given.
    let post = |basic: Option<(String, String)>, form: Vec<(&'static str, String)>| {
        let mut request = ctx.http.post(&token_url).form(&form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        async move { reply(request.send().await.unwrap()).await }
    };
    let wrong = "wrong-secret".to_owned();
    let grant = |g: &str| vec![("grant_type", g.to_owned())];

    let mut form = grant("client_credentials");
    form.extend([
        ("client_id", ctx.client_id(SERVICE)),
        ("client_secret", wrong.clone()),
    ]);
    let r = post(None, form).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body, json!({"error": "invalid_client"}));

    let r = post(
        Some((ctx.client_id(SERVICE), wrong)),
        grant("client_credentials"),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body, json!({"error": "invalid_client"}));

    let r = post(
        Some((ctx.client_id(READ_ONLY), ctx.secret(READ_ONLY))),
        grant("client_credentials"),
    )
    .await;
    assert_eq!(r.status, 200, "Basic authentication: {}", r.body);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 3600);
    let token = r.body["access_token"].as_str().unwrap().to_owned();

    let r = post(
        Some((ctx.client_id(SERVICE), ctx.secret(SERVICE))),
        grant("authorization_code"),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body, json!({"error": "unsupported_grant_type"}));

    // Exactly Cognito's claims, RS256 with a kid the JWKS publishes.
    let c = claims(&token);
    let keys: BTreeSet<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = [
        "sub",
        "token_use",
        "scope",
        "auth_time",
        "iss",
        "exp",
        "iat",
        "version",
        "jti",
        "client_id",
    ]
    .into();
    assert_eq!(keys, expected);
    assert_eq!(c["sub"], ctx.client_id(READ_ONLY));
    assert_eq!(c["client_id"], ctx.client_id(READ_ONLY));
    assert_eq!(c["token_use"], "access");
    assert_eq!(c["version"], 2);
    assert_eq!(
        c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(),
        3600
    );
    let h = header(&token);
    assert_eq!(h["alg"], "RS256");

    let pool = &cognito.config().pool_id;
    let document = |name: &'static str| {
        let url = format!("{}/{pool}/.well-known/{name}", cognito.base_url());
        let http = ctx.http.clone();
        async move {
            let r = reply(http.get(url).send().await.unwrap()).await;
            assert_eq!(r.status, 200, "{name}: {}", r.body);
            r.body
        }
    };
    let jwks = document("jwks.json").await;
    assert_eq!(jwks["keys"][0]["kid"], h["kid"]);
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    let oidc = document("openid-configuration").await;
    assert_eq!(oidc["issuer"], c["iss"]);
    assert_eq!(oidc["token_endpoint"], token_url);
    assert_eq!(
        oidc["jwks_uri"],
        format!("{}/.well-known/jwks.json", c["iss"].as_str().unwrap())
    );
}

/// With a cached policy, the same token on another route is still decided by its
/// scopes, and the cache really answers (the authorizer is not invoked again).
async fn policy_cache(ctx: Arc<Ctx>) {
    let token = ctx.token(SERVICE, Some("weather-api/post")).await;
    let before = ctx.invocations();
    let r = ctx.call(Method::POST, "/events", Some(&token)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(ctx.invocations(), before + 1);
    let r = ctx.call(Method::GET, "/events", Some(&token)).await;
    assert_denied(&r, "GET from the cached policy of a post-only token");
    let r = ctx.call(Method::POST, "/events", Some(&token)).await;
    assert_eq!(r.status, 201, "second POST from the cache: {}", r.body);
    assert_eq!(
        ctx.invocations(),
        before + 1,
        "answered from the policy cache"
    );

    let token = ctx.token(SERVICE, None).await;
    let before = ctx.invocations();
    let r = ctx.call(Method::GET, "/events", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = ctx
        .call(Method::GET, &format!("/events/{SEED_DUDLEY}"), Some(&token))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "Storms Dudley, Eunice and Franklin");
    let r = ctx
        .call(
            Method::DELETE,
            &format!("/events/{SEED_DUDLEY}"),
            Some(&token),
        )
        .await;
    assert_denied(&r, "DELETE without weather-api/delete, from the cache");
    assert_eq!(
        ctx.invocations(),
        before + 1,
        "one invocation for three routes"
    );

    // Refusals are not cached: each garbage request invokes the authorizer.
    let before = ctx.invocations();
    for _ in 0..2 {
        let r = ctx.call(Method::GET, "/events", Some("not-a-jwt")).await;
        assert_unauthorized(&r, "garbage token");
    }
    assert_eq!(
        ctx.invocations(),
        before + 2,
        "Unauthorized is never cached"
    );
}

/// Routing and the answers API Gateway gives before any function runs.
async fn gateway_routing(ctx: Arc<Ctx>) {
    let before = ctx.invocations();
    let token = ctx.token(SERVICE, None).await;
    let r = ctx.call(Method::GET, "/nothing-here", Some(&token)).await;
    assert_missing_token(&r, "unknown path");
    let r = ctx.call(Method::PUT, "/events", Some(&token)).await;
    assert_missing_token(&r, "known path, method without a route");
    let r = reply(
        ctx.http
            .get(ctx.stack.api_url.replace("/weather", "/other-stage/events"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_missing_token(&r, "another stage");
    assert_eq!(
        r.headers["access-control-allow-origin"], "*",
        "DEFAULT_4XX headers"
    );

    // CORS preflight: answered by the gateway, without a token or the authorizer.
    let r = ctx
        .http
        .request(Method::OPTIONS, format!("{}/events", ctx.stack.api_url))
        .header("Origin", "https://example.com")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    let r = reply(r).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    assert_eq!(
        r.headers["access-control-allow-methods"],
        "GET,POST,DELETE,OPTIONS"
    );
    assert_eq!(
        r.headers["access-control-allow-headers"],
        "Authorization,Content-Type"
    );
    assert_eq!(ctx.invocations(), before, "no authorizer for these");

    // A path parameter reaches the function: an unknown id is the function's 404.
    let r = ctx
        .call(
            Method::GET,
            "/events/00000000-0000-4000-8000-000000000000",
            Some(&token),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
}

/// The token-cache example against the stack: 100 API calls, 1 token request.
/// Builds token-cache's `weather_client` example and runs it against the stack
/// with `token_env` (how it gets tokens): 99 GETs and one POST on one token.
async fn run_weather_client(ctx: &Ctx, token_env: &[(&str, String)]) {
    let workspace = local_stack::stack::workspace_dir();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build = tokio::process::Command::new(&cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "token-cache",
            "--example",
            "weather_client",
            "--message-format=json",
        ])
        .current_dir(&workspace)
        .output()
        .await
        .unwrap();
    assert!(
        build.status.success(),
        "building the example: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let executable = String::from_utf8_lossy(&build.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["target"]["name"] == "weather_client")
        .find_map(|m| m["executable"].as_str().map(str::to_owned))
        .expect("cargo reported the example's executable");

    let before = ctx.stack.cognito.token_requests();
    let mut command = tokio::process::Command::new(executable);
    command
        .args(["--calls", "99"])
        .env("WEATHER_API_URL", &ctx.stack.api_url)
        .env("CLIENT_ID", ctx.client_id(SERVICE))
        .env("CLIENT_SECRET", ctx.secret(SERVICE))
        .env_remove("TOKEN_URL")
        .env_remove("TOKEN_SOURCE")
        .env_remove("TOKEN_SCOPES")
        .env_remove("CALLS");
    for (name, value) in token_env {
        command.env(name, value);
    }
    let out = command.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "weather_client failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "calls=100 token_requests=1 failures=0");
    assert_eq!(
        ctx.stack.cognito.token_requests() - before,
        1,
        "the local Cognito saw one token request"
    );
}

/// token-cache's example, tokens from `/oauth2/token`.
async fn token_cache_example(ctx: Arc<Ctx>) {
    run_weather_client(&ctx, &[("TOKEN_URL", ctx.stack.cognito.token_url())]).await;
}

/// The same with Cognito's `GetClientToken` (the user pools API, served by
/// the local Cognito for ServiceClient, which has `ALLOW_CLIENT_TOKEN_AUTH`).
async fn token_cache_get_client_token(ctx: Arc<Ctx>) {
    run_weather_client(
        &ctx,
        &[
            ("TOKEN_SOURCE", "get-client-token".to_owned()),
            (
                "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER",
                ctx.stack.cognito.base_url().to_owned(),
            ),
        ],
    )
    .await;
}

// ---------------------------------------------------------------------------------
// weather-api on the events table (moto's DynamoDB), weather-ingest on moto's SQS
// ---------------------------------------------------------------------------------

const INGEST: &str = "IngestClient";

/// A weather event body with a name of its own.
fn event_body(name: &str) -> Value {
    json!({"name": name, "dateStart": "2026-03-01", "dateEnd": "2026-03-02"})
}

impl Ctx {
    /// `POST /events` with `body` and, if given, an `Idempotency-Key`.
    async fn post_event(&self, token: &str, body: &Value, key: Option<&str>) -> Reply {
        let mut request = self
            .http
            .post(format!("{}/events", self.stack.api_url))
            .bearer_auth(token)
            .json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        reply(request.send().await.unwrap()).await
    }

    /// Every page of `GET /events?limit=N`, following `nextToken` to the last page.
    async fn pages(&self, token: &str, limit: usize) -> Vec<Vec<Value>> {
        let mut pages = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let query = {
                let mut query = form_urlencoded::Serializer::new(String::new());
                query.append_pair("limit", &limit.to_string());
                if let Some(t) = &next {
                    query.append_pair("nextToken", t);
                }
                query.finish()
            };
            let r = self
                .http
                .get(format!("{}/events?{query}", self.stack.api_url))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let r = reply(r).await;
            assert_eq!(r.status, 200, "page {}: {}", pages.len() + 1, r.body);
            pages.push(r.body["events"].as_array().unwrap().clone());
            next = r.body["nextToken"].as_str().map(str::to_owned);
            if next.is_none() {
                return pages;
            }
            assert!(pages.len() < 1000, "nextToken never ends");
        }
    }

    /// Every event the API lists.
    async fn all_events(&self, token: &str) -> Vec<Value> {
        self.pages(token, 100).await.into_iter().flatten().collect()
    }

    fn consumer(&self) -> &local_stack::stack::QueueConsumer {
        self.stack
            .consumers
            .iter()
            .find(|c| c.binary == "weather-ingest")
            .expect("the stack runs weather-ingest")
    }

    /// Invokes weather-ingest with the batch `messages` (id, body) through the watcher.
    async fn ingest(&self, messages: &[(String, String)]) -> Value {
        let event = sqs_event(&self.consumer().queue.arn, messages);
        match self.stack.invoke("weather-ingest", &event).await.unwrap() {
            Invocation::Ok(answer) => answer,
            other => panic!("weather-ingest answered {other:?}"),
        }
    }

    fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(self.stack.aws.sdk_config())
    }
}

/// An SQS event as Lambda delivers it from `queue_arn`.
fn sqs_event(queue_arn: &str, messages: &[(String, String)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            json!({
                "messageId": id,
                "receiptHandle": format!("local-{id}"),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1764547200000",
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": "1764547200001"
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

fn fresh_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// How many listed events have exactly these fields.
fn count_of(events: &[Value], body: &Value) -> usize {
    events
        .iter()
        .filter(|e| {
            ["name", "dateStart", "dateEnd"]
                .iter()
                .all(|k| e[*k] == body[*k])
        })
        .count()
}

/// The process ids of the function `name` among `procs`.
fn pids_of(procs: Vec<ServiceProcess>, name: &str) -> BTreeSet<i32> {
    procs
        .into_iter()
        .filter(|p| p.name == name)
        .map(|p| p.pid)
        .collect()
}

/// POST an event, restart `cargo lambda watch` (every function process ends and starts
/// again, its init included): the event is still there, read from the table.
async fn event_survives_a_function_restart(ctx: Arc<Ctx>) {
    let token = ctx.token(SERVICE, None).await;
    let body = event_body(&format!("Survivor {}", fresh_id()));
    let r = ctx.post_event(&token, &body, None).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();

    let pids = |procs| pids_of(procs, "weather-api");
    let before = pids(ctx.stack.processes().await);
    assert!(!before.is_empty(), "weather-api runs");
    ctx.stack.restart_functions().await.unwrap();
    let after = pids(ctx.stack.processes().await);
    assert!(!after.is_empty(), "weather-api runs again");
    assert!(
        before.is_disjoint(&after),
        "a new process: {before:?} {after:?}"
    );
    assert!(before.iter().all(|p| !is_alive(*p)), "the old one ended");

    let r = ctx
        .call(Method::GET, &format!("/events/{id}"), Some(&token))
        .await;
    assert_eq!(r.status, 200, "the event after the restart: {}", r.body);
    assert_eq!(r.body["name"], body["name"]);
    assert_eq!(
        count_of(&ctx.all_events(&token).await, &body),
        1,
        "listed once"
    );
}

/// One `Idempotency-Key` posted twice: one event, the second answer the first one
/// replayed; the key with another event is 422.
async fn idempotency_key_posted_twice(ctx: Arc<Ctx>) {
    let token = ctx.token(SERVICE, None).await;
    let key = fresh_id();
    let body = event_body(&format!("Once {key}"));
    let first = ctx.post_event(&token, &body, Some(&key)).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let second = ctx.post_event(&token, &body, Some(&key)).await;
    assert_eq!(second.status, 201, "{}", second.body);
    assert_eq!(second.body, first.body, "the same event, id included");
    assert_eq!(second.headers["location"], first.headers["location"]);
    assert_eq!(second.headers["idempotent-replayed"], "true");
    assert_eq!(
        count_of(&ctx.all_events(&token).await, &body),
        1,
        "one event"
    );

    let other = event_body(&format!("Other {key}"));
    let r = ctx.post_event(&token, &other, Some(&key)).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        count_of(&ctx.all_events(&token).await, &other),
        0,
        "nothing stored"
    );
}

/// 120 new events walked with `limit=50`: full pages, then the rest, every event once
/// (3 pages when the table held at most 30 events before, as in this file's order).
async fn pages_of_fifty_list_every_event_once(ctx: Arc<Ctx>) {
    let token = ctx.token(SERVICE, None).await;
    let before = ctx.all_events(&token).await.len();
    let run = fresh_id();
    let mut tasks = tokio::task::JoinSet::new();
    let created = Arc::new(Mutex::new(BTreeSet::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for _ in 0..8 {
        let (ctx, token, run, created, next) = (
            ctx.clone(),
            token.clone(),
            run.clone(),
            created.clone(),
            next.clone(),
        );
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n >= 120 {
                    return;
                }
                let r = ctx
                    .post_event(&token, &event_body(&format!("Page {run} {n}")), None)
                    .await;
                assert_eq!(r.status, 201, "{}", r.body);
                let id = r.body["id"].as_str().unwrap().to_owned();
                created.lock().unwrap().insert(id);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let created = created.lock().unwrap().clone();
    assert_eq!(created.len(), 120);

    let pages = ctx.pages(&token, 50).await;
    let total = before + 120;
    assert_eq!(pages.len(), total.div_ceil(50), "pages of {total} events");
    if before <= 30 {
        assert_eq!(pages.len(), 3);
    }
    let (last, full) = pages.split_last().unwrap();
    assert!(
        full.iter().all(|p| p.len() == 50),
        "every page but the last is full"
    );
    assert_eq!(last.len(), total - 50 * full.len());
    let ids: Vec<&str> = pages
        .iter()
        .flatten()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let distinct: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "no event twice");
    for id in &created {
        assert!(distinct.contains(id.as_str()), "{id} listed");
    }
}

/// The fixture batch through the watcher, as the banner's `cargo lambda invoke`: its
/// 10 events land in the API, created by the ingest client; the same batch again (SQS
/// redelivers) creates none.
async fn ingest_fixture_batch_lands_in_the_api(ctx: Arc<Ctx>) {
    let workspace = local_stack::stack::workspace_dir();
    let fixture = workspace.join("weather-ingest/fixtures/sqs-batch.json");
    let batch: Value = serde_json::from_slice(&std::fs::read(&fixture).unwrap()).unwrap();
    let bodies: Vec<Value> = batch["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str(r["body"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(bodies.len(), 10);
    let port: u16 = ctx
        .stack
        .lambda_url
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let token = ctx.token(SERVICE, None).await;
    for round in ["first delivery", "redelivery"] {
        let answer = local_stack::watch::invoke(&workspace, port, "weather-ingest", &fixture)
            .await
            .unwrap();
        assert_eq!(
            answer,
            local_stack::watch::InvokeAnswer::Ok(json!({"batchItemFailures": []})),
            "{round}"
        );
        let events = ctx.all_events(&token).await;
        for body in &bodies {
            let matching: Vec<&Value> = events
                .iter()
                .filter(|e| count_of(std::slice::from_ref(e), body) == 1)
                .collect();
            assert_eq!(matching.len(), 1, "{round}: {body} once in the API");
            assert_eq!(matching[0]["createdBy"], ctx.client_id(INGEST), "{round}");
        }
    }
}

/// A batch with 2 bodies that are not events and 1 the API refuses (its message id,
/// the Idempotency-Key, was used for another event: 422): those 3 in the dead-letter
/// queue with their reason, the 7 others created, nothing reported for retry.
async fn ingest_bad_messages_go_to_the_dead_letter_queue(ctx: Arc<Ctx>) {
    let token = ctx.token(SERVICE, None).await;
    let run = fresh_id();
    let reused = fresh_id();
    let first = event_body(&format!("Ingest {run} first"));
    let answer = ctx.ingest(&[(reused.clone(), first.to_string())]).await;
    assert_eq!(answer, json!({"batchItemFailures": []}));

    let mut batch: Vec<(String, String)> = (0..7)
        .map(|n| {
            (
                fresh_id(),
                event_body(&format!("Ingest {run} {n}")).to_string(),
            )
        })
        .collect();
    let not_json = (fresh_id(), "this is not JSON".to_owned());
    let no_end = (
        fresh_id(),
        json!({"name": format!("Ingest {run} no end"), "dateStart": "2026-03-01"}).to_string(),
    );
    let refused = (
        reused,
        event_body(&format!("Ingest {run} refused")).to_string(),
    );
    batch.insert(2, not_json.clone());
    batch.insert(5, no_end.clone());
    batch.push(refused.clone());
    assert_eq!(batch.len(), 10);
    let answer = ctx.ingest(&batch).await;
    assert_eq!(
        answer,
        json!({"batchItemFailures": []}),
        "none left for retry"
    );

    let events = ctx.all_events(&token).await;
    for (n, (_, body)) in batch.iter().enumerate() {
        let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let expected = usize::from(![2, 5, 9].contains(&n));
        assert_eq!(count_of(&events, &body), expected, "message {n}: {body}");
    }
    assert_eq!(count_of(&events, &first), 1, "the first event stays");

    // The dead-letter queue on moto holds exactly the 3, each with its reason.
    let dlq = ctx
        .consumer()
        .dead_letter_queue
        .clone()
        .expect("a dead-letter queue");
    let sqs = ctx.sqs();
    let wanted: BTreeSet<String> = [&not_json, &no_end, &refused]
        .iter()
        .map(|(id, _)| id.clone())
        .collect();
    let mut letters = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while letters.len() < wanted.len() {
        assert!(Instant::now() < deadline, "dead letters: {letters:?}");
        let received = sqs
            .receive_message()
            .queue_url(&dlq.url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in received.messages.unwrap_or_default() {
            let attrs = m.message_attributes.clone().unwrap_or_default();
            let text = |name: &str| attrs.get(name).and_then(|a| a.string_value.clone());
            sqs.delete_message()
                .queue_url(&dlq.url)
                .receipt_handle(m.receipt_handle.clone().unwrap())
                .send()
                .await
                .unwrap();
            if let Some(source) = text("IngestSourceMessageId")
                && wanted.contains(&source)
            {
                let reason = text("IngestFailureReason").unwrap_or_default();
                letters.insert(source, (m.body.clone().unwrap_or_default(), reason));
            }
        }
    }
    for (id, original) in [&not_json, &no_end, &refused] {
        let (body, reason) = &letters[id];
        assert_eq!(body, original, "the original body of {id}");
        assert!(!reason.trim().is_empty(), "a reason for {id}");
    }
    assert!(
        letters[&refused.0].1.contains("422"),
        "{:?}",
        letters[&refused.0]
    );
}

/// 50 invocations of weather-ingest, one new message each: 50 events, and over the
/// whole run the local Cognito saw exactly one token request from the ingest client.
async fn ingest_fifty_invocations_one_token_request(ctx: Arc<Ctx>) {
    let run = fresh_id();
    let bodies: Vec<Value> = (0..50)
        .map(|n| event_body(&format!("Fifty {run} {n}")))
        .collect();
    for body in &bodies {
        let answer = ctx.ingest(&[(fresh_id(), body.to_string())]).await;
        assert_eq!(answer, json!({"batchItemFailures": []}), "{body}");
    }
    let token = ctx.token(SERVICE, None).await;
    let events = ctx.all_events(&token).await;
    assert!(
        bodies.iter().all(|b| count_of(&events, b) == 1),
        "50 events"
    );
    assert_eq!(
        ctx.stack.cognito.token_requests_of(&ctx.client_id(INGEST)),
        1,
        "one token request by the ingest client in the whole run"
    );
}

/// The API unreachable for weather-ingest (its way to the gateway, the stack's
/// `api_switch`, refuses connections; the gateway still serves everyone else): a batch
/// of 10 has every message reported in `batchItemFailures` and creates nothing. Once
/// the API is back, the same batch delivered again (same message ids, as SQS redelivers)
/// creates each event exactly once, with no failure. No token is spent on the outage.
async fn ingest_api_down_reports_every_message_then_redelivery_creates_each_once(ctx: Arc<Ctx>) {
    let run = fresh_id();
    let batch: Vec<(String, String)> = (0..10)
        .map(|n| {
            (
                fresh_id(),
                event_body(&format!("Outage {run} {n}")).to_string(),
            )
        })
        .collect();
    let ids: BTreeSet<String> = batch.iter().map(|(id, _)| id.clone()).collect();
    let bodies: Vec<Value> = batch
        .iter()
        .map(|(_, b)| serde_json::from_str(b).unwrap())
        .collect();
    let token = ctx.token(SERVICE, None).await;
    let requests = ctx.stack.cognito.token_requests_of(&ctx.client_id(INGEST));

    ctx.stack.api_switch.down().await;
    let answer = ctx.ingest(&batch).await;
    // Up again before any assertion, so a failure here leaves the stack whole.
    ctx.stack.api_switch.up().await;
    let reported: Vec<String> = answer["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("an SQSBatchResponse: {answer}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reported.len(), 10, "each message once: {answer}");
    assert_eq!(
        reported.iter().cloned().collect::<BTreeSet<_>>(),
        ids,
        "every message of the batch reported: {answer}"
    );
    // The rest of the stack stayed up: the API answers callers other than the function.
    let events = ctx.all_events(&token).await;
    for body in &bodies {
        assert_eq!(count_of(&events, body), 0, "nothing created: {body}");
    }

    let answer = ctx.ingest(&batch).await;
    assert_eq!(answer, json!({"batchItemFailures": []}), "the redelivery");
    let events = ctx.all_events(&token).await;
    for body in &bodies {
        let created: Vec<&Value> = events
            .iter()
            .filter(|e| count_of(std::slice::from_ref(e), body) == 1)
            .collect();
        assert_eq!(created.len(), 1, "exactly once: {body}");
        assert_eq!(created[0]["createdBy"], ctx.client_id(INGEST));
    }
    assert_eq!(
        ctx.stack.cognito.token_requests_of(&ctx.client_id(INGEST)),
        requests,
        "the outage cost no token request"
    );
}

/// A new weather-ingest process (a cold container) takes the token the fleet already
/// holds from the template's `TokenCacheTable` (token-cache's shared level,
/// TOKEN_CACHE_TABLE) instead of asking the local Cognito: no token request across a
/// restart of every function. The table holds the token sealed, never in clear.
async fn ingest_a_new_process_takes_the_fleet_token_from_the_table(ctx: Arc<Ctx>) {
    let ingest_once = |label: &'static str| {
        let ctx = ctx.clone();
        async move {
            let body = event_body(&format!("{label} {}", fresh_id()));
            let answer = ctx.ingest(&[(fresh_id(), body.to_string())]).await;
            assert_eq!(answer, json!({"batchItemFailures": []}), "{label}");
        }
    };
    ingest_once("Fleet before").await;
    let requests = ctx.stack.cognito.token_requests_of(&ctx.client_id(INGEST));
    assert!(requests >= 1, "the ingest client has asked for a token");

    let pids = |procs| pids_of(procs, "weather-ingest");
    let before = pids(ctx.stack.processes().await);
    ctx.stack.restart_functions().await.unwrap();
    ingest_once("Fleet after").await;
    let after = pids(ctx.stack.processes().await);
    assert!(
        !after.is_empty() && before.is_disjoint(&after),
        "{before:?} {after:?}"
    );
    assert_eq!(
        ctx.stack.cognito.token_requests_of(&ctx.client_id(INGEST)),
        requests,
        "the new process took the shared token: no token request"
    );

    let env = std::fs::read_to_string(ctx.stack.log_dir().join("functions.env")).unwrap();
    let table = &ctx.stack.aws.tables["TokenCacheTable"];
    assert!(
        env.contains(&format!("TOKEN_CACHE_TABLE='{table}'")),
        "{env}"
    );
    let dynamodb = aws_sdk_dynamodb::Client::new(ctx.stack.aws.sdk_config());
    let items = dynamodb
        .scan()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert_eq!(items.len(), 1, "one entry: one scope set");
    let item = &items[0];
    let sealed = item["sealed"].as_b().expect("a sealed token").as_ref();
    assert!(sealed.len() > 100, "a whole token, encrypted");
    for (name, value) in item {
        if let Ok(text) = value.as_s() {
            assert!(!text.contains("eyJ"), "{name} holds no JWT in clear");
        }
    }
    assert!(
        !String::from_utf8_lossy(sealed).contains("eyJ"),
        "the sealed bytes hold no JWT in clear"
    );
}

/// weather-ingest is configured as on AWS: CLIENT_SECRET_ARN (the template's
/// `!Ref IngestClientSecret`, here moto's secret holding the local IngestClient's
/// credentials), no CLIENT_SECRET anywhere in its environment; and with it its events
/// are created by the ingest client.
async fn ingest_reads_its_secret_from_secrets_manager(ctx: Arc<Ctx>) {
    let env = std::fs::read_to_string(ctx.stack.log_dir().join("functions.env")).unwrap();
    let arn = &ctx.stack.aws.secrets["IngestClientSecret"];
    assert!(env.contains(&format!("CLIENT_SECRET_ARN='{arn}'")), "{env}");
    assert!(!env.contains("CLIENT_SECRET="), "no inline secret: {env}");
    assert!(
        !env.contains(&ctx.secret(INGEST)),
        "the secret is not in the environment"
    );

    let secrets = aws_sdk_secretsmanager::Client::new(ctx.stack.aws.sdk_config());
    let value = secrets
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .unwrap();
    let value: Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    assert_eq!(value["client_id"], ctx.client_id(INGEST));
    assert_eq!(value["client_secret"], ctx.secret(INGEST));

    let body = event_body(&format!("Secret {}", fresh_id()));
    let answer = ctx.ingest(&[(fresh_id(), body.to_string())]).await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let token = ctx.token(SERVICE, None).await;
    let events = ctx.all_events(&token).await;
    let event = events
        .iter()
        .find(|e| count_of(std::slice::from_ref(e), &body) == 1);
    assert_eq!(event.expect("created")["createdBy"], ctx.client_id(INGEST));
}

/// Receives from the queue at `url` until a message whose `IngestSourceMessageId` is
/// `source` arrives (deleting what it receives); its body and `IngestFailureReason`.
async fn dead_letter_of(sqs: &aws_sdk_sqs::Client, url: &str, source: &str) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "no dead letter for {source}");
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in received.messages.unwrap_or_default() {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle.clone().unwrap())
                .send()
                .await
                .unwrap();
            let attrs = m.message_attributes.clone().unwrap_or_default();
            let text = |name: &str| attrs.get(name).and_then(|a| a.string_value.clone());
            if text("IngestSourceMessageId").as_deref() == Some(source) {
                return (
                    m.body.unwrap_or_default(),
                    text("IngestFailureReason").unwrap_or_default(),
                );
            }
        }
    }
}

/// `aws sqs send-message` to the ingest queue on moto: the stack's event source
/// mapping delivers it to weather-ingest, the event lands in the API and the message
/// leaves the queue; a body that is no event ends in the dead-letter queue instead.
async fn ingest_from_the_queue_through_the_event_source(ctx: Arc<Ctx>) {
    let sqs = ctx.sqs();
    let queue = ctx.consumer().queue.url.clone();
    let body = event_body(&format!("Queued {}", fresh_id()));
    sqs.send_message()
        .queue_url(&queue)
        .message_body(body.to_string())
        .send()
        .await
        .unwrap();
    let bad = sqs
        .send_message()
        .queue_url(&queue)
        .message_body("{\"name\": \"no dates\"}")
        .send()
        .await
        .unwrap()
        .message_id
        .unwrap();

    let token = ctx.token(SERVICE, None).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let events = ctx.all_events(&token).await;
        let found: Vec<&Value> = events
            .iter()
            .filter(|e| count_of(std::slice::from_ref(e), &body) == 1)
            .collect();
        if let [event] = found.as_slice() {
            assert_eq!(event["createdBy"], ctx.client_id(INGEST));
            break;
        }
        assert!(found.is_empty(), "created once: {found:?}");
        assert!(Instant::now() < deadline, "the queued event never landed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let dlq = ctx
        .consumer()
        .dead_letter_queue
        .clone()
        .expect("a dead-letter queue");
    let (letter, reason) = dead_letter_of(&sqs, &dlq.url, &bad).await;
    assert_eq!(letter, "{\"name\": \"no dates\"}");
    assert!(!reason.is_empty());

    // Both left the queue (deleted by the mapping, none waiting to come back).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        let count = |name: aws_sdk_sqs::types::QueueAttributeName| {
            attributes
                .get(&name)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(u64::MAX)
        };
        use aws_sdk_sqs::types::QueueAttributeName as A;
        if count(A::ApproximateNumberOfMessages) == 0
            && count(A::ApproximateNumberOfMessagesNotVisible) == 0
        {
            break;
        }
        assert!(Instant::now() < deadline, "queue not empty: {attributes:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = std::fs::read_to_string(ctx.stack.log_dir().join("event-source.log")).unwrap();
    assert!(log.contains("IngestQueue batch of"), "{log}");
}

/// Every log line the stack wrote holds no token and no client secret; and the logs
/// are the real ones (they record the requests above), so the scan is not vacuous.
async fn logs_hold_no_token_or_secret(ctx: Arc<Ctx>) {
    if !ctx.is_stopped().await {
        // Requests of its own, so that the scan is never vacuous however the cases
        // were filtered.
        let token = ctx.token(SERVICE, None).await;
        let r = ctx.call(Method::GET, "/events", Some(&token)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = ctx.call(Method::POST, "/events", Some(&token)).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    ctx.stop().await;
    let logs = ctx.stack.logs().unwrap();
    let text_of = |name: &str| {
        logs.iter()
            .find(|(p, _)| p.file_name().is_some_and(|f| f == name))
            .map(|(_, t)| t.as_str())
            .unwrap_or_else(|| panic!("{name} missing in {:?}", logs.keys()))
    };
    assert!(text_of("gateway.log").contains("GET /weather/events 200"));
    assert!(text_of("gateway.log").contains("POST /weather/events 201"));
    assert!(text_of("cognito.log").contains("POST /oauth2/token 200"));
    assert!(
        text_of("watch.log").contains("authorizer decision"),
        "authorizer logs"
    );
    assert!(
        text_of("watch.log").contains("request served"),
        "weather-api logs"
    );
    assert!(
        text_of("watch.log").contains("weather-ingest"),
        "weather-ingest logs"
    );
    assert!(text_of("moto.log").contains("moto-serial: listening on"));

    let mut tokens = ctx.stack.cognito.issued_tokens();
    assert!(!tokens.is_empty(), "the cases issued tokens");
    tokens.extend(ctx.forged.lock().unwrap().iter().cloned());
    let secrets: Vec<String> = ctx
        .stack
        .cognito
        .config()
        .clients
        .iter()
        .map(|c| c.secret.expose().to_owned())
        .collect();
    let lines: usize = logs.values().map(|t| t.lines().count()).sum();
    for (path, text) in &logs {
        for token in &tokens {
            let signature = token.rsplit('.').next().unwrap();
            assert!(
                !text.contains(token.as_str()) && !text.contains(signature),
                "{} holds a token",
                path.display()
            );
        }
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{} holds a client secret",
                path.display()
            );
            let basic = STANDARD.encode(secret);
            assert!(
                !text.contains(&basic),
                "{} holds an encoded secret",
                path.display()
            );
        }
        assert!(
            !text.contains("Bearer ey"),
            "{} holds an Authorization header",
            path.display()
        );
    }
    eprintln!(
        "scanned {lines} log lines in {} files for {} tokens and {} secrets",
        logs.len(),
        tokens.len(),
        secrets.len()
    );
}

/// `stop()` ended the watcher and both functions (each in a session of its own, out
/// of the watcher's process group): none of the processes running before is left.
async fn stop_leaves_no_process_behind(ctx: Arc<Ctx>) {
    let Stopped { running, sessions } = ctx.stop().await;
    let names: BTreeSet<&str> = running.iter().map(|p| p.name.as_str()).collect();
    for name in [
        "cargo-lambda",
        "authorizer",
        "weather-api",
        "weather-ingest",
    ] {
        assert!(names.contains(name), "{name} ran before stop: {running:?}");
    }
    assert!(
        names.iter().any(|n| n.starts_with("python")),
        "moto ran before stop: {running:?}"
    );
    assert!(
        sessions.len() >= 3,
        "the functions ran in sessions of their own: {sessions:?}"
    );
    assert_eq!(ctx.stack.processes().await, vec![], "none left");
    let alive: Vec<&ServiceProcess> = running.iter().filter(|p| is_alive(p.pid)).collect();
    assert!(alive.is_empty(), "still alive after stop: {alive:?}");
}

/// The session of a live process.
fn session(pid: i32) -> Option<i32> {
    procfs::process::Process::new(pid)
        .ok()?
        .stat()
        .ok()
        .map(|s| s.session)
}

/// Whether a process runs (a zombie has ended).
fn is_alive(pid: i32) -> bool {
    procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .is_ok_and(|s| s.state != 'Z')
}

// ---------------------------------------------------------------------------------

/// The stack every case shares, started by the first case that runs.
struct Shared {
    runtime: tokio::runtime::Runtime,
    log_dir: PathBuf,
    ctx: OnceLock<Result<Arc<Ctx>, String>>,
}

impl Shared {
    fn ctx(&self) -> Result<Arc<Ctx>, String> {
        self.ctx
            .get_or_init(|| {
                self.runtime.block_on(async {
                    let started = Instant::now();
                    let stack = Stack::start(StackOptions::for_tests(self.log_dir.clone()))
                        .await
                        .map_err(|e| {
                            format!(
                                "starting the local stack: {e} (logs in {})",
                                self.log_dir.display()
                            )
                        })?;
                    eprintln!("stack started in {:.1} s", started.elapsed().as_secs_f64());
                    let http = reqwest::Client::builder()
                        .timeout(Duration::from_secs(60))
                        .build()
                        .map_err(|e| e.to_string())?;
                    Ok(Arc::new(Ctx {
                        stack,
                        http,
                        forged: Mutex::new(Vec::new()),
                        stopped: tokio::sync::Mutex::new(None),
                    }))
                })
            })
            .clone()
    }

    /// A named case: runs `case` against the shared stack on the runtime.
    fn trial<F>(self: &Arc<Self>, name: &str, case: fn(Arc<Ctx>) -> F) -> libtest_mimic::Trial
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let shared = self.clone();
        libtest_mimic::Trial::test(name, move || {
            let ctx = shared.ctx()?;
            // A task of its own: a panic fails this case, not the runtime.
            let task = shared.runtime.spawn(case(ctx));
            match shared.runtime.block_on(task) {
                Ok(()) => Ok(()),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => Err(e.to_string().into()),
            }
        })
    }
}

macro_rules! cases {
    ($shared:expr, $($name:ident),* $(,)?) => {
        vec![$($shared.trial(stringify!($name), $name)),*]
    };
}

fn main() {
    let mut args = libtest_mimic::Arguments::from_args();
    // The cases share one stack and count its requests: one at a time, in this order.
    args.test_threads = Some(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let log_dir = std::env::temp_dir().join(format!("local-stack-e2e-{}", uuid::Uuid::new_v4()));
    let shared = Arc::new(Shared {
        runtime,
        log_dir,
        ctx: OnceLock::new(),
    });
    let cases = cases![
        shared,
        seed_002_walkthrough,
        token_endpoint_and_keys,
        policy_cache,
        gateway_routing,
        token_cache_example,
        token_cache_get_client_token,
        idempotency_key_posted_twice,
        pages_of_fifty_list_every_event_once,
        event_survives_a_function_restart,
        ingest_fixture_batch_lands_in_the_api,
        ingest_bad_messages_go_to_the_dead_letter_queue,
        ingest_fifty_invocations_one_token_request,
        ingest_api_down_reports_every_message_then_redelivery_creates_each_once,
        ingest_a_new_process_takes_the_fleet_token_from_the_table,
        ingest_reads_its_secret_from_secrets_manager,
        ingest_from_the_queue_through_the_event_source,
        stop_leaves_no_process_behind,
        logs_hold_no_token_or_secret,
    ];
    let conclusion = libtest_mimic::run(&args, cases);
    // Whatever ran or failed: nothing of the stack outlives the binary.
    if let Some(Ok(ctx)) = shared.ctx.get() {
        shared.runtime.block_on(ctx.stop());
    }
    if conclusion.has_failed() {
        eprintln!("stack logs in {}", shared.log_dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&shared.log_dir);
    }
    conclusion.exit();
}
