//! The whole local stack: moto (the template's table, queues and secret), the local
//! Cognito, `cargo lambda watch` serving the real functions, and the local API Gateway in
//! front of them, on 127.0.0.1.
//!
//! [`Stack::start`] reads `template.yaml`, starts moto (a [`supervisor`](crate::supervisor)
//! service, [`crate::aws`]), builds the functions' binaries (so the watcher finds them
//! fresh and never compiles on an invoke), starts the token issuer, creates the
//! template's tables, queues and secrets on moto, starts `cargo lambda watch` in its own
//! process group with the functions' environment from the template (every `!Ref` and
//! `!GetAtt` resolved to its local value, the SDK pointed at moto with dummy
//! credentials), waits until it serves, invokes each function once (one at a time), and
//! starts the gateway. The functions are the authorizer, the backend behind the routes
//! (weather-api, on the events table) and each function fed by a queue (weather-ingest,
//! posting to the local gateway with the local Cognito's `IngestClient`, whose
//! credentials are in the secret on moto). The functions reach the gateway through
//! [`Stack::api_switch`], a relay a test can take down to make the API unreachable
//! for them alone. [`Stack::stop`] stops the servers, the
//! watcher's process group and every process the watcher started (the functions, each
//! in a session of its own), then moto; dropping the [`Stack`] kills them without
//! waiting. [`Stack::restart_functions`] restarts the watcher and so every function.
//! Once serving, each queue-fed function gets its SQS event source mapping
//! ([`crate::event_source`]): a message sent to its queue on moto is delivered to it.
//!
//! The watcher is a [`Service`] of the [`supervisor`](crate::supervisor): it serves once
//! it logged "starting Runtime server" and its port accepts a connection. With no port
//! given it gets a random free one below the kernel's ephemeral range, which no `bind(0)`
//! elsewhere can take meanwhile, and is started again on another port if it exits before
//! serving; a port given explicitly is never changed. moto the same, once it printed
//! "moto-serial: listening on".
//!
//! Every log line goes to files in [`StackOptions::log_dir`]: `cognito.log`,
//! `gateway.log`, `watch.log` (the watcher and the functions; `watch-N.log` after a
//! restart), `moto.log`, `event-source.log`, `build.log`; `functions.env` is the functions' environment.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use test_support::Switch;
use tokio::task::JoinHandle;

use crate::StackError;
use crate::aws::{LocalAws, LocalQueue, check_moto, condition_holds, moto_spec};
use crate::cognito::{CognitoConfig, LocalCognito, Signer};
use crate::gateway::{GatewayConfig, Invocation, LambdaClient, LocalGateway, MAX_BODY};
use crate::http;
use crate::log::LogFile;
use crate::supervisor::{ProcessTracker, Service, ServiceProcess};
use crate::template::{
    Document, Event, Expr, PayloadType, ResourceKind, RouteTarget, StackModel, Template,
};
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
    /// moto's port, the AWS endpoint of the table, queues and secret (0: any free port).
    pub moto_port: u16,
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
    /// `LOCAL_AWS_PORT`.
    pub const AWS_PORT: u16 = 3003;
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
            moto_port: 0,
            pool_id: defaults::POOL_ID.into(),
            expires_in: None,
            record_tokens: true,
            echo_logs: false,
            model: None,
        }
    }

    /// Reads `LOCAL_API_PORT`, `LOCAL_COGNITO_PORT`, `LOCAL_LAMBDA_PORT`, `LOCAL_AWS_PORT`,
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
            moto_port: port("LOCAL_AWS_PORT", defaults::AWS_PORT)?,
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

