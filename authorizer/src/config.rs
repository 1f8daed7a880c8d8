//! Configuration, read once at init from a lookup function (the real one reads
//! the environment; tests pass a closure). Every problem names its variable.

use std::fmt;
use std::time::Duration;

use crate::routes::RouteTable;

/// What to answer when a valid token lacks the route's scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsufficientScope {
    /// Fail with `Unauthorized` (401), as the built-in Cognito authorizer does.
    Unauthorized,
    /// An explicit Deny policy (403, RFC 6750 `insufficient_scope`).
    Deny,
}

/// What one cached answer of a REST API covers (`POLICY_SCOPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyScope {
    /// A TOKEN authorizer cached by token: the policy lists every route the
    /// token may call (and the Denies that keep it cache-safe).
    Token,
    /// A REQUEST authorizer cached by token, method and resource path: the
    /// policy lists one ARN, the current route's, so it never grows with the table.
    Route,
}

/// The route table compiled into the binary: the workspace's
/// `route-scopes.json` (next to `template.yaml`), named by `ROUTE_SCOPES_FILE`.
/// `sam build` packages only the binary, so a file beside it is not deployed.
pub const BUILT_IN_ROUTE_SCOPES: (&str, &str) =
    ("route-scopes.json", include_str!("../../route-scopes.json"));

/// One user pool the authorizer trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// `us-east-1_AbCdEf123`.
    pub id: String,
    /// Accepted `iss` values.
    pub issuers: Vec<String>,
    /// Where its JWKS is fetched.
    pub jwks_uri: String,
    /// A JWKS file preloaded at init, if any.
    pub jwks_file: Option<String>,
}

/// The authorizer's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Trusted pools (`USER_POOL_ID`).
    pub pools: Vec<PoolConfig>,
    /// `APP_CLIENT_IDS`; `None` when unset: any app client of the pools.
    pub app_client_ids: Option<Vec<String>>,
    /// `ROUTE_SCOPES` or `ROUTE_SCOPES_FILE`.
    pub routes: RouteTable,
    /// `POLICY_SCOPE`.
    pub policy_scope: PolicyScope,
    /// `CLOCK_SKEW_SECONDS`.
    pub clock_skew_seconds: f64,
    /// `INSUFFICIENT_SCOPE`.
    pub insufficient_scope: InsufficientScope,
    /// `JWKS_TIMEOUT_MS`.
    pub jwks_timeout: Duration,
    /// `JWKS_MAX_BYTES`.
    pub jwks_max_bytes: usize,
    /// `JWKS_PENALTY_SECONDS`.
    pub jwks_penalty_seconds: f64,
    /// `TOKEN_CACHE_SIZE` (0 disables the verified-token cache).
    pub token_cache_size: usize,
}

/// A configuration problem: the variable and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The environment variable.
    pub var: &'static str,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}: {}", self.var, self.problem)
    }
}

fn problem(var: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        problem: problem.into(),
    }
}

