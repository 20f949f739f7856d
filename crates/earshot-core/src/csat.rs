//! Customer satisfaction (CSAT), asked in the customer's own private
//! channel and stored on the case.
//!
//! - **Policy**: `on_resolve` (ask once a delay after the case is
//!   resolved), `on_demand` (only when an agent asks) or `never`, set as a
//!   default, per team and per source. [`effective_policy`] is the one rule
//!   deciding which applies.
//! - **Request**: one per case, `scheduled → sent | no_channel →
//!   answered | expired` ([`CsatRequest::state`]).
//! - **Rating**: 1–5 with an optional, length-limited comment ([`Rating`]).
//! - **Link**: `/csat/{token}`, where the token is the request id and the
//!   link's expiry signed with HMAC-SHA256 ([`LinkKey`]): the only
//!   capability the public page accepts.
//!
//! Everything here is pure: no clock, no storage.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, ErrorCode, Result};
use crate::ids::{CaseId, CsatRequestId, ReplyId, SourceId};
use crate::source::SourceKind;

/// The delay of the default policy: a day after the case is resolved, as
/// Zendesk's satisfaction survey waits.
pub const DEFAULT_DELAY_MINUTES: u32 = 24 * 60;
/// The longest delay a policy may set (30 days).
pub const MAX_DELAY_MINUTES: u32 = 30 * 24 * 60;
/// How long a link works unless the node is configured otherwise.
pub const DEFAULT_LINK_TTL: TimeDelta = TimeDelta::days(7);
/// A request that fell due longer ago than this is not sent any more (the
/// case was resolved before CSAT was set up, or while no worker ran): a
/// survey weeks after the conversation helps nobody.
pub const LATE_LIMIT: TimeDelta = TimeDelta::days(7);
/// The longest comment kept, in characters.
pub const MAX_COMMENT_CHARS: usize = 1000;

/// When Earshot asks for a rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CsatMode {
    /// Automatically, `delay_minutes` after the case is resolved.
    OnResolve,
    /// Only when an agent asks (`POST /api/v1/cases/{id}/csat`).
    OnDemand,
    /// Never; not even on demand.
    Never,
}

impl CsatMode {
    pub const ALL: [CsatMode; 3] = [CsatMode::OnResolve, CsatMode::OnDemand, CsatMode::Never];

    pub fn as_str(self) -> &'static str {
        match self {
            CsatMode::OnResolve => "on_resolve",
            CsatMode::OnDemand => "on_demand",
            CsatMode::Never => "never",
        }
    }

    pub fn parse(s: &str) -> Option<CsatMode> {
        CsatMode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// A policy: its mode, and for `on_resolve` the delay after resolving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CsatPolicy {
    pub mode: CsatMode,
    /// Minutes after the case is resolved (`on_resolve` only; 0 to 43,200,
    /// default 1,440 = 24 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_minutes: Option<u32>,
}

impl CsatPolicy {
    /// The policy that applies when nothing is configured.
    pub const DEFAULT: CsatPolicy = CsatPolicy {
        mode: CsatMode::OnResolve,
        delay_minutes: Some(DEFAULT_DELAY_MINUTES),
    };

    pub fn never() -> Self {
        CsatPolicy {
            mode: CsatMode::Never,
            delay_minutes: None,
        }
    }

    pub fn on_demand() -> Self {
        CsatPolicy {
            mode: CsatMode::OnDemand,
            delay_minutes: None,
        }
    }

    pub fn on_resolve(delay_minutes: u32) -> Self {
        CsatPolicy {
            mode: CsatMode::OnResolve,
            delay_minutes: Some(delay_minutes),
        }
    }

    /// Checks the delay and drops it where the mode has none.
    pub fn validated(self, field: &str) -> Result<CsatPolicy> {
        match self.mode {
            CsatMode::OnResolve => {
                let delay = self.delay_minutes.unwrap_or(DEFAULT_DELAY_MINUTES);
                if delay > MAX_DELAY_MINUTES {
                    return Err(Error::invalid_field(
                        &format!("{field}.delay_minutes"),
                        format!("must be at most {MAX_DELAY_MINUTES} (30 days)"),
                    ));
                }
                Ok(CsatPolicy::on_resolve(delay))
            }
            CsatMode::OnDemand | CsatMode::Never => match self.delay_minutes {
                Some(_) => Err(Error::invalid_field(
                    &format!("{field}.delay_minutes"),
                    format!(
                        "only an on_resolve policy has a delay, not {}",
                        self.mode.as_str()
                    ),
                )),
                None => Ok(self),
            },
        }
    }

    /// The delay after resolving, for `on_resolve`.
    pub fn delay(&self) -> Option<TimeDelta> {
        (self.mode == CsatMode::OnResolve).then(|| {
            TimeDelta::minutes(i64::from(
                self.delay_minutes.unwrap_or(DEFAULT_DELAY_MINUTES),
            ))
        })
    }
}

/// A team's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamCsatPolicy {
    pub team: String,
    pub policy: CsatPolicy,
}

/// A source's policy (a configured source: one account, feed or mailbox).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceCsatPolicy {
    #[schema(value_type = i64)]
    pub source_id: SourceId,
    pub policy: CsatPolicy,
}

/// Every CSAT policy: the default, and those set per team and per source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CsatPolicies {
    /// Applies where no team or source policy does (on_resolve after 24 h
    /// unless changed).
    #[serde(default = "default_policy")]
    pub default: CsatPolicy,
    #[serde(default)]
    pub teams: Vec<TeamCsatPolicy>,
    #[serde(default)]
    pub sources: Vec<SourceCsatPolicy>,
}

fn default_policy() -> CsatPolicy {
    CsatPolicy::DEFAULT
}

