//! Advocates and the thank-you queue on both dialects: the counts the rank
//! is computed from, the queue's candidates, the decisions (`thanks`) and
//! the small case a thank-you is sent on.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;

use earshot_core::advocates::{
    AdvocateFilter, AdvocateStats, AdvocateStore, NewThanks, THANK_YOU_TAG, ThanksDecision,
    ThanksRecord,
};
use earshot_core::case::{Case, subject_from};
use earshot_core::error::{Error, ErrorCode, Result};
use earshot_core::ids::{CaseId, MentionId, ReplyId};
use earshot_core::mention::Mention;
use earshot_core::reply::ReplyStatus;
use earshot_core::source::SourceKind;
use earshot_core::store::MAX_PAGE;

use crate::db_error;
use crate::rows::{
    self, Bind, CASE_COLUMNS, MENTION_COLUMNS, bind_all, col, commit, insert_event, ms, opt_time,
    q, time, to_json,
};
use crate::sql::SqlStore;

const THANKS_COLUMNS: &str = "t.mention_id, t.decision, t.actor, t.body, t.overridden, t.reasons, \
    t.case_id, t.reply_id, t.source, t.handle, t.at, r.status AS reply_status";
const THANKS_FROM: &str = "thanks t LEFT JOIN replies r ON r.id = t.reply_id";

fn thanks_row(row: &AnyRow) -> Result<ThanksRecord> {
    let decision: String = col(row, "decision")?;
    let source: String = col(row, "source")?;
    let reasons: String = col(row, "reasons")?;
    let reply_status: Option<String> = col(row, "reply_status")?;
    Ok(ThanksRecord {
        mention_id: MentionId(col(row, "mention_id")?),
        decision: ThanksDecision::parse(&decision)
            .ok_or_else(|| Error::internal(format!("stored thanks decision {decision:?}")))?,
        actor: col(row, "actor")?,
        at: time(row, "at")?,
        text: col(row, "body")?,
        overridden: col::<i64>(row, "overridden")? != 0,
        reasons: serde_json::from_str(&reasons)
            .map_err(|e| Error::internal(format!("column reasons: {e}")))?,
        case_id: col::<Option<i64>>(row, "case_id")?.map(CaseId),
        reply_id: col::<Option<i64>>(row, "reply_id")?.map(ReplyId),
        reply_status: match reply_status {
            Some(s) => Some(
                ReplyStatus::parse(&s)
                    .ok_or_else(|| Error::internal(format!("stored reply status {s:?}")))?,
            ),
            None => None,
        },
        source: SourceKind::parse(&source)
            .ok_or_else(|| Error::internal(format!("stored source {source:?}")))?,
        handle: col(row, "handle")?,
    })
}

fn stats_row(row: &AnyRow) -> Result<AdvocateStats> {
    let source: String = col(row, "source")?;
    Ok(AdvocateStats {
        source: SourceKind::parse(&source)
            .ok_or_else(|| Error::internal(format!("stored source {source:?}")))?,
        handle: col(row, "handle")?,
        display_name: col(row, "display_name")?,
        followers: col(row, "followers")?,
        positive_mentions: col(row, "positive_mentions")?,
        positive: col(row, "positive")?,
        total: col(row, "total")?,
        mean_sentiment: col::<Option<f64>>(row, "mean_sentiment")?.unwrap_or(0.0),
        last_mention_id: MentionId(col(row, "last_mention_id")?),
        last_seen: time(row, "last_seen")?,
        last_positive_at: opt_time(row, "last_positive")?,
        thanked: col(row, "thanked")?,
    })
}

fn already_decided(record: &ThanksRecord) -> Error {
    Error::new(
        ErrorCode::Conflict,
        format!(
            "mention {} was already {} by {}; nothing is recorded twice",
            record.mention_id,
            record.decision.as_str(),
            record.actor
        ),
    )
}

impl SqlStore {
    async fn thanks_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        mention: i64,
    ) -> Result<Option<ThanksRecord>> {
        q(format!(
            "SELECT {THANKS_COLUMNS} FROM {THANKS_FROM} WHERE t.mention_id = $1"
        ))
        .bind(mention)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|e| db_error("read thanks", e))?
        .as_ref()
        .map(thanks_row)
        .transpose()
    }

    async fn mention_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        mention: i64,
    ) -> Result<Mention> {
        let row = q(format!(
            "SELECT {MENTION_COLUMNS} FROM mentions m WHERE m.id = $1"
        ))
        .bind(mention)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|e| db_error("read mention", e))?
        .ok_or_else(|| Error::not_found(format!("mention {mention}")))?;
        rows::mention(&row)
    }
}

