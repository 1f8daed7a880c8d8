//! The function's settings, read once at init through one lookup (the environment in
//! `main`, a closure in tests). Every error names its setting.

use std::time::Duration;

use reqwest::Url;
use token_cache::{ClientSecret, ScopeSet, Settings};

use crate::error::IngestError;

/// Setting names.
pub mod env {
    /// Base URL of the weather API (the stage URL); events go to `{it}/events`. Required.
    pub const WEATHER_API_URL: &str = "WEATHER_API_URL";
    /// `true` to allow `http://` to a host that is not loopback (the token travels in clear).
    pub const WEATHER_API_ALLOW_INSECURE_HTTP: &str = "WEATHER_API_ALLOW_INSECURE_HTTP";
    /// Seconds one `POST /events` may take, body included. Default 10.
    pub const WEATHER_API_TIMEOUT_SECS: &str = "WEATHER_API_TIMEOUT_SECS";
    /// Space-separated scopes of the token. Default `weather-api/post`.
    pub const TOKEN_SCOPES: &str = "TOKEN_SCOPES";
    /// Messages of one batch posted at the same time. Default 10.
    pub const INGEST_CONCURRENCY: &str = "INGEST_CONCURRENCY";
    /// URL of the dead-letter queue permanent failures are sent to. Required.
    pub const DEAD_LETTER_QUEUE_URL: &str = "DEAD_LETTER_QUEUE_URL";
    /// App client id (token-cache's). Required with `CLIENT_SECRET`; with
    /// `CLIENT_SECRET_ARN` optional, and if set it must match the secret's.
    pub const CLIENT_ID: &str = "CLIENT_ID";
    /// The client secret itself (local use).
    pub const CLIENT_SECRET: &str = "CLIENT_SECRET";
    /// ARN of a Secrets Manager secret `{"client_id": ..., "client_secret": ...}`.
    pub const CLIENT_SECRET_ARN: &str = "CLIENT_SECRET_ARN";
}

/// Default of [`env::TOKEN_SCOPES`].
pub const DEFAULT_SCOPES: &str = "weather-api/post";
/// Default of [`env::INGEST_CONCURRENCY`].
pub const DEFAULT_CONCURRENCY: usize = 10;
/// Largest [`env::INGEST_CONCURRENCY`] accepted.
pub const MAX_CONCURRENCY: usize = 100;
/// Default of [`env::WEATHER_API_TIMEOUT_SECS`].
pub const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the client secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `CLIENT_SECRET`: the value itself, with `CLIENT_ID`.
    Inline {
        /// `CLIENT_ID`.
        client_id: String,
        /// `CLIENT_SECRET`.
        secret: ClientSecret,
    },
    /// `CLIENT_SECRET_ARN`: read from Secrets Manager at init (and again after the
    /// token endpoint answers `invalid_client`).
    SecretsManager {
        /// `CLIENT_SECRET_ARN`.
        arn: String,
        /// `CLIENT_ID`, if set: the secret's `client_id` must be this.
        expected_client_id: Option<String>,
    },
}

/// Placeholder credentials the token settings are checked with before the secret is
/// read (so a bad `TOKEN_URL` stops init before any network call).
const PENDING: &str = "pending-secret-read";

