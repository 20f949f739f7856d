//! Urgency signals: phrase patterns over normalised tokens, each reported with
//! the words that triggered it. `*` in a pattern matches any one word, which
//! then appears in the trigger ("switching to verizon").

use crate::text::{Scratch, TokKind, fnv};
use earshot_core::{UrgencyKind, UrgencySignal};

const CHURN: &[&str] = &[
    "cancel my account",
    "cancel my subscription",
    "cancel my membership",
    "cancel my contract",
    "cancel my service",
    "cancel my plan",
    "cancelling my account",
    "canceling my account",
    "cancelling my subscription",
    "canceling my subscription",
    "close my account",
    "closing my account",
    "switching to *",
    "switch to *",
    "switched to *",
    "moving to *",
    "going with *",
    "never flying * again",
    "never fly * again",
    "never flying with * again",
    "never using * again",
    "never buying * again",
    "never shopping * again",
    "never again",
    "done with you",
    "taking my business elsewhere",
    "take my business elsewhere",
    "find another *",
    "finding another *",
    "unsubscribe",
    "port my number",
    "leaving you",
    "last time i fly",
    "last time i use",
    "last time i order",
    "won't be back",
    "will never use",
    "lost a customer",
    "lost my business",
];
const LEGAL: &[&str] = &[
    "lawyer",
    "lawyers",
    "attorney",
    "sue",
    "suing",
    "sued",
    "lawsuit",
    "legal action",
    "small claims",
    "take you to court",
    "see you in court",
    "solicitor",
    "ombudsman",
    "trading standards",
    "better business bureau",
    "bbb",
    "class action",
    "report you to *",
    "file a complaint with *",
    "consumer protection",
    "legal team",
];
const SAFETY: &[&str] = &[
    "food poisoning",
    "injured",
    "injury",
    "injuries",
    "fire",
    "smoke",
    "hospital",
    "allergic reaction",
    "unsafe",
    "dangerous",
    "bleeding",
    "burned",
    "burnt",
    "exploded",
    "explode",
    "electrocuted",
    "choking",
    "emergency",
    "ambulance",
    "carbon monoxide",
    "gas leak",
    "assaulted",
    "harassed",
    "harassment",
    "poisoned",
    "got sick",
    "made me sick",
    "hurt",
    "collapsed",
    "overheating",
    "sparks",
];
const SHAMING: &[&str] = &[
    "retweet",
    "please rt",
    "rt if",
    "everyone rt",
    "going viral",
    "go viral",
    "viral",
    "spread the word",
    "tell everyone",
    "warn everyone",
    "warning everyone",
    "shame on you",
    "shameful",
    "#shame",
    "#fail",
    "#epicfail",
    "boycott",
    "#boycott",
    "the press",
    "the media",
    "contacting the news",
    "news station",
    "reporter",
];

#[derive(Debug, Clone)]
struct Pattern {
    kind: UrgencyKind,
    /// Token hashes; `None` = any word.
    words: Vec<Option<u64>>,
    /// Must the first word be a hashtag?
    hashtag: bool,
}

#[derive(Debug, Clone)]
pub struct UrgencyMatcher {
    /// Sorted by first-word hash for binary search.
    by_first: Vec<(u64, Pattern)>,
}

impl UrgencyMatcher {
    pub fn builtin() -> UrgencyMatcher {
        let mut by_first = Vec::new();
        for (kind, list) in [
            (UrgencyKind::ChurnIntent, CHURN),
            (UrgencyKind::LegalThreat, LEGAL),
            (UrgencyKind::Safety, SAFETY),
            (UrgencyKind::PublicShaming, SHAMING),
        ] {
            for p in list {
                let hashtag = p.starts_with('#');
                let words: Vec<Option<u64>> = p
                    .trim_start_matches('#')
                    .split(' ')
                    .map(|w| {
                        if w == "*" {
                            None
                        } else {
                            let mut s = Scratch::default();
                            crate::text::tokenize(w, &mut s);
                            Some(s.toks.first().map_or(fnv(w.as_bytes()), |t| t.hash))
                        }
                    })
                    .collect();
                if let Some(Some(first)) = words.first() {
                    by_first.push((
                        *first,
                        Pattern {
                            kind,
                            words,
                            hashtag,
                        },
                    ));
                }
            }
        }
        by_first.sort_by_key(|(h, _)| *h);
        UrgencyMatcher { by_first }
    }

    /// Appends the signals found in the tokens of `s`.
    pub fn find(&self, s: &Scratch, out: &mut Vec<UrgencySignal>) {
        let toks = &s.toks;
        for i in 0..toks.len() {
            let t = &toks[i];
            if !matches!(t.kind, TokKind::Word | TokKind::Hashtag) {
                continue;
            }
            let lo = self.by_first.partition_point(|(h, _)| *h < t.hash);
            for (h, p) in &self.by_first[lo..] {
                if *h != t.hash {
                    break;
                }
                if p.hashtag && t.kind != TokKind::Hashtag {
                    continue;
                }
                if out.iter().any(|u| u.kind == p.kind) {
                    continue;
                }
                let end = i + p.words.len();
                if end > toks.len() {
                    continue;
                }
                let ok = p.words.iter().zip(&toks[i..end]).all(|(w, tk)| {
                    matches!(
                        tk.kind,
                        TokKind::Word | TokKind::Hashtag | TokKind::Num | TokKind::User
                    ) && w.is_none_or(|h| h == tk.hash)
                });
                if ok {
                    out.push(UrgencySignal {
                        kind: p.kind,
                        trigger: join(s, i, end),
                    });
                }
            }
        }
        // a direct question: the words leading up to a question mark
        if let Some(q) = toks.iter().position(|t| {
            t.kind == TokKind::Punct
                && s.buf.as_bytes()[t.start as usize..t.end as usize].contains(&b'?')
        }) {
            let mut st = q;
            while st > 0
                && q - st < 6
                && !matches!(toks[st - 1].kind, TokKind::Punct | TokKind::Url)
            {
                st -= 1;
            }
            out.push(UrgencySignal {
                kind: UrgencyKind::Question,
                trigger: join(s, st, q + 1),
            });
        } else if let Some(f) = toks.iter().position(|t| !matches!(t.kind, TokKind::User)) {
            // "how do I ...", "can you ..." without a question mark
            const OPENERS: &[&str] = &[
                "how", "why", "when", "where", "can", "could", "will", "is", "does", "what",
            ];
            let t = &toks[f];
            let w = s.tok_text(t);
            if OPENERS.contains(&w)
                && toks.get(f + 1).is_some_and(|n| {
                    matches!(
                        s.tok_text(n),
                        "do" | "can"
                            | "i"
                            | "you"
                            | "is"
                            | "are"
                            | "does"
                            | "will"
                            | "my"
                            | "long"
                            | "much"
                    )
                })
            {
                let end = (f + 4).min(toks.len());
                out.push(UrgencySignal {
                    kind: UrgencyKind::Question,
                    trigger: join(s, f, end),
                });
            }
        }
    }
}

fn join(s: &Scratch, a: usize, b: usize) -> String {
    let mut out = String::new();
    for t in &s.toks[a..b] {
        let txt = s.tok_text(t);
        if !out.is_empty() && t.kind != TokKind::Punct {
            out.push(' ');
        }
        if t.kind == TokKind::Hashtag {
            out.push('#');
        }
        out.push_str(txt);
    }
    out
}
