//! Bluesky / AT Protocol: keywords, mentions and replies from the Jetstream
//! firehose, catch-up from notifications, DMs from the chat log; replies
//! as posts (`createRecord` with our own TID as rkey) or chat messages.
//!
//! Plain reqwest + serde structs for the few XRPC calls instead of
//! `atrium-api`/`bsky-sdk`: see docs/connectors/bluesky.md.

pub mod jetstream;
pub mod matcher;
mod stream;
mod xrpc;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use earshot_core::error::{Error, Result};
use earshot_core::mention::{Author, MentionInput, ReachMetrics};
use earshot_core::reply::Visibility;
use earshot_core::source::SourceKind;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use url::Url;

use crate::{
    Capabilities, ConnError, ConnResult, Connector, Cursor, EventStream, GateCheck, Idempotency,
    Inbound, InboundKind, LengthLimit, Outbound, Page, PrivateGate, RateBudget, Sent,
    SourceSettings, Transport, Unit, parse_settings,
};
use jetstream::{Hit, Interest, POST_COLLECTION, Post};
use matcher::KeywordMatcher;
use xrpc::{Secret, Service, Xrpc, XrpcError, parse};

/// Post text: 300 graphemes and 3000 bytes (app.bsky.feed.post lexicon).
pub const POST_LIMIT: LengthLimit = LengthLimit::new(300, Unit::Graphemes);
const POST_MAX_BYTES: u32 = 3000;
/// Chat message text: 1000 graphemes and 10000 bytes (chat.bsky.convo.defs).
pub const DM_LIMIT: LengthLimit = LengthLimit::new(1000, Unit::Graphemes);
const DM_MAX_BYTES: u32 = 10_000;
/// Jetstream replays from `cursor`; we ask for this much before the saved
/// point so nothing is lost at a reconnect (duplicates are dropped).
pub const OVERLAP_US: i64 = 5_000_000;
/// Without a matching event, the stream still checkpoints this often (in
/// stream time), so a restart does not replay much.
const CHECKPOINT_EVERY_US: i64 = 1_000_000;
/// How often the stream reads the chat log (chat is not on the firehose).
const DM_POLL_EVERY: Duration = Duration::from_secs(30);
/// A silent socket for this long is a dead one (Jetstream is never quiet).
const STREAM_IDLE: Duration = Duration::from_secs(90);
/// Hits from authors whose handle is not cached wait for one batched
/// `getProfiles` call: at most this many authors, for at most this long.
const RESOLVE_BATCH: usize = 25;
const RESOLVE_WAIT: Duration = Duration::from_secs(1);
/// How many URIs the stream remembers to drop replays of the overlap.
const RECENT_IDS: usize = 10_000;
/// Catch-up paging stops here and says `more`.
const MAX_PAGES: usize = 20;
const MAX_KEYWORDS: usize = 1_000;
const MAX_KEYWORD_CHARS: usize = 200;

fn default_service() -> String {
    "https://bsky.social".into()
}
fn default_jetstream() -> String {
    "wss://jetstream2.us-east.bsky.network".into()
}
fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    identifier: String,
    #[serde(default = "default_service")]
    service_url: String,
    #[serde(default = "default_jetstream")]
    jetstream_url: String,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default = "yes")]
    listen_mentions: bool,
    #[serde(default = "yes")]
    direct_messages: bool,
    app_password: Secret,
}

/// A Bluesky account as a source.
#[derive(Debug, Clone)]
pub struct Bluesky {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    jetstream: Url,
    keywords: KeywordMatcher,
    listen_mentions: bool,
    direct_messages: bool,
    xrpc: Xrpc,
    /// DID → handle, filled by `getProfiles`.
    handles: std::sync::Mutex<HashMap<String, String>>,
    recent: std::sync::Mutex<RecentIds>,
    /// TID state: the last timestamp used and this instance's clock id.
    last_tid_us: AtomicU64,
    clock_id: u64,
}

