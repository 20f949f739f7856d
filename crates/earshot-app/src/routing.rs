//! Routing at ingest: the rules in force decide team, assignee, priority,
//! tags, sensitivity, escalations and notifications; auto-assignment picks
//! the agent.

use earshot_core::auth::Role;
use earshot_core::case::CaseStatus;
use earshot_core::error::{Error, Result};
use earshot_core::ids::{CaseId, MentionId};
use earshot_core::store::{CaseAction, IngestOutcome};
use earshot_core::workflow_store::AuditRecord;
use earshot_workflow::{
    AgentCandidate, AssignmentNeeds, AuditActor, AuthorList, Availability, NotificationEvent,
    NotifyTarget, RuleAction, RuleContext, RuleSet, choose_agent, evaluate, outcome,
};
use serde_json::json;

use crate::cases::case_detail;
use crate::notify::send;
use crate::{App, LiveEvent};

/// The current routing rules, or an empty set.
pub async fn current_rules(app: &App) -> Result<RuleSet> {
    Ok(match app.workflow.current_rule_set().await? {
        Some(v) => RuleSet {
            version: u32::try_from(v.version).unwrap_or(u32::MAX),
            rules: serde_json::from_value(v.rules)
                .map_err(|e| Error::internal(format!("stored rules: {e}")))?,
        },
        None => RuleSet::empty(),
    })
}

/// The brand's lists (VIP, press, blocked) an author is on.
pub async fn author_lists(app: &App, handle: &str) -> Result<Vec<AuthorList>> {
    Ok(app
        .workflow
        .lists_of(handle)
        .await?
        .into_iter()
        .filter_map(|l| serde_json::from_value(serde_json::Value::String(l)).ok())
        .collect())
}

/// Applies the current routing rules to the cases that ingestion opened or
/// joined (not to a resolved case a follow-up joined without reopening). Runs after `Store::ingest` commits, so a rule failure never loses
/// a mention: it is logged and the case stays in the triage queue.
pub async fn route_ingested(app: &App, outcomes: &[IngestOutcome]) {
    let rules = match current_rules(app).await {
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
        // A "thanks" that joined a resolved case without reopening it
        // creates no work: nothing to assign, tag or escalate.
        if link.action == CaseAction::Joined && link.status == CaseStatus::Resolved {
            continue;
        }
        if let Err(e) = route_one(app, &rules, o.mention_id, link.id, link.action).await {
            tracing::warn!(case_id = link.id.0, error = %e.message, "routing failed");
        }
    }
}

async fn route_one(
    app: &App,
    rules: &RuleSet,
    mention_id: MentionId,
    case_id: CaseId,
    action: CaseAction,
) -> Result<()> {
    let detail = case_detail(app, case_id).await?;
    let Some(mention) = detail.mentions.iter().find(|m| m.id == mention_id) else {
        return Ok(());
    };
    let case = &detail.case;
    let ctx = RuleContext::from_mention(
        mention,
        author_lists(app, &mention.mention.author.handle).await?,
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
    let now = app.clock.now();
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
            assignee =
                auto_assign(app, t, mention.analysis.language.clone(), &out.skills, None).await?;
        }
        app.store
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
            send(app, case, &event, std::slice::from_ref(user), now).await?;
        }
    }
    let mut tags = out.tags.clone();
    if !out.escalations.is_empty() && !tags.iter().any(|t| t == "escalated") {
        tags.push("escalated".into());
    }
    if out.priority.is_some() || !tags.is_empty() {
        app.workflow
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
        app.workflow
            .set_sensitive(case_id, true, &actor, now)
            .await?;
    }
    for reason in &out.escalations {
        app.workflow
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
            Some(t) => app.workflow.team(&t).await?.and_then(|t| t.supervisor),
            None => None,
        };
        let text = format!("Case #{case_id} escalated: {reason}");
        for user in supervisors(app, sup).await? {
            app.workflow
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
                app.workflow
                    .notify(u, "rule", Some(case_id), &text, &payload, now)
                    .await?;
            }
            NotifyTarget::Team(t) => {
                let members = app
                    .workflow
                    .team(t)
                    .await?
                    .map(|t| t.members)
                    .unwrap_or_default();
                for u in members {
                    app.workflow
                        .notify(&u, "rule", Some(case_id), &text, &payload, now)
                        .await?;
                }
            }
            NotifyTarget::Webhook => {
                app.workflow
                    .queue_webhooks(
                        &earshot_workflow::rule_webhook_payload(case_id.0, &n.message),
                        now,
                    )
                    .await?;
            }
        }
    }
    if out.send_to_advocates {
        let m = &mention.mention;
        app.workflow
            .add_advocate(
                m.source.as_str(),
                &m.author.handle,
                i64::try_from(m.author.followers).unwrap_or(i64::MAX),
                mention.id,
                now,
            )
            .await?;
    }
    let _ = app.live.send(LiveEvent::CaseUpdated { case_id });
    Ok(())
}

/// The team's supervisor, or every user whose profile says supervisor.
pub(crate) async fn supervisors(app: &App, team_supervisor: Option<String>) -> Result<Vec<String>> {
    if let Some(s) = team_supervisor {
        return Ok(vec![s]);
    }
    Ok(app
        .workflow
        .users()
        .await?
        .into_iter()
        .filter(|u| u.role == Some(Role::Supervisor))
        .map(|u| u.name)
        .collect())
}

/// Picks an agent of `team` with `choose_agent` (capacity, away, language)
/// and moves the team's round-robin cursor. `None` when nobody can take it.
pub async fn auto_assign(
    app: &App,
    team: &str,
    language: Option<String>,
    skills: &[String],
    exclude: Option<&str>,
) -> Result<Option<String>> {
    let Some(t) = app.workflow.team(team).await? else {
        return Ok(None);
    };
    let loads = app.workflow.active_case_counts().await?;
    let mut candidates = Vec::new();
    for member in t.members.iter().filter(|m| Some(m.as_str()) != exclude) {
        let profile = app.workflow.user(member).await?;
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
        t.strategy,
        &candidates,
        &needs,
        t.round_robin_cursor.as_deref(),
    ) {
        Ok(a) => {
            app.workflow.set_team_cursor(team, &a.next_cursor).await?;
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
