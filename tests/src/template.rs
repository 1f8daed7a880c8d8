//! `template.yaml` read into a typed [`StackModel`].
//!
//! The AWS SAM template is the single description of the deployed system: the Cognito
//! user pool, its resource server and scopes, the app clients and what they may ask for,
//! the REST API's routes, the Lambda authorizer and its `ROUTE_SCOPES`. It is read in two
//! layers:
//!
//! - [`Document`] (`template/document.rs`): the template as CloudFormation reads it,
//!   derived `Deserialize` structs for the sections and properties used, CloudFormation's
//!   tags (`!Ref`, `!GetAtt`, `!Sub`, `!Join`, `!If`, `!Equals`) kept as [`Expr`] values
//!   (`template/expr.rs`); errors name their place with `serde_path_to_error`. Tests edit
//!   this typed document, never the YAML text.
//! - [`StackModel`] (here): the deployed system with SAM's defaults and `Globals` applied,
//!   routes and `ROUTE_SCOPES` parsed with the authorizer's own [`RouteKey`] and
//!   [`RouteTable`], so that
//!
//! - the consistency test (`tests/template_consistency.rs`) can prove routes, scopes and
//!   clients are in step before anything is deployed, and
//! - a local stack (a local token issuer and a local API gateway) can mirror exactly the
//!   configuration that `sam deploy` would create.
//!
//! Only what the system uses is modelled; anything the model does not understand where it
//! matters (an unknown authorizer kind, a route on an implicit API, a malformed
//! `ROUTE_SCOPES`) is a [`TemplateError`] naming the place, never silently skipped.

mod document;
mod expr;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use authorizer::{Method, RouteKey, RouteTable};
pub use document::{
    ApiAuth, ApiEvent, ApiProperties, AttributeDefinition, AuthorizerProperties, BuildProperties,
    CorsProperties, Document, Environment, Event, EventAuth, FunctionGlobals, FunctionProperties,
    GatewayResponseProperties, GlobalSecondaryIndex, Globals, Identity, KeySchemaElement, KeyType,
    Metadata, Output, Parameter, Projection, QueueProperties, RedrivePolicy, Resource,
    ResourceKind, ResourceServerProperties, ResponseParameters, ScopeProperties, SecretProperties,
    SqsEvent, TableProperties, TimeToLiveSpecification, TokenValidityUnits,
    UserPoolClientProperties, UserPoolDomainProperties,
};
pub use expr::Expr;
use serde::Deserialize;

/// Everything that can go wrong reading a template into a [`StackModel`].
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file that was asked for.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The text is not YAML (or has duplicate keys, which CloudFormation rejects too).
    #[error("template is not valid YAML")]
    Yaml(#[source] serde_yaml_ng::Error),
    /// A property the model needs is absent.
    #[error("{at}: missing {what}")]
    Missing {
        /// Where it was looked for, e.g. `Resources.ServiceClient.Properties`.
        at: String,
        /// What was looked for.
        what: String,
    },
    /// A property is present but of a shape the model does not accept.
    #[error("{at}: {problem}")]
    Invalid {
        /// Where, e.g. `Resources.WeatherApi.Properties.Auth.Authorizers.X.Identity`.
        at: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The template has more (or fewer) resources of a kind than the model supports.
    #[error("expected exactly one {kind} resource, found {found}")]
    Cardinality {
        /// The CloudFormation/SAM resource type.
        kind: &'static str,
        /// How many were found.
        found: usize,
    },
    /// The authorizer's `ROUTE_SCOPES` is not the JSON object of route keys to scope
    /// lists the authorizer expects.
    #[error("ROUTE_SCOPES: {problem}")]
    RouteScopes {
        /// What is wrong with it.
        problem: String,
    },
}

/// The Cognito user pool (`AWS::Cognito::UserPool`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPool {
    /// Logical id in the template.
    pub logical_id: String,
}

/// The user pool domain that serves `/oauth2/token` (`AWS::Cognito::UserPoolDomain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPoolDomain {
    /// Logical id in the template.
    pub logical_id: String,
    /// The domain prefix (usually `!Ref DomainPrefix`).
    pub domain: Expr,
    /// The pool it belongs to.
    pub user_pool: Expr,
}

/// One custom scope of a resource server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeDefinition {
    /// The scope name, e.g. `get`.
    pub name: String,
    /// Its description.
    pub description: String,
}

/// A resource server (`AWS::Cognito::UserPoolResourceServer`) and its custom scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceServer {
    /// Logical id in the template.
    pub logical_id: String,
    /// The identifier, the prefix of its scopes, e.g. `weather-api`.
    pub identifier: String,
    /// The friendly name.
    pub name: String,
    /// Its scopes, in template order.
    pub scopes: Vec<ScopeDefinition>,
}

