//! Money is exact (DESIGN principle 7): integers of atomic units (satoshi, wei, …) with the asset's
//! decimals, parsed from and formatted to decimal strings at the edge. Never floats.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount in atomic units. `u128` holds any ERC-20 balance (18 decimals) with room to spare.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Amount(u128);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("an amount is a decimal number such as 0.25")]
    NotANumber,
    #[error("amounts cannot be negative")]
    Negative,
    #[error("this asset has at most {0} decimal places")]
    TooManyDecimals(u8),
    #[error("the amount is too large")]
    Overflow,
    #[error("the amount must be more than zero")]
    Zero,
}

impl Amount {
    pub const ZERO: Amount = Amount(0);

    pub const fn from_atomic(units: u128) -> Self {
        Self(units)
    }

    pub const fn atomic(self) -> u128 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    /// Parses `"12.345"` for an asset with `decimals` decimal places. Accepts digits and at most
    /// one point; refuses signs, exponents, separators, whitespace inside, and excess precision
    /// (rounding money silently is how balances drift).
    pub fn parse(s: &str, decimals: u8) -> Result<Amount, AmountError> {
        let s = s.trim();
        if s.starts_with('-') {
            return Err(AmountError::Negative);
        }
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && frac.is_empty())
            || !digits(whole)
            || !digits(frac)
            || (s.contains('.') && frac.is_empty())
        {
            return Err(AmountError::NotANumber);
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > usize::from(decimals) {
            return Err(AmountError::TooManyDecimals(decimals));
        }
        let scale = 10u128.checked_pow(u32::from(decimals)).ok_or(AmountError::Overflow)?;
        let whole: u128 =
            if whole.is_empty() { 0 } else { whole.parse().map_err(|_| AmountError::Overflow)? };
        let frac_units: u128 = if frac.is_empty() {
            0
        } else {
            let f: u128 = frac.parse().map_err(|_| AmountError::Overflow)?;
            f * 10u128.pow(u32::from(decimals) - frac.len() as u32)
        };
        whole
            .checked_mul(scale)
            .and_then(|w| w.checked_add(frac_units))
            .map(Amount)
            .ok_or(AmountError::Overflow)
    }

    /// Like [`Amount::parse`], and refuses zero.
    pub fn parse_positive(s: &str, decimals: u8) -> Result<Amount, AmountError> {
        let a = Self::parse(s, decimals)?;
        if a.is_zero() { Err(AmountError::Zero) } else { Ok(a) }
    }

    /// `"12.345"`: no trailing zeros past the point, no point for whole amounts.
    pub fn format(self, decimals: u8) -> String {
        let scale = 10u128.pow(u32::from(decimals));
        let (whole, frac) = (self.0 / scale, self.0 % scale);
        if frac == 0 {
            return whole.to_string();
        }
        let frac = format!("{frac:0width$}", width = usize::from(decimals));
        format!("{whole}.{}", frac.trim_end_matches('0'))
    }

    /// The storage form (decimal text on SQLite, `NUMERIC(39,0)` on PostgreSQL): atomic units.
    pub fn to_storage(self) -> String {
        self.0.to_string()
    }

    pub fn from_storage(s: &str) -> Option<Amount> {
        s.parse().ok().map(Amount)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decimal_strings_parse_to_atomic_units() {
        assert_eq!(Amount::parse("1", 8), Ok(Amount(100_000_000)));
        assert_eq!(Amount::parse("0.00000001", 8), Ok(Amount(1)));
        assert_eq!(Amount::parse("12.50", 2), Ok(Amount(1_250)));
        assert_eq!(Amount::parse(".5", 1), Ok(Amount(5)));
        assert_eq!(Amount::parse("1.000000000000000001", 18), Ok(Amount(1_000_000_000_000_000_001)));
    }

    #[test]
    fn bad_amounts_are_refused_with_a_reason() {
        assert_eq!(Amount::parse("-1", 8), Err(AmountError::Negative));
        assert_eq!(Amount::parse("0.000000001", 8), Err(AmountError::TooManyDecimals(8)));
        for bad in ["", ".", "1.", "1e5", "1,5", "+1", "0x10", "1 000", "NaN", "１"] {
            assert_eq!(Amount::parse(bad, 8), Err(AmountError::NotANumber), "{bad:?}");
        }
        assert_eq!(Amount::parse("340282366920938463463374607431768211456", 0), Err(AmountError::Overflow));
        assert_eq!(Amount::parse("999999999999999999999999", 18), Err(AmountError::Overflow));
        assert_eq!(Amount::parse_positive("0.000", 8), Err(AmountError::Zero));
    }

    #[test]
    fn amounts_format_without_noise() {
        assert_eq!(Amount(150_000_000).format(8), "1.5");
        assert_eq!(Amount(100_000_000).format(8), "1");
        assert_eq!(Amount(1).format(18), "0.000000000000000001");
        assert_eq!(Amount(0).format(6), "0");
    }

    proptest! {
        #[test]
        fn formatting_and_parsing_round_trip(units in any::<u64>(), decimals in 0u8..=18) {
            let a = Amount(u128::from(units));
            prop_assert_eq!(Amount::parse(&a.format(decimals), decimals), Ok(a));
            prop_assert_eq!(Amount::from_storage(&a.to_storage()), Some(a));
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,40}", decimals in 0u8..=30) {
            let _ = Amount::parse(&s, decimals);
        }
    }
}
