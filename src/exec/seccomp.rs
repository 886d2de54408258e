//! The seccomp profile of every unprivileged container, as data: Docker's
//! default profile, learnt from moby's `profiles/seccomp/default.json` as
//! of moby commit 00f3d189e420 (an allow-list that has `landlock_*`,
//! `futex_waitv`, `process_mrelease`, `memfd_secret` and
//! `set_mempolicy_home_node`, and refuses `clone3` with ENOSYS).
//!
//! To keep it in step: compare the `syscalls` array of a newer
//! `default.json` with the lists below — [`ALLOWED`] is its first entry
//! (unconditional `SCMP_ACT_ALLOW`), [`WITH_CAPABILITY`] its
//! `"includes": {"caps": …}` entries, and [`rules`] the entries with `args`
//! (`socket`, `personality`, `clone`) and the `clone3` errno. Names a
//! machine's architecture lacks are left out, as libseccomp does.
//!
//! What it refuses (EPERM, Docker's `defaultErrnoRet`): among others
//! `mount`, `umount2`, `unshare`, `setns`, `open_by_handle_at`, `kexec_*`,
//! `bpf`, `perf_event_open`, the keyring calls, `syslog`, `clone` with a
//! namespace flag, `personality` other than the few Docker allows; `clone3`
//! gets ENOSYS so that C libraries fall back to `clone`, whose flags a
//! filter can see. Syscalls of another architecture (32-bit x86 on x86_64)
//! kill the process: seccompiler checks the architecture first.

use std::collections::BTreeMap;
use std::io;
use std::str::FromStr;

use caps::{Capability, CapsHashSet};
use seccompiler::{BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch};

/// Allowed whatever the capabilities.
pub const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
    // Docker allows these from kernel 4.8, which made ptrace respect seccomp.
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    // Architecture-specific entries (x86_64, arm64).
    "arch_prctl",
    "modify_ldt",
    "arm_fadvise64_64",
    "arm_sync_file_range",
    "sync_file_range2",
    "breakpoint",
    "cacheflush",
    "set_tls",
];

