//! Recovery: did an unhappy customer come back round after their case was
//! resolved?
//!
//! For every resolved case Earshot follows what the case's author says in
//! public for a window after the resolution (30 days unless configured) and
//! compares it with their tone when the case opened:
//!
//! - **before**: the author's public posts that opened the case: those posted
//!   up to the brand's first answer, or only the first post when the brand
//!   never answered (a case resolved without a reply). The author was
//!   negative before when any of them reads negative.
//! - **after**: the author's public posts (same source, same handle,
//!   case-insensitive) posted after the resolution and within the window,
//!   whether they joined the case or not. Private posts (DMs, chats,
//!   emails) are never evidence, before or after: recovery reads only what
//!   the author said in public.
//!
//! How several later posts combine: a churn signal in any later post that
//! does not read positive ("cancelling my account", "switching to …")
//! makes the case **lost**; otherwise the latest post decides: negative is
//! **lost**, neutral or positive is **recovered**. With no later post the
//! case is **watching** while the window is open and **unknown** once it
//! closed. An author who was not negative before is **not_applicable**.
//!
//! Inside the window every outcome is provisional (`final` is false): a
//! "thanks" makes the case recovered, and a churn post a week later still
//! makes it lost. At the window's end the outcome becomes final and is not
//! reassessed. A case that is reopened and resolved again is assessed from
//! its latest resolution.
//!
//! The recovery rate of a group is recovered / (recovered + lost +
//! unknown): cases still in their window (watching, or provisionally
//! recovered or lost) count by their current outcome; not_applicable cases
//! are left out. Silence (unknown) counts against the rate: a customer who
//! never speaks again in public has not been seen to come round.

use async_trait::async_trait;
use chrono::{DateTime, Datelike, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::analysis::{Sentiment, UrgencyKind};
use crate::error::{Error, Result};
use crate::ids::{CaseId, MentionId};
use crate::mention::Mention;
use crate::source::SourceKind;

/// How long after a resolution Earshot follows the author, unless configured.
pub const DEFAULT_WINDOW_DAYS: u32 = 30;
/// The longest window accepted.
pub const MAX_WINDOW_DAYS: u32 = 365;

/// A window of `days` days, checked against `1..=MAX_WINDOW_DAYS`.
pub fn window_days(days: u32) -> Result<TimeDelta> {
    if (1..=MAX_WINDOW_DAYS).contains(&days) {
        Ok(TimeDelta::days(i64::from(days)))
    } else {
        Err(Error::invalid_field(
            "recovery_window_days",
            format!("must be 1-{MAX_WINDOW_DAYS} days, not {days}"),
        ))
    }
}

/// Where a resolved case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryOutcome {
    /// Negative before, neutral or positive in the latest later post (and
    /// no churn signal).
    Recovered,
    /// Negative before, and negative again later or a churn signal.
    Lost,
    /// Negative before, and the window closed without a later public post.
    Unknown,
    /// Negative before, the window is still open and no later post yet.
    Watching,
    /// The author was not negative before (or had no public opening post).
    NotApplicable,
}

impl RecoveryOutcome {
    pub const ALL: [RecoveryOutcome; 5] = [
        RecoveryOutcome::Recovered,
        RecoveryOutcome::Lost,
        RecoveryOutcome::Unknown,
        RecoveryOutcome::Watching,
        RecoveryOutcome::NotApplicable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecoveryOutcome::Recovered => "recovered",
            RecoveryOutcome::Lost => "lost",
            RecoveryOutcome::Unknown => "unknown",
            RecoveryOutcome::Watching => "watching",
            RecoveryOutcome::NotApplicable => "not_applicable",
        }
    }

    pub fn parse(s: &str) -> Option<RecoveryOutcome> {
        RecoveryOutcome::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for RecoveryOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One post as recovery reads it: when, its tone, and whether it carries a
/// churn signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TonePost {
    pub mention_id: MentionId,
    /// The customer's clock (the post's `created_at`).
    pub created_at: DateTime<Utc>,
    pub sentiment: Sentiment,
    pub churn: bool,
    /// Heard in a private channel: never evidence.
    pub private: bool,
}

