#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Reddit connector against two wiremock servers (the login host and
//! the API host), with payloads retyped from Reddit's documented listing,
//! thing and `api_type=json` answer shapes (see
//! tests/fixtures/reddit/README.md).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use earshot_connectors::{
    ConnError, Connector, Cursor, Idempotency, InboundKind, Outbound, PrivateGate, Sent, Transport,
    Unit, build, split_settings,
};
use earshot_core::reply::Visibility;
use earshot_core::source::SourceKind;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const UA: &str = "web:com.example.earshot:v1.0 (by /u/examplebrand)";
/// `cid-123:sec-456`, base64.
const BASIC: &str = "Basic Y2lkLTEyMzpzZWMtNDU2";
const T100: f64 = 1_796_032_800.0;
const T_M200: f64 = 1_796_032_800.0;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/reddit/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn listing(children: Vec<Value>) -> Value {
    json!({"kind": "Listing", "data": {"after": null, "before": null, "children": children}})
}

fn children(name: &str) -> Vec<Value> {
    fixture(name)["data"]["children"]
        .as_array()
        .unwrap()
        .clone()
}

struct Servers {
    auth: MockServer,
    api: MockServer,
}

impl Servers {
    async fn start() -> Servers {
        Servers {
            auth: MockServer::start().await,
            api: MockServer::start().await,
        }
    }

    fn connector(&self, extra: Value) -> Arc<dyn Connector> {
        let mut config = json!({
            "client_id": "cid-123",
            "username": "examplebrand",
            "user_agent": UA,
            "subreddits": ["r/ExampleBrand"],
            "auth_url": self.auth.uri(),
            "api_url": self.api.uri(),
            "client_secret": "sec-456",
            "password": "hunter2",
        });
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        let settings = split_settings(SourceKind::Reddit, config).unwrap();
        assert!(settings.credentials.contains_key("client_secret"));
        assert!(settings.credentials.contains_key("password"));
        build(SourceKind::Reddit, &settings).unwrap()
    }

    /// The login answers with `token` (expiring in `expires_in` seconds).
    async fn mount_token(&self, token: &str, expires_in: u64) {
        Mock::given(method("POST"))
            .and(path("/api/v1/access_token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": token, "token_type": "bearer",
                "expires_in": expires_in, "scope": "*"
            })))
            .mount(&self.auth)
            .await;
    }

    /// Every request either server saw carried Reddit's User-Agent.
    async fn assert_user_agent_everywhere(&self) {
        let mut all = self.auth.received_requests().await.unwrap();
        all.extend(self.api.received_requests().await.unwrap());
        assert!(!all.is_empty());
        for r in all {
            assert_eq!(
                r.headers.get("user-agent").and_then(|v| v.to_str().ok()),
                Some(UA),
                "{} {}",
                r.method,
                r.url
            );
        }
    }
}

fn form(r: &Request) -> HashMap<String, String> {
    url::form_urlencoded::parse(&r.body).into_owned().collect()
}

fn bearer(token: &str) -> String {
    format!("bearer {token}")
}

fn outbound(visibility: Visibility, body: &str, reply_ref: Value) -> Outbound {
    Outbound {
        idempotency_key: "01938f2c-7a4e-7c1d-9e55-3b0f6d1a2b3c".into(),
        visibility,
        body: body.into(),
        recipient: "alice".into(),
        reply_ref,
        last_inbound_at: None,
    }
}

fn alice_ref() -> Value {
    json!({"thing_id": "t3_p101", "author": "alice", "title": "Refund stuck"})
}

