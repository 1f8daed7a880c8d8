//! Starting, watching and stopping the local stack's processes (`cargo lambda watch`, and
//! any other server a test needs, e.g. moto's `moto_server -p PORT`).
//!
//! A [`ServiceSpec`] says how to run one server: a command for a port, a log file, the
//! port (0: picked), optionally a line it logs before it binds. [`ServiceSpec::start`]
//! starts it in a process group of its own ([`process_wrap`]) and returns the
//! [`Service`] once it serves: its process is alive and its port accepts a connection.
//! With no port given, a random free one below the kernel's ephemeral range is picked
//! ([`pick_port`]) and a server that exits before serving (it does when the port was taken
//! meanwhile) is started again on another, [`ATTEMPTS`] times in all. A port given is never
//! changed: the error names it.
//!
//! Everything a service starts carries an environment variable of its own
//! ([`MARKER_VAR`], one value per service). [`Service::stop`] ends the process group *and*
//! every process that carries the marker: `cargo lambda watch` starts each function in a
//! session of its own, out of the group, and exits without waiting for them. Processes
//! are found through [`procfs`], signalled through [`nix`]. `stop` waits asynchronously
//! (SIGTERM, then SIGKILL after [`GRACE`]); dropping a service that was not stopped sends
//! SIGKILL to the same processes and returns at once (no waiting in `Drop`).
//!
//! A new server is a few lines:
//!
//! ```no_run
//! # async fn f(log_dir: &std::path::Path) -> Result<(), local_stack::StackError> {
//! use local_stack::supervisor::ServiceSpec;
//! let moto = ServiceSpec::new("moto_server", log_dir.join("moto.log"), |port| {
//!     let mut command = tokio::process::Command::new("moto_server");
//!     command.args(["-p", &port.to_string()]);
//!     command
//! })
//! .start()
//! .await?;
//! let endpoint = moto.url(); // http://127.0.0.1:PORT
//! # let _ = endpoint; Ok(()) }
//! ```

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use process_wrap::tokio::{ChildWrapper, CommandWrap, ProcessGroup};
use tokio::process::Command;

use crate::StackError;

/// The environment variable every process of a [`Service`] inherits; its value is the
/// service's own.
pub const MARKER_VAR: &str = "LOCAL_STACK_SERVICE";

/// How many ports [`ServiceSpec::start`] tries when it picks them itself.
pub const ATTEMPTS: usize = 5;

/// How long [`Service::stop`] waits after SIGTERM before SIGKILL, unless the spec says
/// otherwise ([`ServiceSpec::grace`]).
pub const GRACE: Duration = Duration::from_secs(5);

/// How often a condition is polled while waiting for it (serving, stopped).
const POLL: Duration = Duration::from_millis(50);

type MakeCommand = Box<dyn Fn(u16) -> Command + Send + Sync>;

/// How to run one server; see the module documentation.
pub struct ServiceSpec {
    name: String,
    log: PathBuf,
    command: MakeCommand,
    port: u16,
    ready_line: Option<String>,
    timeout: Duration,
    grace: Duration,
}

impl fmt::Debug for ServiceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceSpec")
            .field("name", &self.name)
            .field("log", &self.log)
            .field("port", &self.port)
            .field("ready_line", &self.ready_line)
            .field("timeout", &self.timeout)
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