/// Everything the function reads at init.
#[derive(Debug, Clone)]
pub struct Config {
    /// `{WEATHER_API_URL}/events`.
    pub events_url: Url,
    /// `WEATHER_API_TIMEOUT_SECS`.
    pub api_timeout: Duration,
    /// `TOKEN_SCOPES`.
    pub scopes: ScopeSet,
    /// `INGEST_CONCURRENCY`, 1 to [`MAX_CONCURRENCY`].
    pub concurrency: usize,
    /// `DEAD_LETTER_QUEUE_URL`.
    pub dead_letter_queue_url: String,
    /// `CLIENT_SECRET` or `CLIENT_SECRET_ARN`.
    pub secret: SecretSource,
    /// `TOKEN_CACHE_TABLE`: the DynamoDB table the fleet shares its token
    /// through (token-cache's shared level); unset: each container its own.
    pub token_cache_table: Option<String>,
    /// token-cache's settings (`TOKEN_URL` or `TOKEN_SOURCE`…, `TOKEN_*`). With
    /// `CLIENT_SECRET_ARN` its client id and secret are placeholders until
    /// [`Config::token_config`] puts the real ones in.
    token: token_cache::Config,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, IngestError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads every setting through `lookup`; unset and empty are the same.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, IngestError> {
        let settings = Settings::new(&lookup);
        let get = |name: &str| settings.get(name);
        let required = |name: &str| settings.required(name).map_err(IngestError::from);

        let allow_insecure = match get(env::WEATHER_API_ALLOW_INSECURE_HTTP).as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(IngestError::config(
                    env::WEATHER_API_ALLOW_INSECURE_HTTP,
                    format!("{other:?}: expected true or false"),
                ));
            }
        };
        let events_url = events_url(&required(env::WEATHER_API_URL)?, allow_insecure)?;
        let api_timeout = match get(env::WEATHER_API_TIMEOUT_SECS) {
            None => DEFAULT_API_TIMEOUT,
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|s| *s > 0.0 && *s <= 900.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    IngestError::config(
                        env::WEATHER_API_TIMEOUT_SECS,
                        format!("{v:?} is not a number of seconds from 0 to 900"),
                    )
                })?,
        };
        let scopes_text = get(env::TOKEN_SCOPES).unwrap_or_else(|| DEFAULT_SCOPES.to_owned());
        let scopes = ScopeSet::parse(&scopes_text)
            .map_err(|e| IngestError::config(env::TOKEN_SCOPES, e.to_string()))?;
        let concurrency = match get(env::INGEST_CONCURRENCY) {
            None => DEFAULT_CONCURRENCY,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_CONCURRENCY).contains(n))
                .ok_or_else(|| {
                    IngestError::config(
                        env::INGEST_CONCURRENCY,
                        format!("{v:?} is not a whole number from 1 to {MAX_CONCURRENCY}"),
                    )
                })?,
        };
        let dead_letter_queue_url = required(env::DEAD_LETTER_QUEUE_URL)?;
        Url::parse(&dead_letter_queue_url).map_err(|e| {
            IngestError::config(env::DEAD_LETTER_QUEUE_URL, format!("not a URL: {e}"))
        })?;

        let secret = match (get(env::CLIENT_SECRET), get(env::CLIENT_SECRET_ARN)) {
            (Some(_), Some(_)) => {
                return Err(IngestError::config(
                    env::CLIENT_SECRET_ARN,
                    "set either CLIENT_SECRET or CLIENT_SECRET_ARN, not both",
                ));
            }
            (None, None) => {
                return Err(IngestError::config(
                    env::CLIENT_SECRET_ARN,
                    "is required (or CLIENT_SECRET, for local use)",
                ));
            }
            (Some(secret), None) => SecretSource::Inline {
                client_id: required(env::CLIENT_ID)?,
                secret: ClientSecret::new(secret),
            },
            (None, Some(arn)) => SecretSource::SecretsManager {
                arn,
                expected_client_id: get(env::CLIENT_ID),
            },
        };
        // token-cache reads its own settings; the credentials are ours.
        let token = token_cache::Config::from_lookup(|name| match name {
            env::CLIENT_ID => Some(match &secret {
                SecretSource::Inline { client_id, .. } => client_id.clone(),
                SecretSource::SecretsManager { .. } => PENDING.to_owned(),
            }),
            env::CLIENT_SECRET => Some(match &secret {
                SecretSource::Inline { secret, .. } => secret.expose().to_owned(),
                SecretSource::SecretsManager { .. } => PENDING.to_owned(),
            }),
            other => lookup(other),
        })?;
        Ok(Self {
            events_url,
            api_timeout,
            scopes,
            concurrency,
            dead_letter_queue_url,
            secret,
            token_cache_table: get(token_cache::config::env::TOKEN_CACHE_TABLE),
            token,
        })
    }

    /// token-cache's configuration with these credentials.
    pub fn token_config(
        &self,
        client_id: &str,
        secret: ClientSecret,
    ) -> Result<token_cache::Config, IngestError> {
        let mut config = self.token.clone();
        config.client_id = client_id.to_owned();
        config.client_secret = secret;
        config.validate()?;
        Ok(config)
    }
}