#[tokio::test]
async fn start_logs_in_with_basic_auth_the_password_grant_and_the_user_agent() {
    let s = Servers::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/access_token"))
        .and(header("authorization", BASIC))
        .and(header("user-agent", UA))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("token.json")))
        .expect(1)
        .mount(&s.auth)
        .await;
    let c = s.connector(json!({"keywords": ["Example App"]}));
    let caps = c.start().await.unwrap();

    let login = &s.auth.received_requests().await.unwrap()[0];
    let fields = form(login);
    assert_eq!(fields["grant_type"], "password");
    assert_eq!(fields["username"], "examplebrand");
    assert_eq!(fields["password"], "hunter2");
    assert_eq!(
        login
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-www-form-urlencoded")
    );

    let limit = caps.reply_public.unwrap();
    assert_eq!((limit.max, limit.unit), (10_000, Unit::Chars));
    assert_eq!(caps.reply_private, Some(limit));
    assert_eq!(caps.private_gate, PrivateGate::None);
    assert_eq!(caps.idempotency, Idempotency::Reconcile);
    assert!(matches!(caps.transport, Transport::Poll { .. }));
    assert_eq!(
        (caps.rate.requests, caps.rate.per),
        (100, Duration::from_secs(60))
    );
    assert!(caps.listen_keyword && caps.listen_mention && caps.listen_dm);
    assert!(
        caps.limitations
            .iter()
            .any(|l| l.contains("requires approval")),
        "{:?}",
        caps.limitations
    );
    assert_eq!(c.capabilities(), caps);
    s.assert_user_agent_everywhere().await;
}

#[tokio::test]
async fn a_refused_login_is_an_auth_error() {
    let s = Servers::start().await;
    // Reddit answers a wrong password with a 200 and an error field.
    Mock::given(method("POST"))
        .and(path("/api/v1/access_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"error": "invalid_grant"})))
        .mount(&s.auth)
        .await;
    let c = s.connector(json!({}));
    let e = c.start().await.unwrap_err();
    assert!(
        matches!(&e, ConnError::Auth(m) if m.contains("invalid_grant")),
        "{e:?}"
    );

    let s = Servers::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/access_token"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"message": "Unauthorized", "error": 401})),
        )
        .mount(&s.auth)
        .await;
    let c = s.connector(json!({}));
    assert_eq!(
        c.start().await.unwrap_err(),
        ConnError::Auth("HTTP 401: Unauthorized".into())
    );
}

#[tokio::test]
async fn poll_without_a_cursor_starts_from_the_newest_entries() {
    let s = Servers::start().await;
    s.mount_token("tok-A", 3600).await;
    Mock::given(method("GET"))
        .and(path("/r/examplebrand/new"))
        .and(query_param("limit", "100"))
        .and(query_param("raw_json", "1"))
        .and(query_param_is_missing("before"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("new_newest.json")))
        .expect(1)
        .mount(&s.api)
        .await;
    Mock::given(method("GET"))
        .and(path("/message/inbox"))
        .and(query_param_is_missing("before"))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing(vec![])))
        .expect(1)
        .mount(&s.api)
        .await;
    let c = s.connector(json!({}));
    let page = c.poll(None).await.unwrap();
    assert!(page.items.is_empty(), "no history on a first start");
    assert!(!page.more);
    assert_eq!(
        page.cursor,
        Some(Cursor(json!({
            "subs": {"examplebrand": {
                "fullname": "t3_p100", "created_utc": T100,
                "seen": [["t3_p099", 1_796_032_500.0], ["t3_p100", T100]]
            }},
            "mentions": {"fullname": null, "created_utc": null}
        })))
    );
}

async fn mount_after_anchors(s: &Servers) {
    Mock::given(method("GET"))
        .and(path("/r/examplebrand/new"))
        .and(query_param("before", "t3_p100"))
        .and(query_param("limit", "100"))
        .and(header("authorization", bearer("tok-A").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("new_before.json")))
        .expect(1)
        .mount(&s.api)
        .await;
    Mock::given(method("GET"))
        .and(path("/message/inbox"))
        .and(query_param("before", "t1_m200"))
        .and(header("authorization", bearer("tok-A").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("inbox_before.json")))
        .expect(1)
        .mount(&s.api)
        .await;
}

fn first_cursor() -> Cursor {
    Cursor(json!({
        "subs": {"examplebrand": {"fullname": "t3_p100", "created_utc": T100}},
        "mentions": {"fullname": "t1_m200", "created_utc": T_M200}
    }))
}

