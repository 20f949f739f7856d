//! For test suites that run on PostgreSQL as well as SQLite: the one rule
//! for when the PostgreSQL half may be skipped, and a database of its own
//! for every test so tests run in parallel.

/// The PostgreSQL server to test against (`EARSHOT_TEST_DATABASE_URL`).
/// Locally a missing URL skips the PostgreSQL half with a notice; in CI
/// (`CI` set) it panics, so a suite cannot pass on SQLite alone unnoticed.
pub fn postgres_url() -> Option<String> {
    match std::env::var("EARSHOT_TEST_DATABASE_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("CI").is_some() => panic!(
            "CI is set but EARSHOT_TEST_DATABASE_URL is not: the PostgreSQL run must not be skipped"
        ),
        Err(_) => {
            eprintln!("EARSHOT_TEST_DATABASE_URL is not set: PostgreSQL run skipped");
            None
        }
    }
}

/// Creates a uniquely named database (`earshot_test_…`, which `.ci/run`
/// drops afterwards) next to the one in `url`, and returns its URL.
pub async fn fresh_postgres_database(url: &str) -> Result<String, sqlx::Error> {
    use sqlx::Executor;
    sqlx::any::install_default_drivers();
    let name = format!("earshot_test_{}", uuid::Uuid::now_v7().simple());
    let admin = sqlx::AnyPool::connect(url).await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await?;
    admin.close().await;
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
    Ok(format!("{base}/{name}{query}"))
}
