//! `strata cache`: du, ls, inspect, explain, prune, verify; and the GC
//! flags and report of `strata build`. Each subcommand turns its flags into
//! options, calls one library function (`crate::cache`) and renders.
//!
//! Exit codes: 0 success; 1 error (a refused prune too); 2 bad flags (clap);
//! 3 `verify` found problems it did not repair.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::json;

use super::build::{located, plan_options, StepFlags};
use super::image::ListFormat;
use super::table::{ago, human_size, table, truncate};
use super::{render, CliError};
use crate::build::{self, ContextSource};
use crate::cache::{self, Cache, CacheEntry, EntryKind, Inventory, PruneOptions, VerifyOptions};
use crate::store::Store;

/// `verify` found problems and did not repair them all.
pub const EXIT_PROBLEMS: u8 = 3;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata cache du                          what the cache holds, and what is reclaimable
  strata cache explain .                   which steps of a build would hit, and why not
  strata cache prune --keep-storage 5GB -f
  strata cache verify --repair")]
pub struct CacheArgs {
    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Disk usage: every cache entry with its size, times, uses and holders, and totals.
    Du(DuArgs),
    /// List cache entries, most recently used first.
    Ls(LsArgs),
    /// What made a cache key: its inputs, its layer, the builds that used it.
    Inspect(InspectArgs),
    /// Without building: each step's cache key, HIT or MISS, and why it misses.
    Explain(ExplainArgs),
    /// Remove cache entries, least recently used first.
    Prune(PruneArgs),
    /// Check every blob, reference and snapshot; --repair quarantines what is broken.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata cache du
  strata cache du --verbose               creation time, sharing, holders, stage
  strata cache du --format json | jq .totals.reclaimable")]
pub struct DuArgs {
    /// Show more columns (created, shared, held by, stage, children).
    #[arg(short, long)]
    pub verbose: bool,
    /// `table`, or `json` (one document: entries and totals).
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata cache ls
  strata cache ls --filter type=cache-mount
  strata cache ls --filter until=24h --filter in-use=false     unused for a day, reclaimable
  strata cache ls --filter stage=build --format json")]
pub struct LsArgs {
    /// `type=layer|empty|cache-mount|stat-cache`, `until=DURATION` (unused
    /// for at least that long), `in-use=true|false`, `stage=NAME` (repeatable; all must match).
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
    /// `table`, or `json` (an array of entries).
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Show full IDs and descriptions.
    #[arg(long)]
    pub no_trunc: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata cache inspect 3f2a9c1b7e4d
  strata cache inspect sha256:3f2a9c1b7e4d…          a full key, as `cache ls --no-trunc` shows
  strata cache inspect 3f2a --format json")]
pub struct InspectArgs {
    /// A cache entry ID or key, or a unique prefix (at least 4 hex digits).
    #[arg(value_name = "ID|KEY")]
    pub id: String,
    /// `table` (readable text) or `json`.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata cache explain .
  strata cache explain -f docker/Dockerfile --build-arg VERSION=2 --target runtime .
  strata cache explain --format json . | jq '.[] | select(.hit | not)'")]
pub struct ExplainArgs {
    /// The build context directory.
    #[arg(value_name = "CONTEXT")]
    pub context: PathBuf,
    /// The Dockerfile (default: CONTEXT/Dockerfile).
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The flags that decide steps and keys, as for `strata build`.
    #[command(flatten)]
    pub steps: StepFlags,
    /// `table`, or `json` (an array of steps).
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata cache prune -f                               every reclaimable step record
  strata cache prune --all -f                         also cache mounts and the stat cache
  strata cache prune --filter until=24h -f            unused for a day or more
  strata cache prune --filter type=cache-mount -f
  strata cache prune --keep-storage 5GB --dry-run     what would go to get down to 5 GB")]
pub struct PruneArgs {
    /// Also remove cache mounts and the stat cache.
    #[arg(short, long)]
    pub all: bool,
    /// `until=DURATION` (only entries unused for at least that long),
    /// `type=layer|empty|cache-mount|stat-cache` (repeatable).
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
    /// Remove least recently used entries only until the cache holds at most this much (`5GB`, `512MiB`).
    #[arg(long, value_name = "SIZE")]
    pub keep_storage: Option<String>,
    /// Show what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// `table`, or `json` (the report).
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata cache verify                      report; exit code 3 when something is broken
  strata cache verify --repair             quarantine what is broken so builds recompute it
  strata cache verify --format json")]
pub struct VerifyArgs {
    /// Move broken blobs and snapshots to quarantine/ and drop the cache
    /// records that need them; unpack images' snapshots again.
    #[arg(long)]
    pub repair: bool,
    /// `table`, or `json` (the report).
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// The GC flags of `strata build` (they override `strata.toml`).
#[derive(Debug, Clone, Args)]
pub struct GcFlags {
    /// After the build, keep at most this much cache (`5GB`, `10%` of the
    /// filesystem). Default: strata.toml's, else 10% of the filesystem, at most 20 GB.
    #[arg(long, value_name = "SIZE")]
    pub gc_keep_storage: Option<String>,
    /// After the build, remove cache entries unused for longer than this. Default: 60 days.
    #[arg(long, value_name = "DURATION")]
    pub gc_keep_duration: Option<String>,
    /// Do not collect garbage after the build.
    #[arg(long)]
    pub no_gc: bool,
}

pub fn run(store: &Store, args: &CacheArgs) -> Result<ExitCode, CliError> {
    match &args.command {
        CacheCommand::Du(args) => du(store, args),
        CacheCommand::Ls(args) => ls(store, args),
        CacheCommand::Inspect(args) => inspect(store, args),
        CacheCommand::Explain(args) => explain(store, args),
        CacheCommand::Prune(args) => prune(store, args),
        CacheCommand::Verify(args) => verify(store, args),
    }
}

fn du(store: &Store, args: &DuArgs) -> Result<ExitCode, CliError> {
    let inventory = Inventory::collect(store)?;
    if args.format == ListFormat::Json {
        // Serialised straight from the types: a `json!` tree of 10,000 entries costs more than the rest of `du`.
        return print(&render::json(&inventory));
    }
    let mut out = entry_table(&inventory.entries, args.verbose, false);
    let totals = &inventory.totals;
    out.push_str(&format!(
        "\nReclaimable:\t{}\nIn use:\t\t{}\nTotal:\t\t{}\n",
        human_size(totals.reclaimable),
        human_size(totals.in_use),
        human_size(totals.total)
    ));
    print(&out)
}

/// The entry table: `verbose` adds creation, sharing, holders, stage and children.
fn entry_table(entries: &[CacheEntry], verbose: bool, no_trunc: bool) -> String {
    let id = |e: &CacheEntry| if no_trunc || e.key.is_none() { e.id.clone() } else { e.id[..12.min(e.id.len())].to_owned() };
    let description = |e: &CacheEntry| if no_trunc { e.description.clone() } else { truncate(&e.description, 50) };
    let held = |e: &CacheEntry| if e.held_by.is_empty() { "-".to_owned() } else { e.held_by.join(",") };
    let uses = |e: &CacheEntry| if e.key.is_some() { e.uses.to_string() } else { "-".into() };
    if verbose {
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                let shared = if e.shared { "yes" } else { "no" };
                let stage = if e.stage.is_empty() { "-".to_owned() } else { e.stage.clone() };
                vec![
                    id(e),
                    e.kind.name().into(),
                    human_size(e.size),
                    shared.into(),
                    ago(&e.created),
                    ago(&e.last_used),
                    uses(e),
                    held(e),
                    stage,
                    e.children.to_string(),
                    description(e),
                ]
            })
            .collect();
        return table(&["ID", "TYPE", "SIZE", "SHARED", "CREATED", "LAST USED", "USES", "HELD BY", "STAGE", "CHILDREN", "DESCRIPTION"], &rows);
    }
    let rows: Vec<Vec<String>> =
        entries.iter().map(|e| vec![id(e), e.kind.name().into(), human_size(e.size), ago(&e.last_used), uses(e), held(e), description(e)]).collect();
    table(&["ID", "TYPE", "SIZE", "LAST USED", "USES", "HELD BY", "DESCRIPTION"], &rows)
}

/// An `ls` filter.
enum Filter {
    Kind(EntryKind),
    Until(Duration),
    InUse(bool),
    Stage(String),
}

fn parse_filter(text: &str) -> Result<Filter, CliError> {
    let usage = |reason: String| CliError::Usage(format!("invalid filter {text:?}: {reason}"));
    let (key, value) = text.split_once('=').ok_or_else(|| usage("expected KEY=VALUE".into()))?;
    match key {
        "type" => value.parse().map(Filter::Kind).map_err(usage),
        "until" => cache::parse_duration(value).map(Filter::Until).map_err(|e| usage(e.to_string())),
        "in-use" => value.parse().map(Filter::InUse).map_err(|_| usage("expected true or false".into())),
        "stage" => Ok(Filter::Stage(value.to_owned())),
        _ => Err(usage("known keys: type, until, in-use, stage".into())),
    }
}

impl Filter {
    fn matches(&self, entry: &CacheEntry) -> bool {
        match self {
            Filter::Kind(kind) => entry.kind == *kind,
            Filter::Until(until) => std::time::SystemTime::now().duration_since(entry.last_used_time()).unwrap_or_default() >= *until,
            Filter::InUse(in_use) => entry.in_use() == *in_use,
            Filter::Stage(stage) => entry.stage == *stage,
        }
    }
}

fn ls(store: &Store, args: &LsArgs) -> Result<ExitCode, CliError> {
    let filters = args.filters.iter().map(|f| parse_filter(f)).collect::<Result<Vec<_>, _>>()?;
    let inventory = Inventory::collect(store)?;
    let entries: Vec<CacheEntry> = inventory.entries.into_iter().filter(|e| filters.iter().all(|f| f.matches(e))).collect();
    match args.format {
        ListFormat::Json => print(&render::json(&entries)),
        ListFormat::Table => print(&entry_table(&entries, false, args.no_trunc)),
    }
}

fn inspect(store: &Store, args: &InspectArgs) -> Result<ExitCode, CliError> {
    let inventory = Inventory::collect(store)?;
    let entry = inventory.find(&args.id).map_err(|e| CliError::Usage(e.to_string()))?;
    let cache = Cache::new(store);
    let record = match entry.key {
        Some(key) => cache.records()?.into_iter().find(|r| r.key == key),
        None => None,
    };
    let usage = match &record {
        Some(record) => Some(cache.usage(record)?),
        None => None,
    };
    let inputs = record.as_ref().map(|r| r.inputs.clone()).unwrap_or_default();
    let builds = usage.as_ref().map(|u| u.builds.clone()).unwrap_or_default();
    if args.format == ListFormat::Json {
        return print(&render::json(&json!({ "entry": entry, "inputs": inputs, "builds": builds })));
    }
    let mut out = String::new();
    let mut line = |name: &str, value: String| out.push_str(&format!("{name:<13}{value}\n"));
    line("ID:", entry.key.map_or(entry.id.clone(), |k| k.to_string()));
    line("Type:", entry.kind.name().into());
    line("Description:", entry.description.clone());
    if !entry.stage.is_empty() {
        line("Stage:", entry.stage.clone());
    }
    line("Size:", format!("{}{}", human_size(entry.size), if entry.shared { " (shared)" } else { "" }));
    if let Some(layer) = entry.layer {
        line("Layer:", layer.to_string());
    }
    line("Created:", format!("{} ({})", entry.created, ago(&entry.created)));
    line("Last used:", format!("{} ({})", entry.last_used, ago(&entry.last_used)));
    if entry.key.is_some() {
        line("Uses:", entry.uses.to_string());
    }
    line("Held by:", if entry.held_by.is_empty() { "nothing (reclaimable)".into() } else { entry.held_by.join(", ") });
    if !inputs.is_empty() {
        out.push_str("Inputs:\n");
        let rows: Vec<Vec<String>> = inputs.iter().map(|i| vec![format!("  {}", i.name), i.value.clone()]).collect();
        out.push_str(&table(&["  NAME", "VALUE"], &rows));
    }
    if !builds.is_empty() {
        out.push_str("Builds (most recent last):\n");
        for build in &builds {
            let tags = if build.tags.is_empty() { String::new() } else { format!(" -t {}", build.tags.join(" -t ")) };
            out.push_str(&format!("  {} ({}) {}{tags}\n", build.time, ago(&build.time), build.dockerfile));
        }
    }
    print(&out)
}

fn explain(store: &Store, args: &ExplainArgs) -> Result<ExitCode, CliError> {
    if args.context.as_os_str() == "-" {
        return Err(CliError::Usage("cache explain needs a context directory (a context on standard input is not kept to compare)".into()));
    }
    let mut request = build::Request::new(ContextSource::Dir(args.context.clone()));
    request.dockerfile = args.file.clone();
    if args.steps.platforms().len() > 1 {
        return Err(CliError::Usage("cache explain judges one platform: give --platform one platform".into()));
    }
    request.plan = plan_options(&args.steps);
    request.solve.no_cache = args.steps.no_cache;
    request.solve.no_cache_filter = args.steps.no_cache_filter.clone();
    let verdicts = match build::explain(store, request) {
        Ok(verdicts) => verdicts,
        Err(error) => return located(error),
    };
    if args.format == ListFormat::Json {
        return print(&render::json(&verdicts));
    }
    let rows: Vec<Vec<String>> = verdicts
        .iter()
        .map(|v| {
            let result = if v.hit { "HIT" } else { "MISS" };
            vec![v.stage.clone(), v.line.to_string(), truncate(&v.instruction, 50), result.into(), v.reasons.join("; ")]
        })
        .collect();
    let hits = verdicts.iter().filter(|v| v.hit).count();
    let mut out = table(&["STAGE", "LINE", "STEP", "RESULT", "REASON"], &rows);
    out.push_str(&format!("\n{hits} of {} steps would come from the cache\n", verdicts.len()));
    print(&out)
}

fn prune(store: &Store, args: &PruneArgs) -> Result<ExitCode, CliError> {
    let mut options = PruneOptions { all: args.all, dry_run: args.dry_run, ..PruneOptions::default() };
    for filter in &args.filters {
        match parse_filter(filter)? {
            Filter::Kind(kind) => options.kinds.push(kind),
            Filter::Until(until) => options.until = Some(until),
            Filter::InUse(_) | Filter::Stage(_) => return Err(CliError::Usage(format!("prune filters are until= and type=, not {filter:?}"))),
        }
    }
    if let Some(size) = &args.keep_storage {
        options.keep_storage = Some(crate::size::decimal_bytes(size).map_err(|e| CliError::Usage(e.to_string()))?);
    }
    if !args.force && !args.dry_run && !confirm()? {
        return Err(CliError::Usage("nothing removed: confirm, or pass -f (or --dry-run to look first)".into()));
    }
    let report = cache::prune(store, &options)?;
    if args.format == ListFormat::Json {
        return print(&render::json(&report));
    }
    let mut out = String::new();
    if !report.removed.is_empty() {
        let title = if report.dry_run { "Would remove:\n" } else { "Removed:\n" };
        out.push_str(title);
        out.push_str(&entry_table(&report.removed, false, false));
        out.push('\n');
    }
    if report.kept_in_use > 0 {
        out.push_str(&format!("Kept {} entries an image or a running build holds\n", report.kept_in_use));
    }
    let verb = if report.dry_run { "Would reclaim" } else { "Total reclaimed space" };
    out.push_str(&format!("{verb}: {}\n", human_size(report.freed)));
    print(&out)
}

/// Asks on a terminal; elsewhere, `-f` is required.
fn confirm() -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!("WARNING! This will remove cache entries no image or running build holds.\nAre you sure you want to continue? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(|e| CliError::Read { path: "standard input".into(), source: e })?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn verify(store: &Store, args: &VerifyArgs) -> Result<ExitCode, CliError> {
    let report = cache::verify(store, VerifyOptions { repair: args.repair })?;
    let code = if report.unrepaired() == 0 { ExitCode::SUCCESS } else { ExitCode::from(EXIT_PROBLEMS) };
    if args.format == ListFormat::Json {
        print(&render::json(&report))?;
        return Ok(code);
    }
    let mut out = String::new();
    for finding in &report.findings {
        match &finding.repair {
            Some(done) => out.push_str(&format!("REPAIRED  {}: {done}\n", finding.message)),
            None => out.push_str(&format!("BROKEN    {}\n", finding.message)),
        }
    }
    out.push_str(&format!(
        "checked {} blobs, {} snapshots, {} cache records, {} images: {} problem(s), {} unrepaired\n",
        report.blobs,
        report.snapshots,
        report.records,
        report.images,
        report.findings.len(),
        report.unrepaired()
    ));
    if let Some(dir) = &report.quarantine {
        out.push_str(&format!("quarantined under {}\n", dir.display()));
    }
    print(&out)?;
    Ok(code)
}

/// The policy for this build: strata.toml, then the flags.
/// The GC after a build, on stderr: what it freed, or a warning (the
/// build stands either way).
pub fn report_gc(gc: &Result<Option<cache::GcOutcome>, crate::build::GcError>, quiet: bool) {
    match gc {
        Ok(Some(gc)) if (gc.removed() > 0 || gc.freed() > 0) && !quiet => {
            let files = gc.unreferenced.blobs + gc.unreferenced.snapshots;
            eprintln!("gc: removed {} cache entries and {files} unreferenced blobs/snapshots, freed {}", gc.removed(), human_size(gc.freed()));
        }
        Ok(_) => {}
        Err(error) => eprintln!("warning: garbage collection after the build failed: {error}"),
    }
}

fn print(text: &str) -> Result<ExitCode, CliError> {
    std::io::stdout().lock().write_all(text.as_bytes()).map_err(CliError::Write)?;
    Ok(ExitCode::SUCCESS)
}
