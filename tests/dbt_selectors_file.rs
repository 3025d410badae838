//! selectors.yml reading: dbt's (PyYAML's) scalar rules, definition forms, lookups.

use std::path::Path;

use dagship::dbt::manifest::{Manifest, ResourceType};
use dagship::dbt::select::{
    EvalOptions, IndirectSelection, Method, SelectError, Spec, select_expression_with,
};
use dagship::dbt::selectors_file::SelectorsFile;
use serde_json::json;

fn file(yaml: &str) -> SelectorsFile {
    SelectorsFile::from_yaml_str(yaml, Path::new("selectors.yml")).unwrap_or_else(|e| panic!("{e}"))
}

/// The criteria a selector is, through `method: selector` references.
fn criteria(f: &SelectorsFile, name: &str) -> dagship::dbt::select::Criteria {
    let mut spec = f.get(name).unwrap().spec().unwrap();
    loop {
        match spec {
            Spec::Criteria(c) => return (**c).clone(),
            Spec::Selector(named) => spec = &named.spec,
            other => panic!("{name}: not a criteria: {other:?}"),
        }
    }
}

/// A three-model chain a -> b -> c with a test on b and one across a and c.
fn chain() -> Manifest {
    let node = |id: &str, rt: &str, deps: &[&str]| {
        let name = id.rsplit('.').next().unwrap();
        json!({"unique_id": id, "resource_type": rt, "package_name": "p", "name": name,
               "fqn": ["p", name], "path": format!("{name}.sql"),
               "original_file_path": format!("models/{name}.sql"), "tags": [],
               "config": {"enabled": true, "materialized": "view"},
               "depends_on": {"nodes": deps}})
    };
    let nodes = json!({
        "model.p.a": node("model.p.a", "model", &[]),
        "model.p.b": node("model.p.b", "model", &["model.p.a"]),
        "model.p.c": node("model.p.c", "model", &["model.p.b"]),
        "test.p.t_b": node("test.p.t_b", "test", &["model.p.b"]),
        "test.p.t_ac": node("test.p.t_ac", "test", &["model.p.a", "model.p.c"]),
    });
    let doc = json!({"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
                                  "project_name": "p"}, "nodes": nodes});
    Manifest::from_slice(doc.to_string().as_bytes(), Path::new("chain.json")).unwrap()
}

