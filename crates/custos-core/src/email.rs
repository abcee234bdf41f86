//! Email addresses, parsed once at the edge.
//!
//! Rules: ASCII only (a Cyrillic "а" that looks like a Latin "a" is refused, so no two accounts can
//! have addresses that look the same), one `@`, a local part of RFC 5322 `atext` and single dots,
//! at most 64 bytes; a domain of at least two LDH labels (internationalised domains in their
//! `xn--` form), lower-cased; at most 254 bytes in all (RFC 5321 §4.5.3.1).

use std::fmt;

use serde::{Serialize, Serializer};

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email {
    /// As given, with the domain lower-cased: the address we send mail to.
    address: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("an email address may only contain ASCII characters")]
    NotAscii,
    #[error("that is not an email address")]
    Malformed,
    #[error("an email address is at most 254 characters")]
    TooLong,
}

impl Email {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let s = input.trim();
        if !s.is_ascii() {
            return Err(EmailError::NotAscii);
        }
        if s.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = s.rsplit_once('@').ok_or(EmailError::Malformed)?;
        if !valid_local(local) || !valid_domain(domain) {
            return Err(EmailError::Malformed);
        }
        Ok(Self { address: format!("{local}@{}", domain.to_ascii_lowercase()) })
    }

    pub fn as_str(&self) -> &str {
        &self.address
    }

    /// The uniqueness key: the whole address case-folded. Mailbox providers treat local parts
    /// case-insensitively in practice, and two accounts differing only in case would be a trap.
    pub fn key(&self) -> String {
        self.address.to_ascii_lowercase()
    }

    /// `a***@example.com`, for places that should confirm an address without disclosing it.
    pub fn masked(&self) -> String {
        let (local, domain) = self.address.rsplit_once('@').unwrap_or((&self.address, ""));
        let first = local.chars().next().unwrap_or('*');
        format!("{first}***@{domain}")
    }
}

fn valid_local(local: &str) -> bool {
    const SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~";
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || SPECIALS.contains(&b))
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_alphabetic()) || tld.starts_with("xn--"))
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.masked())
    }
}

impl Serialize for Email {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_domain_is_lower_cased_and_the_local_part_kept() {
        let e = Email::parse("  Alice.Smith+x@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "Alice.Smith+x@example.com");
        assert_eq!(e.key(), "alice.smith+x@example.com");
        assert_eq!(e.masked(), "A***@example.com");
    }

    #[test]
    fn confusables_and_malformed_addresses_are_refused() {
        assert_eq!(Email::parse("аlice@example.com"), Err(EmailError::NotAscii)); // Cyrillic а
        assert_eq!(Email::parse("alice@exаmple.com"), Err(EmailError::NotAscii));
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@localhost",
            "a..b@example.com",
            ".a@example.com",
            "alice@-example.com",
            "alice@example.c0m",
            "al ice@example.com",
            "alice@exa_mple.com",
            "a\"b@example.com",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Malformed), "{bad}");
        }
        assert_eq!(Email::parse(&format!("{}@example.com", "a".repeat(250))), Err(EmailError::TooLong));
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_is_idempotent(s in "\\PC{0,80}") {
            if let Ok(e) = Email::parse(&s) {
                prop_assert_eq!(Email::parse(e.as_str()).unwrap(), e);
            }
        }
    }
}
