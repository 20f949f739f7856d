//! Reddit, through the customer's own approved script app: listens to new
//! posts in chosen subreddits (optionally filtered by keywords) and to the
//! brand account's inbox (username mentions, replies to its posts and
//! comments, private messages), and answers with a comment (public) or a
//! private message.
//!
//! Reddit has required approval for every new OAuth app since November
//! 2025, so nothing here runs until an admin adds a source with the
//! credentials of an app Reddit approved. Plain `reqwest` + `serde`: the
//! connector uses seven endpoints, and no client crate handles Reddit's
//! body-level `RATELIMIT` errors or its rate-limit headers.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use earshot_core::error::{Error, Result};
use earshot_core::mention::{Author, MAX_TEXT_BYTES, MentionInput, ReachMetrics};
use earshot_core::reply::Visibility;
use earshot_core::source::SourceKind;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, USER_AGENT};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use crate::capabilities::{
    Capabilities, Idempotency, LengthLimit, PrivateGate, RateBudget, Transport, Unit,
};
use crate::error::{ConnError, ConnResult};
use crate::reviews::Secret;
use crate::{
    Connector, Cursor, Inbound, InboundKind, Outbound, Page, Sent, SourceSettings, http,
    parse_settings,
};

const DEFAULT_AUTH_URL: &str = "https://www.reddit.com";
const DEFAULT_API_URL: &str = "https://oauth.reddit.com";
/// Where an agent opens a permalink.
const WEB: &str = "https://www.reddit.com";
/// Reddit's largest listing page.
const PAGE_LIMIT: usize = 100;
/// A comment's or a private message's text, in characters.
const MAX_TEXT_CHARS: u32 = 10_000;
/// A private message's subject, in characters.
const MAX_SUBJECT_CHARS: usize = 100;
/// How far back a listing is re-read when its anchor has gone (deleted or
/// removed, so `before` finds nothing) and items seen in that window are
/// remembered, so a late or re-read item is never yielded twice.
const OVERLAP_SECS: f64 = 15.0 * 60.0;
/// The most remembered fullnames per listing.
const SEEN_CAP: usize = 200;
/// How often the listings are read; each poll costs one request per
/// subreddit and one for the inbox (two when a listing is quiet).
const POLL_INTERVAL: Duration = Duration::from_secs(60);
/// A token is renewed this long before Reddit says it expires (at most;
/// a tenth of its lifetime for short ones).
const TOKEN_MARGIN: Duration = Duration::from_secs(300);
/// How many of our own recent comments or sent messages `reconcile` reads.
const RECONCILE_WINDOW: usize = 25;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    client_id: String,
    username: String,
    user_agent: String,
    #[serde(default)]
    subreddits: Vec<String>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default = "yes")]
    listen_mentions: bool,
    #[serde(default = "default_auth_url")]
    auth_url: String,
    #[serde(default = "default_api_url")]
    api_url: String,
    client_secret: Secret,
    password: Secret,
}

fn yes() -> bool {
    true
}

fn default_auth_url() -> String {
    DEFAULT_AUTH_URL.to_string()
}

fn default_api_url() -> String {
    DEFAULT_API_URL.to_string()
}

/// A bearer token and when to renew it.
struct Access {
    token: String,
    renew_at: Instant,
}

/// A connector for one brand account, through one approved script app.
pub struct Reddit {
    http: reqwest::Client,
    auth_url: Url,
    api_url: Url,
    client_id: String,
    client_secret: Secret,
    username: String,
    password: Secret,
    user_agent: HeaderValue,
    /// Lower-cased, as the cursor keys them.
    subreddits: Vec<String>,
    /// Lower-cased.
    keywords: Vec<String>,
    listen_mentions: bool,
    access: tokio::sync::Mutex<Option<Access>>,
}

/// Where one listing was read up to: its newest fullname (the `before`
/// anchor) with its `created_utc`, and the fullnames seen within
/// [`OVERLAP_SECS`] of the newest. An empty anchor: the listing was empty
/// when the source started, so everything in it is new.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Anchor {
    #[serde(default)]
    fullname: Option<String>,
    #[serde(default)]
    created_utc: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    seen: Vec<(String, f64)>,
}

/// The saved position: one anchor per subreddit (lower-cased name) and
/// one for the inbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorState {
    #[serde(default)]
    subs: BTreeMap<String, Anchor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mentions: Option<Anchor>,
}

impl CursorState {
    fn from_cursor(cursor: Option<&Cursor>) -> ConnResult<Option<CursorState>> {
        Cursor::read(cursor, "Reddit")
    }

    fn to_cursor(&self) -> Cursor {
        Cursor::of(self)
    }
}

/// The fields Earshot reads from a post (t3), a comment (t1) or a private
/// message (t4), as listings and the inbox give them.
#[derive(Debug, Deserialize)]
struct Thing {
    name: String,
    created_utc: f64,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    selftext: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_self: Option<bool>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    permalink: Option<String>,
    /// Inbox comments: the comment's permalink with `?context=3`.
    #[serde(default)]
    context: Option<String>,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    link_id: Option<String>,
    #[serde(default)]
    link_title: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    first_message_name: Option<String>,
    #[serde(default)]
    score: Option<i64>,
    #[serde(default)]
    num_comments: Option<u64>,
}

