//! Mastodon, and any server that speaks its client API (Pleroma, Akkoma,
//! GoToSocial, Iceshrimp...): listens to the brand account's mentions
//! (direct ones included) and to chosen hashtags, over the streaming API or
//! by polling, and answers with a reply status (public, or `direct` for a
//! private one).
//!
//! Plain `reqwest` + `serde` for the REST calls, `tokio-tungstenite` for the
//! WebSocket stream: the API is a handful of endpoints, and no client crate handles
//! its `Idempotency-Key` or rate-limit headers.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use earshot_core::error::{Error, Result};
use earshot_core::mention::{Author, MentionInput, ReachMetrics};
use earshot_core::reply::Visibility;
use earshot_core::source::SourceKind;
use futures_util::{SinkExt, StreamExt};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use url::Url;

use crate::capabilities::{
    Capabilities, Idempotency, LengthLimit, PrivateGate, RateBudget, Transport, Unit,
};
use crate::error::{ConnError, ConnResult};
use crate::{
    Connector, Cursor, EventStream, Inbound, InboundKind, Outbound, Page, Sent, SourceSettings,
    StreamEvent, http, parse_settings,
};

/// Mastodon's own defaults, used until `start` reads the instance's.
const DEFAULT_MAX_CHARACTERS: u32 = 500;
const DEFAULT_URL_COST: u32 = 23;
/// Items per REST page (notifications allow 80, tag timelines 40).
const PAGE_LIMIT: usize = 40;
/// How long an Idempotency-Key is remembered by the server.
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(3600);
/// Polling interval when streaming is switched off.
const POLL_INTERVAL: Duration = Duration::from_secs(30);
/// The streaming server pings every few tens of seconds; this long without
/// any frame means the connection is dead, so the stream ends and the
/// runtime reconnects.
const STREAM_IDLE: Duration = Duration::from_secs(120);
/// Parent statuses remembered (local id -> uri and thread root) so replies
/// join their thread without a lookup each.
const PARENT_CACHE: usize = 4096;
/// How many of our own recent statuses `reconcile` looks through.
const RECONCILE_WINDOW: usize = 40;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    base_url: String,
    #[serde(default)]
    hashtags: Vec<String>,
    #[serde(default = "yes")]
    listen_mentions: bool,
    #[serde(default = "yes")]
    streaming: bool,
    access_token: String,
}

fn yes() -> bool {
    true
}

/// The access token, kept out of Debug output and logs.
struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    fn bearer(&self) -> ConnResult<HeaderValue> {
        let mut v = HeaderValue::from_str(&format!("Bearer {}", self.0))
            .map_err(|_| ConnError::Auth("the access token is not a valid header value".into()))?;
        v.set_sensitive(true);
        Ok(v)
    }
}

/// What `start` learnt from the server.
#[derive(Debug, Clone)]
struct Instance {
    own_id: Option<String>,
    /// Our own account's domain, appended to local accounts' handles.
    domain: String,
    max_characters: u32,
    url_cost: u32,
    streaming: Option<Url>,
}

/// A connector for one brand account on one Mastodon-API server.
pub struct Mastodon {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    token: Token,
    hashtags: Vec<String>,
    listen_mentions: bool,
    streaming: bool,
    instance: RwLock<Instance>,
    threads: Mutex<HashMap<String, Known>>,
}

/// A status we have seen: its global uri and, when known, its thread's root.
#[derive(Debug, Clone)]
struct Known {
    uri: String,
    root: Option<String>,
}

/// The saved position: the newest mention notification and, per hashtag,
/// the newest status id seen. `"0"` means "nothing there yet, take all".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    notifications: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

impl CursorState {
    fn from_cursor(cursor: Option<&Cursor>) -> ConnResult<Option<CursorState>> {
        Cursor::read(cursor, "Mastodon")
    }

    fn to_cursor(&self) -> Cursor {
        Cursor::of(self)
    }
}

