//! Phone numbers in E.164 form (`+` and 8 to 15 digits), parsed once at the edge.

use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// Accepts `+4915112345678`, also written with spaces, dashes, dots or parentheses.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let digits: String =
            s.strip_prefix('+')?.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
        (digits.len() >= 8
            && digits.len() <= 15
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0'))
        .then(|| Self(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `+49•••••••••78`: enough for the owner to recognise.
pub fn mask(phone: &str) -> String {
    let n = phone.chars().count();
    phone.chars().enumerate().map(|(i, c)| if i < 3 || i + 2 >= n { c } else { '•' }).collect()
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", mask(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_normalised_to_e164() {
        assert_eq!(Phone::parse("+49 151 1234-5678").unwrap().as_str(), "+4915112345678");
        assert_eq!(Phone::parse("+1 (415) 555.0100").unwrap().as_str(), "+14155550100");
        for bad in ["4915112345678", "+49", "+0151123456789", "+49151abc45678", "+1234567890123456", ""] {
            assert!(Phone::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(mask("+4915112345678"), "+49•••••••••78");
    }
}
