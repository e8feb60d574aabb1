//! Which local addresses a listener binds, following OpenSSH: loopback
//! unless a bind address or GatewayPorts says otherwise.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ssh_files::forward_spec::LocalBind;
use tokio::net::TcpListener;

/// The addresses to bind for a listener.
pub fn local_bind_addresses(bind: &LocalBind, port: u16) -> Result<Vec<SocketAddr>, String> {
    let ips: Vec<IpAddr> = match bind {
        LocalBind::Loopback => vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()],
        LocalBind::Any => vec![Ipv4Addr::UNSPECIFIED.into(), Ipv6Addr::UNSPECIFIED.into()],
        LocalBind::Address(addr) => {
            let addr = addr.trim_start_matches('[').trim_end_matches(']');
            match addr.parse::<IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&(addr, port))
                    .map_err(|e| format!("getaddrinfo: {addr}: {e}"))?
                    .map(|a| a.ip())
                    .collect(),
            }
        }
    };
    Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect())
}

/// Binds every address. An IPv6 address the host does not have is skipped
/// (like OpenSSH on a host without IPv6); any other failure fails the whole
/// forwarding. With port 0 all listeners share the first allocated port.
pub fn bind_all(addresses: &[SocketAddr]) -> Result<Vec<TcpListener>, String> {
    let mut listeners = Vec::new();
    let mut port = addresses.first().map(|a| a.port()).unwrap_or(0);
    for addr in addresses {
        let addr = SocketAddr::new(addr.ip(), port);
        match bind_one(addr) {
            Ok(l) => {
                if port == 0 {
                    port = l.local_addr().map(|a| a.port()).unwrap_or(0);
                }
                listeners.push(l);
            }
            Err(e)
                if addr.is_ipv6()
                    && matches!(e.raw_os_error(), Some(libc_codes::EADDRNOTAVAIL | libc_codes::EAFNOSUPPORT)) =>
            {
                tracing::debug!("bind [{}]:{}: {}", addr.ip(), addr.port(), crate::ssh::io_reason(&e));
            }
            Err(e) => return Err(format!("bind [{}]:{}: {}", addr.ip(), addr.port(), crate::ssh::io_reason(&e))),
        }
    }
    if listeners.is_empty() {
        return Err("no address to bind".into());
    }
    Ok(listeners)
}

/// The two errno values that mean "this host has no such address family".
mod libc_codes {
    pub const EADDRNOTAVAIL: i32 = 99;
    pub const EAFNOSUPPORT: i32 = 97;
}

fn bind_one(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    if addr.is_ipv6() {
        // Bind v6 only, so that the v4 wildcard listener can coexist.
        let sock = socket2::SockRef::from(&socket);
        sock.set_only_v6(true)?;
    }
    socket.bind(addr)?;
    socket.listen(1024)
}
