//! Error codes: one table mapping each code to its HTTP status and wire name,
//! so every layer reports failures the same way (`{"code": "...", "message": "..."}`).

use serde::Serialize;

/// Declares [`ErrorCode`] from rows of `Name, STATUS, "wire_name", "when";`
/// (after Meilisearch's `make_error_codes!`): the status and the name on the
/// wire come from the row, so the table is the single source of truth.
macro_rules! make_error_codes {
    ($($name:ident, $status:literal, $wire:literal, $when:literal;)*) => {
        /// A stable, machine-readable error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $(#[doc = $when] $name,)*
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The HTTP status this code is answered with.
            pub fn http_status(self) -> u16 {
                match self { $(ErrorCode::$name => $status,)* }
            }

            /// The code as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$name => $wire,)* }
            }

            /// When the code is answered, for the documentation.
            pub fn when(self) -> &'static str {
                match self { $(ErrorCode::$name => $when,)* }
            }
        }
    };
}

make_error_codes! {
    InvalidJson, 400, "invalid_json", "the body is not JSON, or not an object/array";
    InvalidField, 400, "invalid_field", "a field has the wrong type, an unknown enum value, an invalid date, an unknown name (`deny_unknown_fields`), or fails validation";
    MissingField, 400, "missing_field", "a required field is absent";
    InvalidPathParameter, 400, "invalid_path_parameter", "a path segment is not of its type, e.g. `/api/v1/cases/abc`";
    InvalidQueryParameter, 400, "invalid_query_parameter", "a query parameter has the wrong type or an unknown name";
    InvalidTransition, 400, "invalid_transition", "e.g. closing a case that is not resolved, or approving a reply that is not held";
    ReplyTooLong, 400, "reply_too_long", "a reply is longer than the case's channel allows (e.g. Bluesky: 300 characters)";
    BadRequest, 400, "bad_request", "any other malformed request";
    Unauthorized, 401, "unauthorized", "no valid token (`WWW-Authenticate: Bearer`)";
    Forbidden, 403, "forbidden", "the role or scope does not allow it (e.g. read-only analyst tokens)";
    NotFound, 404, "not_found", "an unknown team, user, reply, policy, webhook, notification or endpoint";
    CaseNotFound, 404, "case_not_found", "an unknown case id";
    MethodNotAllowed, 405, "method_not_allowed", "the path exists but not with this method (see `Allow`)";
    RequestTimeout, 408, "request_timeout", "the request took too long";
    Conflict, 409, "conflict", "the change collides with another, e.g. an unseen public reply";
    TeamExists, 409, "team_exists", "a team with that name exists; `PUT` changes it";
    Unprocessable, 422, "unprocessable", "well formed but refused as asked: a private channel whose gate is closed (naming `channel`, in the platform's words), a text the personalisation check finds generic without an override";
    PayloadTooLarge, 413, "payload_too_large", "body over 16 MiB or more than 10,000 records";
    UnsupportedMediaType, 415, "unsupported_media_type", "the body's content type is not accepted";
    TooManyRequests, 429, "too_many_requests", "over the token's rate limit; `Retry-After` says when to retry";
    Internal, 500, "internal", "a bug or a database failure; details only in the server log";
}

// Serialized and documented from the table (derives would not see the
// macro's names).
impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("A stable, machine-readable error code (docs/API.md)"))
            .enum_values(Some(Self::ALL.iter().map(|c| c.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for ErrorCode {}

impl ErrorCode {
    /// The Markdown table docs/API.md lists (checked by a test).
    pub fn markdown_table() -> String {
        let mut out = String::from("| code | status | when |\n|---|---|---|\n");
        for code in Self::ALL {
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                code.as_str(),
                code.http_status(),
                code.when()
            ));
        }
        out
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
    /// Takes a raw id too: the store reports the integer it looked up.
    pub fn case_not_found(id: impl Into<crate::ids::CaseId>) -> Self {
        let id = id.into();
        Error::new(ErrorCode::CaseNotFound, format!("case {id} not found"))
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
    fn only_internal_is_a_server_error() {
        for code in ErrorCode::ALL {
            let status = code.http_status();
            if *code == ErrorCode::Internal {
                assert_eq!(status, 500);
            } else {
                assert!((400..500).contains(&status), "{code:?}");
            }
        }
    }

    #[test]
    fn wire_names_are_unique_snake_case_and_serialized() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            let name = code.as_str();
            assert!(seen.insert(name), "{name} twice");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
            let json = serde_json::to_string(code).unwrap_or_default();
            assert_eq!(json, format!("\"{name}\""));
        }
    }

    #[test]
    fn docs_list_every_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/API.md");
        let docs = std::fs::read_to_string(path).unwrap_or_default();
        let table = ErrorCode::markdown_table();
        assert!(
            docs.contains(&table),
            "docs/API.md's error table is stale; replace it with:\n{table}"
        );
    }
}
