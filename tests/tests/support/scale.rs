//! The generated 300-route API on the local stack, for `scale_e2e.rs` and the
//! `policy_scope` example: the weather API plus 296 routes of the authorizer's
//! generated table (`authorizer/tests/support/generate.rs`, included by the crate
//! root as `generate`), the whole table in a `ROUTE_SCOPES_FILE` the authorizer
//! reads at init, and either of the template's two authorizers.
#![allow(unreachable_pub, dead_code)] // shared by a test crate and an example, each using a part

use local_stack::cognito::unix_now;
use local_stack::template::{Event, Expr, ResourceKind, StackModel, Template};
use local_stack::{Stack, StackOptions};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use crate::generate;

/// What one cached authorizer answer covers: `Token` is the template as deployed
/// (`CognitoScopeAuthorizer`, TOKEN); `Route` switches it as `template.yaml`'s
/// comment describes (`CognitoRouteAuthorizer`, REQUEST cached by token, method
/// and resource path, and `POLICY_SCOPE=route`).
pub use authorizer::PolicyScope;

/// Routes added to the weather API's four.
pub const GENERATED: usize = 296;

/// The generated routes served (all with scopes: the service client's access
/// tokens are what the tests send).
pub fn generated() -> Vec<generate::GenRoute> {
    generate::routes(GENERATED + 20)
        .into_iter()
        .filter(|(_, s)| !s.is_empty())
        .take(GENERATED)
        .collect()
}

/// Every scope of the generated routes.
pub fn every_scope() -> Vec<String> {
    let mut s: Vec<String> = generated().into_iter().flat_map(|(_, s)| s).collect();
    s.sort();
    s.dedup();
    s
}

/// A concrete path of a route template: `v7` for each `{param}`, `a/b` for a proxy.
pub fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|s| match s {
            "{proxy+}" => "a/b",
            s if s.starts_with('{') => "v7",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The workspace's template with the generated routes added to weather-api, the
/// whole table in `dir/routes.json` (named by its absolute path), and `scope`'s
/// authorizer.
pub fn model(dir: &std::path::Path, scope: PolicyScope) -> StackModel {
    let mut doc = Template::load_document(Template::workspace_path()).unwrap();
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
    for (i, (key, scopes)) in generated().iter().enumerate() {
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
    let env = &mut authorizer.environment.variables;
    env.insert(
        "ROUTE_SCOPES_FILE".into(),
        Expr::Literal(file.display().to_string()),
    );
    if scope == PolicyScope::Route {
        env.insert("POLICY_SCOPE".into(), Expr::Literal("route".into()));
        let api = doc
            .resources
            .values_mut()
            .find_map(|r| match &mut r.kind {
                ResourceKind::Api(api) => Some(api),
                _ => None,
            })
            .unwrap();
        api.auth.as_mut().unwrap().default_authorizer = Some("CognitoRouteAuthorizer".into());
    }
    StackModel::from_document_in(&doc, dir).unwrap()
}

/// The stack on [`model`], and a client of it.
pub struct Api {
    pub stack: Stack,
    pub http: reqwest::Client,
}

impl Api {
    /// Starts the stack with the generated API in `dir`.
    pub async fn start(dir: &std::path::Path, scope: PolicyScope) -> Self {
        let mut options = StackOptions::for_tests(dir.join("logs"));
        options.model = Some(model(dir, scope));
        let stack = Stack::start(options).await.expect("the stack starts");
        Self {
            stack,
            http: reqwest::Client::new(),
        }
    }

    /// A Cognito access token of the service client with these scopes, signed by the
    /// local pool's key (the client's allowed scopes are the template's; these are
    /// the generated API's).
    pub fn token(&self, scope: &str) -> String {
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

    /// The status of `method path` with `token` (none when `None`).
    pub async fn status(&self, method: &str, path: &str, token: Option<&str>) -> StatusCode {
        let method: reqwest::Method = method.parse().unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.stack.api_url));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        request.send().await.unwrap().status()
    }
}

/// Whether the authorizer (or its cached answer) let the request through.
pub fn allowed(s: StatusCode) -> bool {
    s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN
}
