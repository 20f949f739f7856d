//! Batch ingestion: a handful of set-based statements per batch instead of
//! several round trips per mention.
//!
//! 1. Look up, in bulk, which mentions are already stored and which
//!    conversations already have a case that is not closed.
//! 2. Plan every mention in memory, in order, with `earshot_core::intake::plan`
//!    (so a batch behaves exactly like the same mentions sent one by one).
//! 3. Write: new cases, mentions (with their case ids), events, updates of
//!    the existing cases touched, advocates — multi-row statements throughout.
//!
//! SQLite runs this under `BEGIN IMMEDIATE`, so nothing can change between
//! step 1 and step 3. On PostgreSQL the batch first takes a transaction-scoped
//! advisory lock per conversation and author key, so two servers cannot both
//! see no open case for one conversation and both open one. A concurrent
//! writer may still store the same mention under other keys meanwhile; the
//! insert then reports fewer rows than planned and the caller retries the
//! batch (`Retry`), which then sees it as a duplicate.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use earshot_core::analysis::Sentiment;
use earshot_core::case::{CaseStatus, subject_from};
use earshot_core::error::{Error, Result};
use earshot_core::ids::{CaseId, MentionId};
use earshot_core::intake::{self, CasePlan, ExistingCase};
use earshot_core::mention::{NewMention, fingerprint};
use earshot_core::store::{AnalyzedMention, CaseAction, CaseLink, IngestOutcome};

use crate::rows::{Bind, bind_all, col, ms, q, to_json};
use crate::{Dialect, db_error};

/// Rows per multi-row statement, well under both databases' parameter limits.
const ROWS_PER_STATEMENT: usize = 200;

/// Raised when a concurrent writer stored a planned mention first.
#[derive(Debug)]
pub(crate) struct Retry;

pub(crate) enum Outcome {
    Done(Vec<IngestOutcome>),
    Retry(Retry),
}

/// The n-th bind parameter (1-based) of a statement whose parameters are
/// all bound in order. SQLite gets anonymous `?`: looking up `$N` names costs
/// SQLite a walk of every name per parameter, quadratic in a multi-row insert.
fn param(dialect: Dialect, n: usize) -> String {
    match dialect {
        Dialect::Sqlite => "?".to_string(),
        Dialect::Postgres => format!("${n}"),
    }
}

/// `($1, $2), ($3, $4)…` for `rows` rows of `width` values.
fn placeholders(dialect: Dialect, rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=width).map(|c| param(dialect, r * width + c)).collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn in_list(dialect: Dialect, start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| param(dialect, i))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn fetch(
    tx: &mut Transaction<'static, Any>,
    sql: String,
    values: Vec<Bind>,
    what: &str,
) -> Result<Vec<AnyRow>> {
    bind_all(q(sql), values)
        .fetch_all(&mut **tx)
        .await
        .map_err(|e| db_error(what, e))
}

/// Where a planned mention's case comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Slot {
    Existing(i64),
    /// The n-th case opened by this batch.
    New(usize),
}

/// What this batch does to one case.
struct CaseChange {
    status_before: Option<CaseStatus>,
    status: CaseStatus,
    added: i64,
    sentiment: Sentiment,
    category: Option<String>,
    /// Index of the batch's most urgent mention for this case.
    top_priority: usize,
    /// The customer's earliest post in the case: the case starts there,
    /// whatever order the posts arrive in (an import need not be sorted).
    first_customer_at: DateTime<Utc>,
    last_customer_at: DateTime<Utc>,
}

/// A mention stored before this batch, with its case.
#[derive(Debug, Clone, Copy)]
struct Stored {
    id: i64,
    case_id: Option<i64>,
    status: Option<CaseStatus>,
}

enum Planned {
    Stored(Stored),
    /// Same key as an earlier record of this batch.
    Repeat(usize),
    New {
        slot: Option<(Slot, CaseAction, CaseStatus)>,
        advocate: bool,
    },
}

/// First key of the two-key advisory locks Earshot takes ("EARS"); the
/// two-key space is apart from the one-key space sqlx's migrator locks in.
const LOCK_NAMESPACE: i64 = 0x4541_5253;

