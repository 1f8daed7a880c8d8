//! OAuth 2.0 client-credentials tokens for service-to-service calls (Amazon
//! Cognito's `/oauth2/token` or any RFC 6749 server): cached per scope set,
//! refreshed in the background before they expire, one token request at a
//! time per scope set however many tasks ask.
//!
//! ```no_run
//! use token_cache::{ScopeSet, TokenCache};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // TOKEN_URL, CLIENT_ID, CLIENT_SECRET (and optional TOKEN_* settings).
//! let cache = TokenCache::from_env()?;
//! let scopes = ScopeSet::parse("weather-api/get weather-api/post")?;
//! let http = reqwest::Client::new();
//!
//! // Bearer token added; on a 401 the token is refreshed once and the call retried once.
//! let response = cache.send(&scopes, http.get("https://api.example.com/weather/events")).await?;
//! println!("{}", response.status());
//!
//! // Or take the token yourself.
//! let token = cache.get(&scopes).await?;
//! let _ = http.get("https://api.example.com/weather/events").bearer_auth(token.secret()).send().await?;
//! # Ok(()) }
//! ```
//!
//! Module map: [`state`] (pure freshness and who-fetches decisions),
//! [`fetch`] (one token request, both sources; the secret provider), `cache`
//! (entries, single flight, retries), `middleware` (feature `middleware`:
//! [`TokenMiddleware`] for reqwest-middleware), [`config`], [`scope`],
//! [`secret`], [`clock`], [`error`], [`shared`] (the optional fleet-wide
//! second level: [`SharedTokenStore`], DynamoDB with feature `dynamodb`).

mod cache;
pub mod clock;
pub mod config;
pub mod error;
pub mod fetch;
#[cfg(feature = "middleware")]
mod middleware;
pub mod scope;
pub mod secret;
pub mod shared;
pub mod state;

pub use cache::{ScopedTokenCache, Stats, TokenCache, TokenCacheBuilder};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ClientAuth, Config, RetryPolicy, Settings, TokenSource};
pub use error::{OAuthErrorKind, TokenCacheError};
pub use fetch::{
    FetchFuture, FetchedToken, HttpFetcher, ReloadFuture, SecretFuture, SecretProvider,
    TokenFetcher,
};
#[cfg(feature = "middleware")]
pub use middleware::TokenMiddleware;
pub use scope::ScopeSet;
pub use secret::{AccessToken, ClientSecret};
#[cfg(feature = "dynamodb")]
pub use shared::DynamoDbTokenStore;
pub use shared::{
    SharedRecord, SharedSettings, SharedState, SharedTokenStore, StoreError, StoreFuture,
};
