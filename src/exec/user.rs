//! `USER` as the container sees it: `user[:group]`, names looked up in the
//! container's own /etc/passwd and /etc/group, numbers taken as they are.
//! As in runc and BuildKit: a user without a group gets its passwd group
//! (0 when the user is a number not in /etc/passwd), plus every group that
//! lists it in /etc/group.

use std::io;
use std::path::Path;

use nix::unistd::{Gid, Uid};

/// The identity a container process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The numeric user id (from `/etc/passwd` when a name was given).
    pub uid: Uid,
    /// The primary group: the one given after `:`, else the user's from `/etc/passwd`.
    pub gid: Gid,
    /// Supplementary groups from `/etc/group` (empty when a group was given), as runc sets them.
    pub groups: Vec<Gid>,
    /// The home directory from `/etc/passwd`; `/` for unknown users (the default `HOME`).
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

/// Resolves `spec` (`None`: root) against the files in `etc`.
pub fn resolve_user(spec: Option<&str>, etc: &Path) -> io::Result<User> {
    let spec = spec.filter(|s| !s.is_empty()).unwrap_or("0");
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_lines(&etc.join("passwd"));
    let entries: Vec<PasswdEntry> = passwd.iter().filter_map(|l| parse_passwd(l)).collect();
    let entry = entries.iter().find(|e| e.name == user).or_else(|| {
        let uid: u32 = user.parse().ok()?;
        entries.iter().find(|e| e.uid == uid)
    });
    let uid = match (entry, user.parse::<u32>()) {
        (_, Ok(uid)) => uid,
        (Some(entry), _) => entry.uid,
        (None, Err(_)) => return Err(io::Error::new(io::ErrorKind::NotFound, format!("unable to find user {user}: no matching entries in passwd file"))),
    };
    let groups_file: Vec<Vec<String>> = read_lines(&etc.join("group")).iter().map(|l| l.split(':').map(str::to_owned).collect()).collect();
    let gid = match group {
        Some(group) => match group.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => groups_file
                .iter()
                .find(|g| g.first().map(String::as_str) == Some(group))
                .and_then(|g| g.get(2)?.parse().ok())
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("unable to find group {group}: no matching entries in group file")))?,
        },
        None => entry.map_or(0, |e| e.gid),
    };
    let name = entry.map(|e| e.name.as_str());
    // Supplementary groups only, as runc sets them: the primary group is
    // not repeated, and an explicit `user:group` gets none.
    let mut groups = Vec::new();
    if group.is_none() {
        for fields in &groups_file {
            let members = fields.get(3).map(String::as_str).unwrap_or("");
            let listed = name.is_some_and(|n| members.split(',').any(|m| m == n));
            if let (true, Some(Ok(gid))) = (listed, fields.get(2).map(|g| g.parse::<u32>())) {
                if !groups.contains(&Gid::from_raw(gid)) {
                    groups.push(Gid::from_raw(gid));
                }
            }
        }
    }
    let home = entry.map_or_else(|| "/".to_owned(), |e| e.home.clone());
    Ok(User { uid: Uid::from_raw(uid), gid: Gid::from_raw(gid), groups, home })
}

fn read_lines(path: &Path) -> Vec<String> {
    fs_err::read_to_string(path).map(|t| t.lines().map(str::to_owned).collect()).unwrap_or_default()
}

fn parse_passwd(line: &str) -> Option<PasswdEntry> {
    let fields: Vec<&str> = line.split(':').collect();
    Some(PasswdEntry {
        name: (*fields.first()?).to_owned(),
        uid: fields.get(2)?.parse().ok()?,
        gid: fields.get(3)?.parse().ok()?,
        home: fields.get(5).unwrap_or(&"/").to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_groups() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n").unwrap();
        fs_err::write(dir.path().join("group"), "root:x:0:\napp:x:1000:\nwheel:x:10:app,other\n").unwrap();
        let app = resolve_user(Some("app"), dir.path()).unwrap();
        assert_eq!((app.uid.as_raw(), app.gid.as_raw(), app.home.as_str()), (1000, 1000, "/home/app"));
        assert_eq!(app.groups, [Gid::from_raw(10)]);
        let numeric = resolve_user(Some("4242"), dir.path()).unwrap();
        assert_eq!((numeric.uid.as_raw(), numeric.gid.as_raw()), (4242, 0));
        let with_group = resolve_user(Some("app:wheel"), dir.path()).unwrap();
        assert_eq!(with_group.gid.as_raw(), 10);
        assert!(with_group.groups.is_empty());
        assert!(resolve_user(Some("nobody"), dir.path()).is_err());
        assert_eq!(resolve_user(None, dir.path()).unwrap().uid.as_raw(), 0);
    }
}
