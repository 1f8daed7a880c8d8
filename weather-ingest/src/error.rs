//! The crate's one error type: what stops init, and what fails a whole invocation.
//!
//! A message that fails is not an error here: it is an [`crate::Outcome`], reported
//! per message. [`IngestError`] is for the few things that stop the function itself.

/// Everything that stops the function at init or fails an invocation as a whole.
///
/// The `Display` text names the setting at fault and never holds the client secret
/// (the SDK's errors and fixed texts only).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A setting is missing or invalid.
    #[error("setting {setting}: {reason}")]
    Config {
        /// The setting (environment variable name).
        setting: String,
        /// What is wrong with it (never a secret's value).
        reason: String,
    },
    /// The secret named by `CLIENT_SECRET_ARN` could not be read from Secrets Manager.
    #[error("setting CLIENT_SECRET_ARN: cannot read the secret: {reason}")]
    SecretRead {
        /// The SDK's error, with its context (no secret value: none was read).
        reason: String,
    },
    /// The secret was read but is not `{"client_id": ..., "client_secret": ...}`.
    #[error("setting CLIENT_SECRET_ARN: {0}")]
    SecretFormat(#[source] crate::secrets::SecretFormatError),
    /// The token cache refused its configuration.
    #[error("token cache: {0}")]
    TokenCache(#[source] token_cache::TokenCacheError),
    /// The HTTP client for the weather API could not be built.
    #[error("cannot build the HTTP client for WEATHER_API_URL")]
    HttpClient(#[source] reqwest::Error),
    /// A record of the batch has no `messageId`, so it could not be reported on its
    /// own: the invocation fails and SQS delivers the whole batch again.
    #[error("record {index} of the batch has no messageId")]
    NoMessageId {
        /// Position of the record in the batch.
        index: usize,
    },
}

impl IngestError {
    pub(crate) fn config(setting: &str, reason: impl Into<String>) -> Self {
        Self::Config {
            setting: setting.to_owned(),
            reason: reason.into(),
        }
    }
}

impl From<token_cache::TokenCacheError> for IngestError {
    /// The token cache's configuration errors keep naming their setting.
    fn from(err: token_cache::TokenCacheError) -> Self {
        match err {
            token_cache::TokenCacheError::Config { setting, reason } => {
                Self::Config { setting, reason }
            }
            other => Self::TokenCache(other),
        }
    }
}

/// The one place an error becomes Lambda's answer to a failed invocation.
impl From<IngestError> for lambda_runtime::Diagnostic {
    fn from(err: IngestError) -> Self {
        let error_type = match &err {
            IngestError::Config { .. } => "Config",
            IngestError::SecretRead { .. } | IngestError::SecretFormat(_) => "Secret",
            IngestError::TokenCache(_) => "TokenCache",
            IngestError::HttpClient(_) => "HttpClient",
            IngestError::NoMessageId { .. } => "NoMessageId",
        };
        Self {
            error_type: error_type.to_owned(),
            error_message: err.to_string(),
        }
    }
}
