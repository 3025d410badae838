//! Property tests: hostile names (quotes, backslashes, newlines, `"""`, path separators,
//! `..`, wildcards, non-ASCII, direction overrides) in the manifest, the selectors and the
//! options never break a generated DAG file. Every file parses as Python, its name stays a
//! plain file name, every value reads back exactly from its literal, and every task's
//! selection picks exactly its node by dbt's rules.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

mod kept_dags;

use dagship::dags::{
    self, Bash, CloudRunJob, DagOptions, DbtCloud, Docker, EcsTask, ExtraKind, ExtraTask,
    KubernetesPod, Operator,
};
use dagship::dbt::manifest::{Manifest, ResourceType};
use dagship::dbt::select::{EvalOptions, IndirectSelection, select_expression_with};
use dagship::dbt::selectors_file::SelectorsFile;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Characters that break naive quoting in Python, shell, JSON, YAML or dbt selectors.
fn hostile() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        4 => proptest::char::range('a', 'z'),
        1 => prop::sample::select(vec![
            '"', '\'', '\\', '\n', '\r', '\t', '/', '.', ' ', ',', '*', '?', '[', ']', '+', '@',
            ':', '{', '}', '%', '$', '`', '#', 'é', '€', '😀', '\u{202e}', '\u{2028}', '\u{7f}',
        ]),
    ];
    prop::collection::vec(c, 1..14).prop_map(|v| v.into_iter().collect())
}

#[derive(Debug, Clone)]
struct Case {
    package: String,
    folder: String,
    models: Vec<String>,
    selector: String,
    description: String,
    target: String,
    project_dir: String,
    tag: String,
    command: String,
    /// Which of `Operator::NAMES`.
    executor: usize,
}

fn case() -> impl Strategy<Value = Case> {
    (
        // Distinct model names: dbt refuses two models of one name in a package.
        (
            hostile(),
            hostile(),
            prop::collection::btree_set(hostile(), 1..5),
        ),
        (hostile(), hostile(), hostile(), hostile()),
        (hostile(), hostile(), 0..Operator::NAMES.len()),
    )
        .prop_map(
            |(
                (package, folder, models),
                (selector, description, target, project_dir),
                (tag, command, executor),
            )| Case {
                package,
                folder,
                models: models.into_iter().collect(),
                selector,
                description,
                target,
                // Where Composer keeps files: the settings module must not spell "airflow".
                project_dir: format!("/home/airflow/{project_dir}"),
                tag,
                command,
                executor,
            },
        )
}

/// A manifest with the case's models in one package and folder, a chain of dependencies,
/// a `not_null` test on each model and a relationship test between the first two.
fn manifest(case: &Case) -> Value {
    let mut nodes = serde_json::Map::new();
    let mut ids = Vec::new();
    for (i, name) in case.models.iter().enumerate() {
        let id = format!("model.{}.{name}#{i}", case.package);
        let depends: Vec<&String> = ids.last().into_iter().collect();
        nodes.insert(
            id.clone(),
            json!({
                "unique_id": id, "resource_type": "model", "package_name": case.package,
                "name": name, "fqn": [case.package, case.folder, name],
                "path": format!("{}/{name}.sql", case.folder),
                "original_file_path": format!("models/{}/{name}.sql", case.folder),
                "config": {"enabled": true, "materialized": "table", "meta": {"dagship": {"pool": case.tag}}},
                "depends_on": {"nodes": depends}, "tags": [],
            }),
        );
        let test = format!("test.{}.not_null_{name}#{i}", case.package);
        nodes.insert(
            test.clone(),
            json!({
                "unique_id": test, "resource_type": "test", "package_name": case.package,
                "name": format!("not_null_{name}"), "fqn": [case.package, case.folder, format!("not_null_{name}")],
                "path": "x.sql", "original_file_path": "models/schema.yml",
                "config": {"enabled": true}, "depends_on": {"nodes": [id]},
                "test_metadata": {"name": "not_null"}, "attached_node": id, "tags": [],
            }),
        );
        ids.push(id);
    }
    if ids.len() > 1 {
        let test = format!("test.{}.relationships#x", case.package);
        nodes.insert(
            test.clone(),
            json!({
                "unique_id": test, "resource_type": "test", "package_name": case.package,
                "name": format!("relationships_{}", case.models[1]),
                "fqn": [case.package, case.folder, format!("relationships_{}", case.models[1])],
                "path": "x.sql", "original_file_path": "models/schema.yml",
                "config": {"enabled": true}, "depends_on": {"nodes": [ids[0], ids[1]]},
                "test_metadata": {"name": "relationships"}, "tags": [],
            }),
        );
    }
    json!({
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
                     "project_name": case.package, "dbt_version": "1.11.0"},
        "nodes": nodes, "sources": {}, "macros": {}, "docs": {}, "exposures": {}, "metrics": {},
        "selectors": {}, "disabled": {},
    })
}