/// A function the template triggers from an SQS queue (`Type: SQS` event), run by the
/// local stack with its queue on moto and fed from it by the stack's
/// [`event_source`](crate::event_source) mapping; a test or a person may also invoke it
/// with a batch of their own ([`Stack::invoke`], `cargo lambda invoke`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConsumer {
    /// Logical id of the function.
    pub function: String,
    /// Its binary (what `cargo lambda watch` serves).
    pub binary: String,
    /// Logical id of its queue.
    pub queue_id: String,
    /// Its queue.
    pub queue: LocalQueue,
    /// The queue's dead-letter queue (its `RedrivePolicy`), if any.
    pub dead_letter_queue: Option<LocalQueue>,
    /// The event's `BatchSize` (SAM's default: 10).
    pub batch_size: u32,
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
    /// The functions' way to the gateway: the API URL in their environment (weather-ingest's
    /// `WEATHER_API_URL`) is this relay's, not [`Stack::api_url`]. [`Switch::down`] makes
    /// the API unreachable for the functions (connections refused) while the gateway
    /// keeps serving everyone else; [`Switch::up`] brings it back at the same address.
    pub api_switch: Arc<Switch>,
    /// The watcher's base URL (Lambda Invoke API).
    pub lambda_url: String,
    /// The template's tables, queues and secrets on moto, and moto's endpoint.
    pub aws: LocalAws,
    /// The functions fed by a queue (weather-ingest).
    pub consumers: Vec<QueueConsumer>,
    /// The backend behind the routes (weather-api).
    pub backend: String,
    log_dir: PathBuf,
    workspace: PathBuf,
    watcher: tokio::sync::Mutex<Watcher>,
    moto: Mutex<Option<Service>>,
    /// Every service started, restarts included: what [`Stack::processes`] looks for.
    trackers: Mutex<Vec<ProcessTracker>>,
    tasks: Vec<JoinHandle<()>>,
}

/// The watcher and how many times it was started.
#[derive(Debug)]
struct Watcher {
    service: Option<Service>,
    starts: usize,
}

impl Stack {
    /// Starts everything; see the module documentation.
    pub async fn start(options: StackOptions) -> Result<Self, StackError> {
        let template_path = options.workspace.join("template.yaml");
        let doc = Template::load_document(&template_path)?;
        let model = match &options.model {
            Some(model) => model.clone(),
            None => StackModel::from_document_in(&doc, &options.workspace)?,
        };
        fs::create_dir_all(&options.log_dir)
            .map_err(|e| StackError::io(format!("creating {}", options.log_dir.display()), e))?;
        let log = |name: &str| options.log_dir.join(name);

        let cognito_config =
            CognitoConfig::from_model(&model, &options.pool_id, options.expires_in)?;
        let gateway_config = GatewayConfig::from_model(&model, cognito_config.region())?;
        let backend = function_binary(&model, &gateway_config)?;
        let consumer_functions = queue_consumers(&doc, &model)?;
        let mut binaries = vec![gateway_config.authorizer.function.clone(), backend.clone()];
        binaries.extend(
            consumer_functions
                .iter()
                .map(|(_, binary, _, _)| binary.clone()),
        );

        check_cargo_lambda(&options.workspace).await?;
        check_moto(&options.workspace).await?;
        // moto first (it starts while cargo builds); dropped, hence killed, on an early return.
        let moto = moto_spec(&options.workspace, options.moto_port, &log("moto.log"))
            .start()
            .await?;
        let mut trackers = vec![moto.tracker()];
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
        let region = cognito.config().region().to_owned();
        let aws = LocalAws::create(&doc, &model, &moto.url(), &region, |value| {
            let locals = Locals {
                model: &model,
                doc: &doc,
                cognito: &cognito,
                aws: None,
                api_base: "",
            };
            locals.resolve(value).ok().flatten()
        })
        .await?;

        let api_listener = http::bind(options.api_port).await?;
        let api_base = base_url(&api_listener)?;
        let api_url = format!("{api_base}/{}", gateway_config.stage);
        // The functions reach the gateway through a switch a test can take down.
        let api_addr = api_listener
            .local_addr()
            .map_err(|e| StackError::io("reading a bound address", e))?;
        let api_switch = Arc::new(Switch::start(&api_addr.to_string()).await);
        let functions_api_base = format!("http://{}", api_switch.addr());
        let locals = Locals {
            model: &model,
            doc: &doc,
            cognito: &cognito,
            aws: Some(&aws),
            api_base: &functions_api_base,
        };
        let mut served: BTreeSet<String> = model
            .function_routes()
            .filter_map(|r| match &r.target {
                RouteTarget::Function { function, .. } => Some(function.clone()),
                RouteTarget::CorsPreflight => None,
            })
            .collect();
        served.insert(model.authorizer.function.clone());
        served.extend(consumer_functions.iter().map(|(id, _, _, _)| id.clone()));
        let env = function_environment(&model, &locals, &served)?;
        let consumers: Vec<QueueConsumer> = consumer_functions
            .into_iter()
            .map(|(function, binary, queue_id, batch_size)| {
                let dead_letter_queue = dead_letter_queue(&doc, &queue_id)
                    .and_then(|dlq| aws.queues.get(&dlq).cloned());
                QueueConsumer {
                    function,
                    binary,
                    queue: aws.queues[&queue_id].clone(),
                    queue_id,
                    dead_letter_queue,
                    batch_size,
                }
            })
            .collect();
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
        trackers.push(watcher.tracker());
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
            api_switch,
            lambda_url,
            aws,
            consumers,
            backend,
            log_dir: options.log_dir.clone(),
            workspace: options.workspace.clone(),
            watcher: tokio::sync::Mutex::new(Watcher {
                service: Some(watcher),
                starts: 1,
            }),
            moto: Mutex::new(Some(moto)),
            trackers: Mutex::new(trackers),
        };
        stack.warm_up().await?;

