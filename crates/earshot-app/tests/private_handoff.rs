//! Taking a case private through the real connectors and runtime, against
//! local stand-ins of the platforms (the miniature Mastodon of
//! `earshot-peers`, a real SMTP + IMAP server from
//! `eval "$(scripts/mail-server.sh start)"`, a wiremock PDS for Bluesky):
//! one public acknowledgement and one private message per handoff, the
//! customer's private answer back in the same case, a closed gate refused
//! before anything is stored. SQLite always; PostgreSQL when
//! `EARSHOT_TEST_DATABASE_URL` is set (required with `CI`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The connector tests' WebSocket replay peer, shared as it is.
#[path = "../../earshot-connectors/tests/support/mail_server.rs"]
mod mail_server;
#[allow(dead_code, clippy::type_complexity, clippy::result_large_err)]
#[path = "../../earshot-connectors/tests/support/ws_replay.rs"]
mod ws_replay;
use mail_server::{MailServer, mail_server, unique};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use earshot_app::App;
use earshot_app::handoff::{self, TakePrivate, Taken};
use earshot_app::listen::ListenOptions;
use earshot_app::runtime::{Intervals, Runtime};
use earshot_app::sources::{self, SourceView};
use earshot_core::analysis::{Analysis, Analyzer, Sentiment};
use earshot_core::auth::{Principal, Role};
use earshot_core::error::ErrorCode;
use earshot_core::ids::{CaseId, SourceId};
use earshot_core::mention::Mention;
use earshot_core::pipeline::Pipeline;
use earshot_core::priority::PriorityWeights;
use earshot_core::private_handoff::{PrivateChannelKind, PrivateHandoff, PrivateHandoffStatus};
use earshot_core::reply::ReplyStatus;
use earshot_core::source::SourceKind;
use earshot_core::sources::SourceState;
use earshot_core::store::{MentionQuery, Store};
use earshot_core::workflow_store::{UserProfile, WorkflowStore};
use earshot_peers::mastodon::FakeMastodon;
use earshot_store::{Location, SqlStore};
use earshot_workflow::SystemClock;
use futures_util::TryStreamExt;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};
use ws_replay::{Script, WsReplay};

/// Complaints open cases: texts with one of these words.
struct Keywords;
impl Analyzer for Keywords {
    fn analyze(&self, text: &str) -> Analysis {
        let complaint = ["never", "broke", "refund", "charged twice"]
            .iter()
            .any(|w| text.to_lowercase().contains(w));
        Analysis {
            sentiment: if complaint {
                Sentiment::Negative
            } else {
                Sentiment::Neutral
            },
            sentiment_score: if complaint { -0.8 } else { 0.0 },
            complaint,
            complaint_score: if complaint { 0.9 } else { 0.1 },
            language: Some("en".into()),
            ..Analysis::default()
        }
    }
}

fn admin() -> Principal {
    Principal {
        name: "root".into(),
        role: Role::Admin,
    }
}

/// Fast timings: tests wait milliseconds, not seconds.
fn quick() -> ListenOptions {
    ListenOptions {
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(200),
        healthy_after: Duration::from_secs(30),
        batch_max: 200,
        batch_window: Duration::from_millis(30),
    }
}

/// Only the outbox and the sources run; the outbox is also woken at once
/// whenever a reply is queued.
fn intervals() -> Intervals {
    let hour = Duration::from_secs(3600);
    Intervals {
        sla_tick: hour,
        deliveries: hour,
        priority: hour,
        csat: hour,
        recovery: hour,
        outbox: Duration::from_millis(200),
    }
}

struct Live {
    app: App,
    store: Arc<SqlStore>,
    _dir: Option<tempfile::TempDir>,
}

