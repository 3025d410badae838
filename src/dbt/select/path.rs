//! dbt's `path:` method without a filesystem.
//!
//! dbt evaluates `path:X` as `Path(project_root).glob(X)` (Python 3.11 pathlib), then
//! selects every entry whose `original_file_path`, YAML patch file or any parent
//! directory of `original_file_path` is among the globbed paths. Entries of packages
//! have package-relative paths, so `path:models` also selects a package's models when
//! the root project has a `models/` directory, while a path that exists only inside a
//! package selects nothing.
//!
//! We glob over the root project's files as the manifest reveals them: paths of root
//! entries (enabled or disabled), their YAML patch files, macros and docs, plus every
//! parent directory. A directory of the root project holding none of these (an empty
//! or `.gitkeep`-only folder) is unknown to us; that is the one divergence from dbt.
//!
//! Paths are compared as text, the way pathlib compares them: a project whose model
//! paths reach outside its folder (`../../sources`) has entries whose
//! `original_file_path` starts with `../..`, and `path:../../sources/dex` selects them
//! (pathlib globs `..` as a plain directory name). A wildcard or `**` never matches
//! `..`: directory listings do not contain it.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::dbt::fnmatch::Pattern;
use crate::dbt::manifest::{Manifest, Node, patch_file};
use crate::dbt::select::SelectError;

/// Known root-project paths, normalised (no `.`, no empty parts), with a dir flag.
/// The project root itself is the empty path.
#[derive(Debug)]
pub(crate) struct RootTree {
    entries: Vec<(String, bool)>,
}

impl RootTree {
    pub(crate) fn from_manifest(m: &Manifest) -> RootTree {
        let root = m.project_name().unwrap_or_default();
        let mut files: HashSet<String> = HashSet::new();
        let root_nodes = m.nodes().iter().filter(|n| &*n.package_name == root);
        for node in root_nodes {
            files.extend(normalise(&node.original_file_path));
            let patch = node.patch_path.as_deref().and_then(patch_file);
            files.extend(patch.and_then(normalise));
        }
        files.extend(m.other_root_files().iter().filter_map(|f| normalise(f)));
        let mut dirs: HashSet<String> = HashSet::from([String::new()]);
        for f in &files {
            let mut cut = f.as_str();
            while let Some(i) = cut.rfind('/') {
                cut = &cut[..i];
                dirs.insert(cut.to_string());
            }
        }
        let mut entries: Vec<(String, bool)> = dirs.into_iter().map(|d| (d, true)).collect();
        entries.extend(
            files
                .into_iter()
                .filter(|f| !f.is_empty())
                .map(|f| (f, false)),
        );
        RootTree { entries }
    }

    /// The root paths matching a glob pattern, as pathlib would yield them.
    pub(crate) fn glob(&self, pattern: &str) -> Result<HashSet<&str>, SelectError> {
        let glob = Glob::parse(pattern)?;
        Ok(self
            .entries
            .iter()
            .filter(|(path, is_dir)| glob.matches(path, *is_dir))
            .map(|(path, _)| path.as_str())
            .collect())
    }
}

/// Whether `node` is selected by the globbed `paths`.
pub(crate) fn node_matches(node: &Node, paths: &HashSet<&str>) -> bool {
    let ofp = lexical(&node.original_file_path);
    if paths.contains(ofp.as_ref()) {
        return true;
    }
    let patch = node.patch_path.as_deref().and_then(patch_file);
    if patch.is_some_and(|p| paths.contains(lexical(p).as_ref())) {
        return true;
    }
    // Every parent, down to the project root ("" here, "." in Python).
    let mut cut = ofp.as_ref();
    loop {
        cut = cut.rfind('/').map_or("", |i| &cut[..i]);
        if paths.contains(cut) {
            return true;
        }
        if cut.is_empty() {
            return false;
        }
    }
}

/// pathlib's lexical normalisation: drop empty and `.` parts (keeps `..`). Paths dbt
/// writes are normally clean already, so those are borrowed as they are.
fn lexical(p: &str) -> Cow<'_, str> {
    let clean = !p.starts_with('/')
        && !p.ends_with('/')
        && !p.contains("//")
        && p.split('/').all(|s| s != ".");
    if clean {
        return Cow::Borrowed(p);
    }
    let parts: Vec<&str> = p
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    Cow::Owned(parts.join("/"))
}

/// A root-relative path (`..` parts kept, as pathlib keeps them), or `None` for an
/// absolute path, which no relative glob yields.
fn normalise(p: &str) -> Option<String> {
    (!p.starts_with('/')).then(|| lexical(p).into_owned())
}

enum Part {
    /// `**`: this directory and every directory below it.
    Recursive,
    /// `..`: the parent directory, which only this matches.
    Parent,
    Name(Pattern),
}

struct Glob {
    parts: Vec<Part>,
    /// A trailing `/` makes pathlib yield directories only.
    dir_only: bool,
}

