//! The withdrawal address allowlist: entries (asset, network, address, memo, label) that become
//! usable only after an emailed confirmation and a cooling period, and the mode that decides
//! whether the list is enforced.
//!
//! "Tighten freely, loosen slowly" (DESIGN principle 1): turning the allowlist on, removing an
//! entry and cancelling a pending turn-off take effect at once; adding an entry waits for the
//! email confirmation and then the cooling period (24 h by default), and turning the allowlist off
//! takes effect only after a delay (48 h by default) during which turning it on again cancels it.
//! An attacker with a session and a second factor therefore cannot empty the account to a new
//! address before the owner has had a day (or two) of emails telling them so.
//!
//! Pure: the caller loads the stored times and passes `now`. Everything here is decided on
//! half-open intervals — a cooling period that ends at `T` is over *at* `T`, and a turn-off due at
//! `T` has happened *at* `T` — the same convention as the egress gate's holds and locks.

use std::time::Duration;

use crate::asset::{self, AssetSpec, MemoRule};
use crate::egress;
use crate::{Reason, Timestamp};

/// How long a confirmed entry cools down before withdrawals may use it (`CUSTOS_ALLOWLIST_COOLING`).
pub const DEFAULT_COOLING: Duration = Duration::from_secs(24 * 3_600);
/// How long after it is asked for a turn-off takes effect (`CUSTOS_ALLOWLIST_DISABLE_DELAY`).
pub const DEFAULT_DISABLE_DELAY: Duration = Duration::from_secs(48 * 3_600);
/// Entries an account may hold (awaiting confirmation, cooling or active): enough for any real
/// use, and a bound on what every withdrawal reads.
pub const MAX_ENTRIES: usize = 200;
/// A label is for the owner's eyes: 1 to 64 printable characters.
pub const MAX_LABEL_CHARS: usize = 64;

/// Where a withdrawal goes, in canonical form (the address as [`asset::validate_address`]
/// returns it, codes as the asset table spells them, an empty memo as `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination<'a> {
    pub asset: &'a str,
    pub network: &'a str,
    pub address: &'a str,
    pub memo: Option<&'a str>,
}

/// What is stored about one entry, as far as deciding goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub asset: String,
    pub network: String,
    pub address: String,
    pub memo: Option<String>,
    /// When the emailed confirmation link stops working.
    pub confirm_by: Timestamp,
    pub confirmed_at: Option<Timestamp>,
    /// When the cooling period ends (set on confirmation: `confirmed_at + cooling`).
    pub usable_from: Option<Timestamp>,
    pub removed_at: Option<Timestamp>,
}

/// Where an entry is in its life: awaiting confirmation → cooling → active; or it was removed, or
/// its confirmation link ran out first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    AwaitingConfirmation {
        until: Timestamp,
    },
    /// Never confirmed, and the link has expired: it will never become usable.
    ConfirmationExpired,
    Cooling {
        until: Timestamp,
    },
    Active,
    Removed,
}

impl EntryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingConfirmation { .. } => "awaiting_confirmation",
            Self::ConfirmationExpired => "confirmation_expired",
            Self::Cooling { .. } => "cooling",
            Self::Active => "active",
            Self::Removed => "removed",
        }
    }

    /// Whether the entry counts against [`MAX_ENTRIES`] and against adding the same destination
    /// again. Expired and removed entries do not: they can be added afresh.
    pub fn occupies_slot(self) -> bool {
        matches!(self, Self::AwaitingConfirmation { .. } | Self::Cooling { .. } | Self::Active)
    }
}

impl Entry {
    pub fn state(&self, now: Timestamp) -> EntryState {
        if self.removed_at.is_some() {
            return EntryState::Removed;
        }
        match (self.confirmed_at, self.usable_from) {
            (Some(_), Some(until)) if now < until => EntryState::Cooling { until },
            (Some(_), _) => EntryState::Active,
            (None, _) if now < self.confirm_by => EntryState::AwaitingConfirmation { until: self.confirm_by },
            (None, _) => EntryState::ConfirmationExpired,
        }
    }

    pub fn is_for(&self, d: &Destination<'_>) -> bool {
        self.asset == d.asset
            && self.network == d.network
            && self.address == d.address
            && self.memo.as_deref() == d.memo
    }
}

