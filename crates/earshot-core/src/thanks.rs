//! Personal thank-yous, written from the post itself (pure).
//!
//! A suggestion names the person (the first word of their display name when
//! it reads as a name, otherwise `@handle`) and refers to what they said:
//! a short span of their own words around the praise (the clause with the
//! strongest positive cue, at most [`MAX_SPAN_WORDS`] words, without
//! handles, links or hashtags) and, where the span has one, the thing they
//! praised (its first content term, the same notion of content term as the
//! personalisation check's). Several sentence frames are offered, starting
//! at one picked from the post's id, so two posts rarely get the same
//! wording; the application checks each with the personalisation check and
//! offers the first that passes.
//!
//! Also here: the simple read of whether an author who was negative in a
//! case was positive afterwards (a detractor turned promoter).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::analysis::Sentiment;
use crate::case::Case;
use crate::ids::CaseId;
use crate::mention::Mention;
use crate::personalise;

/// Longest span of the customer's words a suggestion quotes.
pub const MAX_SPAN_WORDS: usize = 9;
/// Shortest span worth quoting (shorter praise is named by its term only).
pub const MIN_SPAN_WORDS: usize = 2;

/// Words that carry praise, strongest first is not implied; each counts once.
const CUES: &[&str] = &[
    "love",
    "loved",
    "loving",
    "loves",
    "great",
    "awesome",
    "amazing",
    "best",
    "excellent",
    "wonderful",
    "fantastic",
    "friendly",
    "helpful",
    "kudos",
    "shoutout",
    "bravo",
    "pleasure",
    "perfect",
    "nice",
    "smooth",
    "good",
    "beautiful",
    "exceptional",
    "appreciate",
    "appreciated",
    "impressed",
    "brilliant",
    "superb",
    "outstanding",
    "incredible",
    "lovely",
    "glad",
    "grateful",
    "thankful",
    "enjoyed",
    "enjoy",
    "fast",
    "quick",
    "easy",
    "well",
    "fan",
    "favorite",
    "favourite",
    "rock",
    "rocks",
    "killing",
    "seamless",
    "delicious",
    "comfortable",
    "polite",
    "kind",
    "sweet",
    "cool",
    "happy",
    "thanks",
    "thank",
    "thx",
];

/// Words a praised thing is never named by (besides the check's stop words).
const NOT_A_TOPIC: &[&str] = &[
    "guys",
    "folks",
    "people",
    "everyone",
    "always",
    "today",
    "tonight",
    "again",
    "thing",
    "things",
    "lot",
    "lots",
    "job",
    "work",
    "keep",
    "made",
    "make",
    "going",
    "gonna",
    "really",
    "truly",
    "totally",
    "definitely",
    "will",
    "yall",
    "y'all",
    "awesome",
    "amazing",
    "great",
    "love",
    "loved",
    "best",
    "excellent",
    "wonderful",
    "fantastic",
    "perfect",
    "nice",
    "good",
    "beautiful",
    "exceptional",
    "appreciate",
    "appreciated",
    "impressed",
    "brilliant",
    "superb",
    "outstanding",
    "incredible",
    "lovely",
    "glad",
    "grateful",
    "enjoyed",
    "happy",
    "kudos",
    "shoutout",
    "bravo",
    "pleasure",
    "helpful",
    "friendly",
    "cheers",
    "thx",
    "wow",
    "yay",
    "omg",
    "lol",
    "haha",
    "follow",
    "followed",
    "following",
    "tweet",
    "tweets",
    "reply",
];

/// What a suggestion is written from.
#[derive(Debug, Clone, Default)]
pub struct SuggestInput<'a> {
    pub text: &'a str,
    pub handle: &'a str,
    pub display_name: Option<&'a str>,
    /// The terms behind the sentiment decision (the analysis' evidence);
    /// those with a positive weight count as praise cues too.
    pub positive_terms: &'a [String],
    /// Longest reply the channel takes, in characters.
    pub max_chars: Option<usize>,
    /// Picks the first frame tried (the post's id), so wordings rotate.
    pub seed: u64,
}

/// How the person is addressed: a first name when the display name starts
/// with one (letters, at least two), otherwise `@handle`.
pub fn salutation(handle: &str, display_name: Option<&str>) -> String {
    if let Some(first) = display_name
        .and_then(|n| n.split_whitespace().next())
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| w.chars().count() >= 2 && w.chars().all(char::is_alphabetic))
    {
        let mut chars = first.chars();
        return match chars.next() {
            Some(c) => c.to_uppercase().chain(chars).collect(),
            None => format!("@{handle}"),
        };
    }
    format!("@{}", handle.trim_start_matches('@'))
}

