//! Measures the release binary as Lambda runs it: init time (spawn to the first
//! `/next` poll, and spawn to the first answer) and CPU per request, with the in-memory
//! store and with `EVENTS_TABLE` against a local moto server (tools/moto-serial.py).
//!
//! The harness plays the Lambda Runtime API on 127.0.0.1 (a few lines of hyper): it hands
//! the function fixture events, times the calls, and reads the process's CPU time from
//! /proc (every thread's `schedstat`, nanoseconds). One run of this binary gives every
//! figure, so the ratios compare like with like.
//!
//! ```sh
//! scripts/setup-tools                      # moto in .venv
//! cargo build --release -p weather-api
//! cargo run -p weather-api --example cold_start -- [--starts 15] [--requests 200]
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What the fake Runtime API saw, in order.
enum Seen {
    Next(Instant),
    Answer(Instant, u16),
}

/// One function process and the Runtime API it polls.
struct Run {
    child: Child,
    seen: mpsc::UnboundedReceiver<Seen>,
    server: tokio::task::JoinHandle<()>,
}

/// Serves `events` (one per `/next`), then holds the next `/next` open.
async fn runtime_api(
    events: Vec<Bytes>,
) -> (
    String,
    mpsc::UnboundedReceiver<Seen>,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::unbounded_channel();
    let queue = Arc::new(Mutex::new(
        events.into_iter().enumerate().collect::<VecDeque<_>>(),
    ));
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (tx, queue) = (tx.clone(), queue.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let (tx, queue) = (tx.clone(), queue.clone());
                    async move {
                        let path = req.uri().path().to_owned();
                        if path.ends_with("/invocation/next") {
                            let _ = tx.send(Seen::Next(Instant::now()));
                            let next = queue.lock().unwrap().pop_front();
                            let Some((n, event)) = next else {
                                std::future::pending::<()>().await;
                                unreachable!();
                            };
                            let deadline = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .unwrap()
                                .as_millis()
                                + 10_000;
                            let response = Response::builder()
                                .header("lambda-runtime-aws-request-id", format!("req-{n}"))
                                .header("lambda-runtime-deadline-ms", deadline.to_string())
                                .header(
                                    "lambda-runtime-invoked-function-arn",
                                    "arn:aws:lambda:eu-west-2:123456789012:function:weather-api",
                                )
                                .header(
                                    "lambda-runtime-trace-id",
                                    "Root=1-00000000-000000000000000000000000",
                                )
                                .body(Full::new(event))
                                .unwrap();
                            return Ok::<_, Infallible>(response);
                        }
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        if path.ends_with("/response") {
                            let status = serde_json::from_slice::<serde_json::Value>(&body)
                                .ok()
                                .and_then(|v| v["statusCode"].as_u64())
                                .unwrap_or(0) as u16;
                            let _ = tx.send(Seen::Answer(Instant::now(), status));
                        } else {
                            eprintln!("{path}: {}", String::from_utf8_lossy(&body));
                            let _ = tx.send(Seen::Answer(Instant::now(), 0));
                        }
                        Ok(Response::builder()
                            .status(202)
                            .body(Full::new(Bytes::new()))
                            .unwrap())
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, rx, server)
}

/// CPU time of every thread of `pid` so far.
fn cpu(pid: u32) -> Duration {
    let mut total = 0u64;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) {
                total += text
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
            }
        }
    }
    Duration::from_nanos(total)
}

async fn start(binary: &Path, env: &[(String, String)], events: Vec<Bytes>) -> (Run, Instant) {
    let (addr, seen, server) = runtime_api(events).await;
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", "weather-api")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let spawned = Instant::now();
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    (
        Run {
            child,
            seen,
            server,
        },
        spawned,
    )
}

struct ColdStart {
    init: Duration,
    first_answer: Duration,
}

async fn cold_start(binary: &Path, env: &[(String, String)], event: &Bytes) -> ColdStart {
    let (mut run, spawned) = start(binary, env, vec![event.clone()]).await;
    let mut init = None;
    let first_answer = loop {
        match run.seen.recv().await.expect("function exited") {
            Seen::Next(at) if init.is_none() => init = Some(at - spawned),
            Seen::Next(_) => {}
            Seen::Answer(at, status) => {
                assert!((200..300).contains(&status), "status {status}");
                break at - spawned;
            }
        }
    };
    let _ = run.child.kill();
    let _ = run.child.wait();
    run.server.abort();
    ColdStart {
        init: init.unwrap(),
        first_answer,
    }
}

