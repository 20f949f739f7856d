//! Replies with the workflow rules: approvals for trainees and sensitive
//! cases, collision checks on public replies, approve and reject.

use earshot_core::auth::{Principal, Role};
use earshot_core::error::{Error, ErrorCode, Result};
use earshot_core::ids::{CaseId, ReplyId, SourceId};
use earshot_core::mention::{Mention, reject_nul};
use earshot_core::reply::{DeliveredVia, Reply, ReplyRoute, ReplyStatus};
use earshot_core::store::NewReply;
use earshot_core::workflow_store::ApprovalRecord;
use earshot_workflow::{Action, Actor, ReplyDecision, can, check_public_reply, reply_decision};
use serde_json::json;

use crate::access::{actor, denied, is_registered, scope};
use crate::cases::case_detail;
use crate::{App, LiveEvent};

/// What happened to a reply the caller asked to send.
pub struct ReplyOutcome {
    pub reply: Reply,
    /// Held as a draft until a supervisor approves it.
    pub pending_approval: bool,
}

/// Adds a reply with the workflow's rules: the caller must be allowed to
/// reply on the case; a trainee's reply or one on a sensitive case is held
/// for approval; a public reply that would collide with another agent's
/// public reply the caller has not seen is refused with 409 naming it.
pub async fn submit_reply(
    app: &App,
    p: &Principal,
    case_id: CaseId,
    reply: NewReply,
    last_public_reply_seen: Option<ReplyId>,
) -> Result<ReplyOutcome> {
    reject_nul("body", &reply.body)?;
    let detail = case_detail(app, case_id).await?;
    let needs_approval = workflow_checks(
        app,
        p,
        &detail.case,
        reply.visibility,
        reply.send,
        last_public_reply_seen,
    )
    .await?;
    let now = app.clock.now();
    if needs_approval.is_empty() {
        let route = if reply.send {
            app.channels
                .route(answering_source(&detail.mentions), reply.visibility)
        } else {
            ReplyRoute::Draft
        };
        let queued = matches!(route, ReplyRoute::Queue(_));
        let saved = app
            .store
            .add_reply(case_id, &reply, route, &p.name, now)
            .await?;
        if queued {
            app.outbox_wake.notify_one();
        }
        return Ok(ReplyOutcome {
            reply: saved,
            pending_approval: false,
        });
    }
    let draft = NewReply {
        send: false,
        ..reply
    };
    let saved = app
        .store
        .add_reply(case_id, &draft, ReplyRoute::PendingApproval, &p.name, now)
        .await?;
    let reasons = reason_names(&needs_approval);
    app.workflow
        .request_approval(saved.id, &p.name, &reasons, now)
        .await?;
    // Supervisors of the case's team hear about it.
    if let Some(team) = detail.case.team.as_deref()
        && let Some(sup) = app.workflow.team(team).await?.and_then(|t| t.supervisor)
    {
        let text = format!(
            "Reply {} on case #{} by {} needs your approval",
            saved.id, case_id, p.name
        );
        app.workflow
            .notify(
                &sup,
                "approval",
                Some(case_id),
                &text,
                &json!({"reply_id": saved.id}),
                now,
            )
            .await?;
    }
    Ok(ReplyOutcome {
        reply: saved,
        pending_approval: true,
    })
}

/// The workflow's word on a reply `p` writes on `case`, before anything is
/// stored: refused (403) when they may not, 409 when a public reply would
/// talk over another agent's public reply they have not seen, otherwise
/// the reasons it must be held for approval (none: it may go out).
pub async fn workflow_checks(
    app: &App,
    p: &Principal,
    case: &earshot_core::Case,
    visibility: earshot_core::Visibility,
    send: bool,
    last_public_reply_seen: Option<ReplyId>,
) -> Result<Vec<earshot_workflow::ApprovalReason>> {
    let case_id = case.id;
    let a = actor(app, p).await?;
    let sc = scope(app, case).await?;
    let mut needs_approval = Vec::new();
    if send {
        match reply_decision(&a, visibility, &sc).map_err(denied)? {
            ReplyDecision::SendDirectly => {}
            ReplyDecision::NeedsApproval { reasons } => needs_approval = reasons,
        }
        if visibility == earshot_core::Visibility::Public
            && p.role == Role::Agent
            && !is_registered(app, &a).await?
        {
            needs_approval.push(earshot_workflow::ApprovalReason::UnregisteredAuthor);
        }
    } else {
        can(&a, Action::DraftReply, &sc).map_err(denied)?;
    }
    if send && visibility == earshot_core::Visibility::Public {
        let latest = app.workflow.latest_public_reply(case_id).await?;
        // Only someone else's reply collides; a caller may follow up on their own.
        let others =
            latest
                .filter(|r| r.author != p.name)
                .map(|r| earshot_workflow::PublicReplyRef {
                    reply_id: r.id.0,
                    by: r.author,
                    at: r.sent_at.unwrap_or(r.created_at),
                });
        if let Err(c) = check_public_reply(
            case_id.0,
            last_public_reply_seen.map(|r| r.0),
            others.as_ref(),
        ) {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!(
                    "{c}; read it and resend with last_public_reply_seen = {}",
                    c.first_reply_id
                ),
            ));
        }
    }
    Ok(needs_approval)
}

