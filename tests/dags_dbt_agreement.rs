//! dagship's selection against the real `dbt ls` (the venv's dbt-core, through
//! `tests/dbt_ls.py`): every selector and many `--select` expressions on the example
//! warehouse, a project with local packages (`tests/data/dbt_projects/shop`) and a generated
//! project of 240 models. Then the DAGs: every task's own `--select`/`--exclude`, given to
//! dbt, picks what our engine says, and exactly one node for run/seed/snapshot/test tasks.

mod example_dbt;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use dagship::dags::graph::{self, Command as DbtCommand, ManifestIndex};
use dagship::dags::{self, DagOptions};
use dagship::dbt::manifest::{Manifest, ResourceType};
use dagship::dbt::select::{EvalOptions, IndirectSelection, select_expression_with};
use dagship::dbt::selectors_file::SelectorsFile;
use serde_json::{Value, json};

/// `dbt ls` arguments by query key.
type Queries = BTreeMap<String, Vec<String>>;

struct Project {
    /// The folder to run tools in (relative paths in profiles resolve against it).
    cwd: PathBuf,
    project_dir: String,
    target: String,
    deps: bool,
}

/// Runs `tests/dbt_ls.py` on the project: parses it, answers every query.
fn dbt_ls(project: &Project, queries: &Queries) -> (PathBuf, BTreeMap<String, Value>) {
    let request = json!({
        "project_dir": project.project_dir, "profiles_dir": project.project_dir,
        "target": project.target, "deps": project.deps, "queries": queries,
    });
    let dir = tempfile::tempdir().unwrap();
    let (req, res) = (
        dir.path().join("request.json"),
        dir.path().join("result.json"),
    );
    std::fs::write(&req, request.to_string()).unwrap();
    let out = Command::new(example_dbt::venv_bin("python"))
        .current_dir(&project.cwd)
        .arg(example_dbt::repo_root().join("tests/dbt_ls.py"))
        .args([&req, &res])
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dbt_ls.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&std::fs::read(&res).unwrap()).unwrap();
    let manifest = project.cwd.join(result["manifest"].as_str().unwrap());
    let results = result["results"]
        .as_object()
        .unwrap()
        .clone()
        .into_iter()
        .collect();
    (manifest, results)
}

/// The same query, answered by dagship.
fn ours(m: &Manifest, selectors: &SelectorsFile, args: &[String]) -> Value {
    let mut options = EvalOptions::default();
    let (mut select, mut exclude, mut selector, mut types) = (vec![], vec![], None, vec![]);
    let mut words = args.iter();
    while let Some(flag) = words.next() {
        let value = words.next().unwrap().as_str();
        match flag.as_str() {
            "--select" => select.push(value),
            "--exclude" => exclude.push(value),
            "--selector" => selector = Some(value),
            "--resource-type" => types.push(ResourceType::parse(value).unwrap()),
            "--indirect-selection" => {
                options.indirect_selection = match value {
                    "cautious" => IndirectSelection::Cautious,
                    "buildable" => IndirectSelection::Buildable,
                    "empty" => IndirectSelection::Empty,
                    _ => IndirectSelection::Eager,
                }
            }
            other => panic!("unexpected argument {other}"),
        }
    }
    if !types.is_empty() {
        options.resource_types = types;
    }
    let result = match selector {
        Some(name) => selectors.get(name).unwrap().evaluate_with(m, &options),
        None => select_expression_with(m, &select, &exclude, &options),
    };
    match result {
        Ok(sel) => json!(sel.to_set()),
        Err(e) => json!({"error": e.to_string()}),
    }
}

