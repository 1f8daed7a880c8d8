//! Lambda entry point: read the configuration and build the store once per container,
//! then serve requests.

use lambda_http::{Error, service_fn, tracing};
use weather_api::{Api, Config, InMemoryStore};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // JSON or text per AWS_LAMBDA_LOG_FORMAT, level per AWS_LAMBDA_LOG_LEVEL / RUST_LOG.
    tracing::init_default_subscriber();
    let config = Config::from_lookup(|name| std::env::var(name).ok())?;
    let api = Api::new(InMemoryStore::seeded(), config);
    let api = &api;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(api.handle(req).await)
    }))
    .await
}
