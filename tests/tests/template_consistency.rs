//! template.yaml is consistent: the routes API Gateway serves, the scopes the authorizer
//! requires for them (`ROUTE_SCOPES`), the scopes the resource server defines and the
//! scopes each app client may ask for all agree, and the authorizer is wired as the
//! design requires.
//!
//! Every rule is a [`Violation`]; `the_template_is_consistent` runs them all on the real
//! template. Each `*_fires` test makes one edit to the real template's typed
//! [`Document`] (never to its text, so reformatting `template.yaml` breaks nothing) and
//! shows that its rule, and only a rule about that edit, reports it, so no rule can
//! silently pass.

use std::collections::{BTreeMap, BTreeSet};

use local_stack::template::{
    ApiEvent, ApiProperties, AuthorizerProperties, Document, Event, Expr, Method, PayloadType,
    Resource, ResourceKind, RouteAuth, RouteKey, RouteTarget, StackModel, Template, TemplateError,
    UserPoolClientProperties,
};
use serde_json::{Map, Value, json};

/// The app client that may read and create but never delete (seed 002).
const SERVICE_CLIENT: &str = "ServiceClient";
/// The app client that may only read.
const READ_ONLY_CLIENT: &str = "ReadOnlyClient";
const DELETE_SCOPE: &str = "weather-api/delete";
const OUTPUTS: [&str; 5] = [
    "ApiUrl",
    "TokenUrl",
    "UserPoolId",
    "ServiceClientId",
    "ReadOnlyClientId",
];

