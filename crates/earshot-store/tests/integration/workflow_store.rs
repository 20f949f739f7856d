//! The workflow store contract on both backends: teams and profiles,
//! versioned rules, SLA policies and marks, approvals that send, handoffs
//! whose answers become notes, notifications, webhooks and the audit log.

use earshot_core::calendar::{BusinessCalendar, TimeBasis};
use earshot_core::reply::{DeliveredVia, ReplyRoute, ReplyStatus, Visibility};
use earshot_core::sla_policy::{SlaConditions, SlaPolicy, SlaTargets};
use earshot_core::store::{NewReply, Store};
use earshot_core::workflow_store::{
    AssignmentStrategy, AuditQuery, CaseSlaRecord, HandoffKind, TeamRecord, UserProfile,
    WorkflowStore,
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

fn policy(name: &str) -> SlaPolicy {
    SlaPolicy {
        id: 0,
        name: name.into(),
        position: 1,
        conditions: SlaConditions::default(),
        targets: SlaTargets {
            first_response_minutes: Some(30),
            ..SlaTargets::default()
        },
        time_basis: TimeBasis::CalendarHours,
        warn_before_minutes: 0,
        escalation: Vec::new(),
    }
}

async fn teams_profiles_rules_and_policies(s: &SqlStore) {
    let calendar: BusinessCalendar = serde_json::from_value(json!({"time_zone": "Europe/Berlin",
        "hours": [{"day": "monday", "open": "09:00", "close": "17:00"}]}))
    .unwrap();
    let care = TeamRecord {
        name: "care".into(),
        calendar: Some(calendar.clone()),
        strategy: AssignmentStrategy::RoundRobin,
        members: vec!["bob".into(), "ann".into(), "ann".into()],
        supervisor: Some("sue".into()),
        round_robin_cursor: None,
    };
    let saved = s.put_team(&care, "admin", t0()).await.unwrap();
    assert_eq!(saved.members, ["ann", "bob"]);
    assert_eq!(
        s.team("care").await.unwrap().unwrap().calendar,
        Some(calendar)
    );
    s.set_team_cursor("care", "ann").await.unwrap();
    let changed = TeamRecord {
        strategy: AssignmentStrategy::LeastLoaded,
        ..care.clone()
    };
    let saved = s.put_team(&changed, "admin", minutes(1)).await.unwrap();
    assert_eq!(
        saved.round_robin_cursor.as_deref(),
        Some("ann"),
        "the cursor survives edits"
    );
    assert_eq!(s.teams().await.unwrap().len(), 1);
    assert_eq!(
        s.team("care").await.unwrap().unwrap().strategy,
        AssignmentStrategy::LeastLoaded
    );

    let mut ann = UserProfile::new("ann");
    ann.languages = vec!["en".into()];
    ann.locations = Some(vec!["berlin".into()]);
    ann.can_publish = Some(false);
    let p = s.put_user(&ann, "admin", minutes(2)).await.unwrap();
    assert_eq!(p.teams, ["care"]);
    assert_eq!(p.locations, Some(vec!["berlin".to_string()]));
    assert_eq!(p.can_publish, Some(false));
    assert!(s.user("nobody").await.unwrap().is_none());

    assert!(s.current_rule_set().await.unwrap().is_none());
    s.save_rule_set(&json!([{"id": 1}]), "sue", minutes(3))
        .await
        .unwrap();
    let v2 = s
        .save_rule_set(&json!([{"id": 1}, {"id": 2}]), "sue", minutes(4))
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    let versions = s.rule_set_versions().await.unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [2, 1]
    );
    assert_eq!(s.current_rule_set().await.unwrap().unwrap().rules, v2.rules);

    // A fresh install already answers to the Standard policy.
    let fresh = s.sla_policies().await.unwrap();
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    assert_eq!(fresh[0].name, "Standard");
    assert_eq!(fresh[0].targets.first_response_minutes, Some(60));
    let p = s
        .create_sla_policy(&policy("std"), "sue", minutes(5))
        .await
        .unwrap();
    let id = p.id;
    assert!(id > 0);
    assert_eq!(
        p,
        SlaPolicy {
            id,
            ..policy("std")
        }
    );
    let p = s
        .update_sla_policy(id, &policy("vip"), "sue", minutes(6))
        .await
        .unwrap();
    assert_eq!((p.id, p.name.as_str()), (id, "vip"));
    assert_eq!(s.sla_policies().await.unwrap()[1], p);
    assert_eq!(
        s.update_sla_policy(999, &policy("none"), "sue", minutes(6))
            .await
            .unwrap_err()
            .code,
        earshot_core::ErrorCode::NotFound
    );
    s.delete_sla_policy(id, "sue", minutes(7)).await.unwrap();
    assert_eq!(s.sla_policies().await.unwrap(), fresh);
    s.delete_team("care", "admin", minutes(8)).await.unwrap();
    assert!(s.team("care").await.unwrap().is_none());

    // Author lists: normalised handles, looked up per author.
    let vip = s
        .put_author_list(
            "vip",
            &["@Eve".into(), "eve".into(), "max".into()],
            "sue",
            minutes(9),
        )
        .await
        .unwrap();
    assert_eq!(vip, ["eve", "max"]);
    s.put_author_list("press", &["max".into()], "sue", minutes(9))
        .await
        .unwrap();
    assert_eq!(s.lists_of("@MAX").await.unwrap(), ["press", "vip"]);
    assert!(s.lists_of("nobody").await.unwrap().is_empty());
    assert_eq!(s.author_list("vip").await.unwrap(), ["eve", "max"]);

    // The audit log: newest first, filtered by entity, actor and time.
    let all = s.audit(&AuditQuery::default()).await.unwrap();
    assert_eq!(all.len(), 11);
    assert_eq!(all[0].entity, "author_list");
    let team = s
        .audit(&AuditQuery {
            entity: Some("team".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        team.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(),
        ["deleted", "updated", "created"]
    );
    assert_eq!(team[1].before.as_ref().unwrap()["strategy"], "round_robin");
    let sue = s
        .audit(&AuditQuery {
            actor: Some("sue".into()),
            since: Some(minutes(4)),
            until: Some(minutes(7)),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(sue.len(), 3, "{sue:?}");
}

async fn approvals_sla_handoffs_and_notifications(s: &SqlStore) {
    let out = s
        .ingest(&[complaint("w1", "eve", "refund me now")], t0())
        .await
        .unwrap();
    let case_id = out[0].case.unwrap().id;

    // A held reply: drafted, approval requested, then approved and sent.
    let draft = s
        .add_reply(
            case_id,
            &NewReply {
                visibility: Visibility::Public,
                body: "Eve, refund today.".into(),
                send: false,
            },
            ReplyRoute::PendingApproval,
            "tom",
            minutes(1),
        )
        .await
        .unwrap();
    assert_eq!(draft.status, ReplyStatus::PendingApproval);
    s.request_approval(draft.id, "tom", &["author_in_training".into()], minutes(1))
        .await
        .unwrap();
    assert_eq!(
        s.latest_public_reply(case_id).await.unwrap().unwrap().id,
        draft.id,
        "a reply waiting for approval already collides"
    );
    assert_eq!(s.approvals(true).await.unwrap().len(), 1);
    let sent = s
        .approve_and_send(draft.id, "sue", ReplyRoute::Manual, minutes(2))
        .await
        .unwrap();
    assert_eq!(
        sent.status,
        ReplyStatus::Manual,
        "no connector: posted by hand"
    );
    assert_eq!(sent.approved_by.as_deref(), Some("sue"));
    assert!(s.approvals(true).await.unwrap().is_empty());
    let record = s.approval(draft.id).await.unwrap().unwrap();
    assert_eq!(record.approved_by.as_deref(), Some("sue"));
    let again = s
        .approve_and_send(draft.id, "sue", ReplyRoute::Manual, minutes(3))
        .await;
    assert_eq!(
        again.unwrap_err().code,
        earshot_core::ErrorCode::InvalidTransition
    );
    let detail = s.case_detail(case_id).await.unwrap().unwrap();
    assert_eq!(detail.case.first_response_at, None, "not posted yet");
    s.mark_reply_sent(draft.id, DeliveredVia::Hand, None, None, "tom", minutes(2))
        .await
        .unwrap();
    let detail = s.case_detail(case_id).await.unwrap().unwrap();
    assert_eq!(detail.case.first_response_at, Some(minutes(2)));

    // A held reply turned down leaves the queue and cannot be sent.
    let second = s
        .add_reply(
            case_id,
            &NewReply {
                visibility: Visibility::Public,
                body: "Eve!!!".into(),
                send: false,
            },
            ReplyRoute::PendingApproval,
            "tom",
            minutes(3),
        )
        .await
        .unwrap();
    s.request_approval(second.id, "tom", &["author_in_training".into()], minutes(3))
        .await
        .unwrap();
    let rejected = s
        .reject_reply(second.id, "sue", "too loud", minutes(3))
        .await
        .unwrap();
    assert_eq!(rejected.rejected_by.as_deref(), Some("sue"));
    assert_eq!(rejected.rejection_reason.as_deref(), Some("too loud"));
    assert!(s.approvals(true).await.unwrap().is_empty());
    assert_eq!(
        s.latest_public_reply(case_id).await.unwrap().unwrap().id,
        draft.id
    );
    assert!(
        s.approve_and_send(second.id, "sue", super::queue("key-second"), minutes(3))
            .await
            .is_err()
    );
    assert!(
        s.reject_reply(second.id, "sue", "again", minutes(3))
            .await
            .is_err()
    );

    // Routing state.
    assert!(!s.is_sensitive(case_id).await.unwrap());
    s.set_sensitive(case_id, true, "rule:1@v1", minutes(3))
        .await
        .unwrap();
    assert!(s.is_sensitive(case_id).await.unwrap());
    s.route_case(
        case_id,
        Some(97.0),
        &["vip".into()],
        "rule:1@v1",
        minutes(3),
    )
    .await
    .unwrap();
    let case = s.case_detail(case_id).await.unwrap().unwrap().case;
    assert_eq!(case.priority.score, 97.0);
    assert_eq!(case.tags, ["vip"]);
    s.add_advocate("webhook", "eve", 120, out[0].mention_id, minutes(3))
        .await
        .unwrap();
    assert_eq!(
        earshot_core::advocates::AdvocateStore::advocate_stats(
            s,
            &earshot_core::advocates::AdvocateFilter::default()
        )
        .await
        .unwrap()[0]
            .handle,
        "eve"
    );

    // SLA state and marks: each mark is claimed once.
    s.save_case_sla(&CaseSlaRecord {
        case_id,
        policy_id: Some(1),
        state: Some("warning".into()),
        evaluation: Some(json!({"targets": []})),
        next_check_at: Some(minutes(15)),
        updated_at: minutes(4),
    })
    .await
    .unwrap();
    assert_eq!(
        s.case_sla(case_id).await.unwrap().unwrap().state.as_deref(),
        Some("warning")
    );
    assert_eq!(s.all_case_sla().await.unwrap().len(), 1);
    let cp = &s.sla_checkpoints().await.unwrap()[0];
    assert_eq!(
        (cp.case_id, cp.next_check_at, cp.updated_at),
        (case_id, Some(minutes(15)), minutes(4))
    );
    assert!(
        s.claim_sla_mark(case_id, "breach:first_response:0", minutes(4))
            .await
            .unwrap()
    );
    assert!(
        !s.claim_sla_mark(case_id, "breach:first_response:0", minutes(5))
            .await
            .unwrap()
    );

    // A handoff sets the case's location; the answer becomes a note, once.
    let h = s
        .create_handoff(
            case_id,
            HandoffKind::Location,
            "berlin",
            "what happened?",
            "ann",
            minutes(5),
        )
        .await
        .unwrap();
    assert_eq!(
        s.case_detail(case_id)
            .await
            .unwrap()
            .unwrap()
            .case
            .location
            .as_deref(),
        Some("berlin")
    );
    let answered = s
        .answer_handoff(h.id, "closed for inventory", "mia", minutes(6))
        .await
        .unwrap();
    assert_eq!(answered.answered_by.as_deref(), Some("mia"));
    assert_eq!(
        s.answer_handoff(h.id, "again", "mia", minutes(7))
            .await
            .unwrap_err()
            .code,
        earshot_core::ErrorCode::Conflict
    );
    let detail = s.case_detail(case_id).await.unwrap().unwrap();
    assert!(detail.notes[0].body.contains("closed for inventory"));
    assert_eq!(s.handoffs(Some(case_id)).await.unwrap().len(), 1);

    // Notifications are per user, read once.
    let n = s
        .notify(
            "ann",
            "sla_breach",
            Some(case_id),
            "late",
            &json!({"x": 1}),
            minutes(8),
        )
        .await
        .unwrap();
    assert_eq!(s.notifications("ann", true).await.unwrap().len(), 1);
    assert!(s.notifications("bob", false).await.unwrap().is_empty());
    assert!(
        s.mark_notification_read("bob", n.id, minutes(9))
            .await
            .is_err()
    );
    s.mark_notification_read("ann", n.id, minutes(9))
        .await
        .unwrap();
    assert!(s.notifications("ann", true).await.unwrap().is_empty());

    // Webhook payloads are queued per configured webhook.
    assert_eq!(
        s.queue_webhooks(&json!({"text": "a"}), minutes(9))
            .await
            .unwrap(),
        0
    );
    let w = s
        .add_webhook(
            "https://hooks.example.org/x",
            "whsec_test",
            "admin",
            minutes(9),
        )
        .await
        .unwrap();
    assert_eq!(
        s.queue_webhooks(&json!({"text": "b"}), minutes(10))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.webhook_deliveries(10).await.unwrap()[0].payload["text"],
        "b"
    );
    // The delivery worker gets the signing secret; listings and the audit
    // log never show it.
    let due = s.due_webhook_deliveries(minutes(10), 10).await.unwrap();
    assert_eq!(due[0].secret.as_deref(), Some("whsec_test"));
    let created = s
        .audit(&AuditQuery {
            entity: Some("webhook".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(!created.is_empty());
    assert!(
        !format!("{created:?}").contains("whsec_test"),
        "{created:?}"
    );
    assert!(!format!("{:?}", s.webhooks().await.unwrap()).contains("whsec_test"));
    s.delete_webhook(w.id, "admin", minutes(11)).await.unwrap();
    assert!(s.webhooks().await.unwrap().is_empty());

    // Case events and workflow changes read as one audit log.
    let trail = s
        .audit(&AuditQuery {
            entity: Some("case".into()),
            entity_id: Some(case_id.to_string()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = trail.iter().map(|r| r.action.as_str()).collect();
    for a in [
        "case.opened",
        "reply.approval_requested",
        "reply.approved",
        "reply.rejected",
        "case.sensitivity_changed",
        "case.routed",
        "case.handed_off",
        "handoff.answered",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    let reply = s
        .audit(&AuditQuery {
            entity: Some("reply".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(reply[0].actor, "sue");
    assert_eq!(reply[0].after.as_ref().unwrap()["author"], "tom");
}

/// Location managers' scope is part of the query: mentions, search,
/// advocates and corrections of cases at other locations, or of no case,
/// never come back, and a page is counted after the filter.
async fn location_scope_is_applied_in_the_query(s: &SqlStore) {
    use earshot_core::accounts::{Accounts, CorrectionTask, NewCorrection};
    use earshot_core::store::MentionQuery;
    let out = s
        .ingest(
            &[
                complaint("b1", "amy", "my berlin parcel never arrived"),
                complaint("h1", "ben", "my hamburg parcel never arrived"),
                complaint("u1", "cat", "my unrouted parcel never arrived"),
            ],
            t0(),
        )
        .await
        .unwrap();
    let mention_ids: Vec<earshot_core::MentionId> = out.iter().map(|o| o.mention_id).collect();
    for (i, target) in [(0, "berlin"), (1, "hamburg")] {
        let case_id = out[i].case.unwrap().id;
        s.create_handoff(case_id, HandoffKind::Location, target, "?", "admin", t0())
            .await
            .unwrap();
    }
    for (i, id) in mention_ids.iter().enumerate() {
        s.add_advocate("webhook", &format!("fan{i}"), 100, *id, t0())
            .await
            .unwrap();
        let original = out_analysis(s, id.0).await;
        let (corrected, label) = CorrectionTask::Sentiment
            .apply(&original, "neutral")
            .unwrap();
        s.add_correction(
            &NewCorrection {
                mention_id: id.0,
                task: CorrectionTask::Sentiment,
                label,
                actor: "ann".into(),
                original,
                corrected,
                case: None,
            },
            t0(),
        )
        .await
        .unwrap();
    }
    let berlin = vec!["berlin".to_string()];
    // Cases too: a page of one holds the Berlin case, however the others rank.
    let berlin_case = out[0].case.unwrap().id;
    let page_of_one = |locations: Vec<String>| earshot_core::store::CaseQuery {
        limit: Some(1),
        locations: Some(locations),
        ..Default::default()
    };
    let cases = s.cases(&page_of_one(berlin.clone())).await.unwrap();
    assert_eq!(
        cases.iter().map(|c| c.id).collect::<Vec<_>>(),
        [berlin_case]
    );
    assert!(s.cases(&page_of_one(vec![])).await.unwrap().is_empty());
    let hamburg = s.cases(&page_of_one(vec!["hamburg".into()])).await.unwrap();
    assert_eq!(
        hamburg.iter().map(|c| c.id).collect::<Vec<_>>(),
        [out[1].case.unwrap().id],
        "the first page of everything would be Berlin's"
    );
    let inbox = s
        .inbox(&earshot_core::accounts::InboxQuery {
            limit: 1,
            locations: Some(vec!["hamburg".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        inbox.iter().map(|c| c.id).collect::<Vec<_>>(),
        [out[1].case.unwrap().id]
    );
    let scoped = |locations: &[&str], q: Option<&str>| MentionQuery {
        q: q.map(str::to_string),
        limit: Some(1),
        locations: Some(locations.iter().map(|l| l.to_string()).collect()),
        ..MentionQuery::default()
    };
    let ids = |ms: Vec<earshot_core::mention::Mention>| ms.iter().map(|m| m.id).collect::<Vec<_>>();
    // The newest mention (unrouted) would fill an unfiltered page of one.
    assert_eq!(
        ids(s.mentions(&scoped(&["berlin"], None)).await.unwrap()),
        [mention_ids[0]]
    );
    assert_eq!(
        ids(s
            .mentions(&scoped(&["berlin"], Some("parcel")))
            .await
            .unwrap()),
        [mention_ids[0]]
    );
    assert!(s.mentions(&scoped(&[], None)).await.unwrap().is_empty());
    let both = MentionQuery {
        limit: None,
        ..scoped(&["berlin", "hamburg"], Some("parcel"))
    };
    assert_eq!(
        ids(s.mentions(&both).await.unwrap()),
        [mention_ids[1], mention_ids[0]]
    );
    assert_eq!(s.mentions(&MentionQuery::default()).await.unwrap().len(), 3);

    let advocates = earshot_core::advocates::AdvocateStore::advocate_stats(
        s,
        &earshot_core::advocates::AdvocateFilter {
            locations: Some(berlin.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        advocates
            .iter()
            .map(|a| a.handle.as_str())
            .collect::<Vec<_>>(),
        ["fan0"]
    );
    assert_eq!(
        earshot_core::advocates::AdvocateStore::advocate_stats(
            s,
            &earshot_core::advocates::AdvocateFilter::default()
        )
        .await
        .unwrap()
        .len(),
        3
    );

    let corrections = s.corrections(Some(&berlin)).await.unwrap();
    assert_eq!(
        corrections
            .iter()
            .map(|c| earshot_core::MentionId(c.mention_id))
            .collect::<Vec<_>>(),
        [mention_ids[0]]
    );
    assert!(s.corrections(Some(&[])).await.unwrap().is_empty());
    assert_eq!(s.corrections(None).await.unwrap().len(), 3);
}

/// A webhook's URL path (Slack keeps its secret there) is never stored in
/// the audit log, and rows stored before redaction are redacted on read.
async fn webhook_audit_keeps_only_scheme_and_host(s: &SqlStore) {
    use sqlx::Row;
    s.add_webhook(
        "https://hooks.slack.com/services/T0/B0/s3cr3tpath",
        "whsec_x",
        "admin",
        t0(),
    )
    .await
    .unwrap();
    let stored: Vec<String> = sqlx::query("SELECT after FROM audit_log WHERE entity = 'webhook'")
        .fetch_all(s.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>("after").unwrap())
        .collect();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains("s3cr3tpath"), "{stored:?}");
    assert!(
        stored[0].contains("https://hooks.slack.com/…"),
        "{stored:?}"
    );

    // An old row, written before redaction existed.
    sqlx::query(
        "INSERT INTO audit_log (entity, entity_id, action, actor, before, after, at) \
         VALUES ('webhook', '9', 'created', 'admin', NULL, \
         '{\"url\": \"https://hooks.slack.com/services/T9/B9/oldsecret\", \"secret\": \"whsec_old\"}', 0)",
    )
    .execute(s.pool())
    .await
    .unwrap();
    let read = s
        .audit(&AuditQuery {
            entity: Some("webhook".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(read.len(), 2);
    let text = format!("{read:?}");
    for leak in ["s3cr3tpath", "oldsecret", "whsec_"] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
}

/// A stored value the contract cannot type is an error that names it,
/// never a silent default (an unknown strategy used to mean round-robin).
async fn unknown_stored_values_are_errors(s: &SqlStore) {
    sqlx::query(
        "INSERT INTO teams (name, calendar, strategy, supervisor, round_robin_cursor, updated_at) \
         VALUES ('care', NULL, 'random', NULL, NULL, 0)",
    )
    .execute(s.pool())
    .await
    .unwrap();
    for e in [
        s.team("care").await.unwrap_err(),
        s.teams().await.unwrap_err(),
    ] {
        assert_eq!(e.code, earshot_core::ErrorCode::Internal);
        assert!(
            e.message
                .contains(r#"stored team strategy "random" is unknown"#),
            "{}",
            e.message
        );
    }

    // A calendar that never opens is no calendar: an error, not calendar hours.
    sqlx::query(
        "INSERT INTO teams (name, calendar, strategy, supervisor, round_robin_cursor, updated_at) \
         VALUES ('night', '{\"time_zone\": \"Europe/Berlin\", \"hours\": []}', 'round_robin', NULL, NULL, 0)",
    )
    .execute(s.pool())
    .await
    .unwrap();
    let e = s.team("night").await.unwrap_err();
    assert!(e.message.contains("calendar"), "{}", e.message);

    sqlx::query("INSERT INTO sla_policies (policy, updated_at) VALUES ('{\"name\": \"half\"}', 0)")
        .execute(s.pool())
        .await
        .unwrap();
    let e = s.sla_policies().await.unwrap_err();
    assert_eq!(e.code, earshot_core::ErrorCode::Internal);
    assert!(e.message.contains("stored SLA policy"), "{}", e.message);
}

both_backends!(
    teams_profiles_rules_and_policies,
    unknown_stored_values_are_errors,
    approvals_sla_handoffs_and_notifications,
    location_scope_is_applied_in_the_query,
    webhook_audit_keeps_only_scheme_and_host,
);

/// The stored analysis of mention `id`.
async fn out_analysis(s: &SqlStore, id: i64) -> earshot_core::analysis::Analysis {
    s.mentions(&earshot_core::store::MentionQuery {
        limit: Some(500),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_iter()
    .find(|m| m.id.0 == id)
    .unwrap()
    .analysis
}
