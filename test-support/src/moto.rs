//! moto's server (DynamoDB, SQS, Secrets Manager…) behind `tools/moto-serial.py` (one
//! request at a time), started on 127.0.0.1 on a free port and stopped on drop.
//!
//! moto comes from the project's venv (`scripts/setup-tools`, pinned in
//! tools/requirements.txt). Without it the tests fail, saying so: CI installs it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};

/// A running moto server; killed (and waited for) on drop. Its standard input is held
/// open, and the server exits when it closes, so it also goes if the test process dies.
pub struct Moto {
    child: Child,
    _stdin: ChildStdin,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python that has moto: the workspace's venv, else `python3` on PATH.
fn python() -> PathBuf {
    let venv = workspace_root().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

impl Moto {
    /// Starts a server and waits for its ready line.
    pub fn start() -> Self {
        let python = python();
        let has_moto = Command::new(&python)
            .args(["-c", "import moto.server, werkzeug"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        assert!(
            has_moto,
            "moto[server] is not installed for {}: run scripts/setup-tools (it installs \
             tools/requirements.txt into .venv)",
            python.display()
        );
        let mut child = Command::new(&python)
            .arg(workspace_root().join("tools/moto-serial.py"))
            .args(["--port", "0", "--exit-on-stdin-eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", python.display()));
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let endpoint = line
            .trim()
            .strip_prefix("moto-serial: listening on ")
            .unwrap_or_else(|| panic!("moto-serial did not start: {line:?}"))
            .to_owned();
        Self {
            child,
            _stdin: stdin,
            endpoint,
        }
    }

    /// `host:port`, for a proxy in front of it.
    pub fn host_port(&self) -> &str {
        self.endpoint.trim_start_matches("http://")
    }

    /// Stops the server now (as a table that goes away).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
