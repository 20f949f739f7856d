//! The source runtime: one supervised task per configured, unpaused source.
//!
//! The supervisor starts a task for every source when the node starts and
//! restarts or stops one whenever the source use cases announce a change
//! (created, edited, resumed: restart; paused, deleted: stop). Each task
//! builds its connector from the stored settings, starts it, registers its
//! [`Channel`] for the outbox, and then listens as its transport says:
//!
//! - `Poll { interval }`: polls from the saved cursor every interval, at
//!   once again while the page says `more`;
//! - `Stream`: polls to catch up from the cursor, opens the stream and
//!   catches up once more (what arrived before it opened), then reads it,
//!   storing its items in batches (up to [`ListenOptions::batch_max`] items
//!   or [`ListenOptions::batch_window`]); when the stream ends or fails it
//!   reconnects, which polls again before reopening;
//! - `Push`: registered only (the web endpoint ingests what is pushed).
//!
//! Every page is stored through [`crate::ingest`] with its checkpoint, so
//! the cursor moves only with the mentions it covers. Failures back off
//! with full jitter (reset after a healthy period); a platform's
//! `retry_after` is waited out exactly; two authentication failures in a
//! row pause the source and notify the admins.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use earshot_connectors::{
    Capabilities, ConnError, Connector, Cursor, Inbound, InboundKind, Page, SourceSettings,
    StreamEvent, Transport,
};
use earshot_core::auth::Role;
use earshot_core::error::{Error, Result};
use earshot_core::ids::SourceId;
use earshot_core::mention::{MentionOrigin, NewMention};
use earshot_core::reply::ExternalReply;
use earshot_core::source::SourceKind;
use earshot_core::sources::{
    Attempt, Checkpoint, HealthReport, SourcePatch, SourceRecord, SourceState,
};
use futures_util::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::App;
use crate::channels::Channel;
use crate::ingest::IngestOptions;

/// Builds a source's connector from its settings (credentials opened).
pub type ConnectorFactory =
    Arc<dyn Fn(SourceKind, &SourceSettings) -> Result<Arc<dyn Connector>> + Send + Sync>;

/// The platform connectors of `earshot_connectors::build`.
pub fn default_factory() -> ConnectorFactory {
    Arc::new(earshot_connectors::build)
}

/// Consecutive authentication failures that pause a source.
pub const AUTH_FAILURES_TO_PAUSE: u32 = 2;

/// The runtime's timings; the defaults are production's, tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct ListenOptions {
    /// First backoff ceiling after a failure (doubling per failure).
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// A session that ran this long before failing starts the backoff over.
    pub healthy_after: Duration,
    /// Most stream items stored in one batch…
    pub batch_max: usize,
    /// …or the longest an item waits for its batch.
    pub batch_window: Duration,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
            healthy_after: Duration::from_secs(60),
            batch_max: 200,
            batch_window: Duration::from_millis(200),
        }
    }
}

/// Announces that `id` changed, so the supervisor restarts or stops its task.
pub(crate) fn changed(app: &App, id: SourceId) {
    // No receiver: no runtime on this node (a CLI command); nothing to do.
    let _ = app.source_changes.send(id);
}

/// Starts the supervisor; it stops every source task when `stop` fires.
pub fn spawn_supervisor(
    app: App,
    options: ListenOptions,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let changes = app.source_changes.subscribe();
    tokio::spawn(supervise(app, options, changes, stop))
}

