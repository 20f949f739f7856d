//! What can go wrong talking to a platform, classified so the runtime and
//! the outbox know whether to wait, retry, pause the source or give up.

use std::time::Duration;

use crate::capabilities::LengthLimit;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnError {
    /// 429 or a rate-limit body: wait `retry_after` (when the platform said)
    /// and try again.
    #[error("rate limited: {message}")]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    /// 5xx, a refused connection, a timeout before the request went out:
    /// nothing happened, retry with backoff.
    #[error("{0}")]
    Transient(String),
    /// The request went out and no answer came back (a timeout, a reset
    /// connection): it may have landed. Reconcile before any resend.
    #[error("no answer after sending: {0}")]
    Unknown(String),
    /// 401, an expired or revoked credential: two in a row pause the source.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// 400/403/404/422 and the like, with the platform's words: retrying
    /// cannot help.
    #[error("{0}")]
    Permanent(String),
    /// Longer than the platform accepts, counted as it counts.
    #[error("is {length} {unit:?} long, the platform accepts {max}", max = limit.max, unit = limit.unit)]
    TooLong { length: u32, limit: LengthLimit },
    /// The private-message gate is closed (the recipient does not accept
    /// messages, the window has passed).
    #[error("private message not allowed: {0}")]
    GateClosed(String),
    /// The connector does not do this (a feed cannot reply).
    #[error("not supported by this connector: {0}")]
    Unsupported(&'static str),
}

impl ConnError {
    /// Worth trying again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ConnError::RateLimited { .. } | ConnError::Transient(_) | ConnError::Unknown(_)
        )
    }

    /// How long the platform asked us to wait, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ConnError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

pub type ConnResult<T> = Result<T, ConnError>;
