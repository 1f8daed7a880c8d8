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
    /// The DynamoDB table holding the events (a name or ARN). `None` (the default): the
    /// in-memory store, per container, as for `cargo lambda watch` and the fixtures.
    pub events_table: Option<String>,
}

impl Config {
    /// Name of the setting for [`Config::anonymous_caller`].
    pub const ANONYMOUS_CALLER: &'static str = "WEATHER_API_ANONYMOUS_CALLER";
    /// Name of the setting for [`Config::events_table`].
    pub const EVENTS_TABLE: &'static str = "EVENTS_TABLE";

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
        let events_table = match lookup(Self::EVENTS_TABLE) {
            None => None,
            Some(value) => Some(table_name(&value)?),
        };
        #[cfg(not(feature = "dynamodb"))]
        if events_table.is_some() {
            return Err(ApiError::InvalidSetting {
                name: Self::EVENTS_TABLE,
                reason: "is set, but this build has no DynamoDB store (built without the `dynamodb` feature): unset it for the in-memory store, or build with the feature",
            });
        }
        Ok(Self {
            anonymous_caller,
            events_table,
        })
    }
}

/// A DynamoDB table name (3 to 255 of `A-Z a-z 0-9 _ - .`) or a table ARN.
fn table_name(value: &str) -> Result<String, ApiError> {
    let invalid = |reason| ApiError::InvalidSetting {
        name: Config::EVENTS_TABLE,
        reason,
    };
    if value.trim().is_empty() {
        return Err(invalid(
            "must not be blank (unset it for the in-memory store)",
        ));
    }
    let is_arn = value.starts_with("arn:") && value.contains(":table/") && !value.contains(' ');
    let is_name = (3..=255).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if is_arn || is_name {
        Ok(value.to_owned())
    } else {
        Err(invalid(
            "must be a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ - .) or a table ARN",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "dynamodb"))]
    #[test]
    fn events_table_without_the_dynamodb_feature_stops_init_naming_it() {
        let err = Config::from_lookup(|name| {
            (name == "EVENTS_TABLE").then(|| "weather-events".to_owned())
        })
        .unwrap_err();
        assert!(
            matches!(
                err,
                ApiError::InvalidSetting {
                    name: "EVENTS_TABLE",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("EVENTS_TABLE"), "{err}");
        assert!(err.to_string().contains("`dynamodb` feature"), "{err}");
        // Unset: the in-memory store, as with the feature.
        assert_eq!(Config::from_lookup(|_| None).unwrap().events_table, None);
    }

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

    #[cfg(feature = "dynamodb")]
    #[test]
    fn events_table_read_and_checked() {
        let with = |value: &str| {
            let value = value.to_owned();
            Config::from_lookup(move |name| (name == "EVENTS_TABLE").then(|| value.clone()))
        };
        assert_eq!(
            with("weather-events").unwrap().events_table.as_deref(),
            Some("weather-events")
        );
        let arn = "arn:aws:dynamodb:eu-west-2:123456789012:table/weather-events";
        assert_eq!(with(arn).unwrap().events_table.as_deref(), Some(arn));
        for bad in ["", "  ", "ab", "has space", "événements"] {
            let err = with(bad).unwrap_err();
            assert!(err.to_string().contains("EVENTS_TABLE"), "{bad:?}: {err}");
        }
        assert_eq!(Config::from_lookup(|_| None).unwrap().events_table, None);
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
