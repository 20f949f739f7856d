//! Store reviews through the brand's own store keys: Google Play (a service
//! account) and the App Store (an App Store Connect API key). Built against
//! the stores' documented payloads; no source exists until an admin adds
//! one with its keys.

pub mod app_store;
pub mod google_play;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use earshot_core::error::{Error, Result};
use earshot_core::mention::{Author, MAX_DISPLAY_NAME_CHARS, MAX_TEXT_BYTES};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::ConnError;

/// How often the stores are asked: Play exposes only the last week of
/// reviews and both publish new ones with a delay, so hourly is plenty.
pub const POLL_INTERVAL: Duration = Duration::from_secs(3600);
const MAX_HANDLE_BYTES: usize = 256;

pub use crate::secret::Secret;

/// "★★☆☆☆" for a 1–5 rating; `None` outside that range.
pub fn stars(rating: i64) -> Option<String> {
    let filled = usize::try_from(rating)
        .ok()
        .filter(|r| (1..=5).contains(r))?;
    Some(format!("{}{}", "★".repeat(filled), "☆".repeat(5 - filled)))
}

/// The review as one text: stars, then the title and the body.
pub fn review_text(stars: &str, title: Option<&str>, body: Option<&str>) -> Option<String> {
    let title = title.map(str::trim).filter(|t| !t.is_empty());
    let body = body.map(str::trim).filter(|b| !b.is_empty());
    let words = match (title, body) {
        (Some(t), Some(b)) => format!("{t} — {b}"),
        (Some(t), None) => t.to_string(),
        (None, Some(b)) => b.to_string(),
        (None, None) => return None,
    };
    let mut text = format!("{stars} {words}").replace('\0', "");
    while text.len() > MAX_TEXT_BYTES {
        text.pop();
    }
    Some(text)
}

/// The reviewer as a mention author: their store name as handle and
/// display name (without NULs, cut to what a mention stores), or a
/// stand-in handle when the store gives none.
pub(crate) fn author(name: Option<&str>, stand_in: &str) -> Author {
    let name = name
        .map(|n| {
            n.replace('\0', "")
                .trim()
                .trim_start_matches('@')
                .to_string()
        })
        .filter(|n| !n.is_empty());
    let mut handle = name.clone().unwrap_or_else(|| stand_in.to_string());
    while handle.len() > MAX_HANDLE_BYTES {
        handle.pop();
    }
    Author {
        handle,
        display_name: name.map(|n| n.chars().take(MAX_DISPLAY_NAME_CHARS).collect()),
        ..Author::default()
    }
}

/// A base URL from config: http(s), no trailing slash.
pub(crate) fn base_url(field: &str, raw: &str) -> Result<String> {
    let url = Url::parse(raw.trim()).map_err(|e| Error::invalid_field(field, e))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::invalid_field(field, "must be an http or https URL"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// The review id a reply answers, from the mention's `reply_ref`.
pub(crate) fn review_id(reply_ref: &serde_json::Value) -> std::result::Result<String, ConnError> {
    reply_ref
        .get("review_id")
        .and_then(|v| v.as_str())
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ConnError::Permanent("reply_ref has no review_id".into()))
}

/// Where a review source has read up to: the newest review time seen and
/// the ids seen at exactly that time (so reviews sharing it are neither
/// lost nor yielded twice).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReviewCursor {
    pub newest: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ids: Vec<String>,
}

impl ReviewCursor {
    /// Not yielded yet.
    pub fn is_new(&self, at: DateTime<Utc>, id: &str) -> bool {
        match self.newest {
            None => true,
            Some(newest) => at > newest || (at == newest && !self.ids.iter().any(|i| i == id)),
        }
    }

    /// Moves the cursor past a yielded review.
    /// The page of `items`, oldest first, with the cursor moved past them.
    pub(crate) fn page(
        mut self,
        mut items: Vec<crate::Inbound>,
        skipped: Vec<String>,
    ) -> crate::ConnResult<crate::Page> {
        items.sort_by_key(|i| i.mention.created_at);
        for item in &items {
            self.advance(item.mention.created_at, &item.mention.external_id);
        }
        Ok(crate::Page {
            items,
            cursor: Some(self.to_cursor()?),
            more: false,
            skipped,
        })
    }

    pub fn advance(&mut self, at: DateTime<Utc>, id: &str) {
        match self.newest {
            Some(newest) if at < newest => {}
            Some(newest) if at == newest => {
                if !self.ids.iter().any(|i| i == id) {
                    self.ids.push(id.to_string());
                }
            }
            _ => {
                self.newest = Some(at);
                self.ids = vec![id.to_string()];
            }
        }
    }

