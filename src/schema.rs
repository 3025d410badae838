//! The JSON Schema of `pipeline.yaml` (draft-07, what yaml-language-server reads), generated
//! from the same shapes that check the file, so editor hints and dagship never disagree.

use serde_json::{Map, Value, json};

use crate::pipeline::fields::{STEP, TOP};
use crate::shape::{Record, Shape};
use crate::steps::Kinds;

pub(crate) fn pipeline_schema() -> Value {
    let mut body = record(&TOP);
    body["properties"]["steps"]["additionalProperties"] = step();
    let mut root = Map::new();
    root.insert(
        "$schema".into(),
        json!("http://json-schema.org/draft-07/schema#"),
    );
    root.insert("title".into(), json!("dagship pipeline"));
    root.insert(
        "description".into(),
        json!("A dagship pipeline: environments and the steps that deploy a data platform."),
    );
    root.extend(body.as_object().expect("a record is an object").clone());
    Value::Object(root)
}

/// The text `dagship schema` prints and the repository commits.
pub(crate) fn pipeline_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&pipeline_schema()).expect("schema serialises");
    text.push('\n');
    text
}

/// A step: its common fields, and `with` checked against the kind named in `uses`.
fn step() -> Value {
    let mut schema = record(&STEP);
    let kinds: Vec<&str> = Kinds.all().map(|k| k.name()).collect();
    schema["properties"]["uses"] = json!({ "enum": kinds, "description": "The step kind." });
    let cases: Vec<Value> = Kinds
        .all()
        .map(|kind| {
            let mut with = record(kind.inputs());
            with["description"] = json!(kind.about());
            let mut then = json!({ "properties": { "with": with } });
            if kind.inputs().fields.iter().any(|f| f.required) {
                then["required"] = json!(["with"]);
            }
            json!({ "if": { "properties": { "uses": { "const": kind.name() } } }, "then": then })
        })
        .collect();
    schema["allOf"] = Value::Array(cases);
    schema
}

fn record(record: &Record) -> Value {
    let mut properties = Map::new();
    for field in record.fields {
        let mut schema = shape(&field.shape);
        if !field.doc.is_empty()
            && let Some(object) = schema.as_object_mut()
        {
            object.insert("description".into(), json!(field.doc));
        }
        properties.insert(field.name.into(), schema);
    }
    let required: Vec<&str> = record
        .fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    let mut schema = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
    });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    if !record.exactly_one_of.is_empty() {
        let options: Vec<Value> = record
            .exactly_one_of
            .iter()
            .map(|k| json!({ "required": [k] }))
            .collect();
        schema["oneOf"] = Value::Array(options);
    }
    schema
}

fn shape(shape: &Shape) -> Value {
    match shape {
        Shape::Str => json!({ "type": "string" }),
        Shape::Template | Shape::Scalar => json!({ "type": ["string", "number", "boolean"] }),
        Shape::Bool => json!({ "type": "boolean" }),
        Shape::Int { min, max } => json!({ "type": "integer", "minimum": min, "maximum": max }),
        Shape::Duration => json!({
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^([0-9]+|([0-9]+[smhd])+)$" }
            ]
        }),
        Shape::Enum(names) => json!({ "enum": names }),
        Shape::List(item) => json!({ "type": "array", "items": self::shape(item) }),
        Shape::Map(value) => {
            json!({ "type": "object", "additionalProperties": self::shape(value) })
        }
        Shape::Record(r) => record(r),
        Shape::OneOf(options) => {
            json!({ "anyOf": options.iter().map(self::shape).collect::<Vec<_>>() })
        }
        Shape::Any => json!({}),
        // The rules themselves (Google's names, Airflow's schedules) are dagship's to check.
        Shape::Valid(rule) if rule.null => {
            json!({ "anyOf": [self::shape(rule.shape), { "type": "null" }] })
        }
        Shape::Valid(rule) => self::shape(rule.shape),
    }
}
