//! Participation: where Earshot listens and answers. One module per
//! platform, each implementing [`Connector`] and declaring its
//! [`Capabilities`]. Connectors only speak to their platform; the loops
//! that call them (one supervised task per source, the outbox worker) live
//! in `earshot-app`.

pub mod bluesky;
pub mod capabilities;
pub mod email;
pub mod error;
#[cfg(feature = "fake")]
pub mod fake;
pub mod http;
pub mod mastodon;
pub mod reddit;
pub mod reviews;
pub mod rss;
pub mod secret;
pub mod webhook;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use earshot_core::error::{Error, Result};
use earshot_core::mention::MentionInput;
pub use earshot_core::private_handoff::GateCheck;
use earshot_core::reply::Visibility;
use earshot_core::source::SourceKind;
use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

pub use capabilities::{
    Capabilities, Idempotency, LengthLimit, PrivateGate, RateBudget, Transport, Unit,
};
pub use error::{ConnError, ConnResult};

/// Where a source has read up to, in its own terms (a notification id, a
/// Jetstream `time_us`, an IMAP UID with its UIDVALIDITY, a feed's ETag).
/// Saved in the same transaction as the mentions it covers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub Value);

impl Cursor {
    /// Reads a connector's own cursor shape; a cursor of another shape
    /// (a source's kind changed under it) is a clear error, not a panic.
    pub fn read<T: serde::de::DeserializeOwned>(
        cursor: Option<&Cursor>,
        platform: &str,
    ) -> ConnResult<Option<T>> {
        cursor
            .map(|c| {
                serde_json::from_value(c.0.clone()).map_err(|e| {
                    ConnError::Permanent(format!(
                        "the saved cursor is not a {platform} cursor: {e}"
                    ))
                })
            })
            .transpose()
    }

    pub fn of<T: Serialize>(state: &T) -> Cursor {
        Cursor(serde_json::to_value(state).unwrap_or(Value::Null))
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub fn truncate_bytes(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Why an item reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboundKind {
    /// The brand's account was @mentioned or replied to.
    Mention,
    /// Matched a listened keyword.
    Keyword,
    /// Carried a listened hashtag.
    Hashtag,
    /// A private message to the brand.
    Direct,
    /// A store or site review.
    Review,
    /// A feed entry (blog, news, forum, alert).
    Feed,
    /// Pushed to a signed inbound webhook.
    Push,
}

/// One item a connector heard.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// The mention as any client would submit it. `external_id` is the
    /// platform's global id for the post (a Mastodon status URI, an
    /// `at://` URI, a Message-ID), so two sources that see the same post
    /// name it the same way.
    pub mention: MentionInput,
    pub kind: InboundKind,
    /// What a reply needs to thread under this post (a Mastodon status id
    /// on this instance, Bluesky root and parent strong refs, a Message-ID
    /// with its References, a review id). Stored with the mention.
    pub reply_ref: Value,
    /// Written by the brand's own account: never a customer mention (loop
    /// safety); recorded as the brand's answer when it replies to one.
    pub by_brand: bool,
}

/// A page of items and the cursor just past them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub items: Vec<Inbound>,
    /// Saved with `items`; `None` keeps the cursor as it was.
    pub cursor: Option<Cursor>,
    /// More is waiting: poll again now instead of after the interval.
    pub more: bool,
    /// Records the platform sent that could not be read, with why: logged
    /// and counted, never fatal, never a lost good record.
    pub skipped: Vec<String>,
}

/// What a stream yields.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Item(Box<Inbound>),
    /// Everything before this point has been yielded.
    Checkpoint(Cursor),
    /// A record that could not be read (logged, counted, skipped).
    Skipped(String),
}

pub type EventStream = BoxStream<'static, ConnResult<StreamEvent>>;

/// A reply for the connector to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// Made when the reply was queued, the same for every attempt: sent as
    /// Mastodon's `Idempotency-Key`, used as the Bluesky rkey and the email
    /// Message-ID.
    pub idempotency_key: String,
    pub visibility: Visibility,
    pub body: String,
    /// The customer's handle (or address) on the platform.
    pub recipient: String,
    /// The `reply_ref` stored with the mention being answered.
    pub reply_ref: Value,
    /// When the customer last wrote (for windowed private gates).
    pub last_inbound_at: Option<DateTime<Utc>>,
}

