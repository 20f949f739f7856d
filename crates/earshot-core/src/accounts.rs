//! People who use the desk, their browser sessions, the corrections they
//! make to the analysis, and the read models the desk needs beyond the core
//! store contract (the inbox with its saved views, dashboards, author history).
//!
//! Passwords and session ids never reach this layer in clear: the web layer
//! hashes them (argon2 for passwords, SHA-256 for random session ids).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::analysis::{Analysis, CategoryScore, Sentiment, UrgencyKind, UrgencySignal};
use crate::auth::Role;
use crate::case::Case;
use crate::error::{Error, Result};
use crate::mention::Mention;
use crate::priority::Priority;
use crate::source::SourceKind;

/// A desk user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Login name: lowercase letters, digits, `.`, `-` and `_`.
    pub name: String,
    pub display_name: String,
    pub role: Role,
    /// Trainees' replies need approval (the workflow access rules decide).
    pub in_training: bool,
    pub teams: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// A user as an admin creates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub name: String,
    pub display_name: String,
    pub role: Role,
    pub in_training: bool,
    pub teams: Vec<String>,
}

impl NewUser {
    /// Checks the login name and team names.
    pub fn validate(mut self) -> Result<NewUser> {
        let name = self.name.trim().to_lowercase();
        let ok = (1..=64).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !ok {
            return Err(Error::invalid_field(
                "name",
                "must be 1-64 characters: letters, digits, '.', '-' or '_'",
            ));
        }
        self.name = name;
        self.display_name = self.display_name.trim().to_string();
        if self.display_name.is_empty() {
            self.display_name = self.name.clone();
        }
        crate::mention::reject_nul("display_name", &self.display_name)?;
        if self.display_name.chars().count() > 128 {
            return Err(Error::invalid_field(
                "display_name",
                "must be at most 128 characters",
            ));
        }
        let mut teams: Vec<String> = self
            .teams
            .iter()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        if teams
            .iter()
            .any(|t| t.len() > 64 || t.chars().any(char::is_control))
        {
            return Err(Error::invalid_field(
                "teams",
                "team names must be at most 64 printable characters",
            ));
        }
        teams.sort();
        teams.dedup();
        self.teams = teams;
        Ok(self)
    }
}

/// A user with their stored password hash (PHC string), for login.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

/// A live browser session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    /// Compared with the `csrf_token` field of every form the session posts.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Which analysis an agent corrected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionTask {
    Sentiment,
    Category,
    /// The label is an urgency kind (`legal_threat`, …) or `none`.
    Urgency,
}

/// The urgency label that clears every urgency signal.
pub const NO_URGENCY: &str = "none";

impl CorrectionTask {
    pub fn as_str(self) -> &'static str {
        match self {
            CorrectionTask::Sentiment => "sentiment",
            CorrectionTask::Category => "category",
            CorrectionTask::Urgency => "urgency",
        }
    }
    pub fn parse(s: &str) -> Option<CorrectionTask> {
        match s {
            "sentiment" => Some(CorrectionTask::Sentiment),
            "category" => Some(CorrectionTask::Category),
            "urgency" => Some(CorrectionTask::Urgency),
            _ => None,
        }
    }

    /// What the model said for this task, as a label.
    pub fn label_of(self, a: &Analysis) -> Option<String> {
        match self {
            CorrectionTask::Sentiment => Some(a.sentiment.as_str().to_string()),
            CorrectionTask::Category => a.top_category().map(str::to_string),
            CorrectionTask::Urgency => Some(match a.urgency.first() {
                Some(u) => u.kind.as_str().to_string(),
                None => NO_URGENCY.to_string(),
            }),
        }
    }

    /// The analysis with an agent's label in place of the model's: the
    /// label is certain, so its probability is 1 (a corrected sentiment
    /// scores -1, 0 or 1, which is what priority reads). Returns the
    /// analysis and the label as stored.
    pub fn apply(self, a: &Analysis, label: &str) -> Result<(Analysis, String)> {
        let label = label.trim();
        if label.is_empty() || label.len() > 64 || label.chars().any(char::is_control) {
            return Err(Error::invalid_field(
                "label",
                "must be 1-64 printable characters",
            ));
        }
        let mut out = a.clone();
        match self {
            CorrectionTask::Sentiment => {
                let s = Sentiment::parse(label).ok_or_else(|| {
                    Error::invalid_field("label", "must be negative, neutral or positive")
                })?;
                out.sentiment = s;
                out.sentiment_score = match s {
                    Sentiment::Negative => -1.0,
                    Sentiment::Neutral => 0.0,
                    Sentiment::Positive => 1.0,
                };
                out.sentiment_confidence = 1.0;
            }
            CorrectionTask::Category => {
                out.categories.retain(|c| c.name != label);
                out.categories.insert(
                    0,
                    CategoryScore {
                        name: label.to_string(),
                        score: 1.0,
                        terms: Vec::new(),
                    },
                );
            }
            CorrectionTask::Urgency if label == NO_URGENCY => out.urgency.clear(),
            CorrectionTask::Urgency => {
                let kind = UrgencyKind::parse(label).ok_or_else(|| {
                    Error::invalid_field(
                        "label",
                        "must be none, churn_intent, legal_threat, safety, public_shaming \
                         or question",
                    )
                })?;
                // Keep the words that triggered this kind; the others were wrong.
                out.urgency.retain(|u| u.kind == kind);
                if out.urgency.is_empty() {
                    out.urgency.push(UrgencySignal {
                        kind,
                        trigger: "agent correction".into(),
                    });
                }
            }
        }
        Ok((out, label.to_string()))
    }
}

