//! Sources over the API (`/api/v1/sources`) and signed pushes to a webhook
//! source (`/api/v1/sources/{id}/inbound`), signed with real HMACs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use earshot_core::auth::Role;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::calls::{admin, call, token_for};
use crate::support::{TestApp, both_databases, spawn_app};

const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const GITHUB_SECRET: &str = "It's a Secret to Everybody";

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Standard Webhooks headers for `body`, signed at `ts`.
fn standard_headers(id: &str, ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    let key = BASE64
        .decode(WEBHOOK_SECRET.trim_start_matches("whsec_"))
        .unwrap();
    let ts_text = ts.to_string();
    let sig = hmac(&key, &[id.as_bytes(), b".", ts_text.as_bytes(), b".", body]);
    vec![
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", ts_text),
        ("webhook-signature", format!("v1,{}", BASE64.encode(sig))),
    ]
}

async fn push(
    app: &TestApp,
    source: i64,
    headers: &[(&'static str, String)],
    body: &[u8],
) -> (u16, Value) {
    let mut req = app
        .client
        .post(app.url(&format!("/api/v1/sources/{source}/inbound")))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn create(app: &TestApp, body: Value) -> Value {
    let (s, b) = admin(app, Method::POST, "/api/v1/sources", Some(body)).await;
    assert_eq!(s, 201, "{b}");
    b
}

fn item(id: &str, text: &str) -> Value {
    json!({"external_id": id, "author": {"handle": "jane"}, "text": text,
           "created_at": "2026-11-22T09:55:00Z"})
}

/// Every kind is created from a valid config; no response and no audit
/// entry carries a credential, only which ones are set.
async fn admins_create_each_kind_and_credentials_never_show() {
    let app = spawn_app().await;
    let secrets = [
        "mastodon-token-XYZ",
        "bsky-app-pass-QRS",
        "imap-password-LMN",
        WEBHOOK_SECRET,
    ];
    let bodies = [
        json!({"kind": "rss", "name": "Blog", "config": {"url": "https://blog.example/feed.xml"}}),
        json!({"kind": "mastodon", "name": "Mastodon", "config": {
            "base_url": "https://mastodon.example", "access_token": secrets[0], "hashtags": ["acme"]}}),
        json!({"kind": "email", "name": "Support mailbox", "config": {
            "imap_host": "imap.example", "smtp_host": "smtp.example", "username": "care",
            "password": secrets[2], "address": "care@acme.example"}}),
        json!({"kind": "webhook", "name": "Relay", "config": {"scheme": "standard", "secret": secrets[3]}}),
    ];
    for body in bodies {
        let kind = body["kind"].clone();
        let created = create(&app, body).await;
        assert_eq!(created["kind"], kind);
        assert!(created["id"].is_i64(), "{created}");
        assert!(created["health"]["state"].is_string(), "{created}");
        let text = created.to_string();
        for s in secrets {
            assert!(!text.contains(s), "{s} echoed in {text}");
        }
    }
    let (s, list) = admin(&app, Method::GET, "/api/v1/sources", None).await;
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 4);
    let mastodon = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "mastodon")
        .unwrap()
        .clone();
    assert_eq!(mastodon["credentials_set"], json!(["access_token"]));
    assert_eq!(mastodon["config"]["base_url"], "https://mastodon.example");
    let id = mastodon["id"].as_i64().unwrap();
    let (s, one) = admin(&app, Method::GET, &format!("/api/v1/sources/{id}"), None).await;
    assert_eq!(s, 200, "{one}");
    assert_eq!(one["name"], "Mastodon");
    for key in [
        "state",
        "last_success_at",
        "last_error",
        "mentions_ingested",
        "records_skipped",
    ] {
        assert!(one["health"].get(key).is_some(), "{key} missing: {one}");
    }
    assert!(one.get("cursor").is_some(), "{one}");

    let (_, audit) = admin(&app, Method::GET, "/api/v1/audit?entity=source", None).await;
    let audit = audit.to_string();
    assert!(audit.contains("Mastodon"), "{audit}");
    for s in secrets {
        assert!(!audit.contains(s), "{s} in the audit log");
    }
    let everything = [list.to_string(), one.to_string()].concat();
    for s in secrets {
        assert!(!everything.contains(s));
    }
}
both_databases!(admins_create_each_kind_and_credentials_never_show);

/// A bad config is refused naming `config.<field>`; so are an unknown kind
/// and a missing name.
async fn invalid_configs_name_the_field() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"kind": "webhook", "name": "W", "config": {"scheme": "standard"}}),
            "config.secret",
        ),
        (
            json!({"kind": "webhook", "name": "W", "config": {"secret": WEBHOOK_SECRET, "tolerance_secs": 0}}),
            "config.tolerance_secs",
        ),
        (
            json!({"kind": "mastodon", "name": "M", "config": {"access_token": "t"}}),
            "config.base_url",
        ),
        (
            json!({"kind": "rss", "name": "R", "config": {"url": "ftp://nope"}}),
            "config.url",
        ),
        (json!({"kind": "fax", "name": "F", "config": {}}), "kind"),
        (
            json!({"kind": "rss", "config": {"url": "https://a.example/f"}}),
            "name",
        ),
    ];
    for (body, field) in cases {
        let (s, b) = admin(&app, Method::POST, "/api/v1/sources", Some(body.clone())).await;
        assert_eq!(s, 400, "{body} -> {b}");
        let message = b["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{body}: {message}");
    }
    let (_, list) = admin(&app, Method::GET, "/api/v1/sources", None).await;
    assert_eq!(list, json!([]));
}
both_databases!(invalid_configs_name_the_field);

