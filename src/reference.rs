//! The pipeline file reference, as Markdown tables generated from the same shapes that check
//! the file (`docs/pipeline.md` embeds it; a test keeps it current).

use std::fmt::Write;

use crate::pipeline::Outputs;
use crate::pipeline::fields::{DAGS_TARGET, ENVIRONMENT, STATE, STEP, TOP};
use crate::shape::Record;
use crate::steps::Kinds;

pub fn markdown() -> String {
    let mut out = String::new();
    section(&mut out, "Top level", &TOP);
    section(
        &mut out,
        "An environment (`environments.NAME`)",
        &ENVIRONMENT,
    );
    section(
        &mut out,
        "`dags_target` (exactly one of `dir`, `bucket`, `composer_environment`)",
        &DAGS_TARGET,
    );
    section(&mut out, "`state` (exactly one of `dir`, `bucket`)", &STATE);
    section(&mut out, "A step (`steps.ID`)", &STEP);
    for kind in Kinds.all() {
        let _ = writeln!(out, "### `uses: {}`\n\n{}\n", kind.name(), kind.about());
        table(&mut out, kind.inputs());
        let outputs = match kind.outputs() {
            Outputs::Named(names) => names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
            Outputs::Any => "any `name=value` line the program writes to `$DAGSHIP_OUTPUT`".into(),
        };
        let _ = writeln!(out, "Outputs: {outputs}.\n");
    }
    out
}

fn section(out: &mut String, title: &str, record: &Record) {
    let _ = writeln!(out, "### {title}\n");
    table(out, record);
}

fn table(out: &mut String, record: &Record) {
    out.push_str("| key | required | value | meaning |\n|---|---|---|---|\n");
    for f in record.fields {
        let required = if f.required { "yes" } else { "" };
        let value = f.shape.describe().replace('|', "\\|");
        let _ = writeln!(
            out,
            "| `{}` | {required} | {value} | {} |",
            f.name,
            f.doc.replace('|', "\\|")
        );
    }
    out.push('\n');
}