fn query(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// Selectors, then `--select` expressions (each also with `--resource-type model`).
fn queries(selectors: &SelectorsFile, expressions: &[&str]) -> Queries {
    let mut q = Queries::new();
    for s in selectors.selectors() {
        q.insert(
            format!("selector {}", s.name),
            query(&["--selector", &s.name]),
        );
    }
    for e in expressions {
        let (select, exclude) = e
            .split_once(" --exclude ")
            .map_or((*e, None), |(s, x)| (s, Some(x)));
        let mut args = query(&["--select", select]);
        if let Some(x) = exclude {
            args.extend(query(&["--exclude", x]));
        }
        q.insert(format!("select {e}"), args.clone());
        args.extend(query(&["--resource-type", "model"]));
        q.insert(format!("select {e} (models)"), args);
    }
    q
}

/// Compares dbt's answers with ours; dbt errors must be our errors too.
fn compare(
    m: &Manifest,
    selectors: &SelectorsFile,
    queries: &Queries,
    dbt: &BTreeMap<String, Value>,
) -> Vec<String> {
    let mut failures = Vec::new();
    for (key, args) in queries {
        let theirs = &dbt[key];
        let mine = ours(m, selectors, args);
        let agree = match (theirs.get("error"), mine.get("error")) {
            (Some(_), Some(_)) => true,
            (None, None) => theirs == &mine,
            _ => false,
        };
        if !agree {
            failures.push(format!("{key}: dbt {theirs}\n    dagship {mine}"));
        }
    }
    failures
}

/// Every task of every DAG: its selection, run through `dbt ls` with the types its command
/// runs, picks what our engine picks; one node for a unit's run and a test's own task.
fn task_queries(
    m: &Manifest,
    selectors: &SelectorsFile,
    sample: usize,
) -> (Queries, BTreeMap<String, bool>) {
    let index = ManifestIndex::build(m);
    let mut q = Queries::new();
    let mut single = BTreeMap::new();
    let options = DagOptions::default();
    for s in selectors.selectors() {
        let selection = s.evaluate(m).unwrap();
        let dag = graph::build(&index, &selection, &options).unwrap();
        for (i, task) in dag.tasks.iter().enumerate() {
            let (types, one): (&[&str], bool) = match task.command {
                DbtCommand::Run => (&["model"], true),
                DbtCommand::Seed => (&["seed"], true),
                DbtCommand::Snapshot => (&["snapshot"], true),
                DbtCommand::Test => (&["test", "unit_test"], true),
                DbtCommand::UnitTests | DbtCommand::Build => (&["test", "unit_test"], false),
                DbtCommand::Freshness => continue,
            };
            if i % sample != 0 && !one {
                continue;
            }
            let mut args = query(&["--select", &task.select]);
            if let Some(x) = &task.exclude {
                args.extend(query(&["--exclude", x]));
            }
            for t in types {
                args.extend(query(&["--resource-type", t]));
            }
            if task.command == DbtCommand::UnitTests {
                args.extend(query(&["--indirect-selection", "cautious"]));
            }
            let key = format!("task {} {}", s.name, task.task_id());
            single.insert(key.clone(), one);
            q.insert(key, args);
        }
    }
    (q, single)
}

fn check_project(project: &Project, selectors_path: &Path, expressions: &[&str], sample: usize) {
    let selectors = SelectorsFile::from_path(selectors_path).unwrap();
    let q = queries(&selectors, expressions);
    let (manifest_path, dbt) = dbt_ls(project, &q);
    let loaded = dags::load_manifest(&manifest_path).unwrap();
    let m = &loaded;
    let mut failures = compare(m, &selectors, &q, &dbt);

    let (tq, single) = task_queries(m, &selectors, sample);
    let (_, dbt_tasks) = dbt_ls(
        &Project {
            deps: false,
            ..clone(project)
        },
        &tq,
    );
    failures.extend(compare(m, &selectors, &tq, &dbt_tasks));
    for (key, one) in &single {
        if *one && dbt_tasks[key].as_array().map(Vec::len) != Some(1) {
            failures.push(format!("{key}: dbt picks {}, not one node", dbt_tasks[key]));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} queries disagree:\n{}",
        failures.len(),
        q.len() + tq.len(),
        failures.join("\n")
    );
    assert!(q.len() >= expressions.len() * 2 && !tq.is_empty());
}

fn clone(p: &Project) -> Project {
    Project {
        cwd: p.cwd.clone(),
        project_dir: p.project_dir.clone(),
        target: p.target.clone(),
        deps: p.deps,
    }
}

#[test]
fn example_warehouse_selections_agree_with_dbt_ls() {
    let manifest = example_dbt::example_manifest("dbt_agreement");
    let cwd = manifest.ancestors().nth(5).unwrap().to_path_buf();
    let project = Project {
        cwd,
        project_dir: "examples/warehouse/dbt".into(),
        target: "local".into(),
        deps: false,
    };
    let expressions = [
        "tag:daily",
        "tag:hourly+",
        "+tag:finance",
        "tag:core,tag:daily",
        "tag:core tag:finance",
        "@stg_orders",
        "stg_orders+1",
        "2+fct_orders",
        "+fct_payments+",
        "@int_order_payments",
        "int_order_payments+",
        "+int_order_payments",
        "path:models/staging",
        "path:models/marts/core/dim_customers.sql",
        "path:models/marts",
        "resource_type:seed",
        "resource_type:snapshot",
        "resource_type:test",
        "config.materialized:incremental",
        "config.materialized:view",
        "config.materialized:ephemeral",
        "config.schema:core",
        "config.tags:core",
        "source:raw",
        "source:raw.orders+",
        "source:raw+",
        "package:warehouse",
        "fqn:warehouse.marts.*",
        "fqn:*.core.*",
        "marts.core",
        "staging",
        "file:stg_orders.sql",
        "test_type:generic",
        "test_type:singular",
        "test_name:not_null",
        "test_name:relationships",
        "+dim_customers,+fct_orders",
        "int_*",
        "*revenue*",
        "fct_orders+ --exclude tag:finance",
        "customers_snapshot+",
        "payment_methods+",
        "country_codes+",
        "access:protected",
        "resource_type:model,package:warehouse,fqn:warehouse.staging.stg_orders",
        "resource_type:model,package:warehouse,fqn:warehouse.marts.core.fct_orders --exclude fqn:warehouse.marts.core.fct_orders.*",
        "fqn:warehouse.marts.core.dim_[cp]*",
        "nope:x",
        "tag:daily --exclude resource_type:test",
    ];
    check_project(&project, &example_dbt::example_selectors(), &expressions, 1);
}

fn copy_projects() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    example_dbt::copy_tree(
        &example_dbt::repo_root().join("tests/data/dbt_projects"),
        dir.path(),
    );
    dir
}

