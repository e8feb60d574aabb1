//! Which addresses a listener binds, and binding them, following OpenSSH's
//! `channel_setup_fwd_listener_tcpip`: every address a name resolves to,
//! IPv6 sockets bound v6-only so that `0.0.0.0:P` and `[::]:P` coexist, one
//! port shared by all the listeners of a forwarding.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::net::{TcpListener, TcpSocket};

use crate::io_reason;

/// The listen queue of every listener: a burst of connections waits in the
/// kernel instead of being reset (OpenSSH's 128 loses connections to a
/// burst of 1,000).
const BACKLOG: u32 = 1024;
/// With port 0, how often a set of listeners is bound again when a later
/// address finds the port the first one was given already taken.
const PORT_ZERO_ATTEMPTS: usize = 8;
/// "Address family not supported": the kernel has no IPv6 at all. (std has
/// no `ErrorKind` for it.)
const EAFNOSUPPORT: i32 = 97;

/// Where a listener binds, once the caller has applied its rules (OpenSSH's
/// `GatewayPorts`, sshd's `clientspecified`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListenAddress {
    /// `127.0.0.1` and `::1`.
    Loopback,
    /// Every interface: `0.0.0.0` and `::`.
    Any,
    /// An address literal (IPv6 in brackets or not) or a name to resolve.
    Host(String),
}

/// Why a listener could not be set up. The messages are OpenSSH's.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The name did not resolve.
    #[error("getaddrinfo: {host}: {reason}", reason = io_reason(.error))]
    Resolve { host: String, error: io::Error },
    /// An address could not be bound (in use, not ours, not permitted).
    #[error("bind [{ip}]:{port}: {reason}", ip = .address.ip(), port = .address.port(), reason = io_reason(.error))]
    Bind { address: SocketAddr, error: io::Error },
    /// There was nothing to bind: no address given, or every one was an
    /// IPv6 address this host lacks.
    #[error("no address to bind")]
    NoAddress,
}

/// Resolves `address` and binds all it stands for on `port` (0: one free
/// port for all); see [`resolve`] and [`bind_all`].
pub async fn listen(address: &ListenAddress, port: u16) -> Result<Vec<TcpListener>, BindError> {
    let addresses = resolve(address, port).await?;
    bind_all(&addresses)
}

/// The socket addresses to bind for `address` on `port`. A name is resolved
/// without blocking the runtime; its addresses come in the resolver's
/// order, without repeats.
pub async fn resolve(address: &ListenAddress, port: u16) -> Result<Vec<SocketAddr>, BindError> {
    let ips: Vec<IpAddr> = match address {
        ListenAddress::Loopback => vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()],
        ListenAddress::Any => vec![Ipv4Addr::UNSPECIFIED.into(), Ipv6Addr::UNSPECIFIED.into()],
        ListenAddress::Host(host) => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            match bare.parse::<IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => {
                    let resolved = tokio::net::lookup_host((bare, port))
                        .await
                        .map_err(|error| BindError::Resolve { host: bare.to_owned(), error })?;
                    let mut ips: Vec<IpAddr> = Vec::new();
                    for ip in resolved.map(|a| a.ip()) {
                        if !ips.contains(&ip) {
                            ips.push(ip);
                        }
                    }
                    ips
                }
            }
        }
    };
    Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect())
}

/// Binds every address and listens. An IPv6 address the host does not have
/// is skipped (as OpenSSH does on a host without IPv6); any other failure
/// fails the whole set. With port 0 (taken from the first address) every
/// listener gets the port the first one was given.
///
/// Must run inside a tokio runtime (the listeners register with it).
pub fn bind_all(addresses: &[SocketAddr]) -> Result<Vec<TcpListener>, BindError> {
    let requested = addresses.first().map_or(0, SocketAddr::port);
    let mut attempt = 1;
    loop {
        match bind_on_one_port(addresses, requested) {
            // Another socket took, on a later address, the port the first
            // address was given: pick again rather than fail a request that
            // named no port.
            Err(BindError::Bind { error, .. })
                if requested == 0 && attempt < PORT_ZERO_ATTEMPTS && error.kind() == io::ErrorKind::AddrInUse =>
            {
                attempt += 1;
            }
            result => return result,
        }
    }
}

fn bind_on_one_port(addresses: &[SocketAddr], requested: u16) -> Result<Vec<TcpListener>, BindError> {
    let mut listeners = Vec::new();
    let mut port = requested;
    for address in addresses {
        let address = SocketAddr::new(address.ip(), port);
        match bind_one(address) {
            Ok(listener) => {
                if port == 0 {
                    port = listener.local_addr().map_err(|error| BindError::Bind { address, error })?.port();
                }
                listeners.push(listener);
            }
            Err(error) if address.is_ipv6() && host_lacks_ipv6(&error) => {
                tracing::debug!("bind [{}]:{}: {}", address.ip(), address.port(), io_reason(&error));
            }
            Err(error) => return Err(BindError::Bind { address, error }),
        }
    }
    if listeners.is_empty() {
        return Err(BindError::NoAddress);
    }
    Ok(listeners)
}

