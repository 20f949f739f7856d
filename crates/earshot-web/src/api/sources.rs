//! `/api/v1/sources`: where Earshot listens. Admins write, supervisors
//! read; credentials are write-only (see `earshot_app::sources`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use earshot_app::sources::{SourceUpdate, SourceView};
use earshot_core::ids::SourceId;
use earshot_core::source::SourceKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::Authenticated;
use crate::error::{ErrorBody, Path};
use crate::state::AppState;

use super::input::{ApiResult, body};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSourceInput {
    pub kind: SourceKind,
    pub name: String,
    /// The connector's settings, credentials included (write-only); see
    /// docs/connectors/<kind>.md.
    #[schema(value_type = Object)]
    pub config: Value,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourcePatchInput {
    #[serde(default)]
    pub name: Option<String>,
    /// Merged into the stored config; a credential left out keeps its
    /// value, a field set to null returns to its default.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    #[serde(default)]
    pub paused: Option<bool>,
}

/// A source as the API shows it: never a credential, only which are set.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Source {
    #[serde(flatten)]
    pub source: SourceView,
    /// Where a webhook source's sender pushes (webhook sources only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound_url: Option<String>,
}

impl From<SourceView> for Source {
    fn from(source: SourceView) -> Self {
        let inbound_url = (source.kind == SourceKind::Webhook)
            .then(|| format!("/api/v1/sources/{}/inbound", source.id));
        Source {
            source,
            inbound_url,
        }
    }
}

/// Add a source (admins). `config` carries the connector's settings and
/// credentials; the answer says which credentials are set, never their
/// values. A bad setting is 400 naming `config.<field>`.
#[utoipa::path(post, path = "/api/v1/sources", tag = "sources", request_body = NewSourceInput,
    responses((status = 201, body = Source), (status = 403, body = ErrorBody),
        (status = 409, description = "A source with this name exists", body = ErrorBody)))]
pub async fn create_source(
    State(state): State<AppState>,
    auth: Authenticated,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Source>)> {
    let input: NewSourceInput = body(raw)?;
    let view =
        earshot_app::sources::create(&state.app, &auth.0, input.kind, &input.name, input.config)
            .await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// Every source with its capabilities and health (admins, supervisors).
#[utoipa::path(get, path = "/api/v1/sources", tag = "sources",
    responses((status = 200, body = Vec<Source>), (status = 403, body = ErrorBody)))]
pub async fn list_sources(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<Vec<Source>>> {
    let views = earshot_app::sources::list(&state.app, &auth.0).await?;
    Ok(Json(views.into_iter().map(Source::from).collect()))
}

/// One source: capabilities, health (state, last success, last error in
/// the platform's words, counts) and cursor.
#[utoipa::path(get, path = "/api/v1/sources/{id}", tag = "sources",
    params(("id" = i64, Path)),
    responses((status = 200, body = Source), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_source(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<Json<Source>> {
    let view = earshot_app::sources::get(&state.app, &auth.0, SourceId(id)).await?;
    Ok(Json(view.into()))
}

/// Pause, resume, rename or re-configure a source (admins); `config` is
/// merged into the stored one.
#[utoipa::path(patch, path = "/api/v1/sources/{id}", tag = "sources",
    params(("id" = i64, Path)), request_body = SourcePatchInput,
    responses((status = 200, body = Source), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "A source with this name exists", body = ErrorBody)))]
pub async fn update_source(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Source>> {
    let input: SourcePatchInput = body(raw)?;
    let change = SourceUpdate {
        name: input.name,
        config: input.config,
        paused: input.paused,
    };
    let view = earshot_app::sources::update(&state.app, &auth.0, SourceId(id), change).await?;
    Ok(Json(view.into()))
}

/// Delete a source (admins); the mentions it heard stay.
#[utoipa::path(delete, path = "/api/v1/sources/{id}", tag = "sources",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_source(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    earshot_app::sources::delete(&state.app, &auth.0, SourceId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