impl TonePost {
    pub fn of(m: &Mention) -> TonePost {
        TonePost {
            mention_id: m.id,
            created_at: m.mention.created_at,
            sentiment: m.analysis.sentiment,
            churn: m.analysis.has_urgency(UrgencyKind::ChurnIntent),
            private: m.mention.origin.as_ref().is_some_and(|o| o.private),
        }
    }
}

/// What one assessment reads.
#[derive(Debug, Clone, Copy)]
pub struct RecoveryInput<'a> {
    pub case_id: CaseId,
    /// The case's latest resolution.
    pub resolved_at: DateTime<Utc>,
    /// The brand's first answer in the case, if any.
    pub first_response_at: Option<DateTime<Utc>>,
    /// The case author's posts in the case (any order; private ones and
    /// posts after the resolution are skipped here).
    pub case_posts: &'a [TonePost],
    /// The author's posts after the resolution (any order; private ones
    /// and those outside the window are skipped here).
    pub later_posts: &'a [TonePost],
    pub window: TimeDelta,
    pub now: DateTime<Utc>,
}

/// A case's recovery as assessed at `assessed_at`, with the mentions that
/// decided it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecoveryAssessment {
    #[schema(value_type = i64)]
    pub case_id: CaseId,
    pub outcome: RecoveryOutcome,
    /// The author's tone when the case opened; `null` without a public
    /// opening post.
    pub before: Option<Sentiment>,
    /// The tone of the later post that decided; `null` without one.
    pub after: Option<Sentiment>,
    /// The opening posts that set `before` (the negative ones when it is
    /// negative).
    #[schema(value_type = Vec<i64>)]
    pub before_mentions: Vec<MentionId>,
    /// The later posts that decided: the churn posts, or the latest post.
    #[schema(value_type = Vec<i64>)]
    pub after_mentions: Vec<MentionId>,
    /// Public posts by the author in the window so far.
    pub later_posts: u32,
    /// The resolution assessed from.
    pub resolved_at: DateTime<Utc>,
    /// When the window closes (`resolved_at` + the window).
    pub window_end: DateTime<Utc>,
    /// The window has closed: the outcome no longer changes.
    #[serde(rename = "final")]
    pub is_final: bool,
    pub assessed_at: DateTime<Utc>,
    /// One sentence saying why, for the desk.
    pub reason: String,
}

/// The author's opening posts: public, posted by the resolution, up to the
/// brand's first answer, or only the first post without one (or when every
/// post came after the answer, as with clocks that disagree).
fn opening(input: &RecoveryInput<'_>) -> Vec<TonePost> {
    let mut posts: Vec<TonePost> = input
        .case_posts
        .iter()
        .filter(|p| !p.private && p.created_at <= input.resolved_at)
        .copied()
        .collect();
    posts.sort_by_key(|p| (p.created_at, p.mention_id));
    let answered: Vec<TonePost> = match input.first_response_at {
        Some(first) => posts
            .iter()
            .filter(|p| p.created_at <= first)
            .copied()
            .collect(),
        None => Vec::new(),
    };
    if answered.is_empty() {
        posts.into_iter().take(1).collect()
    } else {
        answered
    }
}

/// The least happy tone of `posts`.
fn worst(posts: &[TonePost]) -> Option<Sentiment> {
    let rank = |s: Sentiment| match s {
        Sentiment::Negative => 0,
        Sentiment::Neutral => 1,
        Sentiment::Positive => 2,
    };
    posts.iter().map(|p| p.sentiment).min_by_key(|s| rank(*s))
}

