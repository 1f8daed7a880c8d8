//! The dead-letter queue the function itself sends permanent failures to
//! (`DEAD_LETTER_QUEUE_URL`, SQS `SendMessageBatch`): the original body, the
//! original attributes, and why, as message attributes.

use std::future::Future;

use aws_lambda_events::event::sqs::SqsMessage;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};

use crate::outcome::Permanent;

/// Attribute holding the reason the message can never be created.
pub const REASON_ATTRIBUTE: &str = "IngestFailureReason";
/// Attribute holding the message's id in the ingest queue.
pub const SOURCE_ID_ATTRIBUTE: &str = "IngestSourceMessageId";
/// Attribute holding the ingest queue's ARN.
pub const SOURCE_QUEUE_ATTRIBUTE: &str = "IngestSourceQueueArn";
/// SQS allows 10 attributes per message; 3 are ours.
const MAX_COPIED_ATTRIBUTES: usize = 7;
/// Longest reason attribute, in characters.
const MAX_REASON_CHARS: usize = 1000;
/// Entries per `SendMessageBatch`.
const BATCH: usize = 10;

/// A message that can never be created, on its way to the dead-letter queue.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetter<'a> {
    /// The message as received.
    pub message: &'a SqsMessage,
    /// Its message id.
    pub message_id: &'a str,
    /// Why it can never be created.
    pub reason: &'a Permanent,
}

/// Where permanent failures go.
pub trait DeadLetterQueue: Send + Sync {
    /// Sends every letter; the answer has one entry per letter, in order: `Ok` once
    /// the queue holds it, else why not (the message then stays in the ingest queue).
    fn send<'a>(
        &'a self,
        letters: &'a [DeadLetter<'a>],
    ) -> impl Future<Output = Vec<Result<(), String>>> + Send + 'a;
}

/// An SQS queue.
#[derive(Debug, Clone)]
pub struct SqsDeadLetterQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDeadLetterQueue {
    /// The queue at `queue_url`, through `client`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

fn text(value: impl Into<String>) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("data_type is set")
}

/// The entry for `letter`, with batch id `id`.
fn entry(id: usize, letter: &DeadLetter<'_>) -> Result<SendMessageBatchRequestEntry, String> {
    let mut reason = letter.reason.to_string();
    if let Some((cut, _)) = reason.char_indices().nth(MAX_REASON_CHARS) {
        reason.truncate(cut);
    }
    let mut builder = SendMessageBatchRequestEntry::builder()
        .id(id.to_string())
        .message_body(
            letter
                .message
                .body
                .clone()
                .filter(|b| !b.is_empty())
                .unwrap_or_else(|| "(the message had no body)".to_owned()),
        )
        .message_attributes(REASON_ATTRIBUTE, text(reason))
        .message_attributes(SOURCE_ID_ATTRIBUTE, text(letter.message_id));
    if let Some(arn) = &letter.message.event_source_arn {
        builder = builder.message_attributes(SOURCE_QUEUE_ATTRIBUTE, text(arn));
    }
    // The original string and number attributes, in name order, as many as fit.
    let mut names: Vec<&String> = letter.message.message_attributes.keys().collect();
    names.sort();
    for name in names.into_iter().take(MAX_COPIED_ATTRIBUTES) {
        let attribute = &letter.message.message_attributes[name];
        let (Some(kind), Some(value)) = (&attribute.data_type, &attribute.string_value) else {
            continue;
        };
        if let Ok(value) = MessageAttributeValue::builder()
            .data_type(kind)
            .string_value(value)
            .build()
        {
            builder = builder.message_attributes(name, value);
        }
    }
    builder.build().map_err(|e| e.to_string())
}

impl DeadLetterQueue for SqsDeadLetterQueue {
    async fn send<'a>(&'a self, letters: &'a [DeadLetter<'a>]) -> Vec<Result<(), String>> {
        {
            let mut results: Vec<Result<(), String>> = vec![Ok(()); letters.len()];
            for (chunk_index, chunk) in letters.chunks(BATCH).enumerate() {
                let base = chunk_index * BATCH;
                let mut request = self.client.send_message_batch().queue_url(&self.queue_url);
                let mut sent = Vec::new();
                for (offset, letter) in chunk.iter().enumerate() {
                    match entry(base + offset, letter) {
                        Ok(entry) => {
                            request = request.entries(entry);
                            sent.push(base + offset);
                        }
                        Err(err) => results[base + offset] = Err(err),
                    }
                }
                if sent.is_empty() {
                    continue;
                }
                match request.send().await {
                    Ok(answer) => {
                        for failed in answer.failed() {
                            if let Ok(index) = failed.id().parse::<usize>()
                                && index < results.len()
                            {
                                results[index] = Err(format!(
                                    "{}: {}",
                                    failed.code(),
                                    failed.message().unwrap_or("(no message)")
                                ));
                            }
                        }
                        // An entry neither successful nor failed is not known to be held.
                        for index in sent {
                            let id = index.to_string();
                            if results[index].is_ok()
                                && !answer.successful().iter().any(|s| s.id() == id)
                            {
                                results[index] = Err("not in the answer".to_owned());
                            }
                        }
                    }
                    Err(err) => {
                        let why = DisplayErrorContext(&err).to_string();
                        for index in sent {
                            results[index] = Err(why.clone());
                        }
                    }
                }
            }
            results
        }
    }
}
