//! A local stand-in for the Amazon Cognito pieces the system uses: the user pool's
//! OAuth 2.0 token endpoint (client_credentials grant only) and its public keys.
//!
//! - `POST /oauth2/token`: client authentication by HTTP Basic or by `client_id` and
//!   `client_secret` in the form body; no `scope` gives every scope the app client is
//!   allowed; a scope it is not allowed is `invalid_scope`, with no token.
//! - `GET /{poolId}/.well-known/jwks.json` and `/{poolId}/.well-known/openid-configuration`.
//! - `GET /__local/stats`: how many token requests were made and tokens issued.
//!
//! The pool, its resource server scopes and its app clients come from `template.yaml`
//! ([`CognitoConfig::from_model`]). Client ids and secrets are fixed, local-only values
//! ([`local_client_id`], [`local_client_secret`]). The RSA signing key is generated at
//! start, so a token of a previous run never verifies. Tokens carry exactly the claims
//! of a Cognito client-credentials access token.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hyper::http::request::Parts;
use hyper::{Method, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
// The workspace's one secret type: `Debug` and `Display` print `[redacted]`.
use token_cache::ClientSecret;

use crate::StackError;
use crate::http::{Body, Handler, HttpResponse};
use crate::log::LogFile;
use crate::template::StackModel;

/// The fixed local client id of an app client: its logical id, lower case, padded to
/// Cognito's 26 characters, e.g. `serviceclient0local0000000`.
pub fn local_client_id(logical_id: &str) -> String {
    let base: String = logical_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let mut id = format!("{base}0local");
    while id.len() < 26 {
        id.push('0');
    }
    id
}

/// The fixed LOCAL-ONLY secret of an app client (Cognito's are 51 characters).
pub fn local_client_secret(logical_id: &str) -> ClientSecret {
    let base: String = logical_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let mut secret = format!("localonly0secret0{base}0");
    while secret.len() < 51 {
        secret.push('x');
    }
    ClientSecret::new(secret)
}

/// An app client as the local issuer knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalClient {
    /// Logical id in the template, e.g. `ServiceClient`.
    pub logical_id: String,
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub secret: ClientSecret,
    /// `AllowedOAuthScopes`.
    pub allowed_scopes: BTreeSet<String>,
    /// Whether the client may use the client_credentials grant.
    pub client_credentials: bool,
    /// Whether the client may use `GetClientToken` (a secret and
    /// `ALLOW_CLIENT_TOKEN_AUTH` among its `ExplicitAuthFlows`).
    pub client_token_auth: bool,
    /// Access token lifetime in seconds.
    pub validity_seconds: u64,
}

/// What the local issuer serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CognitoConfig {
    /// The user pool id, e.g. `us-east-1_Local1`.
    pub pool_id: String,
    /// The app clients, in template order (by logical id).
    pub clients: Vec<LocalClient>,
    /// Every scope the resource servers define.
    pub defined_scopes: BTreeSet<String>,
}

impl CognitoConfig {
    /// The pool, clients and scopes of `model`; `expires_in` overrides every client's
    /// access token lifetime (seconds).
    pub fn from_model(
        model: &StackModel,
        pool_id: &str,
        expires_in: Option<u64>,
    ) -> Result<Self, StackError> {
        let mut clients = Vec::new();
        for client in model.clients.values() {
            let validity_seconds = match expires_in {
                Some(s) => s,
                None => model.access_token_validity_seconds(client).ok_or_else(|| {
                    StackError::Unsupported(format!(
                        "{}: AccessTokenValidity must be a number or a parameter with a default",
                        client.logical_id
                    ))
                })?,
            };
            clients.push(LocalClient {
                logical_id: client.logical_id.clone(),
                client_id: local_client_id(&client.logical_id),
                secret: local_client_secret(&client.logical_id),
                allowed_scopes: client.allowed_scopes.clone(),
                client_credentials: client.generate_secret
                    && client.oauth_flows_enabled
                    && client.oauth_flows.contains("client_credentials"),
                client_token_auth: client.generate_secret
                    && client
                        .explicit_auth_flows
                        .contains("ALLOW_CLIENT_TOKEN_AUTH"),
                validity_seconds,
            });
        }
        Ok(Self {
            pool_id: pool_id.to_owned(),
            clients,
            defined_scopes: model.defined_scopes(),
        })
    }