/// Assesses one resolution. Pure: the same input gives the same answer.
pub fn assess(input: &RecoveryInput<'_>) -> RecoveryAssessment {
    let window_end = input.resolved_at + input.window;
    let is_final = input.now >= window_end;
    let opening = opening(input);
    let before = worst(&opening);
    let mut later: Vec<TonePost> = input
        .later_posts
        .iter()
        .filter(|p| !p.private && p.created_at > input.resolved_at && p.created_at <= window_end)
        .copied()
        .collect();
    later.sort_by_key(|p| (p.created_at, p.mention_id));
    later.dedup_by_key(|p| p.mention_id);
    let mut out = RecoveryAssessment {
        case_id: input.case_id,
        outcome: RecoveryOutcome::NotApplicable,
        before,
        after: None,
        before_mentions: Vec::new(),
        after_mentions: Vec::new(),
        later_posts: u32::try_from(later.len()).unwrap_or(u32::MAX),
        resolved_at: input.resolved_at,
        window_end,
        is_final,
        assessed_at: input.now,
        reason: String::new(),
    };
    if before != Some(Sentiment::Negative) {
        out.before_mentions = opening.iter().map(|p| p.mention_id).collect();
        out.reason = match before {
            None => "the author has no public post opening the case".into(),
            Some(tone) => format!(
                "the author was {} when the case opened, not negative",
                tone.as_str()
            ),
        };
        return out;
    }
    out.before_mentions = opening
        .iter()
        .filter(|p| p.sentiment == Sentiment::Negative)
        .map(|p| p.mention_id)
        .collect();
    let churn: Vec<&TonePost> = later
        .iter()
        .filter(|p| p.churn && p.sentiment != Sentiment::Positive)
        .collect();
    if let Some(last_churn) = churn.last() {
        out.outcome = RecoveryOutcome::Lost;
        out.after = Some(last_churn.sentiment);
        out.after_mentions = churn.iter().map(|p| p.mention_id).collect();
        out.reason = "a later post signals churn".into();
    } else if let Some(latest) = later.last() {
        out.after = Some(latest.sentiment);
        out.after_mentions = vec![latest.mention_id];
        if latest.sentiment == Sentiment::Negative {
            out.outcome = RecoveryOutcome::Lost;
            out.reason = "the author's latest post is still negative".into();
        } else {
            out.outcome = RecoveryOutcome::Recovered;
            out.reason = format!(
                "negative before, {} in the author's latest post",
                latest.sentiment.as_str()
            );
        }
    } else if is_final {
        out.outcome = RecoveryOutcome::Unknown;
        out.reason = "the window closed without a later public post".into();
    } else {
        out.outcome = RecoveryOutcome::Watching;
        out.reason = "no later public post yet; the window is open".into();
    }
    if !is_final && out.outcome != RecoveryOutcome::Watching {
        out.reason
            .push_str(" (provisional until the window closes)");
    }
    out
}

/// How the summary groups cases.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryGroupBy {
    /// The case's assignee (`null`: unassigned).
    Agent,
    Team,
    Category,
    Source,
    /// The month of the resolution, `YYYY-MM` (UTC).
    #[default]
    Month,
}

/// One assessed case as the summary groups it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryRow {
    pub outcome: RecoveryOutcome,
    pub assignee: Option<String>,
    pub team: Option<String>,
    pub category: Option<String>,
    pub source: String,
    pub resolved_at: DateTime<Utc>,
}

impl RecoveryRow {
    fn key(&self, by: RecoveryGroupBy) -> Option<String> {
        match by {
            RecoveryGroupBy::Agent => self.assignee.clone(),
            RecoveryGroupBy::Team => self.team.clone(),
            RecoveryGroupBy::Category => self.category.clone(),
            RecoveryGroupBy::Source => Some(self.source.clone()),
            RecoveryGroupBy::Month => Some(format!(
                "{:04}-{:02}",
                self.resolved_at.year(),
                self.resolved_at.month()
            )),
        }
    }
}

