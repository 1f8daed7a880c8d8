//! Differential test against AWS's own verifier, `aws-jwt-verify`.
//!
//! `hardening/differential/cases.mjs` generates thousands of tokens across
//! 20+ kinds of mutation, signs them with the TEST-ONLY key and records the
//! verdict of `CognitoJwtVerifier` (userPoolId `us-east-1_TestPool1`,
//! clientId `testclient123`, tokenUse `access` with `scope` any of
//! `weather-api/get weather-api/admin`, or tokenUse `id`) at a fixed clock.
//! This test decides the same tokens with this authorizer under the same
//! configuration and clock (the `GET /events` route takes those two scopes,
//! `GET /me` takes ID tokens) and fails on any disagreement that is not in
//! [`DELIBERATE`], the short list of deliberate differences (each with its
//! reason; also in docs/RELIABILITY.md).
//!
//! Needs Node 20 and the packages of hardening/differential: run
//! `scripts/differential` (npm ci, then this test).

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use authorizer::{Authorizer, Verdict};
use serde::Deserialize;
use support::*;

/// One deliberate difference: what each side answers and why.
struct Deliberate {
    id: &'static str,
    aws_allows: bool,
    we_allow: bool,
    why: &'static str,
}

/// The documented deliberate differences. A case tagged with one of them must
/// show exactly this pair of verdicts; every other case must agree.
const DELIBERATE: &[Deliberate] = &[
    Deliberate {
        id: "bearer-prefix",
        aws_allows: false,
        we_allow: true,
        why: "the authorizer reads the Authorization header itself, so it accepts `Bearer <jwt>` (scheme in any case, RFC 6750) and surrounding spaces; aws-jwt-verify takes the bare JWT only",
    },
    Deliberate {
        id: "exp-equals-now",
        aws_allows: true,
        we_allow: false,
        why: "RFC 7519 4.1.4: the token must not be accepted on or after exp; aws-jwt-verify rejects only when exp < now",
    },
    Deliberate {
        id: "exp-required",
        aws_allows: true,
        we_allow: false,
        why: "a token without exp would never expire; Cognito always sets it, aws-jwt-verify checks it only when present",
    },
    Deliberate {
        id: "rs256-only",
        aws_allows: true,
        we_allow: false,
        why: "Cognito signs with RS256 only and the authorizer binds the alg to the RSA key; with a JWK that omits `alg`, aws-jwt-verify accepts RS384/RS512 by the pool key and even an RS256 signature labelled ES256",
    },
    Deliberate {
        id: "base64url-padding",
        aws_allows: true,
        we_allow: false,
        why: "RFC 7515 2: base64url without padding; aws-jwt-verify allows up to two `=` per segment",
    },
    Deliberate {
        id: "non-canonical-base64",
        aws_allows: true,
        we_allow: false,
        why: "strict base64url decoding rejects non-zero trailing bits, so one token has exactly one spelling (Node's decoder ignores them)",
    },
    Deliberate {
        id: "token-size-limit",
        aws_allows: true,
        we_allow: false,
        why: "tokens over 16 KiB are rejected before decoding (bounded work per request); aws-jwt-verify has no limit",
    },
    Deliberate {
        id: "deep-nesting-in-unknown-claims",
        aws_allows: false,
        we_allow: true,
        why: "not a choice of ours: aws-jwt-verify's JSON.parse reviver runs out of stack on a claim nested ~4,000 deep (RangeError); the authorizer skips unknown claims without recursing (the size limit bounds the work) and decides on the claims it reads",
    },
    Deliberate {
        id: "duplicate-json-keys",
        aws_allows: true,
        we_allow: false,
        why: "a header or payload naming a known field twice is ambiguous (RFC 7515 5.2 / RFC 7519 4: reject or last wins); JSON.parse takes the last, the authorizer rejects",
    },
    Deliberate {
        id: "strict-utf8",
        aws_allows: true,
        we_allow: false,
        why: "invalid UTF-8 or a lone surrogate escape in a claim the authorizer reads (sub, scope, ...) is rejected; Node replaces it with U+FFFD (unknown claims are skipped unread on both sides)",
    },
    Deliberate {
        id: "crit-header",
        aws_allows: true,
        we_allow: false,
        why: "RFC 7515 4.1.11: a `crit` extension the verifier does not understand must be rejected; aws-jwt-verify ignores `crit`",
    },
    Deliberate {
        id: "typed-context-claims",
        aws_allows: true,
        we_allow: false,
        why: "the authorizer forwards username, cognito:username and cognito:groups to the backend and types them (and auth_time) strictly; aws-jwt-verify does not check them",
    },
    Deliberate {
        id: "aud-ignored-on-access-tokens",
        aws_allows: false,
        we_allow: true,
        why: "Cognito access tokens carry no aud; the authorizer ignores it on access tokens (it never reads it there), aws-jwt-verify type-checks it on every token",
    },
];

#[derive(Deserialize)]
struct Cases {
    now: f64,
    aws_jwt_verify: String,
    kinds: usize,
    jwks_without_alg: serde_json::Value,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    kind: String,
    name: String,
    profile: String,
    token: String,
    deliberate: Option<String>,
    aws_allow: bool,
    aws_error: Option<String>,
}

#[derive(Default)]
struct Tally {
    tokens: usize,
    aws_allowed: usize,
    we_allowed: usize,
    deliberate: usize,
}

