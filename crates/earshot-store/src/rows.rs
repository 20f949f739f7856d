//! Row decoding shared by both dialects.

use chrono::{DateTime, TimeZone, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use earshot_core::analysis::{Analysis, Sentiment};
use earshot_core::case::{Case, CaseStatus};
use earshot_core::error::{Error, Result};
use earshot_core::mention::{Author, Mention, NewMention, ReachMetrics};
use earshot_core::priority::Priority;
use earshot_core::reply::{Event, Note, Reply, ReplyStatus, Visibility};
use earshot_core::source::SourceKind;
use earshot_core::store::Advocate;

pub fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn get<'r, T>(row: &'r AnyRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(col)
        .map_err(|e| Error::internal(format!("reading column {col}: {e}")))
}

fn time(row: &AnyRow, col: &str) -> Result<DateTime<Utc>> {
    get::<i64>(row, col).map(from_ms)
}

fn opt_time(row: &AnyRow, col: &str) -> Result<Option<DateTime<Utc>>> {
    Ok(get::<Option<i64>>(row, col)?.map(from_ms))
}

fn parsed<T>(row: &AnyRow, col: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T> {
    let raw: String = get(row, col)?;
    parse(&raw).ok_or_else(|| Error::internal(format!("unknown value {raw:?} in column {col}")))
}

fn json<T: serde::de::DeserializeOwned>(row: &AnyRow, col: &str) -> Result<T> {
    let raw: String = get(row, col)?;
    serde_json::from_str(&raw).map_err(|e| Error::internal(format!("column {col}: {e}")))
}

fn opt_json(row: &AnyRow, col: &str) -> Result<Option<serde_json::Value>> {
    match get::<Option<String>>(row, col)? {
        Some(raw) => serde_json::from_str(&raw)
            .map(Some)
            .map_err(|e| Error::internal(format!("column {col}: {e}"))),
        None => Ok(None),
    }
}

pub const MENTION_COLUMNS: &str = "m.id, m.source, m.external_id, m.author_handle, m.author_name, \
    m.author_followers, m.author_verified, m.author_url, m.text, m.url, m.language, m.thread_id, \
    m.parent_id, m.likes, m.reposts, m.replies, m.created_at, m.received_at, m.analysis, m.case_id";

pub fn mention(row: &AnyRow) -> Result<Mention> {
    let analysis: Analysis = json(row, "analysis")?;
    Ok(Mention {
        id: get(row, "id")?,
        mention: NewMention {
            source: parsed(row, "source", SourceKind::parse)?,
            external_id: get(row, "external_id")?,
            author: Author {
                handle: get(row, "author_handle")?,
                display_name: get(row, "author_name")?,
                followers: get::<i64>(row, "author_followers")?.max(0) as u64,
                verified: get::<i64>(row, "author_verified")? != 0,
                profile_url: get(row, "author_url")?,
            },
            text: get(row, "text")?,
            created_at: time(row, "created_at")?,
            url: get(row, "url")?,
            language: get(row, "language")?,
            thread_id: get(row, "thread_id")?,
            parent_id: get(row, "parent_id")?,
            metrics: ReachMetrics {
                likes: get::<i64>(row, "likes")?.max(0) as u64,
                reposts: get::<i64>(row, "reposts")?.max(0) as u64,
                replies: get::<i64>(row, "replies")?.max(0) as u64,
            },
        },
        received_at: time(row, "received_at")?,
        analysis,
        case_id: get(row, "case_id")?,
    })
}

pub const CASE_COLUMNS: &str = "id, status, source, conversation_key, author_handle, subject, \
    sentiment, category, priority, priority_breakdown, assignee, team, tags, location, product, \
    mention_count, created_at, updated_at, last_customer_at, first_response_at, resolved_at";

pub fn case(row: &AnyRow) -> Result<Case> {
    Ok(Case {
        id: get(row, "id")?,
        status: parsed(row, "status", CaseStatus::parse)?,
        source: parsed(row, "source", SourceKind::parse)?,
        conversation_key: get(row, "conversation_key")?,
        author_handle: get(row, "author_handle")?,
        subject: get(row, "subject")?,
        sentiment: parsed(row, "sentiment", Sentiment::parse)?,
        category: get(row, "category")?,
        priority: Priority {
            score: get::<f64>(row, "priority")? as f32,
            breakdown: json(row, "priority_breakdown")?,
        },
        assignee: get(row, "assignee")?,
        team: get(row, "team")?,
        tags: json(row, "tags")?,
        location: get(row, "location")?,
        product: get(row, "product")?,
        mention_count: get(row, "mention_count")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        last_customer_at: time(row, "last_customer_at")?,
        first_response_at: opt_time(row, "first_response_at")?,
        resolved_at: opt_time(row, "resolved_at")?,
    })
}

pub const REPLY_COLUMNS: &str =
    "id, case_id, visibility, body, status, author, approved_by, created_at, sent_at, error";

pub fn reply(row: &AnyRow) -> Result<Reply> {
    Ok(Reply {
        id: get(row, "id")?,
        case_id: get(row, "case_id")?,
        visibility: parsed(row, "visibility", Visibility::parse)?,
        body: get(row, "body")?,
        status: parsed(row, "status", ReplyStatus::parse)?,
        author: get(row, "author")?,
        approved_by: get(row, "approved_by")?,
        created_at: time(row, "created_at")?,
        sent_at: opt_time(row, "sent_at")?,
        error: get(row, "error")?,
    })
}

pub fn note(row: &AnyRow) -> Result<Note> {
    Ok(Note {
        id: get(row, "id")?,
        case_id: get(row, "case_id")?,
        author: get(row, "author")?,
        body: get(row, "body")?,
        created_at: time(row, "created_at")?,
    })
}

pub fn event(row: &AnyRow) -> Result<Event> {
    Ok(Event {
        id: get(row, "id")?,
        case_id: get(row, "case_id")?,
        actor: get(row, "actor")?,
        action: get(row, "action")?,
        before: opt_json(row, "before")?,
        after: opt_json(row, "after")?,
        at: time(row, "at")?,
    })
}

pub fn advocate(row: &AnyRow) -> Result<Advocate> {
    Ok(Advocate {
        source: parsed(row, "source", SourceKind::parse)?,
        handle: get(row, "handle")?,
        followers: get(row, "followers")?,
        positive_mentions: get(row, "positive_mentions")?,
        last_mention_id: get(row, "last_mention_id")?,
        last_seen: time(row, "last_seen")?,
    })
}
