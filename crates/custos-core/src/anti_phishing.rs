//! The anti-phishing code: a phrase the user chooses, printed in every email and SMS custos sends,
//! so a message without it is known to be fake. 4–20 characters of letters, digits, spaces, `-`
//! and `_` (so it survives every mail client and SMS gateway unchanged).

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct AntiPhishingCode(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AntiPhishingCodeError {
    #[error("use 4 to 20 characters")]
    Length,
    #[error("use letters, digits, spaces, - and _ only")]
    Characters,
}

impl AntiPhishingCode {
    pub fn parse(s: &str) -> Result<Self, AntiPhishingCodeError> {
        let s = s.trim();
        let n = s.chars().count();
        if !(4..=20).contains(&n) {
            return Err(AntiPhishingCodeError::Length);
        }
        if !s.chars().all(|c| c.is_alphanumeric() || c == ' ' || c == '-' || c == '_') {
            return Err(AntiPhishingCodeError::Characters);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `bl•••••er`: enough to recognise, not enough to copy into a phishing mail from a screenshot.
pub fn mask(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let n = chars.len();
    chars.iter().enumerate().map(|(i, c)| if i < 2 || i + 2 >= n { *c } else { '•' }).collect()
}

impl fmt::Debug for AntiPhishingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AntiPhishingCode({})", mask(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_4_to_20_safe_characters() {
        assert_eq!(AntiPhishingCode::parse(" blue otter 42 ").unwrap().as_str(), "blue otter 42");
        assert_eq!(AntiPhishingCode::parse("abc"), Err(AntiPhishingCodeError::Length));
        assert_eq!(AntiPhishingCode::parse(&"a".repeat(21)), Err(AntiPhishingCodeError::Length));
        assert_eq!(AntiPhishingCode::parse("<script>"), Err(AntiPhishingCodeError::Characters));
        assert!(AntiPhishingCode::parse("Grüße-42").is_ok());
    }

    #[test]
    fn read_back_codes_are_masked() {
        assert_eq!(mask("blueotter"), "bl•••••er");
        assert_eq!(mask("abcd"), "abcd");
    }
}
