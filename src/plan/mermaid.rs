//! The plan as a Mermaid flowchart: one subgraph per stage, skipped steps dashed.

use std::collections::HashMap;
use std::fmt::Write;

use super::Plan;

pub fn render(plan: &Plan) -> String {
    // Node ids are positional: step ids may hold `-`, which Mermaid can read as an edge.
    let node: HashMap<&str, String> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), format!("s{i}")))
        .collect();
    let mut out = String::from("flowchart LR\n");
    for (stage, ids) in plan.stages.iter().enumerate() {
        let _ = writeln!(out, "  subgraph stage{stage}[\"Stage {stage}\"]");
        for step in plan.steps.iter().filter(|s| ids.contains(&s.id)) {
            let label = format!(
                "{}<br/><small>{}</small>",
                escape(&step.id),
                escape(&step.uses)
            );
            let _ = writeln!(out, "    {}[\"{label}\"]", node[step.id.as_str()]);
        }
        out.push_str("  end\n");
    }
    for step in &plan.steps {
        for need in step.needs.iter().filter(|n| node.contains_key(n.as_str())) {
            let _ = writeln!(
                out,
                "  {} --> {}",
                node[need.as_str()],
                node[step.id.as_str()]
            );
        }
    }
    let skipped: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| s.skipped)
        .map(|s| node[s.id.as_str()].as_str())
        .collect();
    if !skipped.is_empty() {
        out.push_str(
            "  classDef skipped fill:#f4f4f4,stroke:#999,stroke-dasharray:4 4,color:#777\n",
        );
        let _ = writeln!(out, "  class {} skipped", skipped.join(","));
    }
    out
}

/// Mermaid labels are HTML-ish: quotes and angle brackets become entities.
fn escape(text: &str) -> String {
    text.replace('&', "#amp;")
        .replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}
