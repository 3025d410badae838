//! Amazon MWAA (Managed Workflows for Apache Airflow): where an environment's Airflow reads
//! its DAGs, as `GetEnvironment` says (`SourceBucketArn` and `DagS3Path`), which versions of
//! its `plugins.zip` and `requirements.txt` it runs, and `UpdateEnvironment`, the only way to
//! make it run new ones.

use aws_config::SdkConfig;
use aws_sdk_mwaa::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_mwaa::config::{ConfigBag, RuntimeComponents};
use aws_sdk_mwaa::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::endpoint::EndpointPrefix;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_types::DateTime;
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
    #[error("updating MWAA environment `{name}`: {detail}")]
    UpdateCall { name: String, detail: String },
    /// MWAA's own account of why the update failed (`LastUpdate.Error`).
    #[error("MWAA environment `{name}` failed to update ({status}): {reason}")]
    UpdateFailed {
        name: String,
        status: String,
        reason: String,
    },
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

/// An environment as `GetEnvironment` describes it: what dagship reads of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub dags: DagFolder,
    /// `AVAILABLE`, `UPDATING`, `UPDATE_FAILED`, … as MWAA spells it.
    pub status: String,
    /// `PluginsS3Path` and `PluginsS3ObjectVersion`, when set.
    pub plugins: Option<Versioned>,
    /// `RequirementsS3Path` and `RequirementsS3ObjectVersion`, when set.
    pub requirements: Option<Versioned>,
    /// The latest update MWAA records (`LastUpdate`), when there was one.
    pub last_update: Option<LastUpdate>,
}

/// `LastUpdate`: when the environment's latest update was asked for, how it went, and why
/// it failed when it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUpdate {
    pub created_at: Option<DateTime>,
    /// `SUCCESS`, `PENDING` or `FAILED`.
    pub status: Option<String>,
    /// `LastUpdate.Error` as `CODE: message`.
    pub error: Option<String>,
}

/// What a failed update says when MWAA recorded no error.
pub const NO_REASON: &str = "MWAA gave no reason";

impl LastUpdate {
    /// Why it failed, when it did.
    pub fn failure(&self) -> Option<String> {
        match (&self.error, self.status.as_deref()) {
            (Some(error), _) => Some(error.clone()),
            (None, Some("FAILED")) => Some(NO_REASON.into()),
            (None, _) => None,
        }
    }
}

/// A key in the environment's bucket and the object version the environment runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub path: String,
    pub version: Option<String>,
}

/// What an `UpdateEnvironment` sets: nothing else of the environment is sent, so nothing
/// else changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    pub plugins: Option<Versioned>,
    pub requirements: Option<Versioned>,
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
        Ok(self.environment(name).await?.dags)
    }

    /// Environment `name`: its DAG folder, status, and the plugins and requirements it runs.
    pub async fn environment(&self, name: &str) -> Result<Environment, MwaaError> {
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
        let versioned = |path: Option<&str>, version: Option<&str>| {
            path.filter(|p| !p.is_empty()).map(|path| Versioned {
                path: path.to_string(),
                version: version.map(str::to_string),
            })
        };
        let last_update = env.last_update().map(|u| LastUpdate {
            created_at: u.created_at().copied(),
            status: u.status().map(|s| s.as_str().to_string()),
            error: u.error().map(|e| {
                let message = e.error_message().unwrap_or("no message");
                match e.error_code() {
                    Some(code) => format!("{code}: {message}"),
                    None => message.to_string(),
                }
            }),
        });
        Ok(Environment {
            dags: DagFolder {
                bucket: bucket.to_string(),
                prefix: format!("{}/", path.trim_matches('/')),
            },
            status: env.status().map_or("UNKNOWN", |s| s.as_str()).to_string(),
            plugins: versioned(env.plugins_s3_path(), env.plugins_s3_object_version()),
            requirements: versioned(
                env.requirements_s3_path(),
                env.requirements_s3_object_version(),
            ),
            last_update,
        })
    }

    /// Asks environment `name` to run what `update` names (MWAA then takes 20 to 30
    /// minutes, `UPDATING`, to replace its schedulers, workers and web server).
    pub async fn update_environment(&self, name: &str, update: &Update) -> Result<(), MwaaError> {
        let mut call = self.client.update_environment().name(name);
        if let Some(p) = &update.plugins {
            call = call
                .plugins_s3_path(&p.path)
                .set_plugins_s3_object_version(p.version.clone());
        }
        if let Some(r) = &update.requirements {
            call = call
                .requirements_s3_path(&r.path)
                .set_requirements_s3_object_version(r.version.clone());
        }
        match call.send().await {
            Ok(_) => Ok(()),
            Err(e) => Err(MwaaError::UpdateCall {
                name: name.into(),
                detail: match e.message() {
                    Some(message) => format!("{}: {message}", e.code().unwrap_or("error")),
                    None => DisplayErrorContext(&e).to_string(),
                },
            }),
        }
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
