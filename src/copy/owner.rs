//! `--chown=USER[:GROUP]`: numbers as they are, names looked up in the
//! destination root's `/etc/passwd` and `/etc/group` (read in that root, so
//! a symlinked `/etc/passwd` cannot reach the host's).
//!
//! As BuildKit's `llb.WithUser` and `readUser`: a numeric user alone means
//! that number for the group too (`--chown=1000` is `1000:1000`); a user
//! name alone takes the user's primary group from `/etc/passwd`; a group
//! given replaces it.

use std::io::Read;
use std::path::Path;

use super::error::CopyError;
use super::root::Root;

/// A resolved `--chown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// Numeric user id written to the copied files.
    pub uid: u32,
    /// Numeric group id written to the copied files.
    pub gid: u32,
}

/// One side of `USER:GROUP`.
enum Id<'a> {
    Number(u32),
    Name(&'a str),
}

fn id(text: &str) -> Id<'_> {
    // Go's strconv.ParseUint(s, 10, 32): digits only, no sign.
    match text.parse::<u32>() {
        Ok(n) if text.bytes().all(|b| b.is_ascii_digit()) => Id::Number(n),
        _ => Id::Name(text),
    }
}

/// Resolves `spec` against the user database under `db_root`.
pub fn resolve(spec: &str, db_root: &Path) -> Result<Owner, CopyError> {
    let (user, group) = match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    };
    let root = || Root::open(db_root).map_err(|e| CopyError::io("open the user database root", db_root, e));
    let mut owner = match id(user) {
        Id::Number(n) => Owner { uid: n, gid: n },
        // `--chown=:GROUP`: BuildKit finds no user named "" and uses root.
        Id::Name("") => Owner { uid: 0, gid: 0 },
        Id::Name(name) => {
            let passwd = read_db(&root()?, "etc/passwd")?;
            let entry = lookup(&passwd, name, 4).ok_or_else(|| CopyError::UnknownUser { name: name.to_owned() })?;
            let uid = entry[2].parse().map_err(|_| CopyError::UserDatabase { file: "/etc/passwd", line: entry.join(":") })?;
            let gid = entry[3].parse().map_err(|_| CopyError::UserDatabase { file: "/etc/passwd", line: entry.join(":") })?;
            Owner { uid, gid }
        }
    };
    if let Some(group) = group {
        owner.gid = match id(group) {
            Id::Number(n) => n,
            Id::Name(name) => {
                let groups = read_db(&root()?, "etc/group")?;
                let entry = lookup(&groups, name, 3).ok_or_else(|| CopyError::UnknownGroup { name: name.to_owned() })?;
                entry[2].parse().map_err(|_| CopyError::UserDatabase { file: "/etc/group", line: entry.join(":") })?
            }
        };
    }
    Ok(owner)
}

/// The text of a database file; a missing file reads as empty.
fn read_db(root: &Root, rel: &str) -> Result<String, CopyError> {
    let path = Path::new(rel);
    let mut text = String::new();
    match root.open_file(path) {
        Ok(mut file) => {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map_err(|e| CopyError::io("read", &Path::new("/").join(path), e))?;
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        // As BuildKit: no file (or a file where a directory should be) means no entry.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {}
        Err(e) => return Err(CopyError::io("open", &Path::new("/").join(path), e)),
    }
    Ok(text)
}

/// The fields of the first line whose name is `name` and that has at least
/// `fields` fields (as runc's `ParsePasswdFilter`/`ParseGroupFilter`).
fn lookup<'a>(text: &'a str, name: &str, fields: usize) -> Option<Vec<&'a str>> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|entry| entry.len() >= fields && entry[0] == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_need_no_database() {
        let missing = Path::new("/nonexistent-strata-root");
        assert_eq!(resolve("1000", missing).ok(), Some(Owner { uid: 1000, gid: 1000 }));
        assert_eq!(resolve("1000:50", missing).ok(), Some(Owner { uid: 1000, gid: 50 }));
        assert_eq!(resolve(":50", missing).ok(), Some(Owner { uid: 0, gid: 50 }));
    }

    #[test]
    fn lookup_takes_the_first_entry() {
        let text = "root:x:0:0:root:/root:/bin/sh\n\n app:x:1000:1001::/home/app:/bin/sh\napp:x:5:5::/:/bin/sh\n";
        assert_eq!(lookup(text, "app", 4).map(|e| e[2]), Some("1000"));
        assert_eq!(lookup(text, "nobody", 4), None);
    }
}
