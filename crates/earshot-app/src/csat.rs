//! CSAT asked in the customer's own private channel: the scan that sends
//! due requests, an agent's "ask now", the public link's answers, the case's
//! CSAT state and the summary (see docs/CSAT.md).
//!
//! The request row is created (once per case, held under a lease) before
//! its message is sent, and marked sent with the reply that carries the
//! link; a worker that dies in between leaves the row `scheduled`, and the
//! next scan finds the message it already sent (by its link) rather than
//! sending another. Re-running the scan never sends twice.

use chrono::{DateTime, TimeDelta, Utc};
use earshot_core::auth::{Principal, Role};
use earshot_core::case::CaseStatus;
use earshot_core::csat::{
    AnswerOutcome, CsatGroup, CsatGroupBy, CsatPeriod, CsatPolicies, CsatRequest, CsatState,
    CsatSummaryQuery, CsatTrigger, EffectivePolicy, LATE_LIMIT, LinkKey, NewCsatRequest, Rating,
    may_ask_on_demand, request_message, send_now,
};
use earshot_core::error::{Error, ErrorCode, Result};
use earshot_core::ids::{CaseId, CsatRequestId};
use earshot_core::reply::{ReplyStatus, Visibility};
use earshot_core::store::CaseDetail;
use earshot_workflow::Action;
use serde::Serialize;

use crate::access::{authorize, denied, read_scope, require, user_name};
use crate::cases::case_detail;
use crate::replies::answering_source;
use crate::{App, LiveEvent};

/// The author of automated CSAT messages.
pub const AUTHOR: &str = "earshot";
/// How long a worker holds a request while it sends its message.
pub const LEASE: TimeDelta = TimeDelta::minutes(5);
/// Candidates read per page of the scan.
const PAGE: u32 = 200;

/// How links are made: the signing key (derived from the node's secret
/// key), the public address the customer opens, and how long they work.
#[derive(Clone, Debug)]
pub struct CsatLinks {
    pub key: LinkKey,
    /// Where the node is reached from outside, without a trailing slash:
    /// `{public_url}/csat/{token}`.
    pub public_url: String,
    pub ttl: TimeDelta,
}

impl CsatLinks {
    pub fn token(&self, request: &CsatRequest) -> String {
        self.key.sign(request.id, request.expires_at)
    }

    pub fn link_for(&self, id: CsatRequestId, expires_at: DateTime<Utc>) -> String {
        format!("{}/csat/{}", self.public_url, self.key.sign(id, expires_at))
    }

    pub fn link(&self, request: &CsatRequest) -> String {
        self.link_for(request.id, request.expires_at)
    }
}

/// A public URL as given (`--public-url`), checked and without a trailing
/// slash.
pub fn normalise_public_url(url: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let parsed = url::Url::parse(trimmed)
        .map_err(|e| Error::invalid_field("public_url", format!("{e}: {trimmed:?}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::invalid_field(
            "public_url",
            format!("must be an http(s) address, not {trimmed:?}"),
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::invalid_field(
            "public_url",
            "must have no query or fragment",
        ));
    }
    Ok(trimmed.to_string())
}

/// What one scan did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanReport {
    /// Requests whose message left through a channel.
    pub sent: usize,
    /// Requests no private channel could carry.
    pub no_channel: usize,
    /// Stalled requests (a worker died mid-send) finished.
    pub resumed: usize,
    /// Candidates not due, or whose policy is not on_resolve.
    pub skipped: usize,
    /// Sends that failed on our side (retried by a later scan).
    pub failed: usize,
}

