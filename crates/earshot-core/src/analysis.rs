//! What Earshot reads in a post, and the pipeline-stage interface that
//! computes it. The engine lives in `earshot-analysis`; this module only fixes
//! the shape of its answer so the store, the API and the UI agree on it.

use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Sentiment {
    Negative,
    #[default]
    Neutral,
    Positive,
}

impl Sentiment {
    pub const ALL: [Sentiment; 3] = [Sentiment::Negative, Sentiment::Neutral, Sentiment::Positive];

    pub fn as_str(self) -> &'static str {
        match self {
            Sentiment::Negative => "negative",
            Sentiment::Neutral => "neutral",
            Sentiment::Positive => "positive",
        }
    }

    pub fn parse(s: &str) -> Option<Sentiment> {
        Sentiment::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A reason a post must not wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UrgencyKind {
    /// "cancel my account", "switching to …"
    ChurnIntent,
    /// "my lawyer", "sue", "small claims"
    LegalThreat,
    /// "food poisoning", "injured", "fire"
    Safety,
    /// Public shaming or virality cues: "everyone retweet", "going viral".
    PublicShaming,
    /// A direct question waiting for an answer.
    Question,
}

impl UrgencyKind {
    pub const ALL: [UrgencyKind; 5] = [
        UrgencyKind::ChurnIntent,
        UrgencyKind::LegalThreat,
        UrgencyKind::Safety,
        UrgencyKind::PublicShaming,
        UrgencyKind::Question,
    ];

    /// The serialised name, e.g. `legal_threat`.
    pub fn as_str(self) -> &'static str {
        match self {
            UrgencyKind::ChurnIntent => "churn_intent",
            UrgencyKind::LegalThreat => "legal_threat",
            UrgencyKind::Safety => "safety",
            UrgencyKind::PublicShaming => "public_shaming",
            UrgencyKind::Question => "question",
        }
    }

    pub fn parse(s: &str) -> Option<UrgencyKind> {
        UrgencyKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One urgency signal with the words that triggered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UrgencySignal {
    pub kind: UrgencyKind,
    pub trigger: String,
}

/// A complaint category from the configured taxonomy, with its score and,
/// for the top category, the words behind it: a taxonomy keyword that
/// matched first, then the words that pushed the model towards it most. A
/// category listed only because its keyword matched carries that keyword.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CategoryScore {
    pub name: String,
    pub score: f32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terms: Vec<String>,
}

/// A token that pushed the sentiment decision, with its signed weight
/// (negative values push towards negative sentiment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evidence {
    pub term: String,
    pub weight: f32,
}

/// The analysis of one post. Every field explains itself: scores, the terms
/// behind them, and what could not be judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, Default)]
pub struct Analysis {
    /// ISO 639-1 code, `None` when the detector was not confident enough.
    pub language: Option<String>,
    /// Detector confidence in `[0, 1]`.
    pub language_confidence: f32,
    pub sentiment: Sentiment,
    /// Signed strength in `[-1, 1]`: P(positive) - P(negative).
    pub sentiment_score: f32,
    /// Calibrated probability of the chosen label.
    pub sentiment_confidence: f32,
    pub complaint: bool,
    /// Calibrated probability that the post is a complaint.
    pub complaint_score: f32,
    /// Complaint categories, best first; empty when not a complaint.
    #[serde(default)]
    pub categories: Vec<CategoryScore>,
    #[serde(default)]
    pub urgency: Vec<UrgencySignal>,
    /// The terms behind the sentiment decision, strongest first.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// What the analysis could not judge (e.g. "sentiment: language 'ko' is
    /// not covered by the models"), so nobody mistakes a default for a reading.
    #[serde(default)]
    pub not_judged: Vec<String>,
    /// Identifies the models that produced this analysis.
    #[serde(default)]
    pub model: String,
}

impl Analysis {
    pub fn has_urgency(&self, kind: UrgencyKind) -> bool {
        self.urgency.iter().any(|u| u.kind == kind)
    }

    /// A direct question is waiting for an answer.
    pub fn is_question(&self) -> bool {
        self.has_urgency(UrgencyKind::Question)
    }

    pub fn top_category(&self) -> Option<&str> {
        self.categories.first().map(|c| c.name.as_str())
    }
}

/// The analysis pipeline stage. Implementations must be cheap to call from
/// many threads at once: ingestion runs it on every mention before storing.
pub trait Analyzer: Send + Sync {
    fn analyze(&self, text: &str) -> Analysis;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentiment_parse_round_trips() {
        for s in Sentiment::ALL {
            assert_eq!(Sentiment::parse(s.as_str()), Some(s));
        }
        assert_eq!(Sentiment::parse("angry"), None);
    }

    #[test]
    fn urgency_kinds_round_trip_as_serialised() {
        for k in UrgencyKind::ALL {
            assert_eq!(UrgencyKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).ok(),
                Some(serde_json::json!(k.as_str()))
            );
        }
    }

    #[test]
    fn question_is_an_urgency_signal() {
        let mut a = Analysis::default();
        assert!(!a.is_question());
        a.urgency.push(UrgencySignal {
            kind: UrgencyKind::Question,
            trigger: "?".into(),
        });
        assert!(a.is_question());
    }
}
