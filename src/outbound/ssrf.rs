//! Where a webhook may not go: a URL an admin registers must not make the server call itself,
//! its neighbours or its cloud's metadata service (server-side request forgery). Every address
//! a target's host resolves to is checked, when it is registered and again at each delivery
//! (DNS answers change); only the addresses that pass are connected to, so a name cannot be
//! re-pointed between the check and the connection.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP network, `address/prefix` (`127.0.0.0/8`, `::1/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    /// `None` for text that is not `address/prefix` with a prefix the address family allows.
    pub fn parse(text: &str) -> Option<Network> {
        let (address, prefix) = text.trim().split_once('/')?;
        let address: IpAddr = address.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Network { address, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask32(self.prefix);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask128(self.prefix);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// IPv4 ranges no webhook may reach: this host, private networks, carrier-grade NAT, link-local
/// (the cloud metadata service at 169.254.169.254), documentation, benchmarking, multicast and
/// reserved space.
const V4_FORBIDDEN: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 0, 0, 0), 24),
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    (Ipv4Addr::new(198, 18, 0, 0), 15),
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    (Ipv4Addr::new(203, 0, 113, 0), 24),
    (Ipv4Addr::new(224, 0, 0, 0), 4),
    (Ipv4Addr::new(240, 0, 0, 0), 4),
];

/// IPv6 ranges likewise: unspecified, loopback, unique local (AWS's metadata `fd00:ec2::254`),
/// link-local, multicast and documentation. Addresses embedding an IPv4 one (mapped, NAT64)
/// are judged by it.
const V6_FORBIDDEN: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::UNSPECIFIED, 128),
    (Ipv6Addr::LOCALHOST, 128),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),
];

/// The IPv4 address an IPv6 one stands for: mapped (`::ffff:a.b.c.d`) or NAT64
/// (`64:ff9b::a.b.c.d`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]).then(|| {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    })
}

/// Whether a webhook may connect to `ip`: not in a forbidden range, unless the server's
/// configuration allows the network it is in (`allowed`; tests allow loopback).
pub fn permitted(ip: IpAddr, allowed: &[Network]) -> bool {
    if allowed.iter().any(|n| n.contains(ip)) {
        return true;
    }
    match ip {
        IpAddr::V4(v4) => !V4_FORBIDDEN.iter().any(|(net, prefix)| {
            Network {
                address: IpAddr::V4(*net),
                prefix: *prefix,
            }
            .contains(IpAddr::V4(v4))
        }),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => permitted(IpAddr::V4(v4), allowed),
            None => !V6_FORBIDDEN.iter().any(|(net, prefix)| {
                Network {
                    address: IpAddr::V6(*net),
                    prefix: *prefix,
                }
                .contains(IpAddr::V6(v6))
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn private_loopback_link_local_and_metadata_are_refused() {
        for bad in [
            "127.0.0.1",
            "127.1.2.3",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "fc00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!permitted(ip(bad), &[]), "{bad} was permitted");
        }
        for good in [
            "93.184.216.34",
            "172.32.0.1",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(permitted(ip(good), &[]), "{good} was refused");
        }
    }

    #[test]
    fn configured_networks_are_allowed_and_parsed_strictly() {
        let loopback = [
            Network::parse("127.0.0.0/8").unwrap_or(Network {
                address: ip("0.0.0.0"),
                prefix: 32,
            }),
            Network::parse("::1/128").unwrap_or(Network {
                address: ip("::"),
                prefix: 128,
            }),
        ];
        assert!(permitted(ip("127.0.0.1"), &loopback));
        assert!(permitted(ip("::1"), &loopback));
        assert!(!permitted(ip("10.0.0.1"), &loopback));
        assert!(!permitted(ip("169.254.169.254"), &loopback));
        for bad in [
            "127.0.0.0",
            "127.0.0.0/33",
            "::1/129",
            "x/8",
            "10.0.0.0/-1",
            "",
        ] {
            assert_eq!(Network::parse(bad), None, "{bad}");
        }
        assert!(Network::parse("0.0.0.0/0").is_some_and(|n| n.contains(ip("8.8.8.8"))));
    }
}
