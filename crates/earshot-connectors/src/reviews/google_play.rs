//! Google Play reviews of the brand's own app, through the Play Developer
//! API with a service account ("Reply to reviews" permission in the Play
//! Console). Only reviews from the last 7 days, and only those with text,
//! are exposed, so the source polls hourly. A reply replaces the previous
//! one (`Idempotency::Overwrite`).
//!
//! Built against developers.google.com/android-publisher/api-ref/rest/v3/reviews
//! and .../reviews/reply; not yet run against a live Play Console.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use earshot_core::error::{Error, Result};
use earshot_core::mention::MentionInput;
use earshot_core::reply::Visibility;
use earshot_core::source::SourceKind;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use super::{CachedToken, POLL_INTERVAL, ReviewCursor, Secret, review_id, review_text, stars};
use crate::{
    Capabilities, ConnError, ConnResult, Connector, Cursor, Idempotency, Inbound, InboundKind,
    LengthLimit, Outbound, Page, PrivateGate, RateBudget, Sent, SourceSettings, Transport, Unit,
    http, parse_settings,
};

pub const DEFAULT_BASE_URL: &str = "https://androidpublisher.googleapis.com";
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
const SCOPE: &str = "https://www.googleapis.com/auth/androidpublisher";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// "Replies longer than about 350 characters will be rejected" (reviews.reply).
pub const REPLY_LIMIT: LengthLimit = LengthLimit::new(350, Unit::Chars);
const PAGE_SIZE: u32 = 100;
/// A week of reviews for even a very busy app fits in this many pages.
const MAX_PAGES: usize = 50;
/// The assertion's lifetime: Google accepts at most one hour.
const ASSERTION_SECS: i64 = 3600;
const ID_PREFIX: &str = "google_play:";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    package_name: String,
    #[serde(default = "default_base_url")]
    base_url: String,
    #[serde(default = "default_token_url")]
    token_url: String,
    /// The service account's JSON key file, as an object or as its text.
    service_account_json: Value,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}

fn default_token_url() -> String {
    DEFAULT_TOKEN_URL.to_string()
}

/// The fields of a service account key the token exchange needs.
struct ServiceAccount {
    client_email: String,
    key_id: Option<String>,
    key: EncodingKey,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Reads the key file without ever echoing its contents in an error.
fn service_account(raw: &Value) -> Result<ServiceAccount> {
    const FIELD: &str = "config.service_account_json";
    let parsed;
    let file = match raw {
        Value::Object(_) => raw,
        Value::String(text) => {
            parsed = serde_json::from_str::<Value>(text).map_err(|_| {
                Error::invalid_field(FIELD, "is not JSON: paste the service account's key file")
            })?;
            &parsed
        }
        _ => {
            return Err(Error::invalid_field(
                FIELD,
                "must be the service account's JSON key file",
            ));
        }
    };
    let text = |name: &str| {
        file.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let client_email = text("client_email")
        .ok_or_else(|| Error::invalid_field(FIELD, "has no client_email"))?
        .to_string();
    let pem =
        text("private_key").ok_or_else(|| Error::invalid_field(FIELD, "has no private_key"))?;
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| {
        Error::invalid_field(FIELD, "private_key is not an RSA private key in PEM form")
    })?;
    Ok(ServiceAccount {
        client_email,
        key_id: text("private_key_id").map(str::to_string),
        key,
    })
}

/// Google Play reviews of one app.
#[derive(Debug)]
pub struct GooglePlay {
    package_name: String,
    base_url: String,
    token_url: String,
    account: ServiceAccount,
    token: CachedToken,
    client: reqwest::Client,
}

impl GooglePlay {
    pub fn from_settings(settings: &SourceSettings) -> Result<Self> {
        let config: Config = parse_settings(settings)?;
        let package_name = config.package_name.trim().to_string();
        let valid_package = !package_name.is_empty()
            && package_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
        if !valid_package {
            return Err(Error::invalid_field(
                "config.package_name",
                "must be an Android package name such as com.example.app",
            ));
        }
        Ok(GooglePlay {
            package_name,
            base_url: super::base_url("config.base_url", &config.base_url)?,
            token_url: super::base_url("config.token_url", &config.token_url)?,
            account: service_account(&config.service_account_json)?,
            token: CachedToken::default(),
            client: http::client(),
        })
    }

    /// `{base}/androidpublisher/v3/applications/{package}/reviews[/{more}]`,
    /// each part escaped as a path segment.
    fn url(&self, more: &[&str]) -> ConnResult<Url> {
        let mut url = Url::parse(&self.base_url)
            .map_err(|e| ConnError::Permanent(format!("base_url: {e}")))?;
        url.path_segments_mut()
            .map_err(|_| ConnError::Permanent("base_url cannot take a path".into()))?
            .pop_if_empty()
            .extend([
                "androidpublisher",
                "v3",
                "applications",
                &self.package_name,
                "reviews",
            ])
            .extend(more);
        Ok(url)
    }

