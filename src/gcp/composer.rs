//! Cloud Composer (API v1): where an environment's Airflow reads its DAGs.

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
}

/// Looks up `config.dagGcsPrefix` (`gs://BUCKET/dags`) of environment `name`.
pub async fn dag_folder(
    api: &Api,
    base: &str,
    project: &str,
    region: &str,
    name: &str,
) -> Result<DagFolder, ComposerError> {
    let url = format!("{base}/v1/projects/{project}/locations/{region}/environments/{name}");
    let env: Environment = match api.call(|http| http.get(&url)).await {
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
    })?;
    let Some(prefix) = env.config.dag_gcs_prefix.filter(|p| !p.is_empty()) else {
        return Err(ComposerError::NoDagFolder {
            name: name.into(),
            state: if env.state.is_empty() {
                "unknown".into()
            } else {
                env.state
            },
        });
    };
    parse_gs(&prefix).ok_or(ComposerError::BadPrefix {
        name: name.into(),
        prefix,
    })
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