/// One way the template can be inconsistent.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Violation {
    /// An API route the authorizer has no `ROUTE_SCOPES` entry for (it would deny it).
    RouteWithoutScopes(RouteKey),
    /// A `ROUTE_SCOPES` entry for a route the API does not have.
    ScopesWithoutRoute(RouteKey),
    /// A `ROUTE_SCOPES` entry with no scope at all.
    EmptyScopes(RouteKey),
    /// A function route reachable without the Lambda authorizer.
    RouteNotAuthorized(RouteKey),
    /// A scope named somewhere that no resource server defines.
    UndefinedScope { scope: String, named_by: String },
    /// A client may ask for other scopes than it should.
    ClientScopes {
        client: &'static str,
        expected: BTreeSet<String>,
        found: BTreeSet<String>,
    },
    /// The service client may ask for `weather-api/delete` (seed 002 says it must not).
    ServiceClientMayDelete,
    /// A required client is absent.
    MissingClient(&'static str),
    /// A client is not a confidential client_credentials client of the resource server.
    NotClientCredentials { client: String, problem: String },
    /// The authorizer does not accept tokens of every client (or accepts foreign ones).
    AppClientIds {
        expected: BTreeSet<String>,
        found: BTreeSet<String>,
    },
    /// `USER_POOL_ID` is not the template's user pool.
    UserPoolId(Expr),
    /// A CORS preflight goes through the authorizer (browsers send no token on it).
    PreflightAuthorized(RouteKey),
    /// No CORS preflight at all.
    NoPreflight,
    /// The policy cache TTL is not 300 seconds.
    ReauthorizeEvery(Option<u32>),
    /// An authorizer's cache key lacks the token's `Authorization` header: one
    /// token's cached answer would be applied to requests with another token.
    AuthorizerIdentity {
        authorizer: String,
        identity: Vec<String>,
    },
    /// `POLICY_SCOPE` is neither `token` nor `route` (or not resolvable).
    PolicyScope(Option<Expr>),
    /// `POLICY_SCOPE=route` while an authorizer a route uses is not a REQUEST
    /// authorizer cached by `context.httpMethod` and `context.resourcePath`: a
    /// one-route answer would be reused on other routes, and its pattern
    /// (`GET/users/*`) can open a refused deeper route (`GET /users/{id}/keys`); a
    /// TOKEN authorizer gets an error for every request (the function refuses TOKEN
    /// events in this mode).
    RouteScopeNotPerRoute {
        authorizer: String,
        payload: PayloadType,
        identity: Vec<String>,
    },
    /// `POLICY_SCOPE=token` while a token some client can get (or one holding every
    /// scope the resource servers define) would get a policy over 8 KiB: the answer is
    /// narrowed to one request, refusing the token's other routes while cached.
    TokenPolicyTooLarge { holder: String, bytes: usize },
    /// A Gateway Response lacks what clients rely on.
    GatewayResponse { kind: &'static str, problem: String },
    /// A function builds another binary than the one it runs.
    Binary {
        function: String,
        expected: &'static str,
        found: Option<String>,
    },
    /// `ROUTE_SCOPES_FILE` names a file the authorizer does not compile in:
    /// `sam build` packages only the binary, so the deployed function would not find it.
    RouteScopesFileNotBuiltIn(String),
    /// No user pool domain, so no `/oauth2/token`.
    NoTokenEndpoint,
    /// A required output is absent.
    MissingOutput(&'static str),
}

fn check(model: &StackModel) -> Vec<Violation> {
    let mut found = Vec::new();
    check_routes(model, &mut found);
    check_scopes_defined(model, &mut found);
    check_clients(model, &mut found);
    check_authorizer(model, &mut found);
    check_gateway_responses(model, &mut found);
    check_binaries(model, &mut found);
    if model.domain.is_none() {
        found.push(Violation::NoTokenEndpoint);
    }
    for output in OUTPUTS {
        if !model.outputs.contains(output) {
            found.push(Violation::MissingOutput(output));
        }
    }
    found
}

fn check_routes(model: &StackModel, found: &mut Vec<Violation>) {
    let table = &model.authorizer.route_scopes;
    let routes: BTreeSet<&RouteKey> = model.function_routes().map(|r| &r.key).collect();
    for route in model.function_routes() {
        if table.get(&route.key).is_none() {
            found.push(Violation::RouteWithoutScopes(route.key.clone()));
        }
        if !matches!(&route.auth, RouteAuth::Authorizer(name)
            if model.api.authorizers[name].function == model.authorizer.function)
        {
            found.push(Violation::RouteNotAuthorized(route.key.clone()));
        }
    }
    for listed in table.routes() {
        if !routes.contains(&listed.key) {
            found.push(Violation::ScopesWithoutRoute(listed.key.clone()));
        }
        if listed.scopes.is_empty() {
            found.push(Violation::EmptyScopes(listed.key.clone()));
        }
    }
    let mut preflights = 0;
    for route in model
        .routes
        .iter()
        .filter(|r| r.key.method() == Method::Options)
    {
        preflights += 1;
        if route.auth != RouteAuth::None {
            found.push(Violation::PreflightAuthorized(route.key.clone()));
        }
    }
    if preflights == 0 {
        found.push(Violation::NoPreflight);
    }
}

fn check_scopes_defined(model: &StackModel, found: &mut Vec<Violation>) {
    let defined = model.defined_scopes();
    for route in model.authorizer.route_scopes.routes() {
        for scope in route.scopes.iter().filter(|s| !defined.contains(*s)) {
            found.push(Violation::UndefinedScope {
                scope: scope.to_owned(),
                named_by: format!("ROUTE_SCOPES {}", route.key),
            });
        }
    }
    for client in model.clients.values() {
        for scope in client
            .allowed_scopes
            .iter()
            .filter(|s| !defined.contains(*s))
        {
            found.push(Violation::UndefinedScope {
                scope: scope.clone(),
                named_by: format!("client {}", client.logical_id),
            });
        }
    }
}

fn scopes(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn check_clients(model: &StackModel, found: &mut Vec<Violation>) {
    let expectations = [
        (
            SERVICE_CLIENT,
            scopes(&["weather-api/get", "weather-api/post"]),
        ),
        (READ_ONLY_CLIENT, scopes(&["weather-api/get"])),
    ];
    for (name, expected) in expectations {
        match model.client(name) {
            None => found.push(Violation::MissingClient(name)),
            Some(client) if client.allowed_scopes != expected => {
                found.push(Violation::ClientScopes {
                    client: name,
                    expected,
                    found: client.allowed_scopes.clone(),
                })
            }
            Some(_) => {}
        }
    }
    if model
        .client(SERVICE_CLIENT)
        .is_some_and(|c| c.allowed_scopes.contains(DELETE_SCOPE))
    {
        found.push(Violation::ServiceClientMayDelete);
    }

    let servers: BTreeSet<&str> = model
        .resource_servers
        .iter()
        .map(|s| s.logical_id.as_str())
        .collect();
    let pool = Expr::Ref(model.user_pool.logical_id.clone());
    for client in model.clients.values() {
        let mut problems = Vec::new();
        if client.oauth_flows != scopes(&["client_credentials"]) {
            problems.push(format!("flows {:?}", client.oauth_flows));
        }
        if !client.oauth_flows_enabled {
            problems.push("AllowedOAuthFlowsUserPoolClient is not true".to_owned());
        }
        if !client.generate_secret {
            problems.push("no client secret".to_owned());
        }
        if client.identity_providers != scopes(&["COGNITO"]) {
            problems.push(format!(
                "identity providers {:?}",
                client.identity_providers
            ));
        }
        if client.user_pool != pool {
            problems.push(format!("user pool {:?}", client.user_pool));
        }
        if !servers.iter().all(|s| client.depends_on.contains(*s)) {
            problems.push("does not depend on the resource server".to_owned());
        }
        if model.access_token_validity_seconds(client).is_none() {
            problems.push("access token validity does not resolve".to_owned());
        }
        for problem in problems {
            found.push(Violation::NotClientCredentials {
                client: client.logical_id.clone(),
                problem,
            });
        }
    }
}

fn check_authorizer(model: &StackModel, found: &mut Vec<Violation>) {
    let settings = &model.authorizer;
    let expected: BTreeSet<String> = model.clients.keys().cloned().collect();
    let ids: BTreeSet<String> = settings
        .app_client_ids
        .refs()
        .into_iter()
        .map(str::to_owned)
        .collect();
    if ids != expected {
        found.push(Violation::AppClientIds {
            expected,
            found: ids,
        });
    }
    if let Some(file) = &settings.route_scopes_file
        && file != authorizer::BUILT_IN_ROUTE_SCOPES.0
    {
        found.push(Violation::RouteScopesFileNotBuiltIn(file.clone()));
    }
    if settings.user_pool_id.as_ref_name() != Some(model.user_pool.logical_id.as_str()) {
        found.push(Violation::UserPoolId(settings.user_pool_id.clone()));
    }
    for authorizer in model.api.authorizers.values() {
        if authorizer.reauthorize_every != Some(300) {
            found.push(Violation::ReauthorizeEvery(authorizer.reauthorize_every));
        }
        if !authorizer
            .token_header()
            .is_some_and(|h| h.eq_ignore_ascii_case("Authorization"))
        {
            found.push(Violation::AuthorizerIdentity {
                authorizer: authorizer.name.clone(),
                identity: authorizer
                    .identity
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            });
        }
    }
    check_policy_scope(model, found);
}

/// `POLICY_SCOPE` agrees with what the cache key of every authorizer a route uses
/// covers, and in `token` mode every token a client can hold gets its whole policy.
fn check_policy_scope(model: &StackModel, found: &mut Vec<Violation>) {
    // The authorizers of the function's routes, the default included (routes
    // without their own `Auth.Authorizer` resolve to it).
    let used: BTreeSet<&String> = model
        .function_routes()
        .filter_map(|r| match &r.auth {
            RouteAuth::Authorizer(name) => Some(name),
            RouteAuth::None => None,
        })
        .collect();
    let scope = match &model.authorizer.policy_scope {
        None => Some("token".to_owned()),
        Some(expr) => model.resolve(expr),
    };
    match scope.as_deref() {
        Some("route") => {
            for a in used
                .iter()
                .filter_map(|name| model.api.authorizers.get(*name))
                .filter(|a| a.function == model.authorizer.function)
            {
                let per_route = a.payload == PayloadType::Request
                    && (a.reauthorize_every == Some(0)
                        || a.has_context("httpMethod") && a.has_context("resourcePath"));
                if !per_route {
                    found.push(Violation::RouteScopeNotPerRoute {
                        authorizer: a.name.clone(),
                        payload: a.payload,
                        identity: a.identity.iter().map(ToString::to_string).collect(),
                    });
                }
            }
        }
        Some("token") => {
            let table = &model.authorizer.route_scopes;
            let every_scope: BTreeSet<String> = model
                .resource_servers
                .iter()
                .flat_map(|s| s.full_scopes())
                .collect();
            let holders = model
                .clients
                .values()
                .map(|c| (c.logical_id.clone(), c.allowed_scopes.clone()))
                .chain([("every defined scope".to_owned(), every_scope)]);
            for (holder, scopes) in holders {
                let claim = scopes.into_iter().collect::<Vec<_>>().join(" ");
                let plan =
                    authorizer::PolicyPlan::for_table(table, |r| r.scopes.any_granted_by(&claim));
                // A method ARN's prefix is about 60 bytes, as the authorizer assumes.
                if !plan.fits(64, None) {
                    found.push(Violation::TokenPolicyTooLarge {
                        holder,
                        bytes: plan.document_bytes(64),
                    });
                }
            }
        }
        _ => found.push(Violation::PolicyScope(
            model.authorizer.policy_scope.clone(),
        )),
    }
}

fn check_gateway_responses(model: &StackModel, found: &mut Vec<Violation>) {
    let expectations: [(&'static str, u16, Option<&str>); 2] = [
        ("UNAUTHORIZED", 401, None),
        ("ACCESS_DENIED", 403, Some("error=\"insufficient_scope\"")),
    ];
    for (kind, status, must_contain) in expectations {
        let mut problem = |p: String| found.push(Violation::GatewayResponse { kind, problem: p });
        let Some(response) = model.api.gateway_responses.get(kind) else {
            problem("absent".to_owned());
            continue;
        };
        if response.status_code != Some(status) {
            problem(format!("status {:?}, not {status}", response.status_code));
        }
        match response.headers.get("WWW-Authenticate") {
            Some(v) if v.starts_with("Bearer") && must_contain.is_none_or(|m| v.contains(m)) => {}
            other => problem(format!("WWW-Authenticate {other:?}")),
        }
        if !response.headers.contains_key("Access-Control-Allow-Origin") {
            problem("no Access-Control-Allow-Origin".to_owned());
        }
        if !response.templates.contains_key("application/json") {
            problem("no application/json body".to_owned());
        }
    }
}

fn check_binaries(model: &StackModel, found: &mut Vec<Violation>) {
    let mut expect = |function: &str, expected: &'static str| {
        let binary = model.functions.get(function).and_then(|f| f.binary.clone());
        if binary.as_deref() != Some(expected) {
            found.push(Violation::Binary {
                function: function.to_owned(),
                expected,
                found: binary,
            });
        }
    };
    expect(&model.authorizer.function, "authorizer");
    let api_functions: BTreeSet<&str> = model
        .routes
        .iter()
        .filter_map(|r| match &r.target {
            RouteTarget::Function { function, .. } => Some(function.as_str()),
            RouteTarget::CorsPreflight => None,
        })
        .collect();
    for function in api_functions {
        expect(function, "weather-api");
    }
}

// -------------------------------------------------------------------------------------

fn real_document() -> Document {
    Template::load_document(Template::workspace_path()).expect("template.yaml reads")
}

fn real() -> StackModel {
    Template::load(Template::workspace_path()).expect("template.yaml models")
}

/// The real template with one edit of its typed document, modelled.
fn try_mutated(edit: impl FnOnce(&mut Document)) -> Result<StackModel, TemplateError> {
    let mut doc = real_document();
    edit(&mut doc);
    StackModel::from_document(&doc)
}

fn mutated(edit: impl FnOnce(&mut Document)) -> StackModel {
    try_mutated(edit).expect("mutated template still models")
}

fn key(s: &str) -> RouteKey {
    s.parse().expect("route key")
}

fn resource<'a>(doc: &'a mut Document, id: &str) -> &'a mut ResourceKind {
    &mut doc
        .resources
        .get_mut(id)
        .unwrap_or_else(|| panic!("no resource {id}"))
        .kind
}

fn client<'a>(doc: &'a mut Document, id: &str) -> &'a mut UserPoolClientProperties {
    match resource(doc, id) {
        ResourceKind::UserPoolClient(c) => c,
        other => panic!("{id} is not a client: {other:?}"),
    }
}

