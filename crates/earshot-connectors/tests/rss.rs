#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The feed connector against a local HTTP fake serving the fixtures in
//! tests/fixtures/rss (see its README.md for the specs they follow).

use std::time::Duration;

use earshot_connectors::rss::Rss;
use earshot_connectors::{ConnError, Connector, Cursor, InboundKind, Page, SourceSettings};
use earshot_core::source::SourceKind;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/rss/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn settings(config: Value) -> SourceSettings {
    let Value::Object(config) = config else {
        panic!("config must be an object")
    };
    SourceSettings {
        config,
        credentials: Default::default(),
    }
}

fn connector(server: &MockServer, extra: Value) -> Rss {
    let mut config = json!({ "url": format!("{}/feed", server.uri()) });
    if let (Value::Object(c), Value::Object(e)) = (&mut config, extra) {
        c.extend(e);
    }
    Rss::from_settings(&settings(config)).unwrap()
}

async fn serve(server: &MockServer, body: &str, content_type: &str) {
    Mock::given(method("GET"))
        .and(path("/feed"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", content_type)
                .set_body_raw(body.as_bytes().to_vec(), content_type),
        )
        .mount(server)
        .await;
}

fn ids(page: &Page) -> Vec<&str> {
    page.items
        .iter()
        .map(|i| i.mention.external_id.as_str())
        .collect()
}

fn valid(page: &Page) {
    let now = chrono::Utc::now();
    for item in &page.items {
        item.mention.clone().validate(now).unwrap();
        assert!(!item.by_brand);
    }
}

#[tokio::test]
async fn atom_entries_become_items_with_their_ids_authors_and_text() {
    let server = MockServer::start().await;
    serve(&server, &fixture("atom.xml"), "application/atom+xml").await;
    let page = connector(&server, json!({})).poll(None).await.unwrap();
    valid(&page);
    // Oldest first.
    assert_eq!(
        ids(&page),
        [
            "https://blog.example.com/2026/11/release",
            "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"
        ]
    );
    let outage = &page.items[1];
    assert_eq!(outage.mention.source, SourceKind::Rss);
    assert_eq!(outage.kind, InboundKind::Feed);
    assert_eq!(outage.mention.author.handle, "Jane Doe");
    assert_eq!(
        outage.mention.author.display_name.as_deref(),
        Some("Jane Doe")
    );
    assert_eq!(
        outage.mention.author.profile_url.as_deref(),
        Some("https://blog.example.com/jane")
    );
    // Content (HTML) is preferred to the summary, tags stripped and
    // paragraphs kept apart.
    assert_eq!(
        outage.mention.text,
        "Our outage on Monday\n\nWhat happened & why.\n\nWe are sorry."
    );
    assert_eq!(
        outage.mention.url.as_deref(),
        Some("https://blog.example.com/2026/11/outage")
    );
    assert_eq!(
        outage.mention.created_at.to_rfc3339(),
        "2026-11-30T09:00:00+00:00"
    );
    assert_eq!(
        outage.reply_ref,
        json!({"link": "https://blog.example.com/2026/11/outage"})
    );
    // A plain-text title and summary are kept as written; no published
    // date falls back to updated; no author falls back to the feed.
    let release = &page.items[0];
    assert_eq!(
        release.mention.text,
        "Release 2.0 < 3.0\n\nPlain text summary, kept as written: a <b> is not a tag here."
    );
    assert_eq!(
        release.mention.created_at.to_rfc3339(),
        "2026-11-29T08:00:00+00:00"
    );
    assert_eq!(release.mention.author.handle, "127.0.0.1");
    assert_eq!(
        release.mention.author.display_name.as_deref(),
        Some("Acme Engineering Blog")
    );
}

#[tokio::test]
async fn rss2_ids_are_kept_scoped_or_hashed_and_malformed_items_skipped() {
    let server = MockServer::start().await;
    serve(&server, &fixture("rss2.xml"), "application/rss+xml").await;
    let feed_url = format!("{}/feed", server.uri());
    let rss = connector(&server, json!({}));
    let page = rss.poll(None).await.unwrap();
    valid(&page);
    let got = ids(&page);
    assert_eq!(got.len(), 3, "{got:?}");
    // Oldest first: the guid-less item (Sun 20:00), the bare guid
    // (Mon 09:00, scoped by the feed URL), the permalink guid (Mon 10:15).
    assert!(
        got[0].starts_with("sha256:") && got[0].len() == 7 + 64,
        "{got:?}"
    );
    assert_eq!(got[1], format!("{feed_url}#102"));
    assert_eq!(got[2], "https://forum.example.com/t/widget-broke/101");

    let broke = &page.items[2];
    assert_eq!(
        broke.mention.text,
        "Widget broke after the update\n\nMy widget stopped working.\nHelp!"
    );
    assert_eq!(broke.mention.author.handle, "Sam Lee");
    assert_eq!(
        broke.mention.created_at.to_rfc3339(),
        "2026-11-30T10:15:00+00:00"
    );

    // The unreadable date and the empty item are skipped, with why.
    assert_eq!(page.skipped.len(), 2, "{:?}", page.skipped);
    assert!(
        page.skipped
            .iter()
            .any(|s| s.contains("#104") && s.contains("date"))
    );
    assert!(
        page.skipped
            .iter()
            .any(|s| s.contains("#105") && s.contains("no title"))
    );

    // A fresh poll (no cursor) of the same feed hashes the guid-less item
    // to the same id.
    let again = connector(&server, json!({})).poll(None).await.unwrap();
    assert_eq!(ids(&again), got);
}

#[tokio::test]
async fn json_feed_items_parse_with_plain_and_html_content() {
    let server = MockServer::start().await;
    serve(&server, &fixture("jsonfeed.json"), "application/feed+json").await;
    let page = connector(&server, json!({})).poll(None).await.unwrap();
    valid(&page);
    let feed_url = format!("{}/feed", server.uri());
    assert_eq!(
        ids(&page),
        [
            "https://status.example.com/notes/1".to_string(),
            format!("{feed_url}#2")
        ]
    );
    assert_eq!(page.items[0].mention.text, "Some users cannot log in.");
    let resolved = &page.items[1];
    assert_eq!(
        resolved.mention.text,
        "Login issues resolved\n\nLogins work again.\n\nThanks for your patience."
    );
    assert_eq!(resolved.mention.author.handle, "Status Team");
    assert_eq!(
        resolved.mention.created_at.to_rfc3339(),
        "2026-11-30T11:00:00+00:00"
    );
}

#[tokio::test]
async fn google_alerts_links_are_unwrapped_and_html_titles_stripped() {
    let server = MockServer::start().await;
    serve(
        &server,
        &fixture("google_alerts.xml"),
        "application/atom+xml",
    )
    .await;
    let page = connector(&server, json!({})).poll(None).await.unwrap();
    valid(&page);
    assert_eq!(
        ids(&page),
        ["tag:google.com,2013:googlealerts/feed:12345678901234567890"]
    );
    let alert = &page.items[0].mention;
    assert_eq!(
        alert.url.as_deref(),
        Some("https://news.example.org/2026/11/30/acme-recall?ref=rss")
    );
    assert_eq!(
        alert.text,
        "Acme widgets recalled over battery fault\n\nThe maker of Acme widgets said on Monday that\u{a0}..."
    );
    assert_eq!(
        alert.author.display_name.as_deref(),
        Some("Google Alert - acme widgets")
    );
    assert_eq!(
        page.items[0].reply_ref,
        json!({"link": "https://news.example.org/2026/11/30/acme-recall?ref=rss"})
    );
}

#[tokio::test]
async fn validators_are_sent_back_and_304_is_nothing_new() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/feed"))
        .and(header("if-none-match", "\"v1\""))
        // By hand: wiremock's `header` splits values at commas, and HTTP
        // dates contain one.
        .and(|req: &Request| {
            req.headers
                .get("if-modified-since")
                .is_some_and(|v| v == "Mon, 30 Nov 2026 11:00:00 GMT")
        })
        .respond_with(ResponseTemplate::new(304))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/feed"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("etag", "\"v1\"")
                .insert_header("last-modified", "Mon, 30 Nov 2026 11:00:00 GMT")
                .set_body_raw(fixture("atom.xml").into_bytes(), "application/atom+xml"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let rss = connector(&server, json!({}));
    let first = rss.poll(None).await.unwrap();
    let cursor = first.cursor.clone().unwrap();
    assert_eq!(cursor.0["etag"], "\"v1\"");
    assert_eq!(cursor.0["last_modified"], "Mon, 30 Nov 2026 11:00:00 GMT");
    assert_eq!(cursor.0["seen"].as_array().unwrap().len(), 2);

    let second = rss.poll(Some(&cursor)).await.unwrap();
    assert!(second.items.is_empty());
    assert_eq!(second.cursor, None, "304 keeps the cursor as it was");
    assert!(second.skipped.is_empty());
}

