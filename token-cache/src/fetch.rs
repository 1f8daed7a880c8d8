//! One token request: the [`TokenFetcher`] seam and the real HTTP
//! implementation for both token sources (RFC 6749 `/oauth2/token` and
//! Cognito's `GetClientToken`), and the [`SecretProvider`] the client secret
//! is re-read from after `invalid_client`. Retries and caching live in
//! [`crate::TokenCache`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;

use base64::Engine as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use crate::config::{ClientAuth, Config, TokenSource};
use crate::error::{OAuthErrorKind, TokenCacheError};
use crate::scope::ScopeSet;
use crate::secret::ClientSecret;

/// Responses larger than this are malformed (a Cognito access token is ~1 KB).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A successful token response.
#[derive(Clone, PartialEq, Eq)]
pub struct FetchedToken {
    /// The bearer token. Never log it.
    pub access_token: String,
    /// Lifetime from `expires_in`.
    pub expires_in: Duration,
}

impl fmt::Debug for FetchedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchedToken")
            .field("access_token", &format_args!("[redacted]"))
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The future a [`TokenFetcher`] returns.
pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<FetchedToken, TokenCacheError>> + Send + 'a>>;

/// The future [`TokenFetcher::reload_credentials`] returns.
pub type ReloadFuture<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

/// Sends one token request (no retries) for a scope set. The cache calls it
/// at most once at a time per scope set; tests and benches inject their own.
pub trait TokenFetcher: Send + Sync + 'static {
    /// One attempt.
    fn fetch<'a>(&'a self, scopes: &'a ScopeSet) -> FetchFuture<'a>;

    /// Which version of the client's credentials the next attempt uses
    /// (starts at 0; grows each time [`TokenFetcher::reload_credentials`]
    /// puts a new secret in place).
    fn credentials_generation(&self) -> u64 {
        0
    }

    /// The endpoint rejected the credentials of generation `used`
    /// (`invalid_client`): re-read the secret from its source, if there is
    /// one. `true` when newer credentials are now in place (read now, or by
    /// another caller since), so one more attempt may succeed. Rate-limited
    /// and single-flight in [`HttpFetcher`]; the default has no source.
    fn reload_credentials(&self, used: u64) -> ReloadFuture<'_> {
        let _ = used;
        Box::pin(async { false })
    }
}

/// The future a [`SecretProvider`] returns.
pub type SecretFuture<'a> =
    Pin<Box<dyn Future<Output = Result<ClientSecret, TokenCacheError>> + Send + 'a>>;

/// Where the client secret can be read again after it was rotated (AWS
/// Secrets Manager, a file, a vault). The cache reads it only after the token
/// endpoint answered `invalid_client`, at most once per
/// [`Config::secret_reload_interval`], one read at a time.
pub trait SecretProvider: Send + Sync + 'static {
    /// The current secret. Never log it.
    fn client_secret(&self) -> SecretFuture<'_>;
}

/// One version of the client's credentials.
struct Credentials {
    secret: ClientSecret,
    /// `Basic base64(urlencode(id):urlencode(secret))`, marked sensitive.
    basic_header: HeaderValue,
    generation: u64,
}

impl Credentials {
    fn new(
        client_id: &str,
        secret: ClientSecret,
        generation: u64,
    ) -> Result<Self, TokenCacheError> {
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!("{}:{}", encode(client_id), encode(secret.expose()));
        let mut basic_header = HeaderValue::try_from(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ))
        .map_err(|_| TokenCacheError::config("CLIENT_ID", "cannot be used in a header"))?;
        basic_header.set_sensitive(true);
        Ok(Self {
            secret,
            basic_header,
            generation,
        })
    }
}

/// Re-reads of the secret: one at a time, at most once per interval.
struct Reload {
    provider: Arc<dyn SecretProvider>,
    interval: Duration,
    last: tokio::sync::Mutex<Option<Instant>>,
    reads: AtomicU64,
}

/// The real fetcher: one token request to the endpoint of the configured
/// [`TokenSource`] with one reused `reqwest::Client`.
#[derive(Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
    source: TokenSource,
    token_url: Url,
    client_id: String,
    client_auth: ClientAuth,
    credentials: Arc<ArcSwap<Credentials>>,
    reload: Option<Arc<Reload>>,
}

