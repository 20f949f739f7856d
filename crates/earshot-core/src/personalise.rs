//! The personalisation check: before a reply goes out, say why it reads as
//! generic. A reply is flagged when it is a near-duplicate of a recent reply,
//! a template with nothing specific filled in, does not address the customer,
//! or ignores the issue they raised. It warns; the agent decides.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// Shingle similarity at or above which two replies count as the same text.
pub const NEAR_DUPLICATE: f64 = 0.6;
/// Similarity to a template skeleton at or above which nothing was added.
pub const TEMPLATE_ONLY: f64 = 0.7;

/// What the check knows about the conversation.
#[derive(Debug, Clone, Default)]
pub struct CheckInput<'a> {
    pub customer_text: &'a str,
    pub reply_text: &'a str,
    /// The customer's handle (without `@`) and display name, when known.
    pub customer_handle: Option<&'a str>,
    pub customer_name: Option<&'a str>,
    /// The complaint category, when the analysis found one.
    pub category: Option<&'a str>,
    /// Recently sent replies, newest first.
    pub recent_replies: &'a [String],
    /// Reply templates with their `{{placeholders}}`.
    pub templates: &'a [String],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckResult {
    pub generic: bool,
    pub reasons: Vec<String>,
}

const STOPWORDS: &[&str] = &[
    "the",
    "and",
    "for",
    "you",
    "your",
    "yours",
    "are",
    "was",
    "were",
    "has",
    "have",
    "had",
    "this",
    "that",
    "with",
    "from",
    "but",
    "not",
    "can",
    "could",
    "would",
    "should",
    "will",
    "just",
    "our",
    "ours",
    "out",
    "about",
    "what",
    "when",
    "where",
    "which",
    "who",
    "why",
    "how",
    "they",
    "them",
    "their",
    "there",
    "here",
    "been",
    "being",
    "into",
    "than",
    "then",
    "too",
    "very",
    "all",
    "any",
    "some",
    "get",
    "got",
    "its",
    "it's",
    "i'm",
    "i've",
    "don't",
    "didn't",
    "doesn't",
    "can't",
    "won't",
    "isn't",
    "also",
    "still",
    "again",
    "now",
    "one",
    "more",
    "like",
    "please",
    "thanks",
    "thank",
    "hi",
    "hello",
    "hey",
    "sorry",
    "hear",
    "help",
    "happy",
    "know",
    "let",
    "us",
    "we",
    "we're",
    "we'd",
    "we'll",
    "me",
    "my",
    "mine",
    "him",
    "her",
    "his",
    "she",
    "he",
    "did",
    "does",
    "doing",
    "do",
    "so",
    "if",
    "or",
    "on",
    "in",
    "at",
    "to",
    "of",
    "is",
    "be",
    "an",
    "a",
    "it",
    "by",
    "as",
    "no",
    "yes",
    "up",
    "i",
    "am",
    "via",
    "dm",
    "look",
    "into",
    "team",
    "soon",
    "asap",
    "today",
    "day",
    "time",
    "way",
    "need",
    "want",
    "make",
    "sure",
    "see",
    "feel",
    "free",
    "reach",
    "contact",
    "details",
    "more",
    "further",
    "assist",
    "apologies",
    "apologise",
    "apologize",
    "inconvenience",
    "experience",
    "concern",
    "issue",
    "problem",
    "follow",
    "send",
    "message",
    "ever",
    "never",
    "really",
    "much",
    "many",
    "every",
    "even",
];

/// Lowercased words without punctuation, handles and links kept as words.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '@' || c == '_'))
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// A crude stem so "refunded" meets "refund" and "deliveries" meets "delivery".
fn stem(word: &str) -> String {
    word.chars().take(5).collect()
}

/// Content terms: no stop words, no handles, no pure numbers, at least 3 letters.
fn key_terms(text: &str) -> HashSet<String> {
    content_terms(text).into_iter().map(|w| stem(&w)).collect()
}