/// Whether the allowlist is enforced, as stored: when it was turned on, and when a requested
/// turn-off takes (or took) effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Off,
    On,
    /// On until `at`, off from `at`; turning it on before then cancels the turn-off.
    TurningOff {
        at: Timestamp,
    },
}

impl Mode {
    /// The mode from its stored columns: on since `enabled_at` (`None`: never on, or on again
    /// after a completed turn-off was stored as off), turning off at `off_at`.
    pub fn from_stored(enabled_at: Option<Timestamp>, off_at: Option<Timestamp>) -> Self {
        match (enabled_at, off_at) {
            (None, _) => Self::Off,
            (Some(_), None) => Self::On,
            (Some(_), Some(at)) => Self::TurningOff { at },
        }
    }

    /// The mode as it stands at `now`: a turn-off whose time has come is off.
    pub fn at(self, now: Timestamp) -> Self {
        match self {
            Self::TurningOff { at } if now >= at => Self::Off,
            m => m,
        }
    }

    /// Whether withdrawals must go to an allowlisted address at `now`.
    pub fn enforced(self, now: Timestamp) -> bool {
        !matches!(self.at(now), Self::Off)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::On => "on",
            Self::TurningOff { .. } => "turning_off",
        }
    }
}

/// What a request to change the mode does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeChange {
    /// Off → on, effective at once.
    TurnedOn,
    /// A pending turn-off was cancelled: the allowlist stays on.
    TurnOffCancelled,
    /// On → off at `at` (now + the delay); enforced until then.
    TurnOffScheduled { at: Timestamp },
    /// Already so: on is on; off is off; a turn-off already pending keeps its original time
    /// (asking again never restarts or shortens the delay).
    Unchanged,
}

/// Turning the allowlist on: immediate, and cancels a pending turn-off. Tightening needs no delay.
pub fn turn_on(mode: Mode, now: Timestamp) -> (Mode, ModeChange) {
    match mode.at(now) {
        Mode::Off => (Mode::On, ModeChange::TurnedOn),
        Mode::TurningOff { .. } => (Mode::On, ModeChange::TurnOffCancelled),
        Mode::On => (Mode::On, ModeChange::Unchanged),
    }
}

/// Turning the allowlist off: effective `delay` from now, cancellable until then.
pub fn turn_off(mode: Mode, now: Timestamp, delay: Duration) -> (Mode, ModeChange) {
    match mode.at(now) {
        Mode::On => {
            let at = now.plus(delay);
            (Mode::TurningOff { at }, ModeChange::TurnOffScheduled { at })
        }
        pending @ Mode::TurningOff { .. } => (pending, ModeChange::Unchanged),
        Mode::Off => (Mode::Off, ModeChange::Unchanged),
    }
}

/// The allowlist's say about a withdrawal to `d` at `now`, for the egress gate: off when it is
/// not enforced; listed when an entry for exactly this destination is active; cooling (until the
/// earliest end) when the only confirmed entries for it are still cooling; otherwise not listed —
/// an entry awaiting its emailed confirmation does not count at all.
pub fn egress_fact(mode: Mode, entries: &[Entry], d: &Destination<'_>, now: Timestamp) -> egress::Allowlist {
    if !mode.enforced(now) {
        return egress::Allowlist::Off;
    }
    let mut cooling: Option<Timestamp> = None;
    for e in entries.iter().filter(|e| e.is_for(d)) {
        match e.state(now) {
            EntryState::Active => return egress::Allowlist::Listed,
            EntryState::Cooling { until } => cooling = Some(cooling.map_or(until, |c| c.min(until))),
            _ => {}
        }
    }
    match cooling {
        Some(until) => egress::Allowlist::Cooling { until },
        None => egress::Allowlist::NotListed,
    }
}

/// A new entry as the owner asked for it, checked: a known asset and network, an address valid
/// on that network (canonical form), a memo where the network wants one, a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub asset: &'static str,
    pub network: &'static str,
    pub address: String,
    pub memo: Option<String>,
    pub label: String,
}

impl NewEntry {
    pub fn destination(&self) -> Destination<'_> {
        Destination {
            asset: self.asset,
            network: self.network,
            address: &self.address,
            memo: self.memo.as_deref(),
        }
    }
}