#[tokio::test]
async fn a_repeated_feed_yields_each_entry_once_across_polls_and_restarts() {
    let server = MockServer::start().await;
    serve(&server, &fixture("rss2.xml"), "application/rss+xml").await;
    let rss = connector(&server, json!({}));
    let first = rss.poll(None).await.unwrap();
    assert_eq!(first.items.len(), 3);
    let cursor = first.cursor.unwrap();

    let second = rss.poll(Some(&cursor)).await.unwrap();
    assert!(second.items.is_empty(), "{:?}", ids(&second));
    assert!(second.skipped.is_empty(), "skips are reported once");

    // A restart: the cursor goes through its saved JSON into a new instance.
    let saved = serde_json::to_string(&second.cursor.unwrap()).unwrap();
    let restored: Cursor = serde_json::from_str(&saved).unwrap();
    let restarted = connector(&server, json!({}));
    let third = restarted.poll(Some(&restored)).await.unwrap();
    assert!(third.items.is_empty(), "{:?}", ids(&third));

    // A new entry at the top is the only item.
    server.reset().await;
    let with_new = fixture("rss2.xml").replace(
        "<item>",
        "<item><title>Brand new</title><guid>https://forum.example.com/t/new/200</guid>\
         <pubDate>Mon, 30 Nov 2026 11:00:00 GMT</pubDate><description>New!</description></item><item>",
    );
    serve(&server, &with_new, "application/rss+xml").await;
    let fourth = restarted
        .poll(Some(third.cursor.as_ref().unwrap()))
        .await
        .unwrap();
    assert_eq!(ids(&fourth), ["https://forum.example.com/t/new/200"]);
}

