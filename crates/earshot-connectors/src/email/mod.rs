//! A mailbox: the private channel of last resort and an intake for
//! voice-of-customer mail. Mail to the brand is read over IMAP (IDLE for
//! push, `UID FETCH` to catch up); replies go out over SMTP, threaded with
//! `In-Reply-To`/`References` so they land in the customer's conversation.

pub mod config;
mod imap;
pub mod message;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_trait::async_trait;
use chrono::{NaiveDate, TimeDelta, Utc};
use earshot_core::reply::Visibility;
use earshot_core::source::SourceKind;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::capabilities::{
    Capabilities, Idempotency, LengthLimit, PrivateGate, RateBudget, Transport, Unit,
};
use crate::error::{ConnError, ConnResult};
use crate::{
    Connector, Cursor, EventStream, Inbound, Outbound, Page, Sent, SourceSettings, StreamEvent,
};
use config::{Config, TlsMode};
use imap::{BATCH, Selected, Session};
use message::{ReplyRef, normalise_message_id, read_message, reply_subject, reply_threading};

/// The longest reply body, in characters: mail has no real limit, this only
/// keeps an accidental paste from going out.
pub const REPLY_LIMIT: LengthLimit = LengthLimit::new(100_000, Unit::Chars);
/// Without IDLE the mailbox is asked this often.
pub const POLL_INTERVAL: Duration = Duration::from_secs(60);
/// IDLE is ended and the mailbox read again this often even when the
/// server reported nothing. RFC 2177 §3 lets servers drop an IDLE after 30
/// minutes, but the shorter bound is for mail that lands between the read
/// before an IDLE and the IDLE itself: some servers (the test suite's
/// mail-devel among them) never report it, and a customer's email must not
/// wait half an hour for the next renewal. One NOOP and one UID SEARCH per
/// 20 seconds is nothing for a mail server.
pub const IDLE_RENEW: Duration = Duration::from_secs(20);
/// How long one SMTP exchange may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a mailbox has been read up to: the last UID handed over, valid
/// only with its UIDVALIDITY (RFC 9051 §2.3.1.1). `since` is the day of the
/// newest mail read, which bounds the rescan when UIDVALIDITY changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailCursor {
    pub uidvalidity: u32,
    pub uid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<NaiveDate>,
}

impl MailCursor {
    fn to_cursor(self) -> Cursor {
        Cursor(serde_json::to_value(self).unwrap_or_default())
    }

    fn read(cursor: Option<&Cursor>) -> ConnResult<Option<MailCursor>> {
        cursor
            .filter(|c| !c.0.is_null())
            .map(|c| {
                serde_json::from_value(c.0.clone()).map_err(|e| {
                    ConnError::Permanent(format!(
                        "cursor is not {{\"uidvalidity\": n, \"uid\": n}}: {e}"
                    ))
                })
            })
            .transpose()
    }
}

/// One batch of new mail read from a selected mailbox.
struct Batch {
    items: Vec<Inbound>,
    skipped: Vec<String>,
    cursor: MailCursor,
    /// The batch was full: more is waiting.
    more: bool,
    /// Any UID was read (so the cursor moved).
    moved: bool,
}

pub struct Email {
    config: Arc<Config>,
    caps: Mutex<Capabilities>,
}

impl Email {
    pub fn from_settings(settings: &SourceSettings) -> earshot_core::error::Result<Self> {
        let config = Config::from_settings(settings)?;
        let transport = if config.idle {
            Transport::Stream
        } else {
            Transport::Poll {
                interval: POLL_INTERVAL,
            }
        };
        Ok(Email {
            config: Arc::new(config),
            caps: Mutex::new(capabilities(transport)),
        })
    }

    fn set_transport(&self, transport: Transport) -> Capabilities {
        let mut caps = self.caps.lock().unwrap_or_else(|p| p.into_inner());
        caps.transport = transport;
        caps.clone()
    }

