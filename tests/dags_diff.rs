//! `dags::diff`: how the generated DAGs change from one manifest to the next, per task. Each
//! "new" manifest is an "old" corpus manifest edited the way a pull request would change the
//! project (a model added with its test, a model removed, a model made ephemeral...); every
//! count below follows from the corpus graph, as each test's comment works out.

mod dbt_support;
mod kept_dags;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dagship::dags::graph::Command;
use dagship::dags::{self, DagChange, DagOptions, DagStatus, DagTask, TestsMode};
use dagship::dbt::manifest::Manifest;
use dagship::dbt::selectors_file::SelectorsFile;
use serde_json::{Value, json};

/// Two DAGs of jaffle_shop: its marts and its staging models.
const JAFFLE_SELECTORS: &str = "selectors:
  - name: marts
    definition: 'path:models/marts'
  - name: staging
    definition: 'path:models/staging'
";

fn corpus_json(project: &str) -> Value {
    serde_json::from_slice(&dbt_support::read(&format!("{project}.manifest.json"))).unwrap()
}

/// The changes between two manifests as the callers get them: files on disk, through
/// [`dags::diff_manifests`] with default options.
fn file_diff(old: &Value, new: &Value, selectors: Option<&str>) -> Vec<DagChange> {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: Vec<u8>| -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let old = write("old.json", serde_json::to_vec(old).unwrap());
    let new = write("new.json", serde_json::to_vec(new).unwrap());
    let selectors = selectors.map(|yaml| write("selectors.yml", yaml.as_bytes().to_vec()));
    dags::diff_manifests(&old, &new, selectors.as_deref(), &DagOptions::default()).unwrap()
}

fn lines(changes: &[DagChange]) -> Vec<String> {
    changes.iter().map(ToString::to_string).collect()
}

fn node<'a>(m: &'a mut Value, id: &str) -> &'a mut Value {
    m["nodes"]
        .get_mut(id)
        .unwrap_or_else(|| panic!("no node {id}"))
}

/// `path` with its file name replaced by `file`.
fn sibling(path: &str, file: &str) -> String {
    match path.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{file}"),
        None => file.to_string(),
    }
}

/// A new model `name` beside model `like` (same folder, config and tags), reading `parents`.
fn add_model(m: &mut Value, like: &str, name: &str, parents: &[&str]) -> String {
    let mut model = node(m, like).clone();
    let id = format!("model.{}.{name}", model["package_name"].as_str().unwrap());
    model["unique_id"] = json!(id);
    model["name"] = json!(name);
    model["alias"] = json!(name);
    let fqn = model["fqn"].as_array_mut().unwrap();
    *fqn.last_mut().unwrap() = json!(name);
    for key in ["path", "original_file_path"] {
        let path = sibling(model[key].as_str().unwrap(), &format!("{name}.sql"));
        model[key] = json!(path);
    }
    model["depends_on"]["nodes"] = json!(parents);
    model["refs"] = json!([]);
    m["nodes"][&id] = model;
    id
}

/// A `not_null` test on `column` of model `model`, as dbt writes one from the model's yml.
fn add_not_null(m: &mut Value, model: &str, column: &str) -> String {
    let like = m["nodes"]
        .as_object()
        .unwrap()
        .values()
        .find(|n| n["test_metadata"]["name"] == "not_null")
        .expect("the manifest has a not_null test")
        .clone();
    let target = node(m, model).clone();
    let model_name = target["name"].as_str().unwrap();
    let name = format!("not_null_{model_name}_{column}");
    let package = target["package_name"].as_str().unwrap();
    let id = format!("test.{package}.{name}.0123456789");
    let mut test = like;
    test["unique_id"] = json!(id);
    test["name"] = json!(name);
    test["alias"] = json!(name);
    test["package_name"] = json!(package);
    let mut fqn = target["fqn"].as_array().unwrap().clone();
    *fqn.last_mut().unwrap() = json!(name);
    test["fqn"] = json!(fqn);
    test["path"] = json!(format!("{name}.sql"));
    let yml = sibling(target["original_file_path"].as_str().unwrap(), "schema.yml");
    test["original_file_path"] = json!(yml);
    test["depends_on"]["nodes"] = json!([model]);
    test["attached_node"] = json!(model);
    test["column_name"] = json!(column);
    test["tags"] = json!([]);
    test["config"]["tags"] = json!([]);
    test["test_metadata"]["kwargs"] = json!({
        "column_name": column,
        "model": format!("{{{{ get_where_subquery(ref('{model_name}')) }}}}"),
    });
    m["nodes"][&id] = test;
    id
}

