//! `/api/v1/approvals`: replies held for approval, approved, rejected or posted by hand.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use earshot_core::error::Error;
use earshot_core::ids::ReplyId;
use earshot_core::reply::Reply;
use earshot_core::workflow_store::ApprovalRecord;
use earshot_workflow::Action;
use serde::Deserialize;

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody, Path, parse_json};
use crate::state::AppState;

use super::input::{ApiResult, body};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ApprovalQuery {
    /// Include approved ones too.
    #[serde(default)]
    pub all: bool,
}

/// Replies waiting for a supervisor's approval (supervisors, admins).
#[utoipa::path(get, path = "/api/v1/approvals", tag = "workflow", params(ApprovalQuery),
    responses((status = 200, body = Vec<ApprovalRecord>), (status = 403, body = ErrorBody)))]
pub async fn list_approvals(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<ApprovalQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<ApprovalRecord>>> {
    let Query(query) = query?;
    earshot_app::access::require(&state.app, &auth.0, Action::ApproveReply).await?;
    Ok(Json(state.app.workflow.approvals(!query.all).await?))
}

/// Approve a held reply: it is sent, and the approver recorded on the
/// reply and in the audit log. Nobody approves their own reply.
#[utoipa::path(post, path = "/api/v1/replies/{id}/approve", tag = "workflow",
    params(("id" = i64, Path, description = "Reply id")),
    responses((status = 200, body = Reply), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn approve_reply(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<Json<Reply>> {
    let id = ReplyId(id);
    Ok(Json(
        earshot_app::replies::approve(&state.app, &auth.0, id).await?,
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostedInput {
    /// A link to the post the agent made, when they have one.
    #[serde(default)]
    pub url: Option<String>,
}

/// Record that a reply left to post by hand (no connector delivers to its
/// source, or its channel refused it) was posted by the agent themselves.
/// Only then is it `sent`, and only then does the customer's clock stop.
#[utoipa::path(post, path = "/api/v1/replies/{id}/posted", tag = "workflow",
    params(("id" = i64, Path, description = "Reply id")),
    request_body = PostedInput,
    responses((status = 200, body = Reply), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reply_posted(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Reply>> {
    let id = ReplyId(id);
    let body = body?;
    let input: PostedInput = if body.iter().all(u8::is_ascii_whitespace) {
        PostedInput::default()
    } else {
        parse_json(&body)?
    };
    Ok(Json(
        earshot_app::replies::mark_posted_by_hand(&state.app, auth.writer()?, id, input.url)
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectInput {
    /// What the author should change.
    pub reason: String,
}

/// Turn a held reply down with a reason for its author; it stays a draft
/// and leaves the approval queue.
#[utoipa::path(post, path = "/api/v1/replies/{id}/reject", tag = "workflow",
    params(("id" = i64, Path, description = "Reply id")), request_body = RejectInput,
    responses((status = 200, body = ApprovalRecord), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reject_reply(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ApprovalRecord>> {
    let id = ReplyId(id);
    let input: RejectInput = body(raw)?;
    let reason = input.reason.trim();
    if reason.is_empty() || reason.len() > 2000 {
        return Err(ApiError(Error::invalid_field(
            "reason",
            "must be 1-2000 bytes",
        )));
    }
    Ok(Json(
        earshot_app::replies::reject(&state.app, &auth.0, id, reason).await?,
    ))
}
