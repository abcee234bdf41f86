//! Balances and the moves between their two parts. A balance is `available` (may be spent) and
//! `locked` (reserved by a withdrawal or transfer that has not left yet). Every change is one of
//! the [`Move`]s below, checked before anything is written: a move that would overdraw or
//! overflow fails and leaves the balance as it was. The store records each applied move as a
//! ledger entry with its signed deltas; money leaves the platform only through [`Move::Settle`].

use serde::{Deserialize, Serialize};

use crate::money::Amount;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Balance {
    pub available: Amount,
    pub locked: Amount,
}

/// What a ledger entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Funds arrived from outside (integration API or demo CLI).
    Deposit,
    /// A trade settled on the exchange: a credit or a debit of available funds.
    TradeFill,
    /// A fee the exchange charged outside a withdrawal.
    Fee,
    /// Amount and fee of a withdrawal reserved when it was requested.
    WithdrawalReserved,
    /// A reservation given back (cancelled, rejected, failed, intercepted).
    WithdrawalReleased,
    /// The wallet broadcast it: the reserved amount and fee left the platform.
    WithdrawalSent,
    /// An internal transfer reserved on the sender's side.
    TransferReserved,
    TransferReleased,
    /// An internal transfer settled: out of the sender's reservation…
    TransferOut,
    /// …into the receiver's available balance.
    TransferIn,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deposit => "deposit",
            Self::TradeFill => "trade_fill",
            Self::Fee => "fee",
            Self::WithdrawalReserved => "withdrawal_reserved",
            Self::WithdrawalReleased => "withdrawal_released",
            Self::WithdrawalSent => "withdrawal_sent",
            Self::TransferReserved => "transfer_reserved",
            Self::TransferReleased => "transfer_released",
            Self::TransferOut => "transfer_out",
            Self::TransferIn => "transfer_in",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        use EntryKind::*;
        [
            Deposit,
            TradeFill,
            Fee,
            WithdrawalReserved,
            WithdrawalReleased,
            WithdrawalSent,
            TransferReserved,
            TransferReleased,
            TransferOut,
            TransferIn,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One change to one balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// Money in: available grows.
    Credit(Amount),
    /// Money out of available, straight away (a trade's debit side, a fee).
    Debit(Amount),
    /// available → locked.
    Reserve(Amount),
    /// locked → available.
    Release(Amount),
    /// locked → gone (it left the account).
    Settle(Amount),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("the available balance does not cover this")]
    InsufficientAvailable,
    #[error("the locked balance does not cover this (a reservation was released twice?)")]
    InsufficientLocked,
    #[error("the balance would overflow")]
    Overflow,
}

/// A signed change, as the ledger entry stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delta {
    pub available: Signed,
    pub locked: Signed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed {
    Plus(Amount),
    Minus(Amount),
}

impl Signed {
    pub const ZERO: Signed = Signed::Plus(Amount::ZERO);

    /// `"123"` or `"-123"`: how entries are stored (text on SQLite, NUMERIC on PostgreSQL).
    pub fn to_storage(self) -> String {
        match self {
            Signed::Plus(a) => a.to_storage(),
            Signed::Minus(a) if a.is_zero() => "0".into(),
            Signed::Minus(a) => format!("-{}", a.to_storage()),
        }
    }

    pub fn from_storage(s: &str) -> Option<Self> {
        match s.strip_prefix('-') {
            Some(rest) => Amount::from_storage(rest).map(Signed::Minus),
            None => Amount::from_storage(s).map(Signed::Plus),
        }
    }
}

impl Balance {
    /// The balance after `m`, or why it cannot happen (the balance itself is untouched).
    pub fn apply(self, m: Move) -> Result<Balance, LedgerError> {
        let Balance { available, locked } = self;
        let take = |from: Amount, a: Amount, e: LedgerError| from.checked_sub(a).ok_or(e);
        let give = |to: Amount, a: Amount| to.checked_add(a).ok_or(LedgerError::Overflow);
        Ok(match m {
            Move::Credit(a) => Balance { available: give(available, a)?, locked },
            Move::Debit(a) => {
                Balance { available: take(available, a, LedgerError::InsufficientAvailable)?, locked }
            }
            Move::Reserve(a) => Balance {
                available: take(available, a, LedgerError::InsufficientAvailable)?,
                locked: give(locked, a)?,
            },
            Move::Release(a) => Balance {
                available: give(available, a)?,
                locked: take(locked, a, LedgerError::InsufficientLocked)?,
            },
            Move::Settle(a) => {
                Balance { available, locked: take(locked, a, LedgerError::InsufficientLocked)? }
            }
        })
    }