/// What a reply needs: the thing it answers and whom to message.
#[derive(Debug, Clone, Deserialize)]
struct ReplyRef {
    #[serde(default)]
    thing_id: Option<String>,
    #[serde(default)]
    author: Option<String>,
    /// The post's title (a comment's post, a message's subject), for a
    /// private message's subject.
    #[serde(default)]
    title: Option<String>,
}

/// Which listing a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Subreddit,
    Inbox,
}

impl Reddit {
    /// Reads and checks a source's settings; errors name `config.<field>`.
    pub fn from_settings(settings: &SourceSettings) -> Result<Self> {
        let config: Config = parse_settings(settings)?;
        let auth_url = base_url("config.auth_url", &config.auth_url)?;
        let api_url = base_url("config.api_url", &config.api_url)?;
        let client_id = config.client_id.trim().to_string();
        if client_id.is_empty()
            || client_id.contains(':')
            || HeaderValue::from_str(&client_id).is_err()
        {
            return Err(Error::invalid_field(
                "config.client_id",
                "must be the script app's client id (under the app's name on reddit.com/prefs/apps)",
            ));
        }
        if config.client_secret.expose().trim().is_empty() {
            return Err(Error::invalid_field(
                "config.client_secret",
                "must not be empty",
            ));
        }
        if config.password.expose().is_empty() {
            return Err(Error::invalid_field("config.password", "must not be empty"));
        }
        let username = strip_user_prefix(&config.username);
        if !is_username(username) {
            return Err(Error::invalid_field(
                "config.username",
                "must be a Reddit username (3 to 20 letters, digits, '_' or '-'), without u/",
            ));
        }
        let user_agent = config.user_agent.trim();
        if !user_agent_shape(user_agent) {
            return Err(Error::invalid_field(
                "config.user_agent",
                "must look like `<platform>:<app id>:<version> (by /u/<name>)`, \
                 e.g. `web:com.example.earshot:v1.0 (by /u/examplebrand)`, as Reddit requires",
            ));
        }
        let user_agent = HeaderValue::from_str(user_agent).map_err(|_| {
            Error::invalid_field("config.user_agent", "has characters a header cannot carry")
        })?;
        let mut subreddits: Vec<String> = Vec::new();
        for (i, sub) in config.subreddits.iter().enumerate() {
            let name = sub
                .trim()
                .trim_start_matches('/')
                .trim_start_matches("r/")
                .trim_end_matches('/');
            if !is_subreddit(name) {
                return Err(Error::invalid_field(
                    &format!("config.subreddits[{i}]"),
                    "must be a subreddit name (2 to 21 letters, digits or '_'), with or without r/",
                ));
            }
            let name = name.to_lowercase();
            if !subreddits.contains(&name) {
                subreddits.push(name);
            }
        }
        let mut keywords: Vec<String> = Vec::new();
        for (i, word) in config.keywords.iter().enumerate() {
            let word = word.trim().to_lowercase();
            if word.is_empty() {
                return Err(Error::invalid_field(
                    &format!("config.keywords[{i}]"),
                    "must not be empty",
                ));
            }
            if !keywords.contains(&word) {
                keywords.push(word);
            }
        }
        if !keywords.is_empty() && subreddits.is_empty() {
            return Err(Error::invalid_field(
                "config.keywords",
                "filter the posts of the listed subreddits: name at least one in subreddits",
            ));
        }
        if subreddits.is_empty() && !config.listen_mentions {
            return Err(Error::invalid_field(
                "config.subreddits",
                "must name a subreddit when listen_mentions is false (nothing to listen to)",
            ));
        }
        Ok(Reddit {
            http: http::client(),
            auth_url,
            api_url,
            client_id,
            client_secret: config.client_secret,
            username: username.to_string(),
            password: config.password,
            user_agent,
            subreddits,
            keywords,
            listen_mentions: config.listen_mentions,
            access: tokio::sync::Mutex::new(None),
        })
    }

    fn capabilities(&self) -> Capabilities {
        let limit = LengthLimit::new(MAX_TEXT_CHARS, Unit::Chars);
        Capabilities {
            listen_keyword: !self.keywords.is_empty(),
            listen_hashtag: false,
            listen_mention: self.listen_mentions,
            listen_dm: self.listen_mentions,
            reply_public: Some(limit),
            reply_private: Some(limit),
            private_gate: PrivateGate::None,
            idempotency: Idempotency::Reconcile,
            transport: Transport::Poll {
                interval: POLL_INTERVAL,
            },
            rate: RateBudget {
                requests: 100,
                per: Duration::from_secs(60),
            },
            limitations: vec![
                "Reddit requires approval for every new OAuth app (since November 2025): this \
                 source only works with a script app Reddit approved for the brand, and \
                 commercial use needs an agreement with Reddit."
                    .into(),
                "Keywords filter the new posts of the listed subreddits; Reddit-wide search and \
                 comments inside those subreddits are not listened to (only comments that reply \
                 to or mention the brand account reach its inbox)."
                    .into(),
                "Customers can refuse or block private messages: Reddit then refuses the message \
                 and the reply fails with Reddit's words."
                    .into(),
                "Reddit limits how often a new or low-karma account may comment (\"you are doing \
                 that too much\"): replies then wait as long as Reddit says."
                    .into(),
                "The brand account cannot use two-factor authentication: a script app logs in \
                 with its password."
                    .into(),
            ],
        }
    }

