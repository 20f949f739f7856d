//! One focused test per contract method the scenario tests above leave
//! uncovered, on both backends: what an unknown id does, what repeating a
//! call does, and in which order lists come back.

use earshot_core::error::{ErrorCode, Result};
use earshot_core::ids::{CaseId, ReplyId};
use earshot_core::reply::{DeliveredVia, ExternalReply, ReplyRoute, ReplyStatus, Visibility};
use earshot_core::source::SourceKind;
use earshot_core::store::{NewReply, Store};
use earshot_core::workflow_store::{
    AuditQuery, AuditRecord, HandoffKind, TeamRecord, UserProfile, WebhookAttempt, WorkflowStore,
};
use earshot_store::SqlStore;
use serde_json::json;

use super::{complaint, t0};

async fn sqlite() -> Option<super::Harness> {
    super::sqlite().await
}

async fn postgres() -> Option<super::Harness> {
    super::postgres().await
}

fn minutes(n: i64) -> chrono::DateTime<chrono::Utc> {
    t0() + chrono::Duration::minutes(n)
}

/// The error code of a call that must fail.
fn code<T: std::fmt::Debug>(result: Result<T>) -> ErrorCode {
    result.expect_err("an unknown id must be refused").code
}

/// Opens a case for `handle` and returns its id.
async fn case_of(s: &SqlStore, id: &str, handle: &str) -> CaseId {
    let out = s
        .ingest(&[complaint(id, handle, "my parcel never arrived")], t0())
        .await
        .unwrap();
    out[0].case.expect("a complaint opens a case").id
}

fn public(body: &str) -> NewReply {
    NewReply {
        visibility: Visibility::Public,
        body: body.into(),
        send: false,
    }
}

const NO_CASE: CaseId = CaseId(999_999);
const NO_REPLY: ReplyId = ReplyId(999_999);
/// For the ids still plain integers (handoffs, notifications, webhooks, policies).
const NO_ID: i64 = 999_999;

/// `record_external_replies`: the brand's answer joins the case of the
/// post it answers, as sent at its own time; an answer to an unknown post
/// joins nothing; importing it again stores nothing new.
async fn record_external_replies_join_the_answered_case_once(s: &SqlStore) {
    let case_id = case_of(s, "x1", "ann").await;
    let replies = [
        ExternalReply {
            source: SourceKind::Webhook,
            external_id: "brand-1".into(),
            in_reply_to: "x1".into(),
            author: "acme".into(),
            body: "Ann, we are on it.".into(),
            sent_at: minutes(5),
        },
        ExternalReply {
            source: SourceKind::Webhook,
            external_id: "brand-2".into(),
            in_reply_to: "never-seen".into(),
            author: "acme".into(),
            body: "Hello?".into(),
            sent_at: minutes(5),
        },
    ];
    let joined = s.record_external_replies(&replies, minutes(10)).await;
    assert_eq!(joined.unwrap(), [Some(case_id), None]);
    let again = s.record_external_replies(&replies, minutes(11)).await;
    assert_eq!(again.unwrap(), [Some(case_id), None], "re-import");

    let detail = s.case_detail(case_id).await.unwrap().unwrap();
    assert_eq!(detail.replies.len(), 1, "stored once");
    let reply = &detail.replies[0];
    assert_eq!(reply.status, ReplyStatus::Sent);
    assert_eq!(reply.delivered_via, Some(DeliveredVia::Imported));
    assert_eq!(reply.sent_at, Some(minutes(5)), "its own time, not now");
    assert_eq!(detail.case.first_response_at, Some(minutes(5)));
}

/// `active_case_counts`: new, open and pending cases per assignee;
/// resolved and unassigned cases count for no one.
async fn active_case_counts_count_only_active_assigned_cases(s: &SqlStore) {
    let a = case_of(s, "c1", "ann").await;
    let b = case_of(s, "c2", "ben").await;
    let c = case_of(s, "c3", "cat").await;
    case_of(s, "c4", "dan").await;
    for (id, who) in [(a, "amy"), (b, "amy"), (c, "bob")] {
        s.assign(id, Some(who.into()), None, "lead", minutes(1))
            .await
            .unwrap();
    }
    let resolved = earshot_core::case::CaseStatus::Resolved;
    s.set_status(b, resolved, "amy", minutes(2)).await.unwrap();
    let mut counts = s.active_case_counts().await.unwrap();
    counts.sort();
    assert_eq!(counts, [("amy".to_string(), 1), ("bob".to_string(), 1)]);
}

