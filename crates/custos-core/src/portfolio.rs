//! Portfolio value and price moves, for the diagnosis's third benign explanation: "perceived
//! balance reductions resulting from market volatility". Prices come from a feed (simulated in
//! demo mode, pushed through the integration API in production) as exact decimal quotes with
//! [`QUOTE_DECIMALS`] places per whole unit of an asset; values are integers, never floats.

use crate::Timestamp;
use crate::ledger::Signed;
use crate::money::Amount;

/// Quotes (USD by convention) carry six decimal places.
pub const QUOTE_DECIMALS: u8 = 6;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricePoint {
    pub at: Timestamp,
    pub asset: String,
    /// Quote units (with [`QUOTE_DECIMALS`]) per whole unit of the asset.
    pub price: Amount,
}

/// One asset of the account: today's balance and the ledger changes that led to it, so the amount
/// held at any instant of the window can be rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub asset: String,
    pub decimals: u8,
    /// Available plus locked, now.
    pub now: Amount,
    /// Balance changes (available and locked alike) with their times.
    pub changes: Vec<(Timestamp, Signed)>,
}

impl Holding {
    /// The amount held just after `at` (changes later than `at` undone).
    pub fn at(&self, at: Timestamp) -> Option<Amount> {
        let later: Vec<Signed> = self.changes.iter().filter(|(t, _)| *t > at).map(|(_, c)| *c).collect();
        before(self.now, &later)
    }
}

/// A fall in the quote value of a holding that prices alone explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketDrop {
    pub asset: String,
    pub held: String,
    pub from_at: Timestamp,
    pub from_price: String,
    pub to_at: Timestamp,
    pub to_price: String,
    /// Value lost, in quote units, formatted.
    pub lost: String,
}

/// The quote value of `amount` (atomic units with `decimals`) at `price`; `None` on overflow.
pub fn value(amount: Amount, decimals: u8, price: Amount) -> Option<Amount> {
    let scale = 10u128.checked_pow(u32::from(decimals))?;
    amount.atomic().checked_mul(price.atomic()).map(|v| Amount::from_atomic(v / scale))
}

/// A balance before the given changes were applied (`now` minus their sum); `None` if the changes
/// do not add up (a ledger that says more left than was ever there).
pub fn before(now: Amount, changes: &[Signed]) -> Option<Amount> {
    let mut v = i128::try_from(now.atomic()).ok()?;
    for c in changes {
        let d = match c {
            Signed::Plus(a) => i128::try_from(a.atomic()).ok()?,
            Signed::Minus(a) => -i128::try_from(a.atomic()).ok()?,
        };
        v = v.checked_sub(d)?;
    }
    u128::try_from(v).ok().map(Amount::from_atomic)
}

