//! The store itself: the shared SQL, run on SQLite or PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Transaction};

use earshot_core::auth::Role;
use earshot_core::case::{Case, CaseStatus};
use earshot_core::error::{Error, ErrorCode, Result};
use earshot_core::ids::{CaseId, ReplyId, SourceId};
use earshot_core::mention::Mention;
use earshot_core::outbox::{Delivery, OutboxTarget};
use earshot_core::priority::Priority;
use earshot_core::reply::{DeliveredVia, ExternalReply, Note, Reply, ReplyRoute, ReplyStatus};
use earshot_core::source::SourceKind;
use earshot_core::sources::Checkpoint;
use earshot_core::store::{
    AnalyzedMention, CaseDetail, CaseQuery, IngestOutcome, MentionQuery, NewReply, Store,
    TokenInfo, TokenSummary, page_size,
};

use crate::rows::{
    self, Bind, CASE_COLUMNS, MENTION_COLUMNS, REPLY_COLUMNS, bind_all, col, commit, insert_event,
    ms, q,
};
use crate::search::fts5_query;
use crate::{Dialect, db_error};

/// The store on a connection pool of either dialect.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
}

/// Builds `WHERE` clauses with `$n` placeholders, which both SQLite and
/// PostgreSQL accept.
#[derive(Default)]
struct Filter {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Filter {
    /// Adds a clause; `{}` in it is replaced by the next placeholder.
    fn push(&mut self, clause: &str, value: Bind) {
        self.binds.push(value);
        self.clauses
            .push(clause.replace("{}", &format!("${}", self.binds.len())));
    }
    /// Only rows whose case (`case_column`) is at one of `locations`.
    fn at_locations(&mut self, case_column: &str, locations: &[String]) {
        let clause = rows::at_locations(case_column, self.binds.len() + 1, locations.len());
        self.binds.extend(locations.iter().cloned().map(Bind::Text));
        self.clauses.push(clause);
    }
    fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
    fn next_placeholder(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }
    fn bind_all(
        &self,
        query: Query<'static, Any, AnyArguments>,
    ) -> Query<'static, Any, AnyArguments> {
        bind_all(query, self.binds.iter().cloned())
    }
}

impl SqlStore {
    pub(crate) fn new(pool: AnyPool, dialect: Dialect) -> Self {
        SqlStore { pool, dialect }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a write transaction. SQLite takes the write lock up front
    /// (`BEGIN IMMEDIATE`) so two writers queue instead of deadlocking.
    pub(crate) async fn write_tx(&self) -> Result<Transaction<'static, Any>> {
        match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Dialect::Postgres => self.pool.begin().await,
        }
        .map_err(|e| db_error("begin", e))
    }

    pub(crate) async fn fetch_case(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: i64,
    ) -> Result<Case> {
        let row = q(format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|e| db_error("read case", e))?
            .ok_or_else(|| Error::case_not_found(id))?;
        rows::case(&row)
    }

    async fn all<T>(
        &self,
        query: Query<'static, Any, AnyArguments>,
        decode: fn(&AnyRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        query
            .fetch_all(&self.pool)
            .await
            .map_err(|e| db_error("query", e))?
            .iter()
            .map(decode)
            .collect()
    }
}

// The contract speaks in typed ids; each method unwraps them once, at the
// top, into the integer its SQL binds (rows wrap them again on read).
#[async_trait]
impl Store for SqlStore {
    async fn ingest_checkpointed(
        &self,
        batch: &[AnalyzedMention],
        checkpoints: &[Checkpoint],
        now: DateTime<Utc>,
    ) -> Result<Vec<IngestOutcome>> {
        // A retry happens only when a concurrent PostgreSQL writer stored one
        // of these mentions first; the next attempt sees it as a duplicate.
        for _ in 0..3 {
            let mut tx = self.write_tx().await?;
            match crate::ingest::ingest(self.dialect, &mut tx, batch, now).await? {
                crate::ingest::Outcome::Done(outcomes) => {
                    crate::sources::save_checkpoints(&mut tx, batch, &outcomes, checkpoints, now)
                        .await?;
                    commit(tx).await?;
                    return Ok(outcomes);
                }
                crate::ingest::Outcome::Retry(_) => {
                    tx.rollback().await.map_err(|e| db_error("rollback", e))?;
                }
            }
        }
        Err(Error::new(
            ErrorCode::Conflict,
            "the same mentions are being stored concurrently; retry the request",
        ))
    }