/// `WorkflowStore::users`: every profile, by name, with the teams that
/// list the user as a member.
async fn workflow_users_are_listed_by_name_with_their_teams(s: &SqlStore) {
    assert!(WorkflowStore::users(s).await.unwrap().is_empty());
    for name in ["zed", "amy"] {
        s.put_user(&UserProfile::new(name), "admin", t0())
            .await
            .unwrap();
    }
    let team = TeamRecord {
        name: "care".into(),
        calendar: None,
        strategy: earshot_core::workflow_store::AssignmentStrategy::RoundRobin,
        members: vec!["zed".into()],
        supervisor: None,
        round_robin_cursor: None,
    };
    s.put_team(&team, "admin", t0()).await.unwrap();
    let users = WorkflowStore::users(s).await.unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["amy", "zed"]);
    assert!(users[0].teams.is_empty());
    assert_eq!(users[1].teams, ["care"]);
}

/// `set_team_cursor`: remembers whom round-robin picked last; for an
/// unknown team it changes nothing (the team may have just been deleted).
async fn set_team_cursor_is_kept_and_ignores_unknown_teams(s: &SqlStore) {
    let team = TeamRecord {
        name: "care".into(),
        calendar: None,
        strategy: earshot_core::workflow_store::AssignmentStrategy::RoundRobin,
        members: vec!["amy".into(), "bob".into()],
        supervisor: None,
        round_robin_cursor: None,
    };
    s.put_team(&team, "admin", t0()).await.unwrap();
    s.set_team_cursor("care", "amy").await.unwrap();
    s.set_team_cursor("care", "bob").await.unwrap();
    let cursor = s.team("care").await.unwrap().unwrap().round_robin_cursor;
    assert_eq!(cursor.as_deref(), Some("bob"));
    s.set_team_cursor("gone", "amy").await.unwrap();
    assert!(s.team("gone").await.unwrap().is_none());
}

/// `WorkflowStore::reply`: a reply by its id, whatever its state; `None`
/// for an unknown id.
async fn reply_is_found_by_id(s: &SqlStore) {
    let case_id = case_of(s, "r1", "ann").await;
    let draft = s
        .add_reply(
            case_id,
            &public("On it."),
            ReplyRoute::Draft,
            "tom",
            minutes(1),
        )
        .await
        .unwrap();
    assert_eq!(s.reply(draft.id).await.unwrap(), Some(draft));
    assert_eq!(s.reply(NO_REPLY).await.unwrap(), None);
}

/// `handoff`: a handoff by its id, with its answer once given; `None` for
/// an unknown id.
async fn handoff_is_found_by_id(s: &SqlStore) {
    let case_id = case_of(s, "h1", "ann").await;
    let h = s
        .create_handoff(
            case_id,
            HandoffKind::Product,
            "app-team",
            "crash on login",
            "tom",
            minutes(1),
        )
        .await
        .unwrap();
    assert_eq!(s.handoff(h.id).await.unwrap(), Some(h.clone()));
    s.answer_handoff(h.id, "fixed in 2.1", "pia", minutes(2))
        .await
        .unwrap();
    let answered = s.handoff(h.id).await.unwrap().unwrap();
    assert_eq!(answered.answer.as_deref(), Some("fixed in 2.1"));
    assert_eq!(answered.answered_at, Some(minutes(2)));
    assert_eq!(s.handoff(NO_ID).await.unwrap(), None);
}

