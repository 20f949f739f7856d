//! The source registry and runtime end to end, on SQLite and PostgreSQL
//! (`EARSHOT_TEST_DATABASE_URL`; with `CI` set it is required), with the
//! scripted connector: cursors commit with their mentions and survive a
//! restart, streams are caught up by polling, bad records are skipped and
//! counted, rate limits and authentication failures are handled, the
//! brand's own posts never become cases, and credentials stay sealed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use earshot_app::App;
use earshot_app::ingest::IngestOptions;
use earshot_app::listen::ListenOptions;
use earshot_app::runtime::{Intervals, Runtime};
use earshot_app::sources::{self, SourceUpdate, SourceView};
use earshot_connectors::fake::{FakeConnector, StreamEnd};
use earshot_connectors::{
    ConnError, Connector, Cursor, Inbound, InboundKind, Page, SourceSettings, StreamEvent,
};
use earshot_core::analysis::{Analysis, Analyzer, Sentiment};
use earshot_core::auth::{Principal, Role};
use earshot_core::error::{Error, ErrorCode};
use earshot_core::ids::SourceId;
use earshot_core::mention::{Author, MentionInput, MentionOrigin, ReachMetrics};
use earshot_core::pipeline::Pipeline;
use earshot_core::priority::PriorityWeights;
use earshot_core::source::SourceKind;
use earshot_core::sources::{NewSource, SourceState, SourceStore};
use earshot_core::store::{MentionQuery, Store};
use earshot_core::workflow_store::{UserProfile, WorkflowStore};
use earshot_store::{Location, SqlStore};
use earshot_workflow::FakeClock;
use serde_json::{Value, json};

/// Complaints open cases: texts with "never", "broken" or "refund".
struct Keywords;
impl Analyzer for Keywords {
    fn analyze(&self, text: &str) -> Analysis {
        let complaint = ["never", "broken", "refund"]
            .iter()
            .any(|w| text.contains(w));
        Analysis {
            sentiment: if complaint {
                Sentiment::Negative
            } else {
                Sentiment::Neutral
            },
            sentiment_score: if complaint { -0.8 } else { 0.0 },
            complaint,
            complaint_score: if complaint { 0.9 } else { 0.1 },
            language: Some("en".into()),
            ..Analysis::default()
        }
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn admin() -> Principal {
    Principal {
        name: "root".into(),
        role: Role::Admin,
    }
}

/// Fast timings: tests wait milliseconds, not seconds.
fn quick() -> ListenOptions {
    ListenOptions {
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(100),
        healthy_after: Duration::from_secs(30),
        batch_max: 200,
        batch_window: Duration::from_millis(30),
    }
}

fn idle() -> Intervals {
    let hour = Duration::from_secs(3600);
    Intervals {
        sla_tick: hour,
        deliveries: hour,
        priority: hour,
        outbox: hour,
        csat: hour,
        recovery: hour,
    }
}

struct Harness {
    app: App,
    store: Arc<SqlStore>,
    fake: FakeConnector,
    /// The settings each build received (credentials opened).
    built: Arc<Mutex<Vec<SourceSettings>>>,
    _dir: Option<tempfile::TempDir>,
}

impl Harness {
    async fn new(store: SqlStore, dir: Option<tempfile::TempDir>, fake: FakeConnector) -> Self {
        // The runtime's warnings show with a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter("earshot_app=debug,earshot_store=debug,sqlx=warn")
            .with_test_writer()
            .try_init();
        let store = Arc::new(store);
        let built: Arc<Mutex<Vec<SourceSettings>>> = Arc::default();
        let (f, b) = (fake.clone(), built.clone());
        let app = App::new(
            store.clone(),
            Pipeline::new(Arc::new(Keywords), PriorityWeights::default()),
            Arc::new(FakeClock::new(t0())),
        )
        .with_connectors(Arc::new(move |_kind, settings: &SourceSettings| {
            let base = settings.config.get("base_url").and_then(Value::as_str);
            if !base.is_some_and(|u| u.starts_with("https://")) {
                return Err(Error::invalid_field(
                    "config.base_url",
                    "must be an https URL",
                ));
            }
            b.lock().unwrap().push(settings.clone());
            Ok(Arc::new(f.clone()) as Arc<dyn Connector>)
        }));
        store
            .put_user(
                &UserProfile {
                    role: Some(Role::Admin),
                    ..UserProfile::new("root")
                },
                "test",
                t0(),
            )
            .await
            .unwrap();
        Harness {
            app,
            store,
            fake,
            built,
            _dir: dir,
        }
    }

    fn run(&self) -> Runtime {
        Runtime::start_with(&self.app, idle(), quick())
    }

    async fn source(&self, name: &str) -> SourceView {
        sources::create(
            &self.app,
            &admin(),
            SourceKind::Mastodon,
            name,
            json!({"base_url": "https://social.example", "access_token": "tok-SECRET-123"}),
        )
        .await
        .unwrap()
    }

    async fn view(&self, id: SourceId) -> SourceView {
        sources::get(&self.app, &admin(), id).await.unwrap()
    }

    async fn external_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .store
            .mentions(&MentionQuery::default())
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.mention.external_id)
            .collect();
        ids.sort();
        ids
    }
}