/// The reply reference stored with each item: the status id on this
/// instance, the author's acct as this instance knows it, and the
/// original's visibility.
#[derive(Debug, Clone, Deserialize)]
struct ReplyRef {
    status_id: Option<String>,
    acct: Option<String>,
    visibility: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Status {
    id: String,
    uri: String,
    #[serde(default)]
    url: Option<String>,
    created_at: DateTime<Utc>,
    #[serde(default)]
    content: String,
    #[serde(default)]
    spoiler_text: String,
    visibility: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    in_reply_to_id: Option<String>,
    account: Account,
    #[serde(default)]
    favourites_count: u64,
    #[serde(default)]
    reblogs_count: u64,
    #[serde(default)]
    replies_count: u64,
}

#[derive(Debug, Deserialize)]
struct Account {
    id: String,
    acct: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    followers_count: u64,
}

#[derive(Debug, Deserialize)]
struct Notification {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    status: Option<Status>,
}

/// One WebSocket frame from the streaming server.
#[derive(Debug, Deserialize)]
struct Frame {
    #[serde(default)]
    stream: Vec<String>,
    #[serde(default)]
    event: Option<String>,
    /// The event's entity, JSON encoded inside a string.
    #[serde(default)]
    payload: Option<Value>,
    #[serde(default)]
    error: Option<String>,
}

impl Mastodon {
    /// Reads and checks a source's settings; errors name `config.<field>`.
    pub fn from_settings(settings: &SourceSettings) -> Result<Self> {
        let config: Config = parse_settings(settings)?;
        let base = Url::parse(config.base_url.trim())
            .map_err(|e| Error::invalid_field("config.base_url", e))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(Error::invalid_field(
                "config.base_url",
                "must be an http(s) URL with a host",
            ));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(Error::invalid_field(
                "config.base_url",
                "must not carry a query or fragment",
            ));
        }
        let token = config.access_token.trim().to_string();
        if token.is_empty() {
            return Err(Error::invalid_field(
                "config.access_token",
                "must not be empty",
            ));
        }
        if HeaderValue::from_str(&token).is_err() {
            return Err(Error::invalid_field(
                "config.access_token",
                "has characters a token cannot have",
            ));
        }
        let mut hashtags: Vec<String> = Vec::new();
        for (i, tag) in config.hashtags.iter().enumerate() {
            let tag = tag.trim().trim_start_matches('#');
            if tag.is_empty() || !tag.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return Err(Error::invalid_field(
                    &format!("config.hashtags[{i}]"),
                    "must be a hashtag name: letters, digits and '_', without '#'",
                ));
            }
            if !hashtags
                .iter()
                .any(|t| t.to_lowercase() == tag.to_lowercase())
            {
                hashtags.push(tag.to_string());
            }
        }
        if !config.listen_mentions && hashtags.is_empty() {
            return Err(Error::invalid_field(
                "config.hashtags",
                "must name a hashtag when listen_mentions is false (nothing to listen to)",
            ));
        }
        let domain = base.host_str().unwrap_or_default().to_string();
        Ok(Mastodon {
            inner: Arc::new(Inner {
                http: http::client(),
                base,
                token: Token(token),
                hashtags,
                listen_mentions: config.listen_mentions,
                streaming: config.streaming,
                instance: RwLock::new(Instance {
                    own_id: None,
                    domain,
                    max_characters: DEFAULT_MAX_CHARACTERS,
                    url_cost: DEFAULT_URL_COST,
                    streaming: None,
                }),
                threads: Mutex::new(HashMap::new()),
            }),
        })
    }
}

impl Inner {
    fn instance(&self) -> Instance {
        match self.instance.read() {
            Ok(i) => i.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set_instance(&self, update: impl FnOnce(&mut Instance)) {
        match self.instance.write() {
            Ok(mut i) => update(&mut i),
            Err(poisoned) => update(&mut poisoned.into_inner()),
        }
    }

    /// `path` under the server's base URL.
    fn api(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!("{}{path}", self.base.path().trim_end_matches('/')));
        url
    }

    fn capabilities(&self) -> Capabilities {
        let instance = self.instance();
        let limit = LengthLimit {
            max: instance.max_characters,
            unit: Unit::Chars,
            url_cost: Some(instance.url_cost),
        };
        Capabilities {
            listen_keyword: false,
            listen_hashtag: !self.hashtags.is_empty(),
            listen_mention: self.listen_mentions,
            listen_dm: self.listen_mentions,
            reply_public: Some(limit),
            reply_private: Some(limit),
            private_gate: PrivateGate::MustMention,
            idempotency: Idempotency::NativeHeader {
                ttl: IDEMPOTENCY_TTL,
            },
            transport: if self.streaming {
                Transport::Stream
            } else {
                Transport::Poll {
                    interval: POLL_INTERVAL,
                }
            },
            rate: RateBudget {
                requests: 300,
                per: Duration::from_secs(300),
            },
            limitations: vec![
                "No keyword listening: Mastodon search needs Elasticsearch on the server and \
                 only finds posts of accounts that opted in to being indexed. Listen by hashtag \
                 and mentions instead."
                    .into(),
                "A private reply is a direct status: it must @mention the customer, and the \
                 customer can share it."
                    .into(),
                "The streaming API does not replay: after a reconnect Earshot catches up through \
                 the REST API."
                    .into(),
            ],
        }
    }

    /// GETs `url` as JSON. Reads are safe to repeat, so a lost answer is
    /// transient here.
    async fn get(&self, url: Url) -> ConnResult<Value> {
        let resp = self
            .http
            .get(url)
            .header(AUTHORIZATION, self.token.bearer()?)
            .send()
            .await
            .map_err(|e| match http::send_error(&e, false) {
                ConnError::Unknown(m) => ConnError::Transient(m),
                other => other,
            })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .text()
            .await
            .map_err(|e| ConnError::Transient(format!("reading the answer: {e}")))?;
        if !status.is_success() {
            return Err(http::error_for(status, &headers, &body, Utc::now()));
        }
        serde_json::from_str(&body)
            .map_err(|e| ConnError::Transient(format!("the server sent invalid JSON: {e}")))
    }

    async fn verify_credentials(&self) -> ConnResult<String> {
        let me = self
            .get(self.api("/api/v1/accounts/verify_credentials"))
            .await?;
        let id = me
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| ConnError::Permanent("verify_credentials gave no account id".into()))?
            .to_string();
        self.set_instance(|i| i.own_id = Some(id.clone()));
        Ok(id)
    }

