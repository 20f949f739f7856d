//! CSAT in the browser: the customer's page at `/csat/{token}` (public: no
//! login, no session cookie, no JavaScript needed; the signed token is the
//! only capability and the page shows nothing of the case), and the case
//! page's CSAT panel with its "Ask for CSAT now" form.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use earshot_app::csat::{CaseCsat, LinkView};
use earshot_core::csat::{CsatState, MAX_COMMENT_CHARS, PolicyOrigin};
use earshot_core::ids::CaseId;
use earshot_core::reply::ReplyStatus;
use serde::Deserialize;

use crate::state::AppState;
use crate::ui::session::CurrentUser;
use crate::ui::{CsrfForm, UiError, html};

const CHOICES: [(u8, &str); 5] = [
    (1, "very unsatisfied"),
    (2, "unsatisfied"),
    (3, "neither"),
    (4, "satisfied"),
    (5, "very satisfied"),
];

#[derive(Template)]
#[template(path = "csat_page.html")]
struct CsatPage {
    title: &'static str,
    /// `form`, `thanks`, `answered`, or `message` (expired, unknown, busy).
    mode: &'static str,
    action: String,
    choices: [(u8, &'static str); 5],
    score: u8,
    score_label: &'static str,
    comment: String,
    max_comment: usize,
    message: String,
    error: String,
}

impl CsatPage {
    fn new(mode: &'static str, title: &'static str) -> Self {
        CsatPage {
            title,
            mode,
            action: String::new(),
            choices: CHOICES,
            score: 0,
            score_label: "",
            comment: String::new(),
            max_comment: MAX_COMMENT_CHARS,
            message: String::new(),
            error: String::new(),
        }
    }

    fn message(status: StatusCode, title: &'static str, message: &str) -> Response {
        let page = CsatPage {
            message: message.to_string(),
            ..CsatPage::new("message", title)
        };
        respond(status, page)
    }
}

fn respond(status: StatusCode, page: CsatPage) -> Response {
    let mut r = (status, html(page.render())).into_response();
    // The link is the capability: keep it out of search engines.
    r.headers_mut().insert(
        "x-robots-tag",
        HeaderValue::from_static("noindex, nofollow"),
    );
    r
}

fn label(score: u8) -> &'static str {
    CHOICES
        .iter()
        .find(|(v, _)| *v == score)
        .map_or("", |(_, l)| l)
}

fn not_found() -> Response {
    CsatPage::message(
        StatusCode::NOT_FOUND,
        "Link not found",
        "This survey link is not valid. Please check that you copied all of it.",
    )
}

fn expired() -> Response {
    CsatPage::message(
        StatusCode::GONE,
        "This link has expired",
        "This survey link has expired, so it no longer takes a rating. Thank you all the same.",
    )
}

fn answered(mode: &'static str, request: &earshot_core::csat::CsatRequest) -> Response {
    let answer = request.answer.clone();
    let score = answer.as_ref().map_or(0, |a| a.score);
    let page = CsatPage {
        score,
        score_label: label(score),
        comment: answer.and_then(|a| a.comment).unwrap_or_default(),
        ..CsatPage::new(
            mode,
            if mode == "thanks" {
                "Thank you"
            } else {
                "Already rated"
            },
        )
    };
    respond(StatusCode::OK, page)
}

fn form(token: &str, status: StatusCode, score: u8, comment: &str, error: String) -> Response {
    let page = CsatPage {
        action: format!("/csat/{token}"),
        score,
        comment: comment.to_string(),
        error,
        ..CsatPage::new("form", "How did we do?")
    };
    respond(status, page)
}

/// Counted per request behind a valid token (so made-up tokens cannot grow
/// the limiter's table), with the API's limiter.
fn limited(state: &AppState, view: &LinkView) -> Option<Response> {
    let id = match view {
        LinkView::Open(r) | LinkView::Answered(r) | LinkView::Stored(r) => r.id,
        LinkView::Expired | LinkView::NotFound => return None,
    };
    state
        .api_limiter
        .check(&format!("csat:{id}"))
        .err()
        .map(|_| {
            CsatPage::message(
                StatusCode::TOO_MANY_REQUESTS,
                "Please wait a moment",
                "Too many tries with this link; please try again in a minute.",
            )
        })
}

/// `GET /csat/{token}`: the rating form, the answer already given, 410
/// when the link expired, 404 when it is not ours.
pub async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let now = state.app.clock.now();
    let view = match earshot_app::csat::open_link(&state.app, &token, now).await {
        Ok(v) => v,
        Err(e) => return UiError::from(e).into_response(),
    };
    if let Some(r) = limited(&state, &view) {
        return r;
    }
    match view {
        LinkView::NotFound => not_found(),
        LinkView::Expired => expired(),
        LinkView::Answered(r) | LinkView::Stored(r) => answered("answered", &r),
        LinkView::Open(_) => form(&token, StatusCode::OK, 0, "", String::new()),
    }
}