struct Running {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

async fn supervise(
    app: App,
    options: ListenOptions,
    mut changes: broadcast::Receiver<SourceId>,
    stop: CancellationToken,
) {
    let mut tasks: HashMap<SourceId, Running> = HashMap::new();
    // What was announced before now is in the list read next.
    while changes.try_recv().is_ok() {}
    restart_all(&app, options, &mut tasks).await;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            change = changes.recv() => match change {
                Ok(id) => restart(&app, options, &mut tasks, id).await,
                // Missed announcements: look at every source again.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    restart_all(&app, options, &mut tasks).await;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    for (id, running) in tasks.drain() {
        halt(&app, id, running).await;
    }
}

async fn restart_all(app: &App, options: ListenOptions, tasks: &mut HashMap<SourceId, Running>) {
    match app.sources.sources().await {
        Ok(sources) => {
            // Running tasks of deleted sources stop; the others restart.
            let mut ids: Vec<SourceId> = tasks.keys().copied().collect();
            ids.extend(sources.iter().map(|s| s.id));
            ids.sort_unstable();
            ids.dedup();
            for id in ids {
                restart(app, options, tasks, id).await;
            }
        }
        Err(e) => tracing::error!(error = %e.message, "cannot list sources"),
    }
}

/// Stops `id`'s task if it runs, then starts a new one unless the source
/// is gone or paused.
async fn restart(
    app: &App,
    options: ListenOptions,
    tasks: &mut HashMap<SourceId, Running>,
    id: SourceId,
) {
    if let Some(running) = tasks.remove(&id) {
        halt(app, id, running).await;
    }
    match app.sources.source(id).await {
        Ok(Some(source)) if !source.paused => {
            let stop = CancellationToken::new();
            let task = tokio::spawn(run_source(app.clone(), id, options, stop.clone()));
            tasks.insert(id, Running { stop, task });
        }
        Ok(_) => {}
        Err(e) => tracing::error!(source_id = id.0, error = %e.message, "cannot read source"),
    }
}

async fn halt(app: &App, id: SourceId, running: Running) {
    running.stop.cancel();
    let _ = running.task.await;
    app.channels.unregister(id);
}

/// Why a session with the platform ended.
enum Ended {
    Cancelled,
    /// The source was paused (authentication) or deleted: the task ends.
    Stopped,
    Failed {
        error: ConnError,
        /// The session had been healthy long enough to forget old failures.
        healthy: bool,
    },
}

async fn run_source(app: App, id: SourceId, options: ListenOptions, stop: CancellationToken) {
    let mut failures: u32 = 0;
    loop {
        let ended = session(&app, id, options, &stop).await;
        app.channels.unregister(id);
        let wait = match ended {
            Ended::Cancelled | Ended::Stopped => break,
            Ended::Failed { error, healthy } => {
                if healthy {
                    failures = 0;
                }
                match failed(&app, id, &error).await {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(source_id = id.0, error = %e.message, "health not recorded")
                    }
                }
                let wait = error.retry_after().unwrap_or_else(|| {
                    earshot_connectors::http::backoff(
                        failures,
                        options.backoff_base,
                        options.backoff_cap,
                        &mut rand::rng(),
                    )
                });
                failures = failures.saturating_add(1);
                wait
            }
        };
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
    }
    app.channels.unregister(id);
}

/// Records a failed attempt; pauses the source after repeated
/// authentication failures. `true` when it was paused.
async fn failed(app: &App, id: SourceId, error: &ConnError) -> Result<bool> {
    let auth = matches!(error, ConnError::Auth(_));
    let state = match error {
        e if e.is_retryable() => SourceState::BackingOff,
        ConnError::Auth(_) => SourceState::BackingOff,
        _ => SourceState::Error,
    };
    tracing::warn!(source_id = id.0, error = %error, "source attempt failed");
    let health = app
        .sources
        .record_source_health(
            id,
            &HealthReport {
                state,
                attempt: Attempt::Failed {
                    error: error.to_string(),
                    auth,
                },
                capabilities: None,
            },
            app.clock.now(),
        )
        .await?;
    if !auth || health.consecutive_auth_failures < AUTH_FAILURES_TO_PAUSE {
        return Ok(false);
    }
    let now = app.clock.now();
    let paused = app
        .sources
        .update_source(
            id,
            &SourcePatch {
                paused: Some(true),
                ..SourcePatch::default()
            },
            now,
        )
        .await?;
    app.sources
        .record_source_health(
            id,
            &HealthReport {
                state: SourceState::AuthPaused,
                attempt: Attempt::StateOnly,
                capabilities: None,
            },
            now,
        )
        .await?;
    notify_admins(app, &paused, &error.to_string()).await?;
    Ok(true)
}

/// Tells every admin in-app that a source stopped listening.
pub(crate) async fn notify_admins(app: &App, source: &SourceRecord, error: &str) -> Result<()> {
    let mut admins: Vec<String> = app
        .workflow
        .users()
        .await?
        .into_iter()
        .filter(|u| u.role == Some(Role::Admin))
        .map(|u| u.name)
        .collect();
    if let Some(desk) = &app.accounts {
        admins.extend(
            desk.users()
                .await?
                .into_iter()
                .filter(|u| u.role == Role::Admin)
                .map(|u| u.name),
        );
    }
    admins.sort();
    admins.dedup();
    let text = format!(
        "Source \"{}\" ({}) is paused: the platform refused its credentials twice ({error}). \
         Update the credentials and resume it.",
        source.name, source.kind
    );
    let payload = serde_json::json!({
        "type": "source_auth_paused",
        "source_id": source.id,
        "source": source.name,
        "error": error,
    });
    for admin in admins {
        app.workflow
            .notify(
                &admin,
                "source_auth_paused",
                None,
                &text,
                &payload,
                app.clock.now(),
            )
            .await?;
    }
    Ok(())
}

