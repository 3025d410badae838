//! Reading the `nodes` section on two threads.
//!
//! Where an entry starts can only be known by reading everything before it, so the second
//! thread *guesses*: from the middle of what is left it looks for the text that starts an
//! entry (`}, "model.…": {`) and reads entries from there. The first thread reads from
//! the section's start as usual; only if it arrives exactly at the guessed spot between
//! two entries is the second thread's work used. Otherwise (the text was a nested object's
//! key, such as a column named like a model, or the section ended earlier) the first thread
//! reads on alone: a bad guess costs time, never correctness. (Inside a string the text
//! cannot match: its quotes would be escaped.)

use std::sync::atomic::{AtomicBool, Ordering};

use super::Node;
use super::Section;
use super::cursor::{Cursor, Read, Stop};
use super::read::{Release, entry};

/// Sections smaller than this are read on one thread.
const MIN_SPLIT: usize = 32 << 20;

/// How much is read between two calls to `release`.
const RELEASE_EVERY: usize = 8 << 20;

/// How graph entries' keys (unique_ids) start in the `nodes` section.
const KEY_PREFIXES: [&[u8]; 7] = [
    b"\"model.",
    b"\"test.",
    b"\"seed.",
    b"\"snapshot.",
    b"\"analysis.",
    b"\"operation.",
    b"\"sql_operation.",
];

/// Reads the entries of the object `c` is at (its `{` not yet read) into `out`.
pub(crate) fn entries_in_parallel(
    c: &mut Cursor<'_>,
    section: Section,
    out: &mut Vec<Node>,
    release: Release<'_>,
) -> Read<()> {
    let json = c.bytes();
    let start = c.offset();
    let guess = if json.len() - start >= MIN_SPLIT && cores() > 1 {
        entry_start_after(json, start + (json.len() - start) / 2)
    } else {
        None
    };
    read_split(c, section, out, release, guess)
}

/// Reads the entries with a second thread starting at `guess`, if there is one.
fn read_split(
    c: &mut Cursor<'_>,
    section: Section,
    out: &mut Vec<Node>,
    release: Release<'_>,
    guess: Option<usize>,
) -> Read<()> {
    let json = c.bytes();
    let Some(guess) = guess else {
        return read_entries(c, section, out, None, release).map(|_| ());
    };
    let give_up = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let second = scope.spawn(|| {
            let mut tail = Cursor::at(json, guess);
            // As for the first half (see `read::manifest`): growing by doubling would copy.
            let mut nodes = Vec::with_capacity((json.len() - guess) / 2048);
            read_rest(&mut tail, section, &mut nodes, &give_up, release)
                .map(|()| (nodes, tail.offset()))
        });
        let met = read_entries(c, section, out, Some(guess), release);
        if !matches!(met, Ok(true)) {
            give_up.store(true, Ordering::Relaxed);
            let _ = second.join();
            return met.map(|_| ());
        }
        let (nodes, end) = second.join().expect("the reading thread does not panic")?;
        out.extend(nodes);
        c.seek(end);
        Ok(())
    })
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Reads entries until the object's end, or until the next entry would start at `meet`
/// (then returns true, having read up to there).
fn read_entries(
    c: &mut Cursor<'_>,
    section: Section,
    out: &mut Vec<Node>,
    meet: Option<usize>,
    release: Release<'_>,
) -> Read<bool> {
    if !c.object_or_null("an object keyed by unique_id")? {
        return Ok(false);
    }
    let mut first = true;
    let mut behind = Behind::new(c, release);
    loop {
        behind.reached(c);
        if !first && Some(c.offset_of_next_key()) == meet {
            return Ok(true);
        }
        if c.next_key(&mut first)?.is_none() {
            return Ok(false);
        }
        out.push(entry(c, section)?);
    }
}

/// Reads entries from a key of the object to its end.
fn read_rest(
    c: &mut Cursor<'_>,
    section: Section,
    out: &mut Vec<Node>,
    give_up: &AtomicBool,
    release: Release<'_>,
) -> Read<()> {
    let mut first = true;
    let mut behind = Behind::new(c, release);
    while c.next_key(&mut first)?.is_some() {
        behind.reached(c);
        out.push(entry(c, section)?);
        if give_up.load(Ordering::Relaxed) {
            return Err(Stop {
                offset: c.offset(),
                message: "abandoned".into(),
            });
        }
    }
    Ok(())
}

