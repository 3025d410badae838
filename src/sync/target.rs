//! Which destination a pipeline's `dags_target` names, decided here and nowhere else: a
//! local folder, a bucket and prefix, a Composer environment's bucket (looked up through
//! the Composer API), an S3 prefix, or an MWAA environment's (looked up through the MWAA
//! API); `dags/`, or `plugins/` or `data/` beside it.

use std::path::Path;

use super::mwaa_packed::MwaaFiles;
use super::packed::PackedFiles;
use super::{Destination, SyncError, gcs, local, s3};
use crate::action::{AirflowAt, Folder};
use crate::cloud::{Connections, Provider};
use crate::gcp::composer;
use crate::gcp::endpoints::Endpoints;
use crate::pipeline::DagsTarget;

/// Where a sync runs: the pipeline file's folder (local paths resolve against it), and how
/// clouds are reached (a Composer environment is looked up in `project` and `region`).
pub struct Place<'a> {
    pub dir: &'a Path,
    /// Who syncs (`pipeline/step`): only what it wrote is ever pruned by it.
    pub owner: &'a str,
    pub project: Option<&'a str>,
    pub region: Option<&'a str>,
    pub impersonate: Option<&'a str>,
    /// The IAM role AWS calls are made as.
    pub assume_role: Option<&'a str>,
    pub connections: &'a Connections,
}

/// The cloud a target is in, when reaching it needs credentials (an emulator needs none).
pub fn provider(target: &DagsTarget) -> Option<Provider> {
    match target {
        DagsTarget::Dir { .. } => None,
        DagsTarget::Bucket { .. } if Endpoints::from_env().storage_emulator => None,
        DagsTarget::Bucket { .. } | DagsTarget::Composer { .. } => Some(Provider::Google),
        DagsTarget::S3 { .. } | DagsTarget::Mwaa { .. } => Some(Provider::Aws),
    }
}

/// Whether finding `target` needs the environment's `region` from the pipeline file: a
/// Composer environment is looked up by project and region, and only the project may come
/// from the machine (`GOOGLE_CLOUD_PROJECT`).
pub fn needs_region(target: &DagsTarget) -> bool {
    matches!(target, DagsTarget::Composer { .. })
}

/// The Airflow that parses what is synced to `target`, where it is known: a Composer
/// environment's own, or the one at `airflow_url` that reads a local folder.
pub fn airflow_at(target: &DagsTarget, airflow_url: Option<&str>) -> Option<AirflowAt> {
    match (target, airflow_url) {
        (DagsTarget::Composer { environment }, _) => Some(AirflowAt::Composer {
            environment: environment.clone(),
        }),
        (DagsTarget::Dir { .. }, Some(url)) => Some(AirflowAt::Url {
            url: url.to_string(),
        }),
        (DagsTarget::Dir { .. }, None)
        | (DagsTarget::Bucket { .. } | DagsTarget::S3 { .. } | DagsTarget::Mwaa { .. }, _) => None,
    }
}

/// Where `folder` is, given the DAG folder `dags` (a path or an object prefix): the DAG folder
/// itself, or the folder of that name beside it (`a/dags/` → `a/plugins/`).
pub fn beside(dags: &str, folder: Folder) -> String {
    if folder == Folder::Dags {
        return dags.to_string();
    }
    let trimmed = dags.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some((parent, _)) => format!("{parent}/{}", folder.name()),
        None if trimmed.is_empty() => folder.name().to_string(),
        None => folder.name().to_string(),
    }
}

/// Whether `target` reads `folder` packed in one file it runs at a version it names (MWAA:
/// `plugins.zip` and `requirements.txt`) rather than file by file.
pub fn packs(target: &DagsTarget, folder: Folder) -> bool {
    matches!(
        (target, folder),
        (
            DagsTarget::Mwaa { .. },
            Folder::Plugins | Folder::Requirements
        )
    )
}

/// What applying `target`'s packed files takes, for a plan: what is updated, and how long
/// it takes; `None` for a target that reads no file packed.
pub fn applied_by(target: &DagsTarget) -> Option<String> {
    match target {
        DagsTarget::Mwaa { environment } => Some(format!(
            "update MWAA environment `{environment}` to run it (one update for all its files; MWAA takes 20 to 30 minutes)"
        )),
        DagsTarget::Dir { .. }
        | DagsTarget::Bucket { .. }
        | DagsTarget::Composer { .. }
        | DagsTarget::S3 { .. } => None,
    }
}