#[test]
fn packages_project_selections_agree_with_dbt_ls() {
    let dir = copy_projects();
    let project = Project {
        cwd: dir.path().join("shop"),
        project_dir: ".".into(),
        target: "local".into(),
        deps: true,
    };
    let expressions = [
        "stg_orders",
        "package:pkg_finance",
        "package:this",
        "fqn:shop.marts.orders",
        "fqn:shop.marts.orders.*",
        "marts.orders",
        "orders",
        "orders+",
        "+eu_revenue",
        "fqn:shop.eu.west",
        "eu.west",
        "fqn:shop.sales+eu",
        "path:models/sales+eu",
        "path:models/eu.west/eu_revenue.sql",
        "customers",
        "customers.v1",
        "customers_v2",
        "fqn:customers.v2",
        "version:latest",
        "version:old",
        "version:none",
        "stg_events",
        "pkg_marketing.stg_events",
        "+campaigns",
        "@int_orders",
        "int_orders+",
        "tag:finance+",
        "resource_type:snapshot+",
        "orders_snapshot",
        "countries+",
        "test_name:relationships",
        "resource_type:model,package:shop,fqn:shop.marts.orders --exclude fqn:shop.marts.orders.*",
        "resource_type:model,package:pkg_finance,fqn:pkg_finance.stg_orders",
        "resource_type:model,package:shop,fqn:shop.marts.customers.v1",
        "resource_type:model,package:shop,fqn:shop.sales[+]eu.sales_summary",
        "config.materialized:table,package:shop",
        "+orders,+order_items",
        "tag:daily --exclude tag:staging",
        "fqn:*",
        "shop.*",
    ];
    check_project(
        &project,
        &project.cwd.join("selectors.yml"),
        &expressions,
        1,
    );
}

