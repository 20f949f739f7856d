#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Bluesky connector against a fake PDS (wiremock) and a replayed
//! Jetstream (the WebSocket replay peer). Fixtures: tests/fixtures/bluesky
//! (sources named in its README).

#[path = "support/jetstream_mix.rs"]
mod jetstream_mix;
// The shared replay peer trips two pedantic lints; it is not ours to change.
#[allow(clippy::type_complexity, clippy::result_large_err)]
mod support;

use std::time::Duration;

use earshot_connectors::bluesky::{Bluesky, OVERLAP_US, tid};
use earshot_connectors::{
    ConnError, Connector, Cursor, Idempotency, Inbound, InboundKind, LengthLimit, Outbound,
    PrivateGate, StreamEvent, Transport, Unit, split_settings,
};
use earshot_core::reply::Visibility;
use earshot_core::source::SourceKind;
use futures_util::StreamExt;
use serde_json::{Value, json};
use support::ws_replay::{Script, WsReplay, jsonl};
use wiremock::matchers::{
    body_partial_json, header, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

const OUR_DID: &str = "did:plc:acmebrandaccount000000000";
const CUSTOMER_DID: &str = "did:plc:customeraaaaaaaaaaaaaaaa";
const JETSTREAM: &str = include_str!("fixtures/bluesky/jetstream.jsonl");

fn connector(pds: &str, jetstream: &str, extra: Value) -> Bluesky {
    let mut config = json!({
        "identifier": "acme.bsky.social",
        "service_url": pds,
        "jetstream_url": jetstream,
        "keywords": ["acme", "customer care"],
        "app_password": "abcd-efgh-ijkl-mnop",
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    let settings = split_settings(SourceKind::Bluesky, config).unwrap();
    Bluesky::from_settings(&settings).unwrap()
}

async fn pds() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.server.createSession"))
        .and(body_partial_json(
            json!({"identifier": "acme.bsky.social", "password": "abcd-efgh-ijkl-mnop"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "did": OUR_DID,
            "handle": "acme.bsky.social",
            "accessJwt": "access-1",
            "refreshJwt": "refresh-1",
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.actor.getProfiles"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"profiles": [
                {"did": CUSTOMER_DID, "handle": "customer.bsky.social"},
                {"did": "did:plc:otheruserbbbbbbbbbbbbbbb", "handle": "other.bsky.social"},
            ]})),
        )
        .mount(&server)
        .await;
    server
}

fn outbound(visibility: Visibility, body: &str, key: String, reply_ref: Value) -> Outbound {
    Outbound {
        idempotency_key: key,
        visibility,
        body: body.to_string(),
        recipient: "customer.bsky.social".into(),
        reply_ref,
        last_inbound_at: None,
    }
}

fn post_ref() -> Value {
    json!({
        "uri": format!("at://{CUSTOMER_DID}/app.bsky.feed.post/3lcustrply01"),
        "cid": "bafyreiparent",
        "root": {"uri": "at://did:plc:otheruserbbbbbbbbbbbbbbb/app.bsky.feed.post/3lrootpost001", "cid": "bafyreiroot"},
        "did": CUSTOMER_DID,
    })
}

/// Reads a stream until it ends (a dropped socket ends it with an error).
async fn drain(
    mut stream: earshot_connectors::EventStream,
) -> (Vec<StreamEvent>, Option<ConnError>) {
    let mut events = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
            Ok(Some(Ok(e))) => events.push(e),
            Ok(Some(Err(e))) => return (events, Some(e)),
            Ok(None) => return (events, None),
            Err(_) => panic!("stream stalled after {events:?}"),
        }
    }
}

fn items(events: &[StreamEvent]) -> Vec<&Inbound> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Item(i) => Some(i.as_ref()),
            _ => None,
        })
        .collect()
}

fn last_checkpoint(events: &[StreamEvent]) -> Cursor {
    events
        .iter()
        .rev()
        .find_map(|e| match e {
            StreamEvent::Checkpoint(c) => Some(c.clone()),
            _ => None,
        })
        .expect("a checkpoint")
}

