//! Finding where a JSON string or container ends, 64 bytes at a time.
//!
//! Most of a manifest is what selection never reads (SQL, column lists, docs); the reader
//! skips those values with the two functions here instead of parsing them. Each 64-byte
//! block is reduced to bit masks (quotes, backslashes, opening and closing brackets) with
//! SIMD where the CPU has it; escapes and "inside a string" are then derived with integer
//! arithmetic, as simdjson's first stage does. A block that cannot hold the end of the value
//! costs a handful of instructions, whatever it contains.
//!
//! Skipping checks that strings close and that every closing bracket matches the kind of
//! the one it closes (`[` with `]`, `{` with `}`); it does not check the grammar between
//! brackets (a missing comma or a bare word inside a column list passes). The values the
//! reader keeps are parsed strictly.

/// The masks of one 64-byte block: bit `i` describes byte `i`.
#[derive(Clone, Copy)]
struct Masks {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
    /// Bytes with bit 0x20 set: among brackets, the curly ones (`{` `}` against `[` `]`).
    curly: u64,
}

/// Carries what a block needs to know from the blocks before it.
#[derive(Default)]
struct Carry {
    /// The block's first byte follows an unpaired backslash.
    escaped: bool,
    /// The block starts inside a string.
    in_string: bool,
}

const ODD_BITS: u64 = 0xAAAA_AAAA_AAAA_AAAA;

impl Carry {
    /// Bits of the bytes escaped by a backslash (simdjson's `json_escape_scanner`).
    fn escaped(&mut self, backslash: u64) -> u64 {
        let first = self.escaped as u64;
        if backslash == 0 {
            self.escaped = false;
            return first;
        }
        let potential = backslash & !first;
        let maybe_escaped = potential << 1;
        let code = (maybe_escaped | ODD_BITS).wrapping_sub(potential) ^ ODD_BITS;
        let escaped = code ^ (backslash | first);
        self.escaped = (code & backslash) >> 63 == 1;
        escaped
    }

    /// Bits of the bytes that cannot be structure: inside strings (opening quote
    /// included) or escaped by a backslash (which valid JSON has only inside strings).
    fn not_structural(&mut self, m: &Masks) -> u64 {
        let escaped = self.escaped(m.backslash);
        let mut inside = prefix_xor(m.quote & !escaped);
        if self.in_string {
            inside = !inside;
        }
        self.in_string = inside >> 63 == 1;
        inside | escaped
    }
}

/// Bit `i` of the result is the xor of bits `0..=i`.
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// Index of the closing quote of the string whose content starts at `start` (just after
/// the opening quote); `None` when the input ends first.
pub(super) fn string_end(buf: &[u8], start: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { avx2::string_end(buf, start) };
    }
    string_end_with(buf, start, portable_masks)
}

/// Like [`string_end`], and whether the string is plain: no backslash (no escape to
/// decode) and no byte below 0x20 (which JSON forbids in strings). The reader asks this of
/// every key and every string it keeps; a separate pass over them cost a tenth of reading.
pub(super) fn plain_string_end(buf: &[u8], start: usize) -> Option<(usize, bool)> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { avx2::plain_string_end(buf, start) };
    }
    plain_string_end_with(buf, start, portable_masks, portable_controls)
}

/// How skipping a container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ContainerEnd {
    /// Just past the bracket that closes the container.
    At(usize),
    /// The bracket at this index closes one of the other kind (`[1}`).
    Mismatch(usize),
    /// The input ends first.
    Eof,
}

/// Where the object or array that opens at `start` ends.
pub(super) fn container_end(buf: &[u8], start: usize) -> ContainerEnd {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { avx2::container_end(buf, start) };
    }
    container_end_with(buf, start, portable_masks)
}

