//! Recovery end to end, on SQLite always and on PostgreSQL when
//! `EARSHOT_TEST_DATABASE_URL` is set (required with `CI`): mentions are
//! ingested, cases answered and resolved, later posts arrive, and the
//! worker's passes (with the app's test clock) decide who came back round.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use earshot_app::App;
use earshot_core::analysis::{Analysis, Analyzer, Sentiment, UrgencyKind, UrgencySignal};
use earshot_core::auth::{Principal, Role};
use earshot_core::case::CaseStatus;
use earshot_core::ids::{CaseId, SourceId};
use earshot_core::mention::{Author, MentionOrigin, NewMention, ReachMetrics};
use earshot_core::pipeline::Pipeline;
use earshot_core::priority::PriorityWeights;
use earshot_core::recovery::{RecoveryGroupBy, RecoveryOutcome};
use earshot_core::reply::ExternalReply;
use earshot_core::source::SourceKind;
use earshot_core::sources::NewSource;
use earshot_core::store::{CaseAction, CaseQuery, Store};
use earshot_store::{Location, SqlStore};
use earshot_workflow::FakeClock;

/// Reads tone from a few words, so each post's reading is plain to see:
/// "awful"/"broken" negative complaints, "thanks"/"love"/"sorted" positive,
/// "cancel"/"switching" a churn signal, anything else neutral.
struct Words;

impl Analyzer for Words {
    fn analyze(&self, text: &str) -> Analysis {
        let t = text.to_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
        let mut a = Analysis::default();
        if has(&["awful", "broken"]) {
            a.sentiment = Sentiment::Negative;
            a.complaint = true;
        } else if has(&["thanks", "love", "sorted"]) {
            a.sentiment = Sentiment::Positive;
        }
        if has(&["cancel", "switching"]) {
            a.urgency.push(UrgencySignal {
                kind: UrgencyKind::ChurnIntent,
                trigger: "cancel".into(),
            });
        }
        a
    }
}

struct Harness {
    app: App,
    store: SqlStore,
    clock: FakeClock,
    /// A source that hears private messages (DMs).
    dms: SourceId,
    _dir: Option<tempfile::TempDir>,
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

fn hours(h: i64) -> DateTime<Utc> {
    t0() + TimeDelta::hours(h)
}

fn days(d: i64) -> DateTime<Utc> {
    t0() + TimeDelta::days(d)
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
        Pipeline::new(Arc::new(Words), PriorityWeights::default()),
        Arc::new(clock.clone()),
    )
    .with_accounts(Arc::new(store.clone()));
    let dms = app
        .sources
        .create_source(
            &NewSource {
                kind: SourceKind::Webhook,
                name: "direct messages".into(),
                config: serde_json::Map::new(),
                credentials: None,
                paused: false,
            },
            t0(),
        )
        .await
        .unwrap()
        .id;
    Some(Harness {
        app,
        store,
        clock,
        dms,
        _dir: dir,
    })
}

fn admin() -> Principal {
    Principal {
        name: "token:ci".into(),
        role: Role::Admin,
    }
}

fn post(id: &str, handle: &str, text: &str, at: DateTime<Utc>) -> NewMention {
    NewMention {
        source: SourceKind::Webhook,
        external_id: id.into(),
        author: Author {
            handle: handle.into(),
            ..Author::default()
        },
        text: text.into(),
        created_at: at,
        url: None,
        language: None,
        thread_id: None,
        parent_id: None,
        metrics: ReachMetrics::default(),
        origin: None,
    }
}

impl Harness {
    /// Ingests `m` with the clock at its post time.
    async fn hear(&self, m: NewMention) -> earshot_core::store::IngestOutcome {
        self.clock.set(m.created_at);
        let mut out = earshot_app::ingest::ingest(&self.app, vec![m])
            .await
            .unwrap();
        out.remove(0).outcome
    }

    /// A negative complaint by `handle` at `at`, answered an hour later and
    /// resolved by `agent` two hours later.
    async fn resolved_complaint(&self, handle: &str, agent: &str, at: DateTime<Utc>) -> CaseId {
        let id = format!("{handle}-1");
        let out = self
            .hear(post(&id, handle, "my order arrived broken, awful", at))
            .await;
        let case = out.case.unwrap();
        assert_eq!(case.action, CaseAction::Opened);
        self.clock.set(at + TimeDelta::hours(1));
        let joined = earshot_app::ingest::record_brand_replies(
            &self.app,
            &[ExternalReply {
                source: SourceKind::Webhook,
                external_id: format!("brand-{handle}"),
                in_reply_to: id,
                author: "brand".into(),
                body: "Sorry! A replacement is on its way.".into(),
                sent_at: at + TimeDelta::hours(1),
            }],
        )
        .await
        .unwrap();
        assert_eq!(joined, vec![Some(case.id)]);
        self.app
            .store
            .assign(case.id, Some(agent.into()), None, "ci", at)
            .await
            .unwrap();
        self.resolve(case.id, at + TimeDelta::hours(2)).await;
        case.id
    }

