//! Who may place a call to one of our numbers (SPEC §3.6, issue 7): an
//! INVITE to a DID is accepted only from a trunk of the DID's workspace —
//! by source address (`inbound_ips`, or the trunk host's addresses when
//! the list is empty), or by digest credentials of a trunk that allows
//! them — or from a phone registered to that workspace (an internal
//! call). Everything else is refused before anything is stored.
//!
//! Pure: the SIP adapter resolves host names and checks the digest (this
//! crate does not speak SIP) and hands the outcomes in.

use crate::ids::SipTrunkId;
use std::net::IpAddr;

/// A trunk as inbound admission sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundTrunk {
    pub id: SipTrunkId,
    /// The trunk's `inbound_ips`: IP addresses or CIDR blocks.
    pub sources: Vec<String>,
    /// What the trunk's host resolves to; only consulted when `sources` is
    /// empty (a provider that sends from its registrar address).
    pub host_addrs: Vec<IpAddr>,
    /// Calls that authenticate with the trunk's credentials are accepted.
    pub inbound_auth: bool,
}

/// What the INVITE's digest credentials came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundCredentials {
    /// None sent, or not usable (foreign nonce, malformed): challenge.
    Absent,
    /// They verify against this trunk's username and password.
    Valid(SipTrunkId),
    /// Right password, expired nonce: challenge again with `stale=true`.
    Stale,
    /// Wrong password or unknown username.
    Invalid,
}

/// The verdict for an INVITE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundAdmission {
    /// From this trunk (by address or credentials).
    Trunk(SipTrunkId),
    /// From a phone registered to the workspace.
    Extension,
    /// Ask for the trunk credentials (407).
    Challenge { stale: bool },
    /// 403, nothing stored.
    Forbidden,
}

/// Decides an INVITE from `source`. Address matches win over credentials
/// (a provider that sends from a listed address is never challenged, which
/// is how most trunks work); a challenge is only issued when some trunk
/// of the workspace accepts credentials at all, so an unknown address
/// learns nothing about which numbers take authenticated calls.
pub fn admit_inbound(
    source: IpAddr,
    trunks: &[InboundTrunk],
    from_registered_extension: bool,
    credentials: InboundCredentials,
) -> InboundAdmission {
    let source = source.to_canonical();
    for t in trunks {
        let by_address = if t.sources.is_empty() {
            t.host_addrs.iter().any(|a| a.to_canonical() == source)
        } else {
            t.sources.iter().any(|s| source_matches(source, s))
        };
        if by_address {
            return InboundAdmission::Trunk(t.id);
        }
    }
    if from_registered_extension {
        return InboundAdmission::Extension;
    }
    if !trunks.iter().any(|t| t.inbound_auth) {
        return InboundAdmission::Forbidden;
    }
    match credentials {
        InboundCredentials::Valid(id) if trunks.iter().any(|t| t.id == id && t.inbound_auth) => InboundAdmission::Trunk(id),
        InboundCredentials::Valid(_) | InboundCredentials::Invalid => InboundAdmission::Forbidden,
        InboundCredentials::Absent => InboundAdmission::Challenge { stale: false },
        InboundCredentials::Stale => InboundAdmission::Challenge { stale: true },
    }
}

/// Whether `ip` is `pattern`: an address, or a block `addr/len`.
/// Patterns that do not parse match nothing (the API validates them).
pub fn source_matches(ip: IpAddr, pattern: &str) -> bool {
    let ip = ip.to_canonical();
    match parse_source(pattern) {
        Some((net, len)) => in_block(ip, net, len),
        None => false,
    }
}

/// `addr` or `addr/len` → (network address, prefix length).
pub fn parse_source(pattern: &str) -> Option<(IpAddr, u8)> {
    let pattern = pattern.trim();
    let (addr, len) = match pattern.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (pattern, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let addr = addr.to_canonical();
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) && l.len() <= 3 => l.parse::<u8>().ok()?,
        Some(_) => return None,
    };
    (len <= max).then_some((addr, len))
}

