//! Lexical splitting of one logical line: the keyword, the `--flag` words and
//! the word rules shared by ENV, LABEL and ARG. These follow BuildKit's
//! parser byte for byte where it shows in the `result` dump.
//!
//! See: grammar/dockerfile.peg, rules `instruction`, `flags`, `kv_words`.

use nom::bytes::complete::{take_till1, take_while};
use nom::IResult;

/// ASCII whitespace as BuildKit's `[\t\v\f\r ]` class sees it.
pub fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0b' | '\x0c' | '\r')
}

/// The byte offset of `sub` inside `base`; `sub` must be a slice of `base`.
pub fn offset_in(base: &str, sub: &str) -> usize {
    (sub.as_ptr() as usize).saturating_sub(base.as_ptr() as usize).min(base.len())
}

/// Rule `instruction`: keyword (up to the first blank), then the rest after
/// the run of blanks. Input is already trimmed.
pub fn keyword_and_rest(line: &str) -> IResult<&str, &str> {
    let (rest, keyword) = take_till1(is_blank)(line)?;
    let (rest, _) = take_while(is_blank)(rest)?;
    Ok((rest, keyword))
}

/// A word cut from a line: its text (processed as the rule that cut it says)
/// and the byte range `start..end` it came from in the text that was split.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// The word's text, as the rule that cut it leaves it.
    pub text: String,
    /// Byte offset of the word's first byte in the split text.
    pub start: usize,
    /// Byte offset just past the word's last byte.
    pub end: usize,
}

/// Rule `flags`: reads `--flag` words from the start of `rest` and returns them
/// with the remainder. Quotes group and are removed, `\` makes the next byte
/// literal, a lone `--` ends the flags and is dropped.
pub fn extract_flags(rest: &str) -> (Vec<Word>, &str) {
    let bytes = rest.as_bytes();
    let mut flags = Vec::new();
    let mut pos = 0;
    loop {
        while pos < bytes.len() && is_flag_space(bytes[pos]) {
            pos += 1;
        }
        if !rest[pos..].starts_with("--") {
            return (flags, &rest[pos..]);
        }
        let start = pos;
        let (word, quoted, end) = scan_flag_word(bytes, pos);
        pos = end;
        if word == b"--" {
            return (flags, &rest[pos..]);
        }
        if quoted || !word.is_empty() {
            // Valid UTF-8 (the usual case) becomes the String without a copy.
            let text = String::from_utf8(word).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            flags.push(Word { text, start, end });
        }
        if pos >= bytes.len() {
            return (flags, "");
        }
    }
}

/// Whitespace in the flag scanner. BuildKit also treats bytes 0x85 and 0xA0
/// as blanks here, which splits UTF-8 characters in half; strata only splits
/// at ASCII whitespace so flag values stay valid text.
fn is_flag_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// Scans one flag word from `pos`; returns its bytes, whether it had quotes,
/// and the offset just after it.
fn scan_flag_word(bytes: &[u8], mut pos: usize) -> (Vec<u8>, bool, usize) {
    let mut word = Vec::new();
    let mut quote: Option<u8> = None;
    let mut quoted = false;
    while pos < bytes.len() {
        let b = bytes[pos];
        match quote {
            None if is_flag_space(b) => break,
            None if b == b'\'' || b == b'"' => {
                quote = Some(b);
                quoted = true;
            }
            Some(q) if b == q => quote = None,
            _ if b == b'\\' => {
                if pos + 1 < bytes.len() {
                    pos += 1;
                    word.push(bytes[pos]);
                } else {
                    quote = None;
                }
            }
            _ => word.push(b),
        }
        pos += 1;
    }
    (word, quoted, pos)
}

/// Splits on runs of blanks (BuildKit's whitespace-delimited argument form).
pub fn split_blanks(text: &str) -> Vec<Word> {
    text.split(is_blank)
        .filter(|w| !w.is_empty())
        .map(|w| {
            let start = offset_in(text, w);
            Word { text: w.to_owned(), start, end: start + w.len() }
        })
        .collect()
}

/// Rule `kv_words`: words separated by whitespace outside quotes; quote
/// characters stay in the word; the escape character keeps itself and the
/// next character (except inside single quotes, where it is ordinary); an
/// escape character at the very end is dropped.
pub fn split_words(text: &str, escape: char) -> Vec<Word> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut start = 0;
    // A quoted word is kept even when it is empty (`""`).
    let mut keep_empty = false;
    let mut quote: Option<char> = None;
    let mut chars = text.char_indices();
    while let Some((at, ch)) = chars.next() {
        if quote.is_none() && ch.is_whitespace() {
            if keep_empty || !word.is_empty() {
                words.push(Word { text: std::mem::take(&mut word), start, end: at });
            }
            keep_empty = false;
            continue;
        }
        if word.is_empty() && !keep_empty {
            start = at;
        }
        match quote {
            None if ch == '\'' || ch == '"' => {
                quote = Some(ch);
                keep_empty = true;
            }
            Some(q) if ch == q => quote = None,
            Some('\'') => {}
            _ if ch == escape => {
                match chars.next() {
                    Some((_, next)) => {
                        word.push(ch);
                        word.push(next);
                    }
                    None => quote = None,
                }
                continue;
            }
            _ => {}
        }
        word.push(ch);
    }
    if keep_empty || !word.is_empty() {
        words.push(Word { text: word, start, end: text.len() });
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_stop_at_first_plain_word() {
        let (flags, rest) = extract_flags("--a=1 --b=\"x y\" foo --c");
        let texts: Vec<_> = flags.iter().map(|f| f.text.as_str()).collect();
        assert_eq!(texts, ["--a=1", "--b=x y"]);
        assert_eq!(rest, "foo --c");
    }

    #[test]
    fn double_dash_ends_flags() {
        let (flags, rest) = extract_flags("--doit=true -- foo /tmp/");
        assert_eq!(flags.len(), 1);
        assert_eq!(rest, " foo /tmp/");
    }

    #[test]
    fn kv_words_keep_quotes_and_escapes() {
        let texts = |line: &str| split_words(line, '\\').into_iter().map(|w| w.text).collect::<Vec<_>>();
        assert_eq!(texts(r#"abc="123 456" def"#), [r#"abc="123 456""#, "def"]);
        assert_eq!(texts(r"a=b\ c"), [r"a=b\ c"]);
        assert_eq!(texts(r"a\"), ["a"]);
        assert_eq!(texts(r#"a "" b"#), ["a", r#""""#, "b"]);
    }

    #[test]
    fn words_know_where_they_are() {
        let ranges = |words: Vec<Word>| words.into_iter().map(|w| (w.start, w.end)).collect::<Vec<_>>();
        assert_eq!(ranges(split_words(r#" a=1  b="x y" "#, '\\')), [(1, 4), (6, 13)]);
        assert_eq!(ranges(split_blanks("  from  \tas x")), [(2, 6), (9, 11), (12, 13)]);
    }
}
