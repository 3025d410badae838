//! Errors are clear and specific: broken manifests, unknown versions, bad selectors.

mod dbt_support;

use std::path::Path;

use dagship::dbt::manifest::{Manifest, ManifestError};
use dagship::dbt::select::{SelectError, select_expression};
use dagship::dbt::selectors_file::{SelectorsFile, SelectorsFileError};

const V12: &str = "https://schemas.getdbt.com/dbt/manifest/v12.json";

fn tiny_manifest(version: &str) -> String {
    format!(
        r#"{{"metadata": {{"dbt_schema_version": "{version}", "project_name": "p"}},
  "nodes": {{"model.p.a": {{"unique_id": "model.p.a", "resource_type": "model",
    "package_name": "p", "name": "a", "fqn": ["p", "a"], "path": "a.sql",
    "original_file_path": "models/a.sql", "tags": ["t"], "config": {{"enabled": true}},
    "depends_on": {{"nodes": []}}}}}},
  "sources": {{}}}}"#
    )
}

fn load(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::from_slice(text.as_bytes(), Path::new("target/manifest.json"))
}

#[test]
fn truncated_manifest_names_file_and_byte_offset() {
    let full = tiny_manifest(V12);
    let cut = &full[..full.len() / 2];
    let err = load(cut).unwrap_err();
    assert!(
        matches!(err, ManifestError::Truncated { offset, .. } if offset == cut.len() as u64),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("target/manifest.json") && msg.contains(&format!("byte {}", cut.len())),
        "{msg}"
    );
}

#[test]
fn truncated_real_manifest_is_reported_not_panicking() {
    let path = dbt_support::corpus_dir().join("jaffle_shop.manifest.json.gz");
    let bytes = dbt_support::gunzip(&path);
    let err = Manifest::from_slice(&bytes[..bytes.len() - 100], &path).unwrap_err();
    assert!(matches!(err, ManifestError::Truncated { .. }), "{err}");
}

#[test]
fn bad_json_names_byte_offset() {
    let text = tiny_manifest(V12).replacen("\"name\": \"a\"", "\"name\" \"a\"", 1);
    let offset = text.find("\"name\" \"a\"").unwrap() + "\"name\" ".len();
    let err = load(&text).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ManifestError::InvalidJson { .. }), "{msg}");
    assert!(msg.contains(&format!("byte {offset}")), "{msg}");
}

#[test]
fn unknown_schema_version_names_it_and_the_supported_ones() {
    let err = load(&tiny_manifest(
        "https://schemas.getdbt.com/dbt/manifest/v9.json",
    ))
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, ManifestError::UnsupportedVersion { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("manifest/v9.json") && msg.contains("v10") && msg.contains("v12"),
        "{msg}"
    );
    // A future manifest whose shape we cannot even read still reports its version.
    let odd = tiny_manifest("https://schemas.getdbt.com/dbt/manifest/v13.json")
        .replace("\"fqn\": [\"p\", \"a\"]", "\"fqn\": 7");
    assert!(matches!(
        load(&odd).unwrap_err(),
        ManifestError::UnsupportedVersion { .. }
    ));
    let none = tiny_manifest(V12).replace("dbt_schema_version", "schema");
    assert!(matches!(
        load(&none).unwrap_err(),
        ManifestError::MissingVersion { .. }
    ));
}

#[test]
fn supported_versions_load() {
    for v in ["v10", "v11", "v12"] {
        let url = format!("https://schemas.getdbt.com/dbt/manifest/{v}.json");
        let m = load(&tiny_manifest(&url)).unwrap();
        assert_eq!(select_expression(&m, &["tag:t"], &[]).unwrap().len(), 1);
    }
}

#[test]
fn unknown_and_unsupported_methods_are_errors() {
    let m = load(&tiny_manifest(V12)).unwrap();
    let err = select_expression(&m, &["colour:red"], &[]).unwrap_err();
    assert!(
        matches!(&err, SelectError::UnknownMethod { method, .. } if method == "colour"),
        "{err}"
    );
    let err = select_expression(&m, &["tag:t"], &["state:modified"]).unwrap_err();
    assert!(
        matches!(&err, SelectError::UnsupportedMethod { method, .. } if method == "state"),
        "{err}"
    );
    assert!(err.to_string().contains("state"), "{err}");
    let err = select_expression(&m, &["resource_type:modle"], &[]).unwrap_err();
    assert!(err.to_string().contains("modle"), "{err}");
}

