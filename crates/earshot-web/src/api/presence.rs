//! `/api/v1/cases/{id}/presence`: who is looking at or replying to a case.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use earshot_core::ids::CaseId;
use earshot_workflow::{Activity, Presence};
use serde::{Deserialize, Serialize};

use crate::auth::Authenticated;
use crate::error::{ErrorBody, Path};
use crate::state::AppState;

use super::input::{ApiResult, body};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceInput {
    pub activity: Activity,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PresenceView {
    /// Everyone else viewing or drafting the case, drafters first.
    pub others: Vec<Presence>,
}

/// Heartbeat: "I am viewing/drafting this case" (lasts 60 s); answers who
/// else is on it.
#[utoipa::path(post, path = "/api/v1/cases/{id}/presence", tag = "workflow",
    params(("id" = i64, Path)), request_body = PresenceInput,
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 200, body = PresenceView), (status = 404, body = ErrorBody)))]
pub async fn touch_presence(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<PresenceView>> {
    let id = CaseId(id);
    let input: PresenceInput = body(raw)?;
    let others = earshot_app::presence::touch(&state.app, &auth.0, id, input.activity).await?;
    Ok(Json(PresenceView { others }))
}

/// Who is viewing or drafting the case now.
#[utoipa::path(get, path = "/api/v1/cases/{id}/presence", tag = "workflow",
    params(("id" = i64, Path)),
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 200, body = PresenceView)))]
pub async fn get_presence(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<Json<PresenceView>> {
    let id = CaseId(id);
    let others = earshot_app::presence::others(&state.app, &auth.0, id).await?;
    Ok(Json(PresenceView { others }))
}