impl Live {
    async fn new(store: SqlStore, dir: Option<tempfile::TempDir>) -> Live {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("earshot_app=debug,earshot_connectors=debug,sqlx=warn")
            .with_test_writer()
            .try_init();
        let store = Arc::new(store);
        // The default connector factory: `earshot_connectors::build`.
        let app = App::new(
            store.clone(),
            Pipeline::new(Arc::new(Keywords), PriorityWeights::default()),
            Arc::new(SystemClock),
        );
        store
            .put_user(
                &UserProfile {
                    role: Some(Role::Admin),
                    ..UserProfile::new("root")
                },
                "test",
                Utc::now(),
            )
            .await
            .unwrap();
        Live {
            app,
            store,
            _dir: dir,
        }
    }

    fn run(&self) -> Runtime {
        Runtime::start_with(&self.app, intervals(), quick())
    }

    async fn add(&self, kind: SourceKind, name: &str, config: Value) -> SourceView {
        sources::create(&self.app, &admin(), kind, name, config)
            .await
            .unwrap()
    }

    async fn view(&self, id: SourceId) -> SourceView {
        sources::get(&self.app, &admin(), id).await.unwrap()
    }

    /// Waits until the source's connector has answered and a cursor is
    /// saved: from here on, whatever the customer posts is new to it.
    async fn listening(&self, id: SourceId) {
        eventually("the source to be running with a cursor", || async {
            let v = self.view(id).await;
            assert_ne!(
                v.health.state,
                SourceState::Error,
                "{:?}",
                v.health.last_error
            );
            v.health.state == SourceState::Running && v.cursor.is_some()
        })
        .await;
    }

    async fn mention(&self, external_id: &str) -> Option<Mention> {
        self.store
            .mentions(&MentionQuery::default())
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.mention.external_id == external_id)
    }

    /// Waits until the post is stored, and returns the case it opened.
    async fn case_of(&self, external_id: &str) -> CaseId {
        until(&format!("a case for {external_id}"), || async {
            self.mention(external_id).await.and_then(|m| m.case_id)
        })
        .await
    }
}

/// Waits (up to 45 s: the machine may be busy, and an email the test server did not report to IDLE waits for the 20-second re-read) until `check` finds
/// something, and returns it.
async fn until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `check` holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    until(what, || {
        let holds = check();
        async move { holds.await.then_some(()) }
    })
    .await
}

// --- the handoff ---

fn platform(public: &str, private: &str) -> TakePrivate {
    TakePrivate {
        channel: Some(PrivateChannelKind::Platform),
        public_text: Some(public.into()),
        private_text: Some(private.into()),
        ..TakePrivate::default()
    }
}

async fn take(live: &Live, case_id: CaseId, req: &TakePrivate) -> PrivateHandoff {
    match handoff::take_private(&live.app, &admin(), case_id, req)
        .await
        .unwrap()
    {
        Taken::Done(h) => *h,
        Taken::Generic(w) => panic!("read as generic: {w:?}"),
    }
}

/// Waits until both texts of the case's one handoff are acknowledged.
async fn delivered(live: &Live, case_id: CaseId) -> PrivateHandoff {
    until("both texts of the handoff to be sent", || async {
        let all = handoff::handoffs(&live.app, &admin(), case_id)
            .await
            .unwrap();
        assert_eq!(all.len(), 1, "{all:?}");
        let h = all.into_iter().next().unwrap();
        for r in h.public_reply.iter().chain(h.private_reply.iter()) {
            assert_ne!(r.status, ReplyStatus::Failed, "{:?}", r.error);
        }
        (h.status == PrivateHandoffStatus::Done).then_some(h)
    })
    .await
}

async fn mastodon_source(live: &Live, fake: &FakeMastodon) -> SourceView {
    let source = live
        .add(
            SourceKind::Mastodon,
            "Acme on the fake instance",
            json!({"base_url": fake.base_url, "access_token": earshot_peers::mastodon::TOKEN}),
        )
        .await;
    live.listening(source.id).await;
    source
}

