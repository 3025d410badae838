//! A faithful port of Python's `fnmatch.fnmatchcase` (POSIX, case-sensitive).
//!
//! dbt matches tags, packages, source names, fqn parts and file names with Python's
//! `fnmatch`, so the exact bracket-expression rules matter: `[!x]` negates, a `]` right
//! after `[` or `[!` is literal, an unclosed `[` is a literal `[`, reversed ranges such as
//! `[z-a]` are dropped, and `*`/`?` also match `/` and newlines.

/// One compiled pattern element; every element but `Star` consumes exactly one char.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Star,
    Any,
    Lit(char),
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
    Never,
}

/// A compiled shell pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    tokens: Vec<Token>,
}

impl Pattern {
    /// True for `*` (and `**`…): it matches every string, newlines included.
    pub fn matches_everything(&self) -> bool {
        self.tokens == [Token::Star]
    }

    /// Compiles `pat` the way `fnmatch.translate` does.
    pub fn new(pat: &str) -> Pattern {
        let chars: Vec<char> = pat.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                '?' => tokens.push(Token::Any),
                '[' => match bracket_end(&chars, i) {
                    None => tokens.push(Token::Lit('[')),
                    Some(j) => {
                        tokens.push(class_token(&chars, i, j));
                        i = j + 1;
                    }
                },
                _ => tokens.push(Token::Lit(c)),
            }
        }
        Pattern { tokens }
    }

    /// Whole-string match, like `fnmatch.fnmatchcase(name, pat)`.
    pub fn matches(&self, name: &str) -> bool {
        let mut rest = name;
        let mut pi = 0usize;
        // Where to retry after the most recent star: (pattern index, remaining text).
        let mut resume: Option<(usize, &str)> = None;
        while let Some(c) = rest.chars().next() {
            match self.tokens.get(pi) {
                Some(Token::Star) => {
                    resume = Some((pi + 1, rest));
                    pi += 1;
                    continue;
                }
                Some(tok) if single_matches(tok, c) => {
                    rest = &rest[c.len_utf8()..];
                    pi += 1;
                    continue;
                }
                _ => {}
            }
            // Let the last star swallow one more character and try again.
            let Some((p, r)) = resume else {
                return false;
            };
            let Some(first) = r.chars().next() else {
                return false;
            };
            pi = p;
            rest = &r[first.len_utf8()..];
            resume = Some((p, rest));
        }
        self.tokens[pi..].iter().all(|t| *t == Token::Star)
    }
}

/// Convenience: compile and match once.
pub fn fnmatch(name: &str, pat: &str) -> bool {
    Pattern::new(pat).matches(name)
}

fn single_matches(tok: &Token, c: char) -> bool {
    match tok {
        Token::Any => true,
        Token::Lit(l) => *l == c,
        Token::Class { negated, items } => {
            items.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
        }
        Token::Never | Token::Star => false,
    }
}

/// Index of the `]` closing a bracket expression whose content starts at `i`.
fn bracket_end(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if chars.get(j) == Some(&'!') {
        j += 1;
    }
    if chars.get(j) == Some(&']') {
        j += 1;
    }
    while j < chars.len() && chars[j] != ']' {
        j += 1;
    }
    (j < chars.len()).then_some(j)
}

/// Builds the class for `chars[i..j]`, reproducing Python's chunking of ranges (which
/// decides what a `-` means) and then how `sre` reads the resulting character set.
fn class_token(chars: &[char], i: usize, j: usize) -> Token {
    let stuff = class_source(chars, i, j);
    let Some(stuff) = stuff else {
        return Token::Never;
    };
    if stuff.is_empty() {
        return Token::Never;
    }
    if stuff.len() == 1 && stuff[0] == Unit::Plain('!') {
        return Token::Any;
    }
    let (negated, body) = match stuff[0] {
        Unit::Plain('!') => (true, &stuff[1..]),
        _ => (false, &stuff[..]),
    };
    match sre_class_items(body) {
        Some(items) => Token::Class { negated, items },
        None => Token::Never,
    }
}

/// A character of the translated set: escaped ones are always literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Plain(char),
    Escaped(char),
}

