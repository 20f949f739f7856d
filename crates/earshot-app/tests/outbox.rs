//! The outbox worker against a scripted connector, on SQLite always and on
//! PostgreSQL when `EARSHOT_TEST_DATABASE_URL` is set (required with `CI`):
//! a queued reply leaves exactly once with its idempotency key, waits as a
//! rate limit says, backs off, reconciles before any resend, fails at once
//! when it cannot be sent, pauses a source whose credentials are refused,
//! and gives up after ten attempts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use earshot_app::channels::Channel;
use earshot_app::outbox::OutboxWorker;
use earshot_app::{App, LiveEvent};
use earshot_connectors::{
    Capabilities, ConnError, ConnResult, Connector, Idempotency, LengthLimit, Outbound, Page,
    PrivateGate, RateBudget, Sent, Transport, Unit,
};
use earshot_core::accounts::{Accounts, NewUser};
use earshot_core::analysis::{Analysis, Analyzer, Sentiment};
use earshot_core::auth::{Principal, Role};
use earshot_core::ids::{CaseId, ReplyId, SourceId};
use earshot_core::mention::{Author, MentionOrigin, NewMention, ReachMetrics};
use earshot_core::outbox::{OutboxItem, OutboxStatus};
use earshot_core::pipeline::Pipeline;
use earshot_core::priority::{Priority, PriorityWeights};
use earshot_core::reply::{DeliveredVia, ReplyStatus, Visibility};
use earshot_core::source::SourceKind;
use earshot_core::sources::{NewSource, SourceState, SourceStore};
use earshot_core::store::{AnalyzedMention, NewReply, Store};
use earshot_store::{Location, SqlStore};
use earshot_workflow::FakeClock;

/// One scripted answer to `send`.
#[derive(Debug, Clone)]
enum Step {
    Post,
    Fail(ConnError),
    /// The post lands but the answer is lost (a timeout after sending).
    PostThenTimeout,
}

/// A connector that answers `send` from a script (then posts), remembers
/// what landed under which key, and reconciles truthfully from that.
#[derive(Default)]
struct Scripted {
    script: Mutex<VecDeque<Step>>,
    sends: Mutex<Vec<Outbound>>,
    reconciles: Mutex<Vec<String>>,
    /// Idempotency keys of the posts that exist on the "platform".
    posted: Mutex<Vec<String>>,
    keys: Mutex<u32>,
}

impl Scripted {
    fn script(&self, steps: impl IntoIterator<Item = Step>) {
        self.script.lock().unwrap().extend(steps);
    }
    fn sends(&self) -> usize {
        self.sends.lock().unwrap().len()
    }
    fn reconciles(&self) -> usize {
        self.reconciles.lock().unwrap().len()
    }
    fn posted(&self) -> Vec<String> {
        self.posted.lock().unwrap().clone()
    }
    fn sent(key: &str) -> Sent {
        Sent {
            remote_id: format!("post-{key}"),
            url: Some(format!("https://social.example/@brand/{key}")),
        }
    }
}

#[async_trait]
impl Connector for Scripted {
    fn kind(&self) -> SourceKind {
        SourceKind::Webhook
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            reply_public: Some(LengthLimit::new(60, Unit::Chars)),
            reply_private: Some(LengthLimit::new(60, Unit::Chars)),
            private_gate: PrivateGate::None,
            idempotency: Idempotency::ClientId,
            ..Capabilities::listen_only(
                Transport::Push,
                RateBudget {
                    requests: 100,
                    per: Duration::from_secs(60),
                },
            )
        }
    }
    async fn start(&self) -> ConnResult<Capabilities> {
        Ok(self.capabilities())
    }
    async fn poll(&self, _: Option<&earshot_connectors::Cursor>) -> ConnResult<Page> {
        Ok(Page::default())
    }
    fn new_idempotency_key(&self) -> String {
        let mut n = self.keys.lock().unwrap();
        *n += 1;
        format!("key-{n}")
    }
    async fn send(&self, out: &Outbound) -> ConnResult<Sent> {
        self.sends.lock().unwrap().push(out.clone());
        let step = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Step::Post);
        match step {
            Step::Post => {
                self.posted
                    .lock()
                    .unwrap()
                    .push(out.idempotency_key.clone());
                Ok(Self::sent(&out.idempotency_key))
            }
            Step::PostThenTimeout => {
                self.posted
                    .lock()
                    .unwrap()
                    .push(out.idempotency_key.clone());
                Err(ConnError::Unknown("operation timed out".into()))
            }
            Step::Fail(e) => Err(e),
        }
    }
    async fn reconcile(&self, out: &Outbound) -> ConnResult<Option<Sent>> {
        self.reconciles
            .lock()
            .unwrap()
            .push(out.idempotency_key.clone());
        let landed = self.posted.lock().unwrap().contains(&out.idempotency_key);
        Ok(landed.then(|| Self::sent(&out.idempotency_key)))
    }
}

