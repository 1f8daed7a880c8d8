//! The whole local stack: the local Cognito, `cargo lambda watch` serving the real
//! functions, and the local API Gateway in front of them, on 127.0.0.1.
//!
//! [`Stack::start`] reads `template.yaml`, builds the functions' binaries (so the watcher
//! finds them fresh and never compiles on an invoke), starts the token issuer, starts
//! `cargo lambda watch` in its own process group with the functions' environment from
//! the template, waits until it serves, invokes each function once (one at a time), and
//! starts the gateway. Dropping the [`Stack`] stops the servers, the watcher's process
//! group and every process the watcher started (the functions, each in a session of its
//! own).
//!
//! The watcher serves once its process is alive and its port accepts a connection (it
//! logs "starting Runtime server" before it binds, and exits silently if the bind fails).
//! With no port given it gets a random free one below the kernel's ephemeral range, which
//! no `bind(0)` elsewhere can take meanwhile, and is started again on another port if it
//! exits before serving; a port given explicitly is never changed.
//!
//! Every log line goes to files in [`StackOptions::log_dir`]: `cognito.log`,
//! `gateway.log`, `watch.log` (the watcher and both functions), `build.log`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::StackError;
use crate::cognito::{CognitoConfig, LocalCognito, Signer};
use crate::gateway::{GatewayConfig, Invocation, LambdaClient, LocalGateway, MAX_BODY};
use crate::http;
use crate::log::LogFile;
use crate::template::{Expr, StackModel, Template};

/// How to run the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackOptions {
    /// The cargo workspace (holds `template.yaml` and `Cargo.toml`).
    pub workspace: PathBuf,
    /// Where every log file goes.
    pub log_dir: PathBuf,
    /// Local API Gateway port (0: any free port).
    pub api_port: u16,
    /// Local Cognito port (0: any free port).
    pub cognito_port: u16,
    /// `cargo lambda watch` port (0: any free port).
    pub lambda_port: u16,
    /// The local user pool id; its region is the region of the ARNs.
    pub pool_id: String,
    /// Overrides the access tokens' lifetime (seconds); else the template's.
    pub expires_in: Option<u64>,
    /// Keep every issued token in memory (for tests that scan the logs for them).
    pub record_tokens: bool,
    /// Also print the request log lines on stderr.
    pub echo_logs: bool,
}

/// Default ports of `scripts/local-stack`.
pub mod defaults {
    /// `LOCAL_API_PORT`.
    pub const API_PORT: u16 = 3000;
    /// `LOCAL_COGNITO_PORT`.
    pub const COGNITO_PORT: u16 = 3001;
    /// `LOCAL_LAMBDA_PORT`.
    pub const LAMBDA_PORT: u16 = 3002;
    /// The local user pool id.
    pub const POOL_ID: &str = "us-east-1_Local1";
}

impl StackOptions {
    /// Free ports, a fresh log directory, tokens recorded: for tests.
    pub fn for_tests(log_dir: PathBuf) -> Self {
        Self {
            workspace: workspace_dir(),
            log_dir,
            api_port: 0,
            cognito_port: 0,
            lambda_port: 0,
            pool_id: defaults::POOL_ID.into(),
            expires_in: None,
            record_tokens: true,
            echo_logs: false,
        }
    }

