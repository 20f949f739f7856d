//! Advocates: the happy customers worth thanking and growing. This module
//! holds the ranking (pure: a 0–100 score that always carries its
//! breakdown, like a case's priority), the shapes the store answers in, and
//! the store contract for the thank-you queue.
//!
//! # The ranking
//!
//! Four factors, each a strength in `[0, 1]`, weighted to 100 points:
//!
//! | factor | strength | weight |
//! |---|---|---|
//! | frequency | `ln(1 + positive) / ln(1 + 20)`, at most 1 (20 positive posts is full) | 35 |
//! | reach | `log10(1 + followers) / 6`, at most 1 (a million followers is full) | 25 |
//! | sentiment | their share of positive posts among all their posts | 20 |
//! | recency | `0.5 ^ (days since their last positive post / 14)` | 20 |
//!
//! `score = Σ weight × strength`. Frequency and reach are log-scaled so one
//! celebrity or one chatty fan does not drown everyone else; sentiment
//! keeps an author who also complains a lot below one who only praises;
//! recency halves every 14 days so the list favours people who are happy
//! now.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::case::Case;
use crate::error::Result;
use crate::ids::{CaseId, MentionId, ReplyId};
use crate::mention::Mention;
use crate::reply::ReplyStatus;
use crate::source::SourceKind;

/// Points of each factor at full strength (they add up to 100).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RankWeights {
    pub frequency: f32,
    pub reach: f32,
    pub sentiment: f32,
    pub recency: f32,
    /// Positive posts at which frequency is at full strength.
    pub frequency_full_at: f32,
    /// Followers at which reach is at full strength.
    pub reach_full_at: f32,
    /// Days after which recency has halved.
    pub recency_half_life_days: f32,
}

impl Default for RankWeights {
    fn default() -> Self {
        RankWeights {
            frequency: 35.0,
            reach: 25.0,
            sentiment: 20.0,
            recency: 20.0,
            frequency_full_at: 20.0,
            reach_full_at: 1_000_000.0,
            recency_half_life_days: 14.0,
        }
    }
}

/// What an author's rank is computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankInputs {
    /// Their positive posts (in the window asked for).
    pub positive: i64,
    /// All their posts (in the same window), positive included.
    pub total: i64,
    pub followers: i64,
    /// When they last posted something positive (their clock).
    pub last_positive_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// One factor of the rank, with the points it contributed and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RankComponent {
    pub factor: String,
    /// Strength in `[0, 1]`.
    pub value: f32,
    pub weight: f32,
    pub points: f32,
    pub reason: String,
}

/// An advocate's 0–100 rank with its parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, Default)]
pub struct Rank {
    pub score: f32,
    pub breakdown: Vec<RankComponent>,
}

/// `ln(1 + x) / ln(1 + full)`, clamped to `[0, 1]`.
fn log_share(x: f64, full: f64, ln: fn(f64) -> f64) -> f64 {
    if x <= 0.0 || full <= 0.0 {
        return 0.0;
    }
    (ln(1.0 + x) / ln(1.0 + full)).clamp(0.0, 1.0)
}

/// Reach alone (log-scaled followers), also used to order the thank-you queue.
pub fn reach_strength(followers: i64, weights: &RankWeights) -> f32 {
    log_share(
        followers.max(0) as f64,
        f64::from(weights.reach_full_at),
        f64::log10,
    ) as f32
}