fn in_block(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    fn trunk(id: i64, sources: &[&str], host: &[&str], auth: bool) -> InboundTrunk {
        InboundTrunk {
            id: SipTrunkId(id),
            sources: sources.iter().map(|s| s.to_string()).collect(),
            host_addrs: host.iter().map(|h| ip(h)).collect(),
            inbound_auth: auth,
        }
    }

    #[test]
    fn listed_addresses_and_blocks_are_admitted() {
        let trunks = [trunk(1, &["10.0.0.5"], &[], false), trunk(2, &["192.0.2.0/24", "2001:db8::/32"], &[], false)];
        let admit = |s: &str| admit_inbound(ip(s), &trunks, false, InboundCredentials::Absent);
        assert_eq!(admit("10.0.0.5"), InboundAdmission::Trunk(SipTrunkId(1)));
        assert_eq!(admit("192.0.2.77"), InboundAdmission::Trunk(SipTrunkId(2)));
        assert_eq!(admit("::ffff:192.0.2.1"), InboundAdmission::Trunk(SipTrunkId(2)), "IPv4-mapped source");
        assert_eq!(admit("2001:db8:1::9"), InboundAdmission::Trunk(SipTrunkId(2)));
        assert_eq!(admit("10.0.0.6"), InboundAdmission::Forbidden);
        assert_eq!(admit("192.0.3.1"), InboundAdmission::Forbidden);
    }

    #[test]
    fn the_host_counts_only_without_a_source_list() {
        let by_host = [trunk(1, &[], &["203.0.113.9"], false)];
        assert_eq!(admit_inbound(ip("203.0.113.9"), &by_host, false, InboundCredentials::Absent), InboundAdmission::Trunk(SipTrunkId(1)));
        let listed = [trunk(1, &["10.0.0.1"], &["203.0.113.9"], false)];
        assert_eq!(admit_inbound(ip("203.0.113.9"), &listed, false, InboundCredentials::Absent), InboundAdmission::Forbidden);
    }

    #[test]
    fn credentials_are_asked_for_only_when_a_trunk_takes_them() {
        let open = [trunk(1, &["10.0.0.1"], &[], false)];
        assert_eq!(admit_inbound(ip("198.51.100.1"), &open, false, InboundCredentials::Absent), InboundAdmission::Forbidden);
        assert_eq!(
            admit_inbound(ip("198.51.100.1"), &open, false, InboundCredentials::Valid(SipTrunkId(1))),
            InboundAdmission::Forbidden,
            "credentials of a trunk that does not take them"
        );
        let auth = [trunk(1, &["10.0.0.1"], &[], false), trunk(2, &[], &[], true)];
        let from = ip("198.51.100.1");
        assert_eq!(admit_inbound(from, &auth, false, InboundCredentials::Absent), InboundAdmission::Challenge { stale: false });
        assert_eq!(admit_inbound(from, &auth, false, InboundCredentials::Stale), InboundAdmission::Challenge { stale: true });
        assert_eq!(admit_inbound(from, &auth, false, InboundCredentials::Invalid), InboundAdmission::Forbidden);
        assert_eq!(admit_inbound(from, &auth, false, InboundCredentials::Valid(SipTrunkId(2))), InboundAdmission::Trunk(SipTrunkId(2)));
        assert_eq!(admit_inbound(from, &auth, false, InboundCredentials::Valid(SipTrunkId(9))), InboundAdmission::Forbidden);
        // A listed address is never challenged.
        assert_eq!(admit_inbound(ip("10.0.0.1"), &auth, false, InboundCredentials::Absent), InboundAdmission::Trunk(SipTrunkId(1)));
    }

    #[test]
    fn registered_phones_call_in_without_a_trunk() {
        assert_eq!(admit_inbound(ip("127.0.0.1"), &[], true, InboundCredentials::Absent), InboundAdmission::Extension);
        assert_eq!(admit_inbound(ip("127.0.0.1"), &[], false, InboundCredentials::Absent), InboundAdmission::Forbidden);
    }

    #[test]
    fn source_patterns() {
        assert_eq!(parse_source("10.1.2.3"), Some((ip("10.1.2.3"), 32)));
        assert_eq!(parse_source(" 10.1.0.0/16 "), Some((ip("10.1.0.0"), 16)));
        assert_eq!(parse_source("0.0.0.0/0"), Some((ip("0.0.0.0"), 0)));
        assert!(source_matches(ip("8.8.8.8"), "0.0.0.0/0"));
        assert!(!source_matches(ip("::1"), "0.0.0.0/0"), "families never mix");
        for bad in ["10.1.2.3/33", "10.1.2.3/", "10.1.2.3/-1", "example.com", "10.1.2.3/8/8", "::1/129", ""] {
            assert_eq!(parse_source(bad), None, "{bad}");
            assert!(!source_matches(ip("10.1.2.3"), bad), "{bad}");
        }
    }
}