    async fn own_id(&self) -> ConnResult<String> {
        match self.instance().own_id {
            Some(id) => Ok(id),
            None => self.verify_credentials().await,
        }
    }

    async fn start(&self) -> ConnResult<Capabilities> {
        self.verify_credentials().await?;
        match self.get(self.api("/api/v2/instance")).await {
            Ok(v) => {
                let conf = &v["configuration"];
                let as_u32 = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
                let max = as_u32(&conf["statuses"]["max_characters"]);
                let cost = as_u32(&conf["statuses"]["characters_reserved_per_url"]);
                let streaming = conf["urls"]["streaming"]
                    .as_str()
                    .and_then(|s| Url::parse(s).ok())
                    .filter(|u| matches!(u.scheme(), "ws" | "wss" | "http" | "https"));
                let domain = v["domain"].as_str().map(str::to_string);
                self.set_instance(|i| {
                    i.max_characters = max.unwrap_or(DEFAULT_MAX_CHARACTERS);
                    i.url_cost = cost.unwrap_or(DEFAULT_URL_COST);
                    i.streaming = streaming;
                    if let Some(d) = domain {
                        i.domain = d;
                    }
                });
            }
            // Servers without /api/v2/instance keep Mastodon's defaults.
            Err(ConnError::Permanent(why)) => {
                tracing::warn!(%why, "no /api/v2/instance: using Mastodon's default limits");
            }
            Err(e) => return Err(e),
        }
        Ok(self.capabilities())
    }

