//! Parsing of CLI-style selector specs and expressions.

use dagship::dbt::fnmatch::fnmatch;
use dagship::dbt::select::spec::parse_difference;
use dagship::dbt::select::{Criteria, IndirectSelection, Method, SelectError, Spec};
use proptest::prelude::*;
use serde_json::Value;

fn crit(s: &str) -> Criteria {
    Criteria::from_single_spec(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn graph_operators_and_depths() {
    let c = crit("2+tag:nightly+1");
    assert_eq!((c.method, c.value.as_str()), (Method::Tag, Some("nightly")));
    assert!(c.parents && c.children && !c.childrens_parents);
    assert_eq!((c.parents_depth, c.children_depth), (Some(2), Some(1)));
    let c = crit("+model_a");
    assert!(c.parents && !c.children);
    assert_eq!(c.parents_depth, None);
    let c = crit("model_a+");
    assert!(c.children && !c.parents);
    // An explicit 0 from the CLI means "no generations" (YAML's 0 means unlimited).
    assert_eq!(crit("0+x").parents_depth, Some(0));
    let c = crit("@source:raw.orders");
    assert!(c.childrens_parents && !c.parents && !c.children);
    assert_eq!(c.method, Method::Source);
}

#[test]
fn at_prefix_and_plus_suffix_conflict() {
    let err = Criteria::from_single_spec("@tag:x+").unwrap_err();
    assert!(err.to_string().contains("incompatible"), "{err}");
}

#[test]
fn method_inference_for_bare_values() {
    assert_eq!(crit("models/staging").method, Method::Path);
    assert_eq!(crit("stg_orders.sql").method, Method::File);
    assert_eq!(crit("SEED.CSV").method, Method::File);
    assert_eq!(crit("stg_orders").method, Method::Fqn);
    assert_eq!(crit("marts.finance.*").method, Method::Fqn);
    let c = crit("config.meta.owner:alice");
    assert_eq!(
        (c.method, c.method_args.clone()),
        (Method::Config, vec!["meta".into(), "owner".into()])
    );
}

#[test]
fn unknown_method_is_an_error_naming_it() {
    let err = Criteria::from_single_spec("colour:red").unwrap_err();
    assert!(matches!(&err, SelectError::UnknownMethod { method, .. } if method == "colour"));
    assert!(err.to_string().contains("`colour`"), "{err}");
}

#[test]
fn wildcards_follow_python_fnmatch() {
    assert!(fnmatch("stg_orders", "stg_*"));
    assert!(fnmatch("stg_orders", "stg_?rders"));
    assert!(fnmatch("a", "[abc]"));
    assert!(fnmatch("d", "[!abc]"));
    assert!(!fnmatch("STG_orders", "stg_*"));
}

#[test]
fn cli_expression_splits_on_single_spaces_and_commas() {
    let spec = parse_difference(Some(&["tag:a tag:b,tag:c"]), None).unwrap();
    let Spec::Difference(parts, _) = spec else {
        panic!("difference")
    };
    let Spec::Union(members, None) = &parts[0] else {
        panic!("union")
    };
    assert_eq!(members.len(), 2);
    let Spec::Intersection(second, None) = &members[1] else {
        panic!("intersection")
    };
    assert_eq!(second.len(), 2);
    // Two spaces leave an empty spec between them, as dbt's `split(" ")` does.
    let spec = parse_difference(Some(&["a  b"]), None).unwrap();
    let Spec::Difference(parts, Some(IndirectSelection::Eager)) = spec else {
        panic!()
    };
    let Spec::Union(members, _) = &parts[0] else {
        panic!()
    };
    assert_eq!(members.len(), 3);
}

/// 6,000 name/pattern pairs judged by CPython 3.11's `fnmatch.fnmatchcase`.
#[test]
fn fnmatch_agrees_with_cpython() {
    let raw = include_str!("data/dbt/fnmatch_cases.json");
    let cases: Vec<(String, String, bool)> = serde_json::from_str(raw).unwrap();
    let wrong: Vec<_> = cases
        .iter()
        .filter(|(name, pat, want)| fnmatch(name, pat) != *want)
        .take(10)
        .collect();
    assert!(wrong.is_empty(), "disagreements: {wrong:?}");
}

/// 1,500 specs parsed by dbt's own `SelectionCriteria.from_single_spec` (regex and all).
#[test]
fn agrees_with_dbt_spec_parser() {
    let raw = include_str!("data/dbt/spec_cases.json");
    let cases: Vec<(String, Value)> = serde_json::from_str(raw).unwrap();
    let mut wrong = Vec::new();
    for (spec, want) in &cases {
        let got = match Criteria::from_single_spec(spec) {
            Err(_) => serde_json::json!({"error": true}),
            Ok(c) => serde_json::json!({
                "method": c.method.as_str(), "args": c.method_args, "value": c.value,
                "childrens_parents": c.childrens_parents, "parents": c.parents,
                "parents_depth": c.parents_depth, "children": c.children,
                "children_depth": c.children_depth,
            }),
        };
        let agree = match want.get("error") {
            Some(_) => got.get("error").is_some(),
            None => &got == want,
        };
        if !agree {
            wrong.push(format!("{spec:?}: dbt {want} ours {got}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} disagreements:\n{}",
        wrong.len(),
        wrong[..wrong.len().min(10)].join("\n")
    );
}

proptest! {
    #[test]
    fn parsing_any_spec_never_panics(s in "\\PC*") {
        let _ = Criteria::from_single_spec(&s);
        let _ = parse_difference(Some(&[s.as_str()]), Some(&[s.as_str()]));
    }

    #[test]
    fn parsing_operator_heavy_specs_never_panics(s in "[@+0-9:,. a-z/*?\\[\\]!-]{0,24}") {
        let _ = parse_difference(Some(&[s.as_str()]), None);
        let _ = fnmatch(&s, &s);
    }
}
