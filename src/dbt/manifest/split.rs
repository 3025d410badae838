//! Reading the `nodes` section on every core.
//!
//! Where an entry starts can only be known by reading everything before it, so the section
//! is cut into pieces at *guessed* entry starts: from evenly spaced points, the first text
//! that looks like one (`}, "model.…": {`). Threads take pieces in order, as they come free
//! (more pieces than cores, so a slow thread holds up little), and read each up to the next
//! guess. A piece's entries are used only when the reading before it arrived exactly at its
//! start between two entries; otherwise (the text was a nested object's key, such as a
//! column named like a model, or the section ended earlier) the piece before reads on over
//! it: a bad guess costs time, never correctness. (Inside a string the text cannot match:
//! its quotes would be escaped.)

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Section;
use super::config_texts::ConfigTexts;
use super::cursor::{Cursor, Read};
use super::read::{Release, Run, entry};

/// Sections smaller than this are read on one thread.
const MIN_SPLIT: usize = 32 << 20;

/// Pieces per core: threads that run at different speeds still finish together.
const PIECES_PER_CORE: usize = 4;

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
    out: &mut Vec<Run>,
    release: Release<'_>,
) -> Read<()> {
    let json = c.bytes();
    let start = c.offset();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut guesses = Vec::new();
    if json.len() - start >= MIN_SPLIT && cores > 1 {
        // The section's end is not known: the points spread over the rest of the file,
        // and the first one that finds no entry start nearby is taken to be past it.
        let step = (json.len() - start) / (cores * PIECES_PER_CORE);
        let points = (1..cores * PIECES_PER_CORE).map(|k| start + k * step);
        for from in points {
            match entry_start_in(json, from, from + step) {
                Some(guess) => guesses.push(guess),
                None => break,
            }
        }
    }
    read_pieces(c, section, out, release, &guesses, cores)
}

/// How reading a piece ended.
enum End {
    /// At guess `i`, between two entries.
    Met(usize),
    /// At the object's end; the offset just past its `}`.
    Closed(usize),
}

type Piece = Read<(Run, End)>;

/// Reads the entries in pieces starting at the cursor and at each of `guesses`
/// (ascending), on up to `threads` threads.
fn read_pieces(
    c: &mut Cursor<'_>,
    section: Section,
    out: &mut Vec<Run>,
    release: Release<'_>,
    guesses: &[usize],
    threads: usize,
) -> Read<()> {
    let json = c.bytes();
    let first = c.offset();
    let pieces: Vec<Mutex<Option<Piece>>> = (0..=guesses.len()).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let work = || {
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            if k > guesses.len() {
                return;
            }
            let mut piece = Cursor::at(json, if k == 0 { first } else { guesses[k - 1] });
            let read = read_piece(&mut piece, section, k == 0, &guesses[k..], release);
            // Guesses are counted from this piece's end on.
            let read = read.map(|(nodes, end)| match end {
                End::Met(i) => (nodes, End::Met(k + i)),
                closed => (nodes, closed),
            });
            *pieces[k].lock().expect("no reader panics") = Some(read);
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads.min(guesses.len() + 1) {
            scope.spawn(work);
        }
        work();
    });
    // Follow the pieces from the first: each ends where a later one starts, or at the end.
    let mut k = 0;
    loop {
        let piece = pieces[k].lock().expect("no reader panics").take();
        let (nodes, end) = piece.expect("every piece was read")?;
        out.push(nodes);
        match end {
            End::Met(i) => k = i + 1,
            End::Closed(offset) => {
                c.seek(offset);
                return Ok(());
            }
        }
    }
}

/// Reads entries until the object's end, or until the next entry would start at one of
/// `guesses` (those passed on the way were not entry starts). The first piece starts at
/// the object's `{`, the others at a key.
fn read_piece(
    c: &mut Cursor<'_>,
    section: Section,
    first_piece: bool,
    guesses: &[usize],
    release: Release<'_>,
) -> Piece {
    // Growing by doubling would copy the entries read so far, again and again. Entries are
    // rarely under 2 KB of JSON; a larger guess costs only untouched memory.
    let piece = guesses.first().unwrap_or(&c.bytes().len()) - c.offset();
    let mut nodes = Vec::with_capacity(piece / 2048);
    if first_piece && !c.object_or_null("an object keyed by unique_id")? {
        return Ok((nodes, End::Closed(c.offset())));
    }
    let mut behind = Behind::new(c, release);
    let mut texts = ConfigTexts::default();
    let end = entries_until(c, section, guesses, &mut nodes, &mut behind, &mut texts);
    // The rest of the piece has been read too.
    behind.finish(c);
    Ok((nodes, end?))
}