#[test]
fn yaml_scalars_read_as_pyyaml_would() {
    let f = file(
        "selectors:
  - name: a
    default: yes
    definition: {method: tag, value: y, children: no, parents: \"no\"}
",
    );
    let s = f.get("a").unwrap();
    assert!(s.default, "`yes` is a YAML 1.1 boolean");
    let c = criteria(&f, "a");
    assert_eq!(c.value, json!("y"), "`y` is a plain string for PyYAML");
    assert!(!c.children, "unquoted `no` is false");
    assert!(c.parents, "a quoted \"no\" is a non-empty, truthy string");
}

#[test]
fn definition_forms() {
    let f = file(
        "selectors:
  - name: one_key
    definition: {tag: nightly}
  - name: depth_zero
    definition: {method: tag, value: x, parents: true, parents_depth: 0, indirect_selection: cautious}
  - name: string_is_one_spec
    definition: \"tag:a tag:b\"
  - name: bare_exclude
    definition: {exclude: [\"tag:a\"]}
  - name: root_extra_key
    definition: {union: [\"tag:a\"], parents: true}
",
    );
    let c = criteria(&f, "one_key");
    assert_eq!((c.method, c.value.clone()), (Method::Tag, json!("nightly")));
    let c = criteria(&f, "depth_zero");
    assert_eq!(
        c.parents_depth, None,
        "YAML depth 0 is falsy, i.e. unlimited"
    );
    assert_eq!(c.indirect_selection, Some(IndirectSelection::Cautious));
    assert_eq!(criteria(&f, "string_is_one_spec").value, json!("a tag:b"));
    let err = f.get("bare_exclude").unwrap().spec().unwrap_err();
    assert!(err.to_string().contains("`exclude`"), "{err}");
    assert!(f.get("root_extra_key").unwrap().spec().is_err());
}

#[test]
fn later_duplicates_win_and_references_see_earlier_ones() {
    let f = file(
        "selectors:
  - {name: base, definition: \"tag:one\"}
  - {name: uses_base, definition: {method: selector, value: base, children: true}}
  - {name: base, definition: \"tag:two\"}
",
    );
    assert_eq!(criteria(&f, "base").value, json!("two"));
    let c = criteria(&f, "uses_base");
    assert_eq!(c.value, json!("one"));
    assert!(
        !c.children,
        "dbt ignores graph operators next to `method: selector`"
    );
}

#[test]
fn manifest_section_is_the_fallback() {
    let m = chain();
    let f = SelectorsFile::load(None, &m).unwrap();
    assert!(f.selectors().is_empty());
    assert_eq!(f.origin(), Path::new("manifest.json#/selectors"));
}

#[test]
fn indirect_selection_modes_on_a_chain() {
    let m = chain();
    let run = |select: &[&str], mode| {
        let options = EvalOptions {
            indirect_selection: mode,
            ..EvalOptions::default()
        };
        let sel = select_expression_with(&m, select, &[], &options).unwrap();
        sel.unique_ids().map(String::from).collect::<Vec<_>>()
    };
    assert_eq!(
        run(&["b"], IndirectSelection::Eager),
        ["model.p.b", "test.p.t_b"]
    );
    assert_eq!(
        run(&["a"], IndirectSelection::Eager),
        ["model.p.a", "test.p.t_ac"]
    );
    assert_eq!(run(&["a"], IndirectSelection::Cautious), ["model.p.a"]);
    assert_eq!(
        run(&["a", "c"], IndirectSelection::Cautious),
        ["model.p.a", "model.p.c", "test.p.t_ac"]
    );
    assert_eq!(
        run(&["c"], IndirectSelection::Buildable),
        ["model.p.c", "test.p.t_ac"]
    );
    assert_eq!(run(&["b"], IndirectSelection::Empty), ["model.p.b"]);
}

#[test]
fn resource_type_filter_and_selection_api() {
    let m = chain();
    let options = EvalOptions {
        resource_types: vec![ResourceType::Model],
        ..EvalOptions::default()
    };
    let sel = select_expression_with(&m, &["+c"], &[], &options).unwrap();
    assert_eq!(sel.len(), 3);
    assert!(sel.contains("model.p.a") && !sel.contains("test.p.t_b"));
    assert!(sel.nodes().all(|n| n.resource_type == ResourceType::Model));
    let err = select_expression_with(&m, &["c"], &["resource_type:nope"], &options).unwrap_err();
    assert!(matches!(err, SelectError::InvalidValue { .. }), "{err}");
}

/// Each selector is the one before it, twice: 2^60 paths through 61 definitions. Shared
/// and evaluated once each, they take as long as the file is long.
#[test]
fn selectors_referencing_each_other_are_evaluated_once_each() {
    let mut yaml = String::from(
        "selectors:\n  - {name: s0, definition: {method: fqn, value: b, children: true}}\n",
    );
    for i in 1..=60 {
        yaml.push_str(&format!(
            "  - name: s{i}\n    definition: {{union: [{{method: selector, value: s{p}}}, {{method: selector, value: s{p}}}]}}\n",
            p = i - 1
        ));
    }
    let f = file(&yaml);
    let m = chain();
    let want: Vec<String> = select_expression_with(&m, &["b+"], &[], &EvalOptions::default())
        .unwrap()
        .unique_ids()
        .map(String::from)
        .collect();
    assert_eq!(
        want,
        ["model.p.b", "model.p.c", "test.p.t_ac", "test.p.t_b"]
    );
    let got = f.evaluate("s60", &m).unwrap();
    assert_eq!(got.unique_ids().collect::<Vec<_>>(), want);
    let names: Vec<String> = (0..=60).map(|i| format!("s{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    for result in f.evaluate_all(&names, &m, &EvalOptions::default()) {
        assert_eq!(result.unwrap().unique_ids().collect::<Vec<_>>(), want);
    }
    // Printing a spec names the selectors it references rather than copying them.
    let shown = format!("{:?}", f.get("s60").unwrap().spec().unwrap());
    assert!(shown.len() < 500, "{shown}");
}
