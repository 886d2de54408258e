//! The tree spec language of `testdata/layer/<case>/spec.txt`: a directory
//! tree written as text, one entry per line, built on disk by [`build`].
//!
//! ```text
//! # comment
//! epoch 1500000000                   WriteOptions.source_date_epoch for the case
//! dir a 0755 0:0                     a directory
//! file a/b 0644 1000:1000 "text\n"   a file ("…" with \n \t \\ \" \xHH escapes)
//! file big 0644 0:0 random:70000     70000 deterministic pseudo-random bytes
//! symlink a/l -> ../x [U:G]          a symlink (target taken verbatim)
//! hardlink a/h => a/b                another name for a/b
//! whiteout a/gone [U:G]              overlayfs deletion mark: char device 0/0
//! opaque a                           trusted.overlay.opaque=y on directory a
//! xattr a/b user.k=v                 an xattr (value 0x… is hex)
//! fifo p 0600 0:0                    a named pipe
//! chardev c 1:3 0666 0:0             a character device (blockdev likewise)
//! ```
//!
//! Entries may end with `mtime=N`; the default is [`DEFAULT_MTIME`]. Paths
//! are bytes (`\xHH` escapes work unquoted, too). Parent directories not
//! listed are made `0755 0:0`. Lines build in any order: [`Order::Reversed`]
//! builds the same tree the other way round.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::stat::{makedev, mknod, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

/// The mtime of every entry that does not say otherwise (2020-09-13).
pub const DEFAULT_MTIME: i64 = 1_600_000_000;

/// A parsed `spec.txt`.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub epoch: Option<i64>,
    pub entries: Vec<Entry>,
}

/// One line of a spec.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: Vec<u8>,
    pub kind: Kind,
    pub mode: u32,
    pub owner: (u32, u32),
    pub mtime: i64,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(Vec<u8>),
    HardLink(Vec<u8>),
    Whiteout,
    Opaque,
    Xattr(Vec<u8>, Vec<u8>),
    Fifo,
    Char(u32, u32),
    Block(u32, u32),
}

impl Kind {
    /// Kinds that create a path of their own (not links or attributes).
    fn creates(&self) -> bool {
        !matches!(self, Kind::HardLink(_) | Kind::Opaque | Kind::Xattr(..))
    }
}

/// An xattr's name and value.
type Xattr = (Vec<u8>, Vec<u8>);

/// The order in which [`build`] creates the spec's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    AsWritten,
    Reversed,
}

/// A token and whether it was quoted (`random:N` only counts bare).
struct Token {
    bytes: Vec<u8>,
    quoted: bool,
}

impl Token {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Parses a spec; errors name the line.
pub fn parse(text: &str) -> Result<Spec, String> {
    let mut spec = Spec::default();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fail = |e: String| format!("spec.txt:{}: {e}: {line}", index + 1);
        let tokens = tokenize(trimmed).map_err(fail)?;
        if tokens[0].bytes == b"epoch" {
            let [_, value] = tokens.as_slice() else { return Err(fail("expected `epoch N`".into())) };
            spec.epoch = Some(value.text().parse().map_err(|_| fail("bad epoch".into()))?);
            continue;
        }
        spec.entries.push(parse_entry(tokens).map_err(fail)?);
    }
    Ok(spec)
}