#[tokio::test]
async fn poll_reads_after_each_anchor_oldest_first_with_threads_and_brand_posts() {
    let s = Servers::start().await;
    s.mount_token("tok-A", 3600).await;
    mount_after_anchors(&s).await;
    let c = s.connector(json!({}));
    let page = c.poll(Some(&first_cursor())).await.unwrap();

    let ids: Vec<&str> = page
        .items
        .iter()
        .map(|i| i.mention.external_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "t3_p101", "t1_m201", "t3_p102", "t1_m202", "t4_m203", "t3_p104"
        ]
    );
    assert!(!page.more, "short pages: nothing more waiting");
    assert_eq!(page.skipped.len(), 2, "{:?}", page.skipped);
    assert!(
        page.skipped
            .iter()
            .any(|s| s.contains("t3_p103") && s.contains("deleted"))
    );
    assert!(page.skipped.iter().any(|s| s.contains("created_utc")));

    let alice = &page.items[0];
    assert_eq!(alice.kind, InboundKind::Feed);
    assert!(!alice.by_brand);
    let m = &alice.mention;
    assert_eq!(m.source, SourceKind::Reddit);
    assert_eq!(m.author.handle, "alice");
    assert_eq!(
        m.author.profile_url.as_deref(),
        Some("https://www.reddit.com/user/alice")
    );
    assert_eq!(
        m.text,
        "Refund stuck <since> Monday & counting\n\nMy order **#42** was cancelled.\n\nStill no refund.",
        "title, then the markdown as written"
    );
    assert_eq!(
        m.url.as_deref(),
        Some("https://www.reddit.com/r/examplebrand/comments/p101/refund_stuck/")
    );
    assert_eq!(m.created_at.to_rfc3339(), "2026-11-30T10:10:00+00:00");
    assert_eq!(m.thread_id.as_deref(), Some("t3_p101"));
    assert_eq!(m.parent_id, None);
    assert_eq!((m.metrics.likes, m.metrics.replies), (5, 3));
    assert_eq!(
        alice.reply_ref,
        json!({"thing_id": "t3_p101", "author": "alice", "title": "Refund stuck <since> Monday & counting"})
    );

    let erin = &page.items[1];
    assert_eq!(erin.kind, InboundKind::Mention);
    assert_eq!(erin.mention.parent_id.as_deref(), Some("t3_q1"));
    assert_eq!(
        erin.mention.thread_id.as_deref(),
        Some("t3_q1"),
        "from the context permalink"
    );
    assert_eq!(
        erin.mention.url.as_deref(),
        Some("https://www.reddit.com/r/gadgets/comments/q1/parcels_going_missing/m201/?context=3")
    );

    let bob = &page.items[2];
    assert_eq!(
        bob.mention.text,
        "Look what came in the box\n\nhttps://i.example.com/box.jpg"
    );
    assert_eq!(bob.mention.metrics.likes, 0, "a negative score is no likes");

    let dave = &page.items[3];
    assert_eq!(dave.mention.parent_id.as_deref(), Some("t1_c900"));
    assert_eq!(dave.mention.thread_id.as_deref(), Some("t3_p900"));
    assert_eq!(dave.reply_ref["title"], "Our update");

    let carol = &page.items[4];
    assert_eq!(carol.kind, InboundKind::Direct);
    assert_eq!(carol.mention.thread_id.as_deref(), Some("t4_m203"));
    assert_eq!(
        carol.mention.url.as_deref(),
        Some("https://www.reddit.com/message/messages/m203")
    );
    assert_eq!(
        carol.reply_ref,
        json!({"thing_id": "t4_m203", "author": "carol", "title": "Order 42"})
    );

    let ours = &page.items[5];
    assert!(ours.by_brand, "the brand's own post is flagged");
    assert_eq!(ours.mention.author.handle, "ExampleBrand");

    for item in &page.items {
        item.mention.clone().validate(chrono::Utc::now()).unwrap();
    }
    let cursor = page.cursor.unwrap();
    assert_eq!(cursor.0["subs"]["examplebrand"]["fullname"], "t3_p104");
    assert_eq!(cursor.0["mentions"]["fullname"], "t4_m203");
    s.assert_user_agent_everywhere().await;
}

