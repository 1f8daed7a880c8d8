//! Lambda entry point: read the configuration, build the store once per container
//! (the DynamoDB table named by `EVENTS_TABLE`, else the in-memory store), then serve.
//! A build without the `dynamodb` feature has no table store: its `Config` refuses
//! `EVENTS_TABLE`, so init stops naming it.

use lambda_http::{Error, service_fn, tracing};
use weather_api::{Api, Config, EventStore, InMemoryStore};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // JSON or text per AWS_LAMBDA_LOG_FORMAT, level per AWS_LAMBDA_LOG_LEVEL / RUST_LOG.
    tracing::init_default_subscriber();
    let config = Config::from_lookup(|name| std::env::var(name).ok())?;
    #[cfg(feature = "dynamodb")]
    if let Some(table) = config.events_table.clone() {
        // One SDK client per container; endpoint, region and credentials from the
        // SDK's own settings (AWS_ENDPOINT_URL, AWS_REGION, the function's role).
        let sdk = weather_api::dynamodb::sdk_config_loader().load().await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let clock = std::sync::Arc::new(weather_api::SystemClock);
        let store = weather_api::DynamoDbStore::open(client, table.as_str(), clock)
            .await
            .map_err(|err| {
                format!(
                    "{}={table}: cannot open the table: {err}",
                    Config::EVENTS_TABLE
                )
            })?;
        return serve(Api::new(store, config)).await;
    }
    serve(Api::new(InMemoryStore::seeded(), config)).await
}

async fn serve<S: EventStore>(api: Api<S>) -> Result<(), Error> {
    let api = &api;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(api.handle(req).await)
    }))
    .await
}