/// The form as posted; every field optional so a bad post gets the form
/// back with a message, not a bare rejection.
#[derive(Debug, Deserialize)]
pub struct AnswerForm {
    score: Option<String>,
    comment: Option<String>,
}

/// `POST /csat/{token}`: stores the rating once and thanks; a second post
/// shows the answer already given and changes nothing.
pub async fn answer(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Form(f): Form<AnswerForm>,
) -> Response {
    let now = state.app.clock.now();
    let view = match earshot_app::csat::open_link(&state.app, &token, now).await {
        Ok(v) => v,
        Err(e) => return UiError::from(e).into_response(),
    };
    if let Some(r) = limited(&state, &view) {
        return r;
    }
    match view {
        LinkView::NotFound => return not_found(),
        LinkView::Expired => return expired(),
        LinkView::Answered(r) | LinkView::Stored(r) => return answered("answered", &r),
        LinkView::Open(_) => {}
    }
    let comment = f.comment.unwrap_or_default();
    let score = f
        .score
        .as_deref()
        .map(str::trim)
        .and_then(|s| s.parse::<i64>().ok());
    let Some(score) = score.filter(|s| (1..=5).contains(s)) else {
        return form(
            &token,
            StatusCode::BAD_REQUEST,
            0,
            &comment,
            "Choose a rating from 1 to 5.".into(),
        );
    };
    let shown = u8::try_from(score).unwrap_or(0);
    match earshot_app::csat::answer(&state.app, &token, score, Some(&comment), now).await {
        Ok(LinkView::Stored(r)) => answered("thanks", &r),
        Ok(LinkView::Answered(r)) => answered("answered", &r),
        Ok(LinkView::Expired) => expired(),
        Ok(LinkView::NotFound) => not_found(),
        Ok(LinkView::Open(_)) => form(&token, StatusCode::OK, shown, &comment, String::new()),
        Err(e) if e.code.http_status() < 500 => {
            let why = e
                .message
                .split_once(": ")
                .map_or(e.message.as_str(), |(_, w)| w)
                .to_string();
            let why = if e.message.starts_with("comment") {
                format!("Your comment {why}.")
            } else {
                format!("{why}.")
            };
            form(&token, StatusCode::BAD_REQUEST, shown, &comment, why)
        }
        Err(e) => UiError::from(e).into_response(),
    }
}

/// The case page's CSAT panel.
pub struct CsatPanel {
    /// The state's wire name (`scheduled`, `sent`, `no_channel`…).
    pub state: &'static str,
    pub headline: String,
    pub detail: String,
    pub comment: String,
    /// The customer's link while it can be answered.
    pub link: String,
    pub can_ask: bool,
    pub policy: String,
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn delivery_words(status: ReplyStatus) -> &'static str {
    match status {
        ReplyStatus::Queued => "queued for the channel",
        ReplyStatus::Sending => "being sent",
        ReplyStatus::Sent => "delivered to the channel",
        ReplyStatus::Failed => "the channel refused it",
        ReplyStatus::Manual => "waiting to be posted by hand",
        ReplyStatus::Draft | ReplyStatus::PendingApproval => "not sent",
    }
}