fn parse_entry(tokens: Vec<Token>) -> Result<Entry, String> {
    let mut rest = tokens.into_iter();
    let kind_word = rest.next().map(|t| t.text()).unwrap_or_default();
    let path = rest.next().ok_or("missing path")?.bytes;
    let mut args: Vec<Token> = rest.collect();
    // Trailing `mtime=N` options.
    let mut mtime = DEFAULT_MTIME;
    while let Some(last) = args.last() {
        let Some(value) = last.text().strip_prefix("mtime=").map(str::to_owned) else { break };
        mtime = value.parse().map_err(|_| format!("bad mtime {value:?}"))?;
        args.pop();
    }
    let mut entry = Entry { path, kind: Kind::Dir, mode: 0o755, owner: (0, 0), mtime };
    let args: Vec<&Token> = args.iter().collect();
    match (kind_word.as_str(), args.as_slice()) {
        ("dir", [mode, owner]) => {
            (entry.mode, entry.owner) = (parse_mode(mode)?, parse_owner(owner)?);
        }
        ("file", [mode, owner, content]) => {
            (entry.mode, entry.owner) = (parse_mode(mode)?, parse_owner(owner)?);
            entry.kind = Kind::File(parse_content(content, &entry.path)?);
        }
        ("symlink", [arrow, target, owner @ ..]) if arrow.bytes == b"->" && owner.len() <= 1 => {
            entry.mode = 0o777;
            entry.kind = Kind::Symlink(target.bytes.clone());
            if let [owner] = owner {
                entry.owner = parse_owner(owner)?;
            }
        }
        ("hardlink", [arrow, target]) if arrow.bytes == b"=>" => entry.kind = Kind::HardLink(target.bytes.clone()),
        ("whiteout", owner) if owner.len() <= 1 => {
            entry.mode = 0;
            entry.kind = Kind::Whiteout;
            if let [owner] = owner {
                entry.owner = parse_owner(owner)?;
            }
        }
        ("opaque", []) => entry.kind = Kind::Opaque,
        ("xattr", [pair]) => {
            let at = pair.bytes.iter().position(|&b| b == b'=').ok_or("expected NAME=VALUE")?;
            let (name, value) = (pair.bytes[..at].to_vec(), &pair.bytes[at + 1..]);
            let value = match value.strip_prefix(b"0x") {
                Some(digits) if !pair.quoted => hex::decode(digits).map_err(|e| format!("bad hex value: {e}"))?,
                _ => value.to_vec(),
            };
            entry.kind = Kind::Xattr(name, value);
        }
        ("fifo", [mode, owner]) => {
            (entry.mode, entry.owner) = (parse_mode(mode)?, parse_owner(owner)?);
            entry.kind = Kind::Fifo;
        }
        (word @ ("chardev" | "blockdev"), [device, mode, owner]) => {
            let (major, minor) = parse_pair(device)?;
            (entry.mode, entry.owner) = (parse_mode(mode)?, parse_owner(owner)?);
            entry.kind = if word == "chardev" { Kind::Char(major, minor) } else { Kind::Block(major, minor) };
        }
        _ => return Err(format!("cannot read a {kind_word:?} line with {} arguments", args.len())),
    }
    Ok(entry)
}

fn parse_mode(token: &Token) -> Result<u32, String> {
    u32::from_str_radix(&token.text(), 8).map_err(|_| format!("bad octal mode {:?}", token.text()))
}

fn parse_owner(token: &Token) -> Result<(u32, u32), String> {
    parse_pair(token).map_err(|_| format!("bad owner {:?} (expected UID:GID)", token.text()))
}

fn parse_pair(token: &Token) -> Result<(u32, u32), String> {
    let text = token.text();
    let (a, b) = text.split_once(':').ok_or_else(|| format!("expected A:B, got {text:?}"))?;
    Ok((a.parse().map_err(|_| format!("bad number {a:?}"))?, b.parse().map_err(|_| format!("bad number {b:?}"))?))
}

fn parse_content(token: &Token, path: &[u8]) -> Result<Vec<u8>, String> {
    if token.quoted {
        return Ok(token.bytes.clone());
    }
    let text = token.text();
    let size = text.strip_prefix("random:").ok_or_else(|| format!("file content must be \"…\" or random:N, got {text:?}"))?;
    let size: usize = size.parse().map_err(|_| format!("bad size {size:?}"))?;
    Ok(pseudo_random(path, size))
}

/// `size` bytes of xorshift output seeded by `seed`: the same on every run.
pub fn pseudo_random(seed: &[u8], size: usize) -> Vec<u8> {
    let mut state = seed.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)) | 1;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(size);
    out
}

/// Splits a line into tokens: bare words or `"…"`, both with escapes.
fn tokenize(line: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let quoted = c == '"';
        if quoted {
            chars.next();
        }
        let mut bytes = Vec::new();
        let mut closed = !quoted;
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted => {
                    closed = true;
                    break;
                }
                c if c.is_whitespace() && !quoted => break,
                '\\' => match chars.next() {
                    Some('n') => bytes.push(b'\n'),
                    Some('t') => bytes.push(b'\t'),
                    Some('x') => {
                        let digits: String = chars.by_ref().take(2).collect();
                        bytes.push(u8::from_str_radix(&digits, 16).map_err(|_| format!("bad escape \\x{digits}"))?);
                    }
                    Some(other) => bytes.extend_from_slice(other.encode_utf8(&mut [0; 4]).as_bytes()),
                    None => return Err("dangling backslash".into()),
                },
                c => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        if !closed {
            return Err("unterminated quote".into());
        }
        tokens.push(Token { bytes, quoted });
    }
    Ok(tokens)
}

