//! `cargo bench -p authorizer`: (a) the bare RS256 verify of the test token,
//! (b) a full decision for a first-seen token, (c) for a repeated token, and
//! the same two from JSON bytes in to JSON bytes out; then, on generated
//! tables of 4, 100 and 1,000 routes (`support::generate`), first-seen and
//! repeated-token decisions, a repeated token with `POLICY_SCOPE=route`, and
//! planning a new scope set. Ratios go in the README.

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;

use authorizer::{Authorizer, AuthorizerEvent, PolicyPlan, RouteTable};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey};
use support::*;

fn decoding_key() -> DecodingKey {
    let set: serde_json::Value = serde_json::from_str(&jwks_body("keys/test-jwks.json")).unwrap();
    let k = &set["keys"][0];
    DecodingKey::from_rsa_components(k["n"].as_str().unwrap(), k["e"].as_str().unwrap()).unwrap()
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let token = TokenBuilder::access("weather-api/get weather-api/post").sign();
    let (input, signature) = token.rsplit_once('.').unwrap();
    let key = decoding_key();
    assert!(
        jsonwebtoken::crypto::verify(signature, input.as_bytes(), &key, Algorithm::RS256).unwrap()
    );

    let mut group = c.benchmark_group("authorizer");
    group.bench_function("a_bare_rs256_verify", |b| {
        b.iter(|| {
            jsonwebtoken::crypto::verify(
                black_box(signature),
                black_box(input.as_bytes()),
                &key,
                Algorithm::RS256,
            )
        })
    });

    // First-seen: 64 distinct tokens in turn through a one-entry cache, so
    // every decision verifies the signature (and pays the cache insert).
    let fresh: Vec<AuthorizerEvent> = (0..64)
        .map(|i| {
            let t = TokenBuilder::access("weather-api/get weather-api/post")
                .claim("jti", serde_json::json!(format!("bench-{i}")))
                .sign();
            token_event(&format!("Bearer {t}"), "GET", "/events")
        })
        .collect();
    let first_seen: Authorizer<_> = authorizer_at(NOW, &[("TOKEN_CACHE_SIZE", "1")]);
    let mut i = 0;
    group.bench_function("b_decision_first_seen_token", |b| {
        b.iter(|| {
            i = (i + 1) % fresh.len();
            let outcome = rt.block_on(first_seen.handle(black_box(&fresh[i])));
            assert!(outcome.result.is_ok());
            outcome
        })
    });

    let repeated_event = token_event(&format!("Bearer {token}"), "GET", "/events");
    let repeated = authorizer_at(NOW, &[]);
    group.bench_function("c_decision_repeated_token", |b| {
        b.iter(|| {
            let outcome = rt.block_on(repeated.handle(black_box(&repeated_event)));
            assert!(outcome.result.is_ok());
            outcome
        })
    });

    // The same, from the invocation's JSON bytes to the answer's JSON bytes.
    let bytes = serde_json::to_vec(&serde_json::json!({
        "type": "TOKEN", "authorizationToken": format!("Bearer {token}"),
        "methodArn": format!("{METHOD_ARN_BASE}/GET/events"),
    }))
    .unwrap();
    group.bench_function("d_invocation_json_repeated_token", |b| {
        b.iter(|| {
            let event: AuthorizerEvent = serde_json::from_slice(black_box(&bytes)).unwrap();
            let outcome = rt.block_on(repeated.handle(&event));
            serde_json::to_vec(&outcome.result.unwrap()).unwrap()
        })
    });
    group.finish();
    scale(c, &rt);
}

fn scale(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let scope = "api/accounts.read api/accounts.write";
    let mut group = c.benchmark_group("scale");
    for n in [4, 100, 1000] {
        let json = support::generate::json(n);
        let fresh: Vec<AuthorizerEvent> = (0..64)
            .map(|i| {
                let t = TokenBuilder::access(scope)
                    .claim("jti", serde_json::json!(format!("scale-{i}")))
                    .sign();
                token_event(&format!("Bearer {t}"), "GET", "/accounts/v7")
            })
            .collect();
        let first_seen = authorizer_at(NOW, &[("ROUTE_SCOPES", &json), ("TOKEN_CACHE_SIZE", "1")]);
        let mut i = 0;
        group.bench_function(format!("first_seen_{n}_routes"), |b| {
            b.iter(|| {
                i = (i + 1) % fresh.len();
                let outcome = rt.block_on(first_seen.handle(black_box(&fresh[i])));
                assert!(outcome.result.is_ok());
                outcome
            })
        });
        let repeated = authorizer_at(NOW, &[("ROUTE_SCOPES", &json)]);
        let event = &fresh[0];
        group.bench_function(format!("repeated_{n}_routes"), |b| {
            b.iter(|| {
                let outcome = rt.block_on(repeated.handle(black_box(event)));
                assert!(outcome.result.is_ok());
                outcome
            })
        });
        let token = TokenBuilder::access(scope).sign();
        let request = request_event(
            "Authorization",
            &format!("Bearer {token}"),
            "GET",
            "/accounts/{accId}",
            "/accounts/v7",
        );
        let per_route = authorizer_at(NOW, &[("ROUTE_SCOPES", &json), ("POLICY_SCOPE", "route")]);
        group.bench_function(format!("repeated_route_mode_{n}_routes"), |b| {
            b.iter(|| {
                let outcome = rt.block_on(per_route.handle(black_box(&request)));
                assert!(outcome.result.is_ok());
                outcome
            })
        });
        let table = RouteTable::from_json(&json).unwrap();
        group.bench_function(format!("plan_new_scope_set_{n}_routes"), |b| {
            b.iter(|| PolicyPlan::for_table(black_box(&table), |r| r.scopes.any_granted_by(scope)))
        });
    }
    group.finish();
}

criterion_group!(name = decision; config = Criterion::default().sample_size(50); targets = benches);
criterion_main!(decision);
