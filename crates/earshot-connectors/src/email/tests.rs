#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The pure parts of the email connector, on the hand-written messages in
//! tests/fixtures/email/ (see its README for the RFCs they follow).

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use super::message::{
    ReplyRef, Skip, normalise_message_id, read_message, reply_subject, reply_threading, trim_quoted,
};
use super::{Email, MailCursor};
use crate::{Connector, Cursor, InboundKind, SourceSettings};

const BRAND: &str = "support@brand.example";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/email/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 13, 0, 0).unwrap()
}

fn read(name: &str) -> Result<crate::Inbound, Skip> {
    read_message(&fixture(name), None, BRAND, now())
}

#[test]
fn a_reply_is_threaded_by_its_references_and_keeps_only_the_new_words() {
    let item = read("reply_with_quote.eml").unwrap();
    let m = &item.mention;
    assert_eq!(m.external_id, "cust-2@customer.example");
    assert_eq!(m.thread_id.as_deref(), Some("cust-1@customer.example"));
    assert_eq!(m.parent_id.as_deref(), Some("brand-1@brand.example"));
    assert_eq!(m.author.handle, "ada@customer.example");
    assert_eq!(m.author.display_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(
        m.text,
        "Re: Order 1234 never arrived\n\n\
         Still nothing, and the tracking page says \"returned to sender\".\n\
         Can you resend it to my new address?\n\nThanks."
    );
    assert_eq!(
        m.created_at,
        Utc.with_ymd_and_hms(2026, 12, 1, 10, 30, 0).unwrap()
    );
    assert_eq!(item.kind, InboundKind::Direct);
    assert!(!item.by_brand);
    assert_eq!(
        item.reply_ref,
        json!({
            "message_id": "cust-2@customer.example",
            "references": ["cust-1@customer.example", "brand-1@brand.example"],
            "subject": "Re: Order 1234 never arrived",
            "from": "ada@customer.example",
        })
    );
    // What the store will check later passes now.
    item.mention.clone().validate(now()).unwrap();
}

#[test]
fn first_contact_is_its_own_thread_and_auto_submitted_no_is_a_person() {
    let item = read("first_contact.eml").unwrap();
    let m = &item.mention;
    // A folded Message-ID header is read whole.
    assert_eq!(m.external_id, "first@customer.example");
    assert_eq!(m.thread_id.as_deref(), Some("first@customer.example"));
    assert_eq!(m.parent_id, None);
    assert_eq!(
        m.text,
        "Cannot log in\n\nSince this morning the app says my password is wrong."
    );
}

#[test]
fn html_only_mail_is_read_as_text_without_its_quoted_block() {
    let item = read("html_only.eml").unwrap();
    let text = &item.mention.text;
    assert!(text.starts_with("Re: Refund\n\n"), "{text}");
    assert!(text.contains("The refund has not arrived yet."), "{text}");
    assert!(!text.contains("on its way"), "{text}");
    assert!(!text.contains('<'), "{text}");
    assert_eq!(
        item.mention.parent_id.as_deref(),
        Some("brand-9@brand.example")
    );
    assert_eq!(
        item.mention.thread_id.as_deref(),
        Some("brand-9@brand.example")
    );
}

#[test]
fn mail_without_a_message_id_gets_a_stable_content_hash() {
    let a = read("no_message_id.eml").unwrap();
    let b = read("no_message_id.eml").unwrap();
    assert_eq!(a.mention.external_id, b.mention.external_id);
    assert!(
        a.mention
            .external_id
            .ends_with("@content-hash.earshot.invalid")
    );
    let mut other = fixture("no_message_id.eml");
    other.extend_from_slice(b"And the checksum is wrong.\n");
    let c = read_message(&other, None, BRAND, now()).unwrap();
    assert_ne!(a.mention.external_id, c.mention.external_id);
    assert_eq!(a.mention.thread_id, Some(a.mention.external_id.clone()));
}

#[test]
fn a_date_in_the_future_is_clamped_and_a_missing_one_is_the_arrival_time() {
    let item = read("future_date.eml").unwrap();
    assert_eq!(item.mention.created_at, now());
    let received = Utc.with_ymd_and_hms(2026, 12, 1, 12, 59, 0).unwrap();
    let undated = b"From: a@customer.example\nSubject: hi\n\nno date here\n";
    let item = read_message(undated, Some(received), BRAND, now()).unwrap();
    assert_eq!(item.mention.created_at, received);
    let ancient = b"From: a@customer.example\nDate: Mon, 1 Jan 1900 00:00:00 +0000\n\nold clock\n";
    let item = read_message(ancient, Some(received), BRAND, now()).unwrap();
    assert_eq!(item.mention.created_at, received);
    item.mention.validate(now()).unwrap();
}

#[test]
fn automatic_mail_is_skipped_with_why() {
    for (name, why) in [
        ("auto_reply.eml", "Auto-Submitted: auto-replied"),
        ("list_bulk.eml", "Precedence: bulk"),
        ("bounce.eml", "mailer-daemon"),
    ] {
        match read(name) {
            Err(Skip::Automatic(reason)) => {
                assert!(reason.contains(why), "{name}: {reason}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn mail_through_a_group_address_is_still_the_customers() {
    let raw = b"Message-ID: <g@customer.example>\nFrom: ada@customer.example\n\
                To: support@brand.example\nPrecedence: list\nList-Id: <support.brand.example>\n\
                Subject: refund\n\nMy refund never came.\n";
    let item = read_message(raw, None, BRAND, now()).unwrap();
    assert!(!item.by_brand);
    assert!(item.mention.text.contains("refund never came"));
}

#[test]
fn mail_from_our_own_address_is_the_brands() {
    let raw = b"Message-ID: <b@brand.example>\nFrom: Support <Support@Brand.Example>\n\
                To: ada@customer.example\nSubject: Re: x\n\nWe are on it.\n";
    let item = read_message(raw, None, BRAND, now()).unwrap();
    assert!(item.by_brand);
}

#[test]
fn unreadable_mail_is_malformed() {
    for raw in [
        &b""[..],
        b"this is not a message at all",
        b"Subject: no sender\n\nhello\n",
        b"From: a@customer.example\n\n   \n",
    ] {
        assert!(
            matches!(
                read_message(raw, None, BRAND, now()),
                Err(Skip::Malformed(_))
            ),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn nul_characters_never_reach_a_mention() {
    let raw = b"From: \"Ada\0\" <a@customer.example>\nSubject: hi\n\nbroken\0 bytes\n";
    let item = read_message(raw, None, BRAND, now()).unwrap();
    assert!(!item.mention.text.contains('\0'));
    item.mention.validate(now()).unwrap();
}

#[test]
fn a_long_mail_is_cut_to_what_a_mention_holds() {
    let raw = format!(
        "From: a@customer.example\nSubject: long\n\n{}\n",
        "é".repeat(30_000)
    );
    let item = read_message(raw.as_bytes(), None, BRAND, now()).unwrap();
    assert!(item.mention.text.len() <= earshot_core::mention::MAX_TEXT_BYTES);
    item.mention.validate(now()).unwrap();
}

#[test]
fn quotes_attributions_and_dividers_are_trimmed() {
    // A wrapped attribution line, as Gmail writes long ones.
    let wrapped = "Please call me.\n\nOn Tue, 1 Dec 2026 at 10:00, Brand Support <\nsupport@brand.example> wrote:\n> old";
    assert_eq!(trim_quoted(wrapped), "Please call me.");
    let german = "Bitte um Rückruf.\nAm 01.12.2026 um 10:00 schrieb Support:\n> alt";
    assert_eq!(trim_quoted(german), "Bitte um Rückruf.");
    let outlook = "Top-posted answer.\n-----Original Message-----\nFrom: Support\nold text";
    assert_eq!(trim_quoted(outlook), "Top-posted answer.");
    let interleaved = "> question one\nanswer one\n> question two\nanswer two";
    assert_eq!(trim_quoted(interleaved), "answer one\nanswer two");
    // Sentences that merely start with "On" are kept.
    assert_eq!(
        trim_quoted("On Monday it broke.\nIt still is."),
        "On Monday it broke.\nIt still is."
    );
    assert_eq!(
        trim_quoted("On Monday I wrote to you twice:\n- no answer"),
        "On Monday I wrote to you twice:\n- no answer"
    );
    // Nothing but a quote: keep it rather than lose the message.
    assert_eq!(trim_quoted("> only a quote"), "> only a quote");
}

#[test]
fn message_ids_are_normalised() {
    assert_eq!(
        normalise_message_id(" <abc@x.example> ").as_deref(),
        Some("abc@x.example")
    );
    assert_eq!(
        normalise_message_id("<abc@\r\n x.example>").as_deref(),
        Some("abc@x.example")
    );
    assert_eq!(
        normalise_message_id("abc@x.example").as_deref(),
        Some("abc@x.example")
    );
    assert_eq!(normalise_message_id("<>"), None);
    assert_eq!(normalise_message_id(""), None);
    assert_eq!(
        normalise_message_id(&format!("<{}@x>", "a".repeat(300))),
        None
    );
}

#[test]
fn a_reply_references_the_parents_references_then_the_parent() {
    let parent = ReplyRef {
        message_id: "cust-2@customer.example".into(),
        references: vec![
            "cust-1@customer.example".into(),
            "brand-1@brand.example".into(),
        ],
        subject: "Re: Order".into(),
        from: "ada@customer.example".into(),
    };
    assert_eq!(
        reply_threading(&parent),
        Some((
            "<cust-2@customer.example>".to_string(),
            "<cust-1@customer.example> <brand-1@brand.example> <cust-2@customer.example>"
                .to_string()
        ))
    );
    let first = ReplyRef {
        message_id: "<first@customer.example>".into(),
        ..ReplyRef::default()
    };
    assert_eq!(
        reply_threading(&first),
        Some((
            "<first@customer.example>".to_string(),
            "<first@customer.example>".to_string()
        ))
    );
    assert_eq!(reply_threading(&ReplyRef::default()), None);
}

#[test]
fn a_reply_subject_gets_one_re() {
    assert_eq!(reply_subject("Order 1234"), "Re: Order 1234");
    assert_eq!(reply_subject("Re: Order 1234"), "Re: Order 1234");
    assert_eq!(reply_subject("RE: Order 1234"), "RE: Order 1234");
    assert_eq!(reply_subject("  "), "Re: your message");
    assert_eq!(reply_subject("Order\r\nBcc: x@y"), "Re: Order  Bcc: x@y");
}

fn settings(config: serde_json::Value) -> SourceSettings {
    crate::split_settings(earshot_core::source::SourceKind::Email, config).unwrap()
}

fn valid() -> serde_json::Value {
    json!({
        "imap_host": "imap.brand.example",
        "smtp_host": "smtp.brand.example",
        "username": "support@brand.example",
        "address": "support@brand.example",
        "password": "hunter2",
    })
}

#[test]
fn the_idempotency_key_is_a_message_id_in_our_domain() {
    let email = Email::from_settings(&settings(valid())).unwrap();
    let key = email.new_idempotency_key();
    assert!(
        key.starts_with('<') && key.ends_with("@brand.example>"),
        "{key}"
    );
    let uuid = key.trim_start_matches('<').split('@').next().unwrap();
    assert_eq!(uuid::Uuid::parse_str(uuid).unwrap().get_version_num(), 7);
    assert_ne!(key, email.new_idempotency_key());
}

#[test]
fn the_password_never_shows_in_debug_output() {
    let config = super::config::Config::from_settings(&settings(valid())).unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("redacted"), "{shown}");
}

#[test]
fn a_cursor_reads_back_and_a_foreign_one_is_refused() {
    let c = MailCursor {
        uidvalidity: 7,
        uid: 42,
        since: None,
    };
    let cursor = c.to_cursor();
    assert_eq!(cursor.0, json!({"uidvalidity": 7, "uid": 42}));
    assert_eq!(MailCursor::read(Some(&cursor)).unwrap(), Some(c));
    assert_eq!(MailCursor::read(None).unwrap(), None);
    let foreign = Cursor(json!({"min_id": "1"}));
    assert!(MailCursor::read(Some(&foreign)).is_err());
}
