//! `/api/v1/users`: users as the workflow knows them, and their workflow profiles.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use earshot_core::error::Error;
use earshot_core::workflow_store::UserProfile;
use earshot_workflow::Action;
use serde::{Deserialize, Serialize};

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody, Path};
use crate::state::AppState;

use super::input::{ApiResult, body, name_ok};

/// A user as the workflow knows them: account (when the desk has one) and
/// workflow profile.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub name: String,
    pub display_name: Option<String>,
    pub role: Option<earshot_core::auth::Role>,
    pub has_account: bool,
    pub profile: UserProfile,
}

/// Users with their roles, teams and workflow profile (staff; 403 for
/// location managers).
#[utoipa::path(get, path = "/api/v1/users", tag = "workflow",
    responses((status = 200, body = Vec<UserView>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_users(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<Vec<UserView>>> {
    earshot_app::access::read_scope(&state.app, &auth.0)
        .await?
        .staff_only()?;
    let profiles = state.app.workflow.users().await?;
    let accounts = match &state.app.accounts {
        Some(desk) => desk.users().await?,
        None => Vec::new(),
    };
    let mut out: Vec<UserView> = Vec::new();
    for u in &accounts {
        let mut profile = profiles
            .iter()
            .find(|p| p.name == u.name)
            .cloned()
            .unwrap_or_else(|| UserProfile::new(u.name.clone()));
        profile.in_training |= u.in_training;
        for t in &u.teams {
            if !profile.teams.contains(t) {
                profile.teams.push(t.clone());
            }
        }
        out.push(UserView {
            name: u.name.clone(),
            display_name: Some(u.display_name.clone()),
            role: Some(u.role),
            has_account: true,
            profile,
        });
    }
    for p in profiles {
        if !out.iter().any(|u| u.name == p.name) {
            out.push(UserView {
                name: p.name.clone(),
                display_name: None,
                role: p.role,
                has_account: false,
                profile: p,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(out))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    #[serde(default)]
    pub role: Option<earshot_core::auth::Role>,
    #[serde(default)]
    pub in_training: bool,
    #[serde(default)]
    pub can_publish: Option<bool>,
    /// Store or product manager: the locations/products they manage.
    #[serde(default)]
    pub locations: Option<Vec<String>>,
    #[serde(default)]
    pub away: bool,
    #[serde(default = "ten")]
    pub capacity: u32,
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub skills: Vec<String>,
}

fn ten() -> u32 {
    10
}

/// Set a user's workflow profile (admins): training flag, publish right,
/// managed locations, away, capacity, languages, skills.
#[utoipa::path(put, path = "/api/v1/users/{name}/profile", tag = "workflow",
    params(("name" = String, Path)), request_body = ProfileInput,
    responses((status = 200, body = UserProfile), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn put_profile(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(name): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<UserProfile>> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageUsers).await?;
    let input: ProfileInput = body(raw)?;
    let profile = UserProfile {
        name: name_ok("name", &name)?,
        role: input.role,
        in_training: input.in_training,
        can_publish: input.can_publish,
        locations: input.locations,
        away: input.away,
        capacity: input.capacity,
        languages: input.languages,
        skills: input.skills,
        teams: Vec::new(),
    };
    Ok(Json(
        state
            .app
            .workflow
            .put_user(&profile, &auth.0.name, state.app.clock.now())
            .await?,
    ))
}

/// A user's workflow profile (staff; 403 for location managers).
#[utoipa::path(get, path = "/api/v1/users/{name}/profile", tag = "workflow",
    params(("name" = String, Path)),
    responses((status = 200, body = UserProfile), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get_profile(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(name): Path<String>,
) -> ApiResult<Json<UserProfile>> {
    earshot_app::access::read_scope(&state.app, &auth.0)
        .await?
        .staff_only()?;
    state
        .app
        .workflow
        .user(&name)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError(Error::not_found(format!("profile of {name:?}"))))
}
