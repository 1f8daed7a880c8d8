//! [`SharedTokenStore`] on an Amazon DynamoDB table (feature `dynamodb`).
//!
//! One item per scope set, keyed by `pk` (a hex digest): `sealed` (B),
//! `issuedMs` and `expiresMs` (N), the lease as `leaseUntilMs` (N) and
//! `leaseHolder` (S), and `expiresAt` (N, Unix seconds) for the table's TTL.
//! Every write is one conditional `UpdateItem`. Table: on-demand, partition
//! key `pk` (S), TTL on `expiresAt` (template.yaml's `TokenCacheTable`).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{SharedRecord, SharedState, SharedTokenStore, StoreError, StoreFuture};
use crate::config::env::TOKEN_CACHE_TABLE;
use crate::error::TokenCacheError;

const PK: &str = "pk";
const SEALED: &str = "sealed";
const ISSUED: &str = "issuedMs";
const EXPIRES: &str = "expiresMs";
const LEASE_UNTIL: &str = "leaseUntilMs";
const LEASE_HOLDER: &str = "leaseHolder";
const TTL: &str = "expiresAt";

/// Shared tokens in one DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoDbTokenStore {
    client: Client,
    table: String,
}

impl DynamoDbTokenStore {
    /// A store on `table` through `client`; a name DynamoDB would refuse is a
    /// configuration error naming `TOKEN_CACHE_TABLE`.
    pub fn new(client: Client, table: impl Into<String>) -> Result<Self, TokenCacheError> {
        let table = table.into();
        validate_table_name(&table)?;
        Ok(Self { client, table })
    }

    /// The store named by `TOKEN_CACHE_TABLE`, with the AWS SDK's default
    /// configuration (the function's role, `AWS_REGION`, `AWS_ENDPOINT_URL*`);
    /// `None` when the variable is unset or empty (no shared level).
    pub async fn from_env() -> Result<Option<Self>, TokenCacheError> {
        let Some(table) = std::env::var(TOKEN_CACHE_TABLE)
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
        else {
            return Ok(None);
        };
        // One attempt per call: the cache bounds each call and falls back to
        // its own token request, which beats the SDK's backoff here.
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .load()
            .await;
        Self::new(Client::new(&config), table).map(Some)
    }
}

/// DynamoDB's rule for table names: 3 to 255 of `a-z A-Z 0-9 _ - .`.
fn validate_table_name(table: &str) -> Result<(), TokenCacheError> {
    let ok = (3..=255).contains(&table.len())
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(TokenCacheError::config(
            TOKEN_CACHE_TABLE,
            format!("{table:?} is not a DynamoDB table name (3 to 255 of a-z, A-Z, 0-9, _ - .)"),
        ))
    }
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn store_error<E>(operation: &str, err: &SdkError<E>) -> StoreError
where
    E: std::error::Error + 'static,
{
    StoreError(format!("{operation}: {}", DisplayErrorContext(err)))
}

fn conditional_failed<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    err.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

/// Seconds past which the table may delete an item: an hour after the token's
/// expiry, so a lagging reader still sees (and rejects) an expired entry.
fn ttl_secs(expires_ms: u64) -> u64 {
    expires_ms / 1000 + 3600
}

