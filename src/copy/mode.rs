//! `--chmod`: an octal mode (`0755`, up to `07777`) that replaces every
//! permission and special bit, or a symbolic one (`u+x,g-w`, `go=u-w`,
//! `a+X`) applied to each file's own mode, as BuildKit (dockerfile 1.14+)
//! does with a Go port of BSD `setmode(3)`/`getmode(3)`, umask 0.
//!
//! See: FreeBSD `lib/libc/gen/setmode.c`; `github.com/tonistiigi/dchapes-mode`.

const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_ISTXT: u32 = 0o1000;
const S_IRWXU: u32 = 0o700;
const S_IRWXG: u32 = 0o070;
const S_IRWXO: u32 = 0o007;
const READ: u32 = 0o444;
const WRITE: u32 = 0o222;
const EXEC: u32 = 0o111;
/// `a`: every bit but sticky.
const STANDARD_BITS: u32 = S_ISUID | S_ISGID | S_IRWXU | S_IRWXG | S_IRWXO;
/// The umask complement: BuildKit parses with umask 0.
const MASK: u32 = 0o7777;

/// A parsed `--chmod` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeSpec {
    Octal(u32),
    Symbolic(Vec<Cmd>),
}

/// One step of a compiled symbolic mode (BSD's `BITCMD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cmd {
    op: Op,
    bits: u32,
    /// For the copy operations: which classes to write, and set/clear.
    copy: CopyFlags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
    /// `X`: add `bits` if the file is a directory or executable by anyone.
    AddIfExec,
    /// `u`, `g`, `o` as a permission: copy that class's bits.
    CopyFrom(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct CopyFlags {
    user: bool,
    group: bool,
    other: bool,
    set: bool,
    clear: bool,
}

/// Why a `--chmod` value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMode;

impl ModeSpec {
    /// Parses `text`: octal first (as Go's `strconv.ParseUint(s, 8, 32)`),
    /// then symbolic.
    pub fn parse(text: &str) -> Result<ModeSpec, BadMode> {
        if !text.is_empty() && text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            let value = u32::from_str_radix(text, 8).map_err(|_| BadMode)?;
            return if value > 0o7777 { Err(BadMode) } else { Ok(ModeSpec::Octal(value)) };
        }
        parse_symbolic(text).map(ModeSpec::Symbolic)
    }

    /// The new permission and special bits of a file whose bits are
    /// `mode` (`0o7777`).
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        match self {
            ModeSpec::Octal(value) => *value,
            ModeSpec::Symbolic(cmds) => get_mode(cmds, mode & 0o7777, is_dir),
        }
    }
}

fn parse_symbolic(text: &str) -> Result<Vec<Cmd>, BadMode> {
    let bytes = text.as_bytes();
    let mut p = 0;
    let mut cmds = Vec::new();
    let at = |p: usize| bytes.get(p).copied().unwrap_or(0);
    loop {
        // who
        let mut who = 0;
        loop {
            match at(p) {
                b'a' => who |= STANDARD_BITS,
                b'u' => who |= S_ISUID | S_IRWXU,
                b'g' => who |= S_ISGID | S_IRWXG,
                b'o' => who |= S_IRWXO,
                _ => break,
            }
            p += 1;
        }
        // one or more actions
        loop {
            let op = at(p);
            if !matches!(op, b'+' | b'-' | b'=') {
                return Err(BadMode);
            }
            p += 1;
            let mut equal_done = op != b'=';
            who &= !S_ISTXT;
            let mut perm = 0;
            let mut perm_x = 0;
            loop {
                match at(p) {
                    b'r' => perm |= READ,
                    b's' => {
                        if who == 0 || who & !S_IRWXO != 0 {
                            perm |= S_ISUID | S_ISGID;
                        }
                    }
                    b't' => {
                        if who == 0 || who & !S_IRWXO != 0 {
                            who |= S_ISTXT;
                            perm |= S_ISTXT;
                        }
                    }
                    b'w' => perm |= WRITE,
                    b'X' => perm_x = EXEC,
                    b'x' => perm |= EXEC,
                    class @ (b'u' | b'g' | b'o') => {
                        if perm != 0 {
                            add_cmd(&mut cmds, op, who, perm);
                            perm = 0;
                        }
                        if op == b'=' {
                            equal_done = true;
                        }
                        if op == b'+' && perm_x != 0 {
                            add_cmd(&mut cmds, b'X', who, perm_x);
                            perm_x = 0;
                        }
                        add_copy(&mut cmds, class, who, op);
                    }
                    _ => {
                        if perm != 0 || !equal_done {
                            add_cmd(&mut cmds, op, who, perm);
                        }
                        if perm_x != 0 {
                            add_cmd(&mut cmds, b'X', who, perm_x);
                        }
                        break;
                    }
                }
                p += 1;
            }
            match at(p) {
                0 => return Ok(cmds),
                b',' => {
                    p += 1;
                    break;
                }
                // Another action for the same `who`.
                _ => continue,
            }
        }
    }
}