/// How a plan names the destination of `folder` for `target`.
pub fn describe(target: &DagsTarget, folder: Folder) -> String {
    match (target, folder) {
        (DagsTarget::Mwaa { environment }, Folder::Plugins) => {
            format!("the plugins.zip of MWAA environment `{environment}`")
        }
        (DagsTarget::Mwaa { environment }, Folder::Requirements) => {
            format!("the requirements.txt of MWAA environment `{environment}`")
        }
        (_, Folder::Dags) => target.to_string(),
        (DagsTarget::Dir { path }, _) => beside(path, folder),
        (DagsTarget::Bucket { bucket, prefix }, _) => {
            let at = DagsTarget::Bucket {
                bucket: bucket.clone(),
                prefix: format!("{}/", beside(prefix, folder)),
            };
            at.to_string()
        }
        (DagsTarget::Composer { environment }, _) => format!(
            "the {} folder of Composer environment `{environment}`",
            folder.name()
        ),
        (DagsTarget::S3 { bucket, prefix }, _) => {
            format!("s3://{bucket}/{}/", beside(prefix, folder))
        }
        (DagsTarget::Mwaa { environment }, _) => format!(
            "the {} folder of MWAA environment `{environment}`",
            folder.name()
        ),
    }
}

/// Why `target` cannot be reached from `place` for want of credentials, if it cannot.
pub fn credentials_problem(target: &DagsTarget, place: &Place<'_>) -> Option<String> {
    match provider(target)? {
        Provider::Google => place
            .connections
            .google(place.project, place.impersonate)
            .credentials_problem(),
        Provider::Aws => place
            .connections
            .aws(place.region, place.assume_role)
            .credentials_problem(),
    }
}

/// The folder `target` names for `folder` (Airflow's `dags/`, or `plugins/` or `data/`
/// beside it), looking a Composer environment's bucket up when it is one.
pub async fn open(
    target: &DagsTarget,
    folder: Folder,
    place: &Place<'_>,
) -> Result<Box<dyn Destination>, SyncError> {
    let google = || place.connections.google(place.project, place.impersonate);
    let aws = || place.connections.aws(place.region, place.assume_role);
    match target {
        DagsTarget::Dir { path } => {
            let path = beside(path, folder);
            let root = place.dir.join(&path);
            Ok(Box::new(local::LocalDir::new(root, &path, place.owner)))
        }
        DagsTarget::Bucket { bucket, prefix } => Ok(Box::new(gcs::GcsFolder::new(
            google().storage.clone(),
            bucket,
            &beside(prefix, folder),
            place.owner,
        ))),
        DagsTarget::Composer { environment } => {
            let cloud = google();
            let (Some(project), Some(region)) = (cloud.project.as_deref(), place.region) else {
                return Err(SyncError::ComposerPlace {
                    environment: environment.clone(),
                });
            };
            let found = composer::dag_folder(
                &cloud.api,
                &cloud.endpoints.composer,
                project,
                region,
                environment,
            )
            .await?;
            Ok(Box::new(gcs::GcsFolder::new(
                cloud.storage.clone(),
                &found.bucket,
                &beside(&found.prefix, folder),
                place.owner,
            )))
        }
        DagsTarget::S3 { bucket, prefix } => Ok(Box::new(s3::S3Folder::new(
            aws().s3().await,
            bucket,
            &beside(prefix, folder),
            place.owner,
        ))),
        DagsTarget::Mwaa { environment } => {
            let cloud = aws();
            let found = cloud.mwaa().await.dag_folder(environment).await?;
            Ok(Box::new(s3::S3Folder::new(
                cloud.s3().await,
                &found.bucket,
                &beside(&found.prefix, folder),
                place.owner,
            )))
        }
    }
}

/// The environment that `target` names, for the files it reads packed ([`packs`]); `None`
/// for a target that reads none so.
pub async fn open_packed(
    target: &DagsTarget,
    place: &Place<'_>,
) -> Result<Option<Box<dyn PackedFiles>>, SyncError> {
    match target {
        DagsTarget::Mwaa { environment } => {
            let cloud = place.connections.aws(place.region, place.assume_role);
            let mwaa = cloud.mwaa().await;
            let env = mwaa.environment(environment).await?;
            Ok(Some(Box::new(MwaaFiles::new(
                mwaa,
                cloud.s3().await,
                environment,
                env,
                place.owner,
            ))))
        }
        DagsTarget::Dir { .. }
        | DagsTarget::Bucket { .. }
        | DagsTarget::Composer { .. }
        | DagsTarget::S3 { .. } => Ok(None),
    }
}