/// For each holding: the price in force when the window opened (the latest point at or before
/// `start`, else the first after it) against the latest point by `end`. What was held at the
/// opening quote, valued at both, is reported when the value fell: the part of a lower portfolio
/// value that prices alone explain (what was bought, sold or sent in between is accounted for by
/// the trades and outflows themselves).
pub fn market_drops(
    holdings: &[Holding],
    prices: &[PricePoint],
    start: Timestamp,
    end: Timestamp,
) -> Vec<MarketDrop> {
    let mut out = Vec::new();
    for h in holdings {
        let of: Vec<&PricePoint> = prices.iter().filter(|p| p.asset == h.asset && p.at <= end).collect();
        let opening = of
            .iter()
            .filter(|p| p.at <= start)
            .max_by_key(|p| p.at)
            .or_else(|| of.iter().filter(|p| p.at > start).min_by_key(|p| p.at));
        let latest = of.iter().max_by_key(|p| p.at);
        let (Some(from), Some(to)) = (opening, latest) else { continue };
        if from.at >= to.at {
            continue;
        }
        let Some(amount) = h.at(from.at).filter(|a| !a.is_zero()) else { continue };
        let (Some(v0), Some(v1)) =
            (value(amount, h.decimals, from.price), value(amount, h.decimals, to.price))
        else {
            continue;
        };
        if let Some(lost) = v0.checked_sub(v1).filter(|l| !l.is_zero()) {
            out.push(MarketDrop {
                asset: h.asset.clone(),
                held: amount.format(h.decimals),
                from_at: from.at,
                from_price: from.price.format(QUOTE_DECIMALS),
                to_at: to.at,
                to_price: to.price.format(QUOTE_DECIMALS),
                lost: lost.format(QUOTE_DECIMALS),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_micros(1_800_000_000_000_000 + s * 1_000_000)
    }

    fn usd(s: &str) -> Amount {
        Amount::parse(s, QUOTE_DECIMALS).unwrap()
    }

    fn p(at: i64, price: &str) -> PricePoint {
        PricePoint { at: t(at), asset: "BTC".into(), price: usd(price) }
    }

    #[test]
    fn two_btc_falling_from_40000_to_30000_lose_20000_of_value() {
        // 2 BTC when the window opens; 0.5 more arrive later (not part of the price effect).
        let h = Holding {
            asset: "BTC".into(),
            decimals: 8,
            now: Amount::parse("2.5", 8).unwrap(),
            changes: vec![
                (t(-500), Signed::Plus(Amount::parse("2", 8).unwrap())),
                (t(600), Signed::Plus(Amount::parse("0.5", 8).unwrap())),
            ],
        };
        let prices = [p(-100, "41000"), p(-10, "40000"), p(500, "35000"), p(900, "30000"), p(2000, "1")];
        let d = market_drops(&[h], &prices, t(0), t(1000));
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].from_price.as_str(), d[0].to_price.as_str(), d[0].lost.as_str()),
            ("40000", "30000", "20000")
        );
        assert_eq!((d[0].from_at, d[0].to_at, d[0].held.as_str()), (t(-10), t(900), "2"));
    }

    #[test]
    fn a_rise_a_single_price_or_an_empty_holding_reports_nothing() {
        let h = Holding {
            asset: "BTC".into(),
            decimals: 8,
            now: Amount::parse("1", 8).unwrap(),
            changes: vec![],
        };
        assert!(market_drops(std::slice::from_ref(&h), &[p(0, "1"), p(10, "2")], t(0), t(20)).is_empty());
        assert!(market_drops(std::slice::from_ref(&h), &[p(5, "2")], t(0), t(20)).is_empty());
        let empty = Holding { now: Amount::ZERO, ..h.clone() };
        assert!(market_drops(&[empty], &[p(0, "2"), p(10, "1")], t(0), t(20)).is_empty());
        // Deposited after the opening quote: nothing was held when the price fell.
        let late = Holding { changes: vec![(t(15), Signed::Plus(Amount::parse("1", 8).unwrap()))], ..h };
        assert!(market_drops(&[late], &[p(0, "2"), p(10, "1")], t(0), t(20)).is_empty());
    }

    #[test]
    fn the_balance_before_undoes_the_changes() {
        let now = Amount::from_atomic(100);
        let changes = [Signed::Plus(Amount::from_atomic(30)), Signed::Minus(Amount::from_atomic(50))];
        assert_eq!(before(now, &changes), Some(Amount::from_atomic(120)));
        assert_eq!(before(now, &[Signed::Plus(Amount::from_atomic(101))]), None);
        assert_eq!(value(Amount::parse("0.5", 8).unwrap(), 8, usd("100.5")), Some(usd("50.25")));
    }

    proptest! {
        #[test]
        fn a_reported_loss_is_exactly_the_value_difference(
            amount in 1u64..u64::MAX, a in 1u64..1_000_000_000_000, b in 1u64..1_000_000_000_000,
        ) {
            let h = Holding { asset: "BTC".into(), decimals: 8, now: Amount::from_atomic(amount.into()), changes: vec![] };
            let prices = [PricePoint { at: t(0), asset: "BTC".into(), price: Amount::from_atomic(a.into()) },
                          PricePoint { at: t(10), asset: "BTC".into(), price: Amount::from_atomic(b.into()) }];
            let d = market_drops(std::slice::from_ref(&h), &prices, t(0), t(10));
            let v0 = value(h.now, 8, prices[0].price).unwrap();
            let v1 = value(h.now, 8, prices[1].price).unwrap();
            prop_assert_eq!(d.len(), usize::from(v1 < v0));
            if let Some(m) = d.first() {
                prop_assert_eq!(Amount::parse(&m.lost, QUOTE_DECIMALS).unwrap(), v0.checked_sub(v1).unwrap());
            }
        }
    }
}
