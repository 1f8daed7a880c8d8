//! `scripts/invoke-fixtures CRATE`: every fixture of `CRATE/fixtures/expected.json`,
//! in its order, through the real `cargo lambda invoke` against one `cargo lambda watch`
//! (started and stopped by the local stack's supervisor, with the table's `env_file`),
//! each answer parsed and checked against the table.
//!
//! Port: `AUTHORIZER_WATCH_PORT` for `authorizer`, `WEATHER_API_WATCH_PORT` for
//! `weather-api` (the crate name upper-cased, `-` as `_`, then `_WATCH_PORT`); unset or
//! 0: a free port. Logs: `target/invoke-fixtures/CRATE/`.

use std::path::Path;
use std::process::ExitCode;

use local_stack::StackError;
use local_stack::stack::workspace_dir;
use local_stack::watch::{self, InvokeAnswer};
use test_support::fixtures::{ExpectedTable, Outcome};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [krate] = args.as_slice() else {
        eprintln!("usage: scripts/invoke-fixtures CRATE   (e.g. authorizer, weather-api)");
        return ExitCode::from(2);
    };
    let workspace = workspace_dir();
    let table = match ExpectedTable::load(&workspace, krate) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("invoke-fixtures: {e}");
            return ExitCode::from(2);
        }
    };
    let setting = format!("{}_WATCH_PORT", krate.to_uppercase().replace('-', "_"));
    let port = match std::env::var(&setting)
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        None => 0,
        Some(v) => match v.trim().parse::<u16>() {
            Ok(p) => p,
            Err(_) => {
                eprintln!("invoke-fixtures: invalid setting {setting}: {v:?} is not a port number");
                return ExitCode::from(2);
            }
        },
    };
    match run(&workspace, krate, &table, port).await {
        Ok((passed, failed)) => {
            println!("{passed} passed, {failed} failed");
            if failed == 0 && passed > 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("invoke-fixtures: {e}");
            if let StackError::Service { .. } = e {
                eprintln!("(set {setting} to another port, or leave it unset for a free one)");
            }
            ExitCode::FAILURE
        }
    }
}

/// Builds the function, starts the watcher, invokes every fixture, stops the watcher:
/// `(passed, failed)`.
async fn run(
    workspace: &Path,
    krate: &str,
    table: &ExpectedTable,
    port: u16,
) -> Result<(usize, usize), StackError> {
    let logs = workspace.join("target").join("invoke-fixtures").join(krate);
    std::fs::create_dir_all(&logs).map_err(|source| StackError::Io {
        what: format!("creating {}", logs.display()),
        source,
    })?;
    watch::check_cargo_lambda(workspace).await?;
    watch::build(
        workspace,
        std::slice::from_ref(&table.function),
        &logs.join("build.log"),
    )
    .await?;
    let env_file = table.env_file.as_ref().map(|f| workspace.join(f));
    let mut watcher = watch::watcher_spec(
        workspace,
        port,
        env_file.as_deref(),
        &logs.join("watch.log"),
    )
    .start()
    .await?;
    let (mut passed, mut failed) = (0, 0);
    for fixture in &table.fixtures {
        let event = workspace.join(krate).join("fixtures").join(&fixture.file);
        let result = watch::invoke(workspace, watcher.port(), &table.function, &event).await;
        let checked = match result {
            Ok(InvokeAnswer::Ok(answer)) => fixture.expect.check(&Outcome::Answer(answer)),
            Ok(InvokeAnswer::Error(message)) => fixture.expect.check(&Outcome::Error(message)),
            Ok(InvokeAnswer::Failed(output)) => {
                Err(format!("cargo lambda invoke failed: {output}"))
            }
            Err(e) => Err(e.to_string()),
        };
        match checked {
            Ok(()) => {
                println!("ok   {} -> {}", fixture.file, fixture.expect);
                passed += 1;
            }
            Err(problem) => {
                println!("FAIL {}: {problem}", fixture.file);
                failed += 1;
            }
        }
    }
    watcher.stop().await;
    Ok((passed, failed))
}
