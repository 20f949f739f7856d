//! Feeds: RSS 0.x/1.0/2.0, Atom and JSON Feed (blogs, news, forums, Google
//! Alerts, review sites). Listen-only: a feed has no way to answer, so an
//! agent replies on the site itself.
//!
//! Each poll is a conditional GET (`If-None-Match` / `If-Modified-Since`
//! from the cursor; `304` means nothing new). Entries are deduplicated on
//! a bounded ring of the ids already seen, kept in the cursor, so a feed
//! that repeats its entries yields each one once, across restarts too.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use earshot_core::error::{Error, Result};
use earshot_core::mention::{Author, MAX_TEXT_BYTES, MentionInput};
use earshot_core::source::SourceKind;
use feed_rs::model::{Entry, Feed, Link, Text};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use url::Url;

use crate::{
    Capabilities, ConnError, ConnResult, Connector, Cursor, Inbound, InboundKind, Outbound, Page,
    RateBudget, Sent, SourceSettings, Transport, http, parse_settings,
};

const DEFAULT_INTERVAL_SECS: u64 = 900;
const MIN_INTERVAL_SECS: u64 = 60;
const DEFAULT_MAX_BACKFILL: usize = 20;
/// The fewest entry ids the cursor remembers. It keeps more when the feed
/// itself is longer, so an entry still in the feed is never forgotten.
pub const SEEN_RING: usize = 1_000;
/// The largest feed document read; a bigger body is refused, not truncated.
const MAX_FEED_BYTES: usize = 16 * 1024 * 1024;
/// Prefix of the ids made from an entry's content when the feed gives none.
pub const HASH_PREFIX: &str = "sha256:";
const MAX_ID_BYTES: usize = 256;
const MAX_HANDLE_BYTES: usize = 256;
/// Stands in for a date the feed gave but nobody can read, so the entry
/// carrying it is skipped instead of being dated at fetch time.
const UNREADABLE_DATE: DateTime<Utc> = DateTime::<Utc>::MIN_UTC;

/// What the feed carries: plain entries or reviews of the brand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KindHint {
    #[default]
    Feed,
    Reviews,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    url: String,
    #[serde(default = "default_interval")]
    interval_secs: u64,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default = "default_backfill")]
    max_backfill: usize,
    #[serde(default)]
    kind_hint: KindHint,
}

fn default_interval() -> u64 {
    DEFAULT_INTERVAL_SECS
}

fn default_backfill() -> usize {
    DEFAULT_MAX_BACKFILL
}

/// The cursor's JSON: the validators for the next conditional GET and the
/// ids already yielded, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedCursor {
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub last_modified: Option<String>,
    #[serde(default)]
    pub seen: Vec<String>,
}

/// One feed, polled.
#[derive(Debug)]
pub struct Rss {
    url: Url,
    interval: Duration,
    /// Lowercased; empty means every entry is an item.
    keywords: Vec<String>,
    max_backfill: usize,
    kind: InboundKind,
    client: reqwest::Client,
}

