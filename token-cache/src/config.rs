//! Configuration: from code ([`Config::new`] plus field assignment) or from the
//! environment ([`Config::from_env`], [`Config::from_lookup`]).

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;

use crate::error::TokenCacheError;
use crate::secret::ClientSecret;

/// Settings read by name through a lookup (the environment, or a closure in tests),
/// with the rules [`Config::from_lookup`] reads its own by: a value is trimmed, and
/// unset and empty are the same; every error names its setting. For a function that
/// reads its settings beside token-cache's.
pub struct Settings<F> {
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Settings<F> {
    /// Reads through `lookup`.
    pub fn new(lookup: F) -> Self {
        Self { lookup }
    }

    /// The value, trimmed; `None` when unset or empty.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The value; an error naming `name` ("is required") when unset or empty.
    pub fn required(&self, name: &str) -> Result<String, TokenCacheError> {
        self.get(name)
            .ok_or_else(|| TokenCacheError::config(name, "is required"))
    }

    /// A number of seconds (fractions allowed), if set; an error naming `name` when it
    /// is not one.
    pub fn seconds(&self, name: &str) -> Result<Option<Duration>, TokenCacheError> {
        self.get(name)
            .map(|v| {
                v.parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| {
                        TokenCacheError::config(name, format!("{v:?} is not a number of seconds"))
                    })
            })
            .transpose()
    }
}

/// How the client authenticates to the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// `Authorization: Basic base64(urlencode(client_id):urlencode(secret))` (Cognito's default).
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body.
    RequestBody,
}

/// Where tokens come from: the two ways Amazon Cognito issues
/// machine-to-machine access tokens. Both give the same token; the cache,
/// single flight, refresh-ahead, retries and errors are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenSource {
    /// RFC 6749 client credentials: `POST` a form to the user pool domain's
    /// `/oauth2/token` (`token_url`). Needs a user pool domain. Any OAuth 2.0
    /// server works.
    #[default]
    OAuth2,
    /// Cognito's user pools API `GetClientToken`: a JSON `POST` to
    /// `https://cognito-idp.<region>.amazonaws.com/` (`token_url`) with the
    /// client id and secret in the body; no IAM signing, no domain. The app
    /// client needs `ALLOW_CLIENT_TOKEN_AUTH` as its only flow.
    GetClientToken,
}

impl TokenSource {
    /// The `TOKEN_SOURCE` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OAuth2 => "oauth2",
            Self::GetClientToken => "get-client-token",
        }
    }
}

/// The user pools API endpoint of a region, where `GetClientToken` is sent.
pub fn cognito_idp_endpoint(region: &str) -> Result<String, TokenCacheError> {
    let valid = !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && region.contains('-')
        && !region.starts_with('-')
        && !region.ends_with('-');
    if !valid {
        return Err(TokenCacheError::config(
            env::COGNITO_REGION,
            format!("{region:?} is not an AWS Region name such as eu-west-1"),
        ));
    }
    Ok(format!("https://cognito-idp.{region}.amazonaws.com/"))
}

/// Retries of one token request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Requests sent at most per token request (>= 1).
    pub max_attempts: u32,
    /// First backoff; doubles per attempt.
    pub initial_backoff: Duration,
    /// Backoff cap (a `Retry-After` may ask for more and is honoured).
    pub max_backoff: Duration,
    /// Overall deadline for a token request, all attempts and waits included:
    /// a caller without a usable token gets an answer within it.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            deadline: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based): exponential
    /// backoff `initial * 2^(attempt-1)` capped at `max_backoff`, with "equal
    /// jitter" (half fixed, half `jitter` in `[0, 1)`), and never less than the
    /// endpoint's `Retry-After`.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max_backoff);
        let half = exp / 2;
        let jittered = half + half.mul_f64(jitter.clamp(0.0, 1.0));
        retry_after.map_or(jittered, |ra| ra.max(jittered))
    }
}