impl Default for CsatPolicies {
    fn default() -> Self {
        CsatPolicies {
            default: CsatPolicy::DEFAULT,
            teams: Vec::new(),
            sources: Vec::new(),
        }
    }
}

impl CsatPolicies {
    /// Checks every policy (delays, team names, no team or source twice).
    pub fn validated(self) -> Result<CsatPolicies> {
        let default = self.default.validated("default")?;
        let mut teams: Vec<TeamCsatPolicy> = Vec::new();
        for (i, t) in self.teams.into_iter().enumerate() {
            let field = format!("teams[{i}]");
            crate::mention::reject_nul(&format!("{field}.team"), &t.team)?;
            let team = t.team.trim().to_string();
            if team.is_empty() || team.chars().count() > 64 || team.chars().any(char::is_control) {
                return Err(Error::invalid_field(
                    &format!("{field}.team"),
                    "must be 1-64 printable characters",
                ));
            }
            if teams.iter().any(|x| x.team == team) {
                return Err(Error::invalid_field(
                    &format!("{field}.team"),
                    format!("{team:?} is listed twice"),
                ));
            }
            teams.push(TeamCsatPolicy {
                team,
                policy: t.policy.validated(&format!("{field}.policy"))?,
            });
        }
        let mut sources: Vec<SourceCsatPolicy> = Vec::new();
        for (i, s) in self.sources.into_iter().enumerate() {
            let field = format!("sources[{i}]");
            if sources.iter().any(|x| x.source_id == s.source_id) {
                return Err(Error::invalid_field(
                    &format!("{field}.source_id"),
                    format!("source {} is listed twice", s.source_id),
                ));
            }
            sources.push(SourceCsatPolicy {
                source_id: s.source_id,
                policy: s.policy.validated(&format!("{field}.policy"))?,
            });
        }
        Ok(CsatPolicies {
            default,
            teams,
            sources,
        })
    }

    pub fn team(&self, team: Option<&str>) -> Option<&CsatPolicy> {
        let team = team?;
        self.teams
            .iter()
            .find(|t| t.team == team)
            .map(|t| &t.policy)
    }

    pub fn source(&self, source: Option<SourceId>) -> Option<&CsatPolicy> {
        let source = source?;
        self.sources
            .iter()
            .find(|s| s.source_id == source)
            .map(|s| &s.policy)
    }

    /// The policy for a case of `team` heard through `source`.
    pub fn for_case(&self, team: Option<&str>, source: Option<SourceId>) -> EffectivePolicy {
        effective_policy(&self.default, self.team(team), self.source(source))
    }

    /// The longest on_resolve delay of any policy: how far back a scan for
    /// due requests must look.
    pub fn longest_delay(&self) -> TimeDelta {
        std::iter::once(&self.default)
            .chain(self.teams.iter().map(|t| &t.policy))
            .chain(self.sources.iter().map(|s| &s.policy))
            .filter_map(CsatPolicy::delay)
            .max()
            .unwrap_or(TimeDelta::zero())
    }

    /// The shortest on_resolve delay: no case resolved more recently than
    /// this can be due.
    pub fn shortest_delay(&self) -> TimeDelta {
        std::iter::once(&self.default)
            .chain(self.teams.iter().map(|t| &t.policy))
            .chain(self.sources.iter().map(|s| &s.policy))
            .filter_map(CsatPolicy::delay)
            .min()
            .unwrap_or(TimeDelta::zero())
    }
}

/// Where the policy that applies to a case was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyOrigin {
    Default,
    Team,
    Source,
}

/// The policy that applies to one case, and where it was set.
/// Its OpenAPI schema is [`EffectivePolicyShape`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EffectivePolicy {
    #[serde(flatten)]
    pub policy: CsatPolicy,
    pub from: PolicyOrigin,
}

// The OpenAPI schema of `EffectivePolicy`: the policy's fields and `from`
// in one object. Derived from the flattened struct itself, it would be an
// `allOf` with `CsatPolicy`, whose `additionalProperties: false` no answer
// can meet.
/// The policy that applies to one case (its mode and delay) and where it
/// was set (`from`).
#[derive(utoipa::ToSchema)]
#[schema(as = EffectivePolicy)]
#[allow(dead_code)]
pub struct EffectivePolicyShape {
    mode: CsatMode,
    /// Minutes after the case is resolved (`on_resolve` only).
    delay_minutes: Option<u32>,
    from: PolicyOrigin,
}

/// Which policy applies to a case, given the default and the policies of
/// the case's team and source (when they have one):
///
/// 1. `never` on the team or on the source wins: a team or a channel that
///    must not be surveyed is never surveyed, whatever the other says;
/// 2. otherwise the team's policy (the team owns the conversation);
/// 3. otherwise the source's;
/// 4. otherwise the default (on_resolve after 24 h unless changed).
pub fn effective_policy(
    default: &CsatPolicy,
    team: Option<&CsatPolicy>,
    source: Option<&CsatPolicy>,
) -> EffectivePolicy {
    let at = |policy: &CsatPolicy, from| EffectivePolicy {
        policy: *policy,
        from,
    };
    match (team, source) {
        (Some(t), _) if t.mode == CsatMode::Never => at(t, PolicyOrigin::Team),
        (_, Some(s)) if s.mode == CsatMode::Never => at(s, PolicyOrigin::Source),
        (Some(t), _) => at(t, PolicyOrigin::Team),
        (None, Some(s)) => at(s, PolicyOrigin::Source),
        (None, None) => at(default, PolicyOrigin::Default),
    }
}

/// What started a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CsatTrigger {
    /// The on_resolve policy's delay passed.
    OnResolve,
    /// An agent asked for it.
    OnDemand,
}

