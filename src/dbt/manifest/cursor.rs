//! A forward-only reader over JSON bytes: walks objects key by key, parses the values it
//! is asked for with serde_json and skips the rest with [`skim`].

use std::borrow::Cow;

use serde::de::DeserializeOwned;

use super::skim;

/// Where and why reading stopped. The caller decides what kind of error it is (the input
/// may turn out not to be JSON at all, see `Manifest::from_slice`).
#[derive(Debug)]
pub(crate) struct Stop {
    pub offset: usize,
    pub problem: Problem,
}

/// Why reading stopped.
#[derive(Debug)]
pub(crate) enum Problem {
    /// The text is not what the reader expects here: a JSON syntax error, or valid JSON of
    /// another shape.
    Shape(String),
    /// A graph entry lacks a key dbt writes for every entry (or has it `null` or empty).
    MissingKey { entry: String, key: &'static str },
    /// A section dbt always writes is missing or `null`.
    MissingSection(&'static str),
    /// A top-level section is written twice.
    RepeatedSection(String),
}

impl Stop {
    pub(super) fn new(offset: usize, message: impl Into<String>) -> Stop {
        Stop {
            offset,
            problem: Problem::Shape(message.into()),
        }
    }
}

pub(crate) type Read<T> = Result<T, Stop>;

pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, at: 0 }
    }

    /// A cursor at `offset` of `buf`.
    pub(super) fn at(buf: &'a [u8], offset: usize) -> Cursor<'a> {
        Cursor { buf, at: offset }
    }

    pub(super) fn offset(&self) -> usize {
        self.at
    }

    pub(super) fn seek(&mut self, offset: usize) {
        self.at = offset;
    }

    /// Where the next key's opening quote is, when a comma comes next (`usize::MAX` when
    /// not); reads only whitespace.
    pub(super) fn offset_of_next_key(&mut self) -> usize {
        if self.peek() != Some(b',') {
            return usize::MAX;
        }
        let rest = &self.buf[self.at + 1..];
        let ws = rest
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
            .count();
        self.at + 1 + ws
    }

    pub(super) fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    fn stop<T>(&self, message: impl Into<String>) -> Read<T> {
        Err(Stop::new(self.at, message))
    }

    /// The next byte that is not whitespace, left unread.
    pub(super) fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.buf.get(self.at) {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }

    fn expect(&mut self, byte: u8, what: &str) -> Read<()> {
        if self.peek() == Some(byte) {
            self.at += 1;
            return Ok(());
        }
        self.stop(format!("expected {what}"))
    }

    /// Reads `null`, returning true, or leaves anything else unread.
    pub(super) fn null(&mut self) -> bool {
        let null = self.peek() == Some(b'n') && self.buf[self.at..].starts_with(b"null");
        if null {
            self.at += 4;
        }
        null
    }

    /// Enters an object; `Ok(false)` (having read it) for `null`.
    pub(super) fn object_or_null(&mut self, what: &str) -> Read<bool> {
        if self.null() {
            return Ok(false);
        }
        self.expect(b'{', what)?;
        Ok(true)
    }

    /// Reads an object, calling `each` with every key; `each` reads the key's value.
    /// `Ok(false)` (having read it) for `null`.
    pub(super) fn each_key(
        &mut self,
        what: &str,
        mut each: impl FnMut(&mut Cursor<'a>, &[u8]) -> Read<()>,
    ) -> Read<bool> {
        if !self.object_or_null(what)? {
            return Ok(false);
        }
        let mut first = true;
        while let Some(key) = self.next_key(&mut first)? {
            each(self, &key)?;
        }
        Ok(true)
    }

    /// The next key of the object entered last (`first` tells whether one was read
    /// already), or `None` at its end. A key is what it means, not how it is written:
    /// `"node\u0073"` is `nodes` to every JSON reader, so escapes are decoded (the rare slow
    /// path); a raw control character is an error, as in any string.
    pub(super) fn next_key(&mut self, first: &mut bool) -> Read<Option<Cow<'a, [u8]>>> {
        match self.peek() {
            Some(b'}') => {
                self.at += 1;
                return Ok(None);
            }
            Some(b',') if !*first => self.at += 1,
            Some(b'"') if *first => {}
            _ if *first => return self.stop("expected a key or `}`"),
            _ => return self.stop("expected `,` or `}`"),
        }
        *first = false;
        self.expect(b'"', "a key")?;
        let start = self.at;
        let Some((end, plain)) = skim::plain_string_end(self.buf, start) else {
            return self.eof();
        };
        self.at = end + 1;
        let written = &self.buf[start..end];
        let key = if plain {
            Cow::Borrowed(written)
        } else {
            Cow::Owned(self.decode(start - 1, end + 1)?.into_bytes())
        };
        self.expect(b':', "`:` after the key")?;
        Ok(Some(key))
    }

    /// The string whose quotes are at `open` and `close - 1`, decoded strictly.
    fn decode(&self, open: usize, close: usize) -> Read<String> {
        serde_json::from_slice(&self.buf[open..close])
            .map_err(|e| Stop::new(open, strip_position(&e.to_string())))
    }

    /// The next element of the array entered last, or `None` at its end; the caller then
    /// reads the element.
    pub(super) fn next_element(&mut self, first: &mut bool) -> Read<bool> {
        match self.peek() {
            Some(b']') => {
                self.at += 1;
                return Ok(false);
            }
            Some(b',') if !*first => self.at += 1,
            Some(_) if *first => {}
            _ => return self.stop("expected `,` or `]`"),
        }
        *first = false;
        Ok(true)
    }

    /// Enters an array.
    pub(super) fn array(&mut self, what: &str) -> Read<()> {
        self.expect(b'[', what)
    }

    fn eof<T>(&self) -> Read<T> {
        Err(Stop::new(self.buf.len(), "the input ends inside a value"))
    }

    /// Moves past the next value without looking inside it: a string must close, a
    /// container's brackets must pair up in kind, a scalar must be `true`, `false`, `null`
    /// or a number; the grammar inside a container is not checked.
    pub(super) fn skip(&mut self) -> Read<()> {
        let end = match self.peek() {
            Some(b'"') => skim::string_end(self.buf, self.at + 1).map(|e| e + 1),
            // Most containers in a manifest are empty (`"meta": {}`, `"refs": []`: two
            // in three at 10k models), and need no scan.
            Some(open @ (b'{' | b'[')) if self.buf.get(self.at + 1) == Some(&(open + 2)) => {
                Some(self.at + 2)
            }
            Some(b'{' | b'[') => match skim::container_end(self.buf, self.at) {
                skim::ContainerEnd::At(end) => Some(end),
                skim::ContainerEnd::Mismatch(at) => {
                    return Err(Stop::new(at, "a closing bracket of the wrong kind"));
                }
                skim::ContainerEnd::Eof => None,
            },
            Some(b) if b == b'-' || b.is_ascii_alphanumeric() => {
                let end = self.scalar_end();
                if !is_scalar(&self.buf[self.at..end]) {
                    return self.stop("expected a value");
                }
                Some(end)
            }
            Some(_) => return self.stop("expected a value"),
            None => None,
        };
        match end {
            Some(end) => {
                self.at = end;
                Ok(())
            }
            None => self.eof(),
        }
    }

    fn scalar_end(&self) -> usize {
        let rest = &self.buf[self.at..];
        let len = rest
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')))
            .unwrap_or(rest.len());
        self.at + len
    }

    /// The text of the next value, moved past.
    pub(super) fn raw(&mut self) -> Read<&'a [u8]> {
        self.peek();
        let start = self.at;
        self.skip()?;
        Ok(&self.buf[start..self.at])
    }

    /// The next value, parsed strictly.
    pub(super) fn parse<T: DeserializeOwned>(&mut self) -> Read<T> {
        self.peek();
        let start = self.at;
        let raw = self.raw()?;
        serde_json::from_slice(raw).map_err(|e| Stop::new(start, strip_position(&e.to_string())))
    }

    /// A string, or `None` for `null`. Strings without escapes (nearly all) are copied
    /// straight from the input.
    pub(super) fn string(&mut self) -> Read<Option<String>> {
        Ok(self.str()?.map(Cow::into_owned))
    }

    /// A string, borrowed from the input when it has no escapes; `None` for `null`.
    pub(super) fn str(&mut self) -> Read<Option<Cow<'a, str>>> {
        if self.null() {
            return Ok(None);
        }
        if self.peek() != Some(b'"') {
            return self.stop("expected a string");
        }
        let start = self.at;
        let Some((end, plain)) = skim::plain_string_end(self.buf, start + 1) else {
            return self.eof();
        };
        self.at = end + 1;
        if plain && let Ok(s) = std::str::from_utf8(&self.buf[start + 1..end]) {
            return Ok(Some(Cow::Borrowed(s)));
        }
        Ok(Some(Cow::Owned(self.decode(start, self.at)?)))
    }

    /// A string; anything else (read past) is `None`.
    pub(super) fn string_or_skip(&mut self) -> Read<Option<String>> {
        if self.peek() == Some(b'"') {
            return self.string();
        }
        self.skip()?;
        Ok(None)
    }

    /// A list of strings, each made into a `T`, in one allocation of the list's length;
    /// `null` reads as empty. The lists read (fqn, depends_on) are short: gathered on
    /// the stack first, a list costs one allocation instead of two or three growing ones.
    pub(super) fn strings<T>(&mut self, mut make: impl FnMut(Box<str>) -> T) -> Read<Box<[T]>> {
        if self.null() {
            return Ok(Box::default());
        }
        self.array("a list of strings")?;
        let mut few: [Option<T>; 8] = Default::default();
        let (mut more, mut count, mut first) = (Vec::new(), 0, true);
        while self.next_element(&mut first)? {
            let item = match self.str()? {
                Some(Cow::Borrowed(s)) => make(s.into()),
                Some(Cow::Owned(s)) => make(s.into_boxed_str()),
                None => return self.stop("expected a string, found null"),
            };
            match few.get_mut(count) {
                Some(slot) => *slot = Some(item),
                None => more.push(item),
            }
            count += 1;
        }
        let mut out = Vec::with_capacity(count);
        out.extend(few.into_iter().flatten());
        out.append(&mut more);
        Ok(out.into_boxed_slice())
    }
}

