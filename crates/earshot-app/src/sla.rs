//! The SLA clock: each case evaluated against the policies in force, and
//! the ticker that sends warnings, breaches and escalation steps once each.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use earshot_core::case::{Case, CaseStatus};
use earshot_core::error::Result;
use earshot_core::ids::CaseId;
use earshot_core::store::CaseDetail;
use earshot_core::workflow_store::{AuditRecord, CaseSlaRecord, SlaCheckpoint};
use earshot_workflow::{
    CaseTimeline, EscalationAction, NotificationEvent, SlaEvaluation, SlaPolicy, SlaReport,
    SlaSubject, TargetStatus, TimeBasis, TimelineEvent, evaluate_sla, select_policy, sla_report,
};
use serde_json::json;

use crate::App;
use crate::cases::case_detail;
use crate::notify::send;
use crate::routing::{auto_assign, supervisors};

/// The SLA policies in storage.
pub async fn policies(app: &App) -> Result<Vec<SlaPolicy>> {
    app.workflow.sla_policies().await
}

/// The SLA clocks of `cases` at `now` under the policies in force, with
/// each case's warning lead: what the inbox and the case page show. It is
/// the very evaluation the ticker escalates on, read without storing it.
pub async fn clocks(
    app: &App,
    cases: &[Case],
    now: DateTime<Utc>,
) -> Result<HashMap<CaseId, (SlaEvaluation, u32)>> {
    let policies = policies(app).await?;
    let mut out = HashMap::new();
    if policies.is_empty() {
        return Ok(out);
    }
    for case in cases {
        let Some(detail) = app.store.case_detail(case.id).await? else {
            continue;
        };
        if let Some(eval) = evaluate_case(app, &policies, &detail, now, false).await? {
            let warn = policies
                .iter()
                .find(|p| p.id == eval.policy_id)
                .map_or(0, |p| p.warn_before_minutes);
            out.insert(case.id, (eval, warn));
        }
    }
    Ok(out)
}

/// "% met" over the targets the ticker last judged: those that started at
/// or after `since`, and every one still running however old (a complaint
/// left unanswered for a month is a breach now).
pub async fn report(app: &App, since: Option<DateTime<Utc>>) -> Result<SlaReport> {
    let mut targets = Vec::new();
    for r in app.workflow.all_case_sla().await? {
        if let Some(v) = r.evaluation
            && let Ok(e) = serde_json::from_value::<SlaEvaluation>(v)
        {
            targets.extend(
                e.targets
                    .into_iter()
                    .filter(|t| since.is_none_or(|s| t.started_at >= s || t.achieved_at.is_none())),
            );
        }
    }
    Ok(sla_report(&targets))
}

/// A case's history as the SLA engine reads it.
pub fn timeline(detail: &CaseDetail) -> CaseTimeline {
    let mut events = Vec::new();
    for m in &detail.mentions {
        // The customer's clock: when they posted, not when it was read.
        events.push(TimelineEvent::CustomerMessage {
            at: m.mention.posted_at(m.received_at),
        });
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
    app: &App,
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
        app.workflow
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
        && let Some(calendar) = app.workflow.team(team).await?.and_then(|t| t.calendar)
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
    app.workflow
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
pub async fn run_sla_tick(app: &App, now: DateTime<Utc>) -> Result<TickReport> {
    let mut report = TickReport::default();
    let policies = policies(app).await?;
    if policies.is_empty() {
        return Ok(report);
    }
    // Only cases that changed since their last verdict, or whose verdict
    // changes by now (a warning, a breach, an escalation step), are loaded
    // and evaluated: a tick stays cheap with a large open queue.
    let checkpoints: HashMap<CaseId, SlaCheckpoint> = app
        .workflow
        .sla_checkpoints()
        .await?
        .into_iter()
        .map(|c| (c.case_id, c))
        .collect();
    let mut ids = Vec::new();
    let mut active = HashSet::new();
    for c in crate::cases::all_with_status(app, &crate::cases::ACTIVE).await? {
        active.insert(c.id);
        if needs_check(&policies, &c, checkpoints.get(&c.id), now) {
            ids.push(c.id);
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
        let detail = case_detail(app, id).await?;
        let Some(eval) = evaluate_case(app, &policies, &detail, now, true).await? else {
            continue;
        };
        report.evaluated += 1;
        let case = &detail.case;
        let sup = match &case.team {
            Some(t) => app.workflow.team(t).await?.and_then(|t| t.supervisor),
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
            if !app.workflow.claim_sla_mark(id, &mark, now).await? {
                continue;
            }
            send(app, case, &event, &to, now).await?;
            if t.status == TargetStatus::Warning {
                report.warnings += 1;
            } else {
                report.breaches += 1;
            }
        }
        for due in &eval.escalations_due {
            let mark =
                format!("escalation:{:?}:{}:{}", due.target, due.cycle, due.step).to_lowercase();
            if !app.workflow.claim_sla_mark(id, &mark, now).await? {
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
                    send(app, case, &event, &assignee_or_sup(&None), now).await?;
                }
                EscalationAction::NotifySupervisor => {
                    let to = supervisors(app, sup.clone()).await?;
                    send(app, case, &event, &to, now).await?;
                }
                EscalationAction::Reassign => {
                    let next = match &case.team {
                        Some(team) => {
                            let lang = detail
                                .mentions
                                .last()
                                .and_then(|m| m.analysis.language.clone());
                            auto_assign(app, team, lang, &[], case.assignee.as_deref()).await?
                        }
                        None => None,
                    };
                    if let Some(user) = &next {
                        app.store
                            .assign(id, Some(user.clone()), case.team.clone(), "system", now)
                            .await?;
                        after["reassigned_to"] = json!(user);
                        let assigned = NotificationEvent::Assigned {
                            assignee: Some(user.clone()),
                            team: case.team.clone(),
                            by: "system".into(),
                        };
                        send(app, case, &assigned, std::slice::from_ref(user), now).await?;
                    }
                    let mut to = supervisors(app, sup.clone()).await?;
                    if let Some(old) = &case.assignee
                        && !to.contains(old)
                    {
                        to.push(old.clone());
                    }
                    send(app, case, &event, &to, now).await?;
                }
            }
            app.workflow
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

/// Runs [`run_sla_tick`] every `every` on the app's clock until the task
/// is dropped; failures are logged and the next tick tries again.
pub fn spawn_sla_ticker(app: App, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let now = app.clock.now();
            if let Err(e) = run_sla_tick(&app, now).await {
                tracing::warn!(error = %e.message, "SLA tick failed");
            }
        }
    })
}
