//! The template's AWS resources the functions use (its DynamoDB tables, SQS queues and
//! Secrets Manager secrets), created on a local moto server.
//!
//! moto runs as a [`supervisor`](crate::supervisor) service ([`moto_spec`]):
//! `tools/moto-serial.py` (moto's WSGI application answering one request at a time, so a
//! conditional write or a transaction is as atomic as on DynamoDB), from the project's
//! venv (`scripts/setup-tools`). [`LocalAws::create`] then creates, with the AWS SDK,
//! every resource of those types that the template creates (a resource under a false
//! `Condition` is skipped), each named by its logical id:
//!
//! - a table with the template's `KeySchema`, `AttributeDefinitions`,
//!   `GlobalSecondaryIndexes` and `TimeToLiveSpecification` (on-demand billing only);
//! - a queue with its `VisibilityTimeout` and `MessageRetentionPeriod`, then the
//!   `RedrivePolicy` to its dead-letter queue;
//! - a secret with its `SecretString`, resolved by the caller (the local Cognito's client
//!   id and secret stand for `!Ref Client` and `!GetAtt Client.ClientSecret`).
//!
//! The functions then reach them as on AWS: `!Ref Table` is the table's name, `!Ref
//! Queue` its URL, `!GetAtt Queue.Arn` its ARN, `!Ref Secret` its ARN, and the SDK's
//! endpoint is moto's ([`LocalAws::function_environment`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::types as ddb;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;
use tokio::process::Command;

use crate::StackError;
use crate::supervisor::ServiceSpec;
use crate::template::{Document, Expr, KeySchemaElement, KeyType, ResourceKind, StackModel};

/// The dummy credentials every local AWS client uses (moto checks no signature).
pub const ACCESS_KEY_ID: &str = "local";
/// See [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "local";

/// The line `tools/moto-serial.py` prints once it listens.
const READY_LINE: &str = "moto-serial: listening on";

/// The Python that has moto: the workspace's venv, else `python3` on PATH (which
/// `scripts/test` and `scripts/local-stack` put the venv in front of).
pub fn python(workspace: &Path) -> PathBuf {
    let venv = workspace.join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// moto's server (`tools/moto-serial.py`) on `port` (0: picked), logging to `log`.
pub fn moto_spec(workspace: &Path, port: u16, log: &Path) -> ServiceSpec {
    let (python, script) = (python(workspace), workspace.join("tools/moto-serial.py"));
    ServiceSpec::new("moto", log, move |port| {
        let mut command = Command::new(&python);
        command.arg(&script).arg("--port").arg(port.to_string());
        command
    })
    .port(port)
    .ready_line(READY_LINE)
}

/// Fails naming `scripts/setup-tools` when moto is not installed for [`python`].
pub async fn check_moto(workspace: &Path) -> Result<(), StackError> {
    let python = python(workspace);
    let status = Command::new(&python)
        .args(["-c", "import moto.server, werkzeug"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await;
    match status {
        Ok(s) if s.success() => Ok(()),
        _ => Err(StackError::Tool {
            tool: "moto",
            problem: format!(
                "moto[server] is not installed for {}: run scripts/setup-tools and put \
                 .venv/bin on PATH (scripts/test and scripts/local-stack do both)",
                python.display()
            ),
        }),
    }
}

/// The SDK configuration of a client of the server at `endpoint`: its region, the dummy
/// credentials, nothing read from the environment or `~/.aws`.
pub async fn sdk_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "local-stack",
        ))
        .load()
        .await
}

/// A queue created on moto.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalQueue {
    /// Its URL (`!Ref`).
    pub url: String,
    /// Its ARN (`!GetAtt .Arn`).
    pub arn: String,
}

/// What was created on moto, by logical id.
#[derive(Debug, Clone)]
pub struct LocalAws {
    /// moto's endpoint, `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The region of every resource.
    pub region: String,
    /// Tables: their names.
    pub tables: BTreeMap<String, String>,
    /// Queues.
    pub queues: BTreeMap<String, LocalQueue>,
    /// Secrets: their ARNs.
    pub secrets: BTreeMap<String, String>,
    config: aws_config::SdkConfig,
}

