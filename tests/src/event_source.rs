//! The SQS event source mapping of a [`QueueConsumer`]: what Lambda does for a function
//! with a `Type: SQS` event, for the queue on moto.
//!
//! A task receives up to `BatchSize` messages (the template's; SAM's default 10) from the
//! queue, invokes the function with them as Lambda's SQS event through the watcher, and
//! then, as Lambda does with `ReportBatchItemFailures`, deletes every message but the ones
//! the answer lists in `batchItemFailures`; those (and all of them when the invocation
//! fails) become visible again after the queue's visibility timeout, and the queue's
//! redrive policy moves a message that keeps failing to the dead-letter queue. So `aws
//! sqs send-message` to the local queue ends as an event in the API.
//!
//! The queue is polled without long polling (moto is served one request at a time, and a
//! long poll would hold every other request back), every [`POLL`] while it is empty.
//! One line per batch goes to `event-source.log`: message count, failures, latency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use serde_json::{Map, Value, json};
use tokio::task::JoinHandle;

use crate::gateway::{Invocation, LambdaClient};
use crate::log::LogFile;
use crate::stack::QueueConsumer;

/// How long an empty queue is left before it is polled again.
pub const POLL: Duration = Duration::from_secs(1);

/// Starts the mapping of `consumer`: a task until aborted.
pub fn start(
    consumer: QueueConsumer,
    sqs: aws_sdk_sqs::Client,
    lambda: LambdaClient,
    region: String,
    log: Arc<LogFile>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match poll_once(&consumer, &sqs, &lambda, &region, &log).await {
                Ok(0) => tokio::time::sleep(POLL).await,
                Ok(_) => {}
                Err(problem) => {
                    log.line(&format!("{}: {problem}", consumer.queue_id));
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    })
}

/// One receive, invoke and delete; the number of messages received.
async fn poll_once(
    consumer: &QueueConsumer,
    sqs: &aws_sdk_sqs::Client,
    lambda: &LambdaClient,
    region: &str,
    log: &LogFile,
) -> Result<usize, String> {
    let received = sqs
        .receive_message()
        .queue_url(&consumer.queue.url)
        .max_number_of_messages(consumer.batch_size.clamp(1, 10) as i32)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .wait_time_seconds(0)
        .send()
        .await
        .map_err(|e| {
            format!(
                "ReceiveMessage: {}",
                aws_sdk_sqs::error::DisplayErrorContext(e)
            )
        })?;
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        return Ok(0);
    }
    let start = Instant::now();
    let event = json!({
        "Records": messages
            .iter()
            .map(|m| record(m, &consumer.queue.arn, region))
            .collect::<Vec<_>>(),
    });
    let failed: Vec<String> = match lambda.invoke(&consumer.binary, &event).await {
        Ok(Invocation::Ok(answer)) => answer["batchItemFailures"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|i| i["itemIdentifier"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        // The whole batch comes back after the visibility timeout.
        Ok(Invocation::FunctionError { error_type, .. }) => {
            log.line(&format!(
                "{} batch of {} failed: {error_type}; every message comes back",
                consumer.queue_id,
                messages.len()
            ));
            return Ok(messages.len());
        }
        Err(e) => return Err(format!("invoking {}: {e}", consumer.binary)),
    };
    let done: Vec<DeleteMessageBatchRequestEntry> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| !failed.iter().any(|f| Some(f.as_str()) == m.message_id()))
        .filter_map(|(n, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(n.to_string())
                .set_receipt_handle(m.receipt_handle.clone())
                .build()
                .ok()
        })
        .collect();
    if !done.is_empty() {
        sqs.delete_message_batch()
            .queue_url(&consumer.queue.url)
            .set_entries(Some(done))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "DeleteMessageBatch: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            })?;
    }
    log.line(&format!(
        "{} batch of {} to {}: {} failed, {:.1}ms",
        consumer.queue_id,
        messages.len(),
        consumer.binary,
        failed.len(),
        start.elapsed().as_secs_f64() * 1000.0
    ));
    Ok(messages.len())
}

/// A message as Lambda's SQS event carries it.
fn record(m: &Message, queue_arn: &str, region: &str) -> Value {
    let attributes: Map<String, Value> = m
        .attributes
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone())))
        .collect();
    let message_attributes: Map<String, Value> = m
        .message_attributes
        .iter()
        .flatten()
        .map(|(k, v)| {
            let mut a = json!({
                "dataType": v.data_type(),
                "stringListValues": [],
                "binaryListValues": [],
            });
            if let Some(s) = v.string_value() {
                a["stringValue"] = Value::String(s.to_owned());
            }
            (k.clone(), a)
        })
        .collect();
    json!({
        "messageId": m.message_id(),
        "receiptHandle": m.receipt_handle(),
        "body": m.body(),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": m.md5_of_body(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    })
}