    /// The newest id at `url` (asked with `limit=1`), or `"0"` when empty.
    async fn newest(&self, mut url: Url) -> ConnResult<String> {
        url.query_pairs_mut().append_pair("limit", "1");
        let list = self.get(url).await?;
        Ok(list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.get("id").and_then(Value::as_str))
            .fold("0".to_string(), |best, id| newer(id, &best)))
    }

    fn notifications_url(&self) -> Url {
        let mut url = self.api("/api/v1/notifications");
        url.query_pairs_mut().append_pair("types[]", "mention");
        url
    }

    fn tag_url(&self, tag: &str) -> ConnResult<Url> {
        let mut url = self.api("/api/v1/timelines/tag");
        url.path_segments_mut()
            .map_err(|()| ConnError::Permanent("config.base_url cannot take a path".into()))?
            .push(tag);
        Ok(url)
    }

    async fn poll(&self, cursor: Option<&Cursor>) -> ConnResult<Page> {
        let saved = CursorState::from_cursor(cursor)?;
        let from_now = saved.is_none();
        let saved = saved.unwrap_or_default();
        let mut next = CursorState::default();
        let mut page = Page::default();
        let mut found: Vec<(usize, Inbound)> = Vec::new();

        if self.listen_mentions {
            next.notifications = Some(match (&saved.notifications, from_now) {
                (Some(min_id), false) => {
                    self.notification_page(min_id, &mut found, &mut page)
                        .await?
                }
                _ => self.newest(self.notifications_url()).await?,
            });
        }
        for tag in &self.hashtags {
            let id = match saved.tags.get(tag) {
                Some(min_id) if !from_now => {
                    self.tag_page(tag, min_id, &mut found, &mut page).await?
                }
                _ => self.newest(self.tag_url(tag)?).await?,
            };
            next.tags.insert(tag.clone(), id);
        }

        // One post seen twice (a mention carrying a listened hashtag) is one
        // item, kept as the mention.
        let mut seen = HashSet::new();
        found.retain(|(_, item)| seen.insert(item.mention.external_id.clone()));
        found.sort_by(|(a_order, a), (b_order, b)| {
            a.mention
                .created_at
                .cmp(&b.mention.created_at)
                .then(a_order.cmp(b_order))
        });
        page.items = found.into_iter().map(|(_, item)| item).collect();
        page.cursor = Some(next.to_cursor());
        Ok(page)
    }

    /// Mention notifications after `min_id`; returns the new `min_id`.
    async fn notification_page(
        &self,
        min_id: &str,
        found: &mut Vec<(usize, Inbound)>,
        page: &mut Page,
    ) -> ConnResult<String> {
        let mut url = self.notifications_url();
        url.query_pairs_mut()
            .append_pair("min_id", min_id)
            .append_pair("limit", &PAGE_LIMIT.to_string());
        let list = self.get(url).await?;
        let records = list.as_array().cloned().unwrap_or_default();
        page.more |= records.len() >= PAGE_LIMIT;
        let mut newest = min_id.to_string();
        let mut ordered: Vec<(String, Value)> = Vec::new();
        for record in records {
            match record.get("id").and_then(Value::as_str) {
                Some(id) => {
                    newest = newer(id, &newest);
                    ordered.push((id.to_string(), record));
                }
                None => page.skipped.push("a notification without an id".into()),
            }
        }
        ordered.sort_by(|(a, _), (b, _)| id_order(a, b));
        for (id, record) in ordered {
            match serde_json::from_value::<Notification>(record) {
                Err(e) => page.skipped.push(format!("notification {id}: {e}")),
                Ok(n) => match self.mention_item(n).await? {
                    Some(Ok(item)) => found.push((found.len(), item)),
                    Some(Err(why)) => page.skipped.push(why),
                    None => {}
                },
            }
        }
        Ok(newest)
    }

    /// Statuses tagged `tag` after `min_id`; returns the new `min_id`.
    async fn tag_page(
        &self,
        tag: &str,
        min_id: &str,
        found: &mut Vec<(usize, Inbound)>,
        page: &mut Page,
    ) -> ConnResult<String> {
        let mut url = self.tag_url(tag)?;
        url.query_pairs_mut()
            .append_pair("min_id", min_id)
            .append_pair("limit", &PAGE_LIMIT.to_string());
        let list = self.get(url).await?;
        let records = list.as_array().cloned().unwrap_or_default();
        page.more |= records.len() >= PAGE_LIMIT;
        let mut newest = min_id.to_string();
        let mut ordered: Vec<(String, Value)> = Vec::new();
        for record in records {
            match record.get("id").and_then(Value::as_str) {
                Some(id) => {
                    newest = newer(id, &newest);
                    ordered.push((id.to_string(), record));
                }
                None => page.skipped.push(format!("a #{tag} status without an id")),
            }
        }
        ordered.sort_by(|(a, _), (b, _)| id_order(a, b));
        for (id, record) in ordered {
            match serde_json::from_value::<Status>(record) {
                Err(e) => page.skipped.push(format!("#{tag} status {id}: {e}")),
                Ok(s) => match self.inbound(s, InboundKind::Hashtag).await? {
                    Ok(item) => found.push((found.len(), item)),
                    Err(why) => page.skipped.push(why),
                },
            }
        }
        Ok(newest)
    }

    /// A mention notification as an item; `None` for other types.
    async fn mention_item(
        &self,
        n: Notification,
    ) -> ConnResult<Option<std::result::Result<Inbound, String>>> {
        if n.kind != "mention" {
            return Ok(None);
        }
        let Some(status) = n.status else {
            return Ok(Some(Err(format!(
                "notification {}: a mention without its status",
                n.id
            ))));
        };
        let kind = if status.visibility == "direct" {
            InboundKind::Direct
        } else {
            InboundKind::Mention
        };
        Ok(Some(self.inbound(status, kind).await?))
    }

    /// A status as an item. `Err` inside: the record is skipped, with why;
    /// outside: the parent lookup failed and the page should be retried.
    async fn inbound(
        &self,
        s: Status,
        kind: InboundKind,
    ) -> ConnResult<std::result::Result<Inbound, String>> {
        let mut text = html_to_text(&s.content);
        let spoiler = s.spoiler_text.trim();
        if !spoiler.is_empty() {
            text = format!("{spoiler}\n\n{text}").trim().to_string();
        }
        if text.is_empty() {
            return Ok(Err(format!("status {}: no text", s.id)));
        }
        let (parent_id, thread_id) = self.thread_of(&s).await?;
        let instance = self.instance();
        let handle = if s.account.acct.contains('@') {
            s.account.acct.clone()
        } else {
            format!("{}@{}", s.account.acct, instance.domain)
        };
        let by_brand = instance.own_id.as_deref() == Some(s.account.id.as_str());
        let mention = MentionInput {
            source: SourceKind::Mastodon,
            external_id: s.uri.clone(),
            author: Author {
                handle,
                display_name: s.account.display_name.clone().filter(|n| !n.is_empty()),
                followers: s.account.followers_count,
                verified: false,
                profile_url: s.account.url.clone(),
            },
            text,
            created_at: s.created_at,
            url: s.url.clone().or_else(|| Some(s.uri.clone())),
            language: s.language.clone().filter(|l| !l.is_empty()),
            thread_id,
            parent_id,
            metrics: ReachMetrics {
                likes: s.favourites_count,
                reposts: s.reblogs_count,
                replies: s.replies_count,
            },
        };
        Ok(Ok(Inbound {
            mention,
            kind,
            reply_ref: json!({
                "status_id": s.id,
                "acct": s.account.acct,
                "visibility": s.visibility,
            }),
            by_brand,
        }))
    }

    /// The parent's uri and the thread root's uri (when known), resolving
    /// the local `in_reply_to_id` through the cache or one lookup.
    async fn thread_of(&self, s: &Status) -> ConnResult<(Option<String>, Option<String>)> {
        let Some(parent_id) = &s.in_reply_to_id else {
            self.remember(&s.id, &s.uri, Some(s.uri.clone()));
            return Ok((None, Some(s.uri.clone())));
        };
        let parent = match self.known(parent_id) {
            Some(k) => Some(k),
            None => self.look_up(parent_id).await?,
        };
        let (parent_uri, root) = match parent {
            Some(k) => (Some(k.uri), k.root),
            None => (None, None),
        };
        self.remember(&s.id, &s.uri, root.clone());
        Ok((parent_uri, root))
    }

    fn known(&self, id: &str) -> Option<Known> {
        self.threads.lock().ok()?.get(id).cloned()
    }

    fn remember(&self, id: &str, uri: &str, root: Option<String>) {
        if let Ok(mut cache) = self.threads.lock() {
            if cache.len() >= PARENT_CACHE {
                cache.clear();
            }
            cache.insert(
                id.to_string(),
                Known {
                    uri: uri.to_string(),
                    root,
                },
            );
        }
    }

    /// Fetches a parent status. Gone or private (4xx): unknown, the item
    /// still arrives without its parent.
    async fn look_up(&self, id: &str) -> ConnResult<Option<Known>> {
        let mut url = self.api("/api/v1/statuses");
        url.path_segments_mut()
            .map_err(|()| ConnError::Permanent("config.base_url cannot take a path".into()))?
            .push(id);
        let v = match self.get(url).await {
            Ok(v) => v,
            Err(ConnError::Permanent(why)) => {
                tracing::debug!(%id, %why, "parent status not readable");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let Some(uri) = v.get("uri").and_then(Value::as_str) else {
            return Ok(None);
        };
        let root = match v.get("in_reply_to_id").and_then(Value::as_str) {
            None => Some(uri.to_string()),
            Some(grandparent) => self.known(grandparent).and_then(|k| k.root),
        };
        self.remember(id, uri, root.clone());
        Ok(Some(Known {
            uri: uri.to_string(),
            root,
        }))
    }

    fn streaming_url(&self) -> ConnResult<Url> {
        let mut url = match self.instance().streaming {
            Some(u) => u,
            None => self.base.clone(),
        };
        let scheme = match url.scheme() {
            "https" | "wss" => "wss",
            _ => "ws",
        };
        url.set_scheme(scheme)
            .map_err(|()| ConnError::Permanent("the streaming URL cannot be a WebSocket".into()))?;
        url.set_path(&format!(
            "{}/api/v1/streaming",
            url.path().trim_end_matches('/')
        ));
        url.set_query(None);
        Ok(url)
    }

    /// Reads one text frame: items and checkpoints to yield, in order.
    async fn frame(&self, text: &str, cursor: &mut CursorState) -> ConnResult<Vec<StreamEvent>> {
        let frame: Frame = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(e) => return Ok(vec![StreamEvent::Skipped(format!("stream frame: {e}"))]),
        };
        if let Some(error) = frame.error {
            return Ok(vec![StreamEvent::Skipped(format!(
                "the streaming server said: {error}"
            ))]);
        }
        let (Some(event), Some(payload)) = (frame.event.as_deref(), frame.payload) else {
            return Ok(Vec::new());
        };
        let entity = |payload: Value| -> std::result::Result<Value, String> {
            match payload {
                Value::String(s) => serde_json::from_str(&s).map_err(|e| e.to_string()),
                other => Ok(other),
            }
        };
        let mut events = Vec::new();
        match event {
            "notification" if self.listen_mentions => {
                let record = match entity(payload) {
                    Ok(r) => r,
                    Err(e) => return Ok(vec![StreamEvent::Skipped(format!("notification: {e}"))]),
                };
                let Some(id) = record.get("id").and_then(Value::as_str).map(str::to_string) else {
                    return Ok(vec![StreamEvent::Skipped(
                        "a notification without an id".into(),
                    )]);
                };
                match serde_json::from_value::<Notification>(record) {
                    Err(e) => events.push(StreamEvent::Skipped(format!("notification {id}: {e}"))),
                    Ok(n) => match self.mention_item(n).await? {
                        Some(Ok(item)) => events.push(StreamEvent::Item(Box::new(item))),
                        Some(Err(why)) => events.push(StreamEvent::Skipped(why)),
                        None => {}
                    },
                }
                let newest = newer(&id, cursor.notifications.as_deref().unwrap_or("0"));
                cursor.notifications = Some(newest);
                events.push(StreamEvent::Checkpoint(cursor.to_cursor()));
            }
            "update"
                if frame
                    .stream
                    .first()
                    .is_some_and(|s| s.starts_with("hashtag")) =>
            {
                let Some(tag) = frame.stream.get(1).and_then(|t| {
                    self.hashtags
                        .iter()
                        .find(|mine| mine.to_lowercase() == t.to_lowercase())
                }) else {
                    return Ok(Vec::new());
                };
                let record = match entity(payload) {
                    Ok(r) => r,
                    Err(e) => return Ok(vec![StreamEvent::Skipped(format!("#{tag} update: {e}"))]),
                };
                let id = record.get("id").and_then(Value::as_str).map(str::to_string);
                match serde_json::from_value::<Status>(record) {
                    Err(e) => events.push(StreamEvent::Skipped(format!("#{tag} update: {e}"))),
                    Ok(s) => match self.inbound(s, InboundKind::Hashtag).await? {
                        Ok(item) => events.push(StreamEvent::Item(Box::new(item))),
                        Err(why) => events.push(StreamEvent::Skipped(why)),
                    },
                }
                if let Some(id) = id {
                    let saved = cursor.tags.get(tag).map(String::as_str).unwrap_or("0");
                    let newest = newer(&id, saved);
                    cursor.tags.insert(tag.clone(), newest);
                    events.push(StreamEvent::Checkpoint(cursor.to_cursor()));
                }
            }
            // Deletions, edits, announcements, filter changes: not items.
            _ => {}
        }
        Ok(events)
    }

    async fn stream(self: Arc<Self>, cursor: Option<&Cursor>) -> ConnResult<EventStream> {
        if !self.streaming {
            return Err(ConnError::Unsupported("streaming (switched off in config)"));
        }
        let saved = cursor.cloned();
        let mut cursor = CursorState::from_cursor(cursor)?.unwrap_or_default();
        let url = self.streaming_url()?;
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| ConnError::Permanent(format!("streaming URL: {e}")))?;
        request
            .headers_mut()
            .insert(AUTHORIZATION, self.token.bearer()?);
        let connect = tokio_tungstenite::connect_async_tls_with_config(
            request,
            None,
            false,
            Some(tls_connector()?),
        );
        let (mut ws, _) = tokio::time::timeout(http::REQUEST_TIMEOUT, connect)
            .await
            .map_err(|_| {
                ConnError::Transient("connecting to the streaming server timed out".into())
            })?
            .map_err(ws_error)?;
        let mut subscriptions = Vec::new();
        if self.listen_mentions {
            subscriptions.push(json!({"type": "subscribe", "stream": "user:notification"}));
        }
        for tag in &self.hashtags {
            subscriptions.push(json!({"type": "subscribe", "stream": "hashtag", "tag": tag}));
        }
        for sub in subscriptions {
            let sent = tokio::time::timeout(
                http::REQUEST_TIMEOUT,
                ws.send(Message::text(sub.to_string())),
            )
            .await
            .map_err(|_| ConnError::Transient("subscribing timed out".into()))?;
            // A socket that drops while we subscribe still yields the frames
            // that arrived before the drop, then ends like any dropped stream.
            if let Err(e) = sent {
                tracing::info!(error = %e, "Mastodon stream dropped while subscribing");
                break;
            }
        }
        // The stream carries only what happens after we subscribed, and the
        // stream has no cursor to resume from: whatever arrived since the
        // caller's last poll (while we connected) is read over REST now,
        // before the first frame. A post both read here and streamed is
        // yielded twice, under one id; the store keeps it once.
        let mut pending = VecDeque::new();
        if let Some(mut from) = saved {
            loop {
                let page = self.poll(Some(&from)).await?;
                pending.extend(page.skipped.into_iter().map(StreamEvent::Skipped));
                pending.extend(
                    page.items
                        .into_iter()
                        .map(|item| StreamEvent::Item(Box::new(item))),
                );
                let Some(next) = page.cursor.filter(|next| *next != from) else {
                    break;
                };
                cursor = CursorState::from_cursor(Some(&next))?.unwrap_or_default();
                pending.push_back(StreamEvent::Checkpoint(next.clone()));
                if !page.more {
                    break;
                }
                from = next;
            }
        }
        let state = Live {
            ws,
            inner: self,
            cursor,
            pending,
            done: false,
        };
        Ok(Box::pin(futures_util::stream::unfold(state, Live::next)))
    }

    /// The text as it will be posted: the customer @mentioned first when
    /// the body does not already, checked as Mastodon counts.
    fn render(&self, out: &Outbound) -> ConnResult<String> {
        let limit = self
            .capabilities()
            .limit(out.visibility)
            .ok_or(ConnError::Unsupported("replies of this visibility"))?;
        let acct = recipient(out)?;
        let text = if mentions(&out.body, &acct) {
            out.body.trim().to_string()
        } else {
            format!("@{acct} {}", out.body.trim())
        };
        limit
            .check(&countable(&text))
            .map_err(|length| ConnError::TooLong { length, limit })?;
        Ok(text)
    }

    async fn send(&self, out: &Outbound) -> ConnResult<Sent> {
        let text = self.render(out)?;
        let reply = reply_ref(out)?;
        let visibility = match out.visibility {
            Visibility::Private => "direct",
            Visibility::Public => public_visibility(reply.visibility.as_deref()),
        };
        if out.visibility == Visibility::Public && reply.status_id.is_none() {
            return Err(ConnError::Permanent(
                "reply_ref.status_id: a public reply needs the status it answers".into(),
            ));
        }
        let mut body = json!({"status": text, "visibility": visibility});
        if let Some(id) = &reply.status_id {
            body["in_reply_to_id"] = json!(id);
        }
        let resp = self
            .http
            .post(self.api("/api/v1/statuses"))
            .header(AUTHORIZATION, self.token.bearer()?)
            .header("Idempotency-Key", &out.idempotency_key)
            .json(&body)
            .send()
            .await
            .map_err(|e| http::send_error(&e, true))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp
            .text()
            .await
            .map_err(|e| ConnError::Unknown(format!("reading the answer: {e}")))?;
        if !status.is_success() {
            return Err(http::error_for(status, &headers, &text, Utc::now()));
        }
        let posted: Value = serde_json::from_str(&text)
            .map_err(|e| ConnError::Unknown(format!("the server's answer is not JSON: {e}")))?;
        sent(&posted)
            .ok_or_else(|| ConnError::Unknown("the server's answer names no status uri".into()))
    }

    async fn reconcile(&self, out: &Outbound) -> ConnResult<Option<Sent>> {
        let reply = reply_ref(out)?;
        let own = self.own_id().await?;
        let mut url = self.api("/api/v1/accounts");
        url.path_segments_mut()
            .map_err(|()| ConnError::Permanent("config.base_url cannot take a path".into()))?
            .push(&own)
            .push("statuses");
        url.query_pairs_mut()
            .append_pair("limit", &RECONCILE_WINDOW.to_string());
        let list = self.get(url).await?;
        let want = normalise(&out.body);
        Ok(list
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| {
                s.get("in_reply_to_id").and_then(Value::as_str) == reply.status_id.as_deref()
            })
            .filter(|s| {
                let content = s.get("content").and_then(Value::as_str).unwrap_or("");
                normalise(&html_to_text(content)) == want
            })
            .find_map(sent))
    }
}

