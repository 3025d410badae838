//! The plan as JSON, for scripts and CI (`plan --format json`; the shape is in the spec).

use super::Plan;

pub fn render(plan: &Plan) -> String {
    let mut out = serde_json::to_string_pretty(plan).expect("a plan always serialises");
    out.push('\n');
    out
}
