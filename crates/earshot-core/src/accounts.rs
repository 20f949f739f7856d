//! People who use the desk, their browser sessions, the corrections they
//! make to the analysis, and the read models the desk needs beyond the core
//! store contract (the inbox with its saved views, dashboards, author history).
//!
//! Passwords and session ids never reach this layer in clear: the web layer
//! hashes them (argon2 for passwords, SHA-256 for random session ids).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::analysis::Sentiment;
use crate::auth::Role;
use crate::case::Case;
use crate::error::{Error, Result};
use crate::mention::Mention;
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
}

impl CorrectionTask {
    pub fn as_str(self) -> &'static str {
        match self {
            CorrectionTask::Sentiment => "sentiment",
            CorrectionTask::Category => "category",
        }
    }
    pub fn parse(s: &str) -> Option<CorrectionTask> {
        match s {
            "sentiment" => Some(CorrectionTask::Sentiment),
            "category" => Some(CorrectionTask::Category),
            _ => None,
        }
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
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

/// The first-response target the desk shows until the workflow SLA engine
/// is wired into it.
pub const FIRST_RESPONSE_TARGET_MINUTES: i64 = 60;
/// The SLA countdown turns amber this many minutes before the target.
pub const SLA_WARNING_MINUTES: i64 = 15;

/// The inbox: active cases (new, open, pending), by priority then age.
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
    /// Unanswered cases older than this: past or near their first-response target.
    pub unanswered_since_before: Option<DateTime<Utc>>,
    /// Full-text search over the case's mentions.
    pub q: Option<String>,
    /// Include resolved and closed cases too (dashboard drill-downs).
    pub any_status: bool,
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
    /// Minutes from case creation to the first sent reply, for answered cases.
    pub first_response_minutes: Vec<f64>,
    /// Minutes from case creation to resolution, for resolved cases.
    pub resolution_minutes: Vec<f64>,
    /// Cases whose first response is due (answered, or unanswered past target).
    pub sla_due: i64,
    /// Of those, answered within the target.
    pub sla_met: i64,
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

    /// Stores a correction of a mention's sentiment or category, with the
    /// mention text, and records it in the case's audit trail.
    async fn add_correction(
        &self,
        mention_id: i64,
        task: CorrectionTask,
        label: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Correction>;
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
    async fn dashboard(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> Result<DashboardStats>;
}

#[cfg(test)]
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
    }

    #[test]
    fn correction_tasks_round_trip() {
        for t in [CorrectionTask::Sentiment, CorrectionTask::Category] {
            assert_eq!(CorrectionTask::parse(t.as_str()), Some(t));
        }
        assert_eq!(CorrectionTask::parse("urgency"), None);
    }
}
