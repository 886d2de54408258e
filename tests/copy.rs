//! Golden tests for the COPY/ADD engine (`strata::copy`). Every directory
//! under `testdata/copy/` is one case:
//!
//! - `case.txt`: sections that build the case, then the operation:
//!   ```text
//!   # What the case shows (comment lines are free).
//!   [source]              the source root, in the tree spec language of
//!   file a.txt 0644 1000:1000 "hi\n"   tests/support/spec.rs
//!   [dest]                the destination root before the copy (optional)
//!   dir etc 0755 0:0
//!   [archive app.tar.gz]  a tarball put in the source root: the spec lines
//!   file x 0644 0:0 "x"   become tar entries in order, names verbatim (so
//!                         `../x` can be written); .gz .bz2 .xz .zst compress
//!   [serve /f.txt]        an HTTP response on 127.0.0.1 (`content "…"`,
//!   content "hello"       `last-modified DATE`, `status N`)
//!   [op]
//!   from context          or `stage` (another stage's root: owners kept)
//!   source *.txt          one per source, as written in the Dockerfile
//!   heredoc EOF "text\n"  an inline source
//!   url /f.txt            an ADD URL on the case's server
//!   dest /app/
//!   chown 1000:1000       chmod 0755, exclude PATTERN, parents, link,
//!   add                   add, unpack false, checksum DIGEST,
//!   ignore *.md           ignore PATTERN (the context's .dockerignore)
//!   ```
//!   `$OUTSIDE` in any section is the host path of a directory outside
//!   both roots; every case checks that it is left as it was.
//! - `expected.txt`: the destination tree after the copy (the listing of
//!   tests/support/listing.rs; times set during the run read `now`), then
//!   the report: counts, the source paths read and the URLs fetched. Or,
//!   when the copy fails, `error: ` and its message.
//!
//! `STRATA_BLESS=1 cargo test --test copy` rewrites `expected.txt` from the
//! current output; review the diff before keeping it.

mod support;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libtest_mimic::{Arguments, Failed, Trial};
use strata::copy::{self, CopyRequest, SourceFilter};
use strata::plan::{AddOptions, CopyOp, CopySource, SourceRoot};
use support::listing;
use support::spec::{self, Kind, Order};