/// Waits (up to 30 s: the machine may be busy) until `check` holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn said(id: &str, handle: &str, text: &str) -> Inbound {
    Inbound {
        mention: MentionInput {
            source: SourceKind::Mastodon,
            external_id: id.into(),
            author: Author {
                handle: handle.into(),
                ..Author::default()
            },
            text: text.into(),
            created_at: t0() - TimeDelta::minutes(10),
            url: Some(format!("https://social.example/@{handle}/{id}")),
            language: None,
            thread_id: None,
            parent_id: None,
            metrics: ReachMetrics::default(),
        },
        kind: InboundKind::Mention,
        reply_ref: json!({"status_id": id}),
        by_brand: false,
    }
}

fn page(items: Vec<Inbound>, cursor: i64) -> Page {
    Page {
        items,
        cursor: Some(Cursor(json!({"since_id": cursor}))),
        more: false,
        skipped: Vec::new(),
    }
}

fn cursor(n: i64) -> Option<Cursor> {
    Some(Cursor(json!({"since_id": n})))
}

fn polling() -> FakeConnector {
    FakeConnector::polling(SourceKind::Mastodon, Duration::from_millis(25))
}

// The tests, each run on both databases.

async fn a_failing_batch_keeps_its_cursor_while_the_one_beside_it_commits(h: Harness) {
    let record = |name: &str| NewSource {
        kind: SourceKind::Mastodon,
        name: name.into(),
        config: Default::default(),
        credentials: None,
        paused: true,
    };
    let a = h.store.create_source(&record("a"), t0()).await.unwrap().id;
    let b = h.store.create_source(&record("b"), t0()).await.unwrap().id;
    let heard = |id: &str, source: SourceId| {
        let mut m = said(id, "jane", "my parcel never arrived")
            .mention
            .validate(t0())
            .unwrap();
        m.origin = Some(MentionOrigin {
            source_id: source,
            reply_ref: json!({}),
            private: false,
        });
        m
    };
    let checkpoint = |source, n| IngestOptions {
        checkpoints: vec![earshot_core::sources::Checkpoint {
            source_id: source,
            cursor: Some(json!({"since_id": n})),
            skipped: 0,
        }],
        ..IngestOptions::default()
    };
    // `b`'s batch names a source that does not exist: the database refuses
    // it (a foreign key), whether alone or in a shared group commit.
    let (good, bad) = tokio::join!(
        earshot_app::ingest::ingest_with(&h.app, vec![heard("a1", a)], checkpoint(a, 3)),
        earshot_app::ingest::ingest_with(
            &h.app,
            vec![heard("b1", b), heard("x1", SourceId(9_999))],
            checkpoint(b, 5)
        ),
    );
    assert!(good.is_ok() && bad.is_err(), "{good:?} / {bad:?}");
    let a = h.store.source(a).await.unwrap().unwrap();
    let b = h.store.source(b).await.unwrap().unwrap();
    assert_eq!(a.cursor, Some(json!({"since_id": 3})));
    assert_eq!(a.health.mentions_ingested, 1);
    assert_eq!(b.cursor, None);
    assert_eq!(b.health.mentions_ingested, 0);
    assert_eq!(h.external_ids().await, ["a1"]);
}

