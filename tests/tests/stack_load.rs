//! The local stack under a bounded load on loopback: C concurrent clients
//! calling `GET /events` with one token for a fixed time (and at most a fixed
//! number of requests). No request may fail; throughput and latency
//! percentiles are printed (no timing assertion).
//!
//! CI runs the quick default (`LOAD_SECONDS=5`, `LOAD_CONCURRENCY=8`); the
//! long run recorded in docs/RELIABILITY.md:
//! `LOAD_SECONDS=60 LOAD_CONCURRENCY=32 cargo test -p local-stack --test stack_load -- --nocapture`
//! Needs `cargo lambda` on PATH, like the end-to-end test.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use local_stack::{Stack, StackOptions};

const MAX_REQUESTS: usize = 1_000_000;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn local_stack_under_bounded_load() {
    let seconds = setting("LOAD_SECONDS", 5).min(600);
    let concurrency = setting("LOAD_CONCURRENCY", 8).clamp(1, 256) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let log_dir = std::env::temp_dir().join(format!("local-stack-load-{}", uuid::Uuid::new_v4()));
    runtime.block_on(async {
        let stack = Stack::start(StackOptions::for_tests(log_dir.clone()))
            .await
            .unwrap_or_else(|e| panic!("starting the local stack: {e} (logs in {})", log_dir.display()));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let client = stack.cognito.config().client("ServiceClient").unwrap();
        let form = [
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", client.client_id.clone()),
            ("client_secret", client.secret.expose().to_owned()),
        ];
        let token: serde_json::Value =
            http.post(stack.cognito.token_url()).form(&form).send().await.unwrap().json().await.unwrap();
        let bearer = format!("Bearer {}", token["access_token"].as_str().expect("a token"));
        let url = format!("{}/events", stack.api_url);

        let sent = Arc::new(AtomicUsize::new(0));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (http, url, bearer, sent) = (http.clone(), url.clone(), bearer.clone(), sent.clone());
                tokio::spawn(async move {
                    let (mut latencies, mut failures) = (Vec::new(), Vec::new());
                    while Instant::now() < deadline && sent.fetch_add(1, Ordering::Relaxed) < MAX_REQUESTS {
                        let t = Instant::now();
                        match http.get(&url).header("authorization", &bearer).send().await {
                            Ok(r) if r.status() == 200 => {
                                let _ = r.bytes().await;
                                latencies.push(t.elapsed().as_micros() as u64);
                            }
                            Ok(r) => failures.push(format!("HTTP {}", r.status())),
                            Err(e) => failures.push(e.to_string()),
                        }
                    }
                    (latencies, failures)
                })
            })
            .collect();
        let (mut latencies, mut failures) = (Vec::new(), Vec::new());
        for w in workers {
            let (l, f) = w.await.unwrap();
            latencies.extend(l);
            failures.extend(f);
        }
        let elapsed = started.elapsed().as_secs_f64();
        stack.stop().await;
        assert!(failures.is_empty(), "{} failed requests, e.g. {:?}", failures.len(), &failures[..failures.len().min(5)]);
        assert!(!latencies.is_empty(), "no request completed");
        latencies.sort_unstable();
        let ms = |us: u64| us as f64 / 1000.0;
        eprintln!(
            "load: {} requests, {} clients, {:.1} s, {:.0} req/s, 0 failed; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            latencies.len(),
            concurrency,
            elapsed,
            latencies.len() as f64 / elapsed,
            ms(percentile(&latencies, 0.50)),
            ms(percentile(&latencies, 0.90)),
            ms(percentile(&latencies, 0.99)),
            ms(*latencies.last().unwrap()),
        );
    });
    let _ = std::fs::remove_dir_all(&log_dir);
}
