//! The Secrets Manager path against moto (the pinned `moto[server]`): init reads
//! `CLIENT_SECRET_ARN` once; a secret rotated mid-run is re-read after the token
//! endpoint's `invalid_client`, and no message fails; a missing or malformed secret
//! stops init naming the setting. Every log line of the binary is captured (TRACE)
//! and must never hold the secret, a token or an Authorization header.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use support::*;
use test_support::token::basic;
use weather_ingest::IngestError;

/// Everything logged by this test binary.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buffer);
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Capture(Arc::clone(&writer)))
            .init();
        buffer
    })
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn create_secret(sdk: &aws_config::SdkConfig, value: &str) -> String {
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(format!("ingest-{}", uuid::Uuid::new_v4().simple()))
        .secret_string(value)
        .send()
        .await
        .expect("create_secret on moto")
        .arn
        .unwrap()
}

fn credentials(secret: &str) -> String {
    serde_json::json!({"client_id": CLIENT_ID, "client_secret": secret}).to_string()
}

const ROTATED: &str = "R0tated-Secret-Never-Logged-91c4";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_from_secrets_manager_rotated_mid_run_loses_no_message() {
    let logs = logs();
    let sdk = sdk(moto()).await;
    let arn = create_secret(&sdk, &credentials(CLIENT_SECRET)).await;
    let w = World::builder()
        .setting("CLIENT_SECRET", "")
        .setting("CLIENT_ID", "")
        .setting("CLIENT_SECRET_ARN", &arn)
        .start()
        .await;
    w.tokens.accept_only(CLIENT_ID, CLIENT_SECRET);

    let (answer, _) = w.invoke(&records(&valid_batch(10))).await;
    assert!(answer.batch_item_failures.is_empty());
    w.tokens.assert_calls(1);

    // Rotation: the secret gets a new value, the token endpoint only takes that one,
    // and the API no longer takes the old token (say it expired): it takes token 3,
    // the one issued after request 2 is refused.
    aws_sdk_secretsmanager::Client::new(&sdk)
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(credentials(ROTATED))
        .send()
        .await
        .unwrap();
    w.tokens.accept_only(CLIENT_ID, ROTATED);
    w.api.accept_only(&["tok-3"]);

    for _ in 0..5 {
        let (answer, summary) = w.invoke(&records(&valid_batch(10))).await;
        assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
        assert_eq!(summary.created, 10);
    }
    assert_eq!(w.api.created(), 60);
    // After the rotation: one request refused (invalid_client), one with the new secret.
    let sent: Vec<Option<String>> = w
        .tokens
        .recorded()
        .into_iter()
        .map(|r| r.authorization)
        .collect();
    let (old, new) = (basic(CLIENT_ID, CLIENT_SECRET), basic(CLIENT_ID, ROTATED));
    assert_eq!(
        sent,
        [Some(old.clone()), Some(old), Some(new)],
        "one rejected token request, one retried with the new secret"
    );

    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("client secret re-read from Secrets Manager"),
        "{text}"
    );
    for secret in [CLIENT_SECRET, ROTATED, "tok-1", "tok-3", "Bearer", "Basic "] {
        assert!(!text.contains(secret), "{secret:?} logged");
    }
    let encoded_old = basic(CLIENT_ID, CLIENT_SECRET);
    let encoded_new = basic(CLIENT_ID, ROTATED);
    assert!(!text.contains(&encoded_old[6..]) && !text.contains(&encoded_new[6..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_or_malformed_secret_stops_init_naming_the_setting() {
    let logs = logs();
    let tokens = TokenMock::start().await;
    let sdk = sdk(moto()).await;
    let token_url = tokens.url();
    let dlq = queue(&sdk).await;
    let config_for = |arn: &str| {
        settings(
            "http://127.0.0.1:9",
            &token_url,
            &dlq,
            &[
                ("CLIENT_SECRET", ""),
                ("CLIENT_ID", ""),
                ("CLIENT_SECRET_ARN", arn),
            ],
        )
    };

    let missing = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:missing-AbCdEf";
    let err = weather_ingest::init(&config_for(missing), &sdk)
        .await
        .unwrap_err();
    assert!(matches!(err, IngestError::SecretRead { .. }), "{err}");
    assert!(err.to_string().contains("CLIENT_SECRET_ARN"), "{err}");

    let not_json = create_secret(&sdk, "just-the-S3cr3t-Never-Logged-7f2a").await;
    let err = weather_ingest::init(&config_for(&not_json), &sdk)
        .await
        .unwrap_err();
    assert!(matches!(err, IngestError::SecretFormat(_)), "{err}");
    assert!(err.to_string().contains("CLIENT_SECRET_ARN"));
    assert!(!err.to_string().contains("S3cr3t"), "{err}");

    // CLIENT_ID set, and not the secret's.
    let other = create_secret(&sdk, &credentials(CLIENT_SECRET)).await;
    let mut config = settings(
        "http://127.0.0.1:9",
        &token_url,
        &dlq,
        &[
            ("CLIENT_SECRET", ""),
            ("CLIENT_ID", "someone-else"),
            ("CLIENT_SECRET_ARN", &other),
        ],
    );
    let err = weather_ingest::init(&config, &sdk).await.unwrap_err();
    assert!(matches!(err, IngestError::SecretFormat(_)), "{err}");
    // The same id as the secret's: fine.
    config = settings(
        "http://127.0.0.1:9",
        &token_url,
        &dlq,
        &[
            ("CLIENT_SECRET", ""),
            ("CLIENT_ID", CLIENT_ID),
            ("CLIENT_SECRET_ARN", &other),
        ],
    );
    weather_ingest::init(&config, &sdk).await.unwrap();

    // Secrets Manager unreachable.
    let down = support::sdk("http://127.0.0.1:9").await;
    let err = weather_ingest::init(&config_for(&other), &down)
        .await
        .unwrap_err();
    assert!(matches!(err, IngestError::SecretRead { .. }), "{err}");
    tokens.assert_calls(0);

    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        !text.contains(CLIENT_SECRET) && !text.contains("S3cr3t"),
        "secret logged"
    );
}