/// Checks a new entry against the asset table; every problem is named at once (an unknown asset
/// or network ends the check, since nothing else can be judged without it).
pub fn check_new_entry(
    assets: &[AssetSpec],
    asset_code: &str,
    network_code: &str,
    address: &str,
    memo: Option<&str>,
    label: &str,
) -> Result<NewEntry, Vec<Reason>> {
    let spec = asset::find(assets, asset_code.trim()).ok_or_else(|| {
        vec![Reason::new("unknown-asset", format!("{asset_code:?} is not an asset withdrawals support."))]
    })?;
    let network = spec.network(network_code.trim()).ok_or_else(|| {
        vec![Reason::new(
            "unknown-network",
            format!("{} cannot be withdrawn on {network_code:?}.", spec.code),
        )]
    })?;
    let mut reasons = Vec::new();
    let address = match asset::validate_address(network.format, address.trim()) {
        Ok(a) => Some(a),
        Err(e) => {
            reasons.push(Reason::new("address-invalid", format!("{}: {e}.", network.name)));
            None
        }
    };
    let memo = memo.map(str::trim).filter(|m| !m.is_empty()).map(str::to_owned);
    match (network.memo, &memo) {
        (MemoRule::Required, None) => {
            reasons.push(Reason::new("memo-required", "This network needs a memo (tag) for this address."))
        }
        (MemoRule::None, Some(_)) => {
            reasons.push(Reason::new("memo-not-allowed", "This network does not use memos."))
        }
        (_, Some(m)) if m.len() > 64 || m.chars().any(char::is_control) => {
            reasons.push(Reason::new("memo-invalid", "A memo is at most 64 printable characters."))
        }
        _ => {}
    }
    let label = label.trim();
    if label.is_empty() || label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
        reasons.push(Reason::new(
            "label-invalid",
            format!("A label is 1 to {MAX_LABEL_CHARS} printable characters, e.g. \"my hardware wallet\"."),
        ));
    }
    match address {
        Some(address) if reasons.is_empty() => {
            Ok(NewEntry { asset: spec.code, network: network.code, address, memo, label: label.to_owned() })
        }
        _ => Err(reasons),
    }
}

