//! The desk's storage: users, sessions, corrections and the inbox and
//! dashboard read models ([`earshot_core::accounts::Accounts`]), on the same
//! shared SQL as the core store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Any;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;

use earshot_core::accounts::{
    Accounts, Correction, CorrectionTask, Credentials, DashboardStats, DayVolume, InboxQuery,
    NewCorrection, NewUser, Session, User,
};
use earshot_core::analysis::Analysis;
use earshot_core::auth::Role;
use earshot_core::case::Case;
use earshot_core::error::{Error, ErrorCode, Result};
use earshot_core::mention::Mention;
use earshot_core::source::SourceKind;
use earshot_core::store::MAX_PAGE;

use crate::rows::{
    self, CASE_COLUMNS, MENTION_COLUMNS, col, commit, from_ms, insert_event, ms, opt_json_col, q,
    to_json,
};
use crate::search::fts5_query;
use crate::{Dialect, SqlStore, db_error};

const USER_COLUMNS: &str = "name, display_name, role, in_training, teams, created_at";

fn user(row: &AnyRow) -> Result<User> {
    let role: String = col(row, "role")?;
    let teams: String = col(row, "teams")?;
    Ok(User {
        name: col(row, "name")?,
        display_name: col(row, "display_name")?,
        role: Role::parse(&role)
            .ok_or_else(|| Error::internal(format!("unknown role {role:?} in users")))?,
        in_training: col::<i64>(row, "in_training")? != 0,
        teams: serde_json::from_str(&teams)
            .map_err(|e| Error::internal(format!("users.teams: {e}")))?,
        created_at: from_ms(col(row, "created_at")?),
    })
}

fn correction(row: &AnyRow) -> Result<Correction> {
    let task: String = col(row, "task")?;
    Ok(Correction {
        id: col(row, "id")?,
        mention_id: col(row, "mention_id")?,
        task: CorrectionTask::parse(&task)
            .ok_or_else(|| Error::internal(format!("unknown correction task {task:?}")))?,
        text: col(row, "text")?,
        label: col(row, "label")?,
        previous: col(row, "previous")?,
        original: opt_json_col(row, "original")?,
        actor: col(row, "actor")?,
        created_at: from_ms(col(row, "created_at")?),
    })
}

enum Bind {
    Text(String),
    Int(i64),
    Real(f64),
}

/// `WHERE` clauses with `$n` placeholders for both dialects.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Where {
    fn push(&mut self, clause: &str, value: Bind) {
        self.binds.push(value);
        self.clauses
            .push(clause.replace("{}", &format!("${}", self.binds.len())));
    }
    fn placeholder(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }
    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
    fn bind(
        self,
        mut query: Query<'static, Any, AnyArguments>,
    ) -> Query<'static, Any, AnyArguments> {
        for b in self.binds {
            query = match b {
                Bind::Text(s) => query.bind(s),
                Bind::Int(i) => query.bind(i),
                Bind::Real(f) => query.bind(f),
            };
        }
        query
    }
}

impl SqlStore {
    async fn rows(
        &self,
        query: Query<'static, Any, AnyArguments>,
        what: &str,
    ) -> Result<Vec<AnyRow>> {
        query
            .fetch_all(self.pool())
            .await
            .map_err(|e| db_error(what, e))
    }
}

