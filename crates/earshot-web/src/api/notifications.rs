//! `/api/v1/notifications`: a user's notifications.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use earshot_core::workflow_store::Notification;
use serde::Deserialize;

use crate::auth::Authenticated;
use crate::error::{ErrorBody, Path};
use crate::state::AppState;

use super::input::ApiResult;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NotificationQuery {
    #[serde(default)]
    pub unread: bool,
}

/// The caller's in-app notifications, newest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "workflow", params(NotificationQuery),
    responses((status = 200, body = Vec<Notification>)))]
pub async fn list_notifications(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<NotificationQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<Notification>>> {
    let Query(query) = query?;
    Ok(Json(
        state
            .app
            .workflow
            .notifications(earshot_app::access::user_name(&auth.0), query.unread)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "workflow",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn read_notification(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    state
        .app
        .workflow
        .mark_notification_read(
            earshot_app::access::user_name(&auth.0),
            id,
            state.app.clock.now(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