/// Token cache configuration. Build with [`Config::new`] and adjust fields,
/// or read it with [`Config::from_env`]. Checked by [`Config::validate`] when
/// the cache is built.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where tokens come from (default [`TokenSource::OAuth2`]).
    pub source: TokenSource,
    /// The token endpoint: for OAuth 2.0,
    /// `https://<domain>.auth.<region>.amazoncognito.com/oauth2/token`; for
    /// `GetClientToken`, `https://cognito-idp.<region>.amazonaws.com/`
    /// ([`Config::get_client_token`]). Credentials are sent nowhere else.
    /// Plain `http` only for loopback hosts unless `allow_insecure_http`.
    pub token_url: Url,
    /// The app client id.
    pub client_id: String,
    /// The app client secret.
    pub client_secret: ClientSecret,
    /// How the client authenticates.
    pub client_auth: ClientAuth,
    /// Fraction of the lifetime after which a token is refreshed in the
    /// background, in `(0, 1]`. Default 0.8.
    pub refresh_ratio: f64,
    /// Before `exp`, a token stops being handed out this long ahead. Default 30 s.
    pub hard_margin: Duration,
    /// TCP/TLS connect timeout. Default 2 s.
    pub connect_timeout: Duration,
    /// Timeout of one token request, response body included. Default 5 s.
    pub request_timeout: Duration,
    /// Retries.
    pub retry: RetryPolicy,
    /// Allow `http://` to a non-loopback host (the secret then travels in clear).
    pub allow_insecure_http: bool,
    /// After the endpoint rejected the client's credentials, a
    /// [`crate::SecretProvider`] is asked for the secret again at most once per
    /// this interval. Default 30 s.
    pub secret_reload_interval: Duration,
}

/// Environment variable names read by [`Config::from_lookup`].
pub mod env {
    /// `oauth2` (default) or `get-client-token`.
    pub const TOKEN_SOURCE: &str = "TOKEN_SOURCE";
    /// The DynamoDB table a fleet shares tokens through (feature `dynamodb`;
    /// read by `DynamoDbTokenStore::from_env` and `TokenCache::from_env_shared`).
    pub const TOKEN_CACHE_TABLE: &str = "TOKEN_CACHE_TABLE";
    /// Token endpoint URL (required with `TOKEN_SOURCE=oauth2`).
    pub const TOKEN_URL: &str = "TOKEN_URL";
    /// The user pool's Region, for `get-client-token` (default: `AWS_REGION`).
    pub const COGNITO_REGION: &str = "COGNITO_REGION";
    /// The Region Lambda runs in, the default of [`COGNITO_REGION`].
    pub const AWS_REGION: &str = "AWS_REGION";
    /// The user pools API endpoint for `get-client-token` (the AWS SDKs'
    /// own name for it; tests point it at a local server). Overrides the Region.
    pub const COGNITO_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER";
    /// Minimum seconds between two re-reads of the secret after `invalid_client`.
    pub const SECRET_RELOAD_INTERVAL: &str = "TOKEN_SECRET_RELOAD_INTERVAL_SECS";
    /// App client id (required).
    pub const CLIENT_ID: &str = "CLIENT_ID";
    /// App client secret (required).
    pub const CLIENT_SECRET: &str = "CLIENT_SECRET";
    /// `basic` (default) or `body`.
    pub const CLIENT_AUTH: &str = "TOKEN_CLIENT_AUTH";
    /// Refresh ratio, e.g. `0.8`.
    pub const REFRESH_RATIO: &str = "TOKEN_REFRESH_RATIO";
    /// Hard margin in seconds (decimal allowed).
    pub const HARD_MARGIN: &str = "TOKEN_HARD_MARGIN_SECS";
    /// Connect timeout in seconds.
    pub const CONNECT_TIMEOUT: &str = "TOKEN_CONNECT_TIMEOUT_SECS";
    /// Request timeout in seconds.
    pub const REQUEST_TIMEOUT: &str = "TOKEN_REQUEST_TIMEOUT_SECS";
    /// Maximum attempts per token request.
    pub const MAX_ATTEMPTS: &str = "TOKEN_RETRY_MAX_ATTEMPTS";
    /// Initial backoff in seconds.
    pub const INITIAL_BACKOFF: &str = "TOKEN_RETRY_INITIAL_BACKOFF_SECS";
    /// Maximum backoff in seconds.
    pub const MAX_BACKOFF: &str = "TOKEN_RETRY_MAX_BACKOFF_SECS";
    /// Overall deadline in seconds.
    pub const DEADLINE: &str = "TOKEN_RETRY_DEADLINE_SECS";
    /// `true` to allow `http://` to non-loopback hosts.
    pub const ALLOW_INSECURE_HTTP: &str = "TOKEN_ALLOW_INSECURE_HTTP";
}