/// The 64-byte block at `at`: read in place, or padded with spaces into `pad` when the
/// input ends inside it; `None` past the end. Loops call this rather than take a closure
/// per block: a closure is not inlined into the SIMD caller, and a call per block cost
/// a fifth of all skipping.
#[inline(always)]
fn block_at<'b>(buf: &'b [u8], at: usize, pad: &'b mut [u8; 64]) -> Option<&'b [u8; 64]> {
    if at + 64 <= buf.len() {
        return Some(buf[at..at + 64].try_into().expect("64 bytes"));
    }
    if at < buf.len() {
        pad[..buf.len() - at].copy_from_slice(&buf[at..]);
        return Some(pad);
    }
    None
}

#[inline(always)]
fn string_end_with(buf: &[u8], start: usize, masks: impl Fn(&[u8; 64]) -> Masks) -> Option<usize> {
    let mut carry = Carry::default();
    let mut pad = [b' '; 64];
    let mut at = start;
    while let Some(block) = block_at(buf, at, &mut pad) {
        let m = masks(block);
        let quotes = m.quote & !carry.escaped(m.backslash);
        if quotes != 0 {
            let found = at + quotes.trailing_zeros() as usize;
            return (found < buf.len()).then_some(found);
        }
        at += 64;
    }
    None
}

/// The kinds of the brackets open at each depth: bit `l` of a word is level `l` (1:
/// curly), the first 64 levels in one word, deeper ones in a list.
#[derive(Default)]
struct Open {
    depth: usize,
    kinds: u64,
    deeper: Vec<u64>,
}

impl Open {
    /// Takes the bracket at bit `i` of a block; `opens` and `curly` are 0 or 1. Returns 1
    /// when it closes a bracket of the other kind. There is no branch on whether it opens
    /// or closes: the CPU would mispredict that for half of all brackets.
    #[inline(always)]
    fn take(&mut self, opens: u64, curly: u64) -> u64 {
        // An opening bracket sets the kind at the current depth, a closing one reads the
        // kind one level up.
        let level = self.depth + opens as usize - 1;
        let word = match level {
            0..64 => &mut self.kinds,
            _ => self.deeper_word(level),
        };
        let shift = level % 64;
        let before = (*word >> shift) & 1;
        let set = (*word & !(1 << shift)) | (curly << shift);
        *word = if opens == 1 { set } else { *word };
        self.depth = level + opens as usize;
        (1 - opens) & (before ^ curly)
    }

    #[cold]
    fn deeper_word(&mut self, level: usize) -> &mut u64 {
        let i = level / 64 - 1;
        if i >= self.deeper.len() {
            self.deeper.resize(i + 1, 0);
        }
        &mut self.deeper[i]
    }
}

#[inline(always)]
fn plain_string_end_with(
    buf: &[u8],
    start: usize,
    masks: impl Fn(&[u8; 64]) -> Masks,
    controls: impl Fn(&[u8; 64]) -> u64,
) -> Option<(usize, bool)> {
    let mut carry = Carry::default();
    let mut special = 0u64;
    let mut pad = [b' '; 64];
    let mut at = start;
    while let Some(block) = block_at(buf, at, &mut pad) {
        let m = masks(block);
        let quotes = m.quote & !carry.escaped(m.backslash);
        let specials = m.backslash | controls(block);
        if quotes != 0 {
            let before = (quotes & quotes.wrapping_neg()) - 1;
            special |= specials & before;
            let found = at + quotes.trailing_zeros() as usize;
            return (found < buf.len()).then_some((found, special == 0));
        }
        special |= specials;
        at += 64;
    }
    None
}

