//! Language identification that admits doubt. A cheap English check over the
//! tokens (function words) answers most customer-care traffic; everything else
//! goes to whatlang, whose answer is kept only when it says it is reliable.
//! Short texts (fewer than three words) are reported as unsure.

use crate::text::{Scratch, TokKind, fnv};

/// Languages the sentiment model was trained on (ISO 639-1).
pub const SENTIMENT_LANGS: [&str; 8] = ["en", "es", "fr", "de", "it", "pt", "ar", "hi"];
/// Languages the complaint and category models were trained on.
pub const COMPLAINT_LANGS: [&str; 1] = ["en"];

const EN_WORDS: &[&str] = &[
    "the", "and", "is", "are", "was", "were", "you", "your", "my", "i", "it", "this", "that",
    "with", "for", "have", "has", "not", "to", "of", "be", "will", "just", "what", "why", "how",
    "can", "don't", "it's", "i'm", "we", "they", "our", "but", "from", "get", "got", "been",
    "would", "could", "please", "thanks", "thank", "when", "me", "at", "on", "an", "all", "still",
    "now", "no", "they're", "you're", "can't", "didn't", "there", "their", "about", "if", "do",
];

#[derive(Debug, Clone)]
pub struct LangId {
    en: Vec<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LangGuess {
    /// ISO 639-1 where known (639-3 otherwise); `None` when unsure.
    pub code: Option<&'static str>,
    pub confidence: f32,
}

impl LangId {
    pub fn new() -> LangId {
        let mut en: Vec<u64> = EN_WORDS.iter().map(|w| fnv(w.as_bytes())).collect();
        en.sort_unstable();
        LangId { en }
    }

    pub fn detect(&self, text: &str, s: &Scratch) -> LangGuess {
        let mut words = 0usize;
        let mut en_hits = 0usize;
        let mut non_ascii_letters = false;
        for t in &s.toks {
            if t.kind == TokKind::Word {
                words += 1;
                if self.en.binary_search(&t.hash).is_ok() {
                    en_hits += 1;
                }
                if !s.tok_text(t).is_ascii() {
                    non_ascii_letters = true;
                }
            }
        }
        if !non_ascii_letters && en_hits >= 2 && en_hits * 5 >= words {
            return LangGuess {
                code: Some("en"),
                confidence: (0.7 + 0.05 * en_hits as f32).min(0.99),
            };
        }
        if words < 3 {
            return LangGuess {
                code: None,
                confidence: 0.0,
            };
        }
        match whatlang::detect(text) {
            Some(info) if info.is_reliable() => LangGuess {
                code: Some(iso639_1(info.lang())),
                confidence: info.confidence() as f32,
            },
            Some(info) => LangGuess {
                code: None,
                confidence: info.confidence() as f32,
            },
            None => LangGuess {
                code: None,
                confidence: 0.0,
            },
        }
    }
}

impl Default for LangId {
    fn default() -> Self {
        LangId::new()
    }
}

fn iso639_1(l: whatlang::Lang) -> &'static str {
    use whatlang::Lang::*;
    match l {
        Eng => "en",
        Spa => "es",
        Por => "pt",
        Fra => "fr",
        Deu => "de",
        Ita => "it",
        Ara => "ar",
        Hin => "hi",
        Nld => "nl",
        Rus => "ru",
        Jpn => "ja",
        Kor => "ko",
        Cmn => "zh",
        Tur => "tr",
        Pol => "pl",
        Swe => "sv",
        Dan => "da",
        Nob => "nb",
        Fin => "fi",
        Ukr => "uk",
        Ind => "id",
        Vie => "vi",
        Tha => "th",
        Heb => "he",
        Ell => "el",
        Ces => "cs",
        Ron => "ro",
        Hun => "hu",
        Cat => "ca",
        Pes => "fa",
        Urd => "ur",
        Ben => "bn",
        other => other.code(),
    }
}