async fn a_mastodon_handoff_posts_one_public_reply_and_one_direct_message_and_the_answer_joins_the_case(
    live: Live,
) {
    let fake = FakeMastodon::start(0).await.unwrap();
    let runtime = live.run();
    mastodon_source(&live, &fake).await;
    let status_id = fake.customer_mention("jane@other.example", "my parcel never arrived");
    let mention = mention_by(&live, SourceKind::Mastodon, "jane@other.example").await;
    let case_id = live.case_of(&mention.mention.external_id).await;

    let options = handoff::private_channels(&live.app, &admin(), case_id)
        .await
        .unwrap();
    assert_eq!(options[0].channel, PrivateChannelKind::Platform);
    assert!(options[0].available, "{options:?}");
    assert_eq!(
        options[1].reason.as_deref(),
        Some("no email source is configured")
    );

    let public = "Jane, sorry your parcel never arrived: we sent you a direct message to sort out a new one.";
    let private = "Jane, which address should the replacement parcel go to? We ship it today.";
    let h = take(&live, case_id, &platform(public, private)).await;
    assert_eq!(h.channel, PrivateChannelKind::Platform);
    // Both on their way through the outbox (its worker, woken at once, may
    // already hold them).
    for reply in [&h.public_reply, &h.private_reply] {
        let status = reply.as_ref().unwrap().status;
        assert!(
            matches!(
                status,
                ReplyStatus::Queued | ReplyStatus::Sending | ReplyStatus::Sent
            ),
            "{status:?}"
        );
    }
    let h = delivered(&live, case_id).await;

    let posts = fake.received_posts();
    assert_eq!(posts.len(), 2, "one public reply and one DM: {posts:?}");
    let (ack, dm) = (&posts[0], &posts[1]);
    assert_eq!(ack.in_reply_to_id.as_deref(), Some(status_id.as_str()));
    assert_eq!(ack.visibility, "public");
    assert!(ack.status.contains(public), "{}", ack.status);
    assert_eq!(dm.visibility, "direct");
    assert_eq!(dm.in_reply_to_id, None, "a new private thread");
    assert!(
        dm.status.starts_with("@jane@other.example ") && dm.status.contains(private),
        "{}",
        dm.status
    );
    let dm_id = dm.status_id.clone().unwrap();
    let dm_uri = h
        .private_reply
        .as_ref()
        .unwrap()
        .channel_message_id
        .clone()
        .unwrap();
    assert_eq!(
        live.store_threads(case_id).await,
        vec![format!("mastodon:thread:{dm_uri}")]
    );

    // Jane answers the DM in private: it lands in the same case, private.
    fake.customer_post(
        "jane@other.example",
        "It's 12 Elm Street, thanks",
        Some(&dm_id),
        "direct",
    );
    let answer = until("Jane's private answer", || async {
        live.store
            .mentions(&MentionQuery::default())
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.mention.text.contains("12 Elm Street"))
    })
    .await;
    assert_eq!(answer.case_id, Some(case_id));
    assert!(answer.mention.origin.as_ref().unwrap().private);
    assert_eq!(answer.mention.thread_id.as_deref(), Some(dm_uri.as_str()));

    // A later private message (a CSAT request) goes into that thread.
    let later = handoff::send_private(&live.app, case_id, "How did we do, Jane?", "csat")
        .await
        .unwrap();
    until("the later message to be sent", || async {
        let r = live.app.workflow.reply(later.id).await.unwrap().unwrap();
        (r.status == ReplyStatus::Sent).then_some(())
    })
    .await;
    let posts = fake.received_posts();
    assert_eq!(posts.len(), 3, "{posts:?}");
    assert_eq!(posts[2].visibility, "direct");
    assert!(posts[2].in_reply_to_id.is_some(), "{:?}", posts[2]);
    runtime.shutdown().await;
}

