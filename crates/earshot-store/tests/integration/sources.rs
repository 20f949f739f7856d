//! The source registry and the checkpoints ingestion commits with its
//! mentions, on both backends; cross-posts and one post heard by two
//! sources.

use earshot_core::error::ErrorCode;
use earshot_core::ids::SourceId;
use earshot_core::mention::MentionOrigin;
use earshot_core::source::SourceKind;
use earshot_core::sources::{
    Attempt, Checkpoint, HealthReport, NewSource, SourcePatch, SourceState, SourceStore,
};
use earshot_core::store::{AnalyzedMention, CaseAction, MentionQuery, Store};
use earshot_store::SqlStore;
use serde_json::json;

use super::{complaint, t0};

async fn sqlite() -> Option<super::Harness> {
    super::sqlite().await
}

async fn postgres() -> Option<super::Harness> {
    super::postgres().await
}

async fn new_source(s: &SqlStore, name: &str, kind: SourceKind) -> SourceId {
    s.create_source(
        &NewSource {
            kind,
            name: name.into(),
            config: json!({"base_url": "https://social.example"})
                .as_object()
                .cloned()
                .unwrap(),
            credentials: Some("sealed-blob".into()),
            paused: false,
        },
        t0(),
    )
    .await
    .unwrap()
    .id
}

fn heard(mut m: AnalyzedMention, source: SourceId, kind: SourceKind) -> AnalyzedMention {
    m.mention.source = kind;
    m.mention.origin = Some(MentionOrigin {
        source_id: source,
        reply_ref: json!({"status_id": m.mention.external_id}),
        private: false,
    });
    m
}

fn checkpoint(source: SourceId, cursor: i64, skipped: u64) -> Checkpoint {
    Checkpoint {
        source_id: source,
        cursor: Some(json!({"since_id": cursor})),
        skipped,
    }
}