impl fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetcher")
            .field("source", &self.source)
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &self.credentials.load().secret)
            .field("client_auth", &self.client_auth)
            .field("secret_provider", &self.reload.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpFetcher {
    /// Builds the HTTP client for the token endpoint: the configured timeouts,
    /// no redirects (a redirect would carry the credentials elsewhere).
    pub fn new(config: &Config) -> Result<Self, TokenCacheError> {
        Self::with_client_builder(
            config,
            reqwest::Client::builder()
                .user_agent(concat!("token-cache/", env!("CARGO_PKG_VERSION"))),
        )
    }

    /// Builds the token endpoint's client from a caller's builder (its proxy,
    /// TLS roots, DNS resolver, local address, user agent…), with what keeps
    /// the credentials where they belong set over it: no redirects, no
    /// `Referer`, the configured connect and request timeouts.
    ///
    /// There is deliberately no way to hand the cache a ready `reqwest::Client`:
    /// its redirect policy cannot be changed afterwards, and a client that
    /// follows redirects can carry the Basic credentials to another origin
    /// (reqwest removes `Authorization` on a hop that changes origin, but puts
    /// it back on a later hop that stays on the new origin).
    ///
    /// Defence in depth on top: the form is sent as a body that cannot be
    /// replayed, and an answer that did not come from `token_url` itself is
    /// refused with [`TokenCacheError::Redirected`], never taken as a token.
    pub fn with_client_builder(
        config: &Config,
        builder: reqwest::ClientBuilder,
    ) -> Result<Self, TokenCacheError> {
        config.validate()?;
        let client = builder
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| TokenCacheError::config("http client", e.to_string()))?;
        let credentials = Credentials::new(&config.client_id, config.client_secret.clone(), 0)?;
        Ok(Self {
            client,
            source: config.source,
            token_url: config.token_url.clone(),
            client_id: config.client_id.clone(),
            client_auth: config.client_auth,
            credentials: Arc::new(ArcSwap::from_pointee(credentials)),
            reload: None,
        })
    }

    /// Re-reads the secret from `provider` when the endpoint answers
    /// `invalid_client` (a rotated secret), at most once per
    /// `config.secret_reload_interval`; `config.client_secret` is the first value.
    pub fn with_secret_provider(
        mut self,
        provider: Arc<dyn SecretProvider>,
        interval: Duration,
    ) -> Self {
        self.reload = Some(Arc::new(Reload {
            provider,
            interval,
            last: tokio::sync::Mutex::new(None),
            reads: AtomicU64::new(0),
        }));
        self
    }

    /// How many times the secret was read from its provider.
    pub fn secret_reads(&self) -> u64 {
        self.reload
            .as_ref()
            .map_or(0, |r| r.reads.load(Ordering::Relaxed))
    }

    async fn reload(&self, used: u64) -> bool {
        let Some(reload) = &self.reload else {
            return false;
        };
        // One read at a time: later callers find the new secret in place.
        let mut last = reload.last.lock().await;
        if self.credentials.load().generation != used {
            return true;
        }
        if last.is_some_and(|at| at.elapsed() < reload.interval) {
            tracing::debug!(
                "client secret re-read skipped: read less than the reload interval ago"
            );
            return false;
        }
        *last = Some(Instant::now());
        reload.reads.fetch_add(1, Ordering::Relaxed);
        let secret = match reload.provider.client_secret().await {
            Ok(secret) if !secret.is_empty() => secret,
            Ok(_) => {
                tracing::warn!(
                    "client secret re-read after invalid_client: the source gave an empty secret"
                );
                return false;
            }
            Err(error) => {
                tracing::warn!(error = %error, "client secret re-read after invalid_client failed");
                return false;
            }
        };
        let current = self.credentials.load_full();
        if secret == current.secret {
            tracing::warn!("client secret re-read after invalid_client: unchanged at its source");
            return false;
        }
        match Credentials::new(&self.client_id, secret, current.generation + 1) {
            Ok(next) => {
                self.credentials.store(Arc::new(next));
                tracing::info!(
                    "client secret re-read after invalid_client: a new secret is in place"
                );
                true
            }
            Err(error) => {
                tracing::warn!(error = %error, "client secret re-read: the new secret cannot be used");
                false
            }
        }
    }

    /// The client used for token requests.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The `application/x-www-form-urlencoded` request body.
    fn form(&self, scopes: &ScopeSet, credentials: &Credentials) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if let Some(scope) = scopes.as_param() {
            form.append_pair("scope", scope);
        }
        if self.client_auth == ClientAuth::RequestBody {
            form.append_pair("client_id", &self.client_id);
            form.append_pair("client_secret", credentials.secret.expose());
        }
        form.finish()
    }

    /// The `GetClientToken` JSON body.
    fn get_client_token_body(&self, scopes: &ScopeSet, credentials: &Credentials) -> String {
        // A JSON value's text cannot fail to render (a derived `Serialize` could, in
        // principle, and would need an error path that never runs).
        let mut body = serde_json::json!({
            "ClientId": self.client_id,
            "Secret": credentials.secret.expose(),
        });
        let scopes: Vec<&str> = scopes.iter().collect();
        if !scopes.is_empty() {
            body["Scopes"] = scopes.into();
        }
        body.to_string()
    }

    async fn fetch_once(&self, scopes: &ScopeSet) -> Result<FetchedToken, TokenCacheError> {
        let credentials = self.credentials.load_full();
        let mut request = self
            .client
            .post(self.token_url.clone())
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        let body = match self.source {
            TokenSource::OAuth2 => {
                request = request.header(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                if self.client_auth == ClientAuth::Basic {
                    request = request.header(AUTHORIZATION, credentials.basic_header.clone());
                }
                self.form(scopes, &credentials)
            }
            TokenSource::GetClientToken => {
                request = request
                    .header(
                        CONTENT_TYPE,
                        HeaderValue::from_static("application/x-amz-json-1.1"),
                    )
                    .header(
                        "x-amz-target",
                        HeaderValue::from_static(
                            "AWSCognitoIdentityProviderService.GetClientToken",
                        ),
                    );
                self.get_client_token_body(scopes, &credentials)
            }
        };
        drop(credentials);
        // A streaming body, not a reusable one: whatever the client's redirect
        // policy, a 307/308 can never make it send the credentials again
        // (reqwest only replays bodies it can clone).
        let body = reqwest::Body::wrap(body);
        let mut response = request.body(body).send().await.map_err(transport_error)?;
        let status = response.status();
        let redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
        if redirect || response.url() != &self.token_url {
            // Never followed; and an answer from any other URL is not the
            // token endpoint's, whoever followed what.
            return Err(TokenCacheError::Redirected {
                status: redirect.then_some(status.as_u16()),
            });
        }
        let retry_after = retry_after(response.headers(), SystemTime::now());
        let aws_error_type = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(TokenCacheError::MalformedResponse {
                    reason: format!("response body larger than {MAX_BODY_BYTES} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        match self.source {
            TokenSource::OAuth2 => parse_token_response(status, retry_after, &body, scopes),
            TokenSource::GetClientToken => parse_get_client_token_response(
                status,
                retry_after,
                aws_error_type.as_deref(),
                &body,
            ),
        }
    }
}

impl TokenFetcher for HttpFetcher {
    fn fetch<'a>(&'a self, scopes: &'a ScopeSet) -> FetchFuture<'a> {
        Box::pin(self.fetch_once(scopes))
    }

    fn credentials_generation(&self) -> u64 {
        self.credentials.load().generation
    }

    fn reload_credentials(&self, used: u64) -> ReloadFuture<'_> {
        Box::pin(self.reload(used))
    }
}

/// Classifies a `reqwest` error from the token request.
fn transport_error(e: reqwest::Error) -> TokenCacheError {
    if e.is_timeout() {
        TokenCacheError::Timeout
    } else if e.is_connect() || e.is_request() || e.is_body() {
        TokenCacheError::Connect(Arc::new(e))
    } else {
        TokenCacheError::Http(Arc::new(e))
    }
}

/// `Retry-After` as delta-seconds or an HTTP date.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    parse_retry_after(headers.get(RETRY_AFTER)?.to_str().ok()?, now)
}

