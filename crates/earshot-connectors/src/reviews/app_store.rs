//! App Store reviews of the brand's own app, through the App Store Connect
//! API with one of the brand's API keys (a `.p8` key; the Admin, App
//! Manager, Marketer or Legal role may respond). Each review has at most
//! one response; posting again replaces it (`Idempotency::Overwrite`).
//! Apple publishes a response after its own review (`PENDING_PUBLISH`).
//!
//! Built against developer.apple.com/documentation/appstoreconnectapi/customer-reviews,
//! .../customer-review-responses and "Generating tokens for API requests";
//! not yet run against a live App Store Connect account.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use earshot_core::error::{Error, Result};
use earshot_core::mention::MentionInput;
use earshot_core::reply::Visibility;
use earshot_core::source::SourceKind;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use super::{CachedToken, POLL_INTERVAL, ReviewCursor, Secret, review_id, review_text, stars};
use crate::{
    Capabilities, ConnError, ConnResult, Connector, Cursor, Idempotency, Inbound, InboundKind,
    LengthLimit, Outbound, Page, PrivateGate, RateBudget, Sent, SourceSettings, Transport, Unit,
    http, parse_settings,
};

pub const DEFAULT_BASE_URL: &str = "https://api.appstoreconnect.apple.com";
const AUDIENCE: &str = "appstoreconnect-v1";
/// Apple refuses tokens that live longer than 20 minutes.
const TOKEN_SECS: i64 = 15 * 60;
/// The response length App Store Connect accepts. Apple's API reference
/// gives no limit; 5,970 characters is what App Store Connect's form is
/// reported to allow (appfollow.io), so it is unverified.
pub const RESPONSE_LIMIT: LengthLimit = LengthLimit::new(5_970, Unit::Chars);
/// The first poll reads this many of the newest reviews.
pub const BACKFILL: u32 = 50;
/// The API's largest page.
const PAGE_SIZE: u32 = 200;
const MAX_PAGES: usize = 10;
const ID_PREFIX: &str = "app_store:";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    app_id: String,
    issuer_id: String,
    key_id: String,
    #[serde(default = "default_base_url")]
    base_url: String,
    /// The `.p8` file's text (PKCS#8 PEM, P-256).
    private_key_p8: Secret,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}

/// App Store reviews of one app.
pub struct AppStore {
    app_id: String,
    issuer_id: String,
    key_id: String,
    base_url: String,
    key: EncodingKey,
    token: CachedToken,
    client: reqwest::Client,
}

impl std::fmt::Debug for AppStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppStore")
            .field("app_id", &self.app_id)
            .field("issuer_id", &self.issuer_id)
            .field("key_id", &self.key_id)
            .field("base_url", &self.base_url)
            .field("key", &"<redacted>")
            .finish()
    }
}

fn required(field: &str, value: &str) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::invalid_field(field, "must not be empty"));
    }
    Ok(value.to_string())
}

