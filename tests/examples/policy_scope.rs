//! The trade-off of the authorizer's two caching modes, measured through the local
//! stack in one run (recorded in authorizer/README.md, "Route tables at scale"):
//! `POLICY_SCOPE=token` (the TOKEN authorizer, cached per token) against
//! `POLICY_SCOPE=route` (the REQUEST authorizer cached per token, method and resource
//! path), on the generated 300-route API of `tests/support/scale.rs`.
//!
//! The traffic, the same in both modes: CLIENTS tokens (default 10), each holding
//! the read and write scopes of two generated resources, each calling ROUTES
//! distinct routes its scopes allow (default 12), ROUNDS times over (default 3), all
//! within the cache TTL. Per mode: requests refused although the token's scopes allow
//! them (the policy's fail-closed corners, printed), authorizer invocations, the bytes of its answers' policies,
//! the authorizer process's CPU time (user + system, from /proc), and the wall time
//! per request at the client. The first request of each mode (a throwaway token)
//! starts the functions and is not counted.
//!
//! `cargo run -p local-stack --example policy_scope -- [CLIENTS] [ROUTES] [ROUNDS]`
//! (needs `cargo lambda` and moto on PATH: `.venv/bin` of `scripts/setup-tools`). The
//! functions run as the watcher serves them (the dev profile, built by the stack).

#[path = "../../authorizer/tests/support/generate.rs"]
mod generate;
#[path = "../tests/support/scale.rs"]
mod scale;

use std::time::{Duration, Instant};

use scale::{Api, PolicyScope, allowed, concrete, generated};

/// What one mode cost for the traffic.
struct Figures {
    requests: u64,
    refused: u64,
    invocations: u64,
    policy_bytes: u64,
    authorizer_cpu: Duration,
    wall: Duration,
}

/// User + system CPU time of the live process named `name` among the stack's.
async fn cpu_of(api: &Api, name: &str) -> Duration {
    let ticks = procfs::ticks_per_second() as f64;
    let mut total = 0.0;
    for p in api.stack.processes().await {
        if p.name == name
            && let Ok(stat) = procfs::process::Process::new(p.pid).and_then(|p| p.stat())
        {
            total += (stat.utime + stat.stime) as f64 / ticks;
        }
    }
    Duration::from_secs_f64(total)
}

/// Each client's scopes and the requests it makes: two resources' read and write
/// scopes, and the first `routes` routes (no `ANY` proxies) those scopes allow.
fn traffic(clients: usize, routes: usize) -> Vec<(String, Vec<(String, String)>)> {
    let table = generated();
    let mut resources: Vec<String> = table
        .iter()
        .filter_map(|(_, scopes)| scopes.first())
        .filter_map(|s| s.strip_prefix("api/"))
        .filter_map(|s| s.split_once('.').map(|(r, _)| r.to_owned()))
        .collect();
    resources.dedup();
    (0..clients)
        .map(|c| {
            let mine = [
                &resources[(2 * c) % resources.len()],
                &resources[(2 * c + 1) % resources.len()],
            ];
            let scopes: Vec<String> = mine
                .iter()
                .flat_map(|r| [format!("api/{r}.read"), format!("api/{r}.write")])
                .collect();
            let calls: Vec<(String, String)> = table
                .iter()
                .filter(|(key, s)| !key.starts_with("ANY ") && s.iter().any(|s| scopes.contains(s)))
                .take(routes)
                .map(|(key, _)| {
                    let (method, template) = key.split_once(' ').unwrap();
                    (method.to_owned(), concrete(template))
                })
                .collect();
            (scopes.join(" "), calls)
        })
        .collect()
}

async fn run(scope: PolicyScope, clients: usize, routes: usize, rounds: usize) -> Figures {
    let dir = std::env::temp_dir().join(format!("policy-scope-{scope:?}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let api = Api::start(&dir, scope).await;
    // Start the functions (a first invocation of each) outside the figures.
    let warm = api.token("weather-api/get");
    assert!(allowed(api.status("GET", "/events", Some(&warm)).await));

    let plan = traffic(clients, routes);
    let tokens: Vec<String> = plan.iter().map(|(scopes, _)| api.token(scopes)).collect();
    let gateway = &api.stack.gateway;
    let (calls, bytes) = (
        gateway.authorizer_invocations(),
        gateway.authorizer_policy_bytes(),
    );
    let cpu = cpu_of(&api, "authorizer").await;
    let start = Instant::now();
    let (mut requests, mut refused) = (0, 0);
    let mut refused_routes = Vec::new();
    for _ in 0..rounds {
        for ((_, calls), token) in plan.iter().zip(&tokens) {
            for (method, path) in calls {
                let s = api.status(method, path, Some(token)).await;
                if !allowed(s) {
                    refused += 1;
                    if !refused_routes.contains(&(method, path)) {
                        eprintln!("{scope:?}: {method} {path}: {s} although its scopes allow it");
                        refused_routes.push((method, path));
                    }
                }
                requests += 1;
            }
        }
    }
    let figures = Figures {
        requests,
        refused,
        invocations: gateway.authorizer_invocations() - calls,
        policy_bytes: gateway.authorizer_policy_bytes() - bytes,
        authorizer_cpu: cpu_of(&api, "authorizer").await.saturating_sub(cpu),
        wall: start.elapsed(),
    };
    api.stack.stop().await;
    std::fs::remove_dir_all(&dir).ok();
    figures
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .map_or(default, |a| a.parse().expect("a count"))
    };
    let (clients, routes, rounds) = (arg(1, 10), arg(2, 12), arg(3, 3));
    let token = run(PolicyScope::Token, clients, routes, rounds).await;
    let route = run(PolicyScope::Route, clients, routes, rounds).await;
    println!(
        "{clients} clients x {routes} routes x {rounds} rounds = {} requests per mode\n",
        token.requests
    );
    println!("| | POLICY_SCOPE=token | POLICY_SCOPE=route | route / token |");
    println!("|---|---|---|---|");
    let row = |name: &str, t: f64, r: f64, unit: &str| {
        println!("| {name} | {t:.1}{unit} | {r:.1}{unit} | {:.2}x |", r / t);
    };
    row(
        "requests refused although allowed",
        token.refused as f64,
        route.refused as f64,
        "",
    );
    row(
        "authorizer invocations",
        token.invocations as f64,
        route.invocations as f64,
        "",
    );
    row(
        "policy bytes per answer",
        token.policy_bytes as f64 / token.invocations as f64,
        route.policy_bytes as f64 / route.invocations as f64,
        " B",
    );
    row(
        "policy bytes in all",
        token.policy_bytes as f64,
        route.policy_bytes as f64,
        " B",
    );
    row(
        "authorizer CPU in all",
        token.authorizer_cpu.as_secs_f64() * 1e3,
        route.authorizer_cpu.as_secs_f64() * 1e3,
        " ms",
    );
    row(
        "wall time per request",
        token.wall.as_secs_f64() * 1e3 / token.requests as f64,
        route.wall.as_secs_f64() * 1e3 / route.requests as f64,
        " ms",
    );
}
