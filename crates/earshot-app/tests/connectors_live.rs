//! Earshot listening and answering through its real connectors
//! (`earshot_connectors::build`, the app's default factory) and the real
//! runtime, each against a local stand-in of its platform: a feed served by
//! wiremock, the miniature Mastodon of `earshot-peers`, a fake PDS
//! (wiremock) with a replayed Jetstream, and a real SMTP + IMAP server
//! (`eval "$(scripts/mail-server.sh start)"`; without it the email test
//! fails under CI and is skipped with a notice elsewhere).
//!
//! For each: an admin adds the source, a customer's post becomes a case,
//! and a reply sent on it reaches the platform exactly once, threaded under
//! the customer's post (a feed cannot be answered in place: a reply is refused).
//! SQLite always; PostgreSQL when `EARSHOT_TEST_DATABASE_URL` is set
//! (required with `CI`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The connector tests' WebSocket replay peer, shared as it is.
#[path = "../../earshot-connectors/tests/support/mail_server.rs"]
mod mail_server;
#[allow(dead_code, clippy::type_complexity, clippy::result_large_err)]
#[path = "../../earshot-connectors/tests/support/ws_replay.rs"]
mod ws_replay;
use mail_server::{MailServer, mail_server, unique};

use std::time::Duration;

use chrono::Utc;
use earshot_app::replies::{self, ReplyOutcome};
use earshot_core::error::ErrorCode;
use earshot_core::ids::CaseId;
use earshot_core::mention::Mention;
use earshot_core::outbox::OutboxStatus;
use earshot_core::reply::{DeliveredVia, Reply, ReplyStatus, Visibility};
use earshot_core::source::SourceKind;
use earshot_core::store::{MentionQuery, NewReply, Store};
use earshot_peers::mastodon::FakeMastodon;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use ws_replay::{Script, WsReplay};

#[macro_use]
#[path = "support/live.rs"]
mod live;
use live::*;

impl Live {
    async fn answer(&self, case_id: CaseId, visibility: Visibility, body: &str) -> ReplyOutcome {
        let outcome = replies::submit_reply(
            &self.app,
            &admin(),
            case_id,
            NewReply {
                visibility,
                body: body.into(),
                send: true,
            },
            None,
        )
        .await
        .unwrap();
        assert!(!outcome.pending_approval);
        outcome
    }

    async fn reply(&self, case_id: CaseId) -> Reply {
        let detail = self.store.case_detail(case_id).await.unwrap().unwrap();
        assert_eq!(detail.replies.len(), 1, "{:?}", detail.replies);
        detail.replies[0].clone()
    }

    /// Waits until the case's one reply is acknowledged by the platform.
    async fn sent(&self, case_id: CaseId) -> Reply {
        let reply = until("the reply to be sent", || async {
            let r = self.reply(case_id).await;
            assert_ne!(r.status, ReplyStatus::Failed, "{:?}", r.error);
            (r.status == ReplyStatus::Sent).then_some(r)
        })
        .await;
        assert_eq!(reply.delivered_via, Some(DeliveredVia::Channel));
        let delivery = reply.delivery.clone().expect("an outbox row");
        assert_eq!(delivery.status, OutboxStatus::Sent);
        assert_eq!(delivery.attempts, 1, "one attempt, no resend");
        assert_eq!(delivery.remote_id, reply.channel_message_id);
        reply
    }

    /// The key the reply was queued with (the connector made it once).
    async fn key(&self, reply: &Reply) -> String {
        self.app
            .outbox
            .for_reply(reply.id)
            .await
            .unwrap()
            .expect("an outbox row")
            .idempotency_key
    }
}

// --- RSS ---

const RSS2: &str = include_str!("../../earshot-connectors/tests/fixtures/rss/rss2.xml");