    /// A client by logical id.
    pub fn client(&self, logical_id: &str) -> Option<&LocalClient> {
        self.clients.iter().find(|c| c.logical_id == logical_id)
    }

    /// The region of the pool id (`us-east-1_X` gives `us-east-1`).
    pub fn region(&self) -> &str {
        self.pool_id
            .split_once('_')
            .map_or("us-east-1", |(region, _)| region)
    }
}

/// An RSA-2048 key that signs RS256 JWTs under a `kid`.
pub struct Signer {
    key: KeyPair,
    kid: String,
    rng: SystemRandom,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").field("kid", &self.kid).finish()
    }
}

impl Signer {
    /// Generates a fresh key.
    pub fn generate(kid: &str) -> Result<Self, StackError> {
        let key = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|e| StackError::Crypto(format!("generating an RSA key: {e}")))?;
        Ok(Self {
            key,
            kid: kid.to_owned(),
            rng: SystemRandom::new(),
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` into a compact JWT with header `{"kid", "alg": "RS256"}`.
    pub fn sign(&self, claims: &Value) -> Result<String, StackError> {
        let header = json!({"kid": self.kid, "alg": "RS256"});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|e| StackError::Crypto(format!("signing: {e}")))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        let public = self.key.public_key();
        json!({
            "alg": "RS256",
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
            "kid": self.kid,
            "kty": "RSA",
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "use": "sig",
        })
    }
}

/// An OAuth 2.0 error of the token endpoint, with the status Cognito answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthError {
    /// Malformed request: not a form POST, a parameter missing or repeated.
    InvalidRequest,
    /// Unknown client or wrong secret (`basic`: the client authenticated with HTTP
    /// Basic, which RFC 6749 answers with 401 and `WWW-Authenticate`).
    InvalidClient {
        /// Whether HTTP Basic was used.
        basic: bool,
    },
    /// The client may not use the client_credentials grant.
    UnauthorizedClient,
    /// A grant type other than client_credentials.
    UnsupportedGrantType,
    /// A scope the client is not allowed (or that does not exist).
    InvalidScope,
}

impl OAuthError {
    /// The `error` code.
    pub fn code(self) -> &'static str {
        match self {
            OAuthError::InvalidRequest => "invalid_request",
            OAuthError::InvalidClient { .. } => "invalid_client",
            OAuthError::UnauthorizedClient => "unauthorized_client",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::InvalidScope => "invalid_scope",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            OAuthError::InvalidClient { basic: true } => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// A token request, parsed from the `Authorization` header and the form body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// `grant_type`.
    pub grant_type: Option<String>,
    /// The client id (Basic user or `client_id`).
    pub client_id: Option<String>,
    /// The secret (Basic password or `client_secret`).
    pub client_secret: Option<ClientSecret>,
    /// Whether the client authenticated with HTTP Basic.
    pub basic: bool,
    /// The requested scopes (`None`: no `scope` parameter).
    pub scope: Option<Vec<String>>,
}

impl TokenRequest {
    /// Parses a token request; `authorization` is the `Authorization` header, if any.
    pub fn parse(authorization: Option<&str>, form: &[u8]) -> Result<Self, OAuthError> {
        let mut grant_type = None;
        let mut body_id = None;
        let mut body_secret = None;
        let mut scope = None;
        for (key, value) in form_urlencoded::parse(form) {
            let slot = match key.as_ref() {
                "grant_type" => &mut grant_type,
                "client_id" => &mut body_id,
                "client_secret" => &mut body_secret,
                "scope" => &mut scope,
                _ => continue,
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(OAuthError::InvalidRequest);
            }
        }
        let basic = match authorization {
            None => None,
            Some(value) => {
                Some(parse_basic(value).ok_or(OAuthError::InvalidClient { basic: true })?)
            }
        };
        let (client_id, client_secret, basic_used) = match basic {
            Some((id, secret)) => {
                if body_secret.is_some() || body_id.as_ref().is_some_and(|b| *b != id) {
                    return Err(OAuthError::InvalidRequest);
                }
                (Some(id), Some(secret), true)
            }
            None => (body_id, body_secret, false),
        };
        let scope = scope
            .map(|s| {
                s.split(' ')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter(|s| !s.is_empty());
        Ok(Self {
            grant_type,
            client_id,
            client_secret: client_secret.map(ClientSecret::new),
            basic: basic_used,
            scope,
        })
    }
}

/// `Basic base64(urlencoded(id):urlencoded(secret))` (RFC 6749 section 2.3.1).
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

/// A granted token's client and scopes (before signing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The client id.
    pub client_id: String,
    /// The granted scopes, space-separated, in the order asked (or the client's).
    pub scope: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

impl CognitoConfig {
    /// Decides a token request: the grant, or the error Cognito answers.
    pub fn grant(&self, request: &TokenRequest) -> Result<Grant, OAuthError> {
        let invalid_client = OAuthError::InvalidClient {
            basic: request.basic,
        };
        let id = request.client_id.as_deref().ok_or(invalid_client)?;
        let secret = request.client_secret.as_ref().ok_or(invalid_client)?;
        let client = self
            .clients
            .iter()
            .find(|c| c.client_id == id)
            .ok_or(invalid_client)?;
        if aws_lc_rs::constant_time::verify_slices_are_equal(
            client.secret.expose().as_bytes(),
            secret.expose().as_bytes(),
        )
        .is_err()
        {
            return Err(invalid_client);
        }
        match request.grant_type.as_deref() {
            None => return Err(OAuthError::InvalidRequest),
            Some("client_credentials") => {}
            Some(_) => return Err(OAuthError::UnsupportedGrantType),
        }
        if !client.client_credentials {
            return Err(OAuthError::UnauthorizedClient);
        }
        let scopes: Vec<String> = match &request.scope {
            None => client.allowed_scopes.iter().cloned().collect(),
            Some(asked) => {
                if asked.iter().any(|s| !client.allowed_scopes.contains(s)) {
                    return Err(OAuthError::InvalidScope);
                }
                let mut seen = BTreeSet::new();
                asked
                    .iter()
                    .filter(|s| seen.insert(s.as_str()))
                    .cloned()
                    .collect()
            }
        };
        if scopes.is_empty() {
            return Err(OAuthError::InvalidScope);
        }
        Ok(Grant {
            client_id: client.client_id.clone(),
            scope: scopes.join(" "),
            expires_in: client.validity_seconds,
        })
    }
}

/// The claims of a Cognito client-credentials access token, exactly.
pub fn access_token_claims(grant: &Grant, issuer: &str, now: u64) -> Value {
    json!({
        "sub": grant.client_id,
        "token_use": "access",
        "scope": grant.scope,
        "auth_time": now,
        "iss": issuer,
        "exp": now + grant.expires_in,
        "iat": now,
        "version": 2,
        "jti": uuid::Uuid::new_v4().to_string(),
        "client_id": grant.client_id,
    })
}

/// The claims of a compact JWT (its second part), decoded without any check: for tests
/// that look inside a token this issuer signed. `None` if that part is missing or not
/// base64url-encoded JSON.
pub fn token_claims(token: &str) -> Option<Value> {
    token_part(token, 1)
}

/// The header of a compact JWT (its first part), decoded like [`token_claims`].
pub fn token_header(token: &str) -> Option<Value> {
    token_part(token, 0)
}

fn token_part(token: &str, index: usize) -> Option<Value> {
    let part = token.split('.').nth(index)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The running local issuer: configuration, key, counters and request log.
#[derive(Debug)]
pub struct LocalCognito {
    config: CognitoConfig,
    signer: Signer,
    base_url: String,
    token_requests: AtomicU64,
    /// Token requests by the client id they named.
    requests_by_client: Mutex<BTreeMap<String, u64>>,
    tokens_issued: AtomicU64,
    /// Every token issued, when recording (tests scan the logs for them).
    issued: Option<Mutex<Vec<String>>>,
    log: LogFile,
}

impl LocalCognito {
    /// An issuer serving at `base_url` (`http://127.0.0.1:PORT`).
    pub fn new(
        config: CognitoConfig,
        signer: Signer,
        base_url: String,
        record_tokens: bool,
        log: LogFile,
    ) -> Self {
        Self {
            config,
            signer,
            base_url,
            token_requests: AtomicU64::new(0),
            requests_by_client: Mutex::default(),
            tokens_issued: AtomicU64::new(0),
            issued: record_tokens.then(|| Mutex::new(Vec::new())),
            log,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CognitoConfig {
        &self.config
    }

    /// The signing key (tests sign expired or foreign-issuer tokens with it).
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The tokens' `iss`: `{base_url}/{poolId}`.
    pub fn issuer(&self) -> String {
        format!("{}/{}", self.base_url, self.config.pool_id)
    }

    /// `{base_url}/oauth2/token`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/token", self.base_url)
    }

    /// Requests made to `/oauth2/token` so far (granted or not).
    pub fn token_requests(&self) -> u64 {
        self.token_requests.load(Ordering::SeqCst)
    }

    /// Requests made so far (to `/oauth2/token` or `GetClientToken`, granted or not)
    /// that named the client id `client_id`.
    pub fn token_requests_of(&self, client_id: &str) -> u64 {
        self.requests_by_client
            .lock()
            .ok()
            .and_then(|m| m.get(client_id).copied())
            .unwrap_or(0)
    }

    fn count_client(&self, client_id: &str) {
        if let Ok(mut counts) = self.requests_by_client.lock() {
            *counts.entry(client_id.to_owned()).or_default() += 1;
        }
    }

    /// Tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.tokens_issued.load(Ordering::SeqCst)
    }

    /// Every token issued so far (empty unless recording).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.issued
            .as_ref()
            .and_then(|m| m.lock().ok().map(|v| v.clone()))
            .unwrap_or_default()
    }

    fn token(&self, parts: &Parts, body: &[u8]) -> (HttpResponse, String) {
        self.token_requests.fetch_add(1, Ordering::SeqCst);
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
        {
            return oauth_error(OAuthError::InvalidRequest, "-".into());
        }
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or(""));
        let request = match TokenRequest::parse(authorization, body) {
            Ok(r) => r,
            Err(e) => return oauth_error(e, "-".into()),
        };
        let client = request.client_id.clone().unwrap_or_else(|| "-".into());
        self.count_client(&client);
        let grant = match self.config.grant(&request) {
            Ok(g) => g,
            Err(e) => return oauth_error(e, format!("client_id={client}")),
        };
        let token = match self.issue(&grant) {
            Ok(t) => t,
            Err(e) => {
                let body = json!({"error": "server_error"});
                return (
                    crate::http::json(StatusCode::INTERNAL_SERVER_ERROR, &body),
                    format!("client_id={client} error={e}"),
                );
            }
        };
        let body = json!({
            "access_token": token,
            "expires_in": grant.expires_in,
            "token_type": "Bearer",
        });
        let mut response = crate::http::json(StatusCode::OK, &body);
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        (
            response,
            format!("client_id={client} scope=\"{}\" granted", grant.scope),
        )
    }