#[tokio::test]
async fn start_logs_in_with_the_app_password_and_declares_bluesky_limits() {
    let server = pds().await;
    let bsky = connector(&server.uri(), "ws://127.0.0.1:9", json!({}));
    let caps = bsky.start().await.unwrap();
    assert!(caps.listen_keyword && caps.listen_mention && caps.listen_dm);
    assert_eq!(
        caps.reply_public,
        Some(LengthLimit::new(300, Unit::Graphemes))
    );
    assert_eq!(
        caps.reply_private,
        Some(LengthLimit::new(1000, Unit::Graphemes))
    );
    assert_eq!(caps.private_gate, PrivateGate::RecipientAllowsIncoming);
    assert_eq!(caps.idempotency, Idempotency::ClientId);
    assert_eq!(caps.transport, Transport::Stream);
    assert_eq!((caps.rate.requests, caps.rate.per.as_secs()), (3000, 300));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);

    // A restart checks the session it holds instead of logging in again
    // (createSession allows 30 per 5 minutes).
    Mock::given(method("GET"))
        .and(path("/xrpc/com.atproto.server.getSession"))
        .and(header("authorization", "Bearer access-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"did": OUR_DID, "handle": "acme.bsky.social"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    bsky.start().await.unwrap();
    let paths: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_string())
        .collect();
    assert_eq!(
        paths,
        [
            "/xrpc/com.atproto.server.createSession",
            "/xrpc/com.atproto.server.getSession"
        ]
    );

    let off = connector(
        &server.uri(),
        "ws://127.0.0.1:9",
        json!({"direct_messages": false}),
    );
    let caps = off.capabilities();
    assert!(!caps.listen_dm && caps.reply_private.is_none());
    // The password never shows in Debug output.
    assert!(!format!("{bsky:?}").contains("abcd-efgh"));
}

