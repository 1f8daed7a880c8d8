//! A backend service calling the weather API with cached client-credentials tokens.
//!
//! Environment: `WEATHER_API_URL` (base URL, `/events` is appended), `TOKEN_URL`,
//! `CLIENT_ID`, `CLIENT_SECRET`, optional `TOKEN_SCOPES` (space-separated; unset
//! means no `scope` parameter, so Cognito grants every scope of the app client),
//! optional `CALLS` and the `TOKEN_*` settings of `token_cache::Config`.
//!
//! ```text
//! cargo run -p token-cache --example weather_client -- --calls 100
//! ```
//!
//! Makes N (`--calls N`, else `CALLS`, else 10) `GET /events` and one
//! `POST /events`, then prints one line `calls=<n> token_requests=<m> failures=<k>`
//! where `calls` counts every API call made (N + 1). Exits 1 if any call
//! failed, 2 on a configuration error.

use std::process::ExitCode;
use std::time::Duration;

use token_cache::{Config, ScopeSet, TokenCache};

struct Settings {
    events_url: String,
    scopes: ScopeSet,
    calls: u32,
}

fn settings(args: &[String]) -> Result<Settings, String> {
    let base =
        std::env::var("WEATHER_API_URL").map_err(|_| "WEATHER_API_URL is required".to_owned())?;
    let base = base.trim().trim_end_matches('/');
    reqwest::Url::parse(base).map_err(|e| format!("WEATHER_API_URL: not a URL: {e}"))?;
    let scopes = match std::env::var("TOKEN_SCOPES") {
        Ok(s) => ScopeSet::parse(&s).map_err(|e| format!("TOKEN_SCOPES: {e}"))?,
        Err(_) => ScopeSet::empty(),
    };
    let calls = match args.iter().position(|a| a == "--calls") {
        Some(i) => args.get(i + 1).ok_or("--calls needs a number")?.clone(),
        None => std::env::var("CALLS").unwrap_or_else(|_| "10".to_owned()),
    };
    let calls = calls
        .trim()
        .parse()
        .map_err(|_| format!("calls: {calls:?} is not a whole number"))?;
    Ok(Settings {
        events_url: format!("{base}/events"),
        scopes,
        calls,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();

    let args: Vec<String> = std::env::args().skip(1).collect();
    let (settings, config) = match (settings(&args), Config::from_env()) {
        (Ok(s), Ok(c)) => (s, c),
        (Err(e), _) => {
            eprintln!("weather_client: {e}");
            return ExitCode::from(2);
        }
        (_, Err(e)) => {
            eprintln!("weather_client: {e}");
            return ExitCode::from(2);
        }
    };
    // One client for the API; the cache builds its own for the token endpoint
    // (no redirects, its own timeouts).
    let client = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("weather_client: cannot build the HTTP client: {e}");
            return ExitCode::from(2);
        }
    };
    let cache = match TokenCache::new(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("weather_client: {e}");
            return ExitCode::from(2);
        }
    };

    let mut calls = 0u32;
    let mut failures = 0u32;
    let mut record =
        |what: &str, result: Result<reqwest::Response, token_cache::TokenCacheError>| {
            calls += 1;
            match result {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    failures += 1;
                    eprintln!("weather_client: {what}: HTTP {}", r.status());
                }
                Err(e) => {
                    failures += 1;
                    eprintln!("weather_client: {what}: {e}");
                }
            }
        };

    for _ in 0..settings.calls {
        let result = cache
            .send(&settings.scopes, client.get(&settings.events_url))
            .await;
        record("GET /events", result);
    }
    let event = serde_json::json!({
        "name": "Storm from the token-cache example",
        "dateStart": "2022-02-16",
        "dateEnd": "2022-02-21",
    });
    let result = cache
        .send(
            &settings.scopes,
            client.post(&settings.events_url).json(&event),
        )
        .await;
    record("POST /events", result);

    println!(
        "calls={calls} token_requests={} failures={failures}",
        cache.stats().token_requests
    );
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
