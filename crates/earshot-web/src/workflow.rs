//! The case workflow wired to storage: who the caller is as a workflow
//! [`Actor`], approval-aware replies with collision checks, routing rules at
//! ingest with auto-assignment, and the SLA tick with its escalation ladder.
//! The decisions themselves are `earshot_workflow`'s; this module loads what
//! they need and stores what they decide.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use earshot_core::auth::{Principal, Role};
use earshot_core::case::{Case, CaseStatus};
use earshot_core::error::{Error, ErrorCode, Result};
use earshot_core::mention::reject_nul;
use earshot_core::reply::{Note, Reply};
use earshot_core::store::{CaseAction, CaseDetail, CaseQuery, IngestOutcome, NewReply};
use earshot_core::workflow_store::{
    ApprovalRecord, AuditRecord, CaseSlaRecord, SlaCheckpoint, TeamRecord,
};
use earshot_workflow::{
    Action, Actor, AgentCandidate, AssignmentNeeds, AssignmentStrategy, AuditActor, AuthorList,
    Availability, CaseRef, CaseScope, CaseTimeline, EscalationAction, NotificationEvent,
    NotifyTarget, ReplyDecision, RuleAction, RuleContext, RuleSet, SlaEvaluation, SlaPolicy,
    SlaSubject, TargetStatus, TimeBasis, TimelineEvent, can, check_public_reply, choose_agent,
    evaluate, evaluate_sla, notification_text, outcome, reply_decision, select_policy,
    slack_payload,
};
use serde_json::json;

use crate::state::{AppState, LiveEvent};

/// The user behind a principal: API tokens named after a user (`token:sam`)
/// act as that user; the bootstrap token is an admin with no profile.
pub fn user_name(p: &Principal) -> &str {
    p.name.strip_prefix("token:").unwrap_or(&p.name)
}

/// The caller as the workflow sees them: the authenticated role, plus teams,
/// training flag, publish right and managed locations from their profile
/// and (when the desk is enabled) their account.
pub async fn actor(state: &AppState, p: &Principal) -> Result<Actor> {
    let name = user_name(p);
    let mut a = Actor::new(name, p.role);
    // Team membership counts even for users without a profile row.
    a.teams = state
        .workflow
        .teams()
        .await?
        .into_iter()
        .filter(|t| t.members.iter().any(|m| m == name))
        .map(|t| t.name)
        .collect();
    if let Some(profile) = state.workflow.user(name).await? {
        a.in_training = profile.in_training;
        a.can_publish = profile.can_publish;
        a.locations = profile.locations;
    }
    // Desk accounts (issue 5) carry role-independent facts too: a trainee
    // flagged there, or teams listed there, count as well.
    if let Some(desk) = &state.desk
        && let Some(user) = desk.users().await?.into_iter().find(|u| u.name == name)
    {
        a.in_training |= user.in_training;
        for t in user.teams {
            if !a.teams.contains(&t) {
                a.teams.push(t);
            }
        }
    }
    Ok(a)
}

/// A known person: a desk account, a workflow profile, or a team member.
async fn is_registered(state: &AppState, a: &Actor) -> Result<bool> {
    if !a.teams.is_empty() || state.workflow.user(&a.name).await?.is_some() {
        return Ok(true);
    }
    Ok(match &state.desk {
        Some(desk) => desk.users().await?.iter().any(|u| u.name == a.name),
        None => false,
    })
}

pub async fn scope(state: &AppState, case: &Case) -> Result<CaseScope> {
    Ok(CaseScope {
        team: case.team.clone(),
        location: case.location.clone(),
        sensitive: state.workflow.is_sensitive(case.id).await?,
    })
}

pub fn denied(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::Forbidden, e.to_string())
}

/// Fails with 403 unless the caller may do `action` outside any case.
pub async fn require(state: &AppState, p: &Principal, action: Action) -> Result<Actor> {
    let a = actor(state, p).await?;
    can(&a, action, &CaseScope::default()).map_err(denied)?;
    Ok(a)
}