impl Rank {
    pub fn compute(inputs: &RankInputs, weights: &RankWeights) -> Rank {
        let positive = inputs.positive.max(0);
        let total = inputs.total.max(positive);
        let frequency = log_share(
            positive as f64,
            f64::from(weights.frequency_full_at),
            f64::ln,
        ) as f32;
        let reach = reach_strength(inputs.followers, weights);
        let sentiment = if total == 0 {
            0.0
        } else {
            positive as f32 / total as f32
        };
        // A post "from the future" (a skewed clock) counts as just now.
        let days = ((inputs.now - inputs.last_positive_at).num_seconds().max(0) as f64) / 86_400.0;
        let half_life = f64::from(weights.recency_half_life_days.max(0.01));
        let recency = if positive == 0 {
            0.0
        } else {
            0.5f64.powf(days / half_life) as f32
        };
        let parts = [
            (
                "frequency",
                frequency,
                weights.frequency,
                format!(
                    "{positive} positive post{}",
                    if positive == 1 { "" } else { "s" }
                ),
            ),
            (
                "reach",
                reach,
                weights.reach,
                format!("{} followers", inputs.followers.max(0)),
            ),
            (
                "sentiment",
                sentiment,
                weights.sentiment,
                format!("{positive} of {total} posts positive"),
            ),
            (
                "recency",
                recency,
                weights.recency,
                format!("last positive post {:.0} days ago", days.floor()),
            ),
        ];
        let breakdown: Vec<RankComponent> = parts
            .into_iter()
            .map(|(factor, value, weight, reason)| RankComponent {
                factor: factor.into(),
                value,
                weight,
                points: round2(value * weight),
                reason,
            })
            .collect();
        let score = round2(breakdown.iter().map(|c| c.value * c.weight).sum::<f32>());
        Rank { score, breakdown }
    }
}

fn round2(v: f32) -> f32 {
    (v * 100.0).round() / 100.0
}

/// What the store knows about one advocate (in the window asked for).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AdvocateStats {
    pub source: SourceKind,
    /// Lowercase, without `@`.
    pub handle: String,
    /// The display name of their latest post, when the platform gave one.
    pub display_name: Option<String>,
    pub followers: i64,
    /// Positive posts that needed no case (the advocates list's own count,
    /// all time).
    pub positive_mentions: i64,
    /// Positive posts in the window, in cases or not.
    pub positive: i64,
    /// All their posts in the window.
    pub total: i64,
    /// Mean sentiment score of their posts in the window, in `[-1, 1]`.
    pub mean_sentiment: f64,
    #[schema(value_type = i64)]
    pub last_mention_id: MentionId,
    pub last_seen: DateTime<Utc>,
    /// Their latest positive post in the window.
    pub last_positive_at: Option<DateTime<Utc>>,
    /// Thank-yous sent to them (any delivery state).
    pub thanked: i64,
}

/// What the advocates list is filtered by.
#[derive(Debug, Clone, Default)]
pub struct AdvocateFilter {
    pub source: Option<SourceKind>,
    /// Only posts from this moment on count (and only authors with a
    /// positive post since then are listed).
    pub since: Option<DateTime<Utc>>,
    /// Only these authors (handles, any case); an empty list matches nobody.
    pub handles: Option<Vec<String>>,
    /// Location managers: only advocates whose latest no-case positive post
    /// (`last_mention_id`) belongs to a case at one of these locations.
    pub locations: Option<Vec<String>>,
}

/// What the agent decided for a mention in the thank-you queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThanksDecision {
    /// A thank-you reply was submitted (see its reply's status for whether
    /// it reached the customer).
    Thanked,
    /// Not worth thanking; nothing was sent.
    Skipped,
}

impl ThanksDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            ThanksDecision::Thanked => "thanked",
            ThanksDecision::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<ThanksDecision> {
        [ThanksDecision::Thanked, ThanksDecision::Skipped]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// One decision of the thank-you queue, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ThanksRecord {
    #[schema(value_type = i64)]
    pub mention_id: MentionId,
    pub decision: ThanksDecision,
    /// Who decided.
    pub actor: String,
    pub at: DateTime<Utc>,
    /// The text sent, or for a skip the suggestion that was on screen.
    pub text: String,
    /// Sent although the personalisation check flagged it.
    pub overridden: bool,
    /// What the check said when it was overridden.
    pub reasons: Vec<String>,
    /// The small case the thank-you was sent on.
    #[schema(value_type = Option<i64>)]
    pub case_id: Option<CaseId>,
    #[schema(value_type = Option<i64>)]
    pub reply_id: Option<ReplyId>,
    /// Where the reply stands now: `queued` (in the outbox), `sent`,
    /// `manual` (an agent must post it by hand), `pending_approval`,
    /// `failed`. `None` for a skip. Only `sent` means it reached them.
    pub reply_status: Option<ReplyStatus>,
    pub source: SourceKind,
    pub handle: String,
}

