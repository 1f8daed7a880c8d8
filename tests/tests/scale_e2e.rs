//! End to end at scale: the local API Gateway, the real authorizer under `cargo lambda
//! watch` and weather-api, with the weather API plus a generated API of 296 more routes
//! (300 in all; the authorizer's generated table, `authorizer/tests/support/generate.rs`),
//! the table in a `ROUTE_SCOPES_FILE` the authorizer reads at init. Its own binary, so
//! the shared harness of `local_stack_e2e.rs` stays as it is.
//!
//! Shows, through real HTTP: a token's one cached policy (one authorizer invocation)
//! opens exactly the routes its scopes allow across the large table; a token allowed
//! every route gets the 8 KiB-bounded answer narrowed to its first request (its other
//! routes refused while cached), as `authorizer/README.md` documents for
//! `POLICY_SCOPE=token`.

#[path = "../../authorizer/tests/support/generate.rs"]
mod generate;

use local_stack::cognito::unix_now;
use local_stack::template::{Event, Expr, ResourceKind, StackModel, Template};
use local_stack::{Stack, StackOptions};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

const GENERATED: usize = 296;

/// The workspace's template with the generated routes added to weather-api and the
/// whole table in `dir/routes.json`, named by its absolute path.
fn model(dir: &std::path::Path) -> StackModel {
    let mut doc = Template::load_document(Template::workspace_path()).unwrap();
    let generated: Vec<_> = generate::routes(GENERATED + 20)
        .into_iter()
        .filter(|(_, s)| !s.is_empty())
        .take(GENERATED)
        .collect();
    let weather = std::fs::read_to_string(
        Template::workspace_path()
            .parent()
            .unwrap()
            .join(authorizer::BUILT_IN_ROUTE_SCOPES.0),
    )
    .unwrap();
    let mut table: Map<String, Value> = serde_json::from_str(&weather).unwrap();
    let function = doc
        .resources
        .values_mut()
        .find(|r| r.metadata.build_properties.binary.as_deref() == Some("weather-api"))
        .unwrap();
    let ResourceKind::Function(f) = &mut function.kind else {
        unreachable!()
    };
    let Some(Event::Api(template_event)) = f.events.values().next().cloned() else {
        panic!("weather-api has an Api event")
    };
    for (i, (key, scopes)) in generated.iter().enumerate() {
        let (method, path) = key.split_once(' ').unwrap();
        let mut event = template_event.clone();
        event.method = method.into();
        event.path = path.into();
        f.events.insert(format!("Generated{i}"), Event::Api(event));
        table.insert(key.clone(), json!(scopes));
    }
    assert_eq!(table.len(), 300);
    let file = dir.join("routes.json");
    std::fs::write(&file, Value::Object(table).to_string()).unwrap();
    let ResourceKind::Function(authorizer) = &mut doc
        .resources
        .values_mut()
        .find(|r| r.metadata.build_properties.binary.as_deref() == Some("authorizer"))
        .unwrap()
        .kind
    else {
        unreachable!()
    };
    authorizer.environment.variables.insert(
        "ROUTE_SCOPES_FILE".into(),
        Expr::Literal(file.display().to_string()),
    );
    StackModel::from_document_in(&doc, dir).unwrap()
}

struct Api {
    stack: Stack,
    http: reqwest::Client,
}

impl Api {
    /// A Cognito access token of the service client with these scopes, signed by the
    /// local pool's key (the client's allowed scopes are the template's; these are the
    /// generated API's).
    fn token(&self, scope: &str) -> String {
        let config = self.stack.cognito.config();
        let client = &config.client("ServiceClient").unwrap().client_id;
        let now = unix_now();
        let claims = json!({
            "sub": client, "token_use": "access", "scope": scope, "auth_time": now,
            "iss": self.stack.cognito.issuer(), "exp": now + 3600, "iat": now, "version": 2,
            "jti": uuid::Uuid::new_v4().to_string(), "client_id": client,
        });
        self.stack.cognito.signer().sign(&claims).unwrap()
    }

    async fn status(&self, method: &str, path: &str, token: &str) -> StatusCode {
        let method: reqwest::Method = method.parse().unwrap();
        self.http
            .request(method, format!("{}{path}", self.stack.api_url))
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap()
            .status()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_route_api_behind_the_local_gateway() {
    let dir = std::env::temp_dir().join(format!("scale-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut options = StackOptions::for_tests(dir.join("logs"));
    options.model = Some(model(&dir));
    let stack = Stack::start(options).await.expect("the stack starts");
    let api = Api {
        stack,
        http: reqwest::Client::new(),
    };
    let allowed = |s: StatusCode| s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN;

    // One token, one policy for the whole table: weather reads and orders reads.
    let reader = api.token("weather-api/get api/orders.read");
    let before = api.stack.gateway.authorizer_invocations();
    assert_eq!(api.status("GET", "/events", &reader).await, StatusCode::OK);
    for (method, path) in [
        ("GET", "/orders"),
        ("GET", "/orders/v7"),
        ("GET", "/orders/v7/items/v9"),
    ] {
        let s = api.status(method, path, &reader).await;
        assert!(allowed(s), "{method} {path}: {s}");
    }
    for (method, path) in [
        ("DELETE", "/orders/v7"),
        ("POST", "/orders"),
        ("GET", "/accounts/v7"),
        ("DELETE", "/events/1"),
    ] {
        let s = api.status(method, path, &reader).await;
        assert_eq!(
            s,
            StatusCode::FORBIDDEN,
            "{method} {path}: refused by the cached policy"
        );
    }
    assert_eq!(
        api.stack.gateway.authorizer_invocations() - before,
        1,
        "one authorizer answer, cached, decided every request"
    );

    // Every scope of the generated API: the full policy would exceed 8 KiB, so the
    // answer is narrowed to the first request, and cached as such.
    let all: Vec<String> = {
        let mut s: Vec<String> = generate::routes(GENERATED + 20)
            .into_iter()
            .flat_map(|(_, s)| s)
            .collect();
        s.sort();
        s.dedup();
        s
    };
    let everything = api.token(&all.join(" "));
    let s = api.status("GET", "/accounts/v7", &everything).await;
    assert!(allowed(s), "the first request: {s}");
    assert_eq!(
        api.status("GET", "/orders/v7", &everything).await,
        StatusCode::FORBIDDEN,
        "narrowed: the token's other routes wait for the cache to expire"
    );
    // Without scopes for a generated route: refused by the authorizer itself.
    let none = api.token("weather-api/get");
    assert_eq!(
        api.status("GET", "/orders/v7", &none).await,
        StatusCode::UNAUTHORIZED
    );

    api.stack.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}
