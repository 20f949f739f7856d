//! Routing rules at ingest and auto-assignment over HTTP.

use earshot_core::auth::Role;
use reqwest::Method;
use serde_json::json;

use crate::support::{both_databases, mention, spawn_app};

use crate::calls::{admin, call, case, kinds, notifications, open_case, profile, team, token_for};

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
