//! Handler tests driven by the API Gateway event fixtures in `fixtures/`, built exactly as
//! the runtime builds them (`lambda_http::request::from_str`), run without Lambda.

mod support;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde_json::{Value, json};
use support::{
    FIXTURE_CLIENT, crate_dir, error_message, fixture, fixture_with, new_container, rest, send,
};
use test_support::fixtures::{Expect, ExpectedTable};
use weather_api::event::{SEED_DUDLEY_ID, SEED_MALIK_ID};
use weather_api::{
    Api, ApiError, Claim, Config, Created, Event, EventId, EventStore, InMemoryStore, OrderKey,
    Page, PageKey, PageLimit,
};

/// Every fixture of `fixtures/expected.json` (the table `scripts/invoke-fixtures
/// weather-api` runs), in its order, with the status its answer must have from a new
/// container (and, run in this order, from one `cargo lambda watch`).
fn fixtures() -> Vec<(String, u16)> {
    let table = ExpectedTable::load(&crate_dir().join(".."), "weather-api").unwrap();
    assert_eq!(table.function, "weather-api");
    assert!(!table.fixtures.is_empty());
    table
        .fixtures
        .into_iter()
        .map(|fixture| {
            let status = match &fixture.expect {
                Expect::Answer(answer) => answer["statusCode"].as_u64(),
                Expect::Error(_) => None,
            };
            let status = status
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or_else(|| panic!("{}: expected a statusCode answer", fixture.file));
            (fixture.file, status)
        })
        .collect()
}

/// Sends the request and checks it fails with `status`, a JSON `{"message"}` body
/// containing `needle`, and no change to the store. Returns the message.
async fn refused(req: Request, status: u16, needle: &str) -> String {
    let api = new_container();
    let before = api.store().list().await.unwrap();
    let reply = send(&api, req).await;
    assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
    let message = error_message(&reply);
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    assert_eq!(api.store().list().await.unwrap(), before, "store changed");
    message
}

