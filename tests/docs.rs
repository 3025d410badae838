//! The reference section of docs/pipeline.md is generated from the same shapes that check the
//! pipeline file; `UPDATE_GOLDEN=1 cargo test --test docs` rewrites it.

mod common;

const BEGIN: &str = "<!-- BEGIN GENERATED REFERENCE -->\n";
const END: &str = "<!-- END GENERATED REFERENCE -->";

#[test]
fn pipeline_reference_is_current() {
    let path = common::repo_root().join("docs/pipeline.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let start = doc.find(BEGIN).expect("begin marker") + BEGIN.len();
    let end = doc.find(END).expect("end marker");
    let generated = dagship::reference::markdown();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(
            &path,
            format!("{}{generated}{}", &doc[..start], &doc[end..]),
        )
        .unwrap();
        return;
    }
    assert!(
        doc[start..end] == generated,
        "docs/pipeline.md is stale: run `UPDATE_GOLDEN=1 cargo test --test docs`"
    );
    for kind in dagship::steps::Kinds.all() {
        assert!(generated.contains(&format!("### `uses: {}`", kind.name())));
    }
}
