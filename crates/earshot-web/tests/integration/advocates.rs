//! The Advocates page and API over HTTP: the thank-you queue in the desk
//! (a suggestion that passes the check, sent through the outbox with a
//! running connector, `manual` without, skipped, and a generic edit
//! warned about with the text kept), the ranked list, the CSV export, the
//! profile, the API's 4xx answers and the location scope.

use earshot_core::auth::Role;
use reqwest::Method;

use crate::support::{TestApp, both_databases, spawn_app};

/// A desk user driving the desk over HTTP, without following redirects.
struct Desk<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl<'a> Desk<'a> {
    async fn new(app: &'a TestApp, name: &str, role: Role) -> Desk<'a> {
        let (cookie, csrf) = app.desk_session(name, role).await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Desk {
            app,
            client,
            cookie,
            csrf,
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(self.app.url(path))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let r = self
            .client
            .post(self.app.url(path))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (r.status().as_u16(), location, r.text().await.unwrap())
    }
}

/// The text of the textarea `id` on a page (HTML-escaped as rendered).
fn textarea(page: &str, id: &str) -> String {
    let at = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no {id} on the page"));
    let rest = &page[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest.find("</textarea>").unwrap();
    rest[start..end]
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

fn post(id: &str, handle: &str, text: &str, followers: u64) -> serde_json::Value {
    serde_json::json!({
        "source": "webhook",
        "external_id": id,
        "author": {"handle": handle, "followers": followers},
        "text": text,
        "created_at": "2026-11-22T09:00:00Z",
        "url": format!("https://example.org/p/{id}")
    })
}

const PRAISE: &str =
    "@acme I love the new espresso bar at your Leith store, best flat white in town";

/// Hears `body` through a configured webhook source (so replies can go
/// back out through it) and returns the mention id.
async fn heard(app: &TestApp, source: earshot_core::ids::SourceId, body: serde_json::Value) -> i64 {
    use earshot_workflow::Clock;
    let input: earshot_core::mention::MentionInput = serde_json::from_value(body).unwrap();
    let mut m = input.validate(app.clock.now()).unwrap();
    m.origin = Some(earshot_core::mention::MentionOrigin {
        source_id: source,
        reply_ref: serde_json::json!({"post": m.external_id.clone()}),
        private: false,
    });
    let out = earshot_app::ingest::ingest(&app.state.app, vec![m])
        .await
        .unwrap();
    assert!(out[0].outcome.advocate, "{:?}", out[0].outcome);
    out[0].outcome.mention_id.0
}

async fn webhook_source(app: &TestApp) -> earshot_core::ids::SourceId {
    use earshot_core::sources::{NewSource, SourceStore};
    app.store
        .create_source(
            &NewSource {
                kind: earshot_core::source::SourceKind::Webhook,
                name: "brand hooks".into(),
                config: serde_json::Map::new(),
                credentials: None,
                paused: false,
            },
            app.clock_now(),
        )
        .await
        .unwrap()
        .id
}

async fn the_thank_you_queue_works_in_the_desk() {
    use earshot_connectors::Connector;
    use earshot_connectors::fake::FakeConnector;
    let app = spawn_app().await;
    let source = webhook_source(&app).await;
    let fake = FakeConnector::new(
        earshot_core::source::SourceKind::Webhook,
        earshot_connectors::Transport::Push,
    );
    app.state
        .app
        .channels
        .register(earshot_app::channels::Channel {
            source_id: source,
            kind: earshot_core::source::SourceKind::Webhook,
            connector: std::sync::Arc::new(fake.clone()),
            capabilities: fake.capabilities(),
        });
    let jo = heard(&app, source, post("w1", "jo_b", PRAISE, 800)).await;
    let kim = heard(
        &app,
        source,
        post(
            "w2",
            "kim",
            "@acme thank you for the quick refund on my headphones",
            20,
        ),
    )
    .await;
    let lee = heard(
        &app,
        source,
        post(
            "w3",
            "lee",
            "@acme great support from Priya on the billing chat",
            10,
        ),
    )
    .await;
    let ann = Desk::new(&app, "ann", Role::Agent).await;

    let (s, page) = ann.get("/advocates").await;
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("href=\"/advocates\" aria-current=\"page\""));
    // Best first by reach and rank: Jo (800 followers) leads.
    let first = page.find(&format!("id=\"t-{jo}\"")).unwrap();
    assert!(first < page.find(&format!("id=\"t-{kim}\"")).unwrap());
    let suggestion = textarea(&page, &format!("thanks-text-{jo}"));
    assert!(suggestion.contains("@jo_b"), "{suggestion}");
    assert!(
        !page.contains(&format!("id=\"thanks-warning-{jo}\"")),
        "it passes"
    );
    // The same suggestion passes the check the API runs.
    let (_, queue) = app.get_json("/api/v1/thanks").await;
    let item = queue
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["mention"]["id"] == jo)
        .unwrap();
    assert_eq!(item["suggestion"]["passes"], true, "{item}");
    assert_eq!(item["suggestion"]["text"], suggestion.as_str());

    // A forged form is refused and records nothing.
    let (s, _, _) = ann
        .post(
            &format!("/advocates/thanks/{jo}/send"),
            &[("csrf_token", "forged"), ("text", &suggestion)],
        )
        .await;
    assert_eq!(s, 403);

    // Send it as suggested: out through the outbox.
    let (s, location, body) = ann
        .post(
            &format!("/advocates/thanks/{jo}/send"),
            &[("csrf_token", &ann.csrf), ("text", &suggestion)],
        )
        .await;
    assert_eq!(s, 303, "{body}");
    assert!(location.starts_with("/advocates?done=outbox"), "{location}");
    let (_, page) = ann.get(&location).await;
    assert!(page.contains("queued: the outbox delivers it"), "{page}");
    assert!(
        !page.contains(&format!("id=\"t-{jo}\"")),
        "out of the queue"
    );
    let report = earshot_app::outbox::OutboxWorker::default()
        .tick(&app.state.app, app.clock_now())
        .await
        .unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, suggestion);
    assert_eq!(sent[0].recipient, "jo_b");
    let (_, profile) = app.get_json("/api/v1/advocates/webhook/JO_B").await;
    let thanks = &profile["thanks"][0];
    assert_eq!(thanks["decision"], "thanked", "{profile}");
    assert_eq!(thanks["actor"], "ann");
    assert_eq!(thanks["reply_status"], "sent");
    let case_id = thanks["case_id"].as_i64().unwrap();
    let (_, case) = app.get_json(&format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(case["case"]["status"], "closed");
    assert_eq!(case["case"]["tags"], serde_json::json!(["thank-you"]));
    assert_eq!(case["replies"][0]["status"], "sent");

    // A generic edit gets the warning inline, the text kept.
    let generic = "Thanks for reaching out!";
    let (s, _, page) = ann
        .post(
            &format!("/advocates/thanks/{lee}/send"),
            &[("csrf_token", &ann.csrf), ("text", generic)],
        )
        .await;
    assert_eq!(s, 422);
    assert!(
        page.contains(&format!("id=\"thanks-warning-{lee}\"")),
        "{page}"
    );
    assert!(page.contains("This thank-you reads as generic"));
    assert!(page.contains("does not address the customer"));
    assert_eq!(textarea(&page, &format!("thanks-text-{lee}")), generic);
    assert!(page.contains(&format!("id=\"send-anyway-{lee}\"")));
    assert!(fake.sent().len() == 1, "nothing more went out");

    // Skip: recorded and gone from the queue.
    let (s, location, _) = ann
        .post(
            &format!("/advocates/thanks/{lee}/skip"),
            &[("csrf_token", &ann.csrf), ("text", generic)],
        )
        .await;
    assert_eq!(s, 303);
    assert!(location.contains("done=skipped"), "{location}");
    let (_, page) = ann.get("/advocates").await;
    assert!(!page.contains(&format!("id=\"t-{lee}\"")));
    let (_, lee_profile) = app.get_json("/api/v1/advocates/webhook/lee").await;
    assert_eq!(lee_profile["thanks"][0]["decision"], "skipped");
    assert_eq!(lee_profile["thanks"][0]["actor"], "ann");
    assert_eq!(lee_profile["thanks"][0]["text"], generic);

    // Without a connector the thanks waits to be posted by hand.
    app.state.app.channels.unregister(source);
    let kim_text = textarea(&page, &format!("thanks-text-{kim}"));
    let (s, location, _) = ann
        .post(
            &format!("/advocates/thanks/{kim}/send"),
            &[("csrf_token", &ann.csrf), ("text", &kim_text)],
        )
        .await;
    assert_eq!(s, 303);
    assert!(location.contains("done=manual"), "{location}");
    let (_, page) = ann.get(&location).await;
    assert!(page.contains("post it yourself"), "{page}");
    assert!(page.contains("id=\"undelivered\""));
    assert!(page.contains(">manual</span>"));
    assert_eq!(
        fake.sent().len(),
        1,
        "a manual thanks never leaves by itself"
    );
    let (_, kim_profile) = app.get_json("/api/v1/advocates/webhook/kim").await;
    assert_eq!(kim_profile["thanks"][0]["reply_status"], "manual");

    // The profile page shows the posts, the thanks and the case.
    let (s, page) = ann.get("/advocates/webhook/jo_b").await;
    assert_eq!(s, 200);
    assert!(page.contains("id=\"timeline\""));
    assert!(page.contains("espresso bar"));
    assert!(page.contains(">sent</span>"));
    assert!(page.contains(&format!("href=\"/cases/{case_id}\"")));
    let (s, _) = ann.get("/advocates/webhook/nobody-here").await;
    assert_eq!(s, 404);
}
both_databases!(the_thank_you_queue_works_in_the_desk);

async fn the_ranked_list_filters_and_exports_csv() {
    let app = spawn_app().await;
    for (id, handle, text, followers) in [
        (
            "r1",
            "uma",
            "@acme love the oat latte at the Leith store",
            300,
        ),
        ("r2", "uma", "@acme great pastries again this morning", 300),
        ("r3", "=evil", "@acme love the window seats, great view", 5),
    ] {
        let (s, b) = app
            .post_json("/api/v1/mentions", &post(id, handle, text, followers))
            .await;
        assert_eq!(s, 201, "{b}");
        assert_eq!(b["advocate"], true, "{b}");
    }
    let (s, list) = app.get_json("/api/v1/advocates").await;
    assert_eq!(s, 200, "{list}");
    let list = list.as_array().unwrap();
    assert_eq!(list[0]["handle"], "uma", "{list:?}");
    assert_eq!(list[0]["positive"], 2);
    let parts: Vec<&str> = list[0]["rank"]["breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["factor"].as_str().unwrap())
        .collect();
    assert_eq!(parts, ["frequency", "reach", "sentiment", "recency"]);
    assert!(
        list[0]["rank"]["score"].as_f64().unwrap() > list[1]["rank"]["score"].as_f64().unwrap()
    );
    let (_, none) = app.get_json("/api/v1/advocates?source=mastodon").await;
    assert_eq!(none, serde_json::json!([]));
    let (_, later) = app
        .get_json("/api/v1/advocates?since=2026-11-23T00:00:00Z")
        .await;
    assert_eq!(later, serde_json::json!([]), "nothing posted since then");

    for path in ["/api/v1/advocates.csv", "/api/v1/advocates?format=csv"] {
        let r = app.authed(Method::GET, path).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let text = r.text().await.unwrap();
        let mut lines = text.lines();
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("rank,source,handle,display_name,score,"),
            "{text}"
        );
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), 2, "{text}");
        assert!(rows[0].starts_with("1,webhook,uma,"), "{text}");
        assert!(rows[1].starts_with("2,webhook,'=evil,"), "guarded: {text}");
    }
    // The desk's download link serves the same file.
    let ann = Desk::new(&app, "ann", Role::Agent).await;
    let (_, page) = ann.get("/advocates").await;
    assert!(page.contains("href=\"/advocates/export.csv\" id=\"csv-download\""));
    let (s, text) = ann.get("/advocates/export.csv?source=webhook").await;
    assert_eq!(s, 200);
    assert!(text.contains("'=evil"), "{text}");
    let (s, _) = ann.get("/advocates?since=yesterday").await;
    assert_eq!(s, 400);
}
both_databases!(the_ranked_list_filters_and_exports_csv);