impl ServiceSpec {
    /// A server called `name` (in errors and log lines), writing stdout and stderr to
    /// `log` (created anew), run by `command(port)`. By default: a picked port, serving
    /// once the port answers, within 120 s.
    pub fn new(
        name: impl Into<String>,
        log: impl Into<PathBuf>,
        command: impl Fn(u16) -> Command + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            log: log.into(),
            command: Box::new(command),
            port: 0,
            ready_line: None,
            timeout: Duration::from_secs(120),
            grace: GRACE,
        }
    }

    /// Serve on `port` (0: pick one, the default).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Serving also needs this line in the log (written since this start): for a server
    /// that logs it before it binds, so a port answered by someone else does not count.
    pub fn ready_line(mut self, line: impl Into<String>) -> Self {
        self.ready_line = Some(line.into());
        self
    }

    /// How long the server may take to serve.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long [`Service::stop`] waits after SIGTERM before SIGKILL.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Starts the server and waits until it serves; see the module documentation.
    pub async fn start(self) -> Result<Service, StackError> {
        fs::File::create(&self.log)
            .map_err(|e| StackError::io(format!("creating {}", self.log.display()), e))?;
        let mut failures = Vec::new();
        for _ in 0..ATTEMPTS {
            let port = match self.port {
                0 => pick_port()?,
                given => {
                    std::net::TcpListener::bind(("127.0.0.1", given)).map_err(|e| {
                        self.error(format!("the port given, {given}, is not free: {e}"))
                    })?;
                    given
                }
            };
            let from = fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
            let mut service = self.spawn(port)?;
            let Some(status) = self.wait_until_serving(&mut service, from).await? else {
                return Ok(service);
            };
            failures.push(format!("port {port}: {status}"));
            service.stop().await;
            if self.port != 0 {
                break;
            }
            append_line(
                &self.log,
                &format!("local-stack: exited ({status}) before serving on port {port}"),
            );
        }
        Err(self.error(format!(
            "exited before serving ({}); a server exits when its port is taken; \
             last lines of {}:\n{}",
            failures.join(", "),
            self.log.display(),
            tail(&self.log, 10)
        )))
    }

    fn error(&self, problem: String) -> StackError {
        StackError::Service {
            service: self.name.clone(),
            problem,
        }
    }

    fn spawn(&self, port: u16) -> Result<Service, StackError> {
        let opening = |e| StackError::io(format!("opening {}", self.log.display()), e);
        let out = fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .map_err(opening)?;
        let err = out.try_clone().map_err(opening)?;
        let marker = uuid::Uuid::new_v4().simple().to_string();
        let mut command = (self.command)(port);
        command
            .env(MARKER_VAR, &marker)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        // Its own process group: Ctrl-C in a terminal reaches only us, and one signal
        // reaches the server and the children that stay in its group.
        let child = CommandWrap::from(command)
            .wrap(ProcessGroup::leader())
            .spawn()
            .map_err(|e| StackError::io(format!("starting {}", self.name), e))?;
        Ok(Service {
            name: self.name.clone(),
            port,
            log: self.log.clone(),
            marker,
            grace: self.grace,
            child: Some(child),
        })
    }

    /// `None` once the service serves, its exit status if it exits first.
    async fn wait_until_serving(
        &self,
        service: &mut Service,
        from: u64,
    ) -> Result<Option<ExitStatus>, StackError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let logged = match &self.ready_line {
                None => true,
                Some(line) => {
                    let text = tokio::fs::read(&self.log).await.unwrap_or_default();
                    String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default())
                        .contains(line.as_str())
                }
            };
            let connected = logged
                && tokio::net::TcpStream::connect(("127.0.0.1", service.port))
                    .await
                    .is_ok();
            // After the connection: a server that exited meanwhile did not serve it.
            if let Some(status) = service.exit_status() {
                return Ok(Some(status));
            }
            if connected {
                return Ok(None);
            }
            if Instant::now() > deadline {
                service.stop().await;
                return Err(self.error(format!(
                    "not serving on port {} after {} s; see {}",
                    service.port,
                    self.timeout.as_secs(),
                    self.log.display()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// A running server; see the module documentation. Dropping it without
/// [`Service::stop`] kills everything it started, without waiting.
#[derive(Debug)]
pub struct Service {
    name: String,
    port: u16,
    log: PathBuf,
    marker: String,
    grace: Duration,
    child: Option<Box<dyn ChildWrapper>>,
}

/// A live process a [`Service`] started (its own or a descendant, in any session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceProcess {
    /// Process id.
    pub pid: i32,
    /// The command name (`comm`), e.g. `weather-api`.
    pub name: String,
}

impl Service {
    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The port it serves on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Every live process it started (none once stopped): the server, its children,
    /// and what those started in sessions of their own.
    pub async fn processes(&self) -> Vec<ServiceProcess> {
        self.tracker().live().await
    }

    /// A handle that finds this service's processes, usable while someone else holds
    /// the service (and after it stopped).
    pub fn tracker(&self) -> ProcessTracker {
        ProcessTracker {
            marker: self.marker.clone(),
        }
    }

    /// The server's exit status, if it has exited.
    fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Stops the server and every process it started: SIGTERM to its process group and
    /// to each marked process, SIGKILL to whatever is left after the grace period
    /// ([`GRACE`] unless [`ServiceSpec::grace`] said otherwise); returns once
    /// none is left. Idempotent.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let mut left = self.processes().await;
        if child.try_wait().ok().flatten().is_none() {
            // ESRCH (already gone) is fine.
            let _ = child.signal(Signal::SIGTERM as i32);
        }
        signal_all(&left, Signal::SIGTERM);
        let deadline = Instant::now() + self.grace;
        let mut killed = false;
        loop {
            // Reaps the leader (and group members) once they exit: a zombie is not left.
            let _ = child.try_wait();
            left = self.processes().await;
            if left.is_empty() {
                break;
            }
            if !killed && Instant::now() > deadline {
                let _ = child.signal(Signal::SIGKILL as i32);
                signal_all(&left, Signal::SIGKILL);
                killed = true;
            } else if killed && Instant::now() > deadline + GRACE {
                // SIGKILL cannot be ignored; bounded all the same.
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        let _ = child.wait().await;
    }
}

/// Finds the live processes of one [`Service`]; see [`Service::tracker`].
#[derive(Debug, Clone)]
pub struct ProcessTracker {
    marker: String,
}

impl ProcessTracker {
    /// Every live process the service started (off the async runtime: it reads /proc).
    pub async fn live(&self) -> Vec<ServiceProcess> {
        let marker = self.marker.clone();
        tokio::task::spawn_blocking(move || marked(&marker))
            .await
            .unwrap_or_default()
    }
}

impl Drop for Service {
    /// SIGKILL to the group and every marked process; no waiting (the leader is reaped
    /// by Tokio's orphan reaper, the others by their new parent).
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.signal(Signal::SIGKILL as i32);
            signal_all(&marked(&self.marker), Signal::SIGKILL);
            let _ = child.start_kill();
        }
    }
}

fn signal_all(processes: &[ServiceProcess], signal: Signal) {
    for p in processes {
        // ESRCH: it has exited meanwhile.
        let _ = kill(Pid::from_raw(p.pid), signal);
    }
}

/// Every live process (not a zombie) whose environment holds `MARKER_VAR=marker`.
fn marked(marker: &str) -> Vec<ServiceProcess> {
    let Ok(all) = procfs::process::all_processes() else {
        return Vec::new();
    };
    all.filter_map(Result::ok)
        .filter_map(|p| {
            let stat = p.stat().ok()?;
            if stat.state == 'Z' || stat.state == 'X' {
                return None;
            }
            let env = p.environ().ok()?;
            (env.get(OsStr::new(MARKER_VAR))? == OsStr::new(marker)).then_some(ServiceProcess {
                pid: p.pid,
                name: stat.comm,
            })
        })
        .collect()
}

/// A free port for a server that no other socket on the machine can be handed before
/// the server binds it: a random one from 10000 (1024 if that leaves too few) up to the
/// kernel's ephemeral range (`ip_local_port_range`; 32768 where it cannot be read), which
/// `bind(0)` and `connect()` never hand out. A free ephemeral port if that range is too
/// small or no port tried in it is free.
pub fn pick_port() -> Result<u16, StackError> {
    let ephemeral = ephemeral_start().unwrap_or(32768);
    let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port));
    let first = if ephemeral > 11_000 { 10_000 } else { 1024 };
    if ephemeral > first + 100 {
        let span = u128::from(ephemeral - first);
        for _ in 0..20 {
            let port = first + (uuid::Uuid::new_v4().as_u128() % span) as u16;
            if free(port).is_ok() {
                return Ok(port);
            }
        }
    }
    free(0)
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| StackError::io("binding 127.0.0.1:0", e))
}

