#![allow(clippy::unwrap_used, clippy::expect_used)]
// For the shared replay peer in `support`.
#![allow(clippy::type_complexity, clippy::result_large_err)]
//! The Mastodon connector against a wiremock server (REST) and the
//! WebSocket replay peer (streaming), with payloads retyped from
//! docs.joinmastodon.org (see tests/fixtures/mastodon/README.md).

mod support;

use std::sync::Arc;
use std::time::Duration;

use earshot_connectors::{
    ConnError, Connector, Cursor, InboundKind, Outbound, Sent, StreamEvent, Unit, build,
    split_settings,
};
use earshot_core::reply::Visibility;
use earshot_core::source::SourceKind;
use futures_util::StreamExt;
use serde_json::{Value, json};
use support::ws_replay::{Script, WsReplay, jsonl};
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "tok-123";

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/mastodon/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json_fixture(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

fn connector(base: &str, extra: Value) -> Arc<dyn Connector> {
    let mut config = json!({
        "base_url": base,
        "hashtags": ["brand"],
        "access_token": TOKEN,
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    let settings = split_settings(SourceKind::Mastodon, config).unwrap();
    assert!(settings.credentials.contains_key("access_token"));
    build(SourceKind::Mastodon, &settings).unwrap()
}

/// Mounts verify_credentials and the instance (its streaming URL pointed
/// at `streaming` when given).
async fn mount_start(server: &MockServer, streaming: Option<&str>) {
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/verify_credentials"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json_fixture("verify_credentials.json")),
        )
        .mount(server)
        .await;
    let mut instance = json_fixture("instance.json");
    if let Some(url) = streaming {
        instance["configuration"]["urls"]["streaming"] = json!(url);
    }
    Mock::given(method("GET"))
        .and(path("/api/v2/instance"))
        .respond_with(ResponseTemplate::new(200).set_body_json(instance))
        .mount(server)
        .await;
}

fn outbound(visibility: Visibility, body: &str, reply_ref: Value) -> Outbound {
    Outbound {
        idempotency_key: "01938f2c-7a4e-7c1d-9e55-3b0f6d1a2b3c".into(),
        visibility,
        body: body.into(),
        recipient: "alice@example.social".into(),
        reply_ref,
        last_inbound_at: None,
    }
}

fn alice_ref() -> Value {
    json!({"status_id": "1001", "acct": "alice", "visibility": "unlisted"})
}

#[tokio::test]
async fn start_reads_the_instances_limits_and_declares_what_mastodon_can_do() {
    let server = MockServer::start().await;
    let mut instance = json_fixture("instance.json");
    instance["configuration"]["statuses"]["max_characters"] = json!(1000);
    instance["configuration"]["statuses"]["characters_reserved_per_url"] = json!(30);
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/verify_credentials"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json_fixture("verify_credentials.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/instance"))
        .respond_with(ResponseTemplate::new(200).set_body_json(instance))
        .expect(1)
        .mount(&server)
        .await;
    let c = connector(&server.uri(), json!({}));
    let caps = c.start().await.unwrap();
    let limit = caps.reply_public.unwrap();
    assert_eq!(
        (limit.max, limit.unit, limit.url_cost),
        (1000, Unit::Chars, Some(30))
    );
    assert_eq!(caps.reply_private, Some(limit));
    assert!(caps.listen_mention && caps.listen_hashtag && caps.listen_dm);
    assert!(!caps.listen_keyword);
    assert!(caps.limitations.iter().any(|l| l.contains("Elasticsearch")));
    assert_eq!(
        caps.private_gate,
        earshot_connectors::PrivateGate::MustMention
    );
    assert_eq!(
        caps.idempotency,
        earshot_connectors::Idempotency::NativeHeader {
            ttl: Duration::from_secs(3600)
        }
    );
    assert_eq!(caps.transport, earshot_connectors::Transport::Stream);
    assert_eq!(
        (caps.rate.requests, caps.rate.per),
        (300, Duration::from_secs(300))
    );
    assert_eq!(c.capabilities(), caps);
}

#[tokio::test]
async fn a_refused_token_at_start_is_an_auth_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/verify_credentials"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": "The access token is invalid"})),
        )
        .mount(&server)
        .await;
    let c = connector(&server.uri(), json!({}));
    assert_eq!(
        c.start().await.unwrap_err(),
        ConnError::Auth("HTTP 401: The access token is invalid".into())
    );
}

