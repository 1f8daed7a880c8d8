//! What `scripts/local-stack` prints once the stack serves: URLs, the app clients with
//! their LOCAL-ONLY secrets, and the seed 002 walkthrough as ready-to-paste commands.
//!
//! The text lives in `src/banner/*.txt`, included at build; `{name}` placeholders are
//! filled by [`fill`].

use crate::Stack;
use crate::cognito::{CognitoConfig, LocalClient};

const HEAD: &str = include_str!("banner/head.txt");
const CLIENT: &str = include_str!("banner/client.txt");
const WALKTHROUGH: &str = include_str!("banner/walkthrough.txt");
const READ_ONLY: &str = include_str!("banner/read-only.txt");
const INGEST: &str = include_str!("banner/ingest.txt");

/// Extracts the access token from a token response (curl's output), with sed only.
const GRAB: &str = r#"sed -E 's/.*"access_token":"([^"]+)".*/\1/'"#;

/// The addresses the banner shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses {
    /// The API's base URL with the stage.
    pub api_url: String,
    /// The token endpoint.
    pub token_url: String,
    /// The issuer (its JWKS is below it).
    pub issuer: String,
    /// The watcher's base URL.
    pub lambda_url: String,
    /// The log directory.
    pub log_dir: String,
    /// moto's endpoint (the table, queues and secret).
    pub aws_url: String,
    /// The region of the pool and of moto's resources.
    pub region: String,
    /// weather-ingest's dead-letter queue, if the stack runs weather-ingest.
    pub ingest_dead_letter_queue: Option<String>,
}

/// The banner of a running stack.
pub fn for_stack(stack: &Stack) -> String {
    let addresses = Addresses {
        api_url: stack.api_url.clone(),
        token_url: stack.cognito.token_url(),
        issuer: stack.cognito.issuer(),
        lambda_url: stack.lambda_url.clone(),
        log_dir: stack.log_dir().display().to_string(),
        aws_url: stack.aws.endpoint.clone(),
        region: stack.aws.region.clone(),
        ingest_dead_letter_queue: stack
            .consumers
            .iter()
            .find(|c| c.binary == "weather-ingest")
            .map(|c| {
                c.dead_letter_queue
                    .as_ref()
                    .map_or_else(|| c.queue.url.clone(), |q| q.url.clone())
            }),
    };
    render(&addresses, stack.cognito.config())
}

/// The banner for these addresses and clients. The walkthrough uses `ServiceClient`
/// (else the first client; none without clients) and, if the template has it,
/// `ReadOnlyClient`; with weather-ingest, its `cargo lambda invoke` (as `IngestClient`).
pub fn render(addresses: &Addresses, config: &CognitoConfig) -> String {
    let clients: String = config
        .clients
        .iter()
        .map(|c| {
            let scopes: Vec<&str> = c.allowed_scopes.iter().map(String::as_str).collect();
            let scopes = scopes.join(" ");
            fill(CLIENT, &with_client(c, &[("scopes", &scopes)]))
        })
        .collect();
    let head = fill(
        HEAD,
        &[
            ("api_url", &addresses.api_url),
            ("token_url", &addresses.token_url),
            ("pool_id", &config.pool_id),
            ("issuer", &addresses.issuer),
            ("lambda_url", &addresses.lambda_url),
            ("log_dir", &addresses.log_dir),
            ("aws_url", &addresses.aws_url),
            ("clients", &clients),
        ],
    );
    let service = config
        .client("ServiceClient")
        .or_else(|| config.clients.first());
    let Some(service) = service else {
        // No walkthrough: the blank line that leads into it goes too.
        return head.strip_suffix('\n').unwrap_or(&head).to_owned();
    };
    let read_only = config
        .client("ReadOnlyClient")
        .map(|ro| fill(READ_ONLY, &with_client(ro, &[("grab", GRAB)])))
        .unwrap_or_default();
    let lambda_port = addresses.lambda_url.rsplit(':').next().unwrap_or("9000");
    let ingest = match (
        &addresses.ingest_dead_letter_queue,
        config.client("IngestClient"),
    ) {
        (Some(dlq), Some(client)) => fill(
            INGEST,
            &[
                ("logical_id", client.logical_id.as_str()),
                ("client_id", client.client_id.as_str()),
                ("lambda_port", lambda_port),
                ("grab", GRAB),
                ("aws_url", &addresses.aws_url),
                ("region", &addresses.region),
                ("dead_letter_queue_url", dlq),
            ],
        ),
        _ => String::new(),
    };
    let walkthrough = fill(
        WALKTHROUGH,
        &with_client(
            service,
            &[
                ("api_url", &addresses.api_url),
                ("token_url", &addresses.token_url),
                ("grab", GRAB),
                ("read_only", &read_only),
            ],
        ),
    );
    head + &walkthrough + &ingest
}

