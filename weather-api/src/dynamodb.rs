//! [`DynamoDbStore`]: the events in one DynamoDB table (design in the crate README,
//! "Table design"), through the AWS SDK for Rust.
//!
//! Items (`pk`, `sk` strings; no index):
//! - `META`/`META`: the seed marker and the page-token key, written once with the seed;
//! - `EVENT#<id>`/`EVENT`: an event, read and deleted by id, with its `order`;
//! - `EVENTS`/`<order>`: the same event in the list partition, queried in sort-key order;
//! - `IDEMPOTENCY#<scope>`/`IDEMPOTENCY`: a claim, its event and `Location`, expiring
//!   with the `expiresAt` TTL attribute.
//!
//! Every change of more than one item is one `TransactWriteItems`, every read that
//! decides something is strongly consistent, and every SDK error becomes an
//! [`ApiError`] in [`store_error`]: throttling, 5xx, timeouts and unreachable endpoints
//! are [`ApiError::StoreUnavailable`] (503), the rest [`ApiError::Store`] (500).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use crate::clock::Clock;
use crate::error::ApiError;
use crate::event::{Event, EventDate, EventId, seed_events};
use crate::idempotency::{Claim, Created};
use crate::page::{OrderKey, Page, PageKey, PageLimit};
use crate::store::EventStore;

/// Partition key attribute.
pub const PK: &str = "pk";
/// Sort key attribute.
pub const SK: &str = "sk";
/// The TTL attribute (Unix seconds) of idempotency claims.
pub const TTL_ATTRIBUTE: &str = "expiresAt";

const META: &str = "META";
const LIST_PK: &str = "EVENTS";
const EVENT_SK: &str = "EVENT";
const CLAIM_SK: &str = "IDEMPOTENCY";

/// Attempts per SDK call (the first and two retries, with jittered backoff).
pub const MAX_ATTEMPTS: u32 = 3;
/// Longest wait for one attempt (connect, send, answer).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1_000);
/// Longest wait for one SDK call, retries included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_millis(2_500);
/// Longest wait for a TCP + TLS connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1_000);
/// How often a transaction is tried again when DynamoDB cancels it for a conflict with
/// a concurrent one (`TransactionConflict`), or a claim expires between two reads.
const TRANSACTION_TRIES: usize = 3;

/// The SDK configuration the function uses: region, credentials and endpoint from the
/// SDK's own settings (`AWS_REGION`, the role's credentials, `AWS_ENDPOINT_URL` /
/// `AWS_ENDPOINT_URL_DYNAMODB`), with bounded retries and timeouts so that a request
/// that needs two calls answers within about 5 s, well inside the 10 s function timeout.
pub fn sdk_config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(50))
                .with_max_backoff(Duration::from_millis(500)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
}

/// The events in a DynamoDB table. Build it once per container ([`DynamoDbStore::open`])
/// and share it: it holds one SDK client and the table's page key.
#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
    clock: Arc<dyn Clock>,
    page_key: PageKey,
}

type Item = HashMap<String, AttributeValue>;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

fn event_pk(id: EventId) -> String {
    format!("EVENT#{id}")
}

fn claim_pk(scope: &str) -> String {
    format!("IDEMPOTENCY#{scope}")
}