impl AppStore {
    pub fn from_settings(settings: &SourceSettings) -> Result<Self> {
        let config: Config = parse_settings(settings)?;
        let app_id = required("config.app_id", &config.app_id)?;
        if !app_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::invalid_field(
                "config.app_id",
                "must be the app's numeric Apple ID",
            ));
        }
        let key = EncodingKey::from_ec_pem(config.private_key_p8.expose().trim().as_bytes())
            .map_err(|_| {
                Error::invalid_field(
                    "config.private_key_p8",
                    "is not an App Store Connect .p8 key (PEM, P-256)",
                )
            })?;
        Ok(AppStore {
            app_id,
            issuer_id: required("config.issuer_id", &config.issuer_id)?,
            key_id: required("config.key_id", &config.key_id)?,
            base_url: super::base_url("config.base_url", &config.base_url)?,
            key,
            token: CachedToken::default(),
            client: http::client(),
        })
    }

    fn url(&self, segments: &[&str]) -> ConnResult<Url> {
        let mut url = Url::parse(&self.base_url)
            .map_err(|e| ConnError::Permanent(format!("base_url: {e}")))?;
        url.path_segments_mut()
            .map_err(|_| ConnError::Permanent("base_url cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// The signed API token (ES256, `kid` = the key id, `iss` = the issuer,
    /// `aud` = `appstoreconnect-v1`), reused until shortly before it expires.
    fn sign(&self) -> ConnResult<Secret> {
        let now = Utc::now().timestamp();
        let claims = json!({
            "iss": self.issuer_id,
            "iat": now,
            "exp": now + TOKEN_SECS,
            "aud": AUDIENCE,
        });
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(Secret)
            .map_err(|e| ConnError::Auth(format!("cannot sign the API token: {e}")))
    }

    async fn bearer(&self) -> ConnResult<Secret> {
        if let Some(token) = self.token.get().await {
            return Ok(token);
        }
        let token = self.sign()?;
        self.token
            .put(token.clone(), Duration::from_secs(TOKEN_SECS as u64))
            .await;
        Ok(token)
    }

    async fn call(&self, request: reqwest::RequestBuilder, sent: bool) -> ConnResult<Value> {
        let token = self.bearer().await?;
        let (status, headers, body) = super::send_with(request, &token, &self.token, sent).await?;
        if !status.is_success() {
            return Err(http::error_for(
                status,
                &headers,
                &apple_reason(&body),
                Utc::now(),
            ));
        }
        serde_json::from_str(&body).map_err(|e| {
            ConnError::Transient(format!(
                "App Store Connect answered with unreadable JSON: {e}"
            ))
        })
    }

    fn to_inbound(&self, raw: &Value, now: DateTime<Utc>) -> std::result::Result<Inbound, String> {
        let review: CustomerReview = serde_json::from_value(raw.clone())
            .map_err(|e| format!("unreadable customer review: {e}"))?;
        let id = review.id.trim();
        if id.is_empty() {
            return Err("a customer review without an id".into());
        }
        let a = &review.attributes;
        let at = a
            .created_date
            .as_deref()
            .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
            .map(|d| d.with_timezone(&Utc))
            .ok_or_else(|| format!("customer review {id}: no readable createdDate"))?;
        let rating = a
            .rating
            .and_then(stars)
            .ok_or_else(|| format!("customer review {id}: no rating from 1 to 5"))?;
        let text = review_text(&rating, a.title.as_deref(), a.body.as_deref())
            .ok_or_else(|| format!("customer review {id}: no title and no text"))?;
        let nickname = a
            .reviewer_nickname
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        Ok(Inbound {
            mention: MentionInput {
                source: SourceKind::AppStore,
                external_id: format!("{ID_PREFIX}{id}"),
                author: super::author(nickname, "App Store user"),
                text,
                created_at: super::not_after_now(at, now),
                url: None,
                language: None,
                thread_id: None,
                parent_id: None,
                metrics: Default::default(),
            },
            kind: InboundKind::Review,
            reply_ref: json!({ "review_id": id }),
            by_brand: false,
        })
    }
}

/// App Store Connect errors are `{"errors": [{"title", "detail"}]}`: keep
/// Apple's words for the error message.
fn apple_reason(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            let first = v.pointer("/errors/0")?.clone();
            let detail = first.get("detail").and_then(Value::as_str);
            let title = first.get("title").and_then(Value::as_str);
            match (title, detail) {
                (Some(t), Some(d)) => Some(format!("{t}: {d}")),
                (t, d) => t.or(d).map(str::to_string),
            }
        })
        .unwrap_or_else(|| body.to_string())
}

/// The documented `CustomerReview` resource, with the fields read here.
#[derive(Deserialize)]
struct CustomerReview {
    id: String,
    #[serde(default)]
    attributes: ReviewAttributes,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ReviewAttributes {
    #[serde(default)]
    rating: Option<i64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    reviewer_nickname: Option<String>,
    #[serde(default)]
    created_date: Option<String>,
}

#[async_trait]
impl Connector for AppStore {
    fn kind(&self) -> SourceKind {
        SourceKind::AppStore
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            listen_keyword: false,
            listen_hashtag: false,
            listen_mention: false,
            listen_dm: false,
            reply_public: Some(RESPONSE_LIMIT),
            reply_private: None,
            private_gate: PrivateGate::None,
            idempotency: Idempotency::Overwrite,
            transport: Transport::Poll {
                interval: POLL_INTERVAL,
            },
            // App Store Connect's documented per-key budget: 3,600 an hour.
            rate: RateBudget {
                requests: 3600,
                per: Duration::from_secs(3600),
            },
            limitations: vec![
                "One public response per review; a new response replaces the previous one. \
                 Apple reviews each response before publishing it."
                    .into(),
                "The 5,970-character response limit is not in Apple's API reference \
                 (unverified)."
                    .into(),
                "An edited review keeps its id: Earshot keeps the version it read first.".into(),
                "No private messages to reviewers.".into(),
                "Built against Apple's documented API; not yet verified against a live App \
                 Store Connect account."
                    .into(),
            ],
        }
    }

