#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The email connector against a real SMTP + IMAP server (mail-devel, one
//! mailbox per recipient). Start it with `eval "$(scripts/mail-server.sh
//! start)"`; the tests read EARSHOT_TEST_SMTP / EARSHOT_TEST_IMAP /
//! EARSHOT_TEST_MAIL_PASSWORD. Without them the server tests fail under CI
//! and are skipped (with a notice) elsewhere. Each test uses its own brand
//! and customer addresses, so they run in parallel on one server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use earshot_connectors::{
    ConnError, Connector, Cursor, Outbound, SourceSettings, StreamEvent, Transport, build,
    split_settings,
};
use earshot_core::reply::Visibility;
use earshot_core::source::SourceKind;
use futures_util::{StreamExt, TryStreamExt};
use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::{Value, json};
use tokio::net::TcpStream;

#[path = "support/mail_server.rs"]
mod mail_server;
use mail_server::{MailServer, host_port, mail_server, unique};

fn config(server: &MailServer, brand: &str, mailbox: &str) -> Value {
    json!({
        "imap_host": server.imap.0,
        "imap_port": server.imap.1,
        "smtp_host": server.smtp.0,
        "smtp_port": server.smtp.1,
        "tls": "none",
        "username": brand,
        "address": brand,
        "display_name": "Brand Support",
        "mailbox": mailbox,
        "password": server.password,
    })
}

fn settings(config: Value) -> SourceSettings {
    split_settings(SourceKind::Email, config).unwrap()
}

fn connector(server: &MailServer, brand: &str, mailbox: &str) -> Arc<dyn Connector> {
    build(SourceKind::Email, &settings(config(server, brand, mailbox))).unwrap()
}

/// Delivers a raw message over SMTP, as a customer's mail server would.
async fn deliver(server: &MailServer, from: &str, to: &str, raw: &str) {
    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server.smtp.0.clone())
        .port(server.smtp.1)
        .timeout(Some(Duration::from_secs(10)))
        .build();
    let envelope = Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
    smtp.send_raw(&envelope, raw.replace('\n', "\r\n").as_bytes())
        .await
        .unwrap();
}

type TestSession = async_imap::Session<TcpStream>;

/// A plain IMAP session as `user`, for what the tests arrange and check.
async fn imap_as(server: &MailServer, user: &str) -> TestSession {
    let tcp = TcpStream::connect((server.imap.0.as_str(), server.imap.1))
        .await
        .unwrap();
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.unwrap();
    client
        .login(user, &server.password)
        .await
        .map_err(|(e, _)| e)
        .unwrap()
}

async fn append(session: &mut TestSession, mailbox: &str, raw: &str) {
    session
        .append(mailbox, None, None, raw.replace('\n', "\r\n"))
        .await
        .unwrap();
}

/// Every message in `mailbox`, raw, oldest first.
async fn all_mail(session: &mut TestSession, mailbox: &str) -> Vec<(Vec<u8>, Vec<String>)> {
    session.select(mailbox).await.unwrap();
    let fetched: Vec<_> = session
        .uid_fetch("1:*", "(UID FLAGS BODY.PEEK[])")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    fetched
        .iter()
        .filter_map(|f| {
            let flags = f.flags().map(|fl| format!("{fl:?}")).collect();
            f.body().map(|b| (b.to_vec(), flags))
        })
        .collect()
}

fn customer_mail(from: &str, to: &str, id: &str, subject: &str, body: &str) -> String {
    format!(
        "Message-ID: <{id}>\nFrom: Ada Lovelace <{from}>\nTo: {to}\nSubject: {subject}\n\
         Date: Tue, 01 Dec 2026 11:30:00 +0000\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
    )
}

fn ids(page: &earshot_connectors::Page) -> Vec<String> {
    page.items
        .iter()
        .map(|i| i.mention.external_id.clone())
        .collect()
}