    pub(crate) fn read(cursor: Option<&crate::Cursor>) -> Self {
        cursor
            .and_then(|c| {
                serde_json::from_value(c.0.clone())
                    .map_err(
                        |e| tracing::warn!(error = %e, "unreadable review cursor, starting afresh"),
                    )
                    .ok()
            })
            .unwrap_or_default()
    }

    pub(crate) fn to_cursor(&self) -> std::result::Result<crate::Cursor, ConnError> {
        serde_json::to_value(self)
            .map(crate::Cursor)
            .map_err(|e| ConnError::Permanent(format!("cannot save the review cursor: {e}")))
    }
}

/// Sends `request` with `token` as its bearer and reads the whole answer.
/// A 401 forgets the cached token, so the next call gets a fresh one.
pub(crate) async fn send_with(
    request: reqwest::RequestBuilder,
    token: &Secret,
    cache: &CachedToken,
    sent: bool,
) -> crate::ConnResult<(reqwest::StatusCode, reqwest::header::HeaderMap, String)> {
    let response = request
        .bearer_auth(token.expose())
        .send()
        .await
        .map_err(|e| crate::http::send_error(&e, sent))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .text()
        .await
        .map_err(|e| crate::http::send_error(&e, sent))?;
    if status == reqwest::StatusCode::UNAUTHORIZED {
        cache.clear().await;
    }
    Ok((status, headers, body))
}

/// A bearer credential with its expiry, reused until shortly before then.
#[derive(Default)]
pub(crate) struct CachedToken(tokio::sync::Mutex<Option<(Secret, Instant)>>);

impl CachedToken {
    /// The cached token when it has more than a minute left.
    pub(crate) async fn get(&self) -> Option<Secret> {
        let slot = self.0.lock().await;
        slot.as_ref()
            .filter(|(_, until)| *until > Instant::now() + Duration::from_secs(60))
            .map(|(t, _)| t.clone())
    }

    pub(crate) async fn put(&self, token: Secret, lifetime: Duration) {
        *self.0.lock().await = Some((token, Instant::now() + lifetime));
    }

    /// Forgets the token (after a 401), so the next call makes a new one.
    pub(crate) async fn clear(&self) {
        *self.0.lock().await = None;
    }
}

impl std::fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CachedToken(<redacted>)")
    }
}

/// A review time clamped to now: a store's clock ahead of ours must not
/// date a review in the future.
pub(crate) fn not_after_now(at: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    at.min(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_text() {
        assert_eq!(stars(2).as_deref(), Some("★★☆☆☆"));
        assert_eq!(stars(0), None);
        assert_eq!(stars(6), None);
        assert_eq!(
            review_text("★☆☆☆☆", Some("Crashes"), Some(" On start ")).as_deref(),
            Some("★☆☆☆☆ Crashes — On start")
        );
        assert_eq!(review_text("★", Some(" "), None), None);
        let long = review_text("★", None, Some(&"é".repeat(30_000))).unwrap_or_default();
        assert!(long.len() <= MAX_TEXT_BYTES && long.len() > MAX_TEXT_BYTES - 2);
        let a = author(Some(&"ü".repeat(200)), "x");
        assert_eq!(a.handle.len(), 256);
        assert_eq!(
            author(Some(" \0 "), "App Store user").handle,
            "App Store user"
        );
    }

    #[test]
    fn the_cursor_yields_reviews_sharing_a_time_once() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap_or_default();
        let mut c = ReviewCursor::default();
        assert!(c.is_new(t("2026-11-30T10:00:00Z"), "a"));
        c.advance(t("2026-11-30T10:00:00Z"), "a");
        c.advance(t("2026-11-30T10:00:00Z"), "b");
        c.advance(t("2026-11-30T09:00:00Z"), "old");
        assert_eq!(c.ids, ["a", "b"]);
        assert!(!c.is_new(t("2026-11-30T10:00:00Z"), "b"));
        assert!(c.is_new(t("2026-11-30T10:00:00Z"), "c"));
        assert!(!c.is_new(t("2026-11-30T09:59:59Z"), "d"));
        c.advance(t("2026-11-30T11:00:00Z"), "e");
        assert_eq!(c.ids, ["e"]);
    }

    #[test]
    fn secrets_are_not_printed() {
        let s = Secret("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
