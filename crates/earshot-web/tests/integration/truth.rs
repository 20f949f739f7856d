//! What the desk and the API show must be true: the SLA clock is the
//! customer's, priority follows who they are and how long they have waited,
//! an answered case leaves the top, and nothing is "sent" that did not leave.

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::calls::{COMPLAINT, admin};
use crate::support::{TestApp, both_databases, spawn_app};

/// A complaint by `handle`, posted `ago` before the fake clock's now.
fn posted(app: &TestApp, id: &str, handle: &str, text: &str, ago: TimeDelta) -> Value {
    let at: DateTime<Utc> = app.clock_now() - ago;
    json!({
        "source": "webhook",
        "external_id": id,
        "author": {"handle": handle, "followers": 120},
        "text": text,
        "created_at": at.to_rfc3339(),
    })
}

async fn open(app: &TestApp, body: &Value) -> i64 {
    let (s, b) = app.post_json("/api/v1/mentions", body).await;
    assert_eq!(s, 201, "{b}");
    b["case"]["id"].as_i64().unwrap()
}

fn factor(case: &Value, name: &str) -> f64 {
    case["priority"]["breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["factor"] == name)
        .unwrap_or_else(|| panic!("no {name} in {case}"))["points"]
        .as_f64()
        .unwrap()
}

async fn queue(app: &TestApp) -> Vec<i64> {
    let (s, cases) = app.get_json("/api/v1/cases?limit=50").await;
    assert_eq!(s, 200, "{cases}");
    cases
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

async fn case(app: &TestApp, id: i64) -> Value {
    let (s, b) = app.get_json(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(s, 200, "{b}");
    b["case"].clone()
}

async fn the_sla_clock_runs_from_the_customers_post() {
    let app = spawn_app().await;
    // The Standard policy of a fresh install: first response within 60 min,
    // amber 15 min before.
    let fresh = open(
        &app,
        &posted(&app, "c1", "amy", COMPLAINT, TimeDelta::minutes(5)),
    )
    .await;
    let near = open(
        &app,
        &posted(&app, "c2", "ben", COMPLAINT, TimeDelta::minutes(50)),
    )
    .await;
    let old = open(
        &app,
        &posted(&app, "c3", "cat", COMPLAINT, TimeDelta::days(32)),
    )
    .await;
    let state = |id: i64| {
        let app = &app;
        async move {
            let (s, sla) = app.get_json(&format!("/api/v1/cases/{id}/sla")).await;
            assert_eq!(s, 200, "{sla}");
            sla["state"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(state(fresh).await, "active");
    assert_eq!(state(near).await, "warning");
    assert_eq!(state(old).await, "missed", "32 days old is not '59m left'");

    // The ticker judges with the same clock, so "Breaching" lists them.
    earshot_app::sla::run_sla_tick(&app.state.app, app.clock_now())
        .await
        .unwrap();
    let (cookie, _) = app
        .desk_session("ana", earshot_core::auth::Role::Agent)
        .await;
    let page = app
        .client
        .get(app.url("/inbox?view=breaching"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("first response 31d overdue"), "{page}");
    assert!(page.contains("first response due in 10m"), "{page}");
    assert!(!page.contains(&format!("/cases/{fresh}\"")), "{page}");
    let dashboard = app
        .client
        .get(app.url("/dashboard"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        dashboard.contains("0 of 2 targets met, 4 running"),
        "{dashboard}"
    );
}
both_databases!(the_sla_clock_runs_from_the_customers_post);

async fn priority_counts_vips_and_the_wait_and_answered_cases_leave_the_top() {
    let app = spawn_app().await;
    let (s, b) = admin(
        &app,
        Method::PUT,
        "/api/v1/author-lists/vip",
        Some(json!({"handles": ["vera"]})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let vip = open(
        &app,
        &posted(&app, "v1", "vera", COMPLAINT, TimeDelta::minutes(5)),
    )
    .await;
    assert!(factor(&case(&app, vip).await, "customer_value") > 0.0);

    // Two identical complaints: the one waiting five hours ranks higher.
    let waited = open(
        &app,
        &posted(&app, "w1", "will", COMPLAINT, TimeDelta::hours(5)),
    )
    .await;
    let recent = open(
        &app,
        &posted(&app, "w2", "rita", COMPLAINT, TimeDelta::minutes(5)),
    )
    .await;
    let (w, r) = (case(&app, waited).await, case(&app, recent).await);
    assert!(factor(&w, "waiting") > factor(&r, "waiting"), "{w} {r}");
    let order = queue(&app).await;
    let pos = |id: i64| order.iter().position(|c| *c == id).unwrap();
    assert!(pos(waited) < pos(recent), "{order:?}");

    // The wait keeps growing on the refresher's tick.
    let before = factor(&case(&app, recent).await, "waiting");
    app.clock.set(app.clock_now() + TimeDelta::hours(6));
    earshot_app::priority::refresh(&app.state.app, app.clock_now())
        .await
        .unwrap();
    assert!(factor(&case(&app, recent).await, "waiting") > before);

    // Answered (posted by hand: no connector delivers to webhooks), the
    // VIP's case drops below every case still waiting on the brand.
    let (s, reply) = app
        .post_json(
            &format!("/api/v1/cases/{vip}/replies"),
            &json!({"visibility": "public", "body": "Vera, your order 4411 ships today."}),
        )
        .await;
    assert_eq!(s, 201, "{reply}");
    assert_eq!(reply["status"], "manual", "never sent by itself");
    let (s, b) = app
        .post_json(
            &format!("/api/v1/replies/{}/posted", reply["id"]),
            &json!({}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(*queue(&app).await.last().unwrap(), vip);
    assert_eq!(factor(&case(&app, vip).await, "waiting"), 0.0);

    // The customer writes again: back in the queue with the others.
    app.clock.set(app.clock_now() + TimeDelta::minutes(10));
    let again = posted(
        &app,
        "v2",
        "vera",
        "@acme it did not ship, my order 4411 is still missing. Where is it?",
        TimeDelta::minutes(1),
    );
    let (s, b) = app.post_json("/api/v1/mentions", &again).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["case"]["id"], vip, "{b}");
    assert_ne!(*queue(&app).await.last().unwrap(), vip);
}
both_databases!(priority_counts_vips_and_the_wait_and_answered_cases_leave_the_top);

async fn a_reply_on_an_imported_case_is_never_reported_sent() {
    let app = spawn_app().await;
    let mut body = posted(&app, "i1", "ivy", COMPLAINT, TimeDelta::minutes(30));
    body["source"] = json!("import");
    let id = open(&app, &body).await;
    let (s, reply) = app
        .post_json(
            &format!("/api/v1/cases/{id}/replies"),
            &json!({"visibility": "public", "body": "Ivy, order 4411 is refunded today."}),
        )
        .await;
    assert_eq!(s, 201, "{reply}");
    assert_eq!(reply["status"], "manual");
    assert!(reply["sent_at"].is_null());
    let (_, detail) = app.get_json(&format!("/api/v1/cases/{id}")).await;
    assert!(detail["case"]["first_response_at"].is_null(), "{detail}");
    assert!(
        detail["replies"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] != "sent"),
        "{detail}"
    );
}
both_databases!(a_reply_on_an_imported_case_is_never_reported_sent);
