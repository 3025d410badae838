//! An MWAA environment's `plugins.zip` and `requirements.txt`: objects of its (versioned)
//! bucket that it runs at the versions it names (`PluginsS3Path` and
//! `PluginsS3ObjectVersion`, `RequirementsS3Path` and `RequirementsS3ObjectVersion`).
//!
//! A file goes where the environment already reads it, else beside the DAG folder
//! (`dags/` → `plugins.zip`). Each upload is a new object version, written whatever the key
//! holds: the environment runs the version it names, not the newest, and the bucket keeps
//! the versions before, so nothing is lost. Only `UpdateEnvironment` makes it run the new
//! one; it then goes `UPDATING` and back to `AVAILABLE`, or `UPDATE_FAILED` with a reason.

use std::collections::BTreeMap;
use std::time::Duration;

use super::SyncError;
use super::packed::{PackedFiles, Uploaded};
use super::s3::{CRC32C_KEY, OWNER_KEY};
use crate::action::Folder;
use crate::aws::mwaa::{Environment, Mwaa, Update, Versioned};
use crate::aws::mwaa_update::{Progress, UpdateWatch};
use crate::aws::s3::S3;
use crate::checksum::crc32c_b64;

/// The first wait before asking how an update goes; each next one is twice as long, up to
/// [`LONGEST_POLL`]. An update takes 20 to 30 minutes: a minute between questions at most
/// tells its end soon enough and keeps far below MWAA's request rate.
const FIRST_POLL: Duration = Duration::from_secs(1);
const LONGEST_POLL: Duration = Duration::from_secs(60);

pub(super) struct MwaaFiles {
    mwaa: Mwaa,
    s3: S3,
    name: String,
    /// The environment as it was when opened: where its files are, which versions it runs.
    env: Environment,
    /// Who uploads (`pipeline/step`), as the objects' metadata names it.
    owner: String,
}

impl MwaaFiles {
    pub(super) fn new(mwaa: Mwaa, s3: S3, name: &str, env: Environment, owner: &str) -> MwaaFiles {
        MwaaFiles {
            mwaa,
            s3,
            name: name.to_string(),
            env,
            owner: owner.to_string(),
        }
    }

    fn named(&self, folder: Folder) -> Option<&Versioned> {
        match folder {
            Folder::Plugins => self.env.plugins.as_ref(),
            Folder::Requirements => self.env.requirements.as_ref(),
            Folder::Dags | Folder::Data => None,
        }
    }

    /// The key of `folder`'s file: where the environment reads it, else beside `dags/`.
    fn key(&self, folder: Folder) -> String {
        if let Some(named) = self.named(folder) {
            return named.path.trim_start_matches('/').to_string();
        }
        let file = match folder {
            Folder::Plugins => "plugins.zip",
            _ => "requirements.txt",
        };
        match self.env.dags.prefix.trim_matches('/').rsplit_once('/') {
            Some((above, _)) => format!("{above}/{file}"),
            None => file.to_string(),
        }
    }
}

#[async_trait::async_trait]
impl PackedFiles for MwaaFiles {
    fn url(&self, folder: Folder) -> String {
        format!("s3://{}/{}", self.env.dags.bucket, self.key(folder))
    }

    fn runs_any(&self, folder: Folder) -> bool {
        self.named(folder).is_some()
    }

    async fn runs(&self, folder: Folder, crc32c: &str) -> Result<bool, SyncError> {
        let Some(Versioned {
            path,
            version: Some(version),
        }) = self.named(folder)
        else {
            return Ok(false);
        };
        let bucket = &self.env.dags.bucket;
        let path = path.trim_start_matches('/');
        let found = self.s3.head_version(bucket, path, version).await?;
        Ok(found.is_some_and(|o| o.crc32c.as_deref() == Some(crc32c)))
    }

    async fn upload(&self, folder: Folder, bytes: Vec<u8>) -> Result<Uploaded, SyncError> {
        let metadata = BTreeMap::from([
            (CRC32C_KEY.to_string(), crc32c_b64(&bytes)),
            (OWNER_KEY.to_string(), self.owner.clone()),
        ]);
        let key = self.key(folder);
        let bucket = &self.env.dags.bucket;
        let version = self.s3.put_version(bucket, &key, bytes, &metadata).await?;
        Ok(Uploaded {
            folder,
            path: key,
            version,
        })
    }

    async fn apply(
        &self,
        uploaded: &[Uploaded],
        say: &(dyn Fn(String) + Send + Sync),
    ) -> Result<(), SyncError> {
        let mut update = Update::default();
        for u in uploaded {
            let named = Some(Versioned {
                path: u.path.clone(),
                version: Some(u.version.clone()),
            });
            match u.folder {
                Folder::Plugins => update.plugins = named,
                Folder::Requirements => update.requirements = named,
                Folder::Dags | Folder::Data => {}
            }
        }
        self.mwaa.update_environment(&self.name, &update).await?;
        say(format!(
            "updating MWAA environment `{}` (this takes 20 to 30 minutes)",
            self.name
        ));
        let mut watch = UpdateWatch::new(self.env.last_update.clone());
        let mut wait = FIRST_POLL;
        let mut last = String::new();
        loop {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(LONGEST_POLL);
            let env = self.mwaa.environment(&self.name).await?;
            match watch.judge(&self.name, &env)? {
                Progress::Done => {
                    say(format!("MWAA environment `{}` is AVAILABLE", self.name));
                    return Ok(());
                }
                Progress::Working(status) if status != last => {
                    say(format!("MWAA environment `{}` is {status}", self.name));
                    last = status;
                }
                Progress::Working(_) => {}
            }
        }
    }
}
