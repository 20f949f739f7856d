//! `POST /api/v1/sources/{id}/inbound`: mentions pushed by another system
//! to a signed webhook source. No token: the signature is the
//! authentication (see docs/connectors/webhook.md).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use earshot_app::inbound::ItemOutcome;
use earshot_core::error::Error;
use earshot_core::ids::SourceId;
use earshot_core::store::CaseLink;
use serde::Serialize;

use crate::error::{ApiError, ErrorBody, Path};
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Stored as a new mention.
    Accepted,
    /// The same (source, external_id) was already stored.
    Duplicate,
    /// Invalid; `error` names the field. Nothing of it was stored.
    Rejected,
}

/// What happened to one pushed item.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InboundItem {
    pub index: usize,
    pub status: ItemStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mention_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case: Option<CaseLink>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// The answer to a push.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InboundResult {
    /// The sender's delivery id (`webhook-id` or `X-GitHub-Delivery`).
    pub delivery_id: String,
    /// This delivery was received before: nothing was read or stored.
    pub duplicate: bool,
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
    pub items: Vec<InboundItem>,
}

/// Push mentions to a signed webhook source (no token: the signature over
/// the raw body authenticates). The body is one mention or an array of
/// them, as `POST /api/v1/mentions` takes (`source` defaults to `webhook`).
/// A delivery id seen before answers 200 with `duplicate: true` and stores
/// nothing. Each item is accepted, a duplicate, or rejected naming the
/// field: 200 when none was rejected, 207 when some were, 422 when all
/// items of an array were, 400 for a single invalid object.
#[utoipa::path(post, path = "/api/v1/sources/{id}/inbound", tag = "sources",
    security(()),
    params(("id" = i64, Path, description = "The webhook source")),
    request_body(content = earshot_core::mention::MentionInput, description = "One mention, or an array of up to 10,000"),
    responses(
        (status = 200, description = "Every item accepted or a duplicate, or a duplicate delivery", body = InboundResult),
        (status = 207, description = "Some items rejected, the others stored", body = InboundResult),
        (status = 422, description = "Every item rejected", body = InboundResult),
        (status = 401, description = "A missing header, a timestamp outside the window, or no matching signature", body = ErrorBody),
        (status = 404, description = "No webhook source with this id", body = ErrorBody),
        (status = 409, description = "The source is paused or its settings cannot verify pushes", body = ErrorBody),
    ))]
pub async fn receive(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<InboundResult>), ApiError> {
    let body = body?;
    let received = earshot_app::inbound::receive(&state.app, SourceId(id), &headers, &body).await?;
    let single = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    let items: Vec<InboundItem> = received
        .items
        .into_iter()
        .enumerate()
        .map(|(index, item)| match item {
            ItemOutcome::Ingested(i) => InboundItem {
                index,
                status: if i.outcome.duplicate {
                    ItemStatus::Duplicate
                } else {
                    ItemStatus::Accepted
                },
                mention_id: Some(i.outcome.mention_id.0),
                case: i.outcome.case,
                error: None,
            },
            ItemOutcome::Rejected(e) => InboundItem {
                index,
                status: ItemStatus::Rejected,
                mention_id: None,
                case: None,
                error: Some(ErrorBody {
                    code: e.code,
                    message: if single {
                        e.message
                    } else {
                        format!("item {index}: {}", e.message)
                    },
                }),
            },
        })
        .collect();
    let count = |f: fn(&ItemStatus) -> bool| items.iter().filter(|i| f(&i.status)).count();
    let accepted = count(|s| matches!(s, ItemStatus::Accepted));
    let duplicates = count(|s| matches!(s, ItemStatus::Duplicate));
    let rejected = count(|s| matches!(s, ItemStatus::Rejected));
    if single && rejected == 1 {
        let error = items.into_iter().next().and_then(|i| i.error);
        let error = error.ok_or_else(|| Error::internal("lost the item's error"))?;
        return Err(ApiError::new(error.code, error.message));
    }
    let status = if rejected == 0 {
        StatusCode::OK
    } else if rejected == items.len() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::MULTI_STATUS
    };
    Ok((
        status,
        Json(InboundResult {
            delivery_id: received.delivery_id,
            duplicate: received.duplicate,
            accepted,
            duplicates,
            rejected,
            items,
        }),
    ))
}