fn main() {
    // The cases' server is on 127.0.0.1: never through a proxy from the
    // environment (set before any thread starts).
    std::env::set_var("NO_PROXY", "127.0.0.1,localhost");
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/copy");
    let mut dirs: Vec<PathBuf> = fs_err::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no cases under {}", root.display());
    let trials = dirs
        .into_iter()
        .map(|dir| {
            let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
            Trial::test(name, move || check(&dir))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

/// A parsed `case.txt`.
#[derive(Default)]
struct Case {
    source: String,
    dest: Option<String>,
    archives: Vec<(String, String)>,
    served: Vec<(String, String)>,
    op: Vec<String>,
}

fn parse_case(text: &str) -> Result<Case, String> {
    let mut case = Case::default();
    let mut section: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            match name.split_once(' ') {
                Some(("archive", file)) => case.archives.push((file.to_owned(), String::new())),
                Some(("serve", path)) => case.served.push((path.to_owned(), String::new())),
                None if name == "dest" => case.dest = Some(String::new()),
                None if matches!(name, "source" | "op") => {}
                _ => return Err(format!("unknown section [{name}]")),
            }
            section = Some(name.to_owned());
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let target = match section.as_deref() {
            Some("source") => &mut case.source,
            Some("dest") => case.dest.as_mut().expect("dest section"),
            Some("op") => {
                case.op.push(trimmed.to_owned());
                continue;
            }
            Some(name) if name.starts_with("archive ") => &mut case.archives.last_mut().expect("archive section").1,
            Some(name) if name.starts_with("serve ") => &mut case.served.last_mut().expect("serve section").1,
            _ => return Err(format!("line outside a section: {line}")),
        };
        target.push_str(line);
        target.push('\n');
    }
    Ok(case)
}

fn check(dir: &Path) -> Result<(), Failed> {
    let start = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    let text = fs_err::read_to_string(dir.join("case.txt")).map_err(|e| format!("case.txt: {e}"))?;
    // Under /tmp by name: listings may show the path of $OUTSIDE.
    let scratch = tempfile::Builder::new().prefix("strata-copy-").tempdir_in("/tmp")?;
    let (src, dest, outside) = (scratch.path().join("src"), scratch.path().join("dest"), scratch.path().join("outside"));
    let text = text.replace("$OUTSIDE", &outside.to_string_lossy());
    let case = parse_case(&text)?;

    // The directory nothing may touch: a file, and a symlink to /.
    fs_err::create_dir_all(outside.join("etc"))?;
    fs_err::write(outside.join("etc/secret"), "outside\n")?;
    let outside_before = listing::tree(&outside)?;

    spec::build(&spec::parse(&case.source)?, &src, Order::AsWritten)?;
    for (name, entries) in &case.archives {
        let bytes = archive(name, &spec::parse(entries)?)?;
        let path = src.join(name);
        fs_err::write(&path, bytes)?;
        std::os::unix::fs::lchown(&path, Some(0), Some(0))?;
        let time = nix::sys::time::TimeSpec::new(spec::DEFAULT_MTIME, 0);
        nix::sys::stat::utimensat(None, &path, &time, &time, nix::sys::stat::UtimensatFlags::NoFollowSymlink).map_err(|e| format!("utimensat: {e}"))?;
    }
    match &case.dest {
        Some(tree) => spec::build(&spec::parse(tree)?, &dest, Order::AsWritten)?,
        None => fs_err::create_dir_all(&dest)?,
    }
    let server = if case.served.is_empty() { None } else { Some(Server::start(&case.served)?) };
    let base_url = server.as_ref().map(|s| format!("http://{}", s.address)).unwrap_or_default();
    let (op, ignore) = build_op(&case.op, &base_url)?;

    let filter = Ignore::new(&ignore);
    let request = CopyRequest {
        op: &strata::solve::copy_spec(&op),
        source: &src,
        filter: if ignore.is_empty() { None } else { Some(&filter) },
        dest_root: &dest,
        user_db_root: &dest,
        max_archive_size: None,
        expected: None,
        reuse: None,
        layers: None,
    };
    let result = copy::copy(&request);
    drop(server);

    let outside_after = listing::tree(&outside)?;
    if outside_after != outside_before {
        return Err(format!("the copy changed a directory outside its roots:\n{}", diff(&outside_before, &outside_after)).into());
    }
    // The scratch directory, in absolute paths and in paths inside a root.
    let scratch_text = scratch.path().to_string_lossy().trim_start_matches('/').to_owned();
    let redact = |text: &str| {
        let text = text.replace(&scratch_text, "tmp/<scratch>");
        if base_url.is_empty() {
            text
        } else {
            text.replace(&base_url, "<server>")
        }
    };
    let actual = match result {
        Err(e) => format!("error: {}\n", redact(&e.to_string())),
        Ok(report) => {
            let mut out = redact(&redact_times(&listing::tree(&dest)?, start));
            writeln!(out, "\n# report\nfiles {}\nbytes {}", report.files, report.bytes)?;
            for source in &report.sources {
                writeln!(out, "read {}", listing::name(source.as_bytes()))?;
            }
            for fetched in &report.fetched {
                let modified = fetched.modified.map_or("none".to_owned(), |t| t.to_string());
                writeln!(out, "fetched {} {} size={} modified={modified}", redact(&fetched.url), fetched.digest, fetched.size)?;
            }
            let mut sorted = report.sources.clone();
            sorted.sort();
            sorted.dedup();
            if sorted != report.sources {
                return Err("the report's sources are not sorted and unique".into());
            }
            out
        }
    };
    compare(&dir.join("expected.txt"), &actual)
}

/// `mtime=N` for times set while the case ran (made, not copied) as `now`.
fn redact_times(listing: &str, start: i64) -> String {
    listing
        .lines()
        .map(|line| match line.rsplit_once(" mtime=") {
            Some((head, time)) if time.parse::<i64>().is_ok_and(|t| t >= start - 1) => format!("{head} mtime=now\n"),
            _ => format!("{line}\n"),
        })
        .collect()
}

/// The operation of a case's `[op]` lines, and its ignore patterns.
fn build_op(lines: &[String], base_url: &str) -> Result<(CopyOp, Vec<String>), String> {
    let mut op = CopyOp {
        from: SourceRoot::Context,
        sources: Vec::new(),
        dest: String::new(),
        chown: None,
        chmod: None,
        link: false,
        parents: false,
        exclude: Vec::new(),
        add: None,
    };
    let mut ignore = Vec::new();
    let add = |op: &mut CopyOp| op.add.get_or_insert(AddOptions { checksum: None, keep_git_dir: false, unpack: true }).clone();
    for line in lines {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "from" => op.from = if rest == "stage" { SourceRoot::Stage(0) } else { SourceRoot::Context },
            "source" => op.sources.push(CopySource::Path { path: rest.to_owned() }),
            "url" => op.sources.push(CopySource::Url { url: format!("{base_url}{rest}") }),
            "heredoc" => {
                let (name, content) = rest.split_once(' ').ok_or("heredoc NAME \"CONTENT\"")?;
                op.sources.push(CopySource::Inline { name: name.to_owned(), content: unquote(content)? });
            }
            "dest" => op.dest = rest.to_owned(),
            "chown" => op.chown = Some(rest.to_owned()),
            "chmod" => op.chmod = Some(rest.to_owned()),
            "exclude" => op.exclude.push(rest.to_owned()),
            "parents" => op.parents = true,
            "link" => op.link = true,
            "add" => {
                add(&mut op);
            }
            "unpack" => {
                let mut options = add(&mut op);
                options.unpack = rest == "true";
                op.add = Some(options);
            }
            "checksum" => {
                let mut options = add(&mut op);
                options.checksum = Some(rest.to_owned());
                op.add = Some(options);
            }
            "ignore" => ignore.push(rest.to_owned()),
            _ => return Err(format!("unknown op line: {line}")),
        }
    }
    Ok((op, ignore))
}

/// `"…"` with `\n`, `\t`, `\\`, `\"` escapes.
fn unquote(text: &str) -> Result<String, String> {
    let inner = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).ok_or_else(|| format!("expected \"…\": {text}"))?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => return Err("dangling backslash".into()),
        }
    }
    Ok(out)
}