async fn sources_are_created_listed_patched_and_deleted(s: &SqlStore) {
    let id = new_source(s, "support", SourceKind::Mastodon).await;
    let taken = s
        .create_source(
            &NewSource {
                kind: SourceKind::Rss,
                name: "support".into(),
                config: Default::default(),
                credentials: None,
                paused: false,
            },
            t0(),
        )
        .await
        .unwrap_err();
    assert_eq!(taken.code, ErrorCode::Conflict);
    assert!(taken.message.starts_with("name:"), "{}", taken.message);

    let got = s.source(id).await.unwrap().unwrap();
    assert_eq!(got.kind, SourceKind::Mastodon);
    assert_eq!(got.health.state, SourceState::Starting);
    assert_eq!(got.credentials.as_deref(), Some("sealed-blob"));
    assert_eq!(got.config["base_url"], "https://social.example");

    let paused = s
        .update_source(
            id,
            &SourcePatch {
                name: Some("care".into()),
                paused: Some(true),
                ..SourcePatch::default()
            },
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(paused.name, "care");
    assert!(paused.paused);
    assert_eq!(paused.health.state, SourceState::Paused);
    assert_eq!(paused.credentials.as_deref(), Some("sealed-blob"));

    // A task still in flight cannot mark a paused source running.
    let health = s
        .record_source_health(
            id,
            &HealthReport {
                state: SourceState::Running,
                attempt: Attempt::Failed {
                    error: "HTTP 401: The access token is invalid".into(),
                    auth: true,
                },
                capabilities: None,
            },
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(health.state, SourceState::Paused);
    assert_eq!(health.consecutive_auth_failures, 1);
    assert_eq!(
        health.last_error.as_deref(),
        Some("HTTP 401: The access token is invalid")
    );

    let resumed = s
        .update_source(
            id,
            &SourcePatch {
                paused: Some(false),
                credentials: Some("new-blob".into()),
                ..SourcePatch::default()
            },
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(resumed.health.state, SourceState::Starting);
    assert_eq!(resumed.health.consecutive_auth_failures, 0);
    assert_eq!(resumed.credentials.as_deref(), Some("new-blob"));

    assert_eq!(s.sources().await.unwrap().len(), 1);
    s.delete_source(id).await.unwrap();
    assert!(s.source(id).await.unwrap().is_none());
    assert_eq!(
        s.delete_source(id).await.unwrap_err().code,
        ErrorCode::NotFound
    );
    assert_eq!(
        s.update_source(id, &SourcePatch::default(), t0())
            .await
            .unwrap_err()
            .code,
        ErrorCode::NotFound
    );
}

async fn the_cursor_commits_with_its_mentions(s: &SqlStore) {
    let id = new_source(s, "mastodon", SourceKind::Mastodon).await;
    let kind = SourceKind::Mastodon;
    let batch = vec![
        heard(complaint("m1", "jane", "my parcel never arrived"), id, kind),
        heard(complaint("m2", "joe", "billed twice this month"), id, kind),
    ];
    s.ingest_checkpointed(&batch, &[checkpoint(id, 2, 1)], t0())
        .await
        .unwrap();
    let got = s.source(id).await.unwrap().unwrap();
    assert_eq!(got.cursor, Some(json!({"since_id": 2})));
    assert_eq!(got.health.mentions_ingested, 2);
    assert_eq!(got.health.records_skipped, 1);
    assert_eq!(got.health.last_success_at, Some(t0()));

    // The mentions carry their origin back out.
    let stored = s.mentions(&MentionQuery::default()).await.unwrap();
    let m1 = stored
        .iter()
        .find(|m| m.mention.external_id == "m1")
        .unwrap();
    let origin = m1.mention.origin.as_ref().unwrap();
    assert_eq!(origin.source_id, id);
    assert_eq!(origin.reply_ref, json!({"status_id": "m1"}));

    // A re-sent page counts nothing new but still moves the cursor.
    s.ingest_checkpointed(&batch[..1], &[checkpoint(id, 3, 0)], t0())
        .await
        .unwrap();
    let got = s.source(id).await.unwrap().unwrap();
    assert_eq!(got.cursor, Some(json!({"since_id": 3})));
    assert_eq!(got.health.mentions_ingested, 2);

    // A batch the database refuses (one mention names a source that does
    // not exist: a foreign key on both databases) leaves the cursor and
    // the counts where they were, and stores none of its mentions.
    let orphan = heard(
        complaint("m9", "ann", "still waiting on support"),
        SourceId(9_999),
        kind,
    );
    let failed = s
        .ingest_checkpointed(
            &[
                heard(complaint("m4", "amy", "where is my refund"), id, kind),
                orphan,
            ],
            &[checkpoint(id, 9, 5)],
            t0(),
        )
        .await;
    assert!(failed.is_err(), "a mention of an unknown source is refused");
    let got = s.source(id).await.unwrap().unwrap();
    assert_eq!(got.cursor, Some(json!({"since_id": 3})));
    assert_eq!(got.health.mentions_ingested, 2);
    assert_eq!(got.health.records_skipped, 1);
    let ids: Vec<String> = s
        .mentions(&MentionQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.mention.external_id)
        .collect();
    assert!(!ids.contains(&"m4".to_string()), "{ids:?}");
}

async fn a_post_two_sources_hear_is_stored_once(s: &SqlStore) {
    let kind = SourceKind::Mastodon;
    let a = new_source(s, "brand account", kind).await;
    let b = new_source(s, "keyword search", kind).await;
    let post = "https://social.example/users/jane/statuses/1";
    let first = s
        .ingest_checkpointed(
            &[heard(
                complaint(post, "jane", "my parcel never arrived"),
                a,
                kind,
            )],
            &[checkpoint(a, 1, 0)],
            t0(),
        )
        .await
        .unwrap();
    let second = s
        .ingest_checkpointed(
            &[heard(
                complaint(post, "jane", "my parcel never arrived"),
                b,
                kind,
            )],
            &[checkpoint(b, 7, 0)],
            t0(),
        )
        .await
        .unwrap();
    assert!(!first[0].duplicate);
    assert!(second[0].duplicate);
    assert_eq!(second[0].mention_id, first[0].mention_id);
    assert_eq!(s.mention_count().await.unwrap(), 1);
    let b = s.source(b).await.unwrap().unwrap();
    assert_eq!(b.cursor, Some(json!({"since_id": 7})));
    assert_eq!(b.health.mentions_ingested, 0);
}

async fn a_cross_post_joins_the_open_case(s: &SqlStore) {
    let text = "@acme my parcel never arrived and nobody answers https://t.example/1";
    let on_mastodon = complaint("m-1", "Jane", text);
    let mut on_bluesky = complaint(
        "at://did:plc:jane/app.bsky.feed.post/1",
        "jane",
        "My parcel never arrived, and nobody answers! @acme.example",
    );
    on_bluesky.mention.source = SourceKind::Bluesky;
    let first = s.ingest(&[on_mastodon], t0()).await.unwrap();
    let case = first[0].case.unwrap();
    assert_eq!(case.action, CaseAction::Opened);
    let second = s
        .ingest(&[on_bluesky], t0() + chrono::Duration::hours(2))
        .await
        .unwrap();
    let joined = second[0].case.unwrap();
    assert_eq!(joined.id, case.id);
    assert_eq!(joined.action, CaseAction::Joined);

    // Another author with the same words, a short text, or a day later:
    // a case of its own.
    let mut other = complaint("b-2", "joe", "my parcel never arrived and nobody answers");
    other.mention.source = SourceKind::Bluesky;
    let out = s.ingest(&[other], t0()).await.unwrap();
    assert_ne!(out[0].case.unwrap().id, case.id);
    let mut late = complaint("b-3", "jane", "my parcel never arrived and nobody answers");
    late.mention.source = SourceKind::Rss;
    let out = s
        .ingest(&[late], t0() + chrono::Duration::hours(25))
        .await
        .unwrap();
    assert_ne!(out[0].case.unwrap().id, case.id);
}

both_backends!(
    sources_are_created_listed_patched_and_deleted,
    the_cursor_commits_with_its_mentions,
    a_post_two_sources_hear_is_stored_once,
    a_cross_post_joins_the_open_case,
);