    fn smtp(&self) -> ConnResult<AsyncSmtpTransport<Tokio1Executor>> {
        let c = &self.config;
        let params = || -> ConnResult<TlsParameters> {
            let mut params = TlsParameters::builder(c.smtp_host.clone());
            if let Some(pem) = &c.ca_certificate {
                let cert = Certificate::from_pem(pem.as_bytes())
                    .map_err(|e| ConnError::Permanent(format!("config.ca_certificate: {e}")))?;
                params = params.add_root_certificate(cert);
            }
            params
                .build_rustls()
                .map_err(|e| ConnError::Permanent(format!("SMTP TLS setup: {e}")))
        };
        let tls = match c.tls {
            TlsMode::Tls => Tls::Wrapper(params()?),
            TlsMode::Starttls => Tls::Required(params()?),
            TlsMode::None => Tls::None,
        };
        Ok(
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(c.smtp_host.clone())
                .port(c.smtp_port())
                .tls(tls)
                .hello_name(ClientId::Domain(c.domain().to_string()))
                .credentials(Credentials::new(
                    c.username.clone(),
                    c.password.expose().to_string(),
                ))
                .timeout(Some(SMTP_TIMEOUT))
                .build(),
        )
    }
}

/// What a mailbox can do; `transport` is settled by [`Connector::start`].
fn capabilities(transport: Transport) -> Capabilities {
    Capabilities {
        listen_keyword: false,
        listen_hashtag: false,
        listen_mention: false,
        listen_dm: true,
        reply_public: None,
        reply_private: Some(REPLY_LIMIT),
        private_gate: PrivateGate::None,
        idempotency: Idempotency::ClientId,
        transport,
        rate: RateBudget {
            requests: 60,
            per: Duration::from_secs(60),
        },
        limitations: vec![
            "Replies are private only: email has no public side.".into(),
            "Replies are plain text; attachments are neither read nor sent.".into(),
            "Only mail in the configured mailbox is read, from when the source started.".into(),
            "Whether a reply that timed out was delivered cannot be checked; a resend \
             keeps its Message-ID, so mail clients show it once."
                .into(),
        ],
    }
}

/// Reads the next batch after `cursor` from the selected mailbox. Without a
/// cursor it starts at the mailbox's UIDNEXT: only mail that arrives from
/// now on. `uid_next` (from SELECT) saves a search when nothing is new.
async fn next_batch(
    session: &mut Session,
    selected: Selected,
    uid_next: Option<u32>,
    cursor: Option<MailCursor>,
    brand: &str,
) -> ConnResult<Batch> {
    let now = Utc::now();
    let today = now.date_naive();
    let Selected { uid_validity, .. } = selected;
    let (start, since) = match cursor {
        None => {
            let last = match uid_next {
                Some(next) => next.saturating_sub(1),
                None => imap::uids_from(session, 1)
                    .await?
                    .last()
                    .copied()
                    .unwrap_or(0),
            };
            return Ok(Batch {
                items: Vec::new(),
                skipped: Vec::new(),
                cursor: MailCursor {
                    uidvalidity: uid_validity,
                    uid: last,
                    since: Some(today),
                },
                more: false,
                moved: true,
            });
        }
        Some(c) if c.uidvalidity == uid_validity => (c.uid.saturating_add(1), c.since),
        Some(c) => {
            // The mailbox was rebuilt: old UIDs mean nothing. Rescan from
            // the first mail of the day before the newest one we read (or
            // from the start); the store drops what it already has by
            // Message-ID (`external_id`).
            tracing::warn!(
                old = c.uidvalidity,
                new = uid_validity,
                "mailbox UIDVALIDITY changed: rescanning"
            );
            let start = match c.since {
                Some(day) => {
                    let from = day - TimeDelta::days(1);
                    imap::first_uid_since(session, from)
                        .await?
                        .unwrap_or(uid_next.unwrap_or(1))
                }
                None => 1,
            };
            (start, c.since)
        }
    };
    let empty = |since| Batch {
        items: Vec::new(),
        skipped: Vec::new(),
        cursor: MailCursor {
            uidvalidity: uid_validity,
            uid: start.saturating_sub(1),
            since,
        },
        more: false,
        moved: cursor.is_none_or(|c| c.uidvalidity != uid_validity),
    };
    if uid_next.is_some_and(|next| start >= next) {
        return Ok(empty(since));
    }
    let uids = imap::uids_from(session, start).await?;
    if uids.is_empty() {
        return Ok(empty(since));
    }
    let more = uids.len() > BATCH;
    let batch: Vec<u32> = uids.into_iter().take(BATCH).collect();
    let fetched = imap::fetch(session, &batch).await?;
    let mut items = Vec::new();
    let mut skipped = Vec::new();
    let mut newest = since;
    for uid in &batch {
        let Some(f) = fetched.iter().find(|f| f.uid == *uid) else {
            skipped.push(format!("UID {uid}: removed before it could be read"));
            continue;
        };
        if let Some(day) = f.received.map(|r| r.date_naive()) {
            newest = Some(newest.map_or(day, |n| n.max(day)));
        }
        let Some(raw) = &f.raw else {
            skipped.push(format!("UID {uid}: the server sent no message body"));
            continue;
        };
        match read_message(raw, f.received, brand, now) {
            Ok(item) => items.push(item),
            Err(why) => {
                tracing::info!(uid, %why, "mail skipped");
                skipped.push(format!("UID {uid}: {why}"));
            }
        }
    }
    let last = batch.last().copied().unwrap_or(start.saturating_sub(1));
    Ok(Batch {
        items,
        skipped,
        cursor: MailCursor {
            uidvalidity: uid_validity,
            uid: last,
            since: newest.or(Some(today)),
        },
        more,
        moved: true,
    })
}

