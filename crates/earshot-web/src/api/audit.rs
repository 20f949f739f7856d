//! `/api/v1/audit`: the audit log.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use earshot_core::workflow_store::{AuditQuery, AuditRecord};
use earshot_workflow::Action;

use crate::auth::Authenticated;
use crate::error::ErrorBody;
use crate::state::AppState;

use super::input::ApiResult;

/// Who changed what and when: changes to rules, policies, users, teams,
/// webhooks and approvals, and every case event, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "workflow", params(AuditQuery),
    responses((status = 200, body = Vec<AuditRecord>), (status = 403, body = ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<AuditRecord>>> {
    let Query(query) = query?;
    earshot_app::access::require(&state.app, &auth.0, Action::ViewAudit).await?;
    Ok(Json(state.app.workflow.audit(&query).await?))
}