fn numbered_feed(n: usize) -> String {
    let items: String = (0..n)
        .rev()
        .map(|i| {
            format!(
                "<item><title>Post {i}</title><guid>https://example.com/p/{i}</guid>\
                 <pubDate>Mon, 30 Nov 2026 {:02}:{:02}:00 GMT</pubDate></item>",
                i / 60,
                i % 60
            )
        })
        .collect();
    format!("<rss version=\"2.0\"><channel><title>Numbers</title>{items}</channel></rss>")
}

#[tokio::test]
async fn the_first_poll_takes_at_most_max_backfill_newest_entries() {
    let server = MockServer::start().await;
    serve(&server, &numbered_feed(25), "application/rss+xml").await;
    let rss = connector(&server, json!({"max_backfill": 5}));
    let first = rss.poll(None).await.unwrap();
    assert_eq!(
        ids(&first),
        (20..25)
            .map(|i| format!("https://example.com/p/{i}"))
            .collect::<Vec<_>>()
    );
    // The older entries are remembered, not yielded later.
    let second = rss.poll(first.cursor.as_ref()).await.unwrap();
    assert!(second.items.is_empty());

    // An unreadable saved cursor starts afresh, with the backfill.
    let garbled = Cursor(json!({"seen": "not a list"}));
    assert_eq!(rss.poll(Some(&garbled)).await.unwrap().items.len(), 5);

    // The default backfill is 20.
    let default = connector(&server, json!({})).poll(None).await.unwrap();
    assert_eq!(default.items.len(), 20);
}

#[tokio::test]
async fn keywords_keep_only_matching_entries_in_any_case() {
    let server = MockServer::start().await;
    serve(&server, &fixture("rss2.xml"), "application/rss+xml").await;
    let rss = connector(&server, json!({"keywords": ["WIDGET", "charged"]}));
    let page = rss.poll(None).await.unwrap();
    // "Widget broke…" matches in the title, "Billing question" in its text.
    let feed_url = format!("{}/feed", server.uri());
    assert_eq!(
        ids(&page),
        [
            format!("{feed_url}#102"),
            "https://forum.example.com/t/widget-broke/101".to_string()
        ]
    );
    let caps = rss.capabilities();
    assert!(caps.listen_keyword);
    assert!(
        caps.limitations
            .iter()
            .any(|l| l.contains("widget, charged"))
    );
}

#[tokio::test]
async fn an_html_page_is_a_permanent_error_naming_what_came_back() {
    let server = MockServer::start().await;
    serve(
        &server,
        "<!DOCTYPE html>\n<html><head><title>Welcome</title></head><body><p>Hi</body></html>",
        "text/html; charset=utf-8",
    )
    .await;
    let err = connector(&server, json!({})).poll(None).await.unwrap_err();
    let ConnError::Permanent(why) = &err else {
        panic!("{err:?}")
    };
    assert!(
        why.contains("did not return an RSS, Atom or JSON feed"),
        "{why}"
    );
    assert!(why.contains("text/html"), "{why}");
    assert!(why.contains("<!DOCTYPE html>"), "{why}");
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_classified() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).set_body_string("maintenance"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let rss = connector(&server, json!({}));
    let limited = rss.poll(None).await.unwrap_err();
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(120)));
    let down = rss.poll(None).await.unwrap_err();
    assert_eq!(down, ConnError::Transient("HTTP 503: maintenance".into()));
    assert!(down.is_retryable());
}