fn host_lacks_ipv6(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::AddrNotAvailable || error.raw_os_error() == Some(EAFNOSUPPORT)
}

fn bind_one(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = match address {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    if address.is_ipv6() {
        // A dual-stack [::]:P would claim 0.0.0.0:P as well, and whichever
        // of the two is bound second would fail with EADDRINUSE.
        socket2::SockRef::from(&socket).set_only_v6(true)?;
    }
    socket.bind(address)?;
    socket.listen(BACKLOG)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[tokio::test]
    async fn loopback_any_and_literals() {
        let loopback = resolve(&ListenAddress::Loopback, 22).await.unwrap();
        assert_eq!(loopback, addresses(&["127.0.0.1:22", "[::1]:22"]));
        assert_eq!(resolve(&ListenAddress::Any, 22).await.unwrap(), addresses(&["0.0.0.0:22", "[::]:22"]));
        let literal = |text: &str| ListenAddress::Host(text.to_owned());
        assert_eq!(resolve(&literal("10.1.2.3"), 80).await.unwrap(), addresses(&["10.1.2.3:80"]));
        assert_eq!(resolve(&literal("[::1]"), 80).await.unwrap(), addresses(&["[::1]:80"]));
        assert_eq!(resolve(&literal("::1"), 80).await.unwrap(), addresses(&["[::1]:80"]));
    }

    #[tokio::test]
    async fn a_name_is_resolved_without_repeats() {
        let resolved = resolve(&ListenAddress::Host("localhost".into()), 80).await.unwrap();
        assert!(resolved.contains(&"127.0.0.1:80".parse().unwrap()), "{resolved:?}");
        for (i, address) in resolved.iter().enumerate() {
            assert!(!resolved[i + 1..].contains(address), "{resolved:?}");
        }
    }

    #[tokio::test]
    async fn an_unknown_name_is_a_getaddrinfo_error() {
        let error = resolve(&ListenAddress::Host("no-such-host.invalid".into()), 80).await.unwrap_err();
        assert!(matches!(error, BindError::Resolve { .. }), "{error:?}");
        assert!(error.to_string().starts_with("getaddrinfo: no-such-host.invalid: "), "{error}");
    }

    #[tokio::test]
    async fn port_zero_gives_every_listener_the_same_port() {
        let listeners = listen(&ListenAddress::Loopback, 0).await.unwrap();
        let ports: Vec<u16> = listeners.iter().map(|l| l.local_addr().unwrap().port()).collect();
        assert_ne!(ports[0], 0);
        assert!(ports.iter().all(|p| *p == ports[0]), "{ports:?}");
    }

    /// The defect sshfwd-server had: without IPV6_V6ONLY, [::]:P after
    /// 0.0.0.0:P fails with EADDRINUSE. Both families must listen.
    #[tokio::test]
    async fn ipv4_and_ipv6_wildcards_share_a_port_and_both_accept() {
        let listeners = listen(&ListenAddress::Any, 0).await.unwrap();
        let locals: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        assert_eq!(locals.len(), 2, "{locals:?}");
        assert!(locals[0].is_ipv4() && locals[0].ip().is_unspecified(), "{locals:?}");
        assert!(locals[1].is_ipv6() && locals[1].ip().is_unspecified(), "{locals:?}");
        let port = locals[0].port();
        assert_eq!(locals[1].port(), port);
        for (listener, client) in listeners.iter().zip(["127.0.0.1", "::1"]) {
            let target = SocketAddr::new(client.parse().unwrap(), port);
            let _client = tokio::net::TcpStream::connect(target).await.unwrap();
            let (_, peer) = listener.accept().await.unwrap();
            assert_eq!(peer.ip(), target.ip());
        }
    }

    #[tokio::test]
    async fn a_port_in_use_fails_with_openssh_wording() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = taken.local_addr().unwrap().port();
        let error = listen(&ListenAddress::Host("127.0.0.1".into()), port).await.unwrap_err();
        assert_eq!(error.to_string(), format!("bind [127.0.0.1]:{port}: Address already in use"));
    }

    #[tokio::test]
    async fn an_address_the_host_lacks_is_skipped_only_for_ipv6() {
        // 2001:db8::/32 is for documentation: no host has it.
        let listeners = bind_all(&addresses(&["127.0.0.1:0", "[2001:db8::1]:0"])).unwrap();
        assert_eq!(listeners.len(), 1);
        let error = bind_all(&addresses(&["[2001:db8::1]:0"])).unwrap_err();
        assert!(matches!(error, BindError::NoAddress), "{error:?}");
        // 192.0.2.0/24 likewise, but a missing IPv4 address is an error.
        let error = bind_all(&addresses(&["127.0.0.1:0", "192.0.2.1:0"])).unwrap_err();
        assert!(error.to_string().starts_with("bind [192.0.2.1]:"), "{error}");
    }
}
