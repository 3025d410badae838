//! Finding where a JSON string or container ends, 64 bytes at a time.
//!
//! Most of a manifest is what selection never reads (SQL, column lists, docs); the reader
//! skips those values with the two functions here instead of parsing them. Each 64-byte
//! block is reduced to bit masks (quotes, backslashes, opening and closing brackets) with
//! SIMD where the CPU has it; escapes and "inside a string" are then derived with integer
//! arithmetic, as simdjson's first stage does. A block that cannot hold the end of the value
//! costs a handful of instructions, whatever it contains.
//!
//! Skipping checks that brackets balance and strings close; it does not check the grammar
//! inside skipped values (a missing comma inside a column's description passes). The values
//! the reader keeps are parsed strictly.

/// The masks of one 64-byte block: bit `i` describes byte `i`.
#[derive(Clone, Copy)]
struct Masks {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
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
pub fn string_end(buf: &[u8], start: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { avx2::string_end(buf, start) };
    }
    string_end_with(buf, start, portable_masks)
}

/// Index just past the bracket closing the object or array that opens at `start`;
/// `None` when the input ends first.
pub fn container_end(buf: &[u8], start: usize) -> Option<usize> {
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

#[inline(always)]
fn container_end_with(
    buf: &[u8],
    start: usize,
    masks: impl Fn(&[u8; 64]) -> Masks,
) -> Option<usize> {
    let mut carry = Carry::default();
    let mut depth: u32 = 0;
    let mut pad = [b' '; 64];
    let mut at = start;
    while let Some(block) = block_at(buf, at, &mut pad) {
        let m = masks(block);
        let text = carry.not_structural(&m);
        let open = m.open & !text;
        let close = m.close & !text;
        // The value cannot end in a block with fewer closings than open brackets.
        if close.count_ones() < depth {
            depth = depth + open.count_ones() - close.count_ones();
            at += 64;
            continue;
        }
        let mut brackets = open | close;
        while brackets != 0 {
            let bit = brackets & brackets.wrapping_neg();
            if open & bit != 0 {
                depth += 1;
            } else {
                depth -= 1;
                if depth == 0 {
                    let found = at + bit.trailing_zeros() as usize + 1;
                    return (found <= buf.len()).then_some(found);
                }
            }
            brackets &= brackets - 1;
        }
        at += 64;
    }
    None
}

/// Masks byte by byte, for CPUs without the SIMD path.
#[inline(always)]
fn portable_masks(block: &[u8; 64]) -> Masks {
    let mut m = Masks {
        quote: 0,
        backslash: 0,
        open: 0,
        close: 0,
    };
    for (i, &b) in block.iter().enumerate() {
        let bit = 1u64 << i;
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

    use super::{Masks, container_end_with, string_end_with};

    #[target_feature(enable = "avx2")]
    pub fn string_end(buf: &[u8], start: usize) -> Option<usize> {
        string_end_with(buf, start, |b| masks(b))
    }

    #[target_feature(enable = "avx2")]
    pub fn container_end(buf: &[u8], start: usize) -> Option<usize> {
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
        Masks {
            quote: eq(lo, b'"') | eq(hi, b'"') << 32,
            backslash: eq(lo, b'\\') | eq(hi, b'\\') << 32,
            open: eq(flo, b'{') | eq(fhi, b'{') << 32,
            close: eq(flo, b'}') | eq(fhi, b'}') << 32,
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

    fn reference_container_end(buf: &[u8], start: usize) -> Option<usize> {
        let (mut depth, mut i) = (0u32, start);
        while i < buf.len() {
            match buf[i] {
                // Invalid outside strings; escapes apply there too, as in simdjson.
                b'\\' => i += 1,
                b'"' => i = reference_string_end(buf, i + 1)?,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        None
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(600))]

        #[test]
        fn strings_end_where_byte_by_byte_says(tail in json_ish(), lead in 0usize..130) {
            let mut buf = vec![b'x'; lead];
            buf.extend_from_slice(&tail);
            both(string_end, |b, s| string_end_with(b, s, portable_masks), reference_string_end, &buf, lead);
        }

        #[test]
        fn containers_end_where_byte_by_byte_says(tail in json_ish(), lead in 0usize..130) {
            let mut buf = vec![b' '; lead];
            buf.push(b'{');
            buf.extend_from_slice(&tail);
            both(container_end, |b, s| container_end_with(b, s, portable_masks), reference_container_end, &buf, lead);
        }
    }

    #[test]
    fn long_escaped_runs_and_nested_values() {
        let mut json = String::from("{\"sql\": \"");
        json.push_str(&"select \\\"a\\\\\\\" from b\\n".repeat(50));
        json.push_str("\", \"columns\": {\"a\": [1, {\"b\": \"]}\"}]}}");
        let buf = json.as_bytes();
        assert_eq!(container_end(buf, 0), Some(buf.len()));
        assert_eq!(container_end(&buf[..buf.len() - 1], 0), None);
        let sql_start = 9;
        let end = string_end(buf, sql_start).unwrap();
        assert_eq!(&json[end..end + 4], "\", \"");
    }
}