    /// Reads `LOCAL_API_PORT`, `LOCAL_COGNITO_PORT`, `LOCAL_LAMBDA_PORT`,
    /// `LOCAL_STACK_LOG_DIR`, `LOCAL_TOKEN_EXPIRES_IN` through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, StackError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let port = |name: &'static str, default: u16| -> Result<u16, StackError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v.trim().parse().map_err(|_| StackError::Setting {
                    setting: name,
                    problem: format!("{v:?} is not a port number"),
                }),
            }
        };
        let workspace = workspace_dir();
        let expires_in = match get("LOCAL_TOKEN_EXPIRES_IN") {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|s| (60..=86_400).contains(s))
                    .ok_or_else(|| StackError::Setting {
                        setting: "LOCAL_TOKEN_EXPIRES_IN",
                        problem: format!("{v:?} is not a number of seconds in 60..=86400"),
                    })?,
            ),
        };
        Ok(Self {
            log_dir: get("LOCAL_STACK_LOG_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace.join("target").join("local-stack")),
            workspace,
            api_port: port("LOCAL_API_PORT", defaults::API_PORT)?,
            cognito_port: port("LOCAL_COGNITO_PORT", defaults::COGNITO_PORT)?,
            lambda_port: port("LOCAL_LAMBDA_PORT", defaults::LAMBDA_PORT)?,
            pool_id: defaults::POOL_ID.into(),
            expires_in,
            record_tokens: false,
            echo_logs: true,
        })
    }
}

/// The workspace root (the parent of this crate).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new(".."))
        .to_owned()
}

/// The running stack.
#[derive(Debug)]
pub struct Stack {
    /// The local token issuer.
    pub cognito: Arc<LocalCognito>,
    /// The local API Gateway.
    pub gateway: Arc<LocalGateway>,
    /// The API's base URL with the stage, like the template's `ApiUrl` output:
    /// `http://127.0.0.1:PORT/weather`.
    pub api_url: String,
    /// The watcher's base URL (Lambda Invoke API).
    pub lambda_url: String,
    log_dir: PathBuf,
    watcher: Mutex<Option<Watcher>>,
    tasks: Vec<JoinHandle<()>>,
}

/// `cargo`: the one running this build, if any.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