impl DynamoDbStore {
    /// The store over `table` (a name or ARN), seeding it on first use: a table without
    /// the `META` item gets it, with a new page key, and the seed's two events, in one
    /// transaction. A table that has it is not seeded again, so a deleted seed event
    /// stays deleted. Reads the `META` item once (strongly consistent).
    pub async fn open(
        client: Client,
        table: impl Into<String>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ApiError> {
        let table = table.into();
        for _ in 0..TRANSACTION_TRIES {
            if let Some(page_key) = read_meta(&client, &table).await? {
                return Ok(Self {
                    client,
                    table,
                    clock,
                    page_key,
                });
            }
            let key_bytes = PageKey::random_bytes();
            let mut meta = key(META, META);
            meta.insert("pageKey".into(), AttributeValue::B(Blob::new(key_bytes)));
            meta.insert(
                "seededAt".into(),
                AttributeValue::N(clock.now_secs().to_string()),
            );
            let mut items = vec![put(&table, meta, Some("attribute_not_exists(pk)"), None)?];
            for (at, event) in (0u64..).zip(seed_events()) {
                let order = OrderKey { at, id: event.id };
                items.extend(event_items(&table, &event, order)?);
            }
            let written = client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            match written {
                Ok(_) => {
                    tracing::info!(table = %table, "seeded the events table");
                    return Ok(Self {
                        client,
                        table,
                        clock,
                        page_key: PageKey::from_bytes(&key_bytes),
                    });
                }
                // Another container seeded it first (or at the same time): read its key.
                Err(err) if cancelled(&err).is_some() => continue,
                Err(err) => return Err(store_error(err)),
            }
        }
        Err(ApiError::StoreUnavailable(
            "the META item kept changing while seeding".into(),
        ))
    }

    /// The table this store reads and writes.
    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, ApiError> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        Ok(got.item)
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), Vec<String>>, ApiError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(Ok(())),
            Err(err) => match cancelled(&err) {
                Some(codes) => Ok(Err(codes)),
                None => Err(store_error(err)),
            },
        }
    }
}

async fn read_meta(client: &Client, table: &str) -> Result<Option<PageKey>, ApiError> {
    let got = client
        .get_item()
        .table_name(table)
        .set_key(Some(key(META, META)))
        .consistent_read(true)
        .send()
        .await
        .map_err(store_error)?;
    let Some(item) = got.item else {
        return Ok(None);
    };
    match item.get("pageKey") {
        Some(AttributeValue::B(blob)) if blob.as_ref().len() == PageKey::LEN => {
            Ok(Some(PageKey::from_bytes(blob.as_ref())))
        }
        _ => Err(malformed("META", "pageKey")),
    }
}

fn put(
    table: &str,
    item: Item,
    condition: Option<&str>,
    values: Option<HashMap<String, AttributeValue>>,
) -> Result<TransactWriteItem, ApiError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned))
        .set_expression_attribute_values(values)
        .build()
        .map_err(|err| ApiError::Store(Box::new(err)))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

fn delete(table: &str, key: Item, condition: Option<&str>) -> Result<TransactWriteItem, ApiError> {
    let delete = Delete::builder()
        .table_name(table)
        .set_key(Some(key))
        .set_condition_expression(condition.map(str::to_owned))
        .build()
        .map_err(|err| ApiError::Store(Box::new(err)))?;
    Ok(TransactWriteItem::builder().delete(delete).build())
}

/// The event's attributes, as stored in all three item kinds.
fn event_attributes(event: &Event) -> Item {
    let mut item = HashMap::from([
        ("id".to_owned(), s(event.id.to_string())),
        ("name".to_owned(), s(event.name.clone())),
        ("dateStart".to_owned(), s(event.date_start.to_string())),
        ("dateEnd".to_owned(), s(event.date_end.to_string())),
    ]);
    if let Some(created_by) = &event.created_by {
        item.insert("createdBy".to_owned(), s(created_by.clone()));
    }
    item
}

/// The two items of an event: by id (refused if the id is taken) and in the list.
fn event_items(
    table: &str,
    event: &Event,
    order: OrderKey,
) -> Result<[TransactWriteItem; 2], ApiError> {
    let mut by_id = event_attributes(event);
    by_id.extend(key(event_pk(event.id), EVENT_SK));
    by_id.insert("order".to_owned(), s(order.to_sort_key()));
    let mut listed = event_attributes(event);
    listed.extend(key(LIST_PK, order.to_sort_key()));
    Ok([
        put(table, by_id, Some("attribute_not_exists(pk)"), None)?,
        put(table, listed, Some("attribute_not_exists(pk)"), None)?,
    ])
}

fn malformed(what: &str, attribute: &str) -> ApiError {
    ApiError::Store(format!("{what} item has no valid `{attribute}`").into())
}

fn string<'a>(item: &'a Item, name: &str) -> Result<&'a str, ApiError> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value),
        _ => Err(malformed("an", name)),
    }
}