impl Config {
    /// A configuration with the defaults. The URL is parsed here; the rest is
    /// checked by [`Config::validate`].
    pub fn new(
        token_url: &str,
        client_id: impl Into<String>,
        client_secret: impl Into<ClientSecret>,
    ) -> Result<Self, TokenCacheError> {
        let token_url = Url::parse(token_url)
            .map_err(|e| TokenCacheError::config(env::TOKEN_URL, format!("not a URL: {e}")))?;
        Ok(Self {
            source: TokenSource::OAuth2,
            token_url,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            client_auth: ClientAuth::Basic,
            refresh_ratio: 0.8,
            hard_margin: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            allow_insecure_http: false,
            secret_reload_interval: Duration::from_secs(30),
        })
    }

    /// A configuration for Cognito's `GetClientToken` in `region` (the user
    /// pool's Region, e.g. `eu-west-1`), with the defaults.
    pub fn get_client_token(
        region: &str,
        client_id: impl Into<String>,
        client_secret: impl Into<ClientSecret>,
    ) -> Result<Self, TokenCacheError> {
        let mut config = Self::new(&cognito_idp_endpoint(region)?, client_id, client_secret)?;
        config.source = TokenSource::GetClientToken;
        Ok(config)
    }

    /// Reads the process environment (see [`env`] for the names).
    pub fn from_env() -> Result<Self, TokenCacheError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (tests pass a closure). Required:
    /// `CLIENT_ID`, `CLIENT_SECRET`, and `TOKEN_URL` for `TOKEN_SOURCE=oauth2`
    /// (the default); for `get-client-token`, the endpoint comes from
    /// `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`, else `COGNITO_REGION`,
    /// else `AWS_REGION`. Optional settings that are unset or empty keep their
    /// defaults. The result is validated.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, TokenCacheError> {
        let settings = Settings::new(lookup);
        let get = |name: &str| settings.get(name);
        let required = |name: &str| settings.required(name);
        let secs = |name: &str| settings.seconds(name);