impl LocalAws {
    /// Creates the tables, queues and secrets of `doc` on the server at `endpoint`;
    /// `secret_value` resolves a secret's `SecretString` (`None`: not resolvable locally,
    /// an error naming the secret).
    pub async fn create(
        doc: &Document,
        model: &StackModel,
        endpoint: &str,
        region: &str,
        secret_value: impl Fn(&Expr) -> Option<String>,
    ) -> Result<Self, StackError> {
        let config = sdk_config(endpoint, region).await;
        let mut aws = Self {
            endpoint: endpoint.to_owned(),
            region: region.to_owned(),
            tables: BTreeMap::new(),
            queues: BTreeMap::new(),
            secrets: BTreeMap::new(),
            config,
        };
        let created = |r: &crate::template::Resource| {
            r.condition
                .as_deref()
                .is_none_or(|c| condition_holds(doc, model, c) == Some(true))
        };
        let tables = doc.of_kind(|k| match k {
            ResourceKind::Table(t) => Some(t),
            _ => None,
        });
        for (id, _, table) in tables.filter(|(_, r, _)| created(r)) {
            aws.create_table(id, table).await?;
        }
        let queues: Vec<_> = doc
            .of_kind(|k| match k {
                ResourceKind::Queue(q) => Some(q),
                _ => None,
            })
            .filter(|(_, r, _)| created(r))
            .collect();
        for (id, _, queue) in &queues {
            aws.create_queue(id, queue).await?;
        }
        // Redrive policies once every queue (and so every target ARN) exists.
        for (id, _, queue) in &queues {
            if let Some(policy) = &queue.redrive_policy {
                aws.set_redrive_policy(id, policy).await?;
            }
        }
        let secrets = doc.of_kind(|k| match k {
            ResourceKind::Secret(s) => Some(s),
            _ => None,
        });
        for (id, _, secret) in secrets.filter(|(_, r, _)| created(r)) {
            let Some(value) = &secret.secret_string else {
                return Err(unsupported(id, "a secret without SecretString"));
            };
            let value = secret_value(value).ok_or_else(|| {
                unsupported(id, &format!("cannot resolve its SecretString {value:?}"))
            })?;
            aws.create_secret(id, &value).await?;
        }
        Ok(aws)
    }

    /// The SDK configuration of a client of these resources.
    pub fn sdk_config(&self) -> &aws_config::SdkConfig {
        &self.config
    }

