//! Lambda entry point: read the settings, build the function once per container (the
//! secret read, the token cache, one HTTP client, the SDK clients), then serve batches.
//! Any setting missing or unreadable stops init here, naming it; the messages stay in
//! the queue.

use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};
use weather_ingest::{Config, handle_event, init, sdk_config_loader};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // JSON or text per AWS_LAMBDA_LOG_FORMAT, level per AWS_LAMBDA_LOG_LEVEL / RUST_LOG.
    tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = sdk_config_loader().load().await;
    let ingest = init(&config, &sdk).await?;
    let ingest = &ingest;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        handle_event(ingest, event).await
    }))
    .await
}
