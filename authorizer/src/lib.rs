//! A Lambda authorizer for API Gateway that verifies Amazon Cognito JWTs and
//! decides per route from the token's OAuth 2.0 custom scopes, with the
//! built-in COGNITO_USER_POOLS authorizer's semantics.
//!
//! Where things are: [`token`] parses and verifies a JWT, [`jwks`] holds the
//! pool's keys, [`routes`] the route table and matching, [`decision`] the
//! scope check, [`policy`] the IAM answer, [`event`] the API Gateway event
//! shapes, [`config`] the settings, [`authorizer`] ties them together and
//! [`handler`] is the thin Lambda adapter.

pub mod arn;
pub mod authorizer;
pub mod config;
pub mod decision;
pub mod error;
pub mod event;
pub mod handler;
pub mod jwks;
pub mod logging;
pub mod policy;
pub mod routes;
pub mod token;

pub use authorizer::{Authorizer, Clock, SystemClock};
pub use config::Config;
pub use error::AuthError;
pub use event::{AuthorizerEvent, AuthorizerResponse};