async fn an_email_handoff_reaches_the_address_and_the_answer_joins_the_mastodon_case(live: Live) {
    let Some(server) = mail_server() else { return };
    let brand = unique("brand", "example.org");
    let ada = unique("ada", "customer.example");
    let fake = FakeMastodon::start(0).await.unwrap();
    let runtime = live.run();
    mastodon_source(&live, &fake).await;
    let mailbox = live
        .add(
            SourceKind::Email,
            "Acme support mailbox",
            json!({
                "imap_host": server.imap.0,
                "imap_port": server.imap.1,
                "smtp_host": server.smtp.0,
                "smtp_port": server.smtp.1,
                "tls": "none",
                "username": brand,
                "address": brand,
                "display_name": "Acme Support",
                "mailbox": "INBOX",
                "password": server.password,
            }),
        )
        .await;
    live.listening(mailbox.id).await;
    let status_id =
        fake.customer_mention("ada@other.example", "I was charged twice for order 1234");
    let mention = mention_by(&live, SourceKind::Mastodon, "ada@other.example").await;
    let case_id = live.case_of(&mention.mention.external_id).await;

    // A bad address is refused, naming the field, and stores nothing.
    let mut req = TakePrivate {
        channel: Some(PrivateChannelKind::Email),
        public_text: Some(
            "Ada, sorry you were charged twice for order 1234: we emailed you to refund it.".into(),
        ),
        private_text: Some(
            "Ada, we are refunding the second charge on order 1234; it shows within 3 days.".into(),
        ),
        address: Some("ada at customer".into()),
        ..TakePrivate::default()
    };
    let e = handoff::take_private(&live.app, &admin(), case_id, &req)
        .await
        .unwrap_err();
    assert!(e.message.starts_with("address: "), "{e:?}");
    assert!(
        live.store
            .case_detail(case_id)
            .await
            .unwrap()
            .unwrap()
            .replies
            .is_empty()
    );

    req.address = Some(ada.clone());
    req.subject = Some("Your refund for order 1234".into());
    let h = take(&live, case_id, &req).await;
    assert_eq!(h.address.as_deref(), Some(ada.as_str()));
    assert_eq!(h.source_id, Some(mailbox.id));
    let h = delivered(&live, case_id).await;
    let posts = fake.received_posts();
    assert_eq!(
        posts.len(),
        1,
        "only the acknowledgement on Mastodon: {posts:?}"
    );
    assert_eq!(posts[0].in_reply_to_id.as_deref(), Some(status_id.as_str()));
    let key = live
        .app
        .outbox
        .for_reply(h.private_reply.as_ref().unwrap().id)
        .await
        .unwrap()
        .unwrap()
        .idempotency_key;
    let our_id = key
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string();

    let mail = until("the email in Ada's mailbox", || async {
        Some(inbox(&server, &ada).await).filter(|m| !m.is_empty())
    })
    .await;
    assert_eq!(mail.len(), 1, "delivered exactly once");
    let got = mail_parser::MessageParser::default()
        .parse(&mail[0])
        .unwrap();
    assert_eq!(got.message_id(), Some(our_id.as_str()));
    assert_eq!(got.subject(), Some("Your refund for order 1234"));
    assert!(got.in_reply_to().as_text().is_none(), "a new thread");
    assert!(
        got.body_text(0)
            .unwrap()
            .contains("refunding the second charge")
    );

    // Ada answers the email: it lands in the Mastodon case, private.
    let answer_id = unique("answer", "customer.example");
    let raw = format!(
        "Message-ID: <{answer_id}>\nFrom: Ada <{ada}>\nTo: {brand}\n\
         In-Reply-To: <{our_id}>\nReferences: <{our_id}>\n\
         Subject: Re: Your refund for order 1234\nDate: {}\n\
         Content-Type: text/plain; charset=utf-8\n\nThanks, the card ends in 9921.\n",
        Utc::now().to_rfc2822()
    );
    // Appended by another IMAP client: mail-devel's SMTP delivery does not
    // wake a session in IDLE (the connector's own tests say so).
    append_to(&server, &brand, &raw).await;
    let joined = live.case_of(&answer_id).await;
    assert_eq!(joined, case_id, "the answer joins the case taken private");
    let answer = live.mention(&answer_id).await.unwrap();
    assert!(answer.mention.origin.as_ref().unwrap().private);
    runtime.shutdown().await;
}

