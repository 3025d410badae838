//! What the operators that run dbt in a container share: reading yes/no settings, parsing
//! the entries of list settings, and writing their values as Python literals for the
//! settings module (never holding the word "airflow": [`str_lit_without_airflow`]).

use std::fmt::Write;

use super::{OperatorError, OperatorSettings};
use crate::dags::graph::Command;
use crate::dags::python::{str_list, str_lit_without_airflow};

/// `COMMANDS`: the words after `dbt` of each command, by `Command::index`, for operators
/// that pass them as a list (no shell).
pub(super) fn write_word_commands(out: &mut String) {
    out.push_str(
        "# The words after `dbt` of each command, by TASKS' third column.\nCOMMANDS = [\n",
    );
    for c in Command::ALL {
        let words: Vec<String> = c.words().iter().map(|w| w.to_string()).collect();
        let _ = writeln!(out, "    {},", str_list(&words));
    }
    out.push_str("]\n");
}

/// A yes/no setting, `default` when not given.
pub(super) fn flag(
    settings: &dyn OperatorSettings,
    operator: &'static str,
    setting: &'static str,
    default: bool,
) -> Result<bool, OperatorError> {
    match settings.optional(setting)?.as_deref() {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(OperatorError::NotABool {
            operator,
            setting,
            value: other.to_string(),
        }),
    }
}

/// The first of `values` that is blank, as an operator's check reports it.
pub(super) fn blank(operator: &str, values: &[(&str, &str)]) -> Result<(), String> {
    match values.iter().find(|(_, v)| v.trim().is_empty()) {
        Some((what, _)) => Err(format!("executor `{operator}` needs a non-blank `{what}`")),
        None => Ok(()),
    }
}

/// `None`, or the string.
pub(super) fn opt_lit(value: Option<&str>) -> String {
    value.map_or_else(|| "None".to_string(), str_lit_without_airflow)
}

pub(super) fn bool_lit(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

/// A dict of strings: `{"cpu": "500m"}`.
pub(super) fn str_dict(pairs: &[(String, String)]) -> String {
    let items: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let (k, v) = (str_lit_without_airflow(k), str_lit_without_airflow(v));
            format!("{k}: {v}")
        })
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// A list of tuples of strings: `[("A", "b"), ...]`.
pub(super) fn tuple_list(rows: &[Vec<String>]) -> String {
    let rows: Vec<String> = rows
        .iter()
        .map(|row| {
            let items: Vec<String> = row.iter().map(|s| str_lit_without_airflow(s)).collect();
            // A one-item tuple needs its comma.
            let comma = if items.len() == 1 { "," } else { "" };
            format!("({}{comma})", items.join(", "))
        })
        .collect();
    format!("[{}]", rows.join(", "))
}

/// `NAME=VALUE` (a resource request such as `cpu=500m`).
pub fn parse_pair(entry: &str) -> Result<(String, String), String> {
    match entry.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
            Ok((k.to_string(), v.to_string()))
        }
        _ => Err(format!(
            "`{entry}` is not `NAME=VALUE` (such as `cpu=500m`)"
        )),
    }
}

/// `VARIABLE=SECRET:KEY`: the environment variable `VARIABLE` of the container holds the
/// key `KEY` of the Kubernetes secret `SECRET`.
pub fn parse_secret_env(entry: &str) -> Result<(String, String, String), String> {
    let parsed = entry.split_once('=').and_then(|(var, rest)| {
        let (secret, key) = rest.split_once(':')?;
        let parts = [var, secret, key];
        parts
            .iter()
            .all(|p| !p.trim().is_empty())
            .then(|| (var.to_string(), secret.to_string(), key.to_string()))
    });
    parsed.ok_or_else(|| {
        format!("`{entry}` is not `VARIABLE=SECRET:KEY` (such as `DBT_PASSWORD=dbt:password`)")
    })
}

/// `SOURCE:TARGET` or `SOURCE:TARGET:ro`: a bind mount of the host's `SOURCE` at the
/// container's `TARGET`, read-only with `:ro`.
pub fn parse_mount(entry: &str) -> Result<(String, String, bool), String> {
    let (rest, read_only) = match entry.strip_suffix(":ro") {
        Some(rest) => (rest, true),
        None => (entry, false),
    };
    match rest.split_once(':') {
        Some((source, target))
            if source.starts_with('/') && target.starts_with('/') && !target.contains(':') =>
        {
            Ok((source.to_string(), target.to_string(), read_only))
        }
        _ => Err(format!(
            "`{entry}` is not `SOURCE:TARGET` or `SOURCE:TARGET:ro` with absolute paths (such as `/srv/dbt:/dbt:ro`)"
        )),
    }
}

/// A task definition to run: `FAMILY`, `FAMILY:REVISION` or the revision's ARN.
pub fn parse_task_definition(reference: &str) -> Result<(), String> {
    match crate::aws::ecs_names::task_definition_problem(reference) {
        None => Ok(()),
        Some(problem) => Err(format!(
            "`{reference}` is not an ECS task definition (`FAMILY`, `FAMILY:REVISION` or \
             `arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION`): {problem}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_entries_are_parsed_or_refused_with_the_expected_form() {
        assert_eq!(
            parse_pair("cpu=500m").unwrap(),
            ("cpu".into(), "500m".into())
        );
        assert!(parse_pair("cpu").unwrap_err().contains("NAME=VALUE"));
        assert!(parse_pair("=1").is_err());
        assert_eq!(
            parse_secret_env("DBT_PASSWORD=dbt:password").unwrap(),
            ("DBT_PASSWORD".into(), "dbt".into(), "password".into())
        );
        assert!(parse_secret_env("DBT_PASSWORD=dbt").is_err());
        assert!(parse_secret_env("=dbt:k").is_err());
        assert_eq!(
            parse_mount("/srv/dbt:/dbt:ro").unwrap(),
            ("/srv/dbt".into(), "/dbt".into(), true)
        );
        assert_eq!(
            parse_mount("/srv/dbt:/dbt").unwrap(),
            ("/srv/dbt".into(), "/dbt".into(), false)
        );
        assert!(parse_mount("dbt:/dbt").is_err());
        assert!(parse_mount("/a:/b:rw").is_err());
    }

    #[test]
    fn literals_never_hold_the_word_airflow() {
        let pairs = [("airflow".to_string(), "AIRFLOW".to_string())];
        assert_eq!(str_dict(&pairs), "{\"airflo\\x77\": \"AIRFLO\\x57\"}");
        assert_eq!(tuple_list(&[vec!["a".into()]]), "[(\"a\",)]");
        assert_eq!(opt_lit(None), "None");
    }
}