fn event_from(item: &Item) -> Result<Event, ApiError> {
    let id = string(item, "id")?
        .parse()
        .map_err(|_| malformed("an event", "id"))?;
    let date = |field: &'static str| {
        EventDate::parse(field, string(item, field)?).map_err(|_| malformed("an event", field))
    };
    let created_by = match item.get("createdBy") {
        None => None,
        Some(AttributeValue::S(value)) => Some(value.clone()),
        Some(_) => return Err(malformed("an event", "createdBy")),
    };
    Ok(Event {
        id,
        name: string(item, "name")?.to_owned(),
        date_start: date("dateStart")?,
        date_end: date("dateEnd")?,
        created_by,
    })
}

/// The cancellation reasons' codes (one per item, `"None"` for items that were fine) if
/// the error is a cancelled transaction.
fn cancelled<R>(err: &SdkError<TransactWriteItemsError, R>) -> Option<Vec<String>> {
    match err.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(cancel) => Some(
            cancel
                .cancellation_reasons()
                .iter()
                .map(|reason| reason.code().unwrap_or("None").to_owned())
                .collect(),
        ),
        _ => None,
    }
}

/// Service error codes that mean "not now": retrying later may succeed.
const UNAVAILABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
];

/// The one mapping of SDK errors: throttling, 5xx, timeouts and failures to reach or
/// read from the endpoint are [`ApiError::StoreUnavailable`]; everything else (a missing
/// table, denied access, a request the SDK could not build) is [`ApiError::Store`]. The
/// details (with the SDK's error chain) go to the log, never to the client.
pub(crate) fn store_error<E, R>(err: SdkError<E, R>) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let unavailable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => service
            .err()
            .code()
            .is_some_and(|code| UNAVAILABLE_CODES.contains(&code)),
        _ => false,
    };
    let details: Box<dyn std::error::Error + Send + Sync> =
        DisplayErrorContext(&err).to_string().into();
    if unavailable {
        ApiError::StoreUnavailable(details)
    } else {
        ApiError::Store(details)
    }
}

