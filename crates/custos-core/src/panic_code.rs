//! The offline panic code: written down (or printed) once, it freezes the account from anywhere
//! without a session, an email inbox or a phone — and does nothing else (principle 1: it only
//! tightens, so it needs no step-up to use; making one needs an aal2 step-up).
//!
//! `ABCD-EFGH-JKLM-NPQR-STUV`: 20 characters from the recovery codes' 32-letter alphabet without
//! look-alikes, so 100 random bits — enough that a plain SHA-256 at rest resists offline search.
//! Case, spaces and dashes are forgiven when it is typed back. The hash is domain-separated, so a
//! panic code never equals a recovery code's hash.

use crate::crypto::{TokenHash, sha256};

const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const CHARS: usize = 20;

pub fn generate() -> String {
    let bytes: [u8; CHARS] = rand::random();
    // 256 is a multiple of 32, so `b % 32` is uniform.
    let chars: Vec<char> = bytes.iter().map(|b| char::from(ALPHABET[usize::from(b % 32)])).collect();
    chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

/// The hash of a typed code, or `None` when it cannot be one (wrong length or characters), so
/// garbage is refused without a lookup.
pub fn hash(typed: &str) -> Option<TokenHash> {
    if typed.len() > 64 {
        return None;
    }
    let normal: String =
        typed.chars().filter(|c| !matches!(c, '-' | ' ')).map(|c| c.to_ascii_uppercase()).collect();
    if normal.len() != CHARS || !normal.bytes().all(|b| ALPHABET.contains(&b)) {
        return None;
    }
    let mut input = b"custos-panic-code:".to_vec();
    input.extend_from_slice(normal.as_bytes());
    Some(TokenHash(sha256(&input)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_carry_100_bits_and_forgive_case_spaces_and_dashes() {
        let c = generate();
        assert_eq!(c.len(), 24);
        assert_eq!(c.matches('-').count(), 4);
        assert_eq!(hash(&c), hash(&c.to_lowercase().replace('-', " ")));
        assert!(hash(&c).is_some());
        assert_ne!(hash(&c), hash(&generate()));
    }

    #[test]
    fn garbage_is_not_a_code() {
        assert_eq!(hash(""), None);
        assert_eq!(hash("ABCD-EFGH-JKLM-NPQR"), None, "a recovery code's shape is too short");
        assert_eq!(hash("ABCD-EFGH-JKLM-NPQR-STU0"), None, "0 is not in the alphabet");
        assert_eq!(hash(&"A".repeat(100)), None);
        assert_ne!(
            hash("ABCD-EFGH-JKLM-NPQR-STUV").map(|h| h.0),
            Some(crate::recovery_code::hash("ABCD-EFGH-JKLM-NPQR-STUV").0)
        );
    }
}