/// `{base}/events`, `https` (or `http` to loopback, or anywhere when allowed).
fn events_url(base: &str, allow_insecure: bool) -> Result<Url, IngestError> {
    let invalid = |reason: String| IngestError::config(env::WEATHER_API_URL, reason);
    let mut url = Url::parse(base).map_err(|e| invalid(format!("not a URL: {e}")))?;
    let loopback = match url.host_str() {
        Some(host) if host.eq_ignore_ascii_case("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback || allow_insecure => {}
        "http" => {
            return Err(invalid(
                "plain http is only allowed to a loopback host (the access token would travel in clear); set WEATHER_API_ALLOW_INSECURE_HTTP=true to override".into(),
            ));
        }
        other => return Err(invalid(format!("scheme {other:?}: expected https"))),
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid(
            "must be a base URL without query, fragment or credentials".into(),
        ));
    }
    let path = format!("{}/events", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const BASE: &[(&str, &str)] = &[
        ("WEATHER_API_URL", "https://api.example.com/weather/"),
        ("TOKEN_URL", "https://auth.example.com/oauth2/token"),
        ("CLIENT_ID", "ingest"),
        ("CLIENT_SECRET", "s3cr3t"),
        (
            "DEAD_LETTER_QUEUE_URL",
            "https://sqs.eu-west-1.amazonaws.com/1/dlq",
        ),
    ];

    fn with(extra: &[(&str, &str)]) -> Vec<(&'static str, String)> {
        let mut all: Vec<(&'static str, String)> =
            BASE.iter().map(|(k, v)| (*k, v.to_string())).collect();
        for (k, v) in extra {
            all.retain(|(name, _)| name != k);
            let k: &'static str = Box::leak(k.to_string().into_boxed_str());
            all.push((k, v.to_string()));
        }
        all
    }

    fn read(pairs: Vec<(&'static str, String)>) -> Result<Config, IngestError> {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Config::from_lookup(lookup(&pairs))
    }

    fn setting_of(err: IngestError) -> String {
        match err {
            IngestError::Config { setting, .. } => setting,
            other => panic!("not a configuration error: {other}"),
        }
    }

    #[test]
    fn defaults() {
        let config = read(with(&[])).unwrap();
        assert_eq!(
            config.events_url.as_str(),
            "https://api.example.com/weather/events"
        );
        assert_eq!(config.scopes, ScopeSet::parse("weather-api/post").unwrap());
        assert_eq!(config.concurrency, 10);
        assert_eq!(config.api_timeout, Duration::from_secs(10));
        assert_eq!(
            config.secret,
            SecretSource::Inline {
                client_id: "ingest".into(),
                secret: ClientSecret::new("s3cr3t")
            }
        );
    }

    #[test]
    fn every_required_setting_is_named_when_missing() {
        for name in [
            "WEATHER_API_URL",
            "TOKEN_URL",
            "CLIENT_ID",
            "DEAD_LETTER_QUEUE_URL",
        ] {
            let pairs: Vec<_> = with(&[]).into_iter().filter(|(k, _)| *k != name).collect();
            assert_eq!(setting_of(read(pairs).unwrap_err()), name);
        }
        let pairs: Vec<_> = with(&[])
            .into_iter()
            .filter(|(k, _)| *k != "CLIENT_SECRET")
            .collect();
        assert_eq!(setting_of(read(pairs).unwrap_err()), "CLIENT_SECRET_ARN");
    }

    #[test]
    fn invalid_values_are_named() {
        for (name, value) in [
            ("WEATHER_API_URL", "not a url"),
            ("WEATHER_API_URL", "http://api.example.com"),
            ("WEATHER_API_URL", "ftp://api.example.com"),
            ("WEATHER_API_URL", "https://api.example.com/?x=1"),
            ("WEATHER_API_TIMEOUT_SECS", "0"),
            ("WEATHER_API_TIMEOUT_SECS", "ten"),
            ("WEATHER_API_ALLOW_INSECURE_HTTP", "maybe"),
            ("INGEST_CONCURRENCY", "0"),
            ("INGEST_CONCURRENCY", "101"),
            ("INGEST_CONCURRENCY", "-1"),
            ("TOKEN_SCOPES", "bad\"scope"),
            ("DEAD_LETTER_QUEUE_URL", "queue"),
            ("TOKEN_URL", "http://auth.example.com/oauth2/token"),
            ("TOKEN_RETRY_MAX_ATTEMPTS", "many"),
            (
                "CLIENT_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:x",
            ),
        ] {
            let err = read(with(&[(name, value)])).unwrap_err();
            let text = err.to_string();
            assert_eq!(setting_of(err), name, "{name}={value}");
            assert!(!text.contains("s3cr3t"), "{text}");
        }
    }

    #[test]
    fn loopback_http_allowed_and_override_for_others() {
        let config = read(with(&[("WEATHER_API_URL", "http://127.0.0.1:9000")])).unwrap();
        assert_eq!(config.events_url.as_str(), "http://127.0.0.1:9000/events");
        let config = read(with(&[
            ("WEATHER_API_URL", "http://api:8080/weather"),
            ("WEATHER_API_ALLOW_INSECURE_HTTP", "true"),
        ]))
        .unwrap();
        assert_eq!(config.events_url.as_str(), "http://api:8080/weather/events");
    }

    #[test]
    fn secret_arn_takes_the_client_id_from_the_secret() {
        let pairs: Vec<_> = with(&[("CLIENT_SECRET_ARN", "arn:aws:secretsmanager:r:1:secret:s")])
            .into_iter()
            .filter(|(k, _)| *k != "CLIENT_SECRET" && *k != "CLIENT_ID")
            .collect();
        let config = read(pairs).unwrap();
        assert_eq!(
            config.secret,
            SecretSource::SecretsManager {
                arn: "arn:aws:secretsmanager:r:1:secret:s".into(),
                expected_client_id: None
            }
        );
        let token = config
            .token_config("from-secret", ClientSecret::new("v"))
            .unwrap();
        assert_eq!(token.client_id, "from-secret");
        assert_eq!(token.client_secret.expose(), "v");
    }

    #[test]
    fn scopes_and_concurrency_are_read() {
        let config = read(with(&[
            ("TOKEN_SCOPES", "weather-api/get weather-api/post"),
            ("INGEST_CONCURRENCY", "3"),
        ]))
        .unwrap();
        assert_eq!(config.concurrency, 3);
        assert_eq!(
            config.scopes,
            ScopeSet::parse("weather-api/post weather-api/get").unwrap()
        );
    }
}
