//! `GET /events?limit=N&nextToken=T` through the handler: page sizes, the sealed token,
//! walks that see every event once, and the 400s for bad input.

mod support;

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde_json::{Value, json};
use support::{error_message, fixture, fixture_with, new_container, send};
use weather_api::event::{SEED_DUDLEY_ID, SEED_MALIK_ID};
use weather_api::{Api, EventStore, InMemoryStore};

/// `GET /events` with these query parameters (REST payload, multi-value form as API
/// Gateway sends it).
fn list(params: &[(&str, &str)]) -> Request {
    fixture_with("apigw-request-list-events.json", |e| {
        let mut single = serde_json::Map::new();
        let mut multi = serde_json::Map::new();
        for (name, value) in params {
            single.insert((*name).into(), json!(value));
            multi
                .entry(*name)
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .unwrap()
                .push(json!(value));
        }
        e["queryStringParameters"] = Value::Object(single);
        e["multiValueQueryStringParameters"] = Value::Object(multi);
    })
}

async fn create(api: &Api<InMemoryStore>, n: usize) {
    for i in 0..n {
        let req = fixture_with("apigw-request-create-event.json", |e| {
            e["body"] = json!(format!(
                r#"{{"name":"Storm {i}","dateStart":"2021-11-26","dateEnd":"2021-11-27"}}"#
            ));
        });
        assert_eq!(send(api, req).await.status, StatusCode::CREATED);
    }
}

/// Every page with `limit`, following `nextToken`: the ids, and the page count.
async fn walk(api: &Api<InMemoryStore>, limit: &str) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut params = vec![("limit", limit)];
        if let Some(token) = &token {
            params.push(("nextToken", token.as_str()));
        }
        let reply = send(api, list(&params)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        pages += 1;
        let events = reply.body["events"].as_array().unwrap();
        ids.extend(events.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        match reply.body.get("nextToken") {
            Some(next) => token = Some(next.as_str().unwrap().to_owned()),
            None => return (ids, pages),
        }
    }
}

#[tokio::test]
async fn limit_one_pages_through_the_seed() {
    let api = new_container();
    let first = send(&api, fixture("apigw-request-list-events-page.json")).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body["events"].as_array().unwrap().len(), 1);
    assert_eq!(first.body["events"][0]["id"], SEED_DUDLEY_ID.to_string());
    let token = first.body["nextToken"].as_str().expect("a next page");
    let second = send(&api, list(&[("limit", "1"), ("nextToken", token)])).await;
    assert_eq!(second.body["events"][0]["id"], SEED_MALIK_ID.to_string());
    assert_eq!(
        second.body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["events"],
        "no nextToken on the last page"
    );
}

#[tokio::test]
async fn default_page_is_50_events() {
    let api = new_container();
    create(&api, 58).await;
    let reply = send(&api, fixture("apigw-request-list-events.json")).await;
    assert_eq!(reply.body["events"].as_array().unwrap().len(), 50);
    assert!(reply.body["nextToken"].is_string());
}

#[tokio::test]
async fn walking_120_events_with_limit_50_is_3_pages_each_event_once() {
    let api = new_container();
    create(&api, 118).await;
    let (ids, pages) = walk(&api, "50").await;
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 120);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 120);
    let stored: Vec<String> = api
        .store()
        .list()
        .await
        .unwrap()
        .iter()
        .map(|e| e.id.to_string())
        .collect();
    assert_eq!(ids, stored, "oldest first");
    let (all, pages) = walk(&api, "100").await;
    assert_eq!((all.len(), pages), (120, 2));
}

#[tokio::test]
async fn walk_while_events_are_created_and_deleted_sees_each_stable_event_once() {
    let api = new_container();
    create(&api, 30).await;
    let stable: Vec<String> = api
        .store()
        .list()
        .await
        .unwrap()
        .iter()
        .map(|e| e.id.to_string())
        .collect();
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    let mut round = 0;
    loop {
        // Between pages: one event created, one earlier event deleted and recreated.
        create(&api, 1).await;
        let victim = api.store().list().await.unwrap().last().unwrap().id;
        if round % 2 == 0 {
            assert!(api.store().delete(victim).await.unwrap());
        }
        round += 1;
        let mut params = vec![("limit", "4")];
        if let Some(token) = &token {
            params.push(("nextToken", token.as_str()));
        }
        let reply = send(&api, list(&params)).await;
        let events = reply.body["events"].as_array().unwrap();
        ids.extend(events.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        match reply.body.get("nextToken") {
            Some(next) => token = Some(next.as_str().unwrap().to_owned()),
            None => break,
        }
    }
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "no event twice"
    );
    for id in &stable {
        assert_eq!(ids.iter().filter(|i| *i == id).count(), 1, "{id}");
    }
}

async fn refused(api: &Api<InMemoryStore>, req: Request, needle: &str) {
    let before = api.store().list().await.unwrap();
    let reply = send(api, req).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let message = error_message(&reply);
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    assert_eq!(api.store().list().await.unwrap(), before);
}

#[tokio::test]
async fn bad_limits_are_400_naming_the_parameter() {
    let api = new_container();
    refused(
        &api,
        fixture("apigw-request-list-events-bad-limit.json"),
        "`limit` must be an integer from 1 to 100, got \"0\"",
    )
    .await;
    for bad in ["0", "abc", "101", "-1", "", "1.5", "99999999999999999999"] {
        refused(
            &api,
            list(&[("limit", bad)]),
            "`limit` must be an integer from 1 to 100",
        )
        .await;
    }
    refused(
        &api,
        list(&[("limit", "5"), ("limit", "6")]),
        "`limit` must be given at most once",
    )
    .await;
}

#[tokio::test]
async fn forged_truncated_or_foreign_tokens_are_400() {
    let api = new_container();
    let first = send(&api, list(&[("limit", "1")])).await;
    let token = first.body["nextToken"].as_str().unwrap().to_owned();
    let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
    bytes[5] ^= 0x40;
    let forged = URL_SAFE_NO_PAD.encode(&bytes);
    // Another container (another store) issued this one.
    let other = new_container();
    let foreign = send(&other, list(&[("limit", "1")])).await;
    let foreign = foreign.body["nextToken"].as_str().unwrap().to_owned();
    for bad in [
        forged.as_str(),
        &token[..token.len() - 2],
        "",
        "abc",
        "not base64!",
        foreign.as_str(),
    ] {
        refused(
            &api,
            list(&[("limit", "1"), ("nextToken", bad)]),
            "`nextToken` is not a token this API issued",
        )
        .await;
    }
    // The real one still works.
    let second = send(&api, list(&[("limit", "1"), ("nextToken", &token)])).await;
    assert_eq!(second.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_query_parameters_are_ignored() {
    let reply = send(&new_container(), list(&[("sort", "desc")])).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["events"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn http_api_and_function_url_take_limit_from_the_raw_query() {
    let api = new_container();
    for name in [
        "apigw-v2-request-lambda-authorizer-list-events.json",
        "lambda-url-request-list-events.json",
    ] {
        let req = fixture_with(name, |e| {
            e["rawQueryString"] = json!("limit=1");
            e["queryStringParameters"] = json!({"limit": "1"});
        });
        let reply = send(&api, req).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}");
        assert_eq!(reply.body["events"].as_array().unwrap().len(), 1, "{name}");
        assert!(reply.body["nextToken"].is_string(), "{name}");
    }
}
