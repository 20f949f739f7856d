//! Placeholder engine; the real one replaces this module (see issue "Analysis engine").

use earshot_core::{Analysis, Analyzer, Sentiment};

/// The analysis engine with the models shipped in the repository.
#[derive(Debug, Default)]
pub struct Engine;

impl Engine {
    /// Loads the models embedded in the binary.
    pub fn builtin() -> Engine {
        Engine
    }
}

impl Analyzer for Engine {
    fn analyze(&self, text: &str) -> Analysis {
        let lower = text.to_lowercase();
        let negative = ["never", "refund", "cancel", "worst", "broken", "late"]
            .iter()
            .any(|w| lower.contains(w));
        Analysis {
            sentiment: if negative { Sentiment::Negative } else { Sentiment::Neutral },
            complaint: negative,
            model: "placeholder".into(),
            ..Analysis::default()
        }
    }
}