/// Deletes a model with its yml: the model, the tests and unit tests that read it, and its
/// children's `ref`s to it (their SQL no longer reads it).
fn remove_model(m: &mut Value, id: &str) {
    let reads = |n: &Value| {
        n["depends_on"]["nodes"]
            .as_array()
            .is_some_and(|d| d.iter().any(|p| p == id))
    };
    for section in ["nodes", "unit_tests"] {
        let entries = m[section].as_object_mut().unwrap();
        assert!(
            section != "nodes" || entries.remove(id).is_some(),
            "no {id}"
        );
        entries.retain(|_, n| !(is_test(n) && reads(n)));
        for n in entries.values_mut().filter(|n| reads(n)) {
            let parents = n["depends_on"]["nodes"].as_array_mut().unwrap();
            parents.retain(|p| p != id);
        }
    }
}

fn is_test(n: &Value) -> bool {
    n["resource_type"] == "test" || n["resource_type"] == "unit_test"
}

/// Parses the JSON as the manifest reader would read a file.
fn manifest(m: &Value) -> Manifest {
    Manifest::from_slice(&serde_json::to_vec(m).unwrap(), Path::new("manifest.json")).unwrap()
}

fn selectors(yaml: &str) -> SelectorsFile {
    SelectorsFile::from_yaml_str(yaml, Path::new("selectors.yml")).unwrap()
}

#[test]
fn a_manifest_parsed_again_changes_no_dag() {
    let old = corpus_json("jaffle_shop");
    let mut new = old.clone();
    new["metadata"]["generated_at"] = json!("2027-01-02T03:04:05.000000Z");
    new["metadata"]["invocation_id"] = json!("0d5c1a8e-2b7f-4f7e-9a51-6c3e1f0b7a11");
    assert_eq!(file_diff(&old, &new, None), []);
    assert_eq!(file_diff(&old, &new, Some(JAFFLE_SELECTORS)), []);
}

#[test]
fn a_new_model_with_a_test_is_one_unit_of_two_tasks() {
    let old = corpus_json("jaffle_shop");
    let mut new = old.clone();
    let ltv = add_model(
        &mut new,
        "model.jaffle_shop.customers",
        "customer_ltv",
        &["model.jaffle_shop.customers"],
    );
    add_not_null(&mut new, &ltv, "customer_id");
    // Its `run` (after `customers.test`) and its `test`; nothing else moves. The staging
    // DAG does not select it, nor its test (whose only parent is in marts).
    let changes = file_diff(&old, &new, Some(JAFFLE_SELECTORS));
    assert_eq!(lines(&changes), ["dbt_marts: +2 tasks"]);
    assert_eq!(changes[0].added, ["customer_ltv.run", "customer_ltv.test"]);
    assert_eq!(lines(&file_diff(&old, &new, None)), ["dbt_all: +2 tasks"]);

    // Without its test, the model is one task.
    let mut untested = old.clone();
    add_model(
        &mut untested,
        "model.jaffle_shop.customers",
        "customer_ltv",
        &["model.jaffle_shop.customers"],
    );
    assert_eq!(
        lines(&file_diff(&old, &untested, None)),
        ["dbt_all: +1 task"]
    );
}

#[test]
fn a_removed_model_takes_its_tasks_and_changes_its_children() {
    let old = corpus_json("jaffle_shop");
    let mut new = old.clone();
    remove_model(&mut new, "model.jaffle_shop.stg_supplies");
    // Its `run` and `test` (its two tests) go; `order_items` and `supplies` read it and
    // now wait for one task less. Their tests still wait for their `run` only.
    let changes = file_diff(&old, &new, None);
    assert_eq!(lines(&changes), ["dbt_all: -2 tasks, 2 changed"]);
    assert_eq!(
        changes[0].removed,
        ["stg_supplies.run", "stg_supplies.test"]
    );
    assert_eq!(changes[0].changed, ["order_items.run", "supplies.run"]);
    // The marts DAG never waited for staging models: unchanged, so left out.
    let changes = file_diff(&old, &new, Some(JAFFLE_SELECTORS));
    assert_eq!(lines(&changes), ["dbt_staging: -2 tasks"]);
}

