//! Reply approvals with their audit trail, and a public reply that
//! collides with one it did not see.

use chrono::TimeDelta;
use earshot_core::auth::Role;
use reqwest::Method;
use serde_json::json;

use crate::support::spawn_app;

use crate::calls::{
    COMPLAINT, admin, call, case, kinds, notifications, open_case, profile, team, token_for,
};
use crate::support::both_databases;

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