/// Location managers see only cases at their locations; staff see all
/// (team scoping applies to changes, and unrouted cases are shared triage).
pub async fn visible_cases(state: &AppState, p: &Principal, cases: Vec<Case>) -> Result<Vec<Case>> {
    let a = actor(state, p).await?;
    if a.locations.is_none() {
        return Ok(cases);
    }
    Ok(cases
        .into_iter()
        .filter(|c| earshot_workflow::location_visible(&a, c.location.as_deref()))
        .collect())
}

/// 403 when a location manager opens a case outside their locations.
pub async fn check_visible(state: &AppState, p: &Principal, case: &Case) -> Result<()> {
    let a = actor(state, p).await?;
    if earshot_workflow::location_visible(&a, case.location.as_deref()) {
        Ok(())
    } else {
        Err(denied(earshot_workflow::Denied::OutsideLocations))
    }
}

/// Fails with 403 unless the caller may do `action` on the case (team
/// access, location managers, read-only analysts).
pub async fn authorize(
    state: &AppState,
    p: &Principal,
    case_id: i64,
    action: Action,
) -> Result<()> {
    let detail = case_detail(state, case_id).await?;
    authorize_case(state, p, &detail.case, action).await
}

/// [`authorize`] for a case the caller has already loaded.
pub async fn authorize_case(
    state: &AppState,
    p: &Principal,
    case: &Case,
    action: Action,
) -> Result<()> {
    let a = actor(state, p).await?;
    can(&a, action, &scope(state, case).await?).map_err(denied)
}

// The case actions of the API and the desk: one place that checks the
// caller's team and location scope before the store changes anything.

/// Assigns case `id` to a user and/or team for `p`.
pub async fn assign_case(
    state: &AppState,
    p: &Principal,
    id: i64,
    assignee: Option<String>,
    team: Option<String>,
) -> Result<Case> {
    authorize(state, p, id, Action::AssignCase).await?;
    let case = state
        .store
        .assign(id, assignee, team, &p.name, state.clock.now())
        .await?;
    let _ = state.live.send(LiveEvent::CaseUpdated { case_id: id });
    Ok(case)
}

/// Moves case `id` through its lifecycle for `p`.
pub async fn set_case_status(
    state: &AppState,
    p: &Principal,
    id: i64,
    to: CaseStatus,
) -> Result<Case> {
    authorize(state, p, id, Action::UpdateCase).await?;
    let case = state
        .store
        .set_status(id, to, &p.name, state.clock.now())
        .await?;
    let _ = state.live.send(LiveEvent::CaseUpdated { case_id: id });
    Ok(case)
}

