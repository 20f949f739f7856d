//! Earshot's store: one SQL implementation of [`earshot_core::store::Store`]
//! that runs on SQLite (the embedded default, WAL, files under the data dir)
//! and on PostgreSQL (scale-out).
//!
//! Both schemas store timestamps as UTC epoch milliseconds and structured
//! values as JSON text, so the queries are shared; the dialects differ only in
//! DDL, transaction start and full-text search (FTS5 vs. tsvector).

mod accounts;
mod advocates;
mod csat;
mod inbound;
mod ingest;
mod outbox;
mod private_handoff;
mod recovery;
mod rows;
mod search;
mod sources;
mod sql;
pub mod testing;
mod workflow_store;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyConnection, AnyPool, Connection, Executor, SqlSafeStr};

use earshot_core::error::{Error, Result};

pub use recovery::LATER_MENTIONS_SQL;
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

/// How long opening a store may take to reach its database before it gives
/// up with a message naming it (the pool itself would retry for 30 s).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens (creating when needed) and migrates the store.
pub async fn open(location: &Location) -> Result<SqlStore> {
    sqlx::any::install_default_drivers();
    let (url, dialect, target, file) = match location {
        Location::SqliteDir(dir) => {
            create_data_dir(dir)?;
            let file = dir.join("earshot.db");
            create_private_file(&file)?;
            (
                format!("sqlite://{}?mode=rwc", file.display()),
                Dialect::Sqlite,
                format!("SQLite file {}", file.display()),
                Some(file),
            )
        }
        Location::Postgres(url) => (url.clone(), Dialect::Postgres, pg_target(url), None),
    };
    let options = AnyConnectOptions::from_str(&url).map_err(|e| connect_error(&target, &e))?;
    probe(&options, dialect, &target).await?;
    let pool = AnyPoolOptions::new()
        .max_connections(match dialect {
            Dialect::Sqlite => 8,
            Dialect::Postgres => 16,
        })
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _| Box::pin(prepare(conn, dialect)))
        .connect_with(options)
        .await
        .map_err(|e| connect_error(&target, &e))?;
    migrate(&pool, dialect).await?;
    if let Some(file) = &file {
        restrict_sqlite_files(file)?;
    }
    Ok(SqlStore::new(pool, dialect))
}

/// Per-connection settings, run on every new pooled connection.
async fn prepare(conn: &mut AnyConnection, dialect: Dialect) -> sqlx::Result<()> {
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
}

/// One connection, set up as the pool would, within [`CONNECT_TIMEOUT`]:
/// the pool retries a refused connection or a failing `prepare` until its
/// acquire timeout and then reports only "pool timed out".
async fn probe(options: &AnyConnectOptions, dialect: Dialect, target: &str) -> Result<()> {
    let attempt = async {
        let mut conn = AnyConnection::connect_with(options).await?;
        prepare(&mut conn, dialect).await?;
        conn.close().await
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(connect_error(target, &e)),
        Err(_) => Err(Error::internal(format!(
            "cannot open the database ({target}): no answer within {} s; \
             is the host reachable and the server running?",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// A PostgreSQL URL as `host:port/dbname`, never with the password.
fn pg_target(url: &str) -> String {
    match sqlx::postgres::PgConnectOptions::from_str(url) {
        Ok(o) => format!(
            "PostgreSQL {}:{}/{}",
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or_default()
        ),
        Err(_) => format!("PostgreSQL {}", redact(url)),
    }
}

/// Names the database and says in words what stopped it from opening.
fn connect_error(target: &str, e: &sqlx::Error) -> Error {
    tracing::error!(error = %e, database = target, "database connect failed");
    let why = match e {
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                "connection refused: is the server running, and are host and port right?"
                    .to_string()
            }
            std::io::ErrorKind::PermissionDenied => format!("permission denied ({io})"),
            _ => format!("unreachable ({io})"),
        },
        sqlx::Error::Tls(tls) => format!("TLS failed ({tls})"),
        sqlx::Error::Configuration(c) => format!("bad connection settings ({c})"),
        sqlx::Error::PoolTimedOut => "no connection within the pool's timeout".to_string(),
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            // SQLite reports extended codes; the low byte is the primary one.
            let sqlite_primary = code.parse::<i32>().ok().map(|c| c & 0xff);
            match (sqlite_primary, code.as_str()) {
                (Some(26), _) => {
                    format!(
                        "not a database: the file is corrupt or not SQLite ({})",
                        db.message()
                    )
                }
                (Some(11), _) => format!("the database file is corrupt ({})", db.message()),
                (Some(14), _) | (Some(23), _) | (Some(3), _) => {
                    format!(
                        "cannot open the file: permission denied or missing ({})",
                        db.message()
                    )
                }
                (Some(8), _) => format!("the file is read-only ({})", db.message()),
                (None, "3D000") => format!("the database does not exist ({})", db.message()),
                (None, "28P01" | "28000") => {
                    format!("authentication failed ({})", db.message())
                }
                _ => db.message().to_string(),
            }
        }
        other => other.to_string(),
    };
    Error::internal(format!("cannot open the database ({target}): {why}"))
}

/// The data dir, owner-only when the store creates it (an existing one is the
/// operator's to set).
fn create_data_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| Error::internal(format!("cannot create data dir {}: {e}", dir.display())))
}

