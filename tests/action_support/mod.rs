//! Runs the repository's `action.yml` the way the GitHub runner runs a composite action, on this
//! machine: each `run:` step with its `env:` expressions evaluated, `bash --noprofile --norc -eo
//! pipefail` (the runner's `shell: bash`), a fresh `$GITHUB_OUTPUT` per step whose lines become
//! `steps.<id>.outputs`, `$GITHUB_PATH` lines put in front of later steps' `PATH`, and the
//! action's `outputs` evaluated at the end. `uses:` steps (the cache) are skipped: a cache miss.
//! The job's environment points GitHub's URLs at a [`fake_github::FakeGitHub`].

#![allow(dead_code)]

pub mod fake_github;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use fake_github::{REPOSITORY, TOKEN, write_executable};

/// A job on a fake runner: its folders, its environment, and what the action's steps left.
pub struct Job {
    dir: tempfile::TempDir,
    pub env: BTreeMap<String, String>,
    /// `github.action_ref`: the ref in `uses: acme/dagship@REF`.
    pub action_ref: String,
    pub action_repository: String,
    /// `$GITHUB_PATH` entries so far, newest first.
    path: Vec<String>,
}

/// What one use of the action did.
pub struct Ran {
    /// The name of the step that failed, if one did.
    pub failed: Option<String>,
    /// Every step's stdout and stderr.
    pub log: String,
    pub steps: BTreeMap<String, BTreeMap<String, String>>,
    pub outputs: BTreeMap<String, String>,
}

impl Ran {
    pub fn succeeded(&self) -> &Ran {
        assert_eq!(self.failed, None, "{}", self.log);
        self
    }

    pub fn failed_in(&self, step: &str) -> &Ran {
        assert_eq!(self.failed.as_deref(), Some(step), "{}", self.log);
        self
    }

    pub fn step(&self, id: &str, output: &str) -> &str {
        self.steps
            .get(id)
            .and_then(|o| o.get(output))
            .map_or("", String::as_str)
    }
}

