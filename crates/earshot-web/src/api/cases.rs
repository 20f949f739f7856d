//! Cases: the queue, the detail, and what agents do to them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use earshot_core::case::{Case, CaseStatus};
use earshot_core::error::Error;
use earshot_core::ids::{CaseId, ReplyId};
use earshot_core::reply::{Note, Reply, Visibility};
use earshot_core::store::{CaseDetail, CaseQuery, NewReply};
use serde::Deserialize;

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody, Path, parse_json};
use crate::state::AppState;
use earshot_app::LiveEvent;

const MAX_NOTE_BYTES: usize = 20_000;

/// The case queue: filtered, sorted by priority then age (oldest first).
#[utoipa::path(
    get,
    path = "/api/v1/cases",
    tag = "cases",
    params(CaseQuery),
    responses((status = 200, body = Vec<Case>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
pub async fn list_cases(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<CaseQuery>, QueryRejection>,
) -> Result<Json<Vec<Case>>, ApiError> {
    let Query(query) = query?;
    // Location managers see only cases at their locations, filtered in the
    // query so a page is full.
    let scope = earshot_app::access::read_scope(&state.app, &auth.0).await?;
    Ok(Json(state.app.store.cases(&scope.cases(query)).await?))
}

/// One case with its mentions, replies, notes and audit events.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{id}",
    tag = "cases",
    params(("id" = i64, Path, description = "Case id")),
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 200, body = CaseDetail), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody))
)]
pub async fn get_case(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> Result<Json<CaseDetail>, ApiError> {
    let id = CaseId(id);
    let detail = state
        .app
        .store
        .case_detail(id)
        .await?
        .ok_or_else(|| ApiError(Error::case_not_found(id)))?;
    // Workflow: a location manager gets 403 outside their locations.
    earshot_app::access::check_visible(&state.app, &auth.0, &detail.case).await?;
    Ok(Json(detail))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// A user name; `null` unassigns.
    pub assignee: Option<String>,
    #[serde(default)]
    pub team: Option<String>,
}

fn body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    parse_json(&body?)
}

fn clean_name(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value.map(|v| v.trim().to_string()) {
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if v.len() > 128 || v.chars().any(char::is_control) => Err(ApiError(
            Error::invalid_field(field, "must be at most 128 printable characters"),
        )),
        other => Ok(other),
    }
}

/// Assign a case to a user and/or team.
#[utoipa::path(
    post,
    path = "/api/v1/cases/{id}/assign",
    tag = "cases",
    params(("id" = i64, Path, description = "Case id")),
    request_body = AssignRequest,
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 200, body = Case), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn assign_case(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Case>, ApiError> {
    let id = CaseId(id);
    let actor = auth.writer()?;
    let req: AssignRequest = body(raw)?;
    let assignee = clean_name("assignee", req.assignee)?;
    let team = clean_name("team", req.team)?;
    let case = earshot_app::cases::assign_case(&state.app, actor, id, assignee, team).await?;
    Ok(Json(case))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    pub status: CaseStatus,
}

/// Move a case through its lifecycle; an invalid transition is a 400 with code
/// `invalid_transition`.
#[utoipa::path(
    post,
    path = "/api/v1/cases/{id}/status",
    tag = "cases",
    params(("id" = i64, Path, description = "Case id")),
    request_body = StatusRequest,
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 200, body = Case), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn set_case_status(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Case>, ApiError> {
    let id = CaseId(id);
    let actor = auth.writer()?;
    let req: StatusRequest = body(raw)?;
    let case = earshot_app::cases::set_case_status(&state.app, actor, id, req.status).await?;
    Ok(Json(case))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    pub body: String,
}

/// Add an internal note (never shown to the customer).
#[utoipa::path(
    post,
    path = "/api/v1/cases/{id}/notes",
    tag = "cases",
    params(("id" = i64, Path, description = "Case id")),
    request_body = NoteRequest,
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 201, body = Note), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn add_note(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Note>), ApiError> {
    let id = CaseId(id);
    let actor = auth.writer()?;
    let req: NoteRequest = body(raw)?;
    let text = non_empty_text("body", &req.body, MAX_NOTE_BYTES)?;
    let note = earshot_app::cases::add_note(&state.app, actor, id, text).await?;
    Ok((StatusCode::CREATED, Json(note)))
}

fn non_empty_text<'a>(field: &str, text: &'a str, max: usize) -> Result<&'a str, ApiError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ApiError(Error::invalid_field(field, "must not be empty")));
    }
    if trimmed.len() > max {
        return Err(ApiError(Error::invalid_field(
            field,
            format!("is longer than {max} bytes"),
        )));
    }
    Ok(trimmed)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    pub visibility: Visibility,
    pub body: String,
    /// `true` sends through the outbox now; `false` keeps a draft.
    #[serde(default = "yes")]
    pub send: bool,
    /// The latest public reply the agent saw; a newer public reply by someone
    /// else makes this one a 409 conflict naming it.
    #[serde(default)]
    pub last_public_reply_seen: Option<i64>,
}

fn yes() -> bool {
    true
}

/// Reply to the customer, publicly or privately. Until a connector delivers
/// it, a sent reply is queued in the outbox and written to the server log.
#[utoipa::path(
    post,
    path = "/api/v1/cases/{id}/replies",
    tag = "cases",
    params(("id" = i64, Path, description = "Case id")),
    request_body = ReplyRequest,
    responses((status = 201, body = Reply), (status = 202, description = "Held for a supervisor's approval", body = Reply),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Another agent's public reply was not seen", body = ErrorBody))
)]
pub async fn add_reply(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Reply>), ApiError> {
    let id = CaseId(id);
    let actor = auth.writer()?;
    let req: ReplyRequest = body(raw)?;
    let text = non_empty_text("body", &req.body, MAX_NOTE_BYTES)?;
    // Workflow: permissions, approval for trainees and sensitive cases (held
    // as a draft, 202), and public-reply collisions (409) are decided there.
    let outcome = earshot_app::replies::submit_reply(
        &state.app,
        actor,
        id,
        NewReply {
            visibility: req.visibility,
            body: text.to_string(),
            send: req.send,
        },
        req.last_public_reply_seen.map(ReplyId),
    )
    .await?;
    let reply = outcome.reply;
    if outcome.pending_approval {
        let _ = state.app.live.send(LiveEvent::CaseUpdated { case_id: id });
        return Ok((StatusCode::ACCEPTED, Json(reply)));
    }
    if req.send {
        tracing::info!(
            case_id = id.0,
            reply_id = reply.id.0,
            visibility = req.visibility.as_str(),
            "reply queued in the outbox"
        );
    }
    let _ = state.app.live.send(LiveEvent::CaseUpdated { case_id: id });
    Ok((StatusCode::CREATED, Json(reply)))
}