        stack
            .tasks
            .push(http::serve(api_listener, stack.gateway.clone(), MAX_BODY));
        let source_log = Arc::new(LogFile::create(
            &log("event-source.log"),
            options.echo_logs,
        )?);
        for consumer in &stack.consumers {
            stack.tasks.push(crate::event_source::start(
                consumer.clone(),
                aws_sdk_sqs::Client::new(stack.aws.sdk_config()),
                LambdaClient::new(stack.lambda_url.clone(), Duration::from_secs(120))?,
                region.clone(),
                source_log.clone(),
            ));
        }
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

    /// Invokes `function` (a binary name) with `event` through the watcher, as the
    /// Lambda service would (Lambda's Invoke API).
    pub async fn invoke(&self, function: &str, event: &Value) -> Result<Invocation, StackError> {
        LambdaClient::new(self.lambda_url.clone(), Duration::from_secs(120))?
            .invoke(function, event)
            .await
    }

    /// Stops `cargo lambda watch` and every function process, starts it again on the
    /// same port with the same environment, and warms the functions up: each function
    /// starts anew (its init runs again), as a Lambda function does in a new execution
    /// environment; what it keeps elsewhere (moto's table) is still there. The new
    /// watcher logs to `watch-N.log`.
    pub async fn restart_functions(&self) -> Result<(), StackError> {
        let mut watcher = self.watcher.lock().await;
        let Some(mut old) = watcher.service.take() else {
            return Err(StackError::Service {
                service: "cargo lambda watch".into(),
                problem: "the stack is stopped".into(),
            });
        };
        let port = old.port();
        old.stop().await;
        watcher.starts += 1;
        let log = self.log_dir.join(format!("watch-{}.log", watcher.starts));
        let service = watcher_spec(
            &self.workspace,
            port,
            Some(&self.log_dir.join("functions.env")),
            &log,
        )
        .start()
        .await?;
        if let Ok(mut trackers) = self.trackers.lock() {
            trackers.push(service.tracker());
        }
        watcher.service = Some(service);
        drop(watcher);
        self.warm_up().await
    }

    /// Invokes each function once, one after the other: each starts (`cargo run`, its
    /// init) before any request, and never two builds contend for cargo's lock.
    async fn warm_up(&self) -> Result<(), StackError> {
        let config = self.gateway.config();
        let lambda = LambdaClient::new(self.lambda_url.clone(), Duration::from_secs(600))?;
        let arn = config.method_arn("GET", "/events");
        // An event of the authorizer's own kind, without a token.
        let event = match config.authorizer.payload {
            PayloadType::Token => json!({
                "type": "TOKEN",
                "authorizationToken": "",
                "methodArn": arn,
            }),
            PayloadType::Request => json!({
                "type": "REQUEST",
                "methodArn": arn,
                "resource": "/events",
                "path": "/events",
                "httpMethod": "GET",
                "headers": {},
                "requestContext": {"resourcePath": "/events", "httpMethod": "GET"},
            }),
        };
        match lambda.invoke(&config.authorizer.function, &event).await? {
            Invocation::FunctionError { error_message, .. } if error_message == "Unauthorized" => {}
            other => {
                return Err(StackError::Invoke {
                    function: config.authorizer.function.clone(),
                    problem: format!("warm-up with no token answered {other:?}, not Unauthorized"),
                });
            }
        }
        let backend = &self.backend;
        let mut event: Value =
            serde_json::from_str(WARM_UP_EVENT).map_err(|e| StackError::Invoke {
                function: backend.to_owned(),
                problem: e.to_string(),
            })?;
        event["requestContext"]["stage"] = Value::String(config.stage.clone());
        match lambda.invoke(backend, &event).await? {
            Invocation::Ok(answer) if answer["statusCode"] == 200 => {}
            other => {
                return Err(StackError::Invoke {
                    function: backend.to_owned(),
                    problem: format!("warm-up GET /events answered {other:?}"),
                });
            }
        }
        // An empty batch: the consumer's init (its secret read) runs, nothing is posted.
        for consumer in &self.consumers {
            match lambda
                .invoke(&consumer.binary, &json!({"Records": []}))
                .await?
            {
                Invocation::Ok(answer) if answer == json!({"batchItemFailures": []}) => {}
                other => {
                    return Err(StackError::Invoke {
                        function: consumer.binary.clone(),
                        problem: format!("warm-up with an empty batch answered {other:?}"),
                    });
                }
            }
        }
        Ok(())
    }