impl ResourceServer {
    /// The full scope strings as they appear in tokens: `identifier/name`.
    pub fn full_scopes(&self) -> BTreeSet<String> {
        self.scopes
            .iter()
            .map(|s| format!("{}/{}", self.identifier, s.name))
            .collect()
    }
}

/// Unit of a Cognito token validity (`TokenValidityUnits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidityUnit {
    /// `seconds`
    Seconds,
    /// `minutes`
    Minutes,
    /// `hours` (Cognito's default for access tokens)
    Hours,
    /// `days`
    Days,
}

impl ValidityUnit {
    fn seconds(self) -> u64 {
        match self {
            ValidityUnit::Seconds => 1,
            ValidityUnit::Minutes => 60,
            ValidityUnit::Hours => 3600,
            ValidityUnit::Days => 86_400,
        }
    }
}

/// An app client (`AWS::Cognito::UserPoolClient`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppClient {
    /// Logical id in the template, e.g. `ServiceClient`.
    pub logical_id: String,
    /// The pool it belongs to.
    pub user_pool: Expr,
    /// `GenerateSecret` (false when absent).
    pub generate_secret: bool,
    /// `AllowedOAuthFlowsUserPoolClient` (false when absent).
    pub oauth_flows_enabled: bool,
    /// `AllowedOAuthFlows`, e.g. `client_credentials`.
    pub oauth_flows: BTreeSet<String>,
    /// `AllowedOAuthScopes`: the scopes a token request may ask for.
    pub allowed_scopes: BTreeSet<String>,
    /// `SupportedIdentityProviders`.
    pub identity_providers: BTreeSet<String>,
    /// `ExplicitAuthFlows` (`ALLOW_CLIENT_TOKEN_AUTH`: Cognito's `GetClientToken`).
    pub explicit_auth_flows: BTreeSet<String>,
    /// `AccessTokenValidity`, if set.
    pub access_token_validity: Option<Expr>,
    /// `TokenValidityUnits.AccessToken` (Cognito's default is hours).
    pub access_token_unit: ValidityUnit,
    /// `DependsOn`.
    pub depends_on: BTreeSet<String>,
}

/// A Lambda authorizer's payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadType {
    /// `TOKEN`: API Gateway passes the identity header's value.
    Token,
    /// `REQUEST`: API Gateway passes the whole request.
    Request,
}

/// A Lambda authorizer of the REST API (`Auth.Authorizers.NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaAuthorizer {
    /// Its name under `Auth.Authorizers`.
    pub name: String,
    /// Logical id of the authorizer function (from `FunctionArn: !GetAtt F.Arn`).
    pub function: String,
    /// `FunctionPayloadType` (SAM's default is `TOKEN`).
    pub payload: PayloadType,
    /// The identity sources, in SAM's order: the cache key of an answer, and what
    /// must be present for API Gateway to call the authorizer at all. A TOKEN
    /// authorizer has exactly one, its `Identity.Header` (SAM's default is
    /// `Authorization`); a REQUEST authorizer has its `Headers`, `QueryStrings`,
    /// `StageVariables` and `Context`.
    pub identity: Vec<IdentitySource>,
    /// `Identity.ReauthorizeEvery` as written: the policy cache TTL in seconds
    /// (`None` when absent, where SAM and API Gateway default to 300).
    pub reauthorize_every: Option<u32>,
}

impl LambdaAuthorizer {
    /// The header the token arrives in: a TOKEN authorizer's identity header; for a
    /// REQUEST authorizer, an `Authorization` identity header (the one the function
    /// reads), if it has one.
    pub fn token_header(&self) -> Option<&str> {
        self.identity.iter().find_map(|s| match s {
            IdentitySource::Header(h)
                if self.payload == PayloadType::Token
                    || h.eq_ignore_ascii_case("authorization") =>
            {
                Some(h.as_str())
            }
            _ => None,
        })
    }

    /// Whether the identity sources include `context.NAME`.
    pub fn has_context(&self, name: &str) -> bool {
        self.identity
            .iter()
            .any(|s| matches!(s, IdentitySource::Context(c) if c == name))
    }
}

/// One identity source of a Lambda authorizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// `method.request.header.NAME` (names are case-insensitive).
    Header(String),
    /// `method.request.querystring.NAME`.
    QueryString(String),
    /// `stageVariables.NAME`.
    StageVariable(String),
    /// `context.NAME`, e.g. `httpMethod` or `resourcePath`.
    Context(String),
}

impl std::fmt::Display for IdentitySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Header(n) => write!(f, "method.request.header.{n}"),
            Self::QueryString(n) => write!(f, "method.request.querystring.{n}"),
            Self::StageVariable(n) => write!(f, "stageVariables.{n}"),
            Self::Context(n) => write!(f, "context.{n}"),
        }
    }
}

