//! Bearer tokens for [`reqwest_middleware`] stacks (feature `middleware`).

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Request, Response, StatusCode};
use reqwest_middleware::{Middleware, Next};

use crate::cache::TokenCache;
use crate::error::TokenCacheError;
use crate::scope::ScopeSet;
use crate::secret::AccessToken;

/// Adds `Authorization: Bearer <token>` for one scope set to every request
/// that passes, and on a 401 from the resource server drops that token, gets a
/// new one and sends the request once more (when it can be cloned), exactly as
/// [`TokenCache::send`] does. The second answer is returned whatever its status.
///
/// Token requests go through the cache's own HTTP client, never through the
/// middleware stack, so a retry middleware around this one retries resource
/// calls, not token requests; a failed token request is a
/// [`reqwest_middleware::Error::Middleware`] (its source a
/// [`TokenCacheError`]), which reqwest-retry treats as fatal, so the cache's
/// own retries are not multiplied. Put a retry middleware *before* this one
/// (outside), so every retried call carries a current token:
///
/// ```no_run
/// # fn build(cache: token_cache::TokenCache) -> Result<(), token_cache::TokenCacheError> {
/// use reqwest_retry::{RetryTransientMiddleware, policies::ExponentialBackoff};
/// use token_cache::{ScopeSet, TokenMiddleware};
///
/// let scopes = ScopeSet::parse("weather-api/post")?;
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(RetryTransientMiddleware::new_with_policy(
///         ExponentialBackoff::builder().build_with_max_retries(2),
///     ))
///     .with(TokenMiddleware::new(cache, scopes))
///     .build();
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TokenMiddleware {
    cache: TokenCache,
    scopes: ScopeSet,
}

impl TokenMiddleware {
    /// Tokens for `scopes` from `cache`.
    pub fn new(cache: TokenCache, scopes: ScopeSet) -> Self {
        Self { cache, scopes }
    }

    async fn token(&self) -> reqwest_middleware::Result<AccessToken> {
        self.cache
            .get(&self.scopes)
            .await
            .map_err(reqwest_middleware::Error::middleware)
    }
}

/// `Bearer <token>`, marked sensitive so no debug output shows it.
pub(crate) fn bearer(token: &AccessToken) -> Result<HeaderValue, TokenCacheError> {
    let mut value = HeaderValue::try_from(format!("Bearer {}", token.secret())).map_err(|_| {
        TokenCacheError::MalformedResponse {
            reason: "the access token cannot be sent in a header".to_owned(),
        }
    })?;
    value.set_sensitive(true);
    Ok(value)
}

fn authorize(request: &mut Request, token: &AccessToken) -> reqwest_middleware::Result<()> {
    let value = bearer(token).map_err(reqwest_middleware::Error::middleware)?;
    request.headers_mut().insert(AUTHORIZATION, value);
    Ok(())
}

#[async_trait::async_trait]
impl Middleware for TokenMiddleware {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let retry = request.try_clone();
        let token = self.token().await?;
        authorize(&mut request, &token)?;
        let response = next.clone().run(request, extensions).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let Some(mut retry) = retry else {
            return Ok(response);
        };
        tracing::info!(scopes = %self.scopes, "resource server answered 401: refreshing the token and retrying once");
        self.cache.invalidate_token(&self.scopes, &token);
        let token = self.token().await?;
        authorize(&mut retry, &token)?;
        next.run(retry, extensions).await
    }
}