#[tokio::test]
async fn a_restart_from_the_saved_cursor_yields_nothing_twice() {
    let s = Servers::start().await;
    s.mount_token("tok-A", 3600).await;
    mount_after_anchors(&s).await;
    let c = s.connector(json!({}));
    let first = c.poll(Some(&first_cursor())).await.unwrap();
    assert_eq!(first.items.len(), 6);
    let saved = first.cursor.unwrap();

    // A new connector (a restart) from the saved cursor. Nothing is newer
    // than the anchors, so `before` finds nothing and the newest pages are
    // re-read by time: everything on them was seen.
    Mock::given(method("GET"))
        .and(path("/r/examplebrand/new"))
        .and(query_param("before", "t3_p104"))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing(vec![])))
        .expect(1)
        .mount(&s.api)
        .await;
    let mut newest = children("new_before.json");
    newest.extend(children("new_newest.json"));
    Mock::given(method("GET"))
        .and(path("/r/examplebrand/new"))
        .and(query_param_is_missing("before"))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing(newest)))
        .expect(1)
        .mount(&s.api)
        .await;
    Mock::given(method("GET"))
        .and(path("/message/inbox"))
        .and(query_param("before", "t4_m203"))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing(vec![])))
        .expect(1)
        .mount(&s.api)
        .await;
    Mock::given(method("GET"))
        .and(path("/message/inbox"))
        .and(query_param_is_missing("before"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("inbox_before.json")))
        .expect(1)
        .mount(&s.api)
        .await;
    let restarted = s.connector(json!({}));
    let again = restarted.poll(Some(&saved)).await.unwrap();
    assert!(again.items.is_empty(), "{:?}", again.items);
    assert_eq!(again.cursor, Some(saved));
}

#[tokio::test]
async fn a_deleted_anchor_falls_back_to_created_utc_with_its_overlap() {
    let s = Servers::start().await;
    s.mount_token("tok-A", 3600).await;
    // The anchor was removed: `before` finds nothing.
    Mock::given(method("GET"))
        .and(path("/r/examplebrand/new"))
        .and(query_param("before", "t3_gone"))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing(vec![])))
        .expect(1)
        .mount(&s.api)
        .await;
    // Newest first: p104 (10:40) is new; p102 (10:20) is in the overlap
    // but was seen; p101 (10:10) is older than the overlap.
    let all = children("new_before.json");
    let page_now = vec![all[0].clone(), all[3].clone(), all[4].clone()];
    Mock::given(method("GET"))
        .and(path("/r/examplebrand/new"))
        .and(query_param_is_missing("before"))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing(page_now)))
        .expect(1)
        .mount(&s.api)
        .await;
    let c = s.connector(json!({"listen_mentions": false}));
    let cursor = Cursor(json!({"subs": {"examplebrand": {
        "fullname": "t3_gone", "created_utc": 1_796_034_600.0,
        "seen": [["t3_p102", 1_796_034_000.0], ["t3_gone", 1_796_034_600.0]]
    }}}));
    let page = c.poll(Some(&cursor)).await.unwrap();
    let ids: Vec<&str> = page
        .items
        .iter()
        .map(|i| i.mention.external_id.as_str())
        .collect();
    assert_eq!(ids, ["t3_p104"]);
    let sub = &page.cursor.unwrap().0["subs"]["examplebrand"];
    assert_eq!(sub["fullname"], "t3_p104", "a live anchor again");
}

