//! `cargo lambda watch` for the local stack and the fixture runner: the binaries built
//! first (so the watcher never compiles on an invoke), the watcher a
//! [`supervisor`](crate::supervisor) [`ServiceSpec`], and `cargo lambda invoke`.

use std::fs;
use std::path::Path;
use std::process::Stdio;

use serde_json::Value;
use tokio::process::Command;

use crate::StackError;
use crate::supervisor::ServiceSpec;

/// `cargo`: the one running this build, if any.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Fails naming `scripts/setup-tools` when `cargo lambda` is not on PATH.
pub async fn check_cargo_lambda(workspace: &Path) -> Result<(), StackError> {
    let output = cargo()
        .args(["lambda", "--version"])
        .current_dir(workspace)
        .output()
        .await;
    match output {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err(StackError::Tool {
            tool: "cargo lambda",
            problem: "not found: run scripts/setup-tools and put .venv/bin on PATH \
                      (scripts/test and scripts/local-stack do both)"
                .into(),
        }),
    }
}

/// Builds the functions exactly as the watcher's `cargo run --bin NAME` will want
/// them (same package selection, so the same features): its runs are then no-ops.
pub async fn build(workspace: &Path, binaries: &[String], log: &Path) -> Result<(), StackError> {
    let file = fs::File::create(log)
        .map_err(|e| StackError::io(format!("creating {}", log.display()), e))?;
    let err = file
        .try_clone()
        .map_err(|e| StackError::io(format!("opening {}", log.display()), e))?;
    let mut command = cargo();
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"));
    for b in binaries {
        command.args(["--bin", b]);
    }
    let status = command
        .current_dir(workspace)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .status()
        .await
        .map_err(|e| StackError::io("running cargo build", e))?;
    if status.success() {
        Ok(())
    } else {
        Err(StackError::Tool {
            tool: "cargo build",
            problem: format!("{status}; see {}", log.display()),
        })
    }
}

/// `cargo lambda watch` serving every workspace binary on `port` (0: picked), with the
/// functions' environment from `env_file`, if any. It logs "starting Runtime server" before it binds and
/// exits silently if the bind fails: serving is that line, then the port answering.
pub fn watcher_spec(
    workspace: &Path,
    port: u16,
    env_file: Option<&Path>,
    log: &Path,
) -> ServiceSpec {
    let (workspace, env_file) = (workspace.to_owned(), env_file.map(Path::to_owned));
    ServiceSpec::new("cargo lambda watch", log, move |port| {
        let mut command = cargo();
        command
            .args(["lambda", "watch", "-A", "127.0.0.1", "-P"])
            .arg(port.to_string())
            .args(["--ignore-changes", "--color", "never"])
            .current_dir(&workspace);
        if let Some(file) = &env_file {
            command.arg("--env-file").arg(file);
        }
        command
    })
    .port(port)
    .ready_line("starting Runtime server")
}

/// What `cargo lambda invoke` answered.
#[derive(Debug, Clone, PartialEq)]
pub enum InvokeAnswer {
    /// The function's answer (`--output-format json`), parsed.
    Ok(Value),
    /// The invocation failed with this message (`Error: MESSAGE`, the function's error).
    Error(String),
    /// The tool failed otherwise; its output.
    Failed(String),
}

/// `cargo lambda invoke FUNCTION --data-file EVENT` against the watcher on `port`.
pub async fn invoke(
    workspace: &Path,
    port: u16,
    function: &str,
    event: &Path,
) -> Result<InvokeAnswer, StackError> {
    let output = cargo()
        .args(["lambda", "invoke", function, "-A", "127.0.0.1", "-P"])
        .arg(port.to_string())
        .args(["--output-format", "json", "--data-file"])
        .arg(event)
        .current_dir(workspace)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| StackError::io("running cargo lambda invoke", e))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if output.status.success()
        && let Ok(answer) = serde_json::from_str(&stdout)
    {
        return Ok(InvokeAnswer::Ok(answer));
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success()
        && let Some(message) = stderr.lines().find_map(|l| l.strip_prefix("Error: "))
    {
        return Ok(InvokeAnswer::Error(message.trim().to_owned()));
    }
    Ok(InvokeAnswer::Failed(format!("{stdout}{stderr}")))
}
