//! SQL helpers and row decoding shared by every store module and both dialects.

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use earshot_core::analysis::{Analysis, Sentiment};
use earshot_core::auth::Role;
use earshot_core::case::{Case, CaseStatus};
use earshot_core::error::{Error, Result};
use earshot_core::ids::{CaseId, MentionId, NoteId, ReplyId, SourceId};
use earshot_core::mention::{Author, Mention, MentionOrigin, NewMention, ReachMetrics};
use earshot_core::priority::Priority;
use earshot_core::reply::{DeliveredVia, Event, Note, Reply, ReplyStatus, Visibility};
use earshot_core::source::SourceKind;
use earshot_core::store::TokenSummary;

pub fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// A statement built at run time (the SQL text is ours, never user input).
pub(crate) fn q(sql: impl Into<String>) -> Query<'static, Any, AnyArguments> {
    sqlx::query(AssertSqlSafe(sql.into()))
}

/// A bind value for statements whose parameters are assembled at run time.
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    Real(f64),
}

/// `case_column IN (the cases at these locations)`, with the locations bound
/// as `$first`, `$first+1`…; an empty list matches nothing.
pub(crate) fn at_locations(case_column: &str, first: usize, count: usize) -> String {
    if count == 0 {
        return "1 = 0".into();
    }
    let placeholders: Vec<String> = (first..first + count).map(|n| format!("${n}")).collect();
    format!(
        "{case_column} IN (SELECT id FROM cases WHERE location IN ({}))",
        placeholders.join(", ")
    )
}

pub(crate) fn bind_all(
    mut query: Query<'static, Any, AnyArguments>,
    values: impl IntoIterator<Item = Bind>,
) -> Query<'static, Any, AnyArguments> {
    for v in values {
        query = match v {
            Bind::Text(s) => query.bind(s),
            Bind::OptText(s) => query.bind(s),
            Bind::Int(i) => query.bind(i),
            Bind::OptInt(i) => query.bind(i),
            Bind::Real(f) => query.bind(f),
        };
    }
    query
}

pub(crate) async fn commit(tx: Transaction<'static, Any>) -> Result<()> {
    tx.commit().await.map_err(|e| crate::db_error("commit", e))
}

/// Appends one line to a case's event trail, inside the caller's transaction.
pub(crate) async fn insert_event(
    tx: &mut Transaction<'static, Any>,
    case_id: Option<i64>,
    actor: &str,
    action: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    now: DateTime<Utc>,
) -> Result<()> {
    q(
        "INSERT INTO events (case_id, actor, action, before, after, at) \
       VALUES ($1, $2, $3, $4, $5, $6)"
            .to_string(),
    )
    .bind(case_id)
    .bind(actor.to_string())
    .bind(action.to_string())
    .bind(before.map(|v| v.to_string()))
    .bind(after.map(|v| v.to_string()))
    .bind(ms(now))
    .execute(&mut **tx)
    .await
    .map_err(|e| crate::db_error("insert event", e))?;
    Ok(())
}

pub(crate) fn to_json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal(format!("serialising: {e}")))
}

pub(crate) fn col<'r, T>(row: &'r AnyRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(col)
        .map_err(|e| Error::internal(format!("reading column {col}: {e}")))
}

pub(crate) fn time(row: &AnyRow, name: &str) -> Result<DateTime<Utc>> {
    col::<i64>(row, name).map(from_ms)
}

pub(crate) fn opt_time(row: &AnyRow, name: &str) -> Result<Option<DateTime<Utc>>> {
    Ok(col::<Option<i64>>(row, name)?.map(from_ms))
}

fn parsed<T>(row: &AnyRow, name: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T> {
    let raw: String = col(row, name)?;
    parse(&raw).ok_or_else(|| Error::internal(format!("unknown value {raw:?} in column {name}")))
}

pub(crate) fn json_col<T: serde::de::DeserializeOwned>(row: &AnyRow, name: &str) -> Result<T> {
    let raw: String = col(row, name)?;
    serde_json::from_str(&raw).map_err(|e| Error::internal(format!("column {name}: {e}")))
}

pub(crate) fn opt_json_col<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    name: &str,
) -> Result<Option<T>> {
    match col::<Option<String>>(row, name)? {
        Some(raw) => serde_json::from_str(&raw)
            .map(Some)
            .map_err(|e| Error::internal(format!("column {name}: {e}"))),
        None => Ok(None),
    }
}

pub const MENTION_COLUMNS: &str = "m.id, m.source, m.external_id, m.author_handle, m.author_name, \
    m.author_followers, m.author_verified, m.author_url, m.text, m.url, m.language, m.thread_id, \
    m.parent_id, m.likes, m.reposts, m.replies, m.created_at, m.received_at, m.analysis, m.case_id, \
    m.source_id, m.reply_ref, m.private";

