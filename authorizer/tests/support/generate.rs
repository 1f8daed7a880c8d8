#![allow(unreachable_pub, dead_code)] // shared by several test crates and the bench, each using a part

//! A realistic generated route table for the scale tests and benches: nested
//! resources (collection, item, sub-collections, sub-items, actions), `{param}`
//! segments, some `ANY .../{proxy+}`, a static route beside a `{param}`, some
//! routes that take an ID token, and scopes per resource and method
//! (`api/<resource>.read`, `.write`, `.admin`, `.files`, `.approve`). Deterministic.

use serde_json::{Map, Value};

const NAMES: [&str; 12] = [
    "accounts", "orders", "invoices", "users", "teams", "projects", "reports", "devices", "sites",
    "stations", "alerts", "payments",
];
const SUBS: [&str; 3] = ["items", "notes", "members"];

/// One generated route: `METHOD /template` and its scopes.
pub type GenRoute = (String, Vec<String>);

/// The first `n` routes of the generated API.
pub fn routes(n: usize) -> Vec<GenRoute> {
    let mut out: Vec<GenRoute> = Vec::new();
    let mut r = 0usize;
    while out.len() < n {
        let name = if r < NAMES.len() {
            NAMES[r].to_owned()
        } else {
            format!("{}{}", NAMES[r % NAMES.len()], r / NAMES.len())
        };
        let scope = |s: &str| format!("api/{name}.{s}");
        let (read, write, admin) = (scope("read"), scope("write"), scope("admin"));
        let id = format!("{{{}Id}}", &name[..3]);
        let mut add = |method: &str, path: String, scopes: &[&String]| {
            out.push((
                format!("{method} {path}"),
                scopes.iter().map(|s| (*s).clone()).collect(),
            ));
        };
        add("GET", format!("/{name}"), &[&read, &admin]);
        add("POST", format!("/{name}"), &[&write, &admin]);
        add("GET", format!("/{name}/{id}"), &[&read, &admin]);
        add("PUT", format!("/{name}/{id}"), &[&write, &admin]);
        add("PATCH", format!("/{name}/{id}"), &[&write]);
        add("DELETE", format!("/{name}/{id}"), &[&admin]);
        if r.is_multiple_of(4) {
            // A static segment beside {param}: API Gateway prefers it.
            add("GET", format!("/{name}/search"), &[&read]);
        }
        for (k, sub) in SUBS.iter().enumerate().take(1 + r % 3) {
            let sid = format!("{{{}Id}}", &sub[..3]);
            add("GET", format!("/{name}/{id}/{sub}"), &[&read]);
            add("POST", format!("/{name}/{id}/{sub}"), &[&write]);
            add("GET", format!("/{name}/{id}/{sub}/{sid}"), &[&read]);
            add("DELETE", format!("/{name}/{id}/{sub}/{sid}"), &[&admin]);
            if k == 0 {
                let approve = scope("approve");
                add(
                    "POST",
                    format!("/{name}/{id}/{sub}/{sid}/approve"),
                    &[&approve],
                );
            }
        }
        if r.is_multiple_of(3) {
            let files = scope("files");
            add("ANY", format!("/{name}/{id}/files/{{proxy+}}"), &[&files]);
            // More specific than the proxy, with other scopes.
            add("GET", format!("/{name}/{id}/files/index"), &[&read]);
        }
        if r.is_multiple_of(7) {
            add("GET", format!("/{name}/{id}/me"), &[]);
        }
        r += 1;
    }
    out.truncate(n);
    out
}

/// The `ROUTE_SCOPES` JSON of [`routes`].
pub fn json(n: usize) -> String {
    let map: Map<String, Value> = routes(n)
        .into_iter()
        .map(|(k, s)| (k, Value::from(s)))
        .collect();
    Value::Object(map).to_string()
}

