//! A user's subordinate id range from `/etc/subuid` or `/etc/subgid`
//! (`name:start:count` or `uid:start:count` lines, as shadow's `newuidmap`
//! reads them). Malformed lines are ignored, never trusted.

use std::path::Path;

/// A range of host ids: `start`, `start + 1`, … (`count` of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// The first host id.
    pub start: u32,
    /// How many ids.
    pub count: u32,
}

/// The first range of `user` (by name or numeric id) in `file`, if any;
/// a missing or unreadable file has none.
pub fn subordinate_range(file: &Path, user: &str, id: u32) -> Option<IdRange> {
    let text = fs_err::read_to_string(file).ok()?;
    let id = id.to_string();
    text.lines().filter_map(parse_line).find(|(owner, _)| *owner == user || *owner == id).map(|(_, range)| range)
}

fn parse_line(line: &str) -> Option<(&str, IdRange)> {
    let mut fields = line.trim().split(':');
    let (owner, start, count) = (fields.next()?, fields.next()?, fields.next()?);
    if fields.next().is_some() || owner.is_empty() || owner.starts_with('#') {
        return None;
    }
    let range = IdRange { start: start.parse().ok()?, count: count.parse().ok()? };
    // A range that wraps past the last id is not one newuidmap accepts.
    (range.count > 0 && range.start.checked_add(range.count).is_some()).then_some((owner, range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_users_range_by_name_or_uid() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("subuid");
        fs_err::write(&file, "# comment\nalice:100000:65536\n1002:300000:1000\nbroken\nbob:x:1\n").unwrap();
        assert_eq!(subordinate_range(&file, "alice", 1001), Some(IdRange { start: 100000, count: 65536 }));
        assert_eq!(subordinate_range(&file, "carol", 1002), Some(IdRange { start: 300000, count: 1000 }));
        assert_eq!(subordinate_range(&file, "bob", 1003), None);
        assert_eq!(subordinate_range(&dir.path().join("missing"), "alice", 1001), None);
    }

    #[test]
    fn hostile_lines_are_ignored() {
        for line in ["a:4294967295:2", "a:1:0", "a:1:2:3", ":1:2", "a:-1:5", "a:1", "a:99999999999:1"] {
            assert_eq!(parse_line(line), None, "{line}");
        }
    }
}
