//! A cgroup per container: its limits (`--memory`, `--cpus`) and what it
//! used (peak memory, CPU time). cgroup v2 when the unified hierarchy has
//! the controllers, else v1 (`memory`, `cpu`, `cpuacct`). The container's
//! first process joins the group itself before it starts anything, so no
//! process escapes it. Rootless, the group is made under the user's own
//! (delegated) cgroup v2 subtree; without one, limits are refused and
//! usage falls back to `getrusage` ([`ChildUsage`]).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

const ROOT: &str = "/sys/fs/cgroup";

/// Why `--memory`/`--cpus` cannot be honoured without a delegated cgroup.
const NO_DELEGATION: &str = "--memory and --cpus need a cgroup v2 subtree delegated to this user, and there is none: \
run strata under `systemd-run --user --scope -p Delegate=yes`, or drop the limits \
(each RUN's peak memory and CPU time are still measured, with getrusage)";

/// Limits for a container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Bytes of memory.
    pub memory: Option<u64>,
    /// CPUs (fractions allowed).
    pub cpus: Option<f64>,
}

/// What a container used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Peak memory use in bytes (`memory.peak`, or `memory.max_usage_in_bytes` on cgroup v1); `None` when the kernel does not report it.
    pub peak_memory: Option<u64>,
    /// CPU time used, user and system together (`cpu.stat` or `cpuacct.usage`); `None` when it could not be read.
    pub cpu_time: Option<Duration>,
    /// The memory limit was hit and a process was killed for it.
    pub out_of_memory: bool,
}

/// A container's cgroup (one directory per v1 controller, one for v2),
/// removed when dropped.
#[derive(Debug)]
pub struct Cgroup {
    dirs: Vec<PathBuf>,
    unified: bool,
}

impl Cgroup {
    /// Creates `strata/<name>` in each hierarchy strata uses (rootless: in
    /// the delegated subtree) and applies `limits`. `Ok(None)` when there is
    /// no usable cgroup and no limits; limits without one are an error.
    pub fn create(name: &str, limits: &Limits) -> io::Result<Option<Cgroup>> {
        let unprivileged = crate::layer::in_user_namespace() || super::isolation::current() == super::Isolation::Chroot;
        let made = if unprivileged { rootless(name, limits)? } else { hierarchy(name)? };
        let Some(cgroup) = made else { return Ok(None) };
        cgroup.apply(limits)?;
        Ok(Some(cgroup))
    }

    /// The `cgroup.procs` files a process writes its PID into to join.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    fn apply(&self, limits: &Limits) -> io::Result<()> {
        if let Some(bytes) = limits.memory {
            if self.unified {
                self.write("memory.max", &bytes.to_string())?;
                self.write("memory.swap.max", "0").ok();
            } else {
                self.write("memory.limit_in_bytes", &bytes.to_string())?;
                self.write("memory.memsw.limit_in_bytes", &bytes.to_string()).ok();
            }
        }
        if let Some(cpus) = limits.cpus {
            let period = 100_000u64;
            let quota = ((cpus * period as f64) as u64).max(1000);
            if self.unified {
                self.write("cpu.max", &format!("{quota} {period}"))?;
            } else {
                self.write("cpu.cfs_period_us", &period.to_string())?;
                self.write("cpu.cfs_quota_us", &quota.to_string())?;
            }
        }
        Ok(())
    }

    /// Peak memory, CPU time and whether the memory limit killed something.
    pub fn usage(&self) -> Usage {
        if self.unified {
            let cpu = self.read("cpu.stat").and_then(|s| stat_value(&s, "usage_usec")).map(Duration::from_micros);
            let oom = self.read("memory.events").and_then(|s| stat_value(&s, "oom_kill")).is_some_and(|n| n > 0);
            let peak = self.read("memory.peak").and_then(|s| s.trim().parse().ok());
            return Usage { peak_memory: peak, cpu_time: cpu, out_of_memory: oom };
        }
        let peak = self.read("memory.max_usage_in_bytes").and_then(|s| s.trim().parse().ok());
        let cpu = self.read("cpuacct.usage").and_then(|s| s.trim().parse().ok()).map(Duration::from_nanos);
        let oom = self.read("memory.oom_control").and_then(|s| stat_value(&s, "oom_kill")).is_some_and(|n| n > 0);
        Usage { peak_memory: peak, cpu_time: cpu, out_of_memory: oom }
    }

    /// The first directory that has `file`.
    fn find(&self, file: &str) -> Option<PathBuf> {
        self.dirs.iter().map(|d| d.join(file)).find(|p| p.exists())
    }

    fn read(&self, file: &str) -> Option<String> {
        fs_err::read_to_string(self.find(file)?).ok()
    }

    fn write(&self, file: &str, value: &str) -> io::Result<()> {
        let path = self.find(file).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no cgroup file {file}")))?;
        fs_err::write(path, value)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // Empty once the container's processes are gone (PID 1's exit kills
        // the rest of its namespace).
        for dir in &self.dirs {
            let _ = fs_err::remove_dir(dir);
        }
    }
}

/// `key value` lines (cpu.stat, memory.events, memory.oom_control).
fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
}