    async fn start(&self) -> ConnResult<Capabilities> {
        self.bearer().await?;
        Ok(self.capabilities())
    }

    /// Newest first from the API; pages are read until a review already
    /// seen (or, on the first poll, one page of [`BACKFILL`]).
    async fn poll(&self, cursor: Option<&Cursor>) -> ConnResult<Page> {
        let first = cursor.is_none();
        let next = ReviewCursor::read(cursor);
        let seen = next.clone();
        let now = Utc::now();
        let mut items = Vec::new();
        let mut skipped = Vec::new();
        let mut url = self.url(&["v1", "apps", &self.app_id, "customerReviews"])?;
        url.query_pairs_mut()
            .append_pair("sort", "-createdDate")
            .append_pair(
                "limit",
                &(if first { BACKFILL } else { PAGE_SIZE }).to_string(),
            );
        let mut reached_seen = first;
        for _ in 0..MAX_PAGES {
            let page = self.call(self.client.get(url.clone()), false).await?;
            for raw in page
                .get("data")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                match self.to_inbound(raw, now) {
                    Ok(item) => {
                        if seen.is_new(item.mention.created_at, &item.mention.external_id) {
                            items.push(item);
                        } else {
                            reached_seen = true;
                        }
                    }
                    Err(why) => {
                        tracing::warn!(app_id = %self.app_id, "{why}");
                        skipped.push(why);
                    }
                }
            }
            if reached_seen {
                break;
            }
            // Only a next page on our own API host gets our token.
            match page.pointer("/links/next").and_then(Value::as_str) {
                Some(link) if link.starts_with(&format!("{}/", self.base_url)) => {
                    url = Url::parse(link)
                        .map_err(|e| ConnError::Transient(format!("unreadable next link: {e}")))?;
                }
                _ => {
                    reached_seen = true;
                    break;
                }
            }
        }
        if !reached_seen {
            let why = format!(
                "more than {} new reviews since the last poll: the older ones were not read",
                MAX_PAGES as u32 * PAGE_SIZE
            );
            tracing::warn!(app_id = %self.app_id, "{why}");
            skipped.push(why);
        }
        next.page(items, skipped)
    }

    async fn send(&self, out: &Outbound) -> ConnResult<Sent> {
        if out.visibility != Visibility::Public {
            return Err(ConnError::Unsupported(
                "private replies to App Store reviews",
            ));
        }
        let text = self.render(out)?;
        let review = review_id(&out.reply_ref)?;
        let body = json!({
            "data": {
                "type": "customerReviewResponses",
                "attributes": { "responseBody": text },
                "relationships": {
                    "review": { "data": { "type": "customerReviews", "id": review } }
                }
            }
        });
        let url = self.url(&["v1", "customerReviewResponses"])?;
        let created = self.call(self.client.post(url).json(&body), true).await?;
        let remote_id = created
            .pointer("/data/id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{ID_PREFIX}{review}:response"));
        Ok(Sent {
            remote_id,
            url: None,
        })
    }

    /// Reads the review's response: our text there means the earlier
    /// attempt landed; none (404) means it did not.
    async fn reconcile(&self, out: &Outbound) -> ConnResult<Option<Sent>> {
        let review = review_id(&out.reply_ref)?;
        let url = self.url(&["v1", "customerReviews", &review, "response"])?;
        let found = match self.call(self.client.get(url), false).await {
            Ok(found) => found,
            Err(ConnError::Permanent(why)) if why.starts_with("HTTP 404") => return Ok(None),
            Err(e) => return Err(e),
        };
        let body = found
            .pointer("/data/attributes/responseBody")
            .and_then(Value::as_str);
        let landed = body.is_some_and(|b| b.trim() == out.body.trim());
        Ok(landed.then(|| Sent {
            remote_id: found
                .pointer("/data/id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            url: None,
        }))
    }
}