    /// Every live process the stack started: moto, the watcher and the functions (none
    /// once stopped).
    pub async fn processes(&self) -> Vec<ServiceProcess> {
        let trackers = self.trackers.lock().map(|t| t.clone()).unwrap_or_default();
        let mut all = Vec::new();
        for tracker in trackers {
            all.extend(tracker.live().await);
        }
        all
    }

    /// Stops the servers, the watcher and every process it started, then moto (SIGTERM,
    /// SIGKILL after 5 s), and returns once none is left. Idempotent.
    pub async fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
        let watcher = self.watcher.lock().await.service.take();
        if let Some(mut watcher) = watcher {
            watcher.stop().await;
        }
        let moto = self.moto.lock().ok().and_then(|mut m| m.take());
        if let Some(mut moto) = moto {
            moto.stop().await;
        }
    }
}

impl Drop for Stack {
    /// The servers' tasks end; the watcher and moto, if [`Stack::stop`] was not
    /// awaited, are killed with everything they started, without waiting.
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

/// The functions fed by an SQS queue of the template: (logical id, binary, queue's
/// logical id, batch size).
fn queue_consumers(
    doc: &Document,
    model: &StackModel,
) -> Result<Vec<(String, String, String, u32)>, StackError> {
    let mut out = Vec::new();
    let functions = doc.of_kind(|k| match k {
        ResourceKind::Function(f) => Some(f),
        _ => None,
    });
    for (id, _, function) in functions {
        for (name, event) in &function.events {
            let Event::Sqs(event) = event else { continue };
            let queue = match &event.queue {
                Expr::GetAtt {
                    resource,
                    attribute,
                } if attribute == "Arn" => resource.clone(),
                other => {
                    return Err(StackError::Unsupported(format!(
                        "Resources.{id}.Properties.Events.{name}.Properties.Queue: \
                         expected !GetAtt QUEUE.Arn, found {other:?}"
                    )));
                }
            };
            let binary = model
                .functions
                .get(id)
                .and_then(|f| f.binary.clone())
                .ok_or_else(|| {
                    StackError::Unsupported(format!(
                        "Resources.{id}: no Metadata.BuildProperties.Binary"
                    ))
                })?;
            out.push((id.to_owned(), binary, queue, event.batch_size.unwrap_or(10)));
        }
    }
    Ok(out)
}

/// The logical id of the dead-letter queue of queue `queue` (its `RedrivePolicy`).
fn dead_letter_queue(doc: &Document, queue: &str) -> Option<String> {
    let ResourceKind::Queue(q) = &doc.resources.get(queue)?.kind else {
        return None;
    };
    match &q.redrive_policy.as_ref()?.dead_letter_target_arn {
        Expr::GetAtt { resource, .. } => Some(resource.clone()),
        _ => None,
    }
}

/// What the template's values are in the local stack.
struct Locals<'a> {
    model: &'a StackModel,
    doc: &'a Document,
    cognito: &'a LocalCognito,
    /// The resources on moto (none while they are being created).
    aws: Option<&'a LocalAws>,
    /// The local API Gateway as the functions reach it (through [`Stack::api_switch`]),
    /// `http://127.0.0.1:PORT` (no stage).
    api_base: &'a str,
}