/// `record_webhook_attempt`: a failure with a retry time makes the delivery
/// due again then (attempts counted, error kept); one without gives up; a
/// success marks it delivered. Neither is due afterwards.
async fn webhook_attempts_schedule_retries_give_up_and_deliver(s: &SqlStore) {
    s.add_webhook("https://hooks.example.org/a", "secret", "admin", t0())
        .await
        .unwrap();
    assert_eq!(s.queue_webhooks(&json!({"n": 1}), t0()).await.unwrap(), 1);
    assert_eq!(s.queue_webhooks(&json!({"n": 2}), t0()).await.unwrap(), 1);
    let due = s.due_webhook_deliveries(t0(), 10).await.unwrap();
    let (first, second) = (due[0].delivery.id, due[1].delivery.id);
    assert_eq!(due[0].delivery.payload, json!({"n": 1}), "oldest first");

    let retry = WebhookAttempt::Failed {
        error: "503".into(),
        retry_at: Some(minutes(5)),
    };
    s.record_webhook_attempt(first, &retry, minutes(1))
        .await
        .unwrap();
    s.record_webhook_attempt(second, &WebhookAttempt::Delivered, minutes(1))
        .await
        .unwrap();
    assert!(
        s.due_webhook_deliveries(minutes(4), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due = s.due_webhook_deliveries(minutes(5), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].delivery.id, due[0].attempts), (first, 1));
    assert_eq!(due[0].delivery.last_error.as_deref(), Some("503"));

    let give_up = WebhookAttempt::Failed {
        error: "410".into(),
        retry_at: None,
    };
    s.record_webhook_attempt(first, &give_up, minutes(5))
        .await
        .unwrap();
    assert!(
        s.due_webhook_deliveries(minutes(600), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let listed = s.webhook_deliveries(10).await.unwrap();
    let delivered = listed.iter().find(|d| d.id == second).unwrap();
    assert_eq!(delivered.delivered_at, Some(minutes(1)));
    let failed = listed.iter().find(|d| d.id == first).unwrap();
    assert_eq!(
        (failed.delivered_at, failed.last_error.as_deref()),
        (None, Some("410"))
    );
}

/// `record_audit`: a record as given, listed newest first with the others
/// and found by its filters.
async fn record_audit_is_listed_newest_first(s: &SqlStore) {
    let record = |id: &str, at| AuditRecord {
        entity: "export".into(),
        entity_id: id.into(),
        action: "downloaded".into(),
        actor: "ann".into(),
        before: None,
        after: Some(json!({"rows": 3})),
        at,
    };
    s.record_audit(&record("1", minutes(1))).await.unwrap();
    s.record_audit(&record("2", minutes(2))).await.unwrap();
    let query = AuditQuery {
        entity: Some("export".into()),
        ..AuditQuery::default()
    };
    let listed = s.audit(&query).await.unwrap();
    assert_eq!(listed, [record("2", minutes(2)), record("1", minutes(1))]);
    let one = AuditQuery {
        entity_id: Some("1".into()),
        ..query
    };
    assert_eq!(s.audit(&one).await.unwrap(), [record("1", minutes(1))]);
}

/// Every change to a case refuses an unknown case (and stores nothing).
async fn case_changes_refuse_an_unknown_case(s: &SqlStore) {
    let unknown = ErrorCode::CaseNotFound;
    let assign = s
        .assign(NO_CASE, Some("amy".into()), None, "lead", t0())
        .await;
    assert_eq!(code(assign), unknown, "assign");
    assert_eq!(
        code(s.add_note(NO_CASE, "n", "amy", t0()).await),
        unknown,
        "add_note"
    );
    let reply = s
        .add_reply(NO_CASE, &public("hi"), ReplyRoute::Draft, "amy", t0())
        .await;
    assert_eq!(code(reply), unknown, "add_reply");
    let routed = s.route_case(NO_CASE, Some(90.0), &[], "rules", t0()).await;
    assert_eq!(code(routed), unknown, "route_case");
    let sensitive = s.set_sensitive(NO_CASE, true, "rules", t0()).await;
    assert_eq!(code(sensitive), unknown, "set_sensitive");
    let handoff = s
        .create_handoff(NO_CASE, HandoffKind::Location, "berlin", "m", "amy", t0())
        .await;
    assert_eq!(code(handoff), unknown, "create_handoff");
    assert!(s.handoffs(None).await.unwrap().is_empty());
    assert!(!s.is_sensitive(NO_CASE).await.unwrap());
}

/// Every step of a reply's life refuses an unknown reply.
async fn reply_steps_refuse_an_unknown_reply(s: &SqlStore) {
    let sent = s
        .mark_reply_sent(NO_REPLY, DeliveredVia::Hand, None, None, "amy", t0())
        .await;
    assert_eq!(code(sent), ErrorCode::NotFound, "mark_reply_sent");
    let asked = s.request_approval(NO_REPLY, "amy", &[], t0()).await;
    assert_eq!(code(asked), ErrorCode::NotFound, "request_approval");
    let approved = s
        .approve_and_send(NO_REPLY, "sue", ReplyRoute::Manual, t0())
        .await;
    assert_eq!(code(approved), ErrorCode::NotFound, "approve_and_send");
    // Only a reply waiting for approval can be turned down; the store does
    // not tell an unknown one apart (the app looks the reply up first).
    let rejected = s.reject_reply(NO_REPLY, "sue", "tone", t0()).await;
    assert_eq!(code(rejected), ErrorCode::InvalidTransition, "reject_reply");
    assert_eq!(s.approval(NO_REPLY).await.unwrap(), None);
}

/// Handoffs, notifications, webhooks and SLA policies refuse unknown ids;
/// a notification is also unknown to anyone but its user.
async fn other_records_refuse_unknown_ids(s: &SqlStore) {
    // A handoff is answered once: unknown and already answered are one
    // Conflict to the store (the API looks the handoff up first: 404).
    let answer = s.answer_handoff(NO_ID, "done", "pia", t0()).await;
    assert_eq!(code(answer), ErrorCode::Conflict, "answer_handoff");
    let n = s
        .notify("amy", "sla.warning", None, "soon due", &json!({}), t0())
        .await
        .unwrap();
    let others = s.mark_notification_read("bob", n.id, t0()).await;
    assert_eq!(
        code(others),
        ErrorCode::NotFound,
        "someone else's notification"
    );
    let unknown = s.mark_notification_read("amy", NO_ID, t0()).await;
    assert_eq!(code(unknown), ErrorCode::NotFound, "mark_notification_read");
    s.mark_notification_read("amy", n.id, minutes(1))
        .await
        .unwrap();
    s.mark_notification_read("amy", n.id, minutes(2))
        .await
        .unwrap();
    let read = s.notifications("amy", false).await.unwrap();
    assert_eq!(read[0].read_at, Some(minutes(1)), "the first read is kept");
    let webhook = s.delete_webhook(NO_ID, "admin", t0()).await;
    assert_eq!(code(webhook), ErrorCode::NotFound, "delete_webhook");
    let policy = s
        .update_sla_policy(
            NO_ID,
            &earshot_core::sla_policy::SlaPolicy {
                id: NO_ID,
                name: "x".into(),
                position: 1,
                conditions: Default::default(),
                targets: earshot_core::sla_policy::SlaTargets {
                    first_response_minutes: Some(60),
                    ..Default::default()
                },
                time_basis: earshot_core::calendar::TimeBasis::CalendarHours,
                warn_before_minutes: 0,
                escalation: vec![],
            },
            "admin",
            t0(),
        )
        .await;
    assert_eq!(code(policy), ErrorCode::NotFound, "update_sla_policy");
}

both_backends!(
    record_external_replies_join_the_answered_case_once,
    active_case_counts_count_only_active_assigned_cases,
    workflow_users_are_listed_by_name_with_their_teams,
    set_team_cursor_is_kept_and_ignores_unknown_teams,
    reply_is_found_by_id,
    handoff_is_found_by_id,
    webhook_attempts_schedule_retries_give_up_and_deliver,
    record_audit_is_listed_newest_first,
    case_changes_refuse_an_unknown_case,
    reply_steps_refuse_an_unknown_reply,
    other_records_refuse_unknown_ids,
);
