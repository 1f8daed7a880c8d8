//! The function against a local API (real validation and Idempotency-Key semantics),
//! a counting token endpoint and moto's SQS as the dead-letter queue ([`support::World`]).

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use support::api::Fault;
use support::*;
use weather_ingest::dead_letter::{REASON_ATTRIBUTE, SOURCE_ID_ATTRIBUTE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_valid_messages_create_ten_events_and_a_redelivery_creates_none() {
    let w = World::start().await;

    let batch = records(&valid_batch(10));
    let (answer, summary) = w.invoke(&batch).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    assert_eq!(summary.created, 10);
    assert_eq!(w.api.created(), 10);

    // SQS delivers the same batch again (at least once): no new event, no failure.
    let (answer, summary) = w.invoke(&batch).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    assert_eq!(summary.replayed, 10);
    assert_eq!(summary.created, 0);
    assert_eq!(w.api.created(), 10);
    assert_eq!(w.api.state.replayed.load(Ordering::SeqCst), 10);
    assert!(w.dead_letters().await.is_empty());
    assert_eq!(w.tokens.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_and_a_refused_event_go_to_the_dead_letter_queue_with_their_reason() {
    let w = World::start().await;

    let mut messages = valid_batch(10);
    messages[2].1 = "this is not JSON".to_owned();
    messages[5].1 = r#"{"name": "Storm", "dateStart": "2026-01-01"}"#.to_owned();
    // The API refuses message 8: its id (the Idempotency-Key) was used for another event.
    w.api.claim(&messages[8].0, &event(99));
    let (answer, summary) = w.invoke(&records(&messages)).await;

    // Not retried: none is reported; the 7 others are created.
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    assert_eq!(summary.created, 7);
    assert_eq!(summary.dead_lettered, 3);
    assert_eq!(w.api.created(), 7);
    // The bad bodies never reached the API.
    assert_eq!(w.api.state.requests.load(Ordering::SeqCst), 8);

    // Not vanished: all three are in the dead-letter queue, body unchanged, with why.
    let mut dead: Vec<(String, String, String, String)> = w
        .dead_letters()
        .await
        .into_iter()
        .map(|m| {
            let attributes = m.message_attributes.clone().unwrap_or_default();
            let attr = |name: &str| {
                attributes
                    .get(name)
                    .and_then(|a| a.string_value.clone())
                    .unwrap_or_default()
            };
            (
                attr(SOURCE_ID_ATTRIBUTE),
                m.body.clone().unwrap_or_default(),
                attr(REASON_ATTRIBUTE),
                attr("source"),
            )
        })
        .collect();
    dead.sort();
    let mut expected = vec![
        (
            messages[2].0.clone(),
            messages[2].1.clone(),
            "body is not JSON",
        ),
        (
            messages[5].0.clone(),
            messages[5].1.clone(),
            "body is not an event",
        ),
        (messages[8].0.clone(), messages[8].1.clone(), "HTTP 422"),
    ];
    expected.sort();
    assert_eq!(dead.len(), 3, "{dead:?}");
    for ((id, body, reason, source), (want_id, want_body, want_reason)) in
        dead.iter().zip(&expected)
    {
        assert_eq!(id, want_id);
        assert_eq!(body, want_body);
        assert!(reason.contains(want_reason), "{reason}");
        assert_eq!(source, "station-42", "original attributes are kept");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_queue_unavailable_keeps_the_message_in_the_queue() {
    // A queue that does not exist: SendMessageBatch fails.
    let w = World::builder().missing_dead_letter_queue().start().await;

    let mut messages = valid_batch(3);
    messages[1].1 = "[]".to_owned();
    let (answer, summary) = w.invoke(&records(&messages)).await;
    assert_eq!(reported(&answer), vec![messages[1].0.clone()]);
    assert_eq!(summary.retried, 1);
    assert_eq!(summary.created, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_down_reports_every_message_and_nothing_is_created_twice_once_back() {
    let w = World::builder().api_behind_switch().start().await;
    let switch = w.switch.as_ref().unwrap();
    let messages = valid_batch(10);
    let batch = records(&messages);

    // Connection refused.
    switch.down().await;
    let (answer, _) = w.invoke(&batch).await;
    assert_eq!(reported(&answer), ids(&messages));
    assert_eq!(w.api.created(), 0);

    // 503 from the API.
    switch.up().await;
    w.api.fault(Fault::Status(503));
    let (answer, _) = w.invoke(&batch).await;
    assert_eq!(reported(&answer), ids(&messages));
    // 429 too.
    w.api.fault(Fault::Status(429));
    let (answer, _) = w.invoke(&batch).await;
    assert_eq!(reported(&answer), ids(&messages));
    assert_eq!(w.api.created(), 0);

    // Created, but the answer is lost (a 502 on the way back): reported, and the
    // redelivery replays instead of creating a second event.
    w.api.fault(Fault::CreateThen(502));
    let (answer, _) = w.invoke(&batch).await;
    assert_eq!(reported(&answer), ids(&messages));
    assert_eq!(w.api.created(), 10);

    w.api.fault(Fault::None);
    let (answer, summary) = w.invoke(&batch).await;
    assert!(answer.batch_item_failures.is_empty());
    assert_eq!(summary.replayed, 10);
    assert_eq!(w.api.created(), 10, "nothing created twice");
    assert!(
        w.dead_letters().await.is_empty(),
        "transient failures are not dead-lettered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_down_reports_every_message() {
    let w = World::builder()
        .token_reply(TokenReply::Status(503))
        .start()
        .await;
    let messages = valid_batch(5);
    let (answer, summary) = w.invoke(&records(&messages)).await;
    assert_eq!(reported(&answer), ids(&messages));
    assert_eq!(summary.retried, 5);
    assert_eq!(w.api.state.requests.load(Ordering::SeqCst), 0);
    // One failed token request (with its retries) shared by the whole batch.
    assert_eq!(w.tokens.calls(), 4, "TOKEN_RETRY_MAX_ATTEMPTS (4) attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_invocations_make_exactly_one_token_request() {
    let w = World::start().await;
    for _ in 0..50 {
        let (answer, _) = w.invoke(&records(&valid_batch(10))).await;
        assert!(answer.batch_item_failures.is_empty());
    }
    assert_eq!(w.api.created(), 500);
    assert_eq!(w.tokens.calls(), 1);
    assert_eq!(w.ingest.poster().cache().stats().token_requests, 1);
    // Every request carried that one token.
    assert!(
        w.api
            .state
            .tokens
            .lock()
            .unwrap()
            .iter()
            .all(|t| t == "tok-1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_refreshes_the_token_once_and_retries_once() {
    // One message at a time, so the count is exact.
    let w = World::builder()
        .setting("INGEST_CONCURRENCY", "1")
        .start()
        .await;
    // The API no longer takes tok-1 (revoked, say): the first post gets 401.
    w.api.accept_only(&["tok-2"]);
    let (answer, summary) = w.invoke(&records(&valid_batch(3))).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    assert_eq!(summary.created, 3);
    assert_eq!(w.tokens.calls(), 2, "one refresh");
    assert_eq!(
        *w.api.state.tokens.lock().unwrap(),
        ["tok-1", "tok-2", "tok-2", "tok-2"],
        "one retry, then the new token"
    );

    // A token the API keeps refusing: one refresh and one retry per message, then the
    // message is retried by SQS, not dead-lettered.
    w.api.accept_only(&[]);
    let messages = valid_batch(1);
    let (answer, _) = w.invoke(&records(&messages)).await;
    assert_eq!(reported(&answer), ids(&messages));
    assert_eq!(w.tokens.calls(), 3);
    assert_eq!(w.api.state.requests.load(Ordering::SeqCst), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_ingest_concurrency_posts_are_in_flight() {
    let w = Arc::new(
        World::builder()
            .setting("INGEST_CONCURRENCY", "3")
            .start()
            .await,
    );
    w.api.hold();
    let batch = records(&valid_batch(10));
    let run = {
        let w = Arc::clone(&w);
        tokio::spawn(async move { w.invoke(&batch).await })
    };

    // Three arrive and are held; release one at a time: each release lets exactly
    // one more in, never a fourth at once.
    let api = &w.api;
    eventually("3 requests in flight", || api.held() == 3).await;
    for released in 1..=10 {
        api.release(1);
        eventually("the released request answered", || {
            api.answered() == released
        })
        .await;
        let expected = 3.min(10 - released);
        eventually("the next request in flight", || api.held() == expected).await;
    }
    let (answer, summary) = run.await.unwrap();
    assert!(answer.batch_item_failures.is_empty());
    assert_eq!(summary.created, 10);
    assert_eq!(api.max_held(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_still_running_at_the_deadline_are_reported_not_lost() {
    let w = World::start().await;
    w.api.hold(); // never released
    let messages = valid_batch(4);
    // 1 s past the reserve: the posts are given up after 1 s.
    let time_left = weather_ingest::batch::RESERVE + std::time::Duration::from_secs(1);
    let (answer, summary) = w
        .ingest
        .handle(&records(&messages), time_left)
        .await
        .unwrap();
    assert_eq!(reported(&answer), ids(&messages));
    assert_eq!(summary.retried, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_without_message_id_fails_the_invocation() {
    let w = World::start().await;
    let mut batch = records(&valid_batch(2));
    batch[1].message_id = None;
    let err = w.ingest.handle(&batch, TIME_LEFT).await.unwrap_err();
    assert!(
        matches!(err, weather_ingest::IngestError::NoMessageId { index: 1 }),
        "{err}"
    );
    assert_eq!(
        w.api.created(),
        0,
        "nothing posted: the whole batch comes again"
    );
}