    async fn mentions(&self, query: &MentionQuery) -> Result<Vec<Mention>> {
        let mut f = Filter::default();
        // Newest first; with FTS5 the index is walked backwards by rowid and
        // stops at the page size, instead of collecting every match first.
        let mut from = "mentions m";
        let mut order = "m.id DESC";
        if let Some(text) = query.q.as_deref().filter(|t| !t.trim().is_empty()) {
            match self.dialect {
                Dialect::Sqlite => match fts5_query(text) {
                    Some(expr) => {
                        from = "mentions_fts JOIN mentions m ON m.id = mentions_fts.rowid";
                        order = "mentions_fts.rowid DESC";
                        f.push("mentions_fts MATCH {}", Bind::Text(expr));
                    }
                    None => return Ok(Vec::new()),
                },
                Dialect::Postgres => f.push(
                    "m.tsv @@ websearch_to_tsquery('simple', {})",
                    Bind::Text(text.to_string()),
                ),
            }
        }
        if let Some(source) = query.source {
            f.push("m.source = {}", Bind::Text(source.as_str().into()));
        }
        if let Some(sentiment) = query.sentiment {
            f.push("m.sentiment = {}", Bind::Text(sentiment.as_str().into()));
        }
        if let Some(author) = &query.author {
            f.push(
                "m.author_handle = {}",
                Bind::Text(author.trim_start_matches('@').to_string()),
            );
        }
        if let Some(case_id) = query.case_id {
            f.push("m.case_id = {}", Bind::Int(case_id));
        }
        if let Some(locations) = &query.locations {
            f.at_locations("m.case_id", locations);
        }
        let limit = f.next_placeholder(Bind::Int(page_size(query.limit).into()));
        let offset = f.next_placeholder(Bind::Int(query.offset.unwrap_or(0).into()));
        let sql = format!(
            "SELECT {MENTION_COLUMNS} FROM {from}{} ORDER BY {order} LIMIT {limit} OFFSET {offset}",
            f.where_sql()
        );
        self.all(f.bind_all(q(sql)), rows::mention).await
    }