fn decode_entities(text: &str) -> String {
    text.replace("&amp;", "&")
        .replace("&gt;", ">")
        .replace("&lt;", "<")
        .replace("&quot;", "'")
        .replace("&#39;", "'")
        .replace('"', "'")
        .replace(['\u{201c}', '\u{201d}'], "'")
}

/// A token of the post kept for quoting: not a handle, link or hashtag,
/// with at least one letter or digit.
fn quotable(token: &str) -> bool {
    !(token.starts_with('@')
        || token.starts_with('#')
        || token.starts_with("http://")
        || token.starts_with("https://")
        || token.starts_with("www.")
        || !token.chars().any(char::is_alphanumeric))
}

fn bare(word: &str) -> String {
    word.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
        .to_lowercase()
}

/// The post cut into clauses (at `. ! ? ; , :` and dashes), each a list of
/// quotable words with their punctuation trimmed off the ends.
fn clauses(text: &str) -> Vec<Vec<String>> {
    let text = decode_entities(text);
    let mut out: Vec<Vec<String>> = vec![Vec::new()];
    for token in text.split_whitespace() {
        if matches!(token, "-" | "–" | "—" | "|" | "&") {
            out.push(Vec::new());
            continue;
        }
        if !quotable(token) {
            // A handle or link inside a sentence ends the clause there, so
            // a quote never glues the words around it together.
            if out.last().is_some_and(|c| !c.is_empty()) {
                out.push(Vec::new());
            }
            continue;
        }
        let ends = token.ends_with(['.', '!', '?', ';', ',', ':', ')']);
        let word = token
            .trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '%' && c != '$')
            .to_string();
        if !word.is_empty()
            && let Some(last) = out.last_mut()
        {
            last.push(word);
        }
        if ends {
            out.push(Vec::new());
        }
    }
    out.retain(|c| !c.is_empty());
    out
}

fn is_cue(word: &str, positive_terms: &[String]) -> bool {
    let w = bare(word);
    CUES.contains(&w.as_str()) || positive_terms.iter().any(|t| t.eq_ignore_ascii_case(&w))
}

fn is_content(word: &str) -> bool {
    !personalise::content_terms(word).is_empty()
}

/// Their own words around the praise: the clause with the most cues
/// (ties: the one with more content words, then the first), trimmed to
/// [`MAX_SPAN_WORDS`] around its first cue. `None` when no clause has a
/// content word (e.g. "thanks!!").
pub fn praise_span(text: &str, positive_terms: &[String]) -> Option<String> {
    let best = clauses(text)
        .into_iter()
        .filter(|c| c.iter().any(|w| is_content(w)))
        .enumerate()
        .max_by_key(|(i, c)| {
            let cues = c.iter().filter(|w| is_cue(w, positive_terms)).count();
            let content = c.iter().filter(|w| is_content(w)).count().min(4);
            (cues.min(3), content, usize::MAX - i)
        })
        .map(|(_, c)| c)?;
    let words = if best.len() > MAX_SPAN_WORDS {
        // A window with content words, with a cue if one can have both,
        // then the most content words, earliest first.
        let start = (0..=best.len() - MAX_SPAN_WORDS)
            .max_by_key(|&s| {
                let w = &best[s..s + MAX_SPAN_WORDS];
                let content = w.iter().filter(|x| is_content(x)).count();
                (
                    content > 0,
                    w.iter().any(|x| is_cue(x, positive_terms)),
                    content,
                    usize::MAX - s,
                )
            })
            .unwrap_or(0);
        best[start..start + MAX_SPAN_WORDS].to_vec()
    } else {
        best
    };
    if words.len() < MIN_SPAN_WORDS && !words.iter().any(|w| is_content(w)) {
        return None;
    }
    Some(words.join(" "))
}

/// The thing they praised: the first content term of `span` that is not
/// itself praise (e.g. "crew" in "Great crew").
pub fn praised_thing(span: &str) -> Option<String> {
    span.split_whitespace().map(bare).find(|w| {
        w.chars().count() >= 3
            && w.chars().all(|c| c.is_alphabetic() || c == '-')
            && is_content(w)
            && !NOT_A_TOPIC.contains(&w.as_str())
            && !CUES.contains(&w.as_str())
    })
}

