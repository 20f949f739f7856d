//! Bearer-token authentication for the API. Tokens are random, shown once,
//! and stored only as SHA-256 hashes (they are long random secrets, so a fast
//! hash is enough; user passwords use argon2).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use earshot_core::auth::{Principal, Role};
use earshot_core::error::ErrorCode;

use crate::error::ApiError;
use crate::state::AppState;

pub use earshot_app::credentials::{generate_token, hash_token};

/// The caller, authenticated by `Authorization: Bearer <token>`.
pub struct Authenticated(pub Principal);

impl Authenticated {
    /// Fails with 403 unless the caller may change data.
    pub fn writer(&self) -> Result<&Principal, ApiError> {
        if self.0.role.can_write() {
            Ok(&self.0)
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("the {} role is read-only", self.0.role.as_str()),
            ))
        }
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = |why: &str| {
            ApiError::new(
                ErrorCode::Unauthorized,
                format!("{why}: send Authorization: Bearer <token> (see `earshot token create`)"),
            )
        };
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| unauthorized("no token"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("malformed Authorization header"))?;
        let hash = hash_token(token);
        if state.bootstrap_token_hash.as_deref() == Some(hash.as_str()) {
            return Ok(Authenticated(Principal {
                name: "bootstrap".into(),
                role: Role::Admin,
            }));
        }
        match state.app.store.token(&hash, state.app.clock.now()).await? {
            Some(info) => Ok(Authenticated(Principal {
                name: format!("token:{}", info.name),
                role: info.role,
            })),
            None => Err(unauthorized("unknown token")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashes_stable() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert!(a.starts_with("es_") && a.len() == 67);
        assert_eq!(hash_token("x"), hash_token("x"));
        assert_eq!(hash_token("x").len(), 64);
    }
}