    /// Signs an access token for `grant` (Cognito's exact claims), counts and
    /// records it.
    fn issue(&self, grant: &Grant) -> Result<String, StackError> {
        let claims = access_token_claims(grant, &self.issuer(), unix_now());
        let token = self.signer.sign(&claims)?;
        self.tokens_issued.fetch_add(1, Ordering::SeqCst);
        if let Some(issued) = &self.issued
            && let Ok(mut list) = issued.lock()
        {
            list.push(token.clone());
        }
        Ok(token)
    }

    /// The user pools API's `GetClientToken` (JSON protocol): the same
    /// clients, scope rules and token claims as `/oauth2/token`; the client
    /// needs `ALLOW_CLIENT_TOKEN_AUTH`. Errors as the AWS JSON protocol sends
    /// them: HTTP 400, `x-amzn-ErrorType` and `{"__type", "message"}`.
    fn get_client_token(&self, body: &[u8]) -> (HttpResponse, String) {
        self.token_requests.fetch_add(1, Ordering::SeqCst);
        let request: GetClientTokenRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(_) => {
                return aws_error(
                    "InvalidParameterException",
                    "The request body is not a GetClientToken request.",
                    "-".into(),
                );
            }
        };
        let client = request.client_id.clone();
        self.count_client(&client);
        let token_request = TokenRequest {
            grant_type: Some("client_credentials".to_owned()),
            client_id: Some(request.client_id),
            client_secret: Some(ClientSecret::new(request.secret)),
            basic: false,
            scope: request.scopes,
        };
        let allowed = self
            .config
            .clients
            .iter()
            .find(|c| c.client_id == client)
            .is_some_and(|c| c.client_token_auth);
        let grant = match self.config.grant(&token_request) {
            Ok(_) if !allowed => {
                return aws_error(
                    "NotAuthorizedException",
                    "Client is not enabled for ALLOW_CLIENT_TOKEN_AUTH.",
                    format!("client_id={client}"),
                );
            }
            Ok(g) => g,
            Err(e) => {
                let (kind, message) = match e {
                    OAuthError::InvalidClient { .. } => {
                        ("NotAuthorizedException", "Invalid client id or secret.")
                    }
                    OAuthError::InvalidScope => {
                        ("ScopeDoesNotExistException", "Invalid scope requested.")
                    }
                    OAuthError::UnauthorizedClient => (
                        "NotAuthorizedException",
                        "Client is not allowed to get machine-to-machine tokens.",
                    ),
                    _ => ("InvalidParameterException", "Invalid request."),
                };
                return aws_error(kind, message, format!("client_id={client}"));
            }
        };
        match self.issue(&grant) {
            Ok(token) => {
                let body = json!({
                    "ClientAuthenticationResult": {
                        "AccessToken": token,
                        "ExpiresIn": grant.expires_in,
                        "TokenType": "Bearer",
                    }
                });
                let mut response = crate::http::json(StatusCode::OK, &body);
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/x-amz-json-1.1"),
                );
                (
                    response,
                    format!(
                        "GetClientToken client_id={client} scope=\"{}\" granted",
                        grant.scope
                    ),
                )
            }
            Err(e) => (
                crate::http::json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &json!({"__type": "InternalErrorException", "message": "signing failed"}),
                ),
                format!("client_id={client} error={e}"),
            ),
        }
    }

    fn route(&self, parts: &Parts, body: &[u8]) -> (HttpResponse, String) {
        let path = parts.uri.path();
        let pool = format!("/{}", self.config.pool_id);
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok());
        match (&parts.method, path) {
            (&Method::POST, "/") if target == Some(GET_CLIENT_TOKEN_TARGET) => {
                self.get_client_token(body)
            }
            (&Method::POST, "/") => aws_error(
                "UnknownOperationException",
                "Only GetClientToken is served here.",
                String::new(),
            ),
            (&Method::POST, "/oauth2/token") => self.token(parts, body),
            (_, "/oauth2/token") => (
                crate::http::json(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &json!({"error": "invalid_request"}),
                ),
                String::new(),
            ),
            (&Method::GET, p) if p == format!("{pool}/.well-known/jwks.json") => (
                crate::http::json(StatusCode::OK, &json!({"keys": [self.signer.jwk()]})),
                String::new(),
            ),
            (&Method::GET, p) if p == format!("{pool}/.well-known/openid-configuration") => {
                let issuer = self.issuer();
                let scopes: Vec<&String> = self.config.defined_scopes.iter().collect();
                let body = json!({
                    "issuer": issuer,
                    "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
                    "token_endpoint": self.token_url(),
                    "grant_types_supported": ["client_credentials"],
                    "response_types_supported": ["token"],
                    "scopes_supported": scopes,
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "token_endpoint_auth_methods_supported":
                        ["client_secret_basic", "client_secret_post"],
                });
                (crate::http::json(StatusCode::OK, &body), String::new())
            }
            (&Method::GET, "/__local/stats") => (
                crate::http::json(
                    StatusCode::OK,
                    &json!({
                        "tokenRequests": self.token_requests(),
                        "tokensIssued": self.tokens_issued(),
                    }),
                ),
                String::new(),
            ),
            _ => (
                crate::http::json(StatusCode::NOT_FOUND, &json!({"error": "not_found"})),
                String::new(),
            ),
        }
    }
}