/// A live WebSocket and what it still has to yield.
struct Live {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    inner: Arc<Inner>,
    cursor: CursorState,
    pending: VecDeque<StreamEvent>,
    done: bool,
}

impl Live {
    async fn next(mut self) -> Option<(ConnResult<StreamEvent>, Live)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((Ok(event), self));
            }
            if self.done {
                return None;
            }
            // Reading also answers the server's pings.
            let frame = match tokio::time::timeout(STREAM_IDLE, self.ws.next()).await {
                Err(_) => {
                    tracing::info!("Mastodon stream silent for too long; ending it");
                    return None;
                }
                Ok(frame) => frame,
            };
            match frame {
                None | Some(Ok(Message::Close(_))) => return None,
                Some(Err(e)) => {
                    tracing::info!(error = %e, "Mastodon stream dropped");
                    return None;
                }
                Some(Ok(Message::Text(text))) => {
                    let inner = self.inner.clone();
                    match inner.frame(text.as_str(), &mut self.cursor).await {
                        Ok(events) => self.pending.extend(events),
                        Err(e) => {
                            self.done = true;
                            return Some((Err(e), self));
                        }
                    }
                }
                Some(Ok(_)) => {}
            }
        }
    }
}

/// TLS for the stream: rustls with the ring provider and the Mozilla roots.
fn tls_connector() -> ConnResult<tokio_tungstenite::Connector> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ConnError::Permanent(format!("TLS setup: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_tungstenite::Connector::Rustls(Arc::new(config)))
}

/// A refused WebSocket handshake keeps the server's status and words.
fn ws_error(e: tokio_tungstenite::tungstenite::Error) -> ConnError {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match e {
        WsError::Http(resp) => {
            let body = resp
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .to_string();
            http::error_for(resp.status(), resp.headers(), &body, Utc::now())
        }
        other => ConnError::Transient(format!("streaming: {other}")),
    }
}

fn reply_ref(out: &Outbound) -> ConnResult<ReplyRef> {
    serde_json::from_value(out.reply_ref.clone())
        .map_err(|e| ConnError::Permanent(format!("reply_ref: {e}")))
}

/// Whom to @mention: the acct stored with the item, else the recipient.
fn recipient(out: &Outbound) -> ConnResult<String> {
    let acct = reply_ref(out)?
        .acct
        .unwrap_or_else(|| out.recipient.clone());
    let acct = acct.trim().trim_start_matches('@').to_string();
    if acct.is_empty() {
        return Err(ConnError::Permanent(
            "reply_ref.acct: no customer to @mention".into(),
        ));
    }
    Ok(acct)
}

/// A public reply keeps the original's audience and never widens it.
fn public_visibility(original: Option<&str>) -> &'static str {
    match original {
        Some("unlisted") => "unlisted",
        Some("private") => "private",
        Some("direct") => "direct",
        _ => "public",
    }
}

