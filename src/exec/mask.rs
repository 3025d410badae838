//! Hiding secret values in everything a run prints or keeps.

/// Replaces every secret value with `***`. Longer values go first, so that a secret that
/// contains another is hidden whole.
#[derive(Debug, Clone, Default)]
pub(crate) struct Masker {
    values: Vec<String>,
}

impl Masker {
    pub(crate) fn new(values: impl IntoIterator<Item = String>) -> Masker {
        // Very short values would mask innocent text everywhere (and reveal nothing useful).
        let mut values: Vec<String> = values.into_iter().filter(|v| v.len() >= 3).collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Masker { values }
    }

    pub(crate) fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), "***");
            }
        }
        out
    }

    pub(crate) fn values(&self) -> &[String] {
        &self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_longest_first() {
        let m = Masker::new(["abc".to_string(), "xxabcxx".to_string(), "z".to_string()]);
        assert_eq!(m.mask("url=xxabcxx and abc and z"), "url=*** and *** and z");
    }
}
