//! Cache hit cost on one task, and hits from 1..8 threads at once (no global
//! lock on the hot path), with a `Mutex<HashMap>` cache as the baseline.

use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use token_cache::{Config, FetchFuture, FetchedToken, ScopeSet, TokenCache, TokenFetcher};

/// Answers at once with a Cognito-sized token; no network in the bench.
struct StaticFetcher;

impl TokenFetcher for StaticFetcher {
    fn fetch<'a>(&'a self, _scopes: &'a ScopeSet) -> FetchFuture<'a> {
        Box::pin(async {
            Ok(FetchedToken {
                access_token: "e".repeat(1000),
                expires_in: Duration::from_secs(3600),
            })
        })
    }
}

/// Polls once: a hit is ready immediately (a miss would be a bench bug).
fn ready<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("cache miss in the hit benchmark"),
    }
}

fn warm_cache() -> (TokenCache, ScopeSet) {
    let config = Config::new(
        "https://auth.example.com/oauth2/token",
        "bench-client",
        "bench-secret".to_owned(),
    )
    .expect("static config");
    let cache = TokenCache::builder(config)
        .fetcher(Arc::new(StaticFetcher))
        .build()
        .expect("valid config");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let scopes = ScopeSet::parse("weather-api/get weather-api/post").expect("scopes");
    runtime.block_on(async {
        for other in [
            "weather-api/get",
            "weather-api/post",
            "reports/read",
            "reports/read reports/write",
        ] {
            cache
                .get(&ScopeSet::parse(other).expect("scopes"))
                .await
                .expect("token");
        }
        cache.get(&scopes).await.expect("token");
    });
    (cache, scopes)
}

/// Runs `op` `iters` times on each of `threads` threads started together;
/// returns the wall time (so perfect scaling keeps it flat as threads grow).
fn parallel(threads: usize, iters: u64, op: impl Fn() + Sync) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                barrier.wait();
                for _ in 0..iters {
                    op();
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // Scope end joins all threads.
        start
    })
    .elapsed()
}

fn one_task(c: &mut Criterion) {
    let (cache, scopes) = warm_cache();
    let scoped = cache.scoped(&scopes);
    let mut group = c.benchmark_group("hit_one_task");
    group.bench_function("get", |b| {
        b.iter(|| ready(cache.get(black_box(&scopes))).expect("hit"))
    });
    group.bench_function("scoped_get", |b| {
        b.iter(|| ready(scoped.get()).expect("hit"))
    });
    group.finish();
}

fn threads(c: &mut Criterion) {
    let (cache, scopes) = warm_cache();
    let baseline: Mutex<HashMap<ScopeSet, Arc<str>>> = Mutex::new(HashMap::from([(
        scopes.clone(),
        Arc::from("e".repeat(1000)),
    )]));

    let mut group = c.benchmark_group("hit_threads");
    for n in [1usize, 2, 4, 8] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("get/{n}"), |b| {
            b.iter_custom(|iters| {
                parallel(n, iters, || {
                    black_box(ready(cache.get(black_box(&scopes))).expect("hit"));
                })
            })
        });
        group.bench_function(format!("global_mutex_baseline/{n}"), |b| {
            b.iter_custom(|iters| {
                parallel(n, iters, || {
                    let map = baseline.lock().expect("not poisoned");
                    black_box(map.get(black_box(&scopes)).cloned());
                })
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = one_task, threads
}
criterion_main!(benches);
