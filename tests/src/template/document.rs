//! `template.yaml` as CloudFormation reads it: derived `Deserialize` structs for the
//! sections and resource properties the local stack uses, strictly typed; every other
//! section, resource type and property is tolerated and ignored.
//!
//! A resource is read in two steps: its `Type` first, then the resource as the
//! struct of that type, so that an error names its place
//! (`Resources.AuthorizerFunction.Properties.Environment.Variables`). A new resource
//! type is a [`ResourceKind`] variant, its properties struct and one line in
//! [`Resource::read`]; a new function event type the same in [`Event`].

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer};
use serde_yaml_ng::Value;

use super::expr::{Expr, scalar};
use super::{TemplateError, ValidityUnit};

/// The whole template.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// `Parameters`, by name.
    pub parameters: BTreeMap<String, Parameter>,
    /// `Conditions`, by name.
    pub conditions: BTreeMap<String, Expr>,
    /// `Globals` (AWS SAM).
    pub globals: Globals,
    /// `Resources`, by logical id.
    pub resources: BTreeMap<String, Resource>,
    /// `Outputs`, by name.
    pub outputs: BTreeMap<String, Output>,
}

/// The sections, with each resource still untyped.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Sections {
    #[serde(default)]
    parameters: BTreeMap<String, Parameter>,
    #[serde(default)]
    conditions: BTreeMap<String, Expr>,
    #[serde(default)]
    globals: Globals,
    resources: BTreeMap<String, Value>,
    #[serde(default)]
    outputs: BTreeMap<String, Output>,
}

impl Document {
    /// Reads a template given as text.
    pub fn parse(yaml: &str) -> Result<Self, TemplateError> {
        let value: Value = serde_yaml_ng::from_str(yaml).map_err(TemplateError::Yaml)?;
        let sections: Sections = read(value, "")?;
        let resources = read_each(sections.resources, "Resources", Resource::read)?;
        Ok(Self {
            parameters: sections.parameters,
            conditions: sections.conditions,
            globals: sections.globals,
            resources,
            outputs: sections.outputs,
        })
    }

    /// The resources of one kind, by logical id.
    pub fn of_kind<'a, T: 'a>(
        &'a self,
        kind: impl Fn(&'a ResourceKind) -> Option<&'a T> + 'a,
    ) -> impl Iterator<Item = (&'a str, &'a Resource, &'a T)> + 'a {
        self.resources
            .iter()
            .filter_map(move |(id, r)| kind(&r.kind).map(|t| (id.as_str(), r, t)))
    }
}

/// Reads each entry of a mapping with `read`, at `at.NAME`.
fn read_each<T>(
    entries: BTreeMap<String, Value>,
    at: &str,
    read: fn(Value, &str) -> Result<T, TemplateError>,
) -> Result<BTreeMap<String, T>, TemplateError> {
    entries
        .into_iter()
        .map(|(name, body)| {
            let value = read(body, &format!("{at}.{name}"))?;
            Ok((name, value))
        })
        .collect()
}

/// Deserializes `value` as `T`, an error naming its place below `at`.
pub(crate) fn read<T: DeserializeOwned>(value: Value, at: &str) -> Result<T, TemplateError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let at = match (at, path.as_str()) {
            (at, ".") => at.to_owned(),
            ("", path) => path.to_owned(),
            (at, path) => format!("{at}.{path}"),
        };
        TemplateError::Invalid {
            at: if at.is_empty() { "template".into() } else { at },
            problem: e.into_inner().to_string(),
        }
    })
}

/// A template parameter.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Parameter {
    /// `Type`, e.g. `String` or `Number`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// `Default`, if any, as written.
    #[serde(rename = "Default", default, deserialize_with = "opt_scalar")]
    pub default: Option<String>,
}

/// An output.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Output {
    /// `Value`.
    #[serde(rename = "Value")]
    pub value: Expr,
}

/// `Globals` (AWS SAM): what every function inherits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Globals {
    /// `Globals.Function`.
    #[serde(default)]
    pub function: FunctionGlobals,
}

/// `Globals.Function`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionGlobals {
    /// `Environment`.
    #[serde(default)]
    pub environment: Environment,
}

