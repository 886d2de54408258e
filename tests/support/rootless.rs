//! Running strata as an unprivileged user: `strata-test`, with subordinate
//! ids, made by `bash tests/deps.sh` (which also installs `uidmap`). The
//! store lives in the test's temporary directory, handed to that user;
//! strata itself re-executes into a user namespace.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use super::TestRoot;

/// The unprivileged user the rootless suite runs strata as.
pub const ROOTLESS_USER: &str = "strata-test";
/// A user without subordinate ids (single-uid mapping).
pub const NO_SUBID_USER: &str = "strata-nosubid";

impl TestRoot {
    /// A store in a fresh temporary directory owned by [`ROOTLESS_USER`],
    /// driven through strata run as that user.
    pub fn rootless() -> TestRoot {
        TestRoot::as_user(ROOTLESS_USER)
    }

    /// A store like [`TestRoot::rootless`] for `user`.
    pub fn as_user(user: &'static str) -> TestRoot {
        check_setup(user);
        let mut root = TestRoot::new();
        let dir = root.root.parent().expect("the store is in a temporary directory").to_path_buf();
        let status = Command::new("chown").arg(format!("{user}:{user}")).arg(&dir).status().expect("run chown");
        assert!(status.success(), "chown {} to {user}", dir.display());
        root.user = Some(user);
        root
    }

    /// The uid of the user strata runs as.
    pub fn user_uid(&self) -> u32 {
        uid_of(self.user.expect("a rootless test root"))
    }
}

/// `setpriv` to `user` (its own uid, gid and groups) with `home` as HOME
/// and no root-only environment; the strata command follows.
pub fn command_as(user: &str, home: &Path) -> Command {
    let mut command = Command::new("setpriv");
    command.args(["--reuid", user, "--regid", user, "--init-groups", "--"]).arg(super::strata_binary());
    command.env("HOME", home).env("USER", user).env_remove("XDG_RUNTIME_DIR").env_remove("XDG_DATA_HOME").env_remove("DOCKER_CONFIG");
    command
}

/// The uid of `user`, from `id -u`.
pub fn uid_of(user: &str) -> u32 {
    let output = Command::new("id").args(["-u", user]).output().expect("run id");
    String::from_utf8_lossy(&output.stdout).trim().parse().unwrap_or_else(|_| panic!("no user {user}: run `bash tests/deps.sh`"))
}

/// Fails, saying what to install, when the machine lacks what the rootless
/// suite needs.
fn check_setup(user: &str) {
    uid_of(user);
    for tool in ["/usr/bin/newuidmap", "/usr/bin/newgidmap", "/usr/bin/setpriv"] {
        assert!(Path::new(tool).is_file(), "{tool} is missing: run `bash tests/deps.sh` (packages uidmap, util-linux)");
    }
    if user == ROOTLESS_USER {
        for file in ["/etc/subuid", "/etc/subgid"] {
            let text = fs_err::read_to_string(file).unwrap_or_default();
            assert!(text.lines().any(|l| l.starts_with(&format!("{user}:"))), "{user} has no range in {file}: run `bash tests/deps.sh`");
        }
    }
    let tun = fs_err::metadata("/dev/net/tun").map(|m| m.permissions().mode() & 0o666);
    assert_eq!(tun.ok(), Some(0o666), "/dev/net/tun must be usable by every user (mode 0666) for slirp4netns: run `bash tests/deps.sh`");
}
