//! What a plan shows of an environment's releases, read without changing anything: the
//! current release (its manifests fetched, to compare the DAGs with) and who holds the lock.
//! A store that cannot be read is said in the plan, not fatal: a plan is a preview.

use std::path::Path;

use indexmap::IndexMap;

use crate::artifact::Checkout;
use crate::cloud::Connections;
use crate::error::Error;
use crate::error_chain::ErrorChain;
use crate::pipeline::{Environment, Pipeline};
use crate::plan::ReleaseInfo;
use crate::release::checkout::{Fetch, checkout};
use crate::release::history::History;
use crate::release::lock;

/// Where a release's content is fetched to, below the pipeline file's folder.
pub(crate) fn checkout_dir(dir: &Path, release: &str) -> std::path::PathBuf {
    dir.join(".dagship/releases").join(release)
}

/// The environment's current release (fetched) and what to say of it.
pub(crate) fn read(
    pipeline: &Pipeline,
    environment: &Environment,
) -> Result<(Option<IndexMap<String, Checkout>>, ReleaseInfo), Error> {
    let mut info = ReleaseInfo::default();
    let current =
        super::block_on(async { Ok(fetch_current(pipeline, environment, &mut info).await) })?;
    Ok((current, info))
}

async fn fetch_current(
    pipeline: &Pipeline,
    environment: &Environment,
    info: &mut ReleaseInfo,
) -> Option<IndexMap<String, Checkout>> {
    let connections = Connections::default();
    let history = match History::open(environment, pipeline.dir(), &connections) {
        Ok(history) => history,
        Err(e) => {
            info.unknown = Some(ErrorChain(&e).to_string());
            return None;
        }
    };
    match lock::holder(history.store().as_ref(), &environment.name).await {
        Ok(Some((holder, _))) => info.locked_by = Some(holder.to_string()),
        Ok(None) => {}
        Err(e) => info.unknown = Some(ErrorChain(&e).to_string()),
    }
    let current = match history.current().await {
        Ok(current) => current?,
        Err(e) => {
            info.unknown = Some(ErrorChain(&e).to_string());
            return None;
        }
    };
    info.current = Some(current.summary());
    let dir = checkout_dir(pipeline.dir(), &current.id);
    match checkout(&history, &current, &dir, Fetch::Manifests).await {
        Ok(fetched) => Some(fetched),
        Err(e) => {
            info.unknown = Some(ErrorChain(&e).to_string());
            None
        }
    }
}