impl Glob {
    fn parse(pattern: &str) -> Result<Glob, SelectError> {
        let invalid = |reason: &str| SelectError::InvalidValue {
            method: "path".into(),
            value: pattern.to_string(),
            reason: reason.to_string(),
        };
        if pattern.starts_with('/') {
            return Err(invalid(
                "absolute paths are not supported; give a path relative to the project root",
            ));
        }
        let names: Vec<&str> = pattern
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .collect();
        if names.is_empty() {
            return Err(invalid("the pattern names no path"));
        }
        if names.iter().any(|n| n.contains("**") && *n != "**") {
            return Err(invalid("`**` can only be an entire path component"));
        }
        let parts = names
            .iter()
            .map(|n| match *n {
                "**" => Part::Recursive,
                ".." => Part::Parent,
                n => Part::Name(Pattern::new(n)),
            })
            .collect();
        Ok(Glob {
            parts,
            dir_only: pattern.ends_with('/'),
        })
    }

    fn matches(&self, path: &str, is_dir: bool) -> bool {
        if self.dir_only && !is_dir {
            return false;
        }
        let comps: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('/').collect()
        };
        match_parts(&self.parts, &comps, is_dir)
    }
}

fn match_parts(parts: &[Part], comps: &[&str], is_dir: bool) -> bool {
    // How many leading components `**` may stand for: it walks down, never up.
    let below = comps.iter().take_while(|c| **c != "..").count();
    match parts.split_first() {
        None => comps.is_empty(),
        // A final `**` yields directories only (Python before 3.13).
        Some((Part::Recursive, [])) => is_dir && below == comps.len(),
        Some((Part::Recursive, rest)) => {
            (0..=below).any(|skip| match_parts(rest, &comps[skip..], is_dir))
        }
        Some((Part::Parent, rest)) => comps
            .split_first()
            .is_some_and(|(first, tail)| *first == ".." && match_parts(rest, tail, is_dir)),
        Some((Part::Name(pat), rest)) => comps.split_first().is_some_and(|(first, tail)| {
            *first != ".." && pat.matches(first) && match_parts(rest, tail, is_dir)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> RootTree {
        let mut dirs: HashSet<String> = HashSet::from([String::new()]);
        for f in files {
            let mut cut = *f;
            while let Some(i) = cut.rfind('/') {
                cut = &cut[..i];
                dirs.insert(cut.to_string());
            }
        }
        let mut entries: Vec<(String, bool)> = dirs.into_iter().map(|d| (d, true)).collect();
        entries.extend(files.iter().map(|f| (f.to_string(), false)));
        RootTree { entries }
    }

    fn globbed(t: &RootTree, pat: &str) -> Vec<String> {
        let mut v: Vec<String> = t.glob(pat).unwrap().into_iter().map(String::from).collect();
        v.sort();
        v
    }

    #[test]
    fn globbing_follows_pathlib() {
        let t = tree(&[
            "models/a/x.sql",
            "models/b.sql",
            "seeds/s.csv",
            "dbt_project.yml",
        ]);
        assert_eq!(globbed(&t, "*"), ["dbt_project.yml", "models", "seeds"]);
        assert_eq!(globbed(&t, "models/"), ["models"]);
        assert_eq!(globbed(&t, "./models//a"), ["models/a"]);
        assert_eq!(globbed(&t, "models/**"), ["models", "models/a"]);
        assert_eq!(globbed(&t, "**/*.sql"), ["models/a/x.sql", "models/b.sql"]);
        assert_eq!(globbed(&t, "**"), ["", "models", "models/a", "seeds"]);
        assert!(globbed(&t, "models/b.sql/").is_empty());
        assert!(t.glob("/abs").is_err());
        // dbt globs `..` too but finds nothing inside the project there.
        assert!(globbed(&t, "../models").is_empty());
    }

    #[test]
    fn paths_outside_the_project_are_globbed_as_text() {
        let t = tree(&[
            "models/a.sql",
            "../../sources/_sector/dex/_dex.yml",
            "../../sources/_sector/dex/trades.sql",
            "../../sources/core/_core.yml",
        ]);
        assert_eq!(
            globbed(&t, "../../sources/_sector/dex"),
            ["../../sources/_sector/dex"]
        );
        assert_eq!(
            globbed(&t, "../../sources/*/dex/*.sql"),
            ["../../sources/_sector/dex/trades.sql"]
        );
        assert_eq!(globbed(&t, "../.."), ["../.."]);
        // Listings never hold `..`: no wildcard, and no `**`, reaches up.
        assert!(globbed(&t, "*/../sources").is_empty());
        assert!(globbed(&t, "*").iter().all(|p| !p.starts_with("..")));
        assert_eq!(globbed(&t, "**"), ["", "models"]);
        assert_eq!(globbed(&t, "**/*.sql"), ["models/a.sql"]);
        assert_eq!(
            globbed(&t, "../../**/*.sql"),
            ["../../sources/_sector/dex/trades.sql"]
        );
        assert!(t.glob("models/**.sql").is_err());
        assert!(t.glob(".").is_err());
    }
}
