//! CSAT: a case's request and answer, asking now, the summary, and the
//! policies (see docs/CSAT.md). The customer's own page, `/csat/{token}`,
//! is in the desk's routes (no token, no session: the link is the
//! capability).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use earshot_app::csat::CaseCsat;
use earshot_core::csat::{CsatGroup, CsatGroupBy, CsatPeriod, CsatPolicies};
use earshot_core::error::Error;
use earshot_core::ids::CaseId;
use serde::{Deserialize, Serialize};

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody, Path};
use crate::state::AppState;

use super::input::{ApiResult, body};

/// A case's CSAT: the policy that applies, the request and its message's
/// delivery, the link while it can be answered, and the answer.
#[utoipa::path(get, path = "/api/v1/cases/{id}/csat", tag = "csat",
    params(("id" = i64, Path, description = "Case id")),
    responses(
        (status = 200, body = CaseCsat),
        (status = 403, description = "The case is outside the caller's locations", body = ErrorBody),
        (status = 404, description = "No such case", body = ErrorBody),
    ))]
pub async fn case_csat(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<Json<CaseCsat>> {
    let detail = earshot_app::cases::case_detail(&state.app, CaseId(id)).await?;
    earshot_app::access::check_visible(&state.app, &auth.0, &detail.case).await?;
    let now = state.app.clock.now();
    Ok(Json(
        earshot_app::csat::case_csat(&state.app, &detail, now).await?,
    ))
}

/// Ask the customer for CSAT now, in the case's private channel (allowed
/// under an on_resolve or on_demand policy). A request no channel carried
/// is sent again with a fresh link. The answer says how it went: `sent`, or
/// `no_channel` with the reason and the link to pass on by hand.
#[utoipa::path(post, path = "/api/v1/cases/{id}/csat", tag = "csat",
    params(("id" = i64, Path, description = "Case id")),
    responses(
        (status = 201, description = "The request was made (see `state`)", body = CaseCsat),
        (status = 403, description = "The role or scope does not allow it", body = ErrorBody),
        (status = 404, description = "No such case", body = ErrorBody),
        (status = 409, description = "The policy is never, or a request was already sent or answered", body = ErrorBody),
    ))]
pub async fn ask_csat(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, Json<CaseCsat>)> {
    let actor = auth.writer()?;
    let id = CaseId(id);
    earshot_app::csat::ask_now(&state.app, actor, id).await?;
    let detail = earshot_app::cases::case_detail(&state.app, id).await?;
    let now = state.app.clock.now();
    Ok((
        StatusCode::CREATED,
        Json(earshot_app::csat::case_csat(&state.app, &detail, now).await?),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SummaryParams {
    /// Group by the case's assignee (`agent`), team, source kind, or the
    /// period the request was made in.
    #[param(inline)]
    pub by: CsatGroupBy,
    /// With `by=period`: UTC days, ISO weeks (from Monday) or months.
    #[param(inline)]
    pub period: Option<CsatPeriod>,
    /// Requests made at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Requests made before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
}

/// The summary's answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CsatSummary {
    pub by: CsatGroupBy,
    /// Set with `by=period`.
    pub period: Option<CsatPeriod>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub groups: Vec<CsatGroup>,
}

/// CSAT by agent, team, source or period: requests, answers, response rate,
/// mean score and the share of 4s and 5s. `requests` counts requests whose
/// message left (or that were answered); `no_channel` those nothing could
/// carry. A location manager's cover their locations only.
#[utoipa::path(get, path = "/api/v1/csat/summary", tag = "csat", operation_id = "csat_summary",
    params(SummaryParams),
    responses(
        (status = 200, body = CsatSummary),
        (status = 400, description = "An unknown grouping or period, a bad time, or `from` after `to`", body = ErrorBody),
        (status = 403, description = "The role may not read reports", body = ErrorBody),
    ))]
pub async fn summary(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<SummaryParams>, QueryRejection>,
) -> ApiResult<Json<CsatSummary>> {
    let Query(q) = query?;
    if let (Some(from), Some(to)) = (q.from, q.to)
        && from > to
    {
        return Err(ApiError(Error::invalid_field(
            "from",
            "must not be after `to`",
        )));
    }
    if q.period.is_some() && q.by != CsatGroupBy::Period {
        return Err(ApiError(Error::invalid_field(
            "period",
            "applies only with by=period",
        )));
    }
    let period = (q.by == CsatGroupBy::Period).then(|| q.period.unwrap_or_default());
    let groups = earshot_app::csat::summary(
        &state.app,
        &auth.0,
        q.by,
        period.unwrap_or_default(),
        q.from,
        q.to,
    )
    .await?;
    Ok(Json(CsatSummary {
        by: q.by,
        period,
        from: q.from,
        to: q.to,
        groups,
    }))
}

/// The CSAT policies: the default, and those per team and per source
/// (admins only). The rule: `never` on the team or the source wins; then
/// the team's policy; then the source's; then the default.
#[utoipa::path(get, path = "/api/v1/csat/policies", tag = "csat",
    responses(
        (status = 200, body = CsatPolicies),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn get_policies(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<CsatPolicies>> {
    Ok(Json(
        earshot_app::csat::policies(&state.app, &auth.0).await?,
    ))
}

/// Replace every CSAT policy (admins only); what the body leaves out is
/// removed, and a missing `default` is on_resolve after 24 h.
#[utoipa::path(put, path = "/api/v1/csat/policies", tag = "csat",
    request_body = CsatPolicies,
    responses(
        (status = 200, description = "The policies now in force", body = CsatPolicies),
        (status = 400, description = "An invalid field, named", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn put_policies(
    State(state): State<AppState>,
    auth: Authenticated,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<CsatPolicies>> {
    let policies: CsatPolicies = body(raw)?;
    Ok(Json(
        earshot_app::csat::set_policies(&state.app, &auth.0, policies).await?,
    ))
}
