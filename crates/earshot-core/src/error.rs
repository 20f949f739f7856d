//! Error codes: one table mapping each code to its HTTP status, so every layer
//! reports failures the same way (`{"code": "...", "message": "..."}`).

use serde::Serialize;

/// A stable, machine-readable error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidJson,
    InvalidField,
    MissingField,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    InvalidTransition,
    RequestTimeout,
    RateLimited,
    Internal,
}

impl ErrorCode {
    /// The HTTP status this code is answered with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidJson
            | ErrorCode::InvalidField
            | ErrorCode::MissingField
            | ErrorCode::InvalidTransition => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::InvalidTransition => "invalid_transition",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
        }
    }
}

/// A domain or store failure with its code and a human message.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{code:?}: {message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }
    pub fn invalid_field(field: &str, why: impl std::fmt::Display) -> Self {
        Error::new(ErrorCode::InvalidField, format!("{field}: {why}"))
    }
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Error::new(ErrorCode::NotFound, format!("{what} not found"))
    }
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Error::new(ErrorCode::Internal, message.to_string())
    }
}

impl From<crate::case::TransitionError> for Error {
    fn from(e: crate::case::TransitionError) -> Self {
        Error::new(ErrorCode::InvalidTransition, e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_are_4xx_and_internal_is_500() {
        for code in [
            ErrorCode::InvalidJson,
            ErrorCode::InvalidField,
            ErrorCode::MissingField,
            ErrorCode::PayloadTooLarge,
            ErrorCode::Unauthorized,
            ErrorCode::NotFound,
            ErrorCode::InvalidTransition,
            ErrorCode::RequestTimeout,
            ErrorCode::RateLimited,
        ] {
            assert!((400..500).contains(&code.http_status()), "{code:?}");
        }
        assert_eq!(ErrorCode::Internal.http_status(), 500);
    }

    #[test]
    fn serialized_code_matches_as_str() {
        let json = serde_json::to_string(&ErrorCode::PayloadTooLarge).unwrap_or_default();
        assert_eq!(json, "\"payload_too_large\"");
        assert_eq!(ErrorCode::PayloadTooLarge.as_str(), "payload_too_large");
    }
}
