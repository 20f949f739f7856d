//! `/api/v1/sla-policies`, a case's SLA state and the SLA report.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use earshot_core::error::Error;
use earshot_core::ids::CaseId;
use earshot_workflow::{Action, SlaEvaluation, SlaPolicy, SlaReport};
use serde::Serialize;

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody, Path, parse_json};
use crate::state::AppState;

use super::input::{ApiResult, body};

fn policy_in(raw: Result<Bytes, BytesRejection>, id: i64) -> ApiResult<SlaPolicy> {
    let mut v: serde_json::Value = body(raw)?;
    if let Some(o) = v.as_object_mut() {
        // The store assigns ids; a client-sent id is ignored.
        o.insert("id".into(), serde_json::json!(id));
    }
    // Parsed from text so the error names the field at fault.
    let policy: SlaPolicy = parse_json(v.to_string().as_bytes())?;
    policy
        .validate()
        .map_err(|e| ApiError(Error::invalid_field("policy", e)))?;
    Ok(policy)
}

#[utoipa::path(get, path = "/api/v1/sla-policies", tag = "workflow",
    responses((status = 200, body = Vec<SlaPolicy>)))]
pub async fn list_policies(
    State(state): State<AppState>,
    _auth: Authenticated,
) -> ApiResult<Json<Vec<SlaPolicy>>> {
    Ok(Json(earshot_app::sla::policies(&state.app).await?))
}

/// Create an SLA policy (supervisors, admins).
#[utoipa::path(post, path = "/api/v1/sla-policies", tag = "workflow", request_body = SlaPolicy,
    responses((status = 201, body = SlaPolicy), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_policy(
    State(state): State<AppState>,
    auth: Authenticated,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<SlaPolicy>)> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageSlaPolicies).await?;
    let v = policy_in(raw, 0)?;
    let saved = state
        .app
        .workflow
        .create_sla_policy(&v, &auth.0.name, state.app.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

#[utoipa::path(put, path = "/api/v1/sla-policies/{id}", tag = "workflow",
    params(("id" = i64, Path)), request_body = SlaPolicy,
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 200, body = SlaPolicy), (status = 404, body = ErrorBody)))]
pub async fn update_policy(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<SlaPolicy>> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageSlaPolicies).await?;
    let v = policy_in(raw, id)?;
    Ok(Json(
        state
            .app
            .workflow
            .update_sla_policy(id, &v, &auth.0.name, state.app.clock.now())
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/sla-policies/{id}", tag = "workflow",
    params(("id" = i64, Path)),
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_policy(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageSlaPolicies).await?;
    state
        .app
        .workflow
        .delete_sla_policy(id, &auth.0.name, state.app.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaseSla {
    pub case_id: i64,
    /// `active`, `warning`, `hit`, `missed`; `null` when no policy applies.
    pub state: Option<earshot_workflow::CaseSlaState>,
    pub evaluation: Option<SlaEvaluation>,
}

/// A case's SLA state now: each target's status, due time and remaining
/// time, and the escalation steps due.
#[utoipa::path(get, path = "/api/v1/cases/{id}/sla", tag = "workflow",
    params(("id" = i64, Path)),
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 200, body = CaseSla), (status = 404, body = ErrorBody)))]
pub async fn case_sla(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<Json<CaseSla>> {
    let id = CaseId(id);
    let detail = earshot_app::cases::case_detail(&state.app, id).await?;
    earshot_app::access::check_visible(&state.app, &auth.0, &detail.case).await?;
    let policies = earshot_app::sla::policies(&state.app).await?;
    let eval = earshot_app::sla::evaluate_case(
        &state.app,
        &policies,
        &detail,
        state.app.clock.now(),
        false,
    )
    .await?;
    Ok(Json(CaseSla {
        case_id: id.0,
        state: eval.as_ref().and_then(SlaEvaluation::overall),
        evaluation: eval,
    }))
}

/// "% SLA met" over every case's targets as last evaluated.
#[utoipa::path(get, path = "/api/v1/sla/report", tag = "workflow",
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 200, body = SlaReport)))]
pub async fn report(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<SlaReport>> {
    earshot_app::access::require(&state.app, &auth.0, Action::ViewReports).await?;
    Ok(Json(earshot_app::sla::report(&state.app, None).await?))
}