/// Adds an internal note to case `id` for `p`.
pub async fn add_note(state: &AppState, p: &Principal, id: i64, body: &str) -> Result<Note> {
    // Here rather than in each handler: the API and the desk's form both land here.
    reject_nul("body", body)?;
    authorize(state, p, id, Action::WriteNote).await?;
    state
        .store
        .add_note(id, body, &p.name, state.clock.now())
        .await
}

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
    state: &AppState,
    p: &Principal,
    case_id: i64,
    reply: NewReply,
    last_public_reply_seen: Option<i64>,
) -> Result<ReplyOutcome> {
    reject_nul("body", &reply.body)?;
    let detail = case_detail(state, case_id).await?;
    let a = actor(state, p).await?;
    let sc = scope(state, &detail.case).await?;
    let mut needs_approval = Vec::new();
    if reply.send {
        match reply_decision(&a, reply.visibility, &sc).map_err(denied)? {
            ReplyDecision::SendDirectly => {}
            ReplyDecision::NeedsApproval { reasons } => needs_approval = reasons,
        }
        if reply.visibility == earshot_core::Visibility::Public
            && p.role == Role::Agent
            && !is_registered(state, &a).await?
        {
            needs_approval.push(earshot_workflow::ApprovalReason::UnregisteredAuthor);
        }
    } else {
        can(&a, Action::DraftReply, &sc).map_err(denied)?;
    }
    if reply.send && reply.visibility == earshot_core::Visibility::Public {
        let latest = state.workflow.latest_public_reply(case_id).await?;
        // Only someone else's reply collides; a caller may follow up on their own.
        let others =
            latest
                .filter(|r| r.author != p.name)
                .map(|r| earshot_workflow::PublicReplyRef {
                    reply_id: r.id,
                    by: r.author,
                    at: r.sent_at.unwrap_or(r.created_at),
                });
        if let Err(c) = check_public_reply(case_id, last_public_reply_seen, others.as_ref()) {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!(
                    "{c}; read it and resend with last_public_reply_seen = {}",
                    c.first_reply_id
                ),
            ));
        }
    }
    let now = state.clock.now();
    if needs_approval.is_empty() {
        let saved = state.store.add_reply(case_id, &reply, &p.name, now).await?;
        return Ok(ReplyOutcome {
            reply: saved,
            pending_approval: false,
        });
    }
    let draft = NewReply {
        send: false,
        ..reply
    };
    let saved = state.store.add_reply(case_id, &draft, &p.name, now).await?;
    let reasons: Vec<String> = needs_approval
        .iter()
        .map(|r| {
            serde_json::to_value(r)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .collect();
    state
        .workflow
        .request_approval(saved.id, &p.name, &reasons, now)
        .await?;
    // Supervisors of the case's team hear about it.
    if let Some(team) = detail.case.team.as_deref()
        && let Some(sup) = state.workflow.team(team).await?.and_then(|t| t.supervisor)
    {
        let text = format!(
            "Reply {} on case #{} by {} needs your approval",
            saved.id, case_id, p.name
        );
        state
            .workflow
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

/// The held reply `reply_id` and its author's name, once `p` is allowed to
/// approve or turn it down (role, team and location scope, not their own).
async fn held_reply_for_decision(
    state: &AppState,
    p: &Principal,
    reply_id: i64,
) -> Result<(Reply, String)> {
    let reply = state
        .workflow
        .reply(reply_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("reply {reply_id}")))?;
    let detail = case_detail(state, reply.case_id).await?;
    let approver = actor(state, p).await?;
    let sc = scope(state, &detail.case).await?;
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
    Ok((reply, author_name))
}

/// Approves a held reply and sends it; the approver is recorded on the
/// reply, in the case events and in the audit log.
pub async fn approve(state: &AppState, p: &Principal, reply_id: i64) -> Result<Reply> {
    let (reply, _) = held_reply_for_decision(state, p, reply_id).await?;
    let sent = state
        .workflow
        .approve_and_send(reply_id, &p.name, state.clock.now())
        .await?;
    let _ = state.live.send(LiveEvent::CaseUpdated {
        case_id: reply.case_id,
    });
    Ok(sent)
}

/// Turns a held reply down with a reason; same permission rules as
/// approving. The author is notified; the draft stays for them to rework.
pub async fn reject(
    state: &AppState,
    p: &Principal,
    reply_id: i64,
    reason: &str,
) -> Result<ApprovalRecord> {
    reject_nul("reason", reason)?;
    let (reply, author_name) = held_reply_for_decision(state, p, reply_id).await?;
    let now = state.clock.now();
    let record = state
        .workflow
        .reject_reply(reply_id, &p.name, reason, now)
        .await?;
    let text = format!(
        "{} turned down your reply on case #{}: {reason}",
        p.name, reply.case_id
    );
    state
        .workflow
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

pub async fn case_detail(state: &AppState, id: i64) -> Result<CaseDetail> {
    state
        .store
        .case_detail(id)
        .await?
        .ok_or_else(|| Error::not_found(format!("case {id}")))
}

/// The current routing rules, or an empty set.
pub async fn current_rules(state: &AppState) -> Result<RuleSet> {
    Ok(match state.workflow.current_rule_set().await? {
        Some(v) => RuleSet {
            version: u32::try_from(v.version).unwrap_or(u32::MAX),
            rules: serde_json::from_value(v.rules)
                .map_err(|e| Error::internal(format!("stored rules: {e}")))?,
        },
        None => RuleSet::empty(),
    })
}

/// The brand's lists (VIP, press, blocked) an author is on.
pub async fn author_lists(state: &AppState, handle: &str) -> Result<Vec<AuthorList>> {
    Ok(state
        .workflow
        .lists_of(handle)
        .await?
        .into_iter()
        .filter_map(|l| serde_json::from_value(serde_json::Value::String(l)).ok())
        .collect())
}

/// Applies the current routing rules to the cases that ingestion opened or
/// joined. Runs after `Store::ingest` commits, so a rule failure never loses
/// a mention: it is logged and the case stays in the triage queue.
pub async fn route_ingested(state: &AppState, outcomes: &[IngestOutcome]) {
    let rules = match current_rules(state).await {
        Ok(r) if !r.rules.is_empty() => r,
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(error = %e.message, "routing rules unavailable");
            return;
        }
    };
    for o in outcomes.iter().filter(|o| !o.duplicate) {
        let Some(link) = o.case else { continue };
        if !matches!(link.action, CaseAction::Opened | CaseAction::Joined) {
            continue;
        }
        if let Err(e) = route_one(state, &rules, o.mention_id, link.id, link.action).await {
            tracing::warn!(case_id = link.id, error = %e.message, "routing failed");
        }
    }
}

async fn route_one(
    state: &AppState,
    rules: &RuleSet,
    mention_id: i64,
    case_id: i64,
    action: CaseAction,
) -> Result<()> {
    let detail = case_detail(state, case_id).await?;
    let Some(mention) = detail.mentions.iter().find(|m| m.id == mention_id) else {
        return Ok(());
    };
    let case = &detail.case;
    let ctx = RuleContext::from_mention(
        mention,
        author_lists(state, &mention.mention.author.handle).await?,
        case.location.clone(),
        case.product.clone(),
    );
    let fired = evaluate(rules, &ctx);
    let Some(first) = fired.first() else {
        return Ok(());
    };
    let who = AuditActor::Rule {
        rule_id: first.rule_id,
        version: first.version,
    }
    .to_string();
    let out = outcome(&fired);
    let now = state.clock.now();
    // Each change is attributed to the rule (and version) that made it.
    let by = |pred: fn(&RuleAction) -> bool| -> String {
        fired
            .iter()
            .rev()
            .find(|f| f.actions.iter().any(pred))
            .map_or(who.clone(), |f| {
                AuditActor::Rule {
                    rule_id: f.rule_id,
                    version: f.version,
                }
                .to_string()
            })
    };

    // Assignment: only a new case, or one nobody holds yet, is (re)routed.
    if (out.team.is_some() || out.assignee.is_some())
        && (action == CaseAction::Opened || case.assignee.is_none())
    {
        let team = out.team.clone().or_else(|| case.team.clone());
        let mut assignee = out.assignee.clone();
        if assignee.is_none()
            && let Some(t) = &team
        {
            assignee = auto_assign(
                state,
                t,
                mention.analysis.language.clone(),
                &out.skills,
                None,
            )
            .await?;
        }
        state
            .store
            .assign(
                case_id,
                assignee.clone(),
                team.clone(),
                &by(|a| {
                    matches!(
                        a,
                        RuleAction::AssignTeam { .. } | RuleAction::AssignUser { .. }
                    )
                }),
                now,
            )
            .await?;
        if let Some(user) = &assignee {
            let event = NotificationEvent::Assigned {
                assignee: assignee.clone(),
                team: team.clone(),
                by: by(|a| {
                    matches!(
                        a,
                        RuleAction::AssignTeam { .. } | RuleAction::AssignUser { .. }
                    )
                }),
            };
            send(state, case, &event, std::slice::from_ref(user), now).await?;
        }
    }
    let mut tags = out.tags.clone();
    if !out.escalations.is_empty() && !tags.iter().any(|t| t == "escalated") {
        tags.push("escalated".into());
    }
    if out.priority.is_some() || !tags.is_empty() {
        state
            .workflow
            .route_case(
                case_id,
                out.priority,
                &tags,
                &by(|a| matches!(a, RuleAction::SetPriority { .. } | RuleAction::Tag { .. })),
                now,
            )
            .await?;
    }
    if out.sensitive {
        let actor = by(|a| matches!(a, RuleAction::MarkSensitive));
        state
            .workflow
            .set_sensitive(case_id, true, &actor, now)
            .await?;
    }
    for reason in &out.escalations {
        state
            .workflow
            .record_audit(&AuditRecord {
                entity: "case".into(),
                entity_id: case_id.to_string(),
                action: "escalated".into(),
                actor: by(|a| matches!(a, RuleAction::Escalate { .. })),
                before: None,
                after: Some(json!({"reason": reason})),
                at: now,
            })
            .await?;
        let team = case.team.clone().or(out.team.clone());
        let sup = match team {
            Some(t) => state.workflow.team(&t).await?.and_then(|t| t.supervisor),
            None => None,
        };
        let text = format!("Case #{case_id} escalated: {reason}");
        for user in supervisors(state, sup).await? {
            state
                .workflow
                .notify(
                    &user,
                    "escalation",
                    Some(case_id),
                    &text,
                    &json!({"reason": reason}),
                    now,
                )
                .await?;
        }
    }
    for n in &out.notifications {
        let payload = json!({"rule_message": n.message});
        let text = format!("Case #{case_id}: {}", n.message);
        match &n.target {
            NotifyTarget::User(u) => {
                state
                    .workflow
                    .notify(u, "rule", Some(case_id), &text, &payload, now)
                    .await?;
            }
            NotifyTarget::Team(t) => {
                let members = state
                    .workflow
                    .team(t)
                    .await?
                    .map(|t| t.members)
                    .unwrap_or_default();
                for u in members {
                    state
                        .workflow
                        .notify(&u, "rule", Some(case_id), &text, &payload, now)
                        .await?;
                }
            }
            NotifyTarget::Webhook => {
                state
                    .workflow
                    .queue_webhooks(&json!({"text": text}), now)
                    .await?;
            }
        }
    }
    if out.send_to_advocates {
        let m = &mention.mention;
        state
            .workflow
            .add_advocate(
                m.source.as_str(),
                &m.author.handle,
                i64::try_from(m.author.followers).unwrap_or(i64::MAX),
                mention.id,
                now,
            )
            .await?;
    }
    let _ = state.live.send(LiveEvent::CaseUpdated { case_id });
    Ok(())
}

/// The team's supervisor, or every user whose profile says supervisor.
async fn supervisors(state: &AppState, team_supervisor: Option<String>) -> Result<Vec<String>> {
    if let Some(s) = team_supervisor {
        return Ok(vec![s]);
    }
    Ok(state
        .workflow
        .users()
        .await?
        .into_iter()
        .filter(|u| u.role == Some(Role::Supervisor))
        .map(|u| u.name)
        .collect())
}

fn strategy(team: &TeamRecord) -> AssignmentStrategy {
    match team.strategy.as_str() {
        "least_loaded" => AssignmentStrategy::LeastLoaded,
        _ => AssignmentStrategy::RoundRobin,
    }
}

/// Picks an agent of `team` with `choose_agent` (capacity, away, language)
/// and moves the team's round-robin cursor. `None` when nobody can take it.
pub async fn auto_assign(
    state: &AppState,
    team: &str,
    language: Option<String>,
    skills: &[String],
    exclude: Option<&str>,
) -> Result<Option<String>> {
    let Some(t) = state.workflow.team(team).await? else {
        return Ok(None);
    };
    let loads = state.workflow.active_case_counts().await?;
    let mut candidates = Vec::new();
    for member in t.members.iter().filter(|m| Some(m.as_str()) != exclude) {
        let profile = state.workflow.user(member).await?;
        let open = loads
            .iter()
            .find(|(u, _)| u == member)
            .map_or(0, |(_, n)| *n);
        candidates.push(AgentCandidate {
            user: member.clone(),
            availability: if profile.as_ref().is_some_and(|p| p.away) {
                Availability::Away
            } else {
                Availability::Available
            },
            open_cases: u32::try_from(open).unwrap_or(u32::MAX),
            capacity: profile.as_ref().map_or(10, |p| p.capacity),
            // An agent with no languages listed answers in any.
            languages: match profile.as_ref().map(|p| p.languages.clone()) {
                Some(l) if !l.is_empty() => l,
                _ => language.iter().cloned().collect(),
            },
            skills: profile.map(|p| p.skills).unwrap_or_default(),
        });
    }
    let needs = AssignmentNeeds {
        language,
        skills: skills.to_vec(),
    };
    match choose_agent(
        strategy(&t),
        &candidates,
        &needs,
        t.round_robin_cursor.as_deref(),
    ) {
        Ok(a) => {
            state.workflow.set_team_cursor(team, &a.next_cursor).await?;
            Ok(Some(a.user))
        }
        Err(no) => {
            tracing::info!(
                team,
                skipped = no.skipped.len(),
                "no agent can take the case"
            );
            Ok(None)
        }
    }
}

/// Notifies `users` in-app and queues the Slack-compatible webhook payload.
async fn send(
    state: &AppState,
    case: &Case,
    event: &NotificationEvent,
    users: &[String],
    now: DateTime<Utc>,
) -> Result<()> {
    let case_ref = CaseRef {
        case_id: case.id,
        subject: case.subject.clone(),
        url: None,
    };
    let text = notification_text(event, &case_ref);
    let payload = serde_json::to_value(event).map_err(|e| Error::internal(e.to_string()))?;
    let kind = payload
        .get("type")
        .and_then(|v| v.as_str())
        .unwrap_or("notification")
        .to_string();
    for u in users {
        state
            .workflow
            .notify(u, &kind, Some(case.id), &text, &payload, now)
            .await?;
    }
    state
        .workflow
        .queue_webhooks(&slack_payload(event, &case_ref), now)
        .await?;
    Ok(())
}

/// The SLA policies in storage, parsed.
pub async fn policies(state: &AppState) -> Result<Vec<SlaPolicy>> {
    state
        .workflow
        .sla_policies()
        .await?
        .into_iter()
        .map(|v| {
            serde_json::from_value(v).map_err(|e| Error::internal(format!("stored policy: {e}")))
        })
        .collect()
}

/// A case's history as the SLA engine reads it.
pub fn timeline(detail: &CaseDetail) -> CaseTimeline {
    let mut events = Vec::new();
    for m in &detail.mentions {
        events.push(TimelineEvent::CustomerMessage { at: m.received_at });
    }
    for r in &detail.replies {
        if let Some(at) = r.sent_at {
            events.push(TimelineEvent::AgentReply { at });
        }
    }
    for e in &detail.events {
        if let Some(status) = e
            .after
            .as_ref()
            .and_then(|a| a.get("status"))
            .and_then(|s| s.as_str())
            .and_then(CaseStatus::parse)
        {
            events.push(TimelineEvent::StatusChanged { at: e.at, status });
        }
    }
    CaseTimeline {
        created_at: detail.case.created_at,
        events,
    }
}

/// Evaluates a case's SLA at `now`; the ticker stores the verdict
/// (`persist`), a read does not, so looking at a case can never make the
/// ticker skip the moment a warning is due.
pub async fn evaluate_case(
    state: &AppState,
    policies: &[SlaPolicy],
    detail: &CaseDetail,
    now: DateTime<Utc>,
    persist: bool,
) -> Result<Option<SlaEvaluation>> {
    let case = &detail.case;
    let subject = SlaSubject {
        priority: case.priority.score,
        source: case.source,
        category: case.category.as_deref(),
    };
    let Some(policy) = select_policy(policies, &subject) else {
        if !persist {
            return Ok(None);
        }
        state
            .workflow
            .save_case_sla(&CaseSlaRecord {
                case_id: case.id,
                policy_id: None,
                state: None,
                evaluation: None,
                next_check_at: None,
                updated_at: now,
            })
            .await?;
        return Ok(None);
    };
    let mut policy = policy.clone();
    // Business hours follow the team's own calendar when it has one.
    if let (TimeBasis::BusinessHours { .. }, Some(team)) = (&policy.time_basis, &case.team)
        && let Some(cal) = state.workflow.team(team).await?.and_then(|t| t.calendar)
        && let Ok(calendar) = serde_json::from_value(cal)
    {
        policy.time_basis = TimeBasis::BusinessHours { calendar };
    }
    let eval = evaluate_sla(&policy, &timeline(detail), now);
    if !persist {
        return Ok(Some(eval));
    }
    let overall = eval.overall().and_then(|s| {
        serde_json::to_value(s)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
    });
    state
        .workflow
        .save_case_sla(&CaseSlaRecord {
            case_id: case.id,
            policy_id: Some(policy.id),
            state: overall,
            evaluation: serde_json::to_value(&eval).ok(),
            next_check_at: eval.next_check_at,
            updated_at: now,
        })
        .await?;
    Ok(Some(eval))
}

/// Whether a case's stored verdict may be stale: no verdict yet, another
/// policy applies now, the case changed since, or its next check is due.
fn needs_check(
    policies: &[SlaPolicy],
    case: &Case,
    checkpoint: Option<&SlaCheckpoint>,
    now: DateTime<Utc>,
) -> bool {
    let Some(cp) = checkpoint else { return true };
    let subject = SlaSubject {
        priority: case.priority.score,
        source: case.source,
        category: case.category.as_deref(),
    };
    let policy = select_policy(policies, &subject).map(|p| p.id);
    cp.policy_id != policy
        || cp.updated_at <= case.updated_at
        || cp.next_check_at.is_some_and(|t| t <= now)
}

/// What one SLA tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TickReport {
    pub evaluated: usize,
    pub warnings: usize,
    pub breaches: usize,
    pub escalations: usize,
}

/// One pass of the SLA clock over every active case (and every case whose
/// stored SLA was still running): stores each verdict, sends each warning
/// and breach once, and runs each escalation step once per (target, cycle,
/// step). Time is `now`, so tests drive it with a fake clock.
pub async fn run_sla_tick(state: &AppState, now: DateTime<Utc>) -> Result<TickReport> {
    let mut report = TickReport::default();
    let policies = policies(state).await?;
    if policies.is_empty() {
        return Ok(report);
    }
    // Only cases that changed since their last verdict, or whose verdict
    // changes by now (a warning, a breach, an escalation step), are loaded
    // and evaluated: a tick stays cheap with a large open queue.
    let checkpoints: HashMap<i64, SlaCheckpoint> = state
        .workflow
        .sla_checkpoints()
        .await?
        .into_iter()
        .map(|c| (c.case_id, c))
        .collect();
    let mut ids = Vec::new();
    let mut active = HashSet::new();
    for status in [CaseStatus::New, CaseStatus::Open, CaseStatus::Pending] {
        let mut offset = 0;
        loop {
            let page = state
                .store
                .cases(&CaseQuery {
                    status: Some(status),
                    limit: Some(500),
                    offset: Some(offset),
                    ..CaseQuery::default()
                })
                .await?;
            let n = page.len();
            for c in page {
                active.insert(c.id);
                if needs_check(&policies, &c, checkpoints.get(&c.id), now) {
                    ids.push(c.id);
                }
            }
            if n < 500 {
                break;
            }
            offset += 500;
        }
    }
    // Cases resolved or closed since their last verdict get their final one.
    for cp in checkpoints.values() {
        if matches!(cp.state.as_deref(), Some("active" | "warning"))
            && !active.contains(&cp.case_id)
        {
            ids.push(cp.case_id);
        }
    }
    for id in ids {
        let detail = case_detail(state, id).await?;
        let Some(eval) = evaluate_case(state, &policies, &detail, now, true).await? else {
            continue;
        };
        report.evaluated += 1;
        let case = &detail.case;
        let sup = match &case.team {
            Some(t) => state.workflow.team(t).await?.and_then(|t| t.supervisor),
            None => None,
        };
        let assignee_or_sup = |sup: &Option<String>| -> Vec<String> {
            case.assignee
                .clone()
                .or_else(|| sup.clone())
                .into_iter()
                .collect()
        };
        for t in &eval.targets {
            let tag = format!("{:?}:{}", t.kind, t.cycle).to_lowercase();
            let (mark, event, to) = match t.status {
                TargetStatus::Warning => (
                    format!("warning:{tag}"),
                    NotificationEvent::SlaWarning {
                        target: t.kind,
                        due_at: t.due_at.unwrap_or(now),
                        remaining_seconds: t.remaining_seconds,
                    },
                    assignee_or_sup(&sup),
                ),
                TargetStatus::Missed => {
                    let mut to = assignee_or_sup(&sup);
                    if let Some(s) = &sup
                        && !to.contains(s)
                    {
                        to.push(s.clone());
                    }
                    let event = NotificationEvent::SlaBreach {
                        target: t.kind,
                        due_at: t.due_at.unwrap_or(now),
                    };
                    (format!("breach:{tag}"), event, to)
                }
                _ => continue,
            };
            // Each warning and breach of a target cycle is sent once.
            if !state.workflow.claim_sla_mark(id, &mark, now).await? {
                continue;
            }
            send(state, case, &event, &to, now).await?;
            if t.status == TargetStatus::Warning {
                report.warnings += 1;
            } else {
                report.breaches += 1;
            }
        }
        for due in &eval.escalations_due {
            let mark =
                format!("escalation:{:?}:{}:{}", due.target, due.cycle, due.step).to_lowercase();
            if !state.workflow.claim_sla_mark(id, &mark, now).await? {
                continue;
            }
            report.escalations += 1;
            let event = NotificationEvent::Escalation {
                target: due.target,
                step: due.step,
                action: due.action,
            };
            let mut after = json!({"target": due.target, "cycle": due.cycle,
                "step": due.step, "action": due.action});
            match due.action {
                EscalationAction::NotifyAssignee => {
                    send(state, case, &event, &assignee_or_sup(&None), now).await?;
                }
                EscalationAction::NotifySupervisor => {
                    let to = supervisors(state, sup.clone()).await?;
                    send(state, case, &event, &to, now).await?;
                }
                EscalationAction::Reassign => {
                    let next = match &case.team {
                        Some(team) => {
                            let lang = detail
                                .mentions
                                .last()
                                .and_then(|m| m.analysis.language.clone());
                            auto_assign(state, team, lang, &[], case.assignee.as_deref()).await?
                        }
                        None => None,
                    };
                    if let Some(user) = &next {
                        state
                            .store
                            .assign(id, Some(user.clone()), case.team.clone(), "system", now)
                            .await?;
                        after["reassigned_to"] = json!(user);
                        let assigned = NotificationEvent::Assigned {
                            assignee: Some(user.clone()),
                            team: case.team.clone(),
                            by: "system".into(),
                        };
                        send(state, case, &assigned, std::slice::from_ref(user), now).await?;
                    }
                    let mut to = supervisors(state, sup.clone()).await?;
                    if let Some(old) = &case.assignee
                        && !to.contains(old)
                    {
                        to.push(old.clone());
                    }
                    send(state, case, &event, &to, now).await?;
                }
            }
            state
                .workflow
                .record_audit(&AuditRecord {
                    entity: "case".into(),
                    entity_id: id.to_string(),
                    action: "escalated".into(),
                    actor: "system".into(),
                    before: Some(json!({"assignee": case.assignee})),
                    after: Some(after),
                    at: now,
                })
                .await?;
        }
    }
    Ok(report)
}

/// Runs [`run_sla_tick`] every `every` on the state's clock until the task
/// is dropped; failures are logged and the next tick tries again.
pub fn spawn_sla_ticker(state: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let now = state.clock.now();
            if let Err(e) = run_sla_tick(&state, now).await {
                tracing::warn!(error = %e.message, "SLA tick failed");
            }
        }
    })
}

/// How long a presence heartbeat lasts.
pub const PRESENCE_TTL: TimeDelta = TimeDelta::seconds(60);
