//! Advocates and the thank-you queue on SQLite always and on PostgreSQL when
//! `EARSHOT_TEST_DATABASE_URL` is set (required with `CI`): a happy post
//! appears with a suggestion that passes the personalisation check; sending
//! it opens a small closed case and submits the reply through the workflow
//! (out through the outbox with a running connector, `manual` without);
//! skips are recorded; a generic text is refused unless overridden; the
//! ranking and the profile read what was stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use earshot_app::App;
use earshot_app::advocates::{self, AdvocateQuery, SendOutcome, SendThanks};
use earshot_app::channels::Channel;
use earshot_app::outbox::OutboxWorker;
use earshot_connectors::Connector;
use earshot_connectors::fake::FakeConnector;
use earshot_core::accounts::{Accounts, NewUser};
use earshot_core::advocates::{THANK_YOU_TAG, ThanksDecision};
use earshot_core::analysis::{Analysis, Analyzer, Evidence, Sentiment};
use earshot_core::auth::{Principal, Role};
use earshot_core::case::CaseStatus;
use earshot_core::error::ErrorCode;
use earshot_core::ids::{MentionId, SourceId};
use earshot_core::mention::{Author, MentionOrigin, NewMention, ReachMetrics};
use earshot_core::pipeline::Pipeline;
use earshot_core::priority::PriorityWeights;
use earshot_core::reply::ReplyStatus;
use earshot_core::source::SourceKind;
use earshot_core::sources::NewSource;
use earshot_store::{Location, SqlStore};
use earshot_workflow::{Clock, FakeClock};

/// Reads "love", "great" and "thank" as praise, "broken" and "angry" as a
/// complaint, anything else as neutral.
struct Keywords;

impl Analyzer for Keywords {
    fn analyze(&self, text: &str) -> Analysis {
        let t = text.to_lowercase();
        if t.contains("broken") || t.contains("angry") {
            return Analysis {
                sentiment: Sentiment::Negative,
                sentiment_score: -0.8,
                complaint: true,
                complaint_score: 0.9,
                ..Analysis::default()
            };
        }
        if ["love", "great", "thank"].iter().any(|w| t.contains(w)) {
            return Analysis {
                sentiment: Sentiment::Positive,
                sentiment_score: 0.8,
                evidence: vec![Evidence {
                    term: "love".into(),
                    weight: 0.6,
                }],
                ..Analysis::default()
            };
        }
        Analysis::default()
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

struct Harness {
    app: App,
    source: SourceId,
    clock: FakeClock,
    agent: Principal,
    _dir: Option<tempfile::TempDir>,
}

async fn open(pg: bool) -> Option<(SqlStore, Option<tempfile::TempDir>)> {
    if pg {
        let url = earshot_store::testing::postgres_url()?;
        let url = earshot_store::testing::fresh_postgres_database(&url)
            .await
            .unwrap();
        let store = earshot_store::open(&Location::Postgres(url)).await.unwrap();
        return Some((store, None));
    }
    let dir = tempfile::tempdir().unwrap();
    let store = earshot_store::open(&Location::SqliteDir(dir.path().to_path_buf()))
        .await
        .unwrap();
    Some((store, Some(dir)))
}

async fn harness(pg: bool) -> Option<Harness> {
    let (store, dir) = open(pg).await?;
    let clock = FakeClock::new(t0());
    let app = App::new(
        Arc::new(store.clone()),
        Pipeline::new(Arc::new(Keywords), PriorityWeights::default()),
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
    store
        .create_user(
            &NewUser {
                name: "ann".into(),
                display_name: "Ann".into(),
                role: Role::Agent,
                in_training: false,
                teams: vec![],
            },
            "unused-hash",
            t0(),
        )
        .await
        .unwrap();
    Some(Harness {
        app,
        source,
        clock,
        agent: Principal {
            name: "ann".into(),
            role: Role::Agent,
        },
        _dir: dir,
    })
}

/// Runs `test` on SQLite, and on PostgreSQL when a server is configured.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::harness(false).await.unwrap()).await;
            }
            #[tokio::test]
            async fn postgres() {
                if let Some(h) = super::harness(true).await {
                    super::$name(h).await;
                } else {
                    assert!(
                        std::env::var_os("CI").is_none(),
                        "CI needs EARSHOT_TEST_DATABASE_URL"
                    );
                }
            }
        }
    };
}

struct Post<'a> {
    id: &'a str,
    handle: &'a str,
    name: Option<&'a str>,
    text: &'a str,
    followers: u64,
    hours_ago: i64,
}