/// Creates the database file owner-only before SQLite does, which would
/// create it with the umask's (usually world-readable) mode.
fn create_private_file(file: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(file)
        .map(drop)
        .map_err(|e| Error::internal(format!("cannot create {}: {e}", file.display())))
}

/// Mentions, notes and session hashes live in these files: owner-only, also
/// for a store created before this was so. SQLite gives `-wal` and `-shm` the
/// database file's mode, but they may predate it.
fn restrict_sqlite_files(file: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let name = file.as_os_str();
        for suffix in ["", "-wal", "-shm"] {
            let mut path = name.to_os_string();
            path.push(suffix);
            let path = Path::new(&path);
            if path.exists() {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
                    |e| Error::internal(format!("cannot restrict {}: {e}", path.display())),
                )?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
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
    (
        10,
        "default_sla_policy",
        include_str!("../migrations/sqlite/0010_default_sla_policy.sql"),
        include_str!("../migrations/postgres/0010_default_sla_policy.sql"),
    ),
    (
        11,
        "correction_original",
        include_str!("../migrations/sqlite/0011_correction_original.sql"),
        include_str!("../migrations/postgres/0011_correction_original.sql"),
    ),
    (
        12,
        "reply_delivery",
        include_str!("../migrations/sqlite/0012_reply_delivery.sql"),
        include_str!("../migrations/postgres/0012_reply_delivery.sql"),
    ),
    (
        13,
        "awaiting_customer",
        include_str!("../migrations/sqlite/0013_awaiting_customer.sql"),
        include_str!("../migrations/postgres/0013_awaiting_customer.sql"),
    ),
    (
        14,
        "sources",
        include_str!("../migrations/sqlite/0014_sources.sql"),
        include_str!("../migrations/postgres/0014_sources.sql"),
    ),
    (
        15,
        "outbox",
        include_str!("../migrations/sqlite/0015_outbox.sql"),
        include_str!("../migrations/postgres/0015_outbox.sql"),
    ),
    (
        16,
        "inbound_deliveries",
        include_str!("../migrations/sqlite/0016_inbound_deliveries.sql"),
        include_str!("../migrations/postgres/0016_inbound_deliveries.sql"),
    ),
    (
        17,
        "private_mentions",
        include_str!("../migrations/sqlite/0017_private_mentions.sql"),
        include_str!("../migrations/postgres/0017_private_mentions.sql"),
    ),
    (
        18,
        "private_handoffs",
        include_str!("../migrations/sqlite/0018_private_handoffs.sql"),
        include_str!("../migrations/postgres/0018_private_handoffs.sql"),
    ),
    (
        19,
        "csat",
        include_str!("../migrations/sqlite/0019_csat.sql"),
        include_str!("../migrations/postgres/0019_csat.sql"),
    ),
    (
        20,
        "recovery",
        include_str!("../migrations/sqlite/0020_recovery.sql"),
        include_str!("../migrations/postgres/0020_recovery.sql"),
    ),
    (
        21,
        "thanks",
        include_str!("../migrations/sqlite/0021_thanks.sql"),
        include_str!("../migrations/postgres/0021_thanks.sql"),
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