    pub fn total(self) -> Option<Amount> {
        self.available.checked_add(self.locked)
    }
}

impl Move {
    pub fn delta(self) -> Delta {
        use Signed::*;
        match self {
            Move::Credit(a) => Delta { available: Plus(a), locked: Signed::ZERO },
            Move::Debit(a) => Delta { available: Minus(a), locked: Signed::ZERO },
            Move::Reserve(a) => Delta { available: Minus(a), locked: Plus(a) },
            Move::Release(a) => Delta { available: Plus(a), locked: Minus(a) },
            Move::Settle(a) => Delta { available: Signed::ZERO, locked: Minus(a) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn amt(n: u128) -> Amount {
        Amount::from_atomic(n)
    }

    #[test]
    fn a_reservation_moves_between_the_parts_and_settling_takes_it_out() {
        let b = Balance::default().apply(Move::Credit(amt(100))).unwrap();
        let b = b.apply(Move::Reserve(amt(30))).unwrap();
        assert_eq!(b, Balance { available: amt(70), locked: amt(30) });
        assert_eq!(b.apply(Move::Release(amt(30))).unwrap().total(), Some(amt(100)));
        assert_eq!(b.apply(Move::Settle(amt(30))).unwrap(), Balance { available: amt(70), locked: amt(0) });
    }

    #[test]
    fn overdrawing_either_part_fails() {
        let b = Balance { available: amt(5), locked: amt(5) };
        assert_eq!(b.apply(Move::Reserve(amt(6))), Err(LedgerError::InsufficientAvailable));
        assert_eq!(b.apply(Move::Debit(amt(6))), Err(LedgerError::InsufficientAvailable));
        assert_eq!(b.apply(Move::Release(amt(6))), Err(LedgerError::InsufficientLocked));
        assert_eq!(b.apply(Move::Settle(amt(6))), Err(LedgerError::InsufficientLocked));
        let full = Balance { available: Amount::from_atomic(u128::MAX), locked: amt(1) };
        assert_eq!(full.apply(Move::Credit(amt(1))), Err(LedgerError::Overflow));
        assert_eq!(full.apply(Move::Release(amt(1))), Err(LedgerError::Overflow));
    }

    #[test]
    fn signed_deltas_round_trip_through_storage() {
        for s in [Signed::Plus(amt(0)), Signed::Plus(amt(12)), Signed::Minus(amt(12))] {
            assert_eq!(Signed::from_storage(&s.to_storage()), Some(s));
        }
        assert_eq!(Signed::Minus(amt(0)).to_storage(), "0");
        assert_eq!(Signed::from_storage("-"), None);
        assert_eq!(Signed::from_storage("--1"), None);
    }

    fn moves() -> impl Strategy<Value = (usize, Move)> {
        let a = 0u128..1_000;
        (
            0usize..3,
            prop_oneof![
                a.clone().prop_map(|n| Move::Credit(amt(n))),
                a.clone().prop_map(|n| Move::Debit(amt(n))),
                a.clone().prop_map(|n| Move::Reserve(amt(n))),
                a.clone().prop_map(|n| Move::Release(amt(n))),
                a.prop_map(|n| Move::Settle(amt(n))),
            ],
        )
    }

    proptest! {
        /// Conservation: whatever sequence of moves is tried (failures included), the money held
        /// equals what came in minus what went out, and a failed move changes nothing.
        #[test]
        fn balances_are_conserved_across_any_sequence(seq in prop::collection::vec(moves(), 0..200)) {
            let mut balances = [Balance::default(); 3];
            let (mut came_in, mut went_out) = (0u128, 0u128);
            for (who, m) in seq {
                let before = balances[who];
                match before.apply(m) {
                    Ok(after) => {
                        balances[who] = after;
                        match m {
                            Move::Credit(a) => came_in += a.atomic(),
                            Move::Debit(a) | Move::Settle(a) => went_out += a.atomic(),
                            Move::Reserve(_) | Move::Release(_) => {}
                        }
                        prop_assert_eq!(
                            after.total().unwrap().atomic() as i128 - before.total().unwrap().atomic() as i128,
                            match m {
                                Move::Credit(a) => a.atomic() as i128,
                                Move::Debit(a) | Move::Settle(a) => -(a.atomic() as i128),
                                _ => 0,
                            }
                        );
                    }
                    Err(_) => prop_assert_eq!(balances[who], before),
                }
            }
            let held: u128 = balances.iter().map(|b| b.total().unwrap().atomic()).sum();
            prop_assert_eq!(held, came_in - went_out);
        }
    }
}