#[tokio::test]
async fn poll_without_a_cursor_starts_from_the_newest_ids() {
    let server = MockServer::start().await;
    mount_start(&server, None).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/notifications"))
        .and(query_param("types[]", "mention"))
        .and(query_param("limit", "1"))
        .and(query_param_is_missing("min_id"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json_fixture("notifications_newest.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/brand"))
        .and(query_param("limit", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    let c = connector(&server.uri(), json!({}));
    c.start().await.unwrap();
    let page = c.poll(None).await.unwrap();
    assert!(page.items.is_empty(), "no history on a first start");
    assert!(!page.more);
    assert_eq!(
        page.cursor,
        Some(Cursor(
            json!({"notifications": "555", "tags": {"brand": "0"}})
        ))
    );
}

async fn mount_pages(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/api/v1/notifications"))
        .and(query_param("types[]", "mention"))
        .and(query_param("min_id", "100"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json_fixture("notifications_after_100.json")),
        )
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/brand"))
        .and(query_param("min_id", "2000"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json_fixture("tag_brand_after_2000.json")),
        )
        .expect(1)
        .mount(server)
        .await;
    // The one parent nobody has seen yet; 1001 (dave's parent) is known
    // from the notification page, so it is never fetched.
    Mock::given(method("GET"))
        .and(path("/api/v1/statuses/900"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json_fixture("status_900.json")))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn poll_pages_forward_and_returns_items_oldest_first_with_threads_joined() {
    let server = MockServer::start().await;
    mount_start(&server, None).await;
    mount_pages(&server).await;
    let c = connector(&server.uri(), json!({}));
    c.start().await.unwrap();
    let cursor = Cursor(json!({"notifications": "100", "tags": {"brand": "2000"}}));
    let page = c.poll(Some(&cursor)).await.unwrap();

    let ids: Vec<&str> = page
        .items
        .iter()
        .map(|i| i.mention.external_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "https://example.social/users/alice/statuses/1001",
            "https://far.example/users/dave/statuses/2001",
            "https://other.example/users/carol/statuses/1003",
            "https://example.social/users/brand/statuses/2002",
        ]
    );
    assert_eq!(
        page.cursor,
        Some(Cursor(
            json!({"notifications": "103", "tags": {"brand": "2002"}})
        ))
    );
    assert!(!page.more, "short pages: nothing more waiting");
    assert_eq!(page.skipped.len(), 1, "{:?}", page.skipped);
    assert!(page.skipped[0].contains("102") && page.skipped[0].contains("uri"));

    let alice = &page.items[0];
    assert_eq!(alice.kind, InboundKind::Mention);
    assert!(!alice.by_brand);
    let m = &alice.mention;
    assert_eq!(m.source, SourceKind::Mastodon);
    assert_eq!(
        m.author.handle, "alice@example.social",
        "local accounts get the instance's domain"
    );
    assert_eq!(m.author.display_name.as_deref(), Some("Alice"));
    assert_eq!(m.author.followers, 87);
    assert_eq!(
        m.text,
        "@brand my order & refund are \"stuck\"\n\nsince Monday\nplease help"
    );
    assert_eq!(m.url.as_deref(), Some("https://example.social/@alice/1001"));
    assert_eq!(m.created_at.to_rfc3339(), "2026-11-30T10:00:00+00:00");
    assert_eq!(m.language.as_deref(), Some("en"));
    let brand_900 = "https://example.social/users/brand/statuses/900";
    assert_eq!(m.parent_id.as_deref(), Some(brand_900));
    assert_eq!(m.thread_id.as_deref(), Some(brand_900));
    assert_eq!(
        (m.metrics.likes, m.metrics.reposts, m.metrics.replies),
        (3, 1, 2)
    );
    assert_eq!(
        alice.reply_ref,
        json!({"status_id": "1001", "acct": "alice", "visibility": "unlisted"})
    );

    let dave = &page.items[1];
    assert_eq!(dave.kind, InboundKind::Hashtag);
    assert_eq!(dave.mention.author.handle, "dave@far.example");
    assert_eq!(dave.mention.author.display_name, None);
    assert_eq!(
        dave.mention.parent_id.as_deref(),
        Some("https://example.social/users/alice/statuses/1001")
    );
    assert_eq!(
        dave.mention.thread_id.as_deref(),
        Some(brand_900),
        "root carried down the thread"
    );

    let carol = &page.items[2];
    assert_eq!(carol.kind, InboundKind::Direct);
    assert_eq!(carol.reply_ref["visibility"], "direct");
    assert_eq!(carol.reply_ref["acct"], "carol@other.example");
    assert_eq!(carol.mention.parent_id, None);

    let ours = &page.items[3];
    assert!(ours.by_brand, "the brand's own hashtag post is flagged");
    assert_eq!(
        ours.mention.text,
        "Our status page: https://status.example.com #brand"
    );
    assert_eq!(ours.mention.metrics.likes, 10);
    for item in &page.items {
        item.mention.clone().validate(chrono::Utc::now()).unwrap();
    }
}

#[tokio::test]
async fn a_full_page_says_more_is_waiting() {
    let server = MockServer::start().await;
    mount_start(&server, None).await;
    let template = json_fixture("notifications_after_100.json")[0].clone();
    let full: Vec<Value> = (0..40)
        .rev()
        .map(|n| {
            let mut note = template.clone();
            note["id"] = json!(format!("{}", 200 + n));
            note["status"]["id"] = json!(format!("{}", 5000 + n));
            note["status"]["uri"] = json!(format!("https://other.example/s/{n}"));
            note
        })
        .collect();
    Mock::given(method("GET"))
        .and(path("/api/v1/notifications"))
        .and(query_param("min_id", "199"))
        .and(query_param("limit", "40"))
        .respond_with(ResponseTemplate::new(200).set_body_json(full))
        .mount(&server)
        .await;
    let c = connector(&server.uri(), json!({"hashtags": []}));
    c.start().await.unwrap();
    let page = c
        .poll(Some(&Cursor(json!({"notifications": "199"}))))
        .await
        .unwrap();
    assert!(page.more);
    assert_eq!(page.items.len(), 40);
    assert_eq!(
        page.items[0].mention.external_id,
        "https://other.example/s/0"
    );
    assert_eq!(
        page.cursor,
        Some(Cursor(json!({"notifications": "239", "tags": {}})))
    );
}

#[tokio::test]
async fn the_stream_parses_double_encoded_payloads_checkpoints_and_reopens_from_its_cursor() {
    let replay = WsReplay::start(vec![
        Script::drop_after(jsonl(&fixture("stream_first.jsonl"))),
        Script::hold_after(jsonl(&fixture("stream_second.jsonl"))),
    ])
    .await;
    let server = MockServer::start().await;
    mount_start(&server, Some(&replay.url)).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/statuses/1001"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json_fixture("notifications_after_100.json")[2]["status"].clone()),
        )
        .mount(&server)
        .await;
    // Nothing arrived while the stream connected: its REST catch-up is empty.
    Mock::given(method("GET"))
        .and(path("/api/v1/notifications"))
        .and(query_param("min_id", "103"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/brand"))
        .and(query_param("min_id", "2000"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    let c = connector(&server.uri(), json!({}));
    c.start().await.unwrap();

    let start = Cursor(json!({"notifications": "103", "tags": {"brand": "2000"}}));
    let events: Vec<StreamEvent> = c
        .stream(Some(&start))
        .await
        .unwrap()
        .map(|e| e.unwrap())
        .collect()
        .await;
    assert_eq!(events.len(), 6, "{events:#?}");
    let StreamEvent::Item(first) = &events[0] else {
        panic!("{:?}", events[0])
    };
    assert_eq!(first.kind, InboundKind::Mention);
    assert_eq!(
        first.mention.external_id,
        "https://remote.example/users/erin/statuses/1004"
    );
    assert_eq!(first.mention.text, "@brand hello from the stream");
    assert_eq!(
        events[1],
        StreamEvent::Checkpoint(Cursor(
            json!({"notifications": "104", "tags": {"brand": "2000"}})
        ))
    );
    let StreamEvent::Item(tagged) = &events[2] else {
        panic!("{:?}", events[2])
    };
    assert_eq!(tagged.kind, InboundKind::Hashtag);
    assert_eq!(
        tagged.mention.parent_id.as_deref(),
        Some("https://example.social/users/alice/statuses/1001")
    );
    let after_tag = Cursor(json!({"notifications": "104", "tags": {"brand": "2003"}}));
    assert_eq!(events[3], StreamEvent::Checkpoint(after_tag.clone()));
    assert!(matches!(&events[4], StreamEvent::Skipped(why) if why.contains("notification")));
    assert!(
        matches!(&events[5], StreamEvent::Skipped(why) if why.contains("Missing access token"))
    );

    // The stream dropped: the runtime polls from the last checkpoint (and
    // the new stream catches up once more after subscribing)...
    Mock::given(method("GET"))
        .and(path("/api/v1/notifications"))
        .and(query_param("min_id", "104"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/brand"))
        .and(query_param("min_id", "2003"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(2)
        .mount(&server)
        .await;
    let caught_up = c.poll(Some(&after_tag)).await.unwrap();
    assert_eq!(caught_up.cursor, Some(after_tag.clone()));

    // ...then reopens the stream with it.
    let mut again = c.stream(caught_up.cursor.as_ref()).await.unwrap();
    let StreamEvent::Item(back) = again.next().await.unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(
        back.mention.external_id,
        "https://remote.example/users/erin/statuses/1006"
    );
    assert_eq!(
        again.next().await.unwrap().unwrap(),
        StreamEvent::Checkpoint(Cursor(
            json!({"notifications": "106", "tags": {"brand": "2003"}})
        ))
    );
    drop(again);

    assert_eq!(
        replay.requests(),
        ["/api/v1/streaming", "/api/v1/streaming"]
    );
    for n in 0..2 {
        let headers = replay.headers(n);
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "authorization" && v == &format!("Bearer {TOKEN}")),
            "connection {n}: {headers:?}"
        );
    }
}

#[tokio::test]
async fn what_arrived_while_the_stream_connected_comes_first_from_rest() {
    // The runtime polled up to this cursor; then, before the stream had
    // subscribed, posts arrived that no frame will carry.
    let replay = WsReplay::start(vec![Script::hold_after(Vec::new())]).await;
    let server = MockServer::start().await;
    mount_start(&server, Some(&replay.url)).await;
    mount_pages(&server).await;
    let c = connector(&server.uri(), json!({}));
    c.start().await.unwrap();
    let polled = Cursor(json!({"notifications": "100", "tags": {"brand": "2000"}}));
    let mut stream = c.stream(Some(&polled)).await.unwrap();
    let mut events = Vec::new();
    while events.len() < 6 {
        let event = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("the catch-up is yielded without waiting for a frame")
            .unwrap()
            .unwrap();
        events.push(event);
    }
    let ids: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Item(i) => Some(i.mention.external_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        ids,
        [
            "https://example.social/users/alice/statuses/1001",
            "https://far.example/users/dave/statuses/2001",
            "https://other.example/users/carol/statuses/1003",
            "https://example.social/users/brand/statuses/2002",
        ]
    );
    assert!(matches!(&events[0], StreamEvent::Skipped(why) if why.contains("102")));
    assert_eq!(
        events[5],
        StreamEvent::Checkpoint(Cursor(
            json!({"notifications": "103", "tags": {"brand": "2002"}})
        ))
    );
    assert_eq!(replay.requests(), ["/api/v1/streaming"]);
}

#[tokio::test]
async fn a_refused_stream_handshake_is_classified() {
    let server = MockServer::start().await;
    mount_start(&server, None).await;
    // No streaming URL from the instance: the stream goes to base_url's
    // host, where this server refuses the upgrade.
    Mock::given(method("GET"))
        .and(path("/api/v1/streaming"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "Invalid token"})))
        .mount(&server)
        .await;
    let c = connector(&server.uri(), json!({}));
    let err = match c.stream(None).await {
        Err(e) => e,
        Ok(_) => panic!("a refused handshake opened a stream"),
    };
    assert!(
        matches!(&err, ConnError::Auth(why) if why.contains("Invalid token")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_public_reply_posts_once_with_the_key_the_thread_and_the_mention() {
    let server = MockServer::start().await;
    mount_start(&server, None).await;
    Mock::given(method("POST"))
        .and(path("/api/v1/statuses"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header(
            "idempotency-key",
            "01938f2c-7a4e-7c1d-9e55-3b0f6d1a2b3c",
        ))
        .and(body_json(json!({
            "status": "@alice Thanks, we're on it",
            "in_reply_to_id": "1001",
            "visibility": "unlisted",
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json_fixture("status_posted.json")))
        .expect(1)
        .mount(&server)
        .await;
    let c = connector(&server.uri(), json!({}));
    c.start().await.unwrap();
    let sent = c
        .send(&outbound(
            Visibility::Public,
            "Thanks, we're on it",
            alice_ref(),
        ))
        .await
        .unwrap();
    assert_eq!(
        sent,
        Sent {
            remote_id: "https://example.social/users/brand/statuses/3001".into(),
            url: Some("https://example.social/@brand/3001".into()),
        }
    );
}

#[tokio::test]
async fn a_private_reply_is_a_direct_status_that_mentions_the_customer_once() {
    let server = MockServer::start().await;
    mount_start(&server, None).await;
    Mock::given(method("POST"))
        .and(path("/api/v1/statuses"))
        .and(body_json(json!({
            "status": "Hi @carol@other.example, I have unlocked it.",
            "in_reply_to_id": "1003",
            "visibility": "direct",
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json_fixture("status_posted.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/statuses"))
        .and(body_json(json!({
            "status": "@carol@other.example Sent you the steps.",
            "in_reply_to_id": "1003",
            "visibility": "direct",
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json_fixture("status_posted.json")))
        .expect(1)
        .mount(&server)
        .await;
    let c = connector(&server.uri(), json!({}));
    c.start().await.unwrap();
    let carol = json!({"status_id": "1003", "acct": "carol@other.example", "visibility": "public"});
    c.send(&outbound(
        Visibility::Private,
        "Hi @carol@other.example, I have unlocked it.",
        carol.clone(),
    ))
    .await
    .unwrap();
    c.send(&outbound(Visibility::Private, "Sent you the steps.", carol))
        .await
        .unwrap();
}

async fn send_answered(template: ResponseTemplate) -> ConnError {
    let server = MockServer::start().await;
    mount_start(&server, None).await;
    Mock::given(method("POST"))
        .and(path("/api/v1/statuses"))
        .respond_with(template)
        .expect(1)
        .mount(&server)
        .await;
    let c = connector(&server.uri(), json!({}));
    c.start().await.unwrap();
    c.send(&outbound(Visibility::Public, "hello", alice_ref()))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn send_errors_are_classified_with_mastodons_words() {
    let err = send_answered(
        ResponseTemplate::new(429)
            .insert_header("retry-after", "30")
            .set_body_json(json!({"error": "Too many requests"})),
    )
    .await;
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    assert!(matches!(err, ConnError::RateLimited { .. }));

    let reset = (chrono::Utc::now() + chrono::TimeDelta::seconds(120))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let err = send_answered(
        ResponseTemplate::new(429)
            .insert_header("x-ratelimit-limit", "300")
            .insert_header("x-ratelimit-remaining", "0")
            .insert_header("x-ratelimit-reset", reset.as_str())
            .set_body_json(json!({"error": "Too many requests"})),
    )
    .await;
    let wait = err.retry_after().expect("waits for the reset");
    assert!(
        wait > Duration::from_secs(110) && wait <= Duration::from_secs(120),
        "{wait:?}"
    );

    let err = send_answered(ResponseTemplate::new(500).set_body_string("oops")).await;
    assert_eq!(err, ConnError::Transient("HTTP 500: oops".into()));

    let err = send_answered(
        ResponseTemplate::new(401).set_body_json(json!({"error": "The access token was revoked"})),
    )
    .await;
    assert_eq!(
        err,
        ConnError::Auth("HTTP 401: The access token was revoked".into())
    );

    let err = send_answered(ResponseTemplate::new(422).set_body_json(
        json!({"error": "Validation failed: Text character limit of 500 exceeded"}),
    ))
    .await;
    assert_eq!(
        err,
        ConnError::Permanent(
            "HTTP 422: Validation failed: Text character limit of 500 exceeded".into()
        )
    );
}

#[tokio::test]
async fn a_connection_lost_after_sending_is_unknown_not_a_failure() {
    // The post goes to a peer that reads the request and hangs up.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut buf = vec![0u8; 64 * 1024];
            let _ = tcp.read(&mut buf).await;
        }
    });
    let hangs_up = connector(&format!("http://{addr}"), json!({}));
    let err = hangs_up
        .send(&outbound(Visibility::Public, "hello", alice_ref()))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnError::Unknown(_)), "{err:?}");
}

#[tokio::test]
async fn too_long_as_mastodon_counts_fails_before_any_request() {
    let server = MockServer::start().await;
    mount_start(&server, None).await;
    Mock::given(method("POST"))
        .and(path("/api/v1/statuses"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json_fixture("status_posted.json")))
        .expect(1)
        .mount(&server)
        .await;
    let c = connector(&server.uri(), json!({}));
    c.start().await.unwrap();
    // A remote customer's mention counts as "@dave " (6), not its domain.
    let dave = json!({"status_id": "2001", "acct": "dave@far.example", "visibility": "public"});

    let plain = "x".repeat(495);
    let err = c
        .send(&outbound(Visibility::Public, &plain, dave.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnError::TooLong { length: 501, .. }),
        "{err:?}"
    );

    // A 220-character URL costs 23: 6 + 471 + 1 + 23 = 501.
    let with_url = format!(
        "{} https://example.com/{}",
        "y".repeat(471),
        "z".repeat(200)
    );
    let err = c
        .send(&outbound(Visibility::Private, &with_url, dave.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnError::TooLong { length: 501, .. }),
        "{err:?}"
    );

    // One character less fits, and is the only request sent.
    let fits = format!(
        "{} https://example.com/{}",
        "y".repeat(470),
        "z".repeat(200)
    );
    let rendered = c
        .render(&outbound(Visibility::Public, &fits, dave.clone()))
        .unwrap();
    assert_eq!(rendered, format!("@dave@far.example {fits}"));
    c.send(&outbound(Visibility::Public, &fits, dave))
        .await
        .unwrap();
}

#[tokio::test]
async fn reconcile_finds_an_earlier_post_by_its_thread_and_text() {
    let server = MockServer::start().await;
    mount_start(&server, None).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/14715/statuses"))
        .and(query_param("limit", "40"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json_fixture("own_statuses.json")))
        .mount(&server)
        .await;
    let c = connector(&server.uri(), json!({}));
    c.start().await.unwrap();

    let landed = c
        .reconcile(&outbound(
            Visibility::Public,
            "Thanks, we're on it",
            alice_ref(),
        ))
        .await
        .unwrap();
    assert_eq!(
        landed.map(|s| s.remote_id).as_deref(),
        Some("https://example.social/users/brand/statuses/3001")
    );

    let never = c
        .reconcile(&outbound(
            Visibility::Public,
            "A reply that never went out",
            alice_ref(),
        ))
        .await
        .unwrap();
    assert_eq!(never, None);

    let elsewhere =
        json!({"status_id": "1003", "acct": "carol@other.example", "visibility": "direct"});
    let wrong_thread = c
        .reconcile(&outbound(
            Visibility::Private,
            "Thanks, we're on it",
            elsewhere,
        ))
        .await
        .unwrap();
    assert_eq!(
        wrong_thread, None,
        "the same words under another post are not ours"
    );
}

#[test]
fn bad_settings_name_their_field() {
    let err = |config: Value| -> String {
        let settings = split_settings(SourceKind::Mastodon, config).unwrap();
        match build(SourceKind::Mastodon, &settings) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted"),
        }
    };
    assert!(err(json!({"base_url": "ftp://x", "access_token": "t"})).contains("config.base_url"));
    assert!(
        err(json!({"base_url": "https://x.social", "access_token": " "}))
            .contains("config.access_token")
    );
    assert!(err(json!({"access_token": "t"})).contains("base_url"));
    assert!(
        err(json!({"base_url": "https://x.social", "access_token": "t", "hashtags": ["ok", "two words"]}))
            .contains("config.hashtags[1]")
    );
    assert!(
        err(json!({"base_url": "https://x.social", "access_token": "t", "streming": false}))
            .contains("streming")
    );
    let settings = split_settings(
        SourceKind::Mastodon,
        json!({"base_url": "https://x.social", "access_token": "t", "hashtags": ["#Brand"], "streaming": false}),
    )
    .unwrap();
    let c = build(SourceKind::Mastodon, &settings).unwrap();
    assert!(matches!(
        c.capabilities().transport,
        earshot_connectors::Transport::Poll { .. }
    ));
}