async fn the_api_answers_4xx_for_bad_thanks_requests() {
    let app = spawn_app().await;
    let (_, b) = app
        .post_json("/api/v1/mentions", &post("x1", "nia", PRAISE, 10))
        .await;
    let id = b["mention_id"].as_i64().unwrap();
    let send = |id: i64, body: serde_json::Value| {
        let app = &app;
        async move {
            app.post_json(&format!("/api/v1/thanks/{id}/send"), &body)
                .await
        }
    };
    let (s, b) = send(id, serde_json::json!({"text": ""})).await;
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid_field")), "{b}");
    let (s, _) = send(id, serde_json::json!({"txt": "x"})).await;
    assert_eq!(s, 400);
    let (s, b) = send(99_999, serde_json::json!({"text": "Nia, thanks!"})).await;
    assert_eq!(s, 404, "{b}");
    let r = app
        .authed(Method::POST, "/api/v1/thanks/abc/send")
        .json(&serde_json::json!({"text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (s, b) = send(id, serde_json::json!({"text": "Thanks for reaching out!"})).await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["code"], "generic_reply");
    assert!(!b["reasons"].as_array().unwrap().is_empty());
    // Overridden: sent (manual: no connector), with the override recorded.
    let (s, b) = send(
        id,
        serde_json::json!({"text": "Thanks for reaching out!", "override_personalisation": true}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["route"], "manual");
    assert_eq!(b["thanks"]["overridden"], true);
    assert_eq!(b["thanks"]["reply_status"], "manual");
    let (s, b) = send(
        id,
        serde_json::json!({"text": "Nia, thanks for the espresso bar love!"}),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    let r = app
        .authed(Method::POST, &format!("/api/v1/thanks/{id}/skip"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "already thanked");
    // A post with a case is not in the queue.
    let (_, b) = app
        .post_json(
            "/api/v1/mentions",
            &post(
                "x2",
                "oli",
                "@acme my order never arrived and nobody answers",
                10,
            ),
        )
        .await;
    let complaint = b["mention_id"].as_i64().unwrap();
    let r = app
        .authed(Method::POST, &format!("/api/v1/thanks/{complaint}/skip"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let (s, _) = app.get_json("/api/v1/thanks?limit=abc").await;
    assert_eq!(s, 400);
    let (s, _) = app.get_json("/api/v1/advocates?since=yesterday").await;
    assert_eq!(s, 400);
    let (s, _) = app.get_json("/api/v1/advocates/nowhere/nia").await;
    assert_eq!(s, 400);
    let (s, _) = app.get_json("/api/v1/advocates/webhook/nobody").await;
    assert_eq!(s, 404);
    let r = app
        .client
        .get(app.url("/api/v1/thanks"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
both_databases!(the_api_answers_4xx_for_bad_thanks_requests);

async fn a_location_manager_sees_only_their_locations_advocates() {
    let app = spawn_app().await;
    let (_, b) = app
        .post_json("/api/v1/mentions", &post("l1", "pia", PRAISE, 10))
        .await;
    let pia = b["mention_id"].as_i64().unwrap();
    let mia = Desk::new(&app, "mia", Role::Supervisor).await;
    crate::calls::profile(&app, "mia", serde_json::json!({"locations": ["berlin"]})).await;
    // Pia's post has no case, so no location: outside Mia's scope.
    let (s, page) = mia.get("/advocates").await;
    assert_eq!(s, 200);
    assert!(page.contains("id=\"queue-empty\""), "{page}");
    assert!(!page.contains("@pia"));
    let (s, _, _) = mia
        .post(
            &format!("/advocates/thanks/{pia}/skip"),
            &[("csrf_token", &mia.csrf), ("text", "")],
        )
        .await;
    assert_eq!(s, 403);
    let (s, text) = mia.get("/advocates/export.csv").await;
    assert_eq!(s, 200);
    assert_eq!(text.lines().count(), 1, "only the header: {text}");
    let (s, _) = mia.get("/advocates/webhook/pia").await;
    assert_eq!(s, 404);
    // Staff see her.
    let (_, all) = app.get_json("/api/v1/advocates").await;
    assert_eq!(all[0]["handle"], "pia");
}
both_databases!(a_location_manager_sees_only_their_locations_advocates);