/// One pass: finishes stalled requests, then creates and sends the
/// requests that fell due at `now` (resolved or closed cases, not reopened
/// since, whose effective policy is on_resolve and whose delay has passed).
pub async fn tick(app: &App, now: DateTime<Utc>) -> Result<ScanReport> {
    let mut report = ScanReport::default();
    for stalled in app.csat.stalled_csat_requests(now).await? {
        if let Some(held) = app
            .csat
            .claim_csat_request(stalled.id, now + LEASE, now)
            .await?
        {
            match resume(app, held, now).await {
                Ok(r) => {
                    report.resumed += 1;
                    count(&mut report, &r);
                }
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(error = %e.message, "finishing a stalled CSAT request failed");
                }
            }
        }
    }
    let policies = app.csat.csat_policies().await?;
    let from = now - policies.longest_delay() - LATE_LIMIT;
    let until = now - policies.shortest_delay();
    let mut seen = std::collections::HashSet::new();
    let mut cursor = from;
    loop {
        let page = app.csat.csat_candidates(cursor, until, PAGE).await?;
        let full = page.len() as u32 == PAGE;
        let mut new = 0;
        for c in &page {
            if !seen.insert(c.case_id) {
                continue;
            }
            new += 1;
            let eff = policies.for_case(c.team.as_deref(), c.source_id);
            if !send_now(&eff.policy, c.resolved_at, now) {
                report.skipped += 1;
                continue;
            }
            let created = app
                .csat
                .create_csat_request(
                    &NewCsatRequest {
                        case_id: c.case_id,
                        trigger: CsatTrigger::OnResolve,
                        requested_by: AUTHOR.into(),
                        source_id: c.source_id,
                        expires_at: now + app.csat_links.ttl,
                        lease_until: now + LEASE,
                    },
                    now,
                )
                .await?;
            // Another node created it between the scan and here.
            let Some(request) = created else { continue };
            let expires_at = request.expires_at;
            match deliver(app, request, expires_at, AUTHOR, now).await {
                Ok(r) => count(&mut report, &r),
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(case_id = %c.case_id, error = %e.message, "sending a CSAT request failed");
                }
            }
        }
        match page.last() {
            Some(last) if full && new > 0 => cursor = last.resolved_at,
            _ => break,
        }
    }
    Ok(report)
}

fn count(report: &mut ScanReport, r: &CsatRequest) {
    match r.delivery {
        earshot_core::csat::CsatDelivery::Sent => report.sent += 1,
        earshot_core::csat::CsatDelivery::NoChannel => report.no_channel += 1,
        earshot_core::csat::CsatDelivery::Scheduled => {}
    }
}