async fn feed_entries_become_cases_and_replies_to_them_are_refused(live: Live) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/feed"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(RSS2.as_bytes().to_vec(), "application/rss+xml"),
        )
        .mount(&server)
        .await;
    let feed = format!("{}/feed", server.uri());
    let runtime = live.run();
    let source = live
        .add(
            SourceKind::Rss,
            "Acme forum",
            json!({"url": feed, "interval_secs": 60}),
        )
        .await;

    let broke = live
        .case_of("https://forum.example.com/t/widget-broke/101")
        .await;
    let charged = live.case_of(&format!("{feed}#102")).await;
    assert_ne!(broke, charged, "two customers, two cases");
    eventually("the feed's health", || async {
        let h = live.view(source.id).await.health;
        h.mentions_ingested == 3 && h.records_skipped == 2
    })
    .await;
    // The entry that is no complaint is heard but opens no case.
    let all = live.store.mentions(&MentionQuery::default()).await.unwrap();
    let quiet: Vec<&Mention> = all.iter().filter(|m| m.case_id.is_none()).collect();
    assert_eq!(quiet.len(), 1, "{all:?}");
    assert_eq!(
        quiet[0].mention.text,
        "No guid here\n\nAn item without a guid."
    );
    assert!(all.iter().all(|m| m.mention.source == SourceKind::Rss
        && m.mention.origin.as_ref().map(|o| o.source_id) == Some(source.id)));

    // A feed cannot be answered in place (the agent answers on the site):
    // a reply of either kind is refused, naming the field, and nothing is
    // queued for the feed's connector.
    for visibility in [Visibility::Public, Visibility::Private] {
        let refused = replies::submit_reply(
            &live.app,
            &admin(),
            broke,
            NewReply {
                visibility,
                body: "Sam, a fix is on its way".into(),
                send: true,
            },
            None,
        )
        .await
        .err()
        .expect("a reply on a feed's case is refused");
        assert_eq!(refused.code, ErrorCode::InvalidField);
        assert!(
            refused.message.starts_with("visibility: rss"),
            "{refused:?}"
        );
    }
    let detail = live.store.case_detail(broke).await.unwrap().unwrap();
    assert!(detail.replies.is_empty(), "{:?}", detail.replies);
    runtime.shutdown().await;
}

// --- Mastodon ---

async fn a_mastodon_mention_becomes_a_case_and_the_reply_is_posted_once_in_its_thread(live: Live) {
    let fake = FakeMastodon::start(0).await.unwrap();
    let runtime = live.run();
    let source = live
        .add(
            SourceKind::Mastodon,
            "Acme on the fake instance",
            json!({"base_url": fake.base_url, "access_token": earshot_peers::mastodon::TOKEN}),
        )
        .await;
    live.listening(source.id).await;

    let status_id = fake.customer_mention("jane@other.example", "my parcel never arrived");
    let mention = mention_by(&live, SourceKind::Mastodon, "jane@other.example").await;
    let case_id = live.case_of(&mention.mention.external_id).await;
    assert_eq!(
        mention.mention.origin.as_ref().unwrap().reply_ref["status_id"],
        json!(status_id)
    );

    let outcome = live
        .answer(
            case_id,
            Visibility::Public,
            "Sorry Jane, a new parcel leaves today",
        )
        .await;
    assert_eq!(outcome.reply.status, ReplyStatus::Queued);
    let reply = live.sent(case_id).await;
    let key = live.key(&reply).await;

    let posts = fake.received_posts();
    assert_eq!(posts.len(), 1, "posted exactly once: {posts:?}");
    let post = &posts[0];
    assert_eq!(post.in_reply_to_id.as_deref(), Some(status_id.as_str()));
    assert_eq!(post.idempotency_key.as_deref(), Some(key.as_str()));
    assert_eq!(post.visibility, "public");
    assert!(
        post.status.contains("@jane@other.example")
            && post
                .status
                .contains("Sorry Jane, a new parcel leaves today"),
        "{}",
        post.status
    );
    // The reply is known by its global id, the status's URI.
    let ours = fake.brand_statuses();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(ours[0]["id"].as_str(), post.status_id.as_deref());
    assert_eq!(ours[0]["in_reply_to_id"], json!(status_id));
    assert_eq!(reply.channel_message_id.as_deref(), ours[0]["uri"].as_str());
    runtime.shutdown().await;
}

// --- Bluesky ---

