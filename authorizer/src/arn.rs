//! Method ARNs: `arn:{partition}:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}/{path}`.

use std::fmt;

/// A method (REST) or route (HTTP API) ARN as API Gateway sends it, kept as
/// one string with the offsets of its parts (parsed once per request, no
/// allocation beyond the copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodArn {
    arn: String,
    /// `arn:...:apiId/stage/`: everything before the method.
    prefix_end: usize,
    /// End of the method; the path follows (possibly empty: the root).
    method_end: usize,
}

/// The ARN was not an execute-api method ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an execute-api method ARN: {0}")]
pub struct ArnError(&'static str);

impl MethodArn {
    /// Parses a method ARN.
    pub fn parse(arn: &str) -> Result<Self, ArnError> {
        let mut parts = arn.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some("execute-api"),
            Some(region),
            Some(account),
            Some(rest),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return Err(ArnError(
                "expected arn:PARTITION:execute-api:REGION:ACCOUNT:...",
            ));
        };
        let mut fields = rest.splitn(4, '/');
        let (Some(api_id), Some(stage), Some(method)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(ArnError("expected API_ID/STAGE/METHOD/PATH"));
        };
        if [partition, region, account, api_id, stage, method]
            .iter()
            .any(|f| f.is_empty() || f.contains(['*', '?']))
        {
            return Err(ArnError("empty or wildcard field"));
        }
        let prefix_end = arn.len() - rest.len() + api_id.len() + 1 + stage.len() + 1;
        Ok(Self {
            arn: arn.to_owned(),
            prefix_end,
            method_end: prefix_end + method.len(),
        })
    }

    /// The HTTP method, upper case as API Gateway writes it.
    pub fn method(&self) -> &str {
        &self.arn[self.prefix_end..self.method_end]
    }

    /// The request path, starting with `/` (`/` for the root).
    pub fn path(&self) -> &str {
        match &self.arn[self.method_end..] {
            "" => "/",
            path => path,
        }
    }

    /// `arn:...:apiId/stage/`, the part every resource of the policy shares.
    pub fn prefix(&self) -> &str {
        &self.arn[..self.prefix_end]
    }

    /// An ARN for the same API and stage with `pattern` (`GET/events/*`) as
    /// method and path.
    pub fn with_resource(&self, pattern: &str) -> String {
        let mut out = String::with_capacity(self.prefix_end + pattern.len());
        out.push_str(self.prefix());
        out.push_str(pattern);
        out
    }

    /// The `METHOD/path` part as it appears in the ARN (`GET/events/42`).
    pub fn resource(&self) -> String {
        format!("{}{}", self.method(), self.path())
    }
}

impl fmt::Display for MethodArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.with_resource(&self.resource()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_arn_parsed() {
        let arn = MethodArn::parse(
            "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/events/42",
        )
        .unwrap();
        assert_eq!(arn.method(), "GET");
        assert_eq!(arn.path(), "/events/42");
        assert_eq!(
            arn.with_resource("GET/events/*"),
            "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/events/*"
        );
    }

    #[test]
    fn aws_cn_partition_and_default_stage_kept() {
        let arn = MethodArn::parse(
            "arn:aws-cn:execute-api:cn-north-1:123456789012:abc123/$default/POST/events",
        )
        .unwrap();
        assert_eq!(
            arn.with_resource("POST/events"),
            "arn:aws-cn:execute-api:cn-north-1:123456789012:abc123/$default/POST/events"
        );
        assert_eq!(
            arn.to_string(),
            "arn:aws-cn:execute-api:cn-north-1:123456789012:abc123/$default/POST/events"
        );
    }

    #[test]
    fn root_path_is_slash() {
        let arn = MethodArn::parse("arn:aws:execute-api:us-east-1:1:api/stage/GET/").unwrap();
        assert_eq!(arn.path(), "/");
        let arn = MethodArn::parse("arn:aws:execute-api:us-east-1:1:api/stage/GET").unwrap();
        assert_eq!(arn.path(), "/");
    }

    #[test]
    fn malformed_arns_rejected() {
        for bad in [
            "",
            "arn:aws:lambda:us-east-1:1:function:x",
            "arn:aws:execute-api:us-east-1:1:api",
            "arn:aws:execute-api:us-east-1:1:api/stage",
            "arn:aws:execute-api::1:api/stage/GET/x",
            "arn:aws:execute-api:us-east-1:1:*/stage/GET/x",
        ] {
            assert!(MethodArn::parse(bad).is_err(), "{bad}");
        }
    }
}