struct Complaints;

impl Analyzer for Complaints {
    fn analyze(&self, _: &str) -> Analysis {
        Analysis {
            sentiment: Sentiment::Negative,
            sentiment_score: -0.8,
            complaint: true,
            complaint_score: 0.9,
            ..Analysis::default()
        }
    }
}

struct Harness {
    app: App,
    source: SourceId,
    store: SqlStore,
    clock: FakeClock,
    fake: Arc<Scripted>,
    _dir: Option<tempfile::TempDir>,
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

async fn sqlite() -> Option<(SqlStore, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let store = earshot_store::open(&Location::SqliteDir(dir.path().to_path_buf()))
        .await
        .unwrap();
    Some((store, Some(dir)))
}

async fn postgres() -> Option<(SqlStore, Option<tempfile::TempDir>)> {
    let url = earshot_store::testing::postgres_url()?;
    let url = earshot_store::testing::fresh_postgres_database(&url)
        .await
        .unwrap();
    let store = earshot_store::open(&Location::Postgres(url)).await.unwrap();
    Some((store, None))
}

async fn harness(db: Option<(SqlStore, Option<tempfile::TempDir>)>) -> Option<Harness> {
    let (store, dir) = db?;
    let clock = FakeClock::new(t0());
    let app = App::new(
        Arc::new(store.clone()),
        Pipeline::new(Arc::new(Complaints), PriorityWeights::default()),
        Arc::new(clock.clone()),
    )
    .with_accounts(Arc::new(store.clone()));
    let source = app
        .sources
        .create_source(
            &NewSource {
                kind: SourceKind::Webhook,
                name: "brand hooks".into(),
                config: serde_json::Map::new(),
                credentials: None,
                paused: false,
            },
            t0(),
        )
        .await
        .unwrap()
        .id;
    let fake = Arc::new(Scripted::default());
    app.channels.register(Channel {
        source_id: source,
        kind: SourceKind::Webhook,
        connector: fake.clone(),
        capabilities: fake.capabilities(),
    });
    Some(Harness {
        app,
        source,
        store,
        clock,
        fake,
        _dir: dir,
    })
}

/// A case for `handle`, heard through the harness's source, and a reply
/// sent on it through the reply use case (as the API and the desk send).
async fn queue(h: &Harness, handle: &str, body: &str) -> (CaseId, ReplyId) {
    let case_id = heard_case(h, handle).await;
    let admin = Principal {
        name: "token:ci".into(),
        role: Role::Admin,
    };
    let outcome = earshot_app::replies::submit_reply(
        &h.app,
        &admin,
        case_id,
        NewReply {
            visibility: Visibility::Public,
            body: body.into(),
            send: true,
        },
        None,
    )
    .await
    .unwrap();
    assert!(!outcome.pending_approval);
    assert_eq!(outcome.reply.status, ReplyStatus::Queued);
    (case_id, outcome.reply.id)
}

/// A case opened by `handle`'s complaint, heard through the harness's source.
async fn heard_case(h: &Harness, handle: &str) -> CaseId {
    let mention = NewMention {
        source: SourceKind::Webhook,
        external_id: format!("post-by-{handle}"),
        author: Author {
            handle: handle.into(),
            ..Author::default()
        },
        text: "my parcel never arrived".into(),
        created_at: t0(),
        url: None,
        language: None,
        thread_id: None,
        parent_id: None,
        metrics: ReachMetrics::default(),
        origin: Some(MentionOrigin {
            source_id: h.source,
            reply_ref: serde_json::json!({"status_id": format!("s-{handle}")}),
            private: false,
        }),
    };
    let analysis = Complaints.analyze("");
    let out = h
        .store
        .ingest(
            &[AnalyzedMention {
                mention,
                analysis,
                priority: Priority::default(),
                historical: false,
            }],
            t0(),
        )
        .await
        .unwrap();
    out[0].case.unwrap().id
}

async fn row(h: &Harness, reply_id: ReplyId) -> OutboxItem {
    h.app.outbox.for_reply(reply_id).await.unwrap().unwrap()
}

async fn reply(h: &Harness, case_id: CaseId) -> earshot_core::reply::Reply {
    h.store.case_detail(case_id).await.unwrap().unwrap().replies[0].clone()
}

async fn tick(h: &Harness, worker: &OutboxWorker) -> earshot_app::outbox::OutboxTickReport {
    worker.tick(&h.app, h.clock.now()).await.unwrap()
}

use earshot_workflow::Clock;

async fn a_queued_reply_is_sent_exactly_once_with_its_key(h: Harness) {
    let mut live = h.app.live.subscribe();
    let (case_id, reply_id) = queue(&h, "jane", "Jane, the refund is on its way").await;
    let queued = row(&h, reply_id).await;
    assert_eq!(queued.idempotency_key, "key-1", "made by the connector");
    assert_eq!(queued.recipient, "jane");
    let worker = OutboxWorker::default();
    let report = tick(&h, &worker).await;
    assert_eq!(report.sent, 1);
    let sends = h.fake.sends.lock().unwrap().clone();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].idempotency_key, "key-1");
    assert_eq!(sends[0].body, "Jane, the refund is on its way");
    assert_eq!(sends[0].recipient, "jane");
    assert_eq!(
        sends[0].reply_ref,
        serde_json::json!({"status_id": "s-jane"})
    );
    let sent = reply(&h, case_id).await;
    assert_eq!(sent.status, ReplyStatus::Sent);
    assert_eq!(sent.delivered_via, Some(DeliveredVia::Channel));
    assert_eq!(sent.channel_message_id.as_deref(), Some("post-key-1"));
    assert!(matches!(
        live.try_recv(),
        Ok(LiveEvent::CaseUpdated { case_id: c }) if c == case_id
    ));
    let case = h.store.case_detail(case_id).await.unwrap().unwrap().case;
    assert_eq!(case.first_response_at, Some(t0()));
    // Later passes leave it alone.
    h.clock.advance(TimeDelta::hours(2));
    assert_eq!(tick(&h, &worker).await.sent, 0);
    assert_eq!(h.fake.sends(), 1);
    assert_eq!(h.fake.posted(), ["key-1"]);
}

