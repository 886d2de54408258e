//! Golden tests for the layer codec. Every directory under `testdata/layer/`
//! (but `hostile/`, see tests/hostile.rs) is one case:
//!
//! - `spec.txt`: a tree to build (the language is in tests/support/spec.rs);
//! - `layer.txt`: what `write_layer` makes of it, as a listing of the tar
//!   entries (type, path, mode, owner, link, content, mtime, PAX records);
//! - `tree.txt`: the tree `unpack` makes of that layer, listed the same way.
//!
//! Besides the listings, each case checks the codec's promises: gzip, zstd
//! and uncompressed blobs hold the same tar; the reported digests and sizes
//! are those of the bytes; writing twice, or from a tree built in another
//! order, gives the same bytes; unpacking every blob gives the same tree;
//! writing the unpacked tree again gives the same diff_id; and without
//! `SOURCE_DATE_EPOCH` the unpacked tree is the tree that was written.
//!
//! `STRATA_BLESS=1 cargo test --test layer` rewrites `layer.txt` and
//! `tree.txt` from the current output; review the diff before keeping it.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use strata::digest::Digest;
use strata::layer::{self, Compression, LayerInfo, WriteOptions};
use support::listing;
use support::spec::{self, Order, Spec};

fn main() {
    let args = Arguments::from_args();
    let trials = case_dirs()
        .into_iter()
        .map(|dir| {
            let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
            Trial::test(name, move || check(&dir))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

fn case_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/layer");
    let mut dirs: Vec<PathBuf> = fs_err::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.is_dir() && !path.ends_with("hostile"))
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no cases under {}", root.display());
    dirs
}

/// A written layer: what `write_layer` said, and the bytes it wrote.
struct Written {
    info: LayerInfo,
    blob: Vec<u8>,
}

fn check(dir: &Path) -> Result<(), Failed> {
    let text = read(&dir.join("spec.txt"))?;
    let spec = spec::parse(&text)?;
    let scratch = tempfile::tempdir()?;
    let source = scratch.path().join("source");
    spec::build(&spec, &source, Order::AsWritten)?;
    let reversed = scratch.path().join("reversed");
    spec::build(&spec, &reversed, Order::Reversed)?;

    let mut written = Vec::new();
    for compression in Compression::ALL {
        written.push(write_checked(&spec, &source, &reversed, compression)?);
    }
    let plain = &written.iter().find(|w| w.info.compression == Compression::None).expect("uncompressed layer").blob;
    let diff_id = written[0].info.diff_id;
    for w in &written {
        ensure(w.info.diff_id == diff_id, format!("{} layer has another diff_id than {}", w.info.compression, written[0].info.compression))?;
        ensure(w.info.uncompressed_size == plain.len() as u64, format!("{} layer: wrong uncompressed_size", w.info.compression))?;
    }
    let layer_text = format!("diff_id {diff_id}\nsize {}\n\n{}", plain.len(), listing::layer(plain)?);
    let entries = listing::layer(plain)?.lines().filter(|l| !l.starts_with(' ')).count() as u64;

    let mut tree_text: Option<String> = None;
    for w in &written {
        let dest = scratch.path().join(format!("unpacked-{}", w.info.compression));
        fs_err::create_dir(&dest)?;
        let unpacked = layer::unpack(w.blob.as_slice(), &dest).map_err(|e| format!("unpack {} layer: {e}", w.info.compression))?;
        let label = w.info.compression;
        ensure(unpacked.compression == label, format!("unpack detected {} for a {label} layer", unpacked.compression))?;
        ensure(unpacked.diff_id == diff_id, format!("unpack of the {label} layer reports another diff_id"))?;
        ensure(unpacked.digest == w.info.digest && unpacked.size == w.info.size, format!("unpack of the {label} layer reports another digest or size"))?;
        ensure(unpacked.uncompressed_size == plain.len() as u64, format!("unpack of the {label} layer reports a wrong uncompressed size"))?;
        ensure(unpacked.entries == entries, format!("unpack of the {label} layer counted {} entries, the tar has {entries}", unpacked.entries))?;
        let tree = listing::tree(&dest)?;
        if let Some(first) = &tree_text {
            ensure(*first == tree, format!("unpacking the {label} layer gives another tree:\n{}", diff(first, &tree)))?;
        }
        // Round trip: the unpacked tree is written as the same layer.
        let again = write(&dest, Compression::None, spec.epoch)?;
        ensure(
            again.info.diff_id == diff_id,
            format!("unpack → write of the {label} layer changes the diff_id:\n{}", diff(&listing::layer(plain)?, &listing::layer(&again.blob)?)),
        )?;
        tree_text.get_or_insert(tree);
    }
    let tree_text = tree_text.unwrap_or_default();
    if spec.epoch.is_none() {
        // The writer drops overlayfs's own attributes but the opaque mark.
        let original: String = listing::tree(&source)?
            .lines()
            .filter(|l| !l.contains(" trusted.overlay.") || l.ends_with(" trusted.overlay.opaque=y"))
            .map(|l| format!("{l}\n"))
            .collect();
        ensure(original == tree_text, format!("the unpacked tree differs from the tree written:\n{}", diff(&original, &tree_text)))?;
    }
    compare(dir, &[("layer.txt", layer_text), ("tree.txt", tree_text)])
}

/// Writes `source` with `compression` and checks the promises of one blob.
fn write_checked(spec: &Spec, source: &Path, reversed: &Path, compression: Compression) -> Result<Written, Failed> {
    let w = write(source, compression, spec.epoch)?;
    ensure(w.info.compression == compression, format!("asked for {compression}, got {}", w.info.compression))?;
    ensure(w.info.digest == Digest::of(&w.blob), format!("{compression}: digest is not that of the bytes written"))?;
    ensure(w.info.size == w.blob.len() as u64, format!("{compression}: size is not that of the bytes written"))?;
    let plain = decompress(compression, &w.blob)?;
    ensure(w.info.diff_id == Digest::of(&plain), format!("{compression}: diff_id is not that of the tar inside"))?;
    ensure(w.info.uncompressed_size == plain.len() as u64, format!("{compression}: uncompressed_size is not that of the tar inside"))?;
    let twice = write(source, compression, spec.epoch)?;
    ensure(twice.blob == w.blob, format!("{compression}: writing the same tree twice gives different bytes"))?;
    let other = write(reversed, compression, spec.epoch)?;
    ensure(
        other.blob == w.blob,
        format!(
            "{compression}: the tree built in reverse order is written differently:\n{}",
            diff(&listing::layer(&plain)?, &listing::layer(&decompress(compression, &other.blob)?)?)
        ),
    )?;
    Ok(w)
}

fn write(dir: &Path, compression: Compression, source_date_epoch: Option<i64>) -> Result<Written, Failed> {
    let (info, blob) = layer::write_layer(dir, Vec::new(), &WriteOptions { compression, source_date_epoch })
        .map_err(|e| format!("write_layer {} ({compression}): {e}", dir.display()))?;
    Ok(Written { info, blob })
}

/// Decompresses with the codecs directly, not through strata's detection.
fn decompress(compression: Compression, blob: &[u8]) -> Result<Vec<u8>, Failed> {
    let mut plain = Vec::new();
    match compression {
        Compression::Gzip => {
            flate2::read::GzDecoder::new(blob).read_to_end(&mut plain)?;
        }
        Compression::Zstd => plain = zstd::decode_all(blob)?,
        Compression::None => plain = blob.to_vec(),
    }
    Ok(plain)
}

/// Compares each (file, actual) with the file in `dir`, or writes the files
/// when blessing.
fn compare(dir: &Path, files: &[(&str, String)]) -> Result<(), Failed> {
    let bless = std::env::var_os("STRATA_BLESS").is_some_and(|v| v == "1");
    let mut problems = String::new();
    for (file, actual) in files {
        let path = dir.join(file);
        if bless {
            fs_err::write(&path, actual).map_err(|e| format!("{}: {e}", path.display()))?;
            continue;
        }
        let expected = fs_err::read_to_string(&path).map_err(|e| format!("{}: {e} (run with STRATA_BLESS=1 to create it)", path.display()))?;
        if expected != *actual {
            problems.push_str(&format!("{file} differs:\n{}\n", diff(&expected, actual)));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.into())
    }
}

fn read(path: &Path) -> Result<String, Failed> {
    fs_err::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()).into())
}

fn ensure(condition: bool, message: String) -> Result<(), Failed> {
    if condition {
        Ok(())
    } else {
        Err(message.into())
    }
}

/// A unified line diff from `expected` to `actual`.
fn diff(expected: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(expected, actual).unified_diff().header("expected", "actual").to_string()
}
