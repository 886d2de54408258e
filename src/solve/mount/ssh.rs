//! `RUN --mount=type=ssh`: the build's SSH agents (`--ssh`), each reached
//! from the container through a forwarding socket in the step's private
//! scratch directory, so the agent's own path never shows and the mount's
//! `mode`/`uid`/`gid` apply to the socket the container sees.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{set_owner_and_mode, MountSet};
use crate::exec::{Bind, SocketForward};
use crate::plan::SshMount;
use crate::solve::{SolveError, Solver};

/// An `--ssh` value that names no usable agent socket.
#[derive(Debug, thiserror::Error)]
pub enum SshSpecError {
    /// `--ssh ID` without a socket, and `SSH_AUTH_SOCK` is unset; holds the value.
    #[error("--ssh {0}: SSH_AUTH_SOCK is not set; give {0}=SOCKET")]
    NoAgent(String),
    /// An `--ssh` value not of the form `ID` or `ID=SOCKET`; holds the value.
    #[error("--ssh {0:?}: expected ID or ID=SOCKET (one agent socket)")]
    Malformed(String),
    /// The named path exists but is not a Unix socket (e.g. a key file).
    #[error("--ssh {spec}: {} is not an agent socket (key files are not supported: load them into ssh-agent)", path.display())]
    NotASocket {
        /// The `--ssh` value as given.
        spec: String,
        /// The socket path it names.
        path: PathBuf,
    },
    /// The socket path could not be inspected.
    #[error("--ssh {spec}: {}: {cause}", path.display())]
    Unreadable {
        /// The `--ssh` value as given.
        spec: String,
        /// The socket path it names.
        path: PathBuf,
        /// The operating system's error.
        cause: std::io::Error,
    },
}

/// `--ssh default`, `--ssh default=SOCKET`, `--ssh ID=SOCKET`.
#[derive(Debug, Clone, Default)]
pub struct SshAgents {
    sockets: BTreeMap<String, PathBuf>,
}

impl SshAgents {
    /// Parses `--ssh` values; `default` alone means `$SSH_AUTH_SOCK`.
    pub fn parse(specs: &[String]) -> Result<SshAgents, SshSpecError> {
        let mut sockets = BTreeMap::new();
        for spec in specs {
            let (id, path) = match spec.split_once('=') {
                Some((id, path)) => (id, PathBuf::from(path)),
                None => {
                    let sock = std::env::var_os("SSH_AUTH_SOCK").ok_or_else(|| SshSpecError::NoAgent(spec.clone()))?;
                    (spec.as_str(), PathBuf::from(sock))
                }
            };
            if id.is_empty() || path.as_os_str().is_empty() || path.to_string_lossy().contains(',') {
                return Err(SshSpecError::Malformed(spec.clone()));
            }
            let is_socket = fs_err::metadata(&path).map(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()));
            match is_socket {
                Ok(true) => {}
                Ok(false) => return Err(SshSpecError::NotASocket { spec: spec.clone(), path }),
                Err(cause) => return Err(SshSpecError::Unreadable { spec: spec.clone(), path, cause }),
            }
            sockets.insert(id.to_owned(), path);
        }
        Ok(SshAgents { sockets })
    }
}

/// Binds the agent the mount names (`default` unless `id=`) at the target
/// (default `/run/buildkit/ssh_agent.N`); an agent not given is an error
/// only when the mount is `required`. The forward lives in the guards.
pub(super) fn realise(solver: &Solver<'_>, mount: &SshMount, set: &mut MountSet<'_>) -> Result<(), SolveError> {
    let index = set.guards.agents.len();
    let id = mount.id.as_deref().unwrap_or("default");
    let Some(agent) = solver.options.ssh.sockets.get(id) else {
        if mount.required {
            return Err(SolveError::SshAgentRequired { id: id.to_owned() });
        }
        return Ok(());
    };
    let path = set.scratch.join(format!("ssh-{index}.sock"));
    let forward = SocketForward::start(&path, agent).map_err(|e| SolveError::io("listen on", &path, e))?;
    set.guards.agents.push(forward);
    set_owner_and_mode(&path, &mount.owner, 0o600)?;
    let target = mount.target.clone().unwrap_or_else(|| format!("/run/buildkit/ssh_agent.{index}"));
    // As BuildKit: the first agent is the one ssh finds.
    if index == 0 {
        set.env.retain(|e| !e.starts_with("SSH_AUTH_SOCK="));
        set.env.push(format!("SSH_AUTH_SOCK={target}"));
    }
    set.binds.push(Bind { source: path, target, read_only: false });
    Ok(())
}