impl Job {
    pub fn new(runner_os: &str, runner_arch: &str, github_url: &str) -> Job {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["temp", "workspace", "home"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        let root = dir.path().display().to_string();
        let env: BTreeMap<String, String> = [
            ("RUNNER_OS", runner_os.to_string()),
            ("RUNNER_ARCH", runner_arch.to_string()),
            ("RUNNER_TEMP", format!("{root}/temp")),
            ("GITHUB_WORKSPACE", format!("{root}/workspace")),
            ("GITHUB_REPOSITORY", "acme/warehouse".into()),
            ("GITHUB_SERVER_URL", format!("{github_url}/github")),
            ("GITHUB_API_URL", format!("{github_url}/api")),
            // No ~/.curlrc of this machine's user reaches curl, and a request for anything but
            // the fake (127.0.0.1) goes to a closed port instead of the internet.
            ("HOME", format!("{root}/home")),
            ("http_proxy", "http://127.0.0.1:9".into()),
            ("https_proxy", "http://127.0.0.1:9".into()),
            ("no_proxy", "127.0.0.1".into()),
            ("FAKE_DAGSHIP_LOG", format!("{root}/dagship.log")),
            ("FAKE_CARGO_LOG", format!("{root}/cargo.log")),
            ("DAGSHIP_CARGO", format!("{root}/fake-cargo")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        write_executable(&dir.path().join("fake-cargo"), FAKE_CARGO);
        write_executable(
            &dir.path().join("built-dagship"),
            &fake_github::fake_dagship("built-by-cargo", "from-git"),
        );
        Job {
            dir,
            env,
            action_ref: "v1.2.3".into(),
            action_repository: REPOSITORY.into(),
            path: Vec::new(),
        }
    }

    pub fn runner_temp(&self) -> PathBuf {
        self.dir.path().join("temp")
    }

    pub fn workspace(&self) -> PathBuf {
        self.dir.path().join("workspace")
    }

    pub fn path_entries(&self) -> &[String] {
        &self.path
    }

    /// Each run of the (fake) dagship binary: what it is, where it ran, its arguments.
    pub fn dagship_runs(&self) -> Vec<Vec<String>> {
        read_lines(&self.dir.path().join("dagship.log"))
            .into_iter()
            .map(|line| {
                line.trim_end_matches('\t')
                    .split('\t')
                    .map(String::from)
                    .collect()
            })
            .collect()
    }

    /// The arguments of each run of the fallback installer.
    pub fn cargo_runs(&self) -> Vec<Vec<String>> {
        read_lines(&self.dir.path().join("cargo.log"))
            .into_iter()
            .map(|line| line.split('\t').map(String::from).collect())
            .collect()
    }

    /// `uses: acme/dagship@<action_ref>` with these inputs.
    pub fn uses(&mut self, inputs: &[(&str, &str)]) -> Ran {
        let action = action_yml();
        let inputs = self.inputs(&action, inputs);
        let mut ran = Ran {
            failed: None,
            log: String::new(),
            steps: BTreeMap::new(),
            outputs: BTreeMap::new(),
        };
        for (n, step) in action["runs"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let Some(script) = step["run"].as_str() else {
                assert!(step["uses"].is_string(), "step {n} neither runs nor uses");
                continue;
            };
            assert!(
                !script.contains("${{"),
                "step {n} interpolates an expression into its script"
            );
            assert!(
                step.get("if").is_none(),
                "conditions on run steps: unsupported"
            );
            let env: BTreeMap<String, String> = step["env"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), self.expand(v.as_str().unwrap(), &inputs, &ran)))
                .collect();
            let name = step["name"].as_str().unwrap_or("?").to_string();
            let (ok, outputs) = self.run_step(n, script, &env, &mut ran.log);
            if let Some(id) = step["id"].as_str() {
                ran.steps.insert(id.to_string(), outputs);
            }
            if !ok {
                ran.failed = Some(name);
                break;
            }
        }
        for (name, output) in action["outputs"].as_object().unwrap() {
            let value = self.expand(output["value"].as_str().unwrap(), &inputs, &ran);
            ran.outputs.insert(name.clone(), value);
        }
        ran
    }

    /// The inputs given, and the defaults of the others; a required one missing is the test's
    /// mistake.
    fn inputs(&self, action: &Value, given: &[(&str, &str)]) -> BTreeMap<String, String> {
        let given: BTreeMap<&str, &str> = given.iter().copied().collect();
        let declared = action["inputs"].as_object().unwrap();
        for name in given.keys() {
            assert!(
                declared.contains_key(*name),
                "action.yml has no input {name}"
            );
        }
        let empty = Ran {
            failed: None,
            log: String::new(),
            steps: BTreeMap::new(),
            outputs: BTreeMap::new(),
        };
        declared
            .iter()
            .map(|(name, spec)| {
                let value = match (given.get(name.as_str()), spec["default"].as_str()) {
                    (Some(v), _) => v.to_string(),
                    (None, Some(default)) => self.expand(default, &BTreeMap::new(), &empty),
                    (None, None) => {
                        assert_ne!(spec["required"], true, "input {name} is required");
                        String::new()
                    }
                };
                (name.clone(), value)
            })
            .collect()
    }

    fn run_step(
        &mut self,
        n: usize,
        script: &str,
        step_env: &BTreeMap<String, String>,
        log: &mut String,
    ) -> (bool, BTreeMap<String, String>) {
        let files = self.dir.path().join(format!("step-{n}"));
        std::fs::create_dir_all(&files).unwrap();
        let script_file = files.join("script.sh");
        std::fs::write(&script_file, script).unwrap();
        let (output_file, path_file) = (files.join("output"), files.join("path"));
        for f in [&output_file, &path_file] {
            std::fs::write(f, "").unwrap();
        }
        let mut path = self.path.clone();
        path.push("/usr/local/bin:/usr/bin:/bin".into());
        let out = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script_file)
            .current_dir(self.workspace())
            .env_clear()
            .envs(&self.env)
            .env("PATH", path.join(":"))
            .env("GITHUB_ACTION_PATH", env!("CARGO_MANIFEST_DIR"))
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_PATH", &path_file)
            .env("GITHUB_STEP_SUMMARY", files.join("summary"))
            .envs(step_env)
            .output()
            .unwrap();
        log.push_str(&String::from_utf8_lossy(&out.stdout));
        log.push_str(&String::from_utf8_lossy(&out.stderr));
        for entry in read_lines(&path_file) {
            self.path.insert(0, entry);
        }
        let outputs = parse_outputs(&std::fs::read_to_string(&output_file).unwrap());
        (out.status.success(), outputs)
    }

    /// `${{ ... }}` in a value of action.yml: the few contexts an action reads.
    fn expand(&self, text: &str, inputs: &BTreeMap<String, String>, ran: &Ran) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = start + rest[start..].find("}}").expect("`${{` is closed");
            let expr = rest[start + 3..end].trim();
            let parts: Vec<&str> = expr.split('.').collect();
            out.push_str(&match parts.as_slice() {
                ["inputs", name] => inputs
                    .get(*name)
                    .unwrap_or_else(|| panic!("action.yml reads an undeclared input {name}"))
                    .clone(),
                ["github", "token"] => TOKEN.into(),
                ["github", "action_ref"] => self.action_ref.clone(),
                ["github", "action_repository"] => self.action_repository.clone(),
                ["steps", id, "outputs", name] => ran.step(id, name).to_string(),
                _ => panic!("unsupported expression in action.yml: {expr}"),
            });
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

/// The runner's `$GITHUB_OUTPUT` syntax: `name=value`, or `name<<DELIMITER` ... `DELIMITER`.
fn parse_outputs(text: &str) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
            outputs.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.insert(name.to_string(), value.to_string());
        } else {
            panic!("not a $GITHUB_OUTPUT line: {line:?}");
        }
    }
    outputs
}

fn action_yml() -> Value {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml")).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().map(String::from).collect())
        .unwrap_or_default()
}

/// Stands in for `cargo`: records its arguments and "builds" dagship into `--root`/bin.
const FAKE_CARGO: &str = r#"#!/bin/sh
( IFS="$(printf '\t')"; printf '%s\n' "$*" ) >>"$FAKE_CARGO_LOG"
root=""
while [ $# -gt 0 ]; do
  [ "$1" = --root ] && root=$2
  shift
done
mkdir -p "$root/bin"
cp "$(dirname "$FAKE_CARGO_LOG")/built-dagship" "$root/bin/dagship"
"#;
