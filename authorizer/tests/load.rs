//! Load on the decision path: many concurrent tasks drive `Authorizer::handle`
//! with a mix of repeated tokens (verified-token cache hits), a pool of
//! distinct tokens larger than the cache (evictions, full RS256
//! verification), and bad tokens (forged, expired, insufficient scope), over
//! TOKEN, REQUEST and HTTP API events. Every decision must be the expected one
//! (no error), and resident memory must stay flat: the verified-token cache is
//! bounded by TOKEN_CACHE_SIZE. Throughput is printed (an observation of this
//! run, not a benchmark: see benches/ for measured ratios).
//!
//! `quick_load_20k_decisions` runs with `cargo test`; the full run:
//! `cargo test -p authorizer --release --test load -- --ignored --nocapture`.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use authorizer::{AuthorizerEvent, Verdict};
use serde_json::json;
use support::*;

struct Case {
    event: AuthorizerEvent,
    allow: bool,
}

const CACHE_SIZE: usize = 1024;

/// `hot` repeated good tokens, `cold` distinct good tokens (more than the
/// cache holds), and a few kinds of bad ones, each as several event types.
fn cases(hot: usize, cold: usize) -> (Vec<Case>, Vec<Case>, Vec<Case>) {
    let sign = |i: usize| {
        TokenBuilder::access("weather-api/get weather-api/post")
            .claim("jti", json!(format!("load-{i}")))
            .claim("sub", json!(format!("client-{}", i % 50)))
            .sign()
    };
    let good = |token: &str, i: usize| -> Vec<Case> {
        let bearer = format!("Bearer {token}");
        vec![
            Case {
                event: token_event(&bearer, "GET", &format!("/events/{i}")),
                allow: true,
            },
            Case {
                event: request_event("Authorization", token, "POST", "/events", "/events"),
                allow: true,
            },
            Case {
                event: v2_event(Some(&bearer), "GET /events", "/events"),
                allow: true,
            },
            // Valid token, scope missing for this route.
            Case {
                event: token_event(token, "DELETE", &format!("/events/{i}")),
                allow: false,
            },
        ]
    };
    let hot_cases: Vec<Case> = (0..hot).flat_map(|i| good(&sign(i), i)).collect();
    let cold_cases: Vec<Case> = (0..cold).flat_map(|i| good(&sign(hot + i), i)).collect();
    let mut forged = sign(usize::MAX);
    forged.truncate(forged.len() - 6);
    forged.push_str("AAAAAA");
    let expired = TokenBuilder::access("weather-api/get")
        .claim("exp", json!(NOW as i64 - 5))
        .sign();
    let other = TokenBuilder::access("weather-api/get")
        .signed_with(other_key())
        .sign();
    let bad_cases = [forged, expired, other, "not-a-jwt".to_owned()]
        .iter()
        .flat_map(|t| {
            [
                Case {
                    event: token_event(t, "GET", "/events"),
                    allow: false,
                },
                Case {
                    event: v2_event(Some(t), "GET /events", "/events"),
                    allow: false,
                },
            ]
        })
        .collect();
    (hot_cases, cold_cases, bad_cases)
}

struct Report {
    decisions: usize,
    seconds: f64,
    rss_start_kib: u64,
    rss_max_kib: u64,
    rss_end_kib: u64,
}

fn run(decisions: usize, tasks: usize, cold: usize) -> Report {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (hot, cold, bad) = cases(100, cold);
    let authorizer = Arc::new(authorizer_at(
        NOW,
        &[("TOKEN_CACHE_SIZE", &CACHE_SIZE.to_string())],
    ));
    // Per 100 decisions: 75 repeated, 20 distinct (cycling through more tokens
    // than the cache holds), 5 bad.
    let hot = Arc::new(hot);
    let cold = Arc::new(cold);
    let bad = Arc::new(bad);
    let done = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));

    let drive = |count: usize, offset: usize| {
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let (authorizer, hot, cold, bad, done, errors) = (
                    authorizer.clone(),
                    hot.clone(),
                    cold.clone(),
                    bad.clone(),
                    done.clone(),
                    errors.clone(),
                );
                rt.spawn(async move {
                    let mine = count / tasks + usize::from(t < count % tasks);
                    for k in 0..mine {
                        let n = offset + t + k * tasks;
                        let case = match n % 100 {
                            0..75 => &hot[n.wrapping_mul(7919) % hot.len()],
                            75..95 => &cold[(n / 100 * 20 + n % 100 - 75) % cold.len()],
                            _ => &bad[n % bad.len()],
                        };
                        let outcome = authorizer.handle(&case.event).await;
                        let allowed = outcome.decision == Verdict::Allow && outcome.result.is_ok();
                        if allowed != case.allow || outcome.decision == Verdict::Error {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        handles
    };

    // Warm-up: fill the verified-token cache and the allocator's pools.
    let warm = (decisions / 10).max(cold.len() * 2);
    rt.block_on(async {
        for h in drive(warm, 0) {
            h.await.unwrap();
        }
    });
    let rss_start_kib = vm_rss_kib().unwrap_or(0);
    let mut rss_max_kib = rss_start_kib;
    done.store(0, Ordering::SeqCst);
    let started = Instant::now();
    let handles = drive(decisions, warm);
    // Sample memory while the load runs.
    let mut next_report = decisions / 10;
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let rss = vm_rss_kib().unwrap_or(0);
        rss_max_kib = rss_max_kib.max(rss);
        let d = done.load(Ordering::Relaxed);
        if d >= next_report {
            eprintln!("  {d:>9} decisions, VmRSS {rss} KiB");
            next_report += decisions / 10;
        }
    }
    rt.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    let rss_end_kib = vm_rss_kib().unwrap_or(0);
    rss_max_kib = rss_max_kib.max(rss_end_kib);
    assert_eq!(done.load(Ordering::SeqCst), decisions);
    assert_eq!(
        errors.load(Ordering::SeqCst),
        0,
        "decisions different from the expected ones"
    );
    Report {
        decisions,
        seconds,
        rss_start_kib,
        rss_max_kib,
        rss_end_kib,
    }
}

fn check(report: &Report, label: &str) {
    eprintln!(
        "{label}: {} decisions in {:.2} s ({:.0} decisions/s on this machine, {}), VmRSS after warm-up {} KiB, max {} KiB, end {} KiB",
        report.decisions,
        report.seconds,
        report.decisions as f64 / report.seconds,
        if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        },
        report.rss_start_kib,
        report.rss_max_kib,
        report.rss_end_kib,
    );
    // Flat memory: the caches are full after the warm-up; growth beyond a few
    // allocator pages would mean an unbounded structure.
    let growth = report.rss_max_kib.saturating_sub(report.rss_start_kib);
    assert!(
        growth < 16 * 1024,
        "resident memory grew by {growth} KiB under load"
    );
}

#[test]
fn quick_load_20k_decisions() {
    let report = run(20_000, 32, 1_100);
    check(&report, "quick load");
}

#[test]
#[ignore = "long: 1,000,000 decisions; run with --release --ignored"]
fn load_one_million_decisions() {
    let report = run(1_000_000, 256, 3_000);
    check(&report, "load");
}
