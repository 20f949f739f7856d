//! The case workflow over HTTP: routing rules at ingest, SLA warnings,
//! breaches and escalations on a fake clock, reply approvals with their
//! audit trail, collisions, and location-scoped managers.

use chrono::{TimeDelta, TimeZone, Utc};
use earshot_core::auth::Role;
use earshot_core::store::Store;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestApp, both_databases, mention, spawn_app};

// Every text that must open a case asks a question: the question signal is
// rule-based, so these tests do not depend on the sentiment model's verdicts.
pub(crate) const COMPLAINT: &str = "@acme my order 4411 never arrived and support hung up on me twice. \
                         Where is my money? I am cancelling my account";

/// A bearer token for user `name` (the principal is `token:<name>`).
pub(crate) async fn token_for(app: &TestApp, name: &str, role: Role) -> String {
    let token = earshot_web::auth::generate_token();
    app.store
        .create_token(
            name,
            &earshot_web::auth::hash_token(&token),
            role,
            app.clock_now(),
        )
        .await
        .unwrap();
    token
}

pub(crate) async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn admin(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    call(app, crate::support::TOKEN, method, path, body).await
}

pub(crate) async fn profile(app: &TestApp, name: &str, body: Value) {
    let (s, b) = admin(
        app,
        Method::PUT,
        &format!("/api/v1/users/{name}/profile"),
        Some(body),
    )
    .await;
    assert_eq!(s, 200, "{b}");
}

async fn team(app: &TestApp, body: Value) {
    let (s, b) = admin(app, Method::POST, "/api/v1/teams", Some(body)).await;
    assert_eq!(s, 201, "{b}");
}

