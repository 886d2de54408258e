//! `RUN --mount=type=ssh`: the build's SSH agents (`--ssh`), each reached
//! from the container through a forwarding socket in the step's private
//! scratch directory, so the agent's own path never shows and the mount's
//! `mode`/`uid`/`gid` apply to the socket the container sees.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{SolveError, Solver};
use crate::exec::{Bind, SocketForward};
use crate::plan::MountOp;

/// `--ssh default`, `--ssh default=SOCKET`, `--ssh ID=SOCKET`.
#[derive(Debug, Clone, Default)]
pub struct SshAgents {
    sockets: BTreeMap<String, PathBuf>,
}

impl SshAgents {
    /// Parses `--ssh` values; `default` alone means `$SSH_AUTH_SOCK`.
    pub fn parse(specs: &[String]) -> Result<SshAgents, String> {
        let mut sockets = BTreeMap::new();
        for spec in specs {
            let (id, path) = match spec.split_once('=') {
                Some((id, path)) => (id, PathBuf::from(path)),
                None => {
                    let sock = std::env::var_os("SSH_AUTH_SOCK").ok_or_else(|| format!("--ssh {spec}: SSH_AUTH_SOCK is not set; give {spec}=SOCKET"))?;
                    (spec.as_str(), PathBuf::from(sock))
                }
            };
            if id.is_empty() || path.as_os_str().is_empty() || path.to_string_lossy().contains(',') {
                return Err(format!("--ssh {spec:?}: expected ID or ID=SOCKET (one agent socket)"));
            }
            let is_socket = std::fs::metadata(&path).map(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()));
            match is_socket {
                Ok(true) => {}
                Ok(false) => {
                    return Err(format!("--ssh {spec}: {} is not an agent socket (key files are not supported: load them into ssh-agent)", path.display()))
                }
                Err(e) => return Err(format!("--ssh {spec}: {}: {e}", path.display())),
            }
            sockets.insert(id.to_owned(), path);
        }
        Ok(SshAgents { sockets })
    }
}

impl Solver<'_> {
    /// The bind for the `index`th ssh mount of a RUN, or `None` when its
    /// agent was not given and it is optional. The forward lives in `guards`.
    pub(super) fn ssh_mount(&self, mount: &MountOp, index: usize, scratch: &Path, guards: &mut Vec<SocketForward>) -> Result<Option<Bind>, SolveError> {
        let id = mount.id.as_deref().unwrap_or("default");
        let Some(agent) = self.options.ssh.sockets.get(id) else {
            if mount.required {
                return Err(SolveError::SshMissing { id: id.to_owned() });
            }
            return Ok(None);
        };
        let path = scratch.join(format!("ssh-{index}.sock"));
        let forward = SocketForward::start(&path, agent).map_err(|e| SolveError::io("listen on", &path, e))?;
        guards.push(forward);
        super::run::set_owner_and_mode(&path, mount, 0o600)?;
        let target = mount.target.clone().unwrap_or_else(|| format!("/run/buildkit/ssh_agent.{index}"));
        Ok(Some(Bind { source: path, target, read_only: false }))
    }
}
