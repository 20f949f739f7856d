//! Ingestion and search of mentions.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use earshot_core::analysis::Analysis;
use earshot_core::error::{Error, ErrorCode};
use earshot_core::mention::{Mention, MentionInput, NewMention};
use earshot_core::store::{CaseLink, MentionQuery};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody, parse_json, parse_json_borrowed, parse_record};
use crate::state::AppState;

/// Most records accepted in one request.
pub const MAX_BATCH: usize = 10_000;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    Created,
    Duplicate,
    Error,
}

/// What happened to one posted record.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordResult {
    pub index: usize,
    pub status: RecordStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mention_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case: Option<CaseLink>,
    pub advocate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchResult {
    pub created: usize,
    pub duplicates: usize,
    pub errors: usize,
    pub results: Vec<RecordResult>,
}

/// The 200 answer: a duplicate single record, or a fully accepted batch.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // only describes the answer in the OpenAPI document
enum RecordOrBatch {
    Record(RecordResult),
    Batch(BatchResult),
}

fn record_error(index: usize, e: Error) -> RecordResult {
    RecordResult {
        index,
        status: RecordStatus::Error,
        mention_id: None,
        analysis: None,
        case: None,
        advocate: false,
        error: Some(ErrorBody {
            code: e.code,
            message: format!("record {index}: {}", e.message),
        }),
    }
}

/// Ingest one mention (an object) or a batch (an array of objects).
///
/// Each record is validated, analysed and stored on its own: a bad record is
/// reported with the field at fault and never half-written, while its good
/// neighbours are stored. Re-sending the same (source, external_id) stores
/// nothing new. A single object answers 201 (created), 200 (duplicate) or
/// 4xx; a batch answers 200 when every record was accepted, 207 when some
/// failed and 422 when all did.
#[utoipa::path(
    post,
    path = "/api/v1/mentions",
    tag = "mentions",
    request_body(content = MentionInput, description = "One mention, or an array of up to 10,000"),
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 409, description = "The same mentions are being stored concurrently; retry", body = ErrorBody),
        (status = 201, description = "Stored, analysed, routed", body = RecordResult),
        (status = 200, description = "A duplicate, or a batch fully accepted", body = RecordOrBatch),
        (status = 207, description = "A batch with some invalid records", body = BatchResult),
        (status = 400, description = "Malformed JSON or an invalid field", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A batch where every record is invalid", body = BatchResult),
    )
)]
pub async fn post_mentions(
    State(state): State<AppState>,
    auth: Authenticated,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    auth.writer()?;
    let body = body?;
    // Records are split without building a JSON tree, then each is parsed
    // straight into its type, so a bad record is reported on its own.
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let (records, single): (Vec<&RawValue>, bool) = match first {
        Some(b'[') => (parse_json_borrowed(&body)?, false),
        Some(b'{') => (vec![parse_json_borrowed::<&RawValue>(&body)?], true),
        _ => {
            // Either not JSON at all, or JSON of the wrong shape.
            parse_json::<serde_json::Value>(&body)?;
            return Err(ApiError::new(
                ErrorCode::InvalidJson,
                "body: expected a mention object or an array of them",
            ));
        }
    };
    if records.len() > MAX_BATCH {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "body: {} records; at most {MAX_BATCH} per request",
                records.len()
            ),
        ));
    }

    let mut results: Vec<Option<RecordResult>> = Vec::with_capacity(records.len());
    let mut valid: Vec<(usize, NewMention)> = Vec::with_capacity(records.len());
    let now = state.app.clock.now();
    for (index, record) in records.into_iter().enumerate() {
        match parse_record::<MentionInput>(record.get()).and_then(|m| m.validate(now)) {
            Ok(m) => {
                valid.push((index, m));
                results.push(None);
            }
            Err(e) => results.push(Some(record_error(index, e))),
        }
    }

    if single && let Some(Some(failed)) = results.first_mut() {
        let body = failed.error.take();
        let e = body.map(|b| Error::new(b.code, b.message.replacen("record 0: ", "", 1)));
        return Err(ApiError(e.unwrap_or_else(|| Error::internal("lost error"))));
    }

    let (indices, mentions): (Vec<usize>, Vec<NewMention>) = valid.into_iter().unzip();
    let ingested = earshot_app::ingest::ingest(&state.app, mentions).await?;
    for (
        index,
        earshot_app::ingest::Ingested {
            mention: item,
            outcome,
        },
    ) in indices.into_iter().zip(ingested)
    {
        results[index] = Some(RecordResult {
            index,
            status: if outcome.duplicate {
                RecordStatus::Duplicate
            } else {
                RecordStatus::Created
            },
            mention_id: Some(outcome.mention_id.0),
            analysis: (!outcome.duplicate).then_some(item.analysis),
            case: outcome.case,
            advocate: outcome.advocate,
            error: None,
        });
    }
    let results: Vec<RecordResult> = results.into_iter().flatten().collect();

    if single {
        let result = results
            .into_iter()
            .next()
            .ok_or_else(|| Error::internal("no result for the record"))?;
        let status = match result.status {
            RecordStatus::Created => StatusCode::CREATED,
            _ => StatusCode::OK,
        };
        return Ok((status, Json(json_value(&result)?)));
    }
    let count = |s: fn(&RecordStatus) -> bool| results.iter().filter(|r| s(&r.status)).count();
    let created = count(|s| matches!(s, RecordStatus::Created));
    let duplicates = count(|s| matches!(s, RecordStatus::Duplicate));
    let errors = count(|s| matches!(s, RecordStatus::Error));
    let status = if errors == 0 {
        StatusCode::OK
    } else if errors == results.len() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::MULTI_STATUS
    };
    let batch = BatchResult {
        created,
        duplicates,
        errors,
        results,
    };
    Ok((status, Json(json_value(&batch)?)))
}

fn json_value(value: &impl Serialize) -> Result<serde_json::Value, Error> {
    serde_json::to_value(value).map_err(|e| Error::internal(e.to_string()))
}

/// List mentions, newest first, with filters and full-text search (`q`).
/// A location manager gets only mentions of cases at their locations.
#[utoipa::path(
    get,
    path = "/api/v1/mentions",
    tag = "mentions",
    params(MentionQuery),
    responses(
        (status = 200, body = Vec<Mention>),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn list_mentions(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<MentionQuery>, QueryRejection>,
) -> Result<Json<Vec<Mention>>, ApiError> {
    let Query(query) = query?;
    let scope = earshot_app::access::read_scope(&state.app, &auth.0).await?;
    Ok(Json(
        state.app.store.mentions(&scope.mentions(query)).await?,
    ))
}
