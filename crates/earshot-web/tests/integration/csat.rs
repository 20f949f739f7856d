//! CSAT in the customer's channel, end to end: the scan asks a resolved
//! case after the delay through the outbox and its connector, the customer
//! rates on the public page (a plain form, no login, no JavaScript) and a
//! second try changes nothing; expired and tampered links; the policies;
//! asking on demand; reopened cases; no private channel; the summary's
//! numbers; and bad input.

use chrono::TimeDelta;
use earshot_connectors::Connector;
use earshot_connectors::fake::FakeConnector;
use earshot_core::auth::Role;
use earshot_core::ids::SourceId;
use earshot_core::source::SourceKind;
use earshot_core::sources::{NewSource, SourceStore};
use reqwest::Method;
use serde_json::{Value, json};

use crate::calls::{COMPLAINT, call, token_for};
use crate::support::{TestApp, both_databases, mention, spawn_app};

/// A webhook source, and `handle`'s complaint heard through it.
async fn case_heard_through_a_source(app: &TestApp, handle: &str) -> (i64, SourceId) {
    let now = app.clock_now();
    let source = app
        .store
        .create_source(
            &NewSource {
                kind: SourceKind::Webhook,
                name: format!("hooks for {handle}"),
                config: serde_json::Map::new(),
                credentials: None,
                paused: false,
            },
            now,
        )
        .await
        .unwrap()
        .id;
    let input: earshot_core::mention::MentionInput =
        serde_json::from_value(mention(&format!("p-{handle}"), handle, COMPLAINT)).unwrap();
    let mut heard = input.validate(now).unwrap();
    heard.origin = Some(earshot_core::mention::MentionOrigin {
        source_id: source,
        reply_ref: json!({"post": format!("p-{handle}")}),
        private: false,
    });
    let stored = earshot_app::ingest::ingest(&app.state.app, vec![heard])
        .await
        .unwrap();
    (stored[0].outcome.case.unwrap().id.0, source)
}

/// A running connector for `source`, delivering its private messages.
fn connect(app: &TestApp, source: SourceId) -> FakeConnector {
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
    fake
}

