//! Assets, networks and withdrawal addresses. An address is checked against its network's format
//! before anything else happens: Bitcoin (Base58Check P2PKH/P2SH, or bech32/bech32m SegWit),
//! Ethereum (`0x` + 40 hex, EIP-55 checksum enforced when the case is mixed), Tron (Base58Check
//! with the `0x41` prefix).

use crate::money::Amount;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressFormat {
    Bitcoin,
    Ethereum,
    Tron,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoRule {
    None,
    Optional,
    Required,
}

#[derive(Debug, Clone)]
pub struct Network {
    pub code: &'static str,
    pub name: &'static str,
    pub format: AddressFormat,
    pub memo: MemoRule,
    /// Network fee charged on a withdrawal, in the asset's atomic units.
    pub fee: Amount,
    pub min_withdrawal: Amount,
}

#[derive(Debug, Clone)]
pub struct AssetSpec {
    pub code: &'static str,
    pub name: &'static str,
    pub decimals: u8,
    pub networks: Vec<Network>,
    /// Most that may leave one account in 24 hours (withdrawals and transfers together).
    pub daily_limit: Amount,
    /// Outflows of at least this much are held for review time (egress gate risk hold).
    pub large_amount: Amount,
}

/// Finds an asset by code (case-insensitive).
pub fn find<'a>(assets: &'a [AssetSpec], code: &str) -> Option<&'a AssetSpec> {
    assets.iter().find(|a| a.code.eq_ignore_ascii_case(code))
}

impl AssetSpec {
    pub fn network(&self, code: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.code.eq_ignore_ascii_case(code))
    }
}

/// The assets a demo (and the test suite) runs with: BTC, ETH and USDT on Ethereum and Tron.
pub fn demo_assets() -> Vec<AssetSpec> {
    let btc = Network {
        code: "BTC",
        name: "Bitcoin",
        format: AddressFormat::Bitcoin,
        memo: MemoRule::None,
        fee: Amount::from_atomic(20_000),
        min_withdrawal: Amount::from_atomic(50_000),
    };
    let eth = Network {
        code: "ETH",
        name: "Ethereum (ERC-20)",
        format: AddressFormat::Ethereum,
        memo: MemoRule::None,
        fee: Amount::from_atomic(1_000_000_000_000_000),
        min_withdrawal: Amount::from_atomic(5_000_000_000_000_000),
    };
    vec![
        AssetSpec {
            code: "BTC",
            name: "Bitcoin",
            decimals: 8,
            networks: vec![btc],
            daily_limit: Amount::from_atomic(5 * 100_000_000),
            large_amount: Amount::from_atomic(100_000_000),
        },
        AssetSpec {
            code: "ETH",
            name: "Ether",
            decimals: 18,
            networks: vec![eth.clone()],
            daily_limit: Amount::from_atomic(100 * 1_000_000_000_000_000_000),
            large_amount: Amount::from_atomic(20 * 1_000_000_000_000_000_000),
        },
        AssetSpec {
            code: "USDT",
            name: "Tether USD",
            decimals: 6,
            daily_limit: Amount::from_atomic(250_000 * 1_000_000),
            large_amount: Amount::from_atomic(50_000 * 1_000_000),
            networks: vec![
                Network {
                    fee: Amount::from_atomic(5_000_000),
                    min_withdrawal: Amount::from_atomic(10_000_000),
                    ..eth
                },
                Network {
                    code: "TRX",
                    name: "Tron (TRC-20)",
                    format: AddressFormat::Tron,
                    memo: MemoRule::None,
                    fee: Amount::from_atomic(1_000_000),
                    min_withdrawal: Amount::from_atomic(10_000_000),
                },
            ],
        },
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("this is not a valid address on this network")]
    Malformed,
    #[error("the address's checksum is wrong: check for a typo")]
    Checksum,
    #[error("this address belongs to another network (e.g. testnet)")]
    WrongNetwork,
}

/// Checks `address` for `format`; returns it in canonical form (bech32 lower-cased).
pub fn validate_address(format: AddressFormat, address: &str) -> Result<String, AddressError> {
    let a = address.trim();
    if a.is_empty() || a.len() > 100 || !a.is_ascii() {
        return Err(AddressError::Malformed);
    }
    match format {
        AddressFormat::Bitcoin => bitcoin(a),
        AddressFormat::Ethereum => ethereum(a),
        AddressFormat::Tron => tron(a),
    }
}

