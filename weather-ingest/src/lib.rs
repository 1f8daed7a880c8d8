//! weather-ingest: an SQS-triggered Lambda function that turns each message (a weather
//! event in the API's own schema) into `POST {WEATHER_API_URL}/events`, with a
//! client-credentials token from [`token_cache`] and the SQS message id as
//! `Idempotency-Key`, so a redelivered message never creates a second event.
//!
//! Module map: [`config`] (settings), [`event`] (is the body an event the API
//! accepts?), [`outcome`] (created / transient / permanent, from the API's answer),
//! [`poster`] (the HTTP call), [`dead_letter`] (permanent failures to the dead-letter
//! queue), [`batch`] (one batch, concurrently, and the `SQSBatchResponse`),
//! [`secrets`] (the Secrets Manager secret and its re-read after rotation),
//! [`service`] (init once per container, the Lambda adapter), [`error`].

#![deny(missing_docs)]

pub mod batch;
pub mod config;
pub mod dead_letter;
pub mod error;
pub mod event;
pub mod outcome;
pub mod poster;
pub mod secrets;
pub mod service;

pub use batch::{BatchHandler, Summary};
pub use config::Config;
pub use dead_letter::{DeadLetter, DeadLetterQueue, SqsDeadLetterQueue};
pub use error::IngestError;
pub use event::{BodyError, EventBody};
pub use outcome::{Outcome, Permanent, Transient};
pub use poster::{ApiPoster, Poster};
pub use secrets::{ClientCredentials, SecretsManagerCredentials};
pub use service::{Ingest, handle_event, init, sdk_config_loader};
