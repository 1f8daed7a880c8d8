//! `scripts/local-stack`: the whole system on 127.0.0.1 until Ctrl-C.
//! Settings: LOCAL_API_PORT (3000), LOCAL_COGNITO_PORT (3001), LOCAL_LAMBDA_PORT (3002),
//! LOCAL_AWS_PORT (3003, moto),
//! LOCAL_STACK_LOG_DIR (target/local-stack), LOCAL_TOKEN_EXPIRES_IN (the template's).

use std::process::ExitCode;

use local_stack::{Stack, StackOptions};

#[tokio::main]
async fn main() -> ExitCode {
    let options = match StackOptions::from_lookup(|name| std::env::var(name).ok()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("local-stack: {e}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "local-stack: building and starting (logs in {})...",
        options.log_dir.display()
    );
    let stack = match Stack::start(options).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("local-stack: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", local_stack::banner::for_stack(&stack));
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("local-stack: cannot listen for SIGTERM: {e}");
                return ExitCode::FAILURE;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    eprintln!("local-stack: stopping...");
    stack.stop().await;
    eprintln!("local-stack: stopped");
    ExitCode::SUCCESS
}
