//! Earshot's store: one SQL implementation of [`earshot_core::store::Store`]
//! that runs on SQLite (the embedded default, WAL, files under the data dir)
//! and on PostgreSQL (scale-out).
//!
//! Both schemas store timestamps as UTC epoch milliseconds and structured
//! values as JSON text, so the queries are shared; the dialects differ only in
//! DDL, transaction start and full-text search (FTS5 vs. tsvector).

mod accounts;
mod ingest;
mod rows;
mod search;
mod sql;
mod workflow;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, SqlSafeStr};

use earshot_core::error::{Error, Result};

pub use sql::SqlStore;

/// The SQL dialect behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Where a store keeps its data.
#[derive(Debug, Clone)]
pub enum Location {
    /// `earshot.db` inside this directory, created when missing.
    SqliteDir(std::path::PathBuf),
    /// A `postgres://` URL.
    Postgres(String),
}

impl Location {
    /// PostgreSQL when a database URL is given, SQLite under the data dir otherwise.
    pub fn from_config(database_url: Option<&str>, data_dir: &Path) -> Result<Location> {
        match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Location::Postgres(url.to_string()))
            }
            Some(url) if url.starts_with("sqlite:") => Ok(Location::SqliteDir(
                Path::new(
                    url.trim_start_matches("sqlite://")
                        .trim_start_matches("sqlite:"),
                )
                .to_path_buf(),
            )),
            Some(other) => Err(Error::invalid_field(
                "database_url",
                format!(
                    "unsupported scheme in {:?}: use postgres://… or leave it out for SQLite",
                    redact(other)
                ),
            )),
            None => Ok(Location::SqliteDir(data_dir.to_path_buf())),
        }
    }
}

/// Hides the password of a database URL for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Opens (creating when needed) and migrates the store.
pub async fn open(location: &Location) -> Result<SqlStore> {
    sqlx::any::install_default_drivers();
    let (url, dialect) = match location {
        Location::SqliteDir(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::internal(format!("cannot create data dir {}: {e}", dir.display()))
            })?;
            let file = dir.join("earshot.db");
            (
                format!("sqlite://{}?mode=rwc", file.display()),
                Dialect::Sqlite,
            )
        }
        Location::Postgres(url) => (url.clone(), Dialect::Postgres),
    };
    let options = AnyConnectOptions::from_str(&url).map_err(|e| db_error("open", e))?;
    let pool = AnyPoolOptions::new()
        .max_connections(match dialect {
            Dialect::Sqlite => 8,
            Dialect::Postgres => 16,
        })
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if dialect == Dialect::Sqlite {
                    // WAL lets readers work while one writer commits; NORMAL
                    // sync in WAL mode survives a process crash (kill -9).
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    // Larger page cache and memory-mapped reads keep the
                    // indexes of a multi-million-mention store off the syscall path.
                    conn.execute("PRAGMA cache_size = -32768").await?;
                    conn.execute("PRAGMA mmap_size = 268435456").await?;
                    conn.execute("PRAGMA temp_store = MEMORY").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(|e| db_error("connect", e))?;
    migrate(&pool, dialect).await?;
    Ok(SqlStore::new(pool, dialect))
}

/// The schema, one entry per migration: (version, name, SQLite, PostgreSQL).
/// Add new migrations at the end; never edit an applied one.
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "core",
        include_str!("../migrations/sqlite/0001_core.sql"),
        include_str!("../migrations/postgres/0001_core.sql"),
    ),
    (
        2,
        "accounts",
        include_str!("../migrations/sqlite/0002_accounts.sql"),
        include_str!("../migrations/postgres/0002_accounts.sql"),
    ),
    (
        3,
        "workflow",
        include_str!("../migrations/sqlite/0003_workflow.sql"),
        include_str!("../migrations/postgres/0003_workflow.sql"),
    ),
    (
        4,
        "author_lists",
        include_str!("../migrations/sqlite/0004_author_lists.sql"),
        include_str!("../migrations/postgres/0004_author_lists.sql"),
    ),
    (
        5,
        "sla_checkpoints",
        include_str!("../migrations/sqlite/0005_sla_checkpoints.sql"),
        include_str!("../migrations/postgres/0005_sla_checkpoints.sql"),
    ),
    (
        6,
        "reply_rejections",
        include_str!("../migrations/sqlite/0006_reply_rejections.sql"),
        include_str!("../migrations/postgres/0006_reply_rejections.sql"),
    ),
    (
        7,
        "webhook_attempts",
        include_str!("../migrations/sqlite/0007_webhook_attempts.sql"),
        include_str!("../migrations/postgres/0007_webhook_attempts.sql"),
    ),
    (
        8,
        "webhook_secrets",
        include_str!("../migrations/sqlite/0008_webhook_secrets.sql"),
        include_str!("../migrations/postgres/0008_webhook_secrets.sql"),
    ),
    (
        9,
        "token_revocation",
        include_str!("../migrations/sqlite/0009_token_revocation.sql"),
        include_str!("../migrations/postgres/0009_token_revocation.sql"),
    ),
];

/// Applies pending migrations (idempotent).
pub async fn migrate(pool: &AnyPool, dialect: Dialect) -> Result<()> {
    let migrations = MIGRATIONS
        .iter()
        .map(|&(version, name, sqlite, postgres)| {
            let sql: &'static str = match dialect {
                Dialect::Sqlite => sqlite,
                Dialect::Postgres => postgres,
            };
            Migration::new(
                version,
                name.into(),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
        .run(pool)
        .await
        .map_err(|e| Error::internal(format!("migration failed: {e}")))
}

pub(crate) fn db_error(what: &str, e: sqlx::Error) -> Error {
    tracing::error!(error = %e, "database {what} failed");
    Error::internal(format!("database {what} failed: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://earshot:s3cret@db:5432/earshot"),
            "postgres://earshot:***@db:5432/earshot"
        );
        assert_eq!(redact("postgres://db/earshot"), "postgres://db/earshot");
    }

    #[test]
    fn location_follows_the_url_scheme() {
        let dir = Path::new("/tmp/x");
        assert!(matches!(
            Location::from_config(Some("postgres://h/db"), dir),
            Ok(Location::Postgres(_))
        ));
        assert!(matches!(
            Location::from_config(None, dir),
            Ok(Location::SqliteDir(_))
        ));
        let err = Location::from_config(Some("mysql://u:pw@h/db"), dir).unwrap_err();
        assert!(err.message.contains("database_url"));
        assert!(!err.message.contains("pw"), "{}", err.message);
    }
}