/// The API's CORS settings (`Cors`), values without API Gateway's single quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// `AllowOrigin`, e.g. `*`.
    pub allow_origin: String,
    /// `AllowMethods`, e.g. `GET,POST,DELETE,OPTIONS`.
    pub allow_methods: Option<String>,
    /// `AllowHeaders`, e.g. `Authorization,Content-Type`.
    pub allow_headers: Option<String>,
    /// `MaxAge` in seconds.
    pub max_age: Option<String>,
}

/// A Gateway Response (`GatewayResponses.TYPE`), header values without API Gateway's
/// single quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayResponse {
    /// `StatusCode`, if overridden.
    pub status_code: Option<u16>,
    /// `ResponseParameters.Headers`.
    pub headers: BTreeMap<String, String>,
    /// `ResponseTemplates` by content type.
    pub templates: BTreeMap<String, String>,
}

/// The REST API (`AWS::Serverless::Api`) and how it authorizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestApi {
    /// Logical id in the template.
    pub logical_id: String,
    /// `StageName`.
    pub stage_name: Expr,
    /// `Auth.DefaultAuthorizer`, if any.
    pub default_authorizer: Option<String>,
    /// `Auth.Authorizers`, by name.
    pub authorizers: BTreeMap<String, LambdaAuthorizer>,
    /// `Auth.AddDefaultAuthorizerToCorsPreflight` (SAM's default is true).
    pub authorize_cors_preflight: bool,
    /// `Cors`, if set: SAM then adds an `OPTIONS` method on every path.
    pub cors: Option<Cors>,
    /// `GatewayResponses`, by response type (`UNAUTHORIZED`, `ACCESS_DENIED`, ...).
    pub gateway_responses: BTreeMap<String, GatewayResponse>,
}

/// How a route is authorized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteAuth {
    /// By the named Lambda authorizer of the API.
    Authorizer(String),
    /// Not at all (`Auth.Authorizer: NONE`, or no default authorizer).
    None,
}

/// What answers a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// A function's `Api` event.
    Function {
        /// Logical id of the function.
        function: String,
        /// Name of the event under `Events`.
        event: String,
    },
    /// The mock integration SAM generates for CORS preflight (`OPTIONS`).
    CorsPreflight,
}

/// One method on one resource path of the REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Method and path template.
    pub key: RouteKey,
    /// How it is authorized.
    pub auth: RouteAuth,
    /// What answers it.
    pub target: RouteTarget,
}

/// Parses `ROUTE_SCOPES` with the authorizer's own rules ([`RouteTable::from_json`]),
/// so a table the authorizer would refuse at init is an error here too.
pub fn route_scopes(json: &str) -> Result<RouteTable, TemplateError> {
    RouteTable::from_json(json).map_err(|e| TemplateError::RouteScopes {
        problem: e.to_string(),
    })
}

