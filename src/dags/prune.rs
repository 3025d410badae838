//! A fast first pass over `manifest.json` that drops what no DAG needs before the manifest
//! reader parses the rest.
//!
//! Most of a manifest is SQL, column lists, docs and the parent/child maps, which the reader
//! skips anyway; but skipping still costs serde a full parse of every byte, and that was 85%
//! of `dagship dags` on a large manifest. This pass only finds the ends of strings (with
//! `memchr`) and brackets, so it runs several times faster than a parse, on a second core,
//! and leaves the reader about a quarter of the bytes. It is a filter, not a second reader:
//! the kept JSON is exactly the input's, minus whole key/value pairs from
//!
//! - the top level: [`DROPPED_SECTIONS`];
//! - each entry of a section (a node, source, macro, …, or a `disabled` candidate):
//!   [`DROPPED_KEYS`], never `config` (any key of it may be selected on).
//!
//! `tests/dags_manifest.rs` holds the manifests read with and without this pass equal.
//! Input that is not JSON is passed on as it is met, for the reader to report.

/// Top-level keys the reader does not read.
pub const DROPPED_SECTIONS: [&str; 4] = ["parent_map", "child_map", "group_map", "groups"];

/// Keys of an entry that the reader does not read (the big ones).
pub const DROPPED_KEYS: [&str; 22] = [
    "columns",
    "raw_code",
    "compiled_code",
    "description",
    "docs",
    "unrendered_config",
    "checksum",
    "refs",
    "sources",
    "metrics",
    "contract",
    "constraints",
    "doc_blocks",
    "macro_sql",
    "block_contents",
    "arguments",
    "meta",
    "created_at",
    "primary_key",
    "extra_ctes",
    "source_description",
    "freshness",
];

/// Sections whose values are maps of entries.
const ENTRY_SECTIONS: [&str; 10] = [
    "nodes",
    "sources",
    "exposures",
    "metrics",
    "semantic_models",
    "saved_queries",
    "unit_tests",
    "functions",
    "macros",
    "docs",
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    /// The top-level object: its keys are filtered.
    Top,
    /// A section: unique_id → entry.
    Section,
    /// `disabled`: unique_id → list of entries (or one entry).
    Disabled,
    /// A list of disabled candidates.
    DisabledList,
    /// A node, source, macro…: its keys are filtered.
    Entry,
    /// Anything else: copied as it is.
    Other,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Key,
    Colon,
    Value,
}

#[derive(Debug)]
struct Frame {
    role: Role,
    /// A key of this object has been written (the next kept one needs a comma).
    kept_any: bool,
    phase: Phase,
}

/// Streaming state: feed chunks in order with [`Pruner::feed`].
#[derive(Debug, Default)]
pub struct Pruner {
    stack: Vec<Frame>,
    in_string: bool,
    /// The previous byte of the current string was a backslash.
    escaped: bool,
    /// The key being read at a filtered level (without quotes).
    key: Option<Vec<u8>>,
    /// The last complete key at the top level (decides a section's role).
    last_top_key: Vec<u8>,
    /// Output stops while a dropped value is read: the stack depth of its object.
    skip_at: Option<usize>,
}