async fn hear(h: &Harness, p: Post<'_>) -> earshot_app::ingest::Ingested {
    let mention = NewMention {
        source: SourceKind::Webhook,
        external_id: p.id.into(),
        author: Author {
            handle: p.handle.into(),
            display_name: p.name.map(str::to_string),
            followers: p.followers,
            ..Author::default()
        },
        text: p.text.into(),
        created_at: h.clock.now() - TimeDelta::hours(p.hours_ago),
        url: None,
        language: None,
        thread_id: None,
        parent_id: None,
        metrics: ReachMetrics::default(),
        origin: Some(MentionOrigin {
            source_id: h.source,
            reply_ref: serde_json::json!({"post": p.id}),
            private: false,
        }),
    };
    earshot_app::ingest::ingest(&h.app, vec![mention])
        .await
        .unwrap()
        .remove(0)
}

async fn happy(h: &Harness, id: &str, handle: &str, text: &str) -> MentionId {
    let got = hear(
        h,
        Post {
            id,
            handle,
            name: None,
            text,
            followers: 50,
            hours_ago: 1,
        },
    )
    .await;
    assert!(got.outcome.advocate, "{text} should go to the advocates");
    got.outcome.mention_id
}

fn connect(h: &Harness) -> FakeConnector {
    let fake = FakeConnector::new(SourceKind::Webhook, earshot_connectors::Transport::Push);
    h.app.channels.register(Channel {
        source_id: h.source,
        kind: SourceKind::Webhook,
        connector: Arc::new(fake.clone()),
        capabilities: fake.capabilities(),
    });
    fake
}

async fn queued_ids(h: &Harness) -> Vec<MentionId> {
    advocates::queue(&h.app, &h.agent, None)
        .await
        .unwrap()
        .iter()
        .map(|i| i.mention.id)
        .collect()
}

async fn a_thank_you_leaves_through_the_outbox_and_leaves_the_queue(h: Harness) {
    let fake = connect(&h);
    let id = happy(
        &h,
        "p1",
        "jo_b",
        "@acme I love the new espresso bar at your Leith store, best flat white in town",
    )
    .await;
    let queue = advocates::queue(&h.app, &h.agent, None).await.unwrap();
    assert_eq!(queue.len(), 1);
    let item = &queue[0];
    assert_eq!(item.mention.id, id);
    let s = &item.suggestion;
    assert!(s.passes, "{s:?}");
    assert!(s.text.contains("@jo_b"), "{}", s.text);
    // The suggestion passes the check the send runs again.
    let check = earshot_app::personalisation::check_for_mention(&h.app, &item.mention, &s.text)
        .await
        .unwrap();
    assert!(!check.generic, "{check:?}");

    let out = advocates::send(
        &h.app,
        &h.agent,
        id,
        SendThanks {
            text: s.text.clone(),
            override_personalisation: false,
        },
    )
    .await
    .unwrap();
    let SendOutcome::Submitted(record) = out else {
        panic!("not sent: {out:?}")
    };
    assert_eq!(record.decision, ThanksDecision::Thanked);
    assert_eq!(record.actor, "ann");
    assert_eq!(record.text, s.text);
    assert!(!record.overridden);
    assert_eq!(record.reply_status, Some(ReplyStatus::Queued));
    let case_id = record.case_id.unwrap();
    let detail = h.app.store.case_detail(case_id).await.unwrap().unwrap();
    assert_eq!(detail.case.tags, vec![THANK_YOU_TAG.to_string()]);
    assert_eq!(detail.case.status, CaseStatus::Closed);
    assert_eq!(detail.mentions.len(), 1);
    assert_eq!(detail.mentions[0].id, id);
    assert_eq!(detail.replies.len(), 1);
    assert!(queued_ids(&h).await.is_empty(), "thanked: out of the queue");
    assert!(
        fake.sent().is_empty(),
        "nothing leaves before the worker runs"
    );

    let report = OutboxWorker::default()
        .tick(&h.app, h.clock.now())
        .await
        .unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, s.text);
    assert_eq!(sent[0].recipient, "jo_b");
    assert_eq!(sent[0].reply_ref, serde_json::json!({"post": "p1"}));
    let after = h.app.advocates.thanks_for(id).await.unwrap().unwrap();
    assert_eq!(after.reply_status, Some(ReplyStatus::Sent));
    assert!(
        advocates::undelivered(&h.app, &h.agent, 50)
            .await
            .unwrap()
            .is_empty()
    );
    // Sending again is refused: nothing goes out twice.
    let again = advocates::send(
        &h.app,
        &h.agent,
        id,
        SendThanks {
            text: s.text.clone(),
            override_personalisation: false,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(again.code, ErrorCode::Conflict, "{again:?}");
    assert_eq!(fake.sent().len(), 1);
}
both!(a_thank_you_leaves_through_the_outbox_and_leaves_the_queue);

async fn without_a_connector_a_thank_you_waits_to_be_posted_by_hand(h: Harness) {
    let id = happy(
        &h,
        "p2",
        "kim",
        "@acme thank you for the quick refund on my headphones",
    )
    .await;
    let item = advocates::queue(&h.app, &h.agent, None)
        .await
        .unwrap()
        .remove(0);
    let SendOutcome::Submitted(record) = advocates::send(
        &h.app,
        &h.agent,
        id,
        SendThanks {
            text: item.suggestion.text.clone(),
            override_personalisation: false,
        },
    )
    .await
    .unwrap() else {
        panic!("refused")
    };
    assert_eq!(record.reply_status, Some(ReplyStatus::Manual));
    let pending = advocates::undelivered(&h.app, &h.agent, 50).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].mention_id, id);
    // Only the agent's "I posted it" makes it sent.
    earshot_app::replies::mark_posted_by_hand(&h.app, &h.agent, record.reply_id.unwrap(), None)
        .await
        .unwrap();
    let after = h.app.advocates.thanks_for(id).await.unwrap().unwrap();
    assert_eq!(after.reply_status, Some(ReplyStatus::Sent));
}
both!(without_a_connector_a_thank_you_waits_to_be_posted_by_hand);

