//! Taking a case private through the API and the desk: fields refused by
//! name with nothing stored, both texts held for a trainee, a collision on
//! the acknowledgement, a generic text and its recorded override, a phone
//! follow-up that falls due and is marked done, the desk form round trip.

use chrono::TimeDelta;
use earshot_core::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::calls::{
    COMPLAINT, admin, call, case, notifications, open_case, profile, team, token_for,
};
use crate::support::{both_databases, spawn_app};

const ACK: &str = "Ida, sorry order 4411 never arrived: we're sorting it out with you in private.";
const MAX_ACK: &str =
    "Max, sorry order 4411 never arrived: we're sorting it out with you in private.";
const MAX_DM: &str = "Max, order 4411 is refunded today; could you confirm the card ending?";
const DM: &str = "Ida, order 4411 is refunded today; could you confirm the card ending?";

fn take(body: Value) -> Option<Value> {
    Some(body)
}

async fn stored(app: &crate::support::TestApp, id: i64) -> (usize, usize) {
    let c = case(app, id).await;
    let (_, h) = admin(
        app,
        Method::GET,
        &format!("/api/v1/cases/{id}/private-handoffs"),
        None,
    )
    .await;
    (
        c["replies"].as_array().map_or(0, Vec::len),
        h.as_array().map_or(0, Vec::len),
    )
}

