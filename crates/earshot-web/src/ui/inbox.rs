//! The inbox: the triage queue by priority, saved views, filters, search,
//! live updates over server-sent events, keyboard actions.

use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use earshot_core::accounts::InboxQuery;
use earshot_core::analysis::Sentiment;
use earshot_core::case::{Case, CaseStatus};
use earshot_core::csat::CsatFilter;
use earshot_core::ids::CaseId;
use earshot_core::recovery::RecoveryOutcome;
use earshot_core::source::SourceKind;
use earshot_workflow::SlaEvaluation;
use serde::Deserialize;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::state::AppState;
use crate::ui::session::{self, CurrentUser, urlencode};
use crate::ui::{Chrome, UiError, html, view};
use earshot_app::LiveEvent;

pub const PAGE_SIZE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct InboxParams {
    pub view: Option<String>,
    pub q: Option<String>,
    pub source: Option<String>,
    pub category: Option<String>,
    pub team: Option<String>,
    pub location: Option<String>,
    pub sentiment: Option<String>,
    pub min_priority: Option<String>,
    pub max_priority: Option<String>,
    /// `YYYY-MM-DD`: cases created that day (dashboard drill-down).
    pub day: Option<String>,
    /// `any` to include resolved and closed cases.
    pub status: Option<String>,
    /// The cases behind a CSAT number: `answered`, `unanswered` or a
    /// score `1`..`5` (any status: rated cases are resolved ones).
    pub csat: Option<String>,
    /// A recovery outcome: the resolved cases behind a recovery rate.
    pub recovery: Option<String>,
    pub page: Option<u32>,
    /// `rows` answers only the table rows (live refresh).
    pub fragment: Option<String>,
}

fn some(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl InboxParams {
    pub fn to_query(&self, me: &str) -> Result<InboxQuery, UiError> {
        let bad = |what: &str| UiError::BadRequest(format!("unknown {what} in the filter"));
        let mut q = InboxQuery {
            q: some(&self.q),
            team: some(&self.team),
            category: some(&self.category),
            location: some(&self.location),
            limit: PAGE_SIZE,
            offset: self.page.unwrap_or(0).min(10_000) * PAGE_SIZE,
            any_status: self.status.as_deref() == Some("any"),
            ..InboxQuery::default()
        };
        if let Some(s) = some(&self.source) {
            q.source = Some(SourceKind::parse(&s).ok_or_else(|| bad("source"))?);
        }
        if let Some(s) = some(&self.sentiment) {
            q.sentiment = Some(Sentiment::parse(&s).ok_or_else(|| bad("sentiment"))?);
        }
        if let Some(c) = some(&self.csat) {
            q.csat = Some(CsatFilter::parse(&c).ok_or_else(|| bad("CSAT filter"))?);
            q.any_status = true;
        }
        if let Some(r) = some(&self.recovery) {
            q.recovery = Some(RecoveryOutcome::parse(&r).ok_or_else(|| bad("recovery"))?);
        }
        if let Some(p) = some(&self.min_priority) {
            q.min_priority = Some(p.parse().map_err(|_| bad("priority"))?);
        }
        if let Some(p) = some(&self.max_priority) {
            q.max_priority = Some(p.parse().map_err(|_| bad("priority"))?);
        }
        if let Some(d) = some(&self.day) {
            let day = NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| bad("day"))?;
            let start = day.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
            q.from = start;
            q.to = start.map(|s| s + chrono::Duration::days(1));
        }
        match self.view.as_deref().unwrap_or("all") {
            "mine" => q.assignee = Some(me.to_string()),
            "unassigned" => q.assignee = Some("none".into()),
            "breaching" => q.sla_breaching = true,
            "all" | "" => {}
            _ => return Err(bad("view")),
        }
        Ok(q)
    }

    /// The query string without the page, for links.
    fn link(&self, page: u32) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("view", &self.view),
            ("q", &self.q),
            ("source", &self.source),
            ("category", &self.category),
            ("team", &self.team),
            ("location", &self.location),
            ("sentiment", &self.sentiment),
            ("min_priority", &self.min_priority),
            ("max_priority", &self.max_priority),
            ("day", &self.day),
            ("status", &self.status),
            ("csat", &self.csat),
            ("recovery", &self.recovery),
        ] {
            if let Some(v) = some(v) {
                parts.push(format!("{k}={}", urlencode(&v)));
            }
        }
        if page > 0 {
            parts.push(format!("page={page}"));
        }
        format!("/inbox?{}", parts.join("&"))
    }
}

