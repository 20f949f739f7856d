//! Advocates: the ranked list, the thank-you queue with its personal
//! suggestions, sending a thank-you (through the normal reply workflow, on a
//! small case of its own) or skipping it, and an author's profile.
//!
//! How a thank-you is sent: the post has no case (that is why it is in the
//! queue), but replies live on cases. So sending one opens a small case
//! for the post, tagged `thank-you`, and submits a public reply on it with
//! [`crate::replies::submit_reply`], like any reply: queued in the outbox
//! when a running connector delivers to the post's source, otherwise
//! `manual` for an agent to post by hand, or held for approval (trainees).
//! The case is then resolved and closed at once (a thank-you is one
//! message, not a conversation: the author's next post is planned on its
//! own, and the case never counts as care workload), while its reply goes
//! on through the outbox; the reply's own status is what says whether the
//! thanks reached them. If the reply cannot be submitted, the case and the
//! record are undone and the post is back in the queue.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use earshot_core::advocates::{
    AdvocateFilter, AdvocateStats, NewThanks, Rank, RankInputs, RankWeights, ThanksRecord,
    reach_strength,
};
use earshot_core::analysis::Sentiment;
use earshot_core::auth::Principal;
use earshot_core::case::{Case, CaseStatus};
use earshot_core::error::{Error, ErrorCode, Result};
use earshot_core::ids::{CaseId, MentionId};
use earshot_core::mention::{Mention, reject_nul};
use earshot_core::personalise::CheckResult;
use earshot_core::reply::{ReplyStatus, Visibility};
use earshot_core::source::SourceKind;
use earshot_core::store::{NewReply, page_size};
use earshot_core::thanks::{self, CaseTurn, SuggestInput};
use earshot_workflow::{Action, CaseScope, Denied, can};
use serde::Serialize;

use crate::access::{Scope, actor, denied, read_scope};
use crate::{App, LiveEvent};

/// How far back the thank-you queue looks (the post's own clock).
pub const QUEUE_DAYS: i64 = 14;
/// How many of the newest candidates the queue ranks.
pub const QUEUE_CANDIDATES: u32 = 500;
/// Posts of an author a profile shows.
pub const PROFILE_MENTIONS: u32 = 200;

/// An advocate with their rank.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RankedAdvocate {
    #[serde(flatten)]
    pub stats: AdvocateStats,
    /// 0–100 with its parts (docs/ADVOCATES.md).
    pub rank: Rank,
}

/// What the advocates list is asked for.
#[derive(Debug, Clone, Default)]
pub struct AdvocateQuery {
    pub source: Option<SourceKind>,
    pub since: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
}

/// The rank of one author from their counts.
pub fn rank_of(stats: &AdvocateStats, now: DateTime<Utc>) -> Rank {
    Rank::compute(
        &RankInputs {
            positive: stats.positive,
            total: stats.total,
            followers: stats.followers,
            last_positive_at: stats.last_positive_at.unwrap_or(stats.last_seen),
            now,
        },
        &RankWeights::default(),
    )
}

fn ranked_all(stats: Vec<AdvocateStats>, now: DateTime<Utc>) -> Vec<RankedAdvocate> {
    let mut out: Vec<RankedAdvocate> = stats
        .into_iter()
        .map(|s| RankedAdvocate {
            rank: rank_of(&s, now),
            stats: s,
        })
        .collect();
    out.sort_by(|a, b| {
        b.rank
            .score
            .total_cmp(&a.rank.score)
            .then(b.stats.followers.cmp(&a.stats.followers))
            .then(a.stats.handle.cmp(&b.stats.handle))
    });
    out
}

/// Advocates, best first. A location manager gets only those whose latest
/// no-case positive post belongs to a case at their locations.
pub async fn ranked(app: &App, p: &Principal, q: &AdvocateQuery) -> Result<Vec<RankedAdvocate>> {
    let scope = read_scope(app, p).await?;
    let stats = app
        .advocates
        .advocate_stats(&AdvocateFilter {
            source: q.source,
            since: q.since,
            handles: None,
            locations: scope.locations().map(<[String]>::to_vec),
        })
        .await?;
    let mut out = ranked_all(stats, app.clock.now());
    out.truncate(page_size(q.limit) as usize);
    Ok(out)
}