async fn a_restart_resumes_from_the_saved_cursor_without_gaps_or_duplicates(h: Harness) {
    h.fake.push_page(page(
        vec![
            said("m1", "jane", "my parcel never arrived"),
            said("m2", "joe", "the app is broken"),
        ],
        2,
    ));
    let id = h.source("mastodon").await.id;
    let runtime = h.run();
    eventually("the first page", || async {
        h.view(id).await.health.mentions_ingested == 2
    })
    .await;
    runtime.shutdown().await;
    assert!(
        h.app.channels.get(id).is_none(),
        "a stopped source is unregistered"
    );
    let polls_before = h.fake.polls().len();

    // The platform re-sends m2 with m3 after the restart.
    h.fake.push_page(page(
        vec![
            said("m2", "joe", "the app is broken"),
            said("m3", "ann", "I want a refund"),
        ],
        3,
    ));
    let runtime = h.run();
    eventually("the page after the restart", || async {
        h.view(id).await.cursor == Some(json!({"since_id": 3}))
    })
    .await;
    runtime.shutdown().await;
    let polls = h.fake.polls();
    assert_eq!(polls[0].0, None, "the first poll starts from now");
    assert_eq!(
        polls[polls_before].0,
        cursor(2),
        "the new task polls from the saved cursor"
    );
    assert!(polls[1..].iter().all(|(c, _)| c.is_some()));
    assert_eq!(h.external_ids().await, ["m1", "m2", "m3"]);
    let view = h.view(id).await;
    assert_eq!(
        view.health.mentions_ingested, 3,
        "the re-sent m2 is not counted"
    );
    let m3 = h
        .store
        .mentions(&MentionQuery::default())
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.mention.external_id == "m3")
        .unwrap();
    assert_eq!(
        m3.mention.origin,
        Some(MentionOrigin {
            source_id: id,
            reply_ref: json!({"status_id": "m3"}),
            private: false,
        })
    );
}

async fn a_dropped_stream_is_caught_up_by_polling_before_it_reopens(h: Harness) {
    let item = |id: &str| {
        Ok(StreamEvent::Item(Box::new(said(
            id,
            id,
            "my parcel never arrived",
        ))))
    };
    h.fake.push_page(page(Vec::new(), 1));
    // The catch-up once the stream is open: nothing new, the cursor kept.
    h.fake.push_page(Page::default());
    h.fake.push_stream(
        vec![
            item("s1"),
            item("s2"),
            Ok(StreamEvent::Checkpoint(Cursor(json!({"since_id": 3})))),
            Ok(StreamEvent::Skipped("not JSON".into())),
        ],
        StreamEnd::Drop,
    );
    h.fake
        .push_page(page(vec![said("s3", "s3", "the app is broken")], 4));
    h.fake.push_stream(vec![item("s4")], StreamEnd::Hang);
    let id = h.source("stream").await.id;
    let runtime = h.run();
    eventually("every item, streamed and polled", || async {
        h.view(id).await.health.mentions_ingested == 4
    })
    .await;
    runtime.shutdown().await;
    let polls: Vec<Option<Cursor>> = h.fake.polls().into_iter().map(|(c, _)| c).collect();
    assert_eq!(
        polls,
        [None, cursor(1), cursor(3), cursor(4)],
        "caught up before and after each opening, from the stream's checkpoint"
    );
    assert_eq!(
        h.fake.streams(),
        [cursor(1), cursor(4)],
        "reopened past the poll"
    );
    let view = h.view(id).await;
    assert_eq!(view.health.records_skipped, 1);
    // s4 came after the last checkpoint: stored, the cursor stays at the poll's.
    assert_eq!(view.cursor, Some(json!({"since_id": 4})));
    assert_eq!(h.external_ids().await, ["s1", "s2", "s3", "s4"]);
}

/// Mastodon's stream does not replay: a mention posted after the catch-up
/// poll but before the stream is open reaches neither, unless the runtime
/// polls again once the stream is open.
async fn a_mention_posted_while_the_stream_opens_is_read_by_a_second_catch_up(h: Harness) {
    h.fake.push_page(page(Vec::new(), 1));
    h.fake
        .push_page(page(vec![said("gap", "ida", "my parcel never arrived")], 2));
    h.fake.push_stream(Vec::new(), StreamEnd::Hang);
    let id = h.source("stream").await.id;
    let runtime = h.run();
    eventually("the mention from the gap is stored", || async {
        h.view(id).await.health.mentions_ingested == 1
    })
    .await;
    runtime.shutdown().await;
    let polls: Vec<Option<Cursor>> = h.fake.polls().into_iter().map(|(c, _)| c).collect();
    assert_eq!(polls, [None, cursor(1)]);
    assert_eq!(h.fake.streams(), [cursor(1)], "one stream, never reopened");
    assert_eq!(h.view(id).await.cursor, Some(json!({"since_id": 2})));
    assert_eq!(h.external_ids().await, ["gap"]);
}

