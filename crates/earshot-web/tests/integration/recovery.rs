//! Recovery over HTTP: a case's recovery, the summary and the cases behind
//! it, the desk's recovery block and inbox filter, and the 4xx answers.

use chrono::TimeDelta;
use earshot_core::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::calls::{admin, call, profile, token_for};
use crate::support::{TestApp, both_databases, spawn_app};

const COMPLAINT: &str = "@acme my parcel never arrived and nobody answers. Worst service ever";
const THANKS: &str = "@acme thank you so much, all sorted now, great service!";

/// A mention posted at the app's clock.
fn post(app: &TestApp, id: &str, handle: &str, text: &str) -> Value {
    json!({
        "source": "webhook",
        "external_id": id,
        "author": {"handle": handle},
        "text": text,
        "created_at": app.clock_now().to_rfc3339(),
        "url": format!("https://example.org/p/{id}")
    })
}

/// A complaint by `handle`, resolved by the admin: the case id.
async fn resolved(app: &TestApp, handle: &str) -> i64 {
    let (s, b) = app
        .post_json(
            "/api/v1/mentions",
            &post(app, &format!("{handle}-1"), handle, COMPLAINT),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["analysis"]["sentiment"], "negative", "{b}");
    let id = b["case"]["id"].as_i64().unwrap();
    let (s, b) = admin(
        app,
        Method::POST,
        &format!("/api/v1/cases/{id}/status"),
        Some(json!({"status": "resolved"})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    id
}

async fn a_thanks_after_resolution_is_a_recovery() {
    let app = spawn_app().await;
    // Routing rules run on what opens a case, not on a thanks that joins a
    // resolved one.
    let (s, b) = admin(
        &app,
        Method::PUT,
        "/api/v1/rules",
        Some(json!({"rules": [
            {"id": 1, "name": "parcels", "position": 1,
             "condition": {"type": "keyword", "any_of": ["parcel"]},
             "actions": [{"type": "tag", "tag": "parcel"}]},
            {"id": 2, "name": "thanks", "position": 2,
             "condition": {"type": "keyword", "any_of": ["thank*"]},
             "actions": [{"type": "tag", "tag": "thanked"},
                         {"type": "escalate", "reason": "a thank-you"}]}]})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let jo = resolved(&app, "jo").await;
    let (s, r) = app.get_json(&format!("/api/v1/cases/{jo}/recovery")).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["assessment"]["outcome"], "watching", "{r}");
    assert_eq!(r["assessment"]["final"], false);
    assert_eq!(r["window_days"], 30);

    // Three days later Jo thanks the brand: it joins the resolved case and
    // leaves it resolved.
    app.clock.advance(TimeDelta::days(3));
    let (s, b) = app
        .post_json("/api/v1/mentions", &post(&app, "jo-2", "jo", THANKS))
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["case"]["id"], jo, "{b}");
    assert_eq!(b["case"]["status"], "resolved", "{b}");
    let (_, case) = app.get_json(&format!("/api/v1/cases/{jo}")).await;
    assert_eq!(case["case"]["tags"], json!(["parcel"]), "{case}");
    assert_eq!(case["case"]["status"], "resolved");
    let (_, r) = app.get_json(&format!("/api/v1/cases/{jo}/recovery")).await;
    assert_eq!(r["assessment"]["outcome"], "recovered", "{r}");
    assert_eq!(r["assessment"]["before"], "negative");
    assert_eq!(r["assessment"]["after"], "positive");
    let texts: Vec<&str> = r["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, [COMPLAINT, THANKS]);

    // A second customer never speaks again; after the window: unknown.
    let kim = resolved(&app, "kim").await;
    app.clock.advance(TimeDelta::days(31));
    let (_, r) = app.get_json(&format!("/api/v1/cases/{kim}/recovery")).await;
    assert_eq!(r["assessment"]["outcome"], "unknown", "{r}");
    assert_eq!(r["assessment"]["final"], true);
    assert_eq!(r["evidence"].as_array().unwrap().len(), 1);
    // The worker's pass stores the rest (both were read above already).
    earshot_app::recovery::pass(&app.state.app, None)
        .await
        .unwrap();

    let (s, sum) = app.get_json("/api/v1/recovery/summary?by=source").await;
    assert_eq!(s, 200, "{sum}");
    assert_eq!(sum["by"], "source");
    assert_eq!(sum["groups"][0]["key"], "webhook");
    let total = &sum["total"];
    assert_eq!(
        (
            &total["assessed"],
            &total["recovered"],
            &total["unknown"],
            &total["lost"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!(0))
    );
    assert_eq!(total["recovery_rate"], 0.5);
    let (_, months) = app.get_json("/api/v1/recovery/summary").await;
    assert_eq!(months["by"], "month");
    assert_eq!(months["groups"][0]["key"], "2026-11");
    let (_, none) = app
        .get_json("/api/v1/recovery/summary?to=2026-01-01T00:00:00Z")
        .await;
    assert_eq!(none["total"]["assessed"], 0);
    assert_eq!(none["total"]["recovery_rate"], Value::Null);

    // The cases behind each number.
    for (outcome, expected) in [
        ("recovered", vec![jo]),
        ("unknown", vec![kim]),
        ("lost", vec![]),
        ("watching", vec![]),
    ] {
        let (s, cases) = app
            .get_json(&format!("/api/v1/cases?recovery={outcome}"))
            .await;
        assert_eq!(s, 200, "{cases}");
        let ids: Vec<i64> = cases
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, expected, "{outcome}");
    }

    // The desk: the case page's block and the inbox filter.
    let (cookie, _) = app.desk_session("dee", Role::Agent).await;
    let page = |path: String| {
        let cookie = cookie.clone();
        let client = app.client.clone();
        let url = app.url(&path);
        async move {
            let r = client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (s, html) = page(format!("/cases/{jo}")).await;
    assert_eq!(s, 200);
    assert!(
        html.contains("id=\"recovery-outcome\">Recovered<"),
        "{html}"
    );
    assert!(html.contains("thank you so much, all sorted now"));
    assert!(html.contains("/inbox?recovery=recovered"));
    let (s, html) = page("/inbox?recovery=unknown".into()).await;
    assert_eq!(s, 200);
    assert!(html.contains(&format!("/cases/{kim}")), "{html}");
    assert!(!html.contains(&format!("/cases/{jo}\"")));
    let (s, _) = page("/inbox?recovery=maybe".into()).await;
    assert_eq!(s, 400);

    // Jo's advocate profile: a detractor who came back round, by
    // recovery's own outcome.
    let (s, profile) = app.get_json("/api/v1/advocates/webhook/jo").await;
    assert_eq!(s, 200, "{profile}");
    let turn = &profile["cases"][0];
    assert_eq!(turn["case_id"], jo, "{profile}");
    assert_eq!(turn["recovery"], "recovered", "{profile}");
    assert_eq!(turn["turned_around"], true, "{profile}");

    // The dashboard's tile: the rate and each count linking to its cases.
    let (cookie, _) = app.desk_session("sam", Role::Supervisor).await;
    let dashboard = app
        .client
        .get(app.url("/dashboard"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = dashboard
        .find("id=\"tile-recovery\"")
        .expect("a recovery tile");
    let tile = &dashboard[at..at + dashboard[at..].find("</div>").unwrap()];
    assert!(
        tile.contains(">50%<"),
        "one recovered of two decided: {tile}"
    );
    for link in [
        "<a href=\"/inbox?recovery=recovered\">1 recovered</a>",
        "<a href=\"/inbox?recovery=lost\">0 lost</a>",
        "<a href=\"/inbox?recovery=unknown\">1 unknown</a>",
        "<a href=\"/inbox?recovery=watching\">0 watching</a>",
    ] {
        assert!(tile.contains(link), "{link} in {tile}");
    }
}
both_databases!(a_thanks_after_resolution_is_a_recovery);

async fn recovery_requests_are_checked() {
    let app = spawn_app().await;
    let id = resolved(&app, "lee").await;
    let (s, r) = app.get_json("/api/v1/cases/abc/recovery").await;
    assert_eq!(
        (s, r["code"].as_str()),
        (400, Some("invalid_path_parameter"))
    );
    let (s, r) = app.get_json("/api/v1/cases/999999/recovery").await;
    assert_eq!((s, r["code"].as_str()), (404, Some("case_not_found")));
    for bad in [
        "by=planet",
        "from=yesterday",
        "colour=red",
        "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
    ] {
        let (s, r) = app
            .get_json(&format!("/api/v1/recovery/summary?{bad}"))
            .await;
        assert_eq!(s, 400, "{bad}: {r}");
        assert!(r["code"].as_str().unwrap().starts_with("invalid_"), "{r}");
    }
    let (s, r) = app.get_json("/api/v1/cases?recovery=maybe").await;
    assert_eq!(s, 400, "{r}");
    let r = app
        .client
        .get(app.url(&format!("/api/v1/cases/{id}/recovery")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // A location manager sees neither the case nor its recovery, nor the
    // brand's rates.
    profile(&app, "mia", json!({"locations": ["berlin-mitte"]})).await;
    let mia = token_for(&app, "mia", Role::Supervisor).await;
    let (s, _) = call(
        &app,
        &mia,
        Method::GET,
        &format!("/api/v1/cases/{id}/recovery"),
        None,
    )
    .await;
    assert_eq!(s, 403);
    earshot_app::recovery::pass(&app.state.app, None)
        .await
        .unwrap();
    // Reports are about the whole brand: not for location managers.
    let (s, sum) = call(&app, &mia, Method::GET, "/api/v1/recovery/summary", None).await;
    assert_eq!((s, sum["code"].as_str()), (403, Some("forbidden")), "{sum}");
    let (_, all) = app.get_json("/api/v1/recovery/summary").await;
    assert_eq!(all["total"]["watching"], 1);
}
both_databases!(recovery_requests_are_checked);
