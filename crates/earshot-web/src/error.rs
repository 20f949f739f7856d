//! API errors: `{"code": "...", "message": "..."}` with the status from the
//! core error table. Internal details are logged, never sent.

use axum::Json;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use earshot_core::error::{Error, ErrorCode};
use serde::Serialize;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError(pub Error);

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError(Error::new(code, message))
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let Error { code, message } = self.0;
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = if code == ErrorCode::Internal {
            tracing::error!(%message, "internal error");
            "internal error; the details are in the server log".to_string()
        } else {
            message
        };
        let mut response = (status, Json(ErrorBody { code, message })).into_response();
        if code == ErrorCode::Unauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        if is_body_timeout(&r) {
            ApiError::new(
                ErrorCode::RequestTimeout,
                "the request body stopped arriving; send it without pauses",
            )
        } else if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "the request body is larger than {} bytes; send smaller batches",
                    crate::MAX_BODY_BYTES
                ),
            )
        } else {
            ApiError::new(ErrorCode::InvalidJson, r.body_text())
        }
    }
}

/// Whether reading the body failed on the server's body timeout
/// ([`tower_http::timeout::RequestBodyTimeoutLayer`]).
fn is_body_timeout(r: &BytesRejection) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(r);
    while let Some(e) = source {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// The JSON body for the 408 that [`tower_http::timeout::TimeoutLayer`]
/// answers with an empty body.
pub async fn request_timeout_body(response: Response) -> Response {
    if response.status() == StatusCode::REQUEST_TIMEOUT
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        return ApiError::new(
            ErrorCode::RequestTimeout,
            "the request took too long and was abandoned",
        )
        .into_response();
    }
    response
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        // serde_urlencoded names the offending parameter in its message.
        ApiError::new(ErrorCode::InvalidField, r.body_text())
    }
}

/// Parses a JSON document, naming the field at fault on failure.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(field_error)?;
    de.end()
        .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("invalid JSON: {e}")))?;
    Ok(value)
}

/// Like [`parse_json`], for types that borrow from the body (`&RawValue`).
pub fn parse_json_borrowed<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(field_error)?;
    de.end()
        .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("invalid JSON: {e}")))?;
    Ok(value)
}

/// Converts a value that is already JSON into a typed value, naming the field.
pub fn from_value<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| field_error(e).0)
}

/// Parses one record of a batch, naming the field at fault.
pub fn parse_record<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, Error> {
    parse_json(json.as_bytes()).map_err(|e| e.0)
}

fn field_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return ApiError::new(ErrorCode::InvalidJson, format!("invalid JSON: {inner}"));
    }
    let text = inner.to_string();
    // serde's messages end with " at line L column C", which means nothing for
    // a record inside a batch; the path says where.
    let text = text
        .split(" at line ")
        .next()
        .unwrap_or(text.as_str())
        .to_string();
    if let Some(rest) = text.strip_prefix("missing field ") {
        let field = rest.trim_matches('`');
        let full = if path == "." || path.is_empty() {
            field.to_string()
        } else {
            format!("{path}.{field}")
        };
        return ApiError::new(ErrorCode::MissingField, format!("{full}: is required"));
    }
    let field = if path == "." || path.is_empty() {
        "body".to_string()
    } else {
        path
    };
    ApiError::new(ErrorCode::InvalidField, format!("{field}: {text}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use earshot_core::mention::MentionInput;

    fn err(json: &str) -> Error {
        parse_json::<MentionInput>(json.as_bytes()).unwrap_err().0
    }

    #[test]
    fn errors_name_the_field() {
        let e = err(
            r#"{"source":"webhook","external_id":"x","author":{"handle":"a"},"text":"hi","created_at":"yesterday"}"#,
        );
        assert_eq!(e.code, ErrorCode::InvalidField);
        assert!(e.message.starts_with("created_at:"), "{}", e.message);

        let e = err(r#"{"source":"fax","external_id":"x"}"#);
        assert!(e.message.starts_with("source:"), "{}", e.message);

        let e = err(r#"{"source":"webhook","external_id":"x","author":{"handle":"a","age":3}}"#);
        assert!(
            e.message.starts_with("author.age:") || e.message.contains("age"),
            "{}",
            e.message
        );

        let e = err(
            r#"{"source":"webhook","external_id":"x","author":{"handle":"a"},"created_at":"2026-11-22T10:00:00Z"}"#,
        );
        assert_eq!(e.code, ErrorCode::MissingField);
        assert_eq!(e.message, "text: is required");
    }

    #[test]
    fn broken_json_is_invalid_json() {
        let e = err(r#"{"source":"webhook","text":"#);
        assert_eq!(e.code, ErrorCode::InvalidJson);
        let e = parse_json::<serde_json::Value>(b"{} trailing")
            .unwrap_err()
            .0;
        assert_eq!(e.code, ErrorCode::InvalidJson);
    }
}
