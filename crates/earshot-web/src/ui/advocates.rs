//! The Advocates page: the thank-you queue (each post with its suggested
//! thanks in an editable box, Send and Skip), the thank-yous still on their
//! way, the ranked advocates with a CSV download, and each advocate's
//! profile. Plain forms: it works without JavaScript.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, Utc};
use earshot_app::advocates::{self, AdvocateQuery, RankedAdvocate, SendOutcome, SendThanks};
use earshot_core::ids::MentionId;
use earshot_core::reply::ReplyStatus;
use earshot_core::source::SourceKind;
use serde::Deserialize;

use crate::state::AppState;
use crate::ui::session::CurrentUser;
use crate::ui::{Chrome, UiError, html, view};

/// One post of the queue as the page shows it.
pub struct QueueRow {
    pub id: i64,
    pub handle: String,
    pub name: String,
    pub source: &'static str,
    pub text: String,
    pub url: String,
    pub ago: String,
    pub followers: u64,
    pub author_score: String,
    /// What the box holds: the suggestion, or the agent's edit after a warning.
    pub draft: String,
    /// The check's reasons for what is in the box (empty when it passes).
    pub reasons: Vec<String>,
    /// The reasons come from the agent's own edit (offer "Send anyway").
    pub edited: bool,
    pub max_chars: u32,
    pub profile: String,
}

pub struct UndeliveredRow {
    pub case_id: i64,
    pub reply_id: i64,
    pub handle: String,
    pub status: &'static str,
    pub text: String,
    pub by: String,
}

pub struct AdvocateRow {
    pub rank: usize,
    pub handle: String,
    pub name: String,
    pub source: &'static str,
    pub score: String,
    /// (factor, points, reason)
    pub parts: Vec<(String, String, String)>,
    pub positive: i64,
    pub total: i64,
    pub followers: i64,
    pub thanked: i64,
    pub profile: String,
}

#[derive(Template)]
#[template(path = "advocates.html")]
struct AdvocatesPage {
    chrome: Chrome,
    queue: Vec<QueueRow>,
    undelivered: Vec<UndeliveredRow>,
    advocates: Vec<AdvocateRow>,
    sources: Vec<&'static str>,
    source: String,
    since: String,
    csv_link: String,
    message: String,
    queue_days: i64,
}

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    source: String,
    #[serde(default)]
    since: String,
    /// Set after a send or skip: what happened, for the notice.
    #[serde(default)]
    done: String,
    #[serde(default)]
    handle: String,
}

/// `/advocates/{source}/{handle}` for an author.
pub fn profile_link(source: SourceKind, handle: &str) -> String {
    let safe: String = handle
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("/advocates/{source}/{safe}")
}

fn parse_filters(q: &PageQuery) -> Result<(Option<SourceKind>, Option<DateTime<Utc>>), UiError> {
    let source = match q.source.trim() {
        "" => None,
        s => Some(
            SourceKind::parse(s)
                .ok_or_else(|| UiError::BadRequest(format!("{s:?} is not a source")))?,
        ),
    };
    let since = match q.since.trim() {
        "" => None,
        s => Some(
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| UiError::BadRequest("since must be a date, YYYY-MM-DD".into()))?
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc())
                .ok_or_else(|| UiError::BadRequest("since is not a valid date".into()))?,
        ),
    };
    Ok((source, since))
}

fn csv_link(q: &PageQuery) -> String {
    let mut parts = Vec::new();
    if !q.source.trim().is_empty() {
        parts.push(format!("source={}", q.source.trim()));
    }
    if !q.since.trim().is_empty() {
        parts.push(format!("since={}", q.since.trim()));
    }
    if parts.is_empty() {
        "/advocates/export.csv".into()
    } else {
        format!("/advocates/export.csv?{}", parts.join("&"))
    }
}

fn advocate_rows(list: &[RankedAdvocate]) -> Vec<AdvocateRow> {
    list.iter()
        .enumerate()
        .map(|(i, a)| AdvocateRow {
            rank: i + 1,
            handle: a.stats.handle.clone(),
            name: a.stats.display_name.clone().unwrap_or_default(),
            source: a.stats.source.as_str(),
            score: format!("{:.0}", a.rank.score),
            parts: a
                .rank
                .breakdown
                .iter()
                .map(|c| {
                    (
                        c.factor.clone(),
                        format!("{:.1}", c.points),
                        c.reason.clone(),
                    )
                })
                .collect(),
            positive: a.stats.positive,
            total: a.stats.total,
            followers: a.stats.followers,
            thanked: a.stats.thanked,
            profile: profile_link(a.stats.source, &a.stats.handle),
        })
        .collect()
}

