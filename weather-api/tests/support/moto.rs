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

/// The parts of template.yaml's `EventsTable` a local table is made from.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDefinition {
    /// `AttributeDefinitions`.
    pub attribute_definitions: Vec<TemplateAttribute>,
    /// `KeySchema`.
    pub key_schema: Vec<TemplateKey>,
    /// `BillingMode`.
    pub billing_mode: String,
    /// `TimeToLiveSpecification`.
    pub time_to_live_specification: TimeToLive,
}

/// One `AttributeDefinitions` entry.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TemplateAttribute {
    pub attribute_name: String,
    pub attribute_type: String,
}

/// One `KeySchema` entry.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TemplateKey {
    pub attribute_name: String,
    pub key_type: String,
}

/// `TimeToLiveSpecification`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeToLive {
    pub attribute_name: String,
    pub enabled: bool,
}

fn workspace_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `Resources.EventsTable.Properties` of the workspace's template.yaml.
pub fn template_table() -> TableDefinition {
    let path = workspace_root().join("template.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let properties = doc["Resources"]["EventsTable"]["Properties"].clone();
    serde_yaml_ng::from_value(properties).expect("Resources.EventsTable.Properties")
}

/// A fresh, uniquely named table made from template.yaml's `EventsTable` definition
/// (its keys and attribute types, no index), as CloudFormation would make it.
pub async fn create_table(client: &Client) -> String {
    let definition = template_table();
    let name = format!("events-{}", uuid::Uuid::new_v4().simple());
    let mut create = client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::from(definition.billing_mode.as_str()));
    for attribute in &definition.attribute_definitions {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&attribute.attribute_name)
                .attribute_type(ScalarAttributeType::from(attribute.attribute_type.as_str()))
                .build()
                .unwrap(),
        );
    }
    for key in &definition.key_schema {
        create = create.key_schema(
            KeySchemaElement::builder()
                .attribute_name(&key.attribute_name)
                .key_type(KeyType::from(key.key_type.as_str()))
                .build()
                .unwrap(),
        );
    }
    create.send().await.expect("create_table on moto");
    name
}
