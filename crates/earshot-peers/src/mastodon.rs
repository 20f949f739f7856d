//! A Mastodon server in miniature (docs.joinmastodon.org): the account,
//! instance, notifications, statuses and streaming endpoints a connector
//! uses. Customer posts arrive as `mention` notifications, over REST and
//! the `user:notification` WebSocket stream. `POST /api/v1/statuses` honours
//! `Idempotency-Key` as Mastodon does (a repeated key returns the first
//! status), and every POST is recorded, repeated or not.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// The brand's account on the fake server.
pub const BRAND_ID: &str = "1";
pub const BRAND_ACCT: &str = "acme";
/// The only access token the server accepts.
pub const TOKEN: &str = "fake-mastodon-token";

/// What the server does with the next `POST /api/v1/statuses`.
#[derive(Debug, Clone, PartialEq)]
pub enum PostFault {
    /// 429 with `Retry-After` (seconds).
    RateLimited { retry_after_secs: u64 },
    /// 503.
    Unavailable,
    /// Creates the status, then answers only after this delay (longer than
    /// the client's timeout: the reply landed but the client cannot know).
    SlowAfterCreating(Duration),
}

/// One `POST /api/v1/statuses` as received.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedPost {
    pub idempotency_key: Option<String>,
    pub status: String,
    pub in_reply_to_id: Option<String>,
    pub visibility: String,
    /// The status it created or (for a repeated key) returned.
    pub status_id: Option<String>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    statuses: Vec<Value>,
    notifications: Vec<Value>,
    posts: Vec<ReceivedPost>,
    by_key: HashMap<String, String>,
    faults: Vec<PostFault>,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    streams: broadcast::Sender<String>,
    /// Open streams subscribed to `user:notification`.
    subscribed: Arc<AtomicUsize>,
    domain: String,
    base_url: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

pub struct FakeMastodon {
    pub base_url: String,
    shared: Shared,
}

impl FakeMastodon {
    /// Serves on `127.0.0.1:port` (0 for any free port).
    pub async fn start(port: u16) -> std::io::Result<FakeMastodon> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let (streams, _) = broadcast::channel(4096);
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner {
                next_id: 100,
                ..Inner::default()
            })),
            streams,
            subscribed: Arc::default(),
            domain: addr.to_string(),
            base_url: base_url.clone(),
        };
        let app = Router::new()
            .route(
                "/api/v1/accounts/verify_credentials",
                get(verify_credentials),
            )
            .route("/api/v2/instance", get(instance))
            .route("/api/v1/notifications", get(notifications))
            .route("/api/v1/timelines/tag/{tag}", get(tag_timeline))
            .route("/api/v1/statuses", post(create_status))
            .route("/api/v1/statuses/{id}", get(status))
            .route("/api/v1/accounts/{id}/statuses", get(account_statuses))
            .route("/api/v1/streaming", get(streaming))
            .with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeMastodon { base_url, shared })
    }

    /// A customer @mentions the brand: a public status and its `mention`
    /// notification, pushed to open streams. Returns the status's local id.
    pub fn customer_mention(&self, acct: &str, text: &str) -> String {
        self.customer_post(acct, text, None, "public")
    }

    /// A customer post, optionally answering `in_reply_to` (a local id).
    pub fn customer_post(
        &self,
        acct: &str,
        text: &str,
        in_reply_to: Option<&str>,
        visibility: &str,
    ) -> String {
        let mut inner = self.shared.lock();
        let id = next_id(&mut inner);
        let account = customer_account(acct, &self.shared.base_url);
        let status = status_json(
            &self.shared,
            &id,
            account.clone(),
            &format!(
                "<p><span class=\"h-card\"><a href=\"{}/@{BRAND_ACCT}\" class=\"u-url mention\">@<span>{BRAND_ACCT}</span></a></span> {}</p>",
                self.shared.base_url,
                escape(text)
            ),
            in_reply_to,
            visibility,
            Utc::now(),
        );
        inner.statuses.push(status.clone());
        let nid = next_id(&mut inner);
        let notification = json!({
            "id": nid,
            "type": "mention",
            "created_at": Utc::now().to_rfc3339(),
            "account": account,
            "status": status,
        });
        inner.notifications.push(notification.clone());
        drop(inner);
        let event = json!({
            "stream": ["user:notification"],
            "event": "notification",
            "payload": notification.to_string(),
        });
        let _ = self.shared.streams.send(event.to_string());
        id
    }

    /// How many open streams are subscribed to `user:notification`: a
    /// mention pushed before a client subscribed never reaches it, so a
    /// test or benchmark waits for this before pushing.
    pub fn notification_streams(&self) -> usize {
        self.shared.subscribed.load(Ordering::SeqCst)
    }

    /// Every `POST /api/v1/statuses` received, in order.
    pub fn received_posts(&self) -> Vec<ReceivedPost> {
        self.shared.lock().posts.clone()
    }

    /// The brand's statuses that exist on the server (what followers see).
    pub fn brand_statuses(&self) -> Vec<Value> {
        self.shared
            .lock()
            .statuses
            .iter()
            .filter(|s| s["account"]["id"] == BRAND_ID)
            .cloned()
            .collect()
    }

    /// Applies `fault` to the next POST that would create a status.
    pub fn fault_next_post(&self, fault: PostFault) {
        self.shared.lock().faults.push(fault);
    }
}