/// A tarball of `spec`'s entries in order, compressed as `name` says.
fn archive(name: &str, spec: &spec::Spec) -> Result<Vec<u8>, String> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in &spec.entries {
        let mut header = tar::Header::new_gnu();
        let (kind, link, data): (tar::EntryType, Option<&[u8]>, &[u8]) = match &entry.kind {
            Kind::Dir => (tar::EntryType::Directory, None, b""),
            Kind::File(content) => (tar::EntryType::Regular, None, content),
            Kind::Symlink(target) => (tar::EntryType::Symlink, Some(target), b""),
            Kind::HardLink(target) => (tar::EntryType::Link, Some(target), b""),
            Kind::Fifo => (tar::EntryType::Fifo, None, b""),
            Kind::Char(major, minor) | Kind::Block(major, minor) => {
                header.set_device_major(*major).map_err(|e| e.to_string())?;
                header.set_device_minor(*minor).map_err(|e| e.to_string())?;
                let kind = if matches!(entry.kind, Kind::Char(..)) { tar::EntryType::Char } else { tar::EntryType::Block };
                (kind, None, b"")
            }
            other => return Err(format!("{other:?} cannot be a tar entry")),
        };
        header.set_entry_type(kind);
        // Names and links verbatim, `..` and all.
        let raw = header.as_old_mut();
        raw.name = [0; 100];
        raw.name[..entry.path.len()].copy_from_slice(&entry.path);
        if let Some(link) = link {
            raw.linkname = [0; 100];
            raw.linkname[..link.len()].copy_from_slice(link);
        }
        header.set_mode(entry.mode);
        header.set_uid(entry.owner.0.into());
        header.set_gid(entry.owner.1.into());
        header.set_mtime(entry.mtime as u64);
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data).map_err(|e| e.to_string())?;
    }
    let plain = builder.into_inner().map_err(|e| e.to_string())?;
    let compressed = if name.ends_with(".gz") {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&plain).map_err(|e| e.to_string())?;
        encoder.finish().map_err(|e| e.to_string())?
    } else if name.ends_with(".bz2") {
        let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        encoder.write_all(&plain).map_err(|e| e.to_string())?;
        encoder.finish().map_err(|e| e.to_string())?
    } else if name.ends_with(".xz") {
        let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 6);
        encoder.write_all(&plain).map_err(|e| e.to_string())?;
        encoder.finish().map_err(|e| e.to_string())?
    } else if name.ends_with(".zst") {
        zstd::encode_all(plain.as_slice(), 3).map_err(|e| e.to_string())?
    } else {
        plain
    };
    Ok(compressed)
}

