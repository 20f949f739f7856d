//! `/api/v1/webhooks`: outbound webhooks and their deliveries.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use earshot_core::error::Error;
use earshot_core::mention::reject_nul;
use earshot_core::workflow_store::{Webhook, WebhookDelivery};
use earshot_workflow::Action;
use serde::{Deserialize, Serialize};

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody, Path};
use crate::state::AppState;

use super::input::{ApiResult, body};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// An incoming-webhook URL (Slack, Mattermost, Rocket.Chat).
    pub url: String,
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "workflow",
    responses((status = 200, body = Vec<Webhook>), (status = 403, body = ErrorBody)))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<Vec<Webhook>>> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageTeams).await?;
    Ok(Json(state.app.workflow.webhooks().await?))
}

/// A webhook just added, with its signing secret: shown this once, never
/// listed again.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// Key of the HMAC-SHA256 in each delivery's `X-Earshot-Signature`.
    pub signing_secret: String,
}

/// Add an outbound webhook (admins); SLA warnings, breaches, escalations,
/// assignments and rule notifications are queued for it as Slack payloads.
/// Deliveries are signed; the answer carries the signing secret, once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "workflow", request_body = WebhookInput,
    responses((status = 201, body = CreatedWebhook), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn add_webhook(
    State(state): State<AppState>,
    auth: Authenticated,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageTeams).await?;
    let input: WebhookInput = body(raw)?;
    let url = input.url.trim();
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2000 {
        return Err(ApiError(Error::invalid_field(
            "url",
            "must be an http(s) URL",
        )));
    }
    reject_nul("url", url)?;
    earshot_app::deliveries::check_target(url, state.app.delivery_policy)
        .map_err(|why| ApiError(Error::invalid_field("url", why)))?;
    let signing_secret = earshot_app::deliveries::generate_secret();
    let webhook = state
        .app
        .workflow
        .add_webhook(url, &signing_secret, &auth.0.name, state.app.clock.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook {
            webhook,
            signing_secret,
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "workflow",
    params(("id" = i64, Path)),
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageTeams).await?;
    state
        .app
        .workflow
        .delete_webhook(id, &auth.0.name, state.app.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Payloads queued for the webhooks, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/deliveries", tag = "workflow",
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 200, body = Vec<WebhookDelivery>)))]
pub async fn webhook_deliveries(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<Vec<WebhookDelivery>>> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageTeams).await?;
    Ok(Json(state.app.workflow.webhook_deliveries(100).await?))
}