/// The live side of [`Connector::stream`]: one IMAP session that IDLEs,
/// and the events read on the last wake-up.
struct Live {
    session: Option<Session>,
    selected: Selected,
    cursor: MailCursor,
    queue: VecDeque<StreamEvent>,
    brand: String,
    ended: bool,
}

impl Live {
    fn push(&mut self, batch: Batch) {
        self.queue.extend(
            batch
                .items
                .into_iter()
                .map(|i| StreamEvent::Item(Box::new(i))),
        );
        self.queue
            .extend(batch.skipped.into_iter().map(StreamEvent::Skipped));
        if batch.moved {
            self.queue
                .push_back(StreamEvent::Checkpoint(batch.cursor.to_cursor()));
        }
        self.cursor = batch.cursor;
    }

    /// Reads what is new; when nothing is, waits in IDLE until the server
    /// reports a change (or [`IDLE_RENEW`] passes) and reads again. Reading
    /// before each IDLE catches mail that arrived while the events were
    /// being handled, which not every server reports once IDLE begins.
    async fn wake(&mut self) -> ConnResult<()> {
        let mut session = self
            .session
            .take()
            .ok_or_else(|| ConnError::Transient("IMAP session lost".into()))?;
        loop {
            // A server may answer a command from its view as of the last
            // one: NOOP brings the view up to date before we search.
            imap::timed("NOOP", session.noop()).await?;
            let batch = next_batch(
                &mut session,
                self.selected,
                None,
                Some(self.cursor),
                &self.brand,
            )
            .await?;
            if batch.moved {
                self.session = Some(session);
                self.push(batch);
                return Ok(());
            }
            let mut idle = session.idle();
            imap::timed("IDLE", idle.init()).await?;
            let (wait, stop) = idle.wait_with_timeout(IDLE_RENEW);
            let woke = wait.await;
            drop(stop);
            match woke {
                Ok(IdleResponse::NewData(_) | IdleResponse::Timeout) => {}
                Ok(IdleResponse::ManualInterrupt) => {
                    return Err(ConnError::Transient(
                        "IMAP server closed the connection during IDLE".into(),
                    ));
                }
                Err(e) => return Err(ConnError::Transient(format!("IMAP IDLE: {e}"))),
            }
            session = imap::timed("DONE", idle.done()).await?;
        }
    }
}

#[async_trait]
impl Connector for Email {
    fn kind(&self) -> SourceKind {
        SourceKind::Email
    }

