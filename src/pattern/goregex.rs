//! Go regular-expression syntax (`regexp.Compile`, Perl flags) rewritten into
//! the `regex` crate's syntax, keeping Go's meaning.
//!
//! patternmatcher turns `.dockerignore` patterns into Go regexps by pasting
//! pattern text into the regexp (`[` ... `]` and `\x` go through as they are),
//! so a pattern's meaning is whatever Go's regexp parser makes of that text.
//! The two dialects share most syntax but differ where it matters here:
//! inside a class Rust nests `[` and reads `&&`, `--`, `~~` as set
//! operations, Rust's `\<`, `\>` are word boundaries while Go's are literals,
//! Go's `\d`, `\s`, `\w`, `\b` are ASCII-only, Go rejects `\q`. So this module
//! parses Go's syntax and emits an unambiguous Rust form: every literal as
//! `\x{..}`, every class as explicit ranges, `^`/`$` as `\A`/`\z` (Go's
//! `OneLine` flag), `.` as `[^\n]` (no `DotNL`).
//!
//! Deviation: Unicode class names (`\p{Greek}`) are resolved by the `regex`
//! crate, which also accepts aliases Go rejects (`\p{greek}`).
//!
//! See: Go `src/regexp/syntax/parse.go` (`parse`, `parseClass`, `parseEscape`,
//! `parseNamedClass`, `parseUnicodeClass`, `parsePerlClassEscape`).

use std::fmt::Write as _;

/// The Rust form of a Go regexp, or Go's complaint about it.
pub fn translate(go: &str) -> Result<String, String> {
    let mut parser = Parser { t: go };
    let out = parser.alternation(0)?;
    if !parser.t.is_empty() {
        return Err(format!("unexpected ): `{go}`"));
    }
    Ok(out)
}

/// One parsed piece of a concatenation.
struct Item {
    text: String,
    /// The piece is a repetition (Go forbids repeating it again).
    repeated: bool,
}

struct Parser<'a> {
    t: &'a str,
}

const NEVER: &str = r"[^\x{0}-\x{10FFFF}]";
const ANY: &str = r"[\x{0}-\x{10FFFF}]";

