//! Official-channel verification: "is this really us?" — impostor support is a named attack vector.
//!
//! Values are compared in one canonical form per kind ([`normalise`]): a domain without scheme,
//! `www.`, path, port, user-info or trailing dot; an email address lower-cased; a phone number in
//! E.164; a social handle as `platform:handle` without `@`; a staff ID as `CS-123456`. A value that
//! is not official but *looks like* an official one ([`lookalike_of`]) is called out: one or two
//! edits away, or the same after folding homoglyphs and digit-for-letter swaps (`0`→`o`, `1`→`l`,
//! `rn`→`m`, Cyrillic `а`→`a`…), or a domain that carries an official name inside another one
//! (`custos-support.com`, `custos.example.evil.io`).

use serde::{Deserialize, Serialize};

use crate::Reason;
use crate::phone::Phone;
use crate::staff::StaffCode;

/// Longest value accepted, in bytes: every real channel fits, and lookalike work stays bounded.
pub const MAX_VALUE_BYTES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Domain,
    Email,
    Phone,
    Social,
    Staff,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 5] = [Self::Domain, Self::Email, Self::Phone, Self::Social, Self::Staff];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Domain => "domain",
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Social => "social",
            Self::Staff => "staff",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s.trim().to_ascii_lowercase())
    }
}

/// Hosts of social platforms, so a profile URL becomes `platform:handle`.
const SOCIAL_HOSTS: [(&str, &str); 12] = [
    ("twitter.com", "x"),
    ("x.com", "x"),
    ("t.me", "telegram"),
    ("telegram.me", "telegram"),
    ("instagram.com", "instagram"),
    ("facebook.com", "facebook"),
    ("youtube.com", "youtube"),
    ("tiktok.com", "tiktok"),
    ("reddit.com", "reddit"),
    ("github.com", "github"),
    ("linkedin.com", "linkedin"),
    ("discord.gg", "discord"),
];

/// Platform names accepted before a `:` (with their aliases).
const PLATFORMS: [(&str, &str); 12] = [
    ("x", "x"),
    ("twitter", "x"),
    ("telegram", "telegram"),
    ("tg", "telegram"),
    ("instagram", "instagram"),
    ("facebook", "facebook"),
    ("youtube", "youtube"),
    ("tiktok", "tiktok"),
    ("reddit", "reddit"),
    ("github", "github"),
    ("linkedin", "linkedin"),
    ("discord", "discord"),
];

fn invalid(kind: ChannelKind, detail: &str) -> Reason {
    Reason::new("channel-invalid", format!("This is not a valid {}: {detail}", kind.as_str()))
}

/// Guesses the kind of a value typed without one (the public page's single box).
pub fn guess_kind(input: &str) -> ChannelKind {
    let s = input.trim();
    let lower = s.to_lowercase();
    if StaffCode::parse(s).is_some() {
        ChannelKind::Staff
    } else if s.starts_with('+') && Phone::parse(s).is_some() {
        ChannelKind::Phone
    } else if s.starts_with('@') || social_from_url(&lower).is_some() || platform_prefix(&lower).is_some() {
        ChannelKind::Social
    } else if lower.starts_with("mailto:") || (s.contains('@') && !s.contains('/') && !lower.contains("://"))
    {
        ChannelKind::Email
    } else {
        ChannelKind::Domain
    }
}

fn platform_prefix(lower: &str) -> Option<(&'static str, &str)> {
    let (p, rest) = lower.split_once(':')?;
    let canonical = PLATFORMS.iter().find(|(alias, _)| *alias == p.trim())?.1;
    Some((canonical, rest))
}