#[tokio::test]
async fn a_full_page_says_more_and_the_next_poll_pages_on_with_before() {
    let s = Servers::start().await;
    s.mount_token("tok-A", 3600).await;
    let template = children("new_newest.json")[0].clone();
    let full: Vec<Value> = (0..100)
        .rev()
        .map(|n| {
            let mut post = template.clone();
            post["data"]["name"] = json!(format!("t3_n{n:03}"));
            post["data"]["created_utc"] = json!(T100 + 1.0 + f64::from(n));
            post
        })
        .collect();
    Mock::given(method("GET"))
        .and(path("/r/examplebrand/new"))
        .and(query_param("before", "t3_p100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing(full)))
        .expect(1)
        .mount(&s.api)
        .await;
    Mock::given(method("GET"))
        .and(path("/r/examplebrand/new"))
        .and(query_param("before", "t3_n099"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(listing(vec![children("new_before.json")[0].clone()])),
        )
        .expect(1)
        .mount(&s.api)
        .await;
    let c = s.connector(json!({"listen_mentions": false}));
    let cursor =
        Cursor(json!({"subs": {"examplebrand": {"fullname": "t3_p100", "created_utc": T100}}}));
    let page = c.poll(Some(&cursor)).await.unwrap();
    assert!(page.more);
    assert_eq!(page.items.len(), 100);
    assert_eq!(page.items[0].mention.external_id, "t3_n000");
    assert_eq!(page.items[99].mention.external_id, "t3_n099");
    let next = page.cursor.unwrap();
    assert_eq!(next.0["subs"]["examplebrand"]["fullname"], "t3_n099");
    assert!(next.0.get("mentions").is_none());

    let page = c.poll(Some(&next)).await.unwrap();
    assert!(!page.more);
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].mention.external_id, "t3_p104");
}

#[tokio::test]
async fn keywords_keep_only_matching_posts_as_keyword_items() {
    let s = Servers::start().await;
    s.mount_token("tok-A", 3600).await;
    Mock::given(method("GET"))
        .and(path("/r/examplebrand/new"))
        .and(query_param("before", "t3_p100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("new_before.json")))
        .mount(&s.api)
        .await;
    let c = s.connector(json!({"listen_mentions": false, "keywords": ["REFUND"]}));
    let cursor =
        Cursor(json!({"subs": {"examplebrand": {"fullname": "t3_p100", "created_utc": T100}}}));
    let page = c.poll(Some(&cursor)).await.unwrap();
    let ids: Vec<&str> = page
        .items
        .iter()
        .map(|i| i.mention.external_id.as_str())
        .collect();
    assert_eq!(ids, ["t3_p101"]);
    assert_eq!(page.items[0].kind, InboundKind::Keyword);
}

#[tokio::test]
async fn a_refused_token_is_renewed_once_and_the_request_repeated() {
    let s = Servers::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/access_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("token.json")))
        .up_to_n_times(1)
        .expect(1)
        .mount(&s.auth)
        .await;
    s.mount_token("tok-B", 3600).await;
    Mock::given(method("GET"))
        .and(path("/r/examplebrand/new"))
        .and(header("authorization", bearer("tok-A").as_str()))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"message": "Unauthorized", "error": 401})),
        )
        .expect(1)
        .mount(&s.api)
        .await;
    Mock::given(method("GET"))
        .and(path("/r/examplebrand/new"))
        .and(header("authorization", bearer("tok-B").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing(vec![])))
        .expect(1)
        .mount(&s.api)
        .await;
    let c = s.connector(json!({"listen_mentions": false}));
    let page = c.poll(None).await.unwrap();
    assert!(page.items.is_empty());
    assert_eq!(s.auth.received_requests().await.unwrap().len(), 2);

    // A second 401 after renewing is an auth error, not a loop.
    let s = Servers::start().await;
    s.mount_token("tok-A", 3600).await;
    Mock::given(method("GET"))
        .and(path("/r/examplebrand/new"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"message": "Unauthorized", "error": 401})),
        )
        .expect(2)
        .mount(&s.api)
        .await;
    let c = s.connector(json!({"listen_mentions": false}));
    assert_eq!(
        c.poll(None).await.unwrap_err(),
        ConnError::Auth("HTTP 401: Unauthorized".into())
    );
}