fn lit(c: u32) -> String {
    if (0xD800..=0xDFFF).contains(&c) || c > 0x10FFFF {
        // Go keeps such runes as literals; they never match decoded text.
        NEVER.to_owned()
    } else {
        format!("\\x{{{c:x}}}")
    }
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<char> {
        self.t.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.t = &self.t[c.len_utf8()..];
        Some(c)
    }

    /// Alternatives up to `)` (depth > 0) or the end.
    fn alternation(&mut self, depth: usize) -> Result<String, String> {
        let mut branches = vec![self.concat(depth)?];
        while self.t.starts_with('|') {
            self.t = &self.t[1..];
            branches.push(self.concat(depth)?);
        }
        Ok(branches.join("|"))
    }

    fn concat(&mut self, depth: usize) -> Result<String, String> {
        let mut items: Vec<Item> = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                '|' => break,
                ')' if depth > 0 => break,
                ')' => return Err("unexpected )".into()),
                '(' => {
                    self.bump();
                    if self.t.starts_with('?') {
                        return Err("unsupported group flags".into());
                    }
                    let inner = self.alternation(depth + 1)?;
                    if self.bump() != Some(')') {
                        return Err("missing closing )".into());
                    }
                    items.push(Item { text: format!("(?:{inner})"), repeated: false });
                }
                '*' | '+' | '?' => {
                    self.bump();
                    let mut op = c.to_string();
                    if self.t.starts_with('?') {
                        // Non-greedy: same set of matches.
                        self.bump();
                        op.push('?');
                    }
                    let Some(last) = items.last_mut() else {
                        return Err(format!("missing argument to repetition operator: `{op}`"));
                    };
                    if last.repeated {
                        return Err(format!("invalid nested repetition operator: `{op}`"));
                    }
                    last.text = format!("(?:{}){}", last.text, &op[..1]);
                    last.repeated = true;
                }
                '^' => {
                    self.bump();
                    items.push(Item { text: r"\A".into(), repeated: false });
                }
                '$' => {
                    self.bump();
                    items.push(Item { text: r"\z".into(), repeated: false });
                }
                '.' => {
                    self.bump();
                    items.push(Item { text: r"[^\n]".into(), repeated: false });
                }
                '[' => {
                    let text = self.class()?;
                    items.push(Item { text, repeated: false });
                }
                '\\' => {
                    for text in self.escape()? {
                        items.push(Item { text, repeated: false });
                    }
                }
                _ => {
                    // `{` included: patternmatcher escapes every `{`, so no
                    // counted repetition can reach here.
                    self.bump();
                    items.push(Item { text: lit(c as u32), repeated: false });
                }
            }
            if let Some(last) = items.last_mut() {
                if !matches!(c, '*' | '+' | '?') {
                    last.repeated = false;
                }
            }
        }
        Ok(items.into_iter().map(|i| i.text).collect())
    }

    /// A `\` sequence outside a class; `\Q...\E` yields one item per character.
    fn escape(&mut self) -> Result<Vec<String>, String> {
        let t = self.t;
        let mut chars = t.chars();
        chars.next();
        match chars.next() {
            Some('A') => return self.fixed(2, r"\A"),
            Some('z') => return self.fixed(2, r"\z"),
            Some('b') => return self.fixed(2, r"(?-u:\b)"),
            Some('B') => return self.fixed(2, r"(?-u:\B)"),
            Some('C') => return Err("invalid escape sequence: `\\C`".into()),
            Some('Q') => {
                let body = &t[2..];
                let (lit_text, rest) = body.split_once("\\E").unwrap_or((body, ""));
                self.t = rest;
                return Ok(lit_text.chars().map(|c| lit(c as u32)).collect());
            }
            _ => {}
        }
        if let Some(class) = self.unicode_class()? {
            return Ok(vec![class]);
        }
        if let Some(group) = self.perl_class() {
            return Ok(vec![class_text(false, vec![group])]);
        }
        let c = self.escaped_char()?;
        Ok(vec![lit(c)])
    }

    fn fixed(&mut self, len: usize, text: &str) -> Result<Vec<String>, String> {
        self.t = &self.t[len..];
        Ok(vec![text.to_owned()])
    }

    /// `\pN`, `\p{Name}`, `\PN`, `\p{^Name}` → a Rust class item.
    fn unicode_class(&mut self) -> Result<Option<String>, String> {
        let t = self.t;
        let negated = match t.get(..2) {
            Some("\\p") => false,
            Some("\\P") => true,
            _ => return Ok(None),
        };
        let after = &t[2..];
        let Some(c) = after.chars().next() else { return Ok(None) };
        let (mut name, rest) = if c == '{' {
            let Some(end) = t.find('}') else {
                return Err(format!("invalid character class range: `{t}`"));
            };
            (&t[3..end], &t[end + 1..])
        } else {
            (&after[..c.len_utf8()], &after[c.len_utf8()..])
        };
        let seq = &t[..t.len() - rest.len()];
        let mut negated = negated;
        if let Some(stripped) = name.strip_prefix('^') {
            negated = !negated;
            name = stripped;
        }
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("invalid character class range: `{seq}`"));
        }
        self.t = rest;
        let text = match (name, negated) {
            ("Any", false) => ANY.to_owned(),
            ("Any", true) => NEVER.to_owned(),
            (_, false) => format!("\\p{{{name}}}"),
            (_, true) => format!("\\P{{{name}}}"),
        };
        Ok(Some(text))
    }

    /// `\d \D \s \S \w \W` (ASCII in Go) → a Rust class item.
    fn perl_class(&mut self) -> Option<String> {
        let set = match self.t.get(..2)? {
            "\\d" | "\\D" => "0-9",
            "\\s" | "\\S" => r"\x{9}\x{a}\x{c}\x{d}\x{20}",
            "\\w" | "\\W" => "0-9A-Za-z_",
            _ => return None,
        };
        let negated = self.t.as_bytes()[1].is_ascii_uppercase();
        self.t = &self.t[2..];
        Some(format!("[{}{set}]", if negated { "^" } else { "" }))
    }

    /// Go's `parseEscape`: the character a `\` sequence stands for.
    fn escaped_char(&mut self) -> Result<u32, String> {
        let start = self.t;
        self.bump();
        let Some(c) = self.bump() else { return Err("trailing backslash at end of expression".into()) };
        let invalid = |rest: &str| format!("invalid escape sequence: `{}`", &start[..start.len() - rest.len()]);
        match c {
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok(c as u32),
            '0'..='7' => {
                if c != '0' && !self.t.starts_with(|d: char| ('0'..='7').contains(&d)) {
                    // A lone \1-\7 is a backreference: unsupported.
                    return Err(invalid(self.t));
                }
                let mut r = c as u32 - '0' as u32;
                for _ in 1..3 {
                    match self.peek() {
                        Some(d @ '0'..='7') => {
                            r = r * 8 + (d as u32 - '0' as u32);
                            self.bump();
                        }
                        _ => break,
                    }
                }
                Ok(r)
            }
            'x' => self.hex_escape().ok_or_else(|| invalid(self.t)),
            'a' => Ok(7),
            'f' => Ok(12),
            'n' => Ok(10),
            'r' => Ok(13),
            't' => Ok(9),
            'v' => Ok(11),
            _ => Err(invalid(self.t)),
        }
    }

    /// After `\x`: two hex digits or `{hex...}`.
    fn hex_escape(&mut self) -> Option<u32> {
        let c = self.bump()?;
        if c == '{' {
            let mut r: u32 = 0;
            let mut digits = 0;
            loop {
                let d = self.bump()?;
                if d == '}' {
                    break;
                }
                r = r.checked_mul(16)? + d.to_digit(16)?;
                if r > 0x10FFFF {
                    return None;
                }
                digits += 1;
            }
            return (digits > 0).then_some(r);
        }
        let x = c.to_digit(16);
        let y = self.bump().and_then(|d| d.to_digit(16));
        Some(x? * 16 + y?)
    }

    /// A `[...]` class (Go's `parseClass`).
    fn class(&mut self) -> Result<String, String> {
        let whole = self.t;
        self.t = &self.t[1..];
        let negated = self.t.starts_with('^');
        if negated {
            self.t = &self.t[1..];
        }
        let mut items = Vec::new();
        let mut first = true;
        while self.t.is_empty() || !self.t.starts_with(']') || first {
            first = false;
            if self.t.len() > 2 && self.t.starts_with("[:") {
                if let Some(item) = self.named_class()? {
                    items.push(item);
                    continue;
                }
            }
            if let Some(item) = self.unicode_class()? {
                items.push(item);
                continue;
            }
            if let Some(item) = self.perl_class() {
                items.push(item);
                continue;
            }
            let range_start = self.t;
            let lo = self.class_char(whole)?;
            let mut hi = lo;
            let b = self.t.as_bytes();
            if b.len() >= 2 && b[0] == b'-' && b[1] != b']' {
                self.t = &self.t[1..];
                hi = self.class_char(whole)?;
                if hi < lo {
                    let text = &range_start[..range_start.len() - self.t.len()];
                    return Err(format!("invalid character class range: `{text}`"));
                }
            }
            if let Some(item) = range_item(lo, hi) {
                items.push(item);
            }
        }
        self.t = &self.t[1..];
        Ok(class_text(negated, items))
    }

    fn class_char(&mut self, whole: &str) -> Result<u32, String> {
        match self.peek() {
            None => Err(format!("missing closing ]: `{whole}`")),
            Some('\\') => self.escaped_char(),
            Some(c) => {
                self.bump();
                Ok(c as u32)
            }
        }
    }

    /// `[:alpha:]`, `[:^alpha:]` (ASCII); `None` when no `:]` follows.
    fn named_class(&mut self) -> Result<Option<String>, String> {
        let Some(i) = self.t[2..].find(":]") else { return Ok(None) };
        let name = &self.t[..i + 4];
        let (negated, bare) = match name[2..name.len() - 2].strip_prefix('^') {
            Some(bare) => (true, bare),
            None => (false, &name[2..name.len() - 2]),
        };
        let set = match bare {
            "alnum" => "0-9A-Za-z",
            "alpha" => "A-Za-z",
            "ascii" => r"\x{0}-\x{7f}",
            "blank" => r"\x{9}\x{20}",
            "cntrl" => r"\x{0}-\x{1f}\x{7f}",
            "digit" => "0-9",
            "graph" => r"\x{21}-\x{7e}",
            "lower" => "a-z",
            "print" => r"\x{20}-\x{7e}",
            "punct" => r"\x{21}-\x{2f}\x{3a}-\x{40}\x{5b}-\x{60}\x{7b}-\x{7e}",
            "space" => r"\x{9}-\x{d}\x{20}",
            "upper" => "A-Z",
            "word" => "0-9A-Za-z_",
            "xdigit" => "0-9A-Fa-f",
            _ => return Err(format!("invalid character class range: `{name}`")),
        };
        self.t = &self.t[i + 4..];
        Ok(Some(format!("[{}{set}]", if negated { "^" } else { "" })))
    }
}