/// The `X-Amz-Target` of `GetClientToken`.
pub const GET_CLIENT_TOKEN_TARGET: &str = "AWSCognitoIdentityProviderService.GetClientToken";

/// A `GetClientToken` request body.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct GetClientTokenRequest {
    client_id: String,
    secret: String,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    #[allow(dead_code)] // accepted, as Cognito does; no triggers run here
    client_metadata: Option<std::collections::BTreeMap<String, String>>,
}

/// An AWS JSON protocol error (HTTP 400).
fn aws_error(kind: &str, message: &str, detail: String) -> (HttpResponse, String) {
    let mut response = crate::http::json(
        StatusCode::BAD_REQUEST,
        &json!({"__type": kind, "message": message}),
    );
    if let Ok(value) = header::HeaderValue::from_str(kind) {
        response.headers_mut().insert("x-amzn-errortype", value);
    }
    (response, format!("{detail} error={kind}"))
}

fn oauth_error(error: OAuthError, detail: String) -> (HttpResponse, String) {
    let mut response = crate::http::json(error.status(), &json!({"error": error.code()}));
    if error == (OAuthError::InvalidClient { basic: true }) {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"cognito\""),
        );
    }
    (response, format!("{detail} error={}", error.code()))
}

impl Handler for LocalCognito {
    async fn handle(&self, parts: Parts, body: Body, _peer: SocketAddr) -> HttpResponse {
        let start = Instant::now();
        let (response, detail) = match body {
            Body::Complete(bytes) => self.route(&parts, &bytes),
            Body::TooLarge => (
                crate::http::json(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &json!({"error": "invalid_request"}),
                ),
                String::new(),
            ),
            Body::Broken => (
                crate::http::json(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "invalid_request"}),
                ),
                String::new(),
            ),
        };
        self.log.request(&parts, response.status(), start, &detail);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CognitoConfig {
        let client = |logical: &str, scopes: &[&str]| LocalClient {
            logical_id: logical.into(),
            client_id: local_client_id(logical),
            secret: local_client_secret(logical),
            allowed_scopes: scopes.iter().map(|s| s.to_string()).collect(),
            client_credentials: true,
            client_token_auth: logical == "ServiceClient",
            validity_seconds: 3600,
        };
        CognitoConfig {
            pool_id: "us-east-1_Local1".into(),
            clients: vec![
                client("ServiceClient", &["weather-api/get", "weather-api/post"]),
                client("ReadOnlyClient", &["weather-api/get"]),
            ],
            defined_scopes: ["weather-api/get", "weather-api/post", "weather-api/delete"]
                .map(String::from)
                .into(),
        }
    }

    fn body_request(scope: Option<&str>, secret: &str) -> TokenRequest {
        let mut form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={secret}",
            local_client_id("ServiceClient")
        );
        if let Some(s) = scope {
            form.push_str(&format!("&scope={}", s.replace(' ', "+")));
        }
        TokenRequest::parse(None, form.as_bytes()).unwrap()
    }

    fn service_secret() -> String {
        local_client_secret("ServiceClient").expose().to_owned()
    }

    #[test]
    fn no_scope_grants_every_allowed_scope() {
        let grant = config()
            .grant(&body_request(None, &service_secret()))
            .unwrap();
        assert_eq!(grant.scope, "weather-api/get weather-api/post");
        assert_eq!(grant.client_id, local_client_id("ServiceClient"));
        assert_eq!(grant.expires_in, 3600);
    }

    #[test]
    fn asked_scope_is_granted_alone() {
        let grant = config()
            .grant(&body_request(Some("weather-api/post"), &service_secret()))
            .unwrap();
        assert_eq!(grant.scope, "weather-api/post");
    }

    #[test]
    fn scope_not_allowed_is_invalid_scope() {
        for scope in [
            "weather-api/delete",
            "weather-api/get weather-api/delete",
            "other/x",
        ] {
            assert_eq!(
                config().grant(&body_request(Some(scope), &service_secret())),
                Err(OAuthError::InvalidScope),
                "{scope}"
            );
        }
    }

    #[test]
    fn wrong_secret_is_invalid_client() {
        let err = config().grant(&body_request(None, "nope")).unwrap_err();
        assert_eq!(err, OAuthError::InvalidClient { basic: false });
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn basic_authentication_works_and_wrong_basic_secret_is_401() {
        let id = local_client_id("ReadOnlyClient");
        let secret = local_client_secret("ReadOnlyClient");
        let header = format!(
            "Basic {}",
            STANDARD.encode(format!("{id}:{}", secret.expose()))
        );
        let request = TokenRequest::parse(Some(&header), b"grant_type=client_credentials").unwrap();
        assert!(request.basic);
        assert_eq!(config().grant(&request).unwrap().scope, "weather-api/get");

        let wrong = format!("Basic {}", STANDARD.encode(format!("{id}:wrong")));
        let request = TokenRequest::parse(Some(&wrong), b"grant_type=client_credentials").unwrap();
        let err = config().grant(&request).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(err.code(), "invalid_client");
    }

    #[test]
    fn other_grant_types_are_unsupported() {
        let form = format!(
            "grant_type=password&client_id={}&client_secret={}",
            local_client_id("ServiceClient"),
            service_secret()
        );
        let request = TokenRequest::parse(None, form.as_bytes()).unwrap();
        assert_eq!(
            config().grant(&request),
            Err(OAuthError::UnsupportedGrantType)
        );
    }

    #[test]
    fn repeated_parameter_is_invalid_request() {
        assert_eq!(
            TokenRequest::parse(None, b"grant_type=client_credentials&scope=a&scope=b"),
            Err(OAuthError::InvalidRequest)
        );
    }

    #[test]
    fn claims_are_exactly_cognitos() {
        let grant = config()
            .grant(&body_request(None, &service_secret()))
            .unwrap();
        let claims = access_token_claims(&grant, "http://127.0.0.1:1/us-east-1_Local1", 1000);
        let keys: BTreeSet<&str> = claims
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "sub",
                "token_use",
                "scope",
                "auth_time",
                "iss",
                "exp",
                "iat",
                "version",
                "jti",
                "client_id"
            ]
            .into()
        );
        assert_eq!(claims["exp"], 4600);
        assert_eq!(claims["token_use"], "access");
        assert_eq!(claims["sub"], claims["client_id"]);
    }

    #[test]
    fn secrets_are_redacted() {
        let secret = local_client_secret("ServiceClient");
        assert_eq!(
            format!("{secret:?} {secret}"),
            "ClientSecret([redacted]) [redacted]"
        );
        let client = &config().clients[0];
        assert!(!format!("{client:?}").contains(secret.expose()));
    }

    #[test]
    fn local_ids_have_cognitos_length() {
        assert_eq!(local_client_id("ServiceClient").len(), 26);
        assert_eq!(local_client_secret("ServiceClient").expose().len(), 51);
        assert_ne!(
            local_client_id("ServiceClient"),
            local_client_id("ReadOnlyClient")
        );
    }

    #[test]
    fn signed_token_verifies_with_the_jwk() {
        let signer = Signer::generate("local-1").unwrap();
        let token = signer.sign(&json!({"sub": "x"})).unwrap();
        let jwk = signer.jwk();
        let key = jsonwebtoken::DecodingKey::from_rsa_components(
            jwk["n"].as_str().unwrap(),
            jwk["e"].as_str().unwrap(),
        )
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap();
        assert_eq!(data.claims["sub"], "x");
        assert_eq!(data.header.kid.as_deref(), Some("local-1"));
    }

    /// A local issuer (logging to a temporary file) and a `GetClientToken` call.
    async fn get_client_token(body: &Value) -> (StatusCode, Value, Option<String>) {
        let dir = std::env::temp_dir().join(format!("gct-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = LogFile::create(&dir.join("cognito.log"), false).unwrap();
        let cognito = LocalCognito::new(
            config(),
            Signer::generate("local-1").unwrap(),
            "http://127.0.0.1:1".into(),
            false,
            log,
        );
        let (response, _) = cognito.get_client_token(body.to_string().as_bytes());
        let status = response.status();
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let _ = std::fs::remove_dir_all(&dir);
        (status, serde_json::from_slice(&bytes).unwrap(), error_type)
    }

    fn service_request(scopes: Option<&[&str]>) -> Value {
        let mut body = json!({
            "ClientId": local_client_id("ServiceClient"),
            "Secret": service_secret(),
        });
        if let Some(scopes) = scopes {
            body["Scopes"] = json!(scopes);
        }
        body
    }

    #[tokio::test]
    async fn get_client_token_issues_the_same_token_as_oauth2() {
        let (status, body, _) =
            get_client_token(&service_request(Some(&["weather-api/post"]))).await;
        assert_eq!(status, StatusCode::OK);
        let result = &body["ClientAuthenticationResult"];
        assert_eq!(result["TokenType"], "Bearer");
        assert_eq!(result["ExpiresIn"], 3600);
        let token = result["AccessToken"].as_str().unwrap();
        let claims = token_claims(token).unwrap();
        assert_eq!(claims["scope"], "weather-api/post");
        assert_eq!(claims["token_use"], "access");
        assert_eq!(claims["client_id"], local_client_id("ServiceClient"));
        // No scopes: every scope the client may ask for, as /oauth2/token does.
        let (_, body, _) = get_client_token(&service_request(None)).await;
        let token = body["ClientAuthenticationResult"]["AccessToken"]
            .as_str()
            .unwrap();
        let claims = token_claims(token).unwrap();
        assert_eq!(claims["scope"], "weather-api/get weather-api/post");
    }

    #[tokio::test]
    async fn get_client_token_errors_are_aws_json_errors() {
        let mut wrong_secret = service_request(None);
        wrong_secret["Secret"] = json!("not-the-secret");
        let read_only = json!({
            "ClientId": local_client_id("ReadOnlyClient"),
            "Secret": local_client_secret("ReadOnlyClient").expose(),
        });
        let cases = [
            (wrong_secret, "NotAuthorizedException"),
            // A client without ALLOW_CLIENT_TOKEN_AUTH, right secret or not.
            (read_only, "NotAuthorizedException"),
            (
                service_request(Some(&["weather-api/delete"])),
                "ScopeDoesNotExistException",
            ),
            (json!({"ClientId": "x"}), "InvalidParameterException"),
            (
                json!({"ClientId": "x", "Secret": "y", "Extra": 1}),
                "InvalidParameterException",
            ),
        ];
        for (request, kind) in cases {
            let (status, body, error_type) = get_client_token(&request).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{request}");
            assert_eq!(body["__type"], kind, "{request}");
            assert_eq!(error_type.as_deref(), Some(kind), "{request}");
            assert!(!body.to_string().contains(&service_secret()));
        }
    }
}
