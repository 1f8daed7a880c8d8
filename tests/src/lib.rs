//! The local stack's view of the deployed system.
//!
//! `template.yaml` (AWS SAM) is the one description of what `sam deploy` creates: the
//! Cognito user pool, resource server and scopes, the app clients, the REST API's routes
//! and the Lambda authorizer with its `ROUTE_SCOPES`. [`template::Template::load`] reads
//! it into a typed [`template::StackModel`] that
//!
//! - `tests/template_consistency.rs` checks offline (every route has its scopes, every
//!   scope exists, each client can ask for exactly what it should), and
//! - a local stack (a local token issuer standing in for Cognito and a local gateway
//!   standing in for API Gateway) reads to mirror the deployed configuration.

//!
//! The local stack itself: [`aws`] (the template's table, queues and secret on moto),
//! [`event_source`] (the SQS event source mapping of a queue-fed function), [`cognito`] (a token issuer standing in for Cognito),
//! [`gateway`] (API Gateway's REST semantics in front of the functions), [`supervisor`]
//! (starting and stopping server processes, and whatever they spawned), [`watch`]
//! (`cargo lambda watch` and `invoke`), [`stack`] (`cargo lambda watch` and both servers
//! started and stopped together), [`banner`] (what `scripts/local-stack` prints, from
//! text files), [`http`] and
//! [`log`] (their small shared server and request logs).

pub mod aws;
pub mod banner;
pub mod cognito;
pub mod error;
pub mod event_source;
pub mod gateway;
pub mod http;
pub mod log;
pub mod stack;
pub mod supervisor;
pub mod template;
pub mod watch;

pub use error::StackError;
pub use stack::{Stack, StackOptions};
pub use template::{StackModel, Template, TemplateError};
