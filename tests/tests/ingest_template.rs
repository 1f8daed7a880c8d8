//! template.yaml's weather-ingest is consistent with the API it calls: the token it asks
//! for (`TOKEN_SCOPES`) is one its app client may get and one that `ROUTE_SCOPES`
//! accepts for the route it calls (`POST /events`), and that app client is the one whose
//! credentials its secret (`CLIENT_SECRET_ARN`) holds.
//!
//! As in `template_consistency.rs`, each `*_fires` test makes one edit to the real
//! template's typed [`Document`] and shows that its rule, and only it, reports it.

use std::collections::BTreeSet;

use local_stack::template::{
    Document, Expr, ResourceKind, RouteKey, StackModel, Template, UserPoolClientProperties,
};

/// The route weather-ingest calls.
const INGEST_ROUTE: &str = "POST /events";
/// The function's binary.
const INGEST_BINARY: &str = "weather-ingest";
/// weather-ingest's default `TOKEN_SCOPES`.
const DEFAULT_SCOPES: &str = "weather-api/post";

/// One way weather-ingest's configuration can disagree with the rest of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Violation {
    /// No function builds `weather-ingest`.
    NoFunction,
    /// `CLIENT_SECRET_ARN` is not `!Ref` of a secret of the template.
    SecretArn(Option<Expr>),
    /// The secret's `SecretString` does not name an app client as its `client_id`
    /// (`!Sub [..., {ClientId: !Ref CLIENT, ClientSecret: !GetAtt CLIENT.ClientSecret}]`).
    SecretClient { secret: String },
    /// The client may not ask for every scope of `TOKEN_SCOPES`.
    ScopesNotAllowed {
        client: String,
        asked: BTreeSet<String>,
        allowed: BTreeSet<String>,
    },
    /// No scope of `TOKEN_SCOPES` is one `ROUTE_SCOPES` accepts for the route.
    RouteNotGranted {
        asked: BTreeSet<String>,
        accepted: BTreeSet<String>,
    },
    /// The client's tokens are not accepted by the authorizer (`APP_CLIENT_IDS`).
    NotAnAppClient(String),
}

fn check(doc: &Document, model: &StackModel) -> Vec<Violation> {
    let mut found = Vec::new();
    let Some(function) = model
        .functions
        .values()
        .find(|f| f.binary.as_deref() == Some(INGEST_BINARY))
    else {
        return vec![Violation::NoFunction];
    };
    let asked: BTreeSet<String> = match function.environment.get("TOKEN_SCOPES") {
        Some(expr) => model.resolve(expr).unwrap_or_default(),
        None => DEFAULT_SCOPES.to_owned(),
    }
    .split_whitespace()
    .map(str::to_owned)
    .collect();

    let route: RouteKey = INGEST_ROUTE.parse().expect("a route key");
    let accepted: BTreeSet<String> = model
        .authorizer
        .route_scopes
        .get(&route)
        .map(|r| r.scopes.iter().map(str::to_owned).collect())
        .unwrap_or_default();
    if asked.is_disjoint(&accepted) {
        found.push(Violation::RouteNotGranted {
            asked: asked.clone(),
            accepted,
        });
    }

    let arn = function.environment.get("CLIENT_SECRET_ARN");
    let secret = arn
        .and_then(Expr::as_ref_name)
        .filter(|id| {
            doc.resources
                .get(*id)
                .is_some_and(|r| matches!(r.kind, ResourceKind::Secret(_)))
        })
        .map(str::to_owned);
    let Some(secret) = secret else {
        found.push(Violation::SecretArn(arn.cloned()));
        return found;
    };
    let Some(client) = secret_client(doc, &secret) else {
        found.push(Violation::SecretClient { secret });
        return found;
    };
    let allowed = model.clients[&client].allowed_scopes.clone();
    if !asked.is_subset(&allowed) {
        found.push(Violation::ScopesNotAllowed {
            client: client.clone(),
            asked,
            allowed,
        });
    }
    if !model
        .authorizer
        .app_client_ids
        .refs()
        .contains(&client.as_str())
    {
        found.push(Violation::NotAnAppClient(client));
    }
    found
}

/// The app client whose id (`ClientId: !Ref C`) and secret (`ClientSecret: !GetAtt
/// C.ClientSecret`) the secret's `SecretString` holds.
fn secret_client(doc: &Document, secret: &str) -> Option<String> {
    let ResourceKind::Secret(s) = &doc.resources.get(secret)?.kind else {
        return None;
    };
    let Some(Expr::SubWith { text, variables }) = &s.secret_string else {
        return None;
    };
    let value = |name: &str| variables.get(name);
    let client = value("ClientId")?.as_ref_name()?;
    let is_client = doc
        .resources
        .get(client)
        .is_some_and(|r| matches!(r.kind, ResourceKind::UserPoolClient(_)));
    let secret_of_client = value("ClientSecret")
        == Some(&Expr::GetAtt {
            resource: client.to_owned(),
            attribute: "ClientSecret".into(),
        });
    let shape = text.contains("\"client_id\": \"${ClientId}\"")
        && text.contains("\"client_secret\": \"${ClientSecret}\"");
    (is_client && secret_of_client && shape).then(|| client.to_owned())
}

