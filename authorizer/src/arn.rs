//! Method ARNs: `arn:{partition}:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}/{path}`.

use std::fmt;

/// A method (REST) or route (HTTP API) ARN as API Gateway sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodArn {
    partition: String,
    region: String,
    account: String,
    api_id: String,
    stage: String,
    method: String,
    path: String,
}

/// The ARN was not an execute-api method ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an execute-api method ARN: {0}")]
pub struct ArnError(&'static str);

impl MethodArn {
    /// Parses a method ARN; the path keeps its leading `/` (`/` for the root).
    pub fn parse(arn: &str) -> Result<Self, ArnError> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("execute-api"), Some(region), Some(account), Some(rest)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(ArnError("expected arn:PARTITION:execute-api:REGION:ACCOUNT:..."));
        };
        let mut rest = rest.splitn(4, '/');
        let (Some(api_id), Some(stage), Some(method)) = (rest.next(), rest.next(), rest.next()) else {
            return Err(ArnError("expected API_ID/STAGE/METHOD/PATH"));
        };
        let path = format!("/{}", rest.next().unwrap_or(""));
        let fields = [partition, region, account, api_id, stage, method];
        if fields.iter().any(|f| f.is_empty() || f.contains(['*', '?'])) {
            return Err(ArnError("empty or wildcard field"));
        }
        Ok(Self {
            partition: partition.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            api_id: api_id.to_owned(),
            stage: stage.to_owned(),
            method: method.to_owned(),
            path,
        })
    }

    /// The HTTP method, upper case as API Gateway writes it.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request path, starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// An ARN for the same API and stage with `pattern` (`GET/events/*`) as
    /// method and path.
    pub fn with_resource(&self, pattern: &str) -> String {
        format!(
            "arn:{}:execute-api:{}:{}:{}/{}/{}",
            self.partition, self.region, self.account, self.api_id, self.stage, pattern
        )
    }

    /// The `METHOD/path` part as it appears in the ARN (`GET/events/42`).
    pub fn resource(&self) -> String {
        format!("{}{}", self.method, self.path)
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
        let arn = MethodArn::parse("arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/events/42").unwrap();
        assert_eq!(arn.method(), "GET");
        assert_eq!(arn.path(), "/events/42");
        assert_eq!(arn.with_resource("GET/events/*"), "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/events/*");
    }

    #[test]
    fn aws_cn_partition_and_default_stage_kept() {
        let arn = MethodArn::parse("arn:aws-cn:execute-api:cn-north-1:123456789012:abc123/$default/POST/events").unwrap();
        assert_eq!(arn.with_resource("POST/events"), "arn:aws-cn:execute-api:cn-north-1:123456789012:abc123/$default/POST/events");
        assert_eq!(arn.to_string(), "arn:aws-cn:execute-api:cn-north-1:123456789012:abc123/$default/POST/events");
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
