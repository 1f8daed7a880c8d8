//! API Gateway's authorizer events in, answers out: REST TOKEN and REQUEST
//! events (IAM policy answers) and HTTP API payload 2.0 (simple answers).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lambda_events::event::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequest,
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayV2CustomAuthorizerSimpleResponse,
    ApiGatewayV2CustomAuthorizerV2Request,
};
use serde::{Deserialize, Deserializer, Serialize};

use crate::arn::MethodArn;
use crate::error::AuthError;

/// The three events an authorizer can be sent.
#[derive(Debug, Clone)]
pub enum AuthorizerEvent {
    /// REST API, `type: TOKEN`.
    Token(ApiGatewayCustomAuthorizerRequest),
    /// REST API, `type: REQUEST`.
    Request(Box<ApiGatewayCustomAuthorizerRequestTypeRequest>),
    /// HTTP API, payload format `2.0`.
    HttpV2(Box<ApiGatewayV2CustomAuthorizerV2Request>),
}

impl<'de> Deserialize<'de> for AuthorizerEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(d)?;
        let kind = (
            value.get("version").and_then(|v| v.as_str()),
            value.get("type").and_then(|v| v.as_str()),
        );
        match kind {
            (Some("2.0"), _) => serde_json::from_value(value).map(|e| Self::HttpV2(Box::new(e))),
            (_, Some("TOKEN")) => serde_json::from_value(value).map(Self::Token),
            (_, Some("REQUEST")) => {
                serde_json::from_value(value).map(|e| Self::Request(Box::new(e)))
            }
            _ => {
                return Err(D::Error::custom(
                    "not a TOKEN, REQUEST or HTTP API 2.0 authorizer event",
                ));
            }
        }
        // serde's message would quote the offending value (a header holding
        // the token, say); the runtime logs this error, so it stays fixed.
        .map_err(|_| D::Error::custom("authorizer event with fields of the wrong shape"))
    }
}

/// How the route is named by the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteRef<'a> {
    /// A route template (`GET` + `/events/{id}`): REQUEST and HTTP API events.
    Template(&'a str, &'a str),
    /// A concrete path from the method ARN: TOKEN events.
    Path(&'a str, &'a str),
}

/// What the authorizer needs from any event.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The identity source value (the `Authorization` header), if any.
    pub authorization: Option<&'a str>,
    /// The method or route ARN.
    pub arn: MethodArn,
    /// The route key as `(method, template)`, when the event names it.
    template: Option<(String, &'a str)>,
}

impl Inputs<'_> {
    /// The route reference to look up.
    pub fn route(&self) -> RouteRef<'_> {
        match &self.template {
            Some((method, template)) => RouteRef::Template(method, template),
            None => RouteRef::Path(self.arn.method(), self.arn.path()),
        }
    }
}

impl AuthorizerEvent {
    /// Extracts token, ARN and route.
    pub fn inputs(&self) -> Result<Inputs<'_>, AuthError> {
        let bad = |why: &str| AuthError::InvalidEvent(why.to_owned());
        match self {
            Self::Token(e) => {
                let arn = e
                    .method_arn
                    .as_deref()
                    .ok_or_else(|| bad("TOKEN event without methodArn"))?;
                let arn = MethodArn::parse(arn).map_err(|e| bad(&e.to_string()))?;
                Ok(Inputs {
                    authorization: e.authorization_token.as_deref(),
                    arn,
                    template: None,
                })
            }
            Self::Request(e) => {
                let arn = e
                    .method_arn
                    .as_deref()
                    .ok_or_else(|| bad("REQUEST event without methodArn"))?;
                let arn = MethodArn::parse(arn).map_err(|e| bad(&e.to_string()))?;
                let authorization = e.headers.get("authorization").and_then(|v| v.to_str().ok());
                let template = match (e.http_method.as_ref(), e.resource.as_deref()) {
                    (Some(method), Some(resource)) => Some((method.as_str().to_owned(), resource)),
                    _ => None,
                };
                Ok(Inputs {
                    authorization,
                    arn,
                    template,
                })
            }
            Self::HttpV2(e) => {
                let arn = e
                    .route_arn
                    .as_deref()
                    .ok_or_else(|| bad("HTTP API event without routeArn"))?;
                let arn = MethodArn::parse(arn).map_err(|e| bad(&e.to_string()))?;
                let only_source = match e.identity_source.as_deref() {
                    Some([only]) => Some(only.as_str()),
                    _ => None,
                };
                // The identity source is what API Gateway caches the answer
                // under: decide on exactly that value when there is one.
                let authorization = only_source
                    .or_else(|| e.headers.get("authorization").and_then(|v| v.to_str().ok()));
                let template = e
                    .route_key
                    .as_deref()
                    .and_then(|k| k.split_once(' '))
                    .map(|(method, template)| (method.to_owned(), template));
                // `$default` and other keys without a method match no route: fail closed.
                let template = template.or(Some((String::new(), "")));
                Ok(Inputs {
                    authorization,
                    arn,
                    template,
                })
            }
        }
    }

    /// True for HTTP API events, which take the simple `isAuthorized` answer.
    pub fn is_http_api(&self) -> bool {
        matches!(self, Self::HttpV2(_))
    }
}

/// A REST authorizer answer. Not `aws_lambda_events`'
/// `ApiGatewayCustomAuthorizerResponse`, which writes `"usageIdentifierKey": null`
/// (and `"context": null` when empty): API Gateway rejects both with a 500.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyResponse {
    /// The token's `sub`.
    pub principal_id: String,
    /// The IAM policy (shared with the verified-token cache).
    pub policy_document: Arc<ApiGatewayCustomAuthorizerPolicy>,
    /// String context for the backend; omitted when empty.
    #[serde(skip_serializing_if = "no_context")]
    pub context: Context,
}

/// The authorizer context: strings only, shared with the verified-token cache.
pub type Context = Arc<BTreeMap<String, String>>;

fn no_context(context: &Context) -> bool {
    context.is_empty()
}

/// The authorizer's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AuthorizerResponse {
    /// REST API: an IAM policy.
    Policy(PolicyResponse),
    /// HTTP API: `{"isAuthorized": ..., "context": {...}}`.
    Simple(ApiGatewayV2CustomAuthorizerSimpleResponse<Context>),
}

impl AuthorizerResponse {
    /// An HTTP API simple answer.
    pub fn simple(is_authorized: bool, context: Context) -> Self {
        let mut r = ApiGatewayV2CustomAuthorizerSimpleResponse::default();
        r.is_authorized = is_authorized;
        r.context = context;
        Self::Simple(r)
    }
}