/// The longest `Retry-After` taken as it is; a longer one is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// Parses a `Retry-After` value (RFC 9110 §10.2.3): delta-seconds or an HTTP
/// date (a date in the past means "now"), at most [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    expires_in: Option<ExpiresIn>,
    scope: Option<String>,
}

/// Some servers send `expires_in` as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum ExpiresIn {
    Number(f64),
    Text(String),
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    error_description: Option<String>,
}

fn malformed(reason: impl Into<String>) -> TokenCacheError {
    TokenCacheError::MalformedResponse {
        reason: reason.into(),
    }
}

/// Describes a JSON error without quoting the input (which may hold a token).
fn json_reason(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "I/O error",
        Category::Syntax => "invalid JSON",
        Category::Data => "unexpected JSON shape (missing or mistyped field)",
        Category::Eof => "truncated JSON",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// Turns a token endpoint response into a token or a typed error. Pure.
pub fn parse_token_response(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    requested: &ScopeSet,
) -> Result<FetchedToken, TokenCacheError> {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(TokenCacheError::RateLimited { retry_after });
    }
    if status.is_server_error() {
        return Err(TokenCacheError::ServerError {
            status: status.as_u16(),
            retry_after,
        });
    }
    if status.is_client_error() {
        return match serde_json::from_slice::<ErrorResponse>(body) {
            Ok(err) => Err(TokenCacheError::OAuth {
                kind: OAuthErrorKind::from_code(&err.error),
                description: err
                    .error_description
                    .map(|d| d.chars().filter(|c| !c.is_control()).take(200).collect()),
                status: status.as_u16(),
            }),
            Err(_) => Err(TokenCacheError::UnexpectedStatus {
                status: status.as_u16(),
            }),
        };
    }
    if !status.is_success() {
        return Err(TokenCacheError::UnexpectedStatus {
            status: status.as_u16(),
        });
    }
    let response: TokenResponse =
        serde_json::from_slice(body).map_err(|e| malformed(json_reason(&e)))?;
    if response.access_token.is_empty() {
        return Err(malformed("empty access_token"));
    }
    if !response.token_type.eq_ignore_ascii_case("bearer") {
        return Err(malformed("token_type is not Bearer"));
    }
    let seconds = match response.expires_in {
        Some(ExpiresIn::Number(n)) => n,
        Some(ExpiresIn::Text(t)) => t
            .trim()
            .parse()
            .map_err(|_| malformed("expires_in is not a number"))?,
        None => return Err(malformed("expires_in is missing")),
    };
    if !(seconds.is_finite() && seconds >= 1.0) {
        return Err(malformed("expires_in must be at least 1 second"));
    }
    // Cap at ten years so instants cannot overflow.
    let expires_in = Duration::from_secs_f64(seconds.min(315_360_000.0));
    if let Some(granted) = &response.scope {
        let missing = requested.missing_from(granted);
        if !missing.is_empty() {
            return Err(TokenCacheError::ScopeNotGranted { missing });
        }
    }
    Ok(FetchedToken {
        access_token: response.access_token,
        expires_in,
    })
}

