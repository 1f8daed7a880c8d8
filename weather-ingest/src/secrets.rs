//! The client's credentials from a Secrets Manager secret (`CLIENT_SECRET_ARN`):
//! `{"client_id": ..., "client_secret": ...}`, read once at init, and read again by
//! token-cache (a [`SecretProvider`]) when the token endpoint answers
//! `invalid_client` because the secret was rotated.

use std::fmt;

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use serde::Deserialize;
use token_cache::{ClientSecret, SecretFuture, SecretProvider, TokenCacheError};

use crate::config::env;
use crate::error::IngestError;

/// Why a secret's value is not the credentials. Fixed texts: the value is never quoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretFormatError {
    /// The secret has no `SecretString` (a binary secret).
    #[error("the secret has no SecretString")]
    NotAString,
    /// Not a JSON object with string fields `client_id` and `client_secret`.
    #[error("the secret is not JSON {{\"client_id\": \"...\", \"client_secret\": \"...\"}}")]
    NotTheShape,
    /// `client_id` or `client_secret` is empty.
    #[error("the secret's {0} is empty")]
    Empty(&'static str),
    /// The secret's `client_id` is not the `CLIENT_ID` setting.
    #[error("the secret's client_id is not the CLIENT_ID setting")]
    OtherClient,
}

/// An app client's id and secret. `Debug` shows the id only.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// The app client id.
    pub client_id: String,
    /// The app client secret (prints `[redacted]`).
    pub client_secret: ClientSecret,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .finish()
    }
}

#[derive(Deserialize)]
struct Wire {
    client_id: String,
    client_secret: String,
}

impl ClientCredentials {
    /// Parses a `SecretString`. Other fields are allowed (a rotation function may keep
    /// its own bookkeeping there).
    pub fn parse(secret_string: &str) -> Result<Self, SecretFormatError> {
        let wire: Wire =
            serde_json::from_str(secret_string).map_err(|_| SecretFormatError::NotTheShape)?;
        if wire.client_id.trim().is_empty() {
            return Err(SecretFormatError::Empty("client_id"));
        }
        if wire.client_secret.is_empty() {
            return Err(SecretFormatError::Empty("client_secret"));
        }
        Ok(Self {
            client_id: wire.client_id.trim().to_owned(),
            client_secret: ClientSecret::new(wire.client_secret),
        })
    }
}

/// The secret at `arn`, read with one SDK client built at init.
#[derive(Debug, Clone)]
pub struct SecretsManagerCredentials {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
    /// The client id the cache was built with (`CLIENT_ID`, or the first read's).
    client_id: Option<String>,
}

impl SecretsManagerCredentials {
    /// Reads `arn` with `client`; `client_id`, if given, is what every read must hold.
    pub fn new(
        client: aws_sdk_secretsmanager::Client,
        arn: impl Into<String>,
        client_id: Option<String>,
    ) -> Self {
        Self {
            client,
            arn: arn.into(),
            client_id,
        }
    }

    /// One `GetSecretValue` (the current version), parsed.
    pub async fn read(&self) -> Result<ClientCredentials, IngestError> {
        let answer = self
            .client
            .get_secret_value()
            .secret_id(&self.arn)
            .send()
            .await
            .map_err(|e| IngestError::SecretRead {
                reason: DisplayErrorContext(&e).to_string(),
            })?;
        let text = answer
            .secret_string()
            .ok_or(IngestError::SecretFormat(SecretFormatError::NotAString))?;
        let credentials = ClientCredentials::parse(text).map_err(IngestError::SecretFormat)?;
        if self
            .client_id
            .as_ref()
            .is_some_and(|id| *id != credentials.client_id)
        {
            return Err(IngestError::SecretFormat(SecretFormatError::OtherClient));
        }
        Ok(credentials)
    }

    /// The same secret, bound from now on to `client_id` (the id the cache uses: a
    /// rotation may change the secret, not the client).
    pub fn bound_to(mut self, client_id: &str) -> Self {
        self.client_id = Some(client_id.to_owned());
        self
    }
}

impl SecretProvider for SecretsManagerCredentials {
    fn client_secret(&self) -> SecretFuture<'_> {
        Box::pin(async move {
            match self.read().await {
                Ok(credentials) => {
                    tracing::info!(
                        secret_arn = %self.arn,
                        "client secret re-read from Secrets Manager after invalid_client"
                    );
                    Ok(credentials.client_secret)
                }
                Err(err) => {
                    tracing::warn!(secret_arn = %self.arn, error = %err, "cannot re-read the client secret");
                    Err(TokenCacheError::Config {
                        setting: env::CLIENT_SECRET_ARN.to_owned(),
                        reason: err.to_string(),
                    })
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_shape_is_parsed() {
        let c = ClientCredentials::parse(
            r#"{"client_id": "abc", "client_secret": "s3cr3t", "rotated": "2026-12-01"}"#,
        )
        .unwrap();
        assert_eq!(c.client_id, "abc");
        assert_eq!(c.client_secret.expose(), "s3cr3t");
    }

    #[test]
    fn wrong_shapes_are_named_without_the_value() {
        for (text, expected) in [
            ("s3cr3t", SecretFormatError::NotTheShape),
            (r#"{"client_id": "abc"}"#, SecretFormatError::NotTheShape),
            (
                r#"{"client_id": "abc", "client_secret": 5}"#,
                SecretFormatError::NotTheShape,
            ),
            (
                r#"{"client_id": "", "client_secret": "s3cr3t"}"#,
                SecretFormatError::Empty("client_id"),
            ),
            (
                r#"{"client_id": "abc", "client_secret": ""}"#,
                SecretFormatError::Empty("client_secret"),
            ),
        ] {
            let err = ClientCredentials::parse(text).unwrap_err();
            assert_eq!(err, expected, "{text}");
            assert!(!err.to_string().contains("s3cr3t"));
        }
    }

    #[test]
    fn debug_redacts_the_secret() {
        let c =
            ClientCredentials::parse(r#"{"client_id": "abc", "client_secret": "s3cr3t"}"#).unwrap();
        let shown = format!("{c:?}");
        assert!(
            shown.contains("abc") && shown.contains("[redacted]"),
            "{shown}"
        );
        assert!(!shown.contains("s3cr3t"));
    }
}
