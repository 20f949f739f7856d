//! Recovery: whether a resolved case's unhappy author came back round, per
//! case and as rates (docs/RECOVERY.md).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use earshot_app::recovery::CaseRecovery;
use earshot_core::ids::CaseId;
use earshot_core::recovery::{RecoveryGroupBy, RecoverySummary};
use serde::Deserialize;

use super::input::ApiResult;
use crate::auth::Authenticated;
use crate::error::{ErrorBody, Path};
use crate::state::AppState;

/// A case's recovery, assessed now: the outcome (`recovered`, `lost`,
/// `unknown`, `watching`, `not_applicable`), the tone before and after, and
/// the mentions that decided it. `assessment` is `null` while the case is
/// not resolved.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{id}/recovery",
    tag = "recovery",
    params(("id" = i64, Path, description = "Case id")),
    responses(
        (status = 200, body = CaseRecovery),
        (status = 400, description = "The id is not an integer", body = ErrorBody),
        (status = 403, description = "Outside a location manager's locations", body = ErrorBody),
        (status = 404, description = "No such case", body = ErrorBody)
    )
)]
pub async fn case_recovery(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<Json<CaseRecovery>> {
    Ok(Json(
        earshot_app::recovery::case_recovery(&state.app, &auth.0, CaseId(id)).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// `agent`, `team`, `category`, `source` or `month` (the default).
    pub by: Option<RecoveryGroupBy>,
    /// Only cases resolved at or after this (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only cases resolved before this (RFC 3339); must be after `from`.
    pub to: Option<DateTime<Utc>>,
}

/// Recovery rates of resolved cases, grouped: per group the cases whose
/// author was negative before (`assessed`), how many recovered, were lost,
/// are unknown (the window closed in silence) or still watched, and the
/// recovery rate recovered / (recovered + lost + unknown) (`null` when that
/// is 0). From the stored assessments, which the worker refreshes. A report
/// about the whole brand: location managers get 403.
/// `GET /api/v1/cases?recovery=…` lists the cases behind each number.
#[utoipa::path(
    get,
    path = "/api/v1/recovery/summary",
    tag = "recovery",
    operation_id = "recovery_summary",
    params(SummaryQuery),
    responses(
        (status = 200, body = RecoverySummary),
        (status = 400, description = "An unknown grouping, a malformed time, or `to` not after `from`", body = ErrorBody),
        (status = 403, description = "Location managers may not read reports", body = ErrorBody)
    )
)]
pub async fn summary(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<SummaryQuery>, QueryRejection>,
) -> ApiResult<Json<RecoverySummary>> {
    let Query(q) = query?;
    Ok(Json(
        earshot_app::recovery::summary(&state.app, &auth.0, q.by.unwrap_or_default(), q.from, q.to)
            .await?,
    ))
}
