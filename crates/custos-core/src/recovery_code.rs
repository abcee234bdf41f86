//! Recovery codes: ten single-use codes that stand in for a lost second factor.
//!
//! `ABCD-EFGH-JKLM-NPQR`: 16 characters from a 32-letter alphabet without look-alikes (no I, O,
//! 0, 1), so 80 random bits each — enough that storing a plain SHA-256 is safe against offline
//! search. Case, spaces and dashes are forgiven when a code is typed back.

use crate::crypto::{TokenHash, sha256};

const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

pub fn generate() -> String {
    let bytes: [u8; 16] = rand::random();
    // 256 is a multiple of 32, so `b % 32` is uniform.
    let chars: Vec<char> = bytes.iter().map(|b| char::from(ALPHABET[usize::from(b % 32)])).collect();
    chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

pub fn hash(code: &str) -> TokenHash {
    let normal: String =
        code.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect();
    TokenHash(sha256(normal.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_documented_shape_and_forgive_case_and_dashes() {
        let c = generate();
        assert_eq!(c.len(), 19);
        assert_eq!(c.matches('-').count(), 3);
        assert!(c.chars().all(|ch| ch == '-' || ALPHABET.contains(&(ch as u8))));
        assert_eq!(hash(&c), hash(&c.to_lowercase().replace('-', " ")));
        assert_ne!(hash(&c), hash(&generate()));
    }
}