/// One inbox row.
pub struct Row {
    pub id: i64,
    pub subject: String,
    pub author: String,
    pub source: &'static str,
    pub source_icon: &'static str,
    pub sentiment: &'static str,
    pub category: String,
    pub urgency: &'static str,
    pub urgency_reason: String,
    pub reach: String,
    pub sla: view::Sla,
    pub assignee: String,
    pub priority: String,
    pub status: &'static str,
    pub age: String,
}

pub fn row(c: &Case, clock: Option<&(SlaEvaluation, u32)>, now: DateTime<Utc>) -> Row {
    let (urgency, urgency_reason) = view::urgency(c);
    Row {
        id: c.id.0,
        subject: c.subject.clone(),
        author: c.author_handle.clone(),
        source: c.source.as_str(),
        source_icon: view::source_icon(c.source),
        sentiment: c.sentiment.as_str(),
        category: c.category.clone().unwrap_or_default(),
        urgency,
        urgency_reason,
        reach: view::reach(c),
        sla: view::sla(c, clock.map(|(e, _)| e), clock.map_or(0, |(_, w)| *w), now),
        assignee: c.assignee.clone().unwrap_or_default(),
        priority: format!("{:.0}", c.priority.score),
        status: c.status.as_str(),
        age: view::ago(c.last_customer_at, now),
    }
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    chrome: Chrome,
    rows: Vec<Row>,
    view: String,
    q: String,
    source: String,
    category: String,
    team: String,
    location: String,
    sentiment: String,
    csat: String,
    csat_choices: Vec<(&'static str, &'static str)>,
    recovery: String,
    recoveries: Vec<&'static str>,
    sources: Vec<&'static str>,
    filters_note: String,
    prev: String,
    next: String,
    page: u32,
    views: Vec<(&'static str, &'static str, String)>,
}

#[derive(Template)]
#[template(path = "inbox_rows.html")]
struct InboxRows {
    rows: Vec<Row>,
}

