//! The module map in the README's Architecture section, enforced.
//!
//! The table there names every top-level module of `src/`, what it owns and
//! which other modules it may use. This test reads that table and the code,
//! and fails when they disagree: a module missing from the table (or a row
//! for a module that is gone), a `crate::` path that crosses an edge the
//! table does not allow, or a file the table names that does not exist. Data
//! flows one way, so the allowed edges must also form no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One row of the README's module table.
struct Row {
    owns: String,
    /// `None` means "everything".
    may_use: Option<BTreeSet<String>>,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `cli/` → `cli`, `digest.rs` → `digest`, `main.rs` → `main`.
fn module_name(cell: &str) -> Option<String> {
    let name = cell.trim().strip_prefix('`')?.strip_suffix('`')?;
    let name = name.strip_suffix('/').or_else(|| name.strip_suffix(".rs"))?;
    Some(name.to_owned())
}

fn table() -> BTreeMap<String, Row> {
    let readme = fs_err::read_to_string(repo().join("README.md")).expect("README.md");
    let section = readme.split("\n## Architecture\n").nth(1).expect("the README has an Architecture section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
        assert_eq!(cells.len(), 3, "a module row has three cells (module | owns | may use): {line}");
        let name = module_name(cells[0]).unwrap_or_else(|| panic!("not a module name: {}", cells[0]));
        let may_use = match cells[2].trim() {
            "everything" => None,
            "nothing" => Some(BTreeSet::new()),
            list => Some(list.split(',').map(|m| m.trim().trim_matches('`').trim_end_matches('/').trim_end_matches(".rs").to_owned()).collect()),
        };
        assert!(rows.insert(name.clone(), Row { owns: cells[1].to_owned(), may_use }).is_none(), "module {name} has two rows");
    }
    assert!(!rows.is_empty(), "the Architecture section has no module table");
    rows
}

/// The top-level modules of `src/`, each with the files that make it up.
fn modules() -> BTreeMap<String, Vec<PathBuf>> {
    let src = repo().join("src");
    let mut modules = BTreeMap::new();
    for entry in fs_err::read_dir(&src).expect("src/") {
        let path = entry.expect("src/ entry").path();
        let name = path.file_stem().and_then(|s| s.to_str()).expect("utf-8 file name").to_owned();
        if name == "lib" {
            continue;
        }
        let files = if path.is_dir() { rust_files(&path) } else { vec![path] };
        modules.entry(name).or_insert_with(Vec::new).extend(files);
    }
    modules
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs_err::read_dir(dir).expect("module directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The crate's top-level modules a source file names: `crate::x…` paths,
/// the members of `use crate::{x, y::z}` groups, and `strata::x` in the
/// binary. Comments are skipped so prose cannot create an edge.
fn uses(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for prefix in ["crate::", "strata::"] {
            let mut rest = code;
            while let Some(at) = rest.find(prefix) {
                let before = rest[..at].chars().last();
                rest = &rest[at + prefix.len()..];
                // An identifier's tail (`my_crate::`) or a string (`"strata::dockerfile"`, a diagnostic code) is no path.
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '"') {
                    continue;
                }
                if let Some(group) = rest.strip_prefix('{') {
                    found.extend(group_members(group));
                } else {
                    found.insert(ident(rest));
                }
            }
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

/// The first path segment of each member of a `{…}` group (up to its
/// closing brace; nested groups belong to their member).
fn group_members(group: &str) -> Vec<String> {
    let mut members = Vec::new();
    let mut depth = 0;
    let mut start = true;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => start = true,
            c if start && !c.is_whitespace() => {
                members.push(ident(&group[i..]));
                start = false;
            }
            _ => {}
        }
    }
    members
}

fn ident(text: &str) -> String {
    text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

#[test]
fn every_module_has_a_row_and_every_row_a_module() {
    let table = table();
    let modules = modules();
    let code: BTreeSet<_> = modules.keys().cloned().collect();
    let rows: BTreeSet<_> = table.keys().cloned().collect();
    assert_eq!(code.difference(&rows).collect::<Vec<_>>(), Vec::<&String>::new(), "modules in src/ without a row in the README's table");
    assert_eq!(rows.difference(&code).collect::<Vec<_>>(), Vec::<&String>::new(), "rows in the README's table without a module in src/");
}

#[test]
fn every_edge_is_allowed_by_the_table() {
    let table = table();
    let mut wrong = Vec::new();
    for (module, files) in modules() {
        let Some(allowed) = table.get(&module).and_then(|row| row.may_use.as_ref()) else { continue };
        for file in files {
            let text = fs_err::read_to_string(&file).expect("source file");
            for used in uses(&text) {
                if used != module && used != "self" && used != "super" && !allowed.contains(&used) {
                    wrong.push(format!("{} uses {used}", file.strip_prefix(repo()).unwrap_or(&file).display()));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "edges the README's module table does not allow:\n{}", wrong.join("\n"));
}

#[test]
fn allowed_edges_name_modules_and_form_no_cycle() {
    let table = table();
    for (module, row) in &table {
        for used in row.may_use.iter().flatten() {
            assert!(table.contains_key(used), "{module} may use {used}, which has no row");
        }
    }
    // Depth-first search over the library's edges; `main` and `cli` sit at
    // the top and may use everything, so they cannot be part of a cycle.
    fn visit<'a>(table: &'a BTreeMap<String, Row>, module: &'a str, path: &mut Vec<&'a str>, done: &mut BTreeSet<&'a str>) {
        if done.contains(module) {
            return;
        }
        assert!(!path.contains(&module), "the module table has a cycle: {} → {module}", path.join(" → "));
        path.push(module);
        for used in table[module].may_use.iter().flatten() {
            visit(table, used, path, done);
        }
        path.pop();
        done.insert(module);
    }
    let mut done = BTreeSet::new();
    for module in table.keys() {
        visit(&table, module, &mut Vec::new(), &mut done);
    }
}

#[test]
fn files_the_table_names_exist() {
    let table = table();
    let modules = modules();
    let mut missing = Vec::new();
    for (module, row) in &table {
        let Some(files) = modules.get(module) else { continue };
        for cell in row.owns.split('`').skip(1).step_by(2).filter(|t| t.ends_with(".rs") && !t.contains(' ')) {
            for name in expand(cell) {
                if !files.iter().any(|f| f.ends_with(&name)) {
                    missing.push(format!("{module}: {name}"));
                }
            }
        }
    }
    assert!(missing.is_empty(), "files named in the README's module table that do not exist:\n{}", missing.join("\n"));
}

/// `mount/{bind,cache}.rs` → `mount/bind.rs`, `mount/cache.rs`.
fn expand(name: &str) -> Vec<String> {
    let (Some(open), Some(close)) = (name.find('{'), name.find('}')) else { return vec![name.to_owned()] };
    name[open + 1..close].split(',').map(|alt| format!("{}{alt}{}", &name[..open], &name[close + 1..])).collect()
}

#[test]
fn use_lines_are_read_as_edges() {
    let text = "use crate::{digest::Digest, layer::{self, Whiteout}};\nuse crate::store::Store; // crate::exec in prose\nlet x = crate::image::Config::default();\nfn f(a: my_crate::x) {}\n";
    let found: Vec<_> = uses(text).into_iter().collect();
    assert_eq!(found, ["digest", "image", "layer", "store"]);
}
