//! `/api/v1/handoffs`: cases handed to location managers and product owners.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use earshot_core::error::Error;
use earshot_core::ids::CaseId;
use earshot_core::mention::reject_nul;
use earshot_core::workflow_store::{Handoff, HandoffKind};
use earshot_workflow::{Action, can};
use serde::Deserialize;

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody, Path};
use crate::state::AppState;
use earshot_app::access::denied;

use super::input::{ApiResult, body, name_ok};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffInput {
    pub kind: HandoffKind,
    /// The location (store) or product.
    pub target: String,
    /// The question, with the customer's context.
    pub message: String,
}

/// Hand a case to a store manager or product owner; the managers of that
/// location are notified.
#[utoipa::path(post, path = "/api/v1/cases/{id}/handoff", tag = "workflow",
    params(("id" = i64, Path)), request_body = HandoffInput,
    responses((status = 201, body = Handoff), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_handoff(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Handoff>)> {
    let id = CaseId(id);
    let input: HandoffInput = body(raw)?;
    let target = name_ok("target", &input.target)?;
    let message = input.message.trim();
    if message.is_empty() || message.len() > 20_000 {
        return Err(ApiError(Error::invalid_field(
            "message",
            "must be 1-20000 bytes",
        )));
    }
    reject_nul("message", message)?;
    let detail = earshot_app::cases::case_detail(&state.app, id).await?;
    let a = earshot_app::access::actor(&state.app, &auth.0).await?;
    can(
        &a,
        Action::UpdateCase,
        &earshot_app::access::scope(&state.app, &detail.case).await?,
    )
    .map_err(denied)?;
    let now = state.app.clock.now();
    let h = state
        .app
        .workflow
        .create_handoff(id, input.kind, &target, message, &auth.0.name, now)
        .await?;
    let text = format!(
        "Case #{id} handed to {target}: {message} (customer: @{})",
        detail.case.author_handle
    );
    for u in state.app.workflow.users().await? {
        if u.locations.as_ref().is_some_and(|l| l.contains(&target)) {
            state
                .app
                .workflow
                .notify(
                    &u.name,
                    "handoff",
                    Some(id),
                    &text,
                    &serde_json::json!({"handoff_id": h.id}),
                    now,
                )
                .await?;
        }
    }
    Ok((StatusCode::CREATED, Json(h)))
}

/// The case's handoffs and their answers.
#[utoipa::path(get, path = "/api/v1/cases/{id}/handoff", tag = "workflow",
    params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Handoff>), (status = 403, body = ErrorBody)))]
pub async fn case_handoffs(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<Handoff>>> {
    let id = CaseId(id);
    let detail = earshot_app::cases::case_detail(&state.app, id).await?;
    earshot_app::access::check_visible(&state.app, &auth.0, &detail.case).await?;
    Ok(Json(state.app.workflow.handoffs(Some(id)).await?))
}

/// Handoffs the caller may see: a manager only those for their locations.
#[utoipa::path(get, path = "/api/v1/handoffs", tag = "workflow",
    responses((status = 200, body = Vec<Handoff>)))]
pub async fn list_handoffs(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<Vec<Handoff>>> {
    let a = earshot_app::access::actor(&state.app, &auth.0).await?;
    let all = state.app.workflow.handoffs(None).await?;
    Ok(Json(
        all.into_iter()
            .filter(|h| earshot_workflow::location_visible(&a, Some(&h.target)))
            .collect(),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerInput {
    pub answer: String,
}

/// A manager answers a handoff; the answer comes back into the case as a note.
#[utoipa::path(post, path = "/api/v1/handoffs/{id}/answer", tag = "workflow",
    params(("id" = i64, Path)), request_body = AnswerInput,
    responses((status = 200, body = Handoff), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn answer_handoff(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Handoff>> {
    let input: AnswerInput = body(raw)?;
    let answer = input.answer.trim();
    if answer.is_empty() || answer.len() > 20_000 {
        return Err(ApiError(Error::invalid_field(
            "answer",
            "must be 1-20000 bytes",
        )));
    }
    reject_nul("answer", answer)?;
    let h = state
        .app
        .workflow
        .handoff(id)
        .await?
        .ok_or_else(|| Error::not_found(format!("handoff {id}")))?;
    let a = earshot_app::access::actor(&state.app, &auth.0).await?;
    let scope = earshot_workflow::CaseScope {
        team: None,
        location: Some(h.target.clone()),
        sensitive: false,
    };
    can(&a, Action::AnswerHandoff, &scope).map_err(denied)?;
    let answered = state
        .app
        .workflow
        .answer_handoff(id, answer, &auth.0.name, state.app.clock.now())
        .await?;
    if let Some(case) = state.app.store.case_detail(h.case_id).await?
        && let Some(assignee) = case.case.assignee
    {
        let text = format!("{} answered on case #{}: {answer}", auth.0.name, h.case_id);
        state
            .app
            .workflow
            .notify(
                &assignee,
                "handoff_answer",
                Some(h.case_id),
                &text,
                &serde_json::json!({"handoff_id": id}),
                state.app.clock.now(),
            )
            .await?;
    }
    Ok(Json(answered))
}
