//! API errors: `{"code": "...", "message": "..."}` with the status from the
//! core error table. Internal details are logged, never sent.

use axum::Json;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
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
        let text = r.body_text();
        let text = text
            .strip_prefix("Failed to deserialize query string: ")
            .unwrap_or(&text);
        ApiError::new(ErrorCode::InvalidQueryParameter, text)
    }
}

/// A path rejection as `name: why`; `name` is the route's only parameter
/// when axum's message does not say which one failed.
fn path_error(r: PathRejection, only_param: Option<&str>) -> ApiError {
    use axum::extract::path::ErrorKind;
    let named = |why: String| match only_param {
        Some(key) => format!("{key}: {why}"),
        None => why,
    };
    let message = match &r {
        PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
            ErrorKind::ParseErrorAtKey {
                key,
                value,
                expected_type,
            } => format!("{key}: {value:?} is not a valid {expected_type}"),
            ErrorKind::ParseError {
                value,
                expected_type,
            } => named(format!("{value:?} is not a valid {expected_type}")),
            ErrorKind::DeserializeError {
                key,
                value,
                message,
            } => format!("{key}: {value:?}: {message}"),
            ErrorKind::Message(message) => named(message.clone()),
            _ => e.body_text(),
        },
        _ => r.body_text(),
    };
    ApiError::new(ErrorCode::InvalidPathParameter, message)
}

/// `axum::extract::Path` whose rejection is an [`ApiError`], so a path
/// segment that does not parse is answered in JSON like every other error.
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(r) => {
                let params = axum::extract::RawPathParams::from_request_parts(parts, state).await;
                let keys: Vec<String> = params
                    .iter()
                    .flat_map(|p| p.iter().map(|(k, _)| k.to_string()))
                    .collect();
                let only = match keys.as_slice() {
                    [key] => Some(key.as_str()),
                    _ => None,
                };
                Err(path_error(r, only))
            }
        }
    }
}

/// Most bytes of a non-JSON error body read back to reuse as the message.
const MAX_REJECTION_TEXT: usize = 4096;

/// Rewrites every non-JSON error under `/api/v1` as an [`ErrorBody`]: the
/// rejections axum and tower-http answer in plain text or with no body (405
/// for a method the path does not take, 413 from the body limit, timeouts)
/// never reach a handler's `ApiError`.
pub async fn json_rejections(request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/api/v1/") {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REJECTION_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let code = match status.as_u16() {
        401 => ErrorCode::Unauthorized,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        408 => ErrorCode::RequestTimeout,
        413 => ErrorCode::PayloadTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        429 => ErrorCode::TooManyRequests,
        500.. => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    };
    let message = match code {
        // axum adds the Allow header after this layer has run.
        ErrorCode::MethodNotAllowed => {
            format!("{method} is not allowed on {path}; the Allow header lists what is")
        }
        ErrorCode::PayloadTooLarge => format!(
            "the request body is larger than {} bytes; send smaller batches",
            crate::MAX_BODY_BYTES
        ),
        ErrorCode::Internal => {
            tracing::error!(%status, %text, "internal error outside a handler");
            "internal error; the details are in the server log".to_string()
        }
        _ if text.is_empty() => status
            .canonical_reason()
            .unwrap_or("request rejected")
            .to_string(),
        _ => text,
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = serde_json::to_vec(&ErrorBody { code, message }).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(body))
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
