//! Writing a run's DAG files into their folder, all or nothing.
//!
//! Every new or changed file is first written beside its place (a hidden `.NAME.tmp`); only
//! when all of them are written are they renamed into place, and only then are the files
//! of selectors that are gone removed. A failed write (a full disk, a folder that became
//! read-only) removes the temporary files and leaves the folder as it was. A file whose
//! content is already there is left alone (same bytes, same mtime: nothing for Airflow to
//! re-parse). Only DAG files dagship wrote (its header, a `dbt_` name) are ever removed, and
//! never more than the prune limit allows; the settings module, written at every run, is
//! never one of them.

use std::path::{Path, PathBuf};

use super::{DagsError, Generated, HEADER_MARK};
use crate::prune::PruneLimit;

/// What writing the files changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub written: Vec<String>,
    pub unchanged: Vec<String>,
    /// Earlier dagship files in the folder that no selector produces any more.
    pub removed: Vec<String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DagsError {
    let path = path.to_path_buf();
    move |source| DagsError::Write { path, source }
}

impl Written {
    /// What a run says it did, a line per file: `wrote out/dbt_daily.py (3 units, 7 tasks)`,
    /// `unchanged out/dagship_settings.py (...)`, `removed out/dbt_old.py (...)`, with `shown`
    /// the folder as the user named it.
    pub fn lines(&self, generated: &Generated, shown: &Path) -> Vec<String> {
        let state = |name: &String| {
            if self.unchanged.contains(name) {
                "unchanged"
            } else {
                "wrote"
            }
        };
        let settings = &generated.settings.file_name;
        let mut lines = vec![format!(
            "{} {} (the values that differ between environments)",
            state(settings),
            shown.join(settings).display()
        )];
        lines.extend(generated.dags.iter().map(|file| {
            format!(
                "{} {} ({} units, {} tasks)",
                state(&file.file_name),
                shown.join(&file.file_name).display(),
                file.units,
                file.tasks
            )
        }));
        lines.extend(self.removed.iter().map(|name| {
            format!(
                "removed {} (its selector is gone)",
                shown.join(name).display()
            )
        }));
        lines
    }
}

/// Writes the `generated` files into `out` (created if needed) and removes the files of gone
/// selectors, unless that removes more than `limit` allows (`None`: removing is allowed).
pub fn write(
    out: &Path,
    generated: &Generated,
    limit: Option<PruneLimit>,
) -> Result<Written, DagsError> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let keep: Vec<&str> = generated.files().map(|(name, _)| name).collect();
    let stale = stale_files(out, &keep).map_err(io(out))?;
    if let Some(limit) = limit {
        let managed = generated_files(out).map_err(io(out))?.len();
        limit
            .check(
                &out.display().to_string(),
                stale.len(),
                managed,
                generated.dags.len(),
            )
            .map_err(DagsError::TooMuchPruning)?;
    }
    let mut result = Written::default();
    let mut staged: Vec<(PathBuf, PathBuf, &str)> = Vec::new();
    for (name, contents) in generated.files() {
        let path = out.join(name);
        if holds(&path, contents.as_bytes()) {
            result.unchanged.push(name.to_string());
            continue;
        }
        let tmp = out.join(format!(".{name}.tmp"));
        let done = std::fs::write(&tmp, contents).map_err(io(&tmp));
        staged.push((tmp, path, name));
        if let Err(e) = done {
            discard(&staged);
            return Err(e);
        }
    }
    for (i, (tmp, path, name)) in staged.iter().enumerate() {
        if let Err(e) = std::fs::rename(tmp, path) {
            discard(&staged[i..]);
            return Err(io(path)(e));
        }
        result.written.push(name.to_string());
    }
    for name in stale {
        let path = out.join(&name);
        std::fs::remove_file(&path).map_err(io(&path))?;
        result.removed.push(name);
    }
    Ok(result)
}

/// Removes the temporary files of a write that is given up.
fn discard(staged: &[(PathBuf, PathBuf, &str)]) {
    for (tmp, _, _) in staged {
        let _ = std::fs::remove_file(tmp);
    }
}

/// The DAG files dagship wrote into `out` earlier, by name, sorted (never the settings
/// module: no DAG file's name starts like it).
fn generated_files(out: &Path) -> std::io::Result<Vec<String>> {
    if !out.is_dir() {
        return Ok(Vec::new());
    }
    let mut names: Vec<String> = std::fs::read_dir(out)?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("dbt_") && n.ends_with(".py"))
        .filter(|n| is_generated(&out.join(n)))
        .collect();
    names.sort();
    Ok(names)
}

/// The files dagship wrote into `out` that none of `keep` replaces: a run removes them.
pub(crate) fn stale_files(out: &Path, keep: &[&str]) -> std::io::Result<Vec<String>> {
    let mut stale = generated_files(out)?;
    stale.retain(|n| !keep.contains(&n.as_str()));
    Ok(stale)
}

/// How many DAG files dagship wrote into `out` earlier.
pub(crate) fn managed_count(out: &Path) -> std::io::Result<usize> {
    Ok(generated_files(out)?.len())
}