    async fn mention_count(&self) -> Result<i64> {
        let row = q("SELECT COUNT(*) AS n FROM mentions")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| db_error("count", e))?;
        sqlx::Row::try_get(&row, "n").map_err(|e| db_error("count", e))
    }

    async fn cases(&self, query: &CaseQuery) -> Result<Vec<Case>> {
        let mut f = Filter::default();
        if let Some(status) = query.status {
            f.push("status = {}", Bind::Text(status.as_str().into()));
        }
        if let Some(min) = query.min_priority {
            f.push("priority >= {}", Bind::Real(min.into()));
        }
        match query.assignee.as_deref() {
            Some("none") => f.clauses.push("assignee IS NULL".into()),
            Some(user) => f.push("assignee = {}", Bind::Text(user.into())),
            None => {}
        }
        if let Some(sentiment) = query.sentiment {
            f.push("sentiment = {}", Bind::Text(sentiment.as_str().into()));
        }
        if let Some(source) = query.source {
            f.push("source = {}", Bind::Text(source.as_str().into()));
        }
        if let Some(csat) = query.csat {
            f.clauses.push(csat.sql("id"));
        }
        if let Some(outcome) = query.recovery {
            f.push(
                crate::recovery::OUTCOME_FILTER,
                Bind::Text(outcome.as_str().into()),
            );
        }
        if let Some(locations) = &query.locations {
            f.at_locations("id", locations);
        }
        let limit = f.next_placeholder(Bind::Int(page_size(query.limit).into()));
        let offset = f.next_placeholder(Bind::Int(query.offset.unwrap_or(0).into()));
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM cases{} ORDER BY awaiting_customer ASC, priority DESC, \
             created_at ASC, id ASC LIMIT {limit} OFFSET {offset}",
            f.where_sql()
        );
        self.all(f.bind_all(q(sql)), rows::case).await
    }

    async fn case_detail(&self, id: CaseId) -> Result<Option<CaseDetail>> {
        let id = id.0;
        let Some(row) = q(format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_error("read case", e))?
        else {
            return Ok(None);
        };
        let case = rows::case(&row)?;
        let mentions = self
            .all(
                q(format!(
                    "SELECT {MENTION_COLUMNS} FROM mentions m WHERE m.case_id = $1 \
                     ORDER BY m.created_at, m.id"
                ))
                .bind(id),
                rows::mention,
            )
            .await?;
        let mut replies = self
            .all(
                q(format!(
                    "SELECT {REPLY_COLUMNS} FROM replies WHERE case_id = $1 ORDER BY id"
                ))
                .bind(id),
                rows::reply,
            )
            .await?;
        let deliveries = crate::outbox::of_case(&self.pool, id).await?;
        for reply in &mut replies {
            reply.delivery = deliveries
                .iter()
                .find(|d| d.reply_id == reply.id)
                .map(Delivery::from);
        }
        let notes = self
            .all(
                q(
                    "SELECT id, case_id, author, body, created_at FROM notes WHERE case_id = $1 \
                   ORDER BY id"
                        .to_string(),
                )
                .bind(id),
                rows::note,
            )
            .await?;
        let events = self
            .all(
                q(
                    "SELECT id, case_id, actor, action, before, after, at FROM events \
                   WHERE case_id = $1 ORDER BY id"
                        .to_string(),
                )
                .bind(id),
                rows::event,
            )
            .await?;
        Ok(Some(CaseDetail {
            case,
            mentions,
            replies,
            notes,
            events,
        }))
    }

    async fn assign(
        &self,
        id: CaseId,
        assignee: Option<String>,
        team: Option<String>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Case> {
        let id = id.0;
        let mut tx = self.write_tx().await?;
        let before = self.fetch_case(&mut tx, id).await?;
        // Assigning a new case means someone is on it.
        let status = if before.status == CaseStatus::New && assignee.is_some() {
            CaseStatus::Open
        } else {
            before.status
        };
        q(
            "UPDATE cases SET assignee = $1, team = $2, status = $3, updated_at = $4 WHERE id = $5"
                .to_string(),
        )
        .bind(assignee.clone())
        .bind(team.clone())
        .bind(status.as_str())
        .bind(ms(now))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("assign", e))?;
        insert_event(
            &mut tx,
            Some(id),
            actor,
            "case.assigned",
            Some(serde_json::json!({"assignee": before.assignee, "team": before.team, "status": before.status})),
            Some(serde_json::json!({"assignee": assignee, "team": team, "status": status})),
            now,
        )
        .await?;
        let case = self.fetch_case(&mut tx, id).await?;
        commit(tx).await?;
        Ok(case)
    }

    async fn set_status(
        &self,
        id: CaseId,
        status: CaseStatus,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Case> {
        let id = id.0;
        let mut tx = self.write_tx().await?;
        let before = self.fetch_case(&mut tx, id).await?;
        let status = before.status.transition(status)?;
        let resolved_at = match status {
            CaseStatus::Resolved => Some(ms(now)),
            CaseStatus::Closed => before.resolved_at.map(ms).or(Some(ms(now))),
            _ => None,
        };
        q(
            "UPDATE cases SET status = $1, resolved_at = $2, updated_at = $3 WHERE id = $4"
                .to_string(),
        )
        .bind(status.as_str())
        .bind(resolved_at)
        .bind(ms(now))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("set status", e))?;
        insert_event(
            &mut tx,
            Some(id),
            actor,
            "case.status_changed",
            Some(serde_json::json!({"status": before.status})),
            Some(serde_json::json!({"status": status})),
            now,
        )
        .await?;
        let case = self.fetch_case(&mut tx, id).await?;
        commit(tx).await?;
        Ok(case)
    }

    async fn add_note(
        &self,
        id: CaseId,
        body: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Note> {
        let id = id.0;
        let mut tx = self.write_tx().await?;
        self.fetch_case(&mut tx, id).await?;
        let row = q(
            "INSERT INTO notes (case_id, author, body, created_at) VALUES ($1, $2, $3, $4) \
                     RETURNING id, case_id, author, body, created_at"
                .to_string(),
        )
        .bind(id)
        .bind(actor.to_string())
        .bind(body.to_string())
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_error("add note", e))?;
        let note = rows::note(&row)?;
        insert_event(
            &mut tx,
            Some(id),
            actor,
            "note.added",
            None,
            Some(serde_json::json!({"note_id": note.id})),
            now,
        )
        .await?;
        commit(tx).await?;
        Ok(note)
    }

    async fn add_reply(
        &self,
        id: CaseId,
        reply: &NewReply,
        route: ReplyRoute,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Reply> {
        let mut tx = self.write_tx().await?;
        let saved = insert_reply(&mut tx, id, reply, &route, None, actor, now).await?;
        commit(tx).await?;
        Ok(saved)
    }

    async fn mark_reply_sent(
        &self,
        reply_id: ReplyId,
        via: DeliveredVia,
        message_id: Option<&str>,
        url: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Reply> {
        let mut tx = self.write_tx().await?;
        let sent = mark_sent_in(&mut tx, reply_id.0, via, message_id, url, actor, now).await?;
        commit(tx).await?;
        Ok(sent)
    }

    async fn record_external_replies(
        &self,
        replies: &[ExternalReply],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<CaseId>>> {
        let mut tx = self.write_tx().await?;
        let mut joined = Vec::with_capacity(replies.len());
        for r in replies {
            let Some(row) = q(
                "SELECT case_id FROM mentions WHERE source = $1 AND external_id = $2".to_string(),
            )
            .bind(r.source.as_str())
            .bind(r.in_reply_to.clone())
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error("find answered post", e))?
            else {
                joined.push(None);
                continue;
            };
            let Some(case_id) = col::<Option<i64>>(&row, "case_id")? else {
                joined.push(None);
                continue;
            };
            let sent_at = r.sent_at.min(now);
            let inserted = q(
                "INSERT INTO replies (case_id, visibility, body, status, author, \
                 created_at, sent_at, delivered_via, channel_message_id) \
                 VALUES ($1, 'public', $2, 'sent', $3, $4, $4, 'imported', $5) \
                 ON CONFLICT (case_id, channel_message_id) WHERE channel_message_id IS NOT NULL \
                 DO NOTHING RETURNING id"
                    .to_string(),
            )
            .bind(case_id)
            .bind(r.body.clone())
            .bind(r.author.clone())
            .bind(ms(sent_at))
            .bind(r.external_id.clone())
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error("store brand reply", e))?;
            if inserted.is_some() {
                answered(&mut tx, case_id, sent_at, now).await?;
            }
            joined.push(Some(CaseId(case_id)));
        }
        commit(tx).await?;
        Ok(joined)
    }

    async fn set_priorities(&self, priorities: &[(CaseId, Priority)]) -> Result<()> {
        if priorities.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        for (id, p) in priorities {
            q("UPDATE cases SET priority = $1, priority_breakdown = $2 WHERE id = $3".to_string())
                .bind(f64::from(p.score))
                .bind(rows::to_json(&p.breakdown)?)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error("store priority", e))?;
        }
        commit(tx).await
    }

    async fn create_token(
        &self,
        name: &str,
        token_hash: &str,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<()> {
        q(
            "INSERT INTO api_tokens (token_hash, name, role, created_at) VALUES ($1, $2, $3, $4)"
                .to_string(),
        )
        .bind(token_hash.to_string())
        .bind(name.to_string())
        .bind(role.as_str())
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(|e| db_error("create token", e))?;
        Ok(())
    }

    async fn token(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<TokenInfo>> {
        let row = q("SELECT id, name, role, last_used_at FROM api_tokens \
                     WHERE token_hash = $1 AND revoked_at IS NULL")
        .bind(token_hash.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error("read token", e))?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = rows::col(&row, "id")?;
        let name: String = rows::col(&row, "name")?;
        let role: String = rows::col(&row, "role")?;
        let role = Role::parse(&role)
            .ok_or_else(|| Error::internal(format!("unknown role {role} for token {name}")))?;
        // At most one write a minute per token: authentication stays a read.
        let last: Option<i64> = rows::col(&row, "last_used_at")?;
        if last.is_none_or(|t| ms(now) - t >= TOKEN_USE_RESOLUTION_MS) {
            let touched = q("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(ms(now))
                .bind(id)
                .execute(&self.pool)
                .await;
            // Bookkeeping only: a busy database must not refuse a valid token.
            if let Err(e) = touched {
                tracing::warn!(token = id, error = %e, "could not record token use");
            }
        }
        Ok(Some(TokenInfo { id, name, role }))
    }

    async fn tokens(&self) -> Result<Vec<TokenSummary>> {
        self.all(
            q(
                "SELECT id, name, role, created_at, last_used_at, revoked_at FROM api_tokens \
               ORDER BY id",
            ),
            rows::token_summary,
        )
        .await
    }

    async fn revoke_token(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        let done = q("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
            .bind(ms(now))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| db_error("revoke token", e))?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found(format!("token {id}")));
        }
        Ok(())
    }
}