    /// An access token from the service account's signed assertion
    /// (OAuth 2.0 JWT bearer grant), cached until shortly before it expires.
    async fn access_token(&self) -> ConnResult<Secret> {
        if let Some(token) = self.token.get().await {
            return Ok(token);
        }
        let now = Utc::now().timestamp();
        let claims = json!({
            "iss": self.account.client_email,
            "scope": SCOPE,
            "aud": self.token_url,
            "iat": now,
            "exp": now + ASSERTION_SECS,
        });
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.account.key_id.clone();
        let assertion = jsonwebtoken::encode(&header, &claims, &self.account.key)
            .map_err(|e| ConnError::Auth(format!("cannot sign the token request: {e}")))?;
        let response = self
            .client
            .post(&self.token_url)
            .form(&[
                ("grant_type", JWT_BEARER),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| http::send_error(&e, false))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            // A refused assertion (invalid_grant, a deleted key) is a
            // credential problem, whatever the status.
            return Err(match status {
                StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN => {
                    ConnError::Auth(http::reason(status, &body))
                }
                _ => http::error_for(status, &headers, &body, Utc::now()),
            });
        }
        #[derive(Deserialize)]
        struct Granted {
            access_token: Secret,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let granted: Granted = serde_json::from_str(&body).map_err(|_| {
            ConnError::Auth("the token endpoint answered without an access_token".into())
        })?;
        let lifetime = Duration::from_secs(granted.expires_in.unwrap_or(3600));
        self.token.put(granted.access_token.clone(), lifetime).await;
        Ok(granted.access_token)
    }

    async fn call(&self, request: reqwest::RequestBuilder, sent: bool) -> ConnResult<Value> {
        let token = self.access_token().await?;
        let (status, headers, body) = super::send_with(request, &token, &self.token, sent).await?;
        if !status.is_success() {
            return Err(http::error_for(status, &headers, &body, Utc::now()));
        }
        if body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&body).map_err(|e| {
            ConnError::Transient(format!("Google Play answered with unreadable JSON: {e}"))
        })
    }

