//! What Airflow should see of a generated folder, derived from the manifest with deliberately
//! plain code (walks without memo), not with the generator's: the DAG ids, every unit's
//! tasks and upstream sets, the tests' own tasks, what each task's selection picks, and the
//! `before`/`after`/freshness tasks.

use std::collections::{BTreeMap, BTreeSet};

use dagship::dags::{self, DagOptions, TestsMode};
use dagship::dbt::manifest::{Manifest, Node, ResourceType};
use dagship::dbt::select::{EvalOptions, IndirectSelection, select_expression_with};
use serde_json::Value;

use super::{Case, path_key};

fn is_unit_node(n: &Node) -> bool {
    n.enabled
        && (matches!(n.resource_type, ResourceType::Seed | ResourceType::Snapshot)
            || (n.resource_type == ResourceType::Model && !is_ephemeral(n)))
}

fn is_ephemeral(n: &Node) -> bool {
    n.resource_type == ResourceType::Model && n.materialized.as_deref() == Some("ephemeral")
}

fn is_test(n: &Node) -> bool {
    matches!(n.resource_type, ResourceType::Test | ResourceType::UnitTest)
}

/// The naming rule: `name` (`name_vN` for a version), `<package>__<name>` when packages share it.
fn unit_names(m: &Manifest) -> BTreeMap<String, String> {
    let base = |n: &Node| match n.version {
        Some(_) => format!("{}_{}", n.name, n.fqn.last().unwrap()),
        None => n.name.to_string(),
    };
    let mut packages: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let candidates = m.nodes().iter().filter(|n| {
        n.enabled
            && matches!(
                n.resource_type,
                ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
            )
    });
    for n in candidates.clone() {
        packages.entry(base(n)).or_default().insert(&n.package_name);
    }
    candidates
        .map(|n| {
            let b = base(n);
            let name = if packages[&b].len() > 1 {
                format!("{}__{b}", n.package_name)
            } else {
                b
            };
            (n.unique_id.to_string(), name)
        })
        .collect()
}

/// Units reachable upwards from `start`'s parents, through nodes `through` admits.
fn units_above(
    m: &Manifest,
    start: &Node,
    is_unit: &dyn Fn(&str) -> bool,
    through: &dyn Fn(&Node) -> bool,
) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut stack: Vec<&str> = start.depends_on.iter().map(|d| &*d.unique_id).collect();
    while let Some(id) = stack.pop() {
        if is_unit(id) {
            found.insert(id.to_string());
        } else if seen.insert(id)
            && let Some(node) = m.node(id).filter(|n| through(n))
        {
            stack.extend(node.depends_on.iter().map(|d| &*d.unique_id));
        }
    }
    found
}

pub(super) fn check(case: &Case, view: &Value) -> Vec<String> {
    let folder = &view[path_key(&case.folder)];
    let mut failures = Vec::new();
    if let Some(errors) = folder["import_errors"]
        .as_object()
        .filter(|e| !e.is_empty())
    {
        return vec![format!("{}: import errors {errors:?}", case.label)];
    }
    // Airflow parses every DAG file, and takes the settings module beside them for none.
    let mut dag_files: Vec<String> = std::fs::read_dir(&case.folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".py"))
        .collect();
    dag_files.sort();
    let Some(at) = dag_files.iter().position(|n| n == dags::SETTINGS_FILE) else {
        return vec![format!("{}: no settings module", case.label)];
    };
    dag_files.remove(at);
    if folder["discovered"] != serde_json::json!(dag_files) {
        failures.push(format!(
            "{}: Airflow would parse {}, not the DAG files {dag_files:?}",
            case.label, folder["discovered"]
        ));
    }
    let m = &case.loaded;
    let names = unit_names(m);
    let selections: Vec<(String, BTreeSet<String>)> = match &case.selectors {
        Some(file) => {
            let mut seen = BTreeSet::new();
            file.selectors()
                .iter()
                .filter(|s| seen.insert(s.name.clone()))
                .map(|s| {
                    (
                        format!("dbt_{}", s.name),
                        file.evaluate(&s.name, m).unwrap().to_set(),
                    )
                })
                .collect()
        }
        None => vec![(
            "dbt_all".to_string(),
            select_expression_with(m, &[], &[], &EvalOptions::default())
                .unwrap()
                .to_set(),
        )],
    };
    let dag_ids: BTreeSet<&str> = folder["dags"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let want_ids: BTreeSet<&str> = selections.iter().map(|(id, _)| id.as_str()).collect();
    if dag_ids != want_ids {
        failures.push(format!(
            "{}: DAGs {dag_ids:?}, expected {want_ids:?}",
            case.label
        ));
    }
    for (dag_id, selected) in &selections {
        let tasks = &folder["dags"][dag_id.as_str()]["tasks"];
        let Some(tasks) = tasks.as_object() else {
            failures.push(format!("{}: no DAG {dag_id}", case.label));
            continue;
        };
        let mut errors = Vec::new();
        check_dag(m, &names, selected, tasks, &case.options, &mut errors);
        failures.extend(
            errors
                .into_iter()
                .take(10)
                .map(|e| format!("{} {dag_id}: {e}", case.label)),
        );
    }
    failures
}

