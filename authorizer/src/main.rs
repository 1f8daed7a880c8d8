use authorizer::{Authorizer, Config, SystemClock, handler};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    authorizer::logging::init();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let authorizer = match Authorizer::new(config, SystemClock) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    // In Lambda's init phase, so the first request does not pay for it.
    authorizer.fetch_keys().await;
    let authorizer = &authorizer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| {
        handler::handle(authorizer, event)
    }))
    .await
}
