//! A do-nothing Lambda function on the same runtime (`lambda_runtime`, one
//! current-thread tokio runtime): the floor `runtime_cost` measures against.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, lambda_runtime::Error>(Value::Null)
    }))
    .await
}
