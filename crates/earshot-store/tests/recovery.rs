//! The recovery query that reads an author's later posts uses its index on
//! both databases (PostgreSQL when `EARSHOT_TEST_DATABASE_URL` is set,
//! required with `CI`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use earshot_store::testing::{fresh_postgres_database, postgres_url};
use earshot_store::{LATER_MENTIONS_SQL, Location};
use sqlx::Row;

/// The query with its parameters as literals (EXPLAIN shows the plan for
/// these values).
fn later_mentions() -> String {
    format!("SELECT m.id {LATER_MENTIONS_SQL} ORDER BY m.created_at, m.id")
        .replace("$1", "'mastodon'")
        .replace("$2", "'Ann'")
        .replace("$3", "1700000000000")
        .replace("$4", "1800000000000")
}

#[tokio::test]
async fn sqlite_reads_later_posts_through_the_author_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = earshot_store::open(&Location::SqliteDir(dir.path().to_path_buf()))
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
        "EXPLAIN QUERY PLAN {}",
        later_mentions()
    )))
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| r.try_get::<String, _>("detail").unwrap())
    .collect();
    assert!(
        plan.iter()
            .any(|d| d.contains("USING INDEX mentions_author_time")),
        "{plan:?}"
    );
}

#[tokio::test]
async fn postgres_reads_later_posts_through_the_author_index() {
    let Some(url) = postgres_url() else { return };
    let store = earshot_store::open(&Location::Postgres(
        fresh_postgres_database(&url).await.unwrap(),
    ))
    .await
    .unwrap();
    let mut tx = store.pool().begin().await.unwrap();
    // An empty table is cheapest to scan; forbid that so the plan shows
    // whether the index can serve the query at all.
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .unwrap();
    let plan: Vec<String> =
        sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {}", later_mentions())))
            .fetch_all(&mut *tx)
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String, _>(0).unwrap())
            .collect();
    assert!(
        plan.iter().any(|l| l.contains("mentions_author_time")),
        "{plan:#?}"
    );
}