/// Adds a reply routed as the application decided, in the caller's
/// transaction. Its visibility and length are checked against the channel
/// it leaves through: `channel` when the caller names it, else the kind of
/// the source it is queued for, else the case's own source.
pub(crate) async fn insert_reply(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: CaseId,
    reply: &NewReply,
    route: &ReplyRoute,
    channel: Option<SourceKind>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Reply> {
    let id = id.0;
    let case = fetch_case_in(tx, id).await?;
    let kind = match (channel, route) {
        (Some(k), _) => k,
        (None, ReplyRoute::Queue(target)) => source_kind_in(tx, target.source_id)
            .await?
            .unwrap_or(case.source),
        _ => case.source,
    };
    let caps = kind.capabilities();
    let allowed = match reply.visibility {
        earshot_core::Visibility::Public => caps.public_reply,
        earshot_core::Visibility::Private => caps.private_reply,
    };
    if !allowed {
        return Err(Error::new(
            ErrorCode::InvalidField,
            format!(
                "visibility: {} does not take {} replies",
                kind,
                reply.visibility.as_str()
            ),
        ));
    }
    if let Some(max) = caps.reply_max_chars {
        let len = reply.body.chars().count();
        if len > max as usize {
            return Err(Error::new(
                ErrorCode::ReplyTooLong,
                format!("body: is {len} characters; {} allows {max}", kind),
            ));
        }
    }
    let status = match route {
        ReplyRoute::Draft => ReplyStatus::Draft,
        ReplyRoute::PendingApproval => ReplyStatus::PendingApproval,
        ReplyRoute::Queue(_) => ReplyStatus::Queued,
        ReplyRoute::Manual => ReplyStatus::Manual,
    };
    let row = q(format!(
        "INSERT INTO replies (case_id, visibility, body, status, author, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {REPLY_COLUMNS}"
    ))
    .bind(id)
    .bind(reply.visibility.as_str())
    .bind(reply.body.clone())
    .bind(status.as_str())
    .bind(actor.to_string())
    .bind(ms(now))
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| db_error("add reply", e))?;
    let saved = rows::reply(&row)?;
    if let ReplyRoute::Queue(target) = route {
        queue_outbox(tx, &saved, target, now).await?;
    }
    if matches!(route, ReplyRoute::Queue(_) | ReplyRoute::Manual) {
        // An agent took the case up; the customer's clock runs on until
        // the reply is actually sent.
        q(
            "UPDATE cases SET status = CASE WHEN status = 'new' THEN 'open' ELSE status END, \
           updated_at = $1 WHERE id = $2"
                .to_string(),
        )
        .bind(ms(now))
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(|e| db_error("open case", e))?;
    }
    insert_event(
        tx,
        Some(id),
        actor,
        match route {
            ReplyRoute::Draft => "reply.drafted",
            ReplyRoute::PendingApproval => "reply.held",
            ReplyRoute::Queue(_) => "reply.queued",
            ReplyRoute::Manual => "reply.to_post_by_hand",
        },
        None,
        Some(
            serde_json::json!({"reply_id": saved.id, "visibility": reply.visibility,
            "status": status}),
        ),
        now,
    )
    .await?;
    Ok(saved)
}