/// Sends a held request's message with a link valid until `expires_at`
/// and records how it went: sent through a channel; `no_channel` (with
/// why) when the case has no private channel or nothing runs to carry it.
/// A failure on our side (5xx) is returned and leaves it `scheduled`.
async fn deliver(
    app: &App,
    request: CsatRequest,
    expires_at: DateTime<Utc>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<CsatRequest> {
    let detail = case_detail(app, request.case_id).await?;
    let case = &detail.case;
    if !case.source.capabilities().private_reply {
        return app
            .csat
            .mark_csat_no_channel(
                request.id,
                &format!("{} has no private channel to ask in", case.source),
                None,
                actor,
                now,
            )
            .await;
    }
    let link = app.csat_links.link_for(request.id, expires_at);
    let body = request_message(&case.author_handle, &link, app.csat_links.ttl);
    let marked = match crate::handoff::send_private(app, request.case_id, &body, AUTHOR).await {
        Ok(reply) if reply.status == ReplyStatus::Manual => {
            app.csat
                .mark_csat_no_channel(
                    request.id,
                    "no connector is running for this case's private channel: the message \
                     waits for an agent to post it by hand, or to pass on the link",
                    Some(reply.id),
                    actor,
                    now,
                )
                .await?
        }
        Ok(reply) => {
            app.csat
                .mark_csat_sent(request.id, reply.id, expires_at, actor, now)
                .await?
        }
        Err(e) if e.code.http_status() < 500 => {
            app.csat
                .mark_csat_no_channel(request.id, &e.message, None, actor, now)
                .await?
        }
        Err(e) => return Err(e),
    };
    let _ = app.live.send(LiveEvent::CaseUpdated {
        case_id: request.case_id,
    });
    Ok(marked)
}

/// Finishes a request a worker left `scheduled`: when its message went out
/// (a reply by [`AUTHOR`] carrying its link), records that; otherwise
/// sends it now.
async fn resume(app: &App, request: CsatRequest, now: DateTime<Utc>) -> Result<CsatRequest> {
    let detail = case_detail(app, request.case_id).await?;
    let marker = format!("/csat/{}", app.csat_links.token(&request));
    let sent = detail
        .replies
        .iter()
        .find(|r| r.author == AUTHOR && r.body.contains(&marker));
    match sent {
        Some(reply) if reply.status == ReplyStatus::Manual => {
            app.csat
                .mark_csat_no_channel(
                    request.id,
                    "no connector is running for this case's private channel: the message \
                     waits for an agent to post it by hand, or to pass on the link",
                    Some(reply.id),
                    AUTHOR,
                    now,
                )
                .await
        }
        Some(reply) => {
            app.csat
                .mark_csat_sent(request.id, reply.id, request.expires_at, AUTHOR, now)
                .await
        }
        None => {
            let expires_at = request.expires_at;
            deliver(app, request, expires_at, AUTHOR, now).await
        }
    }
}

/// An agent asks for CSAT now (allowed under on_resolve and on_demand
/// policies): creates the case's request and sends it, or resends one no
/// channel carried, with a fresh link. Refused (409) under a never policy
/// and when a request was already sent or answered.
pub async fn ask_now(app: &App, p: &Principal, case_id: CaseId) -> Result<CsatRequest> {
    authorize(app, p, case_id, Action::SendReply(Visibility::Private)).await?;
    let detail = case_detail(app, case_id).await?;
    let policies = app.csat.csat_policies().await?;
    let eff = effective_for(&policies, &detail);
    let existing = app.csat.csat_for_case(case_id).await?;
    may_ask_on_demand(&eff, existing.as_ref())?;
    let now = app.clock.now();
    let actor = user_name(p).to_string();
    let busy = || {
        Error::new(
            ErrorCode::Conflict,
            "this case's CSAT request is being sent right now",
        )
    };
    match existing {
        None => {
            let created = app
                .csat
                .create_csat_request(
                    &NewCsatRequest {
                        case_id,
                        trigger: CsatTrigger::OnDemand,
                        requested_by: actor.clone(),
                        source_id: answering_source(&detail.mentions),
                        expires_at: now + app.csat_links.ttl,
                        lease_until: now + LEASE,
                    },
                    now,
                )
                .await?
                .ok_or_else(busy)?;
            let expires_at = created.expires_at;
            deliver(app, created, expires_at, &actor, now).await
        }
        Some(r) => {
            let held = app
                .csat
                .claim_csat_request(r.id, now + LEASE, now)
                .await?
                .ok_or_else(busy)?;
            deliver(app, held, now + app.csat_links.ttl, &actor, now).await
        }
    }
}

/// The policy that applies to a loaded case.
pub fn effective_for(policies: &CsatPolicies, detail: &CaseDetail) -> EffectivePolicy {
    policies.for_case(
        detail.case.team.as_deref(),
        answering_source(&detail.mentions),
    )
}

/// A case's CSAT as the case page and the API show it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CaseCsat {
    #[schema(value_type = i64)]
    pub case_id: CaseId,
    pub state: CsatState,
    /// The policy that applies to the case, and where it was set.
    #[schema(value_type = earshot_core::csat::EffectivePolicyShape)]
    pub policy: EffectivePolicy,
    /// When the on_resolve policy will ask (state `scheduled`, no request
    /// yet).
    pub scheduled_for: Option<DateTime<Utc>>,
    pub request: Option<CsatRequest>,
    /// The customer's link while it can still be answered (to pass on by
    /// hand when no channel carried it).
    pub link: Option<String>,
    /// Where the message carrying the link stands.
    pub delivery: Option<ReplyStatus>,
    /// The channel's reason when that message failed.
    pub delivery_error: Option<String>,
    /// Whether an agent may ask now (`POST /api/v1/cases/{id}/csat`).
    pub can_ask: bool,
}

