//! `bash`: a `BashOperator` running `dbt` on the Airflow worker, its command line
//! shell-quoted.

use std::borrow::Cow;
use std::fmt::Write;

use super::{BASH_OPERATOR_IMPORT, CommandLine, DbtOperator, Setting};
use crate::dags::graph::Command;
use crate::dags::python::{str_lit, str_lit_without_airflow};

pub(super) const NAME: &str = "bash";

/// No settings of its own: dbt runs where the worker runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bash;

impl DbtOperator for Bash {
    fn name(&self) -> &'static str {
        NAME
    }

    fn imports(&self) -> &'static [&'static str] {
        &[BASH_OPERATOR_IMPORT]
    }

    fn base_class(&self) -> &'static str {
        "BashOperator"
    }

    fn write_commands(&self, out: &mut String) {
        out.push_str("# `dbt` and the command's words, by TASKS' third column.\nCOMMANDS = [\n");
        for c in Command::ALL {
            let command = format!("dbt {}", c.words().join(" "));
            let _ = writeln!(out, "    {},", str_lit(&command));
        }
        out.push_str("]\n");
    }

    fn settings(&self, dbt_options: &[String]) -> Vec<Setting> {
        let joined: String = dbt_options
            .iter()
            .map(|w| format!(" {}", shell_quote(w)))
            .collect();
        vec![Setting {
            name: "DBT_OPTIONS",
            about: "Every dbt command ends with these (shell-quoted).",
            value: str_lit_without_airflow(&joined),
        }]
    }

    fn command_line(&self) -> CommandLine {
        CommandLine::Shell {
            var: "bash_command",
        }
    }

    fn task_arguments(&self) -> &'static str {
        "                bash_command=bash_command + DBT_OPTIONS,\n"
    }
}

/// The bytes a shell word may hold unquoted, by value (a table: every task's selection
/// goes through here).
const SHELL_PLAIN: [bool; 256] = {
    let mut plain = [false; 256];
    let mut b = 0;
    while b < 256 {
        plain[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    let others = b"_-.,:/=@%+";
    while i < others.len() {
        plain[others[i] as usize] = true;
        i += 1;
    }
    plain
};

/// A word for `bash -c`, quoted only when it needs to be.
pub(super) fn shell_quote(word: &str) -> Cow<'_, str> {
    let plain = !word.is_empty() && word.bytes().all(|b| SHELL_PLAIN[b as usize]);
    if plain {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', "'\\''")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_they_need_it() {
        let plain = "resource_type:model,package:shop,fqn:shop.marts.a-b_c/d=e@f%g+h";
        assert!(matches!(shell_quote(plain), Cow::Borrowed(_)));
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("fqn:a.[*]"), "'fqn:a.[*]'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("é"), "'é'");
    }
}
