//! Browser sessions: argon2 passwords, random session ids stored hashed,
//! HttpOnly cookies, per-session CSRF tokens and a failed-login limiter.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use earshot_core::accounts::{Accounts, User};
use sha2::{Digest, Sha256};

use crate::state::AppState;
use crate::ui::UiError;

pub const SESSION_COOKIE: &str = "earshot_session";
pub const LOGIN_CSRF_COOKIE: &str = "earshot_login_csrf";
pub const SESSION_HOURS: i64 = 12;
pub const MAX_FAILURES: usize = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Hashes a password with argon2id and a random salt (PHC string).
pub use earshot_app::credentials::{hash_password, verify_password};

/// 256 random bits, hex.
pub fn random_token() -> String {
    earshot_app::credentials::random_hex()
}

pub fn hash_session_id(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// Compares secrets without an early exit.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Whether cookies must carry `Secure`: always when configured, else when the
/// request came through an https proxy.
pub fn wants_secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> String {
    format!(
        "{name}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The desk, or 503 when the server runs without one.
pub fn desk(state: &AppState) -> Result<&dyn Accounts, UiError> {
    state
        .app
        .accounts
        .as_deref()
        .ok_or_else(|| UiError::Unavailable("the desk is not enabled on this server".into()))
}

/// The logged-in user of a request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub csrf_token: String,
    pub session_hash: String,
}

impl CurrentUser {
    /// The user as the workflow's permission checks see them.
    pub fn principal(&self) -> earshot_core::auth::Principal {
        earshot_core::auth::Principal {
            name: self.user.name.clone(),
            role: self.user.role,
        }
    }

    /// Every POST carries the session's token in a `csrf_token` field.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), UiError> {
        if same(submitted, &self.csrf_token) {
            Ok(())
        } else {
            Err(UiError::Forbidden(
                "the form has expired or did not come from this site (CSRF check failed); \
                 reload the page and try again"
                    .into(),
            ))
        }
    }

    pub fn can_write(&self) -> Result<(), UiError> {
        if self.user.role.can_write() {
            Ok(())
        } else {
            Err(UiError::Forbidden(format!(
                "the {} role is read-only",
                self.user.role.as_str()
            )))
        }
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_login = || {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/inbox".into());
            let next = safe_next(Some(&next));
            Redirect::to(&format!("/login?next={}", urlencode(&next))).into_response()
        };
        let desk = desk(state).map_err(IntoResponse::into_response)?;
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login());
        };
        let hash = hash_session_id(&id);
        match desk.session(&hash, state.app.clock.now()).await {
            Ok(Some(s)) => Ok(CurrentUser {
                user: s.user,
                csrf_token: s.csrf_token,
                session_hash: hash,
            }),
            Ok(None) => Err(to_login()),
            Err(e) => Err(UiError::from(e).into_response()),
        }
    }
}

/// Where the login form sends the user afterwards: `next` when it is a path
/// on this site, else `/inbox`. Accepted: a single leading `/` (not `//`,
/// which browsers read as another host), then visible ASCII only: no
/// backslash (read as `/`), no control characters or whitespace (browsers
/// drop tab and newline, so `/\t/evil` would become `//evil`, and a newline
/// cannot go into a `Location` header), nothing outside ASCII.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_local_path(n) => n.to_string(),
        _ => "/inbox".into(),
    }
}

fn is_local_path(n: &str) -> bool {
    n.starts_with('/')
        && !n.starts_with("//")
        && n.len() <= 2048
        && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The client address, when the server was started with connect info.
pub fn client_ip(parts_ext: &axum::http::Extensions) -> Option<IpAddr> {
    parts_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// The client address, when the server runs with connect info.
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(&parts.extensions)))
    }
}

/// Failed logins per (user name, client address), kept in memory: at most
/// [`MAX_FAILURES`] in [`FAILURE_WINDOW`].
type Failures = HashMap<(String, Option<IpAddr>), Vec<Instant>>;

#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<Failures>,
}

impl LoginLimiter {
    /// `Some(wait)` when this pair must wait before trying again.
    pub fn blocked(&self, user: &str, ip: Option<IpAddr>, now: Instant) -> Option<Duration> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let list = map.get_mut(&(user.to_lowercase(), ip))?;
        list.retain(|t| now.duration_since(*t) < FAILURE_WINDOW);
        if list.len() >= MAX_FAILURES {
            list.first()
                .map(|first| FAILURE_WINDOW.saturating_sub(now.duration_since(*first)))
        } else {
            None
        }
    }

    pub fn failed(&self, user: &str, ip: Option<IpAddr>, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Bound memory under a flood of made-up names.
        if map.len() > 100_000 {
            map.retain(|_, v| {
                v.last()
                    .is_some_and(|t| now.duration_since(*t) < FAILURE_WINDOW)
            });
        }
        map.entry((user.to_lowercase(), ip)).or_default().push(now);
    }

    pub fn succeeded(&self, user: &str, ip: Option<IpAddr>) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&(user.to_lowercase(), ip));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn the_sixth_failure_within_five_minutes_is_blocked() {
        let l = LoginLimiter::default();
        let t = Instant::now();
        let ip = Some(IpAddr::from([127, 0, 0, 1]));
        for _ in 0..MAX_FAILURES {
            assert!(l.blocked("Ann", ip, t).is_none());
            l.failed("ann", ip, t);
        }
        assert!(l.blocked("ann", ip, t).is_some());
        assert!(
            l.blocked("ann", Some(IpAddr::from([10, 0, 0, 1])), t)
                .is_none()
        );
        assert!(l.blocked("ann", ip, t + FAILURE_WINDOW).is_none());
    }

    #[test]
    fn next_accepts_only_paths_on_this_site() {
        for good in [
            "/inbox",
            "/cases/7",
            "/inbox?view=mine&q=refund%20now",
            "/a/b//c",
        ] {
            assert_eq!(safe_next(Some(good)), good);
        }
        let attacks = [
            "",
            "inbox",
            "//evil.example/",
            "///evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "/\t/evil.example/",
            "/\n/evil.example",
            "/\r\nSet-Cookie: x=1",
            "/\n",
            "/inbox\r\nLocation: //evil",
            "/ /evil.example",
            "/\u{a0}/evil.example",
            "/\u{0}",
            "/\u{7f}",
            "/é",
            "https://evil.example/",
            "javascript:alert(1)",
            " /inbox",
            "\t//evil.example",
        ];
        for bad in attacks {
            assert_eq!(safe_next(Some(bad)), "/inbox", "{bad:?}");
        }
        assert_eq!(safe_next(Some(&format!("/{}", "a".repeat(3000)))), "/inbox");
        assert_eq!(safe_next(None), "/inbox");
    }

    #[test]
    fn cookies_are_http_only_and_secure_on_request() {
        let c = set_cookie("a", "b", 60, false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Path=/"));
        assert!(!c.contains("Secure"));
        assert!(set_cookie("a", "b", 60, true).ends_with("; Secure"));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "x=1; earshot_session=abc".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("ab", "abc"));
    }
}