fn selectors_yaml(case: &Case) -> String {
    // Double-quoted YAML, every character outside printable ASCII escaped.
    let quoted = |s: &str| {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                ' '..='~' => out.push(c),
                c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push_str(&format!("\\U{:08x}", c as u32)),
            }
        }
        out.push('"');
        out
    };
    format!(
        "selectors:\n  - name: {}\n    description: {}\n    definition: \"fqn:*\"\n",
        quoted(&case.selector),
        quoted(&case.description),
    )
}

/// An ECS task definition from `target`: ECS names hold only letters, digits, `-` and `_`
/// (and `:` before the revision), so the hostile characters stay out.
fn task_definition(target: &str) -> String {
    let family: String = target.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("t{family}:1")
}

/// The case's hostile values in every setting of its executor that takes free text (list
/// entries keep their form: `NAME=VALUE`, `VARIABLE=SECRET:KEY`, `SOURCE:TARGET`).
fn operator(case: &Case) -> Operator {
    let (tag, target, command) = (&case.tag, &case.target, &case.command);
    match Operator::NAMES[case.executor] {
        "bash" => Operator::Bash(Bash),
        "cloud_run_job" => Operator::CloudRunJob(CloudRunJob {
            project: format!("p{tag}"),
            region: format!("r{target}"),
            job: format!("j{command}"),
        }),
        "kubernetes_pod" => Operator::KubernetesPod(KubernetesPod {
            image: format!("i{tag}"),
            namespace: format!("n{target}"),
            service_account: Some(command.clone()),
            requests: vec![format!("cpu=x{tag}")],
            limits: vec![],
            secret_env: vec![format!("V{tag}=s:k{command}")],
            config_file: Some(case.project_dir.clone()),
            deferrable: true,
        }),
        "docker" => Operator::Docker(Docker {
            image: format!("i{tag}"),
            network: Some(command.clone()),
            mounts: vec![format!("/s:/d{}", tag.replace(':', ""))],
        }),
        "dbt_cloud" => Operator::DbtCloud(DbtCloud {
            job_id: "42".into(),
            account_id: None,
            conn_id: Some(format!("c{tag}")),
            wait_for_termination: true,
            deferrable: false,
        }),
        "ecs_task" => Operator::EcsTask(EcsTask {
            cluster: format!("c{tag}"),
            task_definition: task_definition(target),
            container_name: format!("d{command}"),
            launch_type: None,
            subnets: vec![tag.clone()],
            security_groups: vec![target.clone()],
            assign_public_ip: false,
            awslogs_group: Some(case.project_dir.clone()),
            awslogs_stream_prefix: Some(tag.clone()),
            aws_region: None,
            deferrable: true,
        }),
        other => panic!("no case for executor {other}"),
    }
}

/// The values the settings module must hold for the executor's own settings, read back.
fn expected_settings(case: &Case) -> Value {
    let (tag, target, command) = (&case.tag, &case.target, &case.command);
    match Operator::NAMES[case.executor] {
        "cloud_run_job" => json!({
            "PROJECT": format!("p{tag}"), "REGION": format!("r{target}"),
            "JOB": format!("j{command}"),
        }),
        "kubernetes_pod" => json!({
            "IMAGE": format!("i{tag}"), "NAMESPACE": format!("n{target}"),
            "SERVICE_ACCOUNT": command, "REQUESTS": {"cpu": format!("x{tag}")}, "LIMITS": {},
            "SECRET_ENV": [[format!("V{tag}"), "s", format!("k{command}")]],
            "CONFIG_FILE": case.project_dir, "DEFERRABLE": true,
        }),
        "docker" => json!({
            "IMAGE": format!("i{tag}"), "NETWORK": command,
            "MOUNTS": [["/s", format!("/d{}", tag.replace(':', "")), false]],
        }),
        "dbt_cloud" => json!({
            "JOB_ID": 42, "ACCOUNT_ID": null, "CONN_ID": format!("c{tag}"),
            "WAIT_FOR_TERMINATION": true, "DEFERRABLE": false,
        }),
        "ecs_task" => json!({
            "CLUSTER": format!("c{tag}"), "TASK_DEFINITION": task_definition(target),
            "CONTAINER_NAME": format!("d{command}"), "LAUNCH_TYPE": "FARGATE",
            "NETWORK_CONFIGURATION": {"awsvpcConfiguration": {
                "subnets": [tag], "securityGroups": [target], "assignPublicIp": "DISABLED"}},
            "AWSLOGS_GROUP": case.project_dir, "AWSLOGS_STREAM_PREFIX": tag,
            "AWS_REGION": null, "DEFERRABLE": true,
        }),
        _ => json!({}),
    }
}

fn options(case: &Case) -> DagOptions {
    let operator = operator(case);
    DagOptions {
        operator,
        project_dir: Some(case.project_dir.clone()),
        target: Some(case.target.clone()),
        tags: vec![case.tag.clone(), "dbt".into()],
        pool: Some(case.tag.clone()),
        before: vec![ExtraTask {
            id: "sync".into(),
            kind: ExtraKind::Bash(case.command.clone()),
        }],
        ..DagOptions::default()
    }
}