/// A Lambda function (`AWS::Serverless::Function`), with `Globals` applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// Logical id in the template.
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary`: the cargo binary `sam build` packages.
    pub binary: Option<String>,
    /// `Environment.Variables`, `Globals` merged in.
    pub environment: BTreeMap<String, Expr>,
}

/// The authorizer function's configuration, from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerSettings {
    /// Logical id of the authorizer function.
    pub function: String,
    /// `USER_POOL_ID`.
    pub user_pool_id: Expr,
    /// `APP_CLIENT_IDS`.
    pub app_client_ids: Expr,
    /// `ROUTE_SCOPES`, or the file `ROUTE_SCOPES_FILE` names, parsed as the
    /// authorizer parses it.
    pub route_scopes: RouteTable,
    /// `ROUTE_SCOPES_FILE` as written (relative to the template), when the
    /// table is in a file.
    pub route_scopes_file: Option<String>,
    /// `INSUFFICIENT_SCOPE`, if set.
    pub insufficient_scope: Option<Expr>,
    /// `POLICY_SCOPE`, if set (the authorizer's default is `token`).
    pub policy_scope: Option<Expr>,
    /// `CLOCK_SKEW_SECONDS`, if set.
    pub clock_skew_seconds: Option<Expr>,
}

/// The deployed system as `template.yaml` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackModel {
    /// Template parameters, by name.
    pub parameters: BTreeMap<String, Parameter>,
    /// The user pool.
    pub user_pool: UserPool,
    /// The pool's domain, if any (without one there is no `/oauth2/token`).
    pub domain: Option<UserPoolDomain>,
    /// The resource servers, in template order.
    pub resource_servers: Vec<ResourceServer>,
    /// The app clients, by logical id.
    pub clients: BTreeMap<String, AppClient>,
    /// The REST API.
    pub api: RestApi,
    /// The API's routes: the functions' `Api` events, then the CORS preflights.
    pub routes: Vec<Route>,
    /// The functions, by logical id.
    pub functions: BTreeMap<String, Function>,
    /// The default authorizer's function settings.
    pub authorizer: AuthorizerSettings,
    /// Output names.
    pub outputs: BTreeSet<String>,
}

/// Reads `template.yaml`.
pub struct Template;

impl Template {
    /// Reads and models the template at `path` (a `ROUTE_SCOPES_FILE` is read
    /// relative to the template's directory).
    pub fn load(path: impl AsRef<Path>) -> Result<StackModel, TemplateError> {
        let path = path.as_ref();
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        StackModel::from_document_in(&Self::load_document(path)?, dir)
    }

    /// Models a template given as text (a `ROUTE_SCOPES_FILE` is read relative
    /// to the workspace root).
    pub fn parse(yaml: &str) -> Result<StackModel, TemplateError> {
        StackModel::from_document(&Document::parse(yaml)?)
    }

    /// Reads the template at `path` as a typed [`Document`] (to edit before modelling it).
    pub fn load_document(path: impl AsRef<Path>) -> Result<Document, TemplateError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Io {
            path: path.to_owned(),
            source,
        })?;
        Document::parse(&text)
    }

    /// The workspace's `template.yaml` (next to the root `Cargo.toml`).
    pub fn workspace_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or_else(|| Path::new(".."))
            .join("template.yaml")
    }
}

impl StackModel {
    /// The value of a literal, or of a `!Ref` to a parameter with a default.
    pub fn resolve(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::Literal(s) => Some(s.clone()),
            Expr::Ref(name) => self.parameters.get(name)?.default.clone(),
            _ => None,
        }
    }

    /// A client's access token lifetime in seconds, resolving parameter defaults
    /// (Cognito's default is 60 minutes).
    pub fn access_token_validity_seconds(&self, client: &AppClient) -> Option<u64> {
        let amount = match &client.access_token_validity {
            None => return Some(3600),
            Some(expr) => self.resolve(expr)?.parse::<u64>().ok()?,
        };
        Some(amount * client.access_token_unit.seconds())
    }

    /// Every scope defined on any resource server, as `identifier/name`.
    pub fn defined_scopes(&self) -> BTreeSet<String> {
        self.resource_servers
            .iter()
            .flat_map(ResourceServer::full_scopes)
            .collect()
    }

    /// The routes answered by functions (everything but the CORS preflights).
    pub fn function_routes(&self) -> impl Iterator<Item = &Route> {
        self.routes
            .iter()
            .filter(|r| matches!(r.target, RouteTarget::Function { .. }))
    }

    /// The `OPTIONS` routes SAM generates for CORS.
    pub fn preflight_routes(&self) -> impl Iterator<Item = &Route> {
        self.routes
            .iter()
            .filter(|r| r.target == RouteTarget::CorsPreflight)
    }

    /// An app client by logical id.
    pub fn client(&self, logical_id: &str) -> Option<&AppClient> {
        self.clients.get(logical_id)
    }
}

// ---------------------------------------------------------------------------------
// From the typed document to the model: SAM's defaults, Globals and the routes
// ---------------------------------------------------------------------------------

fn missing(at: &str, what: &str) -> TemplateError {
    TemplateError::Missing {
        at: at.to_owned(),
        what: what.to_owned(),
    }
}

fn invalid(at: &str, problem: impl Into<String>) -> TemplateError {
    TemplateError::Invalid {
        at: at.to_owned(),
        problem: problem.into(),
    }
}

/// API Gateway writes static header values in single quotes: `"'*'"`.
fn unquote(s: &str) -> String {
    s.strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or(s)
        .to_owned()
}

impl StackModel {
    /// Models a typed document of the workspace's template: see [`StackModel::from_document_in`].
    pub fn from_document(doc: &Document) -> Result<Self, TemplateError> {
        let root = Template::workspace_path();
        Self::from_document_in(doc, root.parent().unwrap_or_else(|| Path::new(".")))
    }

    /// Models a typed document: checks what the model relies on and applies SAM's
    /// defaults and `Globals`; files the template names (`ROUTE_SCOPES_FILE`)
    /// are read relative to `dir`.
    pub fn from_document_in(doc: &Document, dir: &Path) -> Result<Self, TemplateError> {
        let exactly_one = |kind: &'static str, found: Vec<&str>| match found.as_slice() {
            [one] => Ok(one.to_string()),
            _ => Err(TemplateError::Cardinality {
                kind,
                found: found.len(),
            }),
        };
        let pools = doc
            .resources
            .iter()
            .filter(|(_, r)| r.kind == ResourceKind::UserPool)
            .map(|(id, _)| id.as_str())
            .collect();
        let user_pool = UserPool {
            logical_id: exactly_one("AWS::Cognito::UserPool", pools)?,
        };

        let domains: Vec<_> = doc
            .of_kind(|k| match k {
                ResourceKind::UserPoolDomain(p) => Some(p),
                _ => None,
            })
            .collect();
        let domain = match domains.as_slice() {
            [] => None,
            [(id, _, p)] => Some(UserPoolDomain {
                logical_id: id.to_string(),
                domain: p.domain.clone(),
                user_pool: p.user_pool_id.clone(),
            }),
            more => {
                return Err(TemplateError::Cardinality {
                    kind: "AWS::Cognito::UserPoolDomain",
                    found: more.len(),
                });
            }
        };

        let resource_servers = doc
            .of_kind(|k| match k {
                ResourceKind::ResourceServer(p) => Some(p),
                _ => None,
            })
            .map(|(id, _, p)| ResourceServer {
                logical_id: id.to_owned(),
                identifier: p.identifier.clone(),
                name: p.name.clone(),
                scopes: p
                    .scopes
                    .iter()
                    .map(|s| ScopeDefinition {
                        name: s.scope_name.clone(),
                        description: s.scope_description.clone(),
                    })
                    .collect(),
            })
            .collect();

        let clients = doc
            .of_kind(|k| match k {
                ResourceKind::UserPoolClient(p) => Some(p),
                _ => None,
            })
            .map(|(id, r, p)| {
                let client = AppClient {
                    logical_id: id.to_owned(),
                    user_pool: p.user_pool_id.clone(),
                    generate_secret: p.generate_secret.unwrap_or(false),
                    oauth_flows_enabled: p.allowed_oauth_flows_user_pool_client.unwrap_or(false),
                    oauth_flows: p.allowed_oauth_flows.iter().cloned().collect(),
                    allowed_scopes: p.allowed_oauth_scopes.iter().cloned().collect(),
                    identity_providers: p.supported_identity_providers.iter().cloned().collect(),
                    explicit_auth_flows: p.explicit_auth_flows.iter().cloned().collect(),
                    access_token_validity: p.access_token_validity.clone(),
                    access_token_unit: p
                        .token_validity_units
                        .access_token
                        .unwrap_or(ValidityUnit::Hours),
                    depends_on: r.depends_on.iter().cloned().collect(),
                };
                (id.to_owned(), client)
            })
            .collect();

        let function_resources: Vec<_> = doc
            .of_kind(|k| match k {
                ResourceKind::Function(p) => Some(p),
                _ => None,
            })
            .collect();
        let functions = function_resources
            .iter()
            .map(|(id, r, p)| {
                let mut environment = doc.globals.function.environment.variables.clone();
                environment.extend(p.environment.variables.clone());
                let function = Function {
                    logical_id: id.to_string(),
                    binary: r.metadata.build_properties.binary.clone(),
                    environment,
                };
                (id.to_string(), function)
            })
            .collect();

        let apis: Vec<_> = doc
            .of_kind(|k| match k {
                ResourceKind::Api(p) => Some(p.as_ref()),
                _ => None,
            })
            .collect();
        let api = match apis.as_slice() {
            [(id, _, p)] => rest_api(id, p)?,
            more => {
                return Err(TemplateError::Cardinality {
                    kind: "AWS::Serverless::Api",
                    found: more.len(),
                });
            }
        };

        let mut routes = Vec::new();
        for (id, _, p) in &function_resources {
            for (event, body) in &p.events {
                if let Event::Api(e) = body {
                    routes.push(api_route(id, event, e, &api)?);
                }
            }
        }
        if api.cors.is_some() {
            let preflights: BTreeSet<RouteKey> = routes
                .iter()
                .map(|r: &Route| r.key.with_method(Method::Options))
                .collect();
            let auth = match (&api.default_authorizer, api.authorize_cors_preflight) {
                (Some(name), true) => RouteAuth::Authorizer(name.clone()),
                _ => RouteAuth::None,
            };
            for key in preflights {
                // An explicit OPTIONS event replaces SAM's generated preflight on that path.
                if !routes.iter().any(|r| r.key == key) {
                    routes.push(Route {
                        key,
                        auth: auth.clone(),
                        target: RouteTarget::CorsPreflight,
                    });
                }
            }
        }

        let authorizer = authorizer_settings(&api, &functions, dir)?;

        Ok(StackModel {
            parameters: doc.parameters.clone(),
            user_pool,
            domain,
            resource_servers,
            clients,
            api,
            routes,
            functions,
            authorizer,
            outputs: doc.outputs.keys().cloned().collect(),
        })
    }
}

fn rest_api(id: &str, p: &ApiProperties) -> Result<RestApi, TemplateError> {
    let at = format!("Resources.{id}.Properties.Auth");
    let auth = p.auth.clone().unwrap_or_default();
    let mut authorizers = BTreeMap::new();
    for (name, a) in &auth.authorizers {
        let at = format!("{at}.Authorizers.{name}");
        let function = match &a.function_arn {
            Expr::GetAtt {
                resource,
                attribute,
            } if attribute == "Arn" => resource.clone(),
            other => {
                return Err(invalid(
                    &at,
                    format!("FunctionArn must be !GetAtt FUNCTION.Arn, found {other:?}"),
                ));
            }
        };
        let payload = match a.function_payload_type.as_deref() {
            None | Some("TOKEN") => PayloadType::Token,
            Some("REQUEST") => PayloadType::Request,
            Some(other) => {
                return Err(invalid(
                    &at,
                    format!("unknown FunctionPayloadType {other:?}"),
                ));
            }
        };
        let id = &a.identity;
        let identity = match payload {
            PayloadType::Token => {
                if !(id.headers.is_empty()
                    && id.query_strings.is_empty()
                    && id.stage_variables.is_empty()
                    && id.context.is_empty())
                {
                    return Err(invalid(
                        &format!("{at}.Identity"),
                        "a TOKEN authorizer has one identity source, Header; Headers, \
                         QueryStrings, StageVariables and Context are for REQUEST",
                    ));
                }
                let header = id.header.clone().unwrap_or_else(|| "Authorization".into());
                vec![IdentitySource::Header(header)]
            }
            PayloadType::Request => {
                if id.header.is_some() {
                    return Err(invalid(
                        &format!("{at}.Identity"),
                        "Header is for TOKEN authorizers; a REQUEST authorizer lists Headers",
                    ));
                }
                let sources: Vec<IdentitySource> = (id.headers.iter().cloned())
                    .map(IdentitySource::Header)
                    .chain(
                        id.query_strings
                            .iter()
                            .cloned()
                            .map(IdentitySource::QueryString),
                    )
                    .chain(
                        id.stage_variables
                            .iter()
                            .cloned()
                            .map(IdentitySource::StageVariable),
                    )
                    .chain(id.context.iter().cloned().map(IdentitySource::Context))
                    .collect();
                if sources.is_empty() && id.reauthorize_every != Some(0) {
                    return Err(invalid(
                        &format!("{at}.Identity"),
                        "a cached REQUEST authorizer needs at least one identity source",
                    ));
                }
                sources
            }
        };
        authorizers.insert(
            name.clone(),
            LambdaAuthorizer {
                name: name.clone(),
                function,
                payload,
                identity,
                reauthorize_every: id.reauthorize_every,
            },
        );
    }
    if let Some(name) = &auth.default_authorizer
        && !authorizers.contains_key(name)
    {
        return Err(invalid(
            &at,
            format!("DefaultAuthorizer {name:?} is not among Authorizers"),
        ));
    }
    let cors = p.cors.as_ref().map(|c| match c {
        CorsProperties::Origin(origin) => Cors {
            allow_origin: unquote(origin),
            allow_methods: None,
            allow_headers: None,
            max_age: None,
        },
        CorsProperties::Settings {
            allow_origin,
            allow_methods,
            allow_headers,
            max_age,
        } => Cors {
            allow_origin: unquote(allow_origin),
            allow_methods: allow_methods.as_deref().map(unquote),
            allow_headers: allow_headers.as_deref().map(unquote),
            max_age: max_age.as_deref().map(unquote),
        },
    });
    let gateway_responses = p
        .gateway_responses
        .iter()
        .map(|(kind, r)| {
            let response = GatewayResponse {
                status_code: r.status_code,
                headers: r
                    .response_parameters
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), unquote(v)))
                    .collect(),
                templates: r.response_templates.clone(),
            };
            (kind.clone(), response)
        })
        .collect();
    Ok(RestApi {
        logical_id: id.to_owned(),
        stage_name: p.stage_name.clone(),
        default_authorizer: auth.default_authorizer.clone(),
        authorizers,
        authorize_cors_preflight: auth
            .add_default_authorizer_to_cors_preflight
            .unwrap_or(true),
        cors,
        gateway_responses,
    })
}

fn api_route(
    function: &str,
    event: &str,
    e: &ApiEvent,
    api: &RestApi,
) -> Result<Route, TemplateError> {
    let at = format!("Resources.{function}.Properties.Events.{event}.Properties");
    match &e.rest_api_id {
        Some(Expr::Ref(id)) if *id == api.logical_id => {}
        Some(other) => {
            return Err(invalid(
                &at,
                format!("RestApiId must be !Ref {}, found {other:?}", api.logical_id),
            ));
        }
        None => {
            return Err(invalid(
                &at,
                format!(
                    "no RestApiId: the route would go to SAM's implicit API, not {}",
                    api.logical_id
                ),
            ));
        }
    }
    let method = Method::parse_any_case(&e.method)
        .map_err(|err| invalid(&format!("{at}.Method"), err.to_string()))?;
    let key = RouteKey::new(method, &e.path)
        .map_err(|err| invalid(&format!("{at}.Path"), err.to_string()))?;
    let auth = match e
        .auth
        .authorizer
        .clone()
        .or_else(|| api.default_authorizer.clone())
    {
        None => RouteAuth::None,
        Some(n) if n == "NONE" => RouteAuth::None,
        Some(n) if api.authorizers.contains_key(&n) => RouteAuth::Authorizer(n),
        Some(n) => return Err(invalid(&at, format!("unknown authorizer {n:?}"))),
    };
    Ok(Route {
        key,
        auth,
        target: RouteTarget::Function {
            function: function.to_owned(),
            event: event.to_owned(),
        },
    })
}

fn authorizer_settings(
    api: &RestApi,
    functions: &BTreeMap<String, Function>,
    dir: &Path,
) -> Result<AuthorizerSettings, TemplateError> {
    let at = format!("Resources.{}.Properties.Auth", api.logical_id);
    let name = api
        .default_authorizer
        .as_ref()
        .ok_or_else(|| missing(&at, "DefaultAuthorizer"))?;
    let function_id = &api.authorizers[name].function;
    let function = functions.get(function_id).ok_or_else(|| {
        invalid(
            &at,
            format!("authorizer {name:?} names {function_id:?}, not an AWS::Serverless::Function"),
        )
    })?;
    let env_at = format!("Resources.{function_id}.Properties.Environment.Variables");
    let var = |key: &str| function.environment.get(key).cloned();
    let required = |key: &str| var(key).ok_or_else(|| missing(&env_at, key));
    let literal = |name: &str, expr: Expr| match expr {
        Expr::Literal(text) | Expr::Sub(text) => Ok(text),
        other => Err(TemplateError::RouteScopes {
            problem: format!("{name} must be a literal string, found {other:?}"),
        }),
    };
    let (route_scopes, route_scopes_file) = match (var("ROUTE_SCOPES"), var("ROUTE_SCOPES_FILE")) {
        (Some(_), Some(_)) => {
            return Err(TemplateError::RouteScopes {
                problem: "set with ROUTE_SCOPES_FILE: the table belongs in one of the two".into(),
            });
        }
        (Some(json), None) => (route_scopes(&literal("ROUTE_SCOPES", json)?)?, None),
        (None, Some(file)) => {
            let file = literal("ROUTE_SCOPES_FILE", file)?;
            let path = dir.join(&file);
            let json = std::fs::read_to_string(&path).map_err(|e| TemplateError::RouteScopes {
                problem: format!("ROUTE_SCOPES_FILE {}: {e}", path.display()),
            })?;
            let table = RouteTable::from_json(&json).map_err(|e| TemplateError::RouteScopes {
                problem: format!("ROUTE_SCOPES_FILE {}: {e}", path.display()),
            })?;
            (table, Some(file))
        }
        (None, None) => return Err(missing(&env_at, "ROUTE_SCOPES")),
    };
    Ok(AuthorizerSettings {
        function: function_id.clone(),
        user_pool_id: required("USER_POOL_ID")?,
        app_client_ids: required("APP_CLIENT_IDS")?,
        route_scopes,
        route_scopes_file,
        insufficient_scope: var("INSUFFICIENT_SCOPE"),
        policy_scope: var("POLICY_SCOPE"),
        clock_skew_seconds: var("CLOCK_SKEW_SECONDS"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_scopes_rejects_bad_shapes() {
        for bad in [
            r#"["GET /events"]"#,
            r#"{"GET /events": "weather-api/get"}"#,
            r#"{"GET /events": [1]}"#,
            r#"{"GET /events": ["two words"]}"#,
            r#"{"GET /events": [""]}"#,
            r#"{"events": ["weather-api/get"]}"#,
            r#"{"get /events": ["weather-api/get"]}"#,
            r#"{"GET  /events": ["weather-api/get"]}"#,
            // Accepted by the looser rules this module had before the authorizer's.
            r#"{}"#,
            r#"{"GET /events//x": ["weather-api/get"]}"#,
            r#"{"GET /events/{p+}/x": ["weather-api/get"]}"#,
            r#"{"GET /events/*": ["weather-api/get"]}"#,
            r#"{"GET /events/{id}": ["a"], "GET /events/{eventId}": ["b"]}"#,
        ] {
            assert!(
                matches!(route_scopes(bad), Err(TemplateError::RouteScopes { .. })),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn unquote_strips_api_gateway_quotes_only() {
        assert_eq!(unquote("'*'"), "*");
        assert_eq!(unquote("*"), "*");
        assert_eq!(unquote("'Bearer realm=\"x\"'"), "Bearer realm=\"x\"");
    }

    #[test]
    fn load_names_the_missing_file() {
        let err = Template::load("/nonexistent/template.yaml").unwrap_err();
        assert!(matches!(err, TemplateError::Io { .. }));
        assert!(err.to_string().contains("/nonexistent/template.yaml"));
    }

    const MINIMAL: &str = r#"
Conditions:
  UseTable: !Equals [!Ref EventStore, dynamodb]
Resources:
  Pool: {Type: AWS::Cognito::UserPool}
  Topic: {Type: AWS::SNS::Topic, Properties: {Anything: [goes, here]}}
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: prod
      Unmodelled: {deeply: [nested]}
      Auth:
        DefaultAuthorizer: A
        Authorizers:
          A: {FunctionArn: !GetAtt Authz.Arn}
  Authz:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: authorizer}}
    Properties:
      Environment:
        Variables:
          USER_POOL_ID: !Ref Pool
          APP_CLIENT_IDS: x
          ROUTE_SCOPES: '{"GET /a": ["s/a"]}'
  Backend:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          EVENTS_TABLE: !If [UseTable, !Ref Table, ""]
      Events:
        A: {Type: Api, Properties: {RestApiId: !Ref Api, Method: get, Path: /a}}
        T: {Type: SNS, Properties: {Topic: !Ref Topic}}
  Table:
    Type: AWS::DynamoDB::Table
    Condition: UseTable
    Properties:
      BillingMode: PAY_PER_REQUEST
      KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: sk, KeyType: RANGE}]
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      GlobalSecondaryIndexes:
        - IndexName: by-day
          KeySchema: [{AttributeName: day, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
"#;

    #[test]
    fn unknown_resources_and_properties_are_tolerated() {
        let doc = Document::parse(MINIMAL).unwrap();
        assert_eq!(
            doc.resources["Topic"].kind,
            ResourceKind::Other("AWS::SNS::Topic".into())
        );
        let ResourceKind::Function(backend) = &doc.resources["Backend"].kind else {
            panic!("Backend is a function")
        };
        assert_eq!(backend.events["T"], Event::Other("SNS".into()));
        assert_eq!(
            backend.environment.variables["EVENTS_TABLE"].refs(),
            vec!["Table"]
        );
        let model = StackModel::from_document(&doc).unwrap();
        assert_eq!(model.routes[0].key.to_string(), "GET /a");
        assert_eq!(
            model.functions["Authz"].binary.as_deref(),
            Some("authorizer")
        );
    }

    #[test]
    fn a_table_reads_in_a_few_lines() {
        let doc = Document::parse(MINIMAL).unwrap();
        let (id, resource, table) = doc
            .of_kind(|k| match k {
                ResourceKind::Table(t) => Some(t),
                _ => None,
            })
            .next()
            .unwrap();
        assert_eq!(
            (id, resource.condition.as_deref()),
            ("Table", Some("UseTable"))
        );
        assert_eq!(table.key_schema[1].key_type, KeyType::Range);
        assert_eq!(table.attribute_definitions[0].attribute_type, "S");
        assert_eq!(table.global_secondary_indexes[0].index_name, "by-day");
        assert_eq!(
            table.global_secondary_indexes[0]
                .projection
                .projection_type
                .as_deref(),
            Some("ALL")
        );
        assert_eq!(doc.conditions["UseTable"].refs(), vec!["EventStore"]);
    }

    #[test]
    fn errors_name_their_place() {
        for (from, to, at) in [
            (
                "ROUTE_SCOPES: '{\"GET /a\": [\"s/a\"]}'",
                "ROUTE_SCOPES: [not, a, string]",
                "Resources.Authz.Properties.Environment.Variables.ROUTE_SCOPES",
            ),
            (
                "KeyType: RANGE",
                "KeyType: SIDEWAYS",
                "Resources.Table.Properties.KeySchema[1].KeyType",
            ),
            (
                "Method: get, Path: /a",
                "Path: /a",
                "Resources.Backend.Properties.Events.A.Properties",
            ),
            (
                "StageName: prod",
                "StageName: [1]",
                "Resources.Api.Properties.StageName",
            ),
            (
                "Method: get",
                "Method: fetch",
                "Resources.Backend.Properties.Events.A.Properties.Method",
            ),
        ] {
            assert_eq!(MINIMAL.matches(from).count(), 1, "{from}");
            let err = Template::parse(&MINIMAL.replacen(from, to, 1)).unwrap_err();
            assert!(
                matches!(&err, TemplateError::Invalid { at: place, .. } if place == at),
                "{to}: {err:?}"
            );
        }
    }
}