/// The platform's acknowledgement of a delivered reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub remote_id: String,
    pub url: Option<String>,
}

#[async_trait]
pub trait Connector: Send + Sync {
    fn kind(&self) -> SourceKind;

    /// What this instance can do. May change after [`Connector::start`]
    /// (limits read from the server).
    fn capabilities(&self) -> Capabilities;

    /// Checks the credentials and reads what the platform declares about
    /// itself (limits, our own account). Called before anything else and
    /// after every reconnect.
    async fn start(&self) -> ConnResult<Capabilities>;

    /// Items after `cursor`, oldest first. With no cursor, a source starts
    /// from now (or a short backfill it documents), never the whole history.
    async fn poll(&self, cursor: Option<&Cursor>) -> ConnResult<Page>;

    /// A live stream from `cursor`. The runtime always polls from the saved
    /// cursor before (re)opening it, since most streams do not replay.
    async fn stream(&self, _cursor: Option<&Cursor>) -> ConnResult<EventStream> {
        Err(ConnError::Unsupported("streaming"))
    }

    /// A fresh idempotency key in the form the platform needs (a TID for a
    /// Bluesky rkey, a Message-ID for email). Made once, when queued.
    fn new_idempotency_key(&self) -> String {
        uuid::Uuid::now_v7().to_string()
    }

    /// The text exactly as it will be posted (Mastodon prefixes the
    /// customer's @handle), checked against the platform's length limit.
    fn render(&self, out: &Outbound) -> ConnResult<String> {
        let limit = self
            .capabilities()
            .limit(out.visibility)
            .ok_or(ConnError::Unsupported("replies of this visibility"))?;
        limit
            .check(&out.body)
            .map_err(|length| ConnError::TooLong { length, limit })?;
        Ok(out.body.clone())
    }

    /// Delivers one reply. Must not post twice for one idempotency key when
    /// the platform allows it to be prevented.
    async fn send(&self, out: &Outbound) -> ConnResult<Sent>;

    /// Did an earlier attempt with this key land? Called before resending
    /// a reply whose last attempt ended without an answer.
    async fn reconcile(&self, out: &Outbound) -> ConnResult<Option<Sent>>;

    /// May a private message go out as `out` now? Checked before an agent
    /// sends (the outbox checks again at send time). By default from the
    /// capabilities: no private replies is closed, a window is checked
    /// against `last_inbound_at`, the others are open (a required
    /// @mention is added by `render`). Bluesky asks the chat service.
    async fn private_gate(&self, out: &Outbound) -> ConnResult<GateCheck> {
        Ok(gate_from_capabilities(
            &self.capabilities(),
            out.last_inbound_at,
            Utc::now(),
        ))
    }

    /// The `reply_ref` of a new private conversation with the customer who
    /// posted the item whose reference is `heard` (`recipient` their
    /// handle or address, `subject` for platforms that have one). By
    /// default `heard` itself: the private reply threads under it.
    fn open_private(&self, heard: &Value, _recipient: &str, _subject: &str) -> Value {
        heard.clone()
    }

    /// The thread id the customer's answers to a private message sent as
    /// `out` (and acknowledged as `sent`) will carry, as this connector
    /// sets `thread_id` on what it hears: the application links
    /// `{kind}:thread:{id}` to the case. `None` when it cannot say.
    fn private_thread(&self, _out: &Outbound, _sent: &Sent) -> Option<String> {
        None
    }
}