/// BSD's `addcmd` for `+`, `-`, `=` and `X`.
fn add_cmd(cmds: &mut Vec<Cmd>, op: u8, who: u32, perm: u32) {
    let mut op = op;
    if op == b'=' {
        cmds.push(Cmd { op: Op::Remove, bits: if who != 0 { who } else { STANDARD_BITS }, copy: CopyFlags::default() });
        op = b'+';
    }
    let kind = match op {
        b'+' => Op::Add,
        b'-' => Op::Remove,
        _ => Op::AddIfExec,
    };
    cmds.push(Cmd { op: kind, bits: (if who != 0 { who } else { MASK }) & perm, copy: CopyFlags::default() });
}

/// BSD's `addcmd` for the `u`, `g`, `o` permission copies.
fn add_copy(cmds: &mut Vec<Cmd>, class: u8, who: u32, op: u8) {
    let shift = match class {
        b'u' => 6,
        b'g' => 3,
        _ => 0,
    };
    let (mut copy, bits) = if who != 0 {
        (CopyFlags { user: who & 0o400 != 0, group: who & 0o040 != 0, other: who & 0o004 != 0, ..CopyFlags::default() }, u32::MAX)
    } else {
        (CopyFlags { user: true, group: true, other: true, ..CopyFlags::default() }, MASK)
    };
    copy.set = matches!(op, b'+' | b'=');
    copy.clear = matches!(op, b'-' | b'=');
    cmds.push(Cmd { op: Op::CopyFrom(shift), bits, copy });
}

/// BSD's `getmode`.
fn get_mode(cmds: &[Cmd], original: u32, is_dir: bool) -> u32 {
    let mut mode = original;
    for cmd in cmds {
        match cmd.op {
            Op::Add => mode |= cmd.bits,
            Op::Remove => mode &= !cmd.bits,
            Op::AddIfExec => {
                if is_dir || original & EXEC != 0 {
                    mode |= cmd.bits;
                }
            }
            Op::CopyFrom(shift) => {
                let value = (mode >> shift) & 0o7;
                let targets = [(cmd.copy.user, 6), (cmd.copy.group, 3), (cmd.copy.other, 0)];
                if cmd.copy.clear {
                    let clear = if cmd.copy.set { 0o7 } else { value };
                    for (on, at) in targets {
                        if on {
                            mode &= !((clear << at) & cmd.bits);
                        }
                    }
                }
                if cmd.copy.set {
                    for (on, at) in targets {
                        if on {
                            mode |= (value << at) & cmd.bits;
                        }
                    }
                }
            }
        }
    }
    mode & 0o7777
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(text: &str, mode: u32, is_dir: bool) -> u32 {
        ModeSpec::parse(text).unwrap_or_else(|_| panic!("{text:?} should parse")).apply(mode, is_dir)
    }

    #[test]
    fn octal() {
        assert_eq!(ModeSpec::parse("0755"), Ok(ModeSpec::Octal(0o755)));
        assert_eq!(ModeSpec::parse("4755"), Ok(ModeSpec::Octal(0o4755)));
        assert_eq!(ModeSpec::parse("7777"), Ok(ModeSpec::Octal(0o7777)));
        assert_eq!(ModeSpec::parse("17777"), Err(BadMode));
        assert_eq!(ModeSpec::Octal(0o640).apply(0o4755, false), 0o640);
    }

    #[test]
    fn symbolic() {
        assert_eq!(sym("u+x", 0o644, false), 0o744);
        assert_eq!(sym("g-w", 0o664, false), 0o644);
        assert_eq!(sym("u+x,g-w", 0o664, false), 0o744);
        assert_eq!(sym("go-w", 0o666, false), 0o644);
        assert_eq!(sym("+x", 0o644, false), 0o755);
        assert_eq!(sym("a+X", 0o644, false), 0o644);
        assert_eq!(sym("a+X", 0o744, false), 0o755);
        assert_eq!(sym("a+X", 0o600, true), 0o711);
        assert_eq!(sym("=rw,+X", 0o751, false), 0o777);
        assert_eq!(sym("go=", 0o777, false), 0o700);
        assert_eq!(sym("go=u-w", 0o755, false), 0o755);
        assert_eq!(sym("go=u-w", 0o700, false), 0o755);
        assert_eq!(sym("u=rwx,go=rx", 0o000, false), 0o755);
        assert_eq!(sym("u+s", 0o755, false), 0o4755);
        assert_eq!(sym("g+s", 0o755, true), 0o2755);
        assert_eq!(sym("+t", 0o755, true), 0o1755);
        assert_eq!(sym("o+t", 0o755, true), 0o755);
        assert_eq!(sym("u+r-w", 0o200, false), 0o400);
        assert_eq!(sym("a-rwx", 0o4777, false), 0o4000);
    }

    #[test]
    fn refused() {
        for text in ["", "u", "x", "u+x,", "u+x,,g-w", "z+x", "u+y", "755x", "0o755"] {
            assert_eq!(ModeSpec::parse(text), Err(BadMode), "{text:?}");
        }
    }
}