/// Case `id`, read in the caller's transaction; 404 when unknown.
pub(crate) async fn fetch_case_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: i64,
) -> Result<Case> {
    let row = q(format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|e| db_error("read case", e))?
        .ok_or_else(|| Error::case_not_found(id))?;
    rows::case(&row)
}

/// The kind of source `id`, read in the caller's transaction; `None` when
/// there is no such source.
async fn source_kind_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: SourceId,
) -> Result<Option<SourceKind>> {
    let row = q("SELECT kind FROM sources WHERE id = $1")
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|e| db_error("read source kind", e))?;
    Ok(match row {
        Some(r) => SourceKind::parse(&col::<String>(&r, "kind")?),
        None => None,
    })
}

/// Queues a reply for its channel in the caller's transaction: the outbox
/// row carries the source, the idempotency key made for it, the customer's
/// handle and what the connector needs to thread the answer.
pub(crate) async fn queue_outbox(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    reply: &Reply,
    target: &OutboxTarget,
    now: DateTime<Utc>,
) -> Result<()> {
    // Named by the caller (a handoff's address, a new thread), or the
    // customer's latest post heard through this source: whom to answer and
    // how to thread it. A public reply answers the latest public post; a
    // private one the latest private one when there is one. A case with
    // none (its mentions came through the API) answers the case's author,
    // unthreaded.
    let heard = match &target.address {
        Some(_) => None,
        None => {
            let private = i64::from(reply.visibility == earshot_core::Visibility::Private);
            let same = q("SELECT author_handle, reply_ref FROM mentions \
                 WHERE case_id = $1 AND source_id = $2 AND private = $3 \
                 ORDER BY created_at DESC, id DESC LIMIT 1")
            .bind(reply.case_id.0)
            .bind(target.source_id.0)
            .bind(private)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|e| db_error("read answered mention", e))?;
            match same {
                Some(row) => Some(row),
                None => q("SELECT author_handle, reply_ref FROM mentions \
                     WHERE case_id = $1 AND source_id = $2 \
                     ORDER BY created_at DESC, id DESC LIMIT 1")
                .bind(reply.case_id.0)
                .bind(target.source_id.0)
                .fetch_optional(&mut **tx)
                .await
                .map_err(|e| db_error("read answered mention", e))?,
            }
        }
    };
    let (recipient, reply_ref) = match (&target.address, heard) {
        (Some(a), _) => (a.recipient.clone(), a.reply_ref.to_string()),
        (None, Some(row)) => (
            col::<String>(&row, "author_handle")?,
            col::<Option<String>>(&row, "reply_ref")?.unwrap_or_else(|| "{}".into()),
        ),
        (None, None) => {
            let case = q("SELECT author_handle FROM cases WHERE id = $1")
                .bind(reply.case_id.0)
                .fetch_one(&mut **tx)
                .await
                .map_err(|e| db_error("read case", e))?;
            (col::<String>(&case, "author_handle")?, "{}".into())
        }
    };
    q(
        "INSERT INTO outbox (reply_id, source_id, idempotency_key, visibility, body, recipient, \
         reply_ref, status, next_attempt_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $8, $8)"
            .to_string(),
    )
    .bind(reply.id.0)
    .bind(target.source_id.0)
    .bind(target.idempotency_key.clone())
    .bind(reply.visibility.as_str())
    .bind(reply.body.clone())
    .bind(recipient)
    .bind(reply_ref)
    .bind(ms(now))
    .execute(&mut **tx)
    .await
    .map_err(|e| db_error("queue reply", e))?;
    Ok(())
}