    /// `segments` under `base`, e.g. `["r", "examplebrand", "new"]`.
    fn endpoint(base: &Url, segments: &[&str]) -> ConnResult<Url> {
        let mut url = base.clone();
        url.path_segments_mut()
            .map_err(|()| ConnError::Permanent("the configured URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// A bearer token: the cached one, or a fresh one from the password
    /// grant when it is missing or about to expire.
    async fn token(&self) -> ConnResult<String> {
        let mut access = self.access.lock().await;
        if let Some(a) = access.as_ref()
            && Instant::now() < a.renew_at
        {
            return Ok(a.token.clone());
        }
        let fresh = self.exchange().await?;
        let token = fresh.token.clone();
        *access = Some(fresh);
        Ok(token)
    }

    /// Drops `stale` after Reddit refused it (a token refreshed meanwhile
    /// by another call is kept).
    async fn forget(&self, stale: &str) {
        let mut access = self.access.lock().await;
        if access.as_ref().is_some_and(|a| a.token == stale) {
            *access = None;
        }
    }

    /// `POST {auth_url}/api/v1/access_token` with the password grant.
    async fn exchange(&self) -> ConnResult<Access> {
        let url = Self::endpoint(&self.auth_url, &["api", "v1", "access_token"])?;
        let resp = self
            .http
            .post(url)
            .header(USER_AGENT, self.user_agent.clone())
            .basic_auth(&self.client_id, Some(self.client_secret.expose()))
            .form(&[
                ("grant_type", "password"),
                ("username", self.username.as_str()),
                ("password", self.password.expose()),
            ])
            .send()
            .await
            .map_err(|e| read_error(&e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .text()
            .await
            .map_err(|e| ConnError::Transient(format!("reading the token answer: {e}")))?;
        if !status.is_success() {
            return Err(classify(status, &headers, &body));
        }
        #[derive(Deserialize)]
        struct Grant {
            #[serde(default)]
            access_token: Option<String>,
            #[serde(default)]
            expires_in: Option<u64>,
            #[serde(default)]
            error: Option<String>,
        }
        let grant: Grant = serde_json::from_str(&body)
            .map_err(|e| ConnError::Transient(format!("Reddit's token answer is not JSON: {e}")))?;
        // A wrong password is a 200 with `{"error": "invalid_grant"}`.
        if let Some(error) = grant.error {
            return Err(ConnError::Auth(format!(
                "Reddit refused the login: {error} (check username and password; the account \
                 cannot use two-factor authentication)"
            )));
        }
        let token = grant
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ConnError::Auth("Reddit's token answer has no access_token".into()))?;
        // Capped at a day, so an absurd answer cannot overflow the clock.
        let lifetime = Duration::from_secs(grant.expires_in.unwrap_or(3600).min(86_400));
        let margin = TOKEN_MARGIN.min(lifetime / 10);
        Ok(Access {
            token,
            renew_at: Instant::now() + lifetime - margin,
        })
    }

    /// Sends an authorised request made by `make`, renewing the token and
    /// trying once more when Reddit answers 401. `posting`: a lost answer
    /// may mean the request landed. Returns the body of a success.
    async fn call<F>(&self, make: F, posting: bool) -> ConnResult<String>
    where
        F: Fn() -> reqwest::RequestBuilder + Send + Sync,
    {
        let mut renewed = false;
        loop {
            let token = self.token().await?;
            let mut bearer = HeaderValue::from_str(&format!("bearer {token}"))
                .map_err(|_| ConnError::Auth("Reddit's token is not a valid header".into()))?;
            bearer.set_sensitive(true);
            let resp = make()
                .header(USER_AGENT, self.user_agent.clone())
                .header(AUTHORIZATION, bearer)
                .send()
                .await
                .map_err(|e| {
                    if posting {
                        http::send_error(&e, true)
                    } else {
                        read_error(&e)
                    }
                })?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !renewed {
                // Revoked or expired early: a 401 means nothing was done.
                self.forget(&token).await;
                renewed = true;
                continue;
            }
            let headers = resp.headers().clone();
            let body = resp.text().await.map_err(|e| {
                let m = format!("reading the answer: {e}");
                if posting {
                    ConnError::Unknown(m)
                } else {
                    ConnError::Transient(m)
                }
            })?;
            if !status.is_success() {
                return Err(classify(status, &headers, &body));
            }
            return Ok(body);
        }
    }

    /// GETs a listing and returns its children (`{kind, data}`), newest
    /// first as Reddit sends them.
    async fn listing(&self, url: Url) -> ConnResult<Vec<Value>> {
        let body = self.call(|| self.http.get(url.clone()), false).await?;
        let v: Value = serde_json::from_str(&body)
            .map_err(|e| ConnError::Transient(format!("Reddit sent invalid JSON: {e}")))?;
        match v.pointer("/data/children") {
            Some(Value::Array(children)) => Ok(children.clone()),
            _ => Err(ConnError::Transient(
                "Reddit's answer is not a listing (no data.children)".into(),
            )),
        }
    }

    fn listing_url(&self, segments: &[&str], before: Option<&str>) -> ConnResult<Url> {
        let mut url = Self::endpoint(&self.api_url, segments)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &PAGE_LIMIT.to_string());
            if let Some(before) = before {
                q.append_pair("before", before);
            }
            // Titles and bodies exactly as written, not HTML-escaped.
            q.append_pair("raw_json", "1");
        }
        Ok(url)
    }

    async fn poll(&self, cursor: Option<&Cursor>) -> ConnResult<Page> {
        let saved = CursorState::from_cursor(cursor)?;
        let from_now = saved.is_none();
        let saved = saved.unwrap_or_default();
        let mut next = CursorState::default();
        let mut page = Page::default();
        let mut found: Vec<Inbound> = Vec::new();

        for sub in &self.subreddits {
            let anchor = if from_now { None } else { saved.subs.get(sub) };
            let segments = ["r", sub.as_str(), "new"];
            let read = self
                .read_list(&segments, anchor, Origin::Subreddit, &mut found, &mut page)
                .await?;
            next.subs.insert(sub.clone(), read);
        }
        if self.listen_mentions {
            let anchor = if from_now {
                None
            } else {
                saved.mentions.as_ref()
            };
            let segments = ["message", "inbox"];
            let read = self
                .read_list(&segments, anchor, Origin::Inbox, &mut found, &mut page)
                .await?;
            next.mentions = Some(read);
        }

        // One thing is one item, however many reads carried it.
        let mut seen = HashSet::new();
        found.retain(|item| seen.insert(item.mention.external_id.clone()));
        found.sort_by_key(|item| item.mention.created_at);
        page.items = found;
        page.cursor = Some(next.to_cursor());
        Ok(page)
    }

    /// Reads one listing after `anchor` (none: start from now, taking
    /// nothing) and returns the new anchor.
    async fn read_list(
        &self,
        segments: &[&str],
        anchor: Option<&Anchor>,
        origin: Origin,
        found: &mut Vec<Inbound>,
        page: &mut Page,
    ) -> ConnResult<Anchor> {
        let where_ = segments.join("/");
        let Some(anchor) = anchor else {
            // Start from now: remember the newest entries, yield none.
            let records = self.listing(self.listing_url(segments, None)?).await?;
            let (things, _) = parse_things(&where_, records);
            return Ok(advance(&Anchor::default(), &things));
        };
        let (things, fell_back) = match &anchor.fullname {
            None => {
                let records = self.listing(self.listing_url(segments, None)?).await?;
                (records, false)
            }
            Some(before) => {
                let records = self
                    .listing(self.listing_url(segments, Some(before))?)
                    .await?;
                if records.is_empty() {
                    // Nothing new, or the anchor is gone (deleted or removed
                    // posts vanish from the listing, and `before` then finds
                    // nothing): re-read the newest page and go by time.
                    let records = self.listing(self.listing_url(segments, None)?).await?;
                    (records, true)
                } else {
                    page.more |= records.len() >= PAGE_LIMIT;
                    (records, false)
                }
            }
        };
        let (things, skipped) = parse_things(&where_, things);
        page.skipped.extend(skipped);
        let seen: HashSet<&str> = anchor.seen.iter().map(|(n, _)| n.as_str()).collect();
        let since = anchor.created_utc.map(|t| t - OVERLAP_SECS);
        // Oldest first, as they happened.
        for thing in things.iter().rev() {
            if seen.contains(thing.name.as_str())
                || anchor.fullname.as_deref() == Some(thing.name.as_str())
            {
                continue;
            }
            if fell_back && since.is_some_and(|since| thing.created_utc < since) {
                continue;
            }
            match self.inbound(thing, origin) {
                Ok(Some(item)) => found.push(item),
                Ok(None) => {}
                Err(why) => page.skipped.push(format!("{where_}: {why}")),
            }
        }
        Ok(advance(anchor, &things))
    }

    /// A record as an item; `Ok(None)`: not for us (a post no keyword
    /// matches); `Err`: skipped, with why.
    fn inbound(&self, t: &Thing, origin: Origin) -> std::result::Result<Option<Inbound>, String> {
        let author = t
            .author
            .as_deref()
            .map(strip_user_prefix)
            .unwrap_or_default()
            .replace('\0', "");
        if author.is_empty() || author == "[deleted]" || author == "[removed]" {
            return Err(format!("{}: deleted (no author)", t.name));
        }
        let body = t.selftext.as_deref().or(t.body.as_deref()).unwrap_or("");
        let body = body.trim();
        if matches!(body, "[deleted]" | "[removed]") {
            return Err(format!(
                "{}: {} by Reddit or its author",
                t.name,
                &body[1..body.len() - 1]
            ));
        }
        let created_at = DateTime::from_timestamp_millis((t.created_utc * 1000.0) as i64)
            .filter(|at| at.timestamp() >= 0)
            .ok_or_else(|| format!("{}: created_utc {} is not a time", t.name, t.created_utc))?;
        let prefix = t.name.get(..3).unwrap_or("");
        let (kind, text, url, parent_id, thread_id, title) = match prefix {
            "t3_" => {
                let title = t.title.as_deref().unwrap_or("").trim();
                let mut text = title.to_string();
                if !body.is_empty() {
                    text = format!("{text}\n\n{body}");
                } else if t.is_self == Some(false)
                    && let Some(link) = t.url.as_deref().filter(|u| !u.is_empty())
                {
                    text = format!("{text}\n\n{link}");
                }
                let kind = match origin {
                    Origin::Inbox => InboundKind::Mention,
                    Origin::Subreddit if self.keywords.is_empty() => InboundKind::Feed,
                    Origin::Subreddit => {
                        let hay = text.to_lowercase();
                        if !self.keywords.iter().any(|k| contains_word(&hay, k)) {
                            return Ok(None);
                        }
                        InboundKind::Keyword
                    }
                };
                let url = t.permalink.as_deref().map(|p| format!("{WEB}{p}"));
                (
                    kind,
                    text,
                    url,
                    None,
                    Some(t.name.clone()),
                    Some(title.to_string()),
                )
            }
            "t1_" => {
                let link = t.link_id.clone().or_else(|| {
                    t.context
                        .as_deref()
                        .and_then(post_of_permalink)
                        .map(|id| format!("t3_{id}"))
                });
                let url = t
                    .permalink
                    .as_deref()
                    .or(t.context.as_deref())
                    .map(|p| format!("{WEB}{p}"));
                let title = t.link_title.clone();
                (
                    InboundKind::Mention,
                    body.to_string(),
                    url,
                    t.parent_id.clone(),
                    link,
                    title,
                )
            }
            "t4_" => {
                let id = &t.name[3..];
                let url = Some(format!("{WEB}/message/messages/{id}"));
                let thread = t
                    .first_message_name
                    .clone()
                    .unwrap_or_else(|| t.name.clone());
                let parent = t.parent_id.clone();
                (
                    InboundKind::Direct,
                    body.to_string(),
                    url,
                    parent,
                    Some(thread),
                    t.subject.clone(),
                )
            }
            _ => return Err(format!("{}: not a post, comment or message", t.name)),
        };
        let text = crate::truncate_bytes(text.replace('\0', "").trim().to_string(), MAX_TEXT_BYTES);
        if text.is_empty() {
            return Err(format!("{}: no text", t.name));
        }
        let by_brand = author.eq_ignore_ascii_case(&self.username);
        let mention = MentionInput {
            source: SourceKind::Reddit,
            external_id: t.name.clone(),
            author: Author {
                handle: author.clone(),
                profile_url: Some(format!("{WEB}/user/{author}")),
                ..Author::default()
            },
            text,
            created_at,
            url: url.filter(|u| !u.chars().any(char::is_whitespace) && u.len() <= 2048),
            language: None,
            thread_id,
            parent_id,
            metrics: ReachMetrics {
                likes: u64::try_from(t.score.unwrap_or(0)).unwrap_or(0),
                reposts: 0,
                replies: t.num_comments.unwrap_or(0),
            },
        };
        let mut reply_ref = serde_json::json!({"thing_id": t.name, "author": author});
        if let Some(title) = title.filter(|s| !s.trim().is_empty()) {
            reply_ref["title"] = Value::String(title);
        }
        Ok(Some(Inbound {
            mention,
            kind,
            reply_ref,
            by_brand,
        }))
    }

    fn reply_ref(out: &Outbound) -> ConnResult<ReplyRef> {
        serde_json::from_value(out.reply_ref.clone())
            .map_err(|e| ConnError::Permanent(format!("reply_ref: {e}")))
    }

    async fn send(&self, out: &Outbound) -> ConnResult<Sent> {
        let text = self.render(out)?;
        let reply = Self::reply_ref(out)?;
        match out.visibility {
            Visibility::Public => {
                let thing = thing_to_answer(&reply)?;
                let url = Self::endpoint(&self.api_url, &["api", "comment"])?;
                let form = [
                    ("api_type", "json"),
                    ("thing_id", thing.as_str()),
                    ("text", text.as_str()),
                ];
                let body = self
                    .call(|| self.http.post(url.clone()).form(&form), true)
                    .await?;
                let answer = body_answer(&body)?;
                answer
                    .pointer("/json/data/things/0/data")
                    .and_then(comment_sent)
                    .ok_or_else(|| ConnError::Unknown("Reddit's answer names no comment".into()))
            }
            Visibility::Private => {
                let to = recipient(out, &reply)?;
                let subject = subject(reply.title.as_deref());
                let url = Self::endpoint(&self.api_url, &["api", "compose"])?;
                let form = [
                    ("api_type", "json"),
                    ("to", to.as_str()),
                    ("subject", subject.as_str()),
                    ("text", text.as_str()),
                ];
                let body = self
                    .call(|| self.http.post(url.clone()).form(&form), true)
                    .await?;
                body_answer(&body)?;
                // Reddit's answer to a compose names no message: read it
                // back from our sent messages; failing that, the key.
                match self.find_sent_message(&to, &text).await {
                    Ok(Some(sent)) => Ok(sent),
                    Ok(None) => Ok(Sent {
                        remote_id: out.idempotency_key.clone(),
                        url: None,
                    }),
                    Err(e) => {
                        tracing::info!(error = %e, "sent message delivered; reading it back failed");
                        Ok(Sent {
                            remote_id: out.idempotency_key.clone(),
                            url: None,
                        })
                    }
                }
            }
        }
    }

    async fn reconcile(&self, out: &Outbound) -> ConnResult<Option<Sent>> {
        let text = self.render(out)?;
        let reply = Self::reply_ref(out)?;
        match out.visibility {
            // A reply to a private message lands among our sent messages.
            Visibility::Public if thing_to_answer(&reply)?.starts_with("t4_") => {
                let to = recipient(out, &reply)?;
                self.find_sent_message(&to, &text).await
            }
            Visibility::Public => {
                let thing = thing_to_answer(&reply)?;
                let mut url =
                    Self::endpoint(&self.api_url, &["user", self.username.as_str(), "comments"])?;
                url.query_pairs_mut()
                    .append_pair("limit", &RECONCILE_WINDOW.to_string())
                    .append_pair("sort", "new")
                    .append_pair("raw_json", "1");
                let want = normalise(&text);
                Ok(self
                    .listing(url)
                    .await?
                    .iter()
                    .filter_map(|c| c.get("data"))
                    .filter(|c| c.get("parent_id").and_then(Value::as_str) == Some(thing.as_str()))
                    .filter(|c| {
                        normalise(c.get("body").and_then(Value::as_str).unwrap_or("")) == want
                    })
                    .find_map(comment_sent))
            }
            Visibility::Private => {
                let to = recipient(out, &reply)?;
                self.find_sent_message(&to, &text).await
            }
        }
    }

    /// A message to `to` with this text among our recent sent messages.
    async fn find_sent_message(&self, to: &str, text: &str) -> ConnResult<Option<Sent>> {
        let mut url = Self::endpoint(&self.api_url, &["message", "sent"])?;
        url.query_pairs_mut()
            .append_pair("limit", &RECONCILE_WINDOW.to_string())
            .append_pair("raw_json", "1");
        let want = normalise(text);
        Ok(self
            .listing(url)
            .await?
            .iter()
            .filter_map(|m| m.get("data"))
            .filter(|m| {
                m.get("dest")
                    .and_then(Value::as_str)
                    .is_some_and(|d| strip_user_prefix(d).eq_ignore_ascii_case(to))
            })
            .filter(|m| normalise(m.get("body").and_then(Value::as_str).unwrap_or("")) == want)
            .find_map(|m| {
                let name = m.get("name")?.as_str()?.to_string();
                let url = name
                    .strip_prefix("t4_")
                    .map(|id| format!("{WEB}/message/messages/{id}"));
                Some(Sent {
                    remote_id: name,
                    url,
                })
            }))
    }

    fn render(&self, out: &Outbound) -> ConnResult<String> {
        let limit = LengthLimit::new(MAX_TEXT_CHARS, Unit::Chars);
        let text = out.body.trim().to_string();
        limit
            .check(&text)
            .map_err(|length| ConnError::TooLong { length, limit })?;
        if text.is_empty() {
            return Err(ConnError::Permanent("the reply has no text".into()));
        }
        Ok(text)
    }
}

/// The new anchor after reading `things` (newest first): the newest one
/// still listed (a live `before` anchor), the newest time ever read (never
/// earlier, so the overlap re-read after a vanished anchor cannot reach
/// back into items already yielded), and the names seen within the overlap
/// window of it.
fn advance(old: &Anchor, things: &[Thing]) -> Anchor {
    let mut next = old.clone();
    if let Some(newest) = things.first() {
        next.fullname = Some(newest.name.clone());
        next.created_utc = Some(
            old.created_utc
                .map_or(newest.created_utc, |t| t.max(newest.created_utc)),
        );
    }
    let mut seen = old.seen.clone();
    for t in things.iter().rev() {
        if !seen.iter().any(|(n, _)| *n == t.name) {
            seen.push((t.name.clone(), t.created_utc));
        }
    }
    let newest = seen
        .iter()
        .map(|(_, at)| *at)
        .chain(next.created_utc)
        .fold(f64::MIN, f64::max);
    seen.retain(|(_, at)| *at >= newest - OVERLAP_SECS);
    seen.sort_by(|a, b| a.1.total_cmp(&b.1));
    if seen.len() > SEEN_CAP {
        seen.drain(..seen.len() - SEEN_CAP);
    }
    next.seen = seen;
    next
}

/// Reads each child on its own: one malformed record is skipped with why,
/// never failing the page.
fn parse_things(where_: &str, records: Vec<Value>) -> (Vec<Thing>, Vec<String>) {
    let mut things = Vec::new();
    let mut skipped = Vec::new();
    for (i, record) in records.into_iter().enumerate() {
        let data = record.get("data").cloned().unwrap_or(Value::Null);
        match serde_json::from_value::<Thing>(data) {
            Ok(t) => things.push(t),
            Err(e) => skipped.push(format!("{where_}: record {i}: {e}")),
        }
    }
    (things, skipped)
}

/// A GET's transport error: reads are safe to repeat, so a lost answer is
/// transient.
fn read_error(e: &reqwest::Error) -> ConnError {
    match http::send_error(e, false) {
        ConnError::Unknown(m) => ConnError::Transient(m),
        other => other,
    }
}

/// A non-success answer. Reddit's 429 sometimes carries only
/// `X-Ratelimit-Reset` (seconds until the window refills): wait that long.
fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> ConnError {
    let now = Utc::now();
    match http::error_for(status, headers, body, now) {
        ConnError::RateLimited {
            retry_after: None,
            message,
        } => {
            let info = http::RateInfo::from_headers(headers, now);
            ConnError::RateLimited {
                retry_after: info
                    .reset_at
                    .map(|at| (at - now).to_std().unwrap_or_default()),
                message,
            }
        }
        other => other,
    }
}

/// The JSON of a 200 answer to a POST with `api_type=json`, or the error
/// its `json.errors` names (`[["RATELIMIT", "…try again in 9 minutes.",
/// "ratelimit"]]`, `[["THREAD_LOCKED", …]]`).
fn body_answer(body: &str) -> ConnResult<Value> {
    let v: Value = serde_json::from_str(body)
        .map_err(|e| ConnError::Unknown(format!("Reddit's answer is not JSON: {e}")))?;
    let errors = v
        .pointer("/json/errors")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(first) = errors.first() else {
        return Ok(v);
    };
    let part = |i: usize| first.get(i).and_then(Value::as_str).unwrap_or("").trim();
    let (code, words, field) = (part(0), part(1), part(2));
    let said = match (words.is_empty(), field.is_empty()) {
        (true, _) => code.to_string(),
        (false, true) => format!("{code}: {words}"),
        (false, false) => format!("{code}: {words} ({field})"),
    };
    Err(match code {
        "RATELIMIT" => ConnError::RateLimited {
            retry_after: v
                .pointer("/json/ratelimit")
                .and_then(Value::as_f64)
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64)
                .or_else(|| wait_in_words(words)),
            message: format!("Reddit said {said}"),
        },
        "USER_REQUIRED" => ConnError::Auth(format!("Reddit said {said}")),
        _ => ConnError::Permanent(format!("Reddit refused: {said}")),
    })
}

/// "…try again in 9 minutes." → 9 minutes (also seconds, milliseconds,
/// hours; "a minute" is one).
fn wait_in_words(words: &str) -> Option<Duration> {
    let lower = words.to_lowercase();
    let rest = &lower[lower.find("try again in ")? + "try again in ".len()..];
    let mut parts = rest.split_whitespace();
    let n = parts.next()?;
    let n: f64 = if n == "a" || n == "an" {
        1.0
    } else {
        n.parse().ok()?
    };
    let unit = parts.next()?.trim_end_matches(['.', ',', '!']);
    let secs = match unit.trim_end_matches('s') {
        "millisecond" => n / 1000.0,
        "second" => n,
        "minute" => n * 60.0,
        "hour" => n * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs.max(0.0)))
}