/// A suggested thank-you and what the personalisation check said of it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    pub text: String,
    /// The check passed it. When no wording passed, the least bad one is
    /// shown with `passes = false` and the check's reasons.
    pub passes: bool,
    pub reasons: Vec<String>,
    /// Wordings checked before this one was chosen.
    pub tried: u32,
}

/// The best wording for a post: the first of [`thanks::suggestions`] that
/// passes [`crate::personalisation::check_for_mention`] (so, among other
/// things, not a near-duplicate of a recently sent reply).
pub async fn suggestion(app: &App, mention: &Mention) -> Result<Suggestion> {
    let positive_terms: Vec<String> = mention
        .analysis
        .evidence
        .iter()
        .filter(|e| e.weight > 0.0)
        .map(|e| e.term.clone())
        .collect();
    let n = &mention.mention;
    let candidates = thanks::suggestions(&SuggestInput {
        text: &n.text,
        handle: &n.author.handle,
        display_name: n.author.display_name.as_deref(),
        positive_terms: &positive_terms,
        max_chars: n.source.capabilities().reply_max_chars.map(|m| m as usize),
        seed: thanks::seed(&format!("{}:{}", n.source, n.external_id)),
    });
    let mut fallback: Option<(String, CheckResult)> = None;
    let mut tried = 0;
    for text in candidates {
        tried += 1;
        let check = crate::personalisation::check_for_mention(app, mention, &text).await?;
        if !check.generic {
            return Ok(Suggestion {
                text,
                passes: true,
                reasons: Vec::new(),
                tried,
            });
        }
        let better = fallback
            .as_ref()
            .is_none_or(|(_, f)| check.reasons.len() < f.reasons.len());
        if better {
            fallback = Some((text, check));
        }
    }
    Ok(match fallback {
        Some((text, check)) => Suggestion {
            text,
            passes: false,
            reasons: check.reasons,
            tried,
        },
        None => Suggestion {
            text: String::new(),
            passes: false,
            reasons: vec!["no wording fits this channel's length limit".into()],
            tried,
        },
    })
}

/// One post in the thank-you queue.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ThanksItem {
    pub mention: Mention,
    pub suggestion: Suggestion,
    /// The author's rank (docs/ADVOCATES.md).
    pub author_rank: Rank,
    /// What the queue is sorted by: half the post's reach (log-scaled
    /// followers), half the author's rank, in `[0, 1]`.
    pub queue_score: f32,
}

/// Why a post is not (or no longer) in the queue, or `None` when it is.
pub async fn not_thankable(app: &App, m: &Mention) -> Result<Option<String>> {
    let n = &m.mention;
    if let Some(t) = app.advocates.thanks_for(m.id).await? {
        return Ok(Some(format!(
            "it was already {} by {}",
            t.decision.as_str(),
            t.actor
        )));
    }
    if let Some(case) = m.case_id {
        return Ok(Some(format!("it is in case {case}; answer it there")));
    }
    if m.analysis.sentiment != Sentiment::Positive {
        return Ok(Some(format!(
            "it reads {}, not positive",
            m.analysis.sentiment.as_str()
        )));
    }
    if n.origin.as_ref().is_some_and(|o| o.private) {
        return Ok(Some("it was heard in private".into()));
    }
    if !n.source.capabilities().public_reply {
        return Ok(Some(format!("{} takes no public replies", n.source)));
    }
    for list in ["brand", "blocked"] {
        if app.advocates.on_author_list(list, &n.author.handle).await? {
            return Ok(Some(format!("@{} is on the {list} list", n.author.handle)));
        }
    }
    Ok(None)
}