fn api(doc: &mut Document) -> &mut ApiProperties {
    doc.resources
        .values_mut()
        .find_map(|r| match &mut r.kind {
            ResourceKind::Api(api) => Some(api.as_mut()),
            _ => None,
        })
        .expect("an API")
}

fn authorizer(doc: &mut Document) -> &mut AuthorizerProperties {
    let auth = api(doc).auth.as_mut().expect("Auth");
    let name = auth.default_authorizer.clone().expect("DefaultAuthorizer");
    auth.authorizers
        .get_mut(&name)
        .expect("the default authorizer")
}

fn function<'a>(doc: &'a mut Document, binary: &str) -> &'a mut Resource {
    doc.resources
        .values_mut()
        .find(|r| r.metadata.build_properties.binary.as_deref() == Some(binary))
        .unwrap_or_else(|| panic!("no function builds {binary}"))
}

/// The `Api` event of the route `key` (`"GET /events"`), whichever function has it.
fn api_event<'a>(doc: &'a mut Document, key: &str) -> &'a mut ApiEvent {
    let (method, path) = key.split_once(' ').unwrap();
    doc.resources
        .values_mut()
        .filter_map(|r| match &mut r.kind {
            ResourceKind::Function(f) => Some(f),
            _ => None,
        })
        .flat_map(|f| f.events.values_mut())
        .find_map(|e| match e {
            Event::Api(e) if e.method.eq_ignore_ascii_case(method) && e.path == path => Some(e),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no event for {key}"))
}

fn authorizer_env(doc: &mut Document) -> &mut BTreeMap<String, Expr> {
    let ResourceKind::Function(f) = &mut function(doc, "authorizer").kind else {
        unreachable!("functions build binaries")
    };
    &mut f.environment.variables
}

/// Edits the authorizer's route table as the JSON object it is: the table of
/// `ROUTE_SCOPES_FILE` (read from the workspace) becomes an edited `ROUTE_SCOPES`.
fn edit_route_scopes(doc: &mut Document, edit: impl FnOnce(&mut Map<String, Value>)) {
    let env = authorizer_env(doc);
    let json = match env.remove("ROUTE_SCOPES_FILE") {
        Some(Expr::Literal(file)) => {
            let root = Template::workspace_path();
            std::fs::read_to_string(root.parent().unwrap().join(file)).expect("the table file")
        }
        Some(other) => panic!("ROUTE_SCOPES_FILE is a literal: {other:?}"),
        None => match env.get("ROUTE_SCOPES") {
            Some(Expr::Literal(json)) => json.clone(),
            other => panic!("ROUTE_SCOPES is a literal: {other:?}"),
        },
    };
    let mut table: Map<String, Value> = serde_json::from_str(&json).expect("a JSON object");
    edit(&mut table);
    env.insert(
        "ROUTE_SCOPES".into(),
        Expr::Literal(Value::Object(table).to_string()),
    );
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_template_is_consistent() {
    assert_eq!(check(&real()), Vec::<Violation>::new());
}

#[test]
fn model_mirrors_the_deployed_configuration() {
    let m = real();
    let server = &m.resource_servers[..];
    assert_eq!(server.len(), 1);
    assert_eq!(server[0].identifier, "weather-api");
    assert_eq!(
        server[0].full_scopes(),
        scopes(&["weather-api/get", "weather-api/post", "weather-api/delete"])
    );
    assert!(server[0].scopes.iter().all(|s| !s.description.is_empty()));

    let function_routes: BTreeSet<String> =
        m.function_routes().map(|r| r.key.to_string()).collect();
    assert_eq!(
        function_routes,
        scopes(&[
            "GET /events",
            "POST /events",
            "GET /events/{id}",
            "DELETE /events/{id}"
        ])
    );
    let preflights: BTreeSet<String> = m.preflight_routes().map(|r| r.key.to_string()).collect();
    assert_eq!(
        preflights,
        scopes(&["OPTIONS /events", "OPTIONS /events/{id}"])
    );
    assert_eq!(
        m.authorizer
            .route_scopes
            .get(&key("DELETE /events/{id}"))
            .map(|r| r.scopes.iter().collect::<Vec<_>>()),
        Some(vec![DELETE_SCOPE])
    );

    let authorizer = &m.api.authorizers[m.api.default_authorizer.as_deref().unwrap()];
    assert_eq!(authorizer.function, "AuthorizerFunction");
    assert_eq!(authorizer.payload, PayloadType::Token);
    assert_eq!(
        m.authorizer.policy_scope,
        Some(Expr::Literal("token".into()))
    );

    // Token validity resolves through the parameter's default: 60 minutes.
    let service = m.client(SERVICE_CLIENT).unwrap();
    assert_eq!(m.access_token_validity_seconds(service), Some(3600));
    assert_eq!(m.user_pool.logical_id, "UserPool");
    assert_eq!(
        m.domain.as_ref().map(|d| &d.domain),
        Some(&Expr::Ref("DomainPrefix".into()))
    );
    assert_eq!(
        m.authorizer.insufficient_scope,
        Some(Expr::Ref("InsufficientScope".into()))
    );
    let cors = m.api.cors.as_ref().unwrap();
    assert_eq!(cors.allow_origin, "*");
    assert!(
        cors.allow_headers
            .as_deref()
            .unwrap()
            .contains("Authorization")
    );
}

// Each rule fires. ------------------------------------------------------------------

#[test]
fn route_without_scopes_and_scopes_without_route_fire() {
    let m = mutated(|d| api_event(d, "DELETE /events/{id}").method = "PUT".into());
    let v = check(&m);
    assert!(
        v.contains(&Violation::RouteWithoutScopes(key("PUT /events/{id}"))),
        "{v:?}"
    );
    assert!(
        v.contains(&Violation::ScopesWithoutRoute(key("DELETE /events/{id}"))),
        "{v:?}"
    );
}

#[test]
fn empty_scope_list_fires() {
    let m = mutated(|d| {
        edit_route_scopes(d, |t| {
            t.insert("GET /events".into(), json!([]));
        })
    });
    assert_eq!(check(&m), vec![Violation::EmptyScopes(key("GET /events"))]);
}

#[test]
fn public_route_fires() {
    let m = mutated(|d| api_event(d, "GET /events").auth.authorizer = Some("NONE".into()));
    assert_eq!(
        check(&m),
        vec![Violation::RouteNotAuthorized(key("GET /events"))]
    );
}

#[test]
fn undefined_scope_in_route_scopes_fires() {
    let m = mutated(|d| {
        edit_route_scopes(d, |t| {
            t.insert("POST /events".into(), json!(["weather-api/put"]));
        })
    });
    assert_eq!(
        check(&m),
        vec![Violation::UndefinedScope {
            scope: "weather-api/put".into(),
            named_by: "ROUTE_SCOPES POST /events".into(),
        }]
    );
}

#[test]
fn undefined_scope_in_client_fires() {
    let m = mutated(|d| {
        client(d, READ_ONLY_CLIENT).allowed_oauth_scopes = strings(&["weather-api/read"])
    });
    let v = check(&m);
    assert!(
        v.contains(&Violation::UndefinedScope {
            scope: "weather-api/read".into(),
            named_by: "client ReadOnlyClient".into(),
        }),
        "{v:?}"
    );
}

#[test]
fn scope_removed_from_resource_server_fires_for_routes_and_clients() {
    let m = mutated(|d| {
        for r in d.resources.values_mut() {
            if let ResourceKind::ResourceServer(server) = &mut r.kind {
                for scope in server.scopes.iter_mut().filter(|s| s.scope_name == "get") {
                    scope.scope_name = "read".into();
                }
            }
        }
    });
    let v = check(&m);
    for named_by in [
        "ROUTE_SCOPES GET /events",
        "ROUTE_SCOPES GET /events/{id}",
        "client ServiceClient",
        "client ReadOnlyClient",
    ] {
        assert!(
            v.contains(&Violation::UndefinedScope {
                scope: "weather-api/get".into(),
                named_by: named_by.into(),
            }),
            "{named_by}: {v:?}"
        );
    }
}

#[test]
fn service_client_allowed_delete_fires() {
    let m = mutated(|d| {
        client(d, SERVICE_CLIENT)
            .allowed_oauth_scopes
            .push(DELETE_SCOPE.into())
    });
    let v = check(&m);
    assert!(v.contains(&Violation::ServiceClientMayDelete), "{v:?}");
    assert!(
        v.iter().any(|x| matches!(
            x,
            Violation::ClientScopes {
                client: SERVICE_CLIENT,
                ..
            }
        )),
        "{v:?}"
    );
}

#[test]
fn read_only_client_allowed_more_than_get_fires() {
    let m = mutated(|d| {
        client(d, READ_ONLY_CLIENT)
            .allowed_oauth_scopes
            .push("weather-api/post".into())
    });
    assert_eq!(
        check(&m),
        vec![Violation::ClientScopes {
            client: READ_ONLY_CLIENT,
            expected: scopes(&["weather-api/get"]),
            found: scopes(&["weather-api/get", "weather-api/post"]),
        }]
    );
}

#[test]
fn missing_client_fires() {
    let m = mutated(|d| {
        let c = d.resources.remove(READ_ONLY_CLIENT).expect("the client");
        d.resources.insert("ReaderClient".into(), c);
    });
    let v = check(&m);
    assert!(
        v.contains(&Violation::MissingClient(READ_ONLY_CLIENT)),
        "{v:?}"
    );
    // The authorizer's APP_CLIENT_IDS still names the old one.
    assert!(
        v.iter()
            .any(|x| matches!(x, Violation::AppClientIds { .. })),
        "{v:?}"
    );
}

#[test]
fn client_without_client_credentials_fires() {
    let m = mutated(|d| {
        let c = client(d, SERVICE_CLIENT);
        c.generate_secret = Some(false);
        c.allowed_oauth_flows = strings(&["code"]);
    });
    let v = check(&m);
    let problems: Vec<&str> = v
        .iter()
        .filter_map(|x| match x {
            Violation::NotClientCredentials { client, problem } if client == SERVICE_CLIENT => {
                Some(problem.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(problems.len(), 2, "{v:?}");
    assert!(problems.iter().any(|p| p.contains("flows")), "{v:?}");
    assert!(problems.contains(&"no client secret"), "{v:?}");
}

#[test]
fn app_client_ids_missing_a_client_fires() {
    let m = mutated(|d| {
        authorizer_env(d).insert("APP_CLIENT_IDS".into(), Expr::Ref(SERVICE_CLIENT.into()));
    });
    assert_eq!(
        check(&m),
        vec![Violation::AppClientIds {
            expected: scopes(&["IngestClient", READ_ONLY_CLIENT, SERVICE_CLIENT]),
            found: scopes(&[SERVICE_CLIENT]),
        }]
    );
}

#[test]
fn user_pool_id_not_the_pool_fires() {
    let m = mutated(|d| {
        authorizer_env(d).insert("USER_POOL_ID".into(), Expr::Literal("eu-west-1_abc".into()));
    });
    assert_eq!(
        check(&m),
        vec![Violation::UserPoolId(Expr::Literal("eu-west-1_abc".into()))]
    );
}

#[test]
fn authorized_preflight_fires() {
    let m = mutated(|d| {
        api(d)
            .auth
            .as_mut()
            .unwrap()
            .add_default_authorizer_to_cors_preflight = Some(true)
    });
    assert_eq!(
        check(&m),
        vec![
            Violation::PreflightAuthorized(key("OPTIONS /events")),
            Violation::PreflightAuthorized(key("OPTIONS /events/{id}")),
        ]
    );
}

#[test]
fn preflight_authorized_by_sam_default_fires() {
    // Without the setting SAM puts the default authorizer on OPTIONS too.
    let m = mutated(|d| {
        api(d)
            .auth
            .as_mut()
            .unwrap()
            .add_default_authorizer_to_cors_preflight = None
    });
    assert_eq!(check(&m).len(), 2);
    assert!(m.preflight_routes().all(|r| r.auth != RouteAuth::None));
}

#[test]
fn reauthorize_every_fires() {
    let m = mutated(|d| authorizer(d).identity.reauthorize_every = Some(0));
    assert_eq!(check(&m), vec![Violation::ReauthorizeEvery(Some(0))]);
    let m = mutated(|d| authorizer(d).identity.reauthorize_every = None);
    assert_eq!(check(&m), vec![Violation::ReauthorizeEvery(None)]);
}

#[test]
fn authorizer_identity_fires() {
    let m = mutated(|d| authorizer(d).identity.header = Some("X-Token".into()));
    assert_eq!(
        check(&m),
        vec![Violation::AuthorizerIdentity {
            authorizer: "CognitoScopeAuthorizer".into(),
            identity: strings(&["method.request.header.X-Token"]),
        }]
    );
    // The REQUEST authorizer cached by method and path but not by the token.
    let m = mutated(|d| {
        named_authorizer(d, ROUTE_AUTHORIZER)
            .identity
            .headers
            .clear()
    });
    assert_eq!(
        check(&m),
        vec![Violation::AuthorizerIdentity {
            authorizer: ROUTE_AUTHORIZER.into(),
            identity: strings(&["context.httpMethod", "context.resourcePath"]),
        }]
    );
}

/// The template's per-route authorizer (`POLICY_SCOPE=route`).
const ROUTE_AUTHORIZER: &str = "CognitoRouteAuthorizer";

fn named_authorizer<'a>(doc: &'a mut Document, name: &str) -> &'a mut AuthorizerProperties {
    api(doc)
        .auth
        .as_mut()
        .expect("Auth")
        .authorizers
        .get_mut(name)
        .expect("the authorizer")
}

/// The template switched to per-route answers, as its comment says: the default
/// authorizer and `POLICY_SCOPE`.
fn route_mode(doc: &mut Document) {
    api(doc).auth.as_mut().expect("Auth").default_authorizer = Some(ROUTE_AUTHORIZER.into());
    authorizer_env(doc).insert("POLICY_SCOPE".into(), Expr::Literal("route".into()));
}

#[test]
fn route_mode_as_the_template_describes_it_is_consistent() {
    let m = mutated(route_mode);
    assert_eq!(check(&m), Vec::<Violation>::new());
    let a = &m.api.authorizers[ROUTE_AUTHORIZER];
    assert_eq!(a.payload, PayloadType::Request);
    assert_eq!(
        a.identity
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        strings(&[
            "method.request.header.Authorization",
            "context.httpMethod",
            "context.resourcePath"
        ])
    );
    assert_eq!(a.token_header(), Some("Authorization"));
}

/// What `POLICY_SCOPE=route` on the template's TOKEN authorizer reports.
fn token_authorizer_in_route_mode() -> Violation {
    Violation::RouteScopeNotPerRoute {
        authorizer: "CognitoScopeAuthorizer".into(),
        payload: PayloadType::Token,
        identity: strings(&["method.request.header.Authorization"]),
    }
}

#[test]
fn policy_scope_disagreeing_with_the_authorizer_fires() {
    // Only one of the two settings switched: POLICY_SCOPE=route on the TOKEN authorizer.
    let m = mutated(|d| {
        authorizer_env(d).insert("POLICY_SCOPE".into(), Expr::Literal("route".into()));
    });
    assert_eq!(check(&m), vec![token_authorizer_in_route_mode()]);
    // The REQUEST authorizer without the resource path: one answer per method only.
    let m = mutated(|d| {
        route_mode(d);
        named_authorizer(d, ROUTE_AUTHORIZER).identity.context = strings(&["httpMethod"]);
    });
    assert_eq!(
        check(&m),
        vec![Violation::RouteScopeNotPerRoute {
            authorizer: ROUTE_AUTHORIZER.into(),
            payload: PayloadType::Request,
            identity: strings(&["method.request.header.Authorization", "context.httpMethod"]),
        }]
    );
    // Route mode, but one route keeps the TOKEN authorizer of its own.
    let m = mutated(|d| {
        route_mode(d);
        api_event(d, "GET /events/{id}").auth.authorizer = Some("CognitoScopeAuthorizer".into());
    });
    assert_eq!(check(&m), vec![token_authorizer_in_route_mode()]);
    // The other switch alone: the per-route authorizer, POLICY_SCOPE still token, is
    // consistent (a token-wide answer is right whatever the cache key), so no rule
    // fires; an unknown value does.
    let m = mutated(|d| {
        api(d).auth.as_mut().unwrap().default_authorizer = Some(ROUTE_AUTHORIZER.into());
    });
    assert_eq!(check(&m), Vec::<Violation>::new());
    let m = mutated(|d| {
        authorizer_env(d).insert("POLICY_SCOPE".into(), Expr::Literal("routes".into()));
    });
    assert_eq!(
        check(&m),
        vec![Violation::PolicyScope(Some(Expr::Literal("routes".into())))]
    );
}

#[test]
fn an_authorizer_identity_the_model_cannot_take_is_an_error() {
    // TOKEN takes one Header; REQUEST takes Headers, and needs a source when cached.
    let err =
        try_mutated(|d| authorizer(d).identity.headers = strings(&["Authorization"])).unwrap_err();
    assert!(err.to_string().contains("TOKEN authorizer"), "{err}");
    let err =
        try_mutated(|d| named_authorizer(d, ROUTE_AUTHORIZER).identity.header = Some("A".into()))
            .unwrap_err();
    assert!(err.to_string().contains("REQUEST authorizer"), "{err}");
    let err = try_mutated(|d| {
        let id = &mut named_authorizer(d, ROUTE_AUTHORIZER).identity;
        id.headers.clear();
        id.context.clear();
    })
    .unwrap_err();
    assert!(err.to_string().contains("identity source"), "{err}");
}

#[test]
fn gateway_response_without_insufficient_scope_fires() {
    let m = mutated(|d| {
        let headers = &mut api(d)
            .gateway_responses
            .get_mut("ACCESS_DENIED")
            .unwrap()
            .response_parameters
            .headers;
        let value = headers.get_mut("WWW-Authenticate").unwrap();
        *value = value.replace(r#", error="insufficient_scope""#, "");
    });
    let v = check(&m);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        matches!(&v[0], Violation::GatewayResponse { kind: "ACCESS_DENIED", problem } if problem.contains("WWW-Authenticate")),
        "{v:?}"
    );
}

#[test]
fn gateway_response_status_fires() {
    let m = mutated(|d| {
        api(d)
            .gateway_responses
            .get_mut("UNAUTHORIZED")
            .unwrap()
            .status_code = Some(403)
    });
    let v = check(&m);
    assert!(
        matches!(&v[..], [Violation::GatewayResponse { kind: "UNAUTHORIZED", problem }] if problem.contains("status")),
        "{v:?}"
    );
}

#[test]
fn wrong_binary_fires() {
    let m = mutated(|d| {
        function(d, "authorizer").metadata.build_properties.binary = Some("authoriser".into())
    });
    assert_eq!(
        check(&m),
        vec![Violation::Binary {
            function: "AuthorizerFunction".into(),
            expected: "authorizer",
            found: Some("authoriser".into()),
        }]
    );
}

#[test]
fn missing_output_fires() {
    let m = mutated(|d| {
        let output = d.outputs.remove("TokenUrl").expect("the output");
        d.outputs.insert("TokenEndpoint".into(), output);
    });
    assert_eq!(check(&m), vec![Violation::MissingOutput("TokenUrl")]);
}

#[test]
fn malformed_route_scopes_is_an_error_not_a_pass() {
    let result = try_mutated(|d| {
        edit_route_scopes(d, |t| {
            t.insert("GET /events".into(), json!("weather-api/get"));
        })
    });
    assert!(
        matches!(result, Err(TemplateError::RouteScopes { .. })),
        "{result:?}"
    );
}

#[test]
fn route_on_the_implicit_api_is_an_error() {
    let err = try_mutated(|d| api_event(d, "GET /events").rest_api_id = None).unwrap_err();
    assert!(err.to_string().contains("RestApiId"), "{err}");
}

#[test]
fn route_scopes_the_authorizer_refuses_is_an_error_not_a_pass() {
    // Each table passed this test's older, looser parser (and would have passed every
    // rule above, routes and scopes in step) although the authorizer stops at init on it.
    let refused: [(&str, &str); 3] = [
        // Two keys of one shape: API Gateway cannot tell them apart.
        ("GET /events/{id}", "GET /events/{eventId}"),
        // A greedy parameter before the end.
        ("GET /events/{id}", "GET /events/{id+}/x"),
        // A wildcard in a static segment.
        ("GET /events", "GET /events*"),
    ];
    for (route, bad) in refused {
        let result = try_mutated(|d| {
            edit_route_scopes(d, |t| {
                let scopes = t[route].clone();
                t.insert(bad.into(), scopes);
            })
        });
        assert!(
            matches!(result, Err(TemplateError::RouteScopes { .. })),
            "{bad}: {result:?}"
        );
    }
    // An empty table: every rule holds vacuously once the routes are gone too.
    let result = try_mutated(|d| edit_route_scopes(d, Map::clear));
    assert!(
        matches!(result, Err(TemplateError::RouteScopes { .. })),
        "{result:?}"
    );
}

#[test]
fn a_route_path_the_authorizer_refuses_is_an_error() {
    let err = try_mutated(|d| api_event(d, "GET /events/{id}").path = "/events/{id+}/x".into())
        .unwrap_err();
    assert!(
        matches!(&err, TemplateError::Invalid { at, .. } if at.ends_with("Properties.Path")),
        "{err:?}"
    );
}

#[test]
fn sam_methods_in_any_case_are_the_same_route() {
    let m = mutated(|d| api_event(d, "GET /events").method = "get".into());
    assert_eq!(check(&m), Vec::<Violation>::new());
}

#[path = "../../authorizer/tests/support/generate.rs"]
mod generate;

/// A directory of this test's own, for table files.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("consistency-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The real template with `routes` as the API (WeatherApiFunction's events), their
/// scopes (`api/x` as `weather-api/x`) defined on the resource server, and the table in
/// `dir/file`.
fn generated_api(routes: &[generate::GenRoute], dir: &std::path::Path, file: &str) -> Document {
    let mut doc = real_document();
    let routes: Vec<(String, Vec<String>)> = routes
        .iter()
        .map(|(k, s)| {
            let s = s
                .iter()
                .map(|s| s.replacen("api/", "weather-api/", 1))
                .collect();
            (k.clone(), s)
        })
        .collect();
    let table: Map<String, Value> = routes.iter().map(|(k, s)| (k.clone(), json!(s))).collect();
    std::fs::write(dir.join(file), Value::Object(table).to_string()).unwrap();
    authorizer_env(&mut doc).insert("ROUTE_SCOPES_FILE".into(), Expr::Literal(file.into()));
    let ResourceKind::Function(f) = &mut function(&mut doc, "weather-api").kind else {
        unreachable!()
    };
    f.events = routes
        .iter()
        .enumerate()
        .map(|(i, (key, _))| {
            let (method, path) = key.split_once(' ').unwrap();
            let event = ApiEvent {
                rest_api_id: Some(Expr::Ref("WeatherApi".into())),
                method: method.to_owned(),
                path: path.to_owned(),
                auth: Default::default(),
            };
            (format!("Route{i}"), Event::Api(event))
        })
        .collect();
    let mut names: Vec<String> = routes
        .iter()
        .flat_map(|(_, s)| {
            s.iter()
                .map(|s| s.trim_start_matches("weather-api/").to_owned())
        })
        .collect();
    names.sort();
    names.dedup();
    let ResourceKind::ResourceServer(p) = &mut doc
        .resources
        .get_mut("WeatherApiResourceServer")
        .unwrap()
        .kind
    else {
        unreachable!()
    };
    p.scopes.extend(
        names
            .into_iter()
            .map(|scope_name| local_stack::template::ScopeProperties {
                scope_description: format!("generated: {scope_name}"),
                scope_name,
            }),
    );
    doc
}

#[test]
fn a_thousand_route_table_in_its_file_is_checked_like_the_real_one() {
    // The generated API without its ID-token routes (this template's rules
    // want scopes on every route).
    let routes: Vec<_> = generate::routes(1100)
        .into_iter()
        .filter(|(_, s)| !s.is_empty())
        .take(1000)
        .collect();
    let dir = scratch("thousand");
    let mut doc = generated_api(&routes, &dir, "route-scopes.json");
    // Cached per token, a token with every scope would need a policy far over 8 KiB;
    // the template's clients hold none of the generated scopes.
    let m = StackModel::from_document_in(&doc, &dir).expect("models");
    let found = check(&m);
    assert!(
        matches!(&found[..], [Violation::TokenPolicyTooLarge { holder, bytes }]
            if holder == "every defined scope" && *bytes > 8 * 1024),
        "{found:?}"
    );
    // Per route, as the template's comment describes the switch: consistent.
    route_mode(&mut doc);
    let m = StackModel::from_document_in(&doc, &dir).expect("models");
    assert_eq!(m.authorizer.route_scopes.routes().len(), 1000);
    assert_eq!(
        m.authorizer.route_scopes_file.as_deref(),
        Some("route-scopes.json")
    );
    assert_eq!(check(&m), Vec::<Violation>::new());
    assert!(
        std::fs::metadata(dir.join("route-scopes.json"))
            .unwrap()
            .len()
            > 4096
    );

    // One route dropped from the file: the API's route is now without scopes.
    let (dropped, _) = &routes[617];
    let file = std::fs::read_to_string(dir.join("route-scopes.json")).unwrap();
    let mut table: Map<String, Value> = serde_json::from_str(&file).unwrap();
    table.remove(dropped).expect("the route is in the file");
    std::fs::write(
        dir.join("route-scopes.json"),
        Value::Object(table).to_string(),
    )
    .unwrap();
    let m = StackModel::from_document_in(&doc, &dir).expect("models");
    assert_eq!(check(&m), vec![Violation::RouteWithoutScopes(key(dropped))]);

    // A bad table file is an error naming the file, never a pass.
    std::fs::write(dir.join("route-scopes.json"), r#"{"FETCH /x": ["api/x"]}"#).unwrap();
    let err = StackModel::from_document_in(&doc, &dir).unwrap_err();
    assert!(
        matches!(&err, TemplateError::RouteScopes { problem } if problem.contains("route-scopes.json") && problem.contains("FETCH")),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn route_scopes_file_not_compiled_in_fires() {
    let routes = generate::routes(20);
    let dir = scratch("other-file");
    let doc = generated_api(&routes, &dir, "other-routes.json");
    let m = StackModel::from_document_in(&doc, &dir).expect("models");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        check(&m).contains(&Violation::RouteScopesFileNotBuiltIn(
            "other-routes.json".into()
        )),
        "{:?}",
        check(&m)
    );
}

#[test]
fn both_route_scopes_settings_is_an_error() {
    let result = try_mutated(|d| {
        authorizer_env(d).insert("ROUTE_SCOPES".into(), Expr::Literal("{}".into()));
    });
    assert!(
        matches!(&result, Err(TemplateError::RouteScopes { problem }) if problem.contains("ROUTE_SCOPES_FILE")),
        "{result:?}"
    );
}

#[test]
fn reformatting_the_template_changes_nothing() {
    // The same template re-emitted by a YAML serializer (other quoting, flow lists as
    // blocks, comments gone) models the same: no test depends on the text's layout.
    let path = Template::workspace_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let reformatted = serde_yaml_ng::to_string(&value).unwrap();
    assert_ne!(reformatted, text);
    assert_eq!(Template::parse(&reformatted).unwrap(), real());
}
