//! The Lambda function: configuration read and the authorizer built once (a bad
//! setting stops init, named), the keys fetched during init, then the runtime.

use authorizer::{Authorizer, Config, SystemClock};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    authorizer::init_logging();
    let built = Config::from_env().and_then(|config| Authorizer::new(config, SystemClock));
    let authorizer = match built {
        Ok(authorizer) => authorizer,
        Err(e) => {
            // In the function's log and on stderr, which Lambda shows for a failed init.
            tracing::error!("{e}");
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    // In Lambda's init phase, so the first request does not pay for it.
    authorizer.fetch_keys().await;
    let authorizer = &authorizer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| {
        authorizer::handle(authorizer, event)
    }))
    .await
}