/// Marks a reply sent in the caller's transaction: by its channel (from
/// `queued` or `sending`) or by hand (from `manual` or `failed`), with the
/// post's id and link, the case's first response and last brand answer,
/// and the event. A reply already sent is refused (409).
pub(crate) async fn mark_sent_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    reply_id: i64,
    via: DeliveredVia,
    message_id: Option<&str>,
    url: Option<&str>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Reply> {
    let reply = reply_in(tx, reply_id).await?;
    let expected = match via {
        DeliveredVia::Channel => &[ReplyStatus::Queued, ReplyStatus::Sending][..],
        DeliveredVia::Hand => &[ReplyStatus::Manual, ReplyStatus::Failed][..],
        DeliveredVia::Imported => &[][..],
    };
    if !expected.contains(&reply.status) {
        return Err(Error::new(
            if reply.status == ReplyStatus::Sent {
                ErrorCode::Conflict
            } else {
                ErrorCode::InvalidTransition
            },
            format!(
                "reply {reply_id} is {}; it cannot be recorded as sent {}",
                reply.status.as_str(),
                match via {
                    DeliveredVia::Hand => "by hand",
                    _ => "by its channel",
                }
            ),
        ));
    }
    q(
        "UPDATE replies SET status = 'sent', sent_at = $1, delivered_via = $2, \
       channel_message_id = $3, channel_url = $4, error = NULL WHERE id = $5"
            .to_string(),
    )
    .bind(ms(now))
    .bind(via.as_str())
    .bind(message_id.map(str::to_owned))
    .bind(url.map(str::to_owned))
    .bind(reply_id)
    .execute(&mut **tx)
    .await
    .map_err(|e| db_error("mark reply sent", e))?;
    answered(tx, reply.case_id.0, now, now).await?;
    insert_event(
        tx,
        Some(reply.case_id.0),
        actor,
        match via {
            DeliveredVia::Hand => "reply.posted_by_hand",
            _ => "reply.sent",
        },
        Some(serde_json::json!({"reply_id": reply_id, "status": reply.status})),
        Some(serde_json::json!({"reply_id": reply_id, "status": "sent",
            "delivered_via": via, "channel_message_id": message_id, "channel_url": url})),
        now,
    )
    .await?;
    reply_in(tx, reply_id).await
}

