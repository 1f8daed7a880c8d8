//! What one invocation costs the release binary, against a do-nothing
//! `lambda_runtime` function, under the same local Runtime API.
//!
//! ```sh
//! cargo build --release -p authorizer --bin authorizer --example noop
//! cargo run --release -p authorizer --example runtime_cost -- 20000
//! ```
//!
//! A minimal Lambda Runtime API on 127.0.0.1 hands each process N events; the
//! process's CPU time (user + system, all threads, from /proc) divided by N is
//! the cost per invocation. Cold start is process spawn to the first response;
//! peak memory is VmHWM.

#[path = "../tests/support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::json;
use support::*;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

struct Api {
    events: Vec<Bytes>,
    next: AtomicUsize,
    answered: AtomicUsize,
    errors: AtomicUsize,
    total: usize,
    first_answer: tokio::sync::Mutex<Option<Instant>>,
    done: Notify,
}

async fn serve(api: Arc<Api>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let _ = req.into_body().collect().await;
    if path.ends_with("/invocation/next") {
        let i = api.next.fetch_add(1, Ordering::SeqCst);
        if i >= api.total {
            // No more events: hang like the real API until the process is stopped.
            std::future::pending::<()>().await;
        }
        let event = api.events[i % api.events.len()].clone();
        let response = Response::builder()
            .header("lambda-runtime-aws-request-id", format!("req-{i}"))
            .header("lambda-runtime-deadline-ms", "32503680000000")
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            )
            .body(Full::new(event))
            .unwrap();
        return Ok(response);
    }
    if path.ends_with("/error") {
        api.errors.fetch_add(1, Ordering::SeqCst);
    }
    let mut first = api.first_answer.lock().await;
    if first.is_none() {
        *first = Some(Instant::now());
    }
    drop(first);
    if api.answered.fetch_add(1, Ordering::SeqCst) + 1 == api.total {
        api.done.notify_one();
    }
    Ok(Response::builder()
        .status(202)
        .body(Full::new(Bytes::new()))
        .unwrap())
}

struct Run {
    cpu_per_invocation_us: f64,
    cold_start_ms: f64,
    peak_rss_kb: u64,
    errors: usize,
}

fn proc_cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_comm.split(' ').collect();
    // utime and stime are fields 14 and 15 of /proc/pid/stat (11 and 12 after comm+state); USER_HZ is 100.
    let (utime, stime): (f64, f64) = (fields[11].parse().unwrap(), fields[12].parse().unwrap());
    (utime + stime) / 100.0
}

fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

async fn run(binary: &PathBuf, env: &[(&str, String)], events: Vec<Bytes>, total: usize) -> Run {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let api = Arc::new(Api {
        events,
        next: AtomicUsize::new(0),
        answered: AtomicUsize::new(0),
        errors: AtomicUsize::new(0),
        total,
        first_answer: tokio::sync::Mutex::new(None),
        done: Notify::new(),
    });
    let (stop_tx, mut stop_rx) = mpsc::channel::<()>(1);
    let server_api = api.clone();
    let server = tokio::spawn(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, _) = accepted.unwrap();
                    let api = server_api.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| serve(api.clone(), req));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
                _ = stop_rx.recv() => return,
            }
        }
    });
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary built? see the module docs");
    tokio::time::timeout(Duration::from_secs(600), api.done.notified())
        .await
        .expect("all invocations answered");
    let pid = child.id();
    let cpu = proc_cpu_seconds(pid);
    let peak = peak_rss_kb(pid);
    let first = api.first_answer.lock().await.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = stop_tx.send(()).await;
    server.abort();
    Run {
        cpu_per_invocation_us: cpu * 1e6 / total as f64,
        cold_start_ms: (first - started).as_secs_f64() * 1e3,
        peak_rss_kb: peak,
        errors: api.errors.load(Ordering::SeqCst),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().unwrap())
        .unwrap_or(20_000);
    let release = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release");
    let noop = release.join("examples/noop");
    let authorizer = release.join("authorizer");
    let env = vec![
        ("USER_POOL_ID", POOL.to_string()),
        ("ROUTE_SCOPES", ROUTES.to_string()),
        (
            "JWKS_FILE",
            fixture("keys/test-jwks.json").display().to_string(),
        ),
        ("JWKS_URI", "http://127.0.0.1:9/jwks.json".to_string()),
        ("AWS_LAMBDA_LOG_LEVEL", "info".to_string()),
    ];
    let far_future = json!(4_102_444_800u64);
    let event = |token: String| {
        Bytes::from(
            serde_json::to_vec(
                &json!({"type": "TOKEN", "authorizationToken": format!("Bearer {token}"),
                "methodArn": format!("{METHOD_ARN_BASE}/GET/events")}),
            )
            .unwrap(),
        )
    };
    let repeated = vec![event(
        TokenBuilder::access("weather-api/get")
            .claim("exp", far_future.clone())
            .sign(),
    )];
    // Distinct tokens in turn through a one-entry cache: every decision verifies.
    let fresh: Vec<Bytes> = (0..500)
        .map(|i| {
            event(
                TokenBuilder::access("weather-api/get")
                    .claim("exp", far_future.clone())
                    .claim("jti", json!(format!("t{i}")))
                    .sign(),
            )
        })
        .collect();
    let mut fresh_env = env.clone();
    fresh_env.push(("TOKEN_CACHE_SIZE", "1".to_string()));

    let floor = run(&noop, &[], repeated.clone(), total).await;
    let hit = run(&authorizer, &env, repeated, total).await;
    let miss = run(&authorizer, &fresh_env, fresh, total).await;
    let cold = run(
        &authorizer,
        &env,
        vec![event(
            TokenBuilder::access("weather-api/get")
                .claim("exp", far_future)
                .sign(),
        )],
        1,
    )
    .await;

    println!("invocations per run: {total}");
    println!(
        "| run | CPU per invocation | vs floor | cold start (spawn to first answer) | peak RSS | errors |"
    );
    println!("|---|---|---|---|---|---|");
    let rows = [
        ("do-nothing lambda_runtime function (floor)", &floor, true),
        ("authorizer, repeated token", &hit, true),
        ("authorizer, first-seen tokens", &miss, true),
        // One invocation is below /proc's 10 ms CPU resolution: only its latency counts.
        ("authorizer, one invocation (cold start)", &cold, false),
    ];
    for (name, r, cpu) in rows {
        let (per, ratio) = if cpu {
            (
                format!("{:.1} us", r.cpu_per_invocation_us),
                format!(
                    "{:.2}x",
                    r.cpu_per_invocation_us / floor.cpu_per_invocation_us
                ),
            )
        } else {
            ("n/a".to_string(), "n/a".to_string())
        };
        println!(
            "| {name} | {per} | {ratio} | {:.1} ms | {:.1} MB | {} |",
            r.cold_start_ms,
            r.peak_rss_kb as f64 / 1024.0,
            r.errors
        );
    }
    println!(
        "first-seen minus floor: {:.1} us per invocation",
        miss.cpu_per_invocation_us - floor.cpu_per_invocation_us
    );
}
