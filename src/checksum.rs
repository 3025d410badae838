//! The checksums Cloud Storage keeps for every object, as dagship compares them: MD5 in hex
//! (and in base64, as the API writes it), and CRC32C in base64 (all a composite object has).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use md5::{Digest, Md5};

pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

pub fn md5_b64(bytes: &[u8]) -> String {
    B64.encode(Md5::digest(bytes))
}

pub fn crc32c_b64(bytes: &[u8]) -> String {
    B64.encode(crc32c::crc32c(bytes).to_be_bytes())
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_as_the_api_writes_them() {
        // CRC32C("hello world") = 0xc99465aa; MD5 = 5eb63bbb...
        assert_eq!(crc32c_b64(b"hello world"), "yZRlqg==");
        assert_eq!(md5_b64(b"hello world"), "XrY7u+Ae7tCTyyK7j1rNww==");
        assert_eq!(md5_hex(b"hello world"), "5eb63bbbe01eeed093cb22bb8f5acdc3");
    }
}