#[inline(always)]
fn container_end_with(
    buf: &[u8],
    start: usize,
    masks: impl Fn(&[u8; 64]) -> Masks,
) -> ContainerEnd {
    let mut carry = Carry::default();
    let mut open_now = Open::default();
    let mut pad = [b' '; 64];
    let mut at = start;
    while let Some(block) = block_at(buf, at, &mut pad) {
        let m = masks(block);
        let text = carry.not_structural(&m);
        let open = m.open & !text;
        let close = m.close & !text;
        // An empty `[]` or `{}` changes nothing, and such pairs are more than half of a
        // manifest's brackets (55% in mattermost's): they are left out, except the
        // value's own opening bracket.
        let first = if at == start { 1 } else { 0 };
        let empty = open & (close >> 1) & !(m.curly ^ (m.curly >> 1)) & !first;
        let mut brackets = (open | close) & !(empty | empty << 1);
        // Bit `i`: the bracket at `i` closes one of the other kind (looked at only when
        // the value ends or the block is done: mismatches are rare).
        let mut wrong = 0u64;
        while brackets != 0 {
            let i = brackets.trailing_zeros();
            wrong |= open_now.take((open >> i) & 1, (m.curly >> i) & 1) << i;
            if open_now.depth == 0 {
                let end = at + i as usize;
                return match wrong {
                    0 if end < buf.len() => ContainerEnd::At(end + 1),
                    0 => ContainerEnd::Eof,
                    _ => ContainerEnd::Mismatch(at + wrong.trailing_zeros() as usize),
                };
            }
            brackets &= brackets - 1;
        }
        if wrong != 0 {
            return ContainerEnd::Mismatch(at + wrong.trailing_zeros() as usize);
        }
        at += 64;
    }
    ContainerEnd::Eof
}

/// Bytes below 0x20, byte by byte.
#[inline(always)]
fn portable_controls(block: &[u8; 64]) -> u64 {
    let mut controls = 0;
    for (i, &b) in block.iter().enumerate() {
        controls |= ((b < 0x20) as u64) << i;
    }
    controls
}

