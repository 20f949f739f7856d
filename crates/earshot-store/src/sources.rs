//! The source registry ([`SourceStore`]) and the checkpoints that ingestion
//! commits with its mentions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use earshot_core::error::{Error, ErrorCode, Result};
use earshot_core::ids::SourceId;
use earshot_core::source::SourceKind;
use earshot_core::sources::{
    Attempt, Checkpoint, HealthReport, NewSource, SourceHealth, SourcePatch, SourceRecord,
    SourceState, SourceStore,
};
use earshot_core::store::{AnalyzedMention, IngestOutcome};

use crate::rows::{col, commit, ms, opt_json_col, opt_time, q, time, to_json};
use crate::{SqlStore, db_error};

const SOURCE_COLUMNS: &str = "id, kind, name, config, credentials, paused, state, capabilities, \
    cursor, last_success_at, last_error, last_error_at, mentions_ingested, records_skipped, \
    consecutive_auth_failures, created_at, updated_at";

fn source(row: &AnyRow) -> Result<SourceRecord> {
    let kind: String = col(row, "kind")?;
    let state: String = col(row, "state")?;
    let config: String = col(row, "config")?;
    Ok(SourceRecord {
        id: SourceId(col(row, "id")?),
        kind: SourceKind::parse(&kind)
            .ok_or_else(|| Error::internal(format!("unknown source kind {kind:?}")))?,
        name: col(row, "name")?,
        config: serde_json::from_str(&config)
            .map_err(|e| Error::internal(format!("column config: {e}")))?,
        credentials: col(row, "credentials")?,
        paused: col::<i64>(row, "paused")? != 0,
        capabilities: opt_json_col(row, "capabilities")?,
        cursor: opt_json_col(row, "cursor")?,
        health: SourceHealth {
            state: SourceState::parse(&state)
                .ok_or_else(|| Error::internal(format!("unknown source state {state:?}")))?,
            last_success_at: opt_time(row, "last_success_at")?,
            last_error: col(row, "last_error")?,
            last_error_at: opt_time(row, "last_error_at")?,
            mentions_ingested: col::<i64>(row, "mentions_ingested")?.max(0) as u64,
            records_skipped: col::<i64>(row, "records_skipped")?.max(0) as u64,
            consecutive_auth_failures: u32::try_from(
                col::<i64>(row, "consecutive_auth_failures")?.max(0),
            )
            .unwrap_or(u32::MAX),
        },
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

/// A taken name reads as a conflict naming the field; anything else is the
/// database's failure.
fn write_error(what: &str, e: sqlx::Error) -> Error {
    let taken = e
        .as_database_error()
        .is_some_and(|d| d.is_unique_violation());
    if taken {
        Error::new(ErrorCode::Conflict, "name: a source with this name exists")
    } else {
        db_error(what, e)
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Saves each checkpoint inside the ingest's transaction: the cursor, the
/// new mentions this source stored (duplicates not counted), the skipped
/// records, and the time of this success.
pub(crate) async fn save_checkpoints(
    tx: &mut Transaction<'static, Any>,
    batch: &[AnalyzedMention],
    outcomes: &[IngestOutcome],
    checkpoints: &[Checkpoint],
    now: DateTime<Utc>,
) -> Result<()> {
    // One update per source: the latest cursor, every skip counted (a
    // group commit may hold several batches of one source).
    let mut merged: Vec<Checkpoint> = Vec::new();
    for cp in checkpoints {
        match merged.iter_mut().find(|m| m.source_id == cp.source_id) {
            Some(m) => {
                if cp.cursor.is_some() {
                    m.cursor = cp.cursor.clone();
                }
                m.skipped += cp.skipped;
            }
            None => merged.push(cp.clone()),
        }
    }
    for cp in &merged {
        let stored = batch
            .iter()
            .zip(outcomes)
            .filter(|(m, o)| {
                !o.duplicate
                    && m.mention
                        .origin
                        .as_ref()
                        .is_some_and(|origin| origin.source_id == cp.source_id)
            })
            .count();
        let cursor = cp.cursor.as_ref().map(to_json).transpose()?;
        let updated = q("UPDATE sources SET cursor = COALESCE($1, cursor), \
             mentions_ingested = mentions_ingested + $2, \
             records_skipped = records_skipped + $3, last_success_at = $4 WHERE id = $5")
        .bind(cursor)
        .bind(i64::try_from(stored).unwrap_or(i64::MAX))
        .bind(clamp(cp.skipped))
        .bind(ms(now))
        .bind(cp.source_id.0)
        .execute(&mut **tx)
        .await
        .map_err(|e| db_error("save source checkpoint", e))?;
        if updated.rows_affected() == 0 {
            // Deleted while its batch was in flight: its mentions are kept
            // (as the API's would be), only the cursor has nowhere to go.
            tracing::warn!(
                source_id = cp.source_id.0,
                "checkpoint for a deleted source"
            );
        }
    }
    Ok(())
}

impl SqlStore {
    async fn read_source(&self, id: i64) -> Result<Option<SourceRecord>> {
        q(format!(
            "SELECT {SOURCE_COLUMNS} FROM sources WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| db_error("read source", e))?
        .as_ref()
        .map(source)
        .transpose()
    }
}

fn not_found(id: i64) -> Error {
    Error::not_found(format!("source {id}"))
}

#[async_trait]
impl SourceStore for SqlStore {
    async fn create_source(&self, s: &NewSource, now: DateTime<Utc>) -> Result<SourceRecord> {
        let state = if s.paused {
            SourceState::Paused
        } else {
            SourceState::Starting
        };
        let row = q(format!(
            "INSERT INTO sources (kind, name, config, credentials, paused, state, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {SOURCE_COLUMNS}"
        ))
        .bind(s.kind.as_str().to_string())
        .bind(s.name.clone())
        .bind(to_json(&s.config)?)
        .bind(s.credentials.clone())
        .bind(i64::from(s.paused))
        .bind(state.as_str().to_string())
        .bind(ms(now))
        .fetch_one(self.pool())
        .await
        .map_err(|e| write_error("create source", e))?;
        source(&row)
    }

    async fn sources(&self) -> Result<Vec<SourceRecord>> {
        q(format!("SELECT {SOURCE_COLUMNS} FROM sources ORDER BY id"))
            .fetch_all(self.pool())
            .await
            .map_err(|e| db_error("list sources", e))?
            .iter()
            .map(source)
            .collect()
    }

    async fn source(&self, id: SourceId) -> Result<Option<SourceRecord>> {
        self.read_source(id.0).await
    }

    async fn update_source(
        &self,
        id: SourceId,
        patch: &SourcePatch,
        now: DateTime<Utc>,
    ) -> Result<SourceRecord> {
        let id = id.0;
        let mut tx = self.write_tx().await?;
        let config = patch.config.as_ref().map(to_json).transpose()?;
        let paused = patch.paused.map(i64::from);
        let state = patch.paused.map(|p| {
            if p {
                SourceState::Paused
            } else {
                SourceState::Starting
            }
            .as_str()
            .to_string()
        });
        let row = q(format!(
            "UPDATE sources SET name = COALESCE($1, name), config = COALESCE($2, config), \
             credentials = COALESCE($3, credentials), paused = COALESCE($4, paused), \
             state = COALESCE($5, state), \
             consecutive_auth_failures = CASE WHEN $4 = 0 THEN 0 \
                ELSE consecutive_auth_failures END, \
             updated_at = $6 WHERE id = $7 RETURNING {SOURCE_COLUMNS}"
        ))
        .bind(patch.name.clone())
        .bind(config)
        .bind(patch.credentials.clone())
        .bind(paused)
        .bind(state)
        .bind(ms(now))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| write_error("update source", e))?
        .ok_or_else(|| not_found(id))?;
        let record = source(&row)?;
        commit(tx).await?;
        Ok(record)
    }

    async fn delete_source(&self, id: SourceId) -> Result<()> {
        let id = id.0;
        let mut tx = self.write_tx().await?;
        q("UPDATE mentions SET source_id = NULL WHERE source_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("delete source", e))?;
        let deleted = q("DELETE FROM sources WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("delete source", e))?;
        if deleted.rows_affected() == 0 {
            return Err(not_found(id));
        }
        commit(tx).await
    }

    async fn record_source_health(
        &self,
        id: SourceId,
        report: &HealthReport,
        now: DateTime<Utc>,
    ) -> Result<SourceHealth> {
        let id = id.0;
        let capabilities = report.capabilities.as_ref().map(to_json).transpose()?;
        let (success, error, auth) = match &report.attempt {
            Attempt::Succeeded => (true, None, false),
            Attempt::Failed { error, auth } => (false, Some(error.clone()), *auth),
            Attempt::StateOnly => (false, None, false),
        };
        // A paused source stays paused whatever a task still in flight
        // says; only the pause for failed authentication is reported over it.
        let row = q(format!(
            "UPDATE sources SET state = CASE WHEN paused = 1 AND $1 <> 'auth_paused' \
                THEN 'paused' ELSE $1 END, \
             capabilities = COALESCE($2, capabilities), \
             last_success_at = CASE WHEN $3 = 1 THEN $4 ELSE last_success_at END, \
             last_error = COALESCE($5, last_error), \
             last_error_at = CASE WHEN $5 IS NULL THEN last_error_at ELSE $4 END, \
             consecutive_auth_failures = CASE WHEN $6 = 1 THEN consecutive_auth_failures + 1 \
                WHEN $3 = 1 THEN 0 ELSE consecutive_auth_failures END \
             WHERE id = $7 RETURNING {SOURCE_COLUMNS}"
        ))
        .bind(report.state.as_str().to_string())
        .bind(capabilities)
        .bind(i64::from(success))
        .bind(ms(now))
        .bind(error)
        .bind(i64::from(auth))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| db_error("record source health", e))?
        .ok_or_else(|| not_found(id))?;
        Ok(source(&row)?.health)
    }
}
