//! `BindInterface`: the address of a network interface to connect from,
//! chosen as OpenSSH's `check_ifaddrs` does.

use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address of the interface `name` in the family being connected,
/// preferring one that is neither loopback nor link-local; `None` when
/// the interface is down, unknown or has none.
pub fn address(name: &str, ipv6: bool) -> Option<IpAddr> {
    choose(&addresses(name)?, ipv6)
}

/// The preference among an interface's addresses.
fn choose(addresses: &[IpAddr], ipv6: bool) -> Option<IpAddr> {
    let family: Vec<IpAddr> = addresses.iter().copied().filter(|a| a.is_ipv6() == ipv6).collect();
    let local = |a: &IpAddr| match a {
        // OpenSSH passes over 127.0.0.1 alone, not the rest of 127/8.
        IpAddr::V4(v4) => *v4 == Ipv4Addr::LOCALHOST,
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unicast_link_local(),
    };
    family.iter().find(|a| !local(a)).or(family.first()).copied()
}

/// Every address of the interface `name` that is up, in the system's
/// order; `None` if the list cannot be read.
fn addresses(name: &str) -> Option<Vec<IpAddr>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a list that we free below, once.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return None;
    }
    let mut found = Vec::new();
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a node of the list getifaddrs returned, not
        // yet freed; its name and address stay valid until then.
        let entry = unsafe { &*cursor };
        cursor = entry.ifa_next;
        let up = entry.ifa_flags & (libc::IFF_UP as u32) != 0;
        if entry.ifa_addr.is_null() || entry.ifa_name.is_null() || !up {
            continue;
        }
        // SAFETY: a NUL-terminated name, as above.
        if unsafe { CStr::from_ptr(entry.ifa_name) }.to_bytes() != name.as_bytes() {
            continue;
        }
        // SAFETY: the address is a sockaddr whose family says which
        // sockaddr_* it is.
        match i32::from(unsafe { (*entry.ifa_addr).sa_family }) {
            libc::AF_INET => {
                // SAFETY: as above.
                let v4 = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in) };
                found.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))));
            }
            libc::AF_INET6 => {
                // SAFETY: as above.
                let v6 = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in6) };
                found.push(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.s6_addr)));
            }
            _ => {}
        }
    }
    // SAFETY: the list from getifaddrs, no longer referred to.
    unsafe { libc::freeifaddrs(list) };
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_addresses_other_than_loopback_and_link_local() {
        let v4 = |s: &str| IpAddr::V4(s.parse().unwrap());
        let v6 = |s: &str| IpAddr::V6(s.parse().unwrap());
        let cases = [
            (vec![v4("127.0.0.1"), v4("10.0.0.1")], false, Some(v4("10.0.0.1"))),
            (vec![v4("127.0.0.1")], false, Some(v4("127.0.0.1"))),
            (vec![v4("127.0.0.2"), v4("10.0.0.1")], false, Some(v4("127.0.0.2"))),
            (vec![v6("fe80::1"), v6("2001:db8::1"), v4("10.0.0.1")], true, Some(v6("2001:db8::1"))),
            (vec![v6("::1")], true, Some(v6("::1"))),
            (vec![v4("10.0.0.1")], true, None),
        ];
        for (addresses, ipv6, want) in cases {
            assert_eq!(choose(&addresses, ipv6), want, "{addresses:?}");
        }
    }

    #[test]
    fn finds_the_loopback_interface() {
        assert_eq!(address("lo", false), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(address("no-such-interface", false), None);
    }
}
