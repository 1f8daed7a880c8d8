//! End to end at scale: the local API Gateway, the real authorizer under `cargo lambda
//! watch` and weather-api, with the weather API plus a generated API of 296 more routes
//! (300 in all; `support/scale.rs`), the table in a `ROUTE_SCOPES_FILE` the authorizer
//! reads at init, with either of the template's authorizers. Its own binary, so the
//! shared harness of `local_stack_e2e.rs` stays as it is.
//!
//! Shows, through real HTTP:
//! - `POLICY_SCOPE=token` (the TOKEN authorizer): a token's one cached policy (one
//!   authorizer invocation) opens exactly the routes its scopes allow across the large
//!   table; a token allowed every route gets the 8 KiB-bounded answer narrowed to its
//!   first request (its other routes refused while cached), as `authorizer/README.md`
//!   documents.
//! - `POLICY_SCOPE=route` (the REQUEST authorizer cached by token, method and resource
//!   path): that same every-scope token reaches every route, one invocation per route
//!   and method, each answer one small ARN; the answer cached for `GET /res/{id}` is
//!   not applied to a refused `ANY /res/{id}/files/{proxy+}` request.

#[path = "../../authorizer/tests/support/generate.rs"]
mod generate;
mod support {
    pub mod scale;
}

use reqwest::StatusCode;
use support::scale::{Api, PolicyScope, allowed, concrete, every_scope, generated};

/// One stack at a time: each runs a watcher, moto and every function.
static ONE_STACK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("scale-e2e-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_route_api_behind_the_local_gateway() {
    let dir = scratch("token");
    let _one = ONE_STACK.lock().await;
    let api = Api::start(&dir, PolicyScope::Token).await;

    // One token, one policy for the whole table: weather reads and orders reads.
    let reader = api.token("weather-api/get api/orders.read");
    let reader = Some(reader.as_str());
    let before = api.stack.gateway.authorizer_invocations();
    assert_eq!(api.status("GET", "/events", reader).await, StatusCode::OK);
    for (method, path) in [
        ("GET", "/orders"),
        ("GET", "/orders/v7"),
        ("GET", "/orders/v7/items/v9"),
    ] {
        let s = api.status(method, path, reader).await;
        assert!(allowed(s), "{method} {path}: {s}");
    }
    for (method, path) in [
        ("DELETE", "/orders/v7"),
        ("POST", "/orders"),
        ("GET", "/accounts/v7"),
        ("DELETE", "/events/1"),
    ] {
        let s = api.status(method, path, reader).await;
        assert_eq!(
            s,
            StatusCode::FORBIDDEN,
            "{method} {path}: refused by the cached policy"
        );
    }
    assert_eq!(
        api.stack.gateway.authorizer_invocations() - before,
        1,
        "one authorizer answer, cached, decided every request"
    );

    // Every scope of the generated API: the full policy would exceed 8 KiB, so the
    // answer is narrowed to the first request, and cached as such.
    let everything = api.token(&every_scope().join(" "));
    let everything = Some(everything.as_str());
    let s = api.status("GET", "/accounts/v7", everything).await;
    assert!(allowed(s), "the first request: {s}");
    assert_eq!(
        api.status("GET", "/orders/v7", everything).await,
        StatusCode::FORBIDDEN,
        "narrowed: the token's other routes wait for the cache to expire"
    );
    // Without scopes for a generated route: refused by the authorizer itself.
    let none = api.token("weather-api/get");
    assert_eq!(
        api.status("GET", "/orders/v7", Some(&none)).await,
        StatusCode::UNAUTHORIZED
    );

    api.stack.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_route_api_with_per_route_answers() {
    let dir = scratch("route");
    let _one = ONE_STACK.lock().await;
    let api = Api::start(&dir, PolicyScope::Route).await;
    let gateway = &api.stack.gateway;

    // The token allowed everything reaches every route (no narrowing): one
    // invocation per route and method, each answer a policy of one ARN.
    let everything = api.token(&every_scope().join(" "));
    let everything = Some(everything.as_str());
    let routes: Vec<(String, String)> = generated()
        .iter()
        .filter(|(key, _)| !key.starts_with("ANY "))
        .step_by(7)
        .map(|(key, _)| {
            let (method, template) = key.split_once(' ').unwrap();
            (method.to_owned(), concrete(template))
        })
        .collect();
    assert!(routes.len() > 30, "{}", routes.len());
    let (calls, bytes) = (
        gateway.authorizer_invocations(),
        gateway.authorizer_policy_bytes(),
    );
    for (method, path) in &routes {
        let s = api.status(method, path, everything).await;
        assert!(allowed(s), "{method} {path}: {s}");
    }
    let invoked = gateway.authorizer_invocations() - calls;
    assert_eq!(invoked, routes.len() as u64, "one invocation per route");
    let per_answer = (gateway.authorizer_policy_bytes() - bytes) / invoked;
    assert!(per_answer < 512, "{per_answer} policy bytes per answer");

    // The same routes again, other parameter values: every answer from the cache.
    let calls = gateway.authorizer_invocations();
    for (method, path) in &routes {
        let path = path.replace("v7", "v8");
        let s = api.status(method, &path, everything).await;
        assert!(allowed(s), "{method} {path}: {s}");
    }
    assert_eq!(gateway.authorizer_invocations(), calls, "all cached");

    // A cached answer for one route is not applied to another of the same method:
    // `GET/res/*`, cached for `GET /res/{id}`, would match a refused proxy route
    // below it if the cache key lacked the resource path.
    let proxy = generated()
        .into_iter()
        .find(|(key, _)| key.starts_with("ANY ") && key.ends_with("/files/{proxy+}"))
        .expect("a files proxy");
    let resource = proxy.0.split('/').nth(1).unwrap().to_owned();
    let reader = api.token(&format!("api/{resource}.read"));
    let reader = Some(reader.as_str());
    let calls = gateway.authorizer_invocations();
    let item = format!("/{resource}/v7");
    assert!(
        allowed(api.status("GET", &item, reader).await),
        "GET {item}"
    );
    assert!(
        allowed(api.status("GET", &item, reader).await),
        "GET {item}, cached"
    );
    assert_eq!(gateway.authorizer_invocations(), calls + 1);
    let nested = format!("/{resource}/v7/files/a/b");
    assert_eq!(
        api.status("GET", &nested, reader).await,
        StatusCode::UNAUTHORIZED,
        "GET {nested}: its own answer, not the cached one of GET {item}"
    );
    assert_eq!(gateway.authorizer_invocations(), calls + 2);

    // A reader: allowed where its scopes allow; elsewhere the authorizer refuses the
    // route itself (401).
    let reader = api.token("weather-api/get api/orders.read");
    let reader = Some(reader.as_str());
    assert_eq!(api.status("GET", "/events", reader).await, StatusCode::OK);
    for (method, path) in [("GET", "/orders/v7"), ("GET", "/orders/v7/items/v9")] {
        let s = api.status(method, path, reader).await;
        assert!(allowed(s), "{method} {path}: {s}");
    }
    for (method, path) in [
        ("DELETE", "/orders/v7"),
        ("PUT", "/orders/v7"),
        ("POST", "/orders"),
        ("GET", "/accounts/v7"),
        ("DELETE", "/events/1"),
    ] {
        assert_eq!(
            api.status(method, path, reader).await,
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }

    // No token: refused by the gateway without invoking.
    let calls = gateway.authorizer_invocations();
    assert_eq!(
        api.status("GET", "/orders/v7", None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(gateway.authorizer_invocations(), calls);

    api.stack.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}