    async fn resolve(&self, id: CaseId, at: DateTime<Utc>) {
        self.clock.set(at);
        let case =
            earshot_app::cases::set_case_status(&self.app, &admin(), id, CaseStatus::Resolved)
                .await
                .unwrap();
        assert_eq!(case.resolved_at, Some(at));
    }

    /// A worker pass at `at` (a sweep: every resolved case is looked at).
    async fn pass(&self, at: DateTime<Utc>) -> usize {
        self.clock.set(at);
        earshot_app::recovery::pass(&self.app, None).await.unwrap()
    }

    async fn outcome(&self, id: CaseId) -> Option<RecoveryOutcome> {
        self.app
            .recovery
            .recovery(id)
            .await
            .unwrap()
            .map(|a| a.outcome)
    }

    async fn with_outcome(&self, outcome: RecoveryOutcome) -> Vec<CaseId> {
        let mut ids: Vec<CaseId> = self
            .store
            .cases(&CaseQuery {
                recovery: Some(outcome),
                ..CaseQuery::default()
            })
            .await
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect();
        ids.sort();
        ids
    }

    async fn status(&self, id: CaseId) -> CaseStatus {
        self.store
            .case_detail(id)
            .await
            .unwrap()
            .unwrap()
            .case
            .status
    }
}

/// A group's key, assessed, recovered, lost, unknown, watching and rate.
type Counts<'a> = (Option<&'a str>, u64, u64, u64, u64, u64, Option<f64>);