fn sent(status: &Value) -> Option<Sent> {
    Some(Sent {
        remote_id: status.get("uri")?.as_str()?.to_string(),
        url: status
            .get("url")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// Whether `body` already @mentions `acct` (as a whole handle).
fn mentions(body: &str, acct: &str) -> bool {
    let needle = format!("@{}", acct.to_lowercase());
    let hay = body.to_lowercase();
    hay.match_indices(&needle).any(|(at, m)| {
        let before = hay[..at].chars().next_back();
        let after = hay[at + m.len()..].chars().next();
        !before.is_some_and(is_handle_char) && !after.is_some_and(|c| is_handle_char(c) || c == '@')
    })
}

fn is_handle_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.' || c == '-'
}

/// The text as Mastodon counts it: a remote mention counts only its
/// `@user` part (URLs are priced by [`LengthLimit`]).
fn countable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_inclusive(char::is_whitespace) {
        let rest = word.strip_prefix('@').and_then(|w| {
            let at = w.find('@')?;
            let user = &w[..at];
            let domain = &w[at + 1..];
            let kept =
                domain.trim_start_matches(|c: char| c.is_alphanumeric() || c == '.' || c == '-');
            (!user.is_empty() && kept.len() < domain.len()).then(|| format!("@{user}{kept}"))
        });
        match rest {
            Some(w) => out.push_str(&w),
            None => out.push_str(word),
        }
    }
    out
}

/// For matching a posted status to a queued reply: mentions dropped (the
/// server renders them without their domain), whitespace collapsed.
fn normalise(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| !w.starts_with('@'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Orders two ids: Mastodon's are numbers in strings, other servers' are
/// fixed-length sortable strings (ULIDs), so shorter is older.
fn id_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn newer(a: &str, b: &str) -> String {
    if id_order(a, b).is_gt() {
        a.to_string()
    } else {
        b.to_string()
    }
}

/// A status's HTML as plain text: paragraphs become blank lines, `<br>` a
/// newline, list items and block quotes their own lines, every other tag
/// goes, and entities are decoded (`html-escape`). Mastodon sanitises
/// statuses to a handful of tags, so a careful scanner is enough.
pub(crate) fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&html_escape::decode_html_entities(&rest[..lt]));
        let after = &rest[lt + 1..];
        let Some(end) = tag_end(after) else {
            // A lone '<' is text.
            out.push_str(&html_escape::decode_html_entities(&rest[lt..]));
            rest = "";
            break;
        };
        let tag = &after[..end];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        match name.as_str() {
            "br" => out.push('\n'),
            "p" if closing => out.push_str("\n\n"),
            "p" | "li" | "blockquote" | "pre" | "ul" | "ol" | "div" | "h1" | "h2" | "h3" | "h4"
            | "h5" | "h6"
                if !out.is_empty() && !out.ends_with('\n') =>
            {
                out.push('\n');
            }
            _ => {}
        }
        rest = &after[end + 1..];
    }
    out.push_str(&html_escape::decode_html_entities(rest));
    tidy(&out)
}