async fn a_rate_limit_is_waited_out_as_told_then_posted_once(h: Harness) {
    h.fake.script([Step::Fail(ConnError::RateLimited {
        retry_after: Some(Duration::from_secs(120)),
        message: "HTTP 429: Too many requests".into(),
    })]);
    let (case_id, reply_id) = queue(&h, "kim", "Kim, checking now").await;
    let worker = OutboxWorker::default();
    assert_eq!(tick(&h, &worker).await.retrying, 1);
    let waiting = row(&h, reply_id).await;
    assert_eq!(waiting.status, OutboxStatus::Queued);
    assert_eq!(waiting.next_attempt_at, t0() + TimeDelta::seconds(120));
    assert_eq!(reply(&h, case_id).await.status, ReplyStatus::Queued);
    h.clock.advance(TimeDelta::seconds(119));
    tick(&h, &worker).await;
    assert_eq!(h.fake.sends(), 1, "not before the platform said");
    h.clock.advance(TimeDelta::seconds(1));
    assert_eq!(tick(&h, &worker).await.sent, 1);
    assert_eq!(h.fake.sends(), 2);
    assert_eq!(h.fake.posted(), ["key-1"], "one post");
    assert_eq!(row(&h, reply_id).await.attempts, 2);
}

async fn server_errors_back_off(h: Harness) {
    h.fake.script([
        Step::Fail(ConnError::Transient("HTTP 503: busy".into())),
        Step::Fail(ConnError::Transient("HTTP 503: busy".into())),
    ]);
    let (_, reply_id) = queue(&h, "lee", "Lee, checking now").await;
    let worker = OutboxWorker::default();
    tick(&h, &worker).await;
    let first = row(&h, reply_id).await;
    assert_eq!(first.attempts, 1);
    assert_eq!(first.last_error.as_deref(), Some("HTTP 503: busy"));
    assert!(first.next_attempt_at <= t0() + TimeDelta::seconds(2));
    h.clock.set(first.next_attempt_at);
    tick(&h, &worker).await;
    let second = row(&h, reply_id).await;
    assert_eq!(second.attempts, 2);
    assert!(second.next_attempt_at <= first.next_attempt_at + TimeDelta::seconds(4));
    h.clock.set(second.next_attempt_at);
    assert_eq!(tick(&h, &worker).await.sent, 1);
    assert_eq!(h.fake.posted().len(), 1);
}

