//! Cloud Composer (API v1): where an environment's Airflow reads its DAGs
//! (`config.dagGcsPrefix`) and where its Airflow answers (`config.airflowUri`).

use serde::Deserialize;

use super::http::{Api, ApiError};

#[derive(Debug, Clone, thiserror::Error)]
pub enum ComposerError {
    #[error("Composer environment `{name}` was not found in project {project}, region {region}")]
    NotFound {
        name: String,
        project: String,
        region: String,
    },
    #[error("Composer environment `{name}` has no DAG folder yet (state {state})")]
    NoDagFolder { name: String, state: String },
    #[error("Composer environment `{name}`: unexpected DAG folder `{prefix}`")]
    BadPrefix { name: String, prefix: String },
    #[error("Composer environment `{name}` has no Airflow web server yet (state {state})")]
    NoAirflowUri { name: String, state: String },
    #[error("reading Composer environment `{name}`: {error}")]
    Api { name: String, error: ApiError },
}

/// A bucket and the object prefix of its DAG folder (`dags/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagFolder {
    pub bucket: String,
    pub prefix: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Environment {
    #[serde(default)]
    config: Config,
    #[serde(default)]
    state: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Config {
    dag_gcs_prefix: Option<String>,
    airflow_uri: Option<String>,
}

impl Environment {
    /// The environment's state, for a sentence (`CREATING`, `RUNNING`, ...).
    fn state(self) -> String {
        if self.state.is_empty() {
            "unknown".into()
        } else {
            self.state
        }
    }
}

/// Reads environment `name`.
async fn environment(
    api: &Api,
    base: &str,
    project: &str,
    region: &str,
    name: &str,
) -> Result<Environment, ComposerError> {
    let url = format!("{base}/v1/projects/{project}/locations/{region}/environments/{name}");
    match api.call(|http| http.get(&url)).await {
        Ok(reply) => reply.json(),
        Err(e) => Err(e),
    }
    .map_err(|error| match error.status() {
        Some(404) => ComposerError::NotFound {
            name: name.into(),
            project: project.into(),
            region: region.into(),
        },
        _ => ComposerError::Api {
            name: name.into(),
            error,
        },
    })
}

/// Looks up `config.dagGcsPrefix` (`gs://BUCKET/dags`) of environment `name`.
pub async fn dag_folder(
    api: &Api,
    base: &str,
    project: &str,
    region: &str,
    name: &str,
) -> Result<DagFolder, ComposerError> {
    let mut env = environment(api, base, project, region, name).await?;
    let Some(prefix) = env.config.dag_gcs_prefix.take().filter(|p| !p.is_empty()) else {
        return Err(ComposerError::NoDagFolder {
            name: name.into(),
            state: env.state(),
        });
    };
    parse_gs(&prefix).ok_or(ComposerError::BadPrefix {
        name: name.into(),
        prefix,
    })
}

/// Looks up `config.airflowUri` of environment `name`: the base URL of its Airflow web server
/// and REST API (`https://...composer.googleusercontent.com`), without a trailing `/`.
pub async fn airflow_uri(
    api: &Api,
    base: &str,
    project: &str,
    region: &str,
    name: &str,
) -> Result<String, ComposerError> {
    let mut env = environment(api, base, project, region, name).await?;
    match env.config.airflow_uri.take().filter(|u| !u.is_empty()) {
        Some(uri) => Ok(uri.trim_end_matches('/').to_string()),
        None => Err(ComposerError::NoAirflowUri {
            name: name.into(),
            state: env.state(),
        }),
    }
}

/// `gs://bucket/dags` → bucket `bucket`, prefix `dags/`.
pub fn parse_gs(url: &str) -> Option<DagFolder> {
    let rest = url.strip_prefix("gs://")?;
    let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return None;
    }
    let path = path.trim_matches('/');
    Some(DagFolder {
        bucket: bucket.into(),
        prefix: if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dag_prefixes() {
        let f = parse_gs("gs://europe-west1-c-1234-bucket/dags").unwrap();
        assert_eq!(
            (f.bucket.as_str(), f.prefix.as_str()),
            ("europe-west1-c-1234-bucket", "dags/")
        );
        assert_eq!(parse_gs("gs://b").unwrap().prefix, "");
        assert!(parse_gs("s3://b/dags").is_none());
    }
}
