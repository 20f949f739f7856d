//! A location-scoped manager sees only their locations and answers handoffs.

use earshot_core::auth::Role;
use reqwest::Method;
use serde_json::json;

use crate::support::spawn_app;

use crate::calls::{
    COMPLAINT, admin, call, case, kinds, notifications, open_case, profile, token_for,
};
use crate::support::both_databases;

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
