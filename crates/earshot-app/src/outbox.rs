//! The outbox worker: replies leave through their source's connector,
//! exactly once. Each pass claims the due rows under a lease; for each it
//! renders the text as the platform will count it (too long, unsupported or
//! a closed private gate fail at once, never sent), asks the platform
//! whether an attempt that may have landed did (`reconcile`), and only then
//! sends, with the idempotency key made when the reply was queued. What the
//! platform answered becomes an [`OutboxResult`] through [`decide`], a pure
//! function of the error, the attempts so far and the clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use earshot_connectors::{ConnError, Outbound, Sent};
use earshot_core::error::{ErrorCode, Result};
use earshot_core::ids::{OutboxId, SourceId};
use earshot_core::outbox::{OutboxItem, OutboxResult};
use earshot_core::reply::Visibility;
use earshot_core::sources::{Attempt, HealthReport, SourcePatch, SourceState};
use rand::Rng;
use serde::Serialize;
use tokio::sync::Notify;

use crate::channels::Channel;
use crate::{App, LiveEvent};

/// How long a claimed row is a worker's by default: longer than a
/// reconcile and a send together may take ([`CALL_TIMEOUT`] each). A node
/// can take another (`App::with_outbox_lease`); its calls are then cut to
/// fit ([`call_timeout`]).
pub const LEASE: TimeDelta = TimeDelta::seconds(60);
/// Attempts before a reply is given up as dead.
pub const MAX_ATTEMPTS: u32 = 10;
/// How long after its first attempt a reply is given up as dead.
pub const MAX_AGE: TimeDelta = TimeDelta::hours(24);
/// Full-jitter backoff between attempts: base and cap.
pub const BACKOFF_BASE: Duration = Duration::from_secs(2);
pub const BACKOFF_CAP: Duration = Duration::from_secs(15 * 60);
/// The shortest wait before a retry, whatever the jitter drew or the
/// platform said: a row retried at once would be claimed again in the same
/// pass, hammering a platform that just failed.
pub const MIN_RETRY_WAIT: Duration = Duration::from_secs(1);
/// A reply whose channel is not running is looked at again after this.
pub const NO_CHANNEL_RETRY: TimeDelta = TimeDelta::seconds(30);
/// Consecutive authentication failures that pause a source.
pub const AUTH_FAILURES_TO_PAUSE: u32 = 2;

/// What one failed attempt comes to: retry (when and why), failed for good,
/// or dead. `attempts` counts the attempts before this one; `in_doubt` says
/// the attempt may have landed (no answer after sending, or a reconcile
/// that could not look), so the next one reconciles first.
pub fn decide(
    error: &ConnError,
    attempts: u32,
    first_attempt_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    in_doubt: bool,
    rng: &mut impl Rng,
) -> OutboxResult {
    let text = error.to_string();
    match error {
        ConnError::TooLong { .. }
        | ConnError::Unsupported(_)
        | ConnError::GateClosed(_)
        | ConnError::Permanent(_) => return OutboxResult::Failed { error: text },
        ConnError::RateLimited { .. }
        | ConnError::Transient(_)
        | ConnError::Unknown(_)
        | ConnError::Auth(_) => {}
    }
    let first = first_attempt_at.unwrap_or(now);
    if attempts + 1 >= MAX_ATTEMPTS || now - first >= MAX_AGE {
        return OutboxResult::Dead { error: text };
    }
    let wait = error
        .retry_after()
        .unwrap_or_else(|| {
            earshot_connectors::http::backoff(attempts, BACKOFF_BASE, BACKOFF_CAP, rng)
        })
        .max(MIN_RETRY_WAIT);
    OutboxResult::Retry {
        at: now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::seconds(1)),
        error: text,
        unknown: in_doubt || matches!(error, ConnError::Unknown(_)),
    }
}

/// What a pass did.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct OutboxTickReport {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    pub dead: usize,
    /// Claimed but given back: their channel is not running.
    pub waiting: usize,
    /// Sources paused after repeated authentication failures.
    pub paused: Vec<SourceId>,
}