/// Allowed only to a container that holds the capability (`--cap-add`).
pub const WITH_CAPABILITY: &[(Capability, &[&str])] = &[
    (Capability::CAP_DAC_READ_SEARCH, &["open_by_handle_at"]),
    (
        Capability::CAP_SYS_ADMIN,
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    (Capability::CAP_SYS_BOOT, &["reboot"]),
    (Capability::CAP_SYS_CHROOT, &["chroot"]),
    (Capability::CAP_SYS_MODULE, &["delete_module", "init_module", "finit_module"]),
    (Capability::CAP_SYS_PACCT, &["acct"]),
    (Capability::CAP_SYS_PTRACE, &["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"]),
    (Capability::CAP_SYS_RAWIO, &["iopl", "ioperm"]),
    (Capability::CAP_SYS_TIME, &["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    (Capability::CAP_SYS_TTY_CONFIG, &["vhangup"]),
    (Capability::CAP_SYS_NICE, &["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
    (Capability::CAP_SYSLOG, &["syslog"]),
    (Capability::CAP_BPF, &["bpf"]),
    (Capability::CAP_PERFMON, &["perf_event_open"]),
];

/// `personality(2)` arguments Docker allows: PER_LINUX, PER_LINUX32,
/// UNAME26, UNAME26|PER_LINUX32, and the query 0xffffffff.
pub const PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];
/// `AF_VSOCK`: the one socket family Docker refuses.
const AF_VSOCK: u64 = 40;
/// The `clone` flags that make namespaces (CLONE_NEWNS … CLONE_NEWCGROUP,
/// CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS):
/// Docker's mask.
pub const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;
const ENOSYS: u32 = 38;
const EPERM: u32 = 1;

/// The filters to install, in order, for a container holding `caps`: the
/// allow-list (default EPERM), then — without CAP_SYS_ADMIN — one that
/// answers `clone3` with ENOSYS. When several filters answer with an errno,
/// the kernel takes the last installed one's.
pub fn filters(caps: &CapsHashSet) -> io::Result<Vec<BpfProgram>> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(io::Error::other)?;
    let mut programs = vec![compile(rules(caps)?, SeccompAction::Errno(EPERM), SeccompAction::Allow, arch)?];
    if !caps.contains(&Capability::CAP_SYS_ADMIN) {
        if let Some(clone3) = number("clone3") {
            let only = BTreeMap::from([(clone3, Vec::new())]);
            programs.push(compile(only, SeccompAction::Allow, SeccompAction::Errno(ENOSYS), arch)?);
        }
    }
    Ok(programs)
}

fn compile(rules: BTreeMap<i64, Vec<SeccompRule>>, mismatch: SeccompAction, matched: SeccompAction, arch: TargetArch) -> io::Result<BpfProgram> {
    let filter = SeccompFilter::new(rules, mismatch, matched, arch).map_err(io::Error::other)?;
    filter.try_into().map_err(io::Error::other)
}

/// How a syscall is allowed: always, or when one of its rules' conditions hold.
enum Allow {
    Always,
    When(Vec<SeccompRule>),
}

/// The allow-list for `caps`, by syscall number.
pub fn rules(caps: &CapsHashSet) -> io::Result<BTreeMap<i64, Vec<SeccompRule>>> {
    let mut allowed: BTreeMap<i64, Allow> = BTreeMap::new();
    let always = ALLOWED.iter().chain(WITH_CAPABILITY.iter().filter(|(cap, _)| caps.contains(cap)).flat_map(|(_, names)| names.iter()));
    for nr in always.filter_map(|name| number(name)) {
        allowed.insert(nr, Allow::Always);
    }
    let arg = |index: u8, op: SeccompCmpOp, value: u64| -> io::Result<SeccompRule> {
        let condition = SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value).map_err(io::Error::other)?;
        SeccompRule::new(vec![condition]).map_err(io::Error::other)
    };
    let mut conditional = vec![("socket", arg(0, SeccompCmpOp::Ne, AF_VSOCK)?)];
    for persona in PERSONALITIES {
        conditional.push(("personality", arg(0, SeccompCmpOp::Eq, persona)?));
    }
    if !caps.contains(&Capability::CAP_SYS_ADMIN) {
        conditional.push(("clone", arg(0, SeccompCmpOp::MaskedEq(CLONE_NAMESPACE_FLAGS), 0)?));
    }
    for (name, rule) in conditional {
        let Some(nr) = number(name) else { continue };
        match allowed.entry(nr).or_insert_with(|| Allow::When(Vec::new())) {
            Allow::Always => {}
            Allow::When(rules) => rules.push(rule),
        }
    }
    // seccompiler reads an empty rule list as "always".
    Ok(allowed.into_iter().map(|(nr, allow)| (nr, if let Allow::When(rules) = allow { rules } else { Vec::new() })).collect())
}

/// The number of syscall `name` on this architecture, if it has one.
fn number(name: &str) -> Option<i64> {
    syscalls::Sysno::from_str(name).ok().map(|sysno| i64::from(sysno.id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_caps() -> CapsHashSet {
        crate::exec::sandbox::DEFAULT_CAPABILITIES.into_iter().collect()
    }

    #[test]
    fn refuses_what_docker_refuses() {
        let rules = rules(&default_caps()).unwrap();
        for refused in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "open_by_handle_at",
            "kexec_load",
            "bpf",
            "perf_event_open",
            "keyctl",
            "add_key",
            "request_key",
            "syslog",
            "clone3",
            "init_module",
            "reboot",
        ] {
            assert!(!rules.contains_key(&number(refused).unwrap()), "{refused} must be refused");
        }
        for allowed in ["read", "execve", "capset", "setgroups", "setuid", "chdir", "wait4", "kill", "rt_sigtimedwait", "chroot", "ptrace"] {
            assert!(rules.get(&number(allowed).unwrap()).is_some_and(Vec::is_empty), "{allowed} must be allowed outright");
        }
        assert_eq!(rules[&number("clone").unwrap()].len(), 1, "clone only without namespace flags");
        assert_eq!(rules[&number("personality").unwrap()].len(), PERSONALITIES.len());
    }

    #[test]
    fn capabilities_widen_the_list() {
        let mut caps = default_caps();
        caps.insert(Capability::CAP_SYS_ADMIN);
        let rules = rules(&caps).unwrap();
        for allowed in ["mount", "unshare", "clone", "clone3"] {
            assert!(rules.get(&number(allowed).unwrap()).is_some_and(Vec::is_empty), "{allowed} with CAP_SYS_ADMIN");
        }
        assert_eq!(filters(&caps).unwrap().len(), 1, "no clone3 errno filter with CAP_SYS_ADMIN");
        assert_eq!(filters(&default_caps()).unwrap().len(), 2);
    }
}
