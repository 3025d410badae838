//! Python semantics over JSON/YAML values, where dbt's behaviour depends on them:
//! truthiness of YAML flags, `int()` of depths, and `==` between a selector value and a
//! config value (where `1 == 1.0 == True` but `"1" != 1`).

use serde_json::Value;

/// Python's `bool(value)`.
pub(crate) fn py_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Python's `int(value)` for the types YAML can produce; `None` where Python raises.
pub(crate) fn py_int(v: &Value) -> Option<i64> {
    match v {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            f.is_finite().then_some(f.trunc() as i64)
        }),
        Value::String(s) => parse_py_int(s),
        _ => None,
    }
}

/// `int("…")`: surrounding whitespace, a sign, digits with single `_` between them.
fn parse_py_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let ok_underscores = !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.chars().all(|c| c.is_ascii_digit() || c == '_');
    if digits.is_empty() || !ok_underscores {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    // Past i64 the depth means "unlimited" anyway.
    let n = clean.parse::<i64>().unwrap_or(i64::MAX);
    Some(if neg { -n } else { n })
}

/// Python's `float(value)`, used to order model versions.
pub(crate) fn py_float(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let t = s.trim();
            let clean: String = t.chars().filter(|c| *c != '_').collect();
            clean.parse::<f64>().ok()
        }
        _ => None,
    }
}

/// Python's `str(value)`.
pub(crate) fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr(value)`, close enough for messages and `str()` of numbers.
pub(crate) fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) if n.is_f64() => float_repr(n.as_f64().unwrap_or_default()),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{s}'"),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => {
            let items: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("'{k}': {}", py_repr(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

fn float_repr(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// Python's `a == b`: numbers and booleans compare numerically, containers
/// element-wise, everything else only with its own type.
pub(crate) fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        _ => match (numeric(a), numeric(b)) {
            (Some(x), Some(y)) => num_eq(x, y),
            _ => false,
        },
    }
}

/// Numeric view for comparisons: integers stay integral (no f64 rounding).
#[derive(Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

fn numeric(v: &Value) -> Option<Num> {
    match v {
        Value::Bool(b) => Some(Num::Int(i128::from(*b))),
        Value::Number(n) => n
            .as_i64()
            .map(|i| Num::Int(i128::from(i)))
            .or_else(|| n.as_u64().map(|u| Num::Int(i128::from(u))))
            .or_else(|| n.as_f64().map(Num::Float)),
        _ => None,
    }
}

fn num_eq(a: Num, b: Num) -> bool {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x == y,
        (Num::Float(x), Num::Float(y)) => x == y,
        (Num::Int(i), Num::Float(f)) | (Num::Float(f), Num::Int(i)) => {
            f.fract() == 0.0 && (i as f64) == f
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equality_is_pythonic() {
        assert!(py_eq(&json!(1), &json!(1.0)));
        assert!(py_eq(&json!(true), &json!(1)));
        assert!(!py_eq(&json!("1"), &json!(1)));
        assert!(py_eq(&json!(null), &json!(null)));
        assert!(py_eq(&json!(["a", 1]), &json!(["a", 1.0])));
    }

    #[test]
    fn ints_and_truthiness() {
        assert_eq!(py_int(&json!(" 2 ")), Some(2));
        assert_eq!(py_int(&json!("1_0")), Some(10));
        assert_eq!(py_int(&json!("1__0")), None);
        assert_eq!(py_int(&json!(2.7)), Some(2));
        assert_eq!(py_int(&json!("x")), None);
        assert!(!py_truthy(&json!(0)));
        assert!(py_truthy(&json!("no")));
        assert_eq!(py_str(&json!(2.0)), "2.0");
    }
}