/// The URIs most recently yielded, to drop the overlap's replays.
#[derive(Debug, Default)]
struct RecentIds {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl RecentIds {
    /// `false` when `id` was already seen.
    fn insert(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() >= RECENT_IDS
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.order.push_back(id.to_string());
        self.set.insert(id.to_string());
        true
    }
}

fn base_url(field: &str, value: &str, schemes: &[&str]) -> Result<Url> {
    let mut url = Url::parse(value.trim())
        .map_err(|e| Error::invalid_field(field, format!("is not a URL: {e}")))?;
    if !schemes.contains(&url.scheme()) || url.host_str().is_none() {
        return Err(Error::invalid_field(
            field,
            format!("must be a {} URL", schemes.join("/")),
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

impl Bluesky {
    pub fn from_settings(settings: &SourceSettings) -> Result<Bluesky> {
        let config: Config = parse_settings(settings)?;
        let identifier = config.identifier.trim().trim_start_matches('@').to_string();
        if identifier.is_empty() || identifier.contains(char::is_whitespace) {
            return Err(Error::invalid_field(
                "config.identifier",
                "must be a handle (brand.bsky.social) or a DID",
            ));
        }
        if config.app_password.0.trim().is_empty() {
            return Err(Error::invalid_field(
                "config.app_password",
                "must not be empty",
            ));
        }
        let service = base_url(
            "config.service_url",
            &config.service_url,
            &["https", "http"],
        )?;
        let jetstream = base_url(
            "config.jetstream_url",
            &config.jetstream_url,
            &["wss", "ws"],
        )?;
        if config.keywords.len() > MAX_KEYWORDS {
            return Err(Error::invalid_field(
                "config.keywords",
                format!(
                    "has {} phrases, the limit is {MAX_KEYWORDS}",
                    config.keywords.len()
                ),
            ));
        }
        if let Some((i, _)) = config
            .keywords
            .iter()
            .enumerate()
            .find(|(_, k)| k.chars().count() > MAX_KEYWORD_CHARS)
        {
            return Err(Error::invalid_field(
                &format!("config.keywords[{i}]"),
                format!("is longer than {MAX_KEYWORD_CHARS} characters"),
            ));
        }
        let keywords = KeywordMatcher::new(&config.keywords)
            .map_err(|e| Error::invalid_field("config.keywords", e))?;
        Ok(Bluesky {
            inner: Arc::new(Inner {
                jetstream,
                keywords,
                listen_mentions: config.listen_mentions,
                direct_messages: config.direct_messages,
                xrpc: Xrpc::new(service, identifier, config.app_password),
                handles: std::sync::Mutex::new(HashMap::new()),
                recent: std::sync::Mutex::new(RecentIds::default()),
                last_tid_us: AtomicU64::new(0),
                clock_id: rand::random::<u64>() & 0x3ff,
            }),
        })
    }
}

/// The base32-sortable alphabet of atproto TIDs.
const TID_ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";

/// A TID: 53 bits of microseconds since the epoch and a 10-bit clock id,
/// written as 13 base32-sortable characters.
pub fn tid(micros: u64, clock_id: u64) -> String {
    let value = ((micros & ((1 << 53) - 1)) << 10) | (clock_id & 0x3ff);
    (0..13)
        .map(|i| TID_ALPHABET[((value >> (60 - 5 * i)) & 31) as usize] as char)
        .collect()
}

fn is_tid(s: &str) -> bool {
    s.len() == 13 && s.bytes().all(|b| TID_ALPHABET.contains(&b))
}

fn now_us() -> i64 {
    Utc::now().timestamp_micros()
}

/// The cursor's fields, read leniently: a field we cannot read starts over
/// from now, the others are kept.
fn cursor_map(cursor: Option<&Cursor>) -> Map<String, Value> {
    match cursor.map(|c| &c.0) {
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            tracing::warn!(cursor = %other, "bluesky: ignoring a cursor that is not an object");
            Map::new()
        }
        None => Map::new(),
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Seen {
    indexed_at: DateTime<Utc>,
    uri: String,
}

fn rkey_of(uri: &str) -> &str {
    uri.rsplit('/').next().unwrap_or(uri)
}

fn language(langs: &[std::borrow::Cow<'_, str>]) -> Option<String> {
    let primary = langs.first()?.split('-').next()?.to_ascii_lowercase();
    ((2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase()))
        .then_some(primary)
}

/// Who wrote a post, as far as we know.
struct Writer<'a> {
    did: &'a str,
    handle: &'a str,
    display_name: Option<String>,
}

/// Turns a post record into an item. `fallback` dates a post whose
/// `createdAt` is missing or unreadable; a date in the future is clamped.
#[allow(clippy::too_many_arguments)]
fn post_inbound(
    writer: Writer<'_>,
    uri: String,
    cid: &str,
    post: &Post<'_>,
    kind: InboundKind,
    by_brand: bool,
    fallback: DateTime<Utc>,
    now: DateTime<Utc>,
) -> std::result::Result<Inbound, String> {
    if post.text.trim().is_empty() {
        return Err(format!("{uri}: post has no text"));
    }
    let created_at = post
        .created_at
        .as_deref()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(fallback)
        .min(now);
    let (root_uri, root_cid) = match &post.reply {
        Some(r) => (r.root.uri.to_string(), r.root.cid.to_string()),
        None => (uri.clone(), cid.to_string()),
    };
    let parent_id = post.reply.as_ref().map(|r| r.parent.uri.to_string());
    let reply_ref = json!({
        "uri": uri,
        "cid": cid,
        "root": {"uri": root_uri, "cid": root_cid},
        "did": writer.did,
    });
    Ok(Inbound {
        mention: MentionInput {
            source: SourceKind::Bluesky,
            url: Some(format!(
                "https://bsky.app/profile/{}/post/{}",
                writer.did,
                rkey_of(&uri)
            )),
            external_id: uri,
            author: Author {
                handle: writer.handle.to_string(),
                display_name: writer.display_name,
                followers: 0,
                verified: false,
                profile_url: Some(format!("https://bsky.app/profile/{}", writer.did)),
            },
            text: post.text.to_string(),
            created_at,
            language: language(&post.langs),
            thread_id: Some(root_uri),
            parent_id,
            metrics: ReachMetrics::default(),
        },
        kind,
        reply_ref,
        by_brand,
    })
}

// --- the shapes we read from notifications, profiles and the chat log ---

type Text<'a> = std::borrow::Cow<'a, str>;

#[derive(Deserialize)]
struct NotificationPage {
    #[serde(default)]
    cursor: Option<String>,
    notifications: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification<'a> {
    #[serde(borrow)]
    uri: Text<'a>,
    #[serde(borrow)]
    cid: Text<'a>,
    #[serde(borrow)]
    author: Actor<'a>,
    #[serde(borrow)]
    record: Post<'a>,
    indexed_at: DateTime<Utc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Actor<'a> {
    #[serde(borrow)]
    did: Text<'a>,
    #[serde(borrow)]
    handle: Text<'a>,
    #[serde(default, borrow)]
    display_name: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Profiles<'a> {
    #[serde(borrow)]
    profiles: Vec<Actor<'a>>,
}

#[derive(Deserialize)]
struct LogPage {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    logs: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogEntry<'a> {
    #[serde(rename = "$type", borrow)]
    kind: Text<'a>,
    #[serde(default, borrow)]
    convo_id: Option<Text<'a>>,
    #[serde(default, borrow)]
    message: Option<ChatMessage<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChatMessage<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(default, borrow)]
    text: Option<Text<'a>>,
    #[serde(borrow)]
    sender: Sender<'a>,
    sent_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct Sender<'a> {
    #[serde(borrow)]
    did: Text<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Availability {
    can_chat: bool,
    #[serde(default)]
    convo: Option<ConvoRef>,
}

#[derive(Deserialize)]
struct ConvoRef {
    id: String,
}

#[derive(Deserialize)]
struct ConvoOf {
    convo: ConvoRef,
}

#[derive(Deserialize)]
struct Created {
    uri: String,
}

#[derive(Deserialize)]
struct MessageId {
    id: String,
}

#[derive(Deserialize)]
struct Messages {
    #[serde(default)]
    messages: Vec<Value>,
}

/// A DM that arrived through the chat log, before its sender's handle is
/// known.
struct PendingDm {
    convo_id: String,
    message_id: String,
    text: String,
    sender: String,
    sent_at: DateTime<Utc>,
}

const LOG_CREATE_MESSAGE: &str = "chat.bsky.convo.defs#logCreateMessage";

impl Inner {
    fn capabilities(&self) -> Capabilities {
        let mut limitations = vec![
            "Keyword listening reads the public firehose from now on: no history search".into(),
            "Writes cost rate-limit points (a post is 3 of the 5,000 per hour)".into(),
        ];
        if !self.direct_messages {
            limitations.push("Direct messages are off for this source".into());
        }
        Capabilities {
            listen_keyword: !self.keywords.is_empty(),
            listen_hashtag: false,
            listen_mention: self.listen_mentions,
            listen_dm: self.direct_messages,
            reply_public: Some(POST_LIMIT),
            reply_private: self.direct_messages.then_some(DM_LIMIT),
            private_gate: PrivateGate::RecipientAllowsIncoming,
            idempotency: Idempotency::ClientId,
            transport: Transport::Stream,
            rate: RateBudget {
                requests: 3000,
                per: Duration::from_secs(300),
            },
            limitations,
        }
    }

    /// Handles for `dids`, from the cache or one `getProfiles` call per 25;
    /// a DID whose profile cannot be read stands for its own handle.
    async fn handles(&self, dids: &[&str]) -> HashMap<String, String> {
        let mut out = HashMap::new();
        let mut missing: Vec<&str> = Vec::new();
        if let Ok(cache) = self.handles.lock() {
            for did in dids {
                match cache.get(*did) {
                    Some(h) => {
                        out.insert((*did).to_string(), h.clone());
                    }
                    None if !missing.contains(did) => missing.push(did),
                    None => {}
                }
            }
        }
        for chunk in missing.chunks(25) {
            let params: Vec<(&str, &str)> = chunk.iter().map(|d| ("actors", *d)).collect();
            match self
                .xrpc
                .query(Service::Pds, "app.bsky.actor.getProfiles", &params)
                .await
            {
                Ok(body) => match parse::<Profiles<'_>>(&body, "getProfiles") {
                    Ok(p) => {
                        if let Ok(mut cache) = self.handles.lock() {
                            for actor in p.profiles {
                                if actor.handle != "handle.invalid" {
                                    cache.insert(actor.did.to_string(), actor.handle.to_string());
                                    out.insert(actor.did.to_string(), actor.handle.to_string());
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e.error, "bluesky: profiles unreadable"),
                },
                Err(e) => tracing::warn!(error = %e.error, "bluesky: getProfiles failed"),
            }
        }
        for did in dids {
            out.entry((*did).to_string())
                .or_insert_with(|| (*did).to_string());
        }
        out
    }

    /// Notifications (mentions, replies, quotes) newer than `seen`, oldest
    /// first, and the new high-water mark. Without `seen`, only marks
    /// where "now" is.
    async fn notifications(
        &self,
        seen: Option<Seen>,
        skipped: &mut Vec<String>,
    ) -> XrpcResult<(Vec<Inbound>, Option<Seen>, bool)> {
        let our_did = self.xrpc.session().await?.did;
        let now = Utc::now();
        let mut items = Vec::new();
        let mut newest: Option<Seen> = None;
        let mut page_cursor: Option<String> = None;
        let limit = if seen.is_some() { "50" } else { "1" };
        let mut more = false;
        'pages: for page_no in 0.. {
            if page_no == MAX_PAGES {
                more = true;
                break;
            }
            let mut params = vec![
                ("reasons", "mention"),
                ("reasons", "reply"),
                ("reasons", "quote"),
                ("limit", limit),
            ];
            if let Some(c) = &page_cursor {
                params.push(("cursor", c.as_str()));
            }
            let body = self
                .xrpc
                .query(
                    Service::Pds,
                    "app.bsky.notification.listNotifications",
                    &params,
                )
                .await?;
            let page: NotificationPage = parse(&body, "listNotifications")?;
            for raw in &page.notifications {
                let n = match Notification::deserialize(raw) {
                    Ok(n) => n,
                    Err(e) => {
                        skipped.push(format!("unreadable notification: {e}"));
                        continue;
                    }
                };
                if newest.is_none() {
                    newest = Some(Seen {
                        indexed_at: n.indexed_at,
                        uri: n.uri.to_string(),
                    });
                }
                let Some(seen) = &seen else { break 'pages };
                if n.indexed_at < seen.indexed_at
                    || (n.indexed_at == seen.indexed_at && n.uri == seen.uri)
                {
                    break 'pages;
                }
                if n.author.did == our_did {
                    continue;
                }
                let writer = Writer {
                    did: &n.author.did,
                    handle: &n.author.handle,
                    display_name: n.author.display_name.as_deref().map(str::to_string),
                };
                match post_inbound(
                    writer,
                    n.uri.to_string(),
                    &n.cid,
                    &n.record,
                    InboundKind::Mention,
                    false,
                    n.indexed_at,
                    now,
                ) {
                    Ok(item) => items.push(item),
                    Err(why) => skipped.push(why),
                }
            }
            match page.cursor {
                Some(c) if !page.notifications.is_empty() && seen.is_some() => {
                    page_cursor = Some(c)
                }
                _ => break,
            }
        }
        items.reverse();
        // A first look at an account with no notifications yet: every later
        // one is new.
        let first_look = seen.is_none();
        let mark = newest.or(seen).or_else(|| {
            first_look.then(|| Seen {
                indexed_at: DateTime::UNIX_EPOCH,
                uri: String::new(),
            })
        });
        Ok((items, mark, more))
    }

    /// DMs in the chat log after `cursor`, and the log's new cursor.
    /// Without a cursor, one call marks where "now" is.
    async fn chat_log(
        &self,
        cursor: Option<String>,
        skipped: &mut Vec<String>,
    ) -> XrpcResult<(Vec<Inbound>, Option<String>, bool)> {
        let our_did = self.xrpc.session().await?.did;
        let now = Utc::now();
        let mut pending = Vec::new();
        let Some(mut cursor) = cursor else {
            let body = self
                .xrpc
                .query(Service::Chat, "chat.bsky.convo.getLog", &[])
                .await?;
            let page: LogPage = parse(&body, "getLog")?;
            return Ok((Vec::new(), page.cursor, false));
        };
        let mut more = false;
        for page_no in 0.. {
            if page_no == MAX_PAGES {
                more = true;
                break;
            }
            let body = self
                .xrpc
                .query(
                    Service::Chat,
                    "chat.bsky.convo.getLog",
                    &[("cursor", cursor.as_str())],
                )
                .await?;
            let page: LogPage = parse(&body, "getLog")?;
            for raw in &page.logs {
                match LogEntry::deserialize(raw) {
                    Ok(entry) if entry.kind == LOG_CREATE_MESSAGE => {
                        match (entry.convo_id, entry.message) {
                            (Some(convo), Some(m)) => match m.text {
                                Some(text) if !text.trim().is_empty() => pending.push(PendingDm {
                                    convo_id: convo.to_string(),
                                    message_id: m.id.to_string(),
                                    text: text.to_string(),
                                    sender: m.sender.did.to_string(),
                                    sent_at: m.sent_at.min(now),
                                }),
                                _ => skipped
                                    .push(format!("chat message {convo}/{} has no text", m.id)),
                            },
                            _ => skipped.push("chat log entry without convo or message".into()),
                        }
                    }
                    Ok(_) => {}
                    Err(e) => skipped.push(format!("unreadable chat log entry: {e}")),
                }
            }
            match page.cursor {
                Some(next) if !page.logs.is_empty() && next != cursor => cursor = next,
                _ => break,
            }
        }
        let senders: Vec<&str> = pending.iter().map(|m| m.sender.as_str()).collect();
        let handles = self.handles(&senders).await;
        let items = pending
            .iter()
            .map(|m| {
                let handle = handles.get(&m.sender).cloned().unwrap_or(m.sender.clone());
                Inbound {
                    mention: MentionInput {
                        source: SourceKind::Bluesky,
                        external_id: format!("chat:{}/{}", m.convo_id, m.message_id),
                        author: Author {
                            handle,
                            display_name: None,
                            followers: 0,
                            verified: false,
                            profile_url: Some(format!("https://bsky.app/profile/{}", m.sender)),
                        },
                        text: m.text.clone(),
                        created_at: m.sent_at,
                        url: None,
                        language: None,
                        thread_id: Some(format!("chat:{}", m.convo_id)),
                        parent_id: None,
                        metrics: ReachMetrics::default(),
                    },
                    kind: InboundKind::Direct,
                    reply_ref: json!({"convo_id": m.convo_id, "did": m.sender}),
                    by_brand: m.sender == our_did,
                }
            })
            .collect();
        Ok((items, Some(cursor), more))
    }

    /// The handle cached for `did`, if any.
    fn cached_handle(&self, did: &str) -> Option<String> {
        self.handles.lock().ok()?.get(did).cloned()
    }

    /// An item from a firehose hit, its author named by `handle`.
    fn hit_item(
        &self,
        hit: &Hit<'_>,
        time_us: i64,
        handle: &str,
    ) -> std::result::Result<Inbound, String> {
        let fallback = DateTime::from_timestamp_micros(time_us).unwrap_or_else(Utc::now);
        post_inbound(
            Writer {
                did: &hit.did,
                handle,
                display_name: None,
            },
            hit.uri(),
            &hit.cid,
            &hit.post,
            hit.kind,
            hit.by_brand,
            fallback,
            Utc::now(),
        )
    }
}

type XrpcResult<T> = std::result::Result<T, XrpcError>;

/// The reply reference stored with a post, as `send` needs it.
#[derive(Deserialize)]
struct PostRef {
    uri: String,
    cid: String,
    root: StrongRefOwned,
    did: String,
}

#[derive(Deserialize, serde::Serialize)]
struct StrongRefOwned {
    uri: String,
    cid: String,
}

/// The reply reference stored with a DM (or any item: `did` is enough to
/// open a conversation).
#[derive(Deserialize)]
struct ChatRef {
    #[serde(default)]
    convo_id: Option<String>,
    did: String,
}

/// The platform's refusal, as the desk shows it before sending.
fn closed_gate(did: &str) -> String {
    format!("{did} does not accept chat messages from this account (their allowIncoming setting)")
}

fn read_ref<T: serde::de::DeserializeOwned>(value: &Value, what: &str) -> ConnResult<T> {
    serde_json::from_value(value.clone())
        .map_err(|e| ConnError::Permanent(format!("reply_ref is not a Bluesky {what}: {e}")))
}

/// The byte range of `@handle` in `text` (case-insensitive, not part of a
/// longer handle): a mention facet indexes UTF-8 bytes.
pub fn mention_span(text: &str, handle: &str) -> Option<(usize, usize)> {
    let handle = handle.trim().trim_start_matches('@');
    if handle.is_empty() {
        return None;
    }
    let needle = format!("@{}", handle.to_ascii_lowercase());
    let lower = text.to_ascii_lowercase();
    let handle_char = |c: char| c.is_ascii_alphanumeric() || c == '-';
    let mut from = 0;
    while let Some(pos) = lower[from..].find(&needle) {
        let start = from + pos;
        let end = start + needle.len();
        let before_ok = !text[..start].chars().next_back().is_some_and(handle_char);
        let mut after = text[end..].chars();
        let after_ok = match after.next() {
            Some('.') => !after.next().is_some_and(handle_char),
            Some(c) => !handle_char(c),
            None => true,
        };
        if before_ok && after_ok {
            return Some((start, end));
        }
        from = end;
    }
    None
}

fn check_length(text: &str, limit: LengthLimit, max_bytes: u32) -> ConnResult<()> {
    limit
        .check(text)
        .map_err(|length| ConnError::TooLong { length, limit })?;
    let bytes = LengthLimit::new(max_bytes, Unit::Bytes);
    bytes.check(text).map_err(|length| ConnError::TooLong {
        length,
        limit: bytes,
    })
}

impl Inner {
    async fn send_post(&self, out: &Outbound, text: &str) -> ConnResult<Sent> {
        if !is_tid(&out.idempotency_key) {
            return Err(ConnError::Permanent(format!(
                "idempotency key `{}` is not a TID (use new_idempotency_key)",
                out.idempotency_key
            )));
        }
        let parent: PostRef = read_ref(&out.reply_ref, "post reference")?;
        let session = self.xrpc.session().await?;
        let mut record = json!({
            "$type": POST_COLLECTION,
            "text": text,
            "createdAt": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "reply": {
                "root": parent.root,
                "parent": {"uri": parent.uri, "cid": parent.cid},
            },
        });
        if let Some((start, end)) = mention_span(text, &out.recipient) {
            record["facets"] = json!([{
                "index": {"byteStart": start, "byteEnd": end},
                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": parent.did}],
            }]);
        }
        let body = json!({
            "repo": session.did,
            "collection": POST_COLLECTION,
            "rkey": out.idempotency_key,
            "record": record,
        });
        let resp = self
            .xrpc
            .procedure(Service::Pds, "com.atproto.repo.createRecord", &body, true)
            .await?;
        let created: Created = parse(&resp, "createRecord")?;
        Ok(Sent {
            url: Some(format!(
                "https://bsky.app/profile/{}/post/{}",
                session.did,
                rkey_of(&created.uri)
            )),
            remote_id: created.uri,
        })
    }

    /// Whether the recipient's chat settings let us write to `did`, with
    /// the conversation when one exists.
    async fn availability(&self, did: &str) -> ConnResult<Availability> {
        let body = self
            .xrpc
            .query(
                Service::Chat,
                "chat.bsky.convo.getConvoAvailability",
                &[("members", did)],
            )
            .await?;
        Ok(parse(&body, "getConvoAvailability")?)
    }

    /// The conversation with `did`, if the recipient's chat settings let
    /// us write to them.
    async fn convo_with(&self, did: &str) -> ConnResult<String> {
        let availability = self.availability(did).await?;
        if !availability.can_chat {
            return Err(ConnError::GateClosed(closed_gate(did)));
        }
        if let Some(convo) = availability.convo {
            return Ok(convo.id);
        }
        let body = self
            .xrpc
            .query(
                Service::Chat,
                "chat.bsky.convo.getConvoForMembers",
                &[("members", did)],
            )
            .await?;
        Ok(parse::<ConvoOf>(&body, "getConvoForMembers")?.convo.id)
    }

    async fn send_dm(&self, out: &Outbound, text: &str) -> ConnResult<Sent> {
        let to: ChatRef = read_ref(&out.reply_ref, "chat reference")?;
        let convo = self.convo_with(&to.did).await?;
        let body = json!({"convoId": convo, "message": {"text": text}});
        let resp = self
            .xrpc
            .procedure(Service::Chat, "chat.bsky.convo.sendMessage", &body, true)
            .await?;
        let message: MessageId = parse(&resp, "sendMessage")?;
        Ok(Sent {
            remote_id: format!("chat:{convo}/{}", message.id),
            url: None,
        })
    }

    async fn reconcile_post(&self, out: &Outbound) -> ConnResult<Option<Sent>> {
        let session = self.xrpc.session().await?;
        let found = self
            .xrpc
            .query(
                Service::Pds,
                "com.atproto.repo.getRecord",
                &[
                    ("repo", session.did.as_str()),
                    ("collection", POST_COLLECTION),
                    ("rkey", out.idempotency_key.as_str()),
                ],
            )
            .await;
        match found {
            Ok(body) => {
                let created: Created = parse(&body, "getRecord")?;
                Ok(Some(Sent {
                    url: Some(format!(
                        "https://bsky.app/profile/{}/post/{}",
                        session.did, out.idempotency_key
                    )),
                    remote_id: created.uri,
                }))
            }
            Err(e) if e.name.as_deref() == Some("RecordNotFound") => Ok(None),
            Err(e) => Err(e.error),
        }
    }

    /// Chat has no client-chosen ids: look for our message with this text
    /// among the conversation's latest.
    async fn reconcile_dm(&self, out: &Outbound, text: &str) -> ConnResult<Option<Sent>> {
        let to: ChatRef = read_ref(&out.reply_ref, "chat reference")?;
        let our_did = self.xrpc.session().await?.did;
        let convo = match to.convo_id {
            Some(c) => c,
            None => self.convo_with(&to.did).await?,
        };
        let body = self
            .xrpc
            .query(
                Service::Chat,
                "chat.bsky.convo.getMessages",
                &[("convoId", convo.as_str()), ("limit", "50")],
            )
            .await?;
        let page: Messages = parse(&body, "getMessages")?;
        let ours = page.messages.iter().find(|m| {
            m.pointer("/sender/did").and_then(Value::as_str) == Some(our_did.as_str())
                && m.get("text").and_then(Value::as_str) == Some(text)
        });
        Ok(ours
            .and_then(|m| m.get("id").and_then(Value::as_str))
            .map(|id| Sent {
                remote_id: format!("chat:{convo}/{id}"),
                url: None,
            }))
    }
}

#[async_trait]
impl Connector for Bluesky {
    fn kind(&self) -> SourceKind {
        SourceKind::Bluesky
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn start(&self) -> ConnResult<Capabilities> {
        // createSession is limited to 30 per 5 minutes: a reconnect checks
        // the session it has (refreshing it when expired) instead.
        let session = self.inner.xrpc.check_session().await?;
        if let Ok(mut cache) = self.inner.handles.lock() {
            cache.insert(session.did.clone(), session.handle.clone());
        }
        Ok(self.inner.capabilities())
    }

    async fn poll(&self, cursor: Option<&Cursor>) -> ConnResult<Page> {
        let mut next = cursor_map(cursor);
        let mut skipped = Vec::new();
        let mut items = Vec::new();
        let mut more = false;
        if !next.contains_key("jetstream_time_us") {
            next.insert("jetstream_time_us".into(), json!(now_us()));
        }
        if self.inner.listen_mentions {
            let seen = next
                .get("notifications_seen")
                .and_then(|v| Seen::deserialize(v).ok());
            let (found, seen, m) = self.inner.notifications(seen, &mut skipped).await?;
            items.extend(found);
            more |= m;
            if let Some(seen) = seen {
                next.insert(
                    "notifications_seen".into(),
                    json!({"indexed_at": seen.indexed_at, "uri": seen.uri}),
                );
            }
        }
        if self.inner.direct_messages {
            let log = next
                .get("chat_log")
                .and_then(Value::as_str)
                .map(str::to_string);
            let (found, log, m) = self.inner.chat_log(log, &mut skipped).await?;
            items.extend(found);
            more |= m;
            if let Some(log) = log {
                next.insert("chat_log".into(), json!(log));
            }
        }
        items.sort_by_key(|i| i.mention.created_at);
        Ok(Page {
            items,
            cursor: Some(Cursor(Value::Object(next))),
            more,
            skipped,
        })
    }

    async fn stream(&self, cursor: Option<&Cursor>) -> ConnResult<EventStream> {
        let session = self.inner.xrpc.session().await?;
        let base = cursor_map(cursor);
        let resume = base.get("jetstream_time_us").and_then(Value::as_i64);
        let mut url = self
            .inner
            .jetstream
            .join("subscribe")
            .map_err(|e| ConnError::Permanent(format!("bad jetstream_url: {e}")))?;
        url.query_pairs_mut()
            .append_pair("wantedCollections", POST_COLLECTION);
        if let Some(t) = resume {
            url.query_pairs_mut()
                .append_pair("cursor", &(t - OVERLAP_US).max(0).to_string());
        }
        let socket = stream::connect(url.as_str()).await?;
        let interest = Interest::new(
            &session.did,
            self.inner.keywords.clone(),
            self.inner.listen_mentions,
        );
        Ok(stream::events(
            self.inner.clone(),
            socket,
            interest,
            base,
            resume,
        ))
    }

    fn new_idempotency_key(&self) -> String {
        let now = u64::try_from(now_us()).unwrap_or(0);
        let last = &self.inner.last_tid_us;
        let mut prev = last.load(Ordering::Relaxed);
        loop {
            let next = now.max(prev + 1);
            match last.compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return tid(next, self.inner.clock_id),
                Err(seen) => prev = seen,
            }
        }
    }

    fn render(&self, out: &Outbound) -> ConnResult<String> {
        match out.visibility {
            Visibility::Public => check_length(&out.body, POST_LIMIT, POST_MAX_BYTES)?,
            Visibility::Private if self.inner.direct_messages => {
                check_length(&out.body, DM_LIMIT, DM_MAX_BYTES)?
            }
            Visibility::Private => return Err(ConnError::Unsupported("direct messages (off)")),
        }
        Ok(out.body.clone())
    }

    async fn send(&self, out: &Outbound) -> ConnResult<Sent> {
        let text = self.render(out)?;
        match out.visibility {
            Visibility::Public => self.inner.send_post(out, &text).await,
            Visibility::Private => self.inner.send_dm(out, &text).await,
        }
    }

    async fn reconcile(&self, out: &Outbound) -> ConnResult<Option<Sent>> {
        match out.visibility {
            Visibility::Public => self.inner.reconcile_post(out).await,
            Visibility::Private => self.inner.reconcile_dm(out, &out.body).await,
        }
    }

    /// Asks the chat service whether the recipient accepts our messages
    /// (`chat.bsky.convo.getConvoAvailability`), as sending does.
    async fn private_gate(&self, out: &Outbound) -> ConnResult<GateCheck> {
        if !self.inner.direct_messages {
            return Ok(GateCheck::closed(
                "direct messages are off for this source (config.direct_messages)",
            ));
        }
        let to: ChatRef = read_ref(&out.reply_ref, "chat reference")?;
        let availability = self.inner.availability(&to.did).await?;
        Ok(if availability.can_chat {
            GateCheck::Open
        } else {
            GateCheck::closed(closed_gate(&to.did))
        })
    }

    /// A chat with the customer: only their DID is needed.
    fn open_private(&self, heard: &Value, _recipient: &str, _subject: &str) -> Value {
        match heard.get("did") {
            Some(did) => json!({"did": did}),
            None => heard.clone(),
        }
    }

    /// Chat messages carry `chat:{convo_id}` as their thread.
    fn private_thread(&self, _out: &Outbound, sent: &Sent) -> Option<String> {
        let rest = sent.remote_id.strip_prefix("chat:")?;
        let convo = rest.split('/').next().filter(|c| !c.is_empty())?;
        Some(format!("chat:{convo}"))
    }
}
