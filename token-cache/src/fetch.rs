//! One token request: the [`TokenFetcher`] seam and the real HTTP
//! implementation. Retries and caching live in [`crate::TokenCache`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use crate::config::{ClientAuth, Config};
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

/// Sends one token request (no retries) for a scope set. The cache calls it
/// at most once at a time per scope set; tests and benches inject their own.
pub trait TokenFetcher: Send + Sync + 'static {
    /// One attempt.
    fn fetch<'a>(&'a self, scopes: &'a ScopeSet) -> FetchFuture<'a>;
}

/// The real fetcher: `POST` `grant_type=client_credentials` to the token
/// endpoint with one reused `reqwest::Client`.
#[derive(Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
    token_url: Url,
    client_id: String,
    client_secret: ClientSecret,
    client_auth: ClientAuth,
    basic_header: HeaderValue,
}

impl fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetcher")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
}

impl HttpFetcher {
    /// Builds the HTTP client for the token endpoint: the configured timeouts,
    /// no redirects (a redirect would carry the credentials elsewhere).
    pub fn new(config: &Config) -> Result<Self, TokenCacheError> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("token-cache/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TokenCacheError::config("http client", e.to_string()))?;
        Self::with_client(config, client)
    }

    /// Uses a caller's client (e.g. shared with the calls to the resource
    /// server). The per-request timeout is still applied by the cache.
    ///
    /// Safe whatever the client's redirect policy: the form is sent as a body
    /// that cannot be replayed, so no client re-sends it on a 307 or 308; a
    /// 301/302/303 that a client follows becomes a body-less `GET` (and
    /// reqwest drops `Authorization` when the origin changes); and an answer
    /// that did not come from `token_url` itself is refused with
    /// [`TokenCacheError::Redirected`], never taken as a token.
    pub fn with_client(config: &Config, client: reqwest::Client) -> Result<Self, TokenCacheError> {
        config.validate()?;
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let credentials = format!(
            "{}:{}",
            encode(&config.client_id),
            encode(config.client_secret.expose())
        );
        let mut basic_header = HeaderValue::try_from(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        ))
        .map_err(|_| TokenCacheError::config("CLIENT_ID", "cannot be used in a header"))?;
        basic_header.set_sensitive(true);
        Ok(Self {
            client,
            token_url: config.token_url.clone(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            client_auth: config.client_auth,
            basic_header,
        })
    }

    /// The client used for token requests.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The `application/x-www-form-urlencoded` request body.
    fn form(&self, scopes: &ScopeSet) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if let Some(scope) = scopes.as_param() {
            form.append_pair("scope", scope);
        }
        if self.client_auth == ClientAuth::RequestBody {
            form.append_pair("client_id", &self.client_id);
            form.append_pair("client_secret", self.client_secret.expose());
        }
        form.finish()
    }

    async fn fetch_once(&self, scopes: &ScopeSet) -> Result<FetchedToken, TokenCacheError> {
        let mut request = self
            .client
            .post(self.token_url.clone())
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
        if self.client_auth == ClientAuth::Basic {
            request = request.header(AUTHORIZATION, self.basic_header.clone());
        }
        // A streaming body, not a reusable one: whatever the client's redirect
        // policy, a 307/308 can never make it send the credentials again
        // (reqwest only replays bodies it can clone).
        let body = reqwest::Body::wrap(self.form(scopes));
        let mut response = request.body(body).send().await.map_err(transport_error)?;
        let status = response.status();
        if status.is_redirection() || response.url() != &self.token_url {
            // Not followed (the built-in client), or followed by a caller's
            // client: either way the answer is not the token endpoint's.
            return Err(TokenCacheError::Redirected {
                status: status.is_redirection().then_some(status.as_u16()),
            });
        }
        let retry_after = retry_after(response.headers(), SystemTime::now());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(TokenCacheError::MalformedResponse {
                    reason: format!("response body larger than {MAX_BODY_BYTES} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        parse_token_response(status, retry_after, &body, scopes)
    }
}

impl TokenFetcher for HttpFetcher {
    fn fetch<'a>(&'a self, scopes: &'a ScopeSet) -> FetchFuture<'a> {
        Box::pin(self.fetch_once(scopes))
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

/// Parses a `Retry-After` value (RFC 9110 §10.2.3): delta-seconds or an HTTP
/// date (a date in the past means "now").
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
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
        assert_eq!(parse_retry_after("-1", now), None);
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
        assert_eq!(fetcher.basic_header.to_str().unwrap(), expected);
        assert!(fetcher.basic_header.is_sensitive());
        assert!(!format!("{fetcher:?}").contains("p@ss"));
    }
}
