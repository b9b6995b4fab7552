//! The kernel watches the store's own end of each connection.
//!
//! A connection that goes silent (a network cut of that one path, a NAT or
//! firewall that forgot it: no FIN, no RST) is noticed by neither end while
//! the client waits for an answer with nothing unacknowledged for its kernel
//! to send again. The server's side is probed since the sessions ask for it
//! (`session_settings` in `postgres.rs`). The client's side was not: sqlx 0.8
//! sets nothing on its sockets but `TCP_NODELAY` and offers no way to (its
//! issue 3540), so a read on such a connection waited for its request's
//! deadline, and the pool's check of the returned connection then waited
//! until the network came back, holding a place in the pool all along.
//!
//! sqlx does not hand its socket out either, so the socket is found among
//! the process's descriptors by its two ports: the local one, which the
//! server reports (`inet_client_port()`), and the server's, which the
//! connection was made to. Where the two views differ (a pooler such as
//! PgBouncer, or a NAT, in between) the server reports the pooler's port,
//! which no socket of this process has; then every socket of the process
//! to the port the connection was made to that is not probed yet is set:
//! each is a connection to the database there (the one being set up among
//! them), and a probe on one a moment early does no harm.

use std::time::Duration;

/// Silence before the first probe, between probes, and probes unanswered
/// before the connection is given up: the same as the server's side.
pub(crate) const IDLE: Duration = Duration::from_secs(5);
pub(crate) const INTERVAL: Duration = Duration::from_secs(2);
pub(crate) const PROBES: u32 = 3;

/// How long the kernel lets sent data or probes go unacknowledged before it
/// fails the connection's reads and writes (`TCP_USER_TIMEOUT`): the probes'
/// own time, so that data in flight is given up no sooner and no later.
pub(crate) const GIVE_UP: Duration =
    Duration::from_secs(IDLE.as_secs() + INTERVAL.as_secs() * PROBES as u64);

/// Which sockets [`watch`] set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Watched {
    /// The one whose two ports are the connection's.
    Exact,
    /// None had both; this many to the server's port were not probed yet
    /// and are now (a pooler or a NAT in between).
    ToThePort(usize),
}

/// Sets the probes and the give-up time on this process's TCP socket whose
/// local port is `local` and whose peer's port is `peer`; where none has
/// both, on every TCP socket to `peer` not probed yet. `Ok(ToThePort(0))`
/// when nothing was set (or off Linux, where the descriptors are not
/// listed).
#[cfg(target_os = "linux")]
pub(crate) fn watch(local: u16, peer: u16) -> std::io::Result<Watched> {
    use socket2::{SockRef, TcpKeepalive, Type};
    use std::os::fd::{BorrowedFd, RawFd};

    let port = |addr: std::io::Result<socket2::SockAddr>| {
        addr.ok().and_then(|a| a.as_socket()).map(|a| a.port())
    };
    let probe = |socket: &SockRef<'_>| -> std::io::Result<()> {
        let probes = TcpKeepalive::new()
            .with_time(IDLE)
            .with_interval(INTERVAL)
            .with_retries(PROBES);
        socket.set_tcp_keepalive(&probes)?;
        socket.set_tcp_user_timeout(Some(GIVE_UP))
    };
    let mut to_the_port = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let Some(raw) = entry
            .ok()
            .and_then(|e| e.file_name().to_str()?.parse::<RawFd>().ok())
        else {
            continue;
        };
        // SAFETY: the descriptor is only asked for its addresses and type,
        // which on a descriptor that is not a socket, or that another thread
        // closed since it was listed, fails without effect. Options are set
        // only on a TCP socket connected to the server's port, which the
        // caller's connection (held open while it is set up) is one of; the
        // descriptors of the others are borrowed for the two calls only.
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        let socket = SockRef::from(&fd);
        if port(socket.peer_addr()) != Some(peer) || socket.r#type().ok() != Some(Type::STREAM) {
            continue;
        }
        if port(socket.local_addr()) == Some(local) {
            probe(&socket)?;
            return Ok(Watched::Exact);
        }
        if !socket.keepalive().unwrap_or(true) {
            to_the_port.push(raw);
        }
    }
    let mut set = 0;
    for raw in to_the_port {
        // SAFETY: as above; a descriptor closed (or reused) since is asked
        // again for its peer before anything is set on it.
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        let socket = SockRef::from(&fd);
        if port(socket.peer_addr()) == Some(peer) && probe(&socket).is_ok() {
            set += 1;
        }
    }
    Ok(Watched::ToThePort(set))
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn watch(_local: u16, _peer: u16) -> std::io::Result<Watched> {
    Ok(Watched::ToThePort(0))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The socket found is the one asked for, and it leaves with the probes
    /// and the give-up time set; another socket of the process is not
    /// touched.
    #[test]
    fn the_socket_with_both_ports_is_watched_and_no_other() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = listener.local_addr().unwrap().port();
        let ours = std::net::TcpStream::connect(("127.0.0.1", peer)).unwrap();
        let other = std::net::TcpStream::connect(("127.0.0.1", peer)).unwrap();
        let local = ours.local_addr().unwrap().port();

        assert_eq!(watch(local, peer).unwrap(), Watched::Exact);
        let watched = socket2::SockRef::from(&ours);
        assert!(watched.keepalive().unwrap());
        assert_eq!(watched.tcp_keepalive_time().unwrap(), IDLE);
        assert_eq!(watched.tcp_keepalive_interval().unwrap(), INTERVAL);
        assert_eq!(watched.tcp_keepalive_retries().unwrap(), PROBES);
        assert_eq!(watched.tcp_user_timeout().unwrap(), Some(GIVE_UP));
        let untouched = socket2::SockRef::from(&other);
        assert!(!untouched.keepalive().unwrap());
        assert_eq!(untouched.tcp_user_timeout().unwrap(), None);

        assert_eq!(
            watch(local, peer.wrapping_add(1)).unwrap(),
            Watched::ToThePort(0)
        );
    }

    /// Behind a pooler the server reports a port no socket here has: every
    /// socket to the pooler's port that was not probed is, and a socket to
    /// another port is not.
    #[test]
    fn behind_a_pooler_the_sockets_to_its_port_are_watched() {
        let pooler = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = pooler.local_addr().unwrap().port();
        let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let to_pooler = [
            std::net::TcpStream::connect(("127.0.0.1", port)).unwrap(),
            std::net::TcpStream::connect(("127.0.0.1", port)).unwrap(),
        ];
        let other = std::net::TcpStream::connect(elsewhere.local_addr().unwrap()).unwrap();
        // The port the server reports is the pooler's own connection's.
        let reported = elsewhere.local_addr().unwrap().port().wrapping_add(7);

        assert_eq!(watch(reported, port).unwrap(), Watched::ToThePort(2));
        for s in &to_pooler {
            let watched = socket2::SockRef::from(s);
            assert_eq!(watched.tcp_keepalive_time().unwrap(), IDLE);
            assert_eq!(watched.tcp_user_timeout().unwrap(), Some(GIVE_UP));
        }
        assert!(!socket2::SockRef::from(&other).keepalive().unwrap());
        // Probed already: the next connection's setting leaves them be.
        assert_eq!(watch(reported, port).unwrap(), Watched::ToThePort(0));
    }
}
