//! Quoting input in error messages briefly: a message names the field and
//! the rule, and shows enough of the value to find it, never all of it.

/// Most characters of input an error message repeats.
pub const ECHO_LIMIT: usize = 64;

/// `text` as a quoted string for a message, cut to [`ECHO_LIMIT`] characters
/// with an ellipsis.
pub fn quote(text: &str) -> String {
    match text.char_indices().nth(ECHO_LIMIT) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// `message` with every echo of input cut to [`ECHO_LIMIT`] characters and an
/// ellipsis: the inside of each double-quoted string, and each run of
/// characters without white space (an unquoted id or path). For messages
/// built elsewhere (a parser's, a path parameter's) before they are answered.
pub fn brief(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(4 * ECHO_LIMIT));
    let mut chars = message.chars().peekable();
    let mut run = 0;
    while let Some(c) = chars.next() {
        if c == '"' {
            out.push('"');
            let mut escaped = false;
            for (kept, c) in chars.by_ref().enumerate() {
                if c == '"' && !escaped {
                    break;
                }
                escaped = c == '\\' && !escaped;
                if kept < ECHO_LIMIT {
                    out.push(c);
                } else if kept == ECHO_LIMIT {
                    out.push('…');
                }
            }
            out.push('"');
            run = 0;
            continue;
        }
        run = if c.is_whitespace() { 0 } else { run + 1 };
        if run <= ECHO_LIMIT {
            out.push(c);
        } else if run == ECHO_LIMIT + 1 {
            out.push('…');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_value_is_quoted_whole() {
        assert_eq!(quote("job-1"), "\"job-1\"");
    }

    #[test]
    fn a_long_value_is_cut_to_the_limit() {
        let long = "x".repeat(5000);
        let quoted = quote(&long);
        assert_eq!(quoted, format!("\"{}\"…", "x".repeat(64)));
        // Cut on a character, not a byte.
        assert_eq!(quote(&"é".repeat(70)), format!("\"{}\"…", "é".repeat(64)));
    }

    #[test]
    fn brief_cuts_quoted_strings_and_long_words_only() {
        let id = "a".repeat(5000);
        let message = format!("id ({id:?}) must be 1 to 64 letters; no site {id} here");
        let short = brief(&message);
        let cut = format!("{}…", "a".repeat(64));
        assert_eq!(
            short,
            format!("id (\"{cut}\") must be 1 to 64 letters; no site {cut} here")
        );
        let plain = "energy_kwh: (-1) must be > 0; deadline: \"2025-01-01T00:00:00Z\" is past";
        assert_eq!(brief(plain), plain);
        // An escaped quote inside a string does not end it.
        assert_eq!(brief(r#"bad "a\"b" here"#), r#"bad "a\"b" here"#);
    }
}