/// An agent's correction of one mention's analysis: training data.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Correction {
    pub id: i64,
    pub mention_id: i64,
    pub task: CorrectionTask,
    /// The mention text at the time of the correction.
    pub text: String,
    pub label: String,
    /// What the model said.
    pub previous: Option<String>,
    /// The whole analysis before this correction (absent on corrections
    /// made before it was kept).
    pub original: Option<Analysis>,
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

/// A correction with everything it changes, written in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCorrection {
    pub mention_id: i64,
    pub task: CorrectionTask,
    pub label: String,
    pub actor: String,
    /// The mention's analysis as the correction read it; the store refuses
    /// (conflict) when it changed since.
    pub original: Analysis,
    pub corrected: Analysis,
    /// The case's badge and priority after the correction.
    pub case: Option<CorrectedCase>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CorrectedCase {
    pub id: i64,
    pub sentiment: Sentiment,
    pub category: Option<String>,
    pub priority: Priority,
}

/// The inbox: active cases (new, open, pending): those waiting on the
/// brand first, then by priority, then the longest wait.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InboxQuery {
    /// `Some("none")` for unassigned.
    pub assignee: Option<String>,
    pub team: Option<String>,
    pub source: Option<SourceKind>,
    pub category: Option<String>,
    pub location: Option<String>,
    pub sentiment: Option<Sentiment>,
    pub min_priority: Option<f32>,
    pub max_priority: Option<f32>,
    /// Cases created in `[from, to)`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only cases the SLA clock says are breached or about to be, and that
    /// still wait on the brand.
    pub sla_breaching: bool,
    /// A location manager's scope: only cases at one of these locations.
    pub locations: Option<Vec<String>>,
    /// Full-text search over the case's mentions.
    pub q: Option<String>,
    /// Include resolved and closed cases too (dashboard drill-downs).
    pub any_status: bool,
    /// Only the cases behind a CSAT number.
    pub csat: Option<crate::csat::CsatFilter>,
    /// Only resolved cases with this recovery outcome (any status implied).
    pub recovery: Option<crate::recovery::RecoveryOutcome>,
    pub limit: u32,
    pub offset: u32,
}

/// One bucket of the volume chart.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DayVolume {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub negative: i64,
    pub neutral: i64,
    pub positive: i64,
}

/// Numbers behind the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DashboardStats {
    /// Mentions per day by sentiment, oldest first.
    pub volume: Vec<DayVolume>,
    /// Active cases per priority band: [0,25), [25,50), [50,75), [75,100].
    pub open_by_priority: [i64; 4],
    /// Minutes from the customer's post to the first reply that reached
    /// them, for answered cases.
    pub first_response_minutes: Vec<f64>,
    /// Minutes from the customer's post to resolution, for resolved cases.
    pub resolution_minutes: Vec<f64>,
}

