//! The core loop over HTTP: authentication, ingestion with per-record
//! results, idempotency, validation errors, search, and case actions.

use earshot_core::auth::Role;
use earshot_core::store::Store;
use reqwest::Method;
use serde_json::json;

use crate::support::{both_databases, mention, spawn_app};

const COMPLAINT: &str = "@acme my order 4411 never arrived and support hung up on me twice. \
                         Refund me or I am cancelling my account";

async fn requests_without_a_valid_token_get_401() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/api/v1/cases"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized");

    let r = app
        .client
        .get(app.url("/api/v1/mentions"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Health and the API description are public.
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
both_databases!(requests_without_a_valid_token_get_401);

async fn a_complaint_is_analysed_and_opens_a_visible_case() {
    let app = spawn_app().await;
    let (status, body) = app
        .post_json("/api/v1/mentions", &mention("c1", "jane", COMPLAINT))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "created");
    assert_eq!(body["analysis"]["sentiment"], "negative");
    assert_eq!(body["analysis"]["complaint"], true);
    assert_eq!(body["case"]["action"], "opened");
    let case_id = body["case"]["id"].as_i64().unwrap();

    let (status, cases) = app.get_json("/api/v1/cases").await;
    assert_eq!(status, 200);
    assert_eq!(cases[0]["id"], case_id);
    assert_eq!(cases[0]["author_handle"], "jane");
    assert!(cases[0]["priority"]["score"].as_f64().unwrap() > 30.0);
    assert_eq!(
        cases[0]["priority"]["breakdown"].as_array().unwrap().len(),
        5
    );

    let (status, detail) = app.get_json(&format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(detail["mentions"][0]["external_id"], "c1");
    assert_eq!(detail["events"][0]["action"], "case.opened");

    let (status, _) = app.get_json("/api/v1/cases/999999").await;
    assert_eq!(status, 404);
}
both_databases!(a_complaint_is_analysed_and_opens_a_visible_case);

async fn reposting_stores_nothing_new() {
    let app = spawn_app().await;
    let m = mention("dup", "jane", COMPLAINT);
    let (first, a) = app.post_json("/api/v1/mentions", &m).await;
    let (second, b) = app.post_json("/api/v1/mentions", &m).await;
    assert_eq!((first, second), (201, 200));
    assert_eq!(b["status"], "duplicate");
    assert_eq!(a["mention_id"], b["mention_id"]);
    assert_eq!(b["case"]["id"], a["case"]["id"]);
    assert_eq!(app.store.mention_count().await.unwrap(), 1);
    let (_, found) = app.get_json("/api/v1/mentions?q=4411").await;
    assert_eq!(found.as_array().unwrap().len(), 1);
}
both_databases!(reposting_stores_nothing_new);

async fn malformed_input_gets_a_4xx_naming_the_problem() {
    let app = spawn_app().await;
    let send_raw = |body: &'static str| {
        app.authed(Method::POST, "/api/v1/mentions")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = send_raw(r#"{"source":"webhook","text":"#).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "invalid_json");

    let cases = [
        ("created_at", json!("yesterday"), "created_at:"),
        ("source", json!("myspace"), "source:"),
        ("colour", json!("red"), "colour"),
        ("url", json!("ftp://x"), "url:"),
        // PostgreSQL cannot store NUL: a 400 here, not a 500 at commit.
        ("text", json!("hel\u{0}lo"), "text: must not contain a NUL"),
        // The server's (fake) clock is 10:00; five minutes of skew are allowed.
        ("created_at", json!("2026-11-22T10:06:00Z"), "created_at:"),
    ];
    for (field, value, expected) in cases {
        let mut m = mention("bad", "jane", "hello");
        m[field] = value;
        let (status, body) = app.post_json("/api/v1/mentions", &m).await;
        assert_eq!(status, 400, "{field}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(expected), "{field}: {message}");
    }
    let mut m = mention("bad", "jane", "hello");
    m.as_object_mut().unwrap().remove("text");
    let (status, body) = app.post_json("/api/v1/mentions", &m).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("missing_field"))
    );

    let (status, body) = app.post_json("/api/v1/mentions", &json!(42)).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_json")));

    let huge = "x".repeat(earshot_web::MAX_BODY_BYTES + 10);
    let r = app
        .authed(Method::POST, "/api/v1/mentions")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "payload_too_large");

    let (status, body) = app.get_json("/api/v1/cases?status=bogus").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("status"),
        "{body}"
    );

    assert_eq!(
        app.store.mention_count().await.unwrap(),
        0,
        "nothing was written"
    );
}
both_databases!(malformed_input_gets_a_4xx_naming_the_problem);