pub async fn page(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(params): Query<InboxParams>,
) -> Result<Response, UiError> {
    let desk = session::desk(&state)?;
    let now = state.app.clock.now();
    // Location managers see only cases at their locations, in the query.
    let scope = earshot_app::access::read_scope(&state.app, &me.principal()).await?;
    let query = scope.inbox(params.to_query(&me.user.name)?);
    let started = std::time::Instant::now();
    let cases = desk.inbox(&query).await?;
    let full = cases.len() as u32 == PAGE_SIZE;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "inbox query"
    );
    // The countdowns come from the SLA policies, evaluated as the ticker does.
    let clocks = earshot_app::sla::clocks(&state.app, &cases, now).await?;
    let rows: Vec<Row> = cases
        .iter()
        .map(|c| row(c, clocks.get(&c.id), now))
        // Breaching: the ticker's stored verdict picked them; keep the rows
        // whose live countdown still says so.
        .filter(|r| !query.sla_breaching || matches!(r.sla.state, "warn" | "breach"))
        .collect();
    if params.fragment.as_deref() == Some("rows") {
        return Ok(html(InboxRows { rows }.render()));
    }
    let page = params.page.unwrap_or(0);
    let view = params.view.clone().unwrap_or_else(|| "all".into());
    let mut views = Vec::new();
    for (key, label) in [
        ("all", "All open"),
        ("mine", "Mine"),
        ("unassigned", "Unassigned"),
        ("breaching", "Breaching SLA"),
    ] {
        let p = InboxParams {
            view: Some(key.into()),
            ..InboxParams::default()
        };
        views.push((key, label, p.link(0)));
    }
    let mut notes = Vec::new();
    if let Some(d) = some(&params.day) {
        notes.push(format!("created on {d}"));
    }
    if let (Some(a), b) = (some(&params.min_priority), some(&params.max_priority)) {
        notes.push(format!(
            "priority {a}–{}",
            b.unwrap_or_else(|| "100".into())
        ));
    }
    if params.status.as_deref() == Some("any") {
        notes.push("including resolved and closed".into());
    }
    if let Some(c) = some(&params.csat).and_then(|c| CsatFilter::parse(&c)) {
        notes.push(match c {
            CsatFilter::Answered => "whose customer answered the CSAT survey".to_string(),
            CsatFilter::Unanswered => "asked for CSAT and not answered".to_string(),
            score => format!("rated {}/5", score.as_str()),
        });
    }
    if let Some(r) = some(&params.recovery) {
        notes.push(format!("resolved cases whose recovery is {r}"));
    }
    let page_html = InboxPage {
        chrome: Chrome::new(&me, "inbox"),
        rows,
        q: some(&params.q).unwrap_or_default(),
        source: some(&params.source).unwrap_or_default(),
        category: some(&params.category).unwrap_or_default(),
        team: some(&params.team).unwrap_or_default(),
        location: some(&params.location).unwrap_or_default(),
        sentiment: some(&params.sentiment).unwrap_or_default(),
        csat: some(&params.csat).unwrap_or_default(),
        csat_choices: vec![
            ("answered", "answered"),
            ("unanswered", "asked, unanswered"),
            ("5", "rated 5"),
            ("4", "rated 4"),
            ("3", "rated 3"),
            ("2", "rated 2"),
            ("1", "rated 1"),
        ],
        recovery: some(&params.recovery).unwrap_or_default(),
        recoveries: RecoveryOutcome::ALL.iter().map(|r| r.as_str()).collect(),
        sources: SourceKind::ALL.iter().map(|s| s.as_str()).collect(),
        filters_note: notes.join(", "),
        prev: if page > 0 {
            params.link(page - 1)
        } else {
            String::new()
        },
        next: if full {
            params.link(page + 1)
        } else {
            String::new()
        },
        page,
        view,
        views,
    };
    Ok(html(page_html.render()))
}

/// Server-sent events for the open inbox: one `mention` event per ingested
/// mention and `case` per changed case; the page refetches its rows.
pub async fn stream(
    State(state): State<AppState>,
    _me: CurrentUser,
) -> Sse<impl tokio_stream::Stream<Item = Result<Event, Infallible>>> {
    let events = BroadcastStream::new(state.app.live.subscribe()).filter_map(|e| {
        let e = e.ok()?;
        let kind = match &e {
            LiveEvent::MentionIngested { .. } => "mention",
            LiveEvent::CaseUpdated { .. } => "case",
        };
        let data = serde_json::to_string(&e).ok()?;
        Some(Ok(Event::default().event(kind).data(data)))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[derive(Deserialize)]
pub struct CaseAction {
    csrf_token: String,
    case_id: i64,
}

/// `a` in the inbox: assign the selected case to me.
pub async fn assign_to_me(
    State(state): State<AppState>,
    me: CurrentUser,
    Form(form): Form<CaseAction>,
) -> Result<Response, UiError> {
    me.check_csrf(&form.csrf_token)?;
    me.can_write()?;
    earshot_app::cases::assign_case(
        &state.app,
        &me.principal(),
        CaseId(form.case_id),
        Some(me.user.name.clone()),
        None,
    )
    .await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

/// `e` in the inbox: resolve the selected case.
pub async fn resolve(
    State(state): State<AppState>,
    me: CurrentUser,
    Form(form): Form<CaseAction>,
) -> Result<Response, UiError> {
    me.check_csrf(&form.csrf_token)?;
    me.can_write()?;
    earshot_app::cases::set_case_status(
        &state.app,
        &me.principal(),
        CaseId(form.case_id),
        CaseStatus::Resolved,
    )
    .await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}
