//! The weather-events API: a Lambda function behind API Gateway and the authorizer.
//!
//! - [`event`]: the event's typed values, validation of new events, the seed data;
//! - [`store`]: the [`EventStore`] interface and the [`InMemoryStore`];
//! - `dynamodb`: the `DynamoDbStore` (one DynamoDB table) and the SDK settings (the
//!   `dynamodb` feature, on by default);
//! - [`page`]: page sizes, list order and the sealed `nextToken`;
//! - [`idempotency`]: `Idempotency-Key` values and the claims stores record;
//! - [`clock`]: the injected [`Clock`];
//! - [`routes`]: the route table;
//! - [`context`]: the caller and routing path from the API Gateway request context;
//! - [`handler`]: [`Api::handle`], one request in, one response out;
//! - [`config`]: [`Config`], read once at init;
//! - [`error`]: [`ApiError`], the crate's one error type and its HTTP mapping.
//!
//! `main.rs` only builds the store and starts the runtime; everything here runs in tests
//! without Lambda.

pub mod clock;
pub mod config;
pub mod context;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod error;
pub mod event;
pub mod handler;
pub mod idempotency;
pub mod page;
pub mod routes;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
#[cfg(feature = "dynamodb")]
pub use dynamodb::DynamoDbStore;
pub use error::ApiError;
pub use event::{Event, EventId, NewEvent};
pub use handler::Api;
pub use idempotency::{Claim, Created, IdempotencyKey};
pub use page::{OrderKey, Page, PageKey, PageLimit};
pub use store::{EventStore, InMemoryStore};