/// `detail`'s CSAT at `now`.
pub async fn case_csat(app: &App, detail: &CaseDetail, now: DateTime<Utc>) -> Result<CaseCsat> {
    let policies = app.csat.csat_policies().await?;
    let policy = effective_for(&policies, detail);
    let request = app.csat.csat_for_case(detail.case.id).await?;
    let case = &detail.case;
    let mut scheduled_for = None;
    let state = match &request {
        Some(r) => r.state(now),
        None => {
            let due = case
                .resolved_at
                .filter(|_| matches!(case.status, CaseStatus::Resolved | CaseStatus::Closed))
                .and_then(|at| earshot_core::csat::due_at(&policy.policy, at));
            match due {
                Some(due) if now < due + LATE_LIMIT => {
                    scheduled_for = Some(due);
                    CsatState::Scheduled
                }
                _ => CsatState::None,
            }
        }
    };
    let reply = request
        .as_ref()
        .and_then(|r| r.reply_id)
        .and_then(|id| detail.replies.iter().find(|x| x.id == id));
    let link = request
        .as_ref()
        .filter(|r| r.answer.is_none() && now < r.expires_at)
        .map(|r| match reply {
            // The link the customer was sent (a resend carries a fresh one).
            Some(reply) => link_in(&reply.body).unwrap_or_else(|| app.csat_links.link(r)),
            None => app.csat_links.link(r),
        });
    let can_ask = may_ask_on_demand(&policy, request.as_ref()).is_ok();
    Ok(CaseCsat {
        case_id: case.id,
        state,
        policy,
        scheduled_for,
        link,
        delivery: reply.map(|r| r.status),
        delivery_error: reply.and_then(|r| r.error.clone()),
        request,
        can_ask,
    })
}

/// The CSAT link in a message Earshot sent.
fn link_in(body: &str) -> Option<String> {
    body.split_whitespace()
        .find(|w| w.contains("/csat/"))
        .map(|w| w.trim_end_matches([')', '.', ',']).to_string())
}

/// What a public link leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkView {
    /// Not a link of ours (tampered, another key) or no such request.
    NotFound,
    /// Valid but past its expiry, unanswered.
    Expired,
    /// Waiting for the customer's rating.
    Open(CsatRequest),
    /// Answered before: the stored answer, unchanged.
    Answered(CsatRequest),
    /// Answered just now ([`answer`] only).
    Stored(CsatRequest),
}

/// What the public page shows for `token` at `now`.
pub async fn open_link(app: &App, token: &str, now: DateTime<Utc>) -> Result<LinkView> {
    let Ok(claims) = app.csat_links.key.verify(token) else {
        return Ok(LinkView::NotFound);
    };
    let Some(request) = app.csat.csat_request(claims.request_id).await? else {
        return Ok(LinkView::NotFound);
    };
    if request.answer.is_some() {
        return Ok(LinkView::Answered(request));
    }
    if claims.expired(now) {
        return Ok(LinkView::Expired);
    }
    Ok(LinkView::Open(request))
}

/// Stores the customer's rating for `token` once. A link that is not ours
/// or expired is answered as [`open_link`] says; a second submission
/// returns the stored answer unchanged; a bad rating is a 400 naming the
/// field.
pub async fn answer(
    app: &App,
    token: &str,
    score: i64,
    comment: Option<&str>,
    now: DateTime<Utc>,
) -> Result<LinkView> {
    let request = match open_link(app, token, now).await? {
        LinkView::Open(r) => r,
        other => return Ok(other),
    };
    let rating = Rating::new(score, comment)?;
    Ok(
        match app.csat.answer_csat(request.id, &rating, now).await? {
            AnswerOutcome::Stored(r) => {
                let _ = app.live.send(LiveEvent::CaseUpdated { case_id: r.case_id });
                LinkView::Stored(r)
            }
            AnswerOutcome::AlreadyAnswered(r) => LinkView::Answered(r),
        },
    )
}