async fn report(
    app: &App,
    id: SourceId,
    state: SourceState,
    caps: Option<&Capabilities>,
) -> Result<()> {
    let capabilities = caps
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| Error::internal(e.to_string()))?;
    app.sources
        .record_source_health(
            id,
            &HealthReport {
                state,
                attempt: Attempt::Succeeded,
                capabilities,
            },
            app.clock.now(),
        )
        .await
        .map(drop)
}

/// The source's settings as its connector reads them: the public config
/// and the opened credentials.
fn settings(app: &App, source: &SourceRecord) -> Result<SourceSettings> {
    let credentials = match &source.credentials {
        Some(sealed) => {
            let plain = app.secrets.open(sealed)?;
            match serde_json::from_slice(&plain) {
                Ok(serde_json::Value::Object(map)) => map,
                _ => return Err(Error::internal("sealed credentials are not a JSON object")),
            }
        }
        None => serde_json::Map::new(),
    };
    Ok(SourceSettings {
        config: source.config.clone(),
        credentials,
    })
}

/// One connection to the platform: start, register, listen until
/// cancelled or failed.
async fn session(
    app: &App,
    id: SourceId,
    options: ListenOptions,
    stop: &CancellationToken,
) -> Ended {
    let began = Instant::now();
    let fail = |error: ConnError| Ended::Failed {
        error,
        healthy: began.elapsed() >= options.healthy_after,
    };
    let source = match app.sources.source(id).await {
        Ok(Some(s)) if !s.paused => s,
        Ok(_) => return Ended::Stopped,
        Err(e) => return fail(ConnError::Transient(e.message)),
    };
    let connector = match settings(app, &source).and_then(|s| (app.connectors)(source.kind, &s)) {
        Ok(c) => c,
        // A bad setting stays bad until an admin edits it (which restarts
        // the task): reported as a permanent error, retried slowly.
        Err(e) => return fail(ConnError::Permanent(e.message)),
    };
    let caps = tokio::select! {
        () = stop.cancelled() => return Ended::Cancelled,
        started = connector.start() => match started {
            Ok(caps) => caps,
            Err(e) => return fail(e),
        },
    };
    if let Err(e) = report(app, id, SourceState::Running, Some(&caps)).await {
        return fail(ConnError::Transient(e.message));
    }
    app.channels.register(Channel {
        source_id: id,
        kind: source.kind,
        connector: connector.clone(),
        capabilities: caps.clone(),
    });
    // Replies that waited for this channel can leave now.
    app.outbox_wake.notify_one();
    let mut listener = Listener {
        app,
        id,
        connector,
        cursor: source.cursor.map(Cursor),
        limiter: limiter(&caps),
        options,
    };
    let result = match caps.transport {
        Transport::Push => {
            stop.cancelled().await;
            return Ended::Cancelled;
        }
        Transport::Poll { interval } => listener.poll_forever(interval, stop).await,
        Transport::Stream => listener.stream_forever(stop).await,
    };
    match result {
        Ok(()) => Ended::Cancelled,
        Err(e) => fail(e),
    }
}

/// A token bucket holding the platform's documented budget.
fn limiter(caps: &Capabilities) -> Option<DefaultDirectRateLimiter> {
    let requests = NonZeroU32::new(caps.rate.requests)?;
    let quota = Quota::with_period(caps.rate.per / requests.get())?.allow_burst(requests);
    Some(RateLimiter::direct(quota))
}

struct Listener<'a> {
    app: &'a App,
    id: SourceId,
    connector: Arc<dyn Connector>,
    cursor: Option<Cursor>,
    limiter: Option<DefaultDirectRateLimiter>,
    options: ListenOptions,
}

/// What a page or stream batch holds once sorted.
struct Sorted {
    mentions: Vec<NewMention>,
    brand_replies: Vec<ExternalReply>,
    skipped: u64,
}