/// Frames with their words (`{span}`), the thing (`{thing}`) and the name
/// (`{name}`); a frame is used only when it has what it names.
const WITH_SPAN: &[&str] = &[
    "Thank you, {name}! '{span}' made our day, and we'll make sure the team sees it.",
    "{name}, this is lovely to read: '{span}'. Thanks for taking the time to tell us!",
    "That means a lot, {name}. We've shared '{span}' with the team, thank you!",
    "Hi {name}, '{span}' is exactly what we hope to hear. Thank you for saying it!",
    "Really appreciate you saying '{span}', {name}. We'll pass it along to everyone involved.",
    "{name}, you just made the team's week with '{span}'. Thanks so much!",
    "Thanks for the shout, {name}! '{span}' is going straight to the people who earned it.",
    "So glad to read '{span}', {name}. Thank you for letting us know!",
];

const WITH_THING: &[&str] = &[
    "Thanks so much, {name}! So glad the {thing} lived up to it. '{span}' is going straight to the team.",
    "{name}, thank you for the kind words about the {thing}! '{span}' will be passed on.",
    "Hi {name}, we're thrilled you noticed the {thing}. Thanks for '{span}'!",
    "Thank you, {name}! Everyone behind the {thing} will love hearing '{span}'.",
];

const THING_ONLY: &[&str] = &[
    "{name}, thank you for the kind words about the {thing}! We'll pass them on to the team.",
    "Thanks so much, {name}! So glad you enjoyed the {thing}.",
    "Hi {name}, great to hear the {thing} made a difference. Thank you for telling us!",
];

/// For posts with nothing specific to quote ("thanks!!"): an opener naming
/// them and a closer, in every pairing, so even many such thank-yous in a
/// row do not repeat one another.
const PLAIN_OPENERS: &[&str] = &[
    "Thank you, {name}!",
    "{name}, thanks for the kind words!",
    "Appreciate you, {name}!",
    "So kind of you, {name}, thank you!",
    "Thanks a lot, {name}!",
    "{name}, you're very welcome!",
    "Cheers, {name}!",
    "Hi {name}, that's great to hear.",
    "Thank you for the love, {name}!",
    "{name}, we appreciate you!",
    "Made our day, {name}!",
    "Thanks, {name}!",
];

const PLAIN_CLOSERS: &[&str] = &[
    "Glad we could help, have a great day.",
    "It means a lot to the team.",
    "Thanks for taking a moment to write to us.",
    "We're here whenever you need us.",
    "Messages like yours really do brighten the team's shift.",
    "Have a lovely day, and thanks for letting us know!",
    "Your note has been shared with the whole crew.",
    "We'll keep doing our best for you.",
    "Hope to see you again soon.",
    "Enjoy the rest of your week!",
];

/// How many opener and closer pairings are offered for a plain thank-you.
pub const MAX_PLAIN: usize = 40;

fn plain(seed: u64) -> Vec<String> {
    let (o, c) = (PLAIN_OPENERS.len(), PLAIN_CLOSERS.len());
    let (o0, c0) = (
        (seed % o as u64) as usize,
        ((seed / 31) % c as u64) as usize,
    );
    let mut out = Vec::with_capacity(o * c);
    // Every pairing once; consecutive ones differ in both halves.
    for i in 0..c {
        for j in 0..o {
            out.push(format!(
                "{} {}",
                PLAIN_OPENERS[(o0 + j) % o],
                PLAIN_CLOSERS[(c0 + i + j) % c]
            ));
        }
    }
    out.truncate(MAX_PLAIN);
    out
}

fn fill(frame: &str, name: &str, span: &str, thing: &str) -> String {
    frame
        .replace("{name}", name)
        .replace("{span}", span)
        .replace("{thing}", thing)
}