/// A function's `Environment`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    /// `Variables`, by name.
    #[serde(default)]
    pub variables: BTreeMap<String, Expr>,
}

/// One resource: the attributes every resource may have, and its typed properties.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// `Condition`: the name of the condition it is created under, if any.
    pub condition: Option<String>,
    /// `DependsOn` (one name or a list).
    pub depends_on: Vec<String>,
    /// `Metadata`.
    pub metadata: Metadata,
    /// `Type` and `Properties`.
    pub kind: ResourceKind,
}

/// A resource's `Type`, with the properties read for it.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceKind {
    /// `AWS::Cognito::UserPool` (no property is read).
    UserPool,
    /// `AWS::Cognito::UserPoolDomain`.
    UserPoolDomain(UserPoolDomainProperties),
    /// `AWS::Cognito::UserPoolResourceServer`.
    ResourceServer(ResourceServerProperties),
    /// `AWS::Cognito::UserPoolClient`.
    UserPoolClient(UserPoolClientProperties),
    /// `AWS::Serverless::Api`.
    Api(Box<ApiProperties>),
    /// `AWS::Serverless::Function`.
    Function(FunctionProperties),
    /// `AWS::DynamoDB::Table`.
    Table(TableProperties),
    /// `AWS::SQS::Queue`.
    Queue(QueueProperties),
    /// `AWS::SecretsManager::Secret`.
    Secret(SecretProperties),
    /// Any other type, by name; its properties are not read.
    Other(String),
}

/// The attributes shared by all resources.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Head {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(default)]
    condition: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    depends_on: Vec<String>,
    #[serde(default)]
    metadata: Metadata,
}

/// `Properties` as `P`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Body<P> {
    properties: P,
}

impl Resource {
    /// Reads one resource: its `Type` and attributes, then `Properties` as that
    /// type's struct (for the types read; others are kept by name only).
    fn read(body: Value, at: &str) -> Result<Self, TemplateError> {
        let head: Head = read(body.clone(), at)?;
        fn properties<P: DeserializeOwned>(body: Value, at: &str) -> Result<P, TemplateError> {
            read::<Body<P>>(body, at).map(|b| b.properties)
        }
        let kind = match head.kind.as_str() {
            "AWS::Cognito::UserPool" => ResourceKind::UserPool,
            "AWS::Cognito::UserPoolDomain" => ResourceKind::UserPoolDomain(properties(body, at)?),
            "AWS::Cognito::UserPoolResourceServer" => {
                ResourceKind::ResourceServer(properties(body, at)?)
            }
            "AWS::Cognito::UserPoolClient" => ResourceKind::UserPoolClient(properties(body, at)?),
            "AWS::Serverless::Api" => ResourceKind::Api(Box::new(properties(body, at)?)),
            "AWS::Serverless::Function" => {
                let raw: RawFunctionProperties = properties(body, at)?;
                let events =
                    read_each(raw.events, &format!("{at}.Properties.Events"), Event::read)?;
                ResourceKind::Function(FunctionProperties {
                    environment: raw.environment,
                    events,
                })
            }
            "AWS::DynamoDB::Table" => ResourceKind::Table(properties(body, at)?),
            "AWS::SQS::Queue" => ResourceKind::Queue(properties(body, at)?),
            "AWS::SecretsManager::Secret" => ResourceKind::Secret(properties(body, at)?),
            _ => ResourceKind::Other(head.kind),
        };
        Ok(Self {
            condition: head.condition,
            depends_on: head.depends_on,
            metadata: head.metadata,
            kind,
        })
    }
}

/// `Metadata`: what `sam build` reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    /// `BuildProperties`.
    #[serde(default)]
    pub build_properties: BuildProperties,
}

/// `Metadata.BuildProperties` of a `rust-cargolambda` function.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BuildProperties {
    /// `Binary`: the cargo binary `sam build` packages.
    #[serde(default)]
    pub binary: Option<String>,
}

/// `AWS::Cognito::UserPoolDomain` properties.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserPoolDomainProperties {
    /// `Domain`: the prefix.
    pub domain: Expr,
    /// `UserPoolId`.
    pub user_pool_id: Expr,
}