#[tokio::test]
async fn customer_mail_is_read_threaded_and_the_cursor_resumes_across_a_restart() {
    let Some(server) = mail_server() else { return };
    let brand = unique("brand", "example.org");
    let ada = unique("ada", "customer.example");
    let email = connector(&server, &brand, "INBOX");
    let caps = email.start().await.unwrap();
    assert_eq!(caps.transport, Transport::Stream, "mail-devel offers IDLE");
    assert!(caps.listen_dm && caps.reply_public.is_none() && caps.reply_private.is_some());

    let start = email.poll(None).await.unwrap();
    assert!(start.items.is_empty());
    let cursor0 = start.cursor.expect("a first cursor");

    let id1 = unique("m1", "customer.example");
    let body = "The parcel never came.\n\nOn Mon, 30 Nov 2026 at 09:00, Brand Support <x@example.org> wrote:\n> We shipped it.";
    let raw = customer_mail(&ada, &brand, &id1, "Re: Order 1234", body).replace(
        "Subject:",
        "In-Reply-To: <brand-0@example.org>\nReferences: <root@customer.example> <brand-0@example.org>\nSubject:",
    );
    deliver(&server, &ada, &brand, &raw).await;

    let page = email.poll(Some(&cursor0)).await.unwrap();
    assert_eq!(ids(&page), vec![id1.clone()], "skipped: {:?}", page.skipped);
    assert!(!page.more);
    let item = &page.items[0];
    let m = &item.mention;
    assert_eq!(m.source, SourceKind::Email);
    assert_eq!(m.author.handle, ada);
    assert_eq!(m.author.display_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(m.text, "Re: Order 1234\n\nThe parcel never came.");
    assert_eq!(m.thread_id.as_deref(), Some("root@customer.example"));
    assert_eq!(m.parent_id.as_deref(), Some("brand-0@example.org"));
    assert!(!item.by_brand);
    assert_eq!(item.reply_ref["message_id"], json!(id1));
    assert_eq!(item.reply_ref["from"], json!(ada));
    let cursor1 = page.cursor.expect("the cursor moves past the mail");
    assert_eq!(cursor1.0["uidvalidity"], cursor0.0["uidvalidity"]);
    assert!(cursor1.0["uid"].as_u64() > cursor0.0["uid"].as_u64());

    // Fetched with BODY.PEEK[]: still unread for the people on the mailbox.
    let mut imap = imap_as(&server, &brand).await;
    let mail = all_mail(&mut imap, "INBOX").await;
    assert_eq!(mail.len(), 1);
    assert!(
        !mail[0].1.iter().any(|f| f.contains("Seen")),
        "{:?}",
        mail[0].1
    );

    // Nothing new: no items, the cursor stays.
    let again = email.poll(Some(&cursor1)).await.unwrap();
    assert!(again.items.is_empty() && again.cursor.is_none());

    // A restart: a new instance from the saved cursor sees no duplicate,
    // then exactly the next mail.
    let restarted = connector(&server, &brand, "INBOX");
    let page = restarted.poll(Some(&cursor1)).await.unwrap();
    assert!(page.items.is_empty(), "{:?}", ids(&page));
    let id2 = unique("m2", "customer.example");
    deliver(
        &server,
        &ada,
        &brand,
        &customer_mail(&ada, &brand, &id2, "Still waiting", "Any news?"),
    )
    .await;
    let page = restarted.poll(Some(&cursor1)).await.unwrap();
    assert_eq!(ids(&page), vec![id2.clone()]);
    assert_eq!(
        page.items[0].mention.thread_id.as_deref(),
        Some(id2.as_str())
    );
}

#[tokio::test]
async fn a_changed_uidvalidity_rescans_the_rebuilt_mailbox() {
    let Some(server) = mail_server() else { return };
    let brand = unique("brand", "example.org");
    let mut imap = imap_as(&server, &brand).await;
    imap.create("Support").await.unwrap();
    let mail = |id: &str| customer_mail("ada@customer.example", &brand, id, "Hello", id);
    append(&mut imap, "Support", &mail("a@c.example")).await;
    let email = connector(&server, &brand, "Support");
    let cursor0 = email.poll(None).await.unwrap().cursor.unwrap();
    append(&mut imap, "Support", &mail("b@c.example")).await;
    let page = email.poll(Some(&cursor0)).await.unwrap();
    assert_eq!(ids(&page), vec!["b@c.example"]);
    let cursor1 = page.cursor.unwrap();

    // The mailbox is rebuilt (a restore, a migration): new UIDVALIDITY.
    imap.select("INBOX").await.unwrap();
    imap.delete("Support").await.unwrap();
    imap.create("Support").await.unwrap();
    for id in ["a@c.example", "b@c.example", "c@c.example"] {
        append(&mut imap, "Support", &mail(id)).await;
    }
    let rebuilt = imap.select("Support").await.unwrap();
    assert_ne!(
        Some(cursor1.0["uidvalidity"].as_u64().unwrap() as u32),
        rebuilt.uid_validity
    );

    // Everything since the last mail read is read again (the store keeps
    // one mention per Message-ID), and nothing new is lost.
    let page = email.poll(Some(&cursor1)).await.unwrap();
    assert_eq!(
        ids(&page),
        vec!["a@c.example", "b@c.example", "c@c.example"]
    );
    let cursor2 = page.cursor.unwrap();
    assert_eq!(
        cursor2.0["uidvalidity"].as_u64().map(|v| v as u32),
        rebuilt.uid_validity
    );
    let page = email.poll(Some(&cursor2)).await.unwrap();
    assert!(page.items.is_empty());
}

#[tokio::test]
async fn our_reply_arrives_once_threaded_under_the_customers_mail() {
    let Some(server) = mail_server() else { return };
    let brand = unique("brand", "example.org");
    let ada = unique("ada", "customer.example");
    let email = connector(&server, &brand, "INBOX");
    let cursor0 = email.poll(None).await.unwrap().cursor.unwrap();
    let id = unique("q", "customer.example");
    let raw = customer_mail(&ada, &brand, &id, "Re: Order 1234", "Where is it?")
        .replace("Subject:", "References: <root@customer.example>\nSubject:");
    deliver(&server, &ada, &brand, &raw).await;
    let page = email.poll(Some(&cursor0)).await.unwrap();
    let item = page.items.into_iter().next().expect("the customer's mail");

    let key = email.new_idempotency_key();
    let out = Outbound {
        idempotency_key: key.clone(),
        visibility: Visibility::Private,
        body: "Sorry, Ada: we are resending it today. Grüße!".into(),
        recipient: item.mention.author.handle.clone(),
        reply_ref: item.reply_ref.clone(),
        last_inbound_at: Some(item.mention.created_at),
    };
    let sent = email.send(&out).await.unwrap();
    let our_id = key
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string();
    assert_eq!(sent.remote_id, our_id);
    assert_eq!(email.reconcile(&out).await.unwrap(), None);

    let mut imap = imap_as(&server, &ada).await;
    let mail = all_mail(&mut imap, "INBOX").await;
    assert_eq!(mail.len(), 1, "delivered exactly once");
    let reply = mail_parser::MessageParser::default()
        .parse(&mail[0].0)
        .unwrap();
    assert_eq!(reply.message_id(), Some(our_id.as_str()));
    assert_eq!(
        reply.in_reply_to().as_text(),
        Some(id.as_str()),
        "In-Reply-To is the customer's Message-ID"
    );
    let references: Vec<String> = reply
        .references()
        .as_text_list()
        .map(|l| l.iter().map(|r| r.to_string()).collect())
        .or_else(|| reply.references().as_text().map(|r| vec![r.to_string()]))
        .unwrap();
    assert_eq!(
        references,
        vec!["root@customer.example".to_string(), id.clone()]
    );
    assert_eq!(reply.subject(), Some("Re: Order 1234"));
    let from = reply.from().unwrap().first().unwrap();
    assert_eq!(from.address(), Some(brand.as_str()));
    assert_eq!(from.name(), Some("Brand Support"));
    assert_eq!(
        reply.to().unwrap().first().unwrap().address(),
        Some(ada.as_str())
    );
    assert_eq!(
        reply.body_text(0).unwrap().trim_end(),
        "Sorry, Ada: we are resending it today. Grüße!"
    );

    let public = Outbound {
        visibility: Visibility::Public,
        ..out
    };
    assert!(matches!(
        email.send(&public).await,
        Err(ConnError::Unsupported(_))
    ));
}

#[tokio::test]
async fn mail_from_our_own_address_is_by_brand() {
    let Some(server) = mail_server() else { return };
    let brand = unique("brand", "example.org");
    let email = connector(&server, &brand, "INBOX");
    let cursor0 = email.poll(None).await.unwrap().cursor.unwrap();
    let raw = format!(
        "Message-ID: <own@example.org>\nFrom: Brand Support <{}>\nTo: {brand}\nSubject: Re: x\n\nAnswered from another client.\n",
        brand.to_uppercase()
    );
    deliver(&server, &brand, &brand, &raw).await;
    let page = email.poll(Some(&cursor0)).await.unwrap();
    assert_eq!(ids(&page), vec!["own@example.org"]);
    assert!(page.items[0].by_brand);
}

#[tokio::test]
async fn an_auto_reply_is_skipped_with_why_and_the_next_mail_is_read() {
    let Some(server) = mail_server() else { return };
    let brand = unique("brand", "example.org");
    let ada = unique("ada", "customer.example");
    let email = connector(&server, &brand, "INBOX");
    let cursor0 = email.poll(None).await.unwrap().cursor.unwrap();
    let auto = customer_mail(
        &ada,
        &brand,
        "ooo@c.example",
        "Out of office",
        "Back Monday.",
    )
    .replace("Subject:", "Auto-Submitted: auto-replied\nSubject:");
    deliver(&server, &ada, &brand, &auto).await;
    let real = customer_mail(&ada, &brand, "real@c.example", "Broken", "It broke.");
    deliver(&server, &ada, &brand, &real).await;
    let page = email.poll(Some(&cursor0)).await.unwrap();
    assert_eq!(ids(&page), vec!["real@c.example"]);
    assert_eq!(page.skipped.len(), 1, "{:?}", page.skipped);
    assert!(page.skipped[0].contains("Auto-Submitted: auto-replied"));
    let after = email.poll(page.cursor.as_ref()).await.unwrap();
    assert!(after.items.is_empty() && after.skipped.is_empty());
}

#[tokio::test]
async fn a_malformed_message_between_two_good_ones_loses_neither() {
    let Some(server) = mail_server() else { return };
    let brand = unique("brand", "example.org");
    let mut imap = imap_as(&server, &brand).await;
    imap.create("Intake").await.unwrap();
    let email = connector(&server, &brand, "Intake");
    let cursor0 = email.poll(None).await.unwrap().cursor.unwrap();
    let good = |id: &str| customer_mail("ada@customer.example", &brand, id, "Hi", "Words.");
    append(&mut imap, "Intake", &good("one@c.example")).await;
    append(&mut imap, "Intake", "no headers, no sender, just bytes\n").await;
    append(&mut imap, "Intake", &good("two@c.example")).await;
    let page = email.poll(Some(&cursor0)).await.unwrap();
    assert_eq!(ids(&page), vec!["one@c.example", "two@c.example"]);
    assert_eq!(page.skipped.len(), 1, "{:?}", page.skipped);
    assert!(page.skipped[0].contains("malformed"), "{:?}", page.skipped);
    let after = email.poll(page.cursor.as_ref()).await.unwrap();
    assert!(after.items.is_empty() && after.skipped.is_empty());
}

#[tokio::test]
async fn a_full_batch_says_more_is_waiting() {
    let Some(server) = mail_server() else { return };
    let brand = unique("brand", "example.org");
    let mut imap = imap_as(&server, &brand).await;
    imap.create("Bulk").await.unwrap();
    let email = connector(&server, &brand, "Bulk");
    let cursor0 = email.poll(None).await.unwrap().cursor.unwrap();
    for n in 0..53 {
        let raw = customer_mail(
            "ada@customer.example",
            &brand,
            &format!("{n}@c.example"),
            "Hi",
            "x",
        );
        append(&mut imap, "Bulk", &raw).await;
    }
    let first = email.poll(Some(&cursor0)).await.unwrap();
    assert_eq!(first.items.len(), 50);
    assert!(first.more);
    let second = email.poll(first.cursor.as_ref()).await.unwrap();
    assert_eq!(
        ids(&second),
        vec!["50@c.example", "51@c.example", "52@c.example"]
    );
    assert!(!second.more);
}

/// The stream's next event, within 10 s.
async fn next(stream: &mut earshot_connectors::EventStream) -> StreamEvent {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event within 10 s")
        .expect("the stream is open")
        .unwrap()
}

#[tokio::test]
async fn idle_wakes_on_new_mail() {
    let Some(server) = mail_server() else { return };
    let brand = unique("brand", "example.org");
    let ada = unique("ada", "customer.example");
    let email = connector(&server, &brand, "INBOX");
    email.start().await.unwrap();
    let cursor0 = email.poll(None).await.unwrap().cursor.unwrap();
    // Mail that lands between the poll and the stream is not lost.
    deliver(
        &server,
        &ada,
        &brand,
        &customer_mail(&ada, &brand, "gap@c.example", "Hi", "In the gap."),
    )
    .await;
    let mut stream = email.stream(Some(&cursor0)).await.unwrap();
    let StreamEvent::Item(gap) = next(&mut stream).await else {
        panic!("an item first")
    };
    assert_eq!(gap.mention.external_id, "gap@c.example");
    let StreamEvent::Checkpoint(Cursor(c1)) = next(&mut stream).await else {
        panic!("a checkpoint after the batch")
    };

    // New mail landing while the stream sits in IDLE wakes it. It is
    // added by another IMAP client: mail-devel delivers SMTP mail from its
    // own thread, which does not wake IDLE sessions (those are read at the
    // next IDLE renewal or poll).
    let mut other_client = imap_as(&server, &brand).await;
    let delivered_at = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let raw = customer_mail(&ada, &brand, "live@c.example", "Hi", "Live.");
        append(&mut other_client, "INBOX", &raw).await;
        Instant::now()
    };
    let (event, sent_at) = tokio::join!(next(&mut stream), delivered_at);
    let StreamEvent::Item(live) = event else {
        panic!("an item")
    };
    let waited = sent_at.elapsed();
    assert_eq!(live.mention.external_id, "live@c.example");
    assert!(waited < Duration::from_secs(5), "woke after {waited:?}");
    eprintln!("IDLE woke {waited:?} after delivery");
    let StreamEvent::Checkpoint(Cursor(c2)) = next(&mut stream).await else {
        panic!("a checkpoint")
    };
    assert!(c2["uid"].as_u64() > c1["uid"].as_u64());
}

