//! The weather API through a reqwest-middleware stack: reqwest-retry for
//! transient failures outside, `TokenMiddleware` for the bearer token inside.
//!
//! Environment: `WEATHER_API_URL` (base URL), `TOKEN_URL` (or
//! `TOKEN_SOURCE=get-client-token` and `COGNITO_REGION`), `CLIENT_ID`,
//! `CLIENT_SECRET`, optional `TOKEN_SCOPES` (default `weather-api/get`).
//!
//! ```text
//! cargo run -p token-cache --features middleware --example middleware_client
//! ```
//!
//! Prints `status=<code> token_requests=<n>`; exits 1 on a failed call, 2 on a
//! configuration error.

use std::process::ExitCode;

use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;
use token_cache::{ScopeSet, TokenCache, TokenMiddleware};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();
    let base = std::env::var("WEATHER_API_URL").unwrap_or_default();
    let scopes = std::env::var("TOKEN_SCOPES").unwrap_or_else(|_| "weather-api/get".to_owned());
    let (cache, scopes) = match (TokenCache::from_env(), ScopeSet::parse(&scopes)) {
        (Ok(cache), Ok(scopes)) if !base.trim().is_empty() => (cache, scopes),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
        _ => {
            eprintln!("configuration error: WEATHER_API_URL is required");
            return ExitCode::from(2);
        }
    };
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        // Outside: retries 5xx, 429 and connection errors of the API call.
        .with(RetryTransientMiddleware::new_with_policy(
            ExponentialBackoff::builder().build_with_max_retries(2),
        ))
        // Inside: every attempt carries a current token; a 401 refreshes it once.
        .with(TokenMiddleware::new(cache.clone(), scopes))
        .build();
    let url = format!("{}/events", base.trim().trim_end_matches('/'));
    match client.get(url).send().await {
        Ok(response) => {
            println!(
                "status={} token_requests={}",
                response.status().as_u16(),
                cache.stats().token_requests
            );
            if response.status().is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("call failed: {error}");
            ExitCode::FAILURE
        }
    }
}
