//! Go's `path.Clean`, the one path cleaning BuildKit applies to patterns
//! (`.dockerignore`, `--exclude`, `--parents`), COPY sources and
//! destinations. Ported byte for byte.
//!
//! See: Go `src/path/path.go` (`Clean`).

/// Go's `path.Clean`: collapses `//`, drops `.` elements, resolves `..`
/// against the preceding element (never above `/` for rooted paths), drops
/// a trailing `/`; the empty result is `.`.
pub fn clean(path: &str) -> String {
    let p = path.as_bytes();
    if p.is_empty() {
        return ".".to_owned();
    }
    let rooted = p[0] == b'/';
    let n = p.len();
    let mut out: Vec<u8> = Vec::with_capacity(n);
    let (mut r, mut dotdot) = (0, 0);
    if rooted {
        out.push(b'/');
        r = 1;
        dotdot = 1;
    }
    while r < n {
        if p[r] == b'/' || (p[r] == b'.' && (r + 1 == n || p[r + 1] == b'/')) {
            // An empty or `.` element.
            r += 1;
        } else if p[r] == b'.' && p[r + 1] == b'.' && (r + 2 == n || p[r + 2] == b'/') {
            r += 2;
            if out.len() > dotdot {
                out.pop();
                while out.len() > dotdot && out[out.len() - 1] != b'/' {
                    out.pop();
                }
            } else if !rooted {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(b"..");
                dotdot = out.len();
            }
        } else {
            if (rooted && out.len() != 1) || (!rooted && !out.is_empty()) {
                out.push(b'/');
            }
            while r < n && p[r] != b'/' {
                out.push(p[r]);
                r += 1;
            }
        }
    }
    if out.is_empty() {
        return ".".to_owned();
    }
    // Only ASCII bytes were inserted or removed at `/` boundaries.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The components of `path` taken from `/` (Go's `path.Join("/", path)`):
/// `..` never climbs above the root, so nothing names a path outside it.
pub fn rooted_components(path: &str) -> Vec<String> {
    let cleaned = clean(&format!("/{path}"));
    cleaned.split('/').filter(|c| !c.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go() {
        for (input, want) in [
            ("", "."),
            ("a//b", "a/b"),
            ("./a", "a"),
            ("a/../b", "b"),
            ("a/", "a"),
            ("/", "/"),
            ("/../a", "/a"),
            ("../a", "../a"),
            ("a/../..", ".."),
            ("a/./b/.", "a/b"),
            ("!/", "!"),
            ("a /", "a "),
        ] {
            assert_eq!(clean(input), want, "clean({input:?})");
        }
    }

    #[test]
    fn rooted_components_stay_in_the_root() {
        assert_eq!(rooted_components("../../x/./y/"), vec!["x", "y"]);
        assert_eq!(rooted_components("/a/../b"), vec!["b"]);
        assert!(rooted_components(".").is_empty());
    }
}