/// `AWS::Cognito::UserPoolResourceServer` properties.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceServerProperties {
    /// `Identifier`: the prefix of its scopes.
    pub identifier: String,
    /// `Name`.
    pub name: String,
    /// `Scopes`.
    #[serde(default)]
    pub scopes: Vec<ScopeProperties>,
}

/// One of `Scopes`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScopeProperties {
    /// `ScopeName`.
    pub scope_name: String,
    /// `ScopeDescription`.
    pub scope_description: String,
}

/// `AWS::Cognito::UserPoolClient` properties.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserPoolClientProperties {
    /// `UserPoolId`.
    pub user_pool_id: Expr,
    /// `GenerateSecret`.
    #[serde(default, deserialize_with = "opt_flag")]
    pub generate_secret: Option<bool>,
    /// `AllowedOAuthFlowsUserPoolClient`.
    #[serde(
        rename = "AllowedOAuthFlowsUserPoolClient",
        default,
        deserialize_with = "opt_flag"
    )]
    pub allowed_oauth_flows_user_pool_client: Option<bool>,
    /// `AllowedOAuthFlows`.
    #[serde(rename = "AllowedOAuthFlows", default)]
    pub allowed_oauth_flows: Vec<String>,
    /// `AllowedOAuthScopes`.
    #[serde(rename = "AllowedOAuthScopes", default)]
    pub allowed_oauth_scopes: Vec<String>,
    /// `SupportedIdentityProviders`.
    #[serde(default)]
    pub supported_identity_providers: Vec<String>,
    /// `ExplicitAuthFlows`, e.g. `ALLOW_CLIENT_TOKEN_AUTH`.
    #[serde(default)]
    pub explicit_auth_flows: Vec<String>,
    /// `AccessTokenValidity`.
    #[serde(default)]
    pub access_token_validity: Option<Expr>,
    /// `TokenValidityUnits`.
    #[serde(default)]
    pub token_validity_units: TokenValidityUnits,
}

/// `TokenValidityUnits`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TokenValidityUnits {
    /// `AccessToken`.
    #[serde(default)]
    pub access_token: Option<ValidityUnit>,
}

/// `AWS::Serverless::Api` properties.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiProperties {
    /// `StageName`.
    pub stage_name: Expr,
    /// `Auth`.
    #[serde(default)]
    pub auth: Option<ApiAuth>,
    /// `Cors`: an origin, or the settings.
    #[serde(default)]
    pub cors: Option<CorsProperties>,
    /// `GatewayResponses`, by response type.
    #[serde(default)]
    pub gateway_responses: BTreeMap<String, GatewayResponseProperties>,
}

/// `Auth` of an API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiAuth {
    /// `DefaultAuthorizer`.
    #[serde(default)]
    pub default_authorizer: Option<String>,
    /// `AddDefaultAuthorizerToCorsPreflight`.
    #[serde(default, deserialize_with = "opt_flag")]
    pub add_default_authorizer_to_cors_preflight: Option<bool>,
    /// `Authorizers`, by name.
    #[serde(default)]
    pub authorizers: BTreeMap<String, AuthorizerProperties>,
}

/// One of `Auth.Authorizers`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuthorizerProperties {
    /// `FunctionArn` (only Lambda authorizers are modelled).
    pub function_arn: Expr,
    /// `FunctionPayloadType`.
    #[serde(default)]
    pub function_payload_type: Option<String>,
    /// `Identity`.
    #[serde(default)]
    pub identity: Identity,
}

/// `Identity` of an authorizer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Identity {
    /// `Header` (TOKEN authorizers).
    #[serde(default)]
    pub header: Option<String>,
    /// `Headers` (REQUEST authorizers): `method.request.header.NAME`.
    #[serde(default)]
    pub headers: Vec<String>,
    /// `QueryStrings` (REQUEST): `method.request.querystring.NAME`.
    #[serde(default)]
    pub query_strings: Vec<String>,
    /// `StageVariables` (REQUEST): `stageVariables.NAME`.
    #[serde(default)]
    pub stage_variables: Vec<String>,
    /// `Context` (REQUEST): `context.NAME`, e.g. `httpMethod`, `resourcePath`.
    #[serde(default)]
    pub context: Vec<String>,
    /// `ReauthorizeEvery`, seconds.
    #[serde(default, deserialize_with = "opt_number")]
    pub reauthorize_every: Option<u32>,
}