#[test]
fn a_model_made_ephemeral_loses_its_tasks_and_its_tests_stand_alone() {
    let old = corpus_json("jaffle_shop");
    let mut new = old.clone();
    node(&mut new, "model.jaffle_shop.stg_orders")["config"]["materialized"] = json!("ephemeral");
    // `stg_orders.run` and `.test` go. Its three tests now run each in its own task
    // (waiting for no unit: above it is only a source). Its readers `orders` and
    // `order_items`, and the relationships test between it and `stg_order_items`, no
    // longer wait for `stg_orders.test`.
    let changes = file_diff(&old, &new, None);
    assert_eq!(lines(&changes), ["dbt_all: +3 tasks, -2 tasks, 3 changed"]);
    let change = &changes[0];
    assert_eq!(
        change.added,
        [
            "dbt_utils_expression_is_true_stg_orders_order_total_tax_paid_subtotal",
            "not_null_stg_orders_order_id",
            "unique_stg_orders_order_id",
        ]
    );
    assert_eq!(change.removed, ["stg_orders.run", "stg_orders.test"]);
    assert_eq!(
        change.changed,
        [
            "order_items.run",
            "orders.run",
            "relationships_stg_order_items_order_id__order_id__ref_stg_orders_",
        ]
    );
}

#[test]
fn a_first_test_on_a_model_is_one_task() {
    let old = corpus_json("jaffle_shop");
    let mut new = old.clone();
    add_not_null(&mut new, "model.jaffle_shop.products", "product_id");
    // `products` had no test; nothing reads it.
    let changes = file_diff(&old, &new, Some(JAFFLE_SELECTORS));
    assert_eq!(lines(&changes), ["dbt_marts: +1 task"]);
    assert_eq!(changes[0].added, ["products.test"]);
}

#[test]
fn a_model_now_seeded_changes_its_commands_not_its_readers() {
    let old = corpus_json("jaffle_shop");
    let mut new = old.clone();
    // `stg_locations` becomes a seed of the same name (its tests now test the seed).
    let id = "model.jaffle_shop.stg_locations";
    let seed_id = "seed.jaffle_shop.stg_locations";
    let mut seed = node(&mut new, id).clone();
    seed["resource_type"] = json!("seed");
    seed["unique_id"] = json!(seed_id);
    seed["config"]["materialized"] = json!("seed");
    seed["depends_on"]["nodes"] = json!([]);
    seed["path"] = json!("stg_locations.csv");
    seed["original_file_path"] = json!("seeds/stg_locations.csv");
    let entries = new["nodes"].as_object_mut().unwrap();
    entries.remove(id);
    entries.insert(seed_id.to_string(), seed);
    for section in ["nodes", "unit_tests"] {
        for n in new[section].as_object_mut().unwrap().values_mut() {
            let parents = n["depends_on"]["nodes"].as_array_mut();
            for parent in parents.into_iter().flatten() {
                if parent == id {
                    *parent = json!(seed_id);
                }
            }
        }
    }
    // Same task ids: `run` now runs `dbt seed`, and both select a seed. `locations.run`
    // still waits for `stg_locations.test`: unchanged.
    let changes = file_diff(&old, &new, None);
    assert_eq!(lines(&changes), ["dbt_all: 2 changed"]);
    assert_eq!(
        changes[0].changed,
        ["stg_locations.run", "stg_locations.test"]
    );
    let old_tasks = dags::dag_tasks(&manifest(&old), None, &DagOptions::default()).unwrap();
    let new_tasks = dags::dag_tasks(&manifest(&new), None, &DagOptions::default()).unwrap();
    let run = |d: &[dags::DagTasks]| d[0].tasks["stg_locations.run"].clone();
    assert_eq!(run(&old_tasks).command.words(), ["run"]);
    assert_eq!(run(&new_tasks).command.words(), ["seed"]);
    assert_eq!(
        run(&new_tasks).select,
        "resource_type:seed,package:jaffle_shop,fqn:jaffle_shop.staging.stg_locations"
    );
}