/// An edit the agent sent back with the check's warning, shown in its box.
struct Edited {
    id: i64,
    text: String,
    reasons: Vec<String>,
}

async fn render(
    state: &AppState,
    me: &CurrentUser,
    q: &PageQuery,
    edited: Option<Edited>,
    status: StatusCode,
) -> Result<Response, UiError> {
    let (source, since) = parse_filters(q)?;
    let p = me.principal();
    let now = state.app.clock.now();
    let queue = advocates::queue(&state.app, &p, None).await?;
    let queue = queue
        .into_iter()
        .map(|item| {
            let m = &item.mention;
            let n = &m.mention;
            let mine = edited.as_ref().filter(|e| e.id == m.id.0);
            QueueRow {
                id: m.id.0,
                handle: n.author.handle.clone(),
                name: n.author.display_name.clone().unwrap_or_default(),
                source: n.source.as_str(),
                text: n.text.clone(),
                url: n
                    .url
                    .clone()
                    .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
                    .unwrap_or_default(),
                ago: view::ago(n.created_at, now),
                followers: n.author.followers,
                author_score: format!("{:.0}", item.author_rank.score),
                draft: mine.map_or_else(|| item.suggestion.text.clone(), |e| e.text.clone()),
                reasons: mine
                    .map_or_else(|| item.suggestion.reasons.clone(), |e| e.reasons.clone()),
                edited: mine.is_some(),
                max_chars: n.source.capabilities().reply_max_chars.unwrap_or(0),
                profile: profile_link(n.source, &n.author.handle),
            }
        })
        .collect();
    let undelivered = advocates::undelivered(&state.app, &p, 50)
        .await?
        .into_iter()
        .filter_map(|t| {
            Some(UndeliveredRow {
                case_id: t.case_id?.0,
                reply_id: t.reply_id?.0,
                handle: t.handle.clone(),
                status: t.reply_status?.as_str(),
                text: t.text.clone(),
                by: t.actor.clone(),
            })
        })
        .collect();
    let list = advocates::ranked(
        &state.app,
        &p,
        &AdvocateQuery {
            source,
            since,
            limit: Some(100),
        },
    )
    .await?;
    let message = match q.done.as_str() {
        "outbox" => format!("Thank-you to @{} queued: the outbox delivers it.", q.handle),
        "manual" => format!(
            "Thank-you to @{} recorded; Earshot cannot post there, so post it yourself and mark it posted (below).",
            q.handle
        ),
        "pending_approval" => format!(
            "Thank-you to @{} is held for a supervisor's approval.",
            q.handle
        ),
        "skipped" => format!("Skipped @{}'s post.", q.handle),
        _ => String::new(),
    };
    let page = AdvocatesPage {
        chrome: Chrome::new(me, "advocates"),
        queue,
        undelivered,
        advocates: advocate_rows(&list),
        sources: SourceKind::ALL.iter().map(|s| s.as_str()).collect(),
        source: q.source.trim().to_string(),
        since: q.since.trim().to_string(),
        csv_link: csv_link(q),
        message,
        queue_days: advocates::QUEUE_DAYS,
    };
    Ok((status, html(page.render())).into_response())
}

pub async fn page(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(q): Query<PageQuery>,
) -> Result<Response, UiError> {
    render(&state, &me, &q, None, StatusCode::OK).await
}

/// The ranked list as CSV (the API's columns and guard).
pub async fn export(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(q): Query<PageQuery>,
) -> Result<Response, UiError> {
    let (source, since) = parse_filters(&q)?;
    let list = advocates::ranked(
        &state.app,
        &me.principal(),
        &AdvocateQuery {
            source,
            since,
            limit: Some(earshot_core::store::MAX_PAGE),
        },
    )
    .await?;
    let text = crate::api::advocates::to_csv(&list)?;
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"advocates.csv\""),
    );
    Ok(r)
}

#[derive(Deserialize)]
pub struct ThanksForm {
    csrf_token: String,
    #[serde(default)]
    text: String,
    /// Set by "Send anyway" after a warning.
    #[serde(default)]
    r#override: String,
}

fn done(handle: &str, what: &str) -> Response {
    let safe: String = handle
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .collect();
    Redirect::to(&format!("/advocates?done={what}&handle={safe}#queue")).into_response()
}