/// Every suggestion for a post, best first, starting at the frame the seed
/// picks so wordings rotate between posts. Frames quoting their words come
/// first, then those naming the thing, then plain ones. Each fits
/// `max_chars` (the quote is shortened, word by word, to fit; a frame that
/// cannot fit is left out).
pub fn suggestions(input: &SuggestInput<'_>) -> Vec<String> {
    let name = salutation(input.handle, input.display_name);
    let span = praise_span(input.text, input.positive_terms);
    // Without a span to quote, a hashtag may still name the thing.
    let thing = match &span {
        Some(s) => praised_thing(s),
        None => praised_thing(&hashtag_words(input.text)),
    };
    let mut groups: Vec<(&[&str], bool)> = Vec::new();
    if span.is_some() {
        if thing.is_some() {
            groups.push((WITH_THING, true));
        }
        groups.push((WITH_SPAN, true));
    }
    if thing.is_some() {
        groups.push((THING_ONLY, false));
    }
    // Plain frames say nothing specific: only for posts that say nothing
    // specific either (the check would rightly flag them otherwise).
    let plain_frames = if span.is_none() && thing.is_none() {
        plain(input.seed)
    } else {
        Vec::new()
    };
    let plain_refs: Vec<&str> = plain_frames.iter().map(String::as_str).collect();
    if !plain_refs.is_empty() {
        groups.push((&plain_refs, false));
    }
    let mut out = Vec::new();
    for (frames, quotes) in groups {
        let n = frames.len();
        let start = (input.seed % n as u64) as usize;
        for k in 0..n {
            let frame = frames[(start + k) % n];
            let thing = thing.as_deref().unwrap_or_default();
            let text = if quotes {
                let mut words: Vec<&str> = span.as_deref().unwrap_or_default().split(' ').collect();
                loop {
                    let t = fill(frame, &name, &words.join(" "), thing);
                    if input.max_chars.is_none_or(|m| t.chars().count() <= m) {
                        break Some(t);
                    }
                    if words.len() <= MIN_SPAN_WORDS {
                        break None;
                    }
                    words.pop();
                }
            } else {
                Some(fill(frame, &name, "", thing))
                    .filter(|t| input.max_chars.is_none_or(|m| t.chars().count() <= m))
            };
            if let Some(t) = text
                && !out.contains(&t)
            {
                out.push(t);
            }
        }
    }
    out
}