#[test]
fn new_task_settings_change_the_units_tasks() {
    let old = corpus_json("jaffle_shop");
    let mut new = old.clone();
    node(&mut new, "model.jaffle_shop.customers")["config"]["meta"] =
        json!({"dagship": {"retries": 3}});
    // The same dbt commands, but the file gives both of the unit's tasks `retries=3`.
    let changes = file_diff(&old, &new, None);
    assert_eq!(lines(&changes), ["dbt_all: 2 changed"]);
    assert_eq!(changes[0].changed, ["customers.run", "customers.test"]);
}

#[test]
fn a_selector_added_or_removed_is_a_dag_added_or_removed() {
    let m = manifest(&corpus_json("jaffle_shop"));
    let options = DagOptions::default();
    let old = dags::dag_tasks(&m, Some(&selectors(JAFFLE_SELECTORS)), &options).unwrap();
    let new_selectors = selectors(
        "selectors:
  - name: marts
    definition: 'path:models/marts'
  - name: customers
    definition: 'customers'
  - name: time_spine
    definition: 'metricflow_time_spine'
",
    );
    let new = dags::dag_tasks(&m, Some(&new_selectors), &options).unwrap();
    // `customers`: its run and the test task of its four tests. The time spine has no
    // test. Staging: six models with tests, and two relationships tests that read one.
    let changes = dags::diff(&old, &new);
    assert_eq!(
        lines(&changes),
        [
            "dbt_customers: new DAG, 2 tasks",
            "dbt_staging: removed (14 tasks)",
            "dbt_time_spine: new DAG, 1 task",
        ]
    );
    assert_eq!(changes[0].status, DagStatus::New);
    assert_eq!(changes[0].added, ["customers.run", "customers.test"]);
    assert_eq!(changes[1].status, DagStatus::Removed);
    assert_eq!(changes[1].removed.len(), 14);
    assert_eq!(
        serde_json::to_value(&changes[2]).unwrap(),
        json!({
            "dag_id": "dbt_time_spine",
            "status": "new",
            "added": ["metricflow_time_spine.run"],
            "removed": [],
            "changed": [],
        })
    );
}

/// A pull request on spellbook (2,374 models, eleven selectors): a first test on a model
/// that seven others read, and a new model reading it, with a test.
#[test]
fn a_pull_request_on_a_large_project() {
    let old = corpus_json("spellbook_daily");
    let selectors = std::fs::read_to_string(
        dbt_support::corpus_dir().join("selectors/spellbook_daily.selectors.yml"),
    )
    .unwrap();
    let mut new = old.clone();
    let admin = "model.daily_spellbook.chainlink_ethereum_ocr_operator_admin_meta";
    add_not_null(&mut new, admin, "operator_address");
    let summary = add_model(
        &mut new,
        "model.daily_spellbook.chainlink_ethereum_ocr_reward_daily",
        "chainlink_ethereum_ocr_operator_summary",
        &[admin],
    );
    add_not_null(&mut new, &summary, "operator_address");
    // The admin model (an untagged view) is a unit only in daily_default: there it gains
    // a `test` task, which its seven readers now wait for instead of its `run`. The new
    // model copies its sibling's config (incremental, tagged chainlink and ethereum): one
    // unit of two tasks in the three DAGs that select it. The other eight DAGs are left out.
    let changes = file_diff(&old, &new, Some(&selectors));
    assert_eq!(
        lines(&changes),
        [
            "dbt_chainlink_ethereum: +2 tasks",
            "dbt_daily_default: +3 tasks, 7 changed",
            "dbt_daily_incremental_tables: +2 tasks",
        ]
    );
    let daily = &changes[1];
    assert_eq!(
        daily.added,
        [
            "chainlink_ethereum_ocr_operator_admin_meta.test",
            "chainlink_ethereum_ocr_operator_summary.run",
            "chainlink_ethereum_ocr_operator_summary.test",
        ]
    );
    assert_eq!(
        daily.changed,
        [
            "chainlink_ethereum_fm_reward_daily.run",
            "chainlink_ethereum_fm_reward_evt_transfer.run",
            "chainlink_ethereum_fm_reward_evt_transfer_daily.run",
            "chainlink_ethereum_ocr_reward_daily.run",
            "chainlink_ethereum_ocr_reward_evt_transfer.run",
            "chainlink_ethereum_ocr_reward_evt_transfer_daily.run",
            "chainlink_polygon_ocr_reconcile_daily.run",
        ]
    );
}