/// Whether `new` may join `entries` at `now`: refused when the same destination is already on the
/// list (awaiting confirmation, cooling or active) or the list is full.
pub fn may_add(entries: &[Entry], new: &Destination<'_>, now: Timestamp) -> Result<(), Reason> {
    let live: Vec<&Entry> = entries.iter().filter(|e| e.state(now).occupies_slot()).collect();
    if live.iter().any(|e| e.is_for(new)) {
        return Err(Reason::new(
            "allowlist-entry-duplicate",
            "This address (with this asset, network and memo) is already on your allowlist.",
        ));
    }
    if live.len() >= MAX_ENTRIES {
        return Err(Reason::new(
            "allowlist-full",
            format!(
                "An allowlist holds at most {MAX_ENTRIES} addresses: remove one you no longer use first."
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asset::demo_assets;
    use proptest::prelude::*;

    const H: u64 = 3_600;
    const BTC_ADDR: &str = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";

    fn at(h: i64) -> Timestamp {
        Timestamp::from_micros(1_800_000_000_000_000 + h * 3_600_000_000)
    }

    fn dest() -> Destination<'static> {
        Destination { asset: "BTC", network: "BTC", address: BTC_ADDR, memo: None }
    }

    fn entry(created: i64) -> Entry {
        Entry {
            asset: "BTC".into(),
            network: "BTC".into(),
            address: BTC_ADDR.into(),
            memo: None,
            confirm_by: at(created + 1),
            confirmed_at: None,
            usable_from: None,
            removed_at: None,
        }
    }

    fn confirmed(confirmed: i64) -> Entry {
        Entry {
            confirmed_at: Some(at(confirmed)),
            usable_from: Some(at(confirmed).plus(DEFAULT_COOLING)),
            ..entry(confirmed)
        }
    }

    #[test]
    fn an_entry_awaits_confirmation_then_cools_then_is_active_and_the_boundary_belongs_to_active() {
        let e = entry(0);
        assert_eq!(e.state(at(0)), EntryState::AwaitingConfirmation { until: at(1) });
        assert_eq!(e.state(at(1)), EntryState::ConfirmationExpired, "the link's expiry is exclusive");
        let c = confirmed(0);
        assert_eq!(c.state(at(0)), EntryState::Cooling { until: at(24) });
        assert_eq!(c.state(at(24).minus(Duration::from_micros(1))), EntryState::Cooling { until: at(24) });
        assert_eq!(c.state(at(24)), EntryState::Active);
        let removed = Entry { removed_at: Some(at(30)), ..c };
        assert_eq!(removed.state(at(31)), EntryState::Removed);
        assert!(!removed.state(at(31)).occupies_slot());
    }

    #[test]
    fn the_gate_sees_off_listed_cooling_or_not_listed() {
        let on = Mode::On;
        assert_eq!(egress_fact(Mode::Off, &[], &dest(), at(0)), egress::Allowlist::Off);
        assert_eq!(egress_fact(on, &[], &dest(), at(0)), egress::Allowlist::NotListed);
        // Awaiting confirmation counts for nothing.
        assert_eq!(egress_fact(on, &[entry(0)], &dest(), at(0)), egress::Allowlist::NotListed);
        assert_eq!(
            egress_fact(on, &[confirmed(0)], &dest(), at(10)),
            egress::Allowlist::Cooling { until: at(24) }
        );
        assert_eq!(egress_fact(on, &[confirmed(0)], &dest(), at(24)), egress::Allowlist::Listed);
        // One active entry for the destination is enough, whatever else is listed.
        assert_eq!(
            egress_fact(on, &[confirmed(20), confirmed(0), entry(30)], &dest(), at(30)),
            egress::Allowlist::Listed
        );
        // The earliest cooling end is the one that matters.
        assert_eq!(
            egress_fact(on, &[confirmed(5), confirmed(2)], &dest(), at(10)),
            egress::Allowlist::Cooling { until: at(26) }
        );
        let removed = Entry { removed_at: Some(at(25)), ..confirmed(0) };
        assert_eq!(egress_fact(on, &[removed], &dest(), at(30)), egress::Allowlist::NotListed);
    }

    #[test]
    fn only_the_exact_destination_matches() {
        let e = Entry { confirmed_at: Some(at(0)), usable_from: Some(at(0)), ..entry(0) };
        let on = Mode::On;
        for other in [
            Destination { asset: "ETH", ..dest() },
            Destination { network: "ETH", ..dest() },
            Destination {
                address: "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297",
                ..dest()
            },
            Destination { memo: Some("1"), ..dest() },
        ] {
            assert_eq!(
                egress_fact(on, std::slice::from_ref(&e), &other, at(1)),
                egress::Allowlist::NotListed
            );
        }
        assert_eq!(egress_fact(on, &[e], &dest(), at(1)), egress::Allowlist::Listed);
    }

    #[test]
    fn turning_on_is_immediate_and_cancels_a_pending_turn_off() {
        assert_eq!(turn_on(Mode::Off, at(0)), (Mode::On, ModeChange::TurnedOn));
        assert_eq!(turn_on(Mode::On, at(0)), (Mode::On, ModeChange::Unchanged));
        assert_eq!(
            turn_on(Mode::TurningOff { at: at(48) }, at(47)),
            (Mode::On, ModeChange::TurnOffCancelled)
        );
        // Once the turn-off has happened, turning on is turning on again.
        assert_eq!(turn_on(Mode::TurningOff { at: at(48) }, at(48)), (Mode::On, ModeChange::TurnedOn));
    }

    #[test]
    fn turning_off_waits_48_hours_to_the_microsecond_and_asking_again_does_not_restart_it() {
        let (mode, change) = turn_off(Mode::On, at(0), DEFAULT_DISABLE_DELAY);
        assert_eq!(change, ModeChange::TurnOffScheduled { at: at(48) });
        let almost = at(48).minus(Duration::from_micros(1));
        assert!(mode.enforced(at(47)) && mode.enforced(almost));
        assert!(!mode.enforced(at(48)), "off exactly when due");
        assert_eq!(mode.at(at(48)), Mode::Off);
        assert_eq!(turn_off(mode, at(10), DEFAULT_DISABLE_DELAY), (mode, ModeChange::Unchanged));
        assert_eq!(turn_off(Mode::Off, at(10), DEFAULT_DISABLE_DELAY), (Mode::Off, ModeChange::Unchanged));
        // While it is turning off, the list is still enforced.
        assert_eq!(egress_fact(mode, &[], &dest(), almost), egress::Allowlist::NotListed);
        assert_eq!(egress_fact(mode, &[], &dest(), at(48)), egress::Allowlist::Off);
    }

    #[test]
    fn stored_modes_round_trip() {
        assert_eq!(Mode::from_stored(None, None), Mode::Off);
        assert_eq!(Mode::from_stored(Some(at(0)), None), Mode::On);
        assert_eq!(Mode::from_stored(Some(at(0)), Some(at(48))), Mode::TurningOff { at: at(48) });
        assert_eq!(Mode::TurningOff { at: at(48) }.as_str(), "turning_off");
    }

    #[test]
    fn new_entries_are_checked_against_the_network_and_canonicalised() {
        let assets = demo_assets();
        let e = check_new_entry(&assets, "btc", "btc", &BTC_ADDR.to_uppercase(), Some("  "), " cold wallet ")
            .unwrap();
        assert_eq!((e.asset, e.network, e.address.as_str()), ("BTC", "BTC", BTC_ADDR));
        assert_eq!((e.memo, e.label.as_str()), (None, "cold wallet"));
        let codes = |r: Result<NewEntry, Vec<Reason>>| -> Vec<&'static str> {
            r.unwrap_err().iter().map(|r| r.code.0).collect()
        };
        assert_eq!(codes(check_new_entry(&assets, "DOGE", "DOGE", BTC_ADDR, None, "x")), ["unknown-asset"]);
        assert_eq!(codes(check_new_entry(&assets, "USDT", "BTC", BTC_ADDR, None, "x")), ["unknown-network"]);
        assert_eq!(
            codes(check_new_entry(&assets, "ETH", "ETH", BTC_ADDR, Some("7"), "")),
            ["address-invalid", "memo-not-allowed", "label-invalid"]
        );
        let long = "x".repeat(MAX_LABEL_CHARS + 1);
        assert_eq!(codes(check_new_entry(&assets, "BTC", "BTC", BTC_ADDR, None, &long)), ["label-invalid"]);
    }

    #[test]
    fn duplicates_and_a_full_list_are_refused_but_expired_and_removed_entries_free_their_place() {
        assert_eq!(
            may_add(&[confirmed(0)], &dest(), at(30)).unwrap_err().code.0,
            "allowlist-entry-duplicate"
        );
        assert_eq!(may_add(&[entry(0)], &dest(), at(0)).unwrap_err().code.0, "allowlist-entry-duplicate");
        assert_eq!(may_add(&[entry(0)], &dest(), at(2)), Ok(()), "an expired confirmation frees the place");
        let removed = Entry { removed_at: Some(at(1)), ..confirmed(0) };
        assert_eq!(may_add(&[removed], &dest(), at(2)), Ok(()));
        let full: Vec<Entry> =
            (0..MAX_ENTRIES).map(|i| Entry { address: format!("a{i}"), ..confirmed(0) }).collect();
        assert_eq!(may_add(&full, &dest(), at(30)).unwrap_err().code.0, "allowlist-full");
        assert_eq!(may_add(&full[1..], &dest(), at(30)), Ok(()));
    }

    proptest! {
        /// A destination is usable exactly when the list is not enforced, or an entry for it was
        /// confirmed and its cooling period has ended; never earlier.
        #[test]
        fn nothing_is_usable_before_its_cooling_ends(confirm_h in 0i64..100, cooling_h in 0u64..100,
                                                      now_h in -10i64..250, off_h in proptest::option::of(0i64..250)) {
            let e = Entry {
                confirmed_at: Some(at(confirm_h)),
                usable_from: Some(at(confirm_h).plus(Duration::from_secs(cooling_h * H))),
                ..entry(confirm_h)
            };
            let mode = match off_h { Some(h) => Mode::TurningOff { at: at(h) }, None => Mode::On };
            let fact = egress_fact(mode, std::slice::from_ref(&e), &dest(), at(now_h));
            let enforced = off_h.is_none_or(|h| now_h < h);
            let cooled = at(now_h) >= e.usable_from.unwrap();
            match fact {
                egress::Allowlist::Off => prop_assert!(!enforced),
                egress::Allowlist::Listed => prop_assert!(enforced && cooled),
                egress::Allowlist::Cooling { until } => prop_assert!(enforced && !cooled && until > at(now_h)),
                egress::Allowlist::NotListed => prop_assert!(false, "a confirmed entry is listed or cooling"),
            }
        }
    }
}