impl Listener<'_> {
    /// Waits for the rate budget to allow one more request.
    async fn budget(&self) {
        let Some(limiter) = &self.limiter else { return };
        while let Err(not_until) = limiter.check() {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            tokio::time::sleep(wait).await;
        }
    }

    /// Polls once; a rate limit is waited out here, as long as the
    /// platform asked, without reconnecting. `None` once cancelled.
    async fn poll_patiently(
        &mut self,
        stop: &CancellationToken,
    ) -> std::result::Result<Option<bool>, ConnError> {
        let mut limited: u32 = 0;
        loop {
            let polled = tokio::select! {
                () = stop.cancelled() => return Ok(None),
                polled = self.poll_once() => polled,
            };
            match polled {
                Ok(more) => return Ok(Some(more)),
                Err(e @ ConnError::RateLimited { .. }) => {
                    if let Err(err) = failed(self.app, self.id, &e).await {
                        tracing::error!(source_id = self.id.0, error = %err.message, "health not recorded");
                    }
                    let wait = e.retry_after().unwrap_or_else(|| {
                        earshot_connectors::http::backoff(
                            limited,
                            self.options.backoff_base,
                            self.options.backoff_cap,
                            &mut rand::rng(),
                        )
                    });
                    limited = limited.saturating_add(1);
                    tokio::select! {
                        () = stop.cancelled() => return Ok(None),
                        () = tokio::time::sleep(wait) => {}
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn poll_forever(
        &mut self,
        interval: Duration,
        stop: &CancellationToken,
    ) -> std::result::Result<(), ConnError> {
        loop {
            let Some(more) = self.poll_patiently(stop).await? else {
                return Ok(());
            };
            if !more {
                tokio::select! {
                    () = stop.cancelled() => return Ok(()),
                    () = tokio::time::sleep(interval) => {}
                }
            }
        }
    }

    /// Polls until caught up, opens the stream, polls until caught up
    /// again, then reads the stream until it ends. Streams that do not
    /// replay (Mastodon's) carry only what happens after they open: the
    /// second catch-up reads what arrived between the first and the
    /// opening, which would otherwise be lost once a later stream
    /// checkpoint moves the cursor past it. (What both read is a duplicate,
    /// stored once.) An ended stream is a failure to the caller, which
    /// reconnects (and so polls again before reopening).
    async fn stream_forever(
        &mut self,
        stop: &CancellationToken,
    ) -> std::result::Result<(), ConnError> {
        if !self.catch_up(stop).await? {
            return Ok(());
        }
        self.budget().await;
        let mut events = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            opened = self.connector.stream(self.cursor.as_ref()) => opened?,
        };
        if !self.catch_up(stop).await? {
            return Ok(());
        }
        let mut batch: Vec<Inbound> = Vec::new();
        let mut skipped: Vec<String> = Vec::new();
        let mut checkpoint: Option<Cursor> = None;
        let mut deadline: Option<Instant> = None;
        loop {
            let timeout = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = stop.cancelled() => {
                    self.flush(&mut batch, &mut skipped, &mut checkpoint).await?;
                    return Ok(());
                }
                () = timeout => {
                    self.flush(&mut batch, &mut skipped, &mut checkpoint).await?;
                    deadline = None;
                }
                event = events.next() => {
                    match event {
                        Some(Ok(StreamEvent::Item(item))) => batch.push(*item),
                        Some(Ok(StreamEvent::Checkpoint(c))) => checkpoint = Some(c),
                        Some(Ok(StreamEvent::Skipped(why))) => skipped.push(why),
                        Some(Err(e)) => {
                            self.flush(&mut batch, &mut skipped, &mut checkpoint).await?;
                            return Err(e);
                        }
                        None => {
                            self.flush(&mut batch, &mut skipped, &mut checkpoint).await?;
                            return Err(ConnError::Transient("the stream ended".into()));
                        }
                    }
                    if batch.len() >= self.options.batch_max {
                        self.flush(&mut batch, &mut skipped, &mut checkpoint).await?;
                        deadline = None;
                    } else if deadline.is_none() {
                        deadline = Some(Instant::now() + self.options.batch_window);
                    }
                }
            }
        }
    }

    /// Polls until a page says nothing more is waiting; `false` once
    /// cancelled.
    async fn catch_up(&mut self, stop: &CancellationToken) -> std::result::Result<bool, ConnError> {
        loop {
            match self.poll_patiently(stop).await? {
                None => return Ok(false),
                Some(true) => {}
                Some(false) => return Ok(true),
            }
        }
    }

    /// One poll from the saved cursor, stored with its checkpoint.
    /// `Ok(true)` when the platform says more is waiting.
    async fn poll_once(&mut self) -> std::result::Result<bool, ConnError> {
        self.budget().await;
        let Page {
            items,
            cursor,
            more,
            skipped,
        } = self.connector.poll(self.cursor.as_ref()).await?;
        let mut items = items;
        let mut skipped = skipped;
        let mut cursor = cursor;
        self.flush(&mut items, &mut skipped, &mut cursor).await?;
        Ok(more)
    }

    /// Stores what was read with the cursor past it, in one transaction,
    /// and records the success; the cursor moves only when that commits.
    async fn flush(
        &mut self,
        items: &mut Vec<Inbound>,
        skipped: &mut Vec<String>,
        cursor: &mut Option<Cursor>,
    ) -> std::result::Result<(), ConnError> {
        let store_error = |e: Error| ConnError::Transient(format!("storing failed: {}", e.message));
        let next = cursor.take();
        store_inbound(
            self.app,
            self.id,
            std::mem::take(items),
            std::mem::take(skipped),
            next.clone(),
        )
        .await
        .map_err(store_error)?;
        if next.is_some() {
            self.cursor = next;
        }
        report(self.app, self.id, SourceState::Running, None)
            .await
            .map_err(store_error)
    }
}

/// Stores what source `id` heard, the way its runtime task does (the web
/// endpoint of a `Push` source calls it too): customers' mentions,
/// validated and marked with their origin, go through [`crate::ingest`]
/// with the checkpoint (`cursor`, the skipped count) in the same
/// transaction; each invalid record is skipped, logged and counted; the
/// brand's own posts are never mentions, and those that answer a known
/// post are recorded as the brand's reply. The brand's replies are stored
/// after the commit, so one whose mention is in the same batch finds it.
pub async fn store_inbound(
    app: &App,
    id: SourceId,
    items: Vec<Inbound>,
    unreadable: Vec<String>,
    cursor: Option<Cursor>,
) -> Result<Vec<crate::ingest::Ingested>> {
    let sorted = sort(app, id, items, unreadable);
    let checkpoint = Checkpoint {
        source_id: id,
        cursor: cursor.map(|c| c.0),
        skipped: sorted.skipped,
    };
    let ingested = crate::ingest::ingest_with(
        app,
        sorted.mentions,
        IngestOptions {
            checkpoints: vec![checkpoint],
            ..IngestOptions::default()
        },
    )
    .await?;
    crate::ingest::record_brand_replies(app, &sorted.brand_replies).await?;
    Ok(ingested)
}

/// Splits what a platform sent: customers' mentions (validated; each
/// invalid one skipped, logged and counted), the brand's own answers
/// (never ingested as mentions), and the records it could not read.
fn sort(app: &App, id: SourceId, items: Vec<Inbound>, unreadable: Vec<String>) -> Sorted {
    let now = app.clock.now();
    let mut sorted = Sorted {
        mentions: Vec::with_capacity(items.len()),
        brand_replies: Vec::new(),
        skipped: unreadable.len() as u64,
    };
    for why in &unreadable {
        tracing::warn!(source_id = id.0, why = %why, "record skipped");
    }
    for item in items {
        if item.by_brand {
            // Loop safety: the brand's own posts are answers, never cases.
            if let Some(parent) = item.mention.parent_id.clone() {
                sorted.brand_replies.push(ExternalReply {
                    source: item.mention.source,
                    external_id: item.mention.external_id,
                    in_reply_to: parent,
                    author: item.mention.author.handle,
                    body: item.mention.text,
                    sent_at: item.mention.created_at.min(now),
                });
            }
            continue;
        }
        let external_id = item.mention.external_id.clone();
        match item.mention.validate(now) {
            Ok(mut mention) => {
                mention.origin = Some(MentionOrigin {
                    source_id: id,
                    reply_ref: item.reply_ref,
                    private: item.kind == InboundKind::Direct,
                });
                sorted.mentions.push(mention);
            }
            Err(e) => {
                let external_id: String = external_id.chars().take(256).collect();
                tracing::warn!(
                    source_id = id.0,
                    external_id = %external_id,
                    error = %e.message,
                    "invalid record skipped"
                );
                sorted.skipped += 1;
            }
        }
    }
    sorted
}