/// A range as a Rust class item, without the surrogates Rust cannot name
/// (they never occur in text, so dropping them changes no match).
fn range_item(lo: u32, hi: u32) -> Option<String> {
    let lo = if (0xD800..=0xDFFF).contains(&lo) { 0xE000 } else { lo };
    let hi = if (0xD800..=0xDFFF).contains(&hi) { 0xD7FF } else { hi.min(0x10FFFF) };
    if lo > hi {
        return None;
    }
    let mut s = String::new();
    let _ = write!(s, "\\x{{{lo:x}}}");
    if hi != lo {
        let _ = write!(s, "-\\x{{{hi:x}}}");
    }
    Some(s)
}

fn class_text(negated: bool, items: Vec<String>) -> String {
    match (negated, items.is_empty()) {
        (false, true) => NEVER.to_owned(),
        (true, true) => ANY.to_owned(),
        (negated, false) => format!("[{}{}]", if negated { "^" } else { "" }, items.concat()),
    }
}

#[cfg(test)]
mod tests {
    use super::translate;

    fn is_match(go: &str, text: &str) -> bool {
        let rust = translate(go).unwrap_or_else(|e| panic!("{go}: {e}"));
        regex::Regex::new(&rust).unwrap_or_else(|e| panic!("{go} → {rust}: {e}")).is_match(text)
    }