type Tasks = serde_json::Map<String, Value>;

fn upstream(tasks: &Tasks, id: &str) -> BTreeSet<String> {
    tasks[id]["upstream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn check_dag(
    m: &Manifest,
    names: &BTreeMap<String, String>,
    selected: &BTreeSet<String>,
    tasks: &Tasks,
    options: &DagOptions,
    errors: &mut Vec<String>,
) {
    let is_unit = |id: &str| selected.contains(id) && m.node(id).is_some_and(is_unit_node);
    let units: Vec<&Node> = selected
        .iter()
        .filter(|id| is_unit(id))
        .map(|id| m.node(id).unwrap())
        .collect();
    let tests: Vec<&Node> = selected
        .iter()
        .filter_map(|id| m.node(id))
        .filter(|n| is_test(n) && n.enabled)
        .collect();
    let mut own_tests: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for t in &tests {
        let parents: BTreeSet<&str> = t.depends_on.iter().map(|d| &*d.unique_id).collect();
        if let [only] = parents.into_iter().collect::<Vec<_>>()[..] {
            own_tests
                .entry(only)
                .or_default()
                .insert(t.unique_id.to_string());
        }
    }
    let own = |u: &Node| own_tests.get(&*u.unique_id).cloned().unwrap_or_default();
    let with_tests = options.tests == TestsMode::AfterEach;
    let first = |u: &Node| match options.tests {
        TestsMode::AfterEach => format!("{}.run", names[&*u.unique_id]),
        _ => names[&*u.unique_id].clone(),
    };
    let last = |u: &Node| {
        if with_tests && !own(u).is_empty() {
            format!("{}.test", names[&*u.unique_id])
        } else {
            first(u)
        }
    };
    let extras: BTreeSet<String> = options
        .before
        .iter()
        .chain(&options.after)
        .map(|t| t.id.clone())
        .collect();
    let dbt_only = |set: BTreeSet<String>| -> BTreeSet<String> {
        set.into_iter()
            .filter(|t| !extras.contains(t) && !t.starts_with("freshness__"))
            .collect()
    };
    let mut expected_ids = BTreeSet::new();
    // Every selection is evaluated over the whole manifest: a sample keeps large DAGs quick.
    let sample = (units.len() / 25).max(1);
    for (i, u) in units.iter().enumerate() {
        expected_ids.insert(first(u));
        expected_ids.insert(last(u));
        let want: BTreeSet<String> = units_above(m, u, &is_unit, &|_| true)
            .iter()
            .map(|p| last(m.node(p).unwrap()))
            .collect();
        let got = dbt_only(upstream(tasks, &first(u)));
        if got != want {
            errors.push(format!("{} waits for {got:?}, expected {want:?}", first(u)));
        }
        if last(u) != first(u) && upstream(tasks, &last(u)) != BTreeSet::from([first(u)]) {
            errors.push(format!("{} does not wait for {} alone", last(u), first(u)));
        }
        if i % sample != 0 {
            continue;
        }
        let tests_types = || vec![ResourceType::Test, ResourceType::UnitTest];
        let me = BTreeSet::from([u.unique_id.to_string()]);
        if options.tests == TestsMode::Build {
            let mut types = tests_types();
            types.push(u.resource_type);
            check_selects(m, tasks, &first(u), types, &me | &own(u), errors);
        } else {
            check_selects(m, tasks, &first(u), vec![u.resource_type], me, errors);
        }
        if last(u) != first(u) {
            check_selects(m, tasks, &last(u), tests_types(), own(u), errors);
        }
    }
    // Tests in tasks of their own, found by their selection (their ids may be cut or
    // numbered to stay unique); a sample of selections is evaluated below.
    let mut standalone: BTreeMap<String, String> = BTreeMap::new();
    for (id, task) in tasks
        .iter()
        .filter(|(_, t)| t["group"].is_null() && t["argv"][1] == "test")
    {
        let argv = task["argv"].as_array().unwrap();
        let at = argv.iter().position(|a| a == "--select").unwrap();
        standalone.insert(argv[at + 1].as_str().unwrap().to_string(), id.clone());
    }
    if options.tests != TestsMode::None {
        let alone: Vec<&&Node> = tests
            .iter()
            .filter(|t| !(t.depends_on.len() == 1 && is_unit(&t.depends_on[0].unique_id)))
            .collect();
        let sample = (alone.len() / 20).max(1);
        for (i, t) in alone.into_iter().enumerate() {
            let select = format!(
                "resource_type:{},package:{},fqn:{}",
                t.resource_type.as_str(),
                t.package_name,
                t.fqn.join(".")
            );
            let Some(id) = standalone.get(&select) else {
                errors.push(format!(
                    "no task selects test {} as `{select}`",
                    t.unique_id
                ));
                continue;
            };
            expected_ids.insert(id.clone());
            let want: BTreeSet<String> = units_above(m, t, &is_unit, &is_ephemeral)
                .iter()
                .map(|p| last(m.node(p).unwrap()))
                .collect();
            if dbt_only(upstream(tasks, id)) != want {
                errors.push(format!(
                    "test {id} waits for {:?}, expected {want:?}",
                    upstream(tasks, id)
                ));
            }
            if i % sample == 0 {
                let me = BTreeSet::from([t.unique_id.to_string()]);
                check_selects(m, tasks, id, vec![t.resource_type], me, errors);
            }
        }
    }
    let got_ids: BTreeSet<String> = dbt_only(tasks.keys().cloned().collect());
    if got_ids != expected_ids {
        let missing: Vec<_> = expected_ids.difference(&got_ids).take(5).collect();
        let extra: Vec<_> = got_ids.difference(&expected_ids).take(5).collect();
        errors.push(format!(
            "task ids differ ({} test tasks): missing {missing:?}, extra {extra:?}",
            standalone.len()
        ));
    }
    check_extras(m, units.as_slice(), tasks, options, &first, errors);
}

/// `before` tasks precede every task that has no other upstream; `after` ones follow every
/// task with no downstream; freshness tasks precede the units reading their source.
fn check_extras(
    m: &Manifest,
    units: &[&Node],
    tasks: &Tasks,
    options: &DagOptions,
    first: &dyn Fn(&Node) -> String,
    errors: &mut Vec<String>,
) {
    let before: BTreeSet<String> = options.before.iter().map(|t| t.id.clone()).collect();
    let after: BTreeSet<String> = options.after.iter().map(|t| t.id.clone()).collect();
    let mut has_downstream = BTreeSet::new();
    for id in tasks.keys() {
        has_downstream.extend(
            upstream(tasks, id)
                .into_iter()
                .filter(|u| !before.contains(u)),
        );
    }
    for id in tasks
        .keys()
        .filter(|id| !before.contains(*id) && !after.contains(*id))
    {
        let up = upstream(tasks, id);
        let roots = up.iter().all(|u| before.contains(u));
        if roots && !before.iter().all(|b| up.contains(b)) {
            errors.push(format!("{id} is a root but does not wait for {before:?}"));
        }
        if !has_downstream.contains(id) && !after.is_empty() {
            for a in &after {
                if !upstream(tasks, a).contains(id) {
                    errors.push(format!("{a} does not wait for the leaf {id}"));
                }
            }
        }
    }
    if !options.source_freshness {
        return;
    }
    for u in units {
        let reads_source = u.depends_on.iter().any(|d| {
            m.node(&d.unique_id)
                .is_some_and(|n| n.resource_type == ResourceType::Source)
        });
        let waits = upstream(tasks, &first(u))
            .iter()
            .any(|t| t.starts_with("freshness__"));
        if reads_source && !waits {
            errors.push(format!(
                "{} reads a source but waits for no freshness task",
                first(u)
            ));
        }
    }
}

/// What the task's `--select`/`--exclude` pick by dbt's rules (our engine, which the corpus
/// tests hold equal to `dbt ls`) among the types its command runs.
fn picks(
    m: &Manifest,
    tasks: &Tasks,
    id: &str,
    types: Vec<ResourceType>,
) -> Result<BTreeSet<String>, String> {
    let argv: Vec<&str> = tasks[id]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let after = |flag: &str| argv.iter().position(|a| *a == flag).map(|i| argv[i + 1]);
    let select = after("--select").ok_or("no --select")?;
    let exclude: Vec<&str> = after("--exclude").into_iter().collect();
    let indirect_selection = match after("--indirect-selection") {
        Some("cautious") => IndirectSelection::Cautious,
        _ => IndirectSelection::Eager,
    };
    let options = EvalOptions {
        resource_types: types,
        indirect_selection,
    };
    select_expression_with(m, &[select], &exclude, &options)
        .map(|s| s.to_set())
        .map_err(|e| format!("`{select}` is invalid: {e}"))
}

fn check_selects(
    m: &Manifest,
    tasks: &Tasks,
    id: &str,
    types: Vec<ResourceType>,
    want: BTreeSet<String>,
    errors: &mut Vec<String>,
) {
    match picks(m, tasks, id, types) {
        Ok(got) if got == want => {}
        Ok(got) => errors.push(format!("{id} picks {got:?}, expected {want:?}")),
        Err(e) => errors.push(format!("{id}: {e}")),
    }
}