    fn capabilities(&self) -> Capabilities {
        self.caps.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Logs in and SELECTs the mailbox; streams when IDLE is on and the
    /// server offers it, polls every [`POLL_INTERVAL`] otherwise.
    async fn start(&self) -> ConnResult<Capabilities> {
        let (mut session, has_idle) = imap::login(&self.config).await?;
        let selected = imap::select(&mut session, &self.config.mailbox).await;
        imap::logout(session).await;
        selected?;
        let transport = if self.config.idle && has_idle {
            Transport::Stream
        } else {
            Transport::Poll {
                interval: POLL_INTERVAL,
            }
        };
        Ok(self.set_transport(transport))
    }

    /// Up to [`BATCH`] messages after `cursor`, oldest first, fetched with
    /// `BODY.PEEK[]` so they stay unread for the people sharing the
    /// mailbox. Unreadable and automatic mail is skipped with why, and the
    /// cursor still moves past it.
    async fn poll(&self, cursor: Option<&Cursor>) -> ConnResult<Page> {
        let cursor = MailCursor::read(cursor)?;
        let (mut session, _) = imap::login(&self.config).await?;
        let batch = async {
            let selected = imap::select(&mut session, &self.config.mailbox).await?;
            next_batch(
                &mut session,
                selected,
                selected.uid_next,
                cursor,
                &self.config.address,
            )
            .await
        }
        .await;
        imap::logout(session).await;
        let batch = batch?;
        Ok(Page {
            items: batch.items,
            cursor: batch.moved.then(|| batch.cursor.to_cursor()),
            more: batch.more,
            skipped: batch.skipped,
        })
    }

    /// IDLE (RFC 2177) on one session: first reads what arrived after
    /// `cursor`, then yields each new message with a checkpoint after every
    /// batch. IDLE is renewed every [`IDLE_RENEW`]; a dropped connection
    /// ends the stream with an error (the runtime polls, then reopens).
    async fn stream(&self, cursor: Option<&Cursor>) -> ConnResult<EventStream> {
        if !self.config.idle {
            return Err(ConnError::Unsupported(
                "streaming: `idle` is off for this source",
            ));
        }
        let cursor = MailCursor::read(cursor)?;
        let (mut session, has_idle) = imap::login(&self.config).await?;
        if !has_idle {
            imap::logout(session).await;
            self.set_transport(Transport::Poll {
                interval: POLL_INTERVAL,
            });
            return Err(ConnError::Unsupported(
                "streaming: the IMAP server has no IDLE",
            ));
        }
        let selected = imap::select(&mut session, &self.config.mailbox).await?;
        let first = next_batch(
            &mut session,
            selected,
            selected.uid_next,
            cursor,
            &self.config.address,
        )
        .await?;
        let mut live = Live {
            session: Some(session),
            selected,
            cursor: first.cursor,
            queue: VecDeque::new(),
            brand: self.config.address.clone(),
            ended: false,
        };
        live.push(first);
        let events = futures_util::stream::unfold(live, |mut live| async move {
            loop {
                if let Some(event) = live.queue.pop_front() {
                    return Some((Ok(event), live));
                }
                if live.ended {
                    return None;
                }
                if let Err(e) = live.wake().await {
                    live.ended = true;
                    return Some((Err(e), live));
                }
            }
        });
        Ok(Box::pin(events))
    }

    /// A Message-ID, `<uuid-v7@our domain>`: made when the reply is queued,
    /// the same for every attempt.
    fn new_idempotency_key(&self) -> String {
        format!("<{}@{}>", uuid::Uuid::now_v7(), self.config.domain())
    }

    /// Sends a plain-text reply from the brand's address, threaded under
    /// the customer's mail (RFC 5322 §3.6.4), with the idempotency key as
    /// its Message-ID.
    async fn send(&self, out: &Outbound) -> ConnResult<Sent> {
        if out.visibility == Visibility::Public {
            return Err(ConnError::Unsupported(
                "public replies: email is private only",
            ));
        }
        let body = self.render(out)?;
        let parent: ReplyRef = if out.reply_ref.is_null() {
            ReplyRef::default()
        } else {
            serde_json::from_value(out.reply_ref.clone())
                .map_err(|e| ConnError::Permanent(format!("reply_ref: {e}")))?
        };
        let to = if parent.from.trim().is_empty() {
            out.recipient.trim()
        } else {
            parent.from.trim()
        };
        let to: Mailbox = to.parse().map_err(|e| {
            ConnError::Permanent(format!("recipient `{to}` is not an email address: {e}"))
        })?;
        let message_id = normalise_message_id(&out.idempotency_key).ok_or_else(|| {
            ConnError::Permanent(format!(
                "idempotency key `{}` is not a Message-ID",
                out.idempotency_key
            ))
        })?;
        let from_addr = self
            .config
            .address
            .parse()
            .map_err(|e| ConnError::Permanent(format!("address: {e}")))?;
        let mut mail = Message::builder()
            .from(Mailbox::new(self.config.display_name.clone(), from_addr))
            .to(to)
            .subject(subject_of(&parent))
            .message_id(Some(format!("<{message_id}>")));
        if let Some((in_reply_to, references)) = reply_threading(&parent) {
            mail = mail.in_reply_to(in_reply_to).references(references);
        }
        let mail = mail
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| ConnError::Permanent(format!("building the reply: {e}")))?;
        self.smtp()?.send(mail).await.map_err(smtp_error)?;
        Ok(Sent {
            remote_id: message_id,
            url: None,
        })
    }