/// The words of a post's hashtags ("#NewPlane" gives "NewPlane").
fn hashtag_words(text: &str) -> String {
    text.split_whitespace()
        .filter_map(|t| t.strip_prefix('#'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A seed from a post's id (FNV-1a), stable across servers and restarts.
pub fn seed(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One of an author's cases, read for the profile: its status, whether the
/// author was negative in it, and whether they were positive afterwards.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CaseTurn {
    #[schema(value_type = i64)]
    pub case_id: CaseId,
    pub status: crate::case::CaseStatus,
    pub subject: String,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// They posted something negative in this case.
    pub negative_in_case: bool,
    /// Their first public positive post after their last negative one in
    /// this case (in the case or anywhere else on the same source).
    pub positive_after: Option<DateTime<Utc>>,
    /// Negative in the case and positive afterwards: recovery's stored
    /// outcome when the case was assessed, otherwise the simple read.
    pub turned_around: bool,
    /// Recovery's assessment of the case (docs/RECOVERY.md), when it has one.
    pub recovery: Option<crate::recovery::RecoveryOutcome>,
}

/// The simple read: for each case, was the author negative in it (a post of
/// theirs in the case read negative), and did they post something positive
/// in public after their last negative post there. `mentions` are the
/// author's posts (any order); private posts (DMs, email) never count as
/// the positive afterwards.
pub fn case_turns(cases: &[Case], mentions: &[Mention]) -> Vec<CaseTurn> {
    cases
        .iter()
        .map(|c| {
            let last_negative = mentions
                .iter()
                .filter(|m| m.case_id == Some(c.id) && m.analysis.sentiment == Sentiment::Negative)
                .map(|m| m.mention.created_at)
                .max();
            let positive_after = last_negative.and_then(|neg| {
                mentions
                    .iter()
                    .filter(|m| {
                        m.analysis.sentiment == Sentiment::Positive
                            && m.mention.created_at > neg
                            && !m.mention.origin.as_ref().is_some_and(|o| o.private)
                    })
                    .map(|m| m.mention.created_at)
                    .min()
            });
            CaseTurn {
                case_id: c.id,
                status: c.status,
                subject: c.subject.clone(),
                tags: c.tags.clone(),
                created_at: c.created_at,
                negative_in_case: last_negative.is_some(),
                positive_after,
                turned_around: positive_after.is_some(),
                recovery: None,
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::personalise::{CheckInput, check};
    use std::collections::HashSet;

    fn input<'a>(text: &'a str, handle: &'a str, name: Option<&'a str>) -> SuggestInput<'a> {
        SuggestInput {
            text,
            handle,
            display_name: name,
            positive_terms: &[],
            max_chars: Some(280),
            seed: 3,
        }
    }

    fn passes(text: &str, handle: &str, name: Option<&str>, reply: &str) -> Vec<String> {
        check(&CheckInput {
            customer_text: text,
            reply_text: reply,
            customer_handle: Some(handle),
            customer_name: name,
            ..CheckInput::default()
        })
        .reasons
    }

    #[test]
    fn it_names_the_person_by_first_name_or_handle() {
        assert_eq!(salutation("jane_d", Some("jane doe")), "Jane");
        assert_eq!(salutation("jane_d", Some("  Ünal Öz ")), "Ünal");
        assert_eq!(salutation("jane_d", Some("🌸 Jane")), "@jane_d");
        assert_eq!(salutation("jane_d", Some("J")), "@jane_d");
        assert_eq!(salutation("jane_d", Some("R2D2 fan")), "@jane_d");
        assert_eq!(salutation("@jane_d", None), "@jane_d");
    }

    #[test]
    fn it_quotes_the_praise_and_names_the_thing() {
        let text = "@SouthwestAir not frustrated, just an idea! Great crew. Thanks! #happycustomer";
        assert_eq!(praise_span(text, &[]).as_deref(), Some("Great crew"));
        assert_eq!(praised_thing("Great crew").as_deref(), Some("crew"));
        let long = "@JetBlue big shoutout to the crews on 2017 Bos&gt;jfk &amp; 486 jfk&gt;roc, &amp; gate crews at c19";
        let span = praise_span(long, &[]).unwrap();
        assert!(span.starts_with("big shoutout to the crews"), "{span}");
        assert!(span.split(' ').count() <= MAX_SPAN_WORDS);
        assert!(!span.contains("JetBlue") && !span.contains('@'));
        assert_eq!(praise_span("@united thanks!!", &[]), None);
        assert_eq!(praise_span("https://t.co/x @a #b", &[]), None);
    }

    #[test]
    fn every_suggestion_refers_to_the_post_and_passes_the_check_on_its_own() {
        let cases = [
            (
                "@acme the new checkout in your app is so smooth, ordered in ten seconds",
                "ann_k",
                Some("Ann Kowalski"),
            ),
            (
                "@JetBlue great flight on a brand new jet. Great seating. Beautiful plane.",
                "AuthorMarcClark",
                None,
            ),
            ("@AmericanAir thanks!!", "MeeestarCoke", None),
        ];
        for (text, handle, name) in cases {
            let all = suggestions(&input(text, handle, name));
            assert!(all.len() >= 3, "{all:?}");
            for s in &all {
                assert_eq!(
                    passes(text, handle, name, s),
                    Vec::<String>::new(),
                    "{text} -> {s}"
                );
                assert!(s.chars().count() <= 280);
            }
            let first = &all[0];
            assert!(
                first.contains(
                    name.map_or(format!("@{handle}"), |n| {
                        n.split(' ').next().unwrap().to_string()
                    })
                    .as_str()
                ),
                "{first}"
            );
        }
        let smooth = &suggestions(&input(cases[0].0, "ann_k", Some("Ann Kowalski")))[0];
        assert!(smooth.contains("checkout"), "{smooth}");
    }

    #[test]
    fn a_long_clause_is_cut_where_the_content_is() {
        let span = praise_span(
            "@united Thank you so much for your help with my birthday trip! Tickets are confirmed!",
            &[],
        )
        .unwrap();
        assert!(span.contains("birthday trip"), "{span}");
    }

    #[test]
    fn plain_thanks_pair_every_opener_with_every_closer() {
        let all = plain(7);
        assert_eq!(all.len(), MAX_PLAIN);
        let distinct: HashSet<&String> = all.iter().collect();
        assert_eq!(distinct.len(), all.len());
        // Two plain thank-yous in a row are never near-duplicates.
        for pair in all.windows(2) {
            assert!(
                personalise::similarity(&pair[0], &pair[1]) < personalise::NEAR_DUPLICATE,
                "{pair:?}"
            );
        }
    }

    #[test]
    fn the_seed_rotates_the_wording() {
        let text = "@acme loved the pastry counter this morning";
        let mut firsts: Vec<String> = (0..8)
            .map(|seed| {
                suggestions(&SuggestInput {
                    seed,
                    ..input(text, "bo", None)
                })[0]
                    .clone()
            })
            .collect();
        firsts.sort();
        firsts.dedup();
        assert!(firsts.len() >= 4, "{firsts:?}");
        assert_eq!(seed("abc"), seed("abc"));
        assert_ne!(seed("abc"), seed("abd"));
    }

    #[test]
    fn a_short_channel_shortens_the_quote_or_drops_the_frame() {
        let text = "@acme the support person on chat yesterday was incredibly patient and kind with my dad";
        let all = suggestions(&SuggestInput {
            max_chars: Some(90),
            ..input(text, "someone_long_handle", None)
        });
        assert!(!all.is_empty());
        for s in &all {
            assert!(s.chars().count() <= 90, "{s}");
        }
    }
}
