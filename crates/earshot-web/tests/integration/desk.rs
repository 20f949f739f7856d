//! The desk's case page with several agents on one case: public replies
//! that collide, and who else is viewing or typing.

use earshot_core::auth::Role;

use crate::support::{TestApp, both_databases, mention, spawn_app};

const COMPLAINT: &str = "@acme my order 4411 never arrived and support hung up on me twice. \
                         Where is my money? I am cancelling my account";

/// A signed-in desk user driving the desk over HTTP, without following
/// redirects so a test sees where a form sends them.
struct Agent<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl<'a> Agent<'a> {
    async fn new(app: &'a TestApp, name: &str) -> Agent<'a> {
        let (cookie, csrf) = app.desk_session(name, Role::Agent).await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Agent {
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

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let mut form = form.to_vec();
        form.push(("csrf_token", &self.csrf));
        let r = self
            .client
            .post(self.app.url(path))
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Replies publicly through the case page's form, posting back the
    /// hidden value `page` rendered.
    async fn reply(&self, case_id: i64, page: &str, body: &str) -> (u16, String) {
        let seen = hidden(page, "last_public_reply_seen");
        self.post(
            &format!("/cases/{case_id}/reply"),
            &[
                ("visibility", "public"),
                ("body", body),
                ("override", "1"),
                ("last_public_reply_seen", &seen),
            ],
        )
        .await
    }
}

/// The value of the reply form's hidden input `name`.
fn hidden(page: &str, name: &str) -> String {
    let form = &page[page.find("id=\"composer\"").expect("no reply form")..];
    let at = form
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no hidden {name} in the reply form"));
    let rest = &form[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

async fn open_case(app: &TestApp) -> i64 {
    let (s, b) = app
        .post_json("/api/v1/mentions", &mention("d1", "ida", COMPLAINT))
        .await;
    assert_eq!(s, 201, "{b}");
    b["case"]["id"].as_i64().unwrap()
}

async fn public_replies(app: &TestApp, id: i64) -> Vec<(String, String)> {
    let (s, b) = app.get_json(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(s, 200, "{b}");
    b["replies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["visibility"] == "public")
        .map(|r| {
            (
                r["author"].as_str().unwrap().to_string(),
                r["body"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn a_second_agent_who_saw_the_first_reply_can_reply_from_the_desk() {
    let app = spawn_app().await;
    let id = open_case(&app).await;
    let ann = Agent::new(&app, "ann").await;
    let bob = Agent::new(&app, "bob").await;
    let page = format!("/cases/{id}");

    // Bob opens the case before Ann answers: his page saw no public reply.
    let (s, bob_stale) = bob.get(&page).await;
    assert_eq!(s, 200);
    assert_eq!(hidden(&bob_stale, "last_public_reply_seen"), "");

    let (_, ann_page) = ann.get(&page).await;
    let (s, b) = ann
        .reply(id, &ann_page, "Ida, order 4411 is refunded today.")
        .await;
    assert_eq!(s, 303, "{b}");

    // Sent from the stale page, Bob's reply is held back, with Ann's reply
    // inline and the form pointing at it now.
    let (s, conflict) = bob
        .reply(
            id,
            &bob_stale,
            "Ida, we are calling the courier about 4411.",
        )
        .await;
    assert_eq!(s, 409, "{conflict}");
    assert!(
        conflict.contains("Another agent replied publicly"),
        "{conflict}"
    );
    let inline = &conflict[conflict
        .find("id=\"conflict-reply\"")
        .expect("no inline reply")..];
    assert!(
        inline[..inline.find("</blockquote>").unwrap()]
            .contains("Ida, order 4411 is refunded today."),
        "{inline}"
    );
    assert!(conflict.contains("Ida, we are calling the courier about 4411."));
    let ann_reply = hidden(&conflict, "last_public_reply_seen");
    assert!(!ann_reply.is_empty());
    assert_eq!(public_replies(&app, id).await.len(), 1);

    // Sending again from the conflict page (he has read Ann's reply) works.
    let (s, b) = bob
        .reply(id, &conflict, "Ida, we are calling the courier about 4411.")
        .await;
    assert_eq!(s, 303, "{b}");

    // A page loaded after a reply carries it, so a third one goes straight out.
    let (_, fresh) = ann.get(&page).await;
    assert_ne!(hidden(&fresh, "last_public_reply_seen"), ann_reply);
    let (s, b) = ann
        .reply(
            id,
            &fresh,
            "Ida, the courier confirms 4411 is back with us.",
        )
        .await;
    assert_eq!(s, 303, "{b}");
    assert_eq!(
        public_replies(&app, id).await,
        [
            ("ann".into(), "Ida, order 4411 is refunded today.".into()),
            (
                "bob".into(),
                "Ida, we are calling the courier about 4411.".into()
            ),
            (
                "ann".into(),
                "Ida, the courier confirms 4411 is back with us.".into()
            ),
        ]
    );
}
both_databases!(a_second_agent_who_saw_the_first_reply_can_reply_from_the_desk);

async fn the_case_page_shows_who_else_is_viewing_or_typing() {
    let app = spawn_app().await;
    let id = open_case(&app).await;
    let ann = Agent::new(&app, "ann").await;
    let bob = Agent::new(&app, "bob").await;
    let presence = format!("/cases/{id}/presence");

    // The page's heartbeat needs the session's CSRF token.
    let r = ann
        .client
        .post(app.url(&presence))
        .header("cookie", &ann.cookie)
        .form(&[("activity", "viewing"), ("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (s, b) = ann.post(&presence, &[("activity", "viewing")]).await;
    assert_eq!(s, 200, "{b}");
    let b: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(b["text"], "", "nobody else yet: {b}");

    let banner = |page: &str| {
        let at = page.find("id=\"presence\"").expect("no presence banner");
        let rest = &page[at..];
        rest[rest.find('>').unwrap() + 1..rest.find("</p>").unwrap()].to_string()
    };
    let (s, page) = bob.get(&format!("/cases/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(banner(&page), "ann is viewing");

    // Ann starts typing; Bob's page, as its script refreshes it, says so.
    let (_, b) = ann.post(&presence, &[("activity", "drafting")]).await;
    let b: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(b["text"], "bob is viewing", "opening the page counts: {b}");
    let (s, b) = bob.get(&presence).await;
    assert_eq!(s, 200);
    let b: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(b["text"], "ann is typing");
    assert_eq!(b["others"][0]["user"], "ann");
    assert_eq!(b["others"][0]["activity"], "drafting");
    assert_eq!(
        banner(&bob.get(&format!("/cases/{id}")).await.1),
        "ann is typing"
    );

    // Ann closes her tab: without a heartbeat she is gone within a minute.
    app.clock.advance(chrono::TimeDelta::seconds(61));
    let (_, b) = bob.get(&presence).await;
    let b: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(b["others"], serde_json::json!([]));
    assert!(
        bob.get(&format!("/cases/{id}"))
            .await
            .1
            .contains("id=\"presence\" role=\"status\" aria-live=\"polite\" data-case=")
    );
}
both_databases!(the_case_page_shows_who_else_is_viewing_or_typing);

async fn a_correction_updates_the_badge_and_priority_and_is_exported() {
    use earshot_core::analysis::Analysis;
    use earshot_core::priority::{Priority, PriorityInputs, PriorityWeights};

    let app = spawn_app().await;
    let id = open_case(&app).await;
    let ann = Agent::new(&app, "ann").await;
    let (_, before) = app.get_json(&format!("/api/v1/cases/{id}")).await;
    let mention_id = before["mentions"][0]["id"].as_i64().unwrap().to_string();
    let original: Analysis =
        serde_json::from_value(before["mentions"][0]["analysis"].clone()).unwrap();
    assert_eq!(original.sentiment.as_str(), "negative", "{before}");
    assert!(!original.urgency.is_empty(), "{before}");
    let old_priority = before["case"]["priority"]["score"].as_f64().unwrap();

    for (task, label) in [
        ("sentiment", "positive"),
        ("category", "shipping"),
        ("urgency", "none"),
    ] {
        let (s, b) = ann
            .post(
                &format!("/cases/{id}/correct"),
                &[
                    ("mention_id", &mention_id),
                    ("task", task),
                    ("label", label),
                ],
            )
            .await;
        assert_eq!(s, 303, "{task}: {b}");
    }

    let (_, after) = app.get_json(&format!("/api/v1/cases/{id}")).await;
    let corrected: Analysis =
        serde_json::from_value(after["mentions"][0]["analysis"].clone()).unwrap();
    assert_eq!(corrected.sentiment.as_str(), "positive");
    assert_eq!(corrected.top_category(), Some("shipping"));
    assert!(corrected.urgency.is_empty());
    assert_eq!(after["case"]["sentiment"], "positive");
    assert_eq!(after["case"]["category"], "shipping");
    // The priority is the corrected analysis's, the other inputs kept.
    let expected = Priority::compute(
        &PriorityInputs {
            analysis: &corrected,
            followers: 120,
            reposts: 0,
            likes: 0,
            vip: false,
            press: false,
            waiting_hours: 0.0,
        },
        &PriorityWeights::default(),
    );
    let new_priority = after["case"]["priority"]["score"].as_f64().unwrap();
    assert_eq!(new_priority as f32, expected.score, "{after}");
    assert!(
        new_priority < old_priority - 10.0,
        "{old_priority} -> {new_priority}"
    );
    assert_eq!(
        after["case"]["priority"]["breakdown"][1]["reason"],
        "no urgency signals"
    );

    let (_, page) = ann.get(&format!("/cases/{id}")).await;
    assert!(page.contains("<span class=\"badge s-positive\">positive</span>"));
    assert!(page.contains("<span class=\"badge cat\">shipping</span>"));
    assert!(page.contains(&format!("priority <strong>{:.0}</strong>", expected.score)));

    // The original analysis stays with the first correction; every
    // correction is a training row with what the model had said.
    use earshot_core::accounts::Accounts;
    let kept = app.store.corrections(None).await.unwrap();
    assert_eq!(kept.len(), 3);
    assert_eq!(kept[0].original.as_ref(), Some(&original));
    let r = app
        .authed(reqwest::Method::GET, "/api/v1/corrections.jsonl")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rows: Vec<serde_json::Value> = r
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let tasks: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["task"].as_str().unwrap(),
                r["label"].as_str().unwrap(),
                r["previous"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(tasks[0], ("sentiment", "positive", "negative"));
    assert_eq!(tasks[1].0, "category");
    assert_eq!(tasks[2].0, "urgency");
    assert_eq!(tasks[2].1, "none");
    assert_eq!(tasks.len(), 3);
    assert!(rows.iter().all(|r| r["text"] == COMPLAINT));
}
both_databases!(a_correction_updates_the_badge_and_priority_and_is_exported);

impl Agent<'_> {
    /// Posts a desk form and answers the status and where it redirects.
    async fn post_to(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let mut form = form.to_vec();
        form.push(("csrf_token", &self.csrf));
        let r = self
            .client
            .post(self.app.url(path))
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let to = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        (status, to.unwrap_or_default())
    }

    /// Replies from a fresh case page; answers the page the form leads to
    /// and the new reply's id.
    async fn reply_and_follow(&self, case_id: i64, body: &str) -> (String, i64) {
        let (_, page) = self.get(&format!("/cases/{case_id}")).await;
        let seen = hidden(&page, "last_public_reply_seen");
        let (s, to) = self
            .post_to(
                &format!("/cases/{case_id}/reply"),
                &[
                    ("visibility", "public"),
                    ("body", body),
                    ("override", "1"),
                    ("last_public_reply_seen", &seen),
                ],
            )
            .await;
        assert_eq!(s, 303, "{to}");
        let prefix = format!("/cases/{case_id}?replied=");
        assert!(to.starts_with(&prefix), "{to}");
        let id = to[prefix.len()..to.find('#').unwrap()].parse().unwrap();
        let (s, page) = self.get(&to).await;
        assert_eq!(s, 200);
        (page, id)
    }
}

/// The text of the element with id `id` (up to its first closing tag).
fn element(page: &str, id: &str) -> String {
    let at = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} on the page"));
    let rest = &page[at..];
    rest[rest.find('>').unwrap() + 1..rest.find("</").unwrap()].to_string()
}

async fn reply_json(app: &TestApp, case_id: i64, reply_id: i64) -> serde_json::Value {
    let (s, b) = app.get_json(&format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(s, 200, "{b}");
    b["replies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == reply_id)
        .cloned()
        .unwrap_or_else(|| panic!("no reply {reply_id} in {b}"))
}

async fn a_reply_no_connector_delivers_waits_to_be_posted_by_hand() {
    let app = spawn_app().await;
    let id = open_case(&app).await;
    let ann = Agent::new(&app, "ann").await;

    let (page, rid) = ann
        .reply_and_follow(id, "Ida, order 4411 is refunded today.")
        .await;
    // Nothing delivers to webhook cases: the desk says so, and never "sent".
    assert_eq!(
        element(&page, "reply-outcome"),
        "Saved: post it yourself, then mark it posted"
    );
    assert!(
        element(&page, "no-connector").starts_with(
            "Earshot cannot post to webhook yet: replies you send here wait for you to post them yourself"
        ),
        "{page}"
    );
    assert_eq!(
        element(&page, &format!("reply-state-{rid}")),
        "to post by hand"
    );
    assert!(!page.contains("rs-sent"), "{page}");
    // The text to copy, the Copy button, and the customer's post to answer.
    assert_eq!(
        element(&page, &format!("copy-{rid}")),
        "Ida, order 4411 is refunded today."
    );
    assert!(page.contains(&format!(
        "id=\"copy-{rid}\" class=\"copy-text\" rows=\"3\" readonly"
    )));
    assert!(page.contains(&format!("data-copy=\"copy-{rid}\"")));
    assert!(page.contains(&format!(
        "<a href=\"https://example.org/p/d1\" rel=\"noopener noreferrer\" id=\"original-{rid}\">"
    )));
    assert!(page.contains(&format!("action=\"/cases/{id}/replies/{rid}/posted\"")));
    // The take-private form does not claim to post either.
    assert!(page.contains("no connector is running for webhook: saved for you to send by hand"));
    let (_, b) = app.get_json(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(b["case"]["first_response_at"], serde_json::Value::Null);
    assert_eq!(reply_json(&app, id, rid).await["status"], "manual");

    // Time passes before Ann posts it herself; the clock stops only then.
    app.clock.advance(chrono::TimeDelta::minutes(7));
    let posted_path = format!("/cases/{id}/replies/{rid}/posted");
    let (s, to) = ann
        .post_to(&posted_path, &[("url", " https://example.org/acme/9 ")])
        .await;
    assert_eq!(
        (s, to.as_str()),
        (303, format!("/cases/{id}#r{rid}").as_str())
    );
    let r = reply_json(&app, id, rid).await;
    assert_eq!(r["status"], "sent", "{r}");
    assert_eq!(r["delivered_via"], "hand", "{r}");
    assert_eq!(r["channel_url"], "https://example.org/acme/9", "{r}");
    let (_, b) = app.get_json(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(
        b["case"]["first_response_at"], "2026-11-22T10:07:00Z",
        "{b}"
    );

    let (_, page) = ann.get(&format!("/cases/{id}")).await;
    assert_eq!(
        element(&page, &format!("reply-state-{rid}")),
        "sent \u{b7} posted by hand"
    );
    assert!(page.contains(
        "<a href=\"https://example.org/acme/9\" rel=\"noopener noreferrer\" class=\"reply-link\">the post</a>"
    ));
    assert!(page.contains("datetime=\"2026-11-22T10:07:00Z\""));
    assert!(
        !page.contains(&format!("id=\"copy-{rid}\"")),
        "no copy block once posted"
    );

    // Posting twice is refused plainly, by the reply, and records nothing.
    let (s, body) = ann.post(&posted_path, &[("url", "")]).await;
    assert_eq!(s, 409, "{body}");
    assert!(
        body.contains("This reply is already marked posted; nothing was recorded twice."),
        "{body}"
    );
    assert_eq!(
        reply_json(&app, id, rid).await["channel_url"],
        "https://example.org/acme/9"
    );
}
both_databases!(a_reply_no_connector_delivers_waits_to_be_posted_by_hand);

async fn a_reply_a_connector_delivers_is_queued_then_sent_by_the_outbox() {
    use earshot_connectors::Connector;
    use earshot_connectors::fake::FakeConnector;
    use earshot_core::source::SourceKind;
    use earshot_core::sources::{NewSource, SourceStore};
    use earshot_workflow::Clock;

    let app = spawn_app().await;
    let now = app.clock.now();
    let source = app
        .store
        .create_source(
            &NewSource {
                kind: SourceKind::Webhook,
                name: "brand hooks".into(),
                config: serde_json::Map::new(),
                credentials: None,
                paused: false,
            },
            now,
        )
        .await
        .unwrap()
        .id;
    // Ida's post, heard through that source.
    let input: earshot_core::mention::MentionInput =
        serde_json::from_value(mention("d1", "ida", COMPLAINT)).unwrap();
    let mut heard = input.validate(now).unwrap();
    heard.origin = Some(earshot_core::mention::MentionOrigin {
        source_id: source,
        reply_ref: serde_json::json!({"post": "d1"}),
        private: false,
    });
    let stored = earshot_app::ingest::ingest(&app.state.app, vec![heard])
        .await
        .unwrap();
    let id = stored[0].outcome.case.unwrap().id.0;
    // With a connector running for the source, a reply is queued for it,
    // and the page no longer says Earshot cannot post there.
    let fake = FakeConnector::new(SourceKind::Webhook, earshot_connectors::Transport::Push);
    app.state
        .app
        .channels
        .register(earshot_app::channels::Channel {
            source_id: source,
            kind: SourceKind::Webhook,
            connector: std::sync::Arc::new(fake.clone()),
            capabilities: fake.capabilities(),
        });
    let ann = Agent::new(&app, "ann").await;
    let (page, rid) = ann
        .reply_and_follow(id, "Ida, order 4411 is refunded today.")
        .await;
    assert_eq!(element(&page, "reply-outcome"), "Queued for webhook");
    assert_eq!(element(&page, &format!("reply-state-{rid}")), "queued");
    assert!(!page.contains("id=\"no-connector\""));
    assert!(!page.contains(&format!("id=\"copy-{rid}\"")));
    assert!(page.contains("id=\"channel-platform\""));
    assert!(!page.contains("saved for you to send by hand"));
    let r = reply_json(&app, id, rid).await;
    assert_eq!(r["status"], "queued", "{r}");
    assert_eq!(r["delivery"]["status"], "queued", "{r}");
    assert_eq!(r["delivery"]["attempts"], 0, "{r}");
    assert!(
        fake.sent().is_empty(),
        "nothing leaves before the worker runs"
    );

    // The outbox worker delivers it, once, threaded under Ida's post.
    let report = earshot_app::outbox::OutboxWorker::default()
        .tick(&app.state.app, app.clock.now())
        .await
        .unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, "Ida, order 4411 is refunded today.");
    assert_eq!(sent[0].recipient, "ida");
    assert_eq!(sent[0].reply_ref, serde_json::json!({"post": "d1"}));
    let r = reply_json(&app, id, rid).await;
    assert_eq!(r["status"], "sent", "{r}");
    assert_eq!(r["delivered_via"], "channel", "{r}");
    assert_eq!(r["delivery"]["status"], "sent", "{r}");
    assert_eq!(r["delivery"]["attempts"], 1, "{r}");
    let remote_id = r["delivery"]["remote_id"].as_str().unwrap().to_string();
    assert_eq!(r["channel_message_id"], remote_id.as_str(), "{r}");
    let (_, page) = ann.get(&format!("/cases/{id}")).await;
    assert_eq!(element(&page, &format!("reply-state-{rid}")), "sent");
    assert_eq!(
        element(&page, &format!("reply-delivery-{rid}")),
        format!("delivery: sent \u{b7} 1 attempt \u{b7} post id {remote_id}")
    );
}
both_databases!(a_reply_a_connector_delivers_is_queued_then_sent_by_the_outbox);

async fn marking_a_reply_posted_needs_the_sessions_csrf_token_and_its_case() {
    let app = spawn_app().await;
    let id = open_case(&app).await;
    let (s, b) = app
        .post_json(
            "/api/v1/mentions",
            &mention("d2", "jo", "@acme my parcel is late"),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let other = b["case"]["id"].as_i64().unwrap();
    let ann = Agent::new(&app, "ann").await;
    let (_, rid) = ann
        .reply_and_follow(id, "Ida, order 4411 is refunded today.")
        .await;
    let path = format!("/cases/{id}/replies/{rid}/posted");

    let r = ann
        .client
        .post(app.url(&path))
        .header("cookie", &ann.cookie)
        .form(&[("url", ""), ("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Through another case's URL the reply is not found.
    let (s, _) = ann
        .post(&format!("/cases/{other}/replies/{rid}/posted"), &[])
        .await;
    assert_eq!(s, 404);
    // A link that is not a web address is refused by the reply's form.
    let (s, body) = ann.post(&path, &[("url", "javascript:alert(1)")]).await;
    assert_eq!(s, 400, "{body}");
    assert!(
        element(&body, &format!("posted-error-{rid}")).contains("http(s) link"),
        "{body}"
    );
    let r = reply_json(&app, id, rid).await;
    assert_eq!(r["status"], "manual", "{r}");
    let (_, b) = app.get_json(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(b["case"]["first_response_at"], serde_json::Value::Null);
}
both_databases!(marking_a_reply_posted_needs_the_sessions_csrf_token_and_its_case);

async fn the_reply_forms_message_says_where_the_reply_went() {
    use earshot_core::accounts::{Accounts, NewUser};

    let app = spawn_app().await;
    let id = open_case(&app).await;

    // A trainee's reply is held for a supervisor.
    let tia = NewUser {
        name: "tia".into(),
        display_name: "tia".into(),
        role: Role::Agent,
        in_training: true,
        teams: vec![],
    };
    let now = app.clock_now();
    let hash = earshot_app::credentials::hash_password("desk-test-password").unwrap();
    app.store.create_user(&tia, &hash, now).await.unwrap();
    let (cookie, csrf) = (
        earshot_app::credentials::random_hex(),
        earshot_app::credentials::random_hex(),
    );
    app.store
        .create_session(
            &earshot_web::ui::session::hash_session_id(&cookie),
            "tia",
            &csrf,
            now,
            now + chrono::Duration::hours(8),
        )
        .await
        .unwrap();
    let trainee = Agent {
        app: &app,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        cookie: format!("earshot_session={cookie}"),
        csrf,
    };
    let (page, rid) = trainee
        .reply_and_follow(id, "Ida, I have asked for a refund of order 4411.")
        .await;
    assert!(
        element(&page, "reply-outcome").starts_with("Waiting for approval"),
        "{page}"
    );
    assert_eq!(
        element(&page, &format!("reply-state-{rid}")),
        "waiting for approval"
    );
    assert!(!page.contains(&format!("id=\"copy-{rid}\"")));
}
both_databases!(the_reply_forms_message_says_where_the_reply_went);

async fn the_brands_own_imported_answer_shows_as_sent_from_its_account() {
    let app = spawn_app().await;
    let id = open_case(&app).await;
    let joined = earshot_app::ingest::record_brand_replies(
        &app.state.app,
        &[earshot_core::reply::ExternalReply {
            source: earshot_core::source::SourceKind::Webhook,
            external_id: "b1".into(),
            in_reply_to: "d1".into(),
            author: "acme".into(),
            body: "We are on it, Ida.".into(),
            sent_at: app.clock_now(),
        }],
    )
    .await
    .unwrap();
    assert_eq!(joined, [Some(earshot_core::CaseId(id))]);
    let ann = Agent::new(&app, "ann").await;
    let (_, page) = ann.get(&format!("/cases/{id}")).await;
    let (_, b) = app.get_json(&format!("/api/v1/cases/{id}")).await;
    let rid = b["replies"][0]["id"].as_i64().unwrap();
    assert_eq!(
        element(&page, &format!("reply-state-{rid}")),
        "sent \u{b7} from the brand&#39;s own account"
    );
    assert!(!page.contains(&format!("id=\"copy-{rid}\"")));
}
both_databases!(the_brands_own_imported_answer_shows_as_sent_from_its_account);

/// "Take it private" on the desk: both texts shown (the acknowledgement
/// prefilled with the customer's name and issue), a generic text comes
/// back with the warning and both texts kept, nothing stored; sending
/// anyway makes one handoff block linking both messages.
async fn the_take_private_form_shows_both_texts_and_keeps_them_on_a_warning() {
    let app = spawn_app().await;
    let id = open_case(&app).await;
    let ann = Agent::new(&app, "ann").await;
    let (_, page) = ann.get(&format!("/cases/{id}")).await;
    let ack = element(&page, "ack-body");
    assert!(ack.starts_with("Hi @ida, we"), "{ack}");
    assert!(
        ack.contains("sorry about the staff attitude problem"),
        "{ack}"
    );
    assert!(page.contains("id=\"private-body\""));
    assert!(page.contains("id=\"channel-reason-email\""), "{page}");
    assert!(element(&page, "channel-reason-email").contains("no email source is configured"));

    let generic =
        "Hi, thanks for reaching out. We're looking into this and will get back to you shortly.";
    let dm = "Ida, order 4411 is refunded today; which card should it go to?";
    let form = [
        ("channel", "platform"),
        ("public_text", generic),
        ("private_text", dm),
        ("last_public_reply_seen", ""),
    ];
    let (s, page) = ann.post(&format!("/cases/{id}/private"), &form).await;
    assert_eq!(s, 422, "{page}");
    assert!(page.contains("id=\"ack-warning\""), "{page}");
    assert!(page.contains("id=\"take-private-anyway\""));
    assert!(element(&page, "private-body").contains("order 4411 is refunded today"));
    assert!(element(&page, "ack-body").contains("thanks for reaching out"));
    let (_, b) = app
        .get_json(&format!("/api/v1/cases/{id}/private-handoffs"))
        .await;
    assert_eq!(b, serde_json::json!([]), "nothing stored");

    let mut anyway = form.to_vec();
    anyway.push(("override", "1"));
    let (s, to) = ann.post_to(&format!("/cases/{id}/private"), &anyway).await;
    assert_eq!(s, 303, "{to}");
    assert!(to.contains("#handoff-"), "{to}");
    let (_, page) = ann.get(&format!("/cases/{id}")).await;
    let (_, b) = app
        .get_json(&format!("/api/v1/cases/{id}/private-handoffs"))
        .await;
    let hid = b[0]["id"].as_i64().unwrap();
    assert_eq!(
        element(&page, &format!("handoff-state-{hid}")),
        "to post by hand"
    );
    let public = b[0]["public_reply"]["id"].as_i64().unwrap();
    let private = b[0]["private_reply"]["id"].as_i64().unwrap();
    assert_eq!(element(&page, &format!("handoff-{hid}-{public}")), "manual");
    assert_eq!(
        element(&page, &format!("handoff-{hid}-{private}")),
        "manual"
    );
}
both_databases!(the_take_private_form_shows_both_texts_and_keeps_them_on_a_warning);