/// The loop of [`read_piece`].
fn entries_until(
    c: &mut Cursor<'_>,
    section: Section,
    guesses: &[usize],
    nodes: &mut Run,
    behind: &mut Behind<'_>,
    texts: &mut ConfigTexts,
) -> Read<End> {
    let mut first = true;
    let mut ahead = 0;
    loop {
        behind.reached(c);
        if !first {
            let at = c.offset_of_next_key();
            while guesses.get(ahead).is_some_and(|g| *g < at) {
                ahead += 1;
            }
            if guesses.get(ahead) == Some(&at) {
                return Ok(End::Met(ahead));
            }
        }
        let Some(id) = c.next_key(&mut first)? else {
            return Ok(End::Closed(c.offset()));
        };
        nodes.push(Some(entry(c, section, texts, &id)?));
    }
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
            self.finish(c);
        }
    }

    /// Everything up to the cursor.
    fn finish(&mut self, c: &Cursor<'_>) {
        if c.offset() > self.released {
            (self.release)(self.released, c.offset());
            self.released = c.offset();
        }
    }
}

/// The first position in `from..until` that looks like the opening quote of an entry's
/// key: `}` `,` `"model.…"` `:` `{`, with any whitespace between.
fn entry_start_in(json: &[u8], from: usize, until: usize) -> Option<usize> {
    memchr::memchr_iter(b'"', &json[from..until.min(json.len())])
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
        let at = entry_start_in(json, 0, json.len()).unwrap();
        assert!(json[at..].starts_with(b"\"model.p.b\": {"));
        assert_eq!(entry_start_in(json, at + 1, json.len()), None);
        assert_eq!(entry_start_in(json, 0, at), None);
    }

    /// A `nodes` object whose third entry has a column that looks like an entry, and SQL
    /// holding the same text (escaped, as it is in a string).
    fn nodes_json() -> String {
        let entry = |name: &str, extra: &str| {
            format!(
                r#""model.p.{name}": {{"unique_id": "model.p.{name}", "resource_type": "model", "package_name": "p", "name": "{name}", "fqn": ["p", "{name}"], {extra}"depends_on": {{"nodes": ["model.p.a"]}}, "config": {{"materialized": "view"}}}}"#
            )
        };
        let decoys = r#""raw_code": "select 1 }, \"model.p.sql\": {", "columns": {"x": {}, "model.p.column": {"name": "y"}}, "#;
        let entries: Vec<String> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|n| entry(n, if *n == "c" { decoys } else { "" }))
            .collect();
        format!("{{{}}}, \"after\": 1", entries.join(", "))
    }

    fn read(json: &str, guesses: &[usize]) -> (String, usize) {
        let mut c = Cursor::new(json.as_bytes());
        let mut out = Vec::new();
        read_pieces(&mut c, Section::Node, &mut out, &|_, _| {}, guesses, 2).unwrap();
        let nodes: Vec<_> = out.into_iter().flatten().flatten().collect();
        (format!("{nodes:?}"), c.offset())
    }

    #[test]
    fn any_guesses_read_as_one_thread_does() {
        let json = nodes_json();
        let alone = read(&json, &[]);
        assert!(alone.0.contains("model.p.e") && !alone.0.contains("unique_id: \"model.p.column"));
        let at = |text: &str| json.find(text).unwrap();
        // Right guesses, a column named like an entry, and one past the section's end.
        let candidates = [
            at(r#""model.p.b": {"#),
            at(r#""model.p.column""#),
            at(r#""model.p.d": {"#),
            at(r#""model.p.e": {"#),
            at(r#""after""#),
        ];
        for chosen in 0..1u32 << candidates.len() {
            let guesses: Vec<usize> = (0..candidates.len())
                .filter(|i| chosen & (1 << i) != 0)
                .map(|i| candidates[i])
                .collect();
            assert_eq!(read(&json, &guesses), alone, "guesses at {guesses:?}");
        }
        // The guesser skips the escaped text but takes the column: verification is what
        // keeps that guess harmless.
        let bytes = json.as_bytes();
        let (column, right) = (candidates[1], candidates[2]);
        assert_eq!(
            entry_start_in(bytes, at("model.p.sql"), bytes.len()),
            Some(column)
        );
        assert_eq!(entry_start_in(bytes, column + 1, bytes.len()), Some(right));
    }

    #[test]
    fn every_piece_gives_back_all_it_read() {
        let json = nodes_json();
        let at = |text: &str| json.find(text).unwrap();
        let guesses = [at(r#""model.p.b": {"#), at(r#""model.p.d": {"#)];
        let released = Mutex::new(Vec::new());
        let record = |start, end| released.lock().unwrap().push((start, end));
        let mut c = Cursor::new(json.as_bytes());
        read_pieces(&mut c, Section::Node, &mut Vec::new(), &record, &guesses, 2).unwrap();
        let mut ranges = released.into_inner().unwrap();
        ranges.sort();
        // From just past the object's `{`, which is read before the first piece begins;
        // a piece stops before the comma that separates it from the next.
        let mut covered = 1;
        for (start, end) in ranges {
            let gap = &json.as_bytes()[covered.min(start)..start];
            let separator = gap.iter().all(|b| matches!(b, b',' | b' '));
            assert!(separator, "{start}..{end} leaves a gap after {covered}");
            covered = covered.max(end);
        }
        assert_eq!(covered, c.offset());
    }
}
