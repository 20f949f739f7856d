//! Bearer-token authentication for the API. Tokens are random, shown once,
//! and stored only as SHA-256 hashes (they are long random secrets, so a fast
//! hash is enough; user passwords use argon2).

use axum::extract::FromRequestParts;
use std::time::Duration;

use axum::http::HeaderValue;
use axum::http::header::{AUTHORIZATION, RETRY_AFTER};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
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
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let auth = authenticate(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        // Counted after authentication, per caller: a flood of made-up
        // tokens is answered 401 without growing the limiter's table.
        if let Err(wait) = state.api_limiter.check(&auth.0.name) {
            return Err(rate_limited(wait));
        }
        Ok(auth)
    }
}

/// 429 with the JSON error body and `Retry-After` in whole seconds.
fn rate_limited(wait: Duration) -> Response {
    let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    let mut response = ApiError::new(
        ErrorCode::TooManyRequests,
        format!("too many requests for this token; retry in {secs} s"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs));
    response
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Authenticated, ApiError> {
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
