//! Taking a case private: `/api/v1/cases/{id}/private-channels`,
//! `/take-private`, `/private-handoffs` and `/follow-ups/{handoff_id}/done`.
//! (Not `/handoff`, which hands a case to a store manager.) The logic is
//! `earshot_app::handoff`'s; these handlers parse and answer.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use earshot_app::handoff::{TakePrivate, Taken};
use earshot_core::error::{Error, ErrorCode};
use earshot_core::ids::{CaseId, PrivateHandoffId, ReplyId, SourceId};
use earshot_core::private_handoff::{ChannelOption, PrivateChannelKind, PrivateHandoff};
use serde::Deserialize;

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody, Path};
use crate::state::AppState;

use super::input::{ApiResult, body};

/// The ways this case can be taken private, best first: the platform's
/// own private messages, email, a phone call, a "DM us" reply. Each says
/// whether it can be chosen now and, when not, why (the platform's gate in
/// its own words, "no email source is configured", "… has no private
/// messages"). The platform's gate is asked now.
#[utoipa::path(get, path = "/api/v1/cases/{id}/private-channels", tag = "cases",
    params(("id" = i64, Path, description = "Case id")),
    responses((status = 200, body = Vec<ChannelOption>), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn private_channels(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<ChannelOption>>> {
    Ok(Json(
        earshot_app::handoff::private_channels(&state.app, &auth.0, CaseId(id)).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TakePrivateRequest {
    /// Where the private part goes (`GET …/private-channels` lists them).
    pub channel: PrivateChannelKind,
    /// The public acknowledgement: required where the platform has public
    /// replies, refused where it has none.
    #[serde(default)]
    pub public_text: Option<String>,
    /// The private message (`platform`, `email`).
    #[serde(default)]
    pub private_text: Option<String>,
    /// The customer's email address (`email`).
    #[serde(default)]
    pub address: Option<String>,
    /// Which email source sends it, when there are several (`email`).
    #[serde(default)]
    pub source_id: Option<i64>,
    /// The email's subject (`email`); by default it names the issue and the case.
    #[serde(default)]
    pub subject: Option<String>,
    /// What the follow-up is (`phone`, `dm_us`); internal, never sent.
    #[serde(default)]
    pub follow_up_note: Option<String>,
    /// When the follow-up is due (`phone`, `dm_us`); in the future.
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    /// Send texts the personalisation check finds generic anyway (recorded).
    #[serde(default)]
    pub override_personalisation: bool,
    /// The latest public reply the agent saw; a newer one by someone else
    /// makes this a 409.
    #[serde(default)]
    pub last_public_reply_seen: Option<i64>,
}

/// Take the case private as one handoff: the public acknowledgement and
/// the private message (or a phone / "DM us" follow-up with a due time).
/// Checked in order, and nothing is stored when any check refuses: the
/// fields (400 naming the field), the channel's gate (422 naming `channel`,
/// in the platform's words), the personalisation check of both texts (422
/// with the reasons unless `override_personalisation`), the workflow (403;
/// 409 for an unseen public reply by another agent). A trainee's handoff,
/// or one on a sensitive case, holds both texts for approval (202).
#[utoipa::path(post, path = "/api/v1/cases/{id}/take-private", tag = "cases",
    params(("id" = i64, Path, description = "Case id")), request_body = TakePrivateRequest,
    responses((status = 201, description = "Taken private; both texts are on their way", body = PrivateHandoff),
        (status = 202, description = "Both texts held for a supervisor's approval", body = PrivateHandoff),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Another agent's public reply was not seen", body = ErrorBody),
        (status = 422, description = "The channel's gate is closed, or a text reads as generic", body = ErrorBody)))]
pub async fn take_private(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<PrivateHandoff>)> {
    let id = CaseId(id);
    let actor = auth.writer()?;
    let req: TakePrivateRequest = body(raw)?;
    let ask = TakePrivate {
        channel: Some(req.channel),
        public_text: req.public_text,
        private_text: req.private_text,
        address: req.address,
        email_source_id: req.source_id.map(SourceId),
        subject: req.subject,
        follow_up_note: req.follow_up_note,
        due_at: req.due_at,
        override_personalisation: req.override_personalisation,
        last_public_reply_seen: req.last_public_reply_seen.map(ReplyId),
    };
    match earshot_app::handoff::take_private(&state.app, actor, id, &ask).await? {
        Taken::Generic(w) => Err(ApiError(Error::new(ErrorCode::Unprocessable, w.message()))),
        Taken::Done(h) => {
            let held = h
                .public_reply
                .iter()
                .chain(h.private_reply.iter())
                .any(|r| r.status == earshot_core::ReplyStatus::PendingApproval);
            let status = if held {
                StatusCode::ACCEPTED
            } else {
                StatusCode::CREATED
            };
            Ok((status, Json(*h)))
        }
    }
}

/// The case's private handoffs, oldest first: both messages with their
/// delivery state, and any follow-up.
#[utoipa::path(get, path = "/api/v1/cases/{id}/private-handoffs", tag = "cases",
    params(("id" = i64, Path, description = "Case id")),
    responses((status = 200, body = Vec<PrivateHandoff>), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn private_handoffs(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<PrivateHandoff>>> {
    Ok(Json(
        earshot_app::handoff::handoffs(&state.app, &auth.0, CaseId(id)).await?,
    ))
}

/// Mark a phone or "DM us" follow-up done (the call was made, the
/// customer wrote). 409 when it already is; 400 when the handoff has no
/// follow-up.
#[utoipa::path(post, path = "/api/v1/cases/{id}/follow-ups/{handoff_id}/done", tag = "cases",
    params(("id" = i64, Path, description = "Case id"),
        ("handoff_id" = i64, Path, description = "The private handoff's id")),
    responses((status = 200, body = PrivateHandoff), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Already marked done", body = ErrorBody)))]
pub async fn follow_up_done(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((id, handoff_id)): Path<(i64, i64)>,
) -> ApiResult<Json<PrivateHandoff>> {
    let actor = auth.writer()?;
    Ok(Json(
        earshot_app::handoff::follow_up_done(
            &state.app,
            actor,
            CaseId(id),
            PrivateHandoffId(handoff_id),
        )
        .await?,
    ))
}