#[tokio::test]
async fn a_bad_password_is_an_auth_error() {
    let server = MockServer::start().await;
    Mock::given(path("/xrpc/com.atproto.server.createSession"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": "AuthenticationRequired", "message": "Invalid identifier or password"}),
        ))
        .mount(&server)
        .await;
    let bsky = connector(&server.uri(), "ws://127.0.0.1:9", json!({}));
    match bsky.start().await {
        Err(ConnError::Auth(why)) => assert!(why.contains("Invalid identifier or password")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn config_errors_name_the_field() {
    let bad = |config: Value| {
        let settings = split_settings(SourceKind::Bluesky, config).unwrap();
        Bluesky::from_settings(&settings).unwrap_err().to_string()
    };
    let base = || json!({"identifier": "acme.bsky.social", "app_password": "x"});
    let mut c = base();
    c["jetstream_url"] = json!("https://jetstream.example");
    assert!(bad(c).contains("config.jetstream_url"));
    let mut c = base();
    c["service_url"] = json!("ftp://pds.example");
    assert!(bad(c).contains("config.service_url"));
    let mut c = base();
    c["keyword"] = json!(["typo"]);
    assert!(bad(c).contains("keyword"));
    assert!(bad(json!({"identifier": "acme.bsky.social"})).contains("app_password"));
    assert!(bad(json!({"identifier": " ", "app_password": "x"})).contains("config.identifier"));
    // `build` dispatches the kind to this connector.
    let settings = split_settings(SourceKind::Bluesky, base()).unwrap();
    let built = earshot_connectors::build(SourceKind::Bluesky, &settings).unwrap();
    assert_eq!(built.kind(), SourceKind::Bluesky);
}

#[tokio::test]
async fn the_firehose_yields_keyword_mention_reply_and_brand_posts_only() {
    let server = pds().await;
    let replay = WsReplay::start(vec![Script::drop_after(jsonl(JETSTREAM))]).await;
    let bsky = connector(
        &server.uri(),
        &replay.url,
        json!({"direct_messages": false}),
    );
    let saved = 1_733_049_990_000_000i64;
    let cursor = Cursor(json!({"jetstream_time_us": saved, "chat_log": "kept"}));
    let (events, end) = drain(bsky.stream(Some(&cursor)).await.unwrap()).await;
    assert!(matches!(end, Some(ConnError::Transient(_))), "{end:?}");

    // The subscription asks for posts only, from the saved point minus the overlap.
    let request = &replay.requests()[0];
    assert!(request.starts_with("/subscribe?"), "{request}");
    assert!(
        request.contains("wantedCollections=app.bsky.feed.post"),
        "{request}"
    );
    assert!(
        request.contains(&format!("cursor={}", saved - OVERLAP_US)),
        "{request}"
    );

    let got = items(&events);
    let ids: Vec<&str> = got.iter().map(|i| i.mention.external_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            format!("at://{CUSTOMER_DID}/app.bsky.feed.post/3lcustkw00001"),
            format!("at://{CUSTOMER_DID}/app.bsky.feed.post/3lcustmn00002"),
            "at://did:plc:otheruserbbbbbbbbbbbbbbb/app.bsky.feed.post/3lothrrply003".into(),
            format!("at://{OUR_DID}/app.bsky.feed.post/3lbrandrply01"),
            "at://did:plc:frenchddddddddddddddddddd/app.bsky.feed.post/3lfrenkw00001".into(),
            "at://did:plc:otheruserbbbbbbbbbbbbbbb/app.bsky.feed.post/3lothrquot005".into(),
        ]
    );
    let kinds: Vec<(InboundKind, bool)> = got.iter().map(|i| (i.kind, i.by_brand)).collect();
    assert_eq!(
        kinds,
        [
            (InboundKind::Keyword, false),
            (InboundKind::Mention, false),
            (InboundKind::Mention, false),
            (InboundKind::Mention, true),
            (InboundKind::Keyword, false),
            // A quote of our post (the second quote, of someone else's post, is not ours).
            (InboundKind::Mention, false),
        ]
    );

    // The keyword post, in full.
    let first = got[0];
    assert_eq!(first.mention.source, SourceKind::Bluesky);
    assert_eq!(first.mention.author.handle, "customer.bsky.social");
    assert_eq!(
        first.mention.url.as_deref(),
        Some(format!("https://bsky.app/profile/{CUSTOMER_DID}/post/3lcustkw00001").as_str())
    );
    assert_eq!(
        first.mention.created_at.to_rfc3339(),
        "2024-12-01T10:46:40+00:00"
    );
    assert_eq!(first.mention.language.as_deref(), Some("en"));
    assert_eq!(first.mention.thread_id.as_deref(), Some(ids[0]));
    assert_eq!(first.mention.parent_id, None);
    assert_eq!(
        first.reply_ref,
        json!({"uri": ids[0], "cid": "bafyreicustkeyword1",
               "root": {"uri": ids[0], "cid": "bafyreicustkeyword1"}, "did": CUSTOMER_DID})
    );
    // A reply keeps its thread's root and its parent.
    let reply = got[2];
    let brand_post = format!("at://{OUR_DID}/app.bsky.feed.post/3lbrandpost01");
    assert_eq!(
        reply.mention.thread_id.as_deref(),
        Some(brand_post.as_str())
    );
    assert_eq!(
        reply.mention.parent_id.as_deref(),
        Some(brand_post.as_str())
    );
    assert_eq!(
        reply.reply_ref["root"],
        json!({"uri": brand_post, "cid": "bafyreibrandpost1"})
    );
    assert_eq!(reply.mention.author.handle, "other.bsky.social");
    // An unknown DID stands for its handle; a future date is clamped to now.
    let french = got[4];
    assert_eq!(
        french.mention.author.handle,
        "did:plc:frenchddddddddddddddddddd"
    );
    assert!(french.mention.created_at <= chrono::Utc::now());
    assert_eq!(french.mention.language.as_deref(), Some("fr"));
    // Authors not yet known are named with one batched getProfiles call.
    let lookups: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/xrpc/app.bsky.actor.getProfiles")
        .map(|r| r.url.query().unwrap_or("").to_string())
        .collect();
    assert_eq!(lookups.len(), 1, "{lookups:?}");
    assert_eq!(lookups[0].matches("actors=").count(), 4, "{lookups:?}");
    // Every item validates as a mention.
    for item in &got {
        item.mention.clone().validate(chrono::Utc::now()).unwrap();
    }

    // The broken line is skipped, and the good line after it still came through.
    let skipped: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Skipped(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0].contains("unreadable Jetstream event"));

    // Checkpoints carry the whole cursor, at the last event read.
    let checkpoint = last_checkpoint(&events);
    assert_eq!(checkpoint.0["chat_log"], "kept");
    assert_eq!(checkpoint.0["jetstream_time_us"], 1_733_050_000_000_014i64);
}

#[tokio::test]
async fn mentions_off_leaves_keywords_only() {
    let server = pds().await;
    let replay = WsReplay::start(vec![Script::drop_after(jsonl(JETSTREAM))]).await;
    let bsky = connector(
        &server.uri(),
        &replay.url,
        json!({"direct_messages": false, "listen_mentions": false}),
    );
    let (events, _) = drain(bsky.stream(None).await.unwrap()).await;
    // No cursor: the live tail.
    assert!(!replay.requests()[0].contains("cursor="));
    let kinds: Vec<(InboundKind, bool)> = items(&events)
        .iter()
        .map(|i| (i.kind, i.by_brand))
        .collect();
    assert_eq!(
        kinds,
        [
            (InboundKind::Keyword, false),
            // The @mention still names the brand: a keyword hit, not a mention.
            (InboundKind::Keyword, false),
            (InboundKind::Mention, true),
            (InboundKind::Keyword, false),
        ]
    );
}

#[tokio::test]
async fn a_dropped_stream_reopens_from_the_saved_cursor_without_repeating_the_overlap() {
    let server = pds().await;
    let lines = jsonl(JETSTREAM);
    // The second connection replays the overlap (the first keyword post)
    // before a new post.
    let new_post = r#"{"did":"did:plc:customeraaaaaaaaaaaaaaaa","time_us":1733050003000000,"kind":"commit","commit":{"rev":"3lcust0000009","operation":"create","collection":"app.bsky.feed.post","rkey":"3lcustkw00009","record":{"$type":"app.bsky.feed.post","createdAt":"2024-12-01T10:46:50.000Z","text":"Acme, any news?"},"cid":"bafyreicustkeyword9"}}"#;
    let replay = WsReplay::start(vec![
        Script::drop_after(lines[..3].to_vec()),
        Script::hold_after(vec![lines[0].clone(), new_post.to_string()]),
    ])
    .await;
    let bsky = connector(
        &server.uri(),
        &replay.url,
        json!({"direct_messages": false}),
    );
    let (events, end) = drain(bsky.stream(None).await.unwrap()).await;
    assert!(end.is_some());
    assert_eq!(items(&events).len(), 2);
    let saved = last_checkpoint(&events);
    assert_eq!(saved.0["jetstream_time_us"], 1_733_050_000_000_003i64);

    let mut again = bsky.stream(Some(&saved)).await.unwrap();
    let next = loop {
        match tokio::time::timeout(Duration::from_secs(10), again.next())
            .await
            .unwrap()
        {
            Some(Ok(StreamEvent::Item(item))) => break item,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        next.mention.external_id,
        format!("at://{CUSTOMER_DID}/app.bsky.feed.post/3lcustkw00009")
    );
    let second = &replay.requests()[1];
    assert!(
        second.contains(&format!("cursor={}", 1_733_050_000_000_003i64 - OVERLAP_US)),
        "{second}"
    );
}

#[tokio::test]
async fn poll_pages_notifications_back_to_the_last_seen_and_reads_the_chat_log() {
    let server = pds().await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.notification.listNotifications"))
        .and(query_param("reasons", "mention"))
        .and(query_param("reasons", "reply"))
        .and(query_param("reasons", "quote"))
        .and(query_param_is_missing("cursor"))
        .and(header("authorization", "Bearer access-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(include_str!("fixtures/bluesky/notifications_page1.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.notification.listNotifications"))
        .and(query_param("cursor", "page2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(include_str!("fixtures/bluesky/notifications_page2.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.notification.listNotifications"))
        .and(query_param("cursor", "page3"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/chat.bsky.convo.getLog"))
        .and(query_param("cursor", "log-0000"))
        .and(header("atproto-proxy", "did:web:api.bsky.chat#bsky_chat"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(include_str!("fixtures/bluesky/chat_log.json")),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/chat.bsky.convo.getLog"))
        .and(query_param("cursor", "log-0002"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"cursor": "log-0002", "logs": []})),
        )
        .mount(&server)
        .await;

    let bsky = connector(&server.uri(), "ws://127.0.0.1:9", json!({}));
    let cursor = Cursor(json!({
        "jetstream_time_us": 1_733_050_000_000_000i64,
        "notifications_seen": {
            "indexed_at": "2024-12-01T12:00:02.500Z",
            "uri": format!("at://{CUSTOMER_DID}/app.bsky.feed.post/3lnotif00002"),
        },
        "chat_log": "log-0000",
    }));
    let page = bsky.poll(Some(&cursor)).await.unwrap();
    let ids: Vec<&str> = page
        .items
        .iter()
        .map(|i| i.mention.external_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            format!("at://{CUSTOMER_DID}/app.bsky.feed.post/3lnotif00003"),
            "at://did:plc:otheruserbbbbbbbbbbbbbbb/app.bsky.feed.post/3lnotif00004".into(),
            format!("at://{CUSTOMER_DID}/app.bsky.feed.post/3lnotif00005"),
            "chat:convo-abc/msg-001".to_string(),
        ]
    );
    assert_eq!(page.skipped.len(), 1, "{:?}", page.skipped);
    let reply = &page.items[1];
    assert_eq!(
        reply.mention.parent_id.as_deref(),
        Some(format!("at://{OUR_DID}/app.bsky.feed.post/3lbrandrply01").as_str())
    );
    assert_eq!(
        page.items[2].mention.author.display_name.as_deref(),
        Some("Casey Customer")
    );
    let dm = &page.items[3];
    assert_eq!(dm.kind, InboundKind::Direct);
    assert_eq!(dm.mention.author.handle, "customer.bsky.social");
    assert_eq!(dm.mention.thread_id.as_deref(), Some("chat:convo-abc"));
    assert_eq!(
        dm.reply_ref,
        json!({"convo_id": "convo-abc", "did": CUSTOMER_DID})
    );

    let next = page.cursor.unwrap().0;
    assert_eq!(next["jetstream_time_us"], 1_733_050_000_000_000i64);
    assert_eq!(
        next["notifications_seen"]["uri"],
        format!("at://{CUSTOMER_DID}/app.bsky.feed.post/3lnotif00005")
    );
    assert_eq!(next["chat_log"], "log-0002");
    assert!(!page.more);
}

#[tokio::test]
async fn the_first_poll_starts_from_now() {
    let server = pds().await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.notification.listNotifications"))
        .and(query_param("limit", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(include_str!("fixtures/bluesky/notifications_page1.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/chat.bsky.convo.getLog"))
        .and(query_param_is_missing("cursor"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(include_str!("fixtures/bluesky/chat_log.json")),
        )
        .mount(&server)
        .await;
    let bsky = connector(&server.uri(), "ws://127.0.0.1:9", json!({}));
    let before = chrono::Utc::now().timestamp_micros();
    let page = bsky.poll(None).await.unwrap();
    assert!(page.items.is_empty(), "{:?}", page.items);
    let next = page.cursor.unwrap().0;
    assert!(next["jetstream_time_us"].as_i64().unwrap() >= before);
    assert_eq!(
        next["notifications_seen"]["uri"],
        format!("at://{CUSTOMER_DID}/app.bsky.feed.post/3lnotif00005")
    );
    assert_eq!(next["chat_log"], "log-0002");
}

#[tokio::test]
async fn a_public_reply_is_a_post_with_our_tid_as_rkey_threaded_and_faceted() {
    let server = pds().await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.repo.createRecord"))
        .and(header("authorization", "Bearer access-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "uri": format!("at://{OUR_DID}/app.bsky.feed.post/3lreplykey001"),
            "cid": "bafyreinew",
        })))
        .expect(1)
        .mount(&server)
        .await;
    let bsky = connector(&server.uri(), "ws://127.0.0.1:9", json!({}));
    let key = bsky.new_idempotency_key();
    let text = "Désolé 👋 @Customer.bsky.social, a replacement is on its way.";
    let sent = bsky
        .send(&outbound(Visibility::Public, text, key.clone(), post_ref()))
        .await
        .unwrap();
    assert_eq!(
        sent.remote_id,
        format!("at://{OUR_DID}/app.bsky.feed.post/3lreplykey001")
    );
    assert_eq!(
        sent.url.as_deref(),
        Some(format!("https://bsky.app/profile/{OUR_DID}/post/3lreplykey001").as_str())
    );

    let requests = server.received_requests().await.unwrap();
    let create = requests
        .iter()
        .find(|r| r.url.path() == "/xrpc/com.atproto.repo.createRecord")
        .unwrap();
    let body: Value = serde_json::from_slice(&create.body).unwrap();
    assert_eq!(body["repo"], OUR_DID);
    assert_eq!(body["collection"], "app.bsky.feed.post");
    assert_eq!(body["rkey"], key);
    let record = &body["record"];
    assert_eq!(record["$type"], "app.bsky.feed.post");
    assert_eq!(record["text"], text);
    assert!(chrono::DateTime::parse_from_rfc3339(record["createdAt"].as_str().unwrap()).is_ok());
    assert_eq!(record["reply"]["root"], post_ref()["root"]);
    assert_eq!(
        record["reply"]["parent"],
        json!({"uri": post_ref()["uri"], "cid": "bafyreiparent"})
    );
    // "Désolé 👋 " is 14 bytes (é: 2 bytes, twice; 👋: 4 bytes) but 9 characters.
    let start = text.find('@').unwrap();
    assert_eq!((start, text[..start].chars().count()), (14, 9));
    let facet = &record["facets"][0];
    assert_eq!(
        facet["index"],
        json!({"byteStart": 14, "byteEnd": 14 + "@Customer.bsky.social".len()})
    );
    assert_eq!(
        facet["features"][0],
        json!({"$type": "app.bsky.richtext.facet#mention", "did": CUSTOMER_DID})
    );
}

#[tokio::test]
async fn a_reply_without_the_handle_has_no_facet() {
    let server = pds().await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.repo.createRecord"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "uri": format!("at://{OUR_DID}/app.bsky.feed.post/3lreplykey002"), "cid": "bafyreinew",
        })))
        .mount(&server)
        .await;
    let bsky = connector(&server.uri(), "ws://127.0.0.1:9", json!({}));
    let text = "Thanks, @customer.bsky.socialite is someone else";
    bsky.send(&outbound(
        Visibility::Public,
        text,
        bsky.new_idempotency_key(),
        post_ref(),
    ))
    .await
    .unwrap();
    let requests = server.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&requests.last().unwrap().body).unwrap();
    assert!(body["record"].get("facets").is_none(), "{body}");
}

#[tokio::test]
async fn reconcile_asks_for_the_record_by_its_rkey() {
    let server = pds().await;
    let bsky = connector(&server.uri(), "ws://127.0.0.1:9", json!({}));
    let landed = bsky.new_idempotency_key();
    let lost = bsky.new_idempotency_key();
    Mock::given(method("GET"))
        .and(path("/xrpc/com.atproto.repo.getRecord"))
        .and(query_param("repo", OUR_DID))
        .and(query_param("collection", "app.bsky.feed.post"))
        .and(query_param("rkey", landed.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "uri": format!("at://{OUR_DID}/app.bsky.feed.post/{landed}"),
            "cid": "bafyreinew",
            "value": {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2024-12-01T12:00:00Z"},
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/com.atproto.repo.getRecord"))
        .and(query_param("rkey", lost.as_str()))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": "RecordNotFound", "message": "Could not locate record"}),
        ))
        .mount(&server)
        .await;
    let found = bsky
        .reconcile(&outbound(
            Visibility::Public,
            "hi",
            landed.clone(),
            post_ref(),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        found.remote_id,
        format!("at://{OUR_DID}/app.bsky.feed.post/{landed}")
    );
    let none = bsky
        .reconcile(&outbound(Visibility::Public, "hi", lost, post_ref()))
        .await
        .unwrap();
    assert_eq!(none, None);
}

#[tokio::test]
async fn a_dm_goes_through_the_chat_proxy_and_a_closed_gate_stops_it() {
    let server = pds().await;
    let open_did = "did:plc:openaaaaaaaaaaaaaaaaaaaa";
    Mock::given(method("GET"))
        .and(path("/xrpc/chat.bsky.convo.getConvoAvailability"))
        .and(query_param("members", CUSTOMER_DID))
        .and(header("atproto-proxy", "did:web:api.bsky.chat#bsky_chat"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"canChat": false})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/chat.bsky.convo.getConvoAvailability"))
        .and(query_param("members", open_did))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"canChat": true})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/chat.bsky.convo.getConvoForMembers"))
        .and(query_param("members", open_did))
        .and(header("atproto-proxy", "did:web:api.bsky.chat#bsky_chat"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"convo": {"id": "convo-xyz", "rev": "1", "members": []}})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/xrpc/chat.bsky.convo.sendMessage"))
        .and(header("atproto-proxy", "did:web:api.bsky.chat#bsky_chat"))
        .and(body_partial_json(
            json!({"convoId": "convo-xyz", "message": {"text": "Here is your label"}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "msg-900", "rev": "2", "text": "Here is your label",
            "sender": {"did": OUR_DID}, "sentAt": "2024-12-01T12:00:00Z",
        })))
        .expect(1)
        .mount(&server)
        .await;
    let bsky = connector(&server.uri(), "ws://127.0.0.1:9", json!({}));
    let closed = bsky
        .send(&outbound(
            Visibility::Private,
            "Here is your label",
            bsky.new_idempotency_key(),
            json!({"convo_id": "convo-abc", "did": CUSTOMER_DID}),
        ))
        .await;
    match closed {
        Err(ConnError::GateClosed(why)) => assert!(why.contains("allowIncoming"), "{why}"),
        other => panic!("{other:?}"),
    }
    let sent = bsky
        .send(&outbound(
            Visibility::Private,
            "Here is your label",
            bsky.new_idempotency_key(),
            post_ref_for(open_did),
        ))
        .await
        .unwrap();
    assert_eq!(sent.remote_id, "chat:convo-xyz/msg-900");
}

fn post_ref_for(did: &str) -> Value {
    let mut r = post_ref();
    r["did"] = json!(did);
    r
}

#[tokio::test]
async fn the_length_limit_counts_graphemes_and_bytes_before_any_request() {
    let server = MockServer::start().await;
    let bsky = connector(&server.uri(), "ws://127.0.0.1:9", json!({}));
    let family = "👨‍👩‍👧";
    let fits = format!("{}{family}", "a".repeat(299));
    assert_eq!(
        bsky.render(&outbound(
            Visibility::Public,
            &fits,
            bsky.new_idempotency_key(),
            post_ref()
        ))
        .unwrap(),
        fits
    );
    let long = format!("{}{family}", "a".repeat(300));
    match bsky
        .send(&outbound(
            Visibility::Public,
            &long,
            bsky.new_idempotency_key(),
            post_ref(),
        ))
        .await
    {
        Err(ConnError::TooLong { length, limit }) => {
            assert_eq!(
                (length, limit),
                (301, LengthLimit::new(300, Unit::Graphemes))
            )
        }
        other => panic!("{other:?}"),
    }
    // 200 family emoji: 200 graphemes but 3,600 bytes.
    let heavy = family.repeat(200);
    match bsky
        .send(&outbound(
            Visibility::Public,
            &heavy,
            bsky.new_idempotency_key(),
            post_ref(),
        ))
        .await
    {
        Err(ConnError::TooLong { length, limit }) => {
            assert_eq!((length, limit.unit, limit.max), (3600, Unit::Bytes, 3000))
        }
        other => panic!("{other:?}"),
    }
    let dm = "b".repeat(1001);
    assert!(matches!(
        bsky.send(&outbound(
            Visibility::Private,
            &dm,
            bsky.new_idempotency_key(),
            post_ref()
        ))
        .await,
        Err(ConnError::TooLong { length: 1001, .. })
    ));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_the_call_retried_once() {
    let server = pds().await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.server.refreshSession"))
        .and(header("authorization", "Bearer refresh-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "did": OUR_DID, "handle": "acme.bsky.social",
            "accessJwt": "access-2", "refreshJwt": "refresh-2",
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.repo.createRecord"))
        .and(header("authorization", "Bearer access-1"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": "ExpiredToken", "message": "Token has expired"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.repo.createRecord"))
        .and(header("authorization", "Bearer access-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "uri": format!("at://{OUR_DID}/app.bsky.feed.post/3lreplykey003"), "cid": "bafyreinew",
        })))
        .expect(1)
        .mount(&server)
        .await;
    let bsky = connector(&server.uri(), "ws://127.0.0.1:9", json!({}));
    let sent = bsky
        .send(&outbound(
            Visibility::Public,
            "On it",
            bsky.new_idempotency_key(),
            post_ref(),
        ))
        .await
        .unwrap();
    assert!(sent.remote_id.ends_with("3lreplykey003"));
}

#[tokio::test]
async fn rate_limits_server_errors_and_lost_auth_are_classified() {
    let server = pds().await;
    let reset = chrono::Utc::now().timestamp() + 120;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.repo.createRecord"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("ratelimit-limit", "5000")
                .insert_header("ratelimit-remaining", "0")
                .insert_header("ratelimit-reset", reset.to_string().as_str())
                .set_body_json(
                    json!({"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}),
                ),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.repo.createRecord"))
        .respond_with(ResponseTemplate::new(502).set_body_string("Bad Gateway"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.repo.createRecord"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(
                json!({"error": "InvalidToken", "message": "Token has been revoked"}),
            ),
        )
        .mount(&server)
        .await;
    let bsky = connector(&server.uri(), "ws://127.0.0.1:9", json!({}));
    let out = || {
        outbound(
            Visibility::Public,
            "On it",
            bsky.new_idempotency_key(),
            post_ref(),
        )
    };
    match bsky.send(&out()).await {
        Err(e @ ConnError::RateLimited { .. }) => {
            let wait = e.retry_after().unwrap().as_secs();
            assert!((100..=120).contains(&wait), "{wait}");
            assert!(e.to_string().contains("Rate Limit Exceeded"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        bsky.send(&out()).await,
        Err(ConnError::Transient(_))
    ));
    match bsky.send(&out()).await {
        Err(ConnError::Auth(why)) => assert!(why.contains("revoked"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn tids_are_13_sortable_characters_that_grow_with_time() {
    assert_eq!(tid(0, 0), "2222222222222");
    let a = tid(1_733_050_000_000_000, 7);
    let b = tid(1_733_050_000_000_001, 0);
    assert_eq!(a.len(), 13);
    assert!(a < b, "{a} < {b}");
    let server_free = connector("http://127.0.0.1:9", "ws://127.0.0.1:9", json!({}));
    let keys: Vec<String> = (0..50).map(|_| server_free.new_idempotency_key()).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    assert!(keys.iter().all(|k| k.len() == 13 && k.starts_with('3')));
}

/// End to end through a WebSocket: the replay peer sends a synthesised
/// firehose (100 keyword rules) as fast as it can; prints posts/s.
/// `EARSHOT_PROFILE_DELAY_MS` (default 0) delays every getProfiles answer,
/// as a remote AppView would. Run:
/// `cargo test --release -p earshot-connectors --test bluesky -- --ignored --nocapture firehose_throughput`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check: run by hand"]
async fn firehose_throughput() {
    let n = 200_000;
    let frames = jetstream_mix::frames(n);
    let delay: u64 = std::env::var("EARSHOT_PROFILE_DELAY_MS")
        .map(|v| v.parse().unwrap())
        .unwrap_or(0);
    let server = MockServer::start().await;
    Mock::given(path("/xrpc/com.atproto.server.createSession"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "did": OUR_DID, "handle": "acme.bsky.social",
            "accessJwt": "access-1", "refreshJwt": "refresh-1",
        })))
        .mount(&server)
        .await;
    Mock::given(path("/xrpc/app.bsky.actor.getProfiles"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"profiles": []}))
                .set_delay(Duration::from_millis(delay)),
        )
        .mount(&server)
        .await;
    let replay = WsReplay::start(vec![Script::drop_after(frames)]).await;
    let mut config = json!({"direct_messages": false});
    config["keywords"] = json!(jetstream_mix::rules());
    let bsky = connector(&server.uri(), &replay.url, config);
    let started = std::time::Instant::now();
    let (events, end) = drain(bsky.stream(None).await.unwrap()).await;
    let elapsed = started.elapsed();
    assert!(end.is_some());
    let hits = items(&events).len();
    let lookups = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/xrpc/app.bsky.actor.getProfiles")
        .count();
    println!(
        "jetstream end-to-end (getProfiles delay {delay} ms, {lookups} lookups): {n} events in {:.2} s = {:.0} events/s ({hits} items, {} checkpoints)",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        events
            .iter()
            .filter(|e| matches!(e, StreamEvent::Checkpoint(_)))
            .count(),
    );
    assert!(hits > 0);
}

#[tokio::test]
async fn an_account_without_notifications_ingests_the_first_one_that_comes() {
    let server = pds().await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.notification.listNotifications"))
        .and(query_param("limit", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"notifications": []})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.notification.listNotifications"))
        .and(query_param("limit", "50"))
        .and(query_param_is_missing("cursor"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(include_str!("fixtures/bluesky/notifications_page2.json")),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.notification.listNotifications"))
        .and(query_param("cursor", "page3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"notifications": []})))
        .expect(1)
        .mount(&server)
        .await;
    let bsky = connector(
        &server.uri(),
        "ws://127.0.0.1:9",
        json!({"direct_messages": false}),
    );
    let first = bsky.poll(None).await.unwrap();
    assert!(first.items.is_empty());
    let second = bsky.poll(first.cursor.as_ref()).await.unwrap();
    assert_eq!(second.items.len(), 3);
    assert!(!second.more);
    assert_eq!(
        second.cursor.unwrap().0["notifications_seen"]["uri"],
        format!("at://{CUSTOMER_DID}/app.bsky.feed.post/3lnotif00003")
    );
}

#[tokio::test]
async fn a_hit_from_a_new_author_is_released_within_a_second_on_an_open_stream() {
    let server = pds().await;
    let lines = jsonl(JETSTREAM);
    let replay = WsReplay::start(vec![Script::hold_after(vec![lines[0].clone()])]).await;
    let bsky = connector(
        &server.uri(),
        &replay.url,
        json!({"direct_messages": false}),
    );
    let mut stream = bsky.stream(None).await.unwrap();
    let started = std::time::Instant::now();
    let item = loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .unwrap()
        {
            Some(Ok(StreamEvent::Item(item))) => break item,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    };
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(item.mention.author.handle, "customer.bsky.social");
    // The checkpoint comes after the item it covers.
    match tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
    {
        Some(Ok(StreamEvent::Checkpoint(c))) => {
            assert_eq!(c.0["jetstream_time_us"], 1_733_050_000_000_001i64)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_jetstream_is_a_transient_error() {
    let server = pds().await;
    // wss: the rustls (ring) configuration is built before the connection fails.
    let bsky = connector(&server.uri(), "wss://127.0.0.1:9", json!({}));
    match bsky.stream(None).await {
        Err(ConnError::Transient(why)) => assert!(why.contains("Jetstream"), "{why}"),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("connected to nothing"),
    }
}