/// Whether the file at `path` holds exactly `contents`: compared a piece at a time, so
/// that an unchanged large DAG is not read into memory whole.
fn holds(path: &Path, contents: &[u8]) -> bool {
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    if file.metadata().map(|m| m.len()).ok() != Some(contents.len() as u64) {
        return false;
    }
    let mut rest = contents;
    let same = read_in_pieces(&mut file, |piece| match rest.strip_prefix(piece) {
        Some(after) => {
            rest = after;
            true
        }
        None => false,
    });
    same.is_ok_and(|to_the_end| to_the_end && rest.is_empty())
}

fn is_generated(path: &Path) -> bool {
    use std::io::Read;
    let mut start = [0u8; HEADER_MARK.len()];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut start))
        .is_ok_and(|()| start == HEADER_MARK.as_bytes())
}

/// Reads `file` to its end a piece at a time (through one 256 KB buffer), while `each`
/// returns true; whether it read to the end.
fn read_in_pieces(
    file: &mut std::fs::File,
    mut each: impl FnMut(&[u8]) -> bool,
) -> std::io::Result<bool> {
    use std::io::Read;
    let mut buffer = vec![0; 256 << 10];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => return Ok(true),
            Ok(n) if each(&buffer[..n]) => {}
            Ok(_) => return Ok(false),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dags::{DagFile, DagOptions, SETTINGS_FILE, settings_file};

    fn dag(name: &str, text: &str) -> DagFile {
        DagFile {
            file_name: name.to_string(),
            dag_id: name.trim_end_matches(".py").to_string(),
            contents: format!("{HEADER_MARK}x\n{text}\n"),
            tasks: 1,
            units: 1,
        }
    }

    /// The DAG files, with the settings module of the default options.
    fn generated(dags: Vec<DagFile>) -> Generated {
        Generated {
            dags,
            settings: settings_file(&DagOptions::default()),
        }
    }

    #[test]
    fn a_file_holds_exactly_its_contents_past_the_first_piece() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dbt_all.py");
        let contents: Vec<u8> = (0..700_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        std::fs::write(&path, &contents).unwrap();
        assert!(holds(&path, &contents));
        let mut changed = contents.clone();
        *changed.last_mut().unwrap() = b'!';
        assert!(!holds(&path, &changed), "the last byte differs");
        assert!(!holds(&path, &contents[..contents.len() - 1]), "shorter");
        assert!(!holds(&dir.path().join("absent.py"), b""));
    }

    #[test]
    fn a_failed_write_leaves_the_folder_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let first = generated(vec![dag("dbt_a.py", "a = 1"), dag("dbt_b.py", "b = 1")]);
        write(dir.path(), &first, None).unwrap();
        // The second file cannot be written: a folder stands where its temporary file goes.
        std::fs::create_dir(dir.path().join(".dbt_b.py.tmp")).unwrap();
        let mut second = generated(vec![dag("dbt_a.py", "a = 2"), dag("dbt_b.py", "b = 2")]);
        second.settings.contents.push_str("X = 1\n");
        assert!(write(dir.path(), &second, None).is_err());
        let a = std::fs::read_to_string(dir.path().join("dbt_a.py")).unwrap();
        assert!(
            a.ends_with("a = 1\n"),
            "the first file is not replaced: {a}"
        );
        let settings = std::fs::read_to_string(dir.path().join(SETTINGS_FILE)).unwrap();
        assert_eq!(settings, first.settings.contents, "nor the settings module");
        assert!(
            !dir.path().join(".dbt_a.py.tmp").exists(),
            "no temporary file left"
        );
    }

    #[test]
    fn removing_past_the_limit_stops_before_anything_changes() {
        let dir = tempfile::tempdir().unwrap();
        let all = generated((0..4).map(|i| dag(&format!("dbt_{i}.py"), "x")).collect());
        write(dir.path(), &all, Some(PruneLimit::default())).unwrap();
        let one = generated(vec![dag("dbt_0.py", "changed")]);
        let stop = write(dir.path(), &one, Some(PruneLimit::default())).unwrap_err();
        assert!(matches!(stop, DagsError::TooMuchPruning(_)), "{stop}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 5);
        let a = std::fs::read_to_string(dir.path().join("dbt_0.py")).unwrap();
        assert!(a.ends_with("x\n"), "nothing was rewritten either");
        let written = write(dir.path(), &one, None).unwrap();
        assert_eq!(written.removed.len(), 3, "allowed: removed");
    }

    #[test]
    fn the_settings_module_is_written_first_and_never_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let two = generated(vec![dag("dbt_a.py", "a"), dag("dbt_b.py", "b")]);
        let written = write(dir.path(), &two, None).unwrap();
        assert_eq!(written.written, [SETTINGS_FILE, "dbt_a.py", "dbt_b.py"]);
        assert_eq!(managed_count(dir.path()).unwrap(), 2, "DAG files only");
        let one = generated(vec![dag("dbt_a.py", "a")]);
        let written = write(dir.path(), &one, Some(PruneLimit::default())).unwrap();
        assert_eq!(written.removed, ["dbt_b.py"]);
        assert_eq!(written.unchanged, [SETTINGS_FILE, "dbt_a.py"]);
        assert!(dir.path().join(SETTINGS_FILE).is_file());
        assert_eq!(
            written.lines(&one, Path::new("out")),
            [
                "unchanged out/dagship_settings.py (the values that differ between environments)",
                "unchanged out/dbt_a.py (1 units, 1 tasks)",
                "removed out/dbt_b.py (its selector is gone)",
            ]
        );
    }
}
