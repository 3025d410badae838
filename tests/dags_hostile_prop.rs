//! Property test (issue 13): corpus manifests and selectors files, mutated the ways real
//! and hostile files go wrong (required keys dropped or null, keys spelled with escapes,
//! deep nesting, malformed JSON where the reader skips and where it parses, control
//! bytes and NULs in names, paths through `..`, truncation; selectors repeated, differing
//! in case, referencing each other exponentially). `dagship dags` must exit 0 or 2, never
//! panic or die of a signal, and every set of files it writes must load in real Airflow
//! (all in one Airflow process at the end: starting Airflow is the slow part).

mod common;
mod dbt_support;
mod example_dbt;
mod kept_dags;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dagship::dbt::selectors_file::SelectorsFile;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

/// A manifest to start from, with its selectors file.
#[derive(Debug, Clone, Copy)]
enum Source {
    Jaffle,
    Mattermost,
    Base,
}

/// One change to the manifest.
#[derive(Debug, Clone)]
enum Edit {
    DropKey(Index, &'static str),
    NullKey(Index, &'static str),
    EmptyFqn(Index),
    /// The entry's key spelled with a `\u` escape (the same key to a JSON reader).
    EscapeKey(Index, &'static str),
    EscapeNodesSection,
    RepeatNodesSection,
    DeepList(Index, usize),
    /// `meta.dagship` settings: a known key or an unknown one, maybe spelled escaped.
    Settings(Index, bool, bool),
    /// A field the reader skips, replaced by raw text (valid JSON or not).
    Skipped(Index, &'static str),
    /// A raw control byte inside a string the reader parses.
    Control(Index, &'static str, u8),
    Nul(Index),
    OutsidePath(Index),
    Truncate(Index),
}

/// One change to the selectors file.
#[derive(Debug, Clone)]
enum SelectorsEdit {
    Duplicate(Index),
    CaseTwin(Index),
    /// A chain of selectors, each the one before it twice.
    FanOut(usize),
    OddName(String),
}

#[derive(Debug, Clone)]
struct Case {
    source: Source,
    edits: Vec<Edit>,
    selector_edits: Vec<SelectorsEdit>,
}

const REQUIRED: [&str; 5] = ["unique_id", "resource_type", "package_name", "name", "fqn"];

fn edit() -> impl Strategy<Value = Edit> {
    let key = prop::sample::select(REQUIRED.to_vec());
    let parsed = prop::sample::select(vec!["name", "unique_id", "original_file_path"]);
    let escaped = prop::sample::select(vec!["name", "resource_type", "config", "fqn"]);
    let raw = prop::sample::select(vec![
        "[}",
        r#"{"a": 1]"#,
        "[1 2 3]",
        "tru",
        "NaN",
        "-",
        "01",
        r#"{"a": [{"b": "]"}]}"#,
        r#""unclosed"#,
        "[[[[[[[[]]]]]]]]",
    ]);
    prop_oneof![
        (any::<Index>(), key.clone()).prop_map(|(i, k)| Edit::DropKey(i, k)),
        (any::<Index>(), key).prop_map(|(i, k)| Edit::NullKey(i, k)),
        any::<Index>().prop_map(Edit::EmptyFqn),
        (any::<Index>(), escaped).prop_map(|(i, k)| Edit::EscapeKey(i, k)),
        Just(Edit::EscapeNodesSection),
        Just(Edit::RepeatNodesSection),
        (any::<Index>(), 100usize..400).prop_map(|(i, d)| Edit::DeepList(i, d)),
        (any::<Index>(), any::<bool>(), any::<bool>())
            .prop_map(|(i, u, e)| Edit::Settings(i, u, e)),
        (any::<Index>(), raw).prop_map(|(i, r)| Edit::Skipped(i, r)),
        (any::<Index>(), parsed, 1u8..0x20).prop_map(|(i, k, b)| Edit::Control(i, k, b)),
        any::<Index>().prop_map(Edit::Nul),
        any::<Index>().prop_map(Edit::OutsidePath),
        any::<Index>().prop_map(Edit::Truncate),
    ]
}

fn selectors_edit() -> impl Strategy<Value = SelectorsEdit> {
    let odd = prop::collection::vec(
        prop::sample::select(vec![
            'a', 'B', '.', '/', ' ', '"', '\\', '\0', '\n', 'é', '*',
        ]),
        1..8,
    );
    prop_oneof![
        any::<Index>().prop_map(SelectorsEdit::Duplicate),
        any::<Index>().prop_map(SelectorsEdit::CaseTwin),
        (1usize..25).prop_map(SelectorsEdit::FanOut),
        odd.prop_map(|c| SelectorsEdit::OddName(c.into_iter().collect())),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let source = prop_oneof![3 => Just(Source::Jaffle), 1 => Just(Source::Mattermost), 2 => Just(Source::Base)];
    (
        source,
        prop::collection::vec(edit(), 0..3),
        prop::collection::vec(selectors_edit(), 0..2),
    )
        .prop_map(|(source, edits, selector_edits)| Case {
            source,
            edits,
            selector_edits,
        })
}

fn manifest_of(source: Source) -> Value {
    let bytes = match source {
        Source::Jaffle => corpus("jaffle_shop"),
        Source::Mattermost => corpus("mattermost_analytics"),
        Source::Base => std::fs::read(hostile_dir().join("base.manifest.json")).unwrap(),
    };
    serde_json::from_slice(&bytes).unwrap()
}

fn corpus(project: &str) -> Vec<u8> {
    dbt_support::gunzip(&dbt_support::corpus_dir().join(format!("{project}.manifest.json.gz")))
}

fn hostile_dir() -> PathBuf {
    common::repo_root().join("tests/data/dbt/hostile")
}

/// Selector names and definitions to start from.
fn selectors_of(source: Source) -> Vec<(String, Value)> {
    if let Source::Mattermost = source {
        let path = dbt_support::corpus_dir().join("selectors/mattermost_analytics.selectors.yml");
        let file = SelectorsFile::from_path(&path).unwrap();
        return file
            .selectors()
            .iter()
            .map(|s| (s.name.clone(), s.definition.clone()))
            .collect();
    }
    vec![
        ("all".to_string(), json!("fqn:*")),
        (
            "models".to_string(),
            json!({"method": "resource_type", "value": "model"}),
        ),
        ("by_path".to_string(), json!("path:models")),
    ]
}

/// The entry at `index` of the `nodes` section, as a mutable object.
fn entry<'v>(manifest: &'v mut Value, index: &Index) -> &'v mut serde_json::Map<String, Value> {
    let nodes = manifest["nodes"].as_object_mut().unwrap();
    let i = index.index(nodes.len());
    nodes.values_mut().nth(i).unwrap().as_object_mut().unwrap()
}

/// The manifest's text after the edits. Text-level edits leave a marker in the value and
/// replace it in the text, so that invalid JSON can be written.
fn manifest_text(case: &Case) -> Vec<u8> {
    let mut m = manifest_of(case.source);
    let mut swaps: Vec<(String, String)> = Vec::new();
    let mut truncate = None;
    // Edits of entries first: renaming the `nodes` section hides the entries.
    let mut edits: Vec<(usize, &Edit)> = case.edits.iter().enumerate().collect();
    edits.sort_by_key(|(_, e)| matches!(e, Edit::EscapeNodesSection | Edit::RepeatNodesSection));
    for (k, edit) in edits {
        let marker = format!("@@{k}@@");
        match edit {
            Edit::DropKey(i, key) => {
                entry(&mut m, i).shift_remove(*key);
            }
            Edit::NullKey(i, key) => {
                entry(&mut m, i).insert(key.to_string(), Value::Null);
            }
            Edit::EmptyFqn(i) => {
                entry(&mut m, i).insert("fqn".into(), json!([]));
            }
            Edit::EscapeKey(i, key) => {
                let e = entry(&mut m, i);
                if let Some(v) = e.shift_remove(*key) {
                    e.insert(marker.clone(), v);
                    swaps.push((format!("\"{marker}\""), escaped(key)));
                }
            }
            Edit::EscapeNodesSection | Edit::RepeatNodesSection => {
                let top = m.as_object_mut().unwrap();
                if matches!(edit, Edit::EscapeNodesSection) {
                    if let Some(nodes) = top.shift_remove("nodes") {
                        top.insert(marker.clone(), nodes);
                    }
                } else {
                    top.insert(marker.clone(), json!({}));
                }
                swaps.push((format!("\"{marker}\""), escaped("nodes")));
            }
            Edit::DeepList(i, depth) => {
                let deep = format!("{}{}", "[".repeat(*depth), "]".repeat(*depth));
                config(entry(&mut m, i)).insert("grants".into(), json!(marker));
                swaps.push((format!("\"{marker}\""), deep));
            }
            Edit::Settings(i, unknown, escape) => {
                let key = if *unknown { "pools" } else { "pool" };
                let meta = json!({ marker.clone(): { key: "heavy" } });
                config(entry(&mut m, i)).insert("meta".into(), meta);
                let spelled = if *escape {
                    escaped("dagship")
                } else {
                    "\"dagship\"".into()
                };
                swaps.push((format!("\"{marker}\""), spelled));
            }
            Edit::Skipped(i, raw) => {
                entry(&mut m, i).insert("raw_code".into(), json!(marker));
                swaps.push((format!("\"{marker}\""), raw.to_string()));
            }
            Edit::Control(i, key, byte) => {
                let e = entry(&mut m, i);
                let before = e
                    .get(*key)
                    .and_then(Value::as_str)
                    .unwrap_or("x")
                    .to_string();
                e.insert(key.to_string(), json!(format!("{before}{marker}")));
                swaps.push((marker.clone(), (*byte as char).to_string()));
            }
            Edit::Nul(i) => {
                let e = entry(&mut m, i);
                let name = format!("{}\u{0}x", e["name"].as_str().unwrap_or("n"));
                if let Some(Value::Array(fqn)) = e.get_mut("fqn")
                    && let Some(last) = fqn.last_mut()
                {
                    *last = json!(name);
                }
                e.insert("name".into(), json!(name));
            }
            Edit::OutsidePath(i) => {
                let e = entry(&mut m, i);
                let file = format!("../../sources/{}.sql", e["name"].as_str().unwrap_or("x"));
                e.insert("original_file_path".into(), json!(file));
            }
            Edit::Truncate(at) => truncate = Some(*at),
        }
    }
    let mut text = serde_json::to_string(&m).unwrap();
    for (marker, with) in swaps {
        text = text.replacen(&marker, &with, 1);
    }
    let mut bytes = text.into_bytes();
    if let Some(at) = truncate {
        bytes.truncate(at.index(bytes.len()));
    }
    bytes
}

fn config(entry: &mut serde_json::Map<String, Value>) -> &mut serde_json::Map<String, Value> {
    if !entry.get("config").is_some_and(Value::is_object) {
        entry.insert("config".into(), json!({}));
    }
    entry["config"].as_object_mut().unwrap()
}

/// `"name"` spelled `"\u006eame"`: the same key to every JSON reader.
fn escaped(key: &str) -> String {
    let mut chars = key.chars();
    let first = chars.next().unwrap();
    format!("\"\\u{:04x}{}\"", first as u32, chars.as_str())
}

fn selectors_yaml(case: &Case) -> String {
    let mut selectors = selectors_of(case.source);
    for edit in &case.selector_edits {
        match edit {
            SelectorsEdit::Duplicate(i) => {
                let twin = selectors[i.index(selectors.len())].clone();
                selectors.push(twin);
            }
            SelectorsEdit::CaseTwin(i) => {
                let (name, definition) = selectors[i.index(selectors.len())].clone();
                selectors.push((name.to_uppercase(), definition));
            }
            SelectorsEdit::FanOut(depth) => {
                selectors.push(("f0".into(), json!("fqn:*")));
                for d in 1..=*depth {
                    let prev = json!({"method": "selector", "value": format!("f{}", d - 1)});
                    selectors.push((format!("f{d}"), json!({ "union": [prev, prev] })));
                }
            }
            SelectorsEdit::OddName(name) => selectors.push((name.clone(), json!("fqn:*"))),
        }
    }
    // JSON is YAML: every name and definition written exactly.
    let list: Vec<Value> = selectors
        .into_iter()
        .map(|(name, definition)| json!({"name": name, "definition": definition}))
        .collect();
    json!({ "selectors": list }).to_string()
}

/// Runs `dagship dags` on the case in `dir`; an error for anything but exit 0 or 2.
fn run(case: &Case, dir: &Path) -> Result<i32, TestCaseError> {
    std::fs::write(dir.join("manifest.json"), manifest_text(case)).unwrap();
    std::fs::write(dir.join("selectors.yml"), selectors_yaml(case)).unwrap();
    let mut child = common::dagship(dir)
        .args([
            "dags",
            "--manifest",
            "manifest.json",
            "--selectors",
            "selectors.yml",
        ])
        .args(["--out", "out"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            child.wait().unwrap();
            return Err(TestCaseError::fail("still running after 120 s"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(0) {
        kept_dags::keep(&dir.join("out"));
    }
    match out.status.code() {
        Some(code @ (0 | 2)) if !stderr.contains("panicked") => Ok(code),
        code => Err(TestCaseError::fail(format!(
            "exit {code:?} ({:?}): {stderr}",
            out.status
        ))),
    }
}

/// Loads every folder in one Airflow process; what went wrong, per folder.
fn airflow_problems(folders: &[PathBuf]) -> Vec<String> {
    let report = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new(example_dbt::venv_bin("python"))
        .arg(common::repo_root().join("tests/dags_airflow.py"))
        .arg(report.path())
        .args(folders)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tests/dags_airflow.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let view: Value = serde_json::from_slice(&std::fs::read(report.path()).unwrap()).unwrap();
    let mut problems = Vec::new();
    for folder in folders {
        let seen = &view[folder.to_str().unwrap()];
        // Every file but the settings module is a DAG file.
        let files = std::fs::read_dir(folder).unwrap().count().saturating_sub(1);
        let dags = seen["dags"].as_object().map_or(0, |d| d.len());
        let errors = &seen["import_errors"];
        let settings = folder.join(dagship::dags::SETTINGS_FILE).is_file();
        if errors.as_object().is_none_or(|e| !e.is_empty()) || dags != files || !settings {
            problems.push(format!(
                "{}: {dags} DAGs of {files} DAG files, errors {errors}, settings module: \
                 {settings}",
                folder.display()
            ));
        }
    }
    problems
}

#[test]
fn mutated_manifests_and_selectors_exit_0_or_2_and_what_is_written_loads_in_airflow() {
    let work = tempfile::tempdir().unwrap();
    let written: RefCell<Vec<(PathBuf, String)>> = RefCell::default();
    let codes: RefCell<[usize; 3]> = RefCell::default();
    let mut runner = TestRunner::new(Config {
        cases: 40,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(), |case| {
        let dir = tempfile::tempdir_in(work.path()).unwrap().keep();
        let code = run(&case, &dir)?;
        codes.borrow_mut()[code as usize] += 1;
        if code == 0 {
            written
                .borrow_mut()
                .push((dir.join("out"), format!("{case:?}")));
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let [passed, _, refused] = *codes.borrow();
    eprintln!("{passed} cases wrote DAG files, {refused} were refused (exit 2)");
    assert!(
        passed > 0 && refused > 0,
        "{passed} passed, {refused} refused: mutate more evenly"
    );
    let written = written.into_inner();
    let folders: Vec<PathBuf> = written.iter().map(|(f, _)| f.clone()).collect();
    let problems = airflow_problems(&folders);
    let cases: Vec<&String> = written
        .iter()
        .filter(|(f, _)| problems.iter().any(|p| p.starts_with(f.to_str().unwrap())))
        .map(|(_, c)| c)
        .collect();
    assert!(problems.is_empty(), "{problems:#?}\nfrom cases {cases:#?}");
}