/// THE acceptance test: a negative author resolved and later positive is
/// recovered (and their "thanks" does not reopen the case); one who stays
/// negative, and one who signals churn, are lost; one who never posts again
/// is unknown after the window; a positive private DM counts for nothing.
async fn who_came_back_round(h: Harness) {
    let ann = h.resolved_complaint("ann", "alice", hours(0)).await; // thanks later
    let bob = h.resolved_complaint("bob", "alice", hours(1)).await; // silent
    let cat = h.resolved_complaint("cat", "bruno", hours(2)).await; // stays negative
    let dan = h.resolved_complaint("dan", "bruno", hours(3)).await; // churns
    let eve = h.resolved_complaint("eve", "bruno", hours(4)).await; // only a DM

    // Straight after resolution nobody has spoken again: watching.
    assert_eq!(h.pass(hours(8)).await, 5);
    for id in [ann, bob, cat, dan, eve] {
        assert_eq!(h.outcome(id).await, Some(RecoveryOutcome::Watching));
    }
    // Nothing changed: the next pass assesses nothing.
    assert_eq!(h.pass(hours(9)).await, 0);

    // Ann thanks the brand (mixed case handle): the post joins her resolved
    // case and leaves it resolved; no work for anyone.
    let thanks = h
        .hear(post("ann-2", "ANN", "thanks, all sorted!", days(3)))
        .await;
    let link = thanks.case.unwrap();
    assert_eq!(
        (link.id, link.action, link.status),
        (ann, CaseAction::Joined, CaseStatus::Resolved)
    );
    assert_eq!(h.status(ann).await, CaseStatus::Resolved);
    let events = h.store.case_detail(ann).await.unwrap().unwrap().events;
    assert!(
        !events.iter().any(|e| e.action == "case.reopened"),
        "{events:?}"
    );
    // Nor does it start a response clock (the brand answered Ann before,
    // so a reopened case would owe her a next response within 2 hours).
    let detail = h.store.case_detail(ann).await.unwrap().unwrap();
    let policies = earshot_app::sla::policies(&h.app).await.unwrap();
    let sla = earshot_app::sla::evaluate_case(
        &h.app,
        &policies,
        &detail,
        days(3) + TimeDelta::hours(5),
        false,
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        sla.targets
            .iter()
            .all(|t| t.kind != earshot_workflow::TargetKind::NextResponse),
        "{sla:?}"
    );

    // Cat's case was closed; her next complaint opens a new case.
    h.clock.set(days(1));
    earshot_app::cases::set_case_status(&h.app, &admin(), cat, CaseStatus::Closed)
        .await
        .unwrap();
    let again = h
        .hear(post("cat-2", "cat", "still broken. awful service", days(4)))
        .await;
    assert_ne!(again.case.unwrap().id, cat);
    // Dan announces he is leaving, without a complaint.
    let churn = h
        .hear(post("dan-2", "dan", "I'm cancelling my contract", days(5)))
        .await;
    assert_eq!(churn.case.unwrap().status, CaseStatus::Resolved);
    // Eve's positive words come only in a private message.
    let mut dm = post("eve-2", "eve", "thanks, love it, all sorted", days(6));
    dm.origin = Some(MentionOrigin {
        source_id: h.dms,
        reply_ref: serde_json::json!({"dm": true}),
        private: true,
    });
    let dm = h.hear(dm).await;
    assert_eq!(dm.case.unwrap().id, eve, "the DM joins her case");
    assert_eq!(h.status(eve).await, CaseStatus::Resolved);

    // Inside the window: provisional outcomes.
    assert_eq!(h.pass(days(7)).await, 3, "ann, cat and dan had new posts");
    let a = h.app.recovery.recovery(ann).await.unwrap().unwrap();
    assert_eq!(a.outcome, RecoveryOutcome::Recovered);
    assert!(!a.is_final);
    assert_eq!(a.before, Some(Sentiment::Negative));
    assert_eq!(a.after, Some(Sentiment::Positive));
    assert_eq!(h.outcome(cat).await, Some(RecoveryOutcome::Lost));
    assert_eq!(h.outcome(dan).await, Some(RecoveryOutcome::Lost));
    assert_eq!(h.outcome(bob).await, Some(RecoveryOutcome::Watching));
    assert_eq!(h.outcome(eve).await, Some(RecoveryOutcome::Watching));

    // The window (30 days) closes: final outcomes.
    assert_eq!(h.pass(days(31)).await, 5);
    let final_outcomes = [
        (ann, RecoveryOutcome::Recovered),
        (bob, RecoveryOutcome::Unknown),
        (cat, RecoveryOutcome::Lost),
        (dan, RecoveryOutcome::Lost),
        (eve, RecoveryOutcome::Unknown),
    ];
    for (id, outcome) in final_outcomes {
        let a = h.app.recovery.recovery(id).await.unwrap().unwrap();
        assert_eq!((id, a.outcome), (id, outcome));
        assert!(a.is_final);
        assert_eq!(a.window_end, a.resolved_at + TimeDelta::days(30));
    }
    // The evidence names the deciding mentions.
    let recovered = earshot_app::recovery::case_recovery(&h.app, &admin(), ann)
        .await
        .unwrap();
    let texts: Vec<&str> = recovered
        .evidence
        .iter()
        .map(|m| m.mention.text.as_str())
        .collect();
    assert_eq!(
        texts,
        ["my order arrived broken, awful", "thanks, all sorted!"]
    );
    let dan_evidence = earshot_app::recovery::case_recovery(&h.app, &admin(), dan)
        .await
        .unwrap();
    assert_eq!(dan_evidence.evidence.len(), 2);
    assert_eq!(
        dan_evidence.evidence[1].mention.text,
        "I'm cancelling my contract"
    );
    let eve_a = h.app.recovery.recovery(eve).await.unwrap().unwrap();
    assert_eq!(eve_a.later_posts, 0, "the DM is not public evidence");
    // Final is final: nothing is due any more.
    assert_eq!(h.pass(days(40)).await, 0);

    // The summary, by hand. alice: ann recovered, bob unknown → 1/2.
    // bruno: cat lost, dan lost, eve unknown → 0/3. Cat's second case is
    // not resolved, so not assessed.
    let summary =
        earshot_app::recovery::summary(&h.app, &admin(), RecoveryGroupBy::Agent, None, None)
            .await
            .unwrap();
    let rows: Vec<Counts> = summary
        .groups
        .iter()
        .map(|g| {
            (
                g.key.as_deref(),
                g.assessed,
                g.recovered,
                g.lost,
                g.unknown,
                g.watching,
                g.recovery_rate,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (Some("alice"), 2, 1, 0, 1, 0, Some(0.5)),
            (Some("bruno"), 3, 0, 2, 1, 0, Some(0.0)),
        ]
    );
    assert_eq!(summary.total.assessed, 5);
    assert_eq!(summary.total.recovery_rate, Some(0.2));
    assert_eq!(summary.window_days, 30);

    // The cases filter returns exactly the counted cases.
    assert_eq!(h.with_outcome(RecoveryOutcome::Recovered).await, [ann]);
    assert_eq!(h.with_outcome(RecoveryOutcome::Lost).await, [cat, dan]);
    assert_eq!(h.with_outcome(RecoveryOutcome::Unknown).await, [bob, eve]);
    assert!(h.with_outcome(RecoveryOutcome::Watching).await.is_empty());
    // And the desk's inbox filter the same.
    let desk = h.app.accounts.clone().unwrap();
    let inbox = desk
        .inbox(&earshot_core::accounts::InboxQuery {
            recovery: Some(RecoveryOutcome::Lost),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut ids: Vec<CaseId> = inbox.iter().map(|c| c.id).collect();
    ids.sort();
    assert_eq!(ids, [cat, dan]);

    // A month range: every case was resolved in March 2026.
    let march = earshot_app::recovery::summary(
        &h.app,
        &admin(),
        RecoveryGroupBy::Month,
        Some(t0()),
        Some(days(5)),
    )
    .await
    .unwrap();
    assert_eq!(march.groups.len(), 1);
    assert_eq!(march.groups[0].key.as_deref(), Some("2026-03"));
    assert_eq!(march.groups[0].assessed, 5);
    let before =
        earshot_app::recovery::summary(&h.app, &admin(), RecoveryGroupBy::Month, None, Some(t0()))
            .await
            .unwrap();
    assert!(before.groups.is_empty());
    assert_eq!(before.total.recovery_rate, None);
}

/// A negative follow-up reopens the case: while it is open it has no
/// recovery state and counts nowhere; resolved again, it is assessed from
/// the new resolution.
async fn a_reopened_case_is_assessed_from_its_latest_resolution(h: Harness) {
    let id = h.resolved_complaint("fay", "alice", hours(0)).await;
    h.pass(hours(5)).await;
    assert_eq!(h.outcome(id).await, Some(RecoveryOutcome::Watching));

    let out = h
        .hear(post("fay-2", "fay", "it is broken again", days(2)))
        .await;
    assert_eq!(out.case.unwrap().status, CaseStatus::Open);
    let view = earshot_app::recovery::case_recovery(&h.app, &admin(), id)
        .await
        .unwrap();
    assert_eq!(view.assessment, None);
    assert_eq!(h.outcome(id).await, None, "the old assessment is stale");
    assert!(h.with_outcome(RecoveryOutcome::Watching).await.is_empty());
    let summary =
        earshot_app::recovery::summary(&h.app, &admin(), RecoveryGroupBy::Agent, None, None)
            .await
            .unwrap();
    assert_eq!(summary.total.assessed, 0);

    h.resolve(id, days(3)).await;
    h.hear(post("fay-3", "fay", "love the new one, thanks", days(4)))
        .await;
    // The regular pass (recent resolutions and provisional rows only).
    h.clock.set(days(5));
    let since = earshot_app::recovery::since(&h.app, days(5));
    assert_eq!(
        earshot_app::recovery::pass(&h.app, Some(since))
            .await
            .unwrap(),
        1
    );
    let a = h.app.recovery.recovery(id).await.unwrap().unwrap();
    assert_eq!(a.resolved_at, days(3));
    assert_eq!(a.outcome, RecoveryOutcome::Recovered);
    assert_eq!(a.window_end, days(33));
    // "before" is still the opening complaint, not the one that reopened it
    // (that came after the brand's first answer).
    assert_eq!(a.before_mentions.len(), 1);
}

/// The worker the runtime starts assesses on its own.
async fn the_worker_assesses_on_its_own(h: Harness) {
    let id = h.resolved_complaint("gus", "alice", hours(0)).await;
    h.clock.set(days(40));
    let worker = earshot_app::recovery::spawn_worker(h.app.clone(), Duration::from_millis(20));
    let mut outcome = None;
    for _ in 0..250 {
        outcome = h.outcome(id).await;
        if outcome.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.abort();
    assert_eq!(outcome, Some(RecoveryOutcome::Unknown));
}

/// A shorter window closes sooner, and changing it reassesses.
async fn the_window_is_configurable(h: Harness) {
    let id = h.resolved_complaint("hal", "alice", hours(0)).await;
    h.pass(days(8)).await;
    assert_eq!(h.outcome(id).await, Some(RecoveryOutcome::Watching));
    let short = h.app.clone().with_recovery_window(TimeDelta::days(7));
    h.clock.set(days(8));
    assert_eq!(earshot_app::recovery::pass(&short, None).await.unwrap(), 1);
    let a = short.recovery.recovery(id).await.unwrap().unwrap();
    assert_eq!(a.outcome, RecoveryOutcome::Unknown);
    assert_eq!(a.window_end, hours(2) + TimeDelta::days(7));
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
    who_came_back_round,
    a_reopened_case_is_assessed_from_its_latest_resolution,
    the_worker_assesses_on_its_own,
    the_window_is_configurable,
);