/// `Cors`: `"'*'"` or the settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum CorsProperties {
    /// Only `AllowOrigin`.
    Origin(String),
    /// The settings.
    Settings {
        /// `AllowOrigin`.
        #[serde(rename = "AllowOrigin")]
        allow_origin: String,
        /// `AllowMethods`.
        #[serde(rename = "AllowMethods", default)]
        allow_methods: Option<String>,
        /// `AllowHeaders`.
        #[serde(rename = "AllowHeaders", default)]
        allow_headers: Option<String>,
        /// `MaxAge`.
        #[serde(rename = "MaxAge", default, deserialize_with = "opt_scalar")]
        max_age: Option<String>,
    },
}

/// One of `GatewayResponses`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GatewayResponseProperties {
    /// `StatusCode`.
    #[serde(default, deserialize_with = "opt_number")]
    pub status_code: Option<u16>,
    /// `ResponseParameters`.
    #[serde(default)]
    pub response_parameters: ResponseParameters,
    /// `ResponseTemplates`, by content type.
    #[serde(default)]
    pub response_templates: BTreeMap<String, String>,
}

/// `ResponseParameters` of a Gateway Response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResponseParameters {
    /// `Headers`, values as written (in API Gateway's single quotes).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// `AWS::Serverless::Function` properties.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionProperties {
    /// `Environment`.
    pub environment: Environment,
    /// `Events`, by name.
    pub events: BTreeMap<String, Event>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawFunctionProperties {
    #[serde(default)]
    environment: Environment,
    #[serde(default)]
    events: BTreeMap<String, Value>,
}

/// A function's event source, by its `Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `Type: Api`.
    Api(ApiEvent),
    /// `Type: SQS`.
    Sqs(SqsEvent),
    /// Any other type, by name; not read.
    Other(String),
}

impl Event {
    /// Reads one event: its `Type`, then `Properties` as that type's struct.
    fn read(body: Value, at: &str) -> Result<Self, TemplateError> {
        #[derive(Deserialize)]
        struct Kind {
            #[serde(rename = "Type")]
            kind: String,
        }
        let Kind { kind } = read(body.clone(), at)?;
        Ok(match kind.as_str() {
            "Api" => Event::Api(read::<Body<ApiEvent>>(body, at)?.properties),
            "SQS" => Event::Sqs(read::<Body<SqsEvent>>(body, at)?.properties),
            _ => Event::Other(kind),
        })
    }
}

/// `Properties` of an `Api` event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiEvent {
    /// `RestApiId`; without it the route goes to SAM's implicit API.
    #[serde(default)]
    pub rest_api_id: Option<Expr>,
    /// `Method`, in any case.
    pub method: String,
    /// `Path`, a template.
    pub path: String,
    /// `Auth`.
    #[serde(default)]
    pub auth: EventAuth,
}

/// `Properties` of an `SQS` event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SqsEvent {
    /// `Queue`: the queue's ARN (`!GetAtt QUEUE.Arn`).
    pub queue: Expr,
    /// `BatchSize` (SAM's default is 10).
    #[serde(default, deserialize_with = "opt_number")]
    pub batch_size: Option<u32>,
    /// `FunctionResponseTypes`, e.g. `ReportBatchItemFailures`.
    #[serde(default)]
    pub function_response_types: Vec<String>,
}

/// `AWS::SQS::Queue` properties.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueProperties {
    /// `VisibilityTimeout`, seconds.
    #[serde(default, deserialize_with = "opt_number")]
    pub visibility_timeout: Option<u32>,
    /// `MessageRetentionPeriod`, seconds.
    #[serde(default, deserialize_with = "opt_number")]
    pub message_retention_period: Option<u32>,
    /// `RedrivePolicy`.
    #[serde(default)]
    pub redrive_policy: Option<RedrivePolicy>,
}