fn selectors(yaml: &str) -> Result<SelectorsFile, SelectorsFileError> {
    SelectorsFile::from_yaml_str(yaml, Path::new("selectors.yml"))
}

#[test]
fn selector_errors_name_the_selector() {
    let m = load(&tiny_manifest(V12)).unwrap();
    let file = selectors(
        "selectors:\n  - name: ok\n    definition: tag:t\n  - name: bad\n    definition: {method: colour, value: red}\n",
    )
    .unwrap();
    assert_eq!(file.evaluate("ok", &m).unwrap().len(), 1);
    let err = file.evaluate("bad", &m).unwrap_err();
    assert!(
        err.to_string().contains("`bad`") && err.to_string().contains("colour"),
        "{err}"
    );
    assert!(file.validate().is_err());
    let err = file.evaluate("missing", &m).unwrap_err();
    assert!(matches!(err, SelectError::UnknownSelector { .. }), "{err}");
}

#[test]
fn selector_references_must_point_upwards() {
    let file = selectors(
        "selectors:\n  - name: a\n    definition: {method: selector, value: b}\n  - name: b\n    definition: tag:t\n",
    )
    .unwrap();
    let err = file.get("a").unwrap().spec().unwrap_err();
    assert!(err.to_string().contains("above the selector"), "{err}");
}

#[test]
fn jinja_is_refused_with_a_hint() {
    let file =
        selectors("selectors:\n  - name: j\n    definition: \"tag:{{ var('t') }}\"\n").unwrap();
    let err = file.get("j").unwrap().spec().unwrap_err();
    assert!(err.to_string().contains("Jinja"), "{err}");
}

#[test]
fn file_level_problems() {
    let err = selectors("selectors:\n  - {name: a, definition: x, default: true}\n  - {name: b, definition: y, default: true}\n")
        .unwrap_err();
    assert!(
        matches!(err, SelectorsFileError::MultipleDefaults { .. }),
        "{err}"
    );
    assert!(matches!(
        selectors("selectors: [\n").unwrap_err(),
        SelectorsFileError::Yaml { .. }
    ));
    let err = selectors("selectors:\n  - name: a\n").unwrap_err();
    assert!(err.to_string().contains("definition"), "{err}");
}

#[test]
fn extra_keys_are_kept() {
    let file = selectors(
        "selectors:\n  - name: nightly\n    schedule: \"0 3 * * *\"\n    definition: tag:t\n",
    )
    .unwrap();
    let s = file.get("nightly").unwrap();
    assert_eq!(s.extra["schedule"], "0 3 * * *");
}

type Expect = fn(&ManifestError) -> bool;

#[test]
fn documents_that_are_not_manifests_are_errors_naming_the_spot() {
    let cases: [(&str, Expect); 5] = [
        ("", |e| {
            matches!(e, ManifestError::Truncated { offset: 0, .. })
        }),
        ("null", |e| {
            matches!(e, ManifestError::UnexpectedShape { offset: 0, .. })
        }),
        ("[1, 2]", |e| {
            matches!(e, ManifestError::UnexpectedShape { offset: 0, .. })
        }),
        ("{\"metadata\": {}} x", |e| {
            matches!(e, ManifestError::InvalidJson { offset: 17, .. })
        }),
        (
            "{\"metadata\": {\"dbt_schema_version\": \"https://schemas.getdbt.com/dbt/manifest/v12.json\"}, \"nodes\": [1]}",
            |e| matches!(e, ManifestError::UnexpectedShape { offset: 98, .. }), // at `[`
        ),
    ];
    for (text, expected) in cases {
        let err = load(text).unwrap_err();
        assert!(expected(&err), "{text:?}: {err:?}");
        assert!(err.to_string().contains("target/manifest.json"), "{err}");
    }
}