/// Space, comma and newline cannot be written in a dbt selection; such names may be refused.
fn unselectable(case: &Case) -> bool {
    let bad = |s: &String| s.contains([' ', ',', '\n']);
    bad(&case.package) || bad(&case.folder) || case.models.iter().any(bad)
}

fn parse_files(paths: &[&Path]) -> Value {
    let out = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dags_literals.py"))
        .args(paths)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let manifest_json = serde_json::to_vec(&manifest(case)).unwrap();
    let manifest = Manifest::from_slice(&manifest_json, Path::new("m.json")).unwrap();
    let loaded = manifest;
    let selectors =
        SelectorsFile::from_yaml_str(&selectors_yaml(case), Path::new("s.yml")).unwrap();
    let options = options(case);
    let files = match dags::generate(&loaded, Some(&selectors), &options) {
        Ok(files) => files,
        Err(e) if unselectable(case) && e.to_string().contains("cannot write a dbt selection") => {
            return Ok(());
        }
        Err(e) => return Err(TestCaseError::fail(format!("generation failed: {e}"))),
    };
    let written = dags::write(dir.path(), &files, None).unwrap();
    kept_dags::keep(dir.path());
    prop_assert_eq!(written.written.len(), 2, "the DAG and the settings module");
    let file = &files.dags[0];
    let plain = file.file_name.starts_with("dbt_")
        && file.file_name.strip_suffix(".py").unwrap()[4..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    prop_assert!(plain, "file name {}", file.file_name);
    prop_assert!(file.contents.is_ascii());
    let (first, rest) = file.contents.split_once('\n').unwrap();
    let header = format!(
        "# Generated by dagship {}; the lines below hash to xxh128:{:032x}.",
        env!("CARGO_PKG_VERSION"),
        xxhash_rust::xxh3::xxh3_128(rest.as_bytes())
    );
    prop_assert_eq!(first, header);
    // Values from the options are in the settings module (read back below), whose text never
    // spells "airflow": Airflow must not take it for a DAG file.
    let settings = &files.settings.contents;
    prop_assert!(settings.is_ascii());
    prop_assert!(!settings.to_ascii_lowercase().contains("airflow"));

    let path = dir.path().join(&file.file_name);
    let parsed = &parse_files(&[&path])[path.to_str().unwrap()];
    let dag = &parsed["dag"];
    prop_assert_eq!(&dag["dag_id"], &json!(file.dag_id));
    prop_assert_eq!(&dag["description"], &json!(case.description));
    prop_assert_eq!(&dag["tags"], &json!([case.tag, "dbt"]));
    prop_assert_eq!(&dag["default_args"]["pool"], &json!(case.tag));
    prop_assert_eq!(&parsed["extras"]["sync"], &json!(case.command));
    prop_assert_eq!(&parsed["overrides"], &json!([{"pool": case.tag}]));
    let tail = json!(["--project-dir", case.project_dir, "--target", case.target]);
    prop_assert_eq!(&parsed["options"], &tail);
    for (name, value) in expected_settings(case).as_object().unwrap() {
        prop_assert_eq!(&parsed["settings"][name], value, "{}", name);
    }

    // Every row's selection, read back, picks exactly its node; group ids are plain.
    let m = &loaded;
    let rows = parsed["tasks"].as_array().unwrap();
    let mut picked = BTreeSet::new();
    for row in rows {
        let group = row[0].as_str().unwrap();
        prop_assert!(
            group
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        );
        let one = |v: &Value| -> String {
            match v {
                Value::Array(words) => {
                    assert_eq!(words.len(), 1, "one shell word: {words:?}");
                    words[0].as_str().unwrap().to_string()
                }
                other => other.as_str().unwrap().to_string(),
            }
        };
        let select = one(&row[3]);
        let exclude: Vec<String> = if row[4].is_null() {
            vec![]
        } else {
            vec![one(&row[4])]
        };
        let unit_tests = row[1] == "test" && !group.is_empty();
        let types = if row[2] == 0 {
            vec![ResourceType::Model]
        } else {
            vec![ResourceType::Test]
        };
        let indirect_selection = if unit_tests {
            IndirectSelection::Cautious
        } else {
            IndirectSelection::Eager
        };
        let exclude: Vec<&str> = exclude.iter().map(String::as_str).collect();
        let got = select_expression_with(
            m,
            &[&select],
            &exclude,
            &EvalOptions {
                resource_types: types,
                indirect_selection,
            },
        )
        .map_err(|e| TestCaseError::fail(format!("`{select}`: {e}")))?
        .to_set();
        prop_assert!(got.len() == 1, "`{}` picks {:?}", select, got);
        if !unit_tests {
            prop_assert!(
                picked.insert(got.into_iter().next().unwrap()),
                "two tasks pick one node"
            );
        }
    }
    let tests = if case.models.len() > 1 { 1 } else { 0 };
    prop_assert_eq!(picked.len(), case.models.len() + tests);
    Ok(())
}

proptest! {
    // Failures are printed with their minimal input; nothing is written next to the sources.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(96) })]

    #[test]
    fn hostile_names_make_valid_files_and_exact_selections(case in case()) {
        check(&case)?;
    }
}
