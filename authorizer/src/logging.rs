//! Logging: `lambda_runtime`'s default subscriber (level from
//! `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, JSON with `AWS_LAMBDA_LOG_FORMAT=JSON`),
//! except that the runtime's own crates never log below DEBUG: at TRACE they
//! print every event body, and an authorizer's event body is a token.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// The runtime crates whose TRACE output contains event bodies.
const CAPPED: [&str; 2] = ["lambda_runtime", "lambda_runtime_api_client"];

/// The filter: the configured level, with the runtime crates capped at DEBUG.
pub(crate) fn filter(level: Option<&str>) -> EnvFilter {
    let level = level
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let mut filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .parse_lossy("");
    if level == LevelFilter::TRACE {
        for target in CAPPED {
            if let Ok(directive) = format!("{target}=debug").parse() {
                filter = filter.add_directive(directive);
            }
        }
    }
    filter
}

/// Installs the subscriber; call once at init.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(filter(level.as_deref()));
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_level_keeps_runtime_crates_at_debug() {
        let text = filter(Some("trace")).to_string();
        assert!(text.contains("lambda_runtime=debug"), "{text}");
        assert!(text.contains("lambda_runtime_api_client=debug"), "{text}");
        assert!(text.contains("trace"), "{text}");
    }

    #[test]
    fn default_level_is_info() {
        assert_eq!(filter(None).to_string(), "info");
        assert_eq!(filter(Some("nonsense")).to_string(), "info");
        assert_eq!(filter(Some("warn")).to_string(), "warn");
    }
}