/// The brand's answer reached the customer at `at`: the first response (if
/// none yet), the last brand answer, and a new case counts as taken up.
pub(crate) async fn answered(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    case_id: i64,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    q("UPDATE cases SET \
       first_response_at = CASE WHEN first_response_at IS NULL OR first_response_at > $1 \
         THEN $1 ELSE first_response_at END, \
       last_brand_at = CASE WHEN last_brand_at IS NULL OR last_brand_at < $1 \
         THEN $1 ELSE last_brand_at END, \
       status = CASE WHEN status = 'new' THEN 'open' ELSE status END, updated_at = $2 \
       WHERE id = $3"
        .to_string())
    .bind(ms(at))
    .bind(ms(now))
    .bind(case_id)
    .execute(&mut **tx)
    .await
    .map_err(|e| db_error("record answer", e))?;
    Ok(())
}

/// How often a token's last use is written.
const TOKEN_USE_RESOLUTION_MS: i64 = 60_000;

/// Reply `reply_id`, read in the caller's transaction; 404 when unknown.
pub(crate) async fn reply_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    reply_id: i64,
) -> Result<Reply> {
    q(format!("SELECT {REPLY_COLUMNS} FROM replies WHERE id = $1"))
        .bind(reply_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|e| db_error("read reply", e))?
        .as_ref()
        .map(rows::reply)
        .transpose()?
        .ok_or_else(|| Error::not_found(format!("reply {reply_id}")))
}