/// How long to stay away after a throttling error that says nothing of when
/// to come back (the AWS JSON protocol sends no `Retry-After`).
const THROTTLE_BACKOFF: Duration = Duration::from_secs(1);

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetClientTokenResponse {
    client_authentication_result: ClientAuthenticationResult,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ClientAuthenticationResult {
    access_token: Option<String>,
    expires_in: Option<f64>,
    token_type: Option<String>,
}

#[derive(Deserialize)]
struct AwsErrorBody {
    #[serde(rename = "__type")]
    kind: Option<String>,
    #[serde(alias = "Message")]
    message: Option<String>,
}

/// `com.amazonaws.cognito#NotAuthorizedException` or
/// `NotAuthorizedException:http://internal.amazon.com/...` → `NotAuthorizedException`.
fn aws_error_code(raw: &str) -> &str {
    let tail = raw.rsplit('#').next().unwrap_or(raw);
    tail.split(':').next().unwrap_or(tail).trim()
}

/// Turns a `GetClientToken` response into a token or a typed error, mapped
/// onto the same kinds as the OAuth 2.0 endpoint's. Pure.
pub fn parse_get_client_token_response(
    status: StatusCode,
    retry_after: Option<Duration>,
    error_type: Option<&str>,
    body: &[u8],
) -> Result<FetchedToken, TokenCacheError> {
    if status.is_success() {
        let response: GetClientTokenResponse =
            serde_json::from_slice(body).map_err(|e| malformed(json_reason(&e)))?;
        let result = response.client_authentication_result;
        let access_token = result
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| malformed("empty or missing AccessToken"))?;
        if result
            .token_type
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
        {
            return Err(malformed("TokenType is not Bearer"));
        }
        let seconds = result
            .expires_in
            .ok_or_else(|| malformed("ExpiresIn is missing"))?;
        if !(seconds.is_finite() && seconds >= 1.0) {
            return Err(malformed("ExpiresIn must be at least 1 second"));
        }
        return Ok(FetchedToken {
            access_token,
            expires_in: Duration::from_secs_f64(seconds.min(315_360_000.0)),
        });
    }
    let parsed: Option<AwsErrorBody> = serde_json::from_slice(body).ok();
    let code = error_type
        .map(aws_error_code)
        .or_else(|| {
            parsed
                .as_ref()
                .and_then(|b| b.kind.as_deref())
                .map(aws_error_code)
        })
        // No code at all (or an empty one): an unexpected status, unless it is a
        // server error or a throttle, below.
        .filter(|code| !code.is_empty())
        .map(str::to_owned);
    let description = parsed
        .and_then(|b| b.message)
        .map(|d| d.chars().filter(|c| !c.is_control()).take(200).collect());
    let oauth = |kind: OAuthErrorKind| TokenCacheError::OAuth {
        kind,
        description: description.clone(),
        status: status.as_u16(),
    };
    match code.as_deref() {
        Some("TooManyRequestsException" | "LimitExceededException" | "ThrottlingException") => {
            Err(TokenCacheError::RateLimited {
                retry_after: Some(retry_after.unwrap_or(THROTTLE_BACKOFF)),
            })
        }
        Some("InternalErrorException" | "ServiceUnavailable" | "InternalFailure") => {
            Err(TokenCacheError::ServerError {
                status: status.as_u16(),
                retry_after,
            })
        }
        _ if status.is_server_error() => Err(TokenCacheError::ServerError {
            status: status.as_u16(),
            retry_after,
        }),
        _ if status == StatusCode::TOO_MANY_REQUESTS => Err(TokenCacheError::RateLimited {
            retry_after: Some(retry_after.unwrap_or(THROTTLE_BACKOFF)),
        }),
        // A wrong secret, or an unknown client: what `invalid_client` means.
        Some("NotAuthorizedException" | "ResourceNotFoundException") => {
            Err(oauth(OAuthErrorKind::InvalidClient))
        }
        Some("ScopeDoesNotExistException") => Err(oauth(OAuthErrorKind::InvalidScope)),
        Some("InvalidParameterException") => Err(oauth(OAuthErrorKind::InvalidRequest)),
        Some(other) => Err(oauth(OAuthErrorKind::Other(
            other.chars().take(64).collect(),
        ))),
        None => Err(TokenCacheError::UnexpectedStatus {
            status: status.as_u16(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(status: u16, body: &str, scopes: &str) -> Result<FetchedToken, TokenCacheError> {
        parse_token_response(
            StatusCode::from_u16(status).unwrap(),
            None,
            body.as_bytes(),
            &ScopeSet::parse(scopes).unwrap(),
        )
    }

    #[test]
    fn cognito_success_response() {
        let body = include_str!("../fixtures/cognito-token-response.json");
        let t = parse(200, body, "weather-api/get").unwrap();
        assert_eq!(t.expires_in, Duration::from_secs(3600));
        assert!(t.access_token.starts_with("eyJ"));
        assert!(!format!("{t:?}").contains("eyJ"));
    }

    #[test]
    fn expires_in_as_string_is_accepted() {
        let t = parse(
            200,
            r#"{"access_token":"a","token_type":"bearer","expires_in":"120"}"#,
            "",
        )
        .unwrap();
        assert_eq!(t.expires_in, Duration::from_secs(120));
    }

    #[test]
    fn malformed_success_responses() {
        for body in [
            "<html>",
            "",
            r#"{"token_type":"Bearer","expires_in":3600}"#,
            r#"{"access_token":"","token_type":"Bearer","expires_in":3600}"#,
            r#"{"access_token":"a","token_type":"mac","expires_in":3600}"#,
            r#"{"access_token":"a","token_type":"Bearer"}"#,
            r#"{"access_token":"a","token_type":"Bearer","expires_in":0}"#,
            r#"{"access_token":"a","token_type":"Bearer","expires_in":-5}"#,
            r#"{"access_token":"a","token_type":"Bearer","expires_in":"soon"}"#,
        ] {
            let err = parse(200, body, "").unwrap_err();
            assert!(
                matches!(err, TokenCacheError::MalformedResponse { .. }),
                "{body}: {err}"
            );
        }
    }

    #[test]
    fn malformed_reason_never_quotes_the_body() {
        let err = parse(
            200,
            r#"{"access_token":"SECRET-TOKEN","token_type":7,"expires_in":1}"#,
            "",
        )
        .unwrap_err();
        assert!(!err.to_string().contains("SECRET-TOKEN"), "{err}");
        let err = parse(200, r#"{"access_token":["SECRET-TOKEN"]}"#, "").unwrap_err();
        assert!(!err.to_string().contains("SECRET-TOKEN"), "{err}");
    }

    #[test]
    fn narrower_grant_is_an_error() {
        let body =
            r#"{"access_token":"a","token_type":"Bearer","expires_in":3600,"scope":"w/get"}"#;
        let err = parse(200, body, "w/get w/post").unwrap_err();
        assert!(
            matches!(&err, TokenCacheError::ScopeNotGranted { missing } if missing == &["w/post"]),
            "{err}"
        );
        assert!(parse(200, body, "w/get").is_ok());
    }

    #[test]
    fn oauth_errors_are_typed() {
        let cases = [
            (
                400,
                "cognito-error-invalid-scope.json",
                OAuthErrorKind::InvalidScope,
            ),
            (
                400,
                "cognito-error-invalid-client.json",
                OAuthErrorKind::InvalidClient,
            ),
            (
                401,
                "cognito-error-invalid-client.json",
                OAuthErrorKind::InvalidClient,
            ),
            (
                400,
                "cognito-error-unauthorized-client.json",
                OAuthErrorKind::UnauthorizedClient,
            ),
        ];
        for (status, file, kind) in cases {
            let body =
                std::fs::read_to_string(format!("{}/fixtures/{file}", env!("CARGO_MANIFEST_DIR")))
                    .unwrap();
            let err = parse(status, &body, "").unwrap_err();
            assert_eq!(err.oauth_kind(), Some(&kind), "{file}");
            assert!(!err.is_retryable());
        }
        let err = parse(
            400,
            r#"{"error":"invalid_grant","error_description":"x"}"#,
            "",
        )
        .unwrap_err();
        assert_eq!(err.oauth_kind(), Some(&OAuthErrorKind::InvalidGrant));
        let err = parse(400, r#"{"error":"unsupported_grant_type"}"#, "").unwrap_err();
        assert_eq!(
            err.oauth_kind(),
            Some(&OAuthErrorKind::UnsupportedGrantType)
        );
    }

    #[test]
    fn statuses_without_oauth_body() {
        assert!(matches!(
            parse(429, "", "").unwrap_err(),
            TokenCacheError::RateLimited { .. }
        ));
        assert!(matches!(
            parse(503, "{\"error\":\"x\"}", "").unwrap_err(),
            TokenCacheError::ServerError { status: 503, .. }
        ));
        assert!(matches!(
            parse(404, "not found", "").unwrap_err(),
            TokenCacheError::UnexpectedStatus { status: 404 }
        ));
        assert!(matches!(
            parse(304, "", "").unwrap_err(),
            TokenCacheError::UnexpectedStatus { status: 304 }
        ));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        let in_ten = httpdate::fmt_http_date(now + Duration::from_secs(10));
        assert_eq!(
            parse_retry_after(&in_ten, now),
            Some(Duration::from_secs(10))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(10));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        // A server cannot push instants past what the clock can hold.
        assert_eq!(
            parse_retry_after("18446744073709551615", now),
            Some(MAX_RETRY_AFTER)
        );
        let far = httpdate::fmt_http_date(now + Duration::from_secs(10 * 86_400));
        assert_eq!(parse_retry_after(&far, now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("-1", now), None);
    }

    fn gct(
        status: u16,
        error_type: Option<&str>,
        body: &str,
    ) -> Result<FetchedToken, TokenCacheError> {
        parse_get_client_token_response(
            StatusCode::from_u16(status).unwrap(),
            None,
            error_type,
            body.as_bytes(),
        )
    }

    #[test]
    fn get_client_token_success() {
        let t = gct(
            200,
            None,
            r#"{"ClientAuthenticationResult":{"AccessToken":"eyJ.a.b","ExpiresIn":3600,"TokenType":"Bearer"}}"#,
        )
        .unwrap();
        assert_eq!(t.access_token, "eyJ.a.b");
        assert_eq!(t.expires_in, Duration::from_secs(3600));
        // TokenType is optional in the API model.
        assert!(
            gct(
                200,
                None,
                r#"{"ClientAuthenticationResult":{"AccessToken":"a","ExpiresIn":60}}"#
            )
            .is_ok()
        );
    }

    #[test]
    fn get_client_token_malformed_success() {
        for body in [
            "",
            "{}",
            r#"{"ClientAuthenticationResult":{}}"#,
            r#"{"ClientAuthenticationResult":{"AccessToken":"","ExpiresIn":60}}"#,
            r#"{"ClientAuthenticationResult":{"AccessToken":"a"}}"#,
            r#"{"ClientAuthenticationResult":{"AccessToken":"a","ExpiresIn":0}}"#,
            r#"{"ClientAuthenticationResult":{"AccessToken":"a","ExpiresIn":60,"TokenType":"mac"}}"#,
        ] {
            assert!(
                matches!(
                    gct(200, None, body),
                    Err(TokenCacheError::MalformedResponse { .. })
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn get_client_token_errors_map_onto_the_oauth_kinds() {
        let header =
            |code: &str| format!("{code}:http://internal.amazon.com/coral/com.amazonaws.cognito/");
        let cases = [
            ("NotAuthorizedException", OAuthErrorKind::InvalidClient),
            ("ResourceNotFoundException", OAuthErrorKind::InvalidClient),
            ("InvalidParameterException", OAuthErrorKind::InvalidRequest),
            ("ScopeDoesNotExistException", OAuthErrorKind::InvalidScope),
            (
                "ForbiddenException",
                OAuthErrorKind::Other("ForbiddenException".into()),
            ),
        ];
        for (code, kind) in cases {
            // From the x-amzn-ErrorType header, and from the body's __type alone.
            let from_header = gct(
                400,
                Some(&header(code)),
                r#"{"message":"Invalid client secret."}"#,
            );
            let body = format!(r#"{{"__type":"com.amazonaws.cognito#{code}","message":"m"}}"#);
            let from_body = gct(400, None, &body);
            for error in [from_header.unwrap_err(), from_body.unwrap_err()] {
                assert_eq!(error.oauth_kind(), Some(&kind), "{code}");
                assert!(!error.is_retryable(), "{code}");
            }
        }
        let error = gct(
            400,
            Some(&header("NotAuthorizedException")),
            r#"{"message":"Invalid client secret."}"#,
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("Invalid client secret."),
            "{error}"
        );
    }

    #[test]
    fn get_client_token_throttling_and_outages_are_retryable() {
        for (status, code) in [
            (400, Some("TooManyRequestsException")),
            (400, Some("LimitExceededException")),
            (429, None),
        ] {
            let error = gct(status, code, "{}").unwrap_err();
            assert!(
                matches!(error, TokenCacheError::RateLimited { retry_after: Some(d) } if d == THROTTLE_BACKOFF),
                "{status} {code:?}: {error:?}"
            );
        }
        for (status, code) in [
            (500, Some("InternalErrorException")),
            (503, None),
            (502, Some("Whatever")),
        ] {
            let error = gct(status, code, "<html>").unwrap_err();
            assert!(
                matches!(error, TokenCacheError::ServerError { .. }),
                "{status}: {error:?}"
            );
            assert!(error.is_retryable());
        }
        assert!(matches!(
            gct(404, None, "not json").unwrap_err(),
            TokenCacheError::UnexpectedStatus { status: 404 }
        ));
    }

    #[test]
    fn basic_credentials_are_urlencoded_then_base64() {
        let mut config = Config::new(
            "https://example.com/oauth2/token",
            "id:1",
            ClientSecret::new("p@ss word"),
        )
        .unwrap();
        config.client_auth = ClientAuth::Basic;
        let fetcher = HttpFetcher::new(&config).unwrap();
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("id%3A1:p%40ss+word")
        );
        let credentials = fetcher.credentials.load();
        assert_eq!(credentials.basic_header.to_str().unwrap(), expected);
        assert!(credentials.basic_header.is_sensitive());
        assert!(!format!("{fetcher:?}").contains("p@ss"));
    }
}