/// The content words of a text, in order, as the check reads them (no stop
/// words, handles or pure numbers, at least 3 letters), unstemmed: what a
/// reply must share with the customer's post for it not to ignore them.
pub fn content_terms(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|w| {
            w.chars().count() >= 3
                && !w.starts_with('@')
                && !w.chars().all(|c| c.is_ascii_digit())
                && !STOPWORDS.contains(&w.as_str())
        })
        .collect()
}

/// Word 3-shingles of a text with handles and numbers masked, so the same
/// reply sent to two people is still recognised as the same reply.
fn shingles(text: &str) -> HashSet<String> {
    let masked: Vec<String> = words(text)
        .into_iter()
        .map(|w| {
            if w.starts_with('@') {
                "<who>".to_string()
            } else if w.chars().any(|c| c.is_ascii_digit()) {
                "<n>".to_string()
            } else {
                w
            }
        })
        .collect();
    if masked.len() < 3 {
        return masked.into_iter().collect();
    }
    masked.windows(3).map(|w| w.join(" ")).collect()
}

/// Jaccard similarity of two shingle sets, in `[0, 1]`.
pub fn similarity(a: &str, b: &str) -> f64 {
    let (a, b) = (shingles(a), shingles(b));
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let inter = a.intersection(&b).count() as f64;
    let union = a.union(&b).count() as f64;
    inter / union
}

/// `{{name}}` placeholders left in a text.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        if !name.is_empty() && name.len() <= 40 {
            out.push(format!("{{{{{name}}}}}"));
        }
        rest = &after[end + 2..];
    }
    out
}

/// Fills `{{name}}` placeholders from `values`; unknown ones are kept so the
/// check can point at them.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        for spelled in [format!("{{{{{name}}}}}"), format!("{{{{ {name} }}}}")] {
            out = out.replace(&spelled, value);
        }
    }
    out
}

/// Replaces every placeholder with nothing: what the template says on its own.
fn skeleton(template: &str) -> String {
    let mut out = template.to_string();
    for p in placeholders(template) {
        out = out.replace(&p, " ");
    }
    out
}

fn quote(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= 60 {
        return flat;
    }
    let cut: String = flat.chars().take(59).collect();
    format!("{cut}…")
}