/// Admins write, supervisors read, agents get 403; pause, resume, delete.
async fn roles_pause_resume_and_delete() {
    let app = spawn_app().await;
    let created = create(
        &app,
        json!({"kind": "webhook", "name": "Relay", "config": {"secret": WEBHOOK_SECRET}}),
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    let path = format!("/api/v1/sources/{id}");
    let agent = token_for(&app, "ann", Role::Agent).await;
    let supervisor = token_for(&app, "sue", Role::Supervisor).await;

    for (method, p) in [
        (Method::GET, "/api/v1/sources"),
        (Method::GET, path.as_str()),
    ] {
        let (s, b) = call(&app, &agent, method.clone(), p, None).await;
        assert_eq!(s, 403, "{b}");
        let (s, _) = call(&app, &supervisor, method, p, None).await;
        assert_eq!(s, 200);
    }
    let new = json!({"kind": "webhook", "name": "Other", "config": {"secret": WEBHOOK_SECRET}});
    for token in [&agent, &supervisor] {
        let (s, _) = call(
            &app,
            token,
            Method::POST,
            "/api/v1/sources",
            Some(new.clone()),
        )
        .await;
        assert_eq!(s, 403);
        let (s, _) = call(
            &app,
            token,
            Method::PATCH,
            &path,
            Some(json!({"paused": true})),
        )
        .await;
        assert_eq!(s, 403);
        let (s, _) = call(&app, token, Method::DELETE, &path, None).await;
        assert_eq!(s, 403);
    }

    let (s, b) = admin(&app, Method::PATCH, &path, Some(json!({"paused": true}))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["paused"], true);
    assert_eq!(b["health"]["state"], "paused");
    let (s, b) = admin(
        &app,
        Method::PATCH,
        &path,
        Some(json!({"paused": false, "name": "Relay 2", "config": {"tolerance_secs": 60}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["paused"], false);
    assert_eq!(b["name"], "Relay 2");
    assert_eq!(b["config"]["tolerance_secs"], 60);
    // The secret was kept through the partial change.
    assert_eq!(b["credentials_set"], json!(["secret"]));
    let (s, b) = admin(
        &app,
        Method::PATCH,
        &path,
        Some(json!({"config": {"tolerance_secs": -1}})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .starts_with("config.tolerance_secs"),
        "{b}"
    );

    let (s, _) = admin(&app, Method::DELETE, &path, None).await;
    assert_eq!(s, 204);
    let (s, b) = admin(&app, Method::GET, &path, None).await;
    assert_eq!(s, 404, "{b}");
    let (s, _) = admin(&app, Method::DELETE, &path, None).await;
    assert_eq!(s, 404);
}
both_databases!(roles_pause_resume_and_delete);

/// A signed push is ingested item by item; a replayed delivery stores
/// nothing; a tampered body, a stale timestamp or a missing header is 401;
/// a paused source 409; an unknown one 404.
async fn signed_pushes_are_accepted_rejected_and_deduplicated() {
    let app = spawn_app().await;
    let created = create(
        &app,
        json!({"kind": "webhook", "name": "Relay", "config": {"scheme": "standard", "secret": WEBHOOK_SECRET}}),
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    let now = app.clock_now().timestamp();

    let bad = json!({"external_id": "p2", "author": {"handle": "bob"}, "created_at": "2026-11-22T09:55:00Z"});
    let body = json!([
        item("p1", "my order 4411 never arrived, where is it?"),
        bad,
        item("p3", "still waiting on my refund, any news?")
    ])
    .to_string();
    let (s, b) = push(
        &app,
        id,
        &standard_headers("msg_1", now, body.as_bytes()),
        body.as_bytes(),
    )
    .await;
    assert_eq!(s, 207, "{b}");
    assert_eq!(b["duplicate"], false);
    assert_eq!(
        (b["accepted"].as_i64(), b["rejected"].as_i64()),
        (Some(2), Some(1)),
        "{b}"
    );
    assert_eq!(b["items"][0]["status"], "accepted");
    assert_eq!(b["items"][1]["status"], "rejected");
    assert_eq!(
        b["items"][1]["error"]["message"],
        "item 1: text: is required"
    );
    assert!(b["items"][2]["mention_id"].is_i64(), "{b}");

    // The same delivery again (a sender's retry): nothing new.
    let (s, b) = push(
        &app,
        id,
        &standard_headers("msg_1", now, body.as_bytes()),
        body.as_bytes(),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["duplicate"], true);
    let (_, mentions) = admin(&app, Method::GET, "/api/v1/mentions", None).await;
    assert_eq!(mentions.as_array().unwrap().len(), 2, "{mentions}");

    // A new delivery carrying an already stored post: a duplicate item.
    let again = item("p1", "my order 4411 never arrived, where is it?").to_string();
    let (s, b) = push(
        &app,
        id,
        &standard_headers("msg_2", now, again.as_bytes()),
        again.as_bytes(),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["items"][0]["status"], "duplicate");

    // A single invalid object: 400 naming the field, nothing stored.
    let invalid = json!({"external_id": "p4", "author": {"handle": "x"}, "text": "hi", "created_at": "yesterday"}).to_string();
    let (s, b) = push(
        &app,
        id,
        &standard_headers("msg_3", now, invalid.as_bytes()),
        invalid.as_bytes(),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["message"].as_str().unwrap().starts_with("created_at"),
        "{b}"
    );

    // Tampered, stale, unsigned: 401 naming what failed, never the secret
    // or the expected signature.
    let fresh = item("p5", "hello, my parcel is late").to_string();
    let signed = standard_headers("msg_4", now, fresh.as_bytes());
    let mut refusals = Vec::new();
    let (s, b) = push(&app, id, &signed, b"{\"tampered\": true}").await;
    assert_eq!(s, 401, "{b}");
    refusals.push(b.to_string());
    assert!(
        b["message"].as_str().unwrap().contains("webhook-signature"),
        "{b}"
    );
    let stale = standard_headers("msg_5", now - 3600, fresh.as_bytes());
    let (s, b) = push(&app, id, &stale, fresh.as_bytes()).await;
    assert_eq!(s, 401, "{b}");
    refusals.push(b.to_string());
    assert!(
        b["message"].as_str().unwrap().contains("webhook-timestamp"),
        "{b}"
    );
    let (s, b) = push(&app, id, &signed[1..], fresh.as_bytes()).await;
    assert_eq!(s, 401, "{b}");
    assert!(b["message"].as_str().unwrap().contains("webhook-id"), "{b}");
    refusals.push(b.to_string());
    let expected_signature = &signed[2].1["v1,".len()..];
    for answer in refusals {
        assert!(!answer.contains("MfKQ9r8"), "{answer}");
        assert!(!answer.contains(expected_signature), "{answer}");
    }

    // The source's health counts what it stored and what it rejected (the
    // batch's bad item and the single invalid object); unsigned pushes
    // count for nothing.
    let (_, source) = admin(&app, Method::GET, &format!("/api/v1/sources/{id}"), None).await;
    assert_eq!(source["health"]["mentions_ingested"], 2, "{source}");
    assert_eq!(source["health"]["records_skipped"], 2, "{source}");

    // Paused: refused; unknown: 404.
    admin(
        &app,
        Method::PATCH,
        &format!("/api/v1/sources/{id}"),
        Some(json!({"paused": true})),
    )
    .await;
    let (s, b) = push(&app, id, &signed, fresh.as_bytes()).await;
    assert_eq!(s, 409, "{b}");
    let (s, b) = push(&app, 999_999, &signed, fresh.as_bytes()).await;
    assert_eq!(s, 404, "{b}");
}
both_databases!(signed_pushes_are_accepted_rejected_and_deduplicated);

/// GitHub-style pushes: `X-Hub-Signature-256`, deduplicated on
/// `X-GitHub-Delivery`.
async fn github_style_pushes_verify_and_deduplicate() {
    let app = spawn_app().await;
    let created = create(
        &app,
        json!({"kind": "webhook", "name": "Hub", "config": {"scheme": "github", "secret": GITHUB_SECRET}}),
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    let body = item("g1", "the app crashes when I open my orders").to_string();
    let sig = format!(
        "sha256={}",
        hex::encode(hmac(GITHUB_SECRET.as_bytes(), &[body.as_bytes()]))
    );
    let headers = vec![
        ("x-hub-signature-256", sig.clone()),
        (
            "x-github-delivery",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_string(),
        ),
    ];
    let (s, b) = push(&app, id, &headers, body.as_bytes()).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["accepted"], 1);
    assert_eq!(b["delivery_id"], "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    let (s, b) = push(&app, id, &headers, body.as_bytes()).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["duplicate"], true);
    let (s, b) = push(&app, id, &headers, b"{}").await;
    assert_eq!(s, 401, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("x-hub-signature-256"),
        "{b}"
    );
}
both_databases!(github_style_pushes_verify_and_deduplicate);

/// A desk user's form post (no redirects followed) and page fetch.
async fn desk(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: Option<&[(&str, &str)]>,
) -> (u16, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let req = match form {
        Some(f) => client.post(app.url(path)).form(f),
        None => client.get(app.url(path)),
    };
    let r = req.header("cookie", cookie).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// An admin adds a feed and a Mastodon account from the Sources page's
/// forms and sees them listed; a bad field is shown next to the form; the
/// token never comes back; pausing works from the page; agents cannot
/// reach it.
async fn admins_add_sources_from_the_desk() {
    let app = spawn_app().await;
    let (cookie, csrf) = app.desk_session("ada", Role::Admin).await;
    let (s, page) = desk(&app, &cookie, "/settings", None).await;
    assert_eq!(s, 200);
    assert!(
        page.contains("href=\"/settings/sources\""),
        "no link to Sources"
    );
    let (s, page) = desk(&app, &cookie, "/settings/sources", None).await;
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("id=\"no-sources\""));
    assert!(
        page.contains("name=\"access_token\" type=\"password\""),
        "{page}"
    );

    let (s, _) = desk(
        &app,
        &cookie,
        "/settings/sources",
        Some(&[
            ("csrf_token", &csrf),
            ("kind", "rss"),
            ("name", "Company blog"),
            ("url", "https://blog.example/feed.xml"),
            ("keywords", ""),
        ]),
    )
    .await;
    assert_eq!(s, 303);
    let token = "mastodon-secret-token-123";
    let (s, _) = desk(
        &app,
        &cookie,
        "/settings/sources",
        Some(&[
            ("csrf_token", &csrf),
            ("kind", "mastodon"),
            ("name", "Acme on Mastodon"),
            ("base_url", "https://mastodon.example"),
            ("access_token", token),
            ("hashtags", "acme, acmehelp"),
        ]),
    )
    .await;
    assert_eq!(s, 303);
    // A missing field is named next to its form, which stays open and
    // keeps what was typed, except the credential.
    let (s, page) = desk(
        &app,
        &cookie,
        "/settings/sources",
        Some(&[
            ("csrf_token", &csrf),
            ("kind", "mastodon"),
            ("name", "Second"),
            ("base_url", ""),
            ("access_token", "typed-secret-999"),
        ]),
    )
    .await;
    assert_eq!(s, 422, "{page}");
    assert!(page.contains("id=\"form-error-mastodon\""), "{page}");
    assert!(page.contains("config.base_url: is required"), "{page}");
    assert!(page.contains("value=\"Second\""));
    assert!(!page.contains("typed-secret-999"));

    let (s, page) = desk(&app, &cookie, "/settings/sources", None).await;
    assert_eq!(s, 200);
    assert!(
        page.contains("Company blog") && page.contains("Acme on Mastodon"),
        "{page}"
    );
    assert!(!page.contains(token), "the token is shown: {page}");
    let (_, list) = admin(&app, Method::GET, "/api/v1/sources", None).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let mastodon = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "mastodon")
        .unwrap()
        .clone();
    assert_eq!(mastodon["config"]["hashtags"], json!(["acme", "acmehelp"]));
    let id = mastodon["id"].as_i64().unwrap();
    assert!(page.contains(&format!("id=\"toggle-{id}\"")), "{page}");

    // Pause from the page, without and then with the CSRF token.
    let pause = format!("/settings/sources/{id}/pause");
    let (s, _) = desk(&app, &cookie, &pause, Some(&[("csrf_token", "forged")])).await;
    assert_eq!(s, 403);
    let (s, _) = desk(&app, &cookie, &pause, Some(&[("csrf_token", &csrf)])).await;
    assert_eq!(s, 303);
    let (_, page) = desk(&app, &cookie, "/settings/sources", None).await;
    assert!(
        page.contains(&format!("id=\"source-state-{id}\">paused<")),
        "{page}"
    );
    assert!(
        page.contains(&format!("/settings/sources/{id}/resume")),
        "{page}"
    );

    let (agent, agent_csrf) = app.desk_session("ann", Role::Agent).await;
    let (s, _) = desk(&app, &agent, "/settings/sources", None).await;
    assert_eq!(s, 403);
    let (s, _) = desk(
        &app,
        &agent,
        "/settings/sources",
        Some(&[
            ("csrf_token", &agent_csrf),
            ("kind", "rss"),
            ("name", "X"),
            ("url", "https://x.example/f"),
        ]),
    )
    .await;
    assert_eq!(s, 403);
    let (_, list) = admin(&app, Method::GET, "/api/v1/sources", None).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
}
both_databases!(admins_add_sources_from_the_desk);

/// The sources endpoints are in the OpenAPI document with their schemas;
/// the inbound one is public (an empty security requirement).
#[tokio::test]
async fn the_sources_api_is_in_the_openapi_document() {
    let app = spawn_app().await;
    let (_, doc) = app.get_json("/api/v1/openapi.json").await;
    let paths = &doc["paths"];
    for (path, method) in [
        ("/api/v1/sources", "get"),
        ("/api/v1/sources", "post"),
        ("/api/v1/sources/{id}", "get"),
        ("/api/v1/sources/{id}", "patch"),
        ("/api/v1/sources/{id}", "delete"),
        ("/api/v1/sources/{id}/inbound", "post"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path} missing");
    }
    let inbound = &paths["/api/v1/sources/{id}/inbound"]["post"];
    assert_eq!(inbound["security"], json!([{}]), "{inbound}");
    assert!(inbound["responses"]["207"].is_object());
    assert!(paths["/api/v1/sources"]["get"].get("security").is_none());
    let schemas = &doc["components"]["schemas"];
    for name in [
        "Source",
        "NewSourceInput",
        "SourcePatchInput",
        "InboundResult",
        "SourceHealth",
    ] {
        assert!(schemas[name].is_object(), "schema {name} missing");
    }
    assert!(schemas["Source"]["allOf"].is_array() || schemas["Source"]["properties"].is_object());
}
