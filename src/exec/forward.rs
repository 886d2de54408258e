//! A Unix socket that forwards every connection to another socket: how a
//! container reaches the host's SSH agent (`RUN --mount=type=ssh`) without
//! seeing the agent's path, and with the mode and owner the mount asks for.

use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A listening socket forwarding to `upstream`; stops when dropped.
pub struct SocketForward {
    path: PathBuf,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl SocketForward {
    /// Listens at `path` (which must not exist). Connections made later are
    /// forwarded to `upstream`; a connection the upstream refuses is closed.
    pub fn start(path: &Path, upstream: &Path) -> io::Result<SocketForward> {
        let listener = UnixListener::bind(path)?;
        let stopping = Arc::new(AtomicBool::new(false));
        let (flag, upstream) = (stopping.clone(), upstream.to_path_buf());
        let acceptor = std::thread::Builder::new().name("socket-forward".into()).spawn(move || {
            for client in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(client) = client {
                    let _ = forward(client, &upstream);
                }
            }
        })?;
        Ok(SocketForward { path: path.to_path_buf(), stopping, acceptor: Some(acceptor) })
    }
}

/// Joins `client` and a new connection to `upstream`, one thread per
/// direction; each ends when its reader reaches EOF and passes it on.
fn forward(client: UnixStream, upstream: &Path) -> io::Result<()> {
    let server = UnixStream::connect(upstream)?;
    let (mut client_in, mut server_out) = (client.try_clone()?, server.try_clone()?);
    std::thread::Builder::new().name("socket-forward-up".into()).spawn(move || {
        let _ = io::copy(&mut client_in, &mut server_out);
        let _ = server_out.shutdown(std::net::Shutdown::Write);
    })?;
    let (mut server_in, mut client_out) = (server, client);
    std::thread::Builder::new().name("socket-forward-down".into()).spawn(move || {
        let _ = io::copy(&mut server_in, &mut client_out);
        let _ = client_out.shutdown(std::net::Shutdown::Write);
    })?;
    Ok(())
}

impl Drop for SocketForward {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the acceptor, which then sees the flag.
        let _ = UnixStream::connect(&self.path);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let _ = fs_err::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    #[test]
    fn forwards_both_ways_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let (agent_path, proxy_path) = (dir.path().join("agent"), dir.path().join("proxy"));
        let agent = UnixListener::bind(&agent_path).unwrap();
        let server = std::thread::spawn(move || {
            let (conn, _) = agent.accept().unwrap();
            let mut line = String::new();
            BufReader::new(conn.try_clone().unwrap()).read_line(&mut line).unwrap();
            (&conn).write_all(format!("echo {line}").as_bytes()).unwrap();
        });
        let proxy = SocketForward::start(&proxy_path, &agent_path).unwrap();
        let mut conn = UnixStream::connect(&proxy_path).unwrap();
        conn.write_all(b"ping\n").unwrap();
        let mut reply = String::new();
        BufReader::new(conn).read_line(&mut reply).unwrap();
        assert_eq!(reply, "echo ping\n");
        server.join().unwrap();
        drop(proxy);
        assert!(!proxy_path.exists());
    }
}