async fn ids(api: &Api<InMemoryStore>) -> Vec<EventId> {
    api.store()
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

#[test]
fn every_fixture_file_is_in_the_table() {
    let mut files: Vec<String> = std::fs::read_dir(crate_dir().join("fixtures"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        // The fixture runner's table of expected answers, not an event.
        .filter(|name| name != "expected.json")
        .collect();
    files.sort();
    let mut listed: Vec<String> = fixtures().into_iter().map(|(f, _)| f).collect();
    listed.sort();
    assert_eq!(files, listed);
}

#[test]
fn readme_lists_every_fixture_with_its_status_in_order() {
    let readme = std::fs::read_to_string(crate_dir().join("README.md")).unwrap();
    let rows: Vec<(String, u16)> = readme
        .lines()
        .filter(|line| line.starts_with("| `") && line.contains(".json`"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            let file = cells[0].trim_matches('`').to_owned();
            let status = cells
                .last()
                .unwrap()
                .parse()
                .expect("last cell is the status");
            (file, status)
        })
        .collect();
    assert_eq!(rows, fixtures());
}

#[tokio::test]
async fn each_fixture_gets_its_status_on_a_new_container() {
    for (name, status) in fixtures() {
        let api = new_container();
        let before = api.store().list().await.unwrap();
        let reply = send(&api, fixture(&name)).await;
        assert_eq!(reply.status.as_u16(), status, "{name}: {}", reply.body);
        if reply.status.is_client_error() {
            error_message(&reply);
            assert_eq!(
                api.store().list().await.unwrap(),
                before,
                "{name} changed the store"
            );
        }
    }
}

#[tokio::test]
async fn each_fixture_gets_its_status_in_sequence_on_one_container() {
    // What `cargo lambda invoke` sees, fixture after fixture, against one `watch`.
    let api = new_container();
    for (name, status) in fixtures() {
        let reply = send(&api, fixture(&name)).await;
        assert_eq!(reply.status.as_u16(), status, "{name}: {}", reply.body);
    }
}

#[tokio::test]
async fn list_returns_exactly_the_seed_events() {
    let reply = send(&new_container(), fixture("apigw-request-list-events.json")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(
        reply.body,
        json!({"events": [
            {"id": SEED_DUDLEY_ID.to_string(), "name": "Storms Dudley, Eunice and Franklin",
             "dateStart": "2022-02-16", "dateEnd": "2022-02-21"},
            {"id": SEED_MALIK_ID.to_string(), "name": "Storms Malik and Corrie",
             "dateStart": "2022-01-29", "dateEnd": "2022-01-31"},
        ]})
    );
}

#[tokio::test]
async fn http_api_and_function_url_list_the_same_events() {
    let api = new_container();
    let rest = send(&api, fixture("apigw-request-list-events.json")).await;
    for name in [
        "apigw-v2-request-lambda-authorizer-list-events.json",
        "lambda-url-request-list-events.json",
    ] {
        let reply = send(&api, fixture(name)).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}");
        assert_eq!(reply.body, rest.body, "{name}");
    }
}

#[tokio::test]
async fn http_api_named_stage_routes() {
    let req = fixture_with("apigw-v2-request-lambda-authorizer-list-events.json", |e| {
        e["rawPath"] = json!("/weather/events");
        e["requestContext"]["stage"] = json!("weather");
    });
    let reply = send(&new_container(), req).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["events"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn get_returns_one_event() {
    let reply = send(&new_container(), fixture("apigw-request-get-event.json")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["id"], SEED_DUDLEY_ID.to_string());
    assert_eq!(reply.body["name"], "Storms Dudley, Eunice and Franklin");
}

#[tokio::test]
async fn get_unknown_or_malformed_id_is_404() {
    refused(
        fixture("apigw-request-get-event-not-found.json"),
        404,
        "event not found",
    )
    .await;
    refused(
        rest("apigw-request-get-event.json", "GET", "/events/not-a-uuid"),
        404,
        "event not found",
    )
    .await;
}

#[tokio::test]
async fn create_returns_201_location_and_stored_event_kept_for_next_invocation() {
    let api = new_container();
    let reply = send(&api, fixture("apigw-request-create-event.json")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.body["id"].as_str().unwrap().to_owned();
    assert!(id.parse::<EventId>().is_ok(), "{id}");
    assert_eq!(
        reply.body,
        json!({"id": id, "name": "Storm Arwen", "dateStart": "2021-11-26",
               "dateEnd": "2021-11-27", "createdBy": FIXTURE_CLIENT})
    );
    // The REST API's public path carries the stage.
    assert_eq!(reply.headers["location"], format!("/weather/events/{id}"));

    // The next invocation in the same container sees it.
    let listed = send(&api, fixture("apigw-request-list-events.json")).await;
    let events = listed.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[2], reply.body);
    let got = send(
        &api,
        rest(
            "apigw-request-get-event.json",
            "GET",
            &format!("/events/{id}"),
        ),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, reply.body);
}

#[tokio::test]
async fn two_creates_get_distinct_ids() {
    let api = new_container();
    let a = send(&api, fixture("apigw-request-create-event.json")).await;
    let b = send(&api, fixture("apigw-request-create-event.json")).await;
    assert_ne!(a.body["id"], b.body["id"]);
    assert_eq!(ids(&api).await.len(), 4);
}

#[tokio::test]
async fn create_decodes_base64_body() {
    let reply = send(
        &new_container(),
        fixture("apigw-request-create-event-base64.json"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["name"], "Storm Barra");
    assert_eq!(reply.body["dateStart"], "2021-12-07");
}

#[tokio::test]
async fn create_through_http_api_takes_client_from_lambda_context() {
    let reply = send(
        &new_container(),
        fixture("apigw-v2-request-lambda-authorizer-create-event.json"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["createdBy"], FIXTURE_CLIENT);
    assert_eq!(reply.body["name"], "Storm Eunice");
    let id = reply.body["id"].as_str().unwrap();
    assert_eq!(reply.headers["location"], format!("/events/{id}"));
}

#[tokio::test]
async fn created_by_falls_back_to_principal_id() {
    let req = fixture_with("apigw-request-create-event.json", |e| {
        let authorizer = e["requestContext"]["authorizer"].as_object_mut().unwrap();
        authorizer.remove("client_id");
        authorizer.insert("principalId".into(), json!("principal-7"));
    });
    let reply = send(&new_container(), req).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["createdBy"], "principal-7");
}

#[tokio::test]
async fn create_without_authorizer_identity_is_401_unless_configured() {
    refused(
        fixture("apigw-request-create-event-no-authorizer.json"),
        401,
        "no authorizer identity",
    )
    .await;

    let config = Config::from_lookup(|name| {
        (name == Config::ANONYMOUS_CALLER).then(|| "local-dev".to_owned())
    })
    .unwrap();
    let api = Api::new(InMemoryStore::seeded(), config);
    let reply = send(
        &api,
        fixture("apigw-request-create-event-no-authorizer.json"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["createdBy"], "local-dev");
    // A real authorizer identity still wins over the configured fallback.
    let reply = send(&api, fixture("apigw-request-create-event.json")).await;
    assert_eq!(reply.body["createdBy"], FIXTURE_CLIENT);
}

#[tokio::test]
async fn delete_returns_204_then_the_event_is_gone() {
    let api = new_container();
    let reply = send(&api, fixture("apigw-request-delete-event.json")).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.body, Value::Null, "204 has no body");
    assert_eq!(ids(&api).await, [SEED_DUDLEY_ID]);
    let again = send(&api, fixture("apigw-request-delete-event.json")).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    error_message(&again);
    let get = send(
        &api,
        rest(
            "apigw-request-get-event.json",
            "GET",
            &format!("/events/{SEED_MALIK_ID}"),
        ),
    )
    .await;
    assert_eq!(get.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn delete_unknown_or_malformed_id_is_404() {
    refused(
        fixture("apigw-request-delete-event-not-found.json"),
        404,
        "event not found",
    )
    .await;
    refused(
        rest("apigw-request-delete-event.json", "DELETE", "/events/42"),
        404,
        "event not found",
    )
    .await;
}

#[tokio::test]
async fn unknown_paths_are_404() {
    refused(fixture("apigw-request-unknown-path.json"), 404, "not found").await;
    for path in ["/", "/events/", "/events/a/b", "/Events"] {
        refused(
            rest("apigw-request-list-events.json", "GET", path),
            404,
            "not found",
        )
        .await;
    }
}

#[tokio::test]
async fn known_path_with_other_method_is_405_with_allow() {
    let api = new_container();
    let reply = send(&api, fixture("apigw-request-method-not-allowed.json")).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.headers["allow"], "GET, POST");
    error_message(&reply);

    let id_path = format!("/events/{SEED_DUDLEY_ID}");
    for method in ["PUT", "POST", "PATCH"] {
        let reply = send(&api, rest("apigw-request-get-event.json", method, &id_path)).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(reply.headers["allow"], "GET, DELETE", "{method}");
    }
    assert_eq!(ids(&api).await, [SEED_DUDLEY_ID, SEED_MALIK_ID]);
}

#[tokio::test]
async fn body_not_json_is_400() {
    refused(
        fixture("apigw-request-create-event-not-json.json"),
        400,
        "not valid JSON",
    )
    .await;
}

#[tokio::test]
async fn empty_body_is_400() {
    let req = fixture_with("apigw-request-create-event.json", |e| {
        e["body"] = Value::Null
    });
    refused(req, 400, "not valid JSON").await;
}

#[tokio::test]
async fn body_not_an_object_is_400() {
    refused(
        fixture("apigw-request-create-event-not-object.json"),
        400,
        "must be a JSON object, not an array",
    )
    .await;
}

#[tokio::test]
async fn unknown_field_is_400_naming_it() {
    refused(
        fixture("apigw-request-create-event-unknown-field.json"),
        400,
        "unknown field `severity`",
    )
    .await;
}

#[tokio::test]
async fn missing_or_mistyped_field_is_400_naming_it() {
    let req = fixture_with("apigw-request-create-event.json", |e| {
        e["body"] = json!(r#"{"name":"Storm Arwen","dateStart":"2021-11-26"}"#);
    });
    refused(req, 400, "missing field `dateEnd`").await;
    let req = fixture_with("apigw-request-create-event.json", |e| {
        e["body"] = json!(r#"{"name":["Storm"],"dateStart":"2021-11-26","dateEnd":"2021-11-27"}"#);
    });
    refused(req, 400, "invalid type").await;
}

#[tokio::test]
async fn empty_name_is_400() {
    refused(
        fixture("apigw-request-create-event-empty-name.json"),
        400,
        "`name` must not be empty",
    )
    .await;
}

#[tokio::test]
async fn name_over_200_characters_is_400() {
    refused(
        fixture("apigw-request-create-event-name-too-long.json"),
        400,
        "201 characters long, over the 200-character limit",
    )
    .await;
}

#[tokio::test]
async fn impossible_date_is_400_naming_field_and_value() {
    refused(
        fixture("apigw-request-create-event-invalid-date.json"),
        400,
        "`dateStart` must be a real calendar date written YYYY-MM-DD, got \"2022-02-30\"",
    )
    .await;
}

#[tokio::test]
async fn start_after_end_is_400() {
    refused(
        fixture("apigw-request-create-event-start-after-end.json"),
        400,
        "`dateStart` (2021-11-27) is after `dateEnd` (2021-11-26)",
    )
    .await;
}

#[tokio::test]
async fn body_over_64_kib_is_413() {
    refused(
        fixture("apigw-request-create-event-too-large.json"),
        413,
        "over the 65536-byte limit",
    )
    .await;
}

#[tokio::test]
async fn size_limit_applies_to_the_decoded_body() {
    // 60 KiB of JSON is under the limit, though its base64 text (80 KiB) is over it.
    let body =
        json!({"name": "Storm", "dateStart": "2021-11-26", "dateEnd": "2021-11-27"}).to_string();
    let padded = format!("{body:<61440}");
    let encoded = STANDARD.encode(padded.as_bytes());
    assert!(encoded.len() > 64 * 1024);
    let req = fixture_with("apigw-request-create-event-base64.json", |e| {
        e["body"] = json!(encoded);
    });
    let reply = send(&new_container(), req).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

#[tokio::test]
async fn base64_body_that_is_not_json_is_400() {
    let req = fixture_with("apigw-request-create-event-base64.json", |e| {
        e["body"] = json!(STANDARD.encode(b"\xff\xfe not json"));
    });
    refused(req, 400, "not valid JSON").await;
}

/// A store whose backend fails, as a table can: for good (`unavailable: false`, a
/// missing table say) or for now (throttled, unreachable).
struct BrokenStore {
    unavailable: bool,
    key: PageKey,
}

impl BrokenStore {
    fn new(unavailable: bool) -> Self {
        Self {
            unavailable,
            key: PageKey::random(),
        }
    }

    fn broken(&self) -> ApiError {
        let details = "connection to 10.0.0.7:8000 refused".into();
        if self.unavailable {
            ApiError::StoreUnavailable(details)
        } else {
            ApiError::Store(details)
        }
    }
}

impl EventStore for BrokenStore {
    async fn page(&self, _: Option<OrderKey>, _: PageLimit) -> Result<Page, ApiError> {
        Err(self.broken())
    }
    async fn get(&self, _: EventId) -> Result<Option<Event>, ApiError> {
        Err(self.broken())
    }
    async fn create(&self, _: Event, _: Option<Claim>) -> Result<Created, ApiError> {
        Err(self.broken())
    }
    async fn delete(&self, _: EventId) -> Result<bool, ApiError> {
        Err(self.broken())
    }
    fn page_key(&self) -> &PageKey {
        &self.key
    }
}

#[tokio::test]
async fn store_unavailable_is_503_with_retry_after_and_no_details() {
    let api = Api::new(BrokenStore::new(true), Config::default());
    for name in [
        "apigw-request-list-events.json",
        "apigw-request-list-events-page.json",
        "apigw-request-get-event.json",
        "apigw-request-create-event.json",
        "apigw-request-create-event-idempotent.json",
        "apigw-request-delete-event.json",
    ] {
        let reply = send(&api, fixture(name)).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{name}");
        assert_eq!(reply.headers["retry-after"], "1", "{name}");
        let message = error_message(&reply);
        assert!(message.contains("unavailable"), "{name}: {message}");
        assert!(!message.contains("10.0.0.7"), "{name}: {message}");
    }
}

#[tokio::test]
async fn store_failure_is_500_without_details() {
    let api = Api::new(BrokenStore::new(false), Config::default());
    for name in [
        "apigw-request-list-events.json",
        "apigw-request-get-event.json",
        "apigw-request-create-event.json",
        "apigw-request-delete-event.json",
    ] {
        let reply = send(&api, fixture(name)).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{name}");
        assert_eq!(error_message(&reply), "internal server error", "{name}");
        assert!(!reply.headers.contains_key("retry-after"), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_and_deletes_through_the_handler_lose_nothing() {
    let api = Arc::new(new_container());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let api = Arc::clone(&api);
            tokio::spawn(async move {
                let mut kept = Vec::new();
                for i in 0..20 {
                    let created = send(&api, fixture("apigw-request-create-event.json")).await;
                    assert_eq!(created.status, StatusCode::CREATED);
                    let id = created.body["id"].as_str().unwrap().to_owned();
                    if i % 2 == 0 {
                        let path = format!("/events/{id}");
                        let deleted = send(
                            &api,
                            rest("apigw-request-delete-event.json", "DELETE", &path),
                        )
                        .await;
                        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
                    } else {
                        kept.push(id.parse::<EventId>().unwrap());
                    }
                }
                kept
            })
        })
        .collect();
    let mut expected = vec![SEED_DUDLEY_ID, SEED_MALIK_ID];
    for task in tasks {
        expected.extend(task.await.unwrap());
    }
    let mut stored = ids(&api).await;
    expected.sort();
    stored.sort();
    assert_eq!(stored, expected);
}

#[test]
fn fixtures_parse_as_the_payload_they_are_named_for() {
    for (name, _) in fixtures() {
        let req = fixture(&name);
        let context = req.request_context_ref().expect("request context");
        match context {
            RequestContext::ApiGatewayV1(ctx) => {
                assert!(name.starts_with("apigw-request-"), "{name} is REST");
                assert_eq!(ctx.stage.as_deref(), Some("weather"), "{name}");
            }
            RequestContext::ApiGatewayV2(ctx) => {
                assert!(
                    name.starts_with("apigw-v2-request-")
                        || name.starts_with("lambda-url-request-"),
                    "{name} is payload 2.0"
                );
                let url = ctx
                    .domain_name
                    .as_deref()
                    .is_some_and(|d| d.contains(".lambda-url."));
                assert_eq!(url, name.starts_with("lambda-url-"), "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}