/// The tasks compared are the rows of the files `dagship dags` writes, read back from the
/// Python here (only here: the diff reads the generator's graph), with every way of
/// running tests, source freshness tasks and per-node settings.
#[test]
fn the_tasks_are_the_rows_of_the_generated_files() {
    let mut jaffle = corpus_json("jaffle_shop");
    node(&mut jaffle, "model.jaffle_shop.customers")["config"]["meta"] =
        json!({"dagship": {"retries": 3, "pool": "heavy"}});
    let mattermost_selectors = std::fs::read_to_string(
        dbt_support::corpus_dir().join("selectors/mattermost_analytics.selectors.yml"),
    )
    .unwrap();
    let projects = [
        (manifest(&jaffle), None),
        (manifest(&jaffle), Some(selectors(JAFFLE_SELECTORS))),
        (
            dbt_support::load_manifest("mattermost_analytics"),
            Some(selectors(&mattermost_selectors)),
        ),
    ];
    for (m, selectors) in &projects {
        for tests in [TestsMode::AfterEach, TestsMode::Build, TestsMode::None] {
            let options = DagOptions {
                tests,
                source_freshness: tests == TestsMode::Build,
                ..DagOptions::default()
            };
            let generated = dags::generate(m, selectors.as_ref(), &options).unwrap();
            let folder = tempfile::tempdir().unwrap();
            dags::write(folder.path(), &generated, None).unwrap();
            kept_dags::keep(folder.path());
            let files = generated.dags;
            let dags = dags::dag_tasks(m, selectors.as_ref(), &options).unwrap();
            assert_eq!(files.len(), dags.len());
            for (file, dag) in files.iter().zip(&dags) {
                assert_eq!(file.dag_id, dag.dag_id);
                assert_eq!(file_tasks(&file.contents), dag.tasks, "{}", file.dag_id);
            }
        }
    }
}

/// The `TASKS` of a generated file, with their `OVERRIDES`, as [`DagTask`]s.
fn file_tasks(contents: &str) -> BTreeMap<String, DagTask> {
    let settings = python_json(
        contents,
        "OVERRIDES = [task_settings(s) for s in json.loads(\n",
    );
    let rows = python_json(contents, "TASKS = json.loads(\n");
    let rows = rows.as_array().unwrap();
    let id = |row: &Value| match row[0].as_str().unwrap() {
        "" => row[1].as_str().unwrap().to_string(),
        group => format!("{group}.{}", row[1].as_str().unwrap()),
    };
    let word = |v: &Value| v.as_str().map(shell_unquote);
    rows.iter()
        .map(|row| {
            let mut upstream: Vec<String> = row[5]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| id(&rows[r.as_u64().unwrap() as usize]))
                .collect();
            upstream.sort();
            let task = DagTask {
                command: Command::ALL[row[2].as_u64().unwrap() as usize],
                select: word(&row[3]).unwrap(),
                exclude: word(&row[4]),
                upstream,
                settings: row[6].as_u64().map(|i| settings[i as usize].to_string()),
            };
            (id(row), task)
        })
        .collect()
}

/// The JSON of the string literals that follow `start`, one per line, up to the `)`.
fn python_json(contents: &str, start: &str) -> Value {
    let at = contents.find(start).unwrap_or_else(|| panic!("no {start}")) + start.len();
    let mut json = String::new();
    for line in contents[at..]
        .lines()
        .take_while(|l| l.starts_with("    '"))
    {
        let literal = &line.trim()[1..line.trim().len() - 1];
        let mut chars = literal.chars();
        while let Some(c) = chars.next() {
            json.push(if c == '\\' { chars.next().unwrap() } else { c });
        }
    }
    serde_json::from_str(&json).unwrap()
}

/// A word as the bash operator's command line holds it, unquoted.
fn shell_unquote(word: &str) -> String {
    match word.strip_prefix('\'').and_then(|w| w.strip_suffix('\'')) {
        Some(inner) => inner.replace("'\\''", "'"),
        None => word.to_string(),
    }
}