#[tokio::test]
async fn review_feeds_yield_reviews_and_nothing_can_be_sent() {
    let server = MockServer::start().await;
    serve(&server, &fixture("atom.xml"), "application/atom+xml").await;
    let rss = connector(
        &server,
        json!({"kind_hint": "reviews", "interval_secs": 3600}),
    );
    let page = rss.poll(None).await.unwrap();
    assert!(page.items.iter().all(|i| i.kind == InboundKind::Review));

    let caps = rss.start().await.unwrap();
    assert_eq!(caps.reply_public, None);
    assert_eq!(caps.reply_private, None);
    assert_eq!(
        caps.transport,
        earshot_connectors::Transport::Poll {
            interval: Duration::from_secs(3600)
        }
    );
    assert!(caps.limitations[0].contains("replies on the site"));
    let out = earshot_connectors::Outbound {
        idempotency_key: "k".into(),
        visibility: earshot_core::reply::Visibility::Public,
        body: "hello".into(),
        recipient: "x".into(),
        reply_ref: json!({"link": "https://blog.example.com/"}),
        last_inbound_at: None,
    };
    assert!(matches!(
        rss.send(&out).await,
        Err(ConnError::Unsupported(_))
    ));
    assert!(matches!(
        rss.reconcile(&out).await,
        Err(ConnError::Unsupported(_))
    ));
}

#[test]
fn bad_config_names_the_field() {
    let err = |config: Value| {
        earshot_connectors::build(SourceKind::Rss, &settings(config))
            .err()
            .unwrap()
            .to_string()
    };
    assert!(err(json!({"url": "ftp://example.com/feed"})).contains("config.url"));
    assert!(err(json!({})).contains("config"));
    assert!(
        err(json!({"url": "https://example.com/feed", "interval_secs": 30}))
            .contains("config.interval_secs")
    );
    assert!(
        err(json!({"url": "https://example.com/feed", "keywords": ["ok", " "]}))
            .contains("config.keywords[1]")
    );
    assert!(
        err(json!({"url": "https://example.com/feed", "kind_hint": "tweets"}))
            .contains("config.kind_hint")
    );
    assert!(err(json!({"url": "https://example.com/feed", "urll": 1})).contains("urll"));
    assert!(
        earshot_connectors::build(
            SourceKind::Rss,
            &settings(json!({"url": "https://example.com/feed"}))
        )
        .is_ok()
    );
}

/// The Accept header asks for feeds first (some servers negotiate).
#[tokio::test]
async fn the_request_asks_for_feed_types() {
    let server = MockServer::start().await;
    serve(&server, &fixture("atom.xml"), "application/atom+xml").await;
    connector(&server, json!({})).poll(None).await.unwrap();
    let requests: Vec<Request> = server.received_requests().await.unwrap();
    let accept = requests[0].headers.get("accept").unwrap().to_str().unwrap();
    assert!(accept.starts_with("application/atom+xml"), "{accept}");
    assert!(requests[0].headers.get("if-none-match").is_none());
}

#[tokio::test]
async fn odd_but_readable_entries_still_make_valid_mentions() {
    let server = MockServer::start().await;
    let long_name = "N".repeat(400);
    let feed = json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Odd",
        "items": [
            {"id": "https://odd.example/1", "url": "mailto:someone@example.com",
             "content_text": "NUL\u{0}inside", "date_published": "2026-11-30T08:00:00Z",
             "authors": [{"name": long_name}]},
            {"id": "https://odd.example/2", "content_text": "Ancient", "date_published": "1900-01-01T00:00:00Z"},
            {"id": "https://odd.example/3", "content_text": "From the future", "date_published": "2999-01-01T00:00:00Z"}
        ]
    });
    serve(&server, &feed.to_string(), "application/feed+json").await;
    let page = connector(&server, json!({})).poll(None).await.unwrap();
    valid(&page);
    assert_eq!(page.items.len(), 2);
    let odd = page
        .items
        .iter()
        .find(|i| i.mention.external_id == "https://odd.example/1")
        .unwrap();
    assert_eq!(odd.mention.text, "NULinside");
    assert_eq!(odd.mention.url, None, "a mailto: link is no page to open");
    assert_eq!(odd.mention.author.handle.len(), 256);
    let future = page
        .items
        .iter()
        .find(|i| i.mention.external_id == "https://odd.example/3")
        .unwrap();
    assert!(future.mention.created_at <= chrono::Utc::now());
    assert!(
        page.skipped[0].contains("before 1970"),
        "{:?}",
        page.skipped
    );
}