/// CPU per request over `n` requests of `event`, after one warm-up request: measured
/// while the function is parked in its `/next` poll, before the second and after the
/// last request.
async fn cpu_per_request(
    binary: &Path,
    env: &[(String, String)],
    event: &Bytes,
    n: usize,
) -> Duration {
    let (mut run, _) = start(binary, env, vec![event.clone(); n + 1]).await;
    let pid = run.child.id();
    let mut polls = 0;
    let mut before = Duration::ZERO;
    loop {
        match run.seen.recv().await.expect("function exited") {
            Seen::Answer(_, status) => assert!((200..300).contains(&status), "status {status}"),
            Seen::Next(_) => {
                polls += 1;
                if polls == 2 {
                    before = cpu(pid);
                }
                if polls == n + 2 {
                    break;
                }
            }
        }
    }
    let used = cpu(pid) - before;
    let _ = run.child.kill();
    let _ = run.child.wait();
    run.server.abort();
    used / n as u32
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect("a number"))
    };
    let starts = arg("--starts", 15);
    let requests = arg("--requests", 200);
    // Where cargo put it: CARGO_TARGET_DIR (a shared target directory), else target/.
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    let binary = target.join("release/weather-api");
    assert!(
        binary.exists(),
        "build it first: cargo build --release -p weather-api"
    );
    let size = std::fs::metadata(&binary).unwrap().len();

    // moto, one request at a time, as in the tests.
    let python = root().join(".venv/bin/python");
    let mut moto = Command::new(&python)
        .arg(root().join("tools/moto-serial.py"))
        .args(["--port", "0", "--exit-on-stdin-eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run scripts/setup-tools first (moto in .venv)");
    let mut line = String::new();
    BufReader::new(moto.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint = line
        .trim()
        .strip_prefix("moto-serial: listening on ")
        .expect("moto ready line")
        .to_owned();

    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(Region::new("eu-west-2"))
        .credentials_provider(Credentials::new("bench", "bench", None, None, "bench"))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = "weather-events-bench";
    let attribute = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, k| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(k)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await
        .unwrap();

    let memory: Vec<(String, String)> = vec![];
    let dynamo: Vec<(String, String)> = [
        ("EVENTS_TABLE", table),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "eu-west-2"),
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let fixture = |name: &str| {
        Bytes::from(std::fs::read(root().join("weather-api/fixtures").join(name)).unwrap())
    };
    let list = fixture("apigw-request-list-events.json");
    let create = fixture("apigw-request-create-event.json");

    // The very first start seeds the table (one more call); every later one reads META.
    let seeding = cold_start(&binary, &dynamo, &list).await;
    let (mut mem_init, mut mem_first, mut dyn_init, mut dyn_first) =
        (vec![], vec![], vec![], vec![]);
    for _ in 0..starts {
        let m = cold_start(&binary, &memory, &list).await;
        mem_init.push(m.init);
        mem_first.push(m.first_answer);
        let d = cold_start(&binary, &dynamo, &list).await;
        dyn_init.push(d.init);
        dyn_first.push(d.first_answer);
    }
    let mem_list = cpu_per_request(&binary, &memory, &list, requests).await;
    let dyn_list = cpu_per_request(&binary, &dynamo, &list, requests).await;
    let mem_create = cpu_per_request(&binary, &memory, &create, requests).await;
    let dyn_create = cpu_per_request(&binary, &dynamo, &create, requests).await;
    drop(moto.stdin.take());
    let _ = moto.kill();
    let _ = moto.wait();

    let (mi, mf, di, df) = (
        median(mem_init),
        median(mem_first),
        median(dyn_init),
        median(dyn_first),
    );
    println!(
        "release binary: {} bytes ({:.2} MiB)",
        size,
        size as f64 / 1048576.0
    );
    println!(
        "cold starts: {starts} per store, medians (spawn -> first /next poll = init; spawn -> first answer of GET /events)"
    );
    println!("| store | init | first answer |");
    println!("|---|---|---|");
    println!("| in-memory | {} | {} |", ms(mi), ms(mf));
    println!(
        "| DynamoDB (moto), table seeded | {} | {} |",
        ms(di),
        ms(df)
    );
    println!(
        "| DynamoDB (moto), first start: seeds the table | {} | {} |",
        ms(seeding.init),
        ms(seeding.first_answer)
    );
    println!(
        "init ratio DynamoDB / in-memory: {:.2}x; first answer ratio: {:.2}x",
        di.as_secs_f64() / mi.as_secs_f64(),
        df.as_secs_f64() / mf.as_secs_f64()
    );
    println!(
        "CPU per request, {requests} requests after one warm-up (all threads of the function):"
    );
    println!("| request | in-memory | DynamoDB (moto) | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| GET /events (2 events) | {} | {} | {:.1}x |",
        us(mem_list),
        us(dyn_list),
        dyn_list.as_secs_f64() / mem_list.as_secs_f64()
    );
    println!(
        "| POST /events | {} | {} | {:.1}x |",
        us(mem_create),
        us(dyn_create),
        dyn_create.as_secs_f64() / mem_create.as_secs_f64()
    );
}