impl Locals<'_> {
    /// The local value of `expr`: `Ok(None)` for `!Ref AWS::NoValue` (the variable is
    /// not set), `Err(())` where it has no local value.
    ///
    /// `!Ref UserPool` is the local pool id, `!Ref SomeClient` its local client id and
    /// `!GetAtt SomeClient.ClientSecret` its local secret, `!Ref` and `!GetAtt` of a
    /// table, queue or secret what moto has, parameters their defaults, `!If` its
    /// branch, and in a `!Sub` the API's and the pool domain's AWS URLs are the local
    /// gateway's and Cognito's.
    fn resolve(&self, expr: &Expr) -> Result<Option<String>, ()> {
        let cognito = self.cognito.config();
        let client = |id: &str| cognito.client(id);
        Ok(Some(match expr {
            Expr::Literal(s) => s.clone(),
            Expr::Ref(name) if name == "AWS::NoValue" => return Ok(None),
            Expr::Ref(name) if name == "AWS::Region" => cognito.region().to_owned(),
            Expr::Ref(name) if *name == self.model.user_pool.logical_id => cognito.pool_id.clone(),
            Expr::Ref(name) if client(name).is_some() => {
                client(name).map(|c| c.client_id.clone()).ok_or(())?
            }
            Expr::GetAtt {
                resource,
                attribute,
            } if attribute == "ClientSecret" && client(resource).is_some() => client(resource)
                .map(|c| c.secret.expose().to_owned())
                .ok_or(())?,
            Expr::Ref(_) | Expr::GetAtt { .. } => self
                .aws
                .and_then(|aws| aws.resolve(expr))
                .or_else(|| self.model.resolve(expr))
                .ok_or(())?,
            Expr::Join { delimiter, parts } => {
                let mut values = Vec::new();
                for part in parts {
                    values.extend(self.resolve(part)?);
                }
                values.join(delimiter)
            }
            Expr::If {
                condition,
                then,
                otherwise,
            } => {
                return match condition_holds(self.doc, self.model, condition) {
                    Some(true) => self.resolve(then),
                    Some(false) => self.resolve(otherwise),
                    None => Err(()),
                };
            }
            Expr::Sub(text) => self.substitute(text, &BTreeMap::new())?,
            Expr::SubWith { text, variables } => self.substitute(text, variables)?,
            _ => return Err(()),
        }))
    }

    /// `!Sub`: each `${NAME}` by its variable, else by `!Ref NAME` (`${R.Attr}` by
    /// `!GetAtt`); the API's and the pool domain's URLs first by the local ones.
    fn substitute(&self, text: &str, variables: &BTreeMap<String, Expr>) -> Result<String, ()> {
        let api = format!(
            "https://${{{}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}",
            self.model.api.logical_id
        );
        let domain = self.model.domain.as_ref().map(|d| {
            format!(
                "https://${{{}}}.auth.${{AWS::Region}}.amazoncognito.com",
                d.logical_id
            )
        });
        let (mut out, mut rest) = if let Some(rest) = text.strip_prefix(&api) {
            (self.api_base.to_owned(), rest)
        } else if let Some(rest) = domain.as_deref().and_then(|d| text.strip_prefix(d)) {
            (self.cognito.base_url().to_owned(), rest)
        } else {
            (String::new(), text)
        };
        while let Some(open) = rest.find("${") {
            out.push_str(&rest[..open]);
            let after = &rest[open + 2..];
            let close = after.find('}').ok_or(())?;
            let name = &after[..close];
            let value = match variables.get(name) {
                Some(expr) => self.resolve(expr)?,
                None => match name.split_once('.') {
                    Some((resource, attribute)) if !name.starts_with("AWS::") => {
                        self.resolve(&Expr::GetAtt {
                            resource: resource.to_owned(),
                            attribute: attribute.to_owned(),
                        })?
                    }
                    _ => self.resolve(&Expr::Ref(name.to_owned()))?,
                },
            };
            out.push_str(&value.ok_or(())?);
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The environment of the functions `served` (logical ids), from the template and
/// resolved for the local stack ([`Locals::resolve`]; a variable resolving to
/// `AWS::NoValue` is not set), plus `ISSUER` (the local issuer) and what points the AWS
/// SDK at moto.
fn function_environment(
    model: &StackModel,
    locals: &Locals<'_>,
    served: &BTreeSet<String>,
) -> Result<BTreeMap<String, String>, StackError> {
    let mut env = BTreeMap::new();
    for function in model
        .functions
        .values()
        .filter(|f| served.contains(&f.logical_id))
    {
        for (name, expr) in &function.environment {
            let Some(value) = locals.resolve(expr).map_err(|()| {
                StackError::Unsupported(format!(
                    "Resources.{}: environment variable {name}: cannot resolve {expr:?} locally",
                    function.logical_id
                ))
            })?
            else {
                continue;
            };
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
    env.insert("ISSUER".into(), locals.cognito.issuer());
    if let Some(aws) = locals.aws {
        env.extend(aws.function_environment());
    }
    Ok(env)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cognito(model: &StackModel) -> LocalCognito {
        let config = CognitoConfig::from_model(model, defaults::POOL_ID, None).unwrap();
        let log = std::env::temp_dir().join(format!("stack-{}.log", uuid::Uuid::new_v4()));
        LocalCognito::new(
            config,
            Signer::generate("unit").unwrap(),
            "http://127.0.0.1:3001".into(),
            false,
            LogFile::create(&log, false).unwrap(),
        )
    }

    fn env_of<'a>(doc: &'a Document, logical_id: &str) -> &'a BTreeMap<String, Expr> {
        let ResourceKind::Function(f) = &doc.resources[logical_id].kind else {
            panic!("{logical_id} is a function")
        };
        &f.environment.variables
    }

    #[test]
    fn the_template_s_values_resolve_to_the_local_ones() {
        let doc = Template::load_document(Template::workspace_path()).unwrap();
        let model = StackModel::from_document(&doc).unwrap();
        let cognito = cognito(&model);
        let locals = Locals {
            model: &model,
            doc: &doc,
            cognito: &cognito,
            aws: None,
            api_base: "http://127.0.0.1:3000",
        };
        let ingest = env_of(&doc, "WeatherIngestFunction");
        assert_eq!(
            locals.resolve(&ingest["WEATHER_API_URL"]),
            Ok(Some("http://127.0.0.1:3000/weather".into()))
        );
        assert_eq!(
            locals.resolve(&ingest["TOKEN_URL"]),
            Ok(Some("http://127.0.0.1:3001/oauth2/token".into()))
        );
        // Without moto's resources a reference to one has no local value.
        assert_eq!(locals.resolve(&ingest["CLIENT_SECRET_ARN"]), Err(()));

        let ResourceKind::Secret(secret) = &doc.resources["IngestClientSecret"].kind else {
            panic!("a secret")
        };
        let value = locals
            .resolve(secret.secret_string.as_ref().unwrap())
            .unwrap()
            .unwrap();
        let value: Value = serde_json::from_str(&value).unwrap();
        let client = cognito.config().client("IngestClient").unwrap();
        assert_eq!(value["client_id"], client.client_id.as_str());
        assert_eq!(value["client_secret"], client.secret.expose());

        let authorizer = env_of(&doc, "AuthorizerFunction");
        assert_eq!(
            locals.resolve(&authorizer["APP_CLIENT_IDS"]),
            Ok(Some(
                "serviceclient0local0000000,readonlyclient0local000000,ingestclient0local00000000"
                    .into()
            ))
        );
        assert_eq!(
            locals.resolve(&Expr::Sub("${NoSuchThing}/x".into())),
            Err(())
        );

        // EventStore=memory: EVENTS_TABLE is !Ref AWS::NoValue, i.e. not set.
        let events_table = env_of(&doc, "WeatherApiFunction")["EVENTS_TABLE"].clone();
        let mut memory = doc.clone();
        memory.conditions.insert(
            "UseEventsTable".into(),
            Expr::Equals(
                Box::new(Expr::Literal("memory".into())),
                Box::new(Expr::Literal("dynamodb".into())),
            ),
        );
        let locals = Locals {
            doc: &memory,
            ..locals
        };

        assert_eq!(locals.resolve(&events_table), Ok(None), "{events_table:?}");
    }

    #[test]
    fn the_queue_fed_function_is_weather_ingest() {
        let doc = Template::load_document(Template::workspace_path()).unwrap();
        let model = StackModel::from_document(&doc).unwrap();
        assert_eq!(
            queue_consumers(&doc, &model).unwrap(),
            vec![(
                "WeatherIngestFunction".to_owned(),
                "weather-ingest".to_owned(),
                "IngestQueue".to_owned(),
                10
            )]
        );
        assert_eq!(
            dead_letter_queue(&doc, "IngestQueue").as_deref(),
            Some("IngestDeadLetterQueue")
        );
    }
}
