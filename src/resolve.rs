//! Evaluating `${{ }}` expressions for one step in one environment.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use crate::expr::{Piece, Resolved, Template};
use crate::git::Git;
use crate::pipeline::Environment;

/// Where secret values come from. The process environment in production; a map in tests.
pub trait SecretSource {
    fn get(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl SecretSource for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl SecretSource for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

pub struct Resolver<'a> {
    pub environment: &'a Environment,
    pub git: &'a Git,
    pub secrets: &'a dyn SecretSource,
    /// Outputs of steps that already ran; absent ones stay `(known after ID)`.
    pub outputs: &'a HashMap<String, HashMap<String, String>>,
    used_secrets: RefCell<BTreeSet<String>>,
    missing_secrets: RefCell<BTreeSet<String>>,
    unknown: RefCell<BTreeSet<String>>,
    pending: RefCell<BTreeSet<(String, String)>>,
}

impl<'a> Resolver<'a> {
    pub fn new(
        environment: &'a Environment,
        git: &'a Git,
        secrets: &'a dyn SecretSource,
        outputs: &'a HashMap<String, HashMap<String, String>>,
    ) -> Self {
        Resolver {
            environment,
            git,
            secrets,
            outputs,
            used_secrets: RefCell::default(),
            missing_secrets: RefCell::default(),
            unknown: RefCell::default(),
            pending: RefCell::default(),
        }
    }

    pub fn resolve(&self, template: &Template) -> Resolved {
        let mut out = Resolved::default();
        for part in &template.parts {
            match part {
                crate::expr::Part::Literal(text) => out.push_text(text),
                crate::expr::Part::Expr(e) => {
                    let path: Vec<&str> = e.path.iter().map(String::as_str).collect();
                    self.push_value(&mut out, &path);
                }
            }
        }
        out
    }

    fn push_value(&self, out: &mut Resolved, path: &[&str]) {
        match path {
            ["env", field] => out.push_text(self.environment.field(field).flatten().unwrap_or("")),
            ["vars", name] => {
                // Vars may hold secrets and git values, never other vars: no recursion.
                if let Some(template) = self.environment.vars.get(*name) {
                    out.parts.extend(self.resolve(template).parts);
                }
            }
            ["secrets", name] => {
                let value = self.secrets.get(name);
                self.used_secrets.borrow_mut().insert(name.to_string());
                if value.is_none() {
                    self.missing_secrets.borrow_mut().insert(name.to_string());
                }
                out.parts.push(Piece::Secret {
                    name: name.to_string(),
                    value,
                });
            }
            ["git", field] => {
                let revision = self.git.revision();
                let value = if *field == "sha" {
                    &revision.sha
                } else {
                    &revision.reference
                };
                match value {
                    Some(v) => out.push_text(v),
                    None => self.push_unknown(out, format!("git.{field}")),
                }
            }
            ["steps", step, "outputs", output] => {
                match self.outputs.get(*step).and_then(|o| o.get(*output)) {
                    Some(value) => out.push_text(value),
                    None => {
                        let key = (step.to_string(), output.to_string());
                        self.pending.borrow_mut().insert(key);
                        out.parts.push(Piece::Pending {
                            step: step.to_string(),
                            output: output.to_string(),
                        })
                    }
                }
            }
            // Checked at load time: no other paths reach here.
            _ => self.push_unknown(out, path.join(".")),
        }
    }

    fn push_unknown(&self, out: &mut Resolved, what: String) {
        self.unknown.borrow_mut().insert(what.clone());
        out.parts.push(Piece::Unknown(what));
    }

    /// Values asked for so far that cannot be known here (`git.sha` outside a repository).
    pub fn unknown_values(&self) -> Vec<String> {
        self.unknown.borrow().iter().cloned().collect()
    }

    /// Outputs of other steps asked for so far that are not known yet: (step, output).
    pub fn pending_outputs(&self) -> Vec<(String, String)> {
        self.pending.borrow().iter().cloned().collect()
    }

    /// Names of the secrets asked for so far.
    pub fn used_secrets(&self) -> Vec<String> {
        self.used_secrets.borrow().iter().cloned().collect()
    }

    /// Secrets asked for so far whose value is not set.
    pub fn missing_secrets(&self) -> Vec<String> {
        self.missing_secrets.borrow().iter().cloned().collect()
    }
}
