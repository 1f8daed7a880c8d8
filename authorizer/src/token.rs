//! Parse and verify a Cognito JWT: a pure function of (token, key, rules, now).
//!
//! The rules follow AWS's aws-jwt-verify: compact JWS with exactly three
//! base64url segments, JSON object header and payload with typed claims,
//! RS256 only, `kid` required, then signature, `exp`/`nbf` with skew, `iss`,
//! `token_use` and the app client.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::{Deserialize, Deserializer};

use crate::error::AuthError;

/// Tokens longer than this are rejected before any decoding.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Takes the token out of an `Authorization` value: raw, or `Bearer <token>`
/// with the scheme in any case. Rejects empty and oversize values first.
pub fn extract_token(value: Option<&str>) -> Result<&str, AuthError> {
    let value = value.unwrap_or("");
    if value.len() > MAX_TOKEN_BYTES + "Bearer ".len() {
        return Err(AuthError::TokenTooLarge {
            limit: MAX_TOKEN_BYTES,
        });
    }
    let value = value.trim_matches(' ');
    if value.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MissingToken);
    }
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
            rest.trim_start_matches(' ')
        }
        _ => value,
    };
    if token.is_empty() {
        return Err(AuthError::MissingToken);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::TokenTooLarge {
            limit: MAX_TOKEN_BYTES,
        });
    }
    Ok(token)
}

/// What a token says it is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenUse {
    /// An access token (`token_use: access`): carries `scope` and `client_id`.
    Access,
    /// An ID token (`token_use: id`): carries `aud`.
    Id,
}

impl TokenUse {
    /// `access` or `id`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Id => "id",
        }
    }
}

#[derive(Deserialize)]
struct Header {
    #[serde(deserialize_with = "strict")]
    alg: String,
    #[serde(default, deserialize_with = "strict_opt")]
    kid: Option<String>,
    /// Present at all, even `null`: rejected (no extension is understood).
    #[serde(default, deserialize_with = "strict_opt")]
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(deserialize_with = "strict")]
    exp: f64,
    #[serde(default, deserialize_with = "strict_opt")]
    nbf: Option<f64>,
    // Read only to check their types.
    #[serde(default, rename = "iat", deserialize_with = "strict_opt")]
    _iat: Option<f64>,
    #[serde(default, rename = "auth_time", deserialize_with = "strict_opt")]
    _auth_time: Option<f64>,
    #[serde(default, deserialize_with = "strict_opt")]
    iss: Option<String>,
    #[serde(default, deserialize_with = "strict_opt")]
    sub: Option<String>,
    #[serde(default, deserialize_with = "strict_opt")]
    scope: Option<String>,
    #[serde(default, rename = "jti", deserialize_with = "strict_opt")]
    _jti: Option<String>,
    #[serde(default, deserialize_with = "strict_opt")]
    client_id: Option<String>,
    #[serde(default, deserialize_with = "strict_opt")]
    token_use: Option<String>,
    #[serde(default, deserialize_with = "strict_opt")]
    username: Option<String>,
    #[serde(default, rename = "cognito:username", deserialize_with = "strict_opt")]
    cognito_username: Option<String>,
    #[serde(default, rename = "cognito:groups", deserialize_with = "strict_opt")]
    groups: Option<Vec<String>>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
}

/// A present claim must have its type; `null` is a wrong type too.
fn strict<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    T::deserialize(d)
}

fn strict_opt<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A token split and decoded, not yet verified. Only `kid` and `iss` may be
/// used before [`UnverifiedToken::verify`], to pick the pool and the key.
pub struct UnverifiedToken<'a> {
    signing_input: &'a str,
    signature: &'a str,
    kid: String,
    payload: Payload,
}