impl Rss {
    pub fn from_settings(settings: &SourceSettings) -> Result<Self> {
        let config: Config = parse_settings(settings)?;
        let url =
            Url::parse(config.url.trim()).map_err(|e| Error::invalid_field("config.url", e))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::invalid_field(
                "config.url",
                "must be an http or https URL",
            ));
        }
        if config.interval_secs < MIN_INTERVAL_SECS {
            return Err(Error::invalid_field(
                "config.interval_secs",
                format!("must be at least {MIN_INTERVAL_SECS}"),
            ));
        }
        if config.max_backfill > SEEN_RING {
            return Err(Error::invalid_field(
                "config.max_backfill",
                format!("must be at most {SEEN_RING}"),
            ));
        }
        let mut keywords = Vec::with_capacity(config.keywords.len());
        for (i, keyword) in config.keywords.iter().enumerate() {
            let keyword = keyword.trim().to_lowercase();
            if keyword.is_empty() {
                return Err(Error::invalid_field(
                    &format!("config.keywords[{i}]"),
                    "must not be empty",
                ));
            }
            keywords.push(keyword);
        }
        Ok(Rss {
            url,
            interval: Duration::from_secs(config.interval_secs),
            keywords,
            max_backfill: config.max_backfill,
            kind: match config.kind_hint {
                KindHint::Feed => InboundKind::Feed,
                KindHint::Reviews => InboundKind::Review,
            },
            client: http::client(),
        })
    }

    async fn fetch(&self, cursor: &FeedCursor) -> ConnResult<Option<(HeaderMap, Vec<u8>)>> {
        let mut request = self.client.get(self.url.clone()).header(
            ACCEPT,
            "application/atom+xml, application/rss+xml, application/feed+json, \
             application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1",
        );
        if let Some(etag) = &cursor.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(at) = &cursor.last_modified {
            request = request.header(IF_MODIFIED_SINCE, at);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| http::send_error(&e, false))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        let headers = response.headers().clone();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(http::error_for(status, &headers, &body, Utc::now()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| http::send_error(&e, false))?
        {
            if body.len() + chunk.len() > MAX_FEED_BYTES {
                return Err(ConnError::Permanent(format!(
                    "{} is larger than {} MiB: not read",
                    self.url,
                    MAX_FEED_BYTES / (1024 * 1024)
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some((headers, body)))
    }

    fn parse(&self, headers: &HeaderMap, body: &[u8]) -> ConnResult<Feed> {
        feed_rs::parser::Builder::new()
            .base_uri(Some(self.url.as_str()))
            // An empty id marks an entry the feed gave none: we hash its
            // content ourselves instead of feed-rs's generated id (which
            // is a random UUID when the entry has no link).
            .id_generator(|_, _, _| String::new())
            .timestamp_parser(parse_timestamp)
            .build()
            // Raw bytes: feed-rs decodes using the XML prolog's encoding.
            .parse(body)
            .map_err(|e| {
                let content_type = headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("no Content-Type");
                ConnError::Permanent(format!(
                    "{} did not return an RSS, Atom or JSON feed: got {content_type} \
                     starting with {:?} ({e})",
                    self.url,
                    preview(body)
                ))
            })
    }

    /// The host, standing in for an author the feed does not name.
    fn host(&self) -> String {
        self.url.host_str().unwrap_or("feed").to_string()
    }

    fn to_inbound(&self, feed: &Feed, entry: &Entry, id: &str, now: DateTime<Utc>) -> Read {
        let date = entry.published.or(entry.updated);
        if date == Some(UNREADABLE_DATE) {
            return Read::Skip(format!("entry {id}: unreadable date"));
        }
        if date.is_some_and(|d| d.year() < 1970) {
            return Read::Skip(format!("entry {id}: dated before 1970"));
        }
        let title = entry.title.as_ref().map(text_of).unwrap_or_default();
        let body = entry
            .content
            .as_ref()
            .and_then(|c| {
                let body = c.body.as_deref()?;
                Some(if c.content_type.subty().as_str() == "plain" {
                    normalize_plain(body)
                } else {
                    html_to_text(body)
                })
            })
            .filter(|b| !b.is_empty())
            .or_else(|| entry.summary.as_ref().map(text_of))
            .unwrap_or_default();
        let text = match (title.is_empty(), body.is_empty()) {
            (true, true) => return Read::Skip(format!("entry {id}: no title and no text")),
            (false, true) => title,
            (true, false) => body,
            (false, false) if body.starts_with(&title) => body,
            (false, false) => format!("{title}\n\n{body}"),
        };
        if !self.keywords.is_empty() {
            let lower = text.to_lowercase();
            if !self.keywords.iter().any(|k| lower.contains(k.as_str())) {
                return Read::Filtered;
            }
        }
        let url = entry_link(&entry.links)
            .map(|l| unwrap_redirect(&l.href))
            .filter(|u| openable(u));
        let person = entry.authors.first();
        let name = person
            .and_then(|p| p.name.as_deref())
            .map(person_name)
            .filter(|n| !n.is_empty());
        let email = person
            .and_then(|p| p.email.as_deref())
            .map(str::trim)
            .filter(|e| !e.is_empty());
        let feed_title = feed.title.as_ref().map(text_of).filter(|t| !t.is_empty());
        let handle = name
            .or(email)
            .map(|h| {
                crate::truncate_bytes(clean(h.trim_start_matches('@').trim()), MAX_HANDLE_BYTES)
            })
            .filter(|h| !h.trim().is_empty())
            .unwrap_or_else(|| self.host());
        let display_name = name
            .map(clean)
            .or(feed_title)
            .map(|n| n.chars().take(256).collect());
        let profile_url = person.and_then(|p| p.uri.clone()).filter(|u| openable(u));
        Read::Item(Box::new(Inbound {
            mention: MentionInput {
                source: SourceKind::Rss,
                external_id: id.to_string(),
                author: Author {
                    handle,
                    display_name,
                    profile_url,
                    ..Author::default()
                },
                text: crate::truncate_bytes(clean(&text), MAX_TEXT_BYTES),
                created_at: date.map_or(now, |d| d.min(now)),
                url: url.clone(),
                language: None,
                thread_id: None,
                parent_id: None,
                metrics: Default::default(),
            },
            kind: self.kind,
            reply_ref: json!({ "link": url }),
            by_brand: false,
        }))
    }

    /// The external id of an entry: its own id when it names itself
    /// globally (an absolute URI: an Atom id, a permalink guid, a `urn:` or
    /// `tag:`), scoped by the feed URL when it is only unique within the
    /// feed (a bare number or slug), and a content hash when it has none.
    fn entry_id(&self, entry: &Entry) -> String {
        let id = entry.id.trim();
        if id.is_empty() {
            let mut hash = Sha256::new();
            let link = entry_link(&entry.links).map(|l| l.href.as_str());
            let title = entry.title.as_ref().map(|t| t.content.as_str());
            let published = entry.published.map(|d| d.to_rfc3339());
            for part in [link, title, published.as_deref()] {
                hash.update(part.unwrap_or("").as_bytes());
                hash.update([0u8]);
            }
            return format!("{HASH_PREFIX}{}", hex(&hash.finalize()));
        }
        let global = !id.starts_with(HASH_PREFIX) && Url::parse(id).is_ok();
        let scoped = if global {
            id.to_string()
        } else {
            format!("{}#{id}", self.url)
        };
        if scoped.len() <= MAX_ID_BYTES {
            scoped
        } else {
            // Too long to store: a hash of the id still names it stably,
            // scoped so it cannot meet a content hash.
            let digest = Sha256::digest(scoped.as_bytes());
            format!("{HASH_PREFIX}id:{}", hex(&digest))
        }
    }
}

enum Read {
    Item(Box<Inbound>),
    /// Did not match the keywords.
    Filtered,
    Skip(String),
}

#[async_trait]
impl Connector for Rss {
    fn kind(&self) -> SourceKind {
        SourceKind::Rss
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::listen_only(
            Transport::Poll {
                interval: self.interval,
            },
            RateBudget {
                requests: 1,
                per: self.interval,
            },
        );
        caps.listen_keyword = !self.keywords.is_empty();
        caps.limitations.push(
            "Listen-only: a feed cannot be answered; an agent replies on the site \
             itself, through the entry's link."
                .to_string(),
        );
        if !self.keywords.is_empty() {
            caps.limitations.push(format!(
                "Only entries whose title or text contains one of these keywords \
                 (any case) become mentions: {}.",
                self.keywords.join(", ")
            ));
        }
        caps
    }

    async fn start(&self) -> ConnResult<Capabilities> {
        Ok(self.capabilities())
    }

    async fn poll(&self, cursor: Option<&Cursor>) -> ConnResult<Page> {
        let saved = cursor.and_then(|c| {
            serde_json::from_value::<FeedCursor>(c.0.clone())
                .map_err(|e| {
                    tracing::warn!(url = %self.url, error = %e, "unreadable feed cursor, starting afresh");
                })
                .ok()
        });
        // An unreadable cursor starts afresh, with the first poll's backfill.
        let first = saved.is_none();
        let previous = saved.unwrap_or_default();
        let Some((headers, body)) = self.fetch(&previous).await? else {
            return Ok(Page::default());
        };
        let feed = self.parse(&headers, &body)?;
        let now = Utc::now();

        let seen: HashSet<&str> = previous.seen.iter().map(String::as_str).collect();
        let mut in_feed: Vec<String> = Vec::with_capacity(feed.entries.len());
        let mut in_feed_set: HashSet<String> = HashSet::with_capacity(feed.entries.len());
        let mut items = Vec::new();
        let mut skipped = Vec::new();
        // Feeds list newest first; reading them backwards keeps entries
        // with one date in publication order once sorted.
        for entry in feed.entries.iter().rev() {
            let id = self.entry_id(entry);
            if !in_feed_set.insert(id.clone()) {
                continue;
            }
            in_feed.push(id.clone());
            if seen.contains(id.as_str()) {
                continue;
            }
            match self.to_inbound(&feed, entry, &id, now) {
                Read::Item(item) => items.push(*item),
                Read::Filtered => {}
                Read::Skip(why) => {
                    tracing::warn!(url = %self.url, "{why}");
                    skipped.push(why);
                }
            }
        }
        items.sort_by_key(|i| i.mention.created_at);
        if first && items.len() > self.max_backfill {
            items.drain(..items.len() - self.max_backfill);
        }

        let next = FeedCursor {
            etag: header(&headers, ETAG),
            last_modified: header(&headers, reqwest::header::LAST_MODIFIED),
            seen: remember(previous.seen, in_feed),
        };
        Ok(Page {
            items,
            cursor: Some(Cursor(serde_json::to_value(next).map_err(|e| {
                ConnError::Permanent(format!("cannot save the feed cursor: {e}"))
            })?)),
            more: false,
            skipped,
        })
    }

    async fn send(&self, _out: &Outbound) -> ConnResult<Sent> {
        Err(ConnError::Unsupported("replies: feeds are listen-only"))
    }

    async fn reconcile(&self, _out: &Outbound) -> ConnResult<Option<Sent>> {
        Err(ConnError::Unsupported("replies: feeds are listen-only"))
    }
}

/// The ring of seen ids after this poll: the ids in the feed now move to
/// the newest end, and the oldest of the rest are evicted past the bound.
fn remember(old: Vec<String>, in_feed: Vec<String>) -> Vec<String> {
    let current: HashSet<&str> = in_feed.iter().map(String::as_str).collect();
    let mut ring: VecDeque<String> = old
        .into_iter()
        .filter(|id| !current.contains(id.as_str()))
        .collect();
    let bound = SEEN_RING.max(in_feed.len());
    ring.extend(in_feed.iter().cloned());
    while ring.len() > bound {
        ring.pop_front();
    }
    ring.into()
}

/// A name as feed-rs reads it from RSS's `email (Name)` form keeps its
/// parentheses: drop them.
fn person_name(raw: &str) -> &str {
    let name = raw.trim();
    name.strip_prefix('(')
        .and_then(|n| n.strip_suffix(')'))
        .unwrap_or(name)
        .trim()
}

fn header(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The link an agent opens: the alternate (or unlabelled) link, else any.
fn entry_link(links: &[Link]) -> Option<&Link> {
    links
        .iter()
        .find(|l| matches!(l.rel.as_deref(), None | Some("alternate")))
        .or_else(|| links.first())
}

/// Google Alerts wraps every link as `https://www.google.com/url?…&url=<target>`:
/// the target is what an agent wants to open.
pub fn unwrap_redirect(href: &str) -> String {
    let Ok(url) = Url::parse(href) else {
        return href.to_string();
    };
    let google = url
        .host_str()
        .is_some_and(|h| h == "google.com" || h.ends_with(".google.com"));
    if google && url.path() == "/url" {
        let target = url
            .query_pairs()
            .find(|(k, _)| k == "url")
            .or_else(|| url.query_pairs().find(|(k, _)| k == "q"))
            .map(|(_, v)| v.into_owned());
        if let Some(target) =
            target.filter(|t| t.starts_with("https://") || t.starts_with("http://"))
        {
            return target;
        }
    }
    href.to_string()
}

fn text_of(text: &Text) -> String {
    if text.content_type.subty().as_str() == "plain" {
        normalize_plain(&text.content)
    } else {
        html_to_text(&text.content)
    }
}

/// Feed dates as feeds write them (RFC 3339, RFC 2822 with or without a
/// right weekday, a bare date). A date given but unreadable becomes
/// [`UNREADABLE_DATE`], so that entry is skipped rather than misdated.
fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let parsed = DateTime::parse_from_rfc3339(t)
        .or_else(|_| DateTime::parse_from_rfc3339(&t.replacen(' ', "T", 1)))
        .or_else(|_| DateTime::parse_from_rfc2822(t))
        .or_else(|e| match t.split_once(',') {
            // A misspelt or localised weekday: RFC 2822 lets it be left out.
            Some((_, rest)) => DateTime::parse_from_rfc2822(rest.trim()),
            None => Err(e),
        })
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc())
        });
    Some(parsed.unwrap_or(UNREADABLE_DATE))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The start of a body, for an error message: one line, at most 60 chars.
fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(240)]);
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(60)
        .collect()
}