fn real_document() -> Document {
    Template::load_document(Template::workspace_path()).expect("template.yaml reads")
}

fn check_mutated(edit: impl FnOnce(&mut Document)) -> Vec<Violation> {
    let mut doc = real_document();
    edit(&mut doc);
    let model = StackModel::from_document(&doc).expect("the mutated template models");
    check(&doc, &model)
}

fn ingest_env(doc: &mut Document) -> &mut std::collections::BTreeMap<String, Expr> {
    let function = doc
        .resources
        .values_mut()
        .find(|r| r.metadata.build_properties.binary.as_deref() == Some(INGEST_BINARY))
        .expect("weather-ingest's function");
    let ResourceKind::Function(f) = &mut function.kind else {
        panic!("a function")
    };
    &mut f.environment.variables
}

fn client<'a>(doc: &'a mut Document, id: &str) -> &'a mut UserPoolClientProperties {
    match &mut doc.resources.get_mut(id).expect("the client").kind {
        ResourceKind::UserPoolClient(c) => c,
        other => panic!("{id}: {other:?}"),
    }
}

#[test]
fn weather_ingest_asks_for_what_its_client_may_get_and_the_route_accepts() {
    let doc = real_document();
    let model = StackModel::from_document(&doc).unwrap();
    assert_eq!(check(&doc, &model), vec![]);
    assert_eq!(
        secret_client(&doc, "IngestClientSecret").as_deref(),
        Some("IngestClient")
    );
}

#[test]
fn ingest_client_without_the_post_scope_fires() {
    let found = check_mutated(|doc| {
        client(doc, "IngestClient").allowed_oauth_scopes = vec!["weather-api/get".into()];
    });
    assert!(
        matches!(found.as_slice(), [Violation::ScopesNotAllowed { client, .. }] if client == "IngestClient"),
        "{found:?}"
    );
}

#[test]
fn token_scopes_the_route_does_not_accept_fires() {
    let found = check_mutated(|doc| {
        ingest_env(doc).insert(
            "TOKEN_SCOPES".into(),
            Expr::Literal("weather-api/get".into()),
        );
        client(doc, "IngestClient").allowed_oauth_scopes =
            vec!["weather-api/get".into(), "weather-api/post".into()];
    });
    assert!(
        matches!(found.as_slice(), [Violation::RouteNotGranted { .. }]),
        "{found:?}"
    );
}

#[test]
fn default_token_scopes_are_checked_too() {
    let found = check_mutated(|doc| {
        ingest_env(doc).remove("TOKEN_SCOPES");
        client(doc, "IngestClient").allowed_oauth_scopes = vec!["weather-api/get".into()];
    });
    assert!(
        matches!(found.as_slice(), [Violation::ScopesNotAllowed { asked, .. }]
            if asked.iter().eq([DEFAULT_SCOPES])),
        "{found:?}"
    );
}

#[test]
fn secret_arn_not_a_secret_fires() {
    let found = check_mutated(|doc| {
        ingest_env(doc).insert("CLIENT_SECRET_ARN".into(), Expr::Ref("IngestClient".into()));
    });
    assert!(
        matches!(found.as_slice(), [Violation::SecretArn(Some(_))]),
        "{found:?}"
    );
}

#[test]
fn secret_of_another_client_s_secret_fires() {
    let found = check_mutated(|doc| {
        let ResourceKind::Secret(s) =
            &mut doc.resources.get_mut("IngestClientSecret").unwrap().kind
        else {
            panic!("a secret")
        };
        let Some(Expr::SubWith { variables, .. }) = &mut s.secret_string else {
            panic!("!Sub with variables")
        };
        // The id of one client with the secret of another.
        variables.insert("ClientId".into(), Expr::Ref("ServiceClient".into()));
    });
    assert!(
        matches!(found.as_slice(), [Violation::SecretClient { .. }]),
        "{found:?}"
    );
}

#[test]
fn ingest_client_not_accepted_by_the_authorizer_fires() {
    let found = check_mutated(|doc| {
        let authorizer = doc
            .resources
            .values_mut()
            .find(|r| r.metadata.build_properties.binary.as_deref() == Some("authorizer"))
            .unwrap();
        let ResourceKind::Function(f) = &mut authorizer.kind else {
            panic!("a function")
        };
        f.environment.variables.insert(
            "APP_CLIENT_IDS".into(),
            Expr::Join {
                delimiter: ",".into(),
                parts: vec![
                    Expr::Ref("ServiceClient".into()),
                    Expr::Ref("ReadOnlyClient".into()),
                ],
            },
        );
    });
    assert_eq!(
        found,
        vec![Violation::NotAnAppClient("IngestClient".into())]
    );
}