/// Whether a bare word is a JSON scalar: `true`, `false`, `null` or a number
/// (`-`, digits without a leading zero, then an optional fraction and exponent).
fn is_scalar(word: &[u8]) -> bool {
    if matches!(word, b"true" | b"false" | b"null") {
        return true;
    }
    let digits = |s: &[u8]| s.iter().take_while(|b| b.is_ascii_digit()).count();
    let mut rest = word.strip_prefix(b"-").unwrap_or(word);
    let int = digits(rest);
    if int == 0 || (int > 1 && rest[0] == b'0') {
        return false;
    }
    rest = &rest[int..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let n = digits(fraction);
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    if let Some(exponent) = rest.strip_prefix(b"e").or_else(|| rest.strip_prefix(b"E")) {
        let exponent = exponent
            .strip_prefix(b"+")
            .or_else(|| exponent.strip_prefix(b"-"))
            .unwrap_or(exponent);
        let n = digits(exponent);
        if n == 0 {
            return false;
        }
        rest = &exponent[n..];
    }
    rest.is_empty()
}

/// serde_json appends " at line L column C"; positions are reported by the caller.
pub(crate) fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_keys_and_skips_values() {
        let json =
            br#" { "a" : [1, {"x": "}"}], "b": "s\"q", "c": null, "d": -1.5e3, "e": ["p", "q"] } "#;
        let mut c = Cursor::new(json);
        assert!(c.object_or_null("an object").unwrap());
        let mut first = true;
        let mut seen = Vec::new();
        while let Some(key) = c.next_key(&mut first).unwrap() {
            match &*key {
                b"b" => assert_eq!(c.string().unwrap().as_deref(), Some("s\"q")),
                b"c" => assert_eq!(c.string().unwrap(), None),
                b"d" => assert_eq!(c.parse::<f64>().unwrap(), -1500.0),
                b"e" => assert_eq!(*c.strings(String::from).unwrap(), ["p", "q"]),
                _ => c.skip().unwrap(),
            }
            seen.push(String::from_utf8(key.to_vec()).unwrap());
        }
        assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn string_lists_keep_their_order_past_the_stack_and_reject_null_items() {
        for n in [0, 1, 8, 9, 20] {
            let items: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
            let json = serde_json::to_string(&items).unwrap();
            let read = Cursor::new(json.as_bytes()).strings(String::from).unwrap();
            assert_eq!(*read, items[..]);
        }
        assert!(
            Cursor::new(b"null")
                .strings(String::from)
                .unwrap()
                .is_empty()
        );
        let escaped = Cursor::new(br#"["a\"b"]"#).strings(String::from).unwrap();
        assert_eq!(*escaped, [r#"a"b"#]);
        assert!(
            Cursor::new(br#"["a", null]"#)
                .strings(String::from)
                .is_err()
        );
    }

    #[test]
    fn stops_name_the_spot() {
        let json = br#"{"a": 1 "b": 2}"#;
        let mut c = Cursor::new(json);
        c.object_or_null("an object").unwrap();
        let mut first = true;
        c.next_key(&mut first).unwrap();
        c.skip().unwrap();
        let stop = c.next_key(&mut first).unwrap_err();
        assert_eq!(stop.offset, 8);
        let mut cut = Cursor::new(br#"{"a": [1, 2"#);
        cut.object_or_null("an object").unwrap();
        cut.next_key(&mut true).unwrap();
        assert_eq!(cut.skip().unwrap_err().offset, 11);
    }

    #[test]
    fn keys_are_read_with_their_escapes_decoded() {
        let json = br#"{"node\u0073": 1, "plain": 2, "a\"b": 3}"#;
        let mut keys = Vec::new();
        let read = Cursor::new(json).each_key("an object", |c, key| {
            keys.push(String::from_utf8(key.to_vec()).unwrap());
            c.skip()
        });
        assert!(read.unwrap());
        assert_eq!(keys, ["nodes", "plain", "a\"b"]);
        for bad in [&b"{\"a\nb\": 1}"[..], b"{\"a\\x\": 1}", b"{\"\x01\": 1}"] {
            let mut c = Cursor::new(bad);
            c.object_or_null("an object").unwrap();
            assert!(
                c.next_key(&mut true).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn raw_control_characters_in_parsed_strings_are_errors() {
        for bad in [&b"\"a\nb\""[..], b"\"tab\there\"", b"\"\x00\"", b"\"\x1f\""] {
            assert!(
                Cursor::new(bad).str().is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let escaped = Cursor::new(br#""a\nb\u0000""#).string().unwrap();
        assert_eq!(escaped.as_deref(), Some("a\nb\0"));
        // Skipped strings are only required to close.
        assert!(Cursor::new(b"\"a\nb\"").skip().is_ok());
    }

    #[test]
    fn skipped_scalars_are_json_scalars_and_brackets_pair_up_in_kind() {
        for good in [
            "true", "false", "null", "0", "-0", "12", "-1.5e3", "2E+8", "0.25", "1e-2",
        ] {
            let mut c = Cursor::new(good.as_bytes());
            assert!(c.skip().is_ok(), "{good}");
            assert_eq!(c.offset(), good.len(), "{good}");
        }
        for bad in [
            "tru",
            "NaN",
            "Infinity",
            "-",
            "01",
            "1.",
            ".5",
            "1e",
            "1e+",
            "nul",
            "truex",
            "0x1",
            "+1",
            "[}",
            r#"{"a": 1]"#,
            "[{]}",
        ] {
            assert!(Cursor::new(bad.as_bytes()).skip().is_err(), "{bad}");
        }
        // The grammar inside a skipped container is not checked.
        assert!(Cursor::new(b"[1 2 3]").skip().is_ok());
    }
}