impl EventStore for DynamoDbStore {
    async fn page(&self, after: Option<OrderKey>, limit: PageLimit) -> Result<Page, ApiError> {
        // Ask for one more than the page: if it exists, there is a next page. A query
        // answer stops at 1 MB, so continue from LastEvaluatedKey until we have it (an
        // event is under 2 KB: 101 of them fit in one answer).
        let want = limit.get() + 1;
        let mut items: Vec<Item> = Vec::with_capacity(want);
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", s(LIST_PK))
                .limit(i32::try_from(want - items.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take());
            query = match after {
                Some(after) => query
                    .key_condition_expression("pk = :pk AND sk > :after")
                    .expression_attribute_values(":after", s(after.to_sort_key())),
                None => query.key_condition_expression("pk = :pk"),
            };
            let answer = query.send().await.map_err(store_error)?;
            items.extend(answer.items.unwrap_or_default());
            match answer.last_evaluated_key {
                Some(last) if items.len() < want => start = Some(last),
                _ => break,
            }
        }
        let more = items.len() > limit.get();
        items.truncate(limit.get());
        let events = items
            .iter()
            .map(event_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next = match (more, items.last()) {
            (true, Some(last)) => Some(
                OrderKey::from_sort_key(string(last, SK)?)
                    .ok_or_else(|| malformed("a list", SK))?,
            ),
            _ => None,
        };
        Ok(Page { events, next })
    }

    async fn get(&self, id: EventId) -> Result<Option<Event>, ApiError> {
        match self.get_item(event_pk(id), EVENT_SK).await? {
            Some(item) => event_from(&item).map(Some),
            None => Ok(None),
        }
    }

    async fn create(&self, event: Event, claim: Option<Claim>) -> Result<Created, ApiError> {
        let ours = &event;
        for _ in 0..TRANSACTION_TRIES {
            let now = self.clock.now_secs();
            let order = OrderKey {
                at: self.clock.now_micros(),
                id: event.id,
            };
            let mut items = Vec::with_capacity(3);
            if let Some(claim) = &claim {
                let mut item = key(claim_pk(&claim.scope), CLAIM_SK);
                item.insert("fingerprint".into(), s(claim.fingerprint.clone()));
                item.insert("location".into(), s(claim.location.clone()));
                item.insert("event".into(), AttributeValue::M(event_attributes(&event)));
                item.insert(
                    TTL_ATTRIBUTE.into(),
                    AttributeValue::N(claim.expires_at.to_string()),
                );
                // A claim past its expiry counts as gone, even before TTL deletes it.
                items.push(put(
                    &self.table,
                    item,
                    Some("attribute_not_exists(pk) OR expiresAt <= :now"),
                    Some(HashMap::from([(
                        ":now".to_owned(),
                        AttributeValue::N(now.to_string()),
                    )])),
                )?);
            }
            items.extend(event_items(&self.table, &event, order)?);
            let claim_index = claim.as_ref().map(|_| 0);
            let id_index = usize::from(claim.is_some());
            let codes = match self.transact(items).await? {
                Ok(()) => return Ok(Created::Stored),
                Err(codes) => codes,
            };
            let failed = |index: usize| {
                codes
                    .get(index)
                    .is_some_and(|code| code == "ConditionalCheckFailed")
            };
            if let (Some(index), Some(claim)) = (claim_index, &claim)
                && failed(index)
            {
                match self.get_item(claim_pk(&claim.scope), CLAIM_SK).await? {
                    Some(first) if expires_at(&first)? > now => {
                        return if string(&first, "fingerprint")? == claim.fingerprint {
                            let event = match first.get("event") {
                                Some(AttributeValue::M(stored)) => event_from(stored)?,
                                _ => return Err(malformed("an idempotency", "event")),
                            };
                            if event.id == ours.id {
                                // Our own earlier attempt (see below).
                                return Ok(Created::Stored);
                            }
                            Ok(Created::Replayed {
                                event,
                                location: string(&first, "location")?.to_owned(),
                            })
                        } else {
                            Err(ApiError::IdempotencyKeyReused)
                        };
                    }
                    // Expired or deleted since: try again.
                    _ => continue,
                }
            }
            if failed(id_index) {
                // The SDK retries a transaction whose answer was lost (a timeout) with
                // the same ClientRequestToken, which DynamoDB deduplicates. An endpoint
                // that does not (moto) refuses the retry instead: the same event under
                // its random id is our own earlier attempt, not a clash.
                return match self.get_item(event_pk(event.id), EVENT_SK).await? {
                    Some(item) if event_from(&item)? == event => Ok(Created::Stored),
                    _ => Err(ApiError::DuplicateId(event.id)),
                };
            }
            if codes.iter().any(|code| code == "TransactionConflict") {
                continue;
            }
            return Err(ApiError::StoreUnavailable(
                format!("transaction cancelled: {codes:?}").into(),
            ));
        }
        Err(ApiError::StoreUnavailable(
            "transaction kept conflicting with concurrent ones".into(),
        ))
    }

    async fn delete(&self, id: EventId) -> Result<bool, ApiError> {
        for _ in 0..TRANSACTION_TRIES {
            let Some(item) = self.get_item(event_pk(id), EVENT_SK).await? else {
                return Ok(false);
            };
            let order = string(&item, "order")?.to_owned();
            let items = vec![
                delete(
                    &self.table,
                    key(event_pk(id), EVENT_SK),
                    Some("attribute_exists(pk)"),
                )?,
                delete(&self.table, key(LIST_PK, order), None)?,
            ];
            match self.transact(items).await? {
                Ok(()) => return Ok(true),
                // Deleted by someone else meantime: it was not ours to delete.
                Err(codes) if codes.first().is_some_and(|c| c == "ConditionalCheckFailed") => {
                    return Ok(false);
                }
                Err(codes) if codes.iter().any(|c| c == "TransactionConflict") => continue,
                Err(codes) => {
                    return Err(ApiError::StoreUnavailable(
                        format!("transaction cancelled: {codes:?}").into(),
                    ));
                }
            }
        }
        Err(ApiError::StoreUnavailable(
            "transaction kept conflicting with concurrent ones".into(),
        ))
    }

    fn page_key(&self) -> &PageKey {
        &self.page_key
    }
}

fn expires_at(item: &Item) -> Result<u64, ApiError> {
    match item.get(TTL_ATTRIBUTE) {
        Some(AttributeValue::N(n)) => n
            .parse()
            .map_err(|_| malformed("an idempotency", TTL_ATTRIBUTE)),
        _ => Err(malformed("an idempotency", TTL_ATTRIBUTE)),
    }
}
