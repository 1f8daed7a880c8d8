//! One SQS batch: every message checked, the valid ones posted concurrently (at most
//! `INGEST_CONCURRENCY` at a time), the permanent failures sent to the dead-letter
//! queue, and the answer listing exactly the messages whose event was not created and
//! that are not in the dead-letter queue either (SQS delivers those again).

use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};
use futures_util::StreamExt as _;
use tokio::time::Instant;

use crate::dead_letter::{DeadLetter, DeadLetterQueue};
use crate::error::IngestError;
use crate::event::EventBody;
use crate::outcome::{Outcome, Permanent, Transient};
use crate::poster::Poster;

/// Time kept back from the invocation's deadline for the dead-letter sends and the
/// answer: posts still running then are given up (their messages retried).
pub const RESERVE: Duration = Duration::from_secs(4);

/// Counts of one batch, as logged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Events created by this delivery.
    pub created: usize,
    /// Events an earlier delivery created (the API replayed its answer).
    pub replayed: usize,
    /// Messages reported for retry.
    pub retried: usize,
    /// Messages now in the dead-letter queue.
    pub dead_lettered: usize,
}

/// The batch handler, built once per container.
#[derive(Debug, Clone)]
pub struct BatchHandler<P, D> {
    poster: P,
    dead_letters: D,
    concurrency: usize,
}

impl<P: Poster, D: DeadLetterQueue> BatchHandler<P, D> {
    /// Posts with `poster`, at most `concurrency` at a time; permanent failures go to
    /// `dead_letters`.
    pub fn new(poster: P, dead_letters: D, concurrency: usize) -> Self {
        Self {
            poster,
            dead_letters,
            concurrency: concurrency.max(1),
        }
    }

    /// The poster.
    pub fn poster(&self) -> &P {
        &self.poster
    }

    /// Handles `records` within `time_left` (the invocation's remaining time).
    pub async fn handle(
        &self,
        records: &[SqsMessage],
        time_left: Duration,
    ) -> Result<(SqsBatchResponse, Summary), IngestError> {
        let give_up_at = Instant::now() + time_left.saturating_sub(RESERVE);
        let ids = records
            .iter()
            .enumerate()
            .map(|(index, r)| {
                r.message_id
                    .as_deref()
                    .filter(|id| !id.is_empty())
                    .ok_or(IngestError::NoMessageId { index })
            })
            .collect::<Result<Vec<&str>, _>>()?;

        // Checked first: a body that is not an event costs no token and no request.
        let mut outcomes: Vec<Option<Outcome>> = vec![None; records.len()];
        let mut valid = Vec::new();
        for (index, record) in records.iter().enumerate() {
            match EventBody::parse(record.body.as_deref()) {
                Ok(body) => valid.push((index, body)),
                Err(err) => outcomes[index] = Some(Outcome::Permanent(Permanent::Body(err))),
            }
        }

        // By position, so the stream's closure takes no borrowed argument (its future
        // stays `Send` for a multi-threaded runtime).
        let (ids_ref, valid_ref) = (&ids, &valid);
        let posted: Vec<(usize, Outcome)> = futures_util::stream::iter(0..valid.len())
            .map(|k| async move {
                let (index, body) = &valid_ref[k];
                let post = self.poster.post(ids_ref[*index], body);
                let outcome = tokio::time::timeout_at(give_up_at, post)
                    .await
                    .unwrap_or(Outcome::Transient(Transient::OutOfTime));
                (*index, outcome)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        for (index, outcome) in posted {
            outcomes[index] = Some(outcome);
        }
        let mut outcomes: Vec<Outcome> = outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::Transient(Transient::OutOfTime)))
            .collect();

        // Permanent failures to the dead-letter queue; one it does not take stays in
        // the ingest queue.
        let permanent: Vec<(usize, Permanent)> = outcomes
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match o {
                Outcome::Permanent(p) => Some((i, p.clone())),
                _ => None,
            })
            .collect();
        if !permanent.is_empty() {
            let letters: Vec<DeadLetter<'_>> = permanent
                .iter()
                .map(|(i, reason)| DeadLetter {
                    message: &records[*i],
                    message_id: ids[*i],
                    reason,
                })
                .collect();
            let sent = self.dead_letters.send(&letters).await;
            for ((index, reason), result) in permanent.iter().zip(sent) {
                if let Err(error) = result {
                    outcomes[*index] = Outcome::Transient(Transient::DeadLetterFailed {
                        permanent: reason.clone(),
                        error,
                    });
                }
            }
        }

        let mut summary = Summary::default();
        for (id, outcome) in ids.iter().zip(&outcomes) {
            match outcome {
                Outcome::Created { replayed: false } => summary.created += 1,
                Outcome::Created { replayed: true } => summary.replayed += 1,
                Outcome::Permanent(reason) => {
                    summary.dead_lettered += 1;
                    tracing::warn!(message_id = %id, reason = %reason, "message sent to the dead-letter queue: it can never be created");
                }
                Outcome::Transient(reason) => {
                    summary.retried += 1;
                    tracing::warn!(message_id = %id, reason = %reason, "message left in the queue for another delivery");
                }
            }
        }
        tracing::info!(
            messages = records.len(),
            created = summary.created,
            replayed = summary.replayed,
            retried = summary.retried,
            dead_lettered = summary.dead_lettered,
            "batch done"
        );
        Ok((response(&ids, &outcomes), summary))
    }
}

/// The answer: the messages to deliver again, i.e. exactly the transient ones.
pub fn response(ids: &[&str], outcomes: &[Outcome]) -> SqsBatchResponse {
    let mut answer = SqsBatchResponse::default();
    answer.batch_item_failures = ids
        .iter()
        .zip(outcomes)
        .filter(|(_, o)| matches!(o, Outcome::Transient(_)))
        .map(|(id, _)| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = (*id).to_owned();
            failure
        })
        .collect();
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::BodyError;

    #[test]
    fn only_transient_messages_are_reported() {
        let ids = ["a", "b", "c", "d"];
        let outcomes = [
            Outcome::Created { replayed: false },
            Outcome::Transient(Transient::Status { status: 503 }),
            Outcome::Permanent(Permanent::Body(BodyError::NotJson)),
            Outcome::Created { replayed: true },
        ];
        let answer = response(&ids, &outcomes);
        let reported: Vec<&str> = answer
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(reported, ["b"]);
    }
}
