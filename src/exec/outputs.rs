//! Outputs a `command` step sets by writing `name=value` lines to `$DAGSHIP_OUTPUT`.

use indexmap::IndexMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OutputsError {
    #[error("$DAGSHIP_OUTPUT line {line}: expected `name=value`, found `{text}`")]
    NotAnAssignment { line: usize, text: String },
    #[error("$DAGSHIP_OUTPUT line {line}: `{name}` is not a valid output name")]
    BadName { line: usize, name: String },
}

/// Parses `name=value` lines; blank lines and `#` comments are ignored, a later line wins.
pub(crate) fn parse(text: &str) -> Result<IndexMap<String, String>, OutputsError> {
    let mut outputs = IndexMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(OutputsError::NotAnAssignment {
                line: n + 1,
                text: line.to_string(),
            });
        };
        let name = name.trim();
        if !crate::expr::is_identifier(name) {
            return Err(OutputsError::BadName {
                line: n + 1,
                name: name.to_string(),
            });
        }
        outputs.insert(name.to_string(), value.to_string());
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_value_lines() {
        let out = parse("a=1\n\n# note\nurl=http://x?y=z\na=2\n").unwrap();
        assert_eq!(out.get("a").map(String::as_str), Some("2"));
        assert_eq!(out.get("url").map(String::as_str), Some("http://x?y=z"));
        assert!(
            parse("nonsense\n")
                .unwrap_err()
                .to_string()
                .contains("line 1")
        );
    }
}