    fn to_inbound(&self, raw: &Value, now: DateTime<Utc>) -> std::result::Result<Inbound, String> {
        let review: PlayReview =
            serde_json::from_value(raw.clone()).map_err(|e| format!("unreadable review: {e}"))?;
        let id = review.review_id.trim();
        if id.is_empty() {
            return Err("a review without a reviewId".into());
        }
        let comment = review
            .comments
            .iter()
            .find_map(|c| c.user_comment.as_ref())
            .ok_or_else(|| format!("review {id}: no user comment"))?;
        let at = comment
            .last_modified
            .as_ref()
            .and_then(Timestamp::to_utc)
            .ok_or_else(|| format!("review {id}: no readable lastModified"))?;
        let rating = comment
            .star_rating
            .and_then(stars)
            .ok_or_else(|| format!("review {id}: no star rating from 1 to 5"))?;
        // "title and body are concatenated and separated by a tab".
        let (title, body) = match comment.text.as_deref().map(str::trim) {
            Some(text) => match text.split_once('\t') {
                Some((t, b)) => (Some(t), Some(b)),
                None => (None, Some(text)),
            },
            None => (None, None),
        };
        let text =
            review_text(&rating, title, body).ok_or_else(|| format!("review {id}: no text"))?;
        let author = review
            .author_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        let language = comment.reviewer_language.as_deref().and_then(language);
        Ok(Inbound {
            mention: MentionInput {
                source: SourceKind::GooglePlay,
                external_id: format!("{ID_PREFIX}{id}"),
                author: super::author(author, "Google Play user"),
                text,
                created_at: super::not_after_now(at, now),
                url: None,
                language,
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

/// "en_US" or "en" → "en"; `None` for what is not a language code.
fn language(tag: &str) -> Option<String> {
    let code = tag.split(['_', '-']).next()?.to_ascii_lowercase();
    ((2..=3).contains(&code.len()) && code.chars().all(|c| c.is_ascii_lowercase())).then_some(code)
}

/// The documented `Review` resource, with the fields read here.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlayReview {
    review_id: String,
    #[serde(default)]
    author_name: Option<String>,
    #[serde(default)]
    comments: Vec<Comment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Comment {
    #[serde(default)]
    user_comment: Option<UserComment>,
    #[serde(default)]
    developer_comment: Option<DeveloperComment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserComment {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    last_modified: Option<Timestamp>,
    #[serde(default)]
    star_rating: Option<i64>,
    #[serde(default)]
    reviewer_language: Option<String>,
}

#[derive(Deserialize)]
struct DeveloperComment {
    #[serde(default)]
    text: Option<String>,
}

/// `{"seconds": "1606780800", "nanos": 0}`: int64 seconds arrive as a
/// string in Google's JSON mapping, sometimes as a number.
#[derive(Deserialize)]
struct Timestamp {
    seconds: Value,
    #[serde(default)]
    nanos: u32,
}

impl Timestamp {
    fn to_utc(&self) -> Option<DateTime<Utc>> {
        let seconds = match &self.seconds {
            Value::String(s) => s.parse::<i64>().ok()?,
            Value::Number(n) => n.as_i64()?,
            _ => return None,
        };
        DateTime::from_timestamp(seconds, self.nanos)
    }
}

#[async_trait]
impl Connector for GooglePlay {
    fn kind(&self) -> SourceKind {
        SourceKind::GooglePlay
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            listen_keyword: false,
            listen_hashtag: false,
            listen_mention: false,
            listen_dm: false,
            reply_public: Some(REPLY_LIMIT),
            reply_private: None,
            private_gate: PrivateGate::None,
            idempotency: Idempotency::Overwrite,
            transport: Transport::Poll {
                interval: POLL_INTERVAL,
            },
            // The "Publishing, Monetization, and Reply to Reviews" quota
            // bucket: 3,000 queries a minute (developers.google.com/android-publisher/quotas).
            rate: RateBudget {
                requests: 3000,
                per: Duration::from_secs(60),
            },
            limitations: vec![
                "Google exposes only reviews from the last 7 days, and only reviews with text: \
                 polled hourly, older reviews are never read."
                    .into(),
                "One public reply per review, at most 350 characters; a new reply replaces the \
                 previous one. Google strips HTML."
                    .into(),
                "An edited review keeps its id: Earshot keeps the version it read first.".into(),
                "No private messages to reviewers.".into(),
                "Built against Google's documented API; not yet verified against a live Play \
                 Console."
                    .into(),
            ],
        }
    }

    async fn start(&self) -> ConnResult<Capabilities> {
        self.access_token().await?;
        Ok(self.capabilities())
    }

    async fn poll(&self, cursor: Option<&Cursor>) -> ConnResult<Page> {
        let next = ReviewCursor::read(cursor);
        let seen = next.clone();
        let now = Utc::now();
        let mut items = Vec::new();
        let mut skipped = Vec::new();
        let mut page_token: Option<String> = None;
        let mut reached_seen = false;
        for _ in 0..MAX_PAGES {
            let mut url = self.url(&[])?;
            url.query_pairs_mut()
                .append_pair("maxResults", &PAGE_SIZE.to_string());
            if let Some(token) = &page_token {
                url.query_pairs_mut().append_pair("token", token);
            }
            let page = self.call(self.client.get(url), false).await?;
            for raw in page
                .get("reviews")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                match self.to_inbound(raw, now) {
                    Ok(item) => {
                        let id = &item.mention.external_id;
                        if seen.is_new(item.mention.created_at, id) {
                            items.push(item);
                        } else {
                            reached_seen = true;
                        }
                    }
                    Err(why) => {
                        tracing::warn!(package = %self.package_name, "{why}");
                        skipped.push(why);
                    }
                }
            }
            page_token = page
                .pointer("/tokenPagination/nextPageToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            // The list comes most recently modified first: past a review
            // already read, the rest are older still.
            if page_token.is_none() || reached_seen {
                break;
            }
        }
        next.page(items, skipped)
    }

    async fn send(&self, out: &Outbound) -> ConnResult<Sent> {
        if out.visibility != Visibility::Public {
            return Err(ConnError::Unsupported("private replies to Play reviews"));
        }
        let text = self.render(out)?;
        let review = review_id(&out.reply_ref)?;
        let url = self.url(&[&format!("{review}:reply")])?;
        self.call(
            self.client.post(url).json(&json!({ "replyText": text })),
            true,
        )
        .await?;
        Ok(Sent {
            remote_id: format!("{ID_PREFIX}{review}:reply"),
            url: None,
        })
    }

    /// Looks at the review's developer comment: our text there means the
    /// earlier attempt landed.
    async fn reconcile(&self, out: &Outbound) -> ConnResult<Option<Sent>> {
        let review = review_id(&out.reply_ref)?;
        let url = self.url(&[&review])?;
        let found = match self.call(self.client.get(url), false).await {
            Ok(found) => found,
            Err(ConnError::Permanent(why)) if why.starts_with("HTTP 404") => return Ok(None),
            Err(e) => return Err(e),
        };
        let review_body: PlayReview = serde_json::from_value(found)
            .map_err(|e| ConnError::Transient(format!("unreadable review: {e}")))?;
        let landed = review_body.comments.iter().any(|c| {
            c.developer_comment
                .as_ref()
                .and_then(|d| d.text.as_deref())
                .is_some_and(|t| t.trim() == out.body.trim())
        });
        Ok(landed.then(|| Sent {
            remote_id: format!("{ID_PREFIX}{review}:reply"),
            url: None,
        }))
    }
}