/// The thank-you queue, best first: positive posts of the last
/// [`QUEUE_DAYS`] days with no case, not private, not by the brand (the
/// `brand` author list) or a blocked author, on a source that takes public
/// replies, not yet thanked or skipped; each with its suggestion. Posts
/// without a case are outside a location manager's scope, so their queue
/// is empty.
pub async fn queue(app: &App, p: &Principal, limit: Option<u32>) -> Result<Vec<ThanksItem>> {
    if let Scope::Locations(_) = read_scope(app, p).await? {
        return Ok(Vec::new());
    }
    let now = app.clock.now();
    let candidates: Vec<Mention> = app
        .advocates
        .thanks_candidates(now - TimeDelta::days(QUEUE_DAYS), QUEUE_CANDIDATES)
        .await?
        .into_iter()
        .filter(|m| m.mention.source.capabilities().public_reply)
        .collect();
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    // Only the authors of the candidates are ranked.
    let mut authors: Vec<String> = candidates
        .iter()
        .map(|m| m.mention.author.handle.to_lowercase())
        .collect();
    authors.sort();
    authors.dedup();
    let ranks: HashMap<(SourceKind, String), Rank> = app
        .advocates
        .advocate_stats(&AdvocateFilter {
            handles: Some(authors),
            ..AdvocateFilter::default()
        })
        .await?
        .into_iter()
        .map(|s| ((s.source, s.handle.clone()), rank_of(&s, now)))
        .collect();
    let weights = RankWeights::default();
    let mut scored: Vec<(f32, Rank, Mention)> = candidates
        .into_iter()
        .map(|m| {
            let rank = ranks
                .get(&(m.mention.source, m.mention.author.handle.to_lowercase()))
                .cloned()
                .unwrap_or_default();
            let followers = i64::try_from(m.mention.author.followers).unwrap_or(i64::MAX);
            let score = 0.5 * reach_strength(followers, &weights) + 0.5 * rank.score / 100.0;
            ((score * 1000.0).round() / 1000.0, rank, m)
        })
        .collect();
    scored.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(b.2.mention.created_at.cmp(&a.2.mention.created_at))
            .then(b.2.id.cmp(&a.2.id))
    });
    scored.truncate(page_size(limit) as usize);
    let mut out = Vec::with_capacity(scored.len());
    for (queue_score, author_rank, mention) in scored {
        out.push(ThanksItem {
            suggestion: suggestion(app, &mention).await?,
            mention,
            author_rank,
            queue_score,
        });
    }
    Ok(out)
}

/// A thank-you the caller asked to send.
#[derive(Debug, Clone)]
pub struct SendThanks {
    pub text: String,
    /// Send it although the personalisation check flags it (recorded).
    pub override_personalisation: bool,
}

/// What sending did.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// Recorded and submitted; the record's `reply_status` says where the
    /// reply stands (`queued`, `manual`, `pending_approval`).
    Submitted(ThanksRecord),
    /// The check flagged the text and it was not overridden: nothing was
    /// recorded or sent.
    Generic(CheckResult),
}

/// The post `id`, once the caller may see it: 404 when unknown, 403 for a
/// location manager (posts without a case are outside their scope; one in
/// a case follows its case).
async fn visible_mention(app: &App, p: &Principal, id: MentionId) -> Result<Mention> {
    let m = app
        .advocates
        .mention_by_id(id)
        .await?
        .ok_or_else(|| Error::not_found(format!("mention {id}")))?;
    let a = actor(app, p).await?;
    let location = match m.case_id {
        Some(c) => app
            .store
            .case_detail(c)
            .await?
            .and_then(|d| d.case.location),
        None => None,
    };
    if !earshot_workflow::location_visible(&a, location.as_deref()) {
        return Err(denied(Denied::OutsideLocations));
    }
    Ok(m)
}

fn not_in_queue(id: MentionId, why: &str) -> Error {
    Error::new(
        ErrorCode::Conflict,
        format!("mention {id} is not in the thank-you queue: {why}"),
    )
}