/// Concrete requests `(method, path, template)` for every route: its template
/// with values for the parameters (one and three segments for a proxy), and
/// probes API Gateway would route elsewhere or nowhere (an extra segment, a
/// trailing slash, another method).
pub fn requests(routes: &[GenRoute]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, _) in routes {
        let (method, template) = key.split_once(' ').unwrap();
        let concrete = |proxy: &str| {
            template
                .split('/')
                .map(|s| {
                    if s == "{proxy+}" {
                        proxy.to_owned()
                    } else if s.starts_with('{') {
                        "v7".to_owned()
                    } else {
                        s.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/")
        };
        let methods: &[&str] = if method == "ANY" {
            &["GET", "DELETE"]
        } else {
            &[method]
        };
        for m in methods {
            out.push((m.to_string(), concrete("a")));
            if template.contains("{proxy+}") {
                out.push((m.to_string(), concrete("a/index/x")));
                out.push((m.to_string(), concrete("index")));
            } else {
                out.push((m.to_string(), format!("{}/extra", concrete(""))));
                out.push((m.to_string(), format!("{}/", concrete(""))));
            }
        }
        out.push(("PUT".to_owned(), concrete("a")));
    }
    out.sort();
    out.dedup();
    out
}

/// Requests spliced from two routes of the same top-level resource: a prefix
/// of one route's concrete segments and a suffix of another's, at every cut,
/// and each route with one parameter spelled as a static word of its
/// resource, with and without a trailing slash, for each route's method (`GET` and
/// `DELETE` for `ANY`). They include the strings an allowed IAM pattern's `*`
/// matches by spanning several segments into another route (`/orders/v7/files/
/// m/files/index` for `GET/orders/*/files/index`, a request of `ANY
/// /orders/{ordId}/files/{proxy+}`).
pub fn splices(routes: &[GenRoute]) -> Vec<(String, String)> {
    let concrete = |template: &str| -> Vec<String> {
        template
            .trim_start_matches('/')
            .split('/')
            .map(|s| {
                if s == "{proxy+}" {
                    "g".to_owned()
                } else if s.starts_with('{') {
                    "v7".to_owned()
                } else {
                    s.to_owned()
                }
            })
            .collect()
    };
    // Method, concrete segments, and which of them are parameters.
    let parsed: Vec<(&str, Vec<String>, Vec<usize>)> = routes
        .iter()
        .map(|(key, _)| {
            let (method, template) = key.split_once(' ').unwrap();
            let params = (template.trim_start_matches('/').split('/').enumerate())
                .filter(|(_, s)| s.starts_with('{'))
                .map(|(i, _)| i)
                .collect();
            (method, concrete(template), params)
        })
        .collect();
    let mut out = Vec::new();
    for (method, a, params) in &parsed {
        let methods: &[&str] = if *method == "ANY" {
            &["GET", "DELETE"]
        } else {
            std::slice::from_ref(method)
        };
        let mut push = |path: String| {
            for m in methods {
                out.push((m.to_string(), format!("{path}/")));
                out.push((m.to_string(), path.clone()));
            }
        };
        // The route with one parameter spelled as a static word of its resource.
        let words: std::collections::BTreeSet<&String> = parsed
            .iter()
            .filter(|(_, b, _)| b[0] == a[0])
            .flat_map(|(_, b, ps)| b.iter().enumerate().filter(|(i, _)| !ps.contains(i)))
            .map(|(_, w)| w)
            .collect();
        for &i in params {
            for w in &words {
                let mut c = a.clone();
                c[i] = (*w).clone();
                push(format!("/{}", c.join("/")));
            }
        }
        for (_, b, _) in parsed.iter().filter(|(_, b, _)| b[0] == a[0]) {
            for i in 1..=a.len() {
                for j in 1..b.len() {
                    push(format!("/{}/{}", a[..i].join("/"), b[j..].join("/")));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A small deterministic generator (an LCG), for picking scope sets.
pub struct Lcg(pub u64);

impl Lcg {
    /// The next number below `bound`.
    pub fn below(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % bound.max(1)
    }
}

/// Scope claims to try on a generated table: none, each of a sample of single
/// scopes, a resource's read+write, every read scope, everything, and random
/// combinations of two to twelve scopes.
pub fn scope_claims(routes: &[GenRoute], samples: usize) -> Vec<String> {
    let mut all: Vec<String> = routes.iter().flat_map(|(_, s)| s.clone()).collect();
    all.sort();
    all.dedup();
    let mut rng = Lcg(0x5ca1e);
    let mut out = vec![String::new(), all.join(" ")];
    out.push(
        all.iter()
            .filter(|s| s.ends_with(".read"))
            .cloned()
            .collect::<Vec<_>>()
            .join(" "),
    );
    out.push("api/orders.read api/orders.write".to_owned());
    for _ in 0..samples {
        out.push(all[rng.below(all.len())].clone());
    }
    for _ in 0..samples {
        let k = 2 + rng.below(11);
        let pick: Vec<&str> = (0..k).map(|_| all[rng.below(all.len())].as_str()).collect();
        out.push(pick.join(" "));
    }
    out
}
