//! A loopback stand-in for a PostgreSQL server that is not ready yet: what
//! a service meets when it starts before its database, or restarts while the
//! others hold every connection. It answers each new connection the way its
//! current [`Gate`] says, and once open passes connections through to the
//! real server, so a test can watch a process wait and then come up on a
//! real database.

use std::sync::{
    atomic::{AtomicU8, AtomicUsize, Ordering},
    Arc,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// How the gate answers a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Gate {
    /// Closed before a word is said: a server going down or not yet
    /// listening behind a proxy.
    Reset,
    /// PostgreSQL's own refusal while it starts: FATAL 57P03.
    Starting,
    /// FATAL 53300: the server has no connection to spare.
    Full,
    /// FATAL 3D000: the database does not exist. Waiting does not mend it.
    NoSuchDatabase,
    /// Passed through to the real server.
    Open,
}

impl Gate {
    fn from_u8(v: u8) -> Self {
        [
            Self::Reset,
            Self::Starting,
            Self::Full,
            Self::NoSuchDatabase,
            Self::Open,
        ][usize::from(v)]
    }
}

/// The gate's listener; it stops when dropped.
#[derive(Debug)]
pub struct PgGate {
    url: String,
    gate: Arc<AtomicU8>,
    connections: Arc<AtomicUsize>,
    cuts: watch::Sender<u64>,
    task: JoinHandle<()>,
}

impl PgGate {
    /// A gate in front of the server `upstream_url` names (a
    /// `postgres://user@host:port/db` URL), answering as `gate` says.
    pub async fn new(upstream_url: &str, gate: Gate) -> Self {
        let (before, authority, after) = split_authority(upstream_url);
        let (user, host) = match authority.rsplit_once('@') {
            Some((user, host)) => (format!("{user}@"), host),
            None => (String::new(), authority),
        };
        assert!(
            !host.is_empty(),
            "the gate needs a TCP host in the URL, not a socket path: {upstream_url}"
        );
        let upstream = if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:5432")
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind gate");
        let port = listener.local_addr().expect("gate address").port();
        let state = Arc::new(AtomicU8::new(gate as u8));
        let connections = Arc::new(AtomicUsize::new(0));
        let (cuts, _) = watch::channel(0);
        let task = tokio::spawn(serve(
            listener,
            upstream,
            Arc::clone(&state),
            Arc::clone(&connections),
            cuts.clone(),
        ));
        Self {
            url: format!("{before}{user}127.0.0.1:{port}{after}"),
            gate: state,
            connections,
            cuts,
            task,
        }
    }

    /// The upstream URL with the gate in place of the server.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How new connections are answered from now on (open ones stay).
    pub fn set(&self, gate: Gate) {
        self.gate.store(gate as u8, Ordering::SeqCst);
    }

    /// Closes every connection passed through so far, as a server that
    /// goes down does (its clients see their sockets closed).
    pub fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Connections accepted so far, whatever their answer.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for PgGate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `scheme://`, the authority, and the rest (`/db?query`).
fn split_authority(url: &str) -> (&str, &str, &str) {
    let scheme_end = url.find("://").map(|i| i + 3).expect("a URL");
    let rest = &url[scheme_end..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    (&url[..scheme_end], &rest[..end], &rest[end..])
}

async fn serve(
    listener: TcpListener,
    upstream: String,
    gate: Arc<AtomicU8>,
    connections: Arc<AtomicUsize>,
    cuts: watch::Sender<u64>,
) {
    while let Ok((client, _)) = listener.accept().await {
        connections.fetch_add(1, Ordering::SeqCst);
        let upstream = upstream.clone();
        let gate = Gate::from_u8(gate.load(Ordering::SeqCst));
        let mut cut = cuts.subscribe();
        tokio::spawn(async move {
            // Dropping both sockets is the cut.
            tokio::select! {
                _ = answer(client, &upstream, gate) => {}
                _ = cut.changed() => {}
            }
        });
    }
}

async fn answer(mut client: TcpStream, upstream: &str, gate: Gate) -> std::io::Result<()> {
    let (code, message) = match gate {
        Gate::Reset => return Ok(()),
        Gate::Open => {
            let mut server = TcpStream::connect(upstream).await?;
            tokio::io::copy_bidirectional(&mut client, &mut server).await?;
            return Ok(());
        }
        Gate::Starting => ("57P03", "the database system is starting up"),
        Gate::Full => ("53300", "sorry, too many clients already"),
        Gate::NoSuchDatabase => ("3D000", "database does not exist"),
    };
    read_startup(&mut client).await?;
    client.write_all(&error_response(code, message)).await?;
    client.shutdown().await
}

/// The request a protocol 3 session opens with: a startup message,
/// after an SSL request if the client asks for one (declined).
async fn read_startup(client: &mut TcpStream) -> std::io::Result<()> {
    const SSL_REQUEST: u32 = 80_877_103;
    loop {
        let length = client.read_u32().await?;
        let code = client.read_u32().await?;
        let rest = usize::try_from(length).unwrap_or(0).saturating_sub(8);
        let mut body = vec![0; rest];
        client.read_exact(&mut body).await?;
        if code == SSL_REQUEST {
            client.write_all(b"N").await?;
        } else {
            return Ok(());
        }
    }
}

/// A FATAL ErrorResponse with its SQLSTATE.
fn error_response(code: &str, message: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', code),
        (b'M', message),
    ] {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let length = u32::try_from(body.len() + 4).expect("a short message");
    let mut out = vec![b'E'];
    out.extend_from_slice(&length.to_be_bytes());
    out.extend(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_is_found_in_the_url() {
        assert_eq!(
            split_authority("postgres://postgres@127.0.0.1:5432/test?sslmode=disable"),
            (
                "postgres://",
                "postgres@127.0.0.1:5432",
                "/test?sslmode=disable"
            )
        );
        assert_eq!(split_authority("postgres://h"), ("postgres://", "h", ""));
    }
}
