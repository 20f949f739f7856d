//! The store conformance suite, run against SQLite always and against
//! PostgreSQL when `EARSHOT_TEST_DATABASE_URL` is set (each test gets a fresh
//! database there, so tests run in parallel); with `CI` set the URL is required.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use earshot_store::testing::{fresh_postgres_database, postgres_url};

use chrono::{DateTime, Duration, TimeZone, Utc};
use earshot_core::analysis::{Analysis, Sentiment, UrgencyKind, UrgencySignal};
use earshot_core::auth::Role;
use earshot_core::case::CaseStatus;
use earshot_core::error::ErrorCode;
use earshot_core::ids::CaseId;
use earshot_core::mention::{Author, NewMention, ReachMetrics};
use earshot_core::priority::{Priority, PriorityInputs, PriorityWeights};
use earshot_core::reply::{DeliveredVia, ReplyRoute, ReplyStatus, Visibility};
use earshot_core::source::SourceKind;
use earshot_core::store::{AnalyzedMention, CaseAction, CaseQuery, MentionQuery, NewReply, Store};
use earshot_store::{Location, SqlStore};

/// Keeps the temporary directory alive as long as the store.
struct Harness {
    store: SqlStore,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Option<Harness> {
    let dir = tempfile::tempdir().unwrap();
    let store = earshot_store::open(&Location::SqliteDir(dir.path().to_path_buf()))
        .await
        .unwrap();
    Some(Harness {
        store,
        _dir: Some(dir),
    })
}

async fn postgres() -> Option<Harness> {
    let url = fresh_postgres_database(&postgres_url()?).await.unwrap();
    let store = earshot_store::open(&Location::Postgres(url)).await.unwrap();
    Some(Harness { store, _dir: None })
}

/// Two stores, each with its own pool, on one database: two servers.
struct TwoServers {
    a: SqlStore,
    b: SqlStore,
    _dir: Option<tempfile::TempDir>,
}

async fn two_sqlite_servers() -> Option<TwoServers> {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::SqliteDir(dir.path().to_path_buf());
    let a = earshot_store::open(&location).await.unwrap();
    let b = earshot_store::open(&location).await.unwrap();
    Some(TwoServers {
        a,
        b,
        _dir: Some(dir),
    })
}

async fn two_postgres_servers() -> Option<TwoServers> {
    let location = Location::Postgres(fresh_postgres_database(&postgres_url()?).await.unwrap());
    let a = earshot_store::open(&location).await.unwrap();
    let b = earshot_store::open(&location).await.unwrap();
    Some(TwoServers { a, b, _dir: None })
}

/// Both servers receive one new author's complaint at once (as two posts):
/// one case, not one per server.
async fn two_servers_open_one_case_per_new_author(s: &TwoServers) {
    const ROUNDS: usize = 20;
    for round in 0..ROUNDS {
        let author = format!("racer{round}");
        let first = [complaint(
            &format!("a{round}"),
            &author,
            "my parcel never arrived",
        )];
        let second = [complaint(
            &format!("b{round}"),
            &author,
            "still no parcel, refund me",
        )];
        let (a, b) = tokio::join!(s.a.ingest(&first, t0()), s.b.ingest(&second, t0()));
        let (a, b) = (a.unwrap(), b.unwrap());
        let case = |o: &[earshot_core::store::IngestOutcome]| {
            o[0].case.expect("a complaint has a case").id
        };
        assert_eq!(case(&a), case(&b), "round {round}: two cases for {author}");
    }
    let cases =
        s.a.cases(&CaseQuery {
            limit: Some(500),
            ..CaseQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(cases.len(), ROUNDS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sqlite_servers_open_one_case_per_new_author() {
    if let Some(s) = two_sqlite_servers().await {
        two_servers_open_one_case_per_new_author(&s).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_servers_open_one_case_per_new_author() {
    if let Some(s) = two_postgres_servers().await {
        two_servers_open_one_case_per_new_author(&s).await;
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

fn analysis(sentiment: Sentiment, complaint: bool) -> Analysis {
    Analysis {
        sentiment,
        sentiment_score: match sentiment {
            Sentiment::Negative => -0.8,
            Sentiment::Neutral => 0.0,
            Sentiment::Positive => 0.8,
        },
        complaint,
        complaint_score: if complaint { 0.9 } else { 0.1 },
        language: Some("en".into()),
        ..Analysis::default()
    }
}

fn mention(id: &str, handle: &str, text: &str, a: Analysis) -> AnalyzedMention {
    let mention = NewMention {
        source: SourceKind::Webhook,
        external_id: id.into(),
        author: Author {
            handle: handle.into(),
            followers: 120,
            ..Author::default()
        },
        text: text.into(),
        created_at: t0(),
        url: Some(format!("https://example.org/p/{id}")),
        language: None,
        thread_id: None,
        parent_id: None,
        metrics: ReachMetrics::default(),
        origin: None,
    };
    let priority = Priority::compute(
        &PriorityInputs {
            analysis: &a,
            followers: 120,
            reposts: 0,
            likes: 0,
            vip: false,
            press: false,
            waiting_hours: 0.0,
        },
        &PriorityWeights::default(),
    );
    AnalyzedMention {
        mention,
        analysis: a,
        priority,
        historical: false,
    }
}

/// Routed to the outbox of source 1 with idempotency key `key`.
fn queue(key: &str) -> ReplyRoute {
    ReplyRoute::Queue(earshot_core::outbox::OutboxTarget {
        source_id: earshot_core::ids::SourceId(1),
        idempotency_key: key.into(),
        address: None,
    })
}

fn complaint(id: &str, handle: &str, text: &str) -> AnalyzedMention {
    mention(id, handle, text, analysis(Sentiment::Negative, true))
}

async fn complaint_opens_a_case_and_reposting_stores_nothing(s: &SqlStore) {
    let m = complaint("1", "jane", "my order 4411 never arrived, refund me");
    let first = s.ingest(std::slice::from_ref(&m), t0()).await.unwrap();
    assert!(!first[0].duplicate);
    let case = first[0].case.expect("a complaint opens a case");
    assert_eq!(case.action, CaseAction::Opened);
    assert_eq!(case.status, CaseStatus::New);

    let again = s.ingest(&[m], t0()).await.unwrap();
    assert!(again[0].duplicate);
    assert_eq!(again[0].mention_id, first[0].mention_id);
    assert_eq!(again[0].case.map(|c| c.id), Some(case.id));
    assert_eq!(s.mention_count().await.unwrap(), 1);

    let detail = s.case_detail(case.id).await.unwrap().unwrap();
    assert_eq!(detail.case.mention_count, 1);
    assert_eq!(detail.mentions.len(), 1);
    assert_eq!(detail.mentions[0].analysis.sentiment, Sentiment::Negative);
    assert_eq!(detail.case.author_handle, "jane");
    assert!(detail.case.priority.score > 0.0);
    assert_eq!(detail.case.priority.breakdown.len(), 5);
    assert_eq!(detail.events[0].action, "case.opened");
}

async fn follow_ups_join_the_open_case(s: &SqlStore) {
    let batch = vec![
        complaint("a1", "Sam", "the app keeps crashing"),
        mention(
            "a2",
            "sam",
            "any update??",
            analysis(Sentiment::Neutral, false),
        ),
        complaint("b1", "kim", "billed twice"),
    ];
    let out = s.ingest(&batch, t0()).await.unwrap();
    let sam = out[0].case.unwrap().id;
    assert_eq!(
        out[1].case.unwrap().id,
        sam,
        "same author, same conversation"
    );
    assert_eq!(out[1].case.unwrap().action, CaseAction::Joined);
    assert_ne!(out[2].case.unwrap().id, sam);
    let detail = s.case_detail(sam).await.unwrap().unwrap();
    assert_eq!(detail.case.mention_count, 2);
    assert_eq!(detail.case.sentiment, Sentiment::Neutral, "latest tone");
}

async fn positive_goes_to_advocates_and_neutral_is_only_stored(s: &SqlStore) {
    let out = s
        .ingest(
            &[
                mention(
                    "p1",
                    "fan",
                    "love the new update",
                    analysis(Sentiment::Positive, false),
                ),
                mention(
                    "p2",
                    "fan",
                    "still loving it",
                    analysis(Sentiment::Positive, false),
                ),
                mention(
                    "n1",
                    "bystander",
                    "saw the ad today",
                    analysis(Sentiment::Neutral, false),
                ),
            ],
            t0(),
        )
        .await
        .unwrap();
    assert!(out[0].advocate && out[0].case.is_none());
    assert!(!out[2].advocate && out[2].case.is_none());
    let advocates = earshot_core::advocates::AdvocateStore::advocate_stats(
        s,
        &earshot_core::advocates::AdvocateFilter::default(),
    )
    .await
    .unwrap();
    assert_eq!(advocates.len(), 1);
    assert_eq!(advocates[0].handle, "fan");
    assert_eq!(advocates[0].positive_mentions, 2);
    assert!(s.cases(&CaseQuery::default()).await.unwrap().is_empty());
    let found = s
        .mentions(&MentionQuery {
            q: Some("ad".into()),
            ..MentionQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "neutral mentions are searchable");
}

async fn full_text_search_with_filters(s: &SqlStore) {
    s.ingest(
        &[
            complaint("s1", "ann", "My parcel 4411 never arrived!"),
            complaint("s2", "bob", "parcel arrived damaged"),
            mention(
                "s3",
                "cat",
                "never mind, arrived fine",
                analysis(Sentiment::Positive, false),
            ),
        ],
        t0(),
    )
    .await
    .unwrap();
    let search = |q: &str| MentionQuery {
        q: Some(q.into()),
        ..MentionQuery::default()
    };
    let hits = s.mentions(&search("4411")).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].mention.external_id, "s1");
    assert_eq!(s.mentions(&search("arrived")).await.unwrap().len(), 3);
    assert_eq!(
        s.mentions(&search("\"never arrived\""))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.mentions(&search("arrived -damaged")).await.unwrap().len(),
        2
    );
    assert_eq!(s.mentions(&search("parcel!!!")).await.unwrap().len(), 2);
    let negative_only = MentionQuery {
        q: Some("arrived".into()),
        sentiment: Some(Sentiment::Negative),
        ..MentionQuery::default()
    };
    assert_eq!(s.mentions(&negative_only).await.unwrap().len(), 2);
    assert!(s.mentions(&search("zebra")).await.unwrap().is_empty());
}

async fn lifecycle_reopen_and_typed_errors(s: &SqlStore) {
    let out = s
        .ingest(&[complaint("l1", "dee", "wrong size delivered")], t0())
        .await
        .unwrap();
    let id = out[0].case.unwrap().id;
    let err = s
        .set_status(id, CaseStatus::Closed, "agent1", t0())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidTransition);
    s.set_status(id, CaseStatus::Resolved, "agent1", t0())
        .await
        .unwrap();

    // The customer writes again: the resolved case reopens.
    let later = t0() + Duration::hours(2);
    let out = s
        .ingest(
            &[complaint("l2", "dee", "still wrong, no exchange yet")],
            later,
        )
        .await
        .unwrap();
    assert_eq!(out[0].case.unwrap().id, id);
    assert_eq!(out[0].case.unwrap().status, CaseStatus::Open);
    let detail = s.case_detail(id).await.unwrap().unwrap();
    assert_eq!(detail.case.status, CaseStatus::Open);
    assert!(detail.case.resolved_at.is_none());
    let actions: Vec<_> = detail.events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["case.opened", "case.status_changed", "case.reopened"]
    );
    assert_eq!(detail.events[1].actor, "agent1");
    assert_eq!(
        detail.events[1].after.as_ref().unwrap()["status"],
        "resolved"
    );

    // Closed is final: the next complaint opens a new case.
    s.set_status(id, CaseStatus::Resolved, "agent1", later)
        .await
        .unwrap();
    s.set_status(id, CaseStatus::Closed, "agent1", later)
        .await
        .unwrap();
    let out = s
        .ingest(&[complaint("l3", "dee", "new problem")], later)
        .await
        .unwrap();
    assert_ne!(out[0].case.unwrap().id, id);
    assert_eq!(out[0].case.unwrap().action, CaseAction::Opened);

    let missing = s
        .set_status(CaseId(999_999), CaseStatus::Open, "a", t0())
        .await
        .unwrap_err();
    assert_eq!(missing.code, ErrorCode::CaseNotFound);
}

async fn assignment_notes_and_replies(s: &SqlStore) {
    let out = s
        .ingest(
            &[complaint("r1", "eve", "charged twice for one order")],
            t0(),
        )
        .await
        .unwrap();
    let id = out[0].case.unwrap().id;
    let case = s
        .assign(
            id,
            Some("agent1".into()),
            Some("billing".into()),
            "lead",
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(case.assignee.as_deref(), Some("agent1"));
    assert_eq!(
        case.status,
        CaseStatus::Open,
        "assigning takes a new case on"
    );

    let note = s
        .add_note(id, "refund ticket R-17", "agent1", t0())
        .await
        .unwrap();
    assert_eq!(note.body, "refund ticket R-17");

    let draft = s
        .add_reply(
            id,
            &NewReply {
                visibility: Visibility::Public,
                body: "Eve, sorry about the double charge".into(),
                send: false,
            },
            ReplyRoute::Draft,
            "agent1",
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(draft.status, ReplyStatus::Draft);
    assert!(
        s.case_detail(id)
            .await
            .unwrap()
            .unwrap()
            .case
            .first_response_at
            .is_none(),
        "a draft is not a response"
    );
    let queued_at = t0() + Duration::minutes(10);
    let queued = s
        .add_reply(
            id,
            &NewReply {
                visibility: Visibility::Private,
                body: "Eve, the refund for the second charge is on its way".into(),
                send: true,
            },
            queue("key-eve"),
            "agent1",
            queued_at,
        )
        .await
        .unwrap();
    assert_eq!(queued.status, ReplyStatus::Queued);
    let detail = s.case_detail(id).await.unwrap().unwrap();
    assert_eq!(
        detail.case.first_response_at, None,
        "a queued reply has not reached the customer"
    );
    // The channel acknowledges: only now is it sent, with the post's id.
    let sent_at = t0() + Duration::minutes(12);
    let sent = s
        .mark_reply_sent(
            queued.id,
            DeliveredVia::Channel,
            Some("109876"),
            Some("https://social.example/@brand/109876"),
            "earshot",
            sent_at,
        )
        .await
        .unwrap();
    assert_eq!(sent.status, ReplyStatus::Sent);
    assert_eq!(sent.sent_at, Some(sent_at));
    assert_eq!(sent.delivered_via, Some(DeliveredVia::Channel));
    assert_eq!(sent.channel_message_id.as_deref(), Some("109876"));
    let twice = s
        .mark_reply_sent(
            queued.id,
            DeliveredVia::Channel,
            None,
            None,
            "earshot",
            sent_at,
        )
        .await
        .unwrap_err();
    assert_eq!(twice.code, ErrorCode::Conflict, "never sent twice");
    let detail = s.case_detail(id).await.unwrap().unwrap();
    assert_eq!(detail.case.first_response_at, Some(sent_at));
    assert_eq!(detail.case.last_brand_at, Some(sent_at));
    assert_eq!(detail.replies.len(), 2);
    assert_eq!(detail.notes.len(), 1);
    let actions: Vec<_> = detail.events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "case.opened",
            "case.assigned",
            "note.added",
            "reply.drafted",
            "reply.queued",
            "reply.sent"
        ]
    );

    let unassigned = s
        .cases(&CaseQuery {
            assignee: Some("none".into()),
            ..CaseQuery::default()
        })
        .await
        .unwrap();
    assert!(unassigned.iter().all(|c| c.id != id));
}

async fn channel_limits_are_enforced(s: &SqlStore) {
    let mut m = complaint("bs1", "fay", "the app lost my booking");
    m.mention.source = SourceKind::Bluesky;
    let out = s.ingest(&[m], t0()).await.unwrap();
    let id = out[0].case.unwrap().id;
    let err = s
        .add_reply(
            id,
            &NewReply {
                visibility: Visibility::Public,
                body: "x".repeat(301),
                send: true,
            },
            queue("key-long"),
            "agent1",
            t0(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ReplyTooLong);
    assert!(err.message.starts_with("body:"), "{}", err.message);
    assert!(s.case_detail(id).await.unwrap().unwrap().replies.is_empty());
}

async fn cases_sort_by_priority_then_age(s: &SqlStore) {
    let mut urgent = complaint("q1", "gus", "I will sue, food poisoning");
    urgent.analysis.urgency.push(UrgencySignal {
        kind: UrgencyKind::Safety,
        trigger: "food poisoning".into(),
    });
    urgent.priority.score = 90.0;
    let mut older = complaint("q2", "hal", "late again");
    older.priority.score = 40.0;
    older.mention.created_at = t0() - Duration::hours(3);
    let mut newer = complaint("q3", "ivy", "late again too");
    newer.priority.score = 40.0;
    s.ingest(&[newer], t0()).await.unwrap();
    s.ingest(&[older], t0() + Duration::seconds(1))
        .await
        .unwrap();
    s.ingest(&[urgent], t0() + Duration::seconds(2))
        .await
        .unwrap();
    let cases = s.cases(&CaseQuery::default()).await.unwrap();
    let order: Vec<_> = cases.iter().map(|c| c.author_handle.as_str()).collect();
    assert_eq!(
        order,
        ["gus", "hal", "ivy"],
        "priority, then the customer who posted first (hal, 3 h ago)"
    );
    let high = s
        .cases(&CaseQuery {
            min_priority: Some(50.0),
            ..CaseQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(high.len(), 1);
    let new_only = s
        .cases(&CaseQuery {
            status: Some(CaseStatus::Resolved),
            ..CaseQuery::default()
        })
        .await
        .unwrap();
    assert!(new_only.is_empty());
}

async fn tokens_are_found_by_hash(s: &SqlStore) {
    s.create_token("ci", "abc123", Role::Agent, t0())
        .await
        .unwrap();
    let info = s.token("abc123", t0()).await.unwrap().unwrap();
    assert_eq!(info.name, "ci");
    assert_eq!(info.role, Role::Agent);
    assert!(s.token("nope", t0()).await.unwrap().is_none());
}

async fn tokens_are_listed_and_revoked(s: &SqlStore) {
    s.create_token("ci", "hash-ci", Role::Agent, t0())
        .await
        .unwrap();
    s.create_token("bi", "hash-bi", Role::Analyst, t0() + Duration::minutes(1))
        .await
        .unwrap();
    let listed = s.tokens().await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["ci", "bi"]
    );
    assert!(
        listed
            .iter()
            .all(|t| t.last_used_at.is_none() && t.revoked_at.is_none())
    );
    assert!(!format!("{listed:?}").contains("hash-"), "{listed:?}");

    // Use is recorded, at most once a minute.
    let ci = s.token("hash-ci", t0()).await.unwrap().unwrap();
    s.token("hash-ci", t0() + Duration::seconds(30))
        .await
        .unwrap();
    let used = |l: &[earshot_core::store::TokenSummary]| l[0].last_used_at;
    assert_eq!(used(&s.tokens().await.unwrap()), Some(t0()));
    s.token("hash-ci", t0() + Duration::minutes(2))
        .await
        .unwrap();
    assert_eq!(
        used(&s.tokens().await.unwrap()),
        Some(t0() + Duration::minutes(2))
    );

    // Revoked: it no longer authenticates, stays listed, and revoking again
    // keeps the first time.
    s.revoke_token(ci.id, t0() + Duration::minutes(3))
        .await
        .unwrap();
    assert!(s.token("hash-ci", t0()).await.unwrap().is_none());
    s.revoke_token(ci.id, t0() + Duration::minutes(4))
        .await
        .unwrap();
    let listed = s.tokens().await.unwrap();
    assert_eq!(listed[0].revoked_at, Some(t0() + Duration::minutes(3)));
    assert_eq!(listed[1].revoked_at, None);
    assert!(s.token("hash-bi", t0()).await.unwrap().is_some());
    let unknown = s.revoke_token(999_999, t0()).await.unwrap_err();
    assert_eq!(unknown.code, ErrorCode::NotFound);
}

macro_rules! store_suite {
    ($backend:ident: $($test:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $test() {
                    if let Some(h) = super::$backend().await {
                        super::$test(&h.store).await;
                    }
                }
            )*
        }
    };
}

fn desk_user(name: &str, role: Role) -> earshot_core::accounts::NewUser {
    earshot_core::accounts::NewUser {
        name: name.into(),
        display_name: format!("{name} display"),
        role,
        in_training: role == Role::Agent,
        teams: vec!["care".into()],
    }
}

async fn users_and_sessions(s: &SqlStore) {
    use earshot_core::accounts::Accounts;
    let u = s
        .create_user(&desk_user("Ann", Role::Agent), "$argon2id$fake", t0())
        .await
        .unwrap();
    assert_eq!(u.name, "ann");
    assert!(u.in_training);
    assert_eq!(u.teams, vec!["care".to_string()]);
    let dup = s
        .create_user(&desk_user("ann", Role::Admin), "x", t0())
        .await
        .unwrap_err();
    assert_eq!(dup.code, ErrorCode::Conflict);
    let creds = s.credentials("ANN").await.unwrap().unwrap();
    assert_eq!(creds.password_hash, "$argon2id$fake");
    assert!(s.credentials("bob").await.unwrap().is_none());

    let expires = t0() + Duration::hours(12);
    s.create_session("hash1", "ann", "csrf1", t0(), expires)
        .await
        .unwrap();
    let live = s.session("hash1", t0()).await.unwrap().unwrap();
    assert_eq!(
        (live.user.name.as_str(), live.csrf_token.as_str()),
        ("ann", "csrf1")
    );
    assert!(
        s.session("hash1", expires).await.unwrap().is_none(),
        "expired"
    );
    assert!(s.session("other", t0()).await.unwrap().is_none());
    // A new password ends existing sessions.
    s.set_password("ann", "$argon2id$new").await.unwrap();
    assert!(s.session("hash1", t0()).await.unwrap().is_none());
    s.create_session("hash2", "ann", "csrf2", t0(), expires)
        .await
        .unwrap();
    s.delete_session("hash2").await.unwrap();
    assert!(s.session("hash2", t0()).await.unwrap().is_none());
    assert_eq!(s.users().await.unwrap().len(), 1);
}

async fn corrections_are_stored_for_training(s: &SqlStore) {
    use earshot_core::accounts::{Accounts, CorrectedCase, CorrectionTask, NewCorrection};
    let out = s
        .ingest(&[complaint("c1", "jo", "my card was charged twice")], t0())
        .await
        .unwrap();
    let mention_id = out[0].mention_id;
    let case_id = out[0].case.unwrap().id;
    let original = s.case_detail(case_id).await.unwrap().unwrap().mentions[0]
        .analysis
        .clone();
    let (corrected, label) = CorrectionTask::Sentiment
        .apply(&original, "neutral")
        .unwrap();
    let priority = Priority::compute(
        &PriorityInputs {
            analysis: &corrected,
            followers: 0,
            reposts: 0,
            likes: 0,
            vip: false,
            press: false,
            waiting_hours: 0.0,
        },
        &PriorityWeights::default(),
    );
    let correction = NewCorrection {
        mention_id: mention_id.0,
        task: CorrectionTask::Sentiment,
        label,
        actor: "ann".into(),
        original: original.clone(),
        corrected: corrected.clone(),
        case: Some(CorrectedCase {
            id: case_id.0,
            sentiment: Sentiment::Neutral,
            category: Some("billing".into()),
            priority: priority.clone(),
        }),
    };
    let c = s.add_correction(&correction, t0()).await.unwrap();
    assert_eq!(c.previous.as_deref(), Some("negative"));
    assert_eq!(c.label, "neutral");
    assert_eq!(c.text, "my card was charged twice");
    assert_eq!(c.original.as_ref(), Some(&original));

    // The mention, its case's badge and its priority changed with it.
    let detail = s.case_detail(case_id).await.unwrap().unwrap();
    assert_eq!(detail.mentions[0].analysis, corrected);
    assert_eq!(detail.case.sentiment, Sentiment::Neutral);
    assert_eq!(detail.case.category.as_deref(), Some("billing"));
    assert_eq!(detail.case.priority, priority);
    let neutral = MentionQuery {
        sentiment: Some(Sentiment::Neutral),
        ..MentionQuery::default()
    };
    assert_eq!(s.mentions(&neutral).await.unwrap().len(), 1);
    let event = detail
        .events
        .iter()
        .find(|e| e.action == "analysis.corrected")
        .unwrap();
    assert_eq!(event.before.as_ref().unwrap()["sentiment"], "negative");
    assert_eq!(
        event.after.as_ref().unwrap()["case"]["sentiment"],
        "neutral"
    );

    // Written from a stale read, a second correction is refused whole.
    let stale = s.add_correction(&correction, t0()).await.unwrap_err();
    assert_eq!(stale.code, ErrorCode::Conflict);
    let (by_category, label) = CorrectionTask::Category.apply(&corrected, "fraud").unwrap();
    s.add_correction(
        &NewCorrection {
            task: CorrectionTask::Category,
            label,
            original: corrected.clone(),
            corrected: by_category,
            case: None,
            ..correction.clone()
        },
        t0(),
    )
    .await
    .unwrap();
    let all = s.corrections(None).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].label, "fraud");
    assert_eq!(all[1].original.as_ref(), Some(&corrected));
    let detail = s.case_detail(case_id).await.unwrap().unwrap();
    assert_eq!(detail.mentions[0].analysis.top_category(), Some("fraud"));
    // Without a case update the case keeps what it had.
    assert_eq!(detail.case.category.as_deref(), Some("billing"));
}

async fn inbox_views_search_and_dashboard(s: &SqlStore) {
    use earshot_core::accounts::{Accounts, InboxQuery};
    let out = s
        .ingest(
            &[
                complaint("i1", "amy", "the router keeps dropping wifi"),
                complaint("i2", "ben", "charged twice for the same order"),
                complaint("i3", "cat", "my parcel never arrived"),
            ],
            t0(),
        )
        .await
        .unwrap();
    let ids: Vec<CaseId> = out.iter().map(|o| o.case.unwrap().id).collect();
    s.assign(ids[0], Some("ann".into()), None, "ann", t0())
        .await
        .unwrap();
    let by_hand = s
        .add_reply(
            ids[1],
            &NewReply {
                visibility: Visibility::Public,
                body: "Hi @ben, refund for the double charge is on its way".into(),
                send: true,
            },
            ReplyRoute::Manual,
            "ann",
            t0() + Duration::minutes(8),
        )
        .await
        .unwrap();
    assert_eq!(by_hand.status, ReplyStatus::Manual);
    s.mark_reply_sent(
        by_hand.id,
        DeliveredVia::Hand,
        None,
        None,
        "ann",
        t0() + Duration::minutes(10),
    )
    .await
    .unwrap();
    s.set_status(
        ids[2],
        CaseStatus::Resolved,
        "ann",
        t0() + Duration::hours(3),
    )
    .await
    .unwrap();

    let page =
        |q: InboxQuery| async move { s.inbox(&InboxQuery { limit: 50, ..q }).await.unwrap() };
    let all = page(InboxQuery::default()).await;
    assert_eq!(all.len(), 2, "resolved cases leave the inbox");
    let mine = page(InboxQuery {
        assignee: Some("ann".into()),
        ..InboxQuery::default()
    })
    .await;
    assert_eq!(mine.iter().map(|c| c.id).collect::<Vec<_>>(), vec![ids[0]]);
    let unassigned = page(InboxQuery {
        assignee: Some("none".into()),
        ..InboxQuery::default()
    })
    .await;
    assert_eq!(
        unassigned.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![ids[1]]
    );
    let found = page(InboxQuery {
        q: Some("wifi".into()),
        ..InboxQuery::default()
    })
    .await;
    assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), vec![ids[0]]);
    // As the SLA ticker judged them: the answered case (ids[1]) does not
    // wait on the brand, so it is not breaching whatever its verdict.
    for (id, state) in [(ids[0], "missed"), (ids[1], "missed"), (ids[2], "warning")] {
        earshot_core::workflow_store::WorkflowStore::save_case_sla(
            s,
            &earshot_core::workflow_store::CaseSlaRecord {
                case_id: id,
                policy_id: Some(1),
                state: Some(state.into()),
                evaluation: None,
                next_check_at: None,
                updated_at: t0(),
            },
        )
        .await
        .unwrap();
    }
    let breaching = page(InboxQuery {
        sla_breaching: true,
        ..InboxQuery::default()
    })
    .await;
    assert_eq!(
        breaching.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![ids[0]],
        "answered cases are not breaching"
    );
    let any = page(InboxQuery {
        any_status: true,
        ..InboxQuery::default()
    })
    .await;
    assert_eq!(any.len(), 3);

    let (mentions, cases) = s
        .author_history(SourceKind::Webhook, "amy", 10)
        .await
        .unwrap();
    assert_eq!((mentions.len(), cases.len()), (1, 1));
    assert_eq!(
        s.recent_reply_bodies(5).await.unwrap(),
        vec!["Hi @ben, refund for the double charge is on its way".to_string()]
    );

    let stats = s.dashboard(t0() - Duration::days(1)).await.unwrap();
    assert_eq!(stats.volume.iter().map(|v| v.negative).sum::<i64>(), 3);
    assert_eq!(stats.open_by_priority.iter().sum::<i64>(), 2);
    assert_eq!(stats.first_response_minutes, vec![10.0]);
    assert_eq!(stats.resolution_minutes, vec![180.0]);

    s.record_event(
        ids[0].0,
        "ann",
        "reply.personalisation_overridden",
        serde_json::json!({"reasons": ["x"]}),
        t0(),
    )
    .await
    .unwrap();
    let events = s.case_detail(ids[0]).await.unwrap().unwrap().events;
    assert_eq!(
        events.last().unwrap().action,
        "reply.personalisation_overridden"
    );
}

macro_rules! both_backends {
    ($($test:ident),* $(,)?) => {
        store_suite!(sqlite: $($test),*);
        store_suite!(postgres: $($test),*);
    };
}

both_backends!(
    complaint_opens_a_case_and_reposting_stores_nothing,
    follow_ups_join_the_open_case,
    positive_goes_to_advocates_and_neutral_is_only_stored,
    full_text_search_with_filters,
    lifecycle_reopen_and_typed_errors,
    assignment_notes_and_replies,
    channel_limits_are_enforced,
    cases_sort_by_priority_then_age,
    tokens_are_found_by_hash,
    tokens_are_listed_and_revoked,
    users_and_sessions,
    corrections_are_stored_for_training,
    inbox_views_search_and_dashboard,
);

#[tokio::test]
async fn sqlite_data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::SqliteDir(dir.path().to_path_buf());
    {
        let s = earshot_store::open(&location).await.unwrap();
        s.ingest(&[complaint("d1", "joy", "lost luggage")], t0())
            .await
            .unwrap();
        s.pool().close().await;
    }
    let s = earshot_store::open(&location).await.unwrap();
    assert_eq!(s.mention_count().await.unwrap(), 1);
    assert!(dir.path().join("earshot.db").exists());
}

#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_and_a_created_data_dir_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let s = earshot_store::open(&Location::SqliteDir(dir.clone()))
        .await
        .unwrap();
    s.ingest(&[complaint("p1", "joy", "lost luggage")], t0())
        .await
        .unwrap();
    assert_eq!(mode(&dir), 0o700);
    for name in ["earshot.db", "earshot.db-wal", "earshot.db-shm"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_world_readable_sqlite_file_is_made_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("earshot.db");
    std::fs::write(&file, b"").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _s = earshot_store::open(&Location::SqliteDir(dir.path().to_path_buf()))
        .await
        .unwrap();
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[tokio::test]
async fn an_unreachable_postgres_is_named_promptly_without_its_password() {
    let started = std::time::Instant::now();
    let url = "postgres://postgres:hunter2@127.0.0.1:1/x";
    let Err(err) = earshot_store::open(&Location::Postgres(url.into())).await else {
        panic!("nothing listens on port 1");
    };
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(err.message.contains("127.0.0.1:1/x"), "{}", err.message);
    assert!(err.message.contains("refused"), "{}", err.message);
    assert!(!err.message.contains("hunter2"), "{}", err.message);
}

#[tokio::test]
async fn a_garbage_sqlite_file_is_named_as_not_a_database_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("earshot.db");
    std::fs::write(&file, vec![0xA5u8; 8192]).unwrap();
    let started = std::time::Instant::now();
    let Err(err) = earshot_store::open(&Location::SqliteDir(dir.path().to_path_buf())).await else {
        panic!("garbage opened as a database");
    };
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        err.message.contains(&file.display().to_string()),
        "{}",
        err.message
    );
    assert!(err.message.contains("not a database"), "{}", err.message);
}

// The workflow store contract (issue 4), on both backends.
#[path = "integration/workflow_store.rs"]
mod workflow_store;

// The contract methods the scenarios above leave uncovered, one by one.
#[path = "integration/contract.rs"]
mod contract;

// The reply outbox (issue 12), on both backends.
#[path = "integration/outbox.rs"]
mod outbox;

// The source registry and checkpoints (issue 12), on both backends.
#[path = "integration/sources.rs"]
mod sources;

// CSAT requests, answers and sums, on both backends.
#[path = "integration/csat.rs"]
mod csat;