        let source = match get(env::TOKEN_SOURCE).map(|v| v.to_ascii_lowercase()) {
            None => TokenSource::OAuth2,
            Some(v) if v == "oauth2" => TokenSource::OAuth2,
            Some(v) if v == "get-client-token" || v == "getclienttoken" => {
                TokenSource::GetClientToken
            }
            Some(v) => {
                return Err(TokenCacheError::config(
                    env::TOKEN_SOURCE,
                    format!("{v:?}: expected oauth2 or get-client-token"),
                ));
            }
        };
        let token_url = match source {
            TokenSource::OAuth2 => required(env::TOKEN_URL)?,
            TokenSource::GetClientToken => {
                if get(env::TOKEN_URL).is_some() {
                    return Err(TokenCacheError::config(
                        env::TOKEN_URL,
                        "is for TOKEN_SOURCE=oauth2; GetClientToken's endpoint comes from COGNITO_REGION (or AWS_REGION), or AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER",
                    ));
                }
                match get(env::COGNITO_ENDPOINT_URL) {
                    Some(url) => url,
                    None => {
                        let region = get(env::COGNITO_REGION)
                            .or_else(|| get(env::AWS_REGION))
                            .ok_or_else(|| {
                                TokenCacheError::config(
                                    env::COGNITO_REGION,
                                    "is required with TOKEN_SOURCE=get-client-token (or AWS_REGION, or AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER)",
                                )
                            })?;
                        cognito_idp_endpoint(&region)?
                    }
                }
            }
        };
        let mut config = Self::new(
            &token_url,
            required(env::CLIENT_ID)?,
            ClientSecret::new(required(env::CLIENT_SECRET)?),
        )
        .map_err(|e| match (source, e) {
            (TokenSource::GetClientToken, TokenCacheError::Config { reason, .. }) => {
                TokenCacheError::config(env::COGNITO_ENDPOINT_URL, reason)
            }
            (_, e) => e,
        })?;
        config.source = source;
        if let Some(v) = get(env::CLIENT_AUTH) {
            config.client_auth = match v.to_ascii_lowercase().as_str() {
                "basic" => ClientAuth::Basic,
                "body" | "post" | "client_secret_post" => ClientAuth::RequestBody,
                _ => {
                    return Err(TokenCacheError::config(
                        env::CLIENT_AUTH,
                        format!("{v:?}: expected basic or body"),
                    ));
                }
            };
        }
        if let Some(v) = get(env::REFRESH_RATIO) {
            config.refresh_ratio = v.parse().map_err(|_| {
                TokenCacheError::config(env::REFRESH_RATIO, format!("{v:?} is not a number"))
            })?;
        }
        if let Some(v) = get(env::MAX_ATTEMPTS) {
            config.retry.max_attempts = v.parse().map_err(|_| {
                TokenCacheError::config(env::MAX_ATTEMPTS, format!("{v:?} is not a whole number"))
            })?;
        }
        if let Some(v) = get(env::ALLOW_INSECURE_HTTP) {
            config.allow_insecure_http = match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => {
                    return Err(TokenCacheError::config(
                        env::ALLOW_INSECURE_HTTP,
                        format!("{v:?}: expected true or false"),
                    ));
                }
            };
        }
        for (name, field) in [
            (env::HARD_MARGIN, &mut config.hard_margin),
            (env::CONNECT_TIMEOUT, &mut config.connect_timeout),
            (env::REQUEST_TIMEOUT, &mut config.request_timeout),
            (env::INITIAL_BACKOFF, &mut config.retry.initial_backoff),
            (env::MAX_BACKOFF, &mut config.retry.max_backoff),
            (env::DEADLINE, &mut config.retry.deadline),
            (
                env::SECRET_RELOAD_INTERVAL,
                &mut config.secret_reload_interval,
            ),
        ] {
            if let Some(d) = secs(name)? {
                *field = d;
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks every setting; the error names the setting.
    pub fn validate(&self) -> Result<(), TokenCacheError> {
        let url = &self.token_url;
        let url_setting = match self.source {
            TokenSource::OAuth2 => env::TOKEN_URL,
            TokenSource::GetClientToken => env::COGNITO_ENDPOINT_URL,
        };
        match url.scheme() {
            "https" => {}
            "http" if self.allow_insecure_http || is_loopback(url) => {}
            "http" => {
                return Err(TokenCacheError::config(
                    url_setting,
                    "plain http is only allowed to a loopback host (the client secret would travel in clear); set TOKEN_ALLOW_INSECURE_HTTP=true to override",
                ));
            }
            other => {
                return Err(TokenCacheError::config(
                    url_setting,
                    format!("unsupported scheme {other:?}"),
                ));
            }
        }
        if url.host().is_none() {
            return Err(TokenCacheError::config(url_setting, "has no host"));
        }
        if url.fragment().is_some() {
            return Err(TokenCacheError::config(
                url_setting,
                "must not have a #fragment (it is never sent, so no answer could match the URL)",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TokenCacheError::config(
                url_setting,
                "must not carry credentials",
            ));
        }
        if self.client_id.is_empty() {
            return Err(TokenCacheError::config(env::CLIENT_ID, "is empty"));
        }
        if self.client_secret.is_empty() {
            return Err(TokenCacheError::config(env::CLIENT_SECRET, "is empty"));
        }
        if !(self.refresh_ratio > 0.0 && self.refresh_ratio <= 1.0) {
            return Err(TokenCacheError::config(
                env::REFRESH_RATIO,
                "must be in (0, 1]",
            ));
        }
        for (name, d) in [
            (env::CONNECT_TIMEOUT, self.connect_timeout),
            (env::REQUEST_TIMEOUT, self.request_timeout),
            (env::DEADLINE, self.retry.deadline),
        ] {
            if d.is_zero() {
                return Err(TokenCacheError::config(name, "must be greater than zero"));
            }
        }
        // Bounds keep every instant the cache computes far from overflow.
        for (name, d, max) in [
            (env::CONNECT_TIMEOUT, self.connect_timeout, MAX_WAIT),
            (env::REQUEST_TIMEOUT, self.request_timeout, MAX_WAIT),
            (env::DEADLINE, self.retry.deadline, MAX_WAIT),
            (env::INITIAL_BACKOFF, self.retry.initial_backoff, MAX_WAIT),
            (env::MAX_BACKOFF, self.retry.max_backoff, MAX_WAIT),
            (env::HARD_MARGIN, self.hard_margin, MAX_INTERVAL),
            (
                env::SECRET_RELOAD_INTERVAL,
                self.secret_reload_interval,
                MAX_INTERVAL,
            ),
        ] {
            if d > max {
                return Err(TokenCacheError::config(
                    name,
                    format!("must be at most {} s", max.as_secs()),
                ));
            }
        }
        if self.retry.max_attempts == 0 {
            return Err(TokenCacheError::config(
                env::MAX_ATTEMPTS,
                "must be at least 1",
            ));
        }
        if self.retry.initial_backoff > self.retry.max_backoff {
            return Err(TokenCacheError::config(
                env::INITIAL_BACKOFF,
                "must not exceed the maximum backoff",
            ));
        }
        Ok(())
    }
}

/// The longest timeout, backoff or deadline accepted: one hour.
const MAX_WAIT: Duration = Duration::from_secs(3600);
/// The longest margin or interval accepted: one day.
const MAX_INTERVAL: Duration = Duration::from_secs(86_400);

fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some(host) if host.eq_ignore_ascii_case("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const BASE: [(&str, &str); 3] = [
        (
            "TOKEN_URL",
            "https://example.auth.eu-west-1.amazoncognito.com/oauth2/token",
        ),
        ("CLIENT_ID", "client-1"),
        ("CLIENT_SECRET", "shh-very-secret"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut v = BASE.to_vec();
        v.extend_from_slice(extra);
        v
    }

    #[test]
    fn required_settings_with_defaults() {
        let c = Config::from_lookup(lookup(&BASE)).unwrap();
        assert_eq!(c.client_id, "client-1");
        assert_eq!(c.client_secret.expose(), "shh-very-secret");
        assert_eq!(c.client_auth, ClientAuth::Basic);
        assert_eq!(c.refresh_ratio, 0.8);
        assert_eq!(c.hard_margin, Duration::from_secs(30));
        assert_eq!(c.retry, RetryPolicy::default());
    }

    #[test]
    fn settings_trim_treat_empty_as_unset_and_name_the_setting() {
        let settings = Settings::new(lookup(&[
            ("A", "  x "),
            ("EMPTY", "  "),
            ("S", "1.5"),
            ("BAD", "soon"),
        ]));
        assert_eq!(settings.get("A").as_deref(), Some("x"));
        assert_eq!(settings.get("EMPTY"), None);
        assert_eq!(settings.required("A").unwrap(), "x");
        for unset in ["EMPTY", "NONE"] {
            let err = settings.required(unset).unwrap_err();
            assert!(
                matches!(&err, TokenCacheError::Config { setting, reason } if setting == unset && reason == "is required"),
                "{err}"
            );
        }
        assert_eq!(
            settings.seconds("S").unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(settings.seconds("NONE").unwrap(), None);
        let err = settings.seconds("BAD").unwrap_err();
        assert!(
            matches!(&err, TokenCacheError::Config { setting, .. } if setting == "BAD"),
            "{err}"
        );
    }

    #[test]
    fn each_missing_required_setting_is_named() {
        for missing in ["TOKEN_URL", "CLIENT_ID", "CLIENT_SECRET"] {
            let pairs: Vec<_> = BASE
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let err = Config::from_lookup(lookup(&pairs)).unwrap_err();
            assert!(
                matches!(&err, TokenCacheError::Config { setting, .. } if setting == missing),
                "{err}"
            );
            assert!(err.to_string().contains(missing));
        }
    }

    #[test]
    fn empty_required_setting_is_missing() {
        let mut pairs = BASE.to_vec();
        pairs[2] = ("CLIENT_SECRET", "  ");
        let err = Config::from_lookup(lookup(&pairs)).unwrap_err();
        assert!(err.to_string().contains("CLIENT_SECRET"), "{err}");
    }

    #[test]
    fn optional_settings_are_read() {
        let c = Config::from_lookup(lookup(&with(&[
            ("TOKEN_CLIENT_AUTH", "body"),
            ("TOKEN_REFRESH_RATIO", "0.5"),
            ("TOKEN_HARD_MARGIN_SECS", "10"),
            ("TOKEN_REQUEST_TIMEOUT_SECS", "1.5"),
            ("TOKEN_RETRY_MAX_ATTEMPTS", "2"),
            ("TOKEN_RETRY_DEADLINE_SECS", "3"),
        ])))
        .unwrap();
        assert_eq!(c.client_auth, ClientAuth::RequestBody);
        assert_eq!(c.refresh_ratio, 0.5);
        assert_eq!(c.hard_margin, Duration::from_secs(10));
        assert_eq!(c.request_timeout, Duration::from_millis(1500));
        assert_eq!(c.retry.max_attempts, 2);
        assert_eq!(c.retry.deadline, Duration::from_secs(3));
    }

    #[test]
    fn bad_values_name_their_setting() {
        for (name, value) in [
            ("TOKEN_URL", "not a url"),
            ("TOKEN_URL", "ftp://example.com/token"),
            ("TOKEN_URL", "http://example.com/oauth2/token"),
            ("TOKEN_URL", "https://user:pw@example.com/oauth2/token"),
            ("TOKEN_URL", "https://example.com/oauth2/token#frag"),
            ("TOKEN_RETRY_DEADLINE_SECS", "3601"),
            ("TOKEN_REQUEST_TIMEOUT_SECS", "1e12"),
            ("TOKEN_CONNECT_TIMEOUT_SECS", "7200"),
            ("TOKEN_RETRY_MAX_BACKOFF_SECS", "1e15"),
            ("TOKEN_HARD_MARGIN_SECS", "1e15"),
            ("TOKEN_SECRET_RELOAD_INTERVAL_SECS", "1e15"),
            ("TOKEN_CLIENT_AUTH", "digest"),
            ("TOKEN_REFRESH_RATIO", "0"),
            ("TOKEN_REFRESH_RATIO", "1.5"),
            ("TOKEN_REFRESH_RATIO", "most"),
            ("TOKEN_HARD_MARGIN_SECS", "-1"),
            ("TOKEN_REQUEST_TIMEOUT_SECS", "0"),
            ("TOKEN_RETRY_MAX_ATTEMPTS", "0"),
            ("TOKEN_RETRY_DEADLINE_SECS", "soon"),
            ("TOKEN_ALLOW_INSECURE_HTTP", "maybe"),
        ] {
            let mut pairs: Vec<_> = BASE.iter().copied().filter(|(k, _)| *k != name).collect();
            pairs.push((name, value));
            let err = Config::from_lookup(lookup(&pairs)).unwrap_err();
            assert!(
                matches!(&err, TokenCacheError::Config { setting, .. } if setting == name),
                "{name}={value}: {err}"
            );
        }
    }

    #[test]
    fn plain_http_only_to_loopback_unless_allowed() {
        for url in [
            "http://127.0.0.1:8080/oauth2/token",
            "http://localhost/token",
            "http://[::1]:9/t",
        ] {
            let mut pairs = BASE.to_vec();
            pairs[0] = ("TOKEN_URL", url);
            assert!(Config::from_lookup(lookup(&pairs)).is_ok(), "{url}");
        }
        let mut pairs = BASE.to_vec();
        pairs[0] = ("TOKEN_URL", "http://cognito.internal/oauth2/token");
        pairs.push(("TOKEN_ALLOW_INSECURE_HTTP", "true"));
        assert!(Config::from_lookup(lookup(&pairs)).is_ok());
    }

    #[test]
    fn config_debug_does_not_show_the_secret() {
        let c = Config::from_lookup(lookup(&BASE)).unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("shh-very-secret"), "{debug}");
        assert!(debug.contains("[redacted]"));
    }

    #[test]
    fn backoff_doubles_with_equal_jitter_and_caps() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            deadline: Duration::from_secs(10),
        };
        assert_eq!(p.backoff(1, None, 0.0), Duration::from_millis(50));
        assert_eq!(p.backoff(1, None, 1.0), Duration::from_millis(100));
        assert_eq!(p.backoff(2, None, 0.0), Duration::from_millis(100));
        assert_eq!(p.backoff(3, None, 0.5), Duration::from_millis(300));
        assert_eq!(p.backoff(10, None, 1.0), Duration::from_secs(1));
        assert_eq!(p.backoff(40, None, 0.0), Duration::from_millis(500));
    }

    #[test]
    fn backoff_never_shorter_than_retry_after() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.backoff(1, Some(Duration::from_secs(7)), 1.0),
            Duration::from_secs(7)
        );
        assert_eq!(
            p.backoff(6, Some(Duration::from_millis(1)), 0.0),
            Duration::from_millis(2500)
        );
    }

    #[test]
    fn get_client_token_source_from_the_region_or_an_endpoint() {
        let base = [
            ("CLIENT_ID", "client-1"),
            ("CLIENT_SECRET", "shh-very-secret"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            Config::from_lookup(lookup(&pairs))
        };
        let c = with(&[
            ("TOKEN_SOURCE", "get-client-token"),
            ("COGNITO_REGION", "eu-west-2"),
        ])
        .unwrap();
        assert_eq!(c.source, TokenSource::GetClientToken);
        assert_eq!(
            c.token_url.as_str(),
            "https://cognito-idp.eu-west-2.amazonaws.com/"
        );
        // Lambda's own Region is the default.
        let c = with(&[
            ("TOKEN_SOURCE", "get-client-token"),
            ("AWS_REGION", "us-east-1"),
        ])
        .unwrap();
        assert_eq!(
            c.token_url.as_str(),
            "https://cognito-idp.us-east-1.amazonaws.com/"
        );
        let c = with(&[
            ("TOKEN_SOURCE", "get-client-token"),
            ("AWS_REGION", "us-east-1"),
            ("COGNITO_REGION", "ap-south-1"),
        ])
        .unwrap();
        assert_eq!(
            c.token_url.as_str(),
            "https://cognito-idp.ap-south-1.amazonaws.com/"
        );
        // The SDKs' endpoint override (a local server in tests) wins.
        let c = with(&[
            ("TOKEN_SOURCE", "get-client-token"),
            ("AWS_REGION", "us-east-1"),
            (
                "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER",
                "http://127.0.0.1:4566",
            ),
        ])
        .unwrap();
        assert_eq!(c.token_url.as_str(), "http://127.0.0.1:4566/");
        assert_eq!(
            Config::get_client_token("eu-west-1", "id", "s".to_owned())
                .unwrap()
                .source,
            TokenSource::GetClientToken
        );
        // The default stays OAuth 2.0.
        let c = Config::from_lookup(lookup(&BASE)).unwrap();
        assert_eq!(c.source, TokenSource::OAuth2);
    }

    #[test]
    fn get_client_token_configuration_errors_name_the_setting() {
        let base = [
            ("CLIENT_ID", "client-1"),
            ("CLIENT_SECRET", "shh-very-secret"),
        ];
        let setting = |extra: &[(&str, &str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            match Config::from_lookup(lookup(&pairs)).unwrap_err() {
                TokenCacheError::Config { setting, .. } => setting,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(setting(&[("TOKEN_SOURCE", "saml")]), "TOKEN_SOURCE");
        assert_eq!(
            setting(&[("TOKEN_SOURCE", "get-client-token")]),
            "COGNITO_REGION"
        );
        assert_eq!(
            setting(&[
                ("TOKEN_SOURCE", "get-client-token"),
                ("COGNITO_REGION", "Mars/1")
            ]),
            "COGNITO_REGION"
        );
        assert_eq!(
            setting(&[
                ("TOKEN_SOURCE", "get-client-token"),
                ("COGNITO_REGION", "eu-west-1"),
                (
                    "TOKEN_URL",
                    "https://x.auth.eu-west-1.amazoncognito.com/oauth2/token"
                ),
            ]),
            "TOKEN_URL"
        );
        assert_eq!(
            setting(&[
                ("TOKEN_SOURCE", "get-client-token"),
                (
                    "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER",
                    "http://cognito.example.com/"
                ),
            ]),
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER"
        );
        assert_eq!(
            setting(&[
                ("TOKEN_SOURCE", "get-client-token"),
                ("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", "not a url"),
            ]),
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER"
        );
        assert_eq!(
            setting(&[
                (
                    "TOKEN_URL",
                    "https://x.auth.eu-west-1.amazoncognito.com/oauth2/token"
                ),
                ("TOKEN_SECRET_RELOAD_INTERVAL_SECS", "soon"),
            ]),
            "TOKEN_SECRET_RELOAD_INTERVAL_SECS"
        );
    }
}
