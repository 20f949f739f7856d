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

use chrono::Utc;
use earshot_app::handoff::{self, TakePrivate, Taken};
use earshot_app::sources::SourceView;
use earshot_core::error::ErrorCode;
use earshot_core::ids::CaseId;
use earshot_core::private_handoff::{PrivateChannelKind, PrivateHandoff, PrivateHandoffStatus};
use earshot_core::reply::ReplyStatus;
use earshot_core::source::SourceKind;
use earshot_core::store::{MentionQuery, Store};
use earshot_peers::mastodon::FakeMastodon;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};
use ws_replay::{Script, WsReplay};

#[macro_use]
#[path = "support/live.rs"]
mod live;
use live::*;

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

impl Live {
    async fn store_threads(&self, case_id: CaseId) -> Vec<String> {
        use earshot_core::private_handoff::PrivateHandoffStore;
        self.store.case_threads(case_id).await.unwrap()
    }
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

// --- the databases ---

both_backends!(
    a_mastodon_handoff_posts_one_public_reply_and_one_direct_message_and_the_answer_joins_the_case,
    an_email_handoff_reaches_the_address_and_the_answer_joins_the_mastodon_case,
    a_closed_bluesky_gate_blocks_the_handoff_with_the_platforms_reason_and_stores_nothing,
);
