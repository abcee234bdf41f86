//! Who is on the other end: the client address, trusting `X-Forwarded-For` only from our proxies.

use std::net::IpAddr;

use ipnet::IpNet;

/// The client address for a request that arrived from `peer`.
///
/// `X-Forwarded-For` is honoured only when the peer is a trusted proxy; then the list is read from
/// the right, skipping further trusted proxies, and the first untrusted address is the client.
/// Anything unparsable ends the walk at the last trusted hop (a client can prepend any garbage it
/// likes; only what our own proxies appended is believed).
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&canonical(*ip)));
    if !is_trusted(&peer) {
        return canonical(peer);
    }
    let Some(header) = forwarded_for else {
        return canonical(peer);
    };
    let mut client = canonical(peer);
    for hop in header.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = canonical(ip);
                if !is_trusted(&client) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) become plain IPv4, so one client is one key.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Parses a comma-separated CIDR list (`10.0.0.0/8, 192.0.2.7`); a bare address is a /32 or /128.
pub fn parse_cidr_list(s: &str) -> Result<Vec<IpNet>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<IpNet>()
                .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("not a CIDR or address: {p}"))
        })
        .collect()
}

/// Ranges an outbound request (a webhook) must not reach unless the operator allows it: loopback,
/// private (RFC 1918, RFC 4193), link-local (cloud metadata lives at 169.254.169.254), shared
/// address space (RFC 6598), multicast, documentation and reserved blocks (RFC 6890). Guards
/// against server-side request forgery into our own network.
const NON_PUBLIC: [&str; 20] = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
    "2001:db8::/32",
];

/// Whether `ip` is an ordinary public Internet address. IPv4-mapped (`::ffff:a.b.c.d`) and NAT64
/// (`64:ff9b::a.b.c.d`) addresses are judged by the IPv4 address inside them.
pub fn is_public_address(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None if v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] => {
                let o = v6.octets();
                IpAddr::V4(std::net::Ipv4Addr::new(o[12], o[13], o[14], o[15]))
            }
            None => ip,
        },
        v4 => v4,
    };
    !NON_PUBLIC.iter().any(|net| net.parse::<IpNet>().is_ok_and(|net| net.contains(&ip)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_header_is_ignored_from_untrusted_peers() {
        let trusted = parse_cidr_list("10.0.0.0/8").unwrap();
        assert_eq!(client_ip(ip("198.51.100.7"), Some("1.2.3.4"), &trusted), ip("198.51.100.7"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = parse_cidr_list("10.0.0.0/8, 192.0.2.1").unwrap();
        let h = "6.6.6.6, 203.0.113.5, 192.0.2.1";
        assert_eq!(client_ip(ip("10.1.2.3"), Some(h), &trusted), ip("203.0.113.5"));
        assert_eq!(client_ip(ip("10.1.2.3"), Some("garbage, 203.0.113.5"), &trusted), ip("203.0.113.5"));
        assert_eq!(client_ip(ip("10.1.2.3"), Some("203.0.113.5, garbage"), &trusted), ip("10.1.2.3"));
        assert_eq!(client_ip(ip("10.1.2.3"), None, &trusted), ip("10.1.2.3"));
    }

    #[test]
    fn mapped_addresses_are_canonical() {
        assert_eq!(client_ip(ip("::ffff:198.51.100.7"), None, &[]), ip("198.51.100.7"));
    }

    #[test]
    fn bad_cidrs_are_named() {
        assert!(parse_cidr_list("10.0.0.0/33").unwrap_err().contains("10.0.0.0/33"));
        assert_eq!(parse_cidr_list("").unwrap(), vec![]);
    }

    #[test]
    fn private_loopback_and_metadata_addresses_are_not_public() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.31.255.255",
            "192.168.0.10",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public_address(ip(a)), "{a}");
        }
        for a in ["93.184.216.34", "1.1.1.1", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public_address(ip(a)), "{a}");
        }
    }
}