/// The summary: requests, answers, response rate, mean score and satisfied
/// share per agent, team, source or period of the requests made in
/// `[from, to)`; a location manager's only over their locations.
pub async fn summary(
    app: &App,
    p: &Principal,
    by: CsatGroupBy,
    period: CsatPeriod,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<CsatGroup>> {
    require(app, p, Action::ViewReports).await?;
    let scope = read_scope(app, p).await?;
    let query = CsatSummaryQuery {
        from,
        to,
        locations: scope.locations().map(<[String]>::to_vec),
    };
    Ok(match by {
        CsatGroupBy::Period => {
            earshot_core::csat::roll_up(&app.csat.csat_daily_counts(&query).await?, period)
        }
        by => app
            .csat
            .csat_counts(by, &query)
            .await?
            .into_iter()
            .map(|(key, counts)| CsatGroup::from_counts(key, &counts))
            .collect(),
    })
}

/// All requests made in `[from, to)` as one group (`key: null`), with the
/// same permission and scope as [`summary`]: the dashboard's tile.
pub async fn total(
    app: &App,
    p: &Principal,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<CsatGroup> {
    require(app, p, Action::ViewReports).await?;
    let scope = read_scope(app, p).await?;
    let query = CsatSummaryQuery {
        from,
        to,
        locations: scope.locations().map(<[String]>::to_vec),
    };
    let mut sum = earshot_core::csat::CsatCounts::default();
    for (_, counts) in app.csat.csat_daily_counts(&query).await? {
        sum.add(&counts);
    }
    Ok(CsatGroup::from_counts(None, &sum))
}

fn admin_only(p: &Principal) -> Result<()> {
    if p.role == Role::Admin {
        Ok(())
    } else {
        Err(denied(format!(
            "only admins manage CSAT policies, not the {} role",
            p.role.as_str()
        )))
    }
}

/// The CSAT policies (admins only).
pub async fn policies(app: &App, p: &Principal) -> Result<CsatPolicies> {
    admin_only(p)?;
    app.csat.csat_policies().await
}

/// Replaces the CSAT policies (admins only), validated: a 400 names the
/// field at fault.
pub async fn set_policies(
    app: &App,
    p: &Principal,
    policies: CsatPolicies,
) -> Result<CsatPolicies> {
    admin_only(p)?;
    let policies = policies.validated()?;
    app.csat
        .set_csat_policies(&policies, &p.name, app.clock.now())
        .await?;
    Ok(policies)
}

/// Runs [`tick`] every `every`.
pub fn spawn_csat_worker(app: App, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let now = app.clock.now();
            match tick(&app, now).await {
                Ok(r) if r.sent + r.no_channel + r.failed > 0 => {
                    tracing::info!(
                        sent = r.sent,
                        no_channel = r.no_channel,
                        failed = r.failed,
                        resumed = r.resumed,
                        "CSAT scan"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e.message, "CSAT scan failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_checked_and_trimmed() {
        assert_eq!(
            normalise_public_url("https://care.example/ ")
                .ok()
                .as_deref(),
            Some("https://care.example")
        );
        assert_eq!(
            normalise_public_url("http://127.0.0.1:8080/earshot/")
                .ok()
                .as_deref(),
            Some("http://127.0.0.1:8080/earshot")
        );
        for bad in ["care.example", "ftp://x", "https://x/?a=1", ""] {
            assert!(normalise_public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_link_is_found_in_the_message() {
        let m = request_message("ida", "https://c.example/csat/abc_-1", TimeDelta::days(7));
        assert_eq!(
            link_in(&m).as_deref(),
            Some("https://c.example/csat/abc_-1")
        );
        assert_eq!(link_in("no link here"), None);
    }
}