/// A private gate decided from what a connector declares, at `now`.
pub fn gate_from_capabilities(
    caps: &Capabilities,
    last_inbound_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> GateCheck {
    if caps.reply_private.is_none() {
        return GateCheck::closed("the platform has no private messages");
    }
    match caps.private_gate {
        PrivateGate::None | PrivateGate::MustMention | PrivateGate::RecipientAllowsIncoming => {
            GateCheck::Open
        }
        PrivateGate::WindowSinceLastInbound { window } => {
            let hours = window.as_secs() / 3600;
            let window = chrono::TimeDelta::from_std(window).unwrap_or(chrono::TimeDelta::MAX);
            match last_inbound_at {
                Some(at) if now - at <= window => GateCheck::Open,
                Some(_) => GateCheck::closed(format!(
                    "private messages are allowed only within {hours} hours of the customer's last message"
                )),
                None => GateCheck::closed(
                    "private messages are allowed only after the customer wrote".to_string(),
                ),
            }
        }
    }
}

/// A source's settings as an admin gives them: the public part is stored
/// as is; the credentials are split off, encrypted and never shown again.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSettings {
    pub config: Map<String, Value>,
    pub credentials: Map<String, Value>,
}

/// The config fields of `kind` that are credentials (write-only).
pub fn credential_fields(kind: SourceKind) -> &'static [&'static str] {
    match kind {
        SourceKind::Mastodon => &["access_token"],
        SourceKind::Bluesky => &["app_password"],
        SourceKind::Email => &["password"],
        SourceKind::Webhook => &["secret"],
        SourceKind::Reddit => &["client_secret", "password"],
        SourceKind::GooglePlay => &["service_account_json"],
        SourceKind::AppStore => &["private_key_p8"],
        _ => &[],
    }
}

/// Splits an admin's `config` object into settings and credentials.
pub fn split_settings(kind: SourceKind, config: Value) -> Result<SourceSettings> {
    let Value::Object(mut config) = config else {
        return Err(Error::invalid_field("config", "must be an object"));
    };
    let mut credentials = Map::new();
    for field in credential_fields(kind) {
        if let Some(v) = config.remove(*field) {
            credentials.insert((*field).to_string(), v);
        }
    }
    Ok(SourceSettings {
        config,
        credentials,
    })
}

/// Builds the connector for a source, checking its settings: errors name
/// the field (`config.base_url`).
pub fn build(kind: SourceKind, settings: &SourceSettings) -> Result<Arc<dyn Connector>> {
    let none = || {
        Err(Error::invalid_field(
            "kind",
            format!("`{}` has no connector", kind.as_str()),
        ))
    };
    match kind {
        SourceKind::Rss => Ok(Arc::new(rss::Rss::from_settings(settings)?)),
        SourceKind::Mastodon => Ok(Arc::new(mastodon::Mastodon::from_settings(settings)?)),
        SourceKind::Bluesky => Ok(Arc::new(bluesky::Bluesky::from_settings(settings)?)),
        SourceKind::Email => Ok(Arc::new(email::Email::from_settings(settings)?)),
        SourceKind::Webhook => Ok(Arc::new(webhook::InboundWebhook::from_settings(settings)?)),
        SourceKind::GooglePlay => Ok(Arc::new(reviews::google_play::GooglePlay::from_settings(
            settings,
        )?)),
        SourceKind::AppStore => Ok(Arc::new(reviews::app_store::AppStore::from_settings(
            settings,
        )?)),
        SourceKind::Reddit => Ok(Arc::new(reddit::Reddit::from_settings(settings)?)),
        // Imports arrive through `earshot import`, not a running source.
        SourceKind::Import => none(),
    }
}

/// Reads a connector's config struct from `settings`, naming the offending
/// field as `config.<path>` (credentials too: they arrive in `config`).
pub fn parse_settings<T: serde::de::DeserializeOwned>(settings: &SourceSettings) -> Result<T> {
    let mut all = settings.config.clone();
    all.extend(settings.credentials.clone());
    serde_path_to_error::deserialize(Value::Object(all)).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "config".to_string()
        } else {
            format!("config.{path}")
        };
        let why = e.inner().to_string();
        // serde says "missing field `x`" about the object holding it.
        match why
            .strip_prefix("missing field `")
            .and_then(|r| r.strip_suffix('`'))
        {
            Some(missing) => Error::new(
                earshot_core::error::ErrorCode::MissingField,
                format!("{field}.{missing}: is required"),
            ),
            None => Error::invalid_field(&field, why),
        }
    })
}