/// v2: controllers must be enabled in the parent for the child to use them.
fn enable_v2_controllers(parent: &Path) -> io::Result<()> {
    fs_err::create_dir_all(parent)?;
    let _ = fs_err::write(Path::new(ROOT).join("cgroup.subtree_control"), "+memory +cpu");
    let _ = fs_err::write(parent.join("cgroup.subtree_control"), "+memory +cpu");
    Ok(())
}

/// `strata/<name>` in the host's hierarchies (as root).
fn hierarchy(name: &str) -> io::Result<Option<Cgroup>> {
    let unified = Path::new(ROOT).join("cgroup.controllers");
    let cgroup = if fs_err::read_to_string(&unified).is_ok_and(|c| c.contains("memory")) {
        let dir = Path::new(ROOT).join("strata").join(name);
        enable_v2_controllers(&Path::new(ROOT).join("strata"))?;
        fs_err::create_dir_all(&dir)?;
        Cgroup { dirs: vec![dir], unified: true }
    } else if Path::new(ROOT).join("memory/cgroup.procs").exists() {
        let mut dirs = Vec::new();
        for controller in ["memory", "cpu", "cpuacct"] {
            let base = Path::new(ROOT).join(controller);
            // Co-mounted controllers (`cpu,cpuacct`) give the same
            // directory twice: creating and joining it twice is harmless.
            if base.join("cgroup.procs").exists() {
                let dir = base.join("strata").join(name);
                fs_err::create_dir_all(&dir)?;
                dirs.push(dir);
            }
        }
        Cgroup { dirs, unified: false }
    } else {
        return Ok(None);
    };
    Ok(Some(cgroup))
}

/// Rootless: the delegated group, or none; limits need one.
fn rootless(name: &str, limits: &Limits) -> io::Result<Option<Cgroup>> {
    let limited = limits.memory.is_some() || limits.cpus.is_some();
    match delegated(name) {
        Ok(Some(cgroup)) => Ok(Some(cgroup)),
        Ok(None) | Err(_) if !limited => Ok(None),
        Ok(None) | Err(_) => Err(io::Error::new(io::ErrorKind::PermissionDenied, no_cgroup_reason(Path::new(ROOT).join("cgroup.controllers").exists()))),
    }
}

/// Why limits cannot be set: on a cgroup v1 machine nothing can be
/// delegated to a user (or a container without write access to its
/// hierarchies); on v2 the user's subtree is not delegated.
fn no_cgroup_reason(unified: bool) -> String {
    if unified {
        return NO_DELEGATION.to_owned();
    }
    "--memory and --cpus cannot be honoured: this machine uses cgroup v1, where no cgroup can be delegated to a user (or to a container \
without privilege); they need strata run as root on the host, or a cgroup v2 machine with a delegated subtree \
(`systemd-run --user --scope -p Delegate=yes strata build …`) (each RUN's peak memory and CPU time are still measured, with getrusage)"
        .to_owned()
}

/// Rootless: a sibling of this process's own cgroup v2 group, when that
/// subtree is delegated (writable, with the memory controller on).
fn delegated(name: &str) -> io::Result<Option<Cgroup>> {
    let own = fs_err::read_to_string("/proc/self/cgroup")?;
    let Some(path) = own.lines().find_map(|l| l.strip_prefix("0::")) else { return Ok(None) };
    let Some(parent) = Path::new(path.trim()).parent() else { return Ok(None) };
    let base = Path::new(ROOT).join(parent.strip_prefix("/").unwrap_or(parent));
    if !fs_err::read_to_string(base.join("cgroup.subtree_control")).is_ok_and(|c| c.contains("memory")) {
        return Ok(None);
    }
    let dir = base.join(format!("strata-{name}"));
    fs_err::create_dir(&dir)?;
    Ok(Some(Cgroup { dirs: vec![dir], unified: true }))
}

/// What this process's finished children used, for steps without a
/// cgroup: taken before a step, [`ChildUsage::since`] after it.
#[derive(Debug, Clone, Copy)]
pub struct ChildUsage {
    cpu: Duration,
}

impl ChildUsage {
    /// The CPU time of every child waited for so far.
    pub fn now() -> ChildUsage {
        ChildUsage { cpu: children().map(|u| cpu_of(&u)).unwrap_or_default() }
    }

    /// What children finished since `self` used: CPU time, and the peak
    /// RSS of the largest child so far (getrusage keeps only a maximum).
    /// Concurrent steps share these counters, so the figures are
    /// approximate.
    pub fn since(self) -> Usage {
        let Some(now) = children() else { return Usage::default() };
        let peak = u64::try_from(now.max_rss()).ok().map(|kib| kib * 1024);
        Usage { peak_memory: peak, cpu_time: Some(cpu_of(&now).saturating_sub(self.cpu)), out_of_memory: false }
    }
}

fn children() -> Option<nix::sys::resource::Usage> {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).ok()
}

fn cpu_of(usage: &nix::sys::resource::Usage) -> Duration {
    let time = |t: nix::sys::time::TimeVal| Duration::new(u64::try_from(t.tv_sec()).unwrap_or(0), u32::try_from(t.tv_usec()).unwrap_or(0) * 1000);
    time(usage.user_time()) + time(usage.system_time())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_refusal_names_the_cgroup_version() {
        assert!(super::no_cgroup_reason(false).contains("cgroup v1"));
        assert!(super::no_cgroup_reason(true).contains("Delegate=yes"));
    }
}