/// Everything the desk needs from storage beyond [`crate::store::Store`].
#[async_trait]
pub trait Accounts: Send + Sync + 'static {
    /// Fails with `conflict` when the name is taken.
    async fn create_user(
        &self,
        user: &NewUser,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<User>;
    async fn set_password(&self, name: &str, password_hash: &str) -> Result<()>;
    async fn credentials(&self, name: &str) -> Result<Option<Credentials>>;
    async fn users(&self) -> Result<Vec<User>>;

    async fn create_session(
        &self,
        id_hash: &str,
        user: &str,
        csrf_token: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()>;
    /// A live session; expired ones are not returned.
    async fn session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<Session>>;
    async fn delete_session(&self, id_hash: &str) -> Result<()>;

    /// Stores a correction of a mention's analysis with the mention text and
    /// the original analysis, puts the corrected analysis on the mention and
    /// the new badge and priority on its case, and records it in the case's
    /// audit trail: all in one transaction.
    async fn add_correction(&self, c: &NewCorrection, now: DateTime<Utc>) -> Result<Correction>;
    /// All corrections, oldest first; the latest per (mention, task) wins in
    /// training. With `locations`, only corrections of mentions whose case is
    /// at one of them.
    async fn corrections(&self, locations: Option<&[String]>) -> Result<Vec<Correction>>;

    /// Appends an audit event to a case (e.g. a personalisation override).
    async fn record_event(
        &self,
        case_id: i64,
        actor: &str,
        action: &str,
        details: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// The inbox page; uses the active-queue index, never scans all cases.
    async fn inbox(&self, query: &InboxQuery) -> Result<Vec<Case>>;
    /// The author's other mentions and cases, newest first.
    async fn author_history(
        &self,
        source: SourceKind,
        handle: &str,
        limit: u32,
    ) -> Result<(Vec<Mention>, Vec<Case>)>;
    /// Bodies of the latest sent replies, newest first (near-duplicate check).
    async fn recent_reply_bodies(&self, limit: u32) -> Result<Vec<String>>;
    async fn dashboard(&self, since: DateTime<Utc>) -> Result<DashboardStats>;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn user(name: &str) -> NewUser {
        NewUser {
            name: name.into(),
            display_name: String::new(),
            role: Role::Agent,
            in_training: false,
            teams: vec![" billing ".into(), "billing".into(), "".into()],
        }
    }

    #[test]
    fn names_are_normalised_and_checked() {
        let u = user(" Jane.Doe ")
            .validate()
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(u.name, "jane.doe");
        assert_eq!(u.display_name, "jane.doe");
        assert_eq!(u.teams, vec!["billing".to_string()]);
        assert!(user("jane doe").validate().is_err());
        assert!(user("").validate().is_err());
        let nul = NewUser {
            display_name: "Jane\u{0}".into(),
            ..user("jane")
        };
        let err = nul.validate().err().map(|e| e.message).unwrap_or_default();
        assert!(err.starts_with("display_name:"), "{err}");
    }

    #[test]
    fn correction_tasks_round_trip() {
        for t in [
            CorrectionTask::Sentiment,
            CorrectionTask::Category,
            CorrectionTask::Urgency,
        ] {
            assert_eq!(CorrectionTask::parse(t.as_str()), Some(t));
        }
        assert_eq!(CorrectionTask::parse("language"), None);
    }

    fn angry() -> Analysis {
        Analysis {
            sentiment: Sentiment::Negative,
            sentiment_score: -0.8,
            sentiment_confidence: 0.7,
            categories: vec![
                CategoryScore {
                    name: "delivery".into(),
                    score: 0.6,
                    terms: vec!["parcel".into()],
                },
                CategoryScore {
                    name: "billing".into(),
                    score: 0.3,
                    terms: vec![],
                },
            ],
            urgency: vec![
                UrgencySignal {
                    kind: UrgencyKind::LegalThreat,
                    trigger: "my lawyer".into(),
                },
                UrgencySignal {
                    kind: UrgencyKind::Question,
                    trigger: "?".into(),
                },
            ],
            ..Analysis::default()
        }
    }

    #[test]
    fn a_correction_puts_the_label_in_the_analysis_with_certainty() {
        let a = angry();
        let (s, label) = CorrectionTask::Sentiment.apply(&a, " positive ").unwrap();
        assert_eq!(label, "positive");
        assert_eq!(
            (s.sentiment, s.sentiment_score, s.sentiment_confidence),
            (Sentiment::Positive, 1.0, 1.0)
        );
        assert_eq!(s.categories, a.categories);

        let (c, _) = CorrectionTask::Category.apply(&a, "billing").unwrap();
        let names: Vec<&str> = c.categories.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["billing", "delivery"]);
        assert_eq!(c.top_category(), Some("billing"));

        let (u, _) = CorrectionTask::Urgency.apply(&a, "question").unwrap();
        assert_eq!(u.urgency, a.urgency[1..]);
        let (u, _) = CorrectionTask::Urgency.apply(&a, "safety").unwrap();
        assert_eq!(u.urgency[0].kind, UrgencyKind::Safety);
        let (u, _) = CorrectionTask::Urgency.apply(&a, NO_URGENCY).unwrap();
        assert!(u.urgency.is_empty());

        assert_eq!(
            CorrectionTask::Urgency.label_of(&a).as_deref(),
            Some("legal_threat")
        );
        assert_eq!(
            CorrectionTask::Category.label_of(&a).as_deref(),
            Some("delivery")
        );
        for (task, bad) in [
            (CorrectionTask::Sentiment, "furious"),
            (CorrectionTask::Urgency, "soon"),
            (CorrectionTask::Category, ""),
        ] {
            assert_eq!(
                task.apply(&a, bad).unwrap_err().code,
                crate::error::ErrorCode::InvalidField
            );
        }
    }
}