/// Defaults, documented in the crate README.
pub mod defaults {
    /// `CLOCK_SKEW_SECONDS`.
    pub const CLOCK_SKEW_SECONDS: f64 = 0.0;
    /// `JWKS_TIMEOUT_MS`.
    pub const JWKS_TIMEOUT_MS: u64 = 2000;
    /// `JWKS_MAX_BYTES`.
    pub const JWKS_MAX_BYTES: usize = 64 * 1024;
    /// `JWKS_PENALTY_SECONDS`.
    pub const JWKS_PENALTY_SECONDS: f64 = 10.0;
    /// `TOKEN_CACHE_SIZE`.
    pub const TOKEN_CACHE_SIZE: usize = 1024;
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (name to value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let pool_ids = get("USER_POOL_ID")
            .ok_or_else(|| problem("USER_POOL_ID", "required (e.g. us-east-1_AbCdEf123)"))?;
        let pool_ids: Vec<&str> = pool_ids.split(',').map(str::trim).collect();
        let issuer_override = get("ISSUER");
        let jwks_uri = get("JWKS_URI");
        let jwks_file = get("JWKS_FILE");
        if pool_ids.len() > 1 {
            for (var, set) in [
                ("ISSUER", &issuer_override),
                ("JWKS_URI", &jwks_uri),
                ("JWKS_FILE", &jwks_file),
            ] {
                if set.is_some() {
                    return Err(problem(var, "can only be set with a single USER_POOL_ID"));
                }
            }
        }
        let mut pools = Vec::with_capacity(pool_ids.len());
        for id in pool_ids {
            let region = pool_region(id).ok_or_else(|| {
                problem(
                    "USER_POOL_ID",
                    format!("{id:?} is not a user pool id (REGION_ID, e.g. us-east-1_AbCdEf123)"),
                )
            })?;
            if pools.iter().any(|p: &PoolConfig| p.id == id) {
                return Err(problem("USER_POOL_ID", format!("{id:?} listed twice")));
            }
            let issuers = match &issuer_override {
                Some(iss) => {
                    check_url("ISSUER", iss)?;
                    vec![iss.trim_end_matches('/').to_owned()]
                }
                None => vec![
                    format!("https://cognito-idp.{region}.amazonaws.com/{id}"),
                    format!("https://issuer-cognito-idp.{region}.amazonaws.com/{id}"),
                ],
            };
            let uri = match &jwks_uri {
                Some(uri) => {
                    check_url("JWKS_URI", uri)?;
                    uri.clone()
                }
                None => format!("{}/.well-known/jwks.json", issuers[0]),
            };
            pools.push(PoolConfig {
                id: id.to_owned(),
                issuers,
                jwks_uri: uri,
                jwks_file: jwks_file.clone(),
            });
        }

        let app_client_ids = match lookup("APP_CLIENT_IDS") {
            None => None,
            Some(v) => {
                let ids: Vec<String> = v
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                if ids.is_empty() {
                    return Err(problem(
                        "APP_CLIENT_IDS",
                        "set but empty; unset it to accept every app client of the pool",
                    ));
                }
                Some(ids)
            }
        };

        let routes = match (get("ROUTE_SCOPES"), get("ROUTE_SCOPES_FILE")) {
            (Some(_), Some(_)) => {
                return Err(problem(
                    "ROUTE_SCOPES_FILE",
                    "set with ROUTE_SCOPES: give the table in one of the two",
                ));
            }
            (Some(json), None) => {
                RouteTable::from_json(&json).map_err(|e| problem("ROUTE_SCOPES", e.to_string()))?
            }
            (None, Some(path)) => {
                let (built_in, text) = BUILT_IN_ROUTE_SCOPES;
                let json = if path == built_in {
                    std::borrow::Cow::Borrowed(text)
                } else {
                    std::borrow::Cow::Owned(
                        std::fs::read_to_string(&path)
                            .map_err(|e| problem("ROUTE_SCOPES_FILE", format!("{path}: {e}")))?,
                    )
                };
                RouteTable::from_json(&json)
                    .map_err(|e| problem("ROUTE_SCOPES_FILE", format!("{path}: {e}")))?
            }
            (None, None) => {
                return Err(problem(
                    "ROUTE_SCOPES",
                    "required (or ROUTE_SCOPES_FILE): JSON object from \"METHOD /path\" to a list of scopes",
                ));
            }
        };
        let policy_scope = match get("POLICY_SCOPE").as_deref() {
            None | Some("token") => PolicyScope::Token,
            Some("route") => PolicyScope::Route,
            Some(other) => {
                return Err(problem(
                    "POLICY_SCOPE",
                    format!("{other:?}: use token or route"),
                ));
            }
        };

        let clock_skew_seconds = number(
            &get,
            "CLOCK_SKEW_SECONDS",
            defaults::CLOCK_SKEW_SECONDS,
            0.0,
            300.0,
        )?;
        let insufficient_scope = match get("INSUFFICIENT_SCOPE").as_deref() {
            None | Some("unauthorized") => InsufficientScope::Unauthorized,
            Some("deny") => InsufficientScope::Deny,
            Some(other) => {
                return Err(problem(
                    "INSUFFICIENT_SCOPE",
                    format!("{other:?}: use unauthorized or deny"),
                ));
            }
        };
        let jwks_timeout_ms = number(
            &get,
            "JWKS_TIMEOUT_MS",
            defaults::JWKS_TIMEOUT_MS as f64,
            1.0,
            30_000.0,
        )?;
        let jwks_max_bytes = number(
            &get,
            "JWKS_MAX_BYTES",
            defaults::JWKS_MAX_BYTES as f64,
            1024.0,
            16.0 * 1024.0 * 1024.0,
        )?;
        let jwks_penalty_seconds = number(
            &get,
            "JWKS_PENALTY_SECONDS",
            defaults::JWKS_PENALTY_SECONDS,
            0.0,
            3600.0,
        )?;
        let token_cache_size = number(
            &get,
            "TOKEN_CACHE_SIZE",
            defaults::TOKEN_CACHE_SIZE as f64,
            0.0,
            1_000_000.0,
        )?;

        Ok(Self {
            pools,
            app_client_ids,
            routes,
            policy_scope,
            clock_skew_seconds,
            insufficient_scope,
            jwks_timeout: Duration::from_millis(jwks_timeout_ms as u64),
            jwks_max_bytes: jwks_max_bytes as usize,
            jwks_penalty_seconds,
            token_cache_size: token_cache_size as usize,
        })
    }
}

