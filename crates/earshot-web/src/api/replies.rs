//! The personalisation check as an API, and the corrections export that
//! `earshot train --corrections FILE` reads.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use earshot_core::accounts::CorrectionTask;
use earshot_core::error::{Error, ErrorCode};
use earshot_core::ids::CaseId;
use earshot_core::personalise::CheckResult;
use serde::{Deserialize, Serialize};

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody, parse_json};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyCheckRequest {
    /// What the customer wrote.
    pub customer_text: String,
    /// The reply about to be sent.
    pub reply_text: String,
    /// A case: adds the customer's handle and name, the category and the
    /// case's own conversation to the check.
    #[serde(default)]
    pub case_id: Option<i64>,
}

/// Check whether a reply is personal before sending it.
///
/// Answers `generic: true` with the reasons when the reply is a near-duplicate
/// of one of the last 200 sent replies, a template with nothing specific
/// filled in, does not address the customer (checked when a case is given),
/// or shares no key term with the customer's message.
#[utoipa::path(
    post,
    path = "/api/v1/replies/check",
    tag = "replies",
    request_body = ReplyCheckRequest,
    responses(
        (status = 200, body = CheckResult),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such case", body = ErrorBody),
    )
)]
pub async fn check_reply(
    State(state): State<AppState>,
    _auth: Authenticated,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CheckResult>, ApiError> {
    let req: ReplyCheckRequest = parse_json(&body?)?;
    if req.reply_text.trim().is_empty() {
        return Err(ApiError(Error::invalid_field(
            "reply_text",
            "must not be empty",
        )));
    }
    Ok(Json(
        earshot_app::personalisation::check_texts(
            &state.app,
            &req.customer_text,
            &req.reply_text,
            req.case_id.map(CaseId),
        )
        .await?,
    ))
}

/// One line of the corrections export.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CorrectionLine {
    /// `sentiment`, `category` or `urgency`.
    pub task: CorrectionTask,
    pub text: String,
    pub label: String,
    /// What the model had said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

/// Agents' corrections as JSON lines for training.
///
/// One `{"task", "text", "label", "previous"}` object per line; when a
/// mention was corrected more than once for the same task, only the latest
/// counts. A location manager gets only corrections of cases at their
/// locations.
#[utoipa::path(
    get,
    path = "/api/v1/corrections.jsonl",
    tag = "replies",
    responses((status = 404, description = "The desk is not enabled on this server", body = ErrorBody),
        (status = 200, content_type = "application/x-ndjson", body = CorrectionLine),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn export_corrections(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    let desk = state.app.accounts.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            "the desk is not enabled on this server",
        )
    })?;
    let scope = earshot_app::access::read_scope(&state.app, &auth.0).await?;
    let all = desk.corrections(scope.locations()).await?;
    let mut latest: std::collections::BTreeMap<(i64, &'static str), usize> = Default::default();
    for (i, c) in all.iter().enumerate() {
        latest.insert((c.mention_id, c.task.as_str()), i);
    }
    let mut keep: Vec<usize> = latest.into_values().collect();
    keep.sort_unstable();
    let mut out = String::new();
    for i in keep {
        let c = &all[i];
        let line = serde_json::to_string(&CorrectionLine {
            task: c.task,
            text: c.text.clone(),
            label: c.label.clone(),
            previous: c.previous.clone(),
        })
        .map_err(|e| Error::internal(e.to_string()))?;
        out.push_str(&line);
        out.push('\n');
    }
    let mut r = out.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(r)
}
