//! Python source fragments: every value that reaches a generated DAG file goes through here.
//!
//! The files are pure ASCII: anything else is written as an escape. That keeps them valid
//! whatever encoding a tool assumes, and makes invisible or direction-changing characters
//! (a "Trojan Source" name) visible in review.

use std::fmt::Write;

/// A Python string literal (double-quoted) holding exactly `s`.
pub fn str_lit(s: &str) -> String {
    lit(s, false)
}

/// [`str_lit`], whose text never holds the word "airflow" in any case: where it would, its
/// `w` is written `\x77`. Airflow's safe-mode discovery parses any `.py` file that mentions
/// "airflow" and "dag" as a DAG file; a module of values only (a path such as
/// `/home/airflow/gcs/data/dbt`) must not look like one.
pub fn str_lit_without_airflow(s: &str) -> String {
    lit(s, true)
}

/// [`str_list`] of [`str_lit_without_airflow`] literals.
pub fn str_list_without_airflow(items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|s| str_lit_without_airflow(s)).collect();
    format!("[{}]", parts.join(", "))
}

fn lit(s: &str, without_airflow: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        // The text is ASCII, and no escape holds a `w`: only a plain `w` can end the word,
        // whatever (letters or an escape's hex digits) spells the "airflo" before it.
        if without_airflow
            && matches!(c, 'w' | 'W')
            && out.len() >= 6
            && out[out.len() - 6..].eq_ignore_ascii_case("airflo")
        {
            push_escape(&mut out, c);
            continue;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            _ => push_escape(&mut out, c),
        }
    }
    out.push('"');
    out
}

/// `\xNN`, `\uNNNN` or `\UNNNNNNNN`: the shortest escape Python reads back as `c`.
fn push_escape(out: &mut String, c: char) {
    let n = c as u32;
    // Writing to a String cannot fail.
    let _ = match n {
        0..=0xff => write!(out, "\\x{n:02x}"),
        0x100..=0xffff => write!(out, "\\u{n:04x}"),
        _ => write!(out, "\\U{n:08x}"),
    };
}

/// A Python list literal of strings.
pub fn str_list(items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|s| str_lit(s)).collect();
    format!("[{}]", parts.join(", "))
}

/// JSON text for a string, ASCII only (`\uNNNN`, surrogate pairs beyond the BMP), so that
/// it can sit inside a Python literal with only `\` and `'` escaped again.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_json_str(&mut out, s);
    out
}

/// [`json_str`], appended to `out`.
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    // Names are almost always plain: copied whole rather than character by character.
    if s.bytes()
        .all(|b| matches!(b, b' '..=b'~') && b != b'"' && b != b'\\')
    {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// Appends a Python single-quoted literal holding ASCII JSON text: only `\` and `'` need
/// escaping.
pub fn push_json_chunk_lit(out: &mut String, json: &str) {
    debug_assert!(json.is_ascii() && !json.contains('\n'));
    out.push('\'');
    if memchr::memchr2(b'\\', b'\'', json.as_bytes()).is_none() {
        out.push_str(json);
    } else {
        for c in json.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                _ => out.push(c),
            }
        }
    }
    out.push('\'');
}

/// Python's keywords: never valid as a name in an import path.
const KEYWORDS: [&str; 35] = [
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Whether `s` is a plain ASCII Python identifier (not a keyword).
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&s)
}

/// `package.module.name` or `package.module:name` → (`package.module`, `name`), when every
/// part is an identifier: such a path can only ever become an `import` statement.
pub fn import_path(path: &str) -> Option<(String, String)> {
    let (module, name) = match path.split_once(':') {
        Some((m, n)) => (m, n),
        None => path.rsplit_once('.')?,
    };
    (module.split('.').all(is_identifier) && is_identifier(name))
        .then(|| (module.to_string(), name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literals_escape_what_python_would_misread() {
        assert_eq!(str_lit("plain"), "\"plain\"");
        assert_eq!(str_lit("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(str_lit("x\ny\0"), "\"x\\ny\\x00\"");
        assert_eq!(str_lit("é€😀"), "\"\\xe9\\u20ac\\U0001f600\"");
        assert_eq!(str_lit("\u{202e}"), "\"\\u202e\"");
    }

    #[test]
    fn literals_without_airflow_never_spell_it() {
        let plain = "/home/airflow/gcs/data/dbt";
        assert_eq!(
            str_lit_without_airflow(plain),
            "\"/home/airflo\\x77/gcs/data/dbt\""
        );
        assert_eq!(str_lit_without_airflow("AirFloW"), "\"AirFlo\\x57\"");
        assert_eq!(str_lit_without_airflow("prod"), str_lit("prod"));
        // An escape's last hex digit can be the word's `a`.
        assert_eq!(
            str_lit_without_airflow("\u{1a}irflow"),
            "\"\\x1airflo\\x77\""
        );
        assert_eq!(
            str_list_without_airflow(&["airflowairflow".into()]),
            "[\"airflo\\x77airflo\\x77\"]"
        );
        for s in [plain, "AIRFLOW", "\u{1a}IRFLOW", "a\"irflow", "airflo"] {
            let text = str_lit_without_airflow(s).to_ascii_lowercase();
            assert!(!text.contains("airflow"), "{text}");
        }
    }

    #[test]
    fn json_strings_are_ascii_with_surrogate_pairs() {
        assert_eq!(json_str("a\"\\😀"), "\"a\\\"\\\\\\ud83d\\ude00\"");
        assert_eq!(json_str("plain ~ text"), "\"plain ~ text\"");
        let mut lit = String::new();
        push_json_chunk_lit(&mut lit, "[\"it's\",\"a\\\\b\"]");
        assert_eq!(lit, "'[\"it\\'s\",\"a\\\\\\\\b\"]'");
        lit.clear();
        push_json_chunk_lit(&mut lit, "[\"plain\"]");
        assert_eq!(lit, "'[\"plain\"]'");
    }

    #[test]
    fn import_paths_are_identifiers_only() {
        assert_eq!(
            import_path("alerts.slack:notify"),
            Some(("alerts.slack".into(), "notify".into()))
        );
        assert_eq!(
            import_path("alerts.slack.notify"),
            Some(("alerts.slack".into(), "notify".into()))
        );
        assert_eq!(import_path("notify"), None);
        assert_eq!(import_path("os; import sys.x"), None);
        assert_eq!(import_path("a.class"), None);
        assert_eq!(import_path("a..b"), None);
    }
}