/// The region of a pool id: `us-east-1_AbC` gives `us-east-1`.
fn pool_region(id: &str) -> Option<&str> {
    let (region, rest) = id.split_once('_')?;
    let parts: Vec<&str> = region.split('-').collect();
    let region_ok = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()));
    let rest_ok = !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric());
    (region_ok && rest_ok).then_some(region)
}

fn check_url(var: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.starts_with("https://") || value.starts_with("http://") {
        Ok(())
    } else {
        Err(problem(var, format!("{value:?} is not an http(s) URL")))
    }
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: f64,
    min: f64,
    max: f64,
) -> Result<f64, ConfigError> {
    let Some(raw) = get(var) else {
        return Ok(default);
    };
    let value: f64 = raw
        .trim()
        .parse()
        .map_err(|_| problem(var, format!("{raw:?} is not a number")))?;
    if !(min..=max).contains(&value) {
        return Err(problem(var, format!("{value} is outside {min}..={max}")));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const ROUTES: &str = r#"{"GET /events": ["weather-api/get"]}"#;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    fn minimal() -> Vec<(&'static str, &'static str)> {
        vec![
            ("USER_POOL_ID", "us-east-1_AbC123"),
            ("ROUTE_SCOPES", ROUTES),
        ]
    }

    #[test]
    fn minimal_config_uses_documented_defaults() {
        let c = config(&minimal()).unwrap();
        assert_eq!(c.pools.len(), 1);
        assert_eq!(
            c.pools[0].issuers,
            vec![
                "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123",
                "https://issuer-cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123"
            ]
        );
        assert_eq!(
            c.pools[0].jwks_uri,
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123/.well-known/jwks.json"
        );
        assert_eq!(c.app_client_ids, None);
        assert_eq!(c.clock_skew_seconds, 0.0);
        assert_eq!(c.insufficient_scope, InsufficientScope::Unauthorized);
        assert_eq!(c.jwks_timeout, Duration::from_secs(2));
        assert_eq!(c.jwks_max_bytes, 65536);
        assert_eq!(c.jwks_penalty_seconds, 10.0);
        assert_eq!(c.token_cache_size, 1024);
    }

    #[test]
    fn several_pools_each_get_their_region() {
        let c = config(&[
            ("USER_POOL_ID", "us-east-1_A1, eu-west-2_B2"),
            ("ROUTE_SCOPES", ROUTES),
        ])
        .unwrap();
        assert_eq!(
            c.pools[1].issuers[0],
            "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_B2"
        );
    }

    #[test]
    fn issuer_override_replaces_cognito_issuers() {
        let mut vars = minimal();
        vars.push(("ISSUER", "http://127.0.0.1:9229/us-east-1_AbC123/"));
        let c = config(&vars).unwrap();
        assert_eq!(
            c.pools[0].issuers,
            vec!["http://127.0.0.1:9229/us-east-1_AbC123"]
        );
        assert_eq!(
            c.pools[0].jwks_uri,
            "http://127.0.0.1:9229/us-east-1_AbC123/.well-known/jwks.json"
        );
    }

    #[test]
    fn app_client_ids_parsed() {
        let mut vars = minimal();
        vars.push(("APP_CLIENT_IDS", "abc, def"));
        assert_eq!(
            config(&vars).unwrap().app_client_ids,
            Some(vec!["abc".into(), "def".into()])
        );
    }

    #[test]
    fn each_bad_setting_is_named() {
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![("ROUTE_SCOPES", ROUTES)], "USER_POOL_ID"),
            (
                vec![("USER_POOL_ID", "nope"), ("ROUTE_SCOPES", ROUTES)],
                "USER_POOL_ID",
            ),
            (
                vec![
                    ("USER_POOL_ID", "us-east-1_A,us-east-1_A"),
                    ("ROUTE_SCOPES", ROUTES),
                ],
                "USER_POOL_ID",
            ),
            (vec![("USER_POOL_ID", "us-east-1_A")], "ROUTE_SCOPES"),
            (
                vec![("USER_POOL_ID", "us-east-1_A"), ("ROUTE_SCOPES", "{")],
                "ROUTE_SCOPES",
            ),
            (
                vec![
                    ("USER_POOL_ID", "us-east-1_A,us-east-1_B"),
                    ("ROUTE_SCOPES", ROUTES),
                    ("ISSUER", "http://x"),
                ],
                "ISSUER",
            ),
            (
                vec![
                    ("USER_POOL_ID", "us-east-1_A,us-east-1_B"),
                    ("ROUTE_SCOPES", ROUTES),
                    ("JWKS_FILE", "/x"),
                ],
                "JWKS_FILE",
            ),
        ];
        for (vars, var) in cases {
            let err = config(&vars).unwrap_err();
            assert_eq!(err.var, var, "{err}");
            assert!(
                err.to_string()
                    .starts_with(&format!("invalid configuration: {var}: ")),
                "{err}"
            );
        }
        for (var, value) in [
            ("APP_CLIENT_IDS", " , "),
            ("CLOCK_SKEW_SECONDS", "-1"),
            ("CLOCK_SKEW_SECONDS", "ten"),
            ("INSUFFICIENT_SCOPE", "forbidden"),
            ("JWKS_TIMEOUT_MS", "0"),
            ("JWKS_URI", "ftp://x"),
            ("ISSUER", "cognito"),
            ("TOKEN_CACHE_SIZE", "lots"),
            ("POLICY_SCOPE", "request"),
            ("ROUTE_SCOPES_FILE", "route-scopes.json"),
        ] {
            let mut vars = minimal();
            vars.push((var, value));
            let err = config(&vars).unwrap_err();
            assert_eq!(err.var, var, "{var}={value}: {err}");
        }
    }

    #[test]
    fn empty_app_client_ids_is_not_allow_all() {
        let mut vars = minimal();
        vars.push(("APP_CLIENT_IDS", ""));
        assert_eq!(config(&vars).unwrap_err().var, "APP_CLIENT_IDS");
    }

    fn with_file(path: &str) -> Result<Config, ConfigError> {
        config(&[
            ("USER_POOL_ID", "us-east-1_AbC123"),
            ("ROUTE_SCOPES_FILE", path),
        ])
    }

    #[test]
    fn route_scopes_file_read_at_init() {
        let path = std::env::temp_dir().join(format!("route-scopes-{}.json", std::process::id()));
        std::fs::write(&path, r#"{"GET /a/{id}": ["s/a"], "POST /a": ["s/b"]}"#).unwrap();
        let c = with_file(path.to_str().unwrap()).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(c.routes.routes().len(), 2);
        assert_eq!(c.policy_scope, PolicyScope::Token);
    }

    #[test]
    fn built_in_route_scopes_is_the_workspace_file() {
        let c = with_file("route-scopes.json").unwrap();
        let on_disk = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../route-scopes.json"),
        )
        .unwrap();
        assert_eq!(c.routes, RouteTable::from_json(&on_disk).unwrap());
        // Not read from the working directory: no such file there.
        assert!(!std::path::Path::new("route-scopes.json").exists());
    }

    #[test]
    fn bad_route_scopes_file_stops_init_naming_setting_and_file() {
        let path = std::env::temp_dir().join(format!("bad-routes-{}.json", std::process::id()));
        std::fs::write(&path, r#"{"GET /a": ["s/a"], "FETCH /b": ["s/b"]}"#).unwrap();
        let err = with_file(path.to_str().unwrap()).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(err.var, "ROUTE_SCOPES_FILE");
        let text = err.to_string();
        assert!(
            text.starts_with("invalid configuration: ROUTE_SCOPES_FILE: ")
                && text.contains(path.to_str().unwrap())
                && text.contains("FETCH /b"),
            "{text}"
        );
        let err = with_file("/nonexistent/routes.json").unwrap_err();
        assert_eq!(err.var, "ROUTE_SCOPES_FILE");
        assert!(err.problem.contains("/nonexistent/routes.json"), "{err}");
    }

    #[test]
    fn policy_scope_route_selected() {
        let mut vars = minimal();
        vars.push(("POLICY_SCOPE", "route"));
        assert_eq!(config(&vars).unwrap().policy_scope, PolicyScope::Route);
    }
}