/// The thing a public reply answers: a post, comment or message fullname.
fn thing_to_answer(reply: &ReplyRef) -> ConnResult<String> {
    reply
        .thing_id
        .as_deref()
        .map(str::trim)
        .filter(|id| {
            ["t1_", "t3_", "t4_"].iter().any(|p| {
                id.strip_prefix(p).is_some_and(|rest| {
                    !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric())
                })
            })
        })
        .map(str::to_string)
        .ok_or_else(|| {
            ConnError::Permanent(
                "reply_ref.thing_id: a public reply needs the t1_/t3_/t4_ fullname it answers"
                    .into(),
            )
        })
}

/// Whom a private message goes to: the author stored with the item, else
/// the recipient.
fn recipient(out: &Outbound, reply: &ReplyRef) -> ConnResult<String> {
    let to = reply.author.as_deref().unwrap_or(&out.recipient);
    let to = strip_user_prefix(to);
    if !is_username(to) {
        return Err(ConnError::Permanent(format!(
            "reply_ref.author: `{to}` is not a Reddit username to message"
        )));
    }
    Ok(to.to_string())
}

/// "Re: <title>", cut to Reddit's 100 characters.
fn subject(title: Option<&str>) -> String {
    let title = title
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty());
    let subject = match title {
        Some(t) if t.to_lowercase().starts_with("re:") => t,
        Some(t) => format!("Re: {t}"),
        None => "Re: your post on Reddit".to_string(),
    };
    if subject.chars().count() <= MAX_SUBJECT_CHARS {
        return subject;
    }
    let mut cut: String = subject.chars().take(MAX_SUBJECT_CHARS - 1).collect();
    cut = cut.trim_end().to_string();
    cut.push('…');
    cut
}