async fn a_bluesky_mention_becomes_a_case_and_the_reply_is_one_record_under_its_tid(live: Live) {
    let server = pds().await;
    let (rkey, cid) = ("3lcustlive001", "bafyreicustlive1");
    let jetstream = WsReplay::start(vec![Script::hold_after(vec![customer_post_frame(
        rkey,
        cid,
        "@acme.bsky.social my order never arrived, three weeks now",
    )])])
    .await;
    let runtime = live.run();
    let source = live
        .add(
            SourceKind::Bluesky,
            "Acme on Bluesky",
            json!({
                "identifier": "acme.bsky.social",
                "service_url": server.uri(),
                "jetstream_url": jetstream.url,
                "keywords": ["acme"],
                "direct_messages": false,
                "app_password": "abcd-efgh-ijkl-mnop",
            }),
        )
        .await;
    let uri = format!("at://{CUSTOMER_DID}/app.bsky.feed.post/{rkey}");
    let case_id = live.case_of(&uri).await;
    let mention = live.mention(&uri).await.unwrap();
    assert_eq!(mention.mention.author.handle, "customer.bsky.social");
    assert_eq!(
        mention.mention.origin.as_ref().map(|o| o.source_id),
        Some(source.id)
    );

    let outcome = live
        .answer(
            case_id,
            Visibility::Public,
            "@customer.bsky.social sorry, a replacement ships today",
        )
        .await;
    assert_eq!(outcome.reply.status, ReplyStatus::Queued);
    let reply = live.sent(case_id).await;
    let key = live.key(&reply).await;
    // A TID: 13 characters of base32-sortable.
    assert!(
        key.len() == 13
            && key
                .chars()
                .all(|c| "234567abcdefghijklmnopqrstuvwxyz".contains(c)),
        "{key}"
    );

    let requests = server.received_requests().await.unwrap();
    let creates: Vec<Value> = requests
        .iter()
        .filter(|r| r.url.path() == "/xrpc/com.atproto.repo.createRecord")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(creates.len(), 1, "one record: {creates:?}");
    let create = &creates[0];
    assert_eq!(create["repo"], OUR_DID);
    assert_eq!(create["collection"], "app.bsky.feed.post");
    assert_eq!(create["rkey"], json!(key), "the rkey is the queued TID");
    let post_ref = json!({"uri": uri, "cid": cid});
    assert_eq!(create["record"]["reply"]["root"], post_ref);
    assert_eq!(create["record"]["reply"]["parent"], post_ref);
    assert_eq!(
        create["record"]["text"],
        "@customer.bsky.social sorry, a replacement ships today"
    );
    assert_eq!(
        create["record"]["facets"][0]["features"][0]["did"],
        CUSTOMER_DID
    );
    assert!(
        !requests
            .iter()
            .any(|r| r.url.path() == "/xrpc/com.atproto.repo.getRecord"),
        "a first attempt needs no reconcile"
    );
    assert_eq!(
        reply.channel_message_id,
        Some(format!("at://{OUR_DID}/app.bsky.feed.post/{key}"))
    );
    assert!(jetstream.requests()[0].starts_with("/subscribe?"));
    runtime.shutdown().await;
}

// --- Email ---

/// Delivers a raw message over SMTP, as the customer's mail server would.
async fn deliver(server: &MailServer, from: &str, to: &str, raw: &str) {
    use lettre::address::Envelope;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server.smtp.0.clone())
        .port(server.smtp.1)
        .timeout(Some(Duration::from_secs(10)))
        .build();
    let envelope = Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
    smtp.send_raw(&envelope, raw.replace('\n', "\r\n").as_bytes())
        .await
        .unwrap();
}

async fn a_customers_mail_becomes_a_case_and_the_reply_arrives_once_in_the_thread(live: Live) {
    let Some(server) = mail_server() else { return };
    let brand = unique("brand", "example.org");
    let ada = unique("ada", "customer.example");
    let runtime = live.run();
    let source = live
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
    live.listening(source.id).await;

    let message_id = unique("order", "customer.example");
    let raw = format!(
        "Message-ID: <{message_id}>\nFrom: Ada Lovelace <{ada}>\nTo: {brand}\n\
         Subject: Order 1234\nDate: {}\nContent-Type: text/plain; charset=utf-8\n\n\
         My parcel never arrived.\n",
        Utc::now().to_rfc2822()
    );
    deliver(&server, &ada, &brand, &raw).await;
    let case_id = live.case_of(&message_id).await;
    let mention = live.mention(&message_id).await.unwrap();
    assert_eq!(mention.mention.author.handle, ada);

    let body = "Sorry, Ada: we are sending a new parcel today.";
    let outcome = live.answer(case_id, Visibility::Private, body).await;
    assert_eq!(outcome.reply.status, ReplyStatus::Queued);
    let reply = live.sent(case_id).await;
    let key = live.key(&reply).await;
    let our_id = key.trim_start_matches('<').trim_end_matches('>');
    assert_eq!(reply.channel_message_id.as_deref(), Some(our_id));

    // SMTP delivery is asynchronous on the server's side: wait for the mail.
    let mail = until("the reply in the customer's mailbox", || async {
        Some(inbox(&server, &ada).await).filter(|mail| !mail.is_empty())
    })
    .await;
    assert_eq!(mail.len(), 1, "delivered exactly once");
    let got = mail_parser::MessageParser::default()
        .parse(&mail[0])
        .unwrap();
    assert_eq!(got.message_id(), Some(our_id));
    assert_eq!(
        got.in_reply_to().as_text(),
        Some(message_id.as_str()),
        "In-Reply-To is the customer's Message-ID"
    );
    assert_eq!(got.subject(), Some("Re: Order 1234"));
    assert_eq!(got.body_text(0).unwrap().trim_end(), body);
    assert_eq!(
        got.to().unwrap().first().unwrap().address(),
        Some(ada.as_str())
    );
    runtime.shutdown().await;
}

// --- the databases ---

both_backends!(
    feed_entries_become_cases_and_replies_to_them_are_refused,
    a_mastodon_mention_becomes_a_case_and_the_reply_is_posted_once_in_its_thread,
    a_bluesky_mention_becomes_a_case_and_the_reply_is_one_record_under_its_tid,
    a_customers_mail_becomes_a_case_and_the_reply_arrives_once_in_the_thread,
);