/// A stable 32-bit lock id for a key (FNV-1a): every server, of any version,
/// must map a key to the same lock.
fn lock_id(key: &str) -> i64 {
    let hash = key.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    i64::from(hash as i32)
}

/// Takes PostgreSQL advisory locks on `keys` until the transaction ends, in
/// ascending id order across all chunks so two batches never deadlock.
async fn lock_keys(tx: &mut Transaction<'static, Any>, keys: &[String]) -> Result<()> {
    let mut ids: Vec<i64> = keys.iter().map(|k| lock_id(k)).collect();
    ids.sort_unstable();
    ids.dedup();
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let rows: Vec<String> = (1..=chunk.len())
            .map(|i| format!("(CAST(${i} AS integer))"))
            .collect();
        // PostgreSQL evaluates a volatile select list after ORDER BY, so
        // the locks are taken in this order.
        let sql = format!(
            "SELECT pg_advisory_xact_lock({LOCK_NAMESPACE}, k) FROM (VALUES {}) AS t(k) ORDER BY k",
            rows.join(", ")
        );
        let values: Vec<Bind> = chunk.iter().map(|&id| Bind::Int(id)).collect();
        // `execute`: the rows are `void`, which the Any driver cannot decode.
        bind_all(q(sql), values)
            .execute(&mut **tx)
            .await
            .map_err(|e| db_error("lock conversations", e))?;
    }
    Ok(())
}