impl CsatPanel {
    pub fn new(c: &CaseCsat, now: DateTime<Utc>) -> CsatPanel {
        let p = &c.policy;
        let mode = match p.policy.mode {
            earshot_core::csat::CsatMode::OnResolve => {
                let minutes = p.policy.delay().map_or(0, |d| d.num_minutes());
                format!("on resolve, after {}", crate::ui::view::duration(minutes))
            }
            earshot_core::csat::CsatMode::OnDemand => "on demand only".into(),
            earshot_core::csat::CsatMode::Never => "never".into(),
        };
        let from = match p.from {
            PolicyOrigin::Default => "the default",
            PolicyOrigin::Team => "the team's",
            PolicyOrigin::Source => "the source's",
        };
        let request = c.request.as_ref();
        let (headline, detail) = match c.state {
            CsatState::None => ("Not asked.".to_string(), String::new()),
            CsatState::Scheduled => match c.scheduled_for {
                Some(at) => (
                    format!("Scheduled for {}.", when(at)),
                    "The customer is asked in their private channel then.".into(),
                ),
                None => ("Being sent now.".into(), String::new()),
            },
            CsatState::Sent => (
                format!(
                    "Sent {}.",
                    request
                        .and_then(|r| r.sent_at)
                        .map(|t| crate::ui::view::ago(t, now))
                        .unwrap_or_default()
                ),
                match (c.delivery, &c.delivery_error) {
                    (Some(s), Some(e)) => format!("Delivery: {} ({e}).", delivery_words(s)),
                    (Some(s), None) => format!("Delivery: {}.", delivery_words(s)),
                    (None, _) => String::new(),
                },
            ),
            CsatState::NoChannel => (
                "No channel could carry the request.".into(),
                request
                    .and_then(|r| r.no_channel_reason.clone())
                    .map(|r| format!("{r}. Copy the link below to pass it on."))
                    .unwrap_or_default(),
            ),
            CsatState::Answered => {
                let score = request
                    .and_then(|r| r.answer.as_ref())
                    .map_or(0, |a| a.score);
                (
                    format!(
                        "Answered {}{} {score}/5 ({}).",
                        "★".repeat(usize::from(score)),
                        "☆".repeat(usize::from(5u8.saturating_sub(score))),
                        label(score)
                    ),
                    request
                        .and_then(|r| r.answer.as_ref())
                        .map(|a| format!("Rated {}.", crate::ui::view::ago(a.answered_at, now)))
                        .unwrap_or_default(),
                )
            }
            CsatState::Expired => (
                "The link expired unanswered.".into(),
                request
                    .map(|r| format!("It expired {}.", when(r.expires_at)))
                    .unwrap_or_default(),
            ),
        };
        CsatPanel {
            state: c.state.as_str(),
            headline,
            detail,
            comment: request
                .and_then(|r| r.answer.as_ref())
                .and_then(|a| a.comment.clone())
                .unwrap_or_default(),
            link: c.link.clone().unwrap_or_default(),
            can_ask: c.can_ask,
            policy: format!("{mode} ({from} policy)"),
        }
    }
}

/// The panel for a loaded case.
pub async fn panel(
    state: &AppState,
    detail: &earshot_core::store::CaseDetail,
    now: DateTime<Utc>,
) -> Result<CsatPanel, UiError> {
    let c = earshot_app::csat::case_csat(&state.app, detail, now).await?;
    Ok(CsatPanel::new(&c, now))
}

/// "Ask for CSAT now" on the case page.
pub async fn ask(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, UiError> {
    me.check_csrf(&f.csrf_token)?;
    me.can_write()?;
    earshot_app::csat::ask_now(&state.app, &me.principal(), CaseId(id)).await?;
    Ok(Redirect::to(&format!("/cases/{id}#csat")).into_response())
}