/// Without NUL characters, which no mention may carry (JSON feeds can).
fn clean(text: &str) -> String {
    text.replace('\0', "")
}

/// A link an agent can open and a mention can store: http(s), no spaces,
/// at most 2,048 bytes.
fn openable(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2_048
        && !url.chars().any(char::is_whitespace)
}

/// Plain text: lines trimmed, runs of blank lines cut to one.
fn normalize_plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

/// HTML to readable text: tags dropped (with `<script>`/`<style>` and
/// comments), paragraphs and block elements to line breaks, `<br>` to a
/// newline, HTML's whitespace collapsed and entities decoded (every HTML5
/// named entity, through `html-escape`). A small stripper rather than a
/// full HTML renderer: feed summaries are short fragments, and the text
/// only needs to be readable and searchable, not laid out.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        push_text(&mut out, &rest[..open]);
        rest = &rest[open..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        let Some(close) = tag_end(rest) else {
            // A lone '<' (as in "a < b"): text, not a tag.
            push_text(&mut out, "<");
            rest = &rest[1..];
            continue;
        };
        let tag = &rest[1..close];
        rest = &rest[close + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match name.as_str() {
            "script" | "style" if !closing => {
                let end = format!("</{name}");
                let lower = rest.to_ascii_lowercase();
                rest = lower
                    .find(&end)
                    .and_then(|at| rest[at..].find('>').map(|gt| &rest[at + gt + 1..]))
                    .unwrap_or("");
            }
            "br" => out.push('\n'),
            "p" | "div" | "blockquote" | "pre" | "ul" | "ol" | "table" | "h1" | "h2" | "h3"
            | "h4" | "h5" | "h6" | "hr" | "section" | "article" | "header" | "footer"
            | "figure" => out.push_str("\n\n"),
            "li" | "tr" | "dt" | "dd" => out.push('\n'),
            _ => {}
        }
    }
    push_text(&mut out, rest);
    normalize_plain(&out)
}

