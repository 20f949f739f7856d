//! `/api/v1/teams`: teams with their members, calendar and assignment strategy.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use earshot_core::error::{Error, ErrorCode};
use earshot_core::workflow_store::TeamRecord;
use earshot_workflow::{Action, AssignmentStrategy, BusinessCalendar};
use serde::Deserialize;

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody, Path};
use crate::state::AppState;

use super::input::{ApiResult, body, name_ok};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamInput {
    pub name: String,
    /// Opening hours, time zone and holidays; leave out for calendar hours.
    #[serde(default)]
    pub calendar: Option<BusinessCalendar>,
    #[serde(default = "round_robin")]
    pub strategy: AssignmentStrategy,
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub supervisor: Option<String>,
}

fn round_robin() -> AssignmentStrategy {
    AssignmentStrategy::RoundRobin
}

fn team_record(input: TeamInput) -> ApiResult<TeamRecord> {
    let members = input
        .members
        .iter()
        .map(|m| name_ok("members", m))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(TeamRecord {
        name: name_ok("name", &input.name)?,
        calendar: input.calendar,
        strategy: input.strategy,
        members,
        supervisor: input
            .supervisor
            .map(|s| name_ok("supervisor", &s))
            .transpose()?,
        round_robin_cursor: None,
    })
}

/// Teams with their members, calendar and assignment strategy.
#[utoipa::path(get, path = "/api/v1/teams", tag = "workflow",
    responses((status = 200, body = Vec<TeamRecord>), (status = 401, body = ErrorBody)))]
pub async fn list_teams(
    State(state): State<AppState>,
    _auth: Authenticated,
) -> ApiResult<Json<Vec<TeamRecord>>> {
    Ok(Json(state.app.workflow.teams().await?))
}

/// Create a team (admins).
#[utoipa::path(post, path = "/api/v1/teams", tag = "workflow", request_body = TeamInput,
    responses((status = 201, body = TeamRecord), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_team(
    State(state): State<AppState>,
    auth: Authenticated,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<TeamRecord>)> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageTeams).await?;
    let team = team_record(body(raw)?)?;
    if state.app.workflow.team(&team.name).await?.is_some() {
        return Err(ApiError::new(
            ErrorCode::TeamExists,
            format!(
                "team {:?} exists; PUT /api/v1/teams/{} changes it",
                team.name, team.name
            ),
        ));
    }
    let saved = state
        .app
        .workflow
        .put_team(&team, &auth.0.name, state.app.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

#[utoipa::path(get, path = "/api/v1/teams/{name}", tag = "workflow",
    params(("name" = String, Path, min_length = 1, max_length = 64, description = "The team name (1-64 printable characters)")),
    responses((status = 200, body = TeamRecord), (status = 404, body = ErrorBody)))]
pub async fn get_team(
    State(state): State<AppState>,
    _auth: Authenticated,
    Path(name): Path<String>,
) -> ApiResult<Json<TeamRecord>> {
    state
        .app
        .workflow
        .team(&name)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError(Error::not_found(format!("team {name:?}"))))
}

/// Replace a team (admins); the name in the path wins.
#[utoipa::path(put, path = "/api/v1/teams/{name}", tag = "workflow",
    params(("name" = String, Path, min_length = 1, max_length = 64, description = "The team name (1-64 printable characters)")), request_body = TeamInput,
    responses((status = 200, body = TeamRecord), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_team(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(name): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<TeamRecord>> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageTeams).await?;
    let mut input: TeamInput = body(raw)?;
    input.name = name.clone();
    if state.app.workflow.team(&name).await?.is_none() {
        return Err(ApiError(Error::not_found(format!("team {name:?}"))));
    }
    let team = team_record(input)?;
    Ok(Json(
        state
            .app
            .workflow
            .put_team(&team, &auth.0.name, state.app.clock.now())
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/teams/{name}", tag = "workflow",
    params(("name" = String, Path, min_length = 1, max_length = 64, description = "The team name (1-64 printable characters)")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_team(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageTeams).await?;
    state
        .app
        .workflow
        .delete_team(&name, &auth.0.name, state.app.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