    /// What every function gets so that its SDK clients reach moto: the endpoint, the
    /// region and the dummy credentials.
    pub fn function_environment(&self) -> BTreeMap<String, String> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", self.region.as_str()),
            ("AWS_DEFAULT_REGION", self.region.as_str()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// The local value of `!Ref ID` or `!GetAtt ID.ATTRIBUTE` of a resource created here.
    pub fn resolve(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::Ref(id) => self
                .tables
                .get(id)
                .or_else(|| self.queues.get(id).map(|q| &q.url))
                .or_else(|| self.secrets.get(id))
                .cloned(),
            Expr::GetAtt {
                resource,
                attribute,
            } => match attribute.as_str() {
                "Arn" => self.queues.get(resource).map(|q| q.arn.clone()),
                "QueueUrl" => self.queues.get(resource).map(|q| q.url.clone()),
                "QueueName" => self.queues.contains_key(resource).then(|| resource.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    async fn create_table(
        &mut self,
        id: &str,
        table: &crate::template::TableProperties,
    ) -> Result<(), StackError> {
        let failed = |e: String| service_error("CreateTable", id, e);
        if table
            .billing_mode
            .as_deref()
            .is_some_and(|m| m != "PAY_PER_REQUEST")
        {
            return Err(unsupported(id, "BillingMode other than PAY_PER_REQUEST"));
        }
        let client = aws_sdk_dynamodb::Client::new(&self.config);
        let mut request = client
            .create_table()
            .table_name(id)
            .billing_mode(ddb::BillingMode::PayPerRequest)
            .set_key_schema(Some(key_schema(&table.key_schema).map_err(failed)?));
        for a in &table.attribute_definitions {
            request = request.attribute_definitions(
                ddb::AttributeDefinition::builder()
                    .attribute_name(&a.attribute_name)
                    .attribute_type(ddb::ScalarAttributeType::from(a.attribute_type.as_str()))
                    .build()
                    .map_err(|e| failed(e.to_string()))?,
            );
        }
        for index in &table.global_secondary_indexes {
            let projection = ddb::Projection::builder()
                .set_projection_type(
                    index
                        .projection
                        .projection_type
                        .as_deref()
                        .map(ddb::ProjectionType::from),
                )
                .set_non_key_attributes(
                    Some(index.projection.non_key_attributes.clone()).filter(|a| !a.is_empty()),
                )
                .build();
            request = request.global_secondary_indexes(
                ddb::GlobalSecondaryIndex::builder()
                    .index_name(&index.index_name)
                    .set_key_schema(Some(key_schema(&index.key_schema).map_err(failed)?))
                    .projection(projection)
                    .build()
                    .map_err(|e| failed(e.to_string()))?,
            );
        }
        request.send().await.map_err(|e| failed(sdk_error(e)))?;
        if let Some(ttl) = table
            .time_to_live_specification
            .as_ref()
            .filter(|t| t.enabled)
        {
            client
                .update_time_to_live()
                .table_name(id)
                .time_to_live_specification(
                    ddb::TimeToLiveSpecification::builder()
                        .attribute_name(&ttl.attribute_name)
                        .enabled(true)
                        .build()
                        .map_err(|e| failed(e.to_string()))?,
                )
                .send()
                .await
                .map_err(|e| service_error("UpdateTimeToLive", id, sdk_error(e)))?;
        }
        self.tables.insert(id.to_owned(), id.to_owned());
        Ok(())
    }

    async fn create_queue(
        &mut self,
        id: &str,
        queue: &crate::template::QueueProperties,
    ) -> Result<(), StackError> {
        let client = aws_sdk_sqs::Client::new(&self.config);
        let mut request = client.create_queue().queue_name(id);
        if let Some(s) = queue.visibility_timeout {
            request = request.attributes(QueueAttributeName::VisibilityTimeout, s.to_string());
        }
        if let Some(s) = queue.message_retention_period {
            request = request.attributes(QueueAttributeName::MessageRetentionPeriod, s.to_string());
        }
        let url = request
            .send()
            .await
            .map_err(|e| service_error("CreateQueue", id, sdk_error(e)))?
            .queue_url
            .ok_or_else(|| service_error("CreateQueue", id, "no QueueUrl".into()))?;
        let arn = client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| service_error("GetQueueAttributes", id, sdk_error(e)))?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or_else(|| service_error("GetQueueAttributes", id, "no QueueArn".into()))?;
        self.queues.insert(id.to_owned(), LocalQueue { url, arn });
        Ok(())
    }

    async fn set_redrive_policy(
        &self,
        id: &str,
        policy: &crate::template::RedrivePolicy,
    ) -> Result<(), StackError> {
        let target = self
            .resolve(&policy.dead_letter_target_arn)
            .ok_or_else(|| {
                unsupported(
                    id,
                    &format!(
                        "RedrivePolicy.deadLetterTargetArn {:?} is not a queue of the template",
                        policy.dead_letter_target_arn
                    ),
                )
            })?;
        let redrive = json!({
            "deadLetterTargetArn": target,
            "maxReceiveCount": policy.max_receive_count.to_string(),
        });
        aws_sdk_sqs::Client::new(&self.config)
            .set_queue_attributes()
            .queue_url(&self.queues[id].url)
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .send()
            .await
            .map_err(|e| service_error("SetQueueAttributes", id, sdk_error(e)))?;
        Ok(())
    }

    async fn create_secret(&mut self, id: &str, value: &str) -> Result<(), StackError> {
        let arn = aws_sdk_secretsmanager::Client::new(&self.config)
            .create_secret()
            .name(id)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| service_error("CreateSecret", id, sdk_error(e)))?
            .arn
            .ok_or_else(|| service_error("CreateSecret", id, "no ARN".into()))?;
        self.secrets.insert(id.to_owned(), arn);
        Ok(())
    }
}

/// Whether the named condition holds, for the conditions the local stack can evaluate
/// (`!Equals` of literals and parameters with defaults).
pub fn condition_holds(doc: &Document, model: &StackModel, name: &str) -> Option<bool> {
    match doc.conditions.get(name)? {
        Expr::Equals(a, b) => Some(model.resolve(a)? == model.resolve(b)?),
        _ => None,
    }
}

fn key_schema(elements: &[KeySchemaElement]) -> Result<Vec<ddb::KeySchemaElement>, String> {
    elements
        .iter()
        .map(|k| {
            ddb::KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(match k.key_type {
                    KeyType::Hash => ddb::KeyType::Hash,
                    KeyType::Range => ddb::KeyType::Range,
                })
                .build()
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// An SDK error with its causes (the top level alone says only "service error").
fn sdk_error(e: impl std::error::Error) -> String {
    aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()
}

fn service_error(action: &str, id: &str, problem: String) -> StackError {
    StackError::Service {
        service: "moto".into(),
        problem: format!("{action} {id}: {problem}"),
    }
}

fn unsupported(id: &str, what: &str) -> StackError {
    StackError::Unsupported(format!("Resources.{id}: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Event, Template};

    /// The resources the local stack creates, read typed from the workspace's template.
    #[test]
    fn the_template_s_aws_resources_read_typed() {
        let doc = Template::load_document(Template::workspace_path()).unwrap();
        let model = StackModel::from_document(&doc).unwrap();
        let ResourceKind::Table(table) = &doc.resources["EventsTable"].kind else {
            panic!("EventsTable is a table")
        };
        assert_eq!(
            doc.resources["EventsTable"].condition.as_deref(),
            Some("UseEventsTable")
        );
        assert_eq!(condition_holds(&doc, &model, "UseEventsTable"), Some(true));
        let ttl = table.time_to_live_specification.as_ref().unwrap();
        assert!(ttl.enabled);
        assert_eq!(ttl.attribute_name, "expiresAt");

        let ResourceKind::Queue(queue) = &doc.resources["IngestQueue"].kind else {
            panic!("IngestQueue is a queue")
        };
        let redrive = queue.redrive_policy.as_ref().unwrap();
        assert_eq!(
            redrive.dead_letter_target_arn,
            Expr::GetAtt {
                resource: "IngestDeadLetterQueue".into(),
                attribute: "Arn".into()
            }
        );
        assert_eq!(redrive.max_receive_count, 5);
        assert_eq!(queue.visibility_timeout, Some(180));

        let ResourceKind::Secret(secret) = &doc.resources["IngestClientSecret"].kind else {
            panic!("IngestClientSecret is a secret")
        };
        let value = secret.secret_string.as_ref().unwrap();
        assert!(matches!(value, Expr::SubWith { .. }), "{value:?}");
        assert_eq!(value.refs(), vec!["IngestClient"]);

        let ResourceKind::Function(ingest) = &doc.resources["WeatherIngestFunction"].kind else {
            panic!("WeatherIngestFunction is a function")
        };
        let Event::Sqs(event) = &ingest.events["IngestQueueMessages"] else {
            panic!("an SQS event")
        };
        assert_eq!(event.batch_size, Some(10));
        assert_eq!(event.function_response_types, ["ReportBatchItemFailures"]);
    }

    #[test]
    fn a_condition_on_a_parameter_default() {
        let mut doc = Template::load_document(Template::workspace_path()).unwrap();
        let model = StackModel::from_document(&doc).unwrap();
        assert_eq!(condition_holds(&doc, &model, "NoSuchCondition"), None);
        doc.conditions.insert(
            "UseEventsTable".into(),
            Expr::Equals(
                Box::new(Expr::Ref("EventStore".into())),
                Box::new(Expr::Literal("memory".into())),
            ),
        );
        assert_eq!(condition_holds(&doc, &model, "UseEventsTable"), Some(false));
    }
}