/// The numbers of one group.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema, Default)]
pub struct RecoveryGroup {
    /// The group's value (an agent, a team, a category, a source, a
    /// `YYYY-MM` month); `null` for cases without one (unassigned, no team,
    /// no category).
    pub key: Option<String>,
    /// Cases whose author was negative before: recovered + lost + unknown +
    /// watching.
    pub assessed: u64,
    pub recovered: u64,
    pub lost: u64,
    pub unknown: u64,
    pub watching: u64,
    /// Resolved cases whose author was not negative before (not in `assessed`).
    pub not_applicable: u64,
    /// recovered / (recovered + lost + unknown); `null` when that is 0.
    pub recovery_rate: Option<f64>,
}

impl RecoveryGroup {
    fn add(&mut self, outcome: RecoveryOutcome) {
        match outcome {
            RecoveryOutcome::Recovered => self.recovered += 1,
            RecoveryOutcome::Lost => self.lost += 1,
            RecoveryOutcome::Unknown => self.unknown += 1,
            RecoveryOutcome::Watching => self.watching += 1,
            RecoveryOutcome::NotApplicable => self.not_applicable += 1,
        }
        self.assessed = self.recovered + self.lost + self.unknown + self.watching;
        let decided = self.recovered + self.lost + self.unknown;
        self.recovery_rate = (decided > 0).then(|| self.recovered as f64 / decided as f64);
    }
}

/// The recovery rates of resolved cases, grouped.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RecoverySummary {
    pub by: RecoveryGroupBy,
    /// Cases resolved at or after this (when given).
    pub from: Option<DateTime<Utc>>,
    /// Cases resolved before this (when given).
    pub to: Option<DateTime<Utc>>,
    /// How long after a resolution the author is followed.
    pub window_days: u32,
    /// Groups sorted by key, `null` last.
    pub groups: Vec<RecoveryGroup>,
    /// Every case of the groups together.
    pub total: RecoveryGroup,
}

/// Groups assessed cases by `by`, groups sorted by key (`null` last); the
/// second value is the total over every row.
pub fn summarise(rows: &[RecoveryRow], by: RecoveryGroupBy) -> (Vec<RecoveryGroup>, RecoveryGroup) {
    let mut groups: std::collections::BTreeMap<(bool, String), RecoveryGroup> =
        std::collections::BTreeMap::new();
    let mut total = RecoveryGroup::default();
    for row in rows {
        let key = row.key(by);
        let slot = (key.is_none(), key.clone().unwrap_or_default());
        groups
            .entry(slot)
            .or_insert_with(|| RecoveryGroup {
                key,
                ..RecoveryGroup::default()
            })
            .add(row.outcome);
        total.add(row.outcome);
    }
    (groups.into_values().collect(), total)
}