async fn set_status(app: &TestApp, id: i64, status: &str) {
    let (s, b) = app
        .post_json(
            &format!("/api/v1/cases/{id}/status"),
            &json!({"status": status}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
}

async fn scan(app: &TestApp) -> earshot_app::csat::ScanReport {
    earshot_app::csat::tick(&app.state.app, app.clock_now())
        .await
        .unwrap()
}

async fn csat_of(app: &TestApp, id: i64) -> Value {
    let (s, b) = app.get_json(&format!("/api/v1/cases/{id}/csat")).await;
    assert_eq!(s, 200, "{b}");
    b
}

/// The path of a link (`/csat/…`).
fn path_of(link: &str) -> String {
    link[link.find("/csat/").unwrap()..].to_string()
}

/// A customer's browser: no cookies, no JavaScript, plain form posts.
async fn visit(app: &TestApp, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let r = reqwest::get(app.url(path)).await.unwrap();
    let (s, h) = (r.status().as_u16(), r.headers().clone());
    (s, r.text().await.unwrap(), h)
}

async fn rate(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("set-cookie").is_none(), "no cookie is set");
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The case page as a new desk user `viewer` sees it.
async fn desk_page(app: &TestApp, id: i64, viewer: &str) -> String {
    let (cookie, _) = app.desk_session(viewer, Role::Agent).await;
    let r = app
        .client
        .get(app.url(&format!("/cases/{id}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

fn csat_panel(page: &str) -> &str {
    let at = page
        .find("id=\"csat\"")
        .expect("the case page has a CSAT panel");
    let rest = &page[at..];
    &rest[..rest.find("</section>").unwrap()]
}

/// THE acceptance test: a resolved case is asked after the delay through
/// its channel (the private message leaves through the outbox and carries
/// the link), the customer's rating is stored on the case, and a second
/// try shows that answer and does not change it.
async fn a_resolved_case_is_asked_in_its_channel_and_rated_once() {
    let app = spawn_app().await;
    let (id, source) = case_heard_through_a_source(&app, "ida").await;
    let fake = connect(&app, source);
    set_status(&app, id, "resolved").await;
    let resolved_at = app.clock_now();

    // Not before the default delay of 24 hours.
    assert_eq!(scan(&app).await.sent, 0);
    let c = csat_of(&app, id).await;
    assert_eq!(c["state"], "scheduled", "{c}");
    assert_eq!(c["policy"]["mode"], "on_resolve");
    assert_eq!(c["policy"]["from"], "default");
    let due = resolved_at + TimeDelta::hours(24);
    assert_eq!(c["scheduled_for"], json!(due));
    app.clock
        .advance(TimeDelta::hours(24) - TimeDelta::seconds(1));
    assert_eq!(scan(&app).await.sent, 0);
    app.clock.advance(TimeDelta::seconds(1));
    let report = scan(&app).await;
    assert_eq!((report.sent, report.no_channel), (1, 0), "{report:?}");
    // Re-running the scan (a restart, another node) never asks twice.
    let again = scan(&app).await;
    assert_eq!((again.sent, again.no_channel, again.resumed), (0, 0, 0));

    // The message is queued in the outbox; nothing left before its worker ran.
    assert!(fake.sent().is_empty());
    let c = csat_of(&app, id).await;
    assert_eq!(c["state"], "sent", "{c}");
    assert_eq!(c["delivery"], "queued", "{c}");
    let link = c["link"].as_str().unwrap().to_string();
    assert!(
        link.starts_with("http://127.0.0.1:8080/csat/"),
        "the node's public URL: {link}"
    );
    let outbox = earshot_app::outbox::OutboxWorker::default()
        .tick(&app.state.app, app.clock_now())
        .await
        .unwrap();
    assert_eq!(outbox.sent, 1, "{outbox:?}");
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].visibility, earshot_core::reply::Visibility::Private);
    assert_eq!(sent[0].recipient, "ida");
    assert!(sent[0].body.starts_with("Hi @ida,"), "{}", sent[0].body);
    assert!(
        sent[0].body.contains(&link),
        "{} lacks {link}",
        sent[0].body
    );
    let c = csat_of(&app, id).await;
    assert_eq!(c["delivery"], "sent", "{c}");
    assert_eq!(c["request"]["requested_by"], "earshot");
    // One CSAT message on the case, by Earshot.
    let (_, detail) = app.get_json(&format!("/api/v1/cases/{id}")).await;
    let by_earshot: Vec<&Value> = detail["replies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["author"] == "earshot")
        .collect();
    assert_eq!(by_earshot.len(), 1, "{detail}");

    // The customer follows the link: a form, nothing of the case, no cookie.
    let path = path_of(&link);
    let (s, page, headers) = visit(&app, &path).await;
    assert_eq!(s, 200, "{page}");
    assert!(headers.get("set-cookie").is_none());
    assert!(
        page.contains(&format!("<form method=\"post\" action=\"{path}\"")),
        "{page}"
    );
    for score in 1..=5 {
        assert!(
            page.contains(&format!(
                "type=\"radio\" id=\"score-{score}\" name=\"score\" value=\"{score}\""
            )),
            "{page}"
        );
        assert!(
            page.contains(&format!("<label for=\"score-{score}\">")),
            "{page}"
        );
    }
    assert!(page.contains("<textarea id=\"comment\" name=\"comment\""));
    assert!(!page.contains("<script"), "works without JavaScript");
    for private in ["ida", "4411", "acme", &format!("/cases/{id}")] {
        assert!(!page.contains(private), "the page reveals {private:?}");
    }

    // Rating with a plain form post stores the score on the case.
    let (s, thanks) = rate(&app, &path, &[("score", "4"), ("comment", "Quick, thanks")]).await;
    assert_eq!(s, 200, "{thanks}");
    assert!(
        thanks.contains("Thank you! You rated us <strong>4 out of 5</strong>"),
        "{thanks}"
    );
    let c = csat_of(&app, id).await;
    assert_eq!(c["state"], "answered", "{c}");
    assert_eq!(c["request"]["answer"]["score"], 4);
    assert_eq!(c["request"]["answer"]["comment"], "Quick, thanks");
    assert_eq!(c["link"], Value::Null, "no link once answered");

    // A second try, by GET or POST, shows the stored answer and keeps it.
    let (s, second) = rate(&app, &path, &[("score", "1"), ("comment", "changed")]).await;
    assert_eq!(s, 200);
    assert!(
        second.contains("You already rated us <strong>4 out of 5</strong>"),
        "{second}"
    );
    assert!(second.contains("Quick, thanks"), "{second}");
    let (s, revisit, _) = visit(&app, &path).await;
    assert_eq!(s, 200);
    assert!(revisit.contains("You already rated us <strong>4 out of 5</strong>"));
    let c = csat_of(&app, id).await;
    assert_eq!(c["request"]["answer"]["score"], 4);
    assert_eq!(c["request"]["answer"]["comment"], "Quick, thanks");

    // The case's trail and page show it.
    let (_, detail) = app.get_json(&format!("/api/v1/cases/{id}")).await;
    let actions: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("csat."))
        .collect();
    assert_eq!(actions, ["csat.sent", "csat.answered"]);
    let page = desk_page(&app, id, "viewer1").await;
    let panel = csat_panel(&page);
    assert!(panel.contains("Answered ★★★★☆ 4/5 (satisfied)."), "{panel}");
    assert!(
        panel.contains("<blockquote id=\"csat-comment\">Quick, thanks</blockquote>"),
        "{panel}"
    );
    assert!(!panel.contains("csat-ask"), "nothing more to ask: {panel}");
}
both_databases!(a_resolved_case_is_asked_in_its_channel_and_rated_once);

async fn expired_links_are_gone_and_tampered_ones_unknown() {
    let app = spawn_app().await;
    let (id, source) = case_heard_through_a_source(&app, "rex").await;
    connect(&app, source);
    let (s, b) = app
        .post_json(&format!("/api/v1/cases/{id}/csat"), &json!({}))
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["state"], "sent", "{b}");
    assert_eq!(b["request"]["trigger"], "on_demand");
    let path = path_of(b["link"].as_str().unwrap());
    let token = path.trim_start_matches("/csat/").to_string();

    // Tampered: one character changed, or cut short, or made up.
    let mut chars: Vec<char> = token.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    for bad in [
        tampered.as_str(),
        &token[..40],
        "not-a-token",
        &"A".repeat(64),
    ] {
        let (s, page, _) = visit(&app, &format!("/csat/{bad}")).await;
        assert_eq!(s, 404, "{bad}");
        assert!(page.contains("This survey link is not valid"), "{page}");
        let (s, _) = rate(&app, &format!("/csat/{bad}"), &[("score", "5")]).await;
        assert_eq!(s, 404, "{bad}");
    }
    // Seven days later (the default) the link has expired: 410, both ways.
    app.clock.advance(TimeDelta::days(7));
    let (s, page, _) = visit(&app, &path).await;
    assert_eq!(s, 410, "{page}");
    assert!(page.contains("This survey link has expired"), "{page}");
    let (s, _) = rate(&app, &path, &[("score", "5")]).await;
    assert_eq!(s, 410);
    let c = csat_of(&app, id).await;
    assert_eq!(c["state"], "expired", "{c}");
    assert_eq!(c["request"]["answer"], Value::Null);
}
both_databases!(expired_links_are_gone_and_tampered_ones_unknown);

async fn policy_never_sends_nothing_and_refuses_asking() {
    let app = spawn_app().await;
    let (id, source) = case_heard_through_a_source(&app, "una").await;
    let fake = connect(&app, source);
    // The source says on_resolve, the team says never: never wins.
    let (s, b) = call(
        &app,
        crate::support::TOKEN,
        Method::PUT,
        "/api/v1/csat/policies",
        Some(json!({
            "teams": [{"team": "vip", "policy": {"mode": "never"}}],
            "sources": [{"source_id": source.0, "policy": {"mode": "on_resolve", "delay_minutes": 10}}]
        })),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["default"]["mode"], "on_resolve", "the default stays");
    let (s, b) = app
        .post_json(
            &format!("/api/v1/cases/{id}/assign"),
            &json!({"assignee": null, "team": "vip"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    set_status(&app, id, "resolved").await;
    app.clock.advance(TimeDelta::days(2));
    let report = scan(&app).await;
    assert_eq!((report.sent, report.no_channel), (0, 0), "{report:?}");
    let c = csat_of(&app, id).await;
    assert_eq!(c["state"], "none", "{c}");
    assert_eq!(c["policy"]["mode"], "never");
    assert_eq!(c["policy"]["from"], "team");
    assert_eq!(c["can_ask"], false);
    let (s, b) = app
        .post_json(&format!("/api/v1/cases/{id}/csat"), &json!({}))
        .await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["code"], "conflict");
    assert!(b["message"].as_str().unwrap().contains("never"), "{b}");
    earshot_app::outbox::OutboxWorker::default()
        .tick(&app.state.app, app.clock_now())
        .await
        .unwrap();
    assert!(fake.sent().is_empty(), "nothing was sent");
    let page = desk_page(&app, id, "viewer2").await;
    assert!(!csat_panel(&page).contains("csat-ask"));
}
both_databases!(policy_never_sends_nothing_and_refuses_asking);

async fn on_demand_asks_only_when_an_agent_does_and_only_once() {
    let app = spawn_app().await;
    let (id, source) = case_heard_through_a_source(&app, "ola").await;
    let fake = connect(&app, source);
    let (s, b) = call(
        &app,
        crate::support::TOKEN,
        Method::PUT,
        "/api/v1/csat/policies",
        Some(json!({"default": {"mode": "on_demand"}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    set_status(&app, id, "resolved").await;
    app.clock.advance(TimeDelta::days(2));
    assert_eq!(scan(&app).await.sent, 0);
    assert_eq!(csat_of(&app, id).await["state"], "none");
    // The desk's button, a CSRF-checked form.
    let (cookie, csrf) = app.desk_session("ann", Role::Agent).await;
    let page = desk_page(&app, id, "viewer3").await;
    assert!(csat_panel(&page).contains("Ask for CSAT now"));
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirect
        .post(app.url(&format!("/cases/{id}/csat")))
        .header("cookie", &cookie)
        .form(&[("csrf_token", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "the CSRF check");
    assert_eq!(csat_of(&app, id).await["state"], "none");
    let r = no_redirect
        .post(app.url(&format!("/cases/{id}/csat")))
        .header("cookie", &cookie)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], format!("/cases/{id}#csat"));
    let c = csat_of(&app, id).await;
    assert_eq!(c["state"], "sent", "{c}");
    assert_eq!(c["request"]["requested_by"], "ann");
    assert_eq!(c["request"]["trigger"], "on_demand");
    // Once per case: the API refuses a second.
    let (s, b) = app
        .post_json(&format!("/api/v1/cases/{id}/csat"), &json!({}))
        .await;
    assert_eq!(s, 409, "{b}");
    assert!(
        b["message"].as_str().unwrap().contains("already sent"),
        "{b}"
    );
    earshot_app::outbox::OutboxWorker::default()
        .tick(&app.state.app, app.clock_now())
        .await
        .unwrap();
    assert_eq!(fake.sent().len(), 1);
    // An analyst may read but not ask.
    let analyst = token_for(&app, "ana", Role::Analyst).await;
    let (s, _) = call(
        &app,
        &analyst,
        Method::POST,
        &format!("/api/v1/cases/{id}/csat"),
        None,
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = call(
        &app,
        &analyst,
        Method::GET,
        &format!("/api/v1/cases/{id}/csat"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = app.post_json("/api/v1/cases/999999/csat", &json!({})).await;
    assert_eq!(s, 404);
}
both_databases!(on_demand_asks_only_when_an_agent_does_and_only_once);

async fn a_reopened_case_is_not_asked() {
    let app = spawn_app().await;
    let (id, source) = case_heard_through_a_source(&app, "pia").await;
    connect(&app, source);
    set_status(&app, id, "resolved").await;
    app.clock.advance(TimeDelta::hours(2));
    set_status(&app, id, "open").await;
    app.clock.advance(TimeDelta::days(2));
    let report = scan(&app).await;
    assert_eq!((report.sent, report.no_channel), (0, 0), "{report:?}");
    let c = csat_of(&app, id).await;
    assert_eq!(c["state"], "none", "{c}");
    assert_eq!(c["request"], Value::Null);
    // Resolved again: the delay counts from the new resolve.
    set_status(&app, id, "resolved").await;
    app.clock.advance(TimeDelta::hours(23));
    assert_eq!(scan(&app).await.sent, 0);
    app.clock.advance(TimeDelta::hours(1));
    assert_eq!(scan(&app).await.sent, 1);
}
both_databases!(a_reopened_case_is_not_asked);

async fn without_a_private_channel_the_link_is_offered_to_copy() {
    let app = spawn_app().await;
    // No connector runs for the source: nothing can carry the message.
    let (id, _source) = case_heard_through_a_source(&app, "quinn").await;
    set_status(&app, id, "resolved").await;
    app.clock.advance(TimeDelta::days(1));
    let report = scan(&app).await;
    assert_eq!((report.sent, report.no_channel), (0, 1), "{report:?}");
    let c = csat_of(&app, id).await;
    assert_eq!(c["state"], "no_channel", "{c}");
    let why = c["request"]["no_channel_reason"].as_str().unwrap();
    assert!(why.contains("no connector is running"), "{why}");
    let link = c["link"].as_str().unwrap();
    let page = desk_page(&app, id, "viewer4").await;
    let panel = csat_panel(&page);
    assert!(
        panel.contains("No channel could carry the request."),
        "{panel}"
    );
    assert!(
        panel.contains(&format!(
            "<input id=\"csat-link\" class=\"copy-text\" readonly value=\"{link}\">"
        )),
        "{panel}"
    );
    assert!(
        panel.contains("Survey link to pass on to the customer"),
        "{panel}"
    );
    assert!(
        panel.contains("Ask for CSAT now"),
        "a retry is offered once a channel runs"
    );
    // The copied link works.
    let (s, _, _) = visit(&app, &path_of(link)).await;
    assert_eq!(s, 200);

    // An RSS case has no private channel at all.
    let (s, b) = app
        .post_json("/api/v1/mentions", &{
            let mut m = mention("rss-1", "blogger", COMPLAINT);
            m["source"] = json!("rss");
            m
        })
        .await;
    assert!(s == 200 || s == 201, "{b}");
    let (_, cases) = app.get_json("/api/v1/cases?source=rss").await;
    let rss = cases[0]["id"].as_i64().unwrap();
    set_status(&app, rss, "resolved").await;
    app.clock.advance(TimeDelta::days(1));
    assert_eq!(scan(&app).await.no_channel, 1);
    let c = csat_of(&app, rss).await;
    assert_eq!(c["state"], "no_channel");
    assert_eq!(
        c["request"]["no_channel_reason"],
        "rss has no private channel to ask in"
    );
    assert_eq!(c["request"]["reply_id"], Value::Null);
}
both_databases!(without_a_private_channel_the_link_is_offered_to_copy);

async fn bad_ratings_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let (id, source) = case_heard_through_a_source(&app, "ray").await;
    connect(&app, source);
    let (_, b) = app
        .post_json(&format!("/api/v1/cases/{id}/csat"), &json!({}))
        .await;
    let path = path_of(b["link"].as_str().unwrap());
    let long = "x".repeat(1001);
    for (form, why) in [
        (
            vec![("score", "4"), ("comment", "a\u{0}b")],
            "must not contain a NUL",
        ),
        (
            vec![("score", "4"), ("comment", long.as_str())],
            "Your comment must be at most 1000 characters",
        ),
        (vec![("score", "7")], "Choose a rating from 1 to 5"),
        (vec![("score", "")], "Choose a rating from 1 to 5"),
        (vec![("comment", "no score")], "Choose a rating from 1 to 5"),
    ] {
        let (s, page) = rate(&app, &path, &form).await;
        assert_eq!(s, 400, "{form:?}: {page}");
        assert!(page.contains(why), "{form:?}: {page}");
        assert!(page.contains("id=\"csat-form\""), "the form comes back");
    }
    let c = csat_of(&app, id).await;
    assert_eq!(c["state"], "sent", "nothing stored: {c}");
    // A comment of exactly the limit is fine.
    let ok = "é".repeat(1000);
    let (s, page) = rate(&app, &path, &[("score", "2"), ("comment", &ok)]).await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(csat_of(&app, id).await["request"]["answer"]["score"], 2);
}
both_databases!(bad_ratings_are_refused_and_change_nothing);

async fn policies_are_for_admins_and_validated() {
    let app = spawn_app().await;
    let (s, b) = app.get_json("/api/v1/csat/policies").await;
    assert_eq!(s, 200);
    assert_eq!(
        b,
        json!({"default": {"mode": "on_resolve", "delay_minutes": 1440}, "teams": [], "sources": []})
    );
    let sup = token_for(&app, "sue", Role::Supervisor).await;
    let (s, _) = call(&app, &sup, Method::GET, "/api/v1/csat/policies", None).await;
    assert_eq!(s, 403);
    let (s, _) = call(
        &app,
        &sup,
        Method::PUT,
        "/api/v1/csat/policies",
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 403);
    for (body, field) in [
        (
            json!({"default": {"mode": "never", "delay_minutes": 5}}),
            "default.delay_minutes",
        ),
        (
            json!({"teams": [{"team": "", "policy": {"mode": "never"}}]}),
            "teams[0].team",
        ),
        (
            json!({"teams": [{"team": "a", "mode": "never"}]}),
            "teams[0].mode: unknown field",
        ),
        (json!({"default": {"mode": "weekly"}}), "default"),
        (json!({"extra": 1}), "extra"),
    ] {
        let (s, b) = call(
            &app,
            crate::support::TOKEN,
            Method::PUT,
            "/api/v1/csat/policies",
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, 400, "{body}: {b}");
        assert!(
            b["message"].as_str().unwrap().contains(field),
            "{body}: {b}"
        );
    }
}
both_databases!(policies_are_for_admins_and_validated);

/// Five cases, worked out by hand. ann: three requests answered 5 and 2
/// and one unanswered; bob: one answered 4; one unassigned case without a
/// channel. By agent: ann 3 requests, 2 answered, rate 2/3, mean 3.5,
/// satisfied 1/2; bob 1, 1, 1.0, 4.0, 1.0; unassigned 0 requests, 1 without
/// a channel.
async fn the_summary_adds_up_by_hand_and_leads_to_its_cases() {
    let app = spawn_app().await;
    let mut cases = Vec::new();
    for (n, who) in ["ann", "ann", "ann", "bob", ""].iter().enumerate() {
        let (id, source) = case_heard_through_a_source(&app, &format!("cust{n}")).await;
        if n < 4 {
            connect(&app, source);
        }
        if !who.is_empty() {
            let (s, b) = app
                .post_json(
                    &format!("/api/v1/cases/{id}/assign"),
                    &json!({"assignee": who, "team": "care"}),
                )
                .await;
            assert_eq!(s, 200, "{b}");
        }
        set_status(&app, id, "resolved").await;
        cases.push(id);
    }
    app.clock.advance(TimeDelta::days(1));
    let report = scan(&app).await;
    assert_eq!((report.sent, report.no_channel), (4, 1), "{report:?}");
    for (i, score) in [(0, "5"), (1, "2"), (3, "4")] {
        let link = csat_of(&app, cases[i]).await["link"]
            .as_str()
            .unwrap()
            .to_string();
        let (s, _) = rate(&app, &path_of(&link), &[("score", score)]).await;
        assert_eq!(s, 200);
    }
    let (s, b) = app.get_json("/api/v1/csat/summary?by=agent").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["groups"],
        json!([
            {"key": "ann", "requests": 3, "answered": 2, "no_channel": 0,
             "response_rate": 2.0 / 3.0, "mean_score": 3.5, "satisfied_share": 0.5},
            {"key": "bob", "requests": 1, "answered": 1, "no_channel": 0,
             "response_rate": 1.0, "mean_score": 4.0, "satisfied_share": 1.0},
            {"key": null, "requests": 0, "answered": 0, "no_channel": 1,
             "response_rate": null, "mean_score": null, "satisfied_share": null},
        ]),
        "{b}"
    );
    // By team: care has ann's and bob's; by period: one day, all of them.
    let (_, b) = app.get_json("/api/v1/csat/summary?by=team").await;
    assert_eq!(b["groups"][0]["key"], "care");
    assert_eq!(b["groups"][0]["requests"], 4);
    assert_eq!(b["groups"][0]["mean_score"], json!(11.0 / 3.0));
    let (_, b) = app
        .get_json("/api/v1/csat/summary?by=period&period=day")
        .await;
    assert_eq!(b["groups"].as_array().unwrap().len(), 1, "{b}");
    assert_eq!(b["groups"][0]["key"], "2026-11-23");
    assert_eq!(b["groups"][0]["requests"], 4);
    assert_eq!(b["groups"][0]["satisfied_share"], json!(2.0 / 3.0));
    let (_, b) = app
        .get_json("/api/v1/csat/summary?by=period&period=month")
        .await;
    assert_eq!(b["groups"][0]["key"], "2026-11");
    let (_, b) = app.get_json("/api/v1/csat/summary?by=source").await;
    assert_eq!(b["groups"][0]["key"], "webhook");
    assert_eq!(b["groups"][0]["answered"], 3);
    // from/to: nothing was asked before 2026-11-23.
    let (_, b) = app
        .get_json("/api/v1/csat/summary?by=agent&to=2026-11-23T00:00:00Z")
        .await;
    assert_eq!(b["groups"], json!([]), "{b}");
    for bad in [
        "by=weekday",
        "by=period&period=year",
        "by=agent&period=day",
        "by=agent&from=2026-12-01T00:00:00Z&to=2026-11-01T00:00:00Z",
        "by=agent&from=yesterday",
        "",
    ] {
        let (s, b) = app.get_json(&format!("/api/v1/csat/summary?{bad}")).await;
        assert_eq!(s, 400, "{bad}: {b}");
    }

    // The cases behind the numbers: the API's list and the inbox.
    let ids = |b: &Value| -> Vec<i64> {
        let mut v: Vec<i64> = b
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect();
        v.sort();
        v
    };
    let (_, b) = app.get_json("/api/v1/cases?csat=answered").await;
    assert_eq!(ids(&b), [cases[0], cases[1], cases[3]]);
    let (_, b) = app.get_json("/api/v1/cases?csat=5").await;
    assert_eq!(ids(&b), [cases[0]]);
    let (_, b) = app.get_json("/api/v1/cases?csat=unanswered").await;
    assert_eq!(ids(&b), [cases[2], cases[4]]);
    let (s, _) = app.get_json("/api/v1/cases?csat=9").await;
    assert_eq!(s, 400);
    let (cookie, _) = app.desk_session("lea", Role::Supervisor).await;
    let inbox = app
        .client
        .get(app.url("/inbox?csat=2"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        inbox.contains(&format!("href=\"/cases/{}\"", cases[1])),
        "{inbox}"
    );
    assert!(!inbox.contains(&format!("href=\"/cases/{}\"", cases[0])));
    assert!(inbox.contains("rated 2/5"), "the filter is named");

    // The dashboard's tile: the same numbers, each linking to its cases.
    let (cookie, _) = app.desk_session("max", Role::Supervisor).await;
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
    let at = dashboard.find("id=\"tile-csat\"").expect("a CSAT tile");
    let tile = &dashboard[at..at + dashboard[at..].find("</div>").unwrap()];
    assert!(tile.contains("★3.7"), "mean of 5, 2 and 4: {tile}");
    assert!(
        tile.contains("<a href=\"/inbox?csat=answered\">3 answered</a>"),
        "{tile}"
    );
    assert!(tile.contains("67% rated"), "two of three rated 4-5: {tile}");
    assert!(
        tile.contains("<a href=\"/inbox?csat=unanswered\">2 asked, unanswered</a>"),
        "as many as the unanswered list holds: {tile}"
    );
}
both_databases!(the_summary_adds_up_by_hand_and_leads_to_its_cases);

/// A worker that died between creating a request and recording its
/// message leaves it `scheduled`; the next scan finds the message it
/// already sent (by its link) and sends nothing again.
async fn a_request_left_mid_send_is_finished_without_a_second_message() {
    use earshot_core::csat::{CsatStore, CsatTrigger, NewCsatRequest};
    let app = spawn_app().await;
    let (id, source) = case_heard_through_a_source(&app, "sam").await;
    connect(&app, source);
    let now = app.clock_now();
    let request = app
        .store
        .create_csat_request(
            &NewCsatRequest {
                case_id: earshot_core::ids::CaseId(id),
                trigger: CsatTrigger::OnResolve,
                requested_by: "earshot".into(),
                source_id: Some(source),
                expires_at: now + TimeDelta::days(7),
                lease_until: now + earshot_app::csat::LEASE,
            },
            now,
        )
        .await
        .unwrap()
        .unwrap();
    // The message went out, then the worker died before marking it sent.
    let link = app.state.app.csat_links.link(&request);
    earshot_app::handoff::send_private(
        &app.state.app,
        request.case_id,
        &format!("Hi @sam, rate us: {link}"),
        "earshot",
    )
    .await
    .unwrap();
    // Held until the lease lapses.
    assert_eq!(scan(&app).await.resumed, 0);
    app.clock.advance(earshot_app::csat::LEASE);
    let report = scan(&app).await;
    assert_eq!((report.resumed, report.sent), (1, 1), "{report:?}");
    let (_, detail) = app.get_json(&format!("/api/v1/cases/{id}")).await;
    let by_earshot = detail["replies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["author"] == "earshot")
        .count();
    assert_eq!(by_earshot, 1, "one message, never two");
    assert_eq!(csat_of(&app, id).await["state"], "sent");
}
both_databases!(a_request_left_mid_send_is_finished_without_a_second_message);