#[async_trait]
impl AdvocateStore for SqlStore {
    async fn advocate_stats(&self, filter: &AdvocateFilter) -> Result<Vec<AdvocateStats>> {
        let mut binds: Vec<Bind> = Vec::new();
        let mut join = String::new();
        if let Some(since) = filter.since {
            binds.push(Bind::Int(ms(since)));
            join = format!(" AND m.created_at >= ${}", binds.len());
        }
        let mut clauses: Vec<String> = Vec::new();
        if let Some(source) = filter.source {
            binds.push(Bind::Text(source.as_str().into()));
            clauses.push(format!("a.source = ${}", binds.len()));
        }
        if let Some(handles) = &filter.handles {
            if handles.is_empty() {
                clauses.push("1 = 0".into());
            } else {
                let first = binds.len() + 1;
                let list: Vec<String> = (first..first + handles.len())
                    .map(|n| format!("${n}"))
                    .collect();
                clauses.push(format!("a.handle IN ({})", list.join(", ")));
                binds.extend(
                    handles
                        .iter()
                        .map(|h| Bind::Text(h.trim_start_matches('@').to_lowercase())),
                );
            }
        }
        if let Some(locations) = &filter.locations {
            clauses.push(rows::at_locations(
                "(SELECT m3.case_id FROM mentions m3 WHERE m3.id = a.last_mention_id)",
                binds.len() + 1,
                locations.len(),
            ));
            binds.extend(locations.iter().cloned().map(Bind::Text));
        }
        let positive = "CASE WHEN m.sentiment = 'positive' THEN 1 ELSE 0 END";
        let having = if filter.since.is_some() {
            format!(" HAVING SUM({positive}) > 0")
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT a.source, a.handle, a.followers, a.positive_mentions, a.last_mention_id, \
             a.last_seen, COUNT(m.id) AS total, \
             CAST(COALESCE(SUM({positive}), 0) AS BIGINT) AS positive, \
             MAX(CASE WHEN m.sentiment = 'positive' THEN m.created_at END) AS last_positive, \
             AVG(m.sentiment_score) AS mean_sentiment, \
             (SELECT COUNT(*) FROM thanks t WHERE t.source = a.source AND t.handle = a.handle \
              AND t.decision = 'thanked') AS thanked, \
             (SELECT m2.author_name FROM mentions m2 WHERE m2.id = a.last_mention_id) AS display_name \
             FROM advocates a LEFT JOIN mentions m ON m.source = a.source \
             AND lower(m.author_handle) = a.handle{join}{} \
             GROUP BY a.source, a.handle, a.followers, a.positive_mentions, a.last_mention_id, \
             a.last_seen{having}",
            if clauses.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", clauses.join(" AND "))
            }
        );
        bind_all(q(sql), binds)
            .fetch_all(self.pool())
            .await
            .map_err(|e| db_error("advocate stats", e))?
            .iter()
            .map(stats_row)
            .collect()
    }

    async fn thanks_candidates(&self, since: DateTime<Utc>, limit: u32) -> Result<Vec<Mention>> {
        q(format!(
            "SELECT {MENTION_COLUMNS} FROM mentions m WHERE m.sentiment = 'positive' \
             AND m.case_id IS NULL AND m.private = 0 AND m.created_at >= $1 \
             AND NOT EXISTS (SELECT 1 FROM thanks t WHERE t.mention_id = m.id) \
             AND lower(m.author_handle) NOT IN \
                 (SELECT handle FROM author_lists WHERE list IN ('brand', 'blocked')) \
             ORDER BY m.created_at DESC, m.id DESC LIMIT $2"
        ))
        .bind(ms(since))
        .bind(i64::from(limit.clamp(1, MAX_PAGE * 4)))
        .fetch_all(self.pool())
        .await
        .map_err(|e| db_error("thanks queue", e))?
        .iter()
        .map(rows::mention)
        .collect()
    }

    async fn mention_by_id(&self, id: MentionId) -> Result<Option<Mention>> {
        q(format!(
            "SELECT {MENTION_COLUMNS} FROM mentions m WHERE m.id = $1"
        ))
        .bind(id.0)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| db_error("read mention", e))?
        .as_ref()
        .map(rows::mention)
        .transpose()
    }

    async fn on_author_list(&self, list: &str, handle: &str) -> Result<bool> {
        Ok(
            q("SELECT 1 AS one FROM author_lists WHERE list = $1 AND handle = $2".to_string())
                .bind(list.to_string())
                .bind(handle.trim_start_matches('@').to_lowercase())
                .fetch_optional(self.pool())
                .await
                .map_err(|e| db_error("read author list", e))?
                .is_some(),
        )
    }

    async fn thanks_for(&self, mention: MentionId) -> Result<Option<ThanksRecord>> {
        q(format!(
            "SELECT {THANKS_COLUMNS} FROM {THANKS_FROM} WHERE t.mention_id = $1"
        ))
        .bind(mention.0)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| db_error("read thanks", e))?
        .as_ref()
        .map(thanks_row)
        .transpose()
    }

    async fn skip_thanks(
        &self,
        mention: MentionId,
        actor: &str,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<ThanksRecord> {
        let mut tx = self.write_tx().await?;
        let m = self.mention_in(&mut tx, mention.0).await?;
        if let Some(done) = self.thanks_in(&mut tx, mention.0).await? {
            return Err(already_decided(&done));
        }
        q(
            "INSERT INTO thanks (mention_id, decision, actor, body, source, handle, at) \
           VALUES ($1, $2, $3, $4, $5, $6, $7)"
                .to_string(),
        )
        .bind(mention.0)
        .bind(ThanksDecision::Skipped.as_str())
        .bind(actor.to_string())
        .bind(text.to_string())
        .bind(m.mention.source.as_str())
        .bind(m.mention.author.handle.to_lowercase())
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("record skip", e))?;
        let saved = self
            .thanks_in(&mut tx, mention.0)
            .await?
            .ok_or_else(|| Error::internal("the skip just recorded is gone"))?;
        commit(tx).await?;
        Ok(saved)
    }

    async fn open_thanks_case(&self, t: &NewThanks<'_>) -> Result<CaseId> {
        let mut tx = self.write_tx().await?;
        let m = self.mention_in(&mut tx, t.mention_id.0).await?;
        if let Some(done) = self.thanks_in(&mut tx, t.mention_id.0).await? {
            return Err(already_decided(&done));
        }
        if let Some(case) = m.case_id {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!(
                    "mention {} is in case {case}; answer it there",
                    t.mention_id
                ),
            ));
        }
        let n = &m.mention;
        // The customer's clock: when they posted (never later than we heard it).
        let posted = ms(n.posted_at(m.received_at));
        let row = q(format!(
            "INSERT INTO cases (status, source, conversation_key, author_key, author_handle, \
             subject, sentiment, category, priority, priority_breakdown, tags, mention_count, \
             created_at, updated_at, last_customer_at) \
             VALUES ('open', $1, $2, $3, $4, $5, $6, NULL, 0, '[]', $7, 1, $8, $9, $8) \
             RETURNING {CASE_COLUMNS}"
        ))
        .bind(n.source.as_str())
        .bind(n.conversation_key())
        .bind(n.author_key())
        .bind(n.author.handle.clone())
        .bind(subject_from(&n.text))
        .bind(m.analysis.sentiment.as_str())
        .bind(to_json(&[THANK_YOU_TAG])?)
        .bind(posted)
        .bind(ms(t.now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_error("open thank-you case", e))?;
        let case = rows::case(&row)?;
        q("UPDATE mentions SET case_id = $1 WHERE id = $2".to_string())
            .bind(case.id.0)
            .bind(t.mention_id.0)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("link mention", e))?;
        q(
            "INSERT INTO thanks (mention_id, decision, actor, body, overridden, reasons, case_id, \
           source, handle, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                .to_string(),
        )
        .bind(t.mention_id.0)
        .bind(ThanksDecision::Thanked.as_str())
        .bind(t.actor.to_string())
        .bind(t.text.to_string())
        .bind(i64::from(t.overridden))
        .bind(to_json(&t.reasons)?)
        .bind(case.id.0)
        .bind(n.source.as_str())
        .bind(n.author.handle.to_lowercase())
        .bind(ms(t.now))
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("record thanks", e))?;
        insert_event(
            &mut tx,
            Some(case.id.0),
            t.actor,
            "case.opened_for_thanks",
            None,
            Some(serde_json::json!({
                "mention_id": t.mention_id, "tags": [THANK_YOU_TAG],
                "personalisation_overridden": t.overridden, "reasons": t.reasons
            })),
            t.now,
        )
        .await?;
        commit(tx).await?;
        Ok(case.id)
    }

    async fn attach_thanks_reply(&self, mention: MentionId, reply: ReplyId) -> Result<()> {
        q("UPDATE thanks SET reply_id = $1 WHERE mention_id = $2".to_string())
            .bind(reply.0)
            .bind(mention.0)
            .execute(self.pool())
            .await
            .map_err(|e| db_error("link thanks reply", e))?;
        Ok(())
    }

    async fn abandon_thanks(&self, mention: MentionId) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let Some(t) = self.thanks_in(&mut tx, mention.0).await? else {
            return Ok(());
        };
        let Some(case) = t.case_id else {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!("mention {mention} was skipped, not thanked"),
            ));
        };
        let replies: i64 = col(
            &q("SELECT COUNT(*) AS n FROM replies WHERE case_id = $1".to_string())
                .bind(case.0)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| db_error("count replies", e))?,
            "n",
        )?;
        if replies > 0 || t.reply_id.is_some() {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!("the thank-you on case {case} has a reply; it stays recorded"),
            ));
        }
        for (sql, id, what) in [
            (
                "UPDATE mentions SET case_id = NULL WHERE id = $1",
                mention.0,
                "unlink mention",
            ),
            (
                "DELETE FROM thanks WHERE mention_id = $1",
                mention.0,
                "drop thanks",
            ),
            (
                "DELETE FROM events WHERE case_id = $1",
                case.0,
                "drop case events",
            ),
            (
                "DELETE FROM cases WHERE id = $1",
                case.0,
                "drop thank-you case",
            ),
        ] {
            q(sql.to_string())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error(what, e))?;
        }
        commit(tx).await
    }

    async fn recent_thanks(&self, limit: u32) -> Result<Vec<ThanksRecord>> {
        q(format!(
            "SELECT {THANKS_COLUMNS} FROM {THANKS_FROM} WHERE t.decision = 'thanked' \
             ORDER BY t.at DESC, t.mention_id DESC LIMIT $1"
        ))
        .bind(i64::from(limit.clamp(1, MAX_PAGE)))
        .fetch_all(self.pool())
        .await
        .map_err(|e| db_error("read thanks", e))?
        .iter()
        .map(thanks_row)
        .collect()
    }

    async fn thanks_of(&self, source: SourceKind, handle: &str) -> Result<Vec<ThanksRecord>> {
        q(format!(
            "SELECT {THANKS_COLUMNS} FROM {THANKS_FROM} WHERE t.source = $1 AND t.handle = $2 \
             ORDER BY t.at DESC, t.mention_id DESC"
        ))
        .bind(source.as_str())
        .bind(handle.trim_start_matches('@').to_lowercase())
        .fetch_all(self.pool())
        .await
        .map_err(|e| db_error("read thanks", e))?
        .iter()
        .map(thanks_row)
        .collect()
    }

    async fn author_activity(
        &self,
        source: SourceKind,
        handle: &str,
        limit: u32,
    ) -> Result<(Vec<Mention>, Vec<Case>)> {
        let handle = handle.trim_start_matches('@').to_lowercase();
        let limit = i64::from(limit.clamp(1, MAX_PAGE));
        let mentions = q(format!(
            "SELECT {MENTION_COLUMNS} FROM mentions m WHERE m.source = $1 \
             AND lower(m.author_handle) = $2 ORDER BY m.created_at DESC, m.id DESC LIMIT $3"
        ))
        .bind(source.as_str())
        .bind(handle.clone())
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(|e| db_error("author mentions", e))?
        .iter()
        .map(rows::mention)
        .collect::<Result<Vec<_>>>()?;
        let cases = q(format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE author_key = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(format!("{source}:author:{handle}"))
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(|e| db_error("author cases", e))?
        .iter()
        .map(rows::case)
        .collect::<Result<Vec<_>>>()?;
        Ok((mentions, cases))
    }
}