impl CsatTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            CsatTrigger::OnResolve => "on_resolve",
            CsatTrigger::OnDemand => "on_demand",
        }
    }

    pub fn parse(s: &str) -> Option<CsatTrigger> {
        [CsatTrigger::OnResolve, CsatTrigger::OnDemand]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// How far the request's message got, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CsatDelivery {
    /// Created; its message is being sent (a worker holds it).
    Scheduled,
    /// The message left for the customer's private channel (see the
    /// reply's delivery for where it stands).
    Sent,
    /// No private channel could carry it (`no_channel_reason` says why);
    /// an agent may pass the link on by hand.
    NoChannel,
}

impl CsatDelivery {
    pub fn as_str(self) -> &'static str {
        match self {
            CsatDelivery::Scheduled => "scheduled",
            CsatDelivery::Sent => "sent",
            CsatDelivery::NoChannel => "no_channel",
        }
    }

    pub fn parse(s: &str) -> Option<CsatDelivery> {
        [
            CsatDelivery::Scheduled,
            CsatDelivery::Sent,
            CsatDelivery::NoChannel,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// Where a case's CSAT stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CsatState {
    /// Nothing asked and nothing planned (the case is not resolved, or its
    /// policy is on_demand or never).
    None,
    /// Will be asked (`scheduled_for`), or its message is being sent.
    Scheduled,
    Sent,
    NoChannel,
    Answered,
    /// The link expired unanswered.
    Expired,
}

impl CsatState {
    pub fn as_str(self) -> &'static str {
        match self {
            CsatState::None => "none",
            CsatState::Scheduled => "scheduled",
            CsatState::Sent => "sent",
            CsatState::NoChannel => "no_channel",
            CsatState::Answered => "answered",
            CsatState::Expired => "expired",
        }
    }
}

/// A rating as given: 1 (very unsatisfied) to 5 (very satisfied), with an
/// optional comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rating {
    pub score: u8,
    pub comment: Option<String>,
}

impl Rating {
    /// Checks a submitted rating: the score 1–5; the comment trimmed,
    /// empty as none, at most [`MAX_COMMENT_CHARS`], no NUL.
    pub fn new(score: i64, comment: Option<&str>) -> Result<Rating> {
        let score = u8::try_from(score)
            .ok()
            .filter(|s| (1..=5).contains(s))
            .ok_or_else(|| Error::invalid_field("score", "must be a whole number from 1 to 5"))?;
        let comment = match comment.map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => {
                crate::mention::reject_nul("comment", c)?;
                if c.chars().count() > MAX_COMMENT_CHARS {
                    return Err(Error::invalid_field(
                        "comment",
                        format!("must be at most {MAX_COMMENT_CHARS} characters"),
                    ));
                }
                Some(c.to_string())
            }
        };
        Ok(Rating { score, comment })
    }

    /// 4 or 5: counts toward the satisfied share.
    pub fn satisfied(&self) -> bool {
        self.score >= 4
    }
}

/// The customer's answer, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CsatAnswer {
    pub score: u8,
    pub comment: Option<String>,
    pub answered_at: DateTime<Utc>,
}

/// One case's CSAT request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CsatRequest {
    #[schema(value_type = i64)]
    pub id: CsatRequestId,
    #[schema(value_type = i64)]
    pub case_id: CaseId,
    pub trigger: CsatTrigger,
    pub delivery: CsatDelivery,
    /// The private message that carries the link, once there is one.
    #[schema(value_type = Option<i64>)]
    pub reply_id: Option<ReplyId>,
    /// Why no channel could carry it (`no_channel`).
    pub no_channel_reason: Option<String>,
    /// Who asked: `earshot` for the on_resolve policy, else the agent.
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The link works until then.
    pub expires_at: DateTime<Utc>,
    pub answer: Option<CsatAnswer>,
}

impl CsatRequest {
    /// Where it stands at `now`: answered, or expired once the link has,
    /// else how far its message got.
    pub fn state(&self, now: DateTime<Utc>) -> CsatState {
        if self.answer.is_some() {
            CsatState::Answered
        } else if now >= self.expires_at && self.delivery != CsatDelivery::Scheduled {
            CsatState::Expired
        } else {
            match self.delivery {
                CsatDelivery::Scheduled => CsatState::Scheduled,
                CsatDelivery::Sent => CsatState::Sent,
                CsatDelivery::NoChannel => CsatState::NoChannel,
            }
        }
    }

    /// Whether an agent may (re)send it now: only a request whose message
    /// never left (no channel) and that nobody answered.
    pub fn may_resend(&self) -> bool {
        self.answer.is_none() && self.delivery == CsatDelivery::NoChannel
    }
}

/// A request to create: once per case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCsatRequest {
    pub case_id: CaseId,
    pub trigger: CsatTrigger,
    pub requested_by: String,
    /// The source the case was heard through, for the record.
    pub source_id: Option<SourceId>,
    pub expires_at: DateTime<Utc>,
    /// How long the creating worker holds it while it sends.
    pub lease_until: DateTime<Utc>,
}

/// What answering a request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// Stored now.
    Stored(CsatRequest),
    /// It was answered before; the stored answer is unchanged.
    AlreadyAnswered(CsatRequest),
}

/// A resolved case without a request, as the scan for due requests sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsatCandidate {
    pub case_id: CaseId,
    pub team: Option<String>,
    /// The source of the latest mention heard through a configured source.
    pub source_id: Option<SourceId>,
    pub resolved_at: DateTime<Utc>,
}

/// When an on_resolve request for a case resolved at `resolved_at` falls
/// due under `policy`; `None` when the policy is not on_resolve.
pub fn due_at(policy: &CsatPolicy, resolved_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    policy.delay().map(|d| resolved_at + d)
}

/// Whether the scan sends now: on_resolve, due, and not past the late limit.
pub fn send_now(policy: &CsatPolicy, resolved_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    due_at(policy, resolved_at).is_some_and(|due| due <= now && now < due + LATE_LIMIT)
}