impl Stack {
    /// Starts everything; see the module documentation.
    pub async fn start(options: StackOptions) -> Result<Self, StackError> {
        let model = Template::load(options.workspace.join("template.yaml"))?;
        fs::create_dir_all(&options.log_dir)
            .map_err(|e| StackError::io(format!("creating {}", options.log_dir.display()), e))?;
        let log = |name: &str| options.log_dir.join(name);

        let cognito_config =
            CognitoConfig::from_model(&model, &options.pool_id, options.expires_in)?;
        let gateway_config = GatewayConfig::from_model(&model, cognito_config.region())?;
        let binaries = [
            gateway_config.authorizer.function.clone(),
            function_binary(&model, &gateway_config)?,
        ];

        check_cargo_lambda(&options.workspace)?;
        build(&options.workspace, &binaries, &log("build.log"))?;

        // The token issuer first: its URL is in the functions' environment, and it serves
        // before the warm-up, when the authorizer fetches its keys.
        let cognito_listener = http::bind(options.cognito_port).await?;
        let cognito_url = base_url(&cognito_listener)?;
        let signer = Signer::generate(&format!(
            "local-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ))?;
        let cognito = Arc::new(LocalCognito::new(
            cognito_config,
            signer,
            cognito_url,
            options.record_tokens,
            LogFile::create(&log("cognito.log"), options.echo_logs)?,
        ));

        let api_listener = http::bind(options.api_port).await?;
        let api_url = format!("{}/{}", base_url(&api_listener)?, gateway_config.stage);
        let env = function_environment(&model, &cognito)?;
        let env_file = log("functions.env");
        fs::write(&env_file, env_file_text(&env))
            .map_err(|e| StackError::io(format!("writing {}", env_file.display()), e))?;

        // From here on, an early return drops the watcher, which stops it.
        let watcher = Watcher::start(
            &options.workspace,
            options.lambda_port,
            &env_file,
            &log("watch.log"),
        )
        .await?;
        let lambda_url = format!("http://127.0.0.1:{}", watcher.port);
        let gateway = Arc::new(LocalGateway::new(
            gateway_config.clone(),
            LambdaClient::new(lambda_url.clone(), Duration::from_secs(30))?,
            LogFile::create(&log("gateway.log"), options.echo_logs)?,
        ));

        let mut stack = Self {
            tasks: vec![http::serve(cognito_listener, cognito.clone(), 64 * 1024)],
            cognito,
            gateway,
            api_url,
            lambda_url,
            log_dir: options.log_dir.clone(),
            watcher: Mutex::new(Some(watcher)),
        };
        stack.warm_up(&gateway_config, &binaries[1]).await?;

        stack
            .tasks
            .push(http::serve(api_listener, stack.gateway.clone(), MAX_BODY));
        Ok(stack)
    }

    /// The directory holding every log file.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// Every log file the stack wrote, with its text.
    pub fn logs(&self) -> Result<BTreeMap<PathBuf, String>, StackError> {
        let mut out = BTreeMap::new();
        let entries =
            fs::read_dir(&self.log_dir).map_err(|_| StackError::Logs(self.log_dir.clone()))?;
        for entry in entries {
            let path = entry
                .map_err(|_| StackError::Logs(self.log_dir.clone()))?
                .path();
            if path.extension().is_some_and(|e| e == "log") {
                let text = fs::read(&path).map_err(|_| StackError::Logs(path.clone()))?;
                out.insert(path, String::from_utf8_lossy(&text).into_owned());
            }
        }
        Ok(out)
    }

    /// Invokes each function once, one after the other: each starts (`cargo run`, its
    /// init) before any request, and never two builds contend for cargo's lock.
    async fn warm_up(&self, config: &GatewayConfig, backend: &str) -> Result<(), StackError> {
        let lambda = LambdaClient::new(self.lambda_url.clone(), Duration::from_secs(600))?;
        let event = json!({
            "type": "TOKEN",
            "authorizationToken": "",
            "methodArn": config.method_arn("GET", "/events"),
        });
        match lambda.invoke(&config.authorizer.function, &event).await? {
            Invocation::FunctionError { error_message, .. } if error_message == "Unauthorized" => {}
            other => {
                return Err(StackError::Invoke {
                    function: config.authorizer.function.clone(),
                    problem: format!("warm-up with no token answered {other:?}, not Unauthorized"),
                });
            }
        }
        let mut event: Value =
            serde_json::from_str(WARM_UP_EVENT).map_err(|e| StackError::Invoke {
                function: backend.to_owned(),
                problem: e.to_string(),
            })?;
        event["requestContext"]["stage"] = Value::String(config.stage.clone());
        match lambda.invoke(backend, &event).await? {
            Invocation::Ok(answer) if answer["statusCode"] == 200 => Ok(()),
            other => Err(StackError::Invoke {
                function: backend.to_owned(),
                problem: format!("warm-up GET /events answered {other:?}"),
            }),
        }
    }

    /// Stops the servers, the watcher and every process it started (within about 6 s).
    /// Idempotent.
    pub fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
        let watcher = self.watcher.lock().ok().and_then(|mut w| w.take());
        // Dropping it stops it.
        drop(watcher);
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A REST proxy `GET /events` with no caller, to start the backend.
const WARM_UP_EVENT: &str = r#"{
  "resource": "/events", "path": "/events", "httpMethod": "GET",
  "headers": {}, "multiValueHeaders": {}, "queryStringParameters": null,
  "multiValueQueryStringParameters": null, "pathParameters": null, "stageVariables": null,
  "requestContext": {"accountId": "123456789012", "resourceId": "warm0", "stage": "local",
    "requestId": "warm-up", "identity": {"sourceIp": "127.0.0.1"}, "resourcePath": "/events",
    "httpMethod": "GET", "apiId": "localapi", "path": "/events"},
  "body": null, "isBase64Encoded": false
}"#;

fn function_binary(model: &StackModel, config: &GatewayConfig) -> Result<String, StackError> {
    let mut binaries: Vec<String> = model
        .function_routes()
        .filter_map(|r| match &r.target {
            crate::template::RouteTarget::Function { function, .. } => {
                model.functions.get(function).and_then(|f| f.binary.clone())
            }
            _ => None,
        })
        .collect();
    binaries.sort();
    binaries.dedup();
    match binaries.as_slice() {
        [one] if *one != config.authorizer.function => Ok(one.clone()),
        other => Err(StackError::Unsupported(format!(
            "expected one backend function behind the routes, found {other:?}"
        ))),
    }
}

fn base_url(listener: &tokio::net::TcpListener) -> Result<String, StackError> {
    let addr = listener
        .local_addr()
        .map_err(|e| StackError::io("reading a bound address", e))?;
    Ok(format!("http://{addr}"))
}

fn check_cargo_lambda(workspace: &Path) -> Result<(), StackError> {
    let output = cargo()
        .args(["lambda", "--version"])
        .current_dir(workspace)
        .output();
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
fn build(workspace: &Path, binaries: &[String], log: &Path) -> Result<(), StackError> {
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

/// How many ports [`Watcher::start`] tries when it picks them itself.
const WATCHER_ATTEMPTS: usize = 5;

/// `cargo lambda watch`, serving on `127.0.0.1:port`. Dropping it stops the watcher and
/// every process it started.
#[derive(Debug)]
struct Watcher {
    child: Child,
    port: u16,
}

impl Watcher {
    /// Starts the watcher on `port` (0: a port it picks, see [`pick_port`]) and waits until
    /// it serves. A watcher that exits first (it does, silently, when its port was taken
    /// meanwhile) is started again on another picked port, [`WATCHER_ATTEMPTS`] times in
    /// all; a port given explicitly is never changed: the error names it.
    async fn start(
        workspace: &Path,
        port: u16,
        env_file: &Path,
        log: &Path,
    ) -> Result<Self, StackError> {
        fs::File::create(log)
            .map_err(|e| StackError::io(format!("creating {}", log.display()), e))?;
        let mut failures = Vec::new();
        for _ in 0..WATCHER_ATTEMPTS {
            let chosen = match port {
                0 => pick_port()?,
                given => {
                    std::net::TcpListener::bind(("127.0.0.1", given)).map_err(|e| {
                        StackError::Tool {
                            tool: "cargo lambda watch",
                            problem: format!("the lambda port given, {given}, is not free: {e}"),
                        }
                    })?;
                    given
                }
            };
            let from = fs::metadata(log).map(|m| m.len()).unwrap_or(0);
            let mut watcher = Self {
                child: spawn_watcher(workspace, chosen, env_file, log)?,
                port: chosen,
            };
            let Some(status) = watcher.wait_until_serving(log, from).await? else {
                return Ok(watcher);
            };
            failures.push(format!("port {chosen}: {status}"));
            if port != 0 {
                break;
            }
            append_line(
                log,
                &format!("local-stack: exited ({status}) before serving on port {chosen}"),
            );
        }
        Err(StackError::Tool {
            tool: "cargo lambda watch",
            problem: format!(
                "exited before serving ({}); it exits silently when its port is taken; \
                 last lines of {}:\n{}",
                failures.join(", "),
                log.display(),
                tail(log, 10)
            ),
        })
    }

    /// `None` once the watcher serves, its exit status if it exits first. It logs
    /// "starting Runtime server" before it binds, so serving is that line (since `from`),
    /// then a connection accepted, then the process still alive.
    async fn wait_until_serving(
        &mut self,
        log: &Path,
        from: u64,
    ) -> Result<Option<ExitStatus>, StackError> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let text = fs::read(log).unwrap_or_default();
            let logged = String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default())
                .contains("starting Runtime server");
            let connected = logged
                && tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                    .await
                    .is_ok();
            if let Ok(Some(status)) = self.child.try_wait() {
                return Ok(Some(status));
            }
            if connected {
                return Ok(None);
            }
            if Instant::now() > deadline {
                return Err(StackError::Tool {
                    tool: "cargo lambda watch",
                    problem: format!(
                        "not serving on port {} after 120 s; see {}",
                        self.port,
                        log.display()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Watcher {
    /// SIGTERM to the watcher's process group and to every process the watcher started,
    /// SIGKILL to whatever is left after 5 s. The functions need their own signal: the
    /// watcher starts each in a new session, out of its group, and exits without waiting
    /// for them, so they would outlive it (until their next call to its runtime API fails).
    fn drop(&mut self) {
        // A watcher that has exited left nothing we can find (its children were
        // re-parented), and its pid may already be another process's.
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let group = format!("-{}", self.child.id());
        // Before any signal: once the watcher is gone, its children are re-parented.
        let started = descendants(self.child.id());
        let alive = || {
            started
                .iter()
                .filter(|p| p.is_alive())
                .map(|p| p.pid.to_string())
        };
        kill("-TERM", std::iter::once(group.clone()).chain(alive()));
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let _ = self.child.try_wait();
            // `kill -0` fails once no process of the group is left.
            let group_left = kill("-0", [group.clone()]);
            if !group_left && alive().next().is_none() {
                break;
            }
            if Instant::now() > deadline {
                let group = group_left.then(|| group.clone());
                kill("-KILL", group.into_iter().chain(alive()));
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.wait();
        // Killed processes are gone at once; bounded all the same.
        let deadline = Instant::now() + Duration::from_secs(1);
        while alive().next().is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `kill SIGNAL -- TARGETS...` (a target `-N` is process group N): whether it reached
/// every target.
fn kill(signal: &str, targets: impl IntoIterator<Item = String>) -> bool {
    Command::new("kill")
        .args([signal, "--"])
        .args(targets)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn spawn_watcher(
    workspace: &Path,
    port: u16,
    env_file: &Path,
    log: &Path,
) -> Result<Child, StackError> {
    use std::os::unix::process::CommandExt as _;
    let file = fs::OpenOptions::new()
        .append(true)
        .open(log)
        .map_err(|e| StackError::io(format!("opening {}", log.display()), e))?;
    let err = file
        .try_clone()
        .map_err(|e| StackError::io(format!("opening {}", log.display()), e))?;
    cargo()
        .args(["lambda", "watch", "-A", "127.0.0.1", "-P"])
        .arg(port.to_string())
        .args(["--ignore-changes", "--color", "never", "--env-file"])
        .arg(env_file)
        .current_dir(workspace)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        // Its own process group: Ctrl-C in a terminal reaches only us, and we stop the
        // watcher (and `cargo run`, if it uses it) together; the functions are in sessions
        // of their own, see `Watcher::drop`.
        .process_group(0)
        .spawn()
        .map_err(|e| StackError::io("starting cargo lambda watch", e))
}

/// A free port for the watcher that no other socket on the machine can be handed before
/// the watcher binds it: a random one from 10000 (1024 if that leaves too few) up to the
/// kernel's ephemeral range (`ip_local_port_range`; 32768 where it cannot be read), which
/// `bind(0)` and `connect()` never hand out. A free ephemeral port if that range is too
/// small or no port tried in it is free.
fn pick_port() -> Result<u16, StackError> {
    let ephemeral = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
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

/// A process found under the watcher, told apart from a later one with its pid by its
/// start time.
#[derive(Debug)]
struct Process {
    pid: u32,
    start: u64,
}

impl Process {
    /// Still running (a zombie has finished) and still the same process.
    fn is_alive(&self) -> bool {
        proc_stat(self.pid).is_some_and(|(state, _, start)| state != 'Z' && start == self.start)
    }
}

/// Every live descendant of `root`, from `/proc/*/stat` (none where there is no `/proc`).
fn descendants(root: u32) -> Vec<Process> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let all: Vec<(u32, u32, u64)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let (state, ppid, start) = proc_stat(pid)?;
            (state != 'Z').then_some((pid, ppid, start))
        })
        .collect();
    let mut found: Vec<Process> = Vec::new();
    let mut parents = vec![root];
    while let Some(parent) = parents.pop() {
        for &(pid, ppid, start) in &all {
            if ppid == parent && !found.iter().any(|p| p.pid == pid) {
                found.push(Process { pid, start });
                parents.push(pid);
            }
        }
    }
    found
}

/// `(state, ppid, start time)` of a process, from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(char, u32, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields 3.. follow its
    // last ')'.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let ppid = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, ppid, start))
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

/// Every function's environment from the template, resolved for the local stack:
/// `!Ref UserPool` is the local pool id, `!Ref SomeClient` its local client id,
/// parameters their defaults; plus `ISSUER` (the local issuer).
pub fn function_environment(
    model: &StackModel,
    cognito: &LocalCognito,
) -> Result<BTreeMap<String, String>, StackError> {
    let resolve = |name: &str, expr: &Expr| -> Result<String, StackError> {
        resolve_expr(model, cognito, expr).ok_or_else(|| {
            StackError::Unsupported(format!(
                "environment variable {name}: cannot resolve {expr:?} locally"
            ))
        })
    };
    // Only the functions the local stack runs: the authorizer and the routes' targets
    // (weather-ingest is not one of them yet).
    let served: std::collections::BTreeSet<&str> = model
        .function_routes()
        .filter_map(|r| match &r.target {
            crate::template::RouteTarget::Function { function, .. } => Some(function.as_str()),
            crate::template::RouteTarget::CorsPreflight => None,
        })
        .chain([model.authorizer.function.as_str()])
        .collect();
    let mut env = BTreeMap::new();
    for function in model
        .functions
        .values()
        .filter(|f| served.contains(f.logical_id.as_str()))
    {
        for (name, expr) in &function.environment {
            let value = resolve(name, expr)?;
            if let Some(previous) = env.insert(name.clone(), value.clone())
                && previous != value
            {
                return Err(StackError::Unsupported(format!(
                    "environment variable {name} differs between functions; \
                     `cargo lambda watch --env-file` gives all functions one environment"
                )));
            }
        }
    }
    env.insert("ISSUER".into(), cognito.issuer());
    Ok(env)
}

fn resolve_expr(model: &StackModel, cognito: &LocalCognito, expr: &Expr) -> Option<String> {
    match expr {
        Expr::Literal(s) => Some(s.clone()),
        Expr::Ref(name) if *name == model.user_pool.logical_id => {
            Some(cognito.config().pool_id.clone())
        }
        Expr::Ref(name) if model.clients.contains_key(name) => {
            cognito.config().client(name).map(|c| c.client_id.clone())
        }
        Expr::Ref(_) => model.resolve(expr),
        Expr::Join { delimiter, parts } => parts
            .iter()
            .map(|p| resolve_expr(model, cognito, p))
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(delimiter)),
        _ => None,
    }
}

/// `KEY='value'` lines (values are single-line; single quotes keep JSON intact).
fn env_file_text(env: &BTreeMap<String, String>) -> String {
    let mut text = String::from("# Written by the local stack from template.yaml\n");
    for (key, value) in env {
        let value = value.replace('\n', " ");
        if value.contains('\'') {
            text.push_str(&format!("{key}=\"{}\"\n", value.replace('"', "\\\"")));
        } else {
            text.push_str(&format!("{key}='{value}'\n"));
        }
    }
    text
}

/// What `scripts/local-stack` prints once the stack serves: URLs, the app clients with
/// their LOCAL-ONLY secrets, and the seed 002 walkthrough as ready-to-paste commands.
pub fn banner(stack: &Stack) -> String {
    let config = stack.cognito.config();
    let mut out = String::new();
    let mut line = |s: &str| {
        out.push_str(s);
        out.push('\n');
    };
    line("");
    line("Local stack ready (from template.yaml). Ctrl-C stops everything.");
    line(&format!(
        "  API (like the ApiUrl output)   {}",
        stack.api_url
    ));
    line(&format!(
        "  Token endpoint (TokenUrl)      {}",
        stack.cognito.token_url()
    ));
    line(&format!(
        "  Issuer (UserPoolId {})  {}",
        config.pool_id,
        stack.cognito.issuer()
    ));
    line(&format!(
        "  JWKS                           {}/.well-known/jwks.json",
        stack.cognito.issuer()
    ));
    line(&format!(
        "  cargo lambda watch             {}",
        stack.lambda_url
    ));
    line(&format!(
        "  Logs                           {}",
        stack.log_dir.display()
    ));
    line("");
    line("App clients (fixed LOCAL-ONLY credentials):");
    for c in &config.clients {
        let scopes: Vec<&str> = c.allowed_scopes.iter().map(String::as_str).collect();
        line(&format!("  {}", c.logical_id));
        line(&format!("    client_id      {}", c.client_id));
        line(&format!("    client_secret  {}", c.secret.expose()));
        line(&format!("    scopes         {}", scopes.join(" ")));
    }
    let service = config
        .client("ServiceClient")
        .or_else(|| config.clients.first());
    let read_only = config.client("ReadOnlyClient");
    let Some(service) = service else {
        return out;
    };
    let grab = r#"sed -E 's/.*"access_token":"([^"]+)".*/\1/'"#;
    line("");
    line("Seed 002 walkthrough: paste into another shell (needs only curl and sed).");
    line("");
    line(&format!("API={}", stack.api_url));
    line(&format!("TOKEN_URL={}", stack.cognito.token_url()));
    line(&format!("CLIENT_ID={}", service.client_id));
    line(&format!("CLIENT_SECRET={}", service.secret.expose()));
    line("");
    line("# 1. No scope asked: the token carries every scope the client is allowed. GET -> 200");
    line(&format!(
        "TOKEN=$(curl -s \"$TOKEN_URL\" -d grant_type=client_credentials -d client_id=$CLIENT_ID -d client_secret=$CLIENT_SECRET | {grab})"
    ));
    line("curl -i \"$API/events\" -H \"Authorization: Bearer $TOKEN\"");
    line("");
    line("# 2. Only weather-api/post: GET -> 401, POST -> 201 (GET first: once a POST is");
    line("#    allowed, the cached policy answers this token's GET with 403)");
    line(&format!(
        "TOKEN=$(curl -s \"$TOKEN_URL\" -d grant_type=client_credentials -d client_id=$CLIENT_ID -d client_secret=$CLIENT_SECRET --data-urlencode scope=weather-api/post | {grab})"
    ));
    line("curl -i \"$API/events\" -H \"Authorization: Bearer $TOKEN\"");
    line(
        "curl -i -X POST \"$API/events\" -H \"Authorization: Bearer $TOKEN\" -H \"Content-Type: application/json\" \\",
    );
    line(
        "  -d '{\"name\":\"Storm Arwen\",\"dateStart\":\"2021-11-26\",\"dateEnd\":\"2021-11-27\"}'",
    );
    line("");
    line("# 3. weather-api/delete is not allowed to this client: 400 invalid_scope, no token");
    line(
        "curl -i \"$TOKEN_URL\" -d grant_type=client_credentials -d client_id=$CLIENT_ID -d client_secret=$CLIENT_SECRET --data-urlencode scope=weather-api/delete",
    );
    if let Some(ro) = read_only {
        line("");
        line(&format!(
            "# 4. {} may read but not create: GET -> 200, POST -> 403",
            ro.logical_id
        ));
        line(&format!(
            "TOKEN=$(curl -s \"$TOKEN_URL\" -u {}:{} -d grant_type=client_credentials | {grab})",
            ro.client_id,
            ro.secret.expose()
        ));
        line("curl -i \"$API/events\" -H \"Authorization: Bearer $TOKEN\"");
        line(
            "curl -i -X POST \"$API/events\" -H \"Authorization: Bearer $TOKEN\" -d '{\"name\":\"x\",\"dateStart\":\"2022-01-01\",\"dateEnd\":\"2022-01-01\"}'",
        );
    }
    line("");
    line("# 5. No token, or a garbage one: 401");
    line("curl -i \"$API/events\"");
    line("curl -i \"$API/events\" -H \"Authorization: Bearer not-a-token\"");
    out
}