#[async_trait]
impl Accounts for SqlStore {
    async fn create_user(
        &self,
        new: &NewUser,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<User> {
        let new = new.clone().validate()?;
        let teams = serde_json::to_string(&new.teams)
            .map_err(|e| Error::internal(format!("serialising teams: {e}")))?;
        let row = q(format!(
            "INSERT INTO users (name, display_name, role, password_hash, in_training, teams, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING \
             RETURNING {USER_COLUMNS}"
        ))
        .bind(new.name.clone())
        .bind(new.display_name.clone())
        .bind(new.role.as_str())
        .bind(password_hash.to_string())
        .bind(i64::from(new.in_training))
        .bind(teams)
        .bind(ms(now))
        .fetch_optional(self.pool())
        .await
        .map_err(|e| db_error("create user", e))?;
        match row {
            Some(row) => user(&row),
            None => Err(Error::new(
                ErrorCode::Conflict,
                format!("name: a user called {:?} already exists", new.name),
            )),
        }
    }

    async fn set_password(&self, name: &str, password_hash: &str) -> Result<()> {
        let done = q("UPDATE users SET password_hash = $1 WHERE name = $2")
            .bind(password_hash.to_string())
            .bind(name.to_string())
            .execute(self.pool())
            .await
            .map_err(|e| db_error("set password", e))?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found(format!("user {name}")));
        }
        // A new password ends every session opened with the old one.
        q("DELETE FROM sessions WHERE user_name = $1")
            .bind(name.to_string())
            .execute(self.pool())
            .await
            .map_err(|e| db_error("end sessions", e))?;
        Ok(())
    }

    async fn credentials(&self, name: &str) -> Result<Option<Credentials>> {
        let row = q(format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE name = $1"
        ))
        .bind(name.trim().to_lowercase())
        .fetch_optional(self.pool())
        .await
        .map_err(|e| db_error("read user", e))?;
        match row {
            Some(row) => Ok(Some(Credentials {
                user: user(&row)?,
                password_hash: col(&row, "password_hash")?,
            })),
            None => Ok(None),
        }
    }

    async fn users(&self) -> Result<Vec<User>> {
        self.rows(
            q(format!("SELECT {USER_COLUMNS} FROM users ORDER BY name")),
            "list users",
        )
        .await?
        .iter()
        .map(user)
        .collect()
    }

    async fn create_session(
        &self,
        id_hash: &str,
        user_name: &str,
        csrf_token: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        // Logging in is a good moment to forget sessions that ran out.
        q("DELETE FROM sessions WHERE expires_at < $1")
            .bind(ms(now))
            .execute(self.pool())
            .await
            .map_err(|e| db_error("expire sessions", e))?;
        q(
            "INSERT INTO sessions (id_hash, user_name, csrf_token, created_at, expires_at) \
           VALUES ($1, $2, $3, $4, $5)"
                .to_string(),
        )
        .bind(id_hash.to_string())
        .bind(user_name.to_string())
        .bind(csrf_token.to_string())
        .bind(ms(now))
        .bind(ms(expires_at))
        .execute(self.pool())
        .await
        .map_err(|e| db_error("create session", e))?;
        Ok(())
    }

    async fn session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
        let cols = USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let row = q(format!(
            "SELECT {cols}, s.csrf_token, s.expires_at FROM sessions s \
             JOIN users u ON u.name = s.user_name WHERE s.id_hash = $1 AND s.expires_at > $2"
        ))
        .bind(id_hash.to_string())
        .bind(ms(now))
        .fetch_optional(self.pool())
        .await
        .map_err(|e| db_error("read session", e))?;
        match row {
            Some(row) => Ok(Some(Session {
                user: user(&row)?,
                csrf_token: col(&row, "csrf_token")?,
                expires_at: from_ms(col(&row, "expires_at")?),
            })),
            None => Ok(None),
        }
    }

    async fn delete_session(&self, id_hash: &str) -> Result<()> {
        q("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash.to_string())
            .execute(self.pool())
            .await
            .map_err(|e| db_error("delete session", e))?;
        Ok(())
    }

    async fn add_correction(&self, c: &NewCorrection, now: DateTime<Utc>) -> Result<Correction> {
        let mention_id = c.mention_id;
        let mut tx = self.write_tx().await?;
        let row = q("SELECT text, analysis, case_id FROM mentions WHERE id = $1")
            .bind(mention_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error("read mention", e))?
            .ok_or_else(|| Error::not_found(format!("mention {mention_id}")))?;
        let text: String = col(&row, "text")?;
        let case_id: Option<i64> = col(&row, "case_id")?;
        let stored: Analysis = serde_json::from_str(&col::<String>(&row, "analysis")?)
            .map_err(|e| Error::internal(format!("mentions.analysis: {e}")))?;
        // Someone corrected it in between: the caller's view is stale.
        if stored != c.original {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!("mention {mention_id} was corrected meanwhile; reload and try again"),
            ));
        }
        let previous = c.task.label_of(&c.original);
        let a = &c.corrected;
        q(
            "UPDATE mentions SET analysis = $1, sentiment = $2, sentiment_score = $3, \
           category = $4 WHERE id = $5",
        )
        .bind(to_json(a)?)
        .bind(a.sentiment.as_str())
        .bind(f64::from(a.sentiment_score))
        .bind(a.top_category().map(str::to_string))
        .bind(mention_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("correct mention", e))?;
        let row = q(
            "INSERT INTO corrections (mention_id, case_id, task, text, label, previous, original, \
             actor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id, \
             mention_id, task, text, label, previous, original, actor, created_at"
                .to_string(),
        )
        .bind(mention_id)
        .bind(case_id)
        .bind(c.task.as_str())
        .bind(text)
        .bind(c.label.clone())
        .bind(previous.clone())
        .bind(to_json(&c.original)?)
        .bind(c.actor.clone())
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_error("add correction", e))?;
        let saved = correction(&row)?;
        if let Some(case_id) = case_id {
            let mut before = None;
            let mut after = None;
            if let Some(new) = c.case.as_ref().filter(|k| k.id == case_id) {
                let old = q("SELECT sentiment, category, priority FROM cases WHERE id = $1")
                    .bind(case_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| db_error("read case", e))?;
                before = Some(serde_json::json!({
                    "sentiment": col::<String>(&old, "sentiment")?,
                    "category": col::<Option<String>>(&old, "category")?,
                    "priority": col::<f64>(&old, "priority")?,
                }));
                q(
                    "UPDATE cases SET sentiment = $1, category = $2, priority = $3, \
                   priority_breakdown = $4, updated_at = $5 WHERE id = $6",
                )
                .bind(new.sentiment.as_str())
                .bind(new.category.clone())
                .bind(f64::from(new.priority.score))
                .bind(to_json(&new.priority.breakdown)?)
                .bind(ms(now))
                .bind(case_id)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error("update corrected case", e))?;
                after = Some(serde_json::json!({
                    "sentiment": new.sentiment,
                    "category": new.category,
                    "priority": new.priority.score,
                }));
            }
            let mut details = serde_json::json!({
                "mention_id": mention_id, "task": c.task, "from": previous, "to": c.label,
            });
            if let (Some(d), Some(after)) = (details.as_object_mut(), after) {
                d.insert("case".into(), after);
            }
            insert_event(
                &mut tx,
                Some(case_id),
                &c.actor,
                "analysis.corrected",
                before,
                Some(details),
                now,
            )
            .await?;
        }
        commit(tx).await?;
        Ok(saved)
    }

    async fn corrections(&self, locations: Option<&[String]>) -> Result<Vec<Correction>> {
        let filter = match locations {
            Some(l) => format!(
                " WHERE {}",
                rows::at_locations(
                    "(SELECT m.case_id FROM mentions m WHERE m.id = mention_id)",
                    1,
                    l.len()
                )
            ),
            None => String::new(),
        };
        let mut query = q(format!(
            "SELECT id, mention_id, task, text, label, previous, original, actor, \
             created_at FROM corrections{filter} ORDER BY id"
        ));
        for l in locations.unwrap_or_default() {
            query = query.bind(l.clone());
        }
        self.rows(query, "list corrections")
            .await?
            .iter()
            .map(correction)
            .collect()
    }

    async fn record_event(
        &self,
        case_id: i64,
        actor: &str,
        action: &str,
        details: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<()> {
        q(
            "INSERT INTO events (case_id, actor, action, before, after, at) \
           VALUES ($1, $2, $3, NULL, $4, $5)"
                .to_string(),
        )
        .bind(case_id)
        .bind(actor.to_string())
        .bind(action.to_string())
        .bind(details.to_string())
        .bind(ms(now))
        .execute(self.pool())
        .await
        .map_err(|e| db_error("record event", e))?;
        Ok(())
    }

    async fn inbox(&self, query: &InboxQuery) -> Result<Vec<Case>> {
        let mut w = Where::default();
        // Recovery outcomes belong to resolved cases: any status.
        let any_status = query.any_status || query.recovery.is_some();
        if let Some(outcome) = query.recovery {
            w.push(
                crate::recovery::OUTCOME_FILTER,
                Bind::Text(outcome.as_str().into()),
            );
        }
        if !any_status {
            // Spelled exactly as in the partial index `cases_inbox`.
            w.clauses
                .push("status IN ('new', 'open', 'pending')".to_string());
        }
        match query.assignee.as_deref() {
            Some("none") => w.clauses.push("assignee IS NULL".into()),
            Some(name) => w.push("assignee = {}", Bind::Text(name.into())),
            None => {}
        }
        if let Some(team) = &query.team {
            w.push("team = {}", Bind::Text(team.clone()));
        }
        if let Some(source) = query.source {
            w.push("source = {}", Bind::Text(source.as_str().into()));
        }
        if let Some(category) = &query.category {
            w.push("category = {}", Bind::Text(category.clone()));
        }
        if let Some(csat) = query.csat {
            w.clauses.push(csat.sql("id"));
        }
        if let Some(location) = &query.location {
            w.push("location = {}", Bind::Text(location.clone()));
        }
        if let Some(sentiment) = query.sentiment {
            w.push("sentiment = {}", Bind::Text(sentiment.as_str().into()));
        }
        if let Some(min) = query.min_priority {
            w.push("priority >= {}", Bind::Real(min.into()));
        }
        if let Some(max) = query.max_priority {
            w.push("priority < {}", Bind::Real(max.into()));
        }
        if let Some(from) = query.from {
            w.push("created_at >= {}", Bind::Int(ms(from)));
        }
        if let Some(to) = query.to {
            w.push("created_at < {}", Bind::Int(ms(to)));
        }
        if let Some(locations) = &query.locations {
            // A location manager's scope, in the query so pages stay full.
            if locations.is_empty() {
                w.clauses.push("1 = 0".into());
            } else {
                let at: Vec<String> = locations
                    .iter()
                    .map(|l| w.placeholder(Bind::Text(l.clone())))
                    .collect();
                w.clauses.push(format!("location IN ({})", at.join(", ")));
            }
        }
        if query.sla_breaching {
            // As the SLA ticker last judged it: a target missed or in its
            // warning window, and the customer's latest message unanswered.
            w.clauses.push(
                "awaiting_customer = 0 AND id IN (SELECT case_id FROM case_sla \
                 WHERE state IN ('warning', 'missed'))"
                    .into(),
            );
        }
        if let Some(text) = query.q.as_deref().filter(|t| !t.trim().is_empty()) {
            match self.dialect() {
                Dialect::Sqlite => match fts5_query(text) {
                    Some(expr) => w.push(
                        "id IN (SELECT case_id FROM mentions WHERE id IN \
                         (SELECT rowid FROM mentions_fts WHERE mentions_fts MATCH {}))",
                        Bind::Text(expr),
                    ),
                    None => return Ok(Vec::new()),
                },
                Dialect::Postgres => w.push(
                    "id IN (SELECT case_id FROM mentions \
                     WHERE tsv @@ websearch_to_tsquery('simple', {}))",
                    Bind::Text(text.to_string()),
                ),
            }
        }
        let limit = w.placeholder(Bind::Int(query.limit.clamp(1, MAX_PAGE).into()));
        let offset = w.placeholder(Bind::Int(query.offset.into()));
        // SQLite's planner without statistics prefers the assignee or status
        // index and sorts the whole queue; walking the partial queue index in
        // order stops after one page (see docs/PERFORMANCE.md, "Desk").
        // Text search keeps the planner's choice: FTS narrows first.
        let hint = if self.dialect() == Dialect::Sqlite && !any_status && query.q.is_none() {
            " INDEXED BY cases_inbox"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM cases{hint}{} ORDER BY awaiting_customer ASC, \
             priority DESC, created_at ASC, id ASC LIMIT {limit} OFFSET {offset}",
            w.sql()
        );
        self.rows(w.bind(q(sql)), "inbox")
            .await?
            .iter()
            .map(rows::case)
            .collect()
    }

    async fn author_history(
        &self,
        source: SourceKind,
        handle: &str,
        limit: u32,
    ) -> Result<(Vec<Mention>, Vec<Case>)> {
        let limit = i64::from(limit.clamp(1, MAX_PAGE));
        let mentions = self
            .rows(
                q(format!(
                    "SELECT {MENTION_COLUMNS} FROM mentions m WHERE m.source = $1 \
                     AND m.author_handle = $2 ORDER BY m.created_at DESC, m.id DESC LIMIT $3"
                ))
                .bind(source.as_str())
                .bind(handle.to_string())
                .bind(limit),
                "author mentions",
            )
            .await?
            .iter()
            .map(rows::mention)
            .collect::<Result<Vec<_>>>()?;
        let author_key = format!("{source}:author:{}", handle.to_lowercase());
        let cases = self
            .rows(
                q(format!(
                    "SELECT {CASE_COLUMNS} FROM cases WHERE author_key = $1 \
                     ORDER BY created_at DESC, id DESC LIMIT $2"
                ))
                .bind(author_key)
                .bind(limit),
                "author cases",
            )
            .await?
            .iter()
            .map(rows::case)
            .collect::<Result<Vec<_>>>()?;
        Ok((mentions, cases))
    }

    async fn recent_reply_bodies(&self, limit: u32) -> Result<Vec<String>> {
        self.rows(
            q("SELECT body FROM replies WHERE sent_at IS NOT NULL \
               ORDER BY sent_at DESC, id DESC LIMIT $1"
                .to_string())
            .bind(i64::from(limit.clamp(1, MAX_PAGE))),
            "recent replies",
        )
        .await?
        .iter()
        .map(|r| col::<String>(r, "body"))
        .collect()
    }

    async fn dashboard(&self, since: DateTime<Utc>) -> Result<DashboardStats> {
        const DAY_MS: i64 = 86_400_000;
        let mut stats = DashboardStats::default();

        let rows = self
            .rows(
                q(
                    "SELECT created_at / 86400000 AS d, sentiment, COUNT(*) AS n FROM mentions \
                   WHERE created_at >= $1 GROUP BY created_at / 86400000, sentiment ORDER BY d"
                        .to_string(),
                )
                .bind(ms(since)),
                "volume",
            )
            .await?;
        for row in &rows {
            let day: i64 = col(row, "d")?;
            let label = from_ms(day * DAY_MS).format("%Y-%m-%d").to_string();
            if stats.volume.last().map(|v| &v.day) != Some(&label) {
                stats.volume.push(DayVolume {
                    day: label,
                    ..DayVolume::default()
                });
            }
            let n: i64 = col(row, "n")?;
            if let Some(bucket) = stats.volume.last_mut() {
                match col::<String>(row, "sentiment")?.as_str() {
                    "negative" => bucket.negative += n,
                    "positive" => bucket.positive += n,
                    _ => bucket.neutral += n,
                }
            }
        }

        let rows = self
            .rows(
                q("SELECT CAST(CASE WHEN priority < 25 THEN 0 WHEN priority < 50 THEN 1 \
                   WHEN priority < 75 THEN 2 ELSE 3 END AS BIGINT) AS band, COUNT(*) AS n FROM cases \
                   WHERE status IN ('new', 'open', 'pending') AND tags NOT LIKE '%\"thank-you\"%' \
                   GROUP BY 1"
                    .to_string()),
                "open by priority",
            )
            .await?;
        for row in &rows {
            let band: i64 = col(row, "band")?;
            if let Some(slot) = stats.open_by_priority.get_mut(band.clamp(0, 3) as usize) {
                *slot = col(row, "n")?;
            }
        }

        // Measured from the customer's post (the case's start) to the
        // brand's first answer that actually reached them.
        let rows = self
            .rows(
                q(
                    "SELECT first_response_at - created_at AS fr, resolved_at - created_at AS res \
                   FROM cases WHERE created_at >= $1 \
                   AND (first_response_at IS NOT NULL OR resolved_at IS NOT NULL) \
                   AND tags NOT LIKE '%\"thank-you\"%'"
                        .to_string(),
                )
                .bind(ms(since)),
                "response times",
            )
            .await?;
        for row in &rows {
            if let Some(fr) = col::<Option<i64>>(row, "fr")? {
                stats
                    .first_response_minutes
                    .push(fr.max(0) as f64 / 60_000.0);
            }
            if let Some(res) = col::<Option<i64>>(row, "res")? {
                stats.resolution_minutes.push(res.max(0) as f64 / 60_000.0);
            }
        }
        Ok(stats)
    }
}