/// Why an agent's "ask now" is refused, or `Ok` when it may go ahead.
pub fn may_ask_on_demand(policy: &EffectivePolicy, existing: Option<&CsatRequest>) -> Result<()> {
    if policy.policy.mode == CsatMode::Never {
        let from = match policy.from {
            PolicyOrigin::Default => "the default policy",
            PolicyOrigin::Team => "the case's team",
            PolicyOrigin::Source => "the case's source",
        };
        return Err(Error::new(
            ErrorCode::Conflict,
            format!("CSAT is never asked on this case ({from} says never)"),
        ));
    }
    match existing {
        None => Ok(()),
        Some(r) if r.may_resend() => Ok(()),
        Some(r) if r.answer.is_some() => Err(Error::new(
            ErrorCode::Conflict,
            "the customer already answered this case's CSAT request",
        )),
        Some(r) => Err(Error::new(
            ErrorCode::Conflict,
            format!(
                "this case's CSAT request was already {} (one request per case)",
                match r.delivery {
                    CsatDelivery::Scheduled => "created and is being sent",
                    _ => "sent",
                }
            ),
        )),
    }
}

/// Grouping of the CSAT summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CsatGroupBy {
    /// The case's assignee.
    Agent,
    Team,
    /// The case's source kind.
    Source,
    /// When the request was made (UTC day, ISO week from Monday, or month).
    Period,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CsatPeriod {
    #[default]
    Day,
    Week,
    Month,
}

/// What the summary covers: requests made in `[from, to)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsatSummaryQuery {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// A location manager's scope.
    pub locations: Option<Vec<String>>,
}

/// The raw counts of one group, as the store sums them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsatCounts {
    /// Requests whose message left, or that were answered.
    pub requests: i64,
    pub answered: i64,
    /// Unanswered requests no channel carried.
    pub no_channel: i64,
    pub score_sum: i64,
    /// Answers of 4 or 5.
    pub satisfied: i64,
}

impl CsatCounts {
    pub fn add(&mut self, other: &CsatCounts) {
        self.requests += other.requests;
        self.answered += other.answered;
        self.no_channel += other.no_channel;
        self.score_sum += other.score_sum;
        self.satisfied += other.satisfied;
    }
}

/// One row of the summary.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CsatGroup {
    /// The agent, team, source or period (`2026-11-22`, the Monday
    /// `2026-11-16` of its week, `2026-11`); `null` for cases with no
    /// assignee or team.
    pub key: Option<String>,
    pub requests: i64,
    pub answered: i64,
    pub no_channel: i64,
    /// answered / requests; `null` without requests.
    pub response_rate: Option<f64>,
    /// The mean score of the answers; `null` without answers.
    pub mean_score: Option<f64>,
    /// The share of answers that were 4 or 5; `null` without answers.
    pub satisfied_share: Option<f64>,
}

impl CsatGroup {
    pub fn from_counts(key: Option<String>, c: &CsatCounts) -> CsatGroup {
        let ratio = |num: i64, den: i64| (den > 0).then(|| num as f64 / den as f64);
        CsatGroup {
            key,
            requests: c.requests,
            answered: c.answered,
            no_channel: c.no_channel,
            response_rate: ratio(c.answered, c.requests),
            mean_score: ratio(c.score_sum, c.answered),
            satisfied_share: ratio(c.satisfied, c.answered),
        }
    }
}

/// The label of the `period` that UTC day `day` (days since 1970-01-01)
/// falls in.
pub fn period_key(day: i64, period: CsatPeriod) -> String {
    let date = Utc
        .timestamp_opt(day.saturating_mul(86_400), 0)
        .single()
        .unwrap_or_default()
        .date_naive();
    match period {
        CsatPeriod::Day => date.format("%Y-%m-%d").to_string(),
        CsatPeriod::Week => {
            use chrono::Datelike;
            let monday = date - chrono::Days::new(u64::from(date.weekday().num_days_from_monday()));
            monday.format("%Y-%m-%d").to_string()
        }
        CsatPeriod::Month => date.format("%Y-%m").to_string(),
    }
}

/// Rolls per-day counts up into periods, oldest first.
pub fn roll_up(days: &[(i64, CsatCounts)], period: CsatPeriod) -> Vec<CsatGroup> {
    let mut groups: std::collections::BTreeMap<String, CsatCounts> = Default::default();
    for (day, counts) in days {
        groups
            .entry(period_key(*day, period))
            .or_default()
            .add(counts);
    }
    groups
        .into_iter()
        .map(|(k, c)| CsatGroup::from_counts(Some(k), &c))
        .collect()
}

/// The case-list filter behind a CSAT number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum CsatFilter {
    /// Cases whose customer answered.
    #[serde(rename = "answered")]
    Answered,
    /// Cases asked (message sent or no channel) and not answered.
    #[serde(rename = "unanswered")]
    Unanswered,
    #[serde(rename = "1")]
    Score1,
    #[serde(rename = "2")]
    Score2,
    #[serde(rename = "3")]
    Score3,
    #[serde(rename = "4")]
    Score4,
    #[serde(rename = "5")]
    Score5,
}

