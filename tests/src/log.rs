//! One log file per component of the stack, one line per request. Lines name methods,
//! paths, statuses, client ids and latencies: never a header, a token or a secret.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use hyper::StatusCode;
use hyper::http::request::Parts;

use crate::StackError;

/// An append-only log file shared by a server's tasks.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: Mutex<File>,
    echo: bool,
}

impl LogFile {
    /// Creates (or appends to) `path`; with `echo` each line is also written to stderr.
    pub fn create(path: &Path, echo: bool) -> Result<Self, StackError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| StackError::io(format!("opening {}", path.display()), e))?;
        Ok(Self {
            path: path.to_owned(),
            file: Mutex::new(file),
            echo,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends the line of one answered request: method, path (never the query string
    /// or a header: they could carry anything), status, latency since `start`, `detail`.
    pub fn request(&self, parts: &Parts, status: StatusCode, start: Instant, detail: &str) {
        self.line(&format!(
            "{} {} {} {:.1}ms {detail}",
            parts.method,
            parts.uri.path(),
            status.as_u16(),
            start.elapsed().as_secs_f64() * 1000.0,
        ));
    }

    /// Appends one line, prefixed with the UTC time. Write errors are ignored: a full
    /// disk must not fail a request.
    pub fn line(&self, text: &str) {
        let now = time::OffsetDateTime::now_utc();
        let stamp = now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let line = format!("{stamp} {text}\n");
        if let Ok(mut file) = self.file.lock() {
            let _ = file.write_all(line.as_bytes());
        }
        if self.echo {
            eprint!("{line}");
        }
    }
}