/// A `.dockerignore` for the cases: patterns of `/`-separated parts with
/// `*` and `?`; a pattern also excludes what is below what it matches; a
/// leading `!` includes again; the last matching pattern wins.
struct Ignore {
    patterns: Vec<(bool, Vec<String>)>,
}

impl Ignore {
    fn new(patterns: &[String]) -> Ignore {
        Ignore {
            patterns: patterns
                .iter()
                .map(|p| match p.strip_prefix('!') {
                    Some(rest) => (false, rest.split('/').map(str::to_owned).collect()),
                    None => (true, p.split('/').map(str::to_owned).collect()),
                })
                .collect(),
        }
    }
}

impl SourceFilter for Ignore {
    fn excluded(&self, rel_path: &str) -> bool {
        let parts: Vec<&str> = rel_path.split('/').collect();
        let mut excluded = false;
        for (exclude, pattern) in &self.patterns {
            let hit = pattern.len() <= parts.len() && pattern.iter().zip(&parts).all(|(p, n)| glob(p.as_bytes(), n.as_bytes()));
            if hit {
                excluded = *exclude;
            }
        }
        excluded
    }

    fn descend_excluded(&self, _rel_dir: &str) -> bool {
        self.patterns.iter().any(|(exclude, _)| !exclude)
    }
}

fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&pattern[1..], name) || (!name.is_empty() && glob(pattern, &name[1..])),
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => glob(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1 for the `[serve]` sections; it
/// stops when dropped.
struct Server {
    address: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// One served path: status, headers and body.
struct Response {
    status: u16,
    last_modified: Option<String>,
    body: Vec<u8>,
}

impl Server {
    fn start(served: &[(String, String)]) -> Result<Server, String> {
        let mut responses = HashMap::new();
        for (path, text) in served {
            let mut response = Response { status: 200, last_modified: None, body: Vec::new() };
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
                match word {
                    "content" if rest.starts_with("random:") => {
                        let size = rest["random:".len()..].parse().map_err(|_| format!("bad size: {line}"))?;
                        response.body = spec::pseudo_random(path.as_bytes(), size);
                    }
                    "content" => response.body = unquote(rest)?.into_bytes(),
                    "last-modified" => response.last_modified = Some(rest.to_owned()),
                    "status" => response.status = rest.parse().map_err(|_| format!("bad status: {line}"))?,
                    _ => return Err(format!("unknown serve line: {line}")),
                }
            }
            responses.insert(path.clone(), response);
        }
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let address = listener.local_addr().map_err(|e| e.to_string())?.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            // Bounded: a case makes a handful of requests.
            for stream in listener.incoming().take(32) {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let _ = serve_one(stream, &responses);
                }
            }
        });
        Ok(Server { address, stop, thread: Some(thread) })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(&self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_one(mut stream: TcpStream, responses: &HashMap<String, Response>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buffer[..n]);
    }
    let text = String::from_utf8_lossy(&request);
    let target = text.split_whitespace().nth(1).unwrap_or("/");
    let path = target.split('?').next().unwrap_or(target).to_owned();
    let (status, last_modified, body) = match responses.get(&path) {
        Some(r) => (r.status, r.last_modified.clone(), r.body.as_slice()),
        None => (404, None, &b"not found"[..]),
    };
    let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    if let Some(date) = last_modified {
        head.push_str(&format!("Last-Modified: {date}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

/// Compares with the expected file, or writes it when blessing.
fn compare(path: &Path, actual: &str) -> Result<(), Failed> {
    if std::env::var_os("STRATA_BLESS").is_some_and(|v| v == "1") {
        fs_err::write(path, actual).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(());
    }
    let expected = fs_err::read_to_string(path).map_err(|e| format!("{}: {e} (run with STRATA_BLESS=1 to create it)", path.display()))?;
    if expected == actual {
        Ok(())
    } else {
        Err(format!("expected.txt differs:\n{}", diff(&expected, actual)).into())
    }
}

fn diff(expected: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(expected, actual).unified_diff().header("expected", "actual").to_string()
}