impl CsatFilter {
    pub const ALL: [CsatFilter; 7] = [
        CsatFilter::Answered,
        CsatFilter::Unanswered,
        CsatFilter::Score1,
        CsatFilter::Score2,
        CsatFilter::Score3,
        CsatFilter::Score4,
        CsatFilter::Score5,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CsatFilter::Answered => "answered",
            CsatFilter::Unanswered => "unanswered",
            CsatFilter::Score1 => "1",
            CsatFilter::Score2 => "2",
            CsatFilter::Score3 => "3",
            CsatFilter::Score4 => "4",
            CsatFilter::Score5 => "5",
        }
    }

    pub fn parse(s: &str) -> Option<CsatFilter> {
        CsatFilter::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The score it selects, for `1`..`5`.
    pub fn score(self) -> Option<i64> {
        match self {
            CsatFilter::Score1 => Some(1),
            CsatFilter::Score2 => Some(2),
            CsatFilter::Score3 => Some(3),
            CsatFilter::Score4 => Some(4),
            CsatFilter::Score5 => Some(5),
            CsatFilter::Answered | CsatFilter::Unanswered => None,
        }
    }

    /// The SQL condition selecting the cases behind it, on the outer
    /// query's case id column `case_id` (e.g. `id` or `c.id`); the score is
    /// a literal of ours, never input.
    pub fn sql(self, case_id: &str) -> String {
        let cond = match self {
            CsatFilter::Answered => "answered_at IS NOT NULL".to_string(),
            CsatFilter::Unanswered => {
                "answered_at IS NULL AND status IN ('sent', 'no_channel')".to_string()
            }
            other => format!(
                "answered_at IS NOT NULL AND score = {}",
                other.score().unwrap_or_default()
            ),
        };
        format!("{case_id} IN (SELECT case_id FROM csat_requests WHERE {cond})")
    }
}

/// The key that signs CSAT links. Made from the node's secret key by a
/// domain-separated derivation (see `earshot_app::secrets`), so links
/// survive restarts and need no secret of their own.
#[derive(Clone)]
pub struct LinkKey(Hmac<Sha256>);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token of ours: wrong length or alphabet.
    #[error("not a CSAT link")]
    Malformed,
    /// Altered, or signed with another key.
    #[error("this CSAT link is not valid")]
    BadSignature,
}

/// What a valid token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkClaims {
    pub request_id: CsatRequestId,
    pub expires_at: DateTime<Utc>,
}

impl LinkClaims {
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}

/// Bytes of a decoded token: the request id and the expiry (seconds since
/// the epoch), each 8 bytes big-endian, then the 32-byte tag.
const TOKEN_BYTES: usize = 8 + 8 + 32;
/// Binds the tag to this use, should the key ever sign anything else.
const TOKEN_DOMAIN: &[u8] = b"earshot csat link v1\0";

impl LinkKey {
    pub fn new(key: [u8; 32]) -> Self {
        // HMAC pads a key shorter than SHA-256's 64-byte block with zeros;
        // padding it here takes the infallible constructor.
        let mut block = [0u8; 64];
        for (b, k) in block.iter_mut().zip(key) {
            *b = k;
        }
        LinkKey(<Hmac<Sha256> as KeyInit>::new(&block.into()))
    }

