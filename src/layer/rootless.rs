//! Which overlayfs xattr names this process uses: `trusted.overlay.*` in
//! the initial user namespace, `user.overlay.*` inside another one (the
//! rootless re-exec), where only a `userxattr` overlay can be mounted.

use std::sync::OnceLock;

use super::format::{OVERLAY_OPAQUE_XATTR, OVERLAY_USER_OPAQUE_XATTR, OVERLAY_USER_XATTR_PREFIX, OVERLAY_XATTR_PREFIX};

/// The initial user namespace maps every id onto itself.
const INITIAL_UID_MAP: [&str; 3] = ["0", "0", "4294967295"];

/// Whether this process runs in a user namespace other than the host's
/// (then overlays need `userxattr` and snapshots mark opaque directories
/// with [`OVERLAY_USER_OPAQUE_XATTR`]).
pub fn in_user_namespace() -> bool {
    static NESTED: OnceLock<bool> = OnceLock::new();
    *NESTED.get_or_init(|| match fs_err::read_to_string("/proc/self/uid_map") {
        Ok(map) => !is_initial_map(&map),
        // No procfs: nothing tells otherwise, keep the root behaviour.
        Err(_) => false,
    })
}

fn is_initial_map(map: &str) -> bool {
    let lines: Vec<Vec<&str>> = map.lines().map(|l| l.split_whitespace().collect()).filter(|f: &Vec<&str>| !f.is_empty()).collect();
    lines.len() == 1 && lines[0] == INITIAL_UID_MAP
}

/// The xattr that marks an opaque directory in this process's snapshots.
pub fn opaque_xattr() -> &'static str {
    if in_user_namespace() {
        OVERLAY_USER_OPAQUE_XATTR
    } else {
        OVERLAY_OPAQUE_XATTR
    }
}

/// Whether `name` is overlayfs's own bookkeeping in this process's form
/// (`trusted.overlay.*`, or `user.overlay.*` in a user namespace), which
/// never belongs in a layer or a copy. The other form is ordinary content.
pub fn is_overlay_xattr(name: &[u8]) -> bool {
    name.starts_with(overlay_namespace(in_user_namespace()))
}

fn overlay_namespace(nested: bool) -> &'static [u8] {
    if nested { OVERLAY_USER_XATTR_PREFIX } else { OVERLAY_XATTR_PREFIX }.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_map_is_recognised() {
        assert!(is_initial_map("         0          0 4294967295\n"));
        assert!(!is_initial_map("         0       1001          1\n         1     100000      65535\n"));
        assert!(!is_initial_map("0 1001 1\n"));
    }

    #[test]
    fn each_namespace_has_its_own_bookkeeping() {
        let (root, nested) = (overlay_namespace(false), overlay_namespace(true));
        assert!(b"trusted.overlay.opaque".starts_with(root) && !b"user.overlay.opaque".starts_with(root));
        assert!(b"user.overlay.origin".starts_with(nested) && !b"user.mime_type".starts_with(nested));
    }
}
