//! What the workflow endpoints share: their result type and how they read
//! request bodies and names.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use earshot_core::error::Error;

use crate::error::{ApiError, parse_json};

pub(super) type ApiResult<T> = Result<T, ApiError>;

pub(super) fn body<T: serde::de::DeserializeOwned>(
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<T> {
    parse_json(&raw?)
}

pub(super) fn name_ok(field: &str, v: &str) -> ApiResult<String> {
    let v = v.trim();
    if v.is_empty() || v.len() > 64 || v.chars().any(char::is_control) {
        return Err(ApiError(Error::invalid_field(
            field,
            "must be 1-64 printable characters",
        )));
    }
    Ok(v.to_string())
}