pub(crate) async fn ingest(
    dialect: Dialect,
    tx: &mut Transaction<'static, Any>,
    batch: &[AnalyzedMention],
    now: DateTime<Utc>,
) -> Result<Outcome> {
    // Every conversation and author key the batch may open or join a case for.
    let mut keys: Vec<String> = batch
        .iter()
        .flat_map(|m| [m.mention.conversation_key(), m.mention.author_key()])
        .collect();
    keys.sort();
    keys.dedup();
    // 0. Serialise with other servers' batches on the same keys (SQLite's
    // BEGIN IMMEDIATE already serialises all writers).
    if dialect == Dialect::Postgres {
        lock_keys(tx, &keys).await?;
    }

    // 1a. Mentions already stored, looked up through the (source,
    // external_id) unique index, one source at a time.
    let mut stored: HashMap<(String, String), Stored> = HashMap::new();
    let mut by_source: HashMap<&'static str, Vec<String>> = HashMap::new();
    for m in batch {
        by_source
            .entry(m.mention.source.as_str())
            .or_default()
            .push(m.mention.external_id.clone());
    }
    for (source, ids) in by_source {
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT m.id, m.source, m.external_id, m.case_id, c.status FROM mentions m \
                 LEFT JOIN cases c ON c.id = m.case_id \
                 WHERE m.source = {} AND m.external_id IN ({})",
                param(dialect, 1),
                in_list(dialect, 2, chunk.len())
            );
            let mut values = vec![Bind::Text(source.into())];
            values.extend(chunk.iter().map(|id| Bind::Text(id.clone())));
            for row in fetch(tx, sql, values, "find stored mentions").await? {
                let status: Option<String> = col(&row, "status")?;
                stored.insert(
                    (col(&row, "source")?, col(&row, "external_id")?),
                    Stored {
                        id: col(&row, "id")?,
                        case_id: col(&row, "case_id")?,
                        status: status.as_deref().and_then(CaseStatus::parse),
                    },
                );
            }
        }
    }

    // 1b. Open conversations: by thread or author key, newest case wins.
    let mut by_conversation: HashMap<String, (Slot, CaseStatus)> = HashMap::new();
    let mut by_author: HashMap<String, (Slot, CaseStatus)> = HashMap::new();
    // Threads the brand opened in private (a direct message, an email)
    // are linked to their case: the customer's answers join it too. A
    // case's own keys, read next, win over a link.
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT t.conversation_key, c.id, c.status FROM case_threads t \
             JOIN cases c ON c.id = t.case_id \
             WHERE t.conversation_key IN ({}) AND c.status <> 'closed' ORDER BY c.id",
            in_list(dialect, 1, chunk.len())
        );
        let values = chunk.iter().map(|k| Bind::Text(k.clone())).collect();
        for row in fetch(tx, sql, values, "find linked threads").await? {
            let status: String = col(&row, "status")?;
            let status = CaseStatus::parse(&status)
                .ok_or_else(|| Error::internal(format!("unknown case status {status}")))?;
            by_conversation.insert(
                col(&row, "conversation_key")?,
                (Slot::Existing(col(&row, "id")?), status),
            );
        }
    }
    // One indexed lookup per key column (an OR across both would scan).
    for column in ["conversation_key", "author_key"] {
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT id, status, conversation_key, author_key FROM cases \
                 WHERE {column} IN ({}) AND status <> 'closed' ORDER BY id",
                in_list(dialect, 1, chunk.len())
            );
            let values = chunk.iter().map(|k| Bind::Text(k.clone())).collect();
            for row in fetch(tx, sql, values, "find open cases").await? {
                let id: i64 = col(&row, "id")?;
                let status: String = col(&row, "status")?;
                let status = CaseStatus::parse(&status)
                    .ok_or_else(|| Error::internal(format!("unknown case status {status}")))?;
                by_conversation
                    .insert(col(&row, "conversation_key")?, (Slot::Existing(id), status));
                by_author.insert(col(&row, "author_key")?, (Slot::Existing(id), status));
            }
        }
    }

    // 1c. Cross-posts: an open case holding a recent mention by the same
    // author (case-insensitive) with the same normalised text.
    let mut by_crosspost: HashMap<(String, String), (Slot, CaseStatus)> = HashMap::new();
    let crosspost_keys: Vec<(String, String)> = {
        let mut k: Vec<(String, String)> = batch
            .iter()
            .filter(|m| !m.historical)
            .filter_map(|m| crosspost_key(&m.mention))
            .collect();
        k.sort();
        k.dedup();
        k
    };
    let since = ms(now - CROSSPOST_WINDOW);
    for chunk in crosspost_keys.chunks(ROWS_PER_STATEMENT / 2) {
        let pairs: Vec<String> = (0..chunk.len())
            .map(|i| {
                format!(
                    "(lower(m.author_handle) = {} AND m.fingerprint = {})",
                    param(dialect, 2 + 2 * i),
                    param(dialect, 3 + 2 * i)
                )
            })
            .collect();
        let sql = format!(
            "SELECT m.author_handle, m.fingerprint, c.id, c.status FROM mentions m \
             JOIN cases c ON c.id = m.case_id \
             WHERE m.created_at >= {} AND c.status <> 'closed' AND ({}) ORDER BY c.id",
            param(dialect, 1),
            pairs.join(" OR ")
        );
        let mut values = vec![Bind::Int(since)];
        for (handle, fp) in chunk {
            values.extend([Bind::Text(handle.clone()), Bind::Text(fp.clone())]);
        }
        for row in fetch(tx, sql, values, "find cross-posts").await? {
            let handle: String = col(&row, "author_handle")?;
            let status: String = col(&row, "status")?;
            let status = CaseStatus::parse(&status)
                .ok_or_else(|| Error::internal(format!("unknown case status {status}")))?;
            by_crosspost.insert(
                (handle.to_lowercase(), col(&row, "fingerprint")?),
                (Slot::Existing(col(&row, "id")?), status),
            );
        }
    }

    // 2. Plan in order.
    let mut planned: Vec<Planned> = Vec::with_capacity(batch.len());
    let mut first_of_key: HashMap<(&str, &str), usize> = HashMap::new();
    let mut changes: HashMap<Slot, CaseChange> = HashMap::new();
    let mut new_cases: Vec<usize> = Vec::new(); // opening mention of each new case
    for (i, item) in batch.iter().enumerate() {
        let k = key(item);
        if let Some(&first) = first_of_key.get(&k) {
            planned.push(Planned::Repeat(first));
            continue;
        }
        first_of_key.insert(k, i);
        if let Some(&found) = stored.get(&(k.0.to_string(), k.1.to_string())) {
            planned.push(Planned::Stored(found));
            continue;
        }
        let m = &item.mention;
        let conversation = m.conversation_key();
        let author = m.author_key();
        let crosspost = crosspost_key(m);
        let existing = by_conversation
            .get(&conversation)
            .or_else(|| by_author.get(&author))
            .or_else(|| crosspost.as_ref().and_then(|k| by_crosspost.get(k)))
            .copied();
        let plan = if item.historical {
            CasePlan::StoreOnly
        } else {
            intake::plan(
                &item.analysis,
                existing.map(|(_, status)| ExistingCase { status }),
            )
        };
        let slot = match plan {
            CasePlan::Open => {
                let slot = Slot::New(new_cases.len());
                new_cases.push(i);
                changes.insert(
                    slot,
                    CaseChange {
                        status_before: None,
                        status: CaseStatus::New,
                        added: 1,
                        sentiment: item.analysis.sentiment,
                        category: item.analysis.top_category().map(str::to_string),
                        top_priority: i,
                        first_customer_at: m.posted_at(now),
                        last_customer_at: m.posted_at(now),
                    },
                );
                Some((slot, CaseAction::Opened, CaseStatus::New))
            }
            CasePlan::Join { status } => {
                // `plan` joins only when there is an existing case, which may
                // be one this batch opens.
                let Some((slot, before)) = existing else {
                    return Err(Error::internal("intake joined a case that does not exist"));
                };
                let before = Some(before);
                let change = changes.entry(slot).or_insert_with(|| CaseChange {
                    status_before: before,
                    status,
                    added: 0,
                    sentiment: item.analysis.sentiment,
                    category: None,
                    top_priority: i,
                    first_customer_at: m.posted_at(now),
                    last_customer_at: m.posted_at(now),
                });
                change.status = status;
                change.added += 1;
                change.sentiment = item.analysis.sentiment;
                if change.category.is_none() {
                    change.category = item.analysis.top_category().map(str::to_string);
                }
                if item.priority.score > batch[change.top_priority].priority.score {
                    change.top_priority = i;
                }
                change.first_customer_at = change.first_customer_at.min(m.posted_at(now));
                change.last_customer_at = change.last_customer_at.max(m.posted_at(now));
                Some((slot, CaseAction::Joined, status))
            }
            CasePlan::Advocate | CasePlan::StoreOnly => None,
        };
        if let Some((slot, _, status)) = slot {
            by_conversation.insert(conversation, (slot, status));
            by_author.insert(author, (slot, status));
            if let Some(k) = crosspost {
                by_crosspost.insert(k, (slot, status));
            }
        }
        planned.push(Planned::New {
            slot,
            advocate: plan == CasePlan::Advocate,
        });
    }

    // 3a. New cases, with everything the batch adds to them.
    let mut new_ids: Vec<i64> = vec![0; new_cases.len()];
    for (chunk_no, chunk) in new_cases.chunks(ROWS_PER_STATEMENT).enumerate() {
        let mut values = Vec::with_capacity(chunk.len() * 14);
        for (offset, &i) in chunk.iter().enumerate() {
            let n = chunk_no * ROWS_PER_STATEMENT + offset;
            let change = &changes[&Slot::New(n)];
            let m = &batch[i].mention;
            let top = &batch[change.top_priority].priority;
            values.extend([
                Bind::Text(change.status.as_str().into()),
                Bind::Text(m.source.as_str().into()),
                Bind::Text(m.conversation_key()),
                Bind::Text(m.author_key()),
                Bind::Text(m.author.handle.clone()),
                Bind::Text(subject_from(&m.text)),
                Bind::Text(change.sentiment.as_str().into()),
                Bind::OptText(change.category.clone()),
                Bind::Real(f64::from(top.score)),
                Bind::Text(to_json(&top.breakdown)?),
                Bind::Int(change.added),
                // The case starts when the customer posted, not when Earshot
                // read it: every SLA clock runs from here.
                Bind::Int(ms(change.first_customer_at)),
                Bind::Int(ms(now)),
                Bind::Int(ms(change.last_customer_at)),
            ]);
        }
        let sql = format!(
            "INSERT INTO cases (status, source, conversation_key, author_key, author_handle, \
             subject, sentiment, category, priority, priority_breakdown, mention_count, \
             created_at, updated_at, last_customer_at) VALUES {} RETURNING id, conversation_key",
            placeholders(dialect, chunk.len(), 14)
        );
        let rows = fetch(tx, sql, values, "open cases").await?;
        // Conversation keys of cases opened by one batch are distinct: a
        // second mention of the same conversation joins the first's case.
        let index: HashMap<String, i64> = rows
            .iter()
            .map(|r| Ok((col::<String>(r, "conversation_key")?, col::<i64>(r, "id")?)))
            .collect::<Result<_>>()?;
        for (offset, &i) in chunk.iter().enumerate() {
            let id = index
                .get(&batch[i].mention.conversation_key())
                .copied()
                .ok_or_else(|| Error::internal("a new case was not returned"))?;
            new_ids[chunk_no * ROWS_PER_STATEMENT + offset] = id;
        }
    }
    let case_id = |slot: Slot| match slot {
        Slot::Existing(id) => id,
        Slot::New(n) => new_ids[n],
    };

    // 3b. Mentions, already linked to their cases.
    let fresh: Vec<usize> = planned
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p, Planned::New { .. }))
        .map(|(i, _)| i)
        .collect();
    let mut mention_ids: HashMap<usize, i64> = HashMap::with_capacity(fresh.len());
    for chunk in fresh.chunks(ROWS_PER_STATEMENT) {
        let mut values = Vec::with_capacity(chunk.len() * 27);
        for &i in chunk {
            let item = &batch[i];
            let (m, a) = (&item.mention, &item.analysis);
            let linked = match &planned[i] {
                Planned::New {
                    slot: Some((slot, _, _)),
                    ..
                } => Some(case_id(*slot)),
                _ => None,
            };
            values.extend([
                Bind::Text(m.source.as_str().into()),
                Bind::Text(m.external_id.clone()),
                Bind::Text(m.author.handle.clone()),
                Bind::OptText(m.author.display_name.clone()),
                Bind::Int(clamp(m.author.followers)),
                Bind::Int(i64::from(m.author.verified)),
                Bind::OptText(m.author.profile_url.clone()),
                Bind::Text(m.text.clone()),
                Bind::OptText(m.url.clone()),
                Bind::OptText(m.language.clone().or_else(|| a.language.clone())),
                Bind::OptText(m.thread_id.clone()),
                Bind::OptText(m.parent_id.clone()),
                Bind::Int(clamp(m.metrics.likes)),
                Bind::Int(clamp(m.metrics.reposts)),
                Bind::Int(clamp(m.metrics.replies)),
                Bind::Int(ms(m.created_at)),
                Bind::Int(ms(now)),
                Bind::Text(a.sentiment.as_str().into()),
                Bind::Real(f64::from(a.sentiment_score)),
                Bind::Int(i64::from(a.complaint)),
                Bind::OptText(a.top_category().map(str::to_string)),
                Bind::Text(to_json(a)?),
                Bind::OptInt(linked),
                Bind::OptInt(m.origin.as_ref().map(|o| o.source_id.0)),
                Bind::OptText(
                    m.origin
                        .as_ref()
                        .map(|o| to_json(&o.reply_ref))
                        .transpose()?,
                ),
                Bind::OptText(fingerprint(&m.text)),
                Bind::Int(i64::from(m.origin.as_ref().is_some_and(|o| o.private))),
            ]);
        }
        let sql = format!(
            "INSERT INTO mentions (source, external_id, author_handle, author_name, \
             author_followers, author_verified, author_url, text, url, language, thread_id, \
             parent_id, likes, reposts, replies, created_at, received_at, sentiment, \
             sentiment_score, complaint, category, analysis, case_id, source_id, reply_ref, \
             fingerprint, private) VALUES {} \
             ON CONFLICT (source, external_id) DO NOTHING RETURNING id, source, external_id",
            placeholders(dialect, chunk.len(), 27)
        );
        let rows = fetch(tx, sql, values, "insert mentions").await?;
        if rows.len() != chunk.len() {
            return Ok(Outcome::Retry(Retry));
        }
        let index: HashMap<(String, String), i64> = rows
            .iter()
            .map(|r| Ok(((col(r, "source")?, col(r, "external_id")?), col(r, "id")?)))
            .collect::<Result<_>>()?;
        for &i in chunk {
            let k = key(&batch[i]);
            let id = index
                .get(&(k.0.to_string(), k.1.to_string()))
                .copied()
                .ok_or_else(|| Error::internal("an inserted mention was not returned"))?;
            mention_ids.insert(i, id);
        }
    }

    // 3c. Events: cases opened and reopened.
    let mut events: Vec<Bind> = Vec::new();
    let mut event_rows = 0;
    let mut push_event = |case: i64, action: &str, before: Option<String>, after: String| {
        events.extend([
            Bind::Int(case),
            Bind::Text("earshot".into()),
            Bind::Text(action.into()),
            Bind::OptText(before),
            Bind::OptText(Some(after)),
            Bind::Int(ms(now)),
        ]);
        event_rows += 1;
    };
    for (n, &i) in new_cases.iter().enumerate() {
        let item = &batch[i];
        let after = serde_json::json!({
            "status": "new",
            "priority": item.priority.score,
            "sentiment": item.analysis.sentiment,
        });
        push_event(new_ids[n], "case.opened", None, after.to_string());
    }
    // 3d. Existing cases: one update each.
    let mut touched: Vec<(&Slot, &CaseChange)> = changes
        .iter()
        .filter(|(slot, _)| matches!(slot, Slot::Existing(_)))
        .collect();
    touched.sort_by_key(|(slot, _)| case_id(**slot));
    for (slot, change) in touched {
        let id = case_id(*slot);
        let top = &batch[change.top_priority].priority;
        let sql = "UPDATE cases SET status = $1, sentiment = $2, \
             category = COALESCE(category, $3), \
             priority_breakdown = CASE WHEN priority < $4 THEN $5 ELSE priority_breakdown END, \
             priority = CASE WHEN priority < $4 THEN $4 ELSE priority END, \
             mention_count = mention_count + $6, updated_at = $7, \
             last_customer_at = CASE WHEN last_customer_at < $8 THEN $8 ELSE last_customer_at END, \
             created_at = CASE WHEN created_at > $10 THEN $10 ELSE created_at END, \
             resolved_at = CASE WHEN $1 = 'open' THEN NULL ELSE resolved_at END \
           WHERE id = $9";
        let values = vec![
            Bind::Text(change.status.as_str().into()),
            Bind::Text(change.sentiment.as_str().into()),
            Bind::OptText(change.category.clone()),
            Bind::Real(f64::from(top.score)),
            Bind::Text(to_json(&top.breakdown)?),
            Bind::Int(change.added),
            Bind::Int(ms(now)),
            Bind::Int(ms(change.last_customer_at)),
            Bind::Int(id),
            Bind::Int(ms(change.first_customer_at)),
        ];
        bind_all(sqlx::query(sql), values)
            .execute(&mut **tx)
            .await
            .map_err(|e| db_error("join case", e))?;
        if let Some(before) = change.status_before.filter(|b| *b != change.status) {
            push_event(
                id,
                "case.reopened",
                Some(serde_json::json!({ "status": before }).to_string()),
                serde_json::json!({ "status": change.status }).to_string(),
            );
        }
    }
    let mut values = events.into_iter();
    let mut left = event_rows;
    while left > 0 {
        let rows = left.min(ROWS_PER_STATEMENT);
        let chunk: Vec<Bind> = values.by_ref().take(rows * 6).collect();
        let sql = format!(
            "INSERT INTO events (case_id, actor, action, before, after, at) VALUES {}",
            placeholders(dialect, rows, 6)
        );
        bind_all(q(sql), chunk)
            .execute(&mut **tx)
            .await
            .map_err(|e| db_error("insert events", e))?;
        left -= rows;
    }
    // 3e. Advocates, one row per author of the batch.
    let mut advocates: HashMap<(&str, String), (i64, i64, i64, i64)> = HashMap::new();
    for (i, p) in planned.iter().enumerate() {
        if let Planned::New { advocate: true, .. } = p {
            let m = &batch[i].mention;
            let entry = advocates
                .entry((m.source.as_str(), m.author.handle.to_lowercase()))
                .or_insert((0, 0, 0, 0));
            entry.0 += 1;
            entry.1 = clamp(m.author.followers);
            entry.2 = mention_ids[&i];
            entry.3 = entry.3.max(ms(m.created_at));
        }
    }
    let advocate_rows: Vec<_> = advocates.into_iter().collect();
    for chunk in advocate_rows.chunks(ROWS_PER_STATEMENT) {
        let mut values = Vec::with_capacity(chunk.len() * 6);
        for ((source, handle), (count, followers, last_id, last_seen)) in chunk {
            values.extend([
                Bind::Text((*source).into()),
                Bind::Text(handle.clone()),
                Bind::Int(*followers),
                Bind::Int(*count),
                Bind::Int(*last_id),
                Bind::Int(*last_seen),
            ]);
        }
        let sql = format!(
            "INSERT INTO advocates (source, handle, followers, positive_mentions, \
             last_mention_id, last_seen) VALUES {} ON CONFLICT (source, handle) DO UPDATE SET \
             followers = excluded.followers, \
             positive_mentions = advocates.positive_mentions + excluded.positive_mentions, \
             last_mention_id = excluded.last_mention_id, last_seen = excluded.last_seen",
            placeholders(dialect, chunk.len(), 6)
        );
        bind_all(q(sql), values)
            .execute(&mut **tx)
            .await
            .map_err(|e| db_error("upsert advocates", e))?;
    }

    // 4. Outcomes in input order.
    let mut outcomes: Vec<IngestOutcome> = Vec::with_capacity(batch.len());
    for (i, p) in planned.iter().enumerate() {
        let outcome = match p {
            Planned::Stored(found) => IngestOutcome {
                mention_id: MentionId(found.id),
                duplicate: true,
                case: found
                    .case_id
                    .zip(found.status)
                    .map(|(id, status)| CaseLink {
                        id: CaseId(id),
                        action: CaseAction::Existing,
                        status,
                    }),
                advocate: false,
            },
            Planned::Repeat(first) => {
                let original = &outcomes[*first];
                IngestOutcome {
                    mention_id: original.mention_id,
                    duplicate: true,
                    case: original.case.map(|c| CaseLink {
                        action: CaseAction::Existing,
                        ..c
                    }),
                    advocate: false,
                }
            }
            Planned::New { slot, advocate } => IngestOutcome {
                mention_id: MentionId(mention_ids[&i]),
                duplicate: false,
                case: slot.map(|(slot, action, status)| CaseLink {
                    id: CaseId(case_id(slot)),
                    action,
                    status,
                }),
                advocate: *advocate,
            },
        };
        outcomes.push(outcome);
    }
    Ok(Outcome::Done(outcomes))
}

/// How far back a cross-post finds the case its first copy opened.
const CROSSPOST_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// The author (lowercase) and text fingerprint a cross-post shares with
/// its first copy; `None` for texts too short to tell.
fn crosspost_key(m: &NewMention) -> Option<(String, String)> {
    fingerprint(&m.text).map(|fp| (m.author.handle.to_lowercase(), fp))
}

fn key(m: &AnalyzedMention) -> (&'static str, &str) {
    (m.mention.source.as_str(), m.mention.external_id.as_str())
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_ids_are_fnv1a_so_every_server_agrees() {
        // Published FNV-1a 32-bit values; a changed hash would let an old and
        // a new server lock different ids for one conversation.
        assert_eq!(lock_id(""), i64::from(0x811c_9dc5_u32 as i32));
        assert_eq!(lock_id("a"), i64::from(0xe40c_292c_u32 as i32));
        assert_ne!(
            lock_id("webhook:author:jane"),
            lock_id("webhook:author:joe")
        );
    }
}