impl<'a> UnverifiedToken<'a> {
    /// Splits and decodes the token; checks the header and claim types.
    pub fn parse(token: &'a str) -> Result<Self, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TokenTooLarge {
                limit: MAX_TOKEN_BYTES,
            });
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed(
                "expected three dot-separated segments",
            ));
        };
        if header.is_empty() || payload.is_empty() || signature.is_empty() {
            return Err(AuthError::Malformed("empty segment"));
        }
        let header: Header = decode_json(header, "header")?;
        if header.alg != "RS256" {
            return Err(AuthError::AlgorithmNotAllowed);
        }
        if header.crit.is_some() {
            return Err(AuthError::Malformed("crit header parameters not supported"));
        }
        let kid = header.kid.ok_or(AuthError::MissingKid)?;
        let payload: Payload = decode_json(payload, "payload")?;
        if !payload.exp.is_finite() || payload.nbf.is_some_and(|n| !n.is_finite()) {
            return Err(AuthError::Malformed("exp or nbf not a finite number"));
        }
        let signing_input = &token[..token.len() - signature.len() - 1];
        Ok(Self {
            signing_input,
            signature,
            kid,
            payload,
        })
    }

    /// The header's key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The (unverified) issuer, to pick the pool.
    pub fn issuer(&self) -> Option<&str> {
        self.payload.iss.as_deref()
    }

    /// Verifies the signature with `key`, then the claims against `rules` at `now`
    /// (Unix seconds with sub-second precision).
    pub fn verify(
        self,
        key: &DecodingKey,
        rules: &Rules<'_>,
        now: f64,
    ) -> Result<Claims, AuthError> {
        // Err: the signature segment is not base64url; Ok(false): it does not verify.
        match jsonwebtoken::crypto::verify(
            self.signature,
            self.signing_input.as_bytes(),
            key,
            Algorithm::RS256,
        ) {
            Ok(true) => {}
            Ok(false) => return Err(AuthError::InvalidSignature),
            Err(_) => return Err(AuthError::Malformed("signature is not base64url")),
        }
        let p = self.payload;
        // RFC 7519 4.1.4: the token must be used *before* exp.
        if now >= p.exp + rules.skew {
            return Err(AuthError::Expired);
        }
        if p.nbf.is_some_and(|nbf| now < nbf - rules.skew) {
            return Err(AuthError::NotYetValid);
        }
        if !p
            .iss
            .as_deref()
            .is_some_and(|iss| rules.issuers.contains(&iss))
        {
            return Err(AuthError::IssuerNotAllowed);
        }
        let token_use = match p.token_use.as_deref() {
            Some("access") => TokenUse::Access,
            Some("id") => TokenUse::Id,
            _ => return Err(AuthError::TokenUseNotAccepted),
        };
        let client = match token_use {
            TokenUse::Access => p.client_id.clone(),
            TokenUse::Id => match p.aud {
                Some(serde_json::Value::String(aud)) => Some(aud),
                Some(_) => return Err(AuthError::Malformed("aud must be a string")),
                None => None,
            },
        };
        let Some(client) = client else {
            return Err(AuthError::ClientNotAllowed);
        };
        if let Some(allowed) = rules.client_ids
            && !allowed.contains(&client)
        {
            return Err(AuthError::ClientNotAllowed);
        }
        Ok(Claims {
            sub: p.sub,
            client,
            scope: p.scope,
            token_use,
            username: p.username.or(p.cognito_username),
            groups: p.groups.map(|g| g.join(",")),
            exp: p.exp,
            kid: self.kid,
        })
    }
}

fn decode_json<T: for<'de> Deserialize<'de>>(
    segment: &str,
    what: &'static str,
) -> Result<T, AuthError> {
    let (not_base64, not_object) = match what {
        "header" => (
            "header is not base64url",
            "header is not a JSON object with typed fields",
        ),
        _ => (
            "payload is not base64url",
            "payload is not a JSON object with typed claims",
        ),
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthError::Malformed(not_base64))?;
    // serde would also build a struct from a JSON array: only objects are JWT segments.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(AuthError::Malformed(not_object));
    }
    serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed(not_object))
}

/// What the pool accepts; built once from configuration.
#[derive(Debug, Clone)]
pub struct Rules<'a> {
    /// Accepted `iss` values for the pool.
    pub issuers: &'a [&'a str],
    /// `APP_CLIENT_IDS`, or `None` when unset (any client of the pool).
    pub client_ids: Option<&'a [String]>,
    /// Clock skew in seconds.
    pub skew: f64,
}

/// The claims of a verified token that decisions and the context need.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// `sub`.
    pub sub: Option<String>,
    /// `client_id` of an access token, `aud` of an ID token.
    pub client: String,
    /// `scope`, space-separated.
    pub scope: Option<String>,
    /// `token_use`.
    pub token_use: TokenUse,
    /// `username` (access) or `cognito:username` (ID token).
    pub username: Option<String>,
    /// `cognito:groups`, comma-joined.
    pub groups: Option<String>,
    /// `exp`, seconds.
    pub exp: f64,
    /// The header's `kid`.
    pub kid: String,
}