fn next_id(inner: &mut Inner) -> String {
    inner.next_id += 1;
    inner.next_id.to_string()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn customer_account(acct: &str, base_url: &str) -> Value {
    let username = acct.split('@').next().unwrap_or(acct);
    json!({
        "id": format!("9{}", acct.bytes().map(u64::from).sum::<u64>()),
        "username": username,
        "acct": acct,
        "display_name": username,
        "followers_count": 12,
        "bot": false,
        "url": format!("{base_url}/@{acct}"),
    })
}

fn brand_account(base_url: &str) -> Value {
    json!({
        "id": BRAND_ID,
        "username": BRAND_ACCT,
        "acct": BRAND_ACCT,
        "display_name": "Acme Support",
        "followers_count": 5000,
        "bot": false,
        "url": format!("{base_url}/@{BRAND_ACCT}"),
    })
}

fn status_json(
    shared: &Shared,
    id: &str,
    account: Value,
    content: &str,
    in_reply_to: Option<&str>,
    visibility: &str,
    at: DateTime<Utc>,
) -> Value {
    let acct = account["acct"].as_str().unwrap_or("").to_string();
    json!({
        "id": id,
        "uri": format!("https://{}/users/{}/statuses/{id}", shared.domain, acct),
        "url": format!("{}/@{}/{id}", shared.base_url, acct),
        "created_at": at.to_rfc3339(),
        "account": account,
        "content": content,
        "visibility": visibility,
        "in_reply_to_id": in_reply_to,
        "in_reply_to_account_id": null,
        "language": "en",
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 0,
        "mentions": [],
        "tags": [],
    })
}

fn authorised(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {TOKEN}"))
}

fn unauthorised() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "The access token is invalid"})),
    )
        .into_response()
}

async fn verify_credentials(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if !authorised(&headers) {
        return unauthorised();
    }
    Json(brand_account(&s.base_url)).into_response()
}

async fn instance(State(s): State<Shared>) -> Response {
    Json(json!({
        "domain": s.domain,
        "title": "Fake Mastodon",
        "version": "4.3.0",
        "configuration": {
            "urls": {"streaming": s.base_url.replace("http://", "ws://")},
            "statuses": {"max_characters": 500, "characters_reserved_per_url": 23},
        },
    }))
    .into_response()
}

#[derive(Deserialize)]
struct Page {
    min_id: Option<String>,
    since_id: Option<String>,
    max_id: Option<String>,
    limit: Option<usize>,
}