async fn a_generic_text_is_refused_unless_overridden_and_the_override_is_kept(h: Harness) {
    let id = happy(
        &h,
        "p3",
        "lee",
        "@acme great support from Priya on the billing chat",
    )
    .await;
    let generic = SendThanks {
        text: "Thanks for reaching out!".into(),
        override_personalisation: false,
    };
    let out = advocates::send(&h.app, &h.agent, id, generic.clone())
        .await
        .unwrap();
    let SendOutcome::Generic(check) = out else {
        panic!("a generic text was sent")
    };
    let all = check.reasons.join(" | ");
    assert!(all.contains("does not address the customer"), "{all}");
    assert!(all.contains("ignores the issue"), "{all}");
    assert!(h.app.advocates.thanks_for(id).await.unwrap().is_none());
    assert_eq!(queued_ids(&h).await, vec![id], "still in the queue");

    let out = advocates::send(
        &h.app,
        &h.agent,
        id,
        SendThanks {
            override_personalisation: true,
            ..generic
        },
    )
    .await
    .unwrap();
    let SendOutcome::Submitted(record) = out else {
        panic!("override refused")
    };
    assert!(record.overridden);
    assert_eq!(record.reasons, check.reasons);
    let events = h
        .app
        .store
        .case_detail(record.case_id.unwrap())
        .await
        .unwrap()
        .unwrap()
        .events;
    let opened = events
        .iter()
        .find(|e| e.action == "case.opened_for_thanks")
        .unwrap();
    assert_eq!(
        opened.after.as_ref().unwrap()["personalisation_overridden"],
        true
    );
}
both!(a_generic_text_is_refused_unless_overridden_and_the_override_is_kept);