/// Builds `spec` under `root` (created if missing), creating lines in `order`.
pub fn build(spec: &Spec, root: &Path, order: Order) -> Result<(), String> {
    fs_err::create_dir_all(root).map_err(|e| format!("create {}: {e}", root.display()))?;
    let mut lines: Vec<&Entry> = spec.entries.iter().collect();
    if order == Order::Reversed {
        lines.reverse();
    }
    let at = |path: &[u8]| root.join(OsStr::from_bytes(path));
    // Paths first, then hard links to them, then metadata bottom-up.
    for entry in lines.iter().filter(|e| e.kind.creates()) {
        create(entry, &at(&entry.path)).map_err(|e| format!("create {}: {e}", String::from_utf8_lossy(&entry.path)))?;
    }
    let mut links = Vec::new();
    let mut attributes: HashMap<PathBuf, Vec<Xattr>> = HashMap::new();
    let mut owners: HashMap<PathBuf, &Entry> = HashMap::new();
    for entry in &lines {
        let path = at(&entry.path);
        match &entry.kind {
            Kind::HardLink(target) => {
                if let Some(parent) = path.parent() {
                    fs_err::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
                }
                fs_err::hard_link(at(target), &path).map_err(|e| format!("hard link {}: {e}", path.display()))?;
                links.push(path);
            }
            Kind::Opaque => attributes.entry(path).or_default().push((b"trusted.overlay.opaque".to_vec(), b"y".to_vec())),
            Kind::Xattr(name, value) => attributes.entry(path).or_default().push((name.clone(), value.clone())),
            _ => {
                owners.insert(path, entry);
            }
        }
    }
    let mut paths = Vec::new();
    walk(root, &mut paths).map_err(|e| format!("walk {}: {e}", root.display()))?;
    // Children before parents, so a directory's mtime is set last.
    for path in paths.iter().rev().filter(|p| !links.contains(p)) {
        let (mode, owner, mtime, is_link) = match owners.get(path) {
            Some(e) => (e.mode, e.owner, e.mtime, matches!(e.kind, Kind::Symlink(_))),
            None => (0o755, (0, 0), DEFAULT_MTIME, false),
        };
        let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
        std::os::unix::fs::lchown(path, Some(owner.0), Some(owner.1)).map_err(|e| fail("chown", e))?;
        if !is_link {
            // After chown, which clears set-id bits.
            fs_err::set_permissions(path, PermissionsExt::from_mode(mode)).map_err(|e| fail("chmod", e))?;
        }
        // After chown, which drops security.capability.
        for (name, value) in attributes.get(path).into_iter().flatten() {
            xattr::set(path, OsStr::from_bytes(name), value).map_err(|e| fail("set xattr on", e))?;
        }
        let time = TimeSpec::new(mtime, 0);
        utimensat(None, path.as_path(), &time, &time, UtimensatFlags::NoFollowSymlink).map_err(|e| fail("set mtime of", e.into()))?;
    }
    Ok(())
}

fn create(entry: &Entry, path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent)?;
    }
    let node = |kind: SFlag, dev| mknod(path, kind, Mode::empty(), dev).map_err(std::io::Error::from);
    match &entry.kind {
        Kind::Dir if path.is_dir() => Ok(()),
        Kind::Dir => fs_err::create_dir(path),
        Kind::File(content) => {
            std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
            fs_err::write(path, content)
        }
        Kind::Symlink(target) => std::os::unix::fs::symlink(OsStr::from_bytes(target), path),
        Kind::Whiteout => node(SFlag::S_IFCHR, makedev(0, 0)),
        Kind::Fifo => node(SFlag::S_IFIFO, 0),
        Kind::Char(major, minor) => node(SFlag::S_IFCHR, makedev((*major).into(), (*minor).into())),
        Kind::Block(major, minor) => node(SFlag::S_IFBLK, makedev((*major).into(), (*minor).into())),
        Kind::HardLink(_) | Kind::Opaque | Kind::Xattr(..) => Ok(()),
    }
}

/// Every path under `dir` (not `dir` itself), parents before children.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut children: Vec<PathBuf> = fs_err::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    children.sort();
    for child in children {
        out.push(child.clone());
        if fs_err::symlink_metadata(&child)?.is_dir() {
            walk(&child, out)?;
        }
    }
    Ok(())
}