/// A thank-you about to be recorded with its small case.
#[derive(Debug, Clone, PartialEq)]
pub struct NewThanks<'a> {
    pub mention_id: MentionId,
    pub actor: &'a str,
    pub text: &'a str,
    pub overridden: bool,
    pub reasons: &'a [String],
    pub now: DateTime<Utc>,
}

/// The tag every thank-you case carries.
pub const THANK_YOU_TAG: &str = "thank-you";

/// The thank-you queue and advocate profiles in storage.
#[async_trait]
pub trait AdvocateStore: Send + Sync + 'static {
    /// Advocates with their counts, unordered (the caller ranks them).
    async fn advocate_stats(&self, filter: &AdvocateFilter) -> Result<Vec<AdvocateStats>>;
    /// Positive posts that need no case, are not private, were posted at or
    /// after `since`, have no thanks decision yet, and whose author is not
    /// on the `brand` or `blocked` author list; newest first, at most
    /// `limit`.
    async fn thanks_candidates(&self, since: DateTime<Utc>, limit: u32) -> Result<Vec<Mention>>;
    /// One stored mention.
    async fn mention_by_id(&self, id: MentionId) -> Result<Option<Mention>>;
    /// Whether `handle` (any case) is on one of the brand's author lists.
    async fn on_author_list(&self, list: &str, handle: &str) -> Result<bool>;
    /// The decision recorded for a mention, if any.
    async fn thanks_for(&self, mention: MentionId) -> Result<Option<ThanksRecord>>;
    /// Records a skip; 409 when the mention was already thanked or skipped.
    async fn skip_thanks(
        &self,
        mention: MentionId,
        actor: &str,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<ThanksRecord>;
    /// In one transaction: records the thank-you, opens its small case
    /// (tagged [`THANK_YOU_TAG`], the mention joins it) and returns it.
    /// 409 when the mention was already decided or has a case.
    async fn open_thanks_case(&self, thanks: &NewThanks<'_>) -> Result<CaseId>;
    /// Links the submitted reply to the thank-you.
    async fn attach_thanks_reply(&self, mention: MentionId, reply: ReplyId) -> Result<()>;
    /// Undoes [`AdvocateStore::open_thanks_case`] when the reply could not be
    /// submitted: the record, the case and its events go, the mention is
    /// back in the queue. Refused once the case has a reply.
    async fn abandon_thanks(&self, mention: MentionId) -> Result<()>;
    /// The latest thank-yous (not skips) of everyone, newest first.
    async fn recent_thanks(&self, limit: u32) -> Result<Vec<ThanksRecord>>;
    /// Thank-yous and skips for one author, newest first.
    async fn thanks_of(&self, source: SourceKind, handle: &str) -> Result<Vec<ThanksRecord>>;
    /// One author's posts (newest first, at most `limit`) and cases (any
    /// status), the handle matched case-insensitively.
    async fn author_activity(
        &self,
        source: SourceKind,
        handle: &str,
        limit: u32,
    ) -> Result<(Vec<Mention>, Vec<Case>)>;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
    }

    fn inputs(positive: i64, total: i64, followers: i64, days_ago: i64) -> RankInputs {
        RankInputs {
            positive,
            total,
            followers,
            last_positive_at: now() - chrono::TimeDelta::days(days_ago),
            now: now(),
        }
    }

    fn part(r: &Rank, factor: &str) -> f32 {
        r.breakdown
            .iter()
            .find(|c| c.factor == factor)
            .map(|c| c.value)
            .unwrap()
    }

    #[test]
    fn a_full_strength_advocate_scores_100_and_the_parts_add_up() {
        let r = Rank::compute(&inputs(20, 20, 1_000_000, 0), &RankWeights::default());
        assert!((r.score - 100.0).abs() < 0.01, "{r:?}");
        let sum: f32 = r.breakdown.iter().map(|c| c.points).sum();
        assert!((sum - r.score).abs() < 0.05, "{r:?}");
        assert_eq!(
            r.breakdown
                .iter()
                .map(|c| c.factor.as_str())
                .collect::<Vec<_>>(),
            ["frequency", "reach", "sentiment", "recency"]
        );
    }

    #[test]
    fn frequency_and_reach_are_log_scaled() {
        let w = RankWeights::default();
        let one = part(&Rank::compute(&inputs(1, 1, 0, 0), &w), "frequency");
        let four = part(&Rank::compute(&inputs(4, 4, 0, 0), &w), "frequency");
        // ln 2 / ln 21 and ln 5 / ln 21.
        assert!((one - 0.2277).abs() < 0.001, "{one}");
        assert!((four - 0.5286).abs() < 0.001, "{four}");
        let capped = part(&Rank::compute(&inputs(500, 500, 0, 0), &w), "frequency");
        assert_eq!(capped, 1.0);
        // log10(1001) / 6 ≈ 0.5; ten times the followers adds a sixth.
        let k = part(&Rank::compute(&inputs(1, 1, 1_000, 0), &w), "reach");
        let k10 = part(&Rank::compute(&inputs(1, 1, 10_000, 0), &w), "reach");
        assert!((k - 0.5001).abs() < 0.001, "{k}");
        assert!((k10 - k - 1.0 / 6.0).abs() < 0.001);
        assert_eq!(
            part(&Rank::compute(&inputs(1, 1, 0, 0), &w), "reach"),
            0.0,
            "no followers, no reach"
        );
    }

    #[test]
    fn someone_who_also_complains_ranks_below_someone_who_only_praises() {
        let w = RankWeights::default();
        let fan = Rank::compute(&inputs(3, 3, 500, 1), &w);
        let mixed = Rank::compute(&inputs(3, 12, 500, 1), &w);
        assert_eq!(part(&fan, "sentiment"), 1.0);
        assert_eq!(part(&mixed, "sentiment"), 0.25);
        assert!(fan.score > mixed.score);
    }

    #[test]
    fn recency_halves_every_fourteen_days() {
        let w = RankWeights::default();
        let today = part(&Rank::compute(&inputs(2, 2, 10, 0), &w), "recency");
        let two_weeks = part(&Rank::compute(&inputs(2, 2, 10, 14), &w), "recency");
        let four_weeks = part(&Rank::compute(&inputs(2, 2, 10, 28), &w), "recency");
        assert_eq!(today, 1.0);
        assert!((two_weeks - 0.5).abs() < 1e-4);
        assert!((four_weeks - 0.25).abs() < 1e-4);
        // A skewed clock in the future counts as now, not as extra credit.
        let mut future = inputs(2, 2, 10, 0);
        future.last_positive_at = now() + chrono::TimeDelta::days(3);
        assert_eq!(part(&Rank::compute(&future, &w), "recency"), 1.0);
    }

    #[test]
    fn nothing_positive_scores_only_reach() {
        let r = Rank::compute(&inputs(0, 5, 1_000_000, 0), &RankWeights::default());
        assert_eq!(part(&r, "frequency"), 0.0);
        assert_eq!(part(&r, "sentiment"), 0.0);
        assert_eq!(part(&r, "recency"), 0.0);
        assert!((r.score - 25.0).abs() < 0.01);
        // Totals below the positive count are treated as the positive count.
        let odd = Rank::compute(&inputs(3, 1, 0, 0), &RankWeights::default());
        assert_eq!(part(&odd, "sentiment"), 1.0);
    }

    #[test]
    fn decisions_round_trip() {
        for d in [ThanksDecision::Thanked, ThanksDecision::Skipped] {
            assert_eq!(ThanksDecision::parse(d.as_str()), Some(d));
        }
        assert_eq!(ThanksDecision::parse("sent"), None);
    }
}
