//! The Secrets Manager path against moto (the pinned `moto[server]`): init reads
//! `CLIENT_SECRET_ARN` once; a secret rotated mid-run is re-read after the token
//! endpoint's `invalid_client`, and no message fails; a missing or malformed secret
//! stops init naming the setting. Every log line of the binary is captured (TRACE)
//! and must never hold the secret, a token or an Authorization header.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use support::api::ApiStub;
use support::*;
use weather_ingest::IngestError;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

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

fn basic(secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{secret}"))
    )
}

/// The token endpoint takes exactly `secret` and answers `invalid_client` (401, as
/// Cognito does) to anything else.
async fn accept_only(server: &MockServer, secret: &str, token: &str) {
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .and(header("authorization", basic(secret).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 3600,
        })))
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"error": "invalid_client"})),
        )
        .mount(server)
        .await;
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
    let api = ApiStub::start().await;
    let tokens = MockServer::start().await;
    accept_only(&tokens, CLIENT_SECRET, "tok-before-rotation").await;
    let sdk = sdk(moto()).await;
    let dlq = queue(&sdk).await;
    let arn = create_secret(&sdk, &credentials(CLIENT_SECRET)).await;
    let token_url = format!("{}/oauth2/token", tokens.uri());
    let config = settings(
        &api.url,
        &token_url,
        &dlq,
        &[
            ("CLIENT_SECRET", ""),
            ("CLIENT_ID", ""),
            ("CLIENT_SECRET_ARN", &arn),
        ],
    );
    let ingest = ingest(&config, &sdk).await;

    let (answer, _) = ingest
        .handle(&records(&valid_batch(10)), TIME_LEFT)
        .await
        .unwrap();
    assert!(answer.batch_item_failures.is_empty());
    assert_eq!(tokens.received_requests().await.unwrap().len(), 1);

    // Rotation: the secret gets a new value, the token endpoint only takes that one,
    // and the API no longer takes the old token (say it expired).
    aws_sdk_secretsmanager::Client::new(&sdk)
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(credentials(ROTATED))
        .send()
        .await
        .unwrap();
    accept_only(&tokens, ROTATED, "tok-after-rotation").await;
    api.accept_only(&["tok-after-rotation"]);

    for _ in 0..5 {
        let (answer, summary) = ingest
            .handle(&records(&valid_batch(10)), TIME_LEFT)
            .await
            .unwrap();
        assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
        assert_eq!(summary.created, 10);
    }
    assert_eq!(api.created(), 60);
    // After the rotation: one request refused (invalid_client), one with the new secret.
    let requests = tokens.received_requests().await.unwrap();
    assert_eq!(
        requests.len(),
        2,
        "one rejected token request, one retried with the new secret"
    );
    assert_eq!(
        requests[1]
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap(),
        basic(ROTATED)
    );

    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("client secret re-read from Secrets Manager"),
        "{text}"
    );
    for secret in [
        CLIENT_SECRET,
        ROTATED,
        "tok-before-rotation",
        "tok-after-rotation",
        "Bearer",
        "Basic ",
    ] {
        assert!(!text.contains(secret), "{secret:?} logged");
    }
    let encoded_old = basic(CLIENT_SECRET);
    let encoded_new = basic(ROTATED);
    assert!(!text.contains(&encoded_old[6..]) && !text.contains(&encoded_new[6..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_or_malformed_secret_stops_init_naming_the_setting() {
    let logs = logs();
    let tokens = token_server().await;
    let sdk = sdk(moto()).await;
    let token_url = format!("{}/oauth2/token", tokens.uri());
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
    assert_eq!(tokens.received_requests().await.unwrap().len(), 0);

    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        !text.contains(CLIENT_SECRET) && !text.contains("S3cr3t"),
        "secret logged"
    );
}