    #[test]
    fn go_semantics() {
        assert!(is_match(r"^[!a]$", "!"));
        assert!(!is_match(r"^[!a]$", "b"));
        assert!(!is_match(r"^a[^/]*^b$", "a^b"));
        assert!(is_match(r"^[^/]*^b$", "b"));
        assert!(is_match(r"^a\<b$", "a<b"));
        assert!(is_match(r"^[a&&b]$", "&"));
        assert!(is_match(r"^[x~~-]$", "~"));
        assert!(is_match(r"^[x~~-]$", "-"));
        assert!(is_match(r"^[a[b]$", "["));
        assert!(is_match(r"^\d$", "7"));
        assert!(!is_match(r"^\d$", "٣"));
        assert!(is_match(r"^[[:alpha:]]$", "q"));
        assert!(is_match(r"^\x41\x{42}\101$", "ABA"));
        assert!(is_match(r"^\Qa.b$", "a.b$"));
        assert!(is_match(r"^[]a]$", "]"));
        assert!(is_match(r"^(.*/)?b$", "x/y/b"));
        assert!(!is_match(r"^(.*/)?b$", "x\ny/b"));
        assert!(is_match(r"^[^/]$", "\n"));
    }

    #[test]
    fn go_errors() {
        for bad in [r"^[z-a]$", r"^[a--b]$", r"^[Local-Only]$", r"^\q$", r"^\1$", r"^[[:foo:]]$", r"^a**$", r"^[a$", r"^\é$", r"^\C$", r"^\pé$"] {
            assert!(translate(bad).is_err(), "{bad} must be rejected");
        }
    }
}