impl Pruner {
    /// Appends the kept part of `input` to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut i = 0;
        while i < input.len() {
            if self.in_string {
                i = self.string(input, i, out);
                continue;
            }
            let b = input[i];
            i += 1;
            match b {
                b' ' | b'\n' | b'\r' | b'\t' => {}
                b'"' => self.open_string(out),
                b':' => self.colon(out),
                b',' => self.comma(out),
                b'{' | b'[' => self.open(b, out),
                b'}' | b']' => self.close(b, out),
                _ => self.emit(&[b], out),
            }
        }
    }

    fn filtered(&self) -> bool {
        matches!(
            self.stack.last().map(|f| f.role),
            Some(Role::Top | Role::Entry)
        )
    }

    fn emitting(&self) -> bool {
        self.skip_at.is_none()
    }

    fn emit(&self, bytes: &[u8], out: &mut Vec<u8>) {
        if self.emitting() {
            out.extend_from_slice(bytes);
        }
    }

    fn open_string(&mut self, out: &mut Vec<u8>) {
        self.in_string = true;
        self.escaped = false;
        let at_key = self.emitting()
            && self.filtered()
            && self.stack.last().is_some_and(|f| f.phase == Phase::Key);
        if at_key {
            self.key = Some(Vec::new());
        } else {
            self.emit(b"\"", out);
        }
    }

    /// Inside a string: jumps to the next quote or backslash.
    fn string(&mut self, input: &[u8], start: usize, out: &mut Vec<u8>) -> usize {
        let mut i = start;
        if self.escaped {
            // The escaped byte (a quote, a backslash, `u`…) never ends the string.
            self.escaped = false;
            i += 1;
        }
        let end = loop {
            match memchr::memchr2(b'"', b'\\', &input[i.min(input.len())..]) {
                None => break None,
                Some(at) if input[i + at] == b'\\' => {
                    if i + at + 1 >= input.len() {
                        self.escaped = true; // the escaped byte is in the next chunk
                        break None;
                    }
                    i += at + 2;
                }
                Some(at) => break Some(i + at),
            }
        };
        let stop = end.unwrap_or(input.len());
        let text = &input[start..stop];
        match &mut self.key {
            Some(key) => key.extend_from_slice(text),
            None => self.emit(text, out),
        }
        let Some(end) = end else {
            return input.len();
        };
        self.in_string = false;
        if let Some(key) = self.key.take() {
            if let Some(frame) = self.stack.last_mut() {
                frame.phase = Phase::Colon;
            }
            if self.stack.len() == 1 {
                self.last_top_key.clone_from(&key);
            }
            self.key = Some(key); // decided at the colon
            self.in_string = false;
        } else {
            self.emit(b"\"", out);
        }
        end + 1
    }

    fn colon(&mut self, out: &mut Vec<u8>) {
        if !(self.emitting() && self.filtered()) {
            self.emit(b":", out);
            return;
        }
        let key = self.key.take().unwrap_or_default();
        let depth = self.stack.len();
        let Some(frame) = self.stack.last_mut() else {
            return;
        };
        frame.phase = Phase::Value;
        let dropped = match frame.role {
            Role::Top => DROPPED_SECTIONS.iter().any(|k| k.as_bytes() == key),
            _ => DROPPED_KEYS.iter().any(|k| k.as_bytes() == key),
        };
        // A key written with escapes is kept: the reader would unescape it.
        if dropped && !key.contains(&b'\\') {
            self.skip_at = Some(depth);
            return;
        }
        if frame.kept_any {
            out.push(b',');
        }
        frame.kept_any = true;
        out.push(b'"');
        out.extend_from_slice(&key);
        out.extend_from_slice(b"\":");
    }

    fn comma(&mut self, out: &mut Vec<u8>) {
        let depth = self.stack.len();
        if self.skip_at == Some(depth) {
            self.skip_at = None; // the dropped value ended
        }
        if self.emitting() && self.filtered() {
            // Commas of filtered objects are written before each kept key instead.
            if let Some(frame) = self.stack.last_mut() {
                frame.phase = Phase::Key;
            }
        } else {
            self.emit(b",", out);
        }
    }

    fn open(&mut self, b: u8, out: &mut Vec<u8>) {
        let parent = self.stack.last().map(|f| f.role);
        let object = b == b'{';
        let role = match (parent, object) {
            _ if !self.emitting() => Role::Other,
            (None, true) => Role::Top,
            (Some(Role::Top), true) => {
                let key = self.last_top_key.as_slice();
                if key == b"disabled" {
                    Role::Disabled
                } else if ENTRY_SECTIONS.iter().any(|s| s.as_bytes() == key) {
                    Role::Section
                } else {
                    Role::Other
                }
            }
            (Some(Role::Section), true) | (Some(Role::Disabled | Role::DisabledList), true) => {
                Role::Entry
            }
            (Some(Role::Disabled), false) => Role::DisabledList,
            _ => Role::Other,
        };
        self.emit(&[b], out);
        self.stack.push(Frame {
            role,
            kept_any: false,
            phase: Phase::Key,
        });
    }

    fn close(&mut self, b: u8, out: &mut Vec<u8>) {
        let depth = self.stack.len();
        if self.skip_at == Some(depth) {
            self.skip_at = None; // the dropped value was the object's last
        }
        self.stack.pop();
        self.emit(&[b], out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prune(json: &str, chunk: usize) -> String {
        let mut p = Pruner::default();
        let mut out = Vec::new();
        for piece in json.as_bytes().chunks(chunk) {
            p.feed(piece, &mut out);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn drops_big_keys_of_entries_and_unread_sections_only() {
        let json = r#"{"metadata": {"description": "kept", "x": [1, 2]},
            "nodes": {"model.a": {"name": "a", "raw_code": "select \"1\" {", "columns": {"c": {"description": "d"}},
                                   "config": {"meta": {"description": "kept"}}, "fqn": ["p", "a"], "meta": {}}},
            "parent_map": {"model.a": []},
            "disabled": {"model.b": [{"name": "b", "description": "x\\"}], "model.c": {"name": "c", "docs": {}}},
            "selectors": {"s": {"description": "kept"}}}"#;
        let want = r#"{"metadata":{"description":"kept","x":[1,2]},"nodes":{"model.a":{"name":"a","config":{"meta":{"description":"kept"}},"fqn":["p","a"]}},"disabled":{"model.b":[{"name":"b"}],"model.c":{"name":"c"}},"selectors":{"s":{"description":"kept"}}}"#;
        for chunk in [1, 2, 3, 7, 4096] {
            assert_eq!(prune(json, chunk), want, "chunks of {chunk}");
        }
    }

    #[test]
    fn escaped_keys_and_strings_survive() {
        let json = r#"{"nodes": {"m": {"\u0063olumns": 1, "name": "a\\\"b\u00e9", "columns": 2}}}"#;
        let want = r#"{"nodes":{"m":{"\u0063olumns":1,"name":"a\\\"b\u00e9"}}}"#;
        for chunk in [1, 5, 100] {
            assert_eq!(prune(json, chunk), want);
        }
    }
}