async fn a_timeout_after_sending_is_reconciled_never_posted_twice(h: Harness) {
    h.fake.script([Step::PostThenTimeout]);
    let (case_id, reply_id) = queue(&h, "max", "Max, done").await;
    let worker = OutboxWorker::default();
    tick(&h, &worker).await;
    let unknown = row(&h, reply_id).await;
    assert_eq!(unknown.status, OutboxStatus::Unknown);
    assert_eq!(reply(&h, case_id).await.status, ReplyStatus::Sending);
    h.clock.set(unknown.next_attempt_at);
    assert_eq!(tick(&h, &worker).await.sent, 1);
    assert_eq!(h.fake.reconciles(), 1);
    assert_eq!(h.fake.sends(), 1, "found by reconcile, not sent again");
    assert_eq!(h.fake.posted(), ["key-1"]);
    let sent = reply(&h, case_id).await;
    assert_eq!(sent.status, ReplyStatus::Sent);
    assert_eq!(sent.channel_message_id.as_deref(), Some("post-key-1"));
}

async fn a_crash_mid_send_is_reconciled_before_any_resend(h: Harness) {
    let (case_id, reply_id) = queue(&h, "ned", "Ned, done").await;
    // A worker claims the row, posts, and dies before recording anything.
    let claimed = h
        .app
        .outbox
        .claim_due(h.clock.now(), earshot_app::outbox::LEASE, 10, "crashed")
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    h.fake
        .send(&Outbound {
            idempotency_key: claimed[0].idempotency_key.clone(),
            visibility: Visibility::Public,
            body: claimed[0].body.clone(),
            recipient: claimed[0].recipient.clone(),
            reply_ref: claimed[0].reply_ref.clone(),
            last_inbound_at: None,
        })
        .await
        .unwrap();
    let worker = OutboxWorker::default();
    assert_eq!(tick(&h, &worker).await, Default::default(), "leased");
    h.clock.advance(TimeDelta::seconds(61));
    assert_eq!(tick(&h, &worker).await.sent, 1);
    assert_eq!(h.fake.reconciles(), 1);
    assert_eq!(h.fake.sends(), 1, "never resent");
    assert_eq!(reply(&h, case_id).await.status, ReplyStatus::Sent);
    assert_eq!(row(&h, reply_id).await.status, OutboxStatus::Sent);
}

async fn too_long_fails_at_once_without_a_send(h: Harness) {
    let body = "x".repeat(61);
    let (case_id, reply_id) = queue(&h, "oli", &body).await;
    let worker = OutboxWorker::default();
    assert_eq!(tick(&h, &worker).await.failed, 1);
    assert_eq!(h.fake.sends(), 0);
    let failed = reply(&h, case_id).await;
    assert_eq!(failed.status, ReplyStatus::Failed);
    assert_eq!(
        failed.error.as_deref(),
        Some("is 61 Chars long, the platform accepts 60")
    );
    assert_eq!(row(&h, reply_id).await.status, OutboxStatus::Failed);
    h.clock.advance(TimeDelta::hours(1));
    tick(&h, &worker).await;
    assert_eq!(h.fake.sends(), 0);
}

