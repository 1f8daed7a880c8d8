//! The local stack's one error type.

use std::path::PathBuf;

use crate::template::TemplateError;

/// Everything that can stop the local stack from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// `template.yaml` could not be read or modelled.
    #[error("template.yaml: {0}")]
    Template(#[from] TemplateError),
    /// The template describes something the local stack cannot mirror.
    #[error("template.yaml: {0}")]
    Unsupported(String),
    /// A setting of the local stack (an environment variable or option) is invalid.
    #[error("invalid setting {setting}: {problem}")]
    Setting {
        /// The setting, e.g. `LOCAL_API_PORT`.
        setting: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A file or socket operation failed.
    #[error("{what}")]
    Io {
        /// What was being done, e.g. `binding 127.0.0.1:0`.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A tool the stack runs (`cargo`, `cargo lambda`) is missing or failed.
    #[error("{tool}: {problem}")]
    Tool {
        /// The command, e.g. `cargo lambda watch`.
        tool: &'static str,
        /// What went wrong, with the log file to read.
        problem: String,
    },
    /// A server the stack supervises (`cargo lambda watch`, ...) did not start or serve.
    #[error("{service}: {problem}")]
    Service {
        /// The server, e.g. `cargo lambda watch`.
        service: String,
        /// What went wrong, with the log file to read.
        problem: String,
    },
    /// The signing key could not be generated or used.
    #[error("signing key: {0}")]
    Crypto(String),
    /// A Lambda function could not be invoked through `cargo lambda watch`.
    #[error("invoking {function}: {problem}")]
    Invoke {
        /// The function (binary) name.
        function: String,
        /// What went wrong.
        problem: String,
    },
    /// A log directory entry could not be read.
    #[error("reading logs in {0}")]
    Logs(PathBuf),
}

impl StackError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        StackError::Io {
            what: what.into(),
            source,
        }
    }
}
