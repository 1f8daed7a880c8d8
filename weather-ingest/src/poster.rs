//! `POST {WEATHER_API_URL}/events` for one message: the token from the token cache
//! (one refresh and one retry on a 401, `TokenCache::send`), `Idempotency-Key: <the
//! message id>`, and the answer turned into an [`Outcome`].

use std::future::Future;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use token_cache::{ScopeSet, TokenCache};

use crate::event::EventBody;
use crate::outcome::{self, Outcome};

/// Request header carrying the message id.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Response header the API sets on an answer replayed for a repeated key.
pub const REPLAYED: &str = "idempotent-replayed";
/// Most of an error answer's body read (for its `message`).
const MAX_ERROR_BODY: usize = 4 * 1024;

/// Creates the event of one message.
pub trait Poster: Send + Sync {
    /// Posts `body` with `message_id` as its idempotency key. Never fails: every
    /// failure is an [`Outcome`].
    fn post<'a>(
        &'a self,
        message_id: &'a str,
        body: &'a EventBody,
    ) -> impl Future<Output = Outcome> + Send + 'a;
}

/// The weather API over HTTP.
#[derive(Debug, Clone)]
pub struct ApiPoster {
    cache: TokenCache,
    scopes: ScopeSet,
    http: reqwest::Client,
    events_url: Url,
}

impl ApiPoster {
    /// Posts to `events_url` with tokens for `scopes` from `cache`, over `http`
    /// (build it with [`http_client`]).
    pub fn new(
        cache: TokenCache,
        scopes: ScopeSet,
        http: reqwest::Client,
        events_url: Url,
    ) -> Self {
        Self {
            cache,
            scopes,
            http,
            events_url,
        }
    }

    /// The token cache (its `stats()` count token requests).
    pub fn cache(&self) -> &TokenCache {
        &self.cache
    }
}

/// The HTTP client for the API: no redirects (a redirect would carry the bearer token
/// elsewhere; a 3xx is a transient failure to look at), `timeout` per request.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(2).min(timeout))
        .timeout(timeout)
        .build()
}

impl Poster for ApiPoster {
    async fn post<'a>(&'a self, message_id: &'a str, body: &'a EventBody) -> Outcome {
        {
            let request = self
                .http
                .post(self.events_url.clone())
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .header(IDEMPOTENCY_KEY, message_id)
                .body(body.as_str().to_owned());
            let mut response = match self.cache.send(&self.scopes, request).await {
                Ok(response) => response,
                Err(err) => return outcome::from_error(&err),
            };
            let status = response.status().as_u16();
            let replayed = response
                .headers()
                .get(REPLAYED)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
            let mut error_body = Vec::new();
            if !response.status().is_success() {
                // Bounded: only the `message` of a refusal is wanted.
                while let Ok(Some(chunk)) = response.chunk().await {
                    error_body.extend_from_slice(&chunk);
                    if error_body.len() >= MAX_ERROR_BODY {
                        break;
                    }
                }
            }
            outcome::from_status(status, replayed, &error_body)
        }
    }
}
