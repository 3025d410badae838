//! dbt integration: reading `manifest.json` and `selectors.yml`, and evaluating dbt's
//! node selection natively, with the semantics of `dbt ls` in dbt-core 1.10/1.11.
//!
//! - [`manifest`]: [`manifest::Manifest`], a lean reader for schema v10 to v12.
//! - [`selectors_file`]: [`selectors_file::SelectorsFile`], named YAML selectors (or the
//!   manifest's own `selectors` section).
//! - [`select`]: `--select`/`--exclude` expressions, parsed specs and the evaluator.
//! - [`fnmatch`]: Python's `fnmatch`, which dbt uses for every wildcard.
//!
//! Fidelity is checked against dbt itself: every selection recorded from `dbt ls` in
//! `shared/corpus/expected`, and a differential oracle (`tools/dbt_oracle.py`) that
//! ran dbt's selector on the same manifests. Where we knowingly differ:
//! - `path:` globs the root project's files as the manifest reveals them (see
//!   [`select`]'s `path` module); a root directory holding no node, macro or doc file
//!   is unknown to us.
//! - Jinja in `selectors.yml` is not rendered (an error says so; dbt's rendered copy in
//!   `manifest.json` can be used instead), and extra selector keys such as `schedule`
//!   are kept, where dbt would reject the file.
//! - YAML booleans follow PyYAML (YAML 1.1); numbers follow YAML 1.2 (no `017` octal).
//! - `state:`, `result:` and `source_status:` need run artifacts and are refused.
//! - Where dbt would crash (a number given to `tag:`, `..` in a glob that exists, …)
//!   we return a [`select::SelectError`] instead.

pub mod fnmatch;
pub mod input_file;
pub mod manifest;
pub mod select;
pub mod selectors_file;