/// The reasons as stored with an approval request.
pub fn reason_names(reasons: &[earshot_workflow::ApprovalReason]) -> Vec<String> {
    reasons
        .iter()
        .map(|r| {
            serde_json::to_value(r)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .collect()
}

/// The source a reply on this case goes out through: the one that heard
/// the customer's latest post (mentions that came through the API, an
/// import or the demo name none).
pub fn answering_source(mentions: &[Mention]) -> Option<SourceId> {
    mentions
        .iter()
        .rev()
        .find_map(|m| m.mention.origin.as_ref().map(|o| o.source_id))
}

/// The held reply `reply_id`, its author's name and the source it would go
/// out through, once `p` is allowed to approve or turn it down (role, team
/// and location scope, not their own).
async fn held_reply_for_decision(
    app: &App,
    p: &Principal,
    reply_id: ReplyId,
) -> Result<(Reply, String, Option<SourceId>)> {
    let reply = app
        .workflow
        .reply(reply_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("reply {reply_id}")))?;
    let detail = case_detail(app, reply.case_id).await?;
    let approver = actor(app, p).await?;
    let sc = scope(app, &detail.case).await?;
    let author_name = reply
        .author
        .strip_prefix("token:")
        .unwrap_or(&reply.author)
        .to_string();
    let author = Actor::new(author_name.clone(), Role::Agent);
    earshot_workflow::approve_reply(
        &approver,
        &earshot_workflow::ReplyRef {
            author: &author,
            visibility: reply.visibility,
            status: reply.status,
            approved_by: reply.approved_by.as_deref(),
        },
        &sc,
    )
    .map_err(|e| Error::new(e.error_code(), e.to_string()))?;
    Ok((reply, author_name, answering_source(&detail.mentions)))
}

/// Approves a held reply and sends it; the approver is recorded on the
/// reply, in the case events and in the audit log.
pub async fn approve(app: &App, p: &Principal, reply_id: ReplyId) -> Result<Reply> {
    let (reply, _, source) = held_reply_for_decision(app, p, reply_id).await?;
    // A handoff's private message goes where the handoff took it (an
    // email address, a new private thread).
    let route = match crate::handoff::route_of_held(app, &reply).await? {
        Some(route) => route,
        None => app.channels.route(source, reply.visibility),
    };
    let queued = matches!(route, ReplyRoute::Queue(_));
    let sent = app
        .workflow
        .approve_and_send(reply_id, &p.name, route, app.clock.now())
        .await?;
    if queued {
        app.outbox_wake.notify_one();
    }
    let _ = app.live.send(LiveEvent::CaseUpdated {
        case_id: reply.case_id,
    });
    Ok(sent)
}

/// Turns a held reply down with a reason; same permission rules as
/// approving. The author is notified; the draft stays for them to rework.
pub async fn reject(
    app: &App,
    p: &Principal,
    reply_id: ReplyId,
    reason: &str,
) -> Result<ApprovalRecord> {
    reject_nul("reason", reason)?;
    let (reply, author_name, _) = held_reply_for_decision(app, p, reply_id).await?;
    let now = app.clock.now();
    let record = app
        .workflow
        .reject_reply(reply_id, &p.name, reason, now)
        .await?;
    let text = format!(
        "{} turned down your reply on case #{}: {reason}",
        p.name, reply.case_id
    );
    app.workflow
        .notify(
            &author_name,
            "approval_rejected",
            Some(reply.case_id),
            &text,
            &json!({"reply_id": reply_id, "reason": reason}),
            now,
        )
        .await?;
    Ok(record)
}

/// Records that `p` posted a reply themselves, because no connector
/// delivers to the case's source (or its channel refused it): the reply
/// becomes `sent` by hand, with a link to the post when the agent gives
/// one, and the customer's clock stops at this moment.
pub async fn mark_posted_by_hand(
    app: &App,
    p: &Principal,
    reply_id: ReplyId,
    url: Option<String>,
) -> Result<Reply> {
    let reply = app
        .workflow
        .reply(reply_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("reply {reply_id}")))?;
    let detail = case_detail(app, reply.case_id).await?;
    let a = actor(app, p).await?;
    can(
        &a,
        Action::SendReply(reply.visibility),
        &scope(app, &detail.case).await?,
    )
    .map_err(denied)?;
    if reply.status == ReplyStatus::Sent {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!("reply {reply_id} is already sent; nothing is recorded twice"),
        ));
    }
    if !matches!(reply.status, ReplyStatus::Manual | ReplyStatus::Failed) {
        return Err(Error::new(
            ErrorCode::InvalidTransition,
            format!(
                "reply {reply_id} is {}; only a reply left to post by hand (or refused by its channel) can be marked posted",
                reply.status.as_str()
            ),
        ));
    }
    if let Some(u) = &url
        && !(u.starts_with("https://") || u.starts_with("http://"))
    {
        return Err(Error::invalid_field(
            "url",
            "must be an http(s) link to the post",
        ));
    }
    let sent = app
        .store
        .mark_reply_sent(
            reply_id,
            DeliveredVia::Hand,
            None,
            url.as_deref(),
            &p.name,
            app.clock.now(),
        )
        .await?;
    // Answered: the case stops climbing the queue at once.
    crate::priority::refresh_case(app, reply.case_id, app.clock.now()).await?;
    let _ = app.live.send(LiveEvent::CaseUpdated {
        case_id: reply.case_id,
    });
    Ok(sent)
}