/// What one reading thread has left behind, handed to `release` every [`RELEASE_EVERY`].
struct Behind<'r> {
    released: usize,
    release: Release<'r>,
}

impl<'r> Behind<'r> {
    fn new(c: &Cursor<'_>, release: Release<'r>) -> Behind<'r> {
        Behind {
            released: c.offset(),
            release,
        }
    }

    fn reached(&mut self, c: &Cursor<'_>) {
        if c.offset() - self.released >= RELEASE_EVERY {
            (self.release)(self.released, c.offset());
            self.released = c.offset();
        }
    }
}

/// The first position after `from` that looks like the opening quote of an entry's key:
/// `}` `,` `"model.…"` `:` `{`, with any whitespace between.
fn entry_start_after(json: &[u8], from: usize) -> Option<usize> {
    memchr::memchr_iter(b'"', &json[from..])
        .map(|i| from + i)
        .find(|&quote| looks_like_entry_start(json, quote))
}

fn looks_like_entry_start(json: &[u8], quote: usize) -> bool {
    if !KEY_PREFIXES.iter().any(|p| json[quote..].starts_with(p)) {
        return false;
    }
    let ws = |b: &u8| matches!(b, b' ' | b'\n' | b'\r' | b'\t');
    let mut before = json[..quote].iter().rev().skip_while(|b| ws(b));
    let after_entry = before.next() == Some(&b',') && before.find(|b| !ws(b)) == Some(&b'}');
    let Some(len) = memchr::memchr(b'"', &json[quote + 1..]) else {
        return false;
    };
    let mut after = json[quote + 2 + len..].iter().filter(|b| !ws(b));
    after_entry && after.next() == Some(&b':') && after.next() == Some(&b'{')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_skip_lookalikes() {
        let json = br#"{"a": {"columns": {"x": {}, "model.y": 1}, "refs": ["model.z"]}, "model.p.b": {"unique_id": "model.p.b"}}"#;
        let at = entry_start_after(json, 0).unwrap();
        assert!(json[at..].starts_with(b"\"model.p.b\": {"));
        assert_eq!(entry_start_after(json, at + 1), None);
    }

    /// A `nodes` object whose third entry has a column that looks like an entry, and SQL
    /// holding the same text (escaped, as it is in a string).
    fn nodes_json() -> String {
        let entry = |name: &str, extra: &str| {
            format!(
                r#""model.p.{name}": {{"unique_id": "model.p.{name}", "resource_type": "model", "name": "{name}", {extra}"depends_on": {{"nodes": ["model.p.a"]}}, "config": {{"materialized": "view"}}}}"#
            )
        };
        let decoys = r#""raw_code": "select 1 }, \"model.p.sql\": {", "columns": {"x": {}, "model.p.column": {"name": "y"}}, "#;
        let entries: Vec<String> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|n| entry(n, if *n == "c" { decoys } else { "" }))
            .collect();
        format!("{{{}}}, \"after\": 1", entries.join(", "))
    }

    fn read(json: &str, guess: Option<usize>) -> (String, usize) {
        let mut c = Cursor::new(json.as_bytes());
        let mut out = Vec::new();
        read_split(&mut c, Section::Node, &mut out, &|_, _| {}, guess).unwrap();
        (format!("{out:?}"), c.offset())
    }

    #[test]
    fn any_guess_reads_as_one_thread_does() {
        let json = nodes_json();
        let alone = read(&json, None);
        assert!(alone.0.contains("model.p.e") && !alone.0.contains("unique_id: \"model.p.column"));
        let at = |text: &str| json.find(text).unwrap();
        let right = at(r#""model.p.d": {"#);
        let column = at(r#""model.p.column""#);
        let past_the_end = at(r#""after""#);
        for guess in [right, column, past_the_end] {
            assert_eq!(read(&json, Some(guess)), alone, "guess at {guess}");
        }
        // The guesser skips the escaped text but takes the column: verification is what
        // keeps that guess harmless.
        let bytes = json.as_bytes();
        assert_eq!(entry_start_after(bytes, at("model.p.sql")), Some(column));
        assert_eq!(entry_start_after(bytes, column + 1), Some(right));
    }
}
