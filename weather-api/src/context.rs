//! What the API Gateway request context tells the handlers: who is calling and which
//! path to route on, for REST API (payload 1.0), HTTP API (payload 2.0) and function URLs.

use std::collections::HashMap;

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde_json::Value;

/// Authorizer context keys naming the caller, most specific first. The authorizer sets
/// `client_id` for client-credentials tokens; `principalId` and `sub` are the fallbacks.
const CALLER_KEYS: [&str; 3] = ["client_id", "principalId", "sub"];

/// The authenticated caller, as the authorizer named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(String);

impl Caller {
    /// A caller with this identifier.
    pub(crate) fn new(id: String) -> Self {
        Self(id)
    }

    /// The caller's identifier (stored as an event's `createdBy`).
    pub fn id(&self) -> &str {
        &self.0
    }

    /// The caller named by the request's authorizer context, if any:
    /// - REST API: `requestContext.authorizer.{client_id,principalId,sub}`;
    /// - HTTP API, Lambda authorizer: `requestContext.authorizer.lambda.{...}`;
    /// - HTTP API, JWT authorizer: `requestContext.authorizer.jwt.claims.{client_id,sub}`.
    ///
    /// Only non-empty string values count.
    pub fn from_request(req: &Request) -> Option<Self> {
        let authorizer = match req.request_context_ref()? {
            RequestContext::ApiGatewayV1(ctx) => &ctx.authorizer,
            RequestContext::ApiGatewayV2(ctx) => ctx.authorizer.as_ref()?,
            _ => return None,
        };
        from_fields(&authorizer.fields).or_else(|| {
            let claims = &authorizer.jwt.as_ref()?.claims;
            CALLER_KEYS
                .iter()
                .find_map(|key| non_empty(claims.get(*key).map(String::as_str)))
        })
    }
}

fn from_fields(fields: &HashMap<String, Value>) -> Option<Caller> {
    CALLER_KEYS
        .iter()
        .find_map(|key| non_empty(fields.get(*key).and_then(Value::as_str)))
}

fn non_empty(value: Option<&str>) -> Option<Caller> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| Caller(v.to_owned()))
}

/// The path to route on, without the API Gateway stage: the REST API's `path`, or the
/// HTTP API's `rawPath` with a named stage's `/{stage}` prefix removed.
pub fn route_path(req: &Request) -> &str {
    let raw = req.raw_http_path();
    if raw.is_empty() {
        // Not built from an API Gateway event (a plain `http::Request`).
        return req.uri().path();
    }
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref()
        && let Some(stage) = ctx.stage.as_deref().filter(|s| *s != "$default")
        && let Some(rest) = raw
            .strip_prefix('/')
            .and_then(|r| r.strip_prefix(stage))
            .filter(|r| r.starts_with('/'))
    {
        return rest;
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(authorizer: Value) -> Request {
        let event = serde_json::json!({
            "resource": "/events",
            "path": "/events",
            "httpMethod": "GET",
            "headers": {},
            "multiValueHeaders": {},
            "requestContext": {
                "stage": "weather",
                "httpMethod": "GET",
                "authorizer": authorizer,
            },
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn v2(stage: &str, raw_path: &str, authorizer: Option<Value>) -> Request {
        let mut ctx = serde_json::json!({
            "stage": stage,
            "http": {"method": "GET", "path": raw_path},
        });
        if let Some(authorizer) = authorizer {
            ctx["authorizer"] = authorizer;
        }
        let event = serde_json::json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": raw_path,
            "rawQueryString": "",
            "headers": {},
            "requestContext": ctx,
            "isBase64Encoded": false,
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    #[test]
    fn rest_caller_prefers_client_id() {
        let req = v1(serde_json::json!({
            "principalId": "principal",
            "sub": "subject",
            "client_id": "client",
        }));
        assert_eq!(Caller::from_request(&req).unwrap().id(), "client");
    }

    #[test]
    fn rest_caller_falls_back_to_principal_then_sub() {
        let req = v1(serde_json::json!({"principalId": "principal", "sub": "subject"}));
        assert_eq!(Caller::from_request(&req).unwrap().id(), "principal");
        let req = v1(serde_json::json!({"sub": "subject", "client_id": ""}));
        assert_eq!(Caller::from_request(&req).unwrap().id(), "subject");
    }

    #[test]
    fn non_string_or_missing_values_are_no_caller() {
        assert_eq!(
            Caller::from_request(&v1(serde_json::json!({"client_id": 7}))),
            None
        );
        assert_eq!(Caller::from_request(&v1(serde_json::json!({}))), None);
        assert_eq!(Caller::from_request(&v2("$default", "/events", None)), None);
    }

    #[test]
    fn http_api_lambda_authorizer_caller() {
        let req = v2(
            "$default",
            "/events",
            Some(serde_json::json!({"lambda": {"client_id": "lambda-client"}})),
        );
        assert_eq!(Caller::from_request(&req).unwrap().id(), "lambda-client");
    }

    #[test]
    fn http_api_jwt_authorizer_caller() {
        let req = v2(
            "$default",
            "/events",
            Some(serde_json::json!({"jwt": {"claims": {"client_id": "jwt-client"}, "scopes": []}})),
        );
        assert_eq!(Caller::from_request(&req).unwrap().id(), "jwt-client");
    }

    #[test]
    fn rest_route_path_has_no_stage() {
        assert_eq!(route_path(&v1(serde_json::json!({}))), "/events");
    }

    #[test]
    fn http_api_named_stage_is_stripped() {
        assert_eq!(route_path(&v2("prod", "/prod/events/1", None)), "/events/1");
        assert_eq!(
            route_path(&v2("prod", "/production/events", None)),
            "/production/events"
        );
        assert_eq!(route_path(&v2("$default", "/events", None)), "/events");
    }
}