async fn two_auth_failures_pause_the_source_and_tell_the_admins(h: Harness) {
    let accounts: &dyn Accounts = &h.store;
    accounts
        .create_user(
            &NewUser {
                name: "root".into(),
                display_name: "Root".into(),
                role: Role::Admin,
                in_training: false,
                teams: vec![],
            },
            "hash",
            t0(),
        )
        .await
        .unwrap();
    let refused = ConnError::Auth("HTTP 401: The access token is invalid".into());
    h.fake
        .script([Step::Fail(refused.clone()), Step::Fail(refused)]);
    let (case_id, reply_id) = queue(&h, "pat", "Pat, done").await;
    let worker = OutboxWorker::default();
    assert!(
        tick(&h, &worker).await.paused.is_empty(),
        "one is not enough"
    );
    h.clock.set(row(&h, reply_id).await.next_attempt_at);
    let report = tick(&h, &worker).await;
    assert_eq!(report.paused, [h.source]);
    assert!(
        h.app.channels.get(h.source).is_none(),
        "nothing more goes out"
    );
    let source = h.store.source(h.source).await.unwrap().unwrap();
    assert!(source.paused);
    assert_eq!(source.health.state, SourceState::AuthPaused);
    assert_eq!(source.health.consecutive_auth_failures, 2);
    let notes = h.app.workflow.notifications("root", true).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].kind, "source_auth_paused");
    assert!(
        notes[0].text.contains("The access token is invalid"),
        "{}",
        notes[0].text
    );
    // The reply waits for the source, no attempt counted.
    h.clock.advance(TimeDelta::hours(1));
    assert_eq!(tick(&h, &worker).await.waiting, 1);
    assert_eq!(h.fake.sends(), 2);
    let waiting = row(&h, reply_id).await;
    assert_eq!(waiting.attempts, 2);
    assert_eq!(waiting.status, OutboxStatus::Queued);
    assert_eq!(reply(&h, case_id).await.status, ReplyStatus::Queued);
}

async fn dead_after_ten_attempts_with_the_last_error(h: Harness) {
    h.fake
        .script((1..=10).map(|n| Step::Fail(ConnError::Transient(format!("HTTP 500: boom {n}")))));
    let (case_id, reply_id) = queue(&h, "quin", "Quin, done").await;
    let worker = OutboxWorker::default();
    for _ in 0..9 {
        assert_eq!(tick(&h, &worker).await.retrying, 1);
        h.clock.set(row(&h, reply_id).await.next_attempt_at);
    }
    assert_eq!(tick(&h, &worker).await.dead, 1);
    let dead = row(&h, reply_id).await;
    assert_eq!(dead.status, OutboxStatus::Dead);
    assert_eq!(dead.attempts, 10);
    assert_eq!(dead.last_error.as_deref(), Some("HTTP 500: boom 10"));
    let failed = reply(&h, case_id).await;
    assert_eq!(failed.status, ReplyStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("HTTP 500: boom 10"));
    let delivery = failed.delivery.unwrap();
    assert_eq!(delivery.status, OutboxStatus::Dead);
    assert_eq!(delivery.attempts, 10);
    h.clock.advance(TimeDelta::days(2));
    tick(&h, &worker).await;
    assert_eq!(h.fake.sends(), 10);
}

async fn a_reply_waiting_for_its_channel_leaves_as_soon_as_the_channel_runs(h: Harness) {
    let (case_id, reply_id) = queue(&h, "uma", "Uma, it ships today").await;
    // A node that starts claims its queue before its sources are running.
    h.app.channels.unregister(h.source);
    let worker = OutboxWorker::default();
    assert_eq!(tick(&h, &worker).await.waiting, 1);
    let waiting = row(&h, reply_id).await;
    assert_eq!(waiting.status, OutboxStatus::Queued);
    assert_eq!(waiting.attempts, 0);
    assert_eq!(
        waiting.next_attempt_at,
        t0() + earshot_app::outbox::NO_CHANNEL_RETRY
    );
    assert_eq!(tick(&h, &worker).await.waiting, 0, "not due yet");
    h.app.channels.register(Channel {
        source_id: h.source,
        kind: SourceKind::Webhook,
        connector: h.fake.clone(),
        capabilities: h.fake.capabilities(),
    });
    assert_eq!(tick(&h, &worker).await.sent, 1, "no 30 s wait");
    assert_eq!(h.fake.sends(), 1);
    assert_eq!(reply(&h, case_id).await.status, ReplyStatus::Sent);
}