fn id_of(v: &Value) -> u64 {
    v["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Mastodon's paging: `min_id` gives the page just after it (oldest first
/// among the newer ones), `since_id` the newest after it, `max_id` older
/// ones; the page is always ordered newest first.
fn page(items: &[Value], q: &Page) -> Vec<Value> {
    let parse = |s: &Option<String>| s.as_deref().and_then(|s| s.parse::<u64>().ok());
    let limit = q.limit.unwrap_or(20).clamp(1, 80);
    let mut sorted: Vec<Value> = items
        .iter()
        .filter(|v| parse(&q.max_id).is_none_or(|m| id_of(v) < m))
        .filter(|v| parse(&q.since_id).is_none_or(|m| id_of(v) > m))
        .filter(|v| parse(&q.min_id).is_none_or(|m| id_of(v) > m))
        .cloned()
        .collect();
    sorted.sort_by_key(id_of);
    let mut chosen: Vec<Value> = if q.min_id.is_some() {
        sorted.into_iter().take(limit).collect()
    } else {
        let skip = sorted.len().saturating_sub(limit);
        sorted.into_iter().skip(skip).collect()
    };
    chosen.reverse();
    chosen
}

async fn notifications(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<Page>,
) -> Response {
    if !authorised(&headers) {
        return unauthorised();
    }
    let inner = s.lock();
    Json(page(&inner.notifications, &q)).into_response()
}

async fn tag_timeline(
    State(s): State<Shared>,
    Path(tag): Path<String>,
    Query(q): Query<Page>,
) -> Response {
    let inner = s.lock();
    let tagged: Vec<Value> = inner
        .statuses
        .iter()
        .filter(|st| {
            st["content"].as_str().is_some_and(|c| {
                c.to_lowercase()
                    .contains(&format!("#{}", tag.to_lowercase()))
            })
        })
        .cloned()
        .collect();
    Json(page(&tagged, &q)).into_response()
}

async fn status(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    let inner = s.lock();
    match inner.statuses.iter().find(|st| st["id"] == id.as_str()) {
        Some(st) => Json(st.clone()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "Record not found"})),
        )
            .into_response(),
    }
}

async fn account_statuses(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<Page>,
) -> Response {
    let inner = s.lock();
    let theirs: Vec<Value> = inner
        .statuses
        .iter()
        .filter(|st| st["account"]["id"] == id.as_str())
        .cloned()
        .collect();
    Json(page(&theirs, &q)).into_response()
}

#[derive(Deserialize)]
struct NewStatus {
    status: String,
    in_reply_to_id: Option<String>,
    visibility: Option<String>,
}

async fn create_status(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (response, delay) = create_status_now(&s, &headers, &body);
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    response
}

