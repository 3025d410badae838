//! The `airflow_dags` step in a release: the files it generated recorded by content, written
//! again from a release instead of generated (`promote`, `rollback`), and a plan's view of how
//! the DAGs change from the current release, per DAG in dbt's terms.

use std::path::{Path, PathBuf};

use super::{ArtifactError, Done, Inputs, Redeployed};
use crate::action::{Action, DagChanges, FileList, Generate, Live, ReleaseFiles};
use crate::artifact::{Artifact, BundleFile, Checkout, DagBundle};
use crate::dags::{self, Side};
use crate::exec::{Failure, StepContext};
use crate::expr::Resolved;

/// The files the step wrote into its folder (the settings module aside: each environment
/// writes its own), and the manifest and selectors they came from.
pub(super) fn artifact(done: &Done) -> Result<Option<Artifact>, ArtifactError> {
    let Some(Action::Generate(g)) = done.actions.first() else {
        return Ok(None);
    };
    let fail = |reason: String| ArtifactError {
        step: "airflow_dags".to_string(),
        reason,
    };
    let out = g.out.reveal().map_err(|e| fail(e.to_string()))?;
    let folder = done.dir.join(&out);
    let files = bundle_files(&folder).map_err(|e| fail(format!("{}: {e}", folder.display())))?;
    let path_of = |r: &Resolved| {
        r.reveal()
            .map(PathBuf::from)
            .map_err(|e| fail(e.to_string()))
    };
    let manifest_path = match &g.release {
        // Written from a release: its manifest was fetched beside its files.
        Some(_) => None,
        None => Some(path_of(&g.manifest)?),
    };
    Ok(Some(Artifact::Dags(DagBundle {
        out,
        files,
        manifest: None,
        manifest_path,
        selectors: None,
        selectors_path: g.selectors.as_ref().map(path_of).transpose()?,
    })))
}