/// A TCP relay to the IMAP port whose connections can be cut, the way a
/// network drop or a server restart ends them.
async fn cuttable_relay(server: &MailServer) -> (u16, Arc<tokio::sync::Notify>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let cut = Arc::new(tokio::sync::Notify::new());
    let (upstream, cut_all) = (server.imap.clone(), cut.clone());
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let (upstream, cut) = (upstream.clone(), cut_all.clone());
            tokio::spawn(async move {
                let mut plain = TcpStream::connect((upstream.0.as_str(), upstream.1))
                    .await
                    .unwrap();
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut tcp, &mut plain) => {}
                    _ = cut.notified() => {}
                }
            });
        }
    });
    (port, cut)
}

#[tokio::test]
async fn a_dropped_connection_ends_the_stream_with_an_error() {
    let Some(server) = mail_server() else { return };
    let brand = unique("brand", "example.org");
    let (port, cut) = cuttable_relay(&server).await;
    let mut config = config(&server, &brand, "INBOX");
    config["imap_port"] = json!(port);
    let email = build(SourceKind::Email, &settings(config)).unwrap();
    let cursor = email.poll(None).await.unwrap().cursor.unwrap();
    let mut stream = email.stream(Some(&cursor)).await.unwrap();
    let cut_soon = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cut.notify_waiters();
    };
    let (event, ()) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(10), stream.next()),
        cut_soon
    );
    match event.expect("the drop is noticed within 10 s") {
        Some(Err(ConnError::Transient(why))) => assert!(why.contains("IMAP"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(stream.next().await.is_none(), "the stream has ended");
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error() {
    let Some(server) = mail_server() else { return };
    let brand = unique("brand", "example.org");
    let mut config = config(&server, &brand, "INBOX");
    config["password"] = json!("not-the-password");
    let email = build(SourceKind::Email, &settings(config)).unwrap();
    assert!(matches!(email.start().await, Err(ConnError::Auth(_))));
}

#[tokio::test]
async fn a_missing_mailbox_is_a_permanent_error_naming_it() {
    let Some(server) = mail_server() else { return };
    let brand = unique("brand", "example.org");
    let email = connector(&server, &brand, "No Such Folder");
    match email.start().await {
        Err(ConnError::Permanent(why)) => assert!(why.contains("No Such Folder"), "{why}"),
        other => panic!("{other:?}"),
    }
}

/// The server's TLS side: SMTPS, and the certificate for 127.0.0.1 (signed
/// by a private CA) that its SMTP STARTTLS and SMTPS present.
struct TlsServer {
    smtps: (String, u16),
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn tls_server() -> Option<TlsServer> {
    let vars = [
        "EARSHOT_TEST_SMTPS",
        "EARSHOT_TEST_MAIL_CA",
        "EARSHOT_TEST_MAIL_CERT",
        "EARSHOT_TEST_MAIL_KEY",
    ];
    match vars.map(|v| std::env::var(v).ok()) {
        [Some(smtps), Some(ca), Some(cert), Some(key)] => Some(TlsServer {
            smtps: host_port("EARSHOT_TEST_SMTPS", &smtps),
            ca_pem: std::fs::read_to_string(&ca).unwrap(),
            cert_pem: std::fs::read_to_string(&cert).unwrap(),
            key_pem: std::fs::read_to_string(&key).unwrap(),
        }),
        _ if std::env::var_os("CI").is_some() => panic!(
            "{vars:?} are not set: start the test mail server with \
             `eval \"$(scripts/mail-server.sh start)\"`"
        ),
        _ => {
            eprintln!(
                "skipped: no TLS test mail server (`eval \"$(scripts/mail-server.sh start)\"`)"
            );
            None
        }
    }
}

/// An implicit-TLS front (IMAPS) for the plain IMAP port, presenting the
/// test certificate: mail-devel's IMAP has no TLS of its own.
async fn imaps_front(server: &MailServer, tls: &TlsServer) -> u16 {
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(tls.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes()).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = server.imap.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut plain = TcpStream::connect((upstream.0.as_str(), upstream.1))
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

/// Sends one reply to `ada` through `email`, then checks it arrived once.
async fn reply_arrives(
    server: &MailServer,
    email: &dyn Connector,
    ada: &str,
) -> Result<(), ConnError> {
    let out = Outbound {
        idempotency_key: email.new_idempotency_key(),
        visibility: Visibility::Private,
        body: "Answered over TLS.".into(),
        recipient: ada.to_string(),
        reply_ref: json!({"message_id": "t@customer.example", "subject": "TLS", "from": ada}),
        last_inbound_at: None,
    };
    email.send(&out).await?;
    let mut imap = imap_as(server, ada).await;
    let mail = all_mail(&mut imap, "INBOX").await;
    assert_eq!(mail.len(), 1);
    let id = out.idempotency_key.trim_matches(['<', '>']);
    assert!(String::from_utf8_lossy(&mail[0].0).contains(id));
    Ok(())
}

#[tokio::test]
async fn implicit_tls_is_verified_and_works_with_a_private_ca() {
    let Some(server) = mail_server() else { return };
    let Some(tls) = tls_server() else { return };
    let brand = unique("brand", "example.org");
    let ada = unique("ada", "customer.example");
    let mut config = config(&server, &brand, "INBOX");
    config["tls"] = json!("tls");
    config["imap_port"] = json!(imaps_front(&server, &tls).await);
    config["smtp_port"] = json!(tls.smtps.1);

    // The Mozilla roots alone do not trust a private CA.
    let untrusted = build(SourceKind::Email, &settings(config.clone())).unwrap();
    match untrusted.start().await {
        Err(ConnError::Transient(why)) => assert!(why.contains("certificate"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(
        reply_arrives(&server, untrusted.as_ref(), &ada)
            .await
            .is_err()
    );

    config["ca_certificate"] = json!(tls.ca_pem);
    let email = build(SourceKind::Email, &settings(config)).unwrap();
    email.start().await.unwrap();
    let cursor = email.poll(None).await.unwrap().cursor.unwrap();
    let raw = customer_mail(
        &ada,
        &brand,
        "tls@c.example",
        "Over TLS",
        "Read over IMAPS.",
    );
    deliver(&server, &ada, &brand, &raw).await;
    let page = email.poll(Some(&cursor)).await.unwrap();
    assert_eq!(ids(&page), vec!["tls@c.example"]);
    reply_arrives(&server, email.as_ref(), &ada).await.unwrap();
}

#[tokio::test]
async fn smtp_starttls_is_verified_and_works_with_a_private_ca() {
    let Some(server) = mail_server() else { return };
    let Some(tls) = tls_server() else { return };
    let brand = unique("brand", "example.org");
    let ada = unique("ada", "customer.example");
    let mut config = config(&server, &brand, "INBOX");
    config["tls"] = json!("starttls");
    let untrusted = build(SourceKind::Email, &settings(config.clone())).unwrap();
    match reply_arrives(&server, untrusted.as_ref(), &ada).await {
        Err(ConnError::Transient(why)) => assert!(why.contains("certificate"), "{why}"),
        other => panic!("{other:?}"),
    }
    config["ca_certificate"] = json!(tls.ca_pem);
    let email = build(SourceKind::Email, &settings(config)).unwrap();
    reply_arrives(&server, email.as_ref(), &ada).await.unwrap();
}

fn valid_config() -> Value {
    json!({
        "imap_host": "imap.brand.example",
        "smtp_host": "smtp.brand.example",
        "tls": "starttls",
        "username": "support@brand.example",
        "address": "support@brand.example",
        "password": "hunter2",
    })
}

fn config_error(change: impl FnOnce(&mut Value)) -> String {
    let mut config = valid_config();
    change(&mut config);
    match build(SourceKind::Email, &settings(config)) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn config_errors_name_the_field() {
    assert!(build(SourceKind::Email, &settings(valid_config())).is_ok());
    let e = config_error(|c| drop(c.as_object_mut().unwrap().remove("imap_host")));
    assert!(e.contains("imap_host"), "{e}");
    let e = config_error(|c| c["smtp_host"] = json!("smtps://smtp.brand.example"));
    assert!(e.contains("config.smtp_host"), "{e}");
    let e = config_error(|c| c["address"] = json!("support at brand"));
    assert!(e.contains("config.address"), "{e}");
    let e = config_error(|c| c["tls"] = json!("ssl"));
    assert!(e.contains("config.tls"), "{e}");
    let e = config_error(|c| c["imap_port"] = json!(0));
    assert!(e.contains("config.imap_port"), "{e}");
    let e = config_error(|c| c["imap_port"] = json!(70000));
    assert!(e.contains("config.imap_port"), "{e}");
    let e = config_error(|c| c["mailbox"] = json!(""));
    assert!(e.contains("config.mailbox"), "{e}");
    let e = config_error(|c| c["password"] = json!(""));
    assert!(e.contains("config.password"), "{e}");
    let e = config_error(|c| c["ca_certificate"] = json!("not a certificate"));
    assert!(e.contains("config.ca_certificate"), "{e}");
    let e = config_error(|c| c["idle_seconds"] = json!(5));
    assert!(e.contains("idle_seconds"), "{e}");
    // The password is a credential: split off, never echoed in an error.
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn tls_none_is_refused_for_a_host_off_this_machine() {
    let e = config_error(|c| c["tls"] = json!("none"));
    assert!(e.contains("config.tls"), "{e}");
    assert!(e.contains("loopback"), "{e}");
    assert!(e.contains("imap.brand.example"), "{e}");
    // On loopback it is allowed.
    let mut local = valid_config();
    local["tls"] = json!("none");
    local["imap_host"] = json!("127.0.0.1");
    local["smtp_host"] = json!("localhost");
    assert!(build(SourceKind::Email, &settings(local.clone())).is_ok());
    local["smtp_host"] = json!("10.0.0.5");
    let e = match build(SourceKind::Email, &settings(local)) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("config.tls") && e.contains("10.0.0.5"), "{e}");
}