/// `values` and the client's `logical_id`, `client_id`, `client_secret`.
fn with_client<'a>(c: &'a LocalClient, values: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![
        ("logical_id", c.logical_id.as_str()),
        ("client_id", c.client_id.as_str()),
        ("client_secret", c.secret.expose()),
    ];
    all.extend_from_slice(values);
    all
}

/// Replaces each `{name}` in `template` whose name is in `values` by its value, in one
/// pass (a value is never scanned again); any other text, braces included, is kept.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            let (_, value) = values.iter().find(|(n, _)| *n == name)?;
            Some((value, close))
        });
        match value {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Template;

    fn config() -> CognitoConfig {
        let model = Template::load(crate::stack::workspace_dir().join("template.yaml")).unwrap();
        CognitoConfig::from_model(&model, "us-east-1_Local1", None).unwrap()
    }

    fn addresses() -> Addresses {
        Addresses {
            api_url: "http://127.0.0.1:3000/weather".into(),
            token_url: "http://127.0.0.1:3001/oauth2/token".into(),
            issuer: "http://127.0.0.1:3001/us-east-1_Local1".into(),
            lambda_url: "http://127.0.0.1:3002".into(),
            log_dir: "target/local-stack".into(),
            aws_url: "http://127.0.0.1:3003".into(),
            region: "us-east-1".into(),
            ingest_dead_letter_queue: Some(
                "http://127.0.0.1:3003/123456789012/IngestDeadLetterQueue".into(),
            ),
        }
    }

    #[test]
    fn every_placeholder_is_filled_and_the_walkthrough_uses_the_clients() {
        let c = config();
        let text = render(&addresses(), &c);
        for name in [
            "api_url",
            "token_url",
            "pool_id",
            "issuer",
            "lambda_url",
            "log_dir",
            "clients",
            "client_id",
            "client_secret",
            "logical_id",
            "scopes",
            "grab",
            "read_only",
            "lambda_port",
            "aws_url",
            "region",
            "dead_letter_queue_url",
        ] {
            assert!(
                !text.contains(&format!("{{{name}}}")),
                "{{{name}}} left in:\n{text}"
            );
        }
        let service = c.client("ServiceClient").unwrap();
        let read_only = c.client("ReadOnlyClient").unwrap();
        assert!(text.starts_with("\nLocal stack ready (from template.yaml)."));
        assert!(text.contains("  API (like the ApiUrl output)   http://127.0.0.1:3000/weather\n"));
        assert!(text.contains(
            "  Issuer (UserPoolId us-east-1_Local1)  http://127.0.0.1:3001/us-east-1_Local1\n"
        ));
        assert!(text.contains(&format!("CLIENT_SECRET={}\n", service.secret.expose())));
        assert!(text.contains(&format!(
            "# 4. ReadOnlyClient may read but not create: GET -> 200, POST -> 403\n\
             TOKEN=$(curl -s \"$TOKEN_URL\" -u {}:{} -d grant_type=client_credentials | {GRAB})\n",
            read_only.client_id,
            read_only.secret.expose()
        )));
        // JSON bodies keep their braces.
        assert!(text.contains(
            r#"-d '{"name":"Storm Arwen","dateStart":"2021-11-26","dateEnd":"2021-11-27"}'"#
        ));
        assert!(text.contains(
            "curl -i \"$API/events\" -H \"Authorization: Bearer not-a-token\"\n\n# 6. weather-ingest"
        ));
        let ingest = c.client("IngestClient").unwrap();
        assert!(
            text.contains(&format!("created\n#    by {})", ingest.client_id)),
            "{text}"
        );
        assert!(text.contains(
            "\ncargo lambda invoke weather-ingest --data-file weather-ingest/fixtures/sqs-batch.json -A 127.0.0.1 -P 3002\n"
        ));
        assert!(text.contains("aws --endpoint-url http://127.0.0.1:3003 --region us-east-1 sqs receive-message --queue-url http://127.0.0.1:3003/123456789012/IngestDeadLetterQueue"));
    }

    #[test]
    fn without_weather_ingest_its_step_is_left_out() {
        let mut a = addresses();
        a.ingest_dead_letter_queue = None;
        let text = render(&a, &config());
        assert!(!text.contains("# 6."));
        assert!(
            text.ends_with("curl -i \"$API/events\" -H \"Authorization: Bearer not-a-token\"\n")
        );
    }

    #[test]
    fn without_a_read_only_client_step_4_is_left_out() {
        let mut c = config();
        c.clients.retain(|c| c.logical_id != "ReadOnlyClient");
        let text = render(&addresses(), &c);
        assert!(!text.contains("# 4."));
        assert!(
            text.contains("scope=weather-api/delete\n\n# 5. No token"),
            "{text}"
        );
    }

    #[test]
    fn fill_replaces_known_names_once_and_keeps_other_braces() {
        assert_eq!(
            fill("{a} {b} {c} {\"x\":1} {a", &[("a", "{b}"), ("b", "2")]),
            "{b} 2 {c} {\"x\":1} {a"
        );
    }
}
