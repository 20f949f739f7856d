//! Read access found broken by an outside client: location managers'
//! scope on every endpoint that returns customer data, secrets kept out of
//! the audit log, and API tokens that admins list and revoke.

use earshot_core::accounts::{Accounts, CorrectionTask, NewCorrection};
use earshot_core::auth::Role;
use earshot_core::store::Store as _;
use earshot_core::workflow_store::WorkflowStore;
use reqwest::Method;
use serde_json::{Value, json};

use crate::calls::{COMPLAINT, admin, call, open_case, profile, token_for};
use crate::support::{TestApp, both_databases, spawn_app};

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect()
}

async fn first_mention(app: &TestApp, case_id: i64) -> (i64, String) {
    let (_, detail) = admin(app, Method::GET, &format!("/api/v1/cases/{case_id}"), None).await;
    let m = &detail["mentions"][0];
    (
        m["id"].as_i64().unwrap(),
        m["text"].as_str().unwrap().into(),
    )
}

async fn text(app: &TestApp, token: &str, path: &str) -> (u16, String) {
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A store manager lists, searches and exports only what belongs to cases at
/// her locations (not other stores' cases, unrouted cases or mentions with
/// no case), and is refused the staff-wide reads; staff still see all.
async fn a_location_manager_reads_only_their_locations_customer_data() {
    let app = spawn_app().await;
    profile(&app, "mia", json!({"locations": ["berlin-mitte"]})).await;
    let mia = token_for(&app, "mia", Role::Supervisor).await;
    let ours = open_case(&app, "l1", "jon", COMPLAINT).await;
    let theirs = open_case(
        &app,
        "l2",
        "kim",
        "Why was the Hamburg store so filthy? Rude staff, never again",
    )
    .await;
    let unrouted = open_case(
        &app,
        "l3",
        "lee",
        "Why did my Hamburg refund never arrive? Support hung up twice",
    )
    .await;
    let (s, b) = app
        .post_json(
            "/api/v1/mentions",
            &crate::support::mention("l4", "fan", "I love acme, best service ever, thank you!"),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["advocate"], true, "{b}");
    for (case_id, target) in [(ours, "berlin-mitte"), (theirs, "hamburg")] {
        let (s, b) = admin(
            &app,
            Method::POST,
            &format!("/api/v1/cases/{case_id}/handoff"),
            Some(json!({"kind": "location", "target": target, "message": "what happened?"})),
        )
        .await;
        assert_eq!(s, 201, "{b}");
    }
    let (our_mention, our_text) = first_mention(&app, ours).await;
    let mut all_texts = vec![our_text.clone()];
    for (handle, case_id) in [("jon", ours), ("kim", theirs), ("lee", unrouted)] {
        let (mention_id, text) = first_mention(&app, case_id).await;
        if case_id != ours {
            all_texts.push(text);
        }
        app.store
            .add_advocate(
                "webhook",
                handle,
                120,
                earshot_core::MentionId(mention_id),
                app.clock_now(),
            )
            .await
            .unwrap();
        let original = app
            .store
            .case_detail(earshot_core::CaseId(case_id))
            .await
            .unwrap()
            .unwrap()
            .mentions
            .into_iter()
            .find(|m| m.id.0 == mention_id)
            .unwrap()
            .analysis;
        let (corrected, label) = CorrectionTask::Sentiment
            .apply(&original, "neutral")
            .unwrap();
        app.store
            .add_correction(
                &NewCorrection {
                    mention_id,
                    task: CorrectionTask::Sentiment,
                    label,
                    actor: "ann".into(),
                    original,
                    corrected,
                    case: None,
                },
                app.clock_now(),
            )
            .await
            .unwrap();
    }

    // Mentions: the list, full-text search, and a page of one.
    let (s, list) = call(&app, &mia, Method::GET, "/api/v1/mentions", None).await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(ids(&list), [our_mention]);
    let (_, list) = call(&app, &mia, Method::GET, "/api/v1/mentions?limit=1", None).await;
    assert_eq!(ids(&list), [our_mention], "pages are filtered in the query");
    let (_, hits) = call(&app, &mia, Method::GET, "/api/v1/mentions?q=hamburg", None).await;
    assert_eq!(ids(&hits), Vec::<i64>::new());
    let (_, hits) = call(&app, &mia, Method::GET, "/api/v1/mentions?q=never", None).await;
    assert_eq!(ids(&hits), [our_mention]);
    // The scope is the server's: a client cannot send its own.
    let (s, b) = call(
        &app,
        &mia,
        Method::GET,
        "/api/v1/mentions?locations=hamburg",
        None,
    )
    .await;
    assert_eq!(s, 400, "{b}");

    // Advocates: only those whose mention is in one of her cases.
    let (s, advocates) = call(&app, &mia, Method::GET, "/api/v1/advocates", None).await;
    assert_eq!(s, 200, "{advocates}");
    let handles: Vec<&str> = advocates
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["handle"].as_str().unwrap())
        .collect();
    assert_eq!(handles, ["jon"]);

    // Corrections export: only her cases' lines.
    let (s, export) = text(&app, &mia, "/api/v1/corrections.jsonl").await;
    assert_eq!(s, 200, "{export}");
    let lines: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{export}");
    assert_eq!(lines[0]["text"], our_text.as_str());

    // Staff-wide reads are refused, with the JSON error body.
    for (method, path) in [
        (Method::GET, "/api/v1/users"),
        (Method::GET, "/api/v1/users/ann/profile"),
        (Method::POST, "/api/v1/rules/dry-run"),
        (Method::GET, "/api/v1/author-lists/vip"),
    ] {
        let (s, b) = call(&app, &mia, method, path, None).await;
        assert_eq!(s, 403, "{path}: {b}");
        assert_eq!(b["code"], "forbidden", "{path}: {b}");
    }
    // The desk's settings page lists every user too.
    let (cookie, _) = app.desk_session("mia", Role::Supervisor).await;
    let r = app
        .client
        .get(app.url("/settings"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Staff see everything.
    let staff = token_for(&app, "sam", Role::Supervisor).await;
    let (_, list) = call(&app, &staff, Method::GET, "/api/v1/mentions", None).await;
    assert_eq!(ids(&list).len(), 4);
    let (_, advocates) = call(&app, &staff, Method::GET, "/api/v1/advocates", None).await;
    assert_eq!(advocates.as_array().unwrap().len(), 4);
    let (_, export) = text(&app, &staff, "/api/v1/corrections.jsonl").await;
    for t in &all_texts {
        let line = serde_json::to_string(t).unwrap();
        assert!(export.contains(&line), "{t} missing from {export}");
    }
    for (method, path) in [
        (Method::GET, "/api/v1/users"),
        (Method::POST, "/api/v1/rules/dry-run"),
        (Method::GET, "/api/v1/author-lists/vip"),
    ] {
        let (s, b) = call(&app, &staff, method, path, None).await;
        assert_eq!(s, 200, "{path}: {b}");
    }
}
both_databases!(a_location_manager_reads_only_their_locations_customer_data);

/// A webhook URL carries its secret in the path (Slack) or query; neither
/// it nor the signing secret reaches the audit log, whoever reads it.
async fn webhook_secrets_never_reach_the_audit_log() {
    let app = spawn_app().await;
    let url = "https://hooks.slack.com/services/T0AAAA/B0BBBB/s3cr3tXYZ?key=qq9";
    let (s, created) = admin(
        &app,
        Method::POST,
        "/api/v1/webhooks",
        Some(json!({"url": url})),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let signing = created["signing_secret"].as_str().unwrap().to_string();
    let id = created["id"].as_i64().unwrap();
    let (s, _) = admin(
        &app,
        Method::DELETE,
        &format!("/api/v1/webhooks/{id}"),
        None,
    )
    .await;
    assert_eq!(s, 204);

    let supervisor = token_for(&app, "sue", Role::Supervisor).await;
    let analyst = token_for(&app, "ana", Role::Analyst).await;
    for token in [supervisor.as_str(), analyst.as_str(), crate::support::TOKEN] {
        let (s, body) = text(&app, token, "/api/v1/audit?entity=webhook").await;
        assert_eq!(s, 200, "{body}");
        assert!(body.contains("https://hooks.slack.com/…"), "{body}");
        for leak in ["s3cr3tXYZ", "T0AAAA", "/services", "qq9", signing.as_str()] {
            assert!(!body.contains(leak), "{leak} in {body}");
        }
    }
}
both_databases!(webhook_secrets_never_reach_the_audit_log);

/// Admins list tokens (never their hashes) and revoke one: it answers 401
/// from the next request. Everyone else gets 403; an unknown id 404.
async fn admins_list_and_revoke_tokens() {
    let app = spawn_app().await;
    let ann = token_for(&app, "ann", Role::Agent).await;
    let sue = token_for(&app, "sue", Role::Supervisor).await;
    let (s, _) = call(&app, &ann, Method::GET, "/api/v1/cases", None).await;
    assert_eq!(s, 200);

    for token in [&ann, &sue] {
        let (s, b) = call(&app, token, Method::GET, "/api/v1/tokens", None).await;
        assert_eq!(s, 403, "{b}");
        assert_eq!(b["code"], "forbidden");
        let (s, _) = call(&app, token, Method::DELETE, "/api/v1/tokens/1", None).await;
        assert_eq!(s, 403);
    }

    let (s, body) = text(&app, crate::support::TOKEN, "/api/v1/tokens").await;
    assert_eq!(s, 200, "{body}");
    let hash = earshot_web::auth::hash_token(&ann);
    assert!(!body.contains(&hash) && !body.contains(&ann), "{body}");
    assert!(!body.contains("hash"), "{body}");
    let listed: Value = serde_json::from_str(&body).unwrap();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ann")
        .unwrap()
        .clone();
    assert_eq!(entry["role"], "agent");
    assert!(entry["last_used_at"].is_string(), "{entry}");
    assert!(entry["revoked_at"].is_null(), "{entry}");
    let id = entry["id"].as_i64().unwrap();

    let (s, _) = admin(&app, Method::DELETE, &format!("/api/v1/tokens/{id}"), None).await;
    assert_eq!(s, 204);
    let (s, b) = call(&app, &ann, Method::GET, "/api/v1/cases", None).await;
    assert_eq!(s, 401, "{b}");
    assert_eq!(b["code"], "unauthorized");
    // The others keep working.
    let (s, _) = call(&app, &sue, Method::GET, "/api/v1/cases", None).await;
    assert_eq!(s, 200);

    let (s, b) = admin(&app, Method::DELETE, "/api/v1/tokens/999999", None).await;
    assert_eq!(s, 404, "{b}");
    assert_eq!(b["code"], "not_found");
    let (_, listed) = admin(&app, Method::GET, "/api/v1/tokens", None).await;
    let revoked = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap()
        .clone();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    let (_, audit) = admin(&app, Method::GET, "/api/v1/audit?entity=token", None).await;
    assert_eq!(audit[0]["action"], "revoked", "{audit}");
    assert_eq!(audit[0]["entity_id"], id.to_string());

    let (_, doc) = app.get_json("/api/v1/openapi.json").await;
    assert!(doc["paths"]["/api/v1/tokens"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/tokens/{id}"]["delete"].is_object());
}
both_databases!(admins_list_and_revoke_tokens);
