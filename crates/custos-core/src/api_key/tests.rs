use super::*;

const DAYS: u64 = 86_400;

fn now() -> Timestamp {
    Timestamp::from_micros(1_800_000_000_000_000)
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * DAYS)
}

fn codes(reasons: &[Reason]) -> Vec<&'static str> {
    reasons.iter().map(|r| r.code.0).collect()
}

fn scopes(names: &[&str]) -> Scopes {
    Scopes::parse(names).unwrap()
}

fn ips(entries: &[&str]) -> IpAllowlist {
    IpAllowlist::parse(entries).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn scopes_round_trip_through_their_names_and_serde() {
    for scope in Scope::ALL {
        assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        assert_eq!(serde_json::to_string(&scope).unwrap(), format!("\"{}\"", scope.as_str()));
        assert_eq!(serde_json::from_str::<Scope>(&format!("\"{}\"", scope.as_str())).unwrap(), scope);
    }
    assert_eq!(Scope::parse("Read"), None);
    assert_eq!(Scope::parse("admin"), None);
}

#[test]
fn a_scope_list_parses_into_a_set_in_fixed_order() {
    let s = scopes(&["transfer", "read"]);
    assert!(s.contains(Scope::Read) && s.contains(Scope::Transfer));
    assert!(!s.contains(Scope::Trade) && !s.contains(Scope::Withdraw));
    assert_eq!(s.as_strs(), ["read", "transfer"]);
    assert_eq!(serde_json::to_string(&s).unwrap(), r#"["read","transfer"]"#);
    assert_eq!(format!("{s:?}"), r#"{"read", "transfer"}"#);
}

#[test]
fn only_withdraw_and_transfer_move_money() {
    assert!(!scopes(&["read", "trade"]).moves_money());
    assert!(scopes(&["read", "withdraw"]).moves_money());
    assert!(scopes(&["transfer"]).moves_money());
}

#[test]
fn unknown_duplicate_and_empty_scope_lists_are_refused_with_every_reason() {
    assert_eq!(codes(&Scopes::parse::<&str>(&[]).unwrap_err()), ["api-key-scopes-empty"]);
    assert_eq!(
        codes(&Scopes::parse(&["read", "admin", "read", ""]).unwrap_err()),
        ["api-key-scope-unknown", "api-key-scope-duplicate", "api-key-scope-unknown"]
    );
}

#[test]
fn key_kinds_have_their_wire_names() {
    for (kind, name) in [(KeyKind::Ed25519, "ed25519"), (KeyKind::HmacSha256, "hmac-sha256")] {
        assert_eq!(kind.as_str(), name);
        assert_eq!(KeyKind::parse(name), Some(kind));
        assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
        assert_eq!(serde_json::from_str::<KeyKind>(&format!("\"{name}\"")).unwrap(), kind);
    }
    assert_eq!(KeyKind::parse("hmac"), None);
}

#[test]
fn plain_addresses_become_single_host_networks() {
    let list = ips(&["203.0.113.7", "2001:db8::1", "198.51.100.0/24", " 10.1.0.0/16 "]);
    assert_eq!(list.as_strings(), ["203.0.113.7/32", "2001:db8::1/128", "198.51.100.0/24", "10.1.0.0/16"]);
    assert!(list.allows(ip("203.0.113.7")));
    assert!(!list.allows(ip("203.0.113.8")));
    assert!(list.allows(ip("198.51.100.200")));
    assert!(list.allows(ip("2001:db8::1")));
    assert!(!list.allows(ip("2001:db8::2")));
}

#[test]
fn an_ipv4_mapped_peer_matches_its_ipv4_entry() {
    let list = ips(&["203.0.113.7"]);
    assert!(list.allows(ip("::ffff:203.0.113.7")));
    assert!(!list.allows(ip("::ffff:203.0.113.8")));
    let mapped_entry = ips(&["::ffff:198.51.100.0/120"]);
    assert_eq!(mapped_entry.as_strings(), ["198.51.100.0/24"]);
    assert!(mapped_entry.allows(ip("198.51.100.9")));
    assert!(mapped_entry.allows(ip("::ffff:198.51.100.9")));
}

#[test]
fn an_empty_allowlist_restricts_nothing() {
    let list = IpAllowlist::parse::<&str>(&[]).unwrap();
    assert!(list.is_empty());
    assert!(list.allows(ip("192.0.2.1")));
}

#[test]
fn allowlists_hold_at_most_thirty_entries() {
    let thirty: Vec<String> = (0..30).map(|i| format!("192.0.2.{i}")).collect();
    assert_eq!(IpAllowlist::parse(&thirty).unwrap().nets().len(), 30);
    let thirty_one: Vec<String> = (0..31).map(|i| format!("192.0.2.{i}")).collect();
    assert_eq!(codes(&IpAllowlist::parse(&thirty_one).unwrap_err()), ["api-key-ip-allowlist-too-long"]);
}

#[test]
fn duplicate_malformed_and_too_broad_entries_are_refused() {
    assert_eq!(
        codes(&IpAllowlist::parse(&["192.0.2.1", "192.0.2.1/32"]).unwrap_err()),
        ["api-key-ip-duplicate"]
    );
    for bad in ["example.com", "192.0.2.300", "192.0.2.0/33", "", "192.0.2.5/24"] {
        assert_eq!(codes(&IpAllowlist::parse(&[bad]).unwrap_err()), ["api-key-ip-malformed"], "{bad}");
    }
    let host_bits = IpAllowlist::parse(&["192.0.2.5/24"]).unwrap_err();
    assert!(host_bits[0].detail.contains("192.0.2.0/24"), "{}", host_bits[0].detail);
    for broad in ["0.0.0.0/0", "10.0.0.0/8", "::/0", "2001:db8::/32"] {
        assert_eq!(
            codes(&IpAllowlist::parse(&[broad]).unwrap_err()),
            ["api-key-ip-range-too-broad"],
            "{broad}"
        );
    }
    assert!(IpAllowlist::parse(&["10.20.0.0/16", "2001:db8:1::/48"]).is_ok());
}

#[test]
fn a_key_that_moves_money_needs_an_ip_allowlist() {
    let none = IpAllowlist::default();
    for money in [&["withdraw"][..], &["read", "transfer"][..]] {
        let err = plan_new_key(scopes(money), &none, None, &KeyRules::default(), now()).unwrap_err();
        assert_eq!(codes(&err), ["api-key-ip-allowlist-required"]);
        assert!(plan_new_key(scopes(money), &ips(&["192.0.2.1"]), None, &KeyRules::default(), now()).is_ok());
    }
}

#[test]
fn without_an_allowlist_a_key_lives_thirty_days_at_most() {
    let rules = KeyRules::default();
    let read = scopes(&["read", "trade"]);
    let none = IpAllowlist::default();
    assert_eq!(plan_new_key(read, &none, None, &rules, now()), Ok(now().plus(days(30))));
    assert_eq!(
        plan_new_key(read, &none, Some(now().plus(days(200))), &rules, now()),
        Ok(now().plus(days(30)))
    );
    assert_eq!(plan_new_key(read, &none, Some(now().plus(days(7))), &rules, now()), Ok(now().plus(days(7))));
    let short = KeyRules { ttl_without_ips: days(3), ..rules };
    assert_eq!(plan_new_key(read, &none, None, &short, now()), Ok(now().plus(days(3))));
}

#[test]
fn with_an_allowlist_a_key_lives_up_to_the_maximum() {
    let rules = KeyRules::default();
    let list = ips(&["192.0.2.1"]);
    let w = scopes(&["withdraw"]);
    assert_eq!(plan_new_key(w, &list, None, &rules, now()), Ok(now().plus(days(365))));
    assert_eq!(plan_new_key(w, &list, Some(now().plus(days(90))), &rules, now()), Ok(now().plus(days(90))));
    assert_eq!(plan_new_key(w, &list, Some(now().plus(days(365))), &rules, now()), Ok(now().plus(days(365))));
}

#[test]
fn valid_until_in_the_past_or_beyond_the_maximum_is_refused() {
    let rules = KeyRules::default();
    let read = scopes(&["read"]);
    let list = ips(&["192.0.2.1"]);
    for past in [now(), now().minus(Duration::from_secs(1))] {
        let err = plan_new_key(read, &list, Some(past), &rules, now()).unwrap_err();
        assert_eq!(codes(&err), ["api-key-valid-until-past"]);
    }
    let too_far = now().plus(days(365)).plus(Duration::from_secs(1));
    let err = plan_new_key(read, &list, Some(too_far), &rules, now()).unwrap_err();
    assert_eq!(codes(&err), ["api-key-valid-until-too-far"]);
    assert_eq!(err[0].until, Some(now().plus(days(365))));
    let both = plan_new_key(scopes(&["withdraw"]), &IpAllowlist::default(), Some(too_far), &rules, now());
    assert_eq!(codes(&both.unwrap_err()), ["api-key-ip-allowlist-required", "api-key-valid-until-too-far"]);
}

#[test]
fn an_empty_scope_set_cannot_become_a_key() {
    let err = plan_new_key(Scopes::default(), &ips(&["192.0.2.1"]), None, &KeyRules::default(), now());
    assert_eq!(codes(&err.unwrap_err()), ["api-key-scopes-empty"]);
}

#[test]
fn a_request_is_authorized_only_within_scope_address_and_lifetime() {
    let list = ips(&["192.0.2.0/24"]);
    let key = KeyFacts {
        scopes: scopes(&["read", "withdraw"]),
        ip_allowlist: &list,
        valid_until: now().plus(days(1)),
        revoked_at: None,
    };
    assert_eq!(authorize(&key, Scope::Withdraw, ip("192.0.2.9"), now()), Ok(()));
    let err = authorize(&key, Scope::Transfer, ip("198.51.100.1"), now()).unwrap_err();
    assert_eq!(codes(&err), ["api-key-scope-missing", "api-key-ip-not-allowed"]);
    let later = now().plus(days(1));
    assert_eq!(
        codes(&authorize(&key, Scope::Read, ip("192.0.2.9"), later).unwrap_err()),
        ["api-key-expired"]
    );
    let revoked = KeyFacts { revoked_at: Some(now()), ..key.clone() };
    assert_eq!(
        codes(&authorize(&revoked, Scope::Read, ip("192.0.2.9"), now()).unwrap_err()),
        ["api-key-revoked"]
    );
}

#[test]
fn a_key_without_an_allowlist_never_moves_money_even_if_stored_with_the_scope() {
    let none = IpAllowlist::default();
    let key = KeyFacts {
        scopes: scopes(&["read", "withdraw"]),
        ip_allowlist: &none,
        valid_until: now().plus(days(1)),
        revoked_at: None,
    };
    assert_eq!(authorize(&key, Scope::Read, ip("198.51.100.1"), now()), Ok(()));
    assert_eq!(
        codes(&authorize(&key, Scope::Withdraw, ip("198.51.100.1"), now()).unwrap_err()),
        ["api-key-ip-not-allowed"]
    );
}

#[test]
fn key_ids_are_random_and_parse_only_in_their_shape() {
    let id = ApiKeyId::generate();
    assert_eq!(id.as_str().len(), 27);
    assert!(id.as_str().starts_with("ck_"));
    assert_eq!(ApiKeyId::parse(id.as_str()), Some(id.clone()));
    assert_ne!(ApiKeyId::generate(), id);
    for bad in [
        "ck_abc",
        "ck_ABCDEFGHIJKLMNOPQRSTUVWX",
        "ck_abcdefghijklmnopqrstuvw1",
        "xx_abcdefghijklmnopqrstuvwx",
    ] {
        assert_eq!(ApiKeyId::parse(bad), None, "{bad}");
    }
}

#[test]
fn key_id_characters_cover_the_whole_alphabet() {
    let mut seen = [false; 32];
    for _ in 0..200 {
        for b in ApiKeyId::generate().as_str()[3..].bytes() {
            seen[BASE32.iter().position(|c| *c == b).unwrap()] = true;
        }
    }
    assert!(seen.iter().all(|s| *s));
}

#[test]
fn hmac_secrets_are_256_bits_shown_with_a_prefix_and_never_debug_printed() {
    let s = HmacSecret::generate();
    assert_eq!(s.expose().len(), 46);
    assert!(s.expose().starts_with("cs_"));
    assert_eq!(URL_SAFE_NO_PAD.decode(&s.expose()[3..]).unwrap().len(), 32);
    assert_eq!(s.key_material(), s.expose().as_bytes());
    assert_eq!(format!("{s:?}"), "HmacSecret(<redacted>)");
    assert!(HmacSecret::parse(s.expose()).is_some());
    assert!(HmacSecret::parse(&s.expose()[3..]).is_none());
    assert!(HmacSecret::parse("cs_short").is_none());
    assert_ne!(HmacSecret::generate().expose(), s.expose());
}

/// The RFC 8032 §7.1 test 1 public key.
const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

#[test]
fn ed25519_public_keys_are_32_bytes_in_standard_base64() {
    let raw = hex::decode(RFC8032_PUBLIC).unwrap();
    let b64 = STANDARD.encode(&raw);
    let key = Ed25519PublicKey::parse(&b64).unwrap();
    assert_eq!(key.as_bytes().as_slice(), raw.as_slice());
    assert_eq!(key.to_base64(), b64);
    for bad in [RFC8032_PUBLIC, "not base64!", &STANDARD.encode(&raw[..31]), &URL_SAFE_NO_PAD.encode(&raw)] {
        assert_eq!(Ed25519PublicKey::parse(bad).unwrap_err().code.0, "api-key-public-key-malformed", "{bad}");
    }
}

#[test]
fn weak_and_non_canonical_ed25519_keys_are_refused() {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(Ed25519PublicKey::from_bytes(identity).unwrap_err().code.0, "api-key-public-key-weak");
    // y = p + k for small k: every encoding of a field element ≥ p is non-canonical.
    for k in 0u8..19 {
        for sign in [0u8, 0x80] {
            let mut b = [0xffu8; 32];
            b[0] = 0xed + k;
            b[31] = 0x7f | sign;
            let err = Ed25519PublicKey::from_bytes(b).unwrap_err();
            assert!(
                ["api-key-public-key-invalid", "api-key-public-key-weak"].contains(&err.code.0),
                "y = p + {k}: {err:?}"
            );
        }
    }
}

#[test]
fn an_encoding_that_is_not_a_curve_point_is_invalid() {
    let not_on_curve = (0u8..=255)
        .map(|i| {
            let mut b = [0u8; 32];
            b[0] = i;
            b[1] = 1;
            b
        })
        .find(|b| ed25519_dalek::VerifyingKey::from_bytes(b).is_err())
        .unwrap();
    assert_eq!(Ed25519PublicKey::from_bytes(not_on_curve).unwrap_err().code.0, "api-key-public-key-invalid");
}

#[test]
fn ed25519_keys_need_a_public_key_and_hmac_keys_refuse_one() {
    let b64 = STANDARD.encode(hex::decode(RFC8032_PUBLIC).unwrap());
    assert!(check_key_material(KeyKind::Ed25519, Some(&b64)).unwrap().is_some());
    assert_eq!(check_key_material(KeyKind::Ed25519, None).unwrap_err().code.0, "api-key-public-key-required");
    assert_eq!(check_key_material(KeyKind::HmacSha256, None), Ok(None));
    assert_eq!(
        check_key_material(KeyKind::HmacSha256, Some(&b64)).unwrap_err().code.0,
        "api-key-public-key-unexpected"
    );
}

#[test]
fn labels_are_short_and_printable() {
    assert_eq!(KeyLabel::parse("  trading bot ").unwrap().as_str(), "trading bot");
    assert!(KeyLabel::parse(&"é".repeat(64)).is_ok());
    for bad in ["", "   ", "line\nbreak", &"x".repeat(65)] {
        assert_eq!(KeyLabel::parse(bad).unwrap_err().code.0, "api-key-label-invalid");
    }
}

#[test]
fn a_key_id_is_its_prefix_and_24_letters_of_the_base32_alphabet_exactly() {
    let id = ApiKeyId::generate();
    assert_eq!(ApiKeyId::parse(id.as_str()), Some(id.clone()));
    for b in 0..=u8::MAX {
        let mut s = id.as_str().to_owned().into_bytes();
        s[5] = b;
        let parsed = String::from_utf8(s).ok().and_then(|s| ApiKeyId::parse(&s));
        assert_eq!(parsed.is_some(), BASE32.contains(&b), "byte {b}");
    }
    assert_eq!(ApiKeyId::parse(&id.as_str()[..id.as_str().len() - 1]), None, "too short");
    assert_eq!(ApiKeyId::parse(&id.as_str().replacen("ck_", "cx_", 1)), None, "another prefix");
}
