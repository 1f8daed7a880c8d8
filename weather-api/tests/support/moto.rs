//! A local DynamoDB API for tests: moto's server behind `tools/moto-serial.py` (one
//! request at a time), started on 127.0.0.1 on a free port and stopped on drop
//! (`test_support::moto::Moto`, shared with weather-ingest's tests).
//!
//! moto comes from the project's venv (`scripts/setup-tools`, pinned in
//! tools/requirements.txt). Without it the tests fail, saying so: CI installs it.

#[allow(unused_imports)] // some test binaries include this module without starting moto
pub use test_support::moto::Moto;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};

/// An SDK client for `endpoint` with test credentials and the function's own retry
/// settings, but patient timeouts: the tests of this binary share one moto that answers
/// one request at a time, so a request may queue behind many others. The failure cases
/// use [`function_client`].
pub async fn client(endpoint: &str) -> Client {
    let sdk = loader(endpoint)
        .timeout_config(
            aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(std::time::Duration::from_secs(20))
                .operation_timeout(std::time::Duration::from_secs(60))
                .build(),
        )
        .load()
        .await;
    Client::new(&sdk)
}

/// An SDK client for `endpoint` with exactly the function's settings (timeouts too).
pub async fn function_client(endpoint: &str) -> Client {
    Client::new(&loader(endpoint).load().await)
}

fn loader(endpoint: &str) -> aws_config::ConfigLoader {
    weather_api::dynamodb::sdk_config_loader()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("eu-west-2"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
}

/// A fresh, uniquely named table with the template's key schema (`pk`, `sk` strings).
pub async fn create_table(client: &Client) -> String {
    let name = format!("events-{}", uuid::Uuid::new_v4().simple());
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await
        .expect("create_table on moto");
    name
}