/// Where a tag starting at `s[0] == '<'` ends, or `None` when this '<'
/// does not open a tag. Quoted attribute values may contain '>'.
fn tag_end(s: &str) -> Option<usize> {
    let next = s[1..].chars().next()?;
    if !(next.is_ascii_alphabetic() || next == '/' || next == '!' || next == '?') {
        return None;
    }
    let mut quote = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Text between tags: HTML whitespace (newlines too) collapses to one
/// space; entities are decoded after the tags are gone, so an escaped
/// `&lt;b&gt;` stays text.
fn push_text(out: &mut String, raw: &str) {
    let decoded = html_escape::decode_html_entities(raw);
    for (i, word) in decoded
        .split(|c: char| c.is_whitespace() && c != '\u{a0}')
        .enumerate()
    {
        if i > 0 && !out.ends_with([' ', '\n']) && !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_paragraphs_with_entities_decoded() {
        let html = "<p>Caf&eacute; <b>Acme</b>&nbsp;is\n  closed</p><p>Ask &lt;b&gt; &amp; co<br/>Line two</p>\
                    <script>alert('x')</script><!-- hidden --><style>p{}</style>a < b";
        assert_eq!(
            html_to_text(html),
            "Café Acme\u{a0}is closed\n\nAsk <b> & co\nLine two\n\na < b"
        );
    }

    #[test]
    fn a_quoted_angle_bracket_does_not_end_a_tag() {
        assert_eq!(
            html_to_text(r#"<a title="x > y" href="/">link</a> text"#),
            "link text"
        );
    }

    #[test]
    fn google_redirects_are_unwrapped_and_others_kept() {
        assert_eq!(
            unwrap_redirect(
                "https://www.google.com/url?rct=j&sa=t&url=https://news.example.com/a%3Fb%3D1&ct=ga"
            ),
            "https://news.example.com/a?b=1"
        );
        assert_eq!(
            unwrap_redirect("https://www.google.com/url?url=javascript:alert(1)"),
            "https://www.google.com/url?url=javascript:alert(1)"
        );
        assert_eq!(
            unwrap_redirect("https://blog.example.com/url?url=https://x.example"),
            "https://blog.example.com/url?url=https://x.example"
        );
    }

    #[test]
    fn dates_in_the_forms_feeds_write_them() {
        let at = |s| parse_timestamp(s).map(|d| d.to_rfc3339());
        let want = Some("2026-11-30T10:00:00+00:00".to_string());
        assert_eq!(at("2026-11-30T10:00:00Z"), want);
        assert_eq!(at("2026-11-30 10:00:00Z"), want);
        assert_eq!(at("Mon, 30 Nov 2026 10:00:00 GMT"), want);
        assert_eq!(at("Lun, 30 Nov 2026 10:00:00 +0000"), want);
        assert_eq!(
            at("2026-11-30"),
            Some("2026-11-30T00:00:00+00:00".to_string())
        );
        assert_eq!(parse_timestamp("sometime last week"), Some(UNREADABLE_DATE));
        assert_eq!(parse_timestamp("  "), None);
    }

    #[test]
    fn the_ring_keeps_the_feed_and_evicts_the_oldest_of_the_rest() {
        let old: Vec<String> = (0..SEEN_RING).map(|i| format!("old-{i}")).collect();
        let ring = remember(old, vec!["old-0".into(), "new".into()]);
        assert_eq!(ring.len(), SEEN_RING);
        assert_eq!(
            ring[SEEN_RING - 2..],
            ["old-0".to_string(), "new".to_string()]
        );
        assert_eq!(ring[0], "old-2", "old-1 was the oldest not in the feed");
    }
}
