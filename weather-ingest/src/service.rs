//! The function as built once per container: the credentials (read from Secrets
//! Manager when `CLIENT_SECRET_ARN` is set), one token cache, one HTTP client, the
//! dead-letter queue client; and the thin Lambda adapter around the batch handler.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use token_cache::{DynamoDbTokenStore, SecretProvider, TokenCache};

use crate::batch::BatchHandler;
use crate::config::{Config, SecretSource};
use crate::dead_letter::SqsDeadLetterQueue;
use crate::error::IngestError;
use crate::poster::{self, ApiPoster};
use crate::secrets::SecretsManagerCredentials;

/// The handler the Lambda function runs.
pub type Ingest = BatchHandler<ApiPoster, SqsDeadLetterQueue>;

/// The AWS SDK settings: the SDK's own environment (`AWS_REGION`, the role's
/// credentials, `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_SECRETS_MANAGER` /
/// `AWS_ENDPOINT_URL_SQS`), with timeouts that fit inside the batch's reserve.
pub fn sdk_config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(Duration::from_millis(1200))
                .operation_timeout(Duration::from_secs(3))
                .build(),
        )
}

/// Builds the function from `config`; the Secrets Manager and SQS clients from `sdk`.
/// With `CLIENT_SECRET_ARN` the secret is read here, once.
pub async fn init(config: &Config, sdk: &SdkConfig) -> Result<Ingest, IngestError> {
    let (client_id, secret, provider): (String, _, Option<Arc<dyn SecretProvider>>) =
        match &config.secret {
            SecretSource::Inline { client_id, secret } => (client_id.clone(), secret.clone(), None),
            SecretSource::SecretsManager {
                arn,
                expected_client_id,
            } => {
                let source = SecretsManagerCredentials::new(
                    aws_sdk_secretsmanager::Client::new(sdk),
                    arn,
                    expected_client_id.clone(),
                );
                let credentials = source.read().await?;
                let source = source.bound_to(&credentials.client_id);
                (
                    credentials.client_id,
                    credentials.client_secret,
                    Some(Arc::new(source)),
                )
            }
        };
    let mut cache = TokenCache::builder(config.token_config(&client_id, secret)?);
    if let Some(provider) = provider {
        cache = cache.secret_provider(provider);
    }
    if let Some(table) = &config.token_cache_table {
        let client = aws_sdk_dynamodb::Client::new(sdk);
        cache = cache.shared_store(Arc::new(DynamoDbTokenStore::new(client, table)?));
    }
    let cache = cache.build()?;
    let http = poster::http_client(config.api_timeout).map_err(IngestError::HttpClient)?;
    let poster = ApiPoster::new(
        cache,
        config.scopes.clone(),
        http,
        config.events_url.clone(),
    );
    let dead_letters = SqsDeadLetterQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        config.dead_letter_queue_url.clone(),
    );
    tracing::info!(
        events_url = %config.events_url,
        scopes = %config.scopes,
        concurrency = config.concurrency,
        client_id = %client_id,
        shared_token_table = config.token_cache_table.as_deref().unwrap_or("none"),
        "weather-ingest ready"
    );
    Ok(BatchHandler::new(poster, dead_letters, config.concurrency))
}

/// What a missing or impossible deadline counts as.
const UNKNOWN_DEADLINE: Duration = Duration::from_secs(60);

/// Lambda's longest timeout: no invocation starts longer than this after its deadline.
const MAX_TIMEOUT: Duration = Duration::from_secs(900);

/// Time left before `deadline_ms` (Unix milliseconds, the runtime's
/// `Lambda-Runtime-Deadline-Ms`) at `now`. A missing deadline (0), or one more than
/// Lambda's longest timeout (15 minutes) in the past, counts as one minute: the second is
/// no wall-clock deadline (`cargo lambda watch` sends the constant 600000, 1970-01-01
/// 00:10 UTC), and taking it as one would leave no time for any message.
pub fn time_left(deadline_ms: u64, now: SystemTime) -> Duration {
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    if deadline_ms == 0 || deadline_ms.saturating_add(MAX_TIMEOUT.as_millis() as u64) < now_ms {
        return UNKNOWN_DEADLINE;
    }
    Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

/// The Lambda adapter: the batch and its deadline in, `SQSBatchResponse` out.
pub async fn handle_event(
    ingest: &Ingest,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, IngestError> {
    let time_left = time_left(event.context.deadline, SystemTime::now());
    let (answer, _) = ingest.handle(&event.payload.records, time_left).await?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_counts_down_to_the_deadline() {
        let now = UNIX_EPOCH + Duration::from_millis(1_000_000);
        assert_eq!(time_left(1_030_000, now), Duration::from_secs(30));
        assert_eq!(time_left(999_000, now), Duration::ZERO);
        assert_eq!(time_left(0, now), Duration::from_secs(60));
    }

    #[test]
    fn a_deadline_long_past_is_no_deadline() {
        // cargo lambda watch's constant, seen at the time of this test's writing.
        let now = UNIX_EPOCH + Duration::from_secs(1_764_547_200);
        assert_eq!(time_left(600_000, now), Duration::from_secs(60));
        // Just expired (within Lambda's 15-minute maximum): no time left.
        let expired = 1_764_547_200_000 - 899_000;
        assert_eq!(time_left(expired, now), Duration::ZERO);
    }

    fn config(table: &str) -> Config {
        let settings = [
            ("WEATHER_API_URL", "https://api.example.com/weather/"),
            ("TOKEN_URL", "https://auth.example.com/oauth2/token"),
            ("CLIENT_ID", "ingest"),
            ("CLIENT_SECRET", "s3cr3t"),
            (
                "DEAD_LETTER_QUEUE_URL",
                "https://sqs.eu-west-1.amazonaws.com/1/dlq",
            ),
            ("TOKEN_CACHE_TABLE", table),
        ];
        Config::from_lookup(|name| {
            settings
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap()
    }

    fn offline_sdk() -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .build()
    }

    #[tokio::test]
    async fn the_shared_token_table_is_used_when_named_and_a_bad_name_stops_init() {
        assert_eq!(
            config("weather-token-cache").token_cache_table.as_deref(),
            Some("weather-token-cache")
        );
        assert!(
            init(&config("weather-token-cache"), &offline_sdk())
                .await
                .is_ok()
        );
        assert_eq!(config("").token_cache_table, None);
        match init(&config("not a table"), &offline_sdk()).await {
            Err(IngestError::Config { setting, .. }) => assert_eq!(setting, "TOKEN_CACHE_TABLE"),
            Err(other) => panic!("not a configuration error: {other}"),
            Ok(_) => panic!("a bad TOKEN_CACHE_TABLE was accepted"),
        }
    }
}
