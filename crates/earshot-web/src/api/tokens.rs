//! API tokens (admins): list them and revoke one. Tokens are created with
//! `earshot token create`, which shows the secret once.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use earshot_core::store::TokenSummary;

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Every API token with its role, creation and last use (recorded at most
/// once a minute); revoked ones carry `revoked_at`. Never the token or its
/// hash. Admins only.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = Vec<TokenSummary>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Vec<TokenSummary>>, ApiError> {
    Ok(Json(
        earshot_app::credentials::tokens(&state.app, &auth.0).await?,
    ))
}

/// Revoke a token: from the next request on it answers 401. Revoking a
/// revoked token changes nothing. Admins only.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = i64, Path, description = "Token id, from GET /api/v1/tokens")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    earshot_app::credentials::revoke_token(&state.app, &auth.0, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
