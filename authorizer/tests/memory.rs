//! Memory under a flood of distinct valid tokens, each signed with the test key
//! and never seen before, each verified and cached. The verified-token cache
//! holds `TOKEN_CACHE_SIZE` (1,024) of them, the plan cache one plan (they
//! share their scopes): resident memory at the end must be what it was after
//! the warm-up, give or take allocator noise. An unbounded cache would keep
//! about 1.5 KB per token (135 MB more for the 90,000 after the 10,000 of the
//! warm-up); the bound allows 4 MB of allocator noise.
//!
//! 100,000 tokens, about 100 times the cache: 100,000 RS256 signatures and
//! verifications, under a minute on two cores because aws-lc is optimised in
//! test builds too (the root `Cargo.toml`). `--nocapture` prints the figures.
//! Its own test binary, so no other test's allocations land in the figure.

mod support;

use serde_json::json;
use support::*;

/// `count` distinct tokens from `start`, signed on every core.
fn tokens(start: usize, count: usize) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = count.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let from = start + t * per;
                    let to = (from + per).min(start + count);
                    (from..to)
                        .map(|i| {
                            let t = TokenBuilder::access("weather-api/get")
                                .claim("jti", json!(format!("flood-{i}")))
                                .claim("sub", json!(format!("client-{i}")))
                                .sign();
                            format!("Bearer {t}")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

#[test]
fn resident_memory_flat_after_100_000_distinct_valid_tokens() {
    flood(100_000, 5_000, 10_000);
}

/// `TOTAL` distinct tokens in batches; RSS after `warm` tokens against the largest after.
fn flood(total: usize, batch: usize, warm: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let a = authorizer_at(NOW, &[("TOKEN_CACHE_SIZE", "1024")]);
    let mut rss_after_warm_up = 0;
    let mut rss_max = 0;
    for n in 0..total / batch {
        for (i, token) in tokens(n * batch, batch).iter().enumerate() {
            let event = token_event(token, "GET", &format!("/events/{i}"));
            let outcome = rt.block_on(a.handle(&event));
            assert_eq!(
                outcome.decision,
                authorizer::Verdict::Allow,
                "{:?}",
                outcome.reason
            );
        }
        let rss = vm_rss_kib().expect("VmRSS in /proc/self/status");
        if (n + 1) * batch <= warm {
            rss_after_warm_up = rss;
        } else {
            rss_max = rss_max.max(rss);
        }
        eprintln!("{:>7} distinct tokens: VmRSS {rss} KiB", (n + 1) * batch);
    }
    let growth = rss_max.saturating_sub(rss_after_warm_up);
    assert!(
        growth < 4 * 1024,
        "resident memory grew {growth} KiB from {warm} to {total} distinct tokens \
         (from {rss_after_warm_up} KiB): the verified-token cache is not bounded"
    );
}