async fn a_closed_bluesky_gate_blocks_the_handoff_with_the_platforms_reason_and_stores_nothing(
    live: Live,
) {
    let server = pds().await;
    Mock::given(method("GET"))
        .and(path("/xrpc/chat.bsky.convo.getLog"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"cursor": "log-0", "logs": []})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/chat.bsky.convo.getConvoAvailability"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"canChat": false})))
        .mount(&server)
        .await;
    let (rkey, cid) = ("3lcustlive001", "bafyreicustlive1");
    let jetstream = WsReplay::start(vec![Script::hold_after(vec![customer_post_frame(
        rkey,
        cid,
        "@acme.bsky.social my order never arrived, three weeks now",
    )])])
    .await;
    let runtime = live.run();
    live.add(
        SourceKind::Bluesky,
        "Acme on Bluesky",
        json!({
            "identifier": "acme.bsky.social",
            "service_url": server.uri(),
            "jetstream_url": jetstream.url,
            "keywords": ["acme"],
            "direct_messages": true,
            "app_password": "abcd-efgh-ijkl-mnop",
        }),
    )
    .await;
    let uri = format!("at://{CUSTOMER_DID}/app.bsky.feed.post/{rkey}");
    let case_id = live.case_of(&uri).await;
    until("the source's channel", || async {
        live.app
            .sources
            .sources()
            .await
            .unwrap()
            .first()
            .and_then(|s| live.app.channels.get(s.id))
    })
    .await;

    let options = handoff::private_channels(&live.app, &admin(), case_id)
        .await
        .unwrap();
    let reason = options[0].reason.clone().unwrap_or_default();
    assert!(!options[0].available, "{options:?}");
    assert!(reason.contains("allowIncoming"), "{reason}");

    let before = live.store.case_detail(case_id).await.unwrap().unwrap();
    let e = handoff::take_private(
        &live.app,
        &admin(),
        case_id,
        &platform(
            "@customer.bsky.social sorry your order never arrived, we're checking it now",
            "Casey, could you send the order number so we can trace the parcel?",
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::Unprocessable);
    assert!(e.message.starts_with("channel: "), "{e:?}");
    assert!(e.message.contains("allowIncoming"), "{e:?}");
    let after = live.store.case_detail(case_id).await.unwrap().unwrap();
    assert!(after.replies.is_empty(), "{:?}", after.replies);
    assert_eq!(before.events.len(), after.events.len(), "no event either");
    assert!(
        handoff::handoffs(&live.app, &admin(), case_id)
            .await
            .unwrap()
            .is_empty()
    );
    let creates = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/xrpc/com.atproto.repo.createRecord")
        .count();
    assert_eq!(creates, 0, "nothing posted");
    runtime.shutdown().await;
}

/// The one mention by `handle` heard on `kind`, once stored.
async fn mention_by(live: &Live, kind: SourceKind, handle: &str) -> Mention {
    until(&format!("{handle}'s mention"), || async {
        let all = live.store.mentions(&MentionQuery::default()).await.unwrap();
        all.into_iter()
            .find(|m| m.mention.source == kind && m.mention.author.handle == handle)
    })
    .await
}

impl Live {
    async fn store_threads(&self, case_id: CaseId) -> Vec<String> {
        use earshot_core::private_handoff::PrivateHandoffStore;
        self.store.case_threads(case_id).await.unwrap()
    }
}

const OUR_DID: &str = "did:plc:acmebrandaccount000000000";
const CUSTOMER_DID: &str = "did:plc:customeraaaaaaaaaaaaaaaa";

/// A fake PDS: the session, the customer's profile, no notifications yet,
/// and `createRecord` answering with the record's URI (its rkey as asked).
async fn pds() -> MockServer {
    let server = MockServer::start().await;
    let session = json!({
        "did": OUR_DID,
        "handle": "acme.bsky.social",
        "accessJwt": "access-1",
        "refreshJwt": "refresh-1",
    });
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.server.createSession"))
        .respond_with(ResponseTemplate::new(200).set_body_json(session.clone()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/com.atproto.server.getSession"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"did": OUR_DID, "handle": "acme.bsky.social"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.actor.getProfiles"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"profiles": [
                {"did": CUSTOMER_DID, "handle": "customer.bsky.social", "displayName": "Casey"},
            ]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.notification.listNotifications"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"notifications": []})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.repo.createRecord"))
        .respond_with(|req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let rkey = body["rkey"].as_str().unwrap_or("none");
            ResponseTemplate::new(200).set_body_json(json!({
                "uri": format!("at://{OUR_DID}/app.bsky.feed.post/{rkey}"),
                "cid": "bafyreiourreply",
            }))
        })
        .mount(&server)
        .await;
    server
}