    /// Always `None`: SMTP cannot say whether an earlier attempt was
    /// delivered, and the submission server does not keep a copy to look
    /// in. A resend carries the same Message-ID, which receiving mail
    /// clients and archives use to show the message once.
    async fn reconcile(&self, _out: &Outbound) -> ConnResult<Option<Sent>> {
        Ok(None)
    }

    /// A new thread to `recipient` (the address the customer gave) with
    /// `subject`: no `In-Reply-To`, so its own Message-ID roots it.
    fn open_private(&self, _heard: &Value, recipient: &str, subject: &str) -> Value {
        json!({"from": recipient, "subject": subject})
    }

    /// The id the customer's answer carries as its thread (`read_message`:
    /// the first of its References): the first of ours, or the parent we
    /// answered, or, for a new thread, our own Message-ID.
    fn private_thread(&self, out: &Outbound, sent: &Sent) -> Option<String> {
        let parent: ReplyRef = serde_json::from_value(out.reply_ref.clone()).unwrap_or_default();
        parent
            .references
            .iter()
            .find_map(|r| normalise_message_id(r))
            .or_else(|| normalise_message_id(&parent.message_id))
            .or_else(|| normalise_message_id(&sent.remote_id))
    }
}

/// The subject: `Re:` the customer's when answering their mail, as given
/// when the brand opens a new thread.
fn subject_of(parent: &ReplyRef) -> String {
    if parent.message_id.trim().is_empty() && !parent.subject.trim().is_empty() {
        let cleaned: String = parent
            .subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        return cleaned.trim().to_string();
    }
    reply_subject(&parent.subject)
}

/// Classifies an SMTP failure. A 4xx or 5xx reply means the mail was not
/// accepted; a timeout may have come after it was.
fn smtp_error(e: lettre::transport::smtp::Error) -> ConnError {
    let text = format!("SMTP: {e}");
    if let Some(code) = e.status() {
        // 530/534/535: authentication required or refused (RFC 4954 §6).
        let auth = matches!(code.to_string().as_str(), "530" | "534" | "535");
        return if auth {
            ConnError::Auth(text)
        } else if e.is_permanent() {
            ConnError::Permanent(text)
        } else {
            ConnError::Transient(text)
        };
    }
    if e.is_timeout() {
        ConnError::Unknown(text)
    } else if e.is_client() {
        ConnError::Permanent(text)
    } else if e.is_tls() || text.starts_with("SMTP: Connection error") {
        // Nothing was sent before the connection or handshake failed.
        ConnError::Transient(text)
    } else {
        ConnError::Unknown(text)
    }
}

#[cfg(test)]
mod tests;