fn stream_connector() -> FakeConnector {
    FakeConnector::new(SourceKind::Mastodon, earshot_connectors::Transport::Stream)
}

async fn invalid_records_are_skipped_and_counted_and_good_ones_stored(h: Harness) {
    let mut empty = said("bad-1", "jane", "x");
    empty.mention.text = "   ".into();
    let mut future = said("bad-2", "joe", "my parcel never arrived");
    future.mention.created_at = t0() + TimeDelta::days(2);
    let mut p = page(
        vec![
            said("ok-1", "ann", "my parcel never arrived"),
            empty,
            future,
            said("ok-2", "bob", "the app is broken"),
        ],
        9,
    );
    p.skipped = vec!["status 7: missing account".into()];
    h.fake.push_page(p);
    let id = h.source("mastodon").await.id;
    let runtime = h.run();
    eventually("the page", || async { h.view(id).await.cursor.is_some() }).await;
    runtime.shutdown().await;
    let view = h.view(id).await;
    assert_eq!(view.health.mentions_ingested, 2);
    assert_eq!(view.health.records_skipped, 3);
    assert_eq!(view.health.state, SourceState::Running);
    assert_eq!(h.external_ids().await, ["ok-1", "ok-2"]);
}

async fn a_rate_limit_is_waited_out_as_long_as_the_platform_asked(h: Harness) {
    h.fake.push_poll_error(ConnError::RateLimited {
        retry_after: Some(Duration::from_millis(400)),
        message: "HTTP 429: Too many requests".into(),
    });
    h.fake
        .push_page(page(vec![said("r1", "jane", "my parcel never arrived")], 1));
    let id = h.source("mastodon").await.id;
    let runtime = h.run();
    eventually("the page after the wait", || async {
        h.view(id).await.health.mentions_ingested == 1
    })
    .await;
    runtime.shutdown().await;
    let polls = h.fake.polls();
    let waited = polls[1].1 - polls[0].1;
    assert!(
        waited >= Duration::from_millis(400),
        "waited only {waited:?}"
    );
    assert_eq!(h.fake.starts(), 1, "a rate limit does not reconnect");
    let view = h.view(id).await;
    assert!(
        view.health
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("HTTP 429: Too many requests")),
        "{:?}",
        view.health
    );
}

async fn polls_keep_to_the_declared_rate_budget(h: Harness) {
    // Two requests a second: a burst of two, then one every 500 ms, even
    // while every page says more is waiting.
    for n in 0..4 {
        let mut p = page(
            vec![said(&format!("p{n}"), "jane", "my parcel never arrived")],
            n,
        );
        p.more = true;
        h.fake.push_page(p);
    }
    let id = h.source("mastodon").await.id;
    let runtime = h.run();
    eventually("four pages", || async {
        h.view(id).await.health.mentions_ingested == 4
    })
    .await;
    runtime.shutdown().await;
    let polls = h.fake.polls();
    let spread = polls[3].1 - polls[0].1;
    assert!(
        spread >= Duration::from_millis(900),
        "4 polls in {spread:?}"
    );
}

fn budgeted() -> FakeConnector {
    let fake = polling();
    let mut caps = fake.capabilities();
    caps.rate = earshot_connectors::RateBudget {
        requests: 2,
        per: Duration::from_secs(1),
    };
    fake.with_capabilities(caps)
}

async fn two_authentication_failures_pause_the_source_and_notify_admins(h: Harness) {
    h.fake.fail_start(ConnError::Auth(
        "HTTP 401: The access token is invalid".into(),
    ));
    h.fake.fail_start(ConnError::Auth(
        "HTTP 401: The access token is invalid".into(),
    ));
    let id = h.source("mastodon").await.id;
    let runtime = h.run();
    eventually("the pause", || async {
        h.view(id).await.health.state == SourceState::AuthPaused
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.fake.starts(), 2, "a paused source is not retried");
    let view = h.view(id).await;
    assert!(view.paused);
    assert!(h.app.channels.get(id).is_none());
    let notes = h.store.notifications("root", true).await.unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].kind, "source_auth_paused");
    assert!(
        notes[0].text.contains("The access token is invalid"),
        "{}",
        notes[0].text
    );

    // Fixing the credentials and resuming starts it again.
    sources::update(
        &h.app,
        &admin(),
        id,
        SourceUpdate {
            config: Some(json!({"access_token": "tok-NEW"})),
            paused: Some(false),
            ..SourceUpdate::default()
        },
    )
    .await
    .unwrap();
    eventually("the restart", || async {
        h.view(id).await.health.state == SourceState::Running
    })
    .await;
    assert_eq!(h.view(id).await.health.consecutive_auth_failures, 0);
    runtime.shutdown().await;
}

