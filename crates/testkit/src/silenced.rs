//! One TCP connection on the loopback made silent both ways: what a network
//! cut, or a machine that vanished, looks like to the other end. Nothing is
//! closed or reset; the packets just stop arriving (they wait in a queue
//! that lets 8 bits a second through), so only a timeout or a keepalive can
//! tell. A proxy cannot show this: its own kernel answers the keepalives.
//!
//! It shapes the loopback with `tc` (an HTB queue whose default class is
//! unlimited, and a class for the one connection's two directions), which
//! needs root or CAP_NET_ADMIN. Everything is taken away when the value is
//! dropped.

use std::process::Command;

/// The loopback shaped so that one connection is silent; dropping it
/// gives the loopback back as it was. Tests run as processes of their own
/// at once, and the loopback has one queue: a file lock makes them take
/// turns.
#[derive(Debug)]
pub struct Silenced {
    turn: std::fs::File,
}

fn tc(args: &str) -> Result<(), String> {
    let out = Command::new("tc")
        .args(args.split_whitespace())
        .output()
        .map_err(|e| format!("tc {args}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "tc {args}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Silenced {
    /// Silences the TCP connections between local port `server` and each
    /// of `clients`. An error says why this machine cannot (no `tc`, no
    /// permission, a kernel without HTB).
    pub fn connections(server: u16, clients: &[u16]) -> Result<Self, String> {
        let turn = std::fs::File::create(std::env::temp_dir().join("sellerdesk-silenced.lock"))
            .map_err(|e| format!("the lock file: {e}"))?;
        turn.lock().map_err(|e| format!("the lock file: {e}"))?;
        // A queue left by a test that was killed goes first: nothing else
        // of the project shapes the loopback.
        let _ = tc("qdisc del dev lo root");
        let shaped = Self { turn };
        tc("qdisc add dev lo root handle 1: htb default 10")?;
        tc("class add dev lo parent 1: classid 1:10 htb rate 100gbit")?;
        // Queued, not dropped: a packet that the sender's own queue drops
        // is known to its kernel, which then sends keepalive probes again
        // every half second without counting them (no probe is lost on the
        // way as far as it knows), and never gives up, where a real cut
        // loses them downstream. So a `pfifo limit 0` under this class,
        // which would stop the one packet a minute this rate lets through,
        // kept a silenced server session alive for good (tried).
        tc("class add dev lo parent 1: classid 1:20 htb rate 8bit ceil 8bit")?;
        for &client in clients {
            for (from, to) in [(server, client), (client, server)] {
                tc(&format!(
                    "filter add dev lo parent 1: protocol ip prio 1 u32 \
                     match ip sport {from} 0xffff match ip dport {to} 0xffff flowid 1:20"
                ))?;
            }
        }
        Ok(shaped)
    }
}

impl Drop for Silenced {
    fn drop(&mut self) {
        let _ = tc("qdisc del dev lo root");
        let _ = self.turn.unlock();
    }
}

/// What a test that needs [`Silenced`] does when this machine cannot: in CI
/// (`CI` set) it fails, since a missing part is never a pass there;
/// elsewhere it says so and the test returns.
pub fn silenced_or_skip(server: u16, client: u16) -> Option<Silenced> {
    every_silenced_or_skip(server, &[client])
}

/// [`silenced_or_skip`] for every connection to `server` established now
/// (a pooler's port, whose clients the test does not tell apart).
pub fn all_to_silenced_or_skip(server: u16) -> Option<Silenced> {
    let clients: Vec<u16> = loopback_tcp()
        .into_iter()
        .filter(|&(_, remote, established)| established && remote == server)
        .map(|(local, _, _)| local)
        .collect();
    assert!(!clients.is_empty(), "no connection to port {server}");
    every_silenced_or_skip(server, &clients)
}

fn every_silenced_or_skip(server: u16, clients: &[u16]) -> Option<Silenced> {
    match Silenced::connections(server, clients) {
        Ok(s) => Some(s),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("a connection cannot be silenced here, and CI needs it: {e}")
        }
        Err(e) => {
            eprintln!("skipped: a connection cannot be silenced here ({e}); run as root");
            None
        }
    }
}

/// The one established loopback connection of this machine whose server
/// side is one of `server_ports`, as (server port, client port): the client
/// a test made to a server it started on a port of its own. Panics unless
/// there is exactly one.
pub fn the_connection_to(server_ports: &[u16]) -> (u16, u16) {
    let found: Vec<(u16, u16)> = loopback_tcp()
        .into_iter()
        .filter(|&(_, remote, established)| established && server_ports.contains(&remote))
        .map(|(local, remote, _)| (remote, local))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one connection to {server_ports:?}: {found:?}"
    );
    found[0]
}

/// Whether the socket from local port `local` to `remote` is established:
/// false once its side has closed the connection (or it is gone).
pub fn is_established(local: u16, remote: u16) -> bool {
    loopback_tcp().contains(&(local, remote, true))
}

/// Every IPv4 TCP socket of this machine as (local port, remote port,
/// established), from `/proc/net/tcp`.
fn loopback_tcp() -> Vec<(u16, u16, bool)> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let port = |field: &str| {
        let hex = field.rsplit(':').next().unwrap_or_default();
        u16::from_str_radix(hex, 16).expect("a port in /proc/net/tcp")
    };
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some((port(f.get(1)?), port(f.get(2)?), *f.get(3)? == "01"))
        })
        .collect()
}