/// Where a tag's closing `>` is, skipping quoted attribute values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Trailing spaces off each line, at most one blank line in a row.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_string()
}

#[async_trait]
impl Connector for Mastodon {
    fn kind(&self) -> SourceKind {
        SourceKind::Mastodon
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn start(&self) -> ConnResult<Capabilities> {
        self.inner.start().await
    }

    async fn poll(&self, cursor: Option<&Cursor>) -> ConnResult<Page> {
        self.inner.poll(cursor).await
    }

    async fn stream(&self, cursor: Option<&Cursor>) -> ConnResult<EventStream> {
        self.inner.clone().stream(cursor).await
    }

    fn render(&self, out: &Outbound) -> ConnResult<String> {
        self.inner.render(out)
    }

    async fn send(&self, out: &Outbound) -> ConnResult<Sent> {
        self.inner.send(out).await
    }

    async fn reconcile(&self, out: &Outbound) -> ConnResult<Option<Sent>> {
        self.inner.reconcile(out).await
    }

    /// A direct status of its own (no `in_reply_to_id`), @mentioning the
    /// customer: it starts a new private thread.
    fn open_private(&self, heard: &Value, recipient: &str, _subject: &str) -> Value {
        let acct = heard
            .get("acct")
            .and_then(Value::as_str)
            .unwrap_or(recipient);
        json!({"acct": acct, "visibility": "direct"})
    }

    /// A new direct status is its thread's root, so the customer's answers
    /// carry its uri (`thread_of`); one sent in reply to a status carries
    /// that status's root, when known.
    fn private_thread(&self, out: &Outbound, sent: &Sent) -> Option<String> {
        let reply = reply_ref(out).ok()?;
        match reply.status_id {
            None => Some(sent.remote_id.clone()),
            Some(id) => self.inner.known(&id).and_then(|k| k.root),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_lines_with_entities_decoded() {
        let html = r#"<p><span class="h-card"><a href="https://example.social/@brand" class="u-url mention">@<span>brand</span></a></span> my order &amp; refund &quot;#42&quot;&#39;s late</p><p>line one<br />line two<br>see <a href="https://example.com/a?b=1&amp;c=2"><span class="invisible">https://</span><span class="ellipsis">example.com/a</span><span class="invisible">?b=1&amp;c=2</span></a></p>"#;
        assert_eq!(
            html_to_text(html),
            "@brand my order & refund \"#42\"'s late\n\nline one\nline two\nsee https://example.com/a?b=1&c=2"
        );
        assert_eq!(html_to_text("a < b and <b"), "a < b and <b");
        assert_eq!(html_to_text(r#"<a title="x>y">t</a>"#), "t");
        assert_eq!(
            html_to_text("<ul><li>one</li><li>two</li></ul>"),
            "one\ntwo"
        );
    }

    #[test]
    fn remote_mentions_count_only_their_user_part() {
        assert_eq!(
            countable("@alice@example.social, hi @bob and @carol@x.org"),
            "@alice, hi @bob and @carol"
        );
        assert_eq!(countable("mail a@b.c"), "mail a@b.c");
    }

    #[test]
    fn a_mention_is_found_only_as_a_whole_handle() {
        assert!(mentions(
            "Hi @Alice@example.social!",
            "alice@example.social"
        ));
        assert!(!mentions(
            "Hi @alice@example.social.uk",
            "alice@example.social"
        ));
        assert!(!mentions("Hi @alice", "alice@example.social"));
        assert!(mentions("@alice thanks", "alice"));
        assert!(!mentions("@alice@elsewhere thanks", "alice"));
    }

    #[test]
    fn ids_order_by_length_then_text() {
        assert_eq!(newer("110", "99"), "110");
        assert_eq!(newer("01HZZ", "01HZA"), "01HZZ");
        assert_eq!(newer("5", "0"), "5");
    }

    #[test]
    fn a_public_reply_never_widens_the_audience() {
        assert_eq!(public_visibility(Some("public")), "public");
        assert_eq!(public_visibility(Some("unlisted")), "unlisted");
        assert_eq!(public_visibility(Some("private")), "private");
        assert_eq!(public_visibility(Some("direct")), "direct");
        assert_eq!(public_visibility(None), "public");
    }

    #[test]
    fn the_token_stays_out_of_debug_output() {
        assert_eq!(format!("{:?}", Token("s3cret".into())), "Token(<redacted>)");
    }
}