/// Assessed outcomes, stored. A stored assessment belongs to one
/// resolution (its `resolved_at`): once the case is reopened or resolved
/// again it is stale, and neither [`RecoveryStore::recovery`], the summary
/// rows nor the cases filter see it.
#[async_trait]
pub trait RecoveryStore: Send + Sync + 'static {
    /// Resolved cases whose assessment is due, oldest resolution first, at
    /// most `limit`: none stored yet, stored for another resolution or
    /// another window, or provisional and either past its window's end at
    /// `now` or with a public post by the author received since it was
    /// assessed. With `since`, only cases resolved at or after it plus the
    /// provisional ones (a cheap pass); without, every resolved case (a
    /// sweep, e.g. at start).
    async fn recovery_due(
        &self,
        now: DateTime<Utc>,
        window: TimeDelta,
        since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<CaseId>>;
    /// The author's public posts (not private, same source, handle compared
    /// case-insensitively) posted after `after` and at or before `until`,
    /// oldest first, at most `limit`, whatever case they joined.
    async fn later_public_mentions(
        &self,
        source: SourceKind,
        handle: &str,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Mention>>;
    /// Stores (replaces) the case's assessment.
    async fn save_recovery(&self, assessment: &RecoveryAssessment) -> Result<()>;
    /// The stored assessment of the case's current resolution.
    async fn recovery(&self, case_id: CaseId) -> Result<Option<RecoveryAssessment>>;
    /// The current assessments of cases resolved in `[from, to)`, with what
    /// the summary groups by; with `locations`, only cases at one of them.
    async fn recovery_rows(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        locations: Option<&[String]>,
    ) -> Result<Vec<RecoveryRow>>;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use Sentiment::*;

    fn t(day: i64, hour: i64) -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
            + TimeDelta::days(day)
            + TimeDelta::hours(hour)
    }

    fn post(id: i64, at: DateTime<Utc>, sentiment: Sentiment) -> TonePost {
        TonePost {
            mention_id: MentionId(id),
            created_at: at,
            sentiment,
            churn: false,
            private: false,
        }
    }

    fn churn(id: i64, at: DateTime<Utc>, sentiment: Sentiment) -> TonePost {
        TonePost {
            churn: true,
            ..post(id, at, sentiment)
        }
    }

    /// A case opened negative on day 0, answered at hour 2, resolved on
    /// day 1; assessed at `now` with `later`.
    fn run(case: &[TonePost], later: &[TonePost], now: DateTime<Utc>) -> RecoveryAssessment {
        assess(&RecoveryInput {
            case_id: CaseId(7),
            resolved_at: t(1, 0),
            first_response_at: Some(t(0, 2)),
            case_posts: case,
            later_posts: later,
            window: TimeDelta::days(30),
            now,
        })
    }

    fn negative_case() -> Vec<TonePost> {
        vec![post(1, t(0, 0), Negative), post(2, t(0, 1), Neutral)]
    }

    #[test]
    fn a_negative_author_who_posts_positively_later_is_recovered() {
        let a = run(&negative_case(), &[post(9, t(3, 0), Positive)], t(40, 0));
        assert_eq!(a.outcome, RecoveryOutcome::Recovered);
        assert_eq!(a.before, Some(Negative));
        assert_eq!(a.after, Some(Positive));
        assert_eq!(a.before_mentions, vec![MentionId(1)]);
        assert_eq!(a.after_mentions, vec![MentionId(9)]);
        assert!(a.is_final);
        assert_eq!(a.window_end, t(31, 0));
        // Neutral counts as recovered too.
        let a = run(&negative_case(), &[post(9, t(3, 0), Neutral)], t(40, 0));
        assert_eq!(a.outcome, RecoveryOutcome::Recovered);
    }

    #[test]
    fn staying_negative_or_a_churn_signal_is_lost() {
        let a = run(&negative_case(), &[post(9, t(3, 0), Negative)], t(40, 0));
        assert_eq!(a.outcome, RecoveryOutcome::Lost);
        assert_eq!(a.after_mentions, vec![MentionId(9)]);
        // Churn anywhere in the window wins over a later happy post.
        let later = [churn(8, t(2, 0), Neutral), post(9, t(5, 0), Positive)];
        let a = run(&negative_case(), &later, t(40, 0));
        assert_eq!(a.outcome, RecoveryOutcome::Lost);
        assert_eq!(a.after, Some(Neutral));
        assert_eq!(a.after_mentions, vec![MentionId(8)]);
        // A positive post that trips the churn words ("switching to you")
        // is not churn.
        let a = run(&negative_case(), &[churn(9, t(3, 0), Positive)], t(40, 0));
        assert_eq!(a.outcome, RecoveryOutcome::Recovered);
    }

    #[test]
    fn the_latest_post_decides_without_churn() {
        let later = [post(8, t(2, 0), Positive), post(9, t(4, 0), Negative)];
        assert_eq!(
            run(&negative_case(), &later, t(40, 0)).outcome,
            RecoveryOutcome::Lost
        );
        // Given in any order.
        let later = [post(9, t(4, 0), Positive), post(8, t(2, 0), Negative)];
        let a = run(&negative_case(), &later, t(40, 0));
        assert_eq!(a.outcome, RecoveryOutcome::Recovered);
        assert_eq!(a.later_posts, 2);
        assert_eq!(a.after_mentions, vec![MentionId(9)]);
    }

    #[test]
    fn silence_is_watching_in_the_window_and_unknown_after() {
        let a = run(&negative_case(), &[], t(10, 0));
        assert_eq!(a.outcome, RecoveryOutcome::Watching);
        assert!(!a.is_final);
        let a = run(&negative_case(), &[], t(31, 0));
        assert_eq!(a.outcome, RecoveryOutcome::Unknown);
        assert!(a.is_final);
        assert!(a.after_mentions.is_empty());
    }

    #[test]
    fn outcomes_inside_the_window_are_provisional() {
        let later = [post(9, t(3, 0), Positive)];
        let a = run(&negative_case(), &later, t(4, 0));
        assert_eq!(a.outcome, RecoveryOutcome::Recovered);
        assert!(!a.is_final);
        assert!(a.reason.contains("provisional"), "{}", a.reason);
        // A week later the same author signals churn: lost.
        let later = [post(9, t(3, 0), Positive), churn(10, t(9, 0), Negative)];
        assert_eq!(
            run(&negative_case(), &later, t(10, 0)).outcome,
            RecoveryOutcome::Lost
        );
    }

    #[test]
    fn posts_outside_the_window_and_private_posts_are_not_evidence() {
        let private = TonePost {
            private: true,
            ..post(9, t(3, 0), Positive)
        };
        let later = [
            private,
            post(10, t(0, 12), Positive), // before the resolution
            post(11, t(31, 1), Positive), // after the window
        ];
        let a = run(&negative_case(), &later, t(40, 0));
        assert_eq!(a.outcome, RecoveryOutcome::Unknown);
        assert_eq!(a.later_posts, 0);
        // The window's last instant is inside it.
        let a = run(&negative_case(), &[post(12, t(31, 0), Positive)], t(40, 0));
        assert_eq!(a.outcome, RecoveryOutcome::Recovered);
    }

    #[test]
    fn an_author_who_was_not_negative_is_not_applicable() {
        let case = [post(1, t(0, 0), Neutral), post(2, t(0, 1), Positive)];
        let a = run(&case, &[post(9, t(3, 0), Negative)], t(40, 0));
        assert_eq!(a.outcome, RecoveryOutcome::NotApplicable);
        assert_eq!(a.before, Some(Neutral));
        assert_eq!(a.before_mentions, vec![MentionId(1), MentionId(2)]);
        // A case opened only in private has no public "before".
        let dm = TonePost {
            private: true,
            ..post(1, t(0, 0), Negative)
        };
        let a = run(&[dm], &[post(9, t(3, 0), Positive)], t(40, 0));
        assert_eq!(a.outcome, RecoveryOutcome::NotApplicable);
        assert_eq!(a.before, None);
    }

    #[test]
    fn before_is_the_posts_up_to_the_first_answer_or_the_first_post() {
        // A negative post after the brand's first answer is not "before".
        let case = [post(1, t(0, 0), Neutral), post(2, t(0, 3), Negative)];
        let a = run(&case, &[], t(40, 0));
        assert_eq!(a.outcome, RecoveryOutcome::NotApplicable);
        // Without an answer only the first post counts.
        let input = RecoveryInput {
            case_id: CaseId(7),
            resolved_at: t(1, 0),
            first_response_at: None,
            case_posts: &[post(2, t(0, 3), Neutral), post(1, t(0, 0), Negative)],
            later_posts: &[],
            window: TimeDelta::days(30),
            now: t(40, 0),
        };
        let a = assess(&input);
        assert_eq!(a.outcome, RecoveryOutcome::Unknown);
        assert_eq!(a.before_mentions, vec![MentionId(1)]);
        // The "thanks" that joined the resolved case is after, not before.
        let case = [post(1, t(0, 0), Negative), post(3, t(2, 0), Positive)];
        let a = run(&case, &[post(3, t(2, 0), Positive)], t(40, 0));
        assert_eq!(a.outcome, RecoveryOutcome::Recovered);
        assert_eq!(a.before_mentions, vec![MentionId(1)]);
    }

    #[test]
    fn the_window_is_bounded() {
        assert_eq!(window_days(30).unwrap(), TimeDelta::days(30));
        assert!(window_days(0).is_err());
        assert!(window_days(MAX_WINDOW_DAYS + 1).is_err());
    }

    #[test]
    fn outcomes_round_trip() {
        for o in RecoveryOutcome::ALL {
            assert_eq!(RecoveryOutcome::parse(o.as_str()), Some(o));
            assert_eq!(
                serde_json::to_value(o).unwrap(),
                serde_json::json!(o.as_str())
            );
        }
    }

    fn row(outcome: RecoveryOutcome, agent: Option<&str>, month: u32) -> RecoveryRow {
        RecoveryRow {
            outcome,
            assignee: agent.map(str::to_string),
            team: None,
            category: Some("billing".into()),
            source: "mastodon".into(),
            resolved_at: format!("2026-{month:02}-15T12:00:00Z").parse().unwrap(),
        }
    }

    #[test]
    fn the_summary_counts_by_hand() {
        use RecoveryOutcome::*;
        let rows = [
            row(Recovered, Some("ann"), 1),
            row(Recovered, Some("ann"), 1),
            row(Lost, Some("ann"), 2),
            row(Unknown, Some("bob"), 2),
            row(Watching, Some("bob"), 2),
            row(NotApplicable, None, 2),
            row(Recovered, None, 2),
        ];
        let (groups, total) = summarise(&rows, RecoveryGroupBy::Agent);
        let keys: Vec<Option<&str>> = groups.iter().map(|g| g.key.as_deref()).collect();
        assert_eq!(keys, vec![Some("ann"), Some("bob"), None]);
        // ann: 2 recovered, 1 lost → 2/3.
        let ann = &groups[0];
        assert_eq!((ann.assessed, ann.recovered, ann.lost), (3, 2, 1));
        assert!((ann.recovery_rate.unwrap() - 2.0 / 3.0).abs() < 1e-9);
        // bob: 1 unknown, 1 watching → 0 of 1 decided.
        let bob = &groups[1];
        assert_eq!((bob.assessed, bob.unknown, bob.watching), (2, 1, 1));
        assert_eq!(bob.recovery_rate, Some(0.0));
        // unassigned: 1 recovered, 1 not applicable (not assessed).
        let none = &groups[2];
        assert_eq!((none.assessed, none.not_applicable), (1, 1));
        assert_eq!(none.recovery_rate, Some(1.0));
        // Total: 3 recovered of 3 + 1 + 1 decided.
        assert_eq!(total.assessed, 6);
        assert_eq!(total.not_applicable, 1);
        assert!((total.recovery_rate.unwrap() - 0.6).abs() < 1e-9);

        let (months, _) = summarise(&rows, RecoveryGroupBy::Month);
        let keys: Vec<Option<&str>> = months.iter().map(|g| g.key.as_deref()).collect();
        assert_eq!(keys, vec![Some("2026-01"), Some("2026-02")]);
        assert_eq!(months[0].recovery_rate, Some(1.0));
        // Only watching: no rate at all.
        let (_, total) = summarise(&[row(Watching, None, 3)], RecoveryGroupBy::Team);
        assert_eq!(total.recovery_rate, None);
    }
}