/// The set body as `fnmatch.translate` would emit it, as units. `None` where Python
/// itself would crash (we then match nothing).
fn class_source(chars: &[char], i: usize, j: usize) -> Option<Vec<Unit>> {
    let content = &chars[i..j];
    if !content.contains(&'-') {
        return Some(content.iter().map(|&c| escape_unit(c)).collect());
    }
    let chunks = range_chunks(chars, i, j)?;
    let mut out = Vec::new();
    for (n, chunk) in chunks.iter().enumerate() {
        if n > 0 {
            out.push(Unit::Plain('-'));
        }
        out.extend(chunk.iter().map(|&c| match c {
            '-' => Unit::Escaped('-'),
            c => escape_unit(c),
        }));
    }
    Some(out)
}

fn escape_unit(c: char) -> Unit {
    match c {
        '\\' | '&' | '~' | '|' => Unit::Escaped(c),
        c => Unit::Plain(c),
    }
}

/// Python's split of a bracket body into range chunks, with reversed ranges removed.
fn range_chunks(chars: &[char], mut i: usize, j: usize) -> Option<Vec<Vec<char>>> {
    let mut chunks: Vec<Vec<char>> = Vec::new();
    let mut k = if chars[i] == '!' { i + 2 } else { i + 1 };
    while let Some(found) = (k..j).find(|&x| chars[x] == '-') {
        chunks.push(chars[i..found].to_vec());
        i = found + 1;
        k = found + 3;
    }
    let last = chars[i..j].to_vec();
    if last.is_empty() {
        chunks.last_mut()?.push('-');
    } else {
        chunks.push(last);
    }
    for k in (1..chunks.len()).rev() {
        let prev_last = *chunks[k - 1].last()?;
        let next_first = *chunks[k].first()?;
        if prev_last > next_first {
            let tail: Vec<char> = chunks[k][1..].to_vec();
            chunks[k - 1].pop();
            chunks[k - 1].extend(tail);
            chunks.remove(k);
        }
    }
    Some(chunks)
}

/// Reads a set body the way `sre_parse` does: `a-b` is a range, a `-` before the end
/// is literal. A leading `^` or `[` was escaped by translate, so it is literal too.
fn sre_class_items(body: &[Unit]) -> Option<Vec<(char, char)>> {
    let mut items = Vec::new();
    let mut idx = 0;
    while idx < body.len() {
        let lo = unit_char(body[idx]);
        idx += 1;
        if body.get(idx) == Some(&Unit::Plain('-')) {
            match body.get(idx + 1) {
                None => {
                    items.push((lo, lo));
                    items.push(('-', '-'));
                    idx += 1;
                }
                Some(&hi) => {
                    let hi = unit_char(hi);
                    if hi < lo {
                        return None;
                    }
                    items.push((lo, hi));
                    idx += 2;
                }
            }
        } else {
            items.push((lo, lo));
        }
    }
    Some(items)
}

fn unit_char(u: Unit) -> char {
    match u {
        Unit::Plain(c) | Unit::Escaped(c) => c,
    }
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    #[test]
    fn basics() {
        assert!(fnmatch("abc", "abc"));
        assert!(fnmatch("abc", "a*"));
        assert!(fnmatch("", "*"));
        assert!(fnmatch("a/b", "a*b"));
        assert!(!fnmatch("abc", "ab"));
        assert!(fnmatch("abc", "a?c"));
        assert!(fnmatch("a.b.c", "*.c"));
        assert!(fnmatch("aXbXc", "*X*X*"));
        assert!(!fnmatch("aXb", "*X*X*"));
    }

    #[test]
    fn brackets() {
        assert!(fnmatch("b", "[abc]"));
        assert!(!fnmatch("d", "[abc]"));
        assert!(fnmatch("d", "[!abc]"));
        assert!(fnmatch("]", "[]]"));
        assert!(fnmatch("x", "[!]]"));
        assert!(fnmatch("[", "["));
        assert!(fnmatch("[ab", "[ab"));
        assert!(fnmatch("m", "[a-z]"));
        assert!(!fnmatch("M", "[a-z]"));
        assert!(fnmatch("-", "[a-]"));
        assert!(fnmatch("-", "[-a]"));
        assert!(!fnmatch("m", "[z-a]"));
        assert!(fnmatch("[!]", "[!]"));
        assert!(fnmatch("[]", "[]"));
        assert!(fnmatch("^", "[^a]"));
        assert!(fnmatch("-", "[a-x-z]"));
        assert!(fnmatch("z", "[a-x-z]"));
        assert!(!fnmatch("y", "[a-x-z]"));
    }
}
