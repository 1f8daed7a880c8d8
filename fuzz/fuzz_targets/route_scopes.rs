//! `ROUTE_SCOPES` parsing and route matching: any string as the setting ->
//! `RouteTable::from_json` and `Config::from_lookup` (errors name the
//! setting); a table that parses must find each of its own routes by template,
//! round-trip its keys, and answer path lookups without panicking.
#![no_main]

use authorizer::{Config, Method, RouteKey, RouteTable};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    let config = Config::from_lookup(|name| match name {
        "USER_POOL_ID" => Some("us-east-1_TestPool1".to_owned()),
        "ROUTE_SCOPES" => Some(json.to_owned()),
        _ => None,
    });
    let table = RouteTable::from_json(json);
    match (&config, &table) {
        (Err(e), Err(_)) => assert_eq!(e.var, "ROUTE_SCOPES"),
        (Ok(_), Ok(_)) => {}
        (Err(e), Ok(_)) if json.trim().is_empty() => assert_eq!(e.var, "ROUTE_SCOPES"),
        _ => panic!("Config and RouteTable disagree on {json:?}"),
    }
    let Ok(table) = table else {
        return;
    };
    for route in table.routes() {
        let key = route.key.to_string();
        let again = RouteKey::parse(&key).expect("a parsed key re-parses");
        assert_eq!(again.to_string(), key);
        let (_, template) = key.split_once(' ').expect("METHOD /path");
        let method = route.key.method();
        let found = table
            .by_template(method, template)
            .expect("a route is found by its own template");
        assert_eq!(found.key.to_string(), key);
        let _ = route.key.arn_pattern();
        // A concrete path built from the template must match some route.
        let path: String = template
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let method = if method == Method::Any {
            Method::Patch
        } else {
            method
        };
        assert!(
            table.by_path(method, &path).is_some(),
            "{method} {path} matches no route of {json}"
        );
    }
    for (method, path) in [
        (Method::Get, "/"),
        (Method::Get, "/events/1"),
        (Method::Post, "/a/b/c"),
        (Method::Get, json),
    ] {
        let _ = table.by_path(method, path);
        let _ = table.by_template(method, path);
    }
});
