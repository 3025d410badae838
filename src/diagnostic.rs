//! Mistakes in input files, located and explained for the person who has to fix them.
//!
//! Rendering is annotate-snippets (rustc's renderer): `--> file:line:column`, the offending line,
//! a caret under the culprit, then what was expected and, where we can guess, a suggestion.

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

/// Where something is in a source text: byte range for carets, line/column (1-based, in
/// characters) for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub len: usize,
    pub line: usize,
    pub column: usize,
}

impl Span {
    pub fn new(start: usize, len: usize, line: usize, column: usize) -> Self {
        Span {
            start,
            len,
            line,
            column,
        }
    }

    pub fn point(start: usize, line: usize, column: usize) -> Self {
        Span::new(start, 0, line, column)
    }

    /// A span inside this one's text, `offset` bytes (and characters: expressions are ASCII)
    /// further on the same line.
    pub fn sub(&self, offset: usize, len: usize) -> Span {
        Span::new(self.start + offset, len, self.line, self.column + offset)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub span: Span,
    pub message: String,
    pub label: Option<String>,
    pub expected: Option<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            span,
            message: message.into(),
            label: None,
            expected: None,
            help: None,
        }
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders like a compiler error. Only the offending line is handed to the renderer, so a
    /// mistake at the end of a multi-megabyte file costs no more than one on line 1.
    pub fn render(&self, path: &str, text: &str, color: bool) -> String {
        let (line_text, line_start) = line_at(text, self.span.start);
        let start = floor_char_boundary(
            line_text,
            self.span
                .start
                .saturating_sub(line_start)
                .min(line_text.len()),
        );
        let mut end = (start + self.span.len).min(line_text.len()).max(start);
        while !line_text.is_char_boundary(end) {
            end += 1;
        }
        let level = match self.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let mut annotation = AnnotationKind::Primary.span(start..end);
        if let Some(label) = &self.label {
            annotation = annotation.label(label.as_str());
        }
        let snippet = Snippet::source(line_text)
            .line_start(self.span.line)
            .path(path)
            .annotation(annotation);
        let mut group = level.primary_title(self.message.as_str()).element(snippet);
        if let Some(expected) = &self.expected {
            group = group.element(Level::NOTE.message(format!("expected {expected}")));
        }
        if let Some(help) = &self.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let report: [Group; 1] = [group];
        renderer.render(&report)
    }
}

/// The line holding byte `offset`, without its newline, and where it starts.
fn line_at(text: &str, offset: usize) -> (&str, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    (text[start..end].trim_end_matches('\r'), start)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// "did you mean `needs`?" when `given` is a near miss of one of `candidates`.
pub fn did_you_mean<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(given, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// The candidate `given` is a near miss of, if any.
pub fn closest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::jaro_winkler(&given.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// "environment `a`" or "environments `a` and `b`".
pub fn environments_phrase<S: AsRef<str>>(names: &[S]) -> String {
    let list = one_of(names).replace(" or ", " and ");
    if names.len() == 1 {
        format!("environment {list}")
    } else {
        format!("environments {list}")
    }
}

/// Lists names for messages: "`a`, `b` or `c`".
pub fn one_of<S: AsRef<str>>(names: &[S]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{}`", n.as_ref())).collect();
    match quoted.split_last() {
        None => "nothing".to_string(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_line_and_caret() {
        let text = "steps:\n  a:\n    nedds: [b]\n";
        let d = Diagnostic::error(Span::new(16, 5, 3, 5), "unknown key `nedds`")
            .label("not a step field")
            .help("did you mean `needs`?");
        let out = d.render("pipeline.yaml", text, false);
        assert!(out.contains("pipeline.yaml:3:5"), "{out}");
        assert!(out.contains("    nedds: [b]"), "{out}");
        assert!(out.contains("^^^^^"), "{out}");
        assert!(out.contains("did you mean `needs`?"), "{out}");
    }

    #[test]
    fn suggests_only_near_misses() {
        assert_eq!(
            did_you_mean("nedds", ["needs", "uses", "with"]).as_deref(),
            Some("did you mean `needs`?")
        );
        assert_eq!(did_you_mean("zzz", ["needs", "uses"]), None);
    }

    #[test]
    fn lists_alternatives() {
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
        assert_eq!(one_of(&["a"]), "`a`");
    }
}