fn differential_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("hardening")
        .join("differential")
}

fn generate() -> Cases {
    let dir = differential_dir();
    assert!(
        dir.join("node_modules").join("aws-jwt-verify").is_dir(),
        "aws-jwt-verify not installed: run scripts/differential (npm ci in {})",
        dir.display()
    );
    let out = std::env::temp_dir().join(format!("differential-cases-{}.json", std::process::id()));
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".into());
    let status = Command::new(node)
        .arg(dir.join("cases.mjs"))
        .arg(&out)
        .status()
        .expect("run node (Node 20 must be on PATH, or set NODE)");
    assert!(status.success(), "cases.mjs failed: {status}");
    let cases = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let _ = std::fs::remove_file(&out);
    cases
}

#[test]
#[ignore = "needs Node 20 and `npm ci` in hardening/differential: run scripts/differential"]
fn same_verdicts_as_aws_jwt_verify() {
    let cases = generate();
    let routes = r#"{"GET /events": ["weather-api/get", "weather-api/admin"], "GET /me": []}"#;
    let now = cases.now;
    let clock = move || now;
    let settings = [("ROUTE_SCOPES", routes), ("APP_CLIENT_IDS", CLIENT)];
    let ours = Authorizer::new(config(&settings), clock).unwrap();
    // The same key published without "alg", for the profile that shows what binds alg to key.
    let no_alg_file = std::env::temp_dir().join(format!("jwks-no-alg-{}.json", std::process::id()));
    std::fs::write(&no_alg_file, cases.jwks_without_alg.to_string()).unwrap();
    let no_alg_path = no_alg_file.display().to_string();
    let mut no_alg_settings = settings.to_vec();
    no_alg_settings.push(("JWKS_FILE", no_alg_path.as_str()));
    let ours_no_alg = Authorizer::new(config(&no_alg_settings), clock).unwrap();
    let _ = std::fs::remove_file(&no_alg_file);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut tally: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut exercised: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    for case in &cases.cases {
        let (authorizer, path) = match case.profile.as_str() {
            "access" => (&ours, "/events"),
            "access-jwk-without-alg" => (&ours_no_alg, "/events"),
            "id" => (&ours, "/me"),
            other => panic!("unknown profile {other}"),
        };
        let event = token_event(&case.token, "GET", path);
        let outcome = rt.block_on(authorizer.handle(&event));
        let we_allow = outcome.result.is_ok() && outcome.decision == Verdict::Allow;
        let our_reason = outcome.reason.unwrap_or("allowed");

        let t = tally.entry(case.kind.as_str()).or_default();
        t.tokens += 1;
        t.aws_allowed += usize::from(case.aws_allow);
        t.we_allowed += usize::from(we_allow);
        let expected = match &case.deliberate {
            None => Ok(case.aws_allow),
            Some(id) => match DELIBERATE.iter().find(|d| d.id == id) {
                None => Err(format!("tagged with undocumented difference {id:?}")),
                Some(d) => {
                    *exercised.entry(d.id).or_default() += 1;
                    t.deliberate += 1;
                    if case.aws_allow == d.aws_allows {
                        Ok(d.we_allow)
                    } else {
                        Err(format!(
                            "documented as {id:?} but aws-jwt-verify now says allow={}",
                            case.aws_allow
                        ))
                    }
                }
            },
        };
        match expected {
            Ok(want) if want == we_allow => {}
            Ok(want) => *failures.entry(format!(
                "{}/{} ({}): aws-jwt-verify allow={} ({}), authorizer allow={} ({our_reason}), expected authorizer allow={want}",
                case.kind,
                case.name,
                case.profile,
                case.aws_allow,
                case.aws_error.as_deref().unwrap_or("-"),
                we_allow,
            )).or_default() += 1,
            Err(why) => *failures.entry(format!("{}/{}: {why}", case.kind, case.name)).or_default() += 1,
        }
    }

    eprintln!(
        "differential vs aws-jwt-verify {}: {} tokens, {} kinds",
        cases.aws_jwt_verify,
        cases.cases.len(),
        cases.kinds
    );
    eprintln!(
        "{:<18} {:>6} {:>10} {:>10} {:>10}",
        "kind", "tokens", "aws allow", "we allow", "deliberate"
    );
    for (kind, t) in &tally {
        eprintln!(
            "{kind:<18} {:>6} {:>10} {:>10} {:>10}",
            t.tokens, t.aws_allowed, t.we_allowed, t.deliberate
        );
    }
    let disagreements: usize = failures.values().sum();
    eprintln!("disagreements outside the documented list: {disagreements}");
    assert!(
        failures.is_empty(),
        "{disagreements} undocumented disagreements:\n{}",
        failures
            .iter()
            .map(|(f, n)| format!("{n} x {f}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(cases.cases.len() >= 2000, "too few tokens");
    assert!(tally.len() >= 20, "too few kinds of mutation");
    let both_allowed = cases
        .cases
        .iter()
        .filter(|c| c.aws_allow && c.deliberate.is_none())
        .count();
    assert!(
        both_allowed > 200,
        "the valid baseline must be large, not only rejections"
    );
    for d in DELIBERATE {
        assert!(
            exercised.contains_key(d.id),
            "deliberate difference {:?} no longer exercised: drop it from the list ({})",
            d.id,
            d.why
        );
    }
}
