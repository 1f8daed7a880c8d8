//! The whole local stack: the local Cognito, `cargo lambda watch` serving the real
//! functions, and the local API Gateway in front of them, on 127.0.0.1.
//!
//! [`Stack::start`] reads `template.yaml`, builds the functions' binaries (so the watcher
//! finds them fresh and never compiles on an invoke), starts the token issuer, starts
//! `cargo lambda watch` in its own process group with the functions' environment from
//! the template, waits until it serves, invokes each function once (one at a time), and
//! starts the gateway. [`Stack::stop`] stops the servers, the watcher's process group and
//! every process the watcher started (the functions, each in a session of its own);
//! dropping the [`Stack`] kills them without waiting.
//!
//! The watcher is a [`Service`] of the [`supervisor`](crate::supervisor): it serves once
//! it logged "starting Runtime server" and its port accepts a connection. With no port
//! given it gets a random free one below the kernel's ephemeral range, which no `bind(0)`
//! elsewhere can take meanwhile, and is started again on another port if it exits before
//! serving; a port given explicitly is never changed.
//!
//! Every log line goes to files in [`StackOptions::log_dir`]: `cognito.log`,
//! `gateway.log`, `watch.log` (the watcher and both functions), `build.log`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::StackError;
use crate::cognito::{CognitoConfig, LocalCognito, Signer};
use crate::gateway::{GatewayConfig, Invocation, LambdaClient, LocalGateway, MAX_BODY};
use crate::http;
use crate::log::LogFile;
use crate::supervisor::{ProcessTracker, Service, ServiceProcess};
use crate::template::{Expr, StackModel, Template};
use crate::watch::{build, check_cargo_lambda, watcher_spec};

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
    /// A modelled template to run instead of the workspace's `template.yaml` (tests of
    /// generated APIs); its functions are still built from the workspace.
    pub model: Option<StackModel>,
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
            model: None,
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
            model: None,
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
    watcher: Mutex<Option<Service>>,
    watcher_processes: ProcessTracker,
    tasks: Vec<JoinHandle<()>>,
}

impl Stack {
    /// Starts everything; see the module documentation.
    pub async fn start(options: StackOptions) -> Result<Self, StackError> {
        let model = match &options.model {
            Some(model) => model.clone(),
            None => Template::load(options.workspace.join("template.yaml"))?,
        };
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

        check_cargo_lambda(&options.workspace).await?;
        build(&options.workspace, &binaries, &log("build.log")).await?;

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

        // From here on, an early return drops the watcher, which kills it.
        let watcher = watcher_spec(
            &options.workspace,
            options.lambda_port,
            Some(&env_file),
            &log("watch.log"),
        )
        .start()
        .await?;
        let lambda_url = watcher.url();
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
            watcher_processes: watcher.tracker(),
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

    /// Every live process the watcher started: itself and the functions (none once
    /// stopped).
    pub async fn processes(&self) -> Vec<ServiceProcess> {
        self.watcher_processes.live().await
    }

    /// Stops the servers, the watcher and every process it started (SIGTERM, SIGKILL
    /// after 5 s), and returns once none is left. Idempotent.
    pub async fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
        let watcher = self.watcher.lock().ok().and_then(|mut w| w.take());
        if let Some(mut watcher) = watcher {
            watcher.stop().await;
        }
    }
}

impl Drop for Stack {
    /// The servers' tasks end; the watcher, if [`Stack::stop`] was not awaited, is
    /// killed with everything it started, without waiting.
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
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
            // No local table yet (issue 11): without EVENTS_TABLE weather-api runs its
            // in-memory store, as before the template had a table.
            if name == "EVENTS_TABLE" {
                continue;
            }
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
