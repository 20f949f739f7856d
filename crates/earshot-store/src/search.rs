//! Turns a user's search box text into each engine's query syntax.
//!
//! Users type words (all must match), "quoted phrases", `OR` between terms and
//! `-word` to exclude. PostgreSQL's `websearch_to_tsquery` understands this
//! directly; FTS5 needs it rewritten, with every term quoted so punctuation in
//! a search (`refund!`, `@acme`) is never read as FTS5 syntax.

/// Rewrites web-search syntax into an FTS5 MATCH expression, or `None` when
/// nothing searchable is left.
pub fn fts5_query(input: &str) -> Option<String> {
    let mut pending_or = false;
    let mut out = String::new();
    let mut chars = input.chars().peekable();
    let push = |negated: bool, text: &str, or: bool, out: &mut String| {
        let words: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|w| !w.is_empty())
            .collect();
        if words.is_empty() {
            return false;
        }
        let quoted = format!("\"{}\"", words.join(" ").replace('"', ""));
        if !out.is_empty() {
            out.push_str(if negated {
                " NOT "
            } else if or {
                " OR "
            } else {
                " AND "
            });
        } else if negated {
            // FTS5 cannot start with NOT; a lone exclusion matches nothing useful.
            return false;
        }
        out.push_str(&quoted);
        true
    };
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let negated = c == '-';
        if negated {
            chars.next();
        }
        let term: String = if chars.peek() == Some(&'"') {
            chars.next();
            let t: String = chars.by_ref().take_while(|&c| c != '"').collect();
            t
        } else {
            let mut t = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                t.push(c);
                chars.next();
            }
            t
        };
        if !negated && term == "OR" {
            pending_or = true;
            continue;
        }
        push(negated, &term, pending_or, &mut out);
        pending_or = false;
    }
    if out.is_empty() { None } else { Some(out) }
}

#[cfg(test)]
mod tests {
    use super::fts5_query;

    #[test]
    fn words_are_quoted_and_anded() {
        assert_eq!(
            fts5_query("refund 4411").as_deref(),
            Some("\"refund\" AND \"4411\"")
        );
    }

    #[test]
    fn phrases_or_and_exclusions() {
        assert_eq!(
            fts5_query("\"never arrived\" OR lost -amazon").as_deref(),
            Some("\"never arrived\" OR \"lost\" NOT \"amazon\"")
        );
    }

    #[test]
    fn punctuation_never_reaches_fts5_syntax() {
        assert_eq!(
            fts5_query("@acme refund!!! (now)").as_deref(),
            Some("\"acme\" AND \"refund\" AND \"now\"")
        );
        assert_eq!(fts5_query("  ***  "), None);
        assert_eq!(fts5_query("-only"), None);
        assert_eq!(fts5_query("a\"b").as_deref(), Some("\"a b\""));
    }
}