/// Every file of `folder` but hidden ones, caches and the settings module, sorted.
fn bundle_files(folder: &Path) -> std::io::Result<Vec<BundleFile>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let skip = name.starts_with('.') || name == "__pycache__" || name == dags::SETTINGS_FILE;
        if skip || !entry.file_type()?.is_file() {
            continue;
        }
        let bytes = std::fs::read(entry.path())?;
        files.push(BundleFile {
            path: name,
            sha256: crate::release::checkout::content_hash(&bytes),
            md5: crate::checksum::md5_hex(&bytes),
            size: bytes.len() as u64,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The step as planned in this environment (its folder, its settings), writing the release's
/// files instead of generating them.
pub(super) fn redeploy(planned: Generate, recorded: Option<&Checkout>) -> Redeployed {
    let (Some(checkout), Some(Artifact::Dags(bundle))) = (recorded, recorded.map(|c| &c.artifact))
    else {
        return Redeployed::Missing(
            "the release has no DAG files of this step: it did not run where the release was cut"
                .into(),
        );
    };
    let Some(dir) = &checkout.files else {
        return Redeployed::Missing("the release's DAG files were not fetched".into());
    };
    let out = planned.out.to_string();
    let mut names: Vec<String> = vec![format!("{out}/{}", dags::SETTINGS_FILE)];
    names.extend(bundle.files.iter().map(|f| format!("{out}/{}", f.path)));
    Redeployed::Actions(vec![Action::Generate(Generate {
        description: format!(
            "write the {} DAG files of release {} into {out}, with this environment's settings",
            bundle.files.len(),
            checkout.release
        ),
        manifest: Resolved::text(
            checkout
                .manifest
                .as_ref()
                .map_or(String::new(), |m| m.display().to_string()),
        ),
        selectors: None,
        files: FileList::known(names),
        release: Some(ReleaseFiles {
            release: checkout.release.clone(),
            dir: dir.clone(),
        }),
        ..planned
    })])
}

/// How the DAGs change from the environment's current release: `None` when there is no
/// release to compare with.
pub(super) fn changes(inputs: &Inputs, g: &Generate) -> Option<Live<DagChanges>> {
    let current = inputs.current?;
    let (Some(old_manifest), Some(release)) = (&current.manifest, Some(&current.release)) else {
        return Some(Live::unknown("the current release recorded no manifest"));
    };
    let options = match &g.options {
        Ok(options) => options,
        Err(e) => return Some(Live::unknown(format!("settings not known yet: {e}"))),
    };
    let (new_manifest, new_selectors) = match new_side(inputs, g) {
        Ok(side) => side,
        Err(reason) => return Some(Live::unknown(reason)),
    };
    let old = Side {
        manifest: old_manifest,
        selectors: current.selectors.as_deref(),
    };
    let new = Side {
        manifest: &new_manifest,
        selectors: new_selectors.as_deref(),
    };
    let shown = new_manifest
        .strip_prefix(inputs.dir)
        .unwrap_or(&new_manifest);
    Some(match dags::diff_sides(old, new, options) {
        Ok(dags) => Live::Compared(DagChanges {
            release: release.clone(),
            manifest: shown.display().to_string(),
            dags,
        }),
        Err(e) => Live::unknown(e.to_string()),
    })
}

/// The manifest and selectors the step will read: a release's when one is deployed again,
/// else the files the step names (a manifest a step before writes: as it is on disk now).
fn new_side(inputs: &Inputs, g: &Generate) -> Result<(PathBuf, Option<PathBuf>), String> {
    if let Some(redeploy) = inputs.redeploy {
        let recorded = redeploy.recorded.get(&inputs.step.id);
        let manifest = recorded.and_then(|c| c.manifest.clone());
        let manifest = manifest.ok_or("the release deployed recorded no manifest")?;
        return Ok((manifest, recorded.and_then(|c| c.selectors.clone())));
    }
    let manifest = inputs.preview(&g.manifest).ok_or_else(|| {
        format!(
            "the manifest ({}) is known only once the steps before ran",
            g.manifest
        )
    })?;
    let manifest = inputs.dir.join(manifest);
    if !manifest.exists() {
        return Err(format!(
            "no manifest at {} yet: the steps before write it",
            manifest.display()
        ));
    }
    let selectors = g.selectors.as_ref().and_then(|s| inputs.preview(s));
    Ok((manifest, selectors.map(|s| inputs.dir.join(s))))
}

/// Writes a release's DAG files into `out` with this environment's settings module, all or
/// nothing, as a run writes generated ones; returns how many DAG files there are.
pub(super) fn write_release(
    files: &Path,
    release: &str,
    (out, shown): (&Path, &Path),
    options: &dags::DagOptions,
    limit: Option<crate::prune::PruneLimit>,
    exec: &StepContext,
) -> Result<usize, Failure> {
    let fail = Failure::of;
    options
        .check()
        .map_err(|e| fail(dags::DagsError::Options(e.to_string())))?;
    let read_fail = |source| {
        fail(dags::DagsError::Write {
            path: files.to_path_buf(),
            source,
        })
    };
    let mut names: Vec<String> = std::fs::read_dir(files)
        .map_err(read_fail)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    let mut dag_files = Vec::new();
    for name in names {
        let contents = std::fs::read_to_string(files.join(&name)).map_err(read_fail)?;
        dag_files.push(dags::DagFile {
            dag_id: name.trim_end_matches(".py").to_string(),
            file_name: name,
            contents,
            tasks: 0,
            units: 0,
        });
    }
    let generated = dags::Generated {
        dags: dag_files,
        settings: dags::settings_file(options),
    };
    exec.log_line(&format!("$ write the DAG files of release {release}"));
    let written = dags::write(out, &generated, limit).map_err(fail)?;
    for (name, _) in generated.files() {
        let state = match written.unchanged.iter().any(|n| n == name) {
            true => "unchanged",
            false => "wrote",
        };
        exec.say(&format!("{state} {}", shown.join(name).display()));
    }
    for name in &written.removed {
        exec.say(&format!(
            "removed {} (not in the release)",
            shown.join(name).display()
        ));
    }
    Ok(generated.dags.len())
}