pub(crate) async fn open_case(app: &TestApp, id: &str, handle: &str, text: &str) -> i64 {
    let (s, b) = app
        .post_json("/api/v1/mentions", &mention(id, handle, text))
        .await;
    assert_eq!(s, 201, "{b}");
    b["case"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no case: {b}"))
}

async fn case(app: &TestApp, id: i64) -> Value {
    let (s, b) = app.get_json(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(s, 200, "{b}");
    b
}

async fn notifications(app: &TestApp, token: &str) -> Vec<Value> {
    let (s, b) = call(app, token, Method::GET, "/api/v1/notifications", None).await;
    assert_eq!(s, 200, "{b}");
    b.as_array().unwrap().clone()
}

fn kinds(n: &[Value]) -> Vec<String> {
    n.iter()
        .map(|x| x["kind"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_workflow_api_is_in_the_openapi_document() {
    let app = spawn_app().await;
    let (_, doc) = app.get_json("/api/v1/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/teams",
        "/api/v1/users",
        "/api/v1/rules",
        "/api/v1/rules/dry-run",
        "/api/v1/sla-policies",
        "/api/v1/cases/{id}/sla",
        "/api/v1/sla/report",
        "/api/v1/audit",
        "/api/v1/approvals",
        "/api/v1/replies/{id}/approve",
        "/api/v1/cases/{id}/presence",
        "/api/v1/notifications",
        "/api/v1/cases/{id}/handoff",
    ] {
        assert!(paths.contains_key(path), "{path} missing");
    }
}

/// A trainee's public reply is held as a draft; the trainee cannot approve
/// it, a supervisor can; it is then sent, and the approver is on the reply,
/// in the case events and in the audit log.
async fn a_trainee_cannot_publish_without_a_supervisors_approval() {
    let app = spawn_app().await;
    team(
        &app,
        json!({"name": "care", "members": ["tom", "sue"], "supervisor": "sue"}),
    )
    .await;
    profile(&app, "tom", json!({"in_training": true})).await;
    profile(&app, "sue", json!({"role": "supervisor"})).await;
    let tom = token_for(&app, "tom", Role::Agent).await;
    let sue = token_for(&app, "sue", Role::Supervisor).await;
    let id = open_case(&app, "a1", "eve", COMPLAINT).await;
    admin(
        &app,
        Method::POST,
        &format!("/api/v1/cases/{id}/assign"),
        Some(json!({"assignee": "tom", "team": "care"})),
    )
    .await;

    let (s, draft) = call(
        &app,
        &tom,
        Method::POST,
        &format!("/api/v1/cases/{id}/replies"),
        Some(json!({"visibility": "public", "body": "Eve, we are on it: refund today."})),
    )
    .await;
    assert_eq!(s, 202, "{draft}");
    assert_eq!(draft["status"], "pending_approval");
    let reply_id = draft["id"].as_i64().unwrap();
    // Nothing went out: no first response yet.
    assert!(case(&app, id).await["case"]["first_response_at"].is_null());

    // The trainee may neither list approvals nor approve their own reply.
    let (s, _) = call(&app, &tom, Method::GET, "/api/v1/approvals", None).await;
    assert_eq!(s, 403);
    let approve = format!("/api/v1/replies/{reply_id}/approve");
    let (s, b) = call(&app, &tom, Method::POST, &approve, None).await;
    assert_eq!(s, 403, "{b}");

    let (s, pending) = call(&app, &sue, Method::GET, "/api/v1/approvals", None).await;
    assert_eq!(s, 200);
    assert_eq!(pending[0]["reply_id"], reply_id);
    assert_eq!(pending[0]["requested_by"], "token:tom");
    assert_eq!(pending[0]["reasons"], json!(["author_in_training"]));
    assert!(kinds(&notifications(&app, &sue).await).contains(&"approval".to_string()));

    let (s, sent) = call(&app, &sue, Method::POST, &approve, None).await;
    assert_eq!(s, 200, "{sent}");
    // Approved, and left for the agent to post: no connector delivers here.
    assert_eq!(sent["status"], "manual");
    assert_eq!(sent["approved_by"], "token:sue");
    assert!(case(&app, id).await["case"]["first_response_at"].is_null());
    let (s, b) = call(&app, &sue, Method::POST, &approve, None).await;
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid_transition")));
    let (_, pending) = call(&app, &sue, Method::GET, "/api/v1/approvals", None).await;
    assert_eq!(pending, json!([]));

    // The audit log says who approved what, and when.
    let (s, audit) = call(
        &app,
        &sue,
        Method::GET,
        &format!("/api/v1/audit?entity=reply&entity_id={reply_id}"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{audit}");
    assert_eq!(audit[0]["action"], "approved");
    assert_eq!(audit[0]["actor"], "token:sue");
    assert_eq!(audit[0]["after"]["author"], "token:tom");
    let (_, trail) = admin(
        &app,
        Method::GET,
        &format!("/api/v1/audit?entity=case&entity_id={id}"),
        None,
    )
    .await;
    let actions: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"reply.approval_requested"), "{actions:?}");
    assert!(actions.contains(&"reply.approved"), "{actions:?}");
    // A second draft is turned down with a reason: it leaves the queue, the
    // author hears why, and it can no longer be approved.
    let (s, second) = call(
        &app,
        &tom,
        Method::POST,
        &format!("/api/v1/cases/{id}/replies"),
        Some(json!({"visibility": "public", "body": "Eve, sorry!!!",
            "last_public_reply_seen": reply_id})),
    )
    .await;
    assert_eq!(s, 202, "{second}");
    let second_id = second["id"].as_i64().unwrap();
    let reject = format!("/api/v1/replies/{second_id}/reject");
    let (s, _) = call(
        &app,
        &tom,
        Method::POST,
        &reject,
        Some(json!({"reason": "self"})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, b) = call(
        &app,
        &sue,
        Method::POST,
        &reject,
        Some(json!({"reason": "no\u{0}"})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(b["message"].as_str().unwrap().starts_with("reason:"), "{b}");
    let (s, rejected) = call(
        &app,
        &sue,
        Method::POST,
        &reject,
        Some(json!({"reason": "Name the refund date, drop the exclamation marks."})),
    )
    .await;
    assert_eq!(s, 200, "{rejected}");
    assert_eq!(rejected["rejected_by"], "token:sue");
    let (_, pending) = call(&app, &sue, Method::GET, "/api/v1/approvals", None).await;
    assert_eq!(pending, json!([]));
    assert_eq!(
        kinds(&notifications(&app, &tom).await),
        ["approval_rejected"]
    );
    let (s, b) = call(
        &app,
        &sue,
        Method::POST,
        &format!("/api/v1/replies/{second_id}/approve"),
        None,
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (400, Some("invalid_transition")),
        "{b}"
    );
    let (_, audit) = call(
        &app,
        &sue,
        Method::GET,
        &format!("/api/v1/audit?entity=reply&entity_id={second_id}"),
        None,
    )
    .await;
    assert_eq!(audit[0]["action"], "rejected");

    // Agents cannot read the audit log.
    let (s, _) = call(&app, &tom, Method::GET, "/api/v1/audit", None).await;
    assert_eq!(s, 403);

    // An agent token that belongs to no registered user may answer in
    // private, but its public replies wait for a supervisor too.
    let bot = token_for(&app, "helpdesk-bot", Role::Agent).await;
    let triage = open_case(&app, "a2", "rex", COMPLAINT).await;
    let replies = format!("/api/v1/cases/{triage}/replies");
    let (s, b) = call(
        &app,
        &bot,
        Method::POST,
        &replies,
        Some(json!({"visibility": "private", "body": "Rex, we have your order number."})),
    )
    .await;
    assert_eq!((s, b["status"].as_str()), (201, Some("manual")), "{b}");
    let (s, b) = call(
        &app,
        &bot,
        Method::POST,
        &replies,
        Some(json!({"visibility": "public", "body": "Rex, all sorted."})),
    )
    .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (202, Some("pending_approval")),
        "{b}"
    );
    let (_, pending) = call(&app, &sue, Method::GET, "/api/v1/approvals", None).await;
    assert_eq!(pending[0]["reasons"], json!(["unregistered_author"]));
}
both_databases!(a_trainee_cannot_publish_without_a_supervisors_approval);

/// Every routing action, applied when a mention opens a case, with
/// round-robin assignment in the team; rules are versioned and dry-run.
async fn routing_rules_apply_every_action_at_ingest() {
    let app = spawn_app().await;
    team(
        &app,
        json!({"name": "billing", "members": ["ann", "bob"], "supervisor": "sue",
               "strategy": "round_robin"}),
    )
    .await;
    profile(&app, "sue", json!({"role": "supervisor"})).await;
    let (s, _) = admin(
        &app,
        Method::POST,
        "/api/v1/webhooks",
        Some(json!({"url": "https://hooks.example.org/T000/B000"})),
    )
    .await;
    assert_eq!(s, 201);
    let rules = json!({"rules": [
        {"id": 1, "name": "refunds to billing", "position": 1,
         "condition": {"type": "keyword", "any_of": ["refund*"]},
         "actions": [
            {"type": "assign_team", "team": "billing"},
            {"type": "set_priority", "score": 95.0},
            {"type": "tag", "tag": "refund"},
            {"type": "notify", "target": {"type": "user", "name": "sue"}, "message": "refund asked"},
            {"type": "notify", "target": {"type": "webhook"}, "message": "refund asked"}]},
        {"id": 2, "name": "legal threats", "position": 2,
         "condition": {"type": "keyword", "any_of": ["lawyer"]},
         "actions": [
            {"type": "escalate", "reason": "legal threat"},
            {"type": "mark_sensitive"},
            {"type": "notify", "target": {"type": "team", "name": "billing"}, "message": "legal"}]},
        {"id": 3, "name": "big accounts", "position": 3,
         "condition": {"type": "reach", "min_followers": 10000},
         "actions": [{"type": "assign_user", "user": "carl"}, {"type": "send_to_advocates"}],
         "stop_processing": true},
        {"id": 4, "name": "vips", "position": 4,
         "condition": {"type": "author_in", "list": "vip"},
         "actions": [{"type": "tag", "tag": "vip"}]}
    ]});
    let (s, list) = admin(
        &app,
        Method::PUT,
        "/api/v1/author-lists/vip",
        Some(json!({"handles": ["@Dan", "dan", "zoe"]})),
    )
    .await;
    assert_eq!((s, list), (200, json!(["dan", "zoe"])));
    let (s, b) = admin(
        &app,
        Method::PUT,
        "/api/v1/author-lists/vip",
        Some(json!({"handles": ["d\u{0}n"]})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["message"].as_str().unwrap().starts_with("handles:"),
        "{b}"
    );
    let (s, v1) = admin(&app, Method::PUT, "/api/v1/rules", Some(rules.clone())).await;
    assert_eq!(s, 200, "{v1}");
    assert_eq!(v1["version"], 1);
    // Editing makes version 2; version 1 is kept.
    let (s, v2) = admin(&app, Method::PUT, "/api/v1/rules", Some(rules)).await;
    assert_eq!((s, v2["version"].as_i64()), (200, Some(2)));
    let (_, versions) = app.get_json("/api/v1/rules/versions").await;
    assert_eq!(versions.as_array().unwrap().len(), 2);
    // Invalid rules are refused, naming the field.
    let (s, b) = admin(
        &app,
        Method::PUT,
        "/api/v1/rules",
        Some(json!({"rules": [{"id": 9, "name": "x", "position": 1,
            "condition": {"type": "complaint"}, "actions": []}]})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(b["message"].as_str().unwrap().starts_with("rules:"), "{b}");

    // Rule 1 and 2 fire: team, auto-assignment, priority, tags, escalation,
    // sensitivity, notifications to a user, a team and the webhook.
    let text = "Where is my refund for order 88? It never arrived. My lawyer will hear about this!";
    let id = open_case(&app, "r1", "dan", text).await;
    let c = case(&app, id).await;
    assert_eq!(c["case"]["team"], "billing");
    assert_eq!(
        c["case"]["assignee"], "ann",
        "round-robin starts in name order"
    );
    assert_eq!(c["case"]["priority"]["score"].as_f64(), Some(95.0));
    let tags = c["case"]["tags"].as_array().unwrap();
    for tag in ["refund", "escalated", "vip"] {
        assert!(tags.contains(&json!(tag)), "{tag} missing: {tags:?}");
    }
    let events: Vec<(&str, &str)> = c["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert!(
        events.contains(&("case.assigned", "rule:1@v2")),
        "{events:?}"
    );
    assert!(
        events.contains(&("case.sensitivity_changed", "rule:2@v2")),
        "{events:?}"
    );

    let sue = token_for(&app, "sue", Role::Supervisor).await;
    let ann = token_for(&app, "ann", Role::Agent).await;
    let bob = token_for(&app, "bob", Role::Agent).await;
    let sue_n = kinds(&notifications(&app, &sue).await);
    assert!(
        sue_n.contains(&"rule".into()) && sue_n.contains(&"escalation".into()),
        "{sue_n:?}"
    );
    let ann_n = kinds(&notifications(&app, &ann).await);
    assert!(
        ann_n.contains(&"assigned".into()) && ann_n.contains(&"rule".into()),
        "{ann_n:?}"
    );
    assert!(kinds(&notifications(&app, &bob).await).contains(&"rule".into()));
    let (_, deliveries) = admin(&app, Method::GET, "/api/v1/webhooks/deliveries", None).await;
    let texts: Vec<String> = deliveries
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["payload"]["text"].as_str().unwrap().to_string())
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("refund asked")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.contains("assigned to ann")),
        "{texts:?}"
    );
    let (_, audit) = admin(&app, Method::GET, "/api/v1/audit?action=x", None).await;
    assert_eq!(
        audit["code"], "invalid_query_parameter",
        "unknown query fields are refused"
    );
    let (_, audit) = admin(&app, Method::GET, "/api/v1/audit?actor=rule:2@v2", None).await;
    assert_eq!(audit[0]["action"], "escalated");
    assert_eq!(audit[0]["after"]["reason"], "legal threat");

    // The sensitive case holds even an experienced agent's reply for approval.
    let (s, b) = call(
        &app,
        &ann,
        Method::POST,
        &format!("/api/v1/cases/{id}/replies"),
        Some(json!({"visibility": "public", "body": "Dan, refund is on its way."})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let (_, pending) = call(&app, &sue, Method::GET, "/api/v1/approvals", None).await;
    assert_eq!(pending[0]["reasons"], json!(["sensitive_case"]));

    // The next refund goes to the next agent in the rotation.
    let id2 = open_case(
        &app,
        "r2",
        "fay",
        "Where is the refund for my broken kettle? Awful service",
    )
    .await;
    assert_eq!(case(&app, id2).await["case"]["assignee"], "bob");

    // Rule 3: a user assignment and the advocates list.
    let mut big = mention(
        "r3",
        "megastar",
        "Where is my parcel? Late again and nobody answers, terrible",
    );
    big["author"]["followers"] = json!(50_000);
    let (s, b) = app.post_json("/api/v1/mentions", &big).await;
    assert_eq!(s, 201, "{b}");
    let id3 = b["case"]["id"].as_i64().unwrap();
    assert_eq!(case(&app, id3).await["case"]["assignee"], "carl");
    let (_, advocates) = app.get_json("/api/v1/advocates").await;
    assert!(
        advocates
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["handle"] == "megastar"),
        "{advocates}"
    );

    // The dry run shows which rules fire on which stored mentions.
    let (s, report) = admin(&app, Method::POST, "/api/v1/rules/dry-run", None).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["version"], 2);
    assert_eq!(report["evaluated"], 3);
    let r1 = b["mention_id"].as_i64().unwrap();
    assert_eq!(report["by_rule"]["3"], json!([r1]));
    assert_eq!(report["by_rule"]["1"].as_array().unwrap().len(), 2);
    // …and can try rules that are not saved yet.
    let (s, report) = admin(
        &app,
        Method::POST,
        "/api/v1/rules/dry-run",
        Some(json!({"rules": [{"id": 7, "name": "kettles", "position": 1,
            "condition": {"type": "keyword", "any_of": ["kettle"]},
            "actions": [{"type": "tag", "tag": "kettle"}]}]})),
    )
    .await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["by_rule"]["7"].as_array().unwrap().len(), 1);
}
both_databases!(routing_rules_apply_every_action_at_ingest);

/// The SLA clock on a fake clock: a warning before the due time, a breach
/// at it, then the ladder (notify the assignee, the supervisor, reassign),
/// each exactly once however often the ticker runs.
async fn sla_warns_breaches_and_escalates_on_the_fake_clock() {
    let app = spawn_app().await;
    team(
        &app,
        json!({"name": "care", "members": ["ann", "bob"], "supervisor": "sue"}),
    )
    .await;
    let (s, policy) = admin(
        &app,
        Method::POST,
        "/api/v1/sla-policies",
        Some(json!({"id": 0, "name": "standard", "position": 1,
            "targets": {"first_response_minutes": 60},
            "time_basis": {"type": "calendar_hours"},
            "warn_before_minutes": 15,
            "escalation": [
                {"after_minutes": 10, "action": "notify_assignee"},
                {"after_minutes": 20, "action": "notify_supervisor"},
                {"after_minutes": 30, "action": "reassign"}]})),
    )
    .await;
    assert_eq!(s, 201, "{policy}");
    let start = app.clock_now();
    let id = open_case(&app, "s1", "gus", COMPLAINT).await;
    admin(
        &app,
        Method::POST,
        &format!("/api/v1/cases/{id}/assign"),
        Some(json!({"assignee": "ann", "team": "care"})),
    )
    .await;
    // A second case answered in time counts as "hit".
    let hit = open_case(
        &app,
        "s2",
        "hal",
        "Where is my refund? Nobody answers, awful",
    )
    .await;
    let ann = token_for(&app, "ann", Role::Agent).await;
    let sue = token_for(&app, "sue", Role::Supervisor).await;
    let bob = token_for(&app, "bob", Role::Agent).await;

    let tick = |minutes: i64| {
        let state = app.state.clone();
        let clock = app.clock.clone();
        async move {
            clock.set(start + TimeDelta::minutes(minutes));
            earshot_app::sla::run_sla_tick(&state.app, start + TimeDelta::minutes(minutes))
                .await
                .unwrap()
        }
    };

    let r = tick(30).await;
    assert_eq!((r.evaluated, r.warnings, r.breaches), (2, 0, 0));
    let (s, b) = call(
        &app,
        &ann,
        Method::POST,
        &format!("/api/v1/cases/{hit}/replies"),
        Some(json!({"visibility": "public", "body": "Hal, refund sent just now."})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    // No connector delivers to this source: Ann posts it herself, and only
    // that stops Hal's clock.
    let (s, b) = call(
        &app,
        &ann,
        Method::POST,
        &format!("/api/v1/replies/{}/posted", b["id"]),
        Some(json!({})),
    )
    .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("sent")), "{b}");
    let (_, sla) = app.get_json(&format!("/api/v1/cases/{id}/sla")).await;
    assert_eq!(sla["state"], "active", "{sla}");

    // Someone looks at the case just as it enters its warning window: the
    // read must not stop the ticker from sending the warning.
    app.clock.set(start + TimeDelta::seconds(45 * 60 + 30));
    let (_, sla) = app.get_json(&format!("/api/v1/cases/{id}/sla")).await;
    assert_eq!(sla["state"], "warning");
    let r = tick(46).await;
    assert_eq!((r.warnings, r.breaches, r.escalations), (1, 0, 0));
    let r = tick(47).await;
    assert_eq!(r.warnings, 0, "a warning is sent once");
    assert_eq!(
        r.evaluated, 0,
        "nothing changed and nothing is due: no case is loaded"
    );
    assert_eq!(kinds(&notifications(&app, &ann).await), ["sla_warning"]);
    let (_, sla) = app.get_json(&format!("/api/v1/cases/{id}/sla")).await;
    assert_eq!(sla["state"], "warning");

    let r = tick(61).await;
    assert_eq!((r.breaches, r.escalations), (1, 0));
    let (_, sla) = app.get_json(&format!("/api/v1/cases/{id}/sla")).await;
    assert_eq!(sla["state"], "missed");
    assert_eq!(kinds(&notifications(&app, &sue).await), ["sla_breach"]);

    // Step 1, ten minutes after the breach: the assignee.
    let r = tick(71).await;
    assert_eq!(r.escalations, 1);
    assert_eq!(
        kinds(&notifications(&app, &ann).await),
        ["escalation", "sla_breach", "sla_warning"]
    );
    // Step 2: the supervisor.
    assert_eq!(tick(81).await.escalations, 1);
    assert_eq!(
        kinds(&notifications(&app, &sue).await),
        ["escalation", "sla_breach"]
    );
    // Step 3: reassigned within the team, away from the assignee.
    assert_eq!(tick(91).await.escalations, 1);
    assert_eq!(case(&app, id).await["case"]["assignee"], "bob");
    assert!(kinds(&notifications(&app, &bob).await).contains(&"assigned".into()));
    let r = tick(200).await;
    assert_eq!(
        (r.warnings, r.breaches, r.escalations),
        (0, 0, 0),
        "each step runs once"
    );

    let (_, audit) = admin(
        &app,
        Method::GET,
        &format!("/api/v1/audit?entity=case&entity_id={id}&actor=system"),
        None,
    )
    .await;
    let steps: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "escalated")
        .map(|r| r["after"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["reassign", "notify_supervisor", "notify_assignee"]);
    let (_, deliveries) = admin(&app, Method::GET, "/api/v1/webhooks/deliveries", None).await;
    assert_eq!(
        deliveries,
        json!([]),
        "no webhook configured, nothing queued"
    );

    let (s, report) = app.get_json("/api/v1/sla/report").await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(
        (report["hit"].as_u64(), report["missed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(report["percent_met"].as_f64(), Some(50.0));
}
both_databases!(sla_warns_breaches_and_escalates_on_the_fake_clock);

/// Presence shows who else is on a case; a second public reply that did
/// not see the first gets 409 naming it.
async fn a_second_public_reply_that_did_not_see_the_first_conflicts() {
    let app = spawn_app().await;
    team(&app, json!({"name": "care", "members": ["ann", "bob"]})).await;
    let ann = token_for(&app, "ann", Role::Agent).await;
    let bob = token_for(&app, "bob", Role::Agent).await;
    let id = open_case(&app, "c1", "ida", COMPLAINT).await;
    admin(
        &app,
        Method::POST,
        &format!("/api/v1/cases/{id}/assign"),
        Some(json!({"team": "care", "assignee": "ann"})),
    )
    .await;
    let presence = format!("/api/v1/cases/{id}/presence");
    let (s, b) = call(
        &app,
        &ann,
        Method::POST,
        &presence,
        Some(json!({"activity": "viewing"})),
    )
    .await;
    assert_eq!((s, b["others"].clone()), (200, json!([])));
    let (_, b) = call(
        &app,
        &bob,
        Method::POST,
        &presence,
        Some(json!({"activity": "drafting"})),
    )
    .await;
    assert_eq!(b["others"][0]["user"], "ann");
    assert_eq!(b["others"][0]["activity"], "viewing");
    let (_, b) = call(&app, &ann, Method::GET, &presence, None).await;
    assert_eq!(b["others"][0]["user"], "bob");
    assert_eq!(b["others"][0]["activity"], "drafting");
    // Presence expires without a heartbeat.
    app.clock.advance(TimeDelta::seconds(61));
    let (_, b) = call(&app, &ann, Method::GET, &presence, None).await;
    assert_eq!(b["others"], json!([]));

    // Someone outside the team may not touch its case.
    let carl = token_for(&app, "carl", Role::Agent).await;
    let (s, b) = call(
        &app,
        &carl,
        Method::POST,
        &format!("/api/v1/cases/{id}/notes"),
        Some(json!({"body": "mine now"})),
    )
    .await;
    assert_eq!(s, 403);
    assert!(b["message"].as_str().unwrap().contains("care"), "{b}");

    let replies = format!("/api/v1/cases/{id}/replies");
    let (s, first) = call(
        &app,
        &ann,
        Method::POST,
        &replies,
        Some(json!({"visibility": "public", "body": "Ida, refund issued."})),
    )
    .await;
    assert_eq!(s, 201, "{first}");
    let first_id = first["id"].as_i64().unwrap();
    let (s, b) = call(
        &app,
        &bob,
        Method::POST,
        &replies,
        Some(json!({"visibility": "public", "body": "Ida, we will call you back."})),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (409, Some("conflict")), "{b}");
    let msg = b["message"].as_str().unwrap();
    assert!(
        msg.contains("token:ann") && msg.contains(&format!("reply {first_id}")),
        "{msg}"
    );
    // Having read it, bob may follow up; a private reply never collides.
    let (s, _) = call(
        &app,
        &bob,
        Method::POST,
        &replies,
        Some(json!({"visibility": "private", "body": "Ida, DM: your refund id is 77."})),
    )
    .await;
    assert_eq!(s, 201);
    let (s, b) = call(
        &app,
        &bob,
        Method::POST,
        &replies,
        Some(json!({"visibility": "public", "body": "Ida, see the DM.",
            "last_public_reply_seen": first_id})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
}
both_databases!(a_second_public_reply_that_did_not_see_the_first_conflicts);

/// A store manager sees only cases handed to their locations, answers them,
/// and the answer comes back into the case.
async fn a_store_manager_sees_only_their_locations() {
    let app = spawn_app().await;
    profile(&app, "mia", json!({"locations": ["berlin-mitte"]})).await;
    let mia = token_for(&app, "mia", Role::Agent).await;
    let ours = open_case(&app, "l1", "jon", COMPLAINT).await;
    let theirs = open_case(
        &app,
        "l2",
        "kim",
        "Why was the Hamburg store so filthy? Rude staff, never again",
    )
    .await;
    admin(
        &app,
        Method::POST,
        &format!("/api/v1/cases/{ours}/assign"),
        Some(json!({"assignee": "ann"})),
    )
    .await;
    let (s, b) = admin(
        &app,
        Method::POST,
        &format!("/api/v1/cases/{ours}/handoff"),
        Some(json!({"kind": "location", "target": "berlin-mitte", "message": "what\u{0}"})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["message"].as_str().unwrap().starts_with("message:"),
        "{b}"
    );
    for (case_id, target) in [(ours, "berlin-mitte"), (theirs, "hamburg")] {
        let (s, b) = admin(
            &app,
            Method::POST,
            &format!("/api/v1/cases/{case_id}/handoff"),
            Some(json!({"kind": "location", "target": target,
                "message": "Customer says the parcel was refused at your desk; what happened?"})),
        )
        .await;
        assert_eq!(s, 201, "{b}");
    }
    assert_eq!(kinds(&notifications(&app, &mia).await), ["handoff"]);

    let (s, cases) = call(&app, &mia, Method::GET, "/api/v1/cases", None).await;
    assert_eq!(s, 200);
    let ids: Vec<i64> = cases
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [ours]);
    let (s, _) = call(
        &app,
        &mia,
        Method::GET,
        &format!("/api/v1/cases/{theirs}"),
        None,
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = call(
        &app,
        &mia,
        Method::GET,
        &format!("/api/v1/cases/{ours}"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (_, handoffs) = call(&app, &mia, Method::GET, "/api/v1/handoffs", None).await;
    let handoffs = handoffs.as_array().unwrap().clone();
    assert_eq!(handoffs.len(), 1);
    assert_eq!(handoffs[0]["case_id"], ours);
    // Staff see both.
    let (_, all) = admin(&app, Method::GET, "/api/v1/handoffs", None).await;
    assert_eq!(all.as_array().unwrap().len(), 2);

    // Managers answer their handoffs, and only theirs; they cannot reply.
    let (_, other) = admin(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{theirs}/handoff"),
        None,
    )
    .await;
    let other_id = other[0]["id"].as_i64().unwrap();
    let (s, _) = call(
        &app,
        &mia,
        Method::POST,
        &format!("/api/v1/handoffs/{other_id}/answer"),
        Some(json!({"answer": "not mine"})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, b) = call(
        &app,
        &mia,
        Method::POST,
        &format!("/api/v1/cases/{ours}/replies"),
        Some(json!({"visibility": "public", "body": "hello"})),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    // Notes on their own cases only; no assigning.
    let note = Some(json!({"body": "checking with the desk"}));
    let (s, _) = call(
        &app,
        &mia,
        Method::POST,
        &format!("/api/v1/cases/{ours}/notes"),
        note.clone(),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = call(
        &app,
        &mia,
        Method::POST,
        &format!("/api/v1/cases/{theirs}/notes"),
        note,
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = call(
        &app,
        &mia,
        Method::POST,
        &format!("/api/v1/cases/{ours}/assign"),
        Some(json!({"assignee": "mia"})),
    )
    .await;
    assert_eq!(s, 403);

    // The desk applies the same scope: the inbox lists only her location's
    // case, the other one neither opens nor takes a change.
    let (cookie, csrf) = app.desk_session("mia", Role::Agent).await;
    let desk = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: String| desk.get(app.url(&path)).header("cookie", &cookie).send();
    let inbox = get("/inbox".into()).await.unwrap();
    assert_eq!(inbox.status(), 200);
    let inbox = inbox.text().await.unwrap();
    assert!(inbox.contains(&format!("/cases/{ours}\"")), "{inbox}");
    assert!(!inbox.contains(&format!("/cases/{theirs}\"")), "{inbox}");
    assert_eq!(get(format!("/cases/{theirs}")).await.unwrap().status(), 403);
    assert_eq!(get(format!("/cases/{ours}")).await.unwrap().status(), 200);
    let their_mention = case(&app, theirs).await["mentions"][0]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    for (path, form) in [
        (
            format!("/cases/{theirs}/correct"),
            vec![
                ("mention_id", their_mention.as_str()),
                ("task", "sentiment"),
                ("label", "positive"),
            ],
        ),
        (
            format!("/cases/{theirs}/status"),
            vec![("status", "resolved")],
        ),
        (
            format!("/cases/{theirs}/notes"),
            vec![("body", "from the desk")],
        ),
        (format!("/cases/{ours}/assign"), vec![("assignee", "me")]),
    ] {
        let mut form = form;
        form.push(("csrf_token", csrf.as_str()));
        let r = desk
            .post(app.url(&path))
            .header("cookie", &cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    assert_eq!(case(&app, theirs).await["case"]["status"], "new");
    let hid = handoffs[0]["id"].as_i64().unwrap();
    let (s, b) = call(
        &app,
        &mia,
        Method::POST,
        &format!("/api/v1/handoffs/{hid}/answer"),
        Some(json!({"answer": "closed\u{0}"})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(b["message"].as_str().unwrap().starts_with("answer:"), "{b}");
    let (s, b) = call(
        &app,
        &mia,
        Method::POST,
        &format!("/api/v1/handoffs/{hid}/answer"),
        Some(json!({"answer": "Our courier desk was closed for stock-taking; we will call Jon."})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["answered_by"], "token:mia");
    let detail = case(&app, ours).await;
    let note = detail["notes"][1]["body"].as_str().unwrap();
    assert!(note.contains("courier desk was closed"), "{note}");
    assert!(
        detail["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "handoff.answered")
    );
    let ann = token_for(&app, "ann", Role::Agent).await;
    assert_eq!(kinds(&notifications(&app, &ann).await), ["handoff_answer"]);
    let (s, _) = call(
        &app,
        &mia,
        Method::POST,
        &format!("/api/v1/handoffs/{hid}/answer"),
        Some(json!({"answer": "again"})),
    )
    .await;
    assert_eq!(s, 409);
}
both_databases!(a_store_manager_sees_only_their_locations);

/// Admin changes to teams, users and SLA policies are audited with before
/// and after, and the log filters by entity, actor and time.
async fn changes_to_teams_users_and_policies_are_audited() {
    let app = spawn_app().await;
    let ann = token_for(&app, "ann", Role::Agent).await;
    let (s, _) = call(
        &app,
        &ann,
        Method::POST,
        "/api/v1/teams",
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(s, 403, "only admins manage teams");
    team(&app, json!({"name": "care", "members": ["ann"]})).await;
    let (s, _) = admin(
        &app,
        Method::POST,
        "/api/v1/teams",
        Some(json!({"name": "care"})),
    )
    .await;
    assert_eq!(s, 409);
    app.clock.advance(TimeDelta::minutes(5));
    let (s, t) = admin(
        &app,
        Method::PUT,
        "/api/v1/teams/care",
        Some(
            json!({"name": "ignored", "members": ["ann", "bob"], "strategy": "least_loaded",
            "calendar": {"time_zone": "Europe/Berlin",
                "hours": [{"day": "monday", "open": "09:00", "close": "17:00"}],
                "holidays": ["2026-12-25"]}}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["members"], json!(["ann", "bob"]));
    let (s, b) = admin(
        &app,
        Method::PUT,
        "/api/v1/teams/care",
        Some(json!({"name": "care", "calendar": {"time_zone": "Mars/Olympus", "hours": []}})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["message"].as_str().unwrap().starts_with("calendar"),
        "{b}"
    );
    profile(
        &app,
        "ann",
        json!({"languages": ["en", "de"], "capacity": 5}),
    )
    .await;
    let (_, users) = app.get_json("/api/v1/users").await;
    assert_eq!(users[0]["name"], "ann");
    assert_eq!(users[0]["profile"]["teams"], json!(["care"]));
    assert_eq!(users[0]["profile"]["capacity"], 5);

    let policy = json!({"name": "vip", "position": 1, "targets": {"resolution_minutes": 480},
        "time_basis": {"type": "calendar_hours"}});
    let (s, p) = admin(&app, Method::POST, "/api/v1/sla-policies", Some(policy)).await;
    assert_eq!(s, 201, "{p}");
    let pid = p["id"].as_i64().unwrap();
    let (s, b) = admin(
        &app,
        Method::PUT,
        &format!("/api/v1/sla-policies/{pid}"),
        Some(json!({"name": "vip", "position": 1, "targets": {},
            "time_basis": {"type": "calendar_hours"}})),
    )
    .await;
    assert_eq!(s, 400, "a policy needs a target: {b}");
    let (s, _) = admin(
        &app,
        Method::DELETE,
        &format!("/api/v1/sla-policies/{pid}"),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = admin(&app, Method::DELETE, "/api/v1/teams/care", None).await;
    assert_eq!(s, 204);

    let (_, log) = admin(
        &app,
        Method::GET,
        "/api/v1/audit?entity=team&entity_id=care",
        None,
    )
    .await;
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["deleted", "updated", "created"]);
    assert_eq!(log[1]["before"]["strategy"], "round_robin");
    assert_eq!(log[1]["after"]["strategy"], "least_loaded");
    assert_eq!(log[1]["actor"], "bootstrap");
    let (_, log) = admin(&app, Method::GET, "/api/v1/audit?entity=policy", None).await;
    assert_eq!(log.as_array().unwrap().len(), 2);
    let (_, log) = admin(
        &app,
        Method::GET,
        "/api/v1/audit?entity=user&entity_id=ann",
        None,
    )
    .await;
    assert_eq!(log[0]["after"]["capacity"], 5);
    let since = Utc.with_ymd_and_hms(2026, 11, 22, 10, 1, 0).unwrap();
    let (_, log) = admin(
        &app,
        Method::GET,
        &format!(
            "/api/v1/audit?entity=team&until={}",
            since.to_rfc3339().replace('+', "%2B")
        ),
        None,
    )
    .await;
    assert_eq!(log.as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log[0]["action"], "created");
}
both_databases!(changes_to_teams_users_and_policies_are_audited);

/// Business-hours SLAs count the case team's own calendar: a complaint on
/// Sunday morning is due one working hour after Monday's opening in Berlin.
async fn business_hours_follow_the_teams_calendar() {
    let app = spawn_app().await;
    let weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday"]
        .map(|d| json!({"day": d, "open": "09:00", "close": "17:00"}));
    team(
        &app,
        json!({"name": "care", "members": ["ann"],
            "calendar": {"time_zone": "Europe/Berlin", "hours": weekdays}}),
    )
    .await;
    // The policy's own calendar (Sundays, UTC) is replaced by the team's.
    let (s, b) = admin(
        &app,
        Method::POST,
        "/api/v1/sla-policies",
        Some(json!({"name": "office hours", "position": 1,
            "targets": {"first_response_minutes": 60},
            "time_basis": {"type": "business_hours", "calendar": {"time_zone": "UTC",
                "hours": [{"day": "sunday", "open": "00:00", "close": "23:59"}]}}})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        app.clock_now(),
        Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap(),
        "a Sunday"
    );
    let id = open_case(&app, "b1", "liv", COMPLAINT).await;
    let (_, sla) = app.get_json(&format!("/api/v1/cases/{id}/sla")).await;
    assert_eq!(
        sla["evaluation"]["targets"][0]["due_at"], "2026-11-22T11:00:00Z",
        "unrouted: the policy's calendar"
    );
    admin(
        &app,
        Method::POST,
        &format!("/api/v1/cases/{id}/assign"),
        Some(json!({"team": "care", "assignee": "ann"})),
    )
    .await;
    let (_, sla) = app.get_json(&format!("/api/v1/cases/{id}/sla")).await;
    assert_eq!(sla["state"], "active", "{sla}");
    // Monday 09:00 CET is 08:00 UTC; one business hour later.
    assert_eq!(
        sla["evaluation"]["targets"][0]["due_at"],
        "2026-11-23T09:00:00Z"
    );
}
both_databases!(business_hours_follow_the_teams_calendar);

/// A rule can require a skill: auto-assignment then passes over agents
/// without it, even when round-robin would pick them first.
async fn required_skills_steer_auto_assignment() {
    let app = spawn_app().await;
    team(&app, json!({"name": "billing", "members": ["amy", "zed"]})).await;
    profile(&app, "zed", json!({"skills": ["refunds"]})).await;
    let (s, b) = admin(
        &app,
        Method::PUT,
        "/api/v1/rules",
        Some(
            json!({"rules": [{"id": 1, "name": "refund experts", "position": 1,
            "condition": {"type": "keyword", "any_of": ["refund*"]},
            "actions": [{"type": "assign_team", "team": "billing"},
                        {"type": "require_skill", "skill": "refunds"}]}]}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let id = open_case(&app, "k1", "ned", "Where is my refund? Three weeks now").await;
    assert_eq!(case(&app, id).await["case"]["assignee"], "zed");
    // Nobody with the skill free: the case waits in the team queue.
    profile(&app, "zed", json!({"skills": ["refunds"], "away": true})).await;
    let id = open_case(&app, "k2", "ola", "Where is my refund? Nobody answers").await;
    let c = case(&app, id).await;
    assert_eq!(c["case"]["team"], "billing");
    assert!(c["case"]["assignee"].is_null(), "{c}");
}
both_databases!(required_skills_steer_auto_assignment);