async fn the_brands_own_posts_are_never_ingested_as_mentions(h: Harness) {
    let mut answer = said("b1", "acme", "Sorry about that, we sent a new parcel");
    answer.by_brand = true;
    answer.mention.parent_id = Some("c1".into());
    let mut own = said("b2", "acme", "Our new app is out, nothing is broken");
    own.by_brand = true;
    h.fake.push_page(page(
        vec![said("c1", "jane", "my parcel never arrived"), answer, own],
        3,
    ));
    let id = h.source("mastodon").await.id;
    let runtime = h.run();
    eventually("the brand's answer in the case", || async {
        let mentions = h.store.mentions(&MentionQuery::default()).await.unwrap();
        match mentions.first().and_then(|m| m.case_id) {
            Some(case) => {
                let case = h.store.case_detail(case).await.unwrap().unwrap();
                !case.replies.is_empty()
            }
            None => false,
        }
    })
    .await;
    runtime.shutdown().await;
    assert_eq!(h.external_ids().await, ["c1"]);
    let mention = &h.store.mentions(&MentionQuery::default()).await.unwrap()[0];
    let case = h
        .store
        .case_detail(mention.case_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(case.replies.len(), 1, "one answer, stored once");
    assert_eq!(h.view(id).await.health.mentions_ingested, 1);
    assert_eq!(
        case.replies[0].body,
        "Sorry about that, we sent a new parcel"
    );
    assert_eq!(h.store.cases(&Default::default()).await.unwrap().len(), 1);
}

async fn credentials_are_sealed_in_the_database_and_never_returned(h: Harness) {
    let view = h.source("mastodon").await;
    assert_eq!(view.credentials_set, ["access_token"]);
    let shown = serde_json::to_string(&view).unwrap();
    assert!(!shown.contains("tok-SECRET-123"), "{shown}");
    let row: (Option<String>, String) =
        sqlx::query_as("SELECT credentials, config FROM sources WHERE id = $1")
            .bind(view.id.0)
            .fetch_one(h.store.pool())
            .await
            .unwrap();
    let sealed = row.0.unwrap();
    assert!(
        sealed.starts_with("v1:") && !sealed.contains("tok-SECRET"),
        "{sealed}"
    );
    assert!(!row.1.contains("tok-SECRET"), "{}", row.1);
    let audit = h
        .store
        .audit(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| serde_json::to_string(&r).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        audit.contains("\"source\"") && !audit.contains("tok-SECRET"),
        "{audit}"
    );
    // The connector got the opened credentials.
    let built = h.built.lock().unwrap().last().cloned().unwrap();
    assert_eq!(built.credentials["access_token"], "tok-SECRET-123");

    // A partial edit keeps the other settings; given credentials replace.
    let edited = sources::update(
        &h.app,
        &admin(),
        view.id,
        SourceUpdate {
            config: Some(json!({"access_token": "tok-NEW-456", "list": "support"})),
            ..SourceUpdate::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(edited.config["base_url"], "https://social.example");
    assert_eq!(edited.config["list"], "support");
    let built = h.built.lock().unwrap().last().cloned().unwrap();
    assert_eq!(built.credentials["access_token"], "tok-NEW-456");
    let renamed = sources::update(
        &h.app,
        &admin(),
        view.id,
        SourceUpdate {
            name: Some("care".into()),
            ..SourceUpdate::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(renamed.name, "care");
    assert_eq!(renamed.credentials_set, ["access_token"]);

    // Bad input names the field; supervisors may look but not change.
    let bad = sources::create(
        &h.app,
        &admin(),
        SourceKind::Mastodon,
        "other",
        json!({"base_url": "ftp://social.example"}),
    )
    .await
    .unwrap_err();
    assert!(
        bad.message.starts_with("config.base_url:"),
        "{}",
        bad.message
    );
    let long = sources::create(
        &h.app,
        &admin(),
        SourceKind::Mastodon,
        &"n".repeat(101),
        json!({}),
    )
    .await
    .unwrap_err();
    assert!(long.message.starts_with("name:"), "{}", long.message);
    let taken = sources::create(
        &h.app,
        &admin(),
        SourceKind::Mastodon,
        "care",
        json!({"base_url": "https://social.example"}),
    )
    .await
    .unwrap_err();
    assert_eq!(taken.code, ErrorCode::Conflict);
    let sue = Principal {
        name: "sue".into(),
        role: Role::Supervisor,
    };
    assert_eq!(sources::list(&h.app, &sue).await.unwrap().len(), 1);
    let denied = sources::delete(&h.app, &sue, view.id).await.unwrap_err();
    assert_eq!(denied.code, ErrorCode::Forbidden);
}

async fn pause_resume_and_delete_stop_and_restart_the_task(h: Harness) {
    let id = h.source("mastodon").await.id;
    let runtime = h.run();
    eventually("the task", || async {
        h.app.channels.get(id).is_some() && h.fake.polls().len() >= 2
    })
    .await;
    let pause = |paused| SourceUpdate {
        paused: Some(paused),
        ..SourceUpdate::default()
    };
    let v = sources::update(&h.app, &admin(), id, pause(true))
        .await
        .unwrap();
    assert_eq!(v.health.state, SourceState::Paused);
    eventually("the stop", || async { h.app.channels.get(id).is_none() }).await;
    let polls = h.fake.polls().len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.fake.polls().len(), polls, "a paused source is not polled");
    assert_eq!(h.view(id).await.health.state, SourceState::Paused);

    sources::update(&h.app, &admin(), id, pause(false))
        .await
        .unwrap();
    eventually("the restart", || async {
        h.fake.starts() >= 2 && h.app.channels.get(id).is_some() && h.fake.polls().len() > polls
    })
    .await;

    sources::delete(&h.app, &admin(), id).await.unwrap();
    eventually("the stop", || async { h.app.channels.get(id).is_none() }).await;
    let polls = h.fake.polls().len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        h.fake.polls().len(),
        polls,
        "a deleted source is not polled"
    );
    assert!(sources::list(&h.app, &admin()).await.unwrap().is_empty());
    runtime.shutdown().await;
}

// Backends.

async fn sqlite(fake: FakeConnector) -> Option<Harness> {
    let dir = tempfile::tempdir().unwrap();
    let store = earshot_store::open(&Location::SqliteDir(dir.path().to_path_buf()))
        .await
        .unwrap();
    Some(Harness::new(store, Some(dir), fake).await)
}

async fn postgres(fake: FakeConnector) -> Option<Harness> {
    let url = earshot_store::testing::postgres_url()?;
    let store = earshot_store::open(&Location::Postgres(
        earshot_store::testing::fresh_postgres_database(&url)
            .await
            .unwrap(),
    ))
    .await
    .unwrap();
    Some(Harness::new(store, None, fake).await)
}

macro_rules! both_backends {
    ($($test:ident($fake:expr)),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(h) = super::sqlite($fake).await {
                        super::$test(h).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(h) = super::postgres($fake).await {
                        super::$test(h).await;
                    }
                }
            )*
        }
    };
}

both_backends!(
    a_failing_batch_keeps_its_cursor_while_the_one_beside_it_commits(super::polling()),
    a_restart_resumes_from_the_saved_cursor_without_gaps_or_duplicates(super::polling()),
    a_dropped_stream_is_caught_up_by_polling_before_it_reopens(super::stream_connector()),
    a_mention_posted_while_the_stream_opens_is_read_by_a_second_catch_up(super::stream_connector()),
    invalid_records_are_skipped_and_counted_and_good_ones_stored(super::polling()),
    a_rate_limit_is_waited_out_as_long_as_the_platform_asked(super::polling()),
    polls_keep_to_the_declared_rate_budget(super::budgeted()),
    two_authentication_failures_pause_the_source_and_notify_admins(super::polling()),
    the_brands_own_posts_are_never_ingested_as_mentions(super::polling()),
    credentials_are_sealed_in_the_database_and_never_returned(super::polling()),
    pause_resume_and_delete_stop_and_restart_the_task(super::polling()),
);