/// Sends a thank-you for post `id` (see the module docs for how). The text
/// is checked again; a flagged text is refused unless overridden, and an
/// override is recorded with the check's reasons.
pub async fn send(app: &App, p: &Principal, id: MentionId, req: SendThanks) -> Result<SendOutcome> {
    reject_nul("text", &req.text)?;
    let text = req.text.trim().to_string();
    if text.is_empty() {
        return Err(Error::invalid_field("text", "must not be empty"));
    }
    let mention = visible_mention(app, p, id).await?;
    let a = actor(app, p).await?;
    can(
        &a,
        Action::SendReply(Visibility::Public),
        &CaseScope::default(),
    )
    .map_err(denied)?;
    if let Some(why) = not_thankable(app, &mention).await? {
        return Err(not_in_queue(id, &why));
    }
    let source = mention.mention.source;
    if let Some(max) = source.capabilities().reply_max_chars {
        let len = text.chars().count();
        if len > max as usize {
            return Err(Error::new(
                ErrorCode::ReplyTooLong,
                format!("text: is {len} characters; {source} allows {max}"),
            ));
        }
    }
    let check = crate::personalisation::check_for_mention(app, &mention, &text).await?;
    if check.generic && !req.override_personalisation {
        return Ok(SendOutcome::Generic(check));
    }
    let now = app.clock.now();
    let case_id = app
        .advocates
        .open_thanks_case(&NewThanks {
            mention_id: id,
            actor: &p.name,
            text: &text,
            overridden: check.generic,
            reasons: &check.reasons,
            now,
        })
        .await?;
    let submitted = crate::replies::submit_reply(
        app,
        p,
        case_id,
        NewReply {
            visibility: Visibility::Public,
            body: text,
            send: true,
        },
        None,
    )
    .await;
    let outcome = match submitted {
        Ok(o) => o,
        Err(e) => {
            // Nothing went out: the post goes back to the queue.
            app.advocates.abandon_thanks(id).await?;
            return Err(e);
        }
    };
    app.advocates
        .attach_thanks_reply(id, outcome.reply.id)
        .await?;
    close_thanks_case(app, p, case_id).await?;
    let record = app
        .advocates
        .thanks_for(id)
        .await?
        .ok_or_else(|| Error::internal("the thank-you just recorded is gone"))?;
    Ok(SendOutcome::Submitted(record))
}

/// Resolves and closes a thank-you case: one message, no conversation.
async fn close_thanks_case(app: &App, p: &Principal, case_id: CaseId) -> Result<()> {
    let now = app.clock.now();
    let case: Case = app
        .store
        .set_status(case_id, CaseStatus::Resolved, &p.name, now)
        .await?;
    if case.status == CaseStatus::Resolved {
        app.store
            .set_status(case_id, CaseStatus::Closed, &p.name, now)
            .await?;
    }
    let _ = app.live.send(LiveEvent::CaseUpdated { case_id });
    Ok(())
}

/// Records that post `id` is not worth thanking; `text` is the suggestion
/// that was on screen (may be empty).
pub async fn skip(app: &App, p: &Principal, id: MentionId, text: &str) -> Result<ThanksRecord> {
    reject_nul("text", text)?;
    let mention = visible_mention(app, p, id).await?;
    let a = actor(app, p).await?;
    can(&a, Action::DraftReply, &CaseScope::default()).map_err(denied)?;
    if let Some(t) = app.advocates.thanks_for(id).await? {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!(
                "mention {id} was already {} by {}; nothing is recorded twice",
                t.decision.as_str(),
                t.actor
            ),
        ));
    }
    if let Some(case) = mention.case_id {
        return Err(not_in_queue(
            id,
            &format!("it is in case {case}; answer it there"),
        ));
    }
    app.advocates
        .skip_thanks(id, &p.name, text.trim(), app.clock.now())
        .await
}

/// Thank-yous that have not reached their customer yet (queued, to post
/// by hand, held for approval, refused), newest first.
pub async fn undelivered(app: &App, p: &Principal, limit: u32) -> Result<Vec<ThanksRecord>> {
    if let Scope::Locations(_) = read_scope(app, p).await? {
        return Ok(Vec::new());
    }
    Ok(app
        .advocates
        .recent_thanks(limit)
        .await?
        .into_iter()
        .filter(|t| t.reply_status != Some(ReplyStatus::Sent))
        .collect())
}

/// One post on an advocate's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TimelinePoint {
    #[schema(value_type = i64)]
    pub mention_id: MentionId,
    pub created_at: DateTime<Utc>,
    pub sentiment: Sentiment,
    /// In `[-1, 1]`.
    pub sentiment_score: f32,
    pub text: String,
    pub url: Option<String>,
    #[schema(value_type = Option<i64>)]
    pub case_id: Option<CaseId>,
    /// Heard in a private channel.
    pub private: bool,
}

