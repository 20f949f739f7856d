//! Keyword rules matched on our side: Jetstream does not filter on text.
//! One Aho-Corasick automaton over all rules, so a few hundred phrases cost
//! one pass over each post.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// Case-insensitive, word-boundary-aware phrase matching.
#[derive(Debug, Clone)]
pub struct KeywordMatcher {
    automaton: Option<AhoCorasick>,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    phrase: String,
    /// The phrase starts (ends) with a word character, so the text must
    /// not continue the word there: `care` does not match `careful`.
    /// `#care` is bounded at its end only: it matches `see#care`, not
    /// `#careful`.
    bounded_start: bool,
    bounded_end: bool,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl KeywordMatcher {
    /// Builds the matcher; blank phrases are ignored.
    pub fn new<S: AsRef<str>>(phrases: &[S]) -> Result<KeywordMatcher, String> {
        let rules: Vec<Rule> = phrases
            .iter()
            .map(|p| p.as_ref().trim().to_lowercase())
            .filter(|p| !p.is_empty())
            .map(|phrase| Rule {
                bounded_start: phrase.chars().next().is_some_and(is_word),
                bounded_end: phrase.chars().next_back().is_some_and(is_word),
                phrase,
            })
            .collect();
        if rules.is_empty() {
            return Ok(KeywordMatcher {
                automaton: None,
                rules,
            });
        }
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(rules.iter().map(|r| r.phrase.as_str()))
            .map_err(|e| e.to_string())?;
        Ok(KeywordMatcher {
            automaton: Some(automaton),
            rules,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule `text` matches on word boundaries, if any. ASCII text
    /// is searched as is (the automaton ignores ASCII case); other text is
    /// lowercased first so `ÉCLAIR` matches `éclair`.
    pub fn first_match(&self, text: &str) -> Option<&str> {
        let automaton = self.automaton.as_ref()?;
        if text.is_ascii() {
            self.scan(automaton, text)
        } else {
            self.scan(automaton, &text.to_lowercase())
        }
    }

    fn scan(&self, automaton: &AhoCorasick, haystack: &str) -> Option<&str> {
        automaton.find_overlapping_iter(haystack).find_map(|m| {
            let rule = &self.rules[m.pattern().as_usize()];
            let before_ok = !rule.bounded_start
                || !haystack[..m.start()]
                    .chars()
                    .next_back()
                    .is_some_and(is_word);
            let after_ok =
                !rule.bounded_end || !haystack[m.end()..].chars().next().is_some_and(is_word);
            (before_ok && after_ok).then_some(rule.phrase.as_str())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_whole_words_ignoring_case() {
        let m = KeywordMatcher::new(&["acme", "customer care", "#acmefail"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.first_match("I love ACME!"), Some("acme"));
        assert_eq!(m.first_match("acmecorp is not us"), None);
        assert_eq!(m.first_match("notacme either"), None);
        assert_eq!(m.first_match("Customer  care"), None);
        assert_eq!(
            m.first_match("their Customer Care line"),
            Some("customer care")
        );
        assert_eq!(m.first_match("again #AcmeFail today"), Some("#acmefail"));
    }

    #[test]
    fn a_non_boundary_hit_does_not_hide_a_later_real_one() {
        let m = KeywordMatcher::new(&["acme"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.first_match("acmes and then acme."), Some("acme"));
    }

    #[test]
    fn non_ascii_text_is_lowercased_before_matching() {
        let m = KeywordMatcher::new(&["Éclair"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.first_match("ÉCLAIR au café"), Some("éclair"));
        assert_eq!(m.first_match("éclairs"), None);
        assert!(
            KeywordMatcher::new(&["  "])
                .map(|m| m.is_empty())
                .unwrap_or(false)
        );
    }
}