/// `https://x.com/Custos` → `("x", "custos")`.
fn social_from_url(lower: &str) -> Option<(&'static str, String)> {
    let without_scheme = lower.split_once("://").map_or(lower, |(_, r)| r);
    let (host, path) = without_scheme.split_once('/')?;
    let host = host.trim_start_matches("www.").trim_start_matches("m.");
    let platform = SOCIAL_HOSTS.iter().find(|(h, _)| *h == host)?.1;
    let mut segments = path.split(['/', '?', '#']).filter(|s| !s.is_empty());
    let mut handle = segments.next()?;
    // reddit.com/r/name, reddit.com/user/name, linkedin.com/company/name, youtube.com/c/name
    if matches!(handle, "r" | "u" | "user" | "company" | "in" | "c" | "channel") {
        handle = segments.next()?;
    }
    Some((platform, handle.trim_start_matches('@').to_owned()))
}

fn valid_handle(h: &str) -> bool {
    !h.is_empty() && h.len() <= 64 && h.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A host name: lower case, no scheme, user-info, port, path, `www.` or trailing dots.
fn normalise_domain(input: &str) -> Result<String, Reason> {
    let kind = ChannelKind::Domain;
    let lower = input.trim().to_lowercase();
    let without_scheme = lower.split_once("://").map_or(lower.as_str(), |(_, r)| r);
    let authority = without_scheme.split(['/', '?', '#', '\\']).next().unwrap_or("");
    // `https://custos.example@evil.io/` goes to evil.io: the part before `@` is user-info.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host_port,
    };
    let host = host.trim_end_matches('.');
    let host = host.strip_prefix("www.").unwrap_or(host);
    if host.is_empty() || host.len() > 253 || !host.contains('.') {
        return Err(invalid(kind, "give a name such as example.com."));
    }
    let labels_ok = host.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    });
    if !labels_ok {
        return Err(invalid(kind, "a name is letters, digits and hyphens between dots."));
    }
    Ok(host.to_owned())
}

/// The canonical form of `input` as a channel of `kind`, or why it is not one.
pub fn normalise(kind: ChannelKind, input: &str) -> Result<String, Reason> {
    if input.len() > MAX_VALUE_BYTES {
        return Err(invalid(kind, "it is too long."));
    }
    if input.chars().any(char::is_control) {
        return Err(invalid(kind, "it contains control characters."));
    }
    match kind {
        ChannelKind::Domain => normalise_domain(input),
        ChannelKind::Email => {
            let lower = input.trim().to_lowercase();
            let lower = lower.strip_prefix("mailto:").unwrap_or(&lower);
            let (local, domain) =
                lower.rsplit_once('@').ok_or_else(|| invalid(kind, "an address has an @."))?;
            let local_ok = !local.is_empty()
                && local.len() <= 64
                && local.chars().all(|c| c.is_alphanumeric() || "._%+-".contains(c));
            if !local_ok {
                return Err(invalid(kind, "the part before @ is not an address."));
            }
            let domain =
                normalise_domain(domain).map_err(|_| invalid(kind, "the part after @ is not a domain."))?;
            Ok(format!("{local}@{domain}"))
        }
        ChannelKind::Phone => {
            let t = input.trim();
            let t = t.strip_prefix("tel:").unwrap_or(t);
            let t = t.strip_prefix("00").map(|r| format!("+{r}")).unwrap_or_else(|| t.to_owned());
            Phone::parse(&t)
                .map(|p| p.as_str().to_owned())
                .ok_or_else(|| invalid(kind, "write it with the country code, e.g. +44 20 7946 0000."))
        }
        ChannelKind::Social => {
            let lower = input.trim().to_lowercase();
            let (platform, handle) = if let Some((p, h)) = social_from_url(&lower) {
                (Some(p), h)
            } else if let Some((p, rest)) = platform_prefix(&lower) {
                (Some(p), rest.trim().trim_start_matches('@').to_owned())
            } else {
                (None, lower.trim_start_matches('@').to_owned())
            };
            let handle = handle.trim_end_matches(['/', '.']).to_owned();
            if !valid_handle(&handle) {
                return Err(invalid(kind, "a handle is letters, digits, dots, hyphens and underscores."));
            }
            Ok(match platform {
                Some(p) => format!("{p}:{handle}"),
                None => handle,
            })
        }
        ChannelKind::Staff => StaffCode::parse(input)
            .map(|c| c.as_str().to_owned())
            .ok_or_else(|| invalid(kind, "a staff ID is CS- followed by six digits.")),
    }
}

