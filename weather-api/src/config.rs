//! Configuration, read once at init from one lookup function (the environment in `main`).

use crate::context::Caller;
use crate::error::ApiError;

/// The function's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Who creates events when a request carries no authorizer identity. `None` (the
    /// default) refuses such writes with 401; set it only where no authorizer can run,
    /// such as `cargo lambda watch` function URLs on a developer's machine.
    pub anonymous_caller: Option<Caller>,
}

impl Config {
    /// Name of the setting for [`Config::anonymous_caller`].
    pub const ANONYMOUS_CALLER: &'static str = "WEATHER_API_ANONYMOUS_CALLER";

    /// Reads the settings through `lookup` (e.g. `|name| std::env::var(name).ok()`).
    /// A setting that is present but blank is an error naming it, not a silent default.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ApiError> {
        let anonymous_caller = match lookup(Self::ANONYMOUS_CALLER) {
            None => None,
            Some(value) if value.trim().is_empty() => {
                return Err(ApiError::InvalidSetting {
                    name: Self::ANONYMOUS_CALLER,
                    reason: "must not be blank (unset it to refuse anonymous writes)",
                });
            }
            Some(value) => Some(Caller::new(value)),
        };
        Ok(Self { anonymous_caller })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_means_no_anonymous_writes() {
        assert_eq!(Config::from_lookup(|_| None).unwrap(), Config::default());
        assert_eq!(Config::default().anonymous_caller, None);
    }

    #[test]
    fn anonymous_caller_read_from_its_setting() {
        let config = Config::from_lookup(|name| {
            (name == "WEATHER_API_ANONYMOUS_CALLER").then(|| "local-dev".to_owned())
        })
        .unwrap();
        assert_eq!(config.anonymous_caller.unwrap().id(), "local-dev");
    }

    #[test]
    fn blank_setting_is_an_error_naming_it() {
        let err = Config::from_lookup(|_| Some("  ".to_owned())).unwrap_err();
        assert!(matches!(
            err,
            ApiError::InvalidSetting {
                name: "WEATHER_API_ANONYMOUS_CALLER",
                ..
            }
        ));
        assert!(
            err.to_string().contains("WEATHER_API_ANONYMOUS_CALLER"),
            "{err}"
        );
    }
}