async fn a_reply_whose_source_was_deleted_is_given_up(h: Harness) {
    let (case_id, reply_id) = queue(&h, "rae", "Rae, done").await;
    h.app.channels.unregister(h.source);
    h.store.delete_source(h.source).await.unwrap();
    let worker = OutboxWorker::default();
    assert_eq!(tick(&h, &worker).await.dead, 1);
    assert_eq!(h.fake.sends(), 0);
    assert_eq!(row(&h, reply_id).await.status, OutboxStatus::Dead);
    let failed = reply(&h, case_id).await;
    assert_eq!(failed.status, ReplyStatus::Failed);
    assert_eq!(
        failed.error.as_deref(),
        Some("its source no longer exists; post it by hand")
    );
}

async fn an_approved_reply_is_queued_for_the_source_and_sent_once(h: Harness) {
    let case_id = heard_case(&h, "sam").await;
    h.app
        .workflow
        .set_sensitive(case_id, true, "rules", t0())
        .await
        .unwrap();
    let bob = Principal {
        name: "token:bob".into(),
        role: Role::Agent,
    };
    let held = earshot_app::replies::submit_reply(
        &h.app,
        &bob,
        case_id,
        NewReply {
            visibility: Visibility::Private,
            body: "Sam, your refund is on its way".into(),
            send: true,
        },
        None,
    )
    .await
    .unwrap();
    assert!(held.pending_approval);
    assert!(
        h.app
            .outbox
            .for_reply(held.reply.id)
            .await
            .unwrap()
            .is_none()
    );
    let sue = Principal {
        name: "token:sue".into(),
        role: Role::Supervisor,
    };
    let approved = earshot_app::replies::approve(&h.app, &sue, held.reply.id)
        .await
        .unwrap();
    assert_eq!(approved.status, ReplyStatus::Queued);
    let queued = row(&h, held.reply.id).await;
    assert_eq!(queued.source_id, Some(h.source));
    assert_eq!(queued.visibility, Visibility::Private);
    assert_eq!(queued.reply_ref, serde_json::json!({"status_id": "s-sam"}));
    let worker = OutboxWorker::default();
    assert_eq!(tick(&h, &worker).await.sent, 1);
    assert_eq!(tick(&h, &worker).await.sent, 0);
    assert_eq!(h.fake.posted(), [queued.idempotency_key]);
    assert_eq!(reply(&h, case_id).await.status, ReplyStatus::Sent);
}

/// Two workers (as on two nodes) run passes at once over many replies:
/// each is posted exactly once.
async fn two_workers_never_send_one_reply_twice(h: Harness) {
    const REPLIES: usize = 30;
    for n in 0..REPLIES {
        queue(&h, &format!("cust{n}"), "Hello, done").await;
    }
    let run = |app: App, now: DateTime<Utc>| async move {
        let worker = OutboxWorker::default();
        let mut sent = 0;
        for _ in 0..5 {
            sent += worker.tick(&app, now).await.unwrap().sent;
        }
        sent
    };
    let now = h.clock.now();
    let (a, b) = tokio::join!(
        tokio::spawn(run(h.app.clone(), now)),
        tokio::spawn(run(h.app.clone(), now))
    );
    assert_eq!(a.unwrap() + b.unwrap(), REPLIES);
    let posted = h.fake.posted();
    let unique: HashSet<_> = posted.iter().collect();
    assert_eq!(posted.len(), REPLIES, "{posted:?}");
    assert_eq!(unique.len(), REPLIES, "a reply was posted twice");
    assert_eq!(h.fake.sends(), REPLIES);
}

macro_rules! both_databases {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(h) = super::harness(super::sqlite().await).await {
                        super::$test(h).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(h) = super::harness(super::postgres().await).await {
                        super::$test(h).await;
                    }
                }
            )*
        }
    };
}

both_databases!(
    a_queued_reply_is_sent_exactly_once_with_its_key,
    a_rate_limit_is_waited_out_as_told_then_posted_once,
    server_errors_back_off,
    a_timeout_after_sending_is_reconciled_never_posted_twice,
    a_crash_mid_send_is_reconciled_before_any_resend,
    too_long_fails_at_once_without_a_send,
    two_auth_failures_pause_the_source_and_tell_the_admins,
    dead_after_ten_attempts_with_the_last_error,
    a_reply_waiting_for_its_channel_leaves_as_soon_as_the_channel_runs,
    a_reply_whose_source_was_deleted_is_given_up,
    an_approved_reply_is_queued_for_the_source_and_sent_once,
    two_workers_never_send_one_reply_twice,
);