async fn fields_are_refused_by_name_and_nothing_is_stored() {
    let app = spawn_app().await;
    let id = open_case(&app, "p1", "ida", COMPLAINT).await;
    let path = format!("/api/v1/cases/{id}/take-private");
    for (body, status, field) in [
        (
            json!({"public_text": ACK, "private_text": DM}),
            400,
            "channel",
        ),
        (
            json!({"channel": "platform", "private_text": DM}),
            400,
            "public_text",
        ),
        (
            json!({"channel": "platform", "public_text": ACK}),
            400,
            "private_text",
        ),
        (
            json!({"channel": "email", "public_text": ACK, "private_text": DM}),
            400,
            "address",
        ),
        (
            json!({"channel": "email", "public_text": ACK, "private_text": DM, "address": "ida@"}),
            400,
            "address",
        ),
        (
            json!({"channel": "phone", "public_text": ACK, "follow_up_note": "call about 4411"}),
            400,
            "due_at",
        ),
        (
            json!({"channel": "phone", "public_text": ACK, "follow_up_note": "x",
                   "due_at": "2020-01-01T00:00:00Z"}),
            400,
            "due_at",
        ),
        (
            json!({"channel": "platform", "public_text": "a\u{0}b", "private_text": DM}),
            400,
            "public_text",
        ),
    ] {
        let (s, b) = admin(&app, Method::POST, &path, take(body.clone())).await;
        assert_eq!(s, status, "{body} -> {b}");
        let message = b["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{body} -> {b}");
    }
    // No email source: the gate of the email channel is shown and refuses.
    let (s, b) = admin(
        &app,
        Method::POST,
        &path,
        take(
            json!({"channel": "email", "public_text": ACK, "private_text": DM,
                    "address": "ida@example.org"}),
        ),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["code"], "unprocessable");
    assert_eq!(
        b["message"],
        "channel: email is not available: no email source is configured"
    );
    assert_eq!(stored(&app, id).await, (0, 0), "a refusal stores nothing");

    let (s, options) = admin(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{id}/private-channels"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let kinds: Vec<&str> = options
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["channel"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["platform", "email", "phone", "dm_us"]);
    assert_eq!(options[1]["available"], false);
    assert_eq!(options[1]["reason"], "no email source is configured");
    assert_eq!(options[0]["available"], true);
    assert!(
        options[0]["note"]
            .as_str()
            .unwrap()
            .contains("send by hand"),
        "{options}"
    );

    // The handoff itself: two replies, one record, linked.
    let (s, h) = admin(
        &app,
        Method::POST,
        &path,
        take(json!({"channel": "platform", "public_text": ACK, "private_text": DM})),
    )
    .await;
    assert_eq!(s, 201, "{h}");
    assert_eq!(h["status"], "to_post_by_hand", "{h}");
    assert_eq!(h["public_reply"]["visibility"], "public");
    assert_eq!(h["public_reply"]["body"], ACK);
    assert_eq!(h["private_reply"]["visibility"], "private");
    assert_eq!(h["private_reply"]["status"], "manual");
    assert_eq!(stored(&app, id).await, (2, 1));
    let (s, _) = admin(
        &app,
        Method::GET,
        "/api/v1/cases/999999/private-handoffs",
        None,
    )
    .await;
    assert_eq!(s, 404);
}
both_databases!(fields_are_refused_by_name_and_nothing_is_stored);

async fn a_trainees_handoff_holds_both_texts_and_an_unseen_reply_collides() {
    let app = spawn_app().await;
    team(
        &app,
        json!({"name": "care", "members": ["tom", "sue", "bob"], "supervisor": "sue"}),
    )
    .await;
    profile(&app, "tom", json!({"in_training": true})).await;
    profile(&app, "sue", json!({"role": "supervisor"})).await;
    profile(&app, "bob", json!({})).await;
    let tom = token_for(&app, "tom", Role::Agent).await;
    let sue = token_for(&app, "sue", Role::Supervisor).await;
    let bob = token_for(&app, "bob", Role::Agent).await;
    let id = open_case(&app, "p2", "ida", COMPLAINT).await;
    admin(
        &app,
        Method::POST,
        &format!("/api/v1/cases/{id}/assign"),
        Some(json!({"assignee": "tom", "team": "care"})),
    )
    .await;
    let path = format!("/api/v1/cases/{id}/take-private");
    let (s, h) = call(
        &app,
        &tom,
        Method::POST,
        &path,
        take(json!({"channel": "platform", "public_text": ACK, "private_text": DM})),
    )
    .await;
    assert_eq!(s, 202, "{h}");
    assert_eq!(h["status"], "pending_approval");
    assert_eq!(h["public_reply"]["status"], "pending_approval");
    assert_eq!(h["private_reply"]["status"], "pending_approval");
    let (_, pending) = call(&app, &sue, Method::GET, "/api/v1/approvals", None).await;
    assert_eq!(pending.as_array().unwrap().len(), 2, "{pending}");
    assert!(
        crate::calls::kinds(&notifications(&app, &sue).await).contains(&"approval".to_string())
    );

    // On another case Bob answers in public; a handoff that has not seen
    // it collides.
    let id = open_case(&app, "p2b", "max", COMPLAINT).await;
    admin(
        &app,
        Method::POST,
        &format!("/api/v1/cases/{id}/assign"),
        Some(json!({"assignee": "bob", "team": "care"})),
    )
    .await;
    let path = format!("/api/v1/cases/{id}/take-private");
    let (s, first) = call(
        &app,
        &bob,
        Method::POST,
        &format!("/api/v1/cases/{id}/replies"),
        Some(json!({"visibility": "public", "body": "Ida, looking at order 4411 now."})),
    )
    .await;
    assert_eq!(s, 201, "{first}");
    let before = stored(&app, id).await;
    let (s, b) = admin(
        &app,
        Method::POST,
        &path,
        take(json!({"channel": "platform", "public_text": MAX_ACK, "private_text": MAX_DM})),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(stored(&app, id).await, before, "a collision stores nothing");
    let (s, _) = admin(
        &app,
        Method::POST,
        &path,
        take(
            json!({"channel": "platform", "public_text": MAX_ACK, "private_text": MAX_DM,
                    "last_public_reply_seen": first["id"]}),
        ),
    )
    .await;
    assert_eq!(s, 201);
}
both_databases!(a_trainees_handoff_holds_both_texts_and_an_unseen_reply_collides);

async fn a_generic_text_is_refused_with_reasons_unless_overridden() {
    let app = spawn_app().await;
    let id = open_case(&app, "p3", "ida", COMPLAINT).await;
    let path = format!("/api/v1/cases/{id}/take-private");
    let generic =
        "Hi, thanks for reaching out. We're looking into this and will get back to you shortly.";
    let (s, b) = admin(
        &app,
        Method::POST,
        &path,
        take(json!({"channel": "platform", "public_text": generic, "private_text": DM})),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .starts_with("public_text: reads as generic"),
        "{b}"
    );
    assert_eq!(stored(&app, id).await, (0, 0));
    let (s, h) = admin(
        &app,
        Method::POST,
        &path,
        take(
            json!({"channel": "platform", "public_text": generic, "private_text": DM,
                    "override_personalisation": true}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{h}");
    let c = case(&app, id).await;
    let events: Vec<&str> = c["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        events.contains(&"reply.personalisation_overridden"),
        "{events:?}"
    );
    assert!(events.contains(&"case.taken_private"), "{events:?}");
}
both_databases!(a_generic_text_is_refused_with_reasons_unless_overridden);

async fn a_phone_follow_up_falls_due_tells_its_assignee_and_is_marked_done() {
    let app = spawn_app().await;
    profile(&app, "ann", json!({})).await;
    let ann = token_for(&app, "ann", Role::Agent).await;
    let id = open_case(&app, "p4", "ida", COMPLAINT).await;
    admin(
        &app,
        Method::POST,
        &format!("/api/v1/cases/{id}/assign"),
        Some(json!({"assignee": "ann"})),
    )
    .await;
    let due = (app.clock_now() + TimeDelta::hours(2)).to_rfc3339();
    let (s, h) = call(&app, &ann, Method::POST, &format!("/api/v1/cases/{id}/take-private"),
        take(json!({"channel": "phone", "public_text": "Ida, sorry order 4411 never arrived: we'll call you today to sort it.",
                    "follow_up_note": "Call Ida about the refund of 4411", "due_at": due}))).await;
    assert_eq!(s, 201, "{h}");
    // No connector posts to the webhook source: the acknowledgement waits
    // to be posted by hand, the follow-up is open.
    assert_eq!(h["status"], "to_post_by_hand");
    assert_eq!(h["follow_up"]["done_at"], Value::Null);
    assert_eq!(h["private_reply"], Value::Null);
    assert_eq!(h["follow_up"]["assignee"], "ann");
    let hid = h["id"].as_i64().unwrap();

    earshot_app::handoff::check_due_follow_ups(&app.state.app, app.clock_now())
        .await
        .unwrap();
    assert!(
        !crate::calls::kinds(&notifications(&app, &ann).await)
            .contains(&"follow_up_due".to_string())
    );
    app.clock.advance(TimeDelta::hours(3));
    let told = earshot_app::handoff::check_due_follow_ups(&app.state.app, app.clock_now())
        .await
        .unwrap();
    assert_eq!(told, 1);
    let again = earshot_app::handoff::check_due_follow_ups(&app.state.app, app.clock_now())
        .await
        .unwrap();
    assert_eq!(again, 0, "told once");
    assert!(
        crate::calls::kinds(&notifications(&app, &ann).await)
            .contains(&"follow_up_due".to_string())
    );
    let (_, list) = admin(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{id}/private-handoffs"),
        None,
    )
    .await;
    assert!(list[0]["follow_up"]["notified_at"].is_string(), "{list}");

    let done = format!("/api/v1/cases/{id}/follow-ups/{hid}/done");
    let (s, h) = call(&app, &ann, Method::POST, &done, None).await;
    assert_eq!(s, 200, "{h}");
    assert!(h["follow_up"]["done_at"].is_string(), "{h}");
    assert_eq!(h["follow_up"]["done_by"], "ann");
    let (s, _) = call(&app, &ann, Method::POST, &done, None).await;
    assert_eq!(s, 409);
    let (s, _) = call(
        &app,
        &ann,
        Method::POST,
        &format!("/api/v1/cases/{id}/follow-ups/999999/done"),
        None,
    )
    .await;
    assert_eq!(s, 404);
}
both_databases!(a_phone_follow_up_falls_due_tells_its_assignee_and_is_marked_done);