/// A refused POST: status, Mastodon's error text, and `Retry-After`.
type Refusal = (StatusCode, &'static str, Option<u64>);

/// Handles the POST under the lock; a `SlowAfterCreating` fault returns the
/// delay to wait before answering.
fn create_status_now(s: &Shared, headers: &HeaderMap, body: &[u8]) -> (Response, Option<Duration>) {
    match create_status_inner(s, headers, body) {
        Ok((st, delay)) => (Json(st).into_response(), delay),
        Err((status, error, retry_after)) => {
            let mut resp = (status, Json(json!({ "error": error }))).into_response();
            if let Some(v) = retry_after.and_then(|r| r.to_string().parse().ok()) {
                resp.headers_mut().insert("retry-after", v);
            }
            (resp, None)
        }
    }
}

fn create_status_inner(
    s: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Value, Option<Duration>), Refusal> {
    if !authorised(headers) {
        return Err((
            StatusCode::UNAUTHORIZED,
            "The access token is invalid",
            None,
        ));
    }
    // Clients send a form or JSON; Mastodon accepts both.
    let parsed: Option<NewStatus> = serde_json::from_slice(body)
        .ok()
        .or_else(|| serde_urlencoded_form(body));
    let Some(new) = parsed else {
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation failed: Text can't be blank",
            None,
        ));
    };
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let visibility = new.visibility.clone().unwrap_or_else(|| "public".into());
    let mut inner = s.lock();
    let mut received = ReceivedPost {
        idempotency_key: key.clone(),
        status: new.status.clone(),
        in_reply_to_id: new.in_reply_to_id.clone(),
        visibility: visibility.clone(),
        status_id: None,
    };
    // A repeated key returns the status the first request made.
    if let Some(existing) = key.as_ref().and_then(|k| inner.by_key.get(k)).cloned() {
        received.status_id = Some(existing.clone());
        inner.posts.push(received);
        let found = inner
            .statuses
            .iter()
            .find(|st| st["id"] == existing.as_str())
            .cloned();
        return Ok((found.unwrap_or(Value::Null), None));
    }
    let fault = if inner.faults.is_empty() {
        None
    } else {
        Some(inner.faults.remove(0))
    };
    match fault {
        Some(PostFault::RateLimited { retry_after_secs }) => {
            inner.posts.push(received);
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                Some(retry_after_secs),
            ));
        }
        Some(PostFault::Unavailable) => {
            inner.posts.push(received);
            return Err((StatusCode::SERVICE_UNAVAILABLE, "Service unavailable", None));
        }
        _ => {}
    }
    let chars = new.status.chars().count();
    if chars > 500 {
        inner.posts.push(received);
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation failed: Text character limit of 500 exceeded",
            None,
        ));
    }
    let id = next_id(&mut inner);
    let st = status_json(
        s,
        &id,
        brand_account(&s.base_url),
        &format!("<p>{}</p>", escape(&new.status)),
        new.in_reply_to_id.as_deref(),
        &visibility,
        Utc::now(),
    );
    inner.statuses.push(st.clone());
    if let Some(k) = key {
        inner.by_key.insert(k, id.clone());
    }
    received.status_id = Some(id);
    inner.posts.push(received);
    let delay = match fault {
        Some(PostFault::SlowAfterCreating(delay)) => Some(delay),
        _ => None,
    };
    Ok((st, delay))
}

/// `status=…&in_reply_to_id=…&visibility=…` as a form body.
fn serde_urlencoded_form(body: &[u8]) -> Option<NewStatus> {
    let text = std::str::from_utf8(body).ok()?;
    let mut fields: HashMap<String, String> = HashMap::new();
    for pair in text.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        fields.insert(decode(k), decode(v));
    }
    Some(NewStatus {
        status: fields.remove("status")?,
        in_reply_to_id: fields.remove("in_reply_to_id"),
        visibility: fields.remove("visibility"),
    })
}

fn decode(s: &str) -> String {
    let bytes = s.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes.get(i), bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(b'%'), Some(h), Some(l)) => {
                let hex = [*h, *l];
                match std::str::from_utf8(&hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            (Some(b), _, _) => {
                out.push(*b);
                i += 1;
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn streaming(State(s): State<Shared>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if !authorised(&headers) {
        return unauthorised();
    }
    let events = s.streams.subscribe();
    let count = s.subscribed.clone();
    ws.on_upgrade(move |socket| stream_events(socket, events, count))
}

/// Counts a subscribed stream until the connection ends.
struct Subscribed(Arc<AtomicUsize>);

impl Subscribed {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Subscribed(count.clone())
    }
}

impl Drop for Subscribed {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits for a `user:notification` subscription, then forwards events.
async fn stream_events(
    mut socket: WebSocket,
    mut events: broadcast::Receiver<String>,
    count: Arc<AtomicUsize>,
) {
    let mut subscribed: Option<Subscribed> = None;
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    if let Ok(v) = serde_json::from_str::<Value>(&t)
                        && v["type"] == "subscribe" && v["stream"] == "user:notification"
                        && subscribed.is_none() {
                        subscribed = Some(Subscribed::new(&count));
                    }
                }
                Some(Ok(_)) => {}
                _ => return,
            },
            ev = events.recv() => match ev {
                Ok(text) if subscribed.is_some() => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}