pub fn check(input: &CheckInput<'_>) -> CheckResult {
    let reply = input.reply_text;
    let mut reasons = Vec::new();

    let left = placeholders(reply);
    if !left.is_empty() {
        reasons.push(format!(
            "template placeholders are not filled in: {}",
            left.join(", ")
        ));
    }
    // A template with only the name and case number filled in adds nothing.
    if let Some(best) = input
        .templates
        .iter()
        .map(|t| {
            // Handles and numbers are masked in shingles, so any stand-ins do.
            let known = fill(t, &[("customer", "@customer"), ("case_id", "0")]);
            similarity(reply, &skeleton(&known))
        })
        .fold(None::<f64>, |m, s| Some(m.map_or(s, |m| m.max(s))))
        && best >= TEMPLATE_ONLY
        && left.is_empty()
    {
        reasons.push(format!(
            "it is a template with nothing specific filled in ({:.0}% the same as the template)",
            best * 100.0
        ));
    }
    if let Some((score, other)) = input
        .recent_replies
        .iter()
        .map(|r| (similarity(reply, r), r))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        && score >= NEAR_DUPLICATE
    {
        reasons.push(format!(
            "it is a near-duplicate of a recent reply ({:.0}% the same): \"{}\"",
            score * 100.0,
            quote(other)
        ));
    }

    let reply_words: HashSet<String> = words(reply).into_iter().collect();
    let mut names: Vec<String> = Vec::new();
    if let Some(h) = input.customer_handle.filter(|h| !h.trim().is_empty()) {
        let h = h.trim().trim_start_matches('@').to_lowercase();
        names.push(format!("@{h}"));
        names.push(h);
    }
    if let Some(first) = input
        .customer_name
        .and_then(|n| n.split_whitespace().next())
        .map(str::to_lowercase)
        .filter(|n| n.chars().count() >= 2)
    {
        names.push(first);
    }
    if !names.is_empty() && !names.iter().any(|n| reply_words.contains(n)) {
        let who = input
            .customer_handle
            .map(|h| format!("@{}", h.trim_start_matches('@')))
            .or_else(|| input.customer_name.map(str::to_string))
            .unwrap_or_default();
        reasons.push(format!("it does not address the customer ({who})"));
    }

    let mut raised = key_terms(input.customer_text);
    if let Some(category) = input.category {
        raised.extend(key_terms(&category.replace(['_', '-'], " ")));
    }
    if !raised.is_empty() {
        let said = key_terms(reply);
        if raised.is_disjoint(&said) {
            let mut examples: Vec<String> = words(input.customer_text)
                .into_iter()
                .filter(|w| raised.contains(&stem(w)) && w.chars().count() >= 3)
                .collect();
            examples.dedup();
            examples.truncate(4);
            let hint = if examples.is_empty() {
                String::new()
            } else {
                format!(
                    " (they wrote about: {})",
                    examples
                        .iter()
                        .map(|w| format!("\"{w}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            reasons.push(format!("it ignores the issue the customer raised{hint}"));
        }
    }

    CheckResult {
        generic: !reasons.is_empty(),
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPLAINT: &str =
        "@AcmeAir my flight AA12 was cancelled and nobody will rebook me, stuck at the gate";

    fn input<'a>(reply: &'a str, recent: &'a [String], templates: &'a [String]) -> CheckInput<'a> {
        CheckInput {
            customer_text: COMPLAINT,
            reply_text: reply,
            customer_handle: Some("jane_d"),
            customer_name: Some("Jane Doe"),
            category: Some("flight_cancellation"),
            recent_replies: recent,
            templates,
        }
    }

    #[test]
    fn a_specific_reply_passes() {
        let r = check(&input(
            "Hi Jane, so sorry your flight AA12 was cancelled. I've rebooked you on the 18:05; the gate agent has your new boarding pass.",
            &[],
            &[],
        ));
        assert_eq!(r.reasons, Vec::<String>::new());
        assert!(!r.generic);
    }

    #[test]
    fn a_canned_reply_gets_every_reason() {
        let recent = vec![
            "Hi @bob, we're sorry for the inconvenience. Please DM us and we'll look into it."
                .to_string(),
        ];
        let r = check(&input(
            "Hi there, we're sorry for the inconvenience. Please DM us and we'll look into it.",
            &recent,
            &[],
        ));
        assert!(r.generic);
        let all = r.reasons.join(" | ");
        assert!(all.contains("near-duplicate"), "{all}");
        assert!(
            all.contains("does not address the customer (@jane_d)"),
            "{all}"
        );
        assert!(all.contains("ignores the issue"), "{all}");
        assert!(all.contains("\"flight\""), "{all}");
    }

    #[test]
    fn templates_must_be_filled_in() {
        let templates = vec![
            "Hi {{customer}}, thanks for reaching out about case {{case_id}}. We're on it and will update you shortly.".to_string(),
        ];
        let unfilled = check(&input(
            "Hi {{customer}}, about your flight",
            &[],
            &templates,
        ));
        assert!(
            unfilled.reasons[0].contains("{{customer}}"),
            "{:?}",
            unfilled.reasons
        );

        let filled = fill(&templates[0], &[("customer", "@jane_d"), ("case_id", "42")]);
        let r = check(&input(&filled, &[], &templates));
        assert!(
            r.reasons
                .iter()
                .any(|x| x.contains("template with nothing specific")),
            "{:?}",
            r.reasons
        );
    }

    #[test]
    fn similarity_masks_handles_and_numbers() {
        let a = "Hi @ann, your order 123 ships tomorrow morning";
        let b = "Hi @bob, your order 987 ships tomorrow morning";
        assert!((similarity(a, b) - 1.0).abs() < 1e-9);
        assert!(similarity(a, "completely different words here today") < 0.1);
    }

    #[test]
    fn fill_replaces_known_placeholders_only() {
        assert_eq!(
            fill(
                "Hi {{ customer }}, case {{case_id}}: {{details}}",
                &[("customer", "@x"), ("case_id", "7")]
            ),
            "Hi @x, case 7: {{details}}"
        );
        assert_eq!(
            placeholders("a {{details}} b {{ x }}"),
            vec!["{{details}}", "{{x}}"]
        );
    }
}