impl SharedTokenStore for DynamoDbTokenStore {
    fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, SharedState> {
        Box::pin(async move {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key(PK, s(key))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| store_error("GetItem", &e))?;
            let Some(item) = out.item else {
                return Ok(SharedState::default());
            };
            let record = match (
                item.get(SEALED).and_then(|v| v.as_b().ok()),
                number(&item, ISSUED),
                number(&item, EXPIRES),
            ) {
                (Some(sealed), Some(issued_ms), Some(expires_ms)) => Some(SharedRecord {
                    sealed: sealed.as_ref().to_vec(),
                    issued_ms,
                    expires_ms,
                }),
                _ => None,
            };
            Ok(SharedState {
                record,
                lease_until_ms: number(&item, LEASE_UNTIL),
            })
        })
    }

    fn try_lease<'a>(
        &'a self,
        key: &'a str,
        holder: &'a str,
        now_ms: u64,
        until_ms: u64,
        seen_issued_ms: Option<u64>,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let unchanged = match seen_issued_ms {
                None => "attribute_not_exists(#issued)",
                Some(_) => "(attribute_not_exists(#issued) OR #issued <= :seen)",
            };
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(PK, s(key))
                .update_expression(
                    "SET #lu = :until, #lh = :holder, #ttl = if_not_exists(#ttl, :ttl)",
                )
                .condition_expression(format!(
                    "(attribute_not_exists(#lu) OR #lu < :now) AND {unchanged}"
                ))
                .expression_attribute_names("#lu", LEASE_UNTIL)
                .expression_attribute_names("#issued", ISSUED)
                .expression_attribute_names("#lh", LEASE_HOLDER)
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":until", n(until_ms))
                .expression_attribute_values(":holder", s(holder))
                .expression_attribute_values(":now", n(now_ms))
                .expression_attribute_values(":ttl", n(ttl_secs(until_ms)));
            if let Some(seen) = seen_issued_ms {
                update = update.expression_attribute_values(":seen", n(seen));
            }
            match update.send().await {
                Ok(_) => Ok(true),
                Err(e) if conditional_failed(&e) => Ok(false),
                Err(e) => Err(store_error("UpdateItem (lease)", &e)),
            }
        })
    }

    fn publish<'a>(&'a self, key: &'a str, record: &'a SharedRecord) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(PK, s(key))
                .update_expression(
                    "SET #sealed = :sealed, #issued = :issued, #expires = :expires, #ttl = :ttl \
                     REMOVE #lu, #lh",
                )
                .condition_expression("attribute_not_exists(#issued) OR #issued < :issued")
                .expression_attribute_names("#sealed", SEALED)
                .expression_attribute_names("#issued", ISSUED)
                .expression_attribute_names("#expires", EXPIRES)
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_names("#lu", LEASE_UNTIL)
                .expression_attribute_names("#lh", LEASE_HOLDER)
                .expression_attribute_values(
                    ":sealed",
                    AttributeValue::B(Blob::new(record.sealed.clone())),
                )
                .expression_attribute_values(":issued", n(record.issued_ms))
                .expression_attribute_values(":expires", n(record.expires_ms))
                .expression_attribute_values(":ttl", n(ttl_secs(record.expires_ms)))
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(e) if conditional_failed(&e) => Ok(false),
                Err(e) => Err(store_error("UpdateItem (publish)", &e)),
            }
        })
    }

    fn release<'a>(&'a self, key: &'a str, holder: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(PK, s(key))
                .update_expression("REMOVE #lu, #lh")
                .condition_expression("#lh = :holder")
                .expression_attribute_names("#lu", LEASE_UNTIL)
                .expression_attribute_names("#lh", LEASE_HOLDER)
                .expression_attribute_values(":holder", s(holder))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e) if conditional_failed(&e) => Ok(()),
                Err(e) => Err(store_error("UpdateItem (release)", &e)),
            }
        })
    }

    fn invalidate<'a>(&'a self, key: &'a str, sealed: &'a [u8]) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(PK, s(key))
                .update_expression("REMOVE #sealed, #issued, #expires")
                .condition_expression("#sealed = :sealed")
                .expression_attribute_names("#sealed", SEALED)
                .expression_attribute_names("#issued", ISSUED)
                .expression_attribute_names("#expires", EXPIRES)
                .expression_attribute_values(
                    ":sealed",
                    AttributeValue::B(Blob::new(sealed.to_vec())),
                )
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(e) if conditional_failed(&e) => Ok(false),
                Err(e) => Err(store_error("UpdateItem (invalidate)", &e)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_follow_dynamodb_rules() {
        assert!(validate_table_name("weather-token-cache").is_ok());
        assert!(validate_table_name("a.b_c-9").is_ok());
        for bad in ["ab", "has space", "slash/name", &"x".repeat(256)] {
            let err = validate_table_name(bad).unwrap_err().to_string();
            assert!(err.contains(TOKEN_CACHE_TABLE), "{err}");
        }
    }
}