fn bitcoin(a: &str) -> Result<String, AddressError> {
    let lower = a.to_ascii_lowercase();
    if lower.starts_with("bc1") || lower.starts_with("tb1") || lower.starts_with("bcrt1") {
        let (hrp, _version, _program) = bech32::segwit::decode(a).map_err(|_| AddressError::Checksum)?;
        if !hrp.as_str().eq_ignore_ascii_case("bc") {
            return Err(AddressError::WrongNetwork);
        }
        return Ok(lower);
    }
    let payload = bs58::decode(a).with_check(None).into_vec().map_err(|e| match e {
        bs58::decode::Error::InvalidChecksum { .. } => AddressError::Checksum,
        _ => AddressError::Malformed,
    })?;
    match (payload.len(), payload.first()) {
        (21, Some(0x00 | 0x05)) => Ok(a.to_owned()),
        (21, Some(0x6f | 0xc4)) => Err(AddressError::WrongNetwork),
        _ => Err(AddressError::Malformed),
    }
}

fn ethereum(a: &str) -> Result<String, AddressError> {
    let hex_part = a.strip_prefix("0x").ok_or(AddressError::Malformed)?;
    if hex_part.len() != 40 || !hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AddressError::Malformed);
    }
    let mixed =
        hex_part.bytes().any(|b| b.is_ascii_lowercase()) && hex_part.bytes().any(|b| b.is_ascii_uppercase());
    let checksummed = eip55(hex_part);
    if mixed && checksummed[2..] != *hex_part {
        return Err(AddressError::Checksum);
    }
    Ok(checksummed)
}

/// EIP-55: upper-case each hex letter whose nibble in keccak256(lower-case hex) is ≥ 8.
fn eip55(hex_part: &str) -> String {
    use sha3::{Digest, Keccak256};
    let lower = hex_part.to_ascii_lowercase();
    let hash = Keccak256::digest(lower.as_bytes());
    let out: String = lower
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let nibble = (hash[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
            if c.is_ascii_alphabetic() && nibble >= 8 { c.to_ascii_uppercase() } else { c }
        })
        .collect();
    format!("0x{out}")
}

fn tron(a: &str) -> Result<String, AddressError> {
    let payload = bs58::decode(a).with_check(None).into_vec().map_err(|e| match e {
        bs58::decode::Error::InvalidChecksum { .. } => AddressError::Checksum,
        _ => AddressError::Malformed,
    })?;
    match (payload.len(), payload.first()) {
        (21, Some(0x41)) => Ok(a.to_owned()),
        _ => Err(AddressError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bitcoin_addresses_of_every_mainnet_kind_pass() {
        for a in [
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",         // P2PKH (genesis)
            "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",         // P2SH
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", // P2WPKH (BIP 173)
            "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297", // P2TR (BIP 350)
        ] {
            assert!(validate_address(AddressFormat::Bitcoin, a).is_ok(), "{a}");
        }
        assert_eq!(
            validate_address(AddressFormat::Bitcoin, "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4").unwrap(),
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
        );
    }

    #[test]
    fn bitcoin_typos_and_testnet_addresses_are_refused() {
        assert_eq!(
            validate_address(AddressFormat::Bitcoin, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"),
            Err(AddressError::Checksum)
        );
        assert_eq!(
            validate_address(AddressFormat::Bitcoin, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5"),
            Err(AddressError::Checksum)
        );
        assert_eq!(
            validate_address(AddressFormat::Bitcoin, "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"),
            Err(AddressError::WrongNetwork)
        );
        assert_eq!(
            validate_address(AddressFormat::Bitcoin, "0x52908400098527886E0F7030069857D2E4169EE7"),
            Err(AddressError::Malformed)
        );
    }

    #[test]
    fn ethereum_checksums_follow_eip55() {
        // EIP-55's own examples.
        for a in ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"]
        {
            assert_eq!(validate_address(AddressFormat::Ethereum, a).unwrap(), a);
            assert_eq!(
                validate_address(AddressFormat::Ethereum, &a.to_lowercase()).unwrap(),
                a,
                "lower case is accepted and checksummed"
            );
        }
        assert_eq!(
            validate_address(AddressFormat::Ethereum, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"),
            Err(AddressError::Checksum)
        );
        assert_eq!(
            validate_address(AddressFormat::Ethereum, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA"),
            Err(AddressError::Malformed)
        );
    }

    #[test]
    fn tron_addresses_need_the_41_prefix_and_checksum() {
        assert!(validate_address(AddressFormat::Tron, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t").is_ok()); // USDT contract
        assert_eq!(
            validate_address(AddressFormat::Tron, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u"),
            Err(AddressError::Checksum)
        );
        assert_eq!(
            validate_address(AddressFormat::Tron, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
            Err(AddressError::Malformed)
        );
    }

    #[test]
    fn demo_assets_have_networks_and_decimals() {
        let assets = demo_assets();
        let usdt = assets.iter().find(|a| a.code == "USDT").unwrap();
        assert_eq!(usdt.decimals, 6);
        assert!(usdt.network("trx").is_some() && usdt.network("ETH").is_some());
    }

    proptest! {
        #[test]
        fn validation_never_panics(s in "\\PC{0,120}") {
            for f in [AddressFormat::Bitcoin, AddressFormat::Ethereum, AddressFormat::Tron] {
                let _ = validate_address(f, &s);
            }
        }
    }
}