/// A project of 240 models: staging (80), intermediate (80, every tenth ephemeral) and marts
/// (80, in four domain folders), tagged by layer and cadence, each with tests.
fn write_large_project(root: &Path) {
    let models = root.join("models");
    let mut schema = String::from("version: 2\nmodels:\n");
    for i in 0..240 {
        let (layer, folder, refs): (&str, String, Vec<usize>) = match i {
            0..80 => ("staging", "staging".into(), vec![]),
            80..160 => (
                "intermediate",
                "intermediate".into(),
                vec![i - 80, (i * 7) % 80],
            ),
            _ => (
                "marts",
                format!("marts/domain_{}", i % 4),
                vec![80 + (i - 160), 80 + (i * 3) % 80],
            ),
        };
        let name = format!("{}_{i}", &layer[..3]);
        let dir = models.join(&folder);
        std::fs::create_dir_all(&dir).unwrap();
        let from = match refs.as_slice() {
            [] => "select 1 as id".to_string(),
            refs => {
                let names: Vec<String> = refs
                    .iter()
                    .map(|r| format!("{{{{ ref('{}') }}}}", model_name(*r)))
                    .collect();
                format!("select a.id from {} a cross join {} b", names[0], names[1])
            }
        };
        let materialized = if layer == "intermediate" && i % 10 == 3 {
            "ephemeral"
        } else {
            "view"
        };
        let cadence = if i % 3 == 0 { "hourly" } else { "daily" };
        std::fs::write(
            dir.join(format!("{name}.sql")),
            format!("{{{{ config(materialized='{materialized}', tags=['{layer}', '{cadence}']) }}}}\n{from}\n"),
        )
        .unwrap();
        if materialized != "ephemeral" {
            schema.push_str(&format!(
                "  - name: {name}\n    columns:\n      - name: id\n        data_tests: [not_null]\n"
            ));
        }
    }
    std::fs::write(models.join("schema.yml"), schema).unwrap();
    std::fs::write(root.join("dbt_project.yml"), "name: large\nversion: '1.0.0'\nconfig-version: 2\nprofile: large\nflags:\n  send_anonymous_usage_stats: false\n").unwrap();
    std::fs::write(root.join("profiles.yml"), "large:\n  target: local\n  outputs:\n    local:\n      type: duckdb\n      path: ':memory:'\n").unwrap();
    std::fs::write(
        root.join("selectors.yml"),
        "selectors:\n  - name: hourly\n    definition: 'tag:hourly+'\n  - name: domain_0\n    definition:\n      method: path\n      value: models/marts/domain_0\n      parents: true\n  - name: daily_marts\n    definition:\n      intersection:\n        - method: tag\n          value: daily\n        - method: tag\n          value: marts\n",
    )
    .unwrap();
}

fn model_name(i: usize) -> String {
    let layer = match i {
        0..80 => "sta",
        80..160 => "int",
        _ => "mar",
    };
    format!("{layer}_{i}")
}

#[test]
fn large_project_selections_agree_with_dbt_ls() {
    let dir = tempfile::tempdir().unwrap();
    write_large_project(dir.path());
    let project = Project {
        cwd: dir.path().to_path_buf(),
        project_dir: ".".into(),
        target: "local".into(),
        deps: false,
    };
    let expressions = [
        "tag:hourly",
        "tag:hourly+",
        "+tag:marts,tag:daily",
        "path:models/marts/domain_1",
        "int_83+",
        "@int_93",
        "+mar_200",
        "3+mar_201",
        "marts.domain_2",
        "fqn:large.marts.domain_3.*",
        "config.materialized:ephemeral+",
        "test_name:not_null",
        "sta_1+2",
        "tag:staging --exclude tag:hourly",
    ];
    check_project(&project, &dir.path().join("selectors.yml"), &expressions, 5);
}