/// A Jetstream commit: the customer's post @mentioning the brand, now.
fn customer_post_frame(rkey: &str, cid: &str, text: &str) -> String {
    let handle = "@acme.bsky.social";
    assert!(text.starts_with(handle));
    json!({
        "did": CUSTOMER_DID,
        "time_us": Utc::now().timestamp_micros(),
        "kind": "commit",
        "commit": {
            "rev": "3lcustlive0001",
            "operation": "create",
            "collection": "app.bsky.feed.post",
            "rkey": rkey,
            "record": {
                "$type": "app.bsky.feed.post",
                "createdAt": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "langs": ["en"],
                "text": text,
                "facets": [{
                    "index": {"byteStart": 0, "byteEnd": handle.len()},
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": OUR_DID}],
                }],
            },
            "cid": cid,
        },
    })
    .to_string()
}

/// Puts a raw message into `user`'s INBOX over IMAP, as their mail
/// server's delivery would.
async fn append_to(server: &MailServer, user: &str, raw: &str) {
    let tcp = tokio::net::TcpStream::connect((server.imap.0.as_str(), server.imap.1))
        .await
        .unwrap();
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.unwrap();
    let mut session = client
        .login(user, &server.password)
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    session
        .append("INBOX", None, None, raw.replace('\n', "\r\n"))
        .await
        .unwrap();
    session.logout().await.unwrap();
}

/// Every message in `user`'s INBOX, raw, oldest first.
async fn inbox(server: &MailServer, user: &str) -> Vec<Vec<u8>> {
    let tcp = tokio::net::TcpStream::connect((server.imap.0.as_str(), server.imap.1))
        .await
        .unwrap();
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.unwrap();
    let mut session = client
        .login(user, &server.password)
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    let selected = session.select("INBOX").await.unwrap();
    if selected.exists == 0 {
        session.logout().await.unwrap();
        return Vec::new();
    }
    let fetched: Vec<_> = session
        .uid_fetch("1:*", "(UID BODY.PEEK[])")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mail = fetched
        .iter()
        .filter_map(|f| f.body().map(<[u8]>::to_vec))
        .collect();
    session.logout().await.unwrap();
    mail
}

// --- the databases ---

async fn sqlite() -> Option<Live> {
    let dir = tempfile::tempdir().unwrap();
    let store = earshot_store::open(&Location::SqliteDir(dir.path().to_path_buf()))
        .await
        .unwrap();
    Some(Live::new(store, Some(dir)).await)
}

async fn postgres() -> Option<Live> {
    let url = earshot_store::testing::postgres_url()?;
    let url = earshot_store::testing::fresh_postgres_database(&url)
        .await
        .unwrap();
    let store = earshot_store::open(&Location::Postgres(url)).await.unwrap();
    Some(Live::new(store, None).await)
}

macro_rules! both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(live) = super::sqlite().await {
                        super::$test(live).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(live) = super::postgres().await {
                        super::$test(live).await;
                    }
                }
            )*
        }
    };
}

both_backends!(
    a_mastodon_handoff_posts_one_public_reply_and_one_direct_message_and_the_answer_joins_the_case,
    an_email_handoff_reaches_the_address_and_the_answer_joins_the_mastodon_case,
    a_closed_bluesky_gate_blocks_the_handoff_with_the_platforms_reason_and_stores_nothing,
);
