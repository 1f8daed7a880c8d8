//! A Lambda authorizer for API Gateway that verifies Amazon Cognito JWTs and
//! decides per route from the token's OAuth 2.0 custom scopes, with the
//! built-in COGNITO_USER_POOLS authorizer's semantics.
//!
//! Where things are (modules are private; what callers need is re-exported
//! below): `token` parses and verifies a JWT, `jwks` holds the pool's keys,
//! `routes` the route table and matching, `decision` the scope check,
//! `policy` the IAM answer and its evaluator, `glob` IAM's wildcard patterns,
//! `cache` the verified-token, policy-plan and Allow-document caches, `event`
//! the API Gateway event shapes, `arn` method ARNs, `config` the settings,
//! `error` the one error type and its conversion to Lambda's answer,
//! `authorizer` ties them together, `handler` is the thin Lambda adapter and
//! `logging` the subscriber.

mod arn;
mod authorizer;
mod cache;
mod config;
mod decision;
mod error;
mod event;
mod glob;
mod handler;
mod jwks;
mod logging;
mod policy;
mod routes;
mod token;

pub use arn::{ArnError, MethodArn};
pub use authorizer::{Authorizer, Clock, Outcome, SystemClock, Verdict};
pub use cache::Verified;
pub use config::{
    BUILT_IN_ROUTE_SCOPES, Config, ConfigError, InsufficientScope, PolicyScope, PoolConfig,
    defaults,
};
pub use error::{AuthError, UNAUTHORIZED};
pub use event::{AuthorizerEvent, AuthorizerResponse, Context, PolicyResponse};
pub use handler::handle;
pub use jwks::{JwksError, KeySet};
pub use logging::init as init_logging;
pub use policy::{MAX_POLICY_BYTES, PolicyPlan, evaluate};
pub use routes::{Method, Route, RouteKey, RouteTable, RouteTableError, ScopeSet, Segment};
pub use token::{Claims, MAX_TOKEN_BYTES, Rules, TokenUse, UnverifiedToken, extract_token};