/// One worker: the name its leases are taken under, unique per process,
/// and the rows it released because their source had no running channel.
pub struct OutboxWorker {
    owner: String,
    waiting: std::sync::Mutex<HashMap<OutboxId, SourceId>>,
}

impl Default for OutboxWorker {
    fn default() -> Self {
        OutboxWorker {
            owner: format!("outbox-{}", uuid::Uuid::now_v7()),
            waiting: std::sync::Mutex::default(),
        }
    }
}

impl OutboxWorker {
    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<OutboxId, SourceId>> {
        match self.waiting.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// One pass over the rows due at `now`. Rows this worker released for
    /// a missing channel are due at once when that channel is running
    /// (a node that restarts claims its queue before its sources have
    /// started; they need not wait [`NO_CHANNEL_RETRY`]).
    pub async fn tick(&self, app: &App, now: DateTime<Utc>) -> Result<OutboxTickReport> {
        let mut report = OutboxTickReport::default();
        let ready: Vec<OutboxId> = self
            .waiting()
            .iter()
            .filter(|(_, source)| app.channels.get(**source).is_some())
            .map(|(id, _)| *id)
            .collect();
        if !ready.is_empty() {
            app.outbox.due_now(&ready, now).await?;
            let mut waiting = self.waiting();
            for id in &ready {
                waiting.remove(id);
            }
        }
        loop {
            // One row per claim, leased from the clock as it is now: a row
            // never waits behind others while its lease runs down, so its
            // calls (each cut at `call_timeout`) always end inside the
            // lease and no other node can claim it meanwhile.
            let at = now.max(app.clock.now());
            let claimed = app
                .outbox
                .claim_due(at, app.outbox_lease, 1, &self.owner)
                .await?;
            if claimed.is_empty() {
                return Ok(report);
            }
            for item in claimed {
                self.deliver(app, item, at, &mut report).await?;
            }
        }
    }

    async fn deliver(
        &self,
        app: &App,
        item: OutboxItem,
        now: DateTime<Utc>,
        report: &mut OutboxTickReport,
    ) -> Result<()> {
        self.waiting().remove(&item.id);
        let channel = item.source_id.and_then(|id| app.channels.get(id));
        let Some(channel) = channel else {
            return self.no_channel(app, &item, now, report).await;
        };
        let out = Outbound {
            idempotency_key: item.idempotency_key.clone(),
            visibility: item.visibility,
            body: item.body.clone(),
            recipient: item.recipient.clone(),
            reply_ref: item.reply_ref.clone(),
            last_inbound_at: item.last_inbound_at,
        };
        let result = match channel.connector.render(&out) {
            // Too long, unsupported, a closed gate: never sent.
            Err(e) => OutboxResult::Failed {
                error: e.to_string(),
            },
            Ok(text) => {
                let out = Outbound { body: text, ..out };
                let limit = call_timeout(app.outbox_lease);
                match attempt(&channel, &out, item.needs_reconcile, limit).await {
                    Ok(sent) => {
                        self.credentials_work(app, channel.source_id, now).await?;
                        if out.visibility == Visibility::Private {
                            link_private_thread(app, &channel, &item, &out, &sent, now).await;
                        }
                        OutboxResult::Sent {
                            remote_id: sent.remote_id,
                            url: sent.url,
                        }
                    }
                    Err((error, in_doubt)) => {
                        if matches!(error, ConnError::Auth(_)) {
                            self.auth_failed(app, &channel, &error, now, report).await?;
                        }
                        decide(
                            &error,
                            item.attempts,
                            item.first_attempt_at,
                            now,
                            in_doubt,
                            &mut rand::rng(),
                        )
                    }
                }
            }
        };
        match &result {
            OutboxResult::Sent { .. } => report.sent += 1,
            OutboxResult::Retry { error, .. } => {
                tracing::warn!(outbox_id = %item.id, attempts = item.attempts + 1, %error,
                    "reply delivery will be retried");
                report.retrying += 1;
            }
            OutboxResult::Failed { error } => {
                tracing::warn!(outbox_id = %item.id, %error, "reply delivery failed");
                report.failed += 1;
            }
            OutboxResult::Dead { error } => {
                tracing::warn!(outbox_id = %item.id, %error, "reply delivery given up");
                report.dead += 1;
            }
        }
        self.record(app, &item, &result, now).await
    }

    /// A claimed row whose source has no running channel: it waits (no
    /// attempt counted) while the source exists, and is given up once the
    /// source is gone, so an agent can post it by hand.
    async fn no_channel(
        &self,
        app: &App,
        item: &OutboxItem,
        now: DateTime<Utc>,
        report: &mut OutboxTickReport,
    ) -> Result<()> {
        let existing = match item.source_id {
            Some(id) => app.sources.source(id).await?.map(|s| s.id),
            None => None,
        };
        if let Some(source_id) = existing {
            // Paused, stopping or not started yet.
            app.outbox
                .release(item.id, &self.owner, now + NO_CHANNEL_RETRY, now)
                .await?;
            self.waiting().insert(item.id, source_id);
            report.waiting += 1;
            return Ok(());
        }
        report.dead += 1;
        let result = OutboxResult::Dead {
            error: "its source no longer exists; post it by hand".into(),
        };
        self.record(app, item, &result, now).await
    }

    /// Records `result` on the row this worker holds. A lease that ran out
    /// and passed to another worker is that worker's business now.
    async fn record(
        &self,
        app: &App,
        item: &OutboxItem,
        result: &OutboxResult,
        now: DateTime<Utc>,
    ) -> Result<()> {
        match app.outbox.complete(item.id, &self.owner, result, now).await {
            Ok(_) => {}
            Err(e) if e.code == ErrorCode::Conflict => {
                tracing::warn!(outbox_id = %item.id, error = %e.message, "outbox lease lost");
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        if matches!(result, OutboxResult::Sent { .. }) {
            // Answered: the case stops climbing the queue at once.
            crate::priority::refresh_case(app, item.case_id, now).await?;
        }
        let _ = app.live.send(LiveEvent::CaseUpdated {
            case_id: item.case_id,
        });
        Ok(())
    }

    /// The platform took a post with the source's credentials: earlier
    /// authentication failures no longer count towards pausing it.
    async fn credentials_work(&self, app: &App, id: SourceId, now: DateTime<Utc>) -> Result<()> {
        let Some(source) = app.sources.source(id).await? else {
            return Ok(());
        };
        if source.health.consecutive_auth_failures == 0 {
            return Ok(());
        }
        let worked = HealthReport {
            state: source.health.state,
            attempt: Attempt::Succeeded,
            capabilities: None,
        };
        app.sources.record_source_health(id, &worked, now).await?;
        Ok(())
    }

    /// Counts an authentication failure on the source (the same count its
    /// listening adds to). The second in a row pauses the source as the
    /// source runtime does (paused, `auth_paused`, until an admin fixes the
    /// credentials and resumes it): its channel goes down so nothing more
    /// is sent through it, its task stops, and the admins are told.
    async fn auth_failed(
        &self,
        app: &App,
        channel: &Channel,
        error: &ConnError,
        now: DateTime<Utc>,
        report: &mut OutboxTickReport,
    ) -> Result<()> {
        let id = channel.source_id;
        let Some(source) = app.sources.source(id).await? else {
            return Ok(());
        };
        let failed = HealthReport {
            state: source.health.state,
            attempt: Attempt::Failed {
                error: error.to_string(),
                auth: true,
            },
            capabilities: None,
        };
        let health = app.sources.record_source_health(id, &failed, now).await?;
        if health.consecutive_auth_failures < AUTH_FAILURES_TO_PAUSE {
            return Ok(());
        }
        let pause = SourcePatch {
            paused: Some(true),
            ..SourcePatch::default()
        };
        let paused = app.sources.update_source(id, &pause, now).await?;
        let state = HealthReport {
            state: SourceState::AuthPaused,
            attempt: Attempt::StateOnly,
            capabilities: None,
        };
        app.sources.record_source_health(id, &state, now).await?;
        app.channels.unregister(id);
        crate::listen::changed(app, id);
        report.paused.push(id);
        tracing::error!(source_id = %id, kind = %channel.kind, %error,
            "source paused: its credentials were refused twice in a row while replying");
        crate::listen::notify_admins(app, &paused, &error.to_string()).await
    }
}

/// A private message the platform acknowledged opened (or continued) a
/// thread the customer's answers will carry: its key is linked to the case
/// before the reply is recorded sent, so an answer that comes back at once
/// already finds it. The connector says which key (`private_thread`); a
/// failure to link is logged, never a reason to send again.
async fn link_private_thread(
    app: &App,
    channel: &Channel,
    item: &OutboxItem,
    out: &Outbound,
    sent: &Sent,
    now: DateTime<Utc>,
) {
    let Some(thread) = channel.connector.private_thread(out, sent) else {
        return;
    };
    let key = earshot_core::private_handoff::thread_key(channel.kind, &thread);
    if let Err(e) = app
        .private_handoffs
        .link_thread(&key, item.case_id, now)
        .await
    {
        tracing::warn!(outbox_id = %item.id, case_id = %item.case_id, error = %e.message,
            "could not link the private thread to its case");
    }
}

/// The longest one connector call may take under the default [`LEASE`]: a
/// reconcile and a send together stay inside the lease, so no other worker
/// takes the row over while this one may still post it.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(25);

/// The longest one connector call may take under `lease`: [`CALL_TIMEOUT`],
/// or 5/12 of a shorter lease, so two calls always end inside it.
pub fn call_timeout(lease: TimeDelta) -> Duration {
    let lease = lease.to_std().unwrap_or(Duration::ZERO);
    CALL_TIMEOUT.min(lease * 5 / 12)
}

/// Reconciles first when the last attempt may have landed, then sends,
/// waiting at most `limit` for each. The error says whether this attempt
/// itself may have landed.
async fn attempt(
    channel: &Channel,
    out: &Outbound,
    needs_reconcile: bool,
    limit: Duration,
) -> std::result::Result<Sent, (ConnError, bool)> {
    if needs_reconcile {
        match tokio::time::timeout(limit, channel.connector.reconcile(out)).await {
            Ok(Ok(Some(sent))) => return Ok(sent),
            Ok(Ok(None)) => {}
            // Could not look: still in doubt, so no send yet.
            Ok(Err(e)) => return Err((e, true)),
            Err(_) => return Err((ConnError::Transient("reconcile timed out".into()), true)),
        }
    }
    match tokio::time::timeout(limit, channel.connector.send(out)).await {
        Ok(Ok(sent)) => Ok(sent),
        Ok(Err(e)) => {
            let in_doubt = matches!(e, ConnError::Unknown(_));
            Err((e, in_doubt))
        }
        // It may have gone out before we stopped waiting.
        Err(_) => Err((ConnError::Unknown("send timed out".into()), true)),
    }
}

/// Runs the worker: a pass every `every`, and at once when a reply is
/// queued (`wake`).
pub fn spawn_outbox_worker(
    app: App,
    every: Duration,
    wake: Arc<Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let worker = OutboxWorker::default();
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = wake.notified() => {}
            }
            if let Err(e) = worker.tick(&app, app.clock.now()).await {
                tracing::warn!(error = %e.message, "outbox pass failed");
            }
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use earshot_connectors::{LengthLimit, Unit};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
    }

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    fn retry_at(r: &OutboxResult) -> DateTime<Utc> {
        match r {
            OutboxResult::Retry { at, .. } => *at,
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    #[test]
    fn a_rate_limit_waits_as_told() {
        let e = ConnError::RateLimited {
            retry_after: Some(Duration::from_secs(90)),
            message: "HTTP 429: slow down".into(),
        };
        let r = decide(&e, 0, None, t0(), false, &mut rng());
        assert_eq!(
            r,
            OutboxResult::Retry {
                at: t0() + TimeDelta::seconds(90),
                error: "rate limited: HTTP 429: slow down".into(),
                unknown: false,
            }
        );
        // Without a word from the platform: the backoff.
        let e = ConnError::RateLimited {
            retry_after: None,
            message: "x".into(),
        };
        let at = retry_at(&decide(&e, 0, None, t0(), false, &mut rng()));
        assert!(at >= t0() && at <= t0() + TimeDelta::seconds(2));
    }

    #[test]
    fn a_retry_never_comes_sooner_than_a_second() {
        let e = ConnError::Transient("HTTP 503: busy".into());
        let mut r = rng();
        for _ in 0..5_000 {
            let at = retry_at(&decide(&e, 0, Some(t0()), t0(), false, &mut r));
            assert!(at >= t0() + TimeDelta::seconds(1), "{at}");
        }
        let told = ConnError::RateLimited {
            retry_after: Some(Duration::ZERO),
            message: "HTTP 429".into(),
        };
        let at = retry_at(&decide(&told, 0, Some(t0()), t0(), false, &mut r));
        assert_eq!(at, t0() + TimeDelta::seconds(1));
    }

    #[test]
    fn transient_errors_back_off_with_full_jitter_up_to_the_cap() {
        let e = ConnError::Transient("HTTP 503: busy".into());
        for attempts in 0..9 {
            let at = retry_at(&decide(&e, attempts, Some(t0()), t0(), false, &mut rng()));
            let ceiling = (2i64 << attempts).min(900);
            assert!(
                at >= t0() && at <= t0() + TimeDelta::seconds(ceiling),
                "attempt {attempts}: {at}"
            );
        }
        // The waits spread out rather than all landing on the ceiling.
        let mut r = rng();
        let waits: std::collections::HashSet<_> = (0..20)
            .map(|_| retry_at(&decide(&e, 8, Some(t0()), t0(), false, &mut r)))
            .collect();
        assert!(waits.len() > 10, "{waits:?}");
    }

    #[test]
    fn no_answer_after_sending_retries_in_doubt() {
        let e = ConnError::Unknown("timed out".into());
        let r = decide(&e, 2, Some(t0()), t0(), false, &mut rng());
        assert!(
            matches!(r, OutboxResult::Retry { unknown: true, .. }),
            "{r:?}"
        );
        // A reconcile that could not look leaves the doubt in place.
        let e = ConnError::Transient("HTTP 502".into());
        let r = decide(&e, 2, Some(t0()), t0(), true, &mut rng());
        assert!(
            matches!(r, OutboxResult::Retry { unknown: true, .. }),
            "{r:?}"
        );
        let r = decide(&e, 2, Some(t0()), t0(), false, &mut rng());
        assert!(
            matches!(r, OutboxResult::Retry { unknown: false, .. }),
            "{r:?}"
        );
    }

    #[test]
    fn refusals_fail_at_once_in_the_platforms_words() {
        let limit = LengthLimit::new(500, Unit::Chars);
        for (e, words) in [
            (
                ConnError::Permanent("HTTP 422: Validation failed".into()),
                "HTTP 422: Validation failed",
            ),
            (
                ConnError::TooLong { length: 501, limit },
                "is 501 Chars long, the platform accepts 500",
            ),
            (
                ConnError::GateClosed("the recipient does not accept messages".into()),
                "private message not allowed: the recipient does not accept messages",
            ),
            (
                ConnError::Unsupported("replies of this visibility"),
                "not supported by this connector: replies of this visibility",
            ),
        ] {
            assert_eq!(
                decide(&e, 0, None, t0(), false, &mut rng()),
                OutboxResult::Failed {
                    error: words.into()
                }
            );
        }
    }

    #[test]
    fn dead_after_ten_attempts_or_a_day_with_the_last_error() {
        let e = ConnError::Transient("HTTP 500: boom".into());
        assert!(matches!(
            decide(&e, 8, Some(t0()), t0(), false, &mut rng()),
            OutboxResult::Retry { .. }
        ));
        assert_eq!(
            decide(&e, 9, Some(t0()), t0(), false, &mut rng()),
            OutboxResult::Dead {
                error: "HTTP 500: boom".into()
            }
        );
        let a_day_later = t0() + MAX_AGE;
        assert!(matches!(
            decide(
                &e,
                1,
                Some(t0()),
                a_day_later - TimeDelta::seconds(1),
                false,
                &mut rng()
            ),
            OutboxResult::Retry { .. }
        ));
        assert_eq!(
            decide(&e, 1, Some(t0()), a_day_later, false, &mut rng()),
            OutboxResult::Dead {
                error: "HTTP 500: boom".into()
            }
        );
        let auth = ConnError::Auth("HTTP 401: The access token is invalid".into());
        assert!(matches!(
            decide(&auth, 9, Some(t0()), t0(), false, &mut rng()),
            OutboxResult::Dead { .. }
        ));
    }

    /// A connector whose calls never answer.
    struct Hangs;

    #[async_trait::async_trait]
    impl earshot_connectors::Connector for Hangs {
        fn kind(&self) -> earshot_core::source::SourceKind {
            earshot_core::source::SourceKind::Webhook
        }
        fn capabilities(&self) -> earshot_connectors::Capabilities {
            earshot_connectors::Capabilities::listen_only(
                earshot_connectors::Transport::Push,
                earshot_connectors::RateBudget {
                    requests: 1,
                    per: Duration::from_secs(1),
                },
            )
        }
        async fn start(&self) -> earshot_connectors::ConnResult<earshot_connectors::Capabilities> {
            Ok(self.capabilities())
        }
        async fn poll(
            &self,
            _: Option<&earshot_connectors::Cursor>,
        ) -> earshot_connectors::ConnResult<earshot_connectors::Page> {
            std::future::pending().await
        }
        async fn send(&self, _: &Outbound) -> earshot_connectors::ConnResult<Sent> {
            std::future::pending().await
        }
        async fn reconcile(&self, _: &Outbound) -> earshot_connectors::ConnResult<Option<Sent>> {
            std::future::pending().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_never_answers_ends_inside_the_lease_and_stays_in_doubt() {
        let connector = Arc::new(Hangs);
        let channel = Channel {
            source_id: SourceId(1),
            kind: earshot_core::source::SourceKind::Webhook,
            capabilities: earshot_connectors::Connector::capabilities(&*connector),
            connector,
        };
        let out = Outbound {
            idempotency_key: "k".into(),
            visibility: earshot_core::reply::Visibility::Public,
            body: "hi".into(),
            recipient: "ida".into(),
            reply_ref: serde_json::Value::Null,
            last_inbound_at: None,
        };
        let started = tokio::time::Instant::now();
        let limit = call_timeout(LEASE);
        let (e, in_doubt) = attempt(&channel, &out, true, limit).await.unwrap_err();
        assert!(in_doubt, "{e}");
        assert_eq!(started.elapsed(), CALL_TIMEOUT);
        let (e, in_doubt) = attempt(&channel, &out, false, limit).await.unwrap_err();
        assert!(in_doubt && matches!(e, ConnError::Unknown(_)), "{e}");
        assert!(CALL_TIMEOUT * 2 < LEASE.to_std().unwrap());
    }

    #[test]
    fn a_shorter_lease_cuts_each_call_so_two_still_fit_inside_it() {
        assert_eq!(call_timeout(LEASE), CALL_TIMEOUT);
        assert_eq!(call_timeout(TimeDelta::hours(1)), CALL_TIMEOUT);
        for secs in [1, 4, 12, 59] {
            let lease = TimeDelta::seconds(secs);
            assert!(
                call_timeout(lease) * 2 < lease.to_std().unwrap(),
                "{secs} s"
            );
        }
    }
}