/// Masks byte by byte, for CPUs without the SIMD path.
#[inline(always)]
fn portable_masks(block: &[u8; 64]) -> Masks {
    let mut m = Masks {
        quote: 0,
        backslash: 0,
        open: 0,
        close: 0,
        curly: 0,
    };
    for (i, &b) in block.iter().enumerate() {
        let bit = 1u64 << i;
        if b & 0x20 != 0 {
            m.curly |= bit;
        }
        match b {
            b'"' => m.quote |= bit,
            b'\\' => m.backslash |= bit,
            b'{' | b'[' => m.open |= bit,
            b'}' | b']' => m.close |= bit,
            _ => {}
        }
    }
    m
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{ContainerEnd, Masks, container_end_with, plain_string_end_with, string_end_with};

    #[target_feature(enable = "avx2")]
    pub(super) fn string_end(buf: &[u8], start: usize) -> Option<usize> {
        string_end_with(buf, start, |b| masks(b))
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn plain_string_end(buf: &[u8], start: usize) -> Option<(usize, bool)> {
        plain_string_end_with(buf, start, |b| masks(b), |b| controls(b))
    }

    /// Bytes below 0x20: those that an unsigned minimum with 0x1f leaves unchanged.
    #[target_feature(enable = "avx2")]
    fn controls(block: &[u8; 64]) -> u64 {
        // SAFETY: both loads read 32 bytes inside the 64-byte block.
        let (lo, hi) = unsafe {
            let p = block.as_ptr() as *const __m256i;
            (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)))
        };
        let low = |v: __m256i| {
            let min = _mm256_min_epu8(v, _mm256_set1_epi8(0x1f));
            _mm256_movemask_epi8(_mm256_cmpeq_epi8(min, v)) as u32 as u64
        };
        low(lo) | low(hi) << 32
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn container_end(buf: &[u8], start: usize) -> ContainerEnd {
        container_end_with(buf, start, |b| masks(b))
    }

    #[target_feature(enable = "avx2")]
    fn masks(block: &[u8; 64]) -> Masks {
        // SAFETY: both loads read 32 bytes inside the 64-byte block.
        let (lo, hi) = unsafe {
            let p = block.as_ptr() as *const __m256i;
            (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)))
        };
        let eq = |v: __m256i, byte: u8| {
            let hit = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(byte as i8));
            _mm256_movemask_epi8(hit) as u32 as u64
        };
        // `[` and `{` differ only in bit 0x20, as do `]` and `}`.
        let folded = |v: __m256i| _mm256_or_si256(v, _mm256_set1_epi8(0x20));
        let (flo, fhi) = (folded(lo), folded(hi));
        // Shifting 16-bit lanes left by 2 moves every byte's bit 0x20 to its top bit.
        let bit5 = |v: __m256i| _mm256_movemask_epi8(_mm256_slli_epi16(v, 2)) as u32 as u64;
        Masks {
            quote: eq(lo, b'"') | eq(hi, b'"') << 32,
            backslash: eq(lo, b'\\') | eq(hi, b'\\') << 32,
            open: eq(flo, b'{') | eq(fhi, b'{') << 32,
            close: eq(flo, b'}') | eq(fhi, b'}') << 32,
            curly: bit5(lo) | bit5(hi) << 32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The obvious byte-by-byte answer.
    fn reference_string_end(buf: &[u8], start: usize) -> Option<usize> {
        let mut i = start;
        while i < buf.len() {
            match buf[i] {
                b'\\' => i += 2,
                b'"' => return Some(i),
                _ => i += 1,
            }
        }
        None
    }

    fn reference_plain_string_end(buf: &[u8], start: usize) -> Option<(usize, bool)> {
        let end = reference_string_end(buf, start)?;
        let plain = !buf[start..end].iter().any(|&b| b == b'\\' || b < 0x20);
        Some((end, plain))
    }

    fn reference_container_end(buf: &[u8], start: usize) -> ContainerEnd {
        let (mut open, mut i) = (Vec::new(), start);
        while i < buf.len() {
            match buf[i] {
                // Invalid outside strings; escapes apply there too, as in simdjson.
                b'\\' => i += 1,
                b'"' => match reference_string_end(buf, i + 1) {
                    Some(end) => i = end,
                    None => return ContainerEnd::Eof,
                },
                b @ (b'{' | b'[') => open.push(b),
                b @ (b'}' | b']') => {
                    if open.pop() != Some(b - 2) {
                        return ContainerEnd::Mismatch(i);
                    }
                    if open.is_empty() {
                        return ContainerEnd::At(i + 1);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        ContainerEnd::Eof
    }

    fn both<T: PartialEq + std::fmt::Debug>(
        fast: impl Fn(&[u8], usize) -> T,
        portable: impl Fn(&[u8], usize) -> T,
        reference: impl Fn(&[u8], usize) -> T,
        buf: &[u8],
        start: usize,
    ) {
        let want = reference(buf, start);
        assert_eq!(fast(buf, start), want, "dispatching path");
        assert_eq!(portable(buf, start), want, "portable path");
    }

    /// Bytes that matter, plus filler, so that runs of backslashes and quotes cross blocks.
    fn json_ish() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            4 => Just(b'a'),
            3 => Just(b'\\'),
            2 => Just(b'"'),
            1 => Just(b'{'),
            1 => Just(b'}'),
            1 => Just(b'['),
            1 => Just(b']'),
        ];
        proptest::collection::vec(byte, 0..400)
    }

    /// Well-nested brackets of both kinds (up to 150 deep, past the 64 kept in one word),
    /// with strings and filler between them, and sometimes one bracket flipped in kind.
    fn nested() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            3 => Just(&b"a"[..]),
            1 => Just(&b"\"\\\"]}\""[..]),
            1 => Just(&b"\"[\""[..]),
            1 => Just(&b"{}"[..]),
            1 => Just(&b"[]"[..]),
        ];
        (
            proptest::collection::vec((any::<bool>(), 1usize..150, piece), 1..6),
            proptest::option::of(any::<prop::sample::Index>()),
        )
            .prop_map(|(runs, flip)| {
                let mut buf = Vec::new();
                let mut stack = Vec::new();
                for (curly, depth, filler) in runs {
                    for d in 0..depth {
                        let open = if curly ^ (d % 3 == 0) { b'{' } else { b'[' };
                        buf.push(open);
                        buf.extend_from_slice(filler);
                        stack.push(open + 2);
                    }
                    while stack.len() > 1 {
                        buf.push(stack.pop().unwrap());
                        buf.extend_from_slice(filler);
                    }
                }
                buf.extend(stack.into_iter().rev());
                if let Some(flip) = flip {
                    let brackets: Vec<usize> = (0..buf.len())
                        .filter(|&i| matches!(buf[i], b'}' | b']'))
                        .collect();
                    if !brackets.is_empty() {
                        buf[brackets[flip.index(brackets.len())]] ^= 0x20;
                    }
                }
                buf
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(600))]

        #[test]
        fn strings_end_where_byte_by_byte_says(tail in json_ish(), lead in 0usize..130) {
            let mut buf = vec![b'x'; lead];
            buf.extend_from_slice(&tail);
            both(string_end, |b, s| string_end_with(b, s, portable_masks), reference_string_end, &buf, lead);
        }

        #[test]
        fn plain_strings_are_told_where_byte_by_byte_says(tail in json_ish(), controls in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..0x20), 0..3), lead in 0usize..130) {
            let mut buf = vec![b'x'; lead];
            buf.extend_from_slice(&tail);
            for (at, byte) in controls {
                if !buf.is_empty() {
                    let i = at.index(buf.len());
                    buf[i] = byte;
                }
            }
            both(plain_string_end, |b, s| plain_string_end_with(b, s, portable_masks, portable_controls), reference_plain_string_end, &buf, lead);
        }

        #[test]
        fn containers_end_where_byte_by_byte_says(tail in json_ish(), lead in 0usize..130) {
            let mut buf = vec![b' '; lead];
            buf.push(b'{');
            buf.extend_from_slice(&tail);
            both(container_end, |b, s| container_end_with(b, s, portable_masks), reference_container_end, &buf, lead);
        }

        #[test]
        fn nested_containers_end_where_byte_by_byte_says(body in nested(), lead in 0usize..130) {
            let mut buf = vec![b' '; lead];
            buf.extend_from_slice(&body);
            both(container_end, |b, s| container_end_with(b, s, portable_masks), reference_container_end, &buf, lead);
        }
    }

    #[test]
    fn long_escaped_runs_and_nested_values() {
        let mut json = String::from("{\"sql\": \"");
        json.push_str(&"select \\\"a\\\\\\\" from b\\n".repeat(50));
        json.push_str("\", \"columns\": {\"a\": [1, {\"b\": \"]}\"}]}}");
        let buf = json.as_bytes();
        assert_eq!(container_end(buf, 0), ContainerEnd::At(buf.len()));
        assert_eq!(container_end(&buf[..buf.len() - 1], 0), ContainerEnd::Eof);
        let sql_start = 9;
        let end = string_end(buf, sql_start).unwrap();
        assert_eq!(&json[end..end + 4], "\", \"");
    }

    #[test]
    fn a_bracket_of_the_other_kind_is_a_mismatch_at_any_depth() {
        assert_eq!(container_end(b"{}", 0), ContainerEnd::At(2));
        assert_eq!(container_end(b"[[]{}]", 0), ContainerEnd::At(6));
        assert_eq!(container_end(b"[[]{]]", 0), ContainerEnd::Mismatch(4));
        assert_eq!(container_end(b"[}", 0), ContainerEnd::Mismatch(1));
        assert_eq!(container_end(br#"{"a": 1]"#, 0), ContainerEnd::Mismatch(7));
        assert_eq!(
            container_end(br#"[{"]": 1]]"#, 0),
            ContainerEnd::Mismatch(8)
        );
        for depth in [63, 64, 65, 128, 129, 300] {
            let mut deep = "[".repeat(depth);
            deep.push_str(&"]".repeat(depth));
            assert_eq!(
                container_end(deep.as_bytes(), 0),
                ContainerEnd::At(2 * depth)
            );
            let mut wrong = deep.clone().into_bytes();
            wrong[2 * depth - 1] = b'}';
            assert_eq!(
                container_end(&wrong, 0),
                ContainerEnd::Mismatch(2 * depth - 1)
            );
        }
    }
}