/// Everything about one author: rank, posts over time, thank-yous, cases.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Profile {
    pub source: SourceKind,
    pub handle: String,
    pub display_name: Option<String>,
    /// `None` when they are not on the advocates list (yet).
    pub advocate: Option<RankedAdvocate>,
    /// Newest first.
    pub mentions: Vec<TimelinePoint>,
    /// Thank-yous and skips, newest first.
    pub thanks: Vec<ThanksRecord>,
    /// Their cases with status and whether they turned around.
    pub cases: Vec<CaseTurn>,
}

/// Whether the author was negative in each case and positive afterwards.
///
/// Recovery's stored outcome decides for an assessed case (recovered: a
/// detractor who came back round; anything else: not, or not yet); a case
/// recovery has not assessed (not resolved) keeps the simple read of
/// [`thanks::case_turns`] over the author's own posts.
pub async fn case_turns(app: &App, cases: &[Case], mentions: &[Mention]) -> Result<Vec<CaseTurn>> {
    let mut turns = thanks::case_turns(cases, mentions);
    for turn in &mut turns {
        if let Some(assessed) = app.recovery.recovery(turn.case_id).await? {
            turn.recovery = Some(assessed.outcome);
            turn.turned_around =
                assessed.outcome == earshot_core::recovery::RecoveryOutcome::Recovered;
        }
    }
    Ok(turns)
}

/// The profile of `handle` on `source`. 404 when nothing of theirs is
/// stored (or, for a location manager, nothing of theirs is in a case at
/// their locations; they see only those posts and cases).
pub async fn profile(
    app: &App,
    p: &Principal,
    source: SourceKind,
    handle: &str,
) -> Result<Profile> {
    reject_nul("handle", handle)?;
    let handle = handle.trim().trim_start_matches('@').to_lowercase();
    if handle.is_empty() || handle.len() > 256 {
        return Err(Error::invalid_field("handle", "must be 1-256 bytes"));
    }
    let scope = read_scope(app, p).await?;
    let now = app.clock.now();
    let (mut mentions, mut cases) = app
        .advocates
        .author_activity(source, &handle, PROFILE_MENTIONS)
        .await?;
    let mut thanks = app.advocates.thanks_of(source, &handle).await?;
    if let Scope::Locations(locations) = &scope {
        let at = |c: &Case| c.location.as_ref().is_some_and(|l| locations.contains(l));
        cases.retain(at);
        let visible: Vec<CaseId> = cases.iter().map(|c| c.id).collect();
        mentions.retain(|m| m.case_id.is_some_and(|c| visible.contains(&c)));
        thanks.retain(|t| t.case_id.is_some_and(|c| visible.contains(&c)));
    }
    let advocate = app
        .advocates
        .advocate_stats(&AdvocateFilter {
            source: Some(source),
            handles: Some(vec![handle.clone()]),
            locations: scope.locations().map(<[String]>::to_vec),
            ..AdvocateFilter::default()
        })
        .await?
        .into_iter()
        .next()
        .map(|s| RankedAdvocate {
            rank: rank_of(&s, now),
            stats: s,
        });
    if advocate.is_none() && mentions.is_empty() && cases.is_empty() {
        return Err(Error::not_found(format!("author @{handle} on {source}")));
    }
    let display_name = mentions
        .iter()
        .find_map(|m| m.mention.author.display_name.clone());
    let turns = case_turns(app, &cases, &mentions).await?;
    Ok(Profile {
        source,
        handle,
        display_name,
        advocate,
        mentions: mentions
            .iter()
            .map(|m| TimelinePoint {
                mention_id: m.id,
                created_at: m.mention.created_at,
                sentiment: m.analysis.sentiment,
                sentiment_score: m.analysis.sentiment_score,
                text: m.mention.text.clone(),
                url: m.mention.url.clone(),
                case_id: m.case_id,
                private: m.mention.origin.as_ref().is_some_and(|o| o.private),
            })
            .collect(),
        thanks,
        cases: turns,
    })
}