    fn mac(&self, id: i64, exp: i64) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(TOKEN_DOMAIN);
        mac.update(&id.to_be_bytes());
        mac.update(&exp.to_be_bytes());
        mac
    }

    /// The token for request `id`'s link, valid until `expires_at` (to the
    /// second): base64url without padding, 64 characters.
    pub fn sign(&self, id: CsatRequestId, expires_at: DateTime<Utc>) -> String {
        let exp = expires_at.timestamp();
        let tag = self.mac(id.0, exp).finalize().into_bytes();
        let mut bytes = Vec::with_capacity(TOKEN_BYTES);
        bytes.extend_from_slice(&id.0.to_be_bytes());
        bytes.extend_from_slice(&exp.to_be_bytes());
        bytes.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Checks a token's tag in constant time and reads its claims. An
    /// expired token still verifies: the caller tells "expired" from "not
    /// ours" by [`LinkClaims::expired`].
    pub fn verify(&self, token: &str) -> Result<LinkClaims, TokenError> {
        if token.len() != 64 {
            return Err(TokenError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| TokenError::Malformed)?;
        let (id, rest) = bytes.split_at_checked(8).ok_or(TokenError::Malformed)?;
        let (exp, tag) = rest.split_at_checked(8).ok_or(TokenError::Malformed)?;
        let id = i64::from_be_bytes(id.try_into().map_err(|_| TokenError::Malformed)?);
        let exp = i64::from_be_bytes(exp.try_into().map_err(|_| TokenError::Malformed)?);
        // `verify_slice` compares in constant time (the `subtle` crate).
        self.mac(id, exp)
            .verify_slice(tag)
            .map_err(|_| TokenError::BadSignature)?;
        let expires_at = Utc
            .timestamp_opt(exp, 0)
            .single()
            .ok_or(TokenError::BadSignature)?;
        Ok(LinkClaims {
            request_id: CsatRequestId(id),
            expires_at,
        })
    }
}

/// The message that asks: short, to the customer by name, with the link.
pub fn request_message(customer_handle: &str, link: &str, ttl: TimeDelta) -> String {
    let days = ttl.num_days();
    let lasts = if days >= 1 {
        format!("{days} day{}", if days == 1 { "" } else { "s" })
    } else {
        format!("{} hours", ttl.num_hours().max(1))
    };
    format!(
        "Hi @{customer_handle}, how did we do? Rate your conversation with us from 1 to 5 \
         (one tap, no login): {link} (the link works for {lasts})."
    )
}

/// Storage of CSAT policies, requests and answers.
#[async_trait]
pub trait CsatStore: Send + Sync + 'static {
    /// The configured policies; the built-in default when none are.
    async fn csat_policies(&self) -> Result<CsatPolicies>;
    /// Replaces every policy with `policies` (validated by the caller),
    /// recording who changed them in the audit trail.
    async fn set_csat_policies(
        &self,
        policies: &CsatPolicies,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Resolved or closed cases (not reopened since) resolved in
    /// `[resolved_from, resolved_until]` that have no request yet, oldest
    /// resolved first.
    async fn csat_candidates(
        &self,
        resolved_from: DateTime<Utc>,
        resolved_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<CsatCandidate>>;
    /// Creates the case's request, `scheduled` and held until
    /// `lease_until`. Once per case (a UNIQUE constraint): `Ok(None)` when
    /// the case already has one, which is left unchanged.
    async fn create_csat_request(
        &self,
        new: &NewCsatRequest,
        now: DateTime<Utc>,
    ) -> Result<Option<CsatRequest>>;
    async fn csat_request(&self, id: CsatRequestId) -> Result<Option<CsatRequest>>;
    async fn csat_for_case(&self, case_id: CaseId) -> Result<Option<CsatRequest>>;
    /// Takes hold of a request until `lease_until` to (re)send it: only a
    /// `scheduled` one whose hold lapsed (its worker died), or a
    /// `no_channel` one, never answered. `Ok(None)` when another holds it
    /// or it cannot be sent again.
    async fn claim_csat_request(
        &self,
        id: CsatRequestId,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<CsatRequest>>;
    /// `scheduled` requests whose hold lapsed by `now` (a worker died
    /// between creating and sending): the scan finishes them.
    async fn stalled_csat_requests(&self, now: DateTime<Utc>) -> Result<Vec<CsatRequest>>;
    /// Records that the message `reply_id` carries the link (valid until
    /// `expires_at`), with a `csat.sent` event on the case.
    async fn mark_csat_sent(
        &self,
        id: CsatRequestId,
        reply_id: ReplyId,
        expires_at: DateTime<Utc>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<CsatRequest>;
    /// Records that no channel carries it, and why (`reply_id`: a message
    /// left for an agent to post by hand, if any), with a
    /// `csat.no_channel` event.
    async fn mark_csat_no_channel(
        &self,
        id: CsatRequestId,
        reason: &str,
        reply_id: Option<ReplyId>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<CsatRequest>;
    /// Stores the customer's answer once, atomically (`… WHERE answered_at
    /// IS NULL`): a second submission or a race changes nothing and gets
    /// the stored answer back. A `csat.answered` event on the case.
    async fn answer_csat(
        &self,
        id: CsatRequestId,
        rating: &Rating,
        now: DateTime<Utc>,
    ) -> Result<AnswerOutcome>;
    /// Counts per key (the case's assignee, team or source kind) of the
    /// requests made in the query's range.
    async fn csat_counts(
        &self,
        by: CsatGroupBy,
        query: &CsatSummaryQuery,
    ) -> Result<Vec<(Option<String>, CsatCounts)>>;
    /// Counts per UTC day (days since 1970-01-01) of the requests made in
    /// the query's range.
    async fn csat_daily_counts(&self, query: &CsatSummaryQuery) -> Result<Vec<(i64, CsatCounts)>>;
}

/// The source kind a case came from (for the summary's `by=source` key).
pub fn source_key(kind: SourceKind) -> String {
    kind.as_str().to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn never_anywhere_wins_then_team_then_source_then_default() {
        let d = CsatPolicy::DEFAULT;
        let never = CsatPolicy::never();
        let demand = CsatPolicy::on_demand();
        let quick = CsatPolicy::on_resolve(60);
        let e = |team, source| effective_policy(&d, team, source);
        assert_eq!(e(None, None).policy, d);
        assert_eq!(e(None, None).from, PolicyOrigin::Default);
        assert_eq!(e(Some(&never), Some(&quick)).policy.mode, CsatMode::Never);
        assert_eq!(e(Some(&never), Some(&quick)).from, PolicyOrigin::Team);
        // A source's never beats a team's opt-in.
        assert_eq!(e(Some(&quick), Some(&never)).policy.mode, CsatMode::Never);
        assert_eq!(e(Some(&quick), Some(&never)).from, PolicyOrigin::Source);
        assert_eq!(e(Some(&demand), Some(&quick)).policy, demand);
        assert_eq!(e(Some(&demand), Some(&quick)).from, PolicyOrigin::Team);
        assert_eq!(e(None, Some(&quick)).policy, quick);
        assert_eq!(e(None, Some(&quick)).from, PolicyOrigin::Source);
        // A never default still lets a team opt in.
        let off = effective_policy(&never, Some(&quick), None);
        assert_eq!(off.policy, quick);
        assert_eq!(
            effective_policy(&never, None, None).policy.mode,
            CsatMode::Never
        );
    }

    #[test]
    fn policies_find_the_case_team_and_source() {
        let p = CsatPolicies {
            default: CsatPolicy::on_resolve(120),
            teams: vec![TeamCsatPolicy {
                team: "billing".into(),
                policy: CsatPolicy::never(),
            }],
            sources: vec![SourceCsatPolicy {
                source_id: SourceId(3),
                policy: CsatPolicy::on_resolve(10),
            }],
        };
        assert_eq!(
            p.for_case(Some("billing"), Some(SourceId(3))).policy.mode,
            CsatMode::Never
        );
        assert_eq!(
            p.for_case(Some("ops"), Some(SourceId(3))).policy,
            CsatPolicy::on_resolve(10)
        );
        assert_eq!(p.for_case(None, None).policy, CsatPolicy::on_resolve(120));
        assert_eq!(p.longest_delay(), TimeDelta::minutes(120));
        assert_eq!(p.shortest_delay(), TimeDelta::minutes(10));
    }

    #[test]
    fn policies_are_validated() {
        let json = serde_json::json!({
            "default": {"mode": "on_resolve"},
            "teams": [{"team": " billing ", "policy": {"mode": "never"}}],
            "sources": [{"source_id": 2, "policy": {"mode": "on_resolve", "delay_minutes": 5}}]
        });
        let p: CsatPolicies = serde_json::from_value(json).unwrap();
        let p = p.validated().unwrap();
        assert_eq!(p.default, CsatPolicy::DEFAULT);
        assert_eq!(p.teams[0].team, "billing");
        assert_eq!(p.sources[0].policy.delay(), Some(TimeDelta::minutes(5)));
        let bad = |v: serde_json::Value| {
            serde_json::from_value::<CsatPolicies>(v)
                .map_err(|e| e.to_string())
                .and_then(|p| p.validated().map_err(|e| e.message))
                .unwrap_err()
        };
        assert!(
            bad(serde_json::json!({"default": {"mode": "never", "delay_minutes": 3}}))
                .contains("default.delay_minutes")
        );
        assert!(
            bad(serde_json::json!({"default": {"mode": "on_resolve", "delay_minutes": 43201}}))
                .contains("at most 43200")
        );
        assert!(bad(serde_json::json!({"teams": [{"team": "a", "policy": {"mode": "never"}}, {"team": "a", "policy": {"mode": "never"}}]}))
            .contains("teams[1].team"));
        assert!(
            bad(serde_json::json!({"teams": [{"team": "a\u{0}", "policy": {"mode": "never"}}]}))
                .contains("NUL")
        );
        assert!(
            bad(serde_json::json!({"default": {"mode": "sometimes"}})).contains("unknown variant")
        );
        assert!(
            bad(serde_json::json!({"sources": [{"source_id": 1, "policy": {"mode": "on_demand", "delay_minutes": 1}}]}))
                .contains("sources[0].policy.delay_minutes")
        );
    }

    #[test]
    fn due_after_the_delay_and_not_past_the_late_limit() {
        let resolved = t("2026-11-20T10:00:00Z");
        let p = CsatPolicy::DEFAULT;
        assert_eq!(due_at(&p, resolved), Some(t("2026-11-21T10:00:00Z")));
        assert!(!send_now(&p, resolved, t("2026-11-21T09:59:59Z")));
        assert!(send_now(&p, resolved, t("2026-11-21T10:00:00Z")));
        assert!(send_now(&p, resolved, t("2026-11-28T09:59:59Z")));
        assert!(!send_now(&p, resolved, t("2026-11-28T10:00:00Z")));
        assert!(!send_now(
            &CsatPolicy::on_demand(),
            resolved,
            t("2026-11-22T10:00:00Z")
        ));
        assert!(!send_now(
            &CsatPolicy::never(),
            resolved,
            t("2026-11-22T10:00:00Z")
        ));
    }

    fn request(delivery: CsatDelivery, answered: bool) -> CsatRequest {
        CsatRequest {
            id: CsatRequestId(1),
            case_id: CaseId(9),
            trigger: CsatTrigger::OnResolve,
            delivery,
            reply_id: None,
            no_channel_reason: None,
            requested_by: "earshot".into(),
            created_at: t("2026-11-21T10:00:00Z"),
            sent_at: None,
            expires_at: t("2026-11-28T10:00:00Z"),
            answer: answered.then(|| CsatAnswer {
                score: 4,
                comment: None,
                answered_at: t("2026-11-22T10:00:00Z"),
            }),
        }
    }

    #[test]
    fn the_lifecycle_states() {
        let before = t("2026-11-27T10:00:00Z");
        let after = t("2026-11-28T10:00:00Z");
        assert_eq!(
            request(CsatDelivery::Scheduled, false).state(before),
            CsatState::Scheduled
        );
        assert_eq!(
            request(CsatDelivery::Sent, false).state(before),
            CsatState::Sent
        );
        assert_eq!(
            request(CsatDelivery::NoChannel, false).state(before),
            CsatState::NoChannel
        );
        assert_eq!(
            request(CsatDelivery::Sent, false).state(after),
            CsatState::Expired
        );
        assert_eq!(
            request(CsatDelivery::NoChannel, false).state(after),
            CsatState::Expired
        );
        assert_eq!(
            request(CsatDelivery::Sent, true).state(after),
            CsatState::Answered
        );
        assert!(request(CsatDelivery::NoChannel, false).may_resend());
        assert!(!request(CsatDelivery::Sent, false).may_resend());
        assert!(!request(CsatDelivery::NoChannel, true).may_resend());
    }

    #[test]
    fn on_demand_is_refused_for_never_and_for_a_request_already_out() {
        let on = |p: CsatPolicy| EffectivePolicy {
            policy: p,
            from: PolicyOrigin::Team,
        };
        assert!(may_ask_on_demand(&on(CsatPolicy::on_demand()), None).is_ok());
        assert!(may_ask_on_demand(&on(CsatPolicy::DEFAULT), None).is_ok());
        let e = may_ask_on_demand(&on(CsatPolicy::never()), None).unwrap_err();
        assert_eq!(e.code, ErrorCode::Conflict);
        assert!(e.message.contains("team"), "{}", e.message);
        let sent = request(CsatDelivery::Sent, false);
        let e = may_ask_on_demand(&on(CsatPolicy::DEFAULT), Some(&sent)).unwrap_err();
        assert!(e.message.contains("already sent"), "{}", e.message);
        let answered = request(CsatDelivery::Sent, true);
        let e = may_ask_on_demand(&on(CsatPolicy::DEFAULT), Some(&answered)).unwrap_err();
        assert!(e.message.contains("already answered"), "{}", e.message);
        let none = request(CsatDelivery::NoChannel, false);
        assert!(may_ask_on_demand(&on(CsatPolicy::DEFAULT), Some(&none)).is_ok());
    }

    #[test]
    fn ratings_are_checked() {
        assert_eq!(Rating::new(5, None).unwrap().score, 5);
        assert!(Rating::new(4, None).unwrap().satisfied());
        assert!(!Rating::new(3, None).unwrap().satisfied());
        for bad in [0, 6, -1, 256, i64::MAX] {
            let e = Rating::new(bad, None).unwrap_err();
            assert!(e.message.starts_with("score:"), "{bad}: {}", e.message);
        }
        assert_eq!(Rating::new(3, Some("  ")).unwrap().comment, None);
        assert_eq!(
            Rating::new(3, Some(" quick, thanks "))
                .unwrap()
                .comment
                .as_deref(),
            Some("quick, thanks")
        );
        assert!(
            Rating::new(3, Some("a\0b"))
                .unwrap_err()
                .message
                .contains("NUL")
        );
        let long = "é".repeat(MAX_COMMENT_CHARS + 1);
        assert!(
            Rating::new(3, Some(&long))
                .unwrap_err()
                .message
                .starts_with("comment:")
        );
        assert!(Rating::new(3, Some(&long[..MAX_COMMENT_CHARS * 2])).is_ok());
    }

    fn key(b: u8) -> LinkKey {
        LinkKey::new([b; 32])
    }

    #[test]
    fn a_signed_link_verifies_with_its_claims() {
        let exp = t("2026-11-29T10:00:00Z");
        let token = key(1).sign(CsatRequestId(42), exp);
        assert_eq!(token.len(), 64);
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        let claims = key(1).verify(&token).unwrap();
        assert_eq!(claims.request_id, CsatRequestId(42));
        assert_eq!(claims.expires_at, exp);
        assert!(!claims.expired(t("2026-11-29T09:59:59Z")));
        assert!(claims.expired(exp));
        // The same inputs sign the same token (a resend finds its message).
        assert_eq!(token, key(1).sign(CsatRequestId(42), exp));
    }

    #[test]
    fn the_padded_key_is_hmac_of_the_key_itself() {
        let mut a = <Hmac<Sha256> as Mac>::new_from_slice(&[7u8; 32]).unwrap();
        a.update(b"x");
        let mut b = key(7).0;
        b.update(b"x");
        assert_eq!(a.finalize().into_bytes(), b.finalize().into_bytes());
    }

    #[test]
    fn tampered_foreign_and_malformed_tokens_are_refused() {
        let exp = t("2026-11-29T10:00:00Z");
        let token = key(1).sign(CsatRequestId(42), exp);
        assert_eq!(key(2).verify(&token), Err(TokenError::BadSignature));
        // Every single-character change is caught.
        for i in 0..token.len() {
            let mut chars: Vec<char> = token.chars().collect();
            chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
            let altered: String = chars.into_iter().collect();
            assert!(key(1).verify(&altered).is_err(), "position {i}");
        }
        // Another id or a later expiry under the old tag.
        let forged_id = {
            let mut b = URL_SAFE_NO_PAD.decode(&token).unwrap();
            b[7] = 43;
            URL_SAFE_NO_PAD.encode(b)
        };
        assert_eq!(key(1).verify(&forged_id), Err(TokenError::BadSignature));
        let later = {
            let mut b = URL_SAFE_NO_PAD.decode(&token).unwrap();
            b[14] = b[14].wrapping_add(1);
            URL_SAFE_NO_PAD.encode(b)
        };
        assert_eq!(key(1).verify(&later), Err(TokenError::BadSignature));
        for bad in [
            "",
            "abc",
            &token[..63],
            &format!("{token}A"),
            &"!".repeat(64),
        ] {
            assert_eq!(key(1).verify(bad), Err(TokenError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn the_message_names_the_customer_and_carries_the_link() {
        let m = request_message("ida", "https://care.example/csat/abc", DEFAULT_LINK_TTL);
        assert!(m.starts_with("Hi @ida,"), "{m}");
        assert!(m.contains("https://care.example/csat/abc"), "{m}");
        assert!(m.contains("7 days"), "{m}");
        assert!(
            m.chars().count() < 300,
            "fits Bluesky: {}",
            m.chars().count()
        );
    }

    #[test]
    fn periods_roll_up_utc_days() {
        // 2026-11-22 is a Sunday: day 20779 since the epoch.
        let sunday = t("2026-11-22T00:00:00Z").timestamp() / 86_400;
        assert_eq!(period_key(sunday, CsatPeriod::Day), "2026-11-22");
        assert_eq!(period_key(sunday, CsatPeriod::Week), "2026-11-16");
        assert_eq!(period_key(sunday + 1, CsatPeriod::Week), "2026-11-23");
        assert_eq!(period_key(sunday, CsatPeriod::Month), "2026-11");
        let c = |requests, answered, score_sum, satisfied| CsatCounts {
            requests,
            answered,
            no_channel: 0,
            score_sum,
            satisfied,
        };
        let days = [
            (sunday, c(2, 1, 5, 1)),
            (sunday + 1, c(2, 2, 5, 1)),
            (sunday + 9, c(1, 0, 0, 0)),
        ];
        let weeks = roll_up(&days, CsatPeriod::Week);
        assert_eq!(weeks.len(), 3);
        let months = roll_up(&days, CsatPeriod::Month);
        assert_eq!(months.len(), 2, "{months:?}");
        assert_eq!(months[0].key.as_deref(), Some("2026-11"));
        assert_eq!(months[0].requests, 4);
        assert_eq!(months[0].answered, 3);
        assert_eq!(months[0].response_rate, Some(0.75));
        assert_eq!(months[0].mean_score, Some(10.0 / 3.0));
        assert_eq!(months[0].satisfied_share, Some(2.0 / 3.0));
        assert_eq!(months[1].key.as_deref(), Some("2026-12"));
        assert_eq!(months[1].mean_score, None);
        assert_eq!(months[1].response_rate, Some(0.0));
    }

    #[test]
    fn filters_parse_and_make_sql() {
        for f in CsatFilter::ALL {
            assert_eq!(CsatFilter::parse(f.as_str()), Some(f));
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(json, format!("\"{}\"", f.as_str()));
        }
        assert_eq!(CsatFilter::parse("6"), None);
        assert!(
            CsatFilter::Score4
                .sql("c.id")
                .starts_with("c.id IN (SELECT case_id")
        );
        assert!(CsatFilter::Score4.sql("c.id").contains("score = 4"));
    }
}