#[tokio::test]
async fn a_token_is_renewed_before_it_expires() {
    let s = Servers::start().await;
    // Lives one second: renewed after 0.9 s.
    s.mount_token("tok-A", 1).await;
    Mock::given(method("GET"))
        .and(path("/r/examplebrand/new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing(vec![])))
        .expect(3)
        .mount(&s.api)
        .await;
    let c = s.connector(json!({"listen_mentions": false}));
    c.poll(None).await.unwrap();
    c.poll(None).await.unwrap();
    assert_eq!(
        s.auth.received_requests().await.unwrap().len(),
        1,
        "a live token is reused"
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    c.poll(None).await.unwrap();
    assert_eq!(s.auth.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_public_reply_is_a_comment_on_the_thing_with_api_type_json() {
    let s = Servers::start().await;
    s.mount_token("tok-A", 3600).await;
    Mock::given(method("POST"))
        .and(path("/api/comment"))
        .and(header("authorization", bearer("tok-A").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("comment_posted.json")))
        .expect(1)
        .mount(&s.api)
        .await;
    let c = s.connector(json!({}));
    let sent = c
        .send(&outbound(
            Visibility::Public,
            "  Thanks, we're on it. **Order #42** & more  ",
            alice_ref(),
        ))
        .await
        .unwrap();
    assert_eq!(
        sent,
        Sent {
            remote_id: "t1_r1".into(),
            url: Some(
                "https://www.reddit.com/r/examplebrand/comments/p101/refund_stuck/r1/".into()
            ),
        }
    );
    let posted = s.api.received_requests().await.unwrap();
    let fields = form(&posted[0]);
    assert_eq!(fields.len(), 3, "{fields:?}");
    assert_eq!(fields["thing_id"], "t3_p101");
    assert_eq!(fields["text"], "Thanks, we're on it. **Order #42** & more");
    assert_eq!(fields["api_type"], "json");
    s.assert_user_agent_everywhere().await;
}

#[tokio::test]
async fn a_private_reply_composes_a_message_with_a_subject_cut_to_100_characters() {
    let s = Servers::start().await;
    s.mount_token("tok-A", 3600).await;
    Mock::given(method("POST"))
        .and(path("/api/compose"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"json": {"errors": []}})))
        .expect(1)
        .mount(&s.api)
        .await;
    Mock::given(method("GET"))
        .and(path("/message/sent"))
        .and(query_param("limit", "25"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("sent_messages.json")))
        .expect(1)
        .mount(&s.api)
        .await;
    let c = s.connector(json!({}));
    let title = format!("Order 42 {}", "x".repeat(200));
    let sent = c
        .send(&outbound(
            Visibility::Private,
            "We sent you a replacement.",
            json!({"thing_id": "t4_m203", "author": "u/carol", "title": title}),
        ))
        .await
        .unwrap();
    assert_eq!(sent.remote_id, "t4_s1", "read back from our sent messages");
    assert_eq!(
        sent.url.as_deref(),
        Some("https://www.reddit.com/message/messages/s1")
    );
    let requests = s.api.received_requests().await.unwrap();
    let compose = requests
        .iter()
        .find(|r| r.url.path() == "/api/compose")
        .unwrap();
    let fields = form(compose);
    assert_eq!(fields["to"], "carol");
    assert_eq!(fields["text"], "We sent you a replacement.");
    assert_eq!(fields["api_type"], "json");
    let subject = &fields["subject"];
    assert_eq!(subject.chars().count(), 100, "{subject}");
    assert!(subject.starts_with("Re: Order 42 xxx") && subject.ends_with('…'));

    let too_long = c
        .send(&outbound(
            Visibility::Private,
            &"a".repeat(10_001),
            json!({"author": "carol"}),
        ))
        .await
        .unwrap_err();
    assert!(matches!(
        too_long,
        ConnError::TooLong { length: 10_001, .. }
    ));
    s.assert_user_agent_everywhere().await;
}

async fn send_answered(template: ResponseTemplate) -> ConnError {
    let s = Servers::start().await;
    s.mount_token("tok-A", 3600).await;
    Mock::given(method("POST"))
        .and(path("/api/comment"))
        .respond_with(template)
        .expect(1)
        .mount(&s.api)
        .await;
    let c = s.connector(json!({}));
    c.send(&outbound(Visibility::Public, "hello", alice_ref()))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_ratelimit_body_waits_as_long_as_reddit_says() {
    let e =
        send_answered(ResponseTemplate::new(200).set_body_json(fixture("ratelimit.json"))).await;
    assert_eq!(e.retry_after(), Some(Duration::from_secs(540)));
    assert!(
        matches!(&e, ConnError::RateLimited { message, .. } if message.contains("you are doing that too much")),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_429_waits_for_the_reset_header() {
    let e = send_answered(
        ResponseTemplate::new(429)
            .insert_header("x-ratelimit-used", "100")
            .insert_header("x-ratelimit-remaining", "0.0")
            .insert_header("x-ratelimit-reset", "42"),
    )
    .await;
    let wait = e.retry_after().unwrap();
    assert!(
        wait <= Duration::from_secs(42) && wait >= Duration::from_secs(40),
        "{wait:?}"
    );
    // Reset alone, without Remaining, is still the wait.
    let e =
        send_answered(ResponseTemplate::new(429).insert_header("x-ratelimit-reset", "30")).await;
    let wait = e.retry_after().unwrap();
    assert!(wait <= Duration::from_secs(30) && wait >= Duration::from_secs(28));
}

#[tokio::test]
async fn send_errors_are_classified_with_reddits_words() {
    let e = send_answered(ResponseTemplate::new(503).set_body_string("upstream busy")).await;
    assert_eq!(e, ConnError::Transient("HTTP 503: upstream busy".into()));
    assert!(e.is_retryable());

    let e = send_answered(
        ResponseTemplate::new(200).set_body_json(json!({"json": {"errors": [
            ["THREAD_LOCKED", "that comment is locked", "parent"]
        ]}})),
    )
    .await;
    assert_eq!(
        e,
        ConnError::Permanent(
            "Reddit refused: THREAD_LOCKED: that comment is locked (parent)".into()
        )
    );

    let e = send_answered(
        ResponseTemplate::new(403).set_body_json(json!({"message": "Forbidden", "error": 403})),
    )
    .await;
    assert_eq!(e, ConnError::Permanent("HTTP 403: Forbidden".into()));

    let e =
        send_answered(ResponseTemplate::new(200).set_body_json(json!({"json": {"errors": []}})))
            .await;
    assert!(
        matches!(e, ConnError::Unknown(_)),
        "no comment named: reconcile first"
    );
}

#[tokio::test]
async fn a_message_the_customer_refuses_is_permanent_with_reddits_words() {
    let s = Servers::start().await;
    s.mount_token("tok-A", 3600).await;
    Mock::given(method("POST"))
        .and(path("/api/compose"))
        .respond_with(
            ResponseTemplate::new(403).set_body_json(json!({"message": "Forbidden", "error": 403})),
        )
        .expect(1)
        .mount(&s.api)
        .await;
    let c = s.connector(json!({}));
    let e = c
        .send(&outbound(
            Visibility::Private,
            "hello",
            json!({"author": "carol"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e, ConnError::Permanent("HTTP 403: Forbidden".into()));
}

#[tokio::test]
async fn too_long_fails_before_any_request() {
    let s = Servers::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&s.api)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&s.auth)
        .await;
    let c = s.connector(json!({}));
    let e = c
        .send(&outbound(
            Visibility::Public,
            &"x".repeat(10_001),
            alice_ref(),
        ))
        .await
        .unwrap_err();
    let ConnError::TooLong { length, limit } = e else {
        panic!("{e:?}")
    };
    assert_eq!(
        (length, limit.max, limit.unit),
        (10_001, 10_000, Unit::Chars)
    );
    // Reddit counts characters: 10,000 emoji fit.
    let emoji = "👍".repeat(10_000);
    assert_eq!(
        c.render(&outbound(Visibility::Public, &emoji, alice_ref()))
            .unwrap(),
        emoji
    );
}

#[tokio::test]
async fn reconcile_finds_an_earlier_comment_by_its_parent_and_text() {
    let s = Servers::start().await;
    s.mount_token("tok-A", 3600).await;
    Mock::given(method("GET"))
        .and(path("/user/examplebrand/comments"))
        .and(query_param("limit", "25"))
        .and(query_param("sort", "new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("own_comments.json")))
        .mount(&s.api)
        .await;
    Mock::given(method("GET"))
        .and(path("/message/sent"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("sent_messages.json")))
        .mount(&s.api)
        .await;
    let c = s.connector(json!({}));

    let landed = c
        .reconcile(&outbound(
            Visibility::Public,
            "Thanks, we're on it.",
            alice_ref(),
        ))
        .await
        .unwrap();
    assert_eq!(
        landed.map(|s| s.remote_id).as_deref(),
        Some("t1_r1"),
        "whitespace differences do not matter"
    );
    let never = c
        .reconcile(&outbound(Visibility::Public, "Another reply", alice_ref()))
        .await
        .unwrap();
    assert_eq!(never, None);
    let elsewhere = c
        .reconcile(&outbound(
            Visibility::Public,
            "Thanks, we're on it.",
            json!({"thing_id": "t1_m201", "author": "erin"}),
        ))
        .await
        .unwrap();
    assert_eq!(
        elsewhere, None,
        "the same words under another thing are not ours"
    );

    let in_conversation = c
        .reconcile(&outbound(
            Visibility::Public,
            "We sent you a replacement.",
            json!({"thing_id": "t4_m203", "author": "carol"}),
        ))
        .await
        .unwrap();
    assert_eq!(
        in_conversation.map(|s| s.remote_id).as_deref(),
        Some("t4_s1"),
        "a reply to a private message is found among sent messages"
    );

    let message = c
        .reconcile(&outbound(
            Visibility::Private,
            "We sent you a replacement.",
            json!({"thing_id": "t4_m203", "author": "carol"}),
        ))
        .await
        .unwrap();
    assert_eq!(message.map(|s| s.remote_id).as_deref(), Some("t4_s1"));
    let other = c
        .reconcile(&outbound(
            Visibility::Private,
            "We sent you a replacement.",
            json!({"author": "erin"}),
        ))
        .await
        .unwrap();
    assert_eq!(other, None);
}

#[test]
fn bad_settings_name_their_field() {
    let ok = json!({
        "client_id": "cid", "username": "examplebrand", "user_agent": UA,
        "subreddits": ["examplebrand"], "client_secret": "s", "password": "p",
    });
    let err = |change: Value| -> String {
        let mut config = ok.clone();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                config.as_object_mut().unwrap().remove(k);
            } else {
                config[k] = v.clone();
            }
        }
        let settings = split_settings(SourceKind::Reddit, config).unwrap();
        match build(SourceKind::Reddit, &settings) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted {change}"),
        }
    };
    let e = err(json!({"user_agent": "Earshot/1.0"}));
    assert!(
        e.contains("config.user_agent") && e.contains("(by /u/<name>)"),
        "{e}"
    );
    assert!(err(json!({"user_agent": null})).contains("user_agent"));
    assert!(err(json!({"auth_url": "ftp://x"})).contains("config.auth_url"));
    assert!(err(json!({"api_url": "not a url"})).contains("config.api_url"));
    assert!(err(json!({"subreddits": ["ok", "two words"]})).contains("config.subreddits[1]"));
    assert!(err(json!({"subreddits": [], "keywords": ["x"]})).contains("config.keywords"));
    assert!(err(json!({"subreddits": [], "listen_mentions": false})).contains("config.subreddits"));
    assert!(err(json!({"username": "u/a b"})).contains("config.username"));
    assert!(err(json!({"password": null})).contains("password"));
    assert!(err(json!({"subreddit": ["x"]})).contains("subreddit"));

    // The same settings without the mistakes are accepted.
    let settings = split_settings(SourceKind::Reddit, ok).unwrap();
    assert!(build(SourceKind::Reddit, &settings).is_ok());
}

#[tokio::test]
async fn a_connection_lost_after_sending_is_unknown_but_a_lost_read_is_transient() {
    // The API is a peer that reads the request and hangs up.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut buf = vec![0u8; 64 * 1024];
            let _ = tcp.read(&mut buf).await;
        }
    });
    let s = Servers::start().await;
    s.mount_token("tok-A", 3600).await;
    let c = s.connector(json!({"api_url": format!("http://{addr}")}));
    let err = c
        .send(&outbound(Visibility::Public, "hello", alice_ref()))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnError::Unknown(_)), "{err:?}");
    let err = c.poll(None).await.unwrap_err();
    assert!(matches!(err, ConnError::Transient(_)), "{err:?}");
}