pub fn mention(row: &AnyRow) -> Result<Mention> {
    let analysis: Analysis = json_col(row, "analysis")?;
    Ok(Mention {
        id: MentionId(col(row, "id")?),
        mention: NewMention {
            source: parsed(row, "source", SourceKind::parse)?,
            external_id: col(row, "external_id")?,
            author: Author {
                handle: col(row, "author_handle")?,
                display_name: col(row, "author_name")?,
                followers: col::<i64>(row, "author_followers")?.max(0) as u64,
                verified: col::<i64>(row, "author_verified")? != 0,
                profile_url: col(row, "author_url")?,
            },
            text: col(row, "text")?,
            created_at: time(row, "created_at")?,
            url: col(row, "url")?,
            language: col(row, "language")?,
            thread_id: col(row, "thread_id")?,
            parent_id: col(row, "parent_id")?,
            metrics: ReachMetrics {
                likes: col::<i64>(row, "likes")?.max(0) as u64,
                reposts: col::<i64>(row, "reposts")?.max(0) as u64,
                replies: col::<i64>(row, "replies")?.max(0) as u64,
            },
            origin: match col::<Option<i64>>(row, "source_id")? {
                Some(id) => Some(MentionOrigin {
                    source_id: SourceId(id),
                    reply_ref: opt_json_col(row, "reply_ref")?.unwrap_or(serde_json::Value::Null),
                    private: col::<i64>(row, "private")? != 0,
                }),
                None => None,
            },
        },
        received_at: time(row, "received_at")?,
        analysis,
        case_id: col::<Option<i64>>(row, "case_id")?.map(CaseId),
    })
}

pub const CASE_COLUMNS: &str = "id, status, source, conversation_key, author_handle, subject, \
    sentiment, category, priority, priority_breakdown, assignee, team, tags, location, product, \
    mention_count, created_at, updated_at, last_customer_at, first_response_at, last_brand_at, \
    resolved_at";

pub fn case(row: &AnyRow) -> Result<Case> {
    Ok(Case {
        id: CaseId(col(row, "id")?),
        status: parsed(row, "status", CaseStatus::parse)?,
        source: parsed(row, "source", SourceKind::parse)?,
        conversation_key: col(row, "conversation_key")?,
        author_handle: col(row, "author_handle")?,
        subject: col(row, "subject")?,
        sentiment: parsed(row, "sentiment", Sentiment::parse)?,
        category: col(row, "category")?,
        priority: Priority {
            score: col::<f64>(row, "priority")? as f32,
            breakdown: json_col(row, "priority_breakdown")?,
        },
        assignee: col(row, "assignee")?,
        team: col(row, "team")?,
        tags: json_col(row, "tags")?,
        location: col(row, "location")?,
        product: col(row, "product")?,
        mention_count: col(row, "mention_count")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        last_customer_at: time(row, "last_customer_at")?,
        first_response_at: opt_time(row, "first_response_at")?,
        last_brand_at: opt_time(row, "last_brand_at")?,
        resolved_at: opt_time(row, "resolved_at")?,
    })
}

pub const REPLY_COLUMNS: &str = "id, case_id, visibility, body, status, author, approved_by, created_at, sent_at, error, \
     delivered_via, channel_message_id, channel_url";

pub fn reply(row: &AnyRow) -> Result<Reply> {
    Ok(Reply {
        id: ReplyId(col(row, "id")?),
        case_id: CaseId(col(row, "case_id")?),
        visibility: parsed(row, "visibility", Visibility::parse)?,
        body: col(row, "body")?,
        status: parsed(row, "status", ReplyStatus::parse)?,
        author: col(row, "author")?,
        approved_by: col(row, "approved_by")?,
        created_at: time(row, "created_at")?,
        sent_at: opt_time(row, "sent_at")?,
        error: col(row, "error")?,
        delivered_via: match col::<Option<String>>(row, "delivered_via")? {
            Some(v) => Some(
                DeliveredVia::parse(&v)
                    .ok_or_else(|| Error::internal(format!("stored delivered_via {v:?}")))?,
            ),
            None => None,
        },
        channel_message_id: col(row, "channel_message_id")?,
        channel_url: col(row, "channel_url")?,
        delivery: None,
    })
}

pub fn note(row: &AnyRow) -> Result<Note> {
    Ok(Note {
        id: NoteId(col(row, "id")?),
        case_id: CaseId(col(row, "case_id")?),
        author: col(row, "author")?,
        body: col(row, "body")?,
        created_at: time(row, "created_at")?,
    })
}

pub fn event(row: &AnyRow) -> Result<Event> {
    Ok(Event {
        id: col(row, "id")?,
        case_id: col::<Option<i64>>(row, "case_id")?.map(CaseId),
        actor: col(row, "actor")?,
        action: col(row, "action")?,
        before: opt_json_col(row, "before")?,
        after: opt_json_col(row, "after")?,
        at: time(row, "at")?,
    })
}

pub fn token_summary(row: &AnyRow) -> Result<TokenSummary> {
    Ok(TokenSummary {
        id: col(row, "id")?,
        name: col(row, "name")?,
        role: parsed(row, "role", Role::parse)?,
        created_at: time(row, "created_at")?,
        last_used_at: opt_time(row, "last_used_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}