/// The handle part of a normalised social value (`x:custos` → `custos`).
pub fn social_handle(value: &str) -> &str {
    value.split_once(':').map_or(value, |(_, h)| h)
}

/// Folds characters that look alike, so `cust0s`, `custоs` (Cyrillic о) and `cvstos` meet.
pub fn skeleton(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.to_lowercase().chars() {
        let folded = match c {
            '0' | 'о' | 'ο' | 'ө' => 'o',
            '1' | 'i' | 'í' | 'ì' | 'ı' | '|' | '!' | 'і' | 'ӏ' | 'ι' => 'l',
            '3' | 'е' | 'є' | 'é' | 'è' | 'ε' => 'e',
            '4' | '@' | 'а' | 'á' | 'à' | 'α' => 'a',
            '5' | '$' | 'ѕ' => 's',
            '7' => 't',
            '8' | 'ь' => 'b',
            '9' => 'g',
            'с' | 'ϲ' => 'c',
            'р' | 'ρ' => 'p',
            'х' | 'χ' => 'x',
            'у' | 'γ' => 'y',
            'к' | 'κ' => 'k',
            'м' => 'm',
            'н' => 'h',
            'т' | 'τ' => 't',
            'в' => 'b',
            'ν' | 'u' | 'ú' | 'ü' => 'v',
            'ԁ' => 'd',
            'ɡ' => 'g',
            'ј' => 'j',
            '-' | '_' | '.' => continue,
            other => other,
        };
        out.push(folded);
    }
    out.replace("rn", "m").replace("vv", "w").replace("cl", "d")
}

/// Levenshtein distance, stopping early beyond `cap` (values are short; this keeps it cheap).
pub fn edit_distance(a: &str, b: &str, cap: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > cap {
        return cap + 1;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        if cur.iter().min().copied().unwrap_or(0) > cap {
            return cap + 1;
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The part of a domain that names the brand: `support.custos.example` → `custos`.
fn brand_label(domain: &str) -> Option<&str> {
    let labels: Vec<&str> = domain.split('.').collect();
    (labels.len() >= 2).then(|| labels[labels.len() - 2]).filter(|l| l.chars().count() >= 4)
}

/// The official value (of the same kind) that `value` imitates, if any. `value` itself is known not
/// to be official; both are normalised.
pub fn lookalike_of<'a>(kind: ChannelKind, value: &str, official: &'a [String]) -> Option<&'a str> {
    let compare = |v: &str, o: &str| -> bool {
        if v == o {
            return false;
        }
        let short = o.chars().count().min(v.chars().count());
        (short >= 5 && edit_distance(v, o, 2) <= 2) || skeleton(v) == skeleton(o)
    };
    official.iter().map(String::as_str).find(|o| match kind {
        // Phone numbers and staff IDs are checked exactly; a near miss is simply not official.
        ChannelKind::Phone | ChannelKind::Staff => false,
        ChannelKind::Domain => {
            compare(value, o)
                || brand_label(o).is_some_and(|brand| {
                    let v_skel = skeleton(value);
                    value.split('.').any(|l| l.contains(brand)) || v_skel.contains(&skeleton(brand))
                })
        }
        ChannelKind::Email => {
            let (vl, vd) = value.rsplit_once('@').unwrap_or(("", value));
            let (ol, od) = o.rsplit_once('@').unwrap_or(("", o));
            compare(value, o) || (vl == ol && vd != od && (compare(vd, od) || lookalike_domain(vd, od)))
        }
        ChannelKind::Social => compare(social_handle(value), social_handle(o)),
    })
}

fn lookalike_domain(v: &str, o: &str) -> bool {
    lookalike_of(ChannelKind::Domain, v, std::slice::from_ref(&o.to_owned())).is_some()
}

/// What the public verification answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Official,
    /// A staff ID that belonged to someone who no longer works here.
    NoLongerValid,
    /// Not official, and close to an official value: almost certainly an impostor.
    Lookalike {
        of: String,
    },
    NotOfficial,
}