pub async fn send(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<ThanksForm>,
) -> Result<Response, UiError> {
    me.check_csrf(&f.csrf_token)?;
    me.can_write()?;
    let id = MentionId(id);
    let text = f.text.trim().to_string();
    let q = PageQuery::default();
    if text.is_empty() {
        let edited = Edited {
            id: id.0,
            text,
            reasons: vec!["Write a thank-you first.".into()],
        };
        return render(
            &state,
            &me,
            &q,
            Some(edited),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let out = advocates::send(
        &state.app,
        &me.principal(),
        id,
        SendThanks {
            text: text.clone(),
            override_personalisation: f.r#override == "1",
        },
    )
    .await?;
    match out {
        SendOutcome::Generic(check) => {
            let edited = Edited {
                id: id.0,
                text,
                reasons: check.reasons,
            };
            render(
                &state,
                &me,
                &q,
                Some(edited),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        SendOutcome::Submitted(record) => Ok(done(
            &record.handle,
            match record.reply_status {
                Some(ReplyStatus::Manual) => "manual",
                Some(ReplyStatus::PendingApproval) => "pending_approval",
                _ => "outbox",
            },
        )),
    }
}

pub async fn skip(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<ThanksForm>,
) -> Result<Response, UiError> {
    me.check_csrf(&f.csrf_token)?;
    me.can_write()?;
    let record = advocates::skip(&state.app, &me.principal(), MentionId(id), &f.text).await?;
    Ok(done(&record.handle, "skipped"))
}

pub struct TimelineRow {
    pub date: String,
    pub sentiment: &'static str,
    pub score: String,
    pub text: String,
    pub case_id: Option<i64>,
    pub private: bool,
}

pub struct ThanksRow {
    pub date: String,
    pub decision: &'static str,
    pub by: String,
    pub text: String,
    pub status: String,
    pub case_id: Option<i64>,
    pub overridden: bool,
}

pub struct CaseRow {
    pub id: i64,
    pub status: &'static str,
    pub subject: String,
    pub thank_you: bool,
    pub negative: bool,
    pub turned: String,
}

#[derive(Template)]
#[template(path = "advocate.html")]
struct ProfilePage {
    chrome: Chrome,
    handle: String,
    name: String,
    source: &'static str,
    score: String,
    parts: Vec<(String, String, String)>,
    positive: i64,
    total: i64,
    followers: i64,
    timeline: Vec<TimelineRow>,
    thanks: Vec<ThanksRow>,
    cases: Vec<CaseRow>,
}

pub async fn profile(
    State(state): State<AppState>,
    me: CurrentUser,
    Path((source, handle)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let source = SourceKind::parse(&source)
        .ok_or_else(|| UiError::NotFound(format!("{source:?} is not a source")))?;
    let p = advocates::profile(&state.app, &me.principal(), source, &handle).await?;
    let date = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    let (score, parts, positive, total, followers) = match &p.advocate {
        Some(a) => (
            format!("{:.0}", a.rank.score),
            advocate_rows(std::slice::from_ref(a)).remove(0).parts,
            a.stats.positive,
            a.stats.total,
            a.stats.followers,
        ),
        None => ("—".into(), Vec::new(), 0, p.mentions.len() as i64, 0),
    };
    let page = ProfilePage {
        chrome: Chrome::new(&me, "advocates"),
        handle: p.handle.clone(),
        name: p.display_name.clone().unwrap_or_default(),
        source: p.source.as_str(),
        score,
        parts,
        positive,
        total,
        followers,
        timeline: p
            .mentions
            .iter()
            .map(|m| TimelineRow {
                date: date(m.created_at),
                sentiment: m.sentiment.as_str(),
                score: format!("{:+.2}", m.sentiment_score),
                text: m.text.clone(),
                case_id: m.case_id.map(|c| c.0),
                private: m.private,
            })
            .collect(),
        thanks: p
            .thanks
            .iter()
            .map(|t| ThanksRow {
                date: date(t.at),
                decision: t.decision.as_str(),
                by: t.actor.clone(),
                text: t.text.clone(),
                status: t
                    .reply_status
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "—".into()),
                case_id: t.case_id.map(|c| c.0),
                overridden: t.overridden,
            })
            .collect(),
        cases: p
            .cases
            .iter()
            .map(|c| CaseRow {
                id: c.case_id.0,
                status: c.status.as_str(),
                subject: c.subject.clone(),
                thank_you: c
                    .tags
                    .iter()
                    .any(|t| t == earshot_core::advocates::THANK_YOU_TAG),
                negative: c.negative_in_case,
                turned: match c.recovery {
                    // Recovery's assessment, when the case has one.
                    Some(outcome) => format!("recovery: {}", outcome.as_str().replace('_', " ")),
                    None => c
                        .positive_after
                        .map(|t| format!("yes, positive on {}", date(t)))
                        .unwrap_or_else(|| {
                            if c.negative_in_case {
                                "not yet".into()
                            } else {
                                "—".into()
                            }
                        }),
                },
            })
            .collect(),
    };
    Ok(html(page.render()))
}
