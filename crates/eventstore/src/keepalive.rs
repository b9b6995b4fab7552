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
//! connection was made to. Where the two views differ (a pooler or a NAT in
//! between) nothing matches and the connection keeps the server's probes
//! only; the caller logs it.

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

/// Sets the probes and the give-up time on this process's TCP socket whose
/// local port is `local` and whose peer's port is `peer`. `Ok(false)` when no
/// socket matches (or off Linux, where the descriptors are not listed).
#[cfg(target_os = "linux")]
pub(crate) fn watch(local: u16, peer: u16) -> std::io::Result<bool> {
    use socket2::{SockRef, TcpKeepalive};
    use std::os::fd::{BorrowedFd, RawFd};

    let port = |addr: std::io::Result<socket2::SockAddr>| {
        addr.ok().and_then(|a| a.as_socket()).map(|a| a.port())
    };
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let Some(fd) = entry
            .ok()
            .and_then(|e| e.file_name().to_str()?.parse::<RawFd>().ok())
        else {
            continue;
        };
        // SAFETY: the descriptor is only asked for its addresses, which on a
        // descriptor that is not a socket, or that another thread closed
        // since it was listed, fails without effect. Options are set only on
        // the socket whose two ports are the connection's, which the caller
        // holds open while it sets the connection up.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = SockRef::from(&fd);
        if port(socket.local_addr()) != Some(local) || port(socket.peer_addr()) != Some(peer) {
            continue;
        }
        let probes = TcpKeepalive::new()
            .with_time(IDLE)
            .with_interval(INTERVAL)
            .with_retries(PROBES);
        socket.set_tcp_keepalive(&probes)?;
        socket.set_tcp_user_timeout(Some(GIVE_UP))?;
        return Ok(true);
    }
    Ok(false)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn watch(_local: u16, _peer: u16) -> std::io::Result<bool> {
    Ok(false)
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

        assert!(watch(local, peer).unwrap());
        let watched = socket2::SockRef::from(&ours);
        assert!(watched.keepalive().unwrap());
        assert_eq!(watched.tcp_keepalive_time().unwrap(), IDLE);
        assert_eq!(watched.tcp_keepalive_interval().unwrap(), INTERVAL);
        assert_eq!(watched.tcp_keepalive_retries().unwrap(), PROBES);
        assert_eq!(watched.tcp_user_timeout().unwrap(), Some(GIVE_UP));
        let untouched = socket2::SockRef::from(&other);
        assert!(!untouched.keepalive().unwrap());
        assert_eq!(untouched.tcp_user_timeout().unwrap(), None);

        assert!(!watch(local, peer.wrapping_add(1)).unwrap());
    }
}