/// Judges a normalised non-staff `value` against the registry's values of its kind.
/// For social handles registered with a platform, a bare handle matches any platform's.
pub fn judge(kind: ChannelKind, value: &str, official: &[String]) -> (Verdict, Option<String>) {
    // A subdomain of an official domain is ours: nobody else can create one.
    let exact = official.iter().find(|o| {
        *o == value
            || (kind == ChannelKind::Social && !value.contains(':') && social_handle(o) == value)
            || (kind == ChannelKind::Domain && value.ends_with(&format!(".{o}")))
    });
    if let Some(o) = exact {
        return (Verdict::Official, Some(o.clone()));
    }
    match lookalike_of(kind, value, official) {
        Some(o) => (Verdict::Lookalike { of: o.to_owned() }, None),
        None => (Verdict::NotOfficial, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ChannelKind::*;

    fn n(kind: ChannelKind, s: &str) -> String {
        normalise(kind, s).unwrap_or_else(|r| panic!("{s}: {}", r.detail))
    }

    #[test]
    fn domains_lose_scheme_www_path_port_userinfo_and_trailing_dots() {
        for s in [
            "custos.example",
            "CUSTOS.example",
            "https://custos.example",
            "https://www.custos.example/",
            "http://custos.example:8443/login?x=1",
            "www.custos.example.",
            "custos.example..",
            "  https://Custos.Example/#top ",
        ] {
            assert_eq!(n(Domain, s), "custos.example", "{s}");
        }
        assert_eq!(n(Domain, "https://custos.example@evil.io/login"), "evil.io");
        assert_eq!(n(Domain, "support.custos.example"), "support.custos.example");
    }

    #[test]
    fn garbage_is_refused_with_a_reason_not_a_panic() {
        for (kind, s) in [
            (Domain, ""),
            (Domain, "localhost"),
            (Domain, "exa mple.com"),
            (Domain, "-bad-.com"),
            (Domain, "https://"),
            (Email, "no-at-sign"),
            (Email, "@custos.example"),
            (Email, "a@b"),
            (Phone, "12345"),
            (Phone, "+0 123"),
            (Social, "@"),
            (Social, "x:<script>"),
            (Staff, "CS-12"),
            (Domain, "a\u{0}b.com"),
        ] {
            let r = normalise(kind, s).unwrap_err();
            assert_eq!(r.code.0, "channel-invalid", "{s}");
        }
        assert!(normalise(Domain, &"a".repeat(300)).is_err());
    }

    #[test]
    fn emails_phones_handles_and_staff_ids_have_one_form() {
        assert_eq!(n(Email, "Support@Custos.Example."), "support@custos.example");
        assert_eq!(n(Email, "mailto:support@custos.example"), "support@custos.example");
        assert_eq!(n(Phone, "+44 20 7946 0000"), "+442079460000");
        assert_eq!(n(Phone, "0044 (20) 7946-0000"), "+442079460000");
        assert_eq!(n(Social, "@CustosHelp"), "custoshelp");
        assert_eq!(n(Social, "x:@CustosHelp"), "x:custoshelp");
        assert_eq!(n(Social, "twitter:custoshelp"), "x:custoshelp");
        assert_eq!(n(Social, "https://twitter.com/CustosHelp/"), "x:custoshelp");
        assert_eq!(n(Social, "https://www.x.com/custoshelp?s=20"), "x:custoshelp");
        assert_eq!(n(Social, "https://t.me/custos_support"), "telegram:custos_support");
        assert_eq!(n(Staff, "cs 123456"), "CS-123456");
    }

    #[test]
    fn the_kind_is_guessed_from_the_shape() {
        assert_eq!(guess_kind("CS-123456"), Staff);
        assert_eq!(guess_kind("+44 20 7946 0000"), Phone);
        assert_eq!(guess_kind("@custoshelp"), Social);
        assert_eq!(guess_kind("https://t.me/custos"), Social);
        assert_eq!(guess_kind("telegram:custos"), Social);
        assert_eq!(guess_kind("support@custos.example"), Email);
        assert_eq!(guess_kind("https://custos.example/login"), Domain);
        assert_eq!(guess_kind("https://custos.example@evil.io"), Domain);
        assert_eq!(guess_kind("custos.example"), Domain);
    }

    #[test]
    fn near_misses_and_homoglyphs_are_lookalikes() {
        let official = vec!["custos.example".to_owned()];
        for fake in [
            "cust0s.example",
            "custos.exampel",
            "custo.example",
            "custоs.example", // Cyrillic о
            "cvstos.example",
            "custos-support.com",
            "custos.example.evil.io",
            "login-cust0s.net",
        ] {
            let v = n(Domain, fake);
            assert_eq!(
                judge(Domain, &v, &official).0,
                Verdict::Lookalike { of: "custos.example".into() },
                "{fake}"
            );
        }
        for unrelated in ["example.org", "bitcoin.org", "kraken.com"] {
            assert_eq!(judge(Domain, unrelated, &official).0, Verdict::NotOfficial, "{unrelated}");
        }
        assert_eq!(judge(Domain, "custos.example", &official).0, Verdict::Official);
        assert_eq!(judge(Domain, "support.custos.example", &official).0, Verdict::Official);
        assert_eq!(
            judge(Domain, "evilcustos.example", &official).0,
            Verdict::Lookalike { of: "custos.example".into() }
        );
    }

    #[test]
    fn lookalike_emails_handles_and_the_rn_trick_are_caught() {
        let official = vec!["support@custos.example".to_owned()];
        assert!(matches!(judge(Email, "support@cust0s.example", &official).0, Verdict::Lookalike { .. }));
        assert!(matches!(judge(Email, "supp0rt@custos.example", &official).0, Verdict::Lookalike { .. }));
        assert_eq!(judge(Email, "jane@gmail.com", &official).0, Verdict::NotOfficial);

        let handles = vec!["x:custoshelp".to_owned()];
        assert_eq!(judge(Social, "x:custoshelp", &handles).0, Verdict::Official);
        assert_eq!(judge(Social, "custoshelp", &handles).0, Verdict::Official);
        assert!(matches!(judge(Social, "x:custos_help", &handles).0, Verdict::Lookalike { .. }));
        assert!(matches!(judge(Social, "custoshe1p", &handles).0, Verdict::Lookalike { .. }));
        assert_eq!(judge(Social, "x:satoshi", &handles).0, Verdict::NotOfficial);

        assert_eq!(skeleton("modern"), skeleton("rnodern"));
        assert_eq!(skeleton("wallet"), skeleton("vvallet"));
    }

    #[test]
    fn phones_and_staff_ids_match_exactly_or_not_at_all() {
        let phones = vec!["+442079460000".to_owned()];
        assert_eq!(judge(Phone, "+442079460000", &phones).0, Verdict::Official);
        assert_eq!(judge(Phone, "+442079460001", &phones).0, Verdict::NotOfficial);
    }

    #[test]
    fn edit_distance_is_levenshtein_with_a_cap() {
        assert_eq!(edit_distance("kitten", "sitting", 5), 3);
        assert_eq!(edit_distance("same", "same", 2), 0);
        assert_eq!(edit_distance("a", "abcdef", 2), 3);
        assert_eq!(edit_distance("", "ab", 2), 2);
    }
}