/// The first port of the kernel's ephemeral range (`net.ipv4.ip_local_port_range`).
fn ephemeral_start() -> Option<u16> {
    fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Appends one line to a log file, if it can.
fn append_line(log: &Path, line: &str) {
    use std::io::Write as _;
    if let Ok(mut file) = fs::OpenOptions::new().append(true).open(log) {
        let _ = writeln!(file, "{line}");
    }
}

/// The last `n` lines of a log file.
fn tail(log: &Path, n: usize) -> String {
    let text = fs::read(log).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("supervisor-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A server on `port` (python3's http.server) that also starts, like cargo-lambda
    /// does for each function, a process in a session of its own that ignores SIGTERM
    /// to its parent's group, and a second one that ignores SIGTERM altogether.
    fn server_with_escapees(port: u16) -> Command {
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!(
            "setsid sleep 600 & \
             setsid sh -c 'trap \"\" TERM; while :; do sleep 1; done' & \
             echo started; exec python3 -m http.server --bind 127.0.0.1 {port}"
        ));
        command
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stop_ends_the_group_and_what_left_it_for_a_session_of_its_own() {
        let dir = log_dir();
        // One escapee ignores SIGTERM: a short grace keeps the test quick.
        let mut service = ServiceSpec::new("escapees", dir.join("s.log"), server_with_escapees)
            .ready_line("started")
            .grace(Duration::from_millis(500))
            .start()
            .await
            .unwrap();
        assert!(
            tokio::net::TcpStream::connect(("127.0.0.1", service.port()))
                .await
                .is_ok()
        );
        // Wait for both session leaders to exist (they start beside the server).
        let deadline = Instant::now() + Duration::from_secs(30);
        let before = loop {
            let procs = service.processes().await;
            if procs
                .iter()
                .filter(|p| p.name == "sleep" || p.name == "sh")
                .count()
                >= 2
            {
                break procs;
            }
            assert!(Instant::now() < deadline, "escapees not started: {procs:?}");
            tokio::time::sleep(POLL).await;
        };
        let sessions: Vec<i32> = before
            .iter()
            .filter_map(|p| procfs::process::Process::new(p.pid).ok()?.stat().ok())
            .map(|s| s.session)
            .collect();
        let mut distinct = sessions.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() >= 3, "separate sessions: {sessions:?}");

        service.stop().await;
        assert_eq!(service.processes().await, vec![], "nothing left after stop");
        for p in &before {
            assert!(
                procfs::process::Process::new(p.pid)
                    .and_then(|p| p.stat())
                    .map_or(true, |s| s.state == 'Z'),
                "{p:?} still runs"
            );
        }
        service.stop().await; // idempotent
        let _ = fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn drop_kills_without_waiting() {
        let dir = log_dir();
        let service = ServiceSpec::new("escapees", dir.join("s.log"), server_with_escapees)
            .ready_line("started")
            .start()
            .await
            .unwrap();
        let marker = service.marker.clone();
        drop(service);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !marked(&marker).is_empty() {
            assert!(Instant::now() < deadline, "{:?}", marked(&marker));
            tokio::time::sleep(POLL).await;
        }
        let _ = fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_server_that_exits_before_serving_is_retried_on_another_port() {
        let dir = log_dir();
        let tries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = tries.clone();
        let service = ServiceSpec::new("flaky", dir.join("s.log"), move |port| {
            // The first start exits at once, as a server whose port was taken.
            let n = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut command = Command::new("sh");
            let script = if n == 0 {
                "exit 3".to_owned()
            } else {
                format!("exec python3 -m http.server --bind 127.0.0.1 {port}")
            };
            command.arg("-c").arg(script);
            command
        })
        .start()
        .await
        .unwrap();
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 2);
        let log = fs::read_to_string(service.log()).unwrap();
        assert!(
            log.contains("exited (exit status: 3) before serving"),
            "{log}"
        );
        drop(service);
        let _ = fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_port_given_is_never_changed() {
        let dir = log_dir();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let err = ServiceSpec::new("fixed", dir.join("s.log"), |_| Command::new("true"))
            .port(port)
            .start()
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("the port given, {port}, is not free")),
            "{err}"
        );
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn picked_ports_are_below_the_ephemeral_range() {
        let low = ephemeral_start().unwrap();
        for _ in 0..20 {
            assert!(pick_port().unwrap() < low);
        }
    }
}