fn comment_sent(data: &Value) -> Option<Sent> {
    let name = data.get("name")?.as_str()?.to_string();
    let url = data
        .get("permalink")
        .and_then(Value::as_str)
        .map(|p| format!("{WEB}{p}"));
    Some(Sent {
        remote_id: name,
        url,
    })
}

/// The post id in a permalink `/r/<sub>/comments/<post id>/<slug>/…`.
fn post_of_permalink(permalink: &str) -> Option<&str> {
    let mut parts = permalink.split('/');
    parts.find(|p| *p == "comments")?;
    parts
        .next()
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// For matching a posted comment to a queued reply: whitespace collapsed.
fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `word` occurs in `hay` (both lower-case) as a whole word or
/// phrase, so `app` does not match `happy`.
fn contains_word(hay: &str, word: &str) -> bool {
    hay.match_indices(word).any(|(at, m)| {
        let before = hay[..at].chars().next_back();
        let after = hay[at + m.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

fn strip_user_prefix(name: &str) -> &str {
    let name = name.trim();
    name.strip_prefix("/u/")
        .or_else(|| name.strip_prefix("u/"))
        .unwrap_or(name)
}

fn is_username(name: &str) -> bool {
    (3..=20).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn is_subreddit(name: &str) -> bool {
    (2..=21).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reddit's required form: `<platform>:<app id>:<version> (by /u/<name>)`.
fn user_agent_shape(ua: &str) -> bool {
    let Some((head, by)) = ua.split_once(" (by /u/") else {
        return false;
    };
    let Some(name) = by.strip_suffix(')') else {
        return false;
    };
    let parts: Vec<&str> = head.split(':').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && !p.chars().any(char::is_whitespace))
        && !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A base URL from config: http(s), a host, no query.
fn base_url(field: &str, raw: &str) -> Result<Url> {
    let url = Url::parse(raw.trim()).map_err(|e| Error::invalid_field(field, e))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::invalid_field(
            field,
            "must be an http(s) URL with a host",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid_field(
            field,
            "must not carry a query or fragment",
        ));
    }
    Ok(url)
}

#[async_trait]
impl Connector for Reddit {
    fn kind(&self) -> SourceKind {
        SourceKind::Reddit
    }

    fn capabilities(&self) -> Capabilities {
        Reddit::capabilities(self)
    }

    /// Logs in (the password grant), so wrong credentials show at once.
    async fn start(&self) -> ConnResult<Capabilities> {
        *self.access.lock().await = None;
        self.token().await?;
        Ok(Reddit::capabilities(self))
    }

    async fn poll(&self, cursor: Option<&Cursor>) -> ConnResult<Page> {
        Reddit::poll(self, cursor).await
    }

    fn render(&self, out: &Outbound) -> ConnResult<String> {
        Reddit::render(self, out)
    }

    async fn send(&self, out: &Outbound) -> ConnResult<Sent> {
        Reddit::send(self, out).await
    }

    async fn reconcile(&self, out: &Outbound) -> ConnResult<Option<Sent>> {
        Reddit::reconcile(self, out).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_agent_must_have_reddits_shape() {
        assert!(user_agent_shape(
            "web:com.example.earshot:v1.0 (by /u/examplebrand)"
        ));
        assert!(!user_agent_shape("Earshot/1.0"));
        assert!(!user_agent_shape("web:earshot (by /u/examplebrand)"));
        assert!(!user_agent_shape("web:earshot:v1 (by u/examplebrand)"));
        assert!(!user_agent_shape("web:earshot:v1 (by /u/)"));
        assert!(!user_agent_shape("web:ear shot:v1 (by /u/x_y)"));
    }

    #[test]
    fn reddits_wait_words_become_durations() {
        let m = |s: &str| wait_in_words(s).map(|d| d.as_secs_f64());
        assert_eq!(
            m("you are doing that too much. try again in 9 minutes."),
            Some(540.0)
        );
        assert_eq!(m("Try again in 30 seconds."), Some(30.0));
        assert_eq!(m("try again in a minute"), Some(60.0));
        assert_eq!(m("try again in 500 milliseconds."), Some(0.5));
        assert_eq!(m("try again later"), None);
    }

    #[test]
    fn subjects_are_cut_to_100_characters() {
        assert_eq!(subject(Some("My order")), "Re: My order");
        assert_eq!(subject(Some("re: hello")), "re: hello");
        assert_eq!(subject(None), "Re: your post on Reddit");
        let long = subject(Some(&"é".repeat(300)));
        assert_eq!(long.chars().count(), 100);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn keywords_match_whole_words() {
        assert!(contains_word("love the example app!", "example app"));
        assert!(!contains_word("so happy", "app"));
        assert!(contains_word("app", "app"));
    }

    #[test]
    fn a_post_id_is_read_from_a_permalink() {
        assert_eq!(
            post_of_permalink("/r/examplebrand/comments/abc123/slug/def456/?context=3"),
            Some("abc123")
        );
        assert_eq!(post_of_permalink("/message/messages/x"), None);
    }

    #[test]
    fn the_overlap_keeps_only_recent_names() {
        let thing = |name: &str, at: f64| Thing {
            name: name.into(),
            created_utc: at,
            author: None,
            title: None,
            selftext: None,
            body: None,
            is_self: None,
            url: None,
            permalink: None,
            context: None,
            parent_id: None,
            link_id: None,
            link_title: None,
            subject: None,
            first_message_name: None,
            score: None,
            num_comments: None,
        };
        let old = Anchor {
            fullname: Some("t3_a".into()),
            created_utc: Some(1000.0),
            seen: vec![("t3_a".into(), 1000.0)],
        };
        let next = advance(&old, &[thing("t3_c", 3000.0), thing("t3_b", 2500.0)]);
        assert_eq!(next.fullname.as_deref(), Some("t3_c"));
        assert_eq!(next.created_utc, Some(3000.0));
        assert_eq!(
            next.seen,
            vec![("t3_b".to_string(), 2500.0), ("t3_c".to_string(), 3000.0)]
        );
        assert_eq!(advance(&next, &[]), next, "an empty read keeps the anchor");
        // The anchor vanished and the newest live post is older: it becomes
        // the `before` anchor, the time bound stays.
        let moved = advance(&next, &[thing("t3_old", 900.0)]);
        assert_eq!(moved.fullname.as_deref(), Some("t3_old"));
        assert_eq!(moved.created_utc, Some(3000.0));
        assert!(moved.seen.iter().all(|(n, _)| n != "t3_old"));
    }
}
