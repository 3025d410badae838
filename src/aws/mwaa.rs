//! Amazon MWAA (Managed Workflows for Apache Airflow): where an environment's Airflow reads
//! its DAGs, as `GetEnvironment` says (`SourceBucketArn` and `DagS3Path`).

use aws_config::SdkConfig;
use aws_sdk_mwaa::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_mwaa::config::{ConfigBag, RuntimeComponents};
use aws_sdk_mwaa::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::endpoint::EndpointPrefix;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_types::error::display::DisplayErrorContext;

use super::endpoints::Endpoints;

#[derive(Debug, Clone, thiserror::Error)]
pub enum MwaaError {
    #[error("MWAA environment `{name}` was not found{}", in_region(region))]
    NotFound {
        name: String,
        region: Option<String>,
    },
    #[error("MWAA environment `{name}` names no DAG folder (`SourceBucketArn`, `DagS3Path`)")]
    NoDagFolder { name: String },
    #[error("MWAA environment `{name}`: `{arn}` is not an S3 bucket's ARN (arn:aws:s3:::BUCKET)")]
    BadBucketArn { name: String, arn: String },
    #[error("reading MWAA environment `{name}`: {detail}")]
    Call { name: String, detail: String },
}

fn in_region(region: &Option<String>) -> String {
    region
        .as_ref()
        .map_or(String::new(), |r| format!(" in region {r}"))
}

/// A bucket and the key prefix of its DAG folder (`dags/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagFolder {
    pub bucket: String,
    pub prefix: String,
}

pub struct Mwaa {
    client: aws_sdk_mwaa::Client,
    region: Option<String>,
}

impl Mwaa {
    pub fn new(config: &SdkConfig, endpoints: &Endpoints) -> Mwaa {
        let mut conf = aws_sdk_mwaa::config::Builder::from(config);
        if let Some(url) = &endpoints.mwaa {
            conf = conf.endpoint_url(url);
            if names_no_host(url) {
                conf = conf.interceptor(NoHostPrefix);
            }
        }
        Mwaa {
            client: aws_sdk_mwaa::Client::from_conf(conf.build()),
            region: config.region().map(ToString::to_string),
        }
    }

    /// Where environment `name` reads its DAG files.
    pub async fn dag_folder(&self, name: &str) -> Result<DagFolder, MwaaError> {
        let call = self.client.get_environment().name(name).send().await;
        let found = match call {
            Ok(found) => found,
            Err(e) => return Err(self.error(name, e)),
        };
        let no_folder = || MwaaError::NoDagFolder { name: name.into() };
        let env = found.environment().ok_or_else(no_folder)?;
        let (Some(arn), Some(path)) = (env.source_bucket_arn(), env.dag_s3_path()) else {
            return Err(no_folder());
        };
        let bucket = bucket_of_arn(arn).ok_or_else(|| MwaaError::BadBucketArn {
            name: name.into(),
            arn: arn.into(),
        })?;
        Ok(DagFolder {
            bucket: bucket.to_string(),
            prefix: format!("{}/", path.trim_matches('/')),
        })
    }

    fn error<E>(
        &self,
        name: &str,
        e: SdkError<E, aws_sdk_mwaa::config::http::HttpResponse>,
    ) -> MwaaError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match e.code() {
            Some("ResourceNotFoundException") => MwaaError::NotFound {
                name: name.into(),
                region: self.region.clone(),
            },
            _ => MwaaError::Call {
                name: name.into(),
                detail: DisplayErrorContext(&e).to_string(),
            },
        }
    }
}

/// Whether `url` names its host by address (or `localhost`), which takes no prefix.
fn names_no_host(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok()
}

/// MWAA's control plane calls go to `api.` in front of the endpoint's host. An endpoint
/// given by address (a local stand-in such as moto) has no such name: the prefix is dropped.
#[derive(Debug)]
struct NoHostPrefix;

impl Intercept for NoHostPrefix {
    fn name(&self) -> &'static str {
        "NoHostPrefix"
    }

    fn read_before_serialization(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().unset::<EndpointPrefix>();
        Ok(())
    }
}

/// `arn:aws:s3:::BUCKET` (in any partition) → `BUCKET`.
pub fn bucket_of_arn(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:")?;
    let (_partition, rest) = rest.split_once(':')?;
    let bucket = rest.strip_prefix("s3:::")?;
    (!bucket.is_empty() && !bucket.contains('/')).then_some(bucket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_arns_in_every_partition() {
        assert_eq!(
            bucket_of_arn("arn:aws:s3:::airflow-acme"),
            Some("airflow-acme")
        );
        assert_eq!(bucket_of_arn("arn:aws-cn:s3:::dags"), Some("dags"));
        assert_eq!(bucket_of_arn("arn:aws:s3:::dags/x"), None);
        assert_eq!(bucket_of_arn("arn:aws:iam::123:role/x"), None);
        assert_eq!(bucket_of_arn("airflow-acme"), None);
    }

    #[test]
    fn hosts_named_by_address_take_no_prefix() {
        for local in [
            "http://127.0.0.1:5000",
            "http://localhost:4566/",
            "http://[::1]:9",
        ] {
            assert!(names_no_host(local), "{local}");
        }
        assert!(!names_no_host(
            "https://vpce-1.airflow.eu-west-1.vpce.amazonaws.com"
        ));
    }
}