async fn a_batch_reports_each_record_and_stores_only_the_valid_ones() {
    let app = spawn_app().await;
    let mut bad = mention("b2", "kim", "hello");
    bad["created_at"] = json!("not a date");
    let batch = json!([
        mention("b1", "sam", "my flight was cancelled and nobody helps"),
        bad,
        mention("b3", "ann", "thank you so much, the crew was wonderful"),
        mention("b1", "sam", "my flight was cancelled and nobody helps"),
    ]);
    let (status, body) = app.post_json("/api/v1/mentions", &batch).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["created"], 2);
    assert_eq!(body["duplicates"], 1);
    assert_eq!(body["errors"], 1);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[1]["status"], "error");
    let message = results[1]["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("record 1: created_at:"), "{message}");
    assert_eq!(results[2]["advocate"], true);
    assert_eq!(results[3]["status"], "duplicate");
    assert_eq!(app.store.mention_count().await.unwrap(), 2);

    let (status, body) = app
        .post_json("/api/v1/mentions", &json!([{"source": "webhook"}]))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(app.store.mention_count().await.unwrap(), 2);
}
both_databases!(a_batch_reports_each_record_and_stores_only_the_valid_ones);

async fn agents_work_cases_and_analysts_only_read() {
    let app = spawn_app().await;
    let (_, body) = app
        .post_json("/api/v1/mentions", &mention("w1", "eve", COMPLAINT))
        .await;
    let id = body["case"]["id"].as_i64().unwrap();
    let path = |action: &str| format!("/api/v1/cases/{id}/{action}");

    let (status, case) = app
        .post_json(
            &path("assign"),
            &json!({"assignee": "agent1", "team": "care"}),
        )
        .await;
    assert_eq!(status, 200, "{case}");
    assert_eq!(case["assignee"], "agent1");
    assert_eq!(case["status"], "open");

    let (status, body) = app
        .post_json(&path("status"), &json!({"status": "closed"}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_transition"))
    );

    let (status, _) = app
        .post_json(&path("notes"), &json!({"body": "called the courier"}))
        .await;
    assert_eq!(status, 201);
    let (status, body) = app.post_json(&path("notes"), &json!({"body": "  "})).await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().starts_with("body:"));
    let (status, body) = app
        .post_json(&path("notes"), &json!({"body": "called\u{0}"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("body:"));
    let (status, body) = app
        .post_json(
            &path("replies"),
            &json!({"visibility": "private", "body": "Eve,\u{0} refunded"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("body:"));

    let (status, reply) = app
        .post_json(
            &path("replies"),
            &json!({"visibility": "private", "body": "Eve, order 4411 is refunded today."}),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    // No connector delivers to a webhook source: never "sent" by itself.
    assert_eq!(reply["status"], "manual", "{reply}");
    assert!(reply["sent_at"].is_null());
    let (_, detail) = app.get_json(&format!("/api/v1/cases/{id}")).await;
    assert!(detail["case"]["first_response_at"].is_null(), "{detail}");
    let (status, posted) = app
        .post_json(
            &format!("/api/v1/replies/{}/posted", reply["id"]),
            &json!({"url": "https://example.org/p/brand-answer"}),
        )
        .await;
    assert_eq!(status, 200, "{posted}");
    assert_eq!(posted["status"], "sent");
    assert_eq!(posted["delivered_via"], "hand");
    assert_eq!(posted["channel_url"], "https://example.org/p/brand-answer");
    let (_, detail) = app.get_json(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(detail["case"]["first_response_at"], posted["sent_at"]);
    let (status, twice) = app
        .post_json(
            &format!("/api/v1/replies/{}/posted", reply["id"]),
            &json!({}),
        )
        .await;
    assert_eq!(status, 409, "recorded once: {twice}");

    let (status, case) = app
        .post_json(&path("status"), &json!({"status": "resolved"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(case["status"], "resolved");

    let (_, detail) = app.get_json(&format!("/api/v1/cases/{id}")).await;
    assert!(detail["case"]["first_response_at"].is_string());
    let actions: Vec<_> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        actions,
        [
            "case.opened",
            "case.assigned",
            "note.added",
            "reply.to_post_by_hand",
            "reply.posted_by_hand",
            "case.status_changed"
        ]
    );
    assert_eq!(detail["events"][1]["actor"], "bootstrap");

    // A read-only analyst token may look but not touch.
    let token = earshot_web::auth::generate_token();
    app.store
        .create_token(
            "analyst",
            &earshot_web::auth::hash_token(&token),
            Role::Analyst,
            app.clock_now(),
        )
        .await
        .unwrap();
    let r = app
        .client
        .post(app.url(&path("notes")))
        .bearer_auth(&token)
        .json(&json!({"body": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .client
        .get(app.url("/api/v1/cases"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
both_databases!(agents_work_cases_and_analysts_only_read);

#[tokio::test]
async fn the_openapi_document_lists_the_endpoints() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/mentions",
        "/api/v1/cases",
        "/api/v1/cases/{id}",
        "/api/v1/cases/{id}/replies",
    ] {
        assert!(doc["paths"][path].is_object(), "missing {path}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    // Each reply a connector delivers shows its outbox row.
    let schemas = &doc["components"]["schemas"];
    assert!(
        schemas["Reply"]["properties"]["delivery"].is_object(),
        "{}",
        schemas["Reply"]
    );
    for field in [
        "status",
        "attempts",
        "remote_id",
        "url",
        "last_error",
        "next_attempt_at",
    ] {
        assert!(
            schemas["Delivery"]["properties"][field].is_object(),
            "Delivery.{field}: {}",
            schemas["Delivery"]
        );
    }
    assert_eq!(
        schemas["OutboxStatus"]["enum"],
        serde_json::json!(["queued", "sending", "unknown", "sent", "failed", "dead"])
    );
}

async fn concurrent_posts_share_commits_and_each_gets_its_own_answer() {
    let app = spawn_app().await;
    let mut requests = Vec::new();
    for i in 0..60 {
        // Every third request repeats an earlier mention.
        let id = if i % 3 == 2 { i - 1 } else { i };
        let body = mention(
            &format!("c{id}"),
            &format!("user{id}"),
            "my parcel never arrived",
        );
        let request = app.authed(Method::POST, "/api/v1/mentions").json(&body);
        requests.push(tokio::spawn(async move {
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap();
            (id, status, body)
        }));
    }
    let mut created = std::collections::HashMap::new();
    let mut statuses = Vec::new();
    for r in requests {
        let (id, status, body) = r.await.unwrap();
        assert!(body["case"]["id"].is_i64(), "{body}");
        statuses.push(status);
        let mention_id = body["mention_id"].as_i64().unwrap();
        // The same external id always maps to the same stored mention.
        assert_eq!(*created.entry(id).or_insert(mention_id), mention_id);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 40);
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 20);
    assert_eq!(app.store.mention_count().await.unwrap(), 40);
}
both_databases!(concurrent_posts_share_commits_and_each_gets_its_own_answer);