/// `RedrivePolicy` of a queue (its keys are camelCase, as SQS spells them).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedrivePolicy {
    /// `deadLetterTargetArn` (`!GetAtt DLQ.Arn`).
    pub dead_letter_target_arn: Expr,
    /// `maxReceiveCount`.
    #[serde(deserialize_with = "number")]
    pub max_receive_count: u32,
}

/// `AWS::SecretsManager::Secret` properties.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretProperties {
    /// `SecretString`, if set (else `GenerateSecretString`, not read).
    #[serde(default)]
    pub secret_string: Option<Expr>,
}

/// `Auth` of an `Api` event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventAuth {
    /// `Authorizer`: a name under the API's `Authorizers`, or `NONE`.
    #[serde(default)]
    pub authorizer: Option<String>,
}

/// `AWS::DynamoDB::Table` properties.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableProperties {
    /// `TableName`, if set.
    #[serde(default)]
    pub table_name: Option<Expr>,
    /// `BillingMode`.
    #[serde(default)]
    pub billing_mode: Option<String>,
    /// `KeySchema`.
    pub key_schema: Vec<KeySchemaElement>,
    /// `AttributeDefinitions`.
    pub attribute_definitions: Vec<AttributeDefinition>,
    /// `GlobalSecondaryIndexes`.
    #[serde(default)]
    pub global_secondary_indexes: Vec<GlobalSecondaryIndex>,
    /// `TimeToLiveSpecification`.
    #[serde(default)]
    pub time_to_live_specification: Option<TimeToLiveSpecification>,
}

/// `TimeToLiveSpecification` of a table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeToLiveSpecification {
    /// `AttributeName`: the item's expiry, Unix seconds.
    pub attribute_name: String,
    /// `Enabled`.
    #[serde(deserialize_with = "flag")]
    pub enabled: bool,
}

/// One of `KeySchema`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySchemaElement {
    /// `AttributeName`.
    pub attribute_name: String,
    /// `KeyType`.
    pub key_type: KeyType,
}

/// `KeyType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum KeyType {
    /// `HASH`: the partition key.
    #[serde(rename = "HASH")]
    Hash,
    /// `RANGE`: the sort key.
    #[serde(rename = "RANGE")]
    Range,
}

/// One of `AttributeDefinitions`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    /// `AttributeName`.
    pub attribute_name: String,
    /// `AttributeType`: `S`, `N` or `B`.
    pub attribute_type: String,
}

/// One of `GlobalSecondaryIndexes`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GlobalSecondaryIndex {
    /// `IndexName`.
    pub index_name: String,
    /// `KeySchema`.
    pub key_schema: Vec<KeySchemaElement>,
    /// `Projection.ProjectionType`, e.g. `ALL`.
    #[serde(default)]
    pub projection: Projection,
}

/// `Projection` of an index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Projection {
    /// `ProjectionType`.
    #[serde(default)]
    pub projection_type: Option<String>,
    /// `NonKeyAttributes`.
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

// ---- field readers ----------------------------------------------------------

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

fn opt_scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Value::deserialize(d)?;
    scalar(&value)
        .map(Some)
        .ok_or_else(|| de::Error::custom("expected a literal value"))
}

/// `true`/`false`, also as the strings CloudFormation accepts.
fn opt_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match opt_scalar(d)?.as_deref() {
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        _ => Err(de::Error::custom("expected true or false")),
    }
}

fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    opt_flag(d).map(|f| f.unwrap_or(false))
}

fn number<'de, D: Deserializer<'de>, N: std::str::FromStr>(d: D) -> Result<N, D::Error> {
    opt_number(d)?.ok_or_else(|| de::Error::custom("expected a number"))
}

/// A number, also written as a string (`StatusCode: "401"`).
fn opt_number<'de, D: Deserializer<'de>, N: std::str::FromStr>(
    d: D,
) -> Result<Option<N>, D::Error> {
    let text = opt_scalar(d)?.unwrap_or_default();
    text.parse()
        .map(Some)
        .map_err(|_| de::Error::custom(format!("{text:?} is not a number")))
}