async fn a_skip_is_recorded_once_and_leaves_the_queue(h: Harness) {
    let id = happy(&h, "p4", "max", "@acme love the new app icon").await;
    let kept = happy(
        &h,
        "p5",
        "nia",
        "@acme great coffee this morning at the Leith store",
    )
    .await;
    let rec = advocates::skip(&h.app, &h.agent, id, "Thanks @max!")
        .await
        .unwrap();
    assert_eq!(rec.decision, ThanksDecision::Skipped);
    assert_eq!(rec.actor, "ann");
    assert_eq!(rec.text, "Thanks @max!");
    assert_eq!(rec.case_id, None);
    assert_eq!(rec.reply_status, None);
    assert_eq!(queued_ids(&h).await, vec![kept]);
    let twice = advocates::skip(&h.app, &h.agent, id, "").await.unwrap_err();
    assert_eq!(twice.code, ErrorCode::Conflict);
    let send = advocates::send(
        &h.app,
        &h.agent,
        id,
        SendThanks {
            text: "Max, so glad you like the new app icon!".into(),
            override_personalisation: false,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(send.code, ErrorCode::Conflict, "{send:?}");
    let unknown = advocates::skip(&h.app, &h.agent, MentionId(99_999), "")
        .await
        .unwrap_err();
    assert_eq!(unknown.code, ErrorCode::NotFound);
    // An analyst reads but never decides.
    let analyst = Principal {
        name: "token:read".into(),
        role: Role::Analyst,
    };
    let denied = advocates::skip(&h.app, &analyst, kept, "")
        .await
        .unwrap_err();
    assert_eq!(denied.code, ErrorCode::Forbidden);
}
both!(a_skip_is_recorded_once_and_leaves_the_queue);

async fn the_brands_own_accounts_are_never_in_the_queue(h: Harness) {
    h.app
        .workflow
        .put_author_list("brand", &["AcmeHelp".to_lowercase()], "ann", t0())
        .await
        .unwrap();
    let own = happy(
        &h,
        "p6",
        "AcmeHelp",
        "Great to see you all at the Leith launch!",
    )
    .await;
    assert!(queued_ids(&h).await.is_empty());
    let refused = advocates::send(
        &h.app,
        &h.agent,
        own,
        SendThanks {
            text: "AcmeHelp, great launch in Leith".into(),
            override_personalisation: false,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code, ErrorCode::Conflict);
    assert!(
        refused.message.contains("brand list"),
        "{}",
        refused.message
    );
}
both!(the_brands_own_accounts_are_never_in_the_queue);

async fn ranking_and_profile_read_the_stored_posts(h: Harness) {
    // Uma praises often; Vic once, with more followers; Wes praised then
    // complained.
    for (i, text) in [
        "@acme love the oat latte",
        "@acme great pastries again",
        "@acme love the window seats",
    ]
    .iter()
    .enumerate()
    {
        hear(
            &h,
            Post {
                id: &format!("u{i}"),
                handle: "uma",
                name: Some("Uma Roy"),
                text,
                followers: 300,
                hours_ago: 30 - i as i64,
            },
        )
        .await;
    }
    hear(
        &h,
        Post {
            id: "v1",
            handle: "Vic",
            name: None,
            text: "@acme great service",
            followers: 900,
            hours_ago: 400,
        },
    )
    .await;
    let list = advocates::ranked(&h.app, &h.agent, &AdvocateQuery::default())
        .await
        .unwrap();
    let handles: Vec<&str> = list.iter().map(|a| a.stats.handle.as_str()).collect();
    assert_eq!(handles, ["uma", "vic"], "{list:?}");
    let uma = &list[0];
    assert_eq!(uma.stats.positive, 3);
    assert_eq!(uma.stats.total, 3);
    assert_eq!(uma.stats.display_name.as_deref(), Some("Uma Roy"));
    let parts: Vec<&str> = uma
        .rank
        .breakdown
        .iter()
        .map(|c| c.factor.as_str())
        .collect();
    assert_eq!(parts, ["frequency", "reach", "sentiment", "recency"]);
    let sum: f32 = uma.rank.breakdown.iter().map(|c| c.points).sum();
    assert!((sum - uma.rank.score).abs() < 0.05);
    // Since two days ago, Vic's only post (400 hours ago) no longer counts.
    let recent = advocates::ranked(
        &h.app,
        &h.agent,
        &AdvocateQuery {
            since: Some(h.clock.now() - TimeDelta::days(2)),
            ..AdvocateQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].stats.handle, "uma");
    let other = advocates::ranked(
        &h.app,
        &h.agent,
        &AdvocateQuery {
            source: Some(SourceKind::Mastodon),
            ..AdvocateQuery::default()
        },
    )
    .await
    .unwrap();
    assert!(other.is_empty());

    // Uma complains (a case), then praises again: she turned around.
    let complaint = hear(
        &h,
        Post {
            id: "u9",
            handle: "uma",
            name: Some("Uma Roy"),
            text: "@acme the card machine is broken, I could not pay",
            followers: 300,
            hours_ago: 5,
        },
    )
    .await;
    let case_id = complaint.outcome.case.unwrap().id;
    h.app
        .store
        .set_status(case_id, CaseStatus::Resolved, "ann", h.clock.now())
        .await
        .unwrap();
    h.app
        .store
        .set_status(case_id, CaseStatus::Closed, "ann", h.clock.now())
        .await
        .unwrap();
    hear(
        &h,
        Post {
            id: "u10",
            handle: "uma",
            name: Some("Uma Roy"),
            text: "@acme thank you, the manager sorted my payment",
            followers: 300,
            hours_ago: 1,
        },
    )
    .await;
    let p = advocates::profile(&h.app, &h.agent, SourceKind::Webhook, "@UMA")
        .await
        .unwrap();
    assert_eq!(p.handle, "uma");
    assert_eq!(p.mentions.len(), 5);
    assert_eq!(p.mentions[0].sentiment, Sentiment::Positive, "newest first");
    let turn = p.cases.iter().find(|c| c.case_id == case_id).unwrap();
    assert_eq!(turn.status, CaseStatus::Closed);
    assert!(turn.negative_in_case && turn.turned_around, "{turn:?}");
    assert!(p.advocate.is_some());
    let missing = advocates::profile(&h.app, &h.agent, SourceKind::Webhook, "nobody")
        .await
        .unwrap_err();
    assert_eq!(missing.code, ErrorCode::NotFound);
}
both!(ranking_and_profile_read_the_stored_posts);
