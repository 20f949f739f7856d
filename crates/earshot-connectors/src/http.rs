//! HTTP plumbing every connector shares: one client with timeouts, the
//! platforms' rate-limit headers, and turning a response into a
//! [`ConnError`] that keeps the platform's own words.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::error::ConnError;

/// How long one request may take, connect included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a platform's error body kept as its reason.
const MAX_REASON: usize = 500;

/// The client every connector uses: timeouts, no redirects across hosts,
/// and a User-Agent naming Earshot.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent(concat!("Earshot/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// What the platform said about our request budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateInfo {
    pub remaining: Option<u64>,
    /// When the budget refills.
    pub reset_at: Option<DateTime<Utc>>,
    /// `Retry-After`, as a wait from now.
    pub retry_after: Option<Duration>,
}

impl RateInfo {
    /// Reads `Retry-After` (seconds or an HTTP date), `X-RateLimit-*`
    /// (Mastodon: ISO 8601 reset; Reddit: seconds) and the draft
    /// `RateLimit-*` headers (Bluesky: a Unix time).
    pub fn from_headers(headers: &HeaderMap, now: DateTime<Utc>) -> RateInfo {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let retry_after = get("retry-after").and_then(|v| {
            v.parse::<u64>().ok().map(Duration::from_secs).or_else(|| {
                httpdate::parse_http_date(v).ok().map(|at| {
                    let at: DateTime<Utc> = at.into();
                    (at - now).to_std().unwrap_or_default()
                })
            })
        });
        let remaining = get("x-ratelimit-remaining")
            .or_else(|| get("ratelimit-remaining"))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v.max(0.0) as u64);
        let reset_at = get("x-ratelimit-reset")
            .or_else(|| get("ratelimit-reset"))
            .and_then(|v| parse_reset(v, now));
        RateInfo {
            remaining,
            reset_at,
            retry_after,
        }
    }

    /// How long to hold off before the next call: the platform's
    /// `Retry-After`, or its reset time once the budget is spent.
    pub fn wait(&self, now: DateTime<Utc>) -> Option<Duration> {
        if let Some(wait) = self.retry_after {
            return Some(wait);
        }
        match (self.remaining, self.reset_at) {
            (Some(0), Some(at)) => Some((at - now).to_std().unwrap_or_default()),
            _ => None,
        }
    }
}

/// A reset value: an ISO 8601 time, a Unix time, or seconds from now.
fn parse_reset(v: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(v) {
        return Some(at.with_timezone(&Utc));
    }
    let n = v.parse::<f64>().ok()?;
    if n > 1_000_000_000.0 {
        DateTime::from_timestamp(n as i64, 0)
    } else {
        Some(now + chrono::TimeDelta::milliseconds((n * 1000.0) as i64))
    }
}

/// Classifies a non-success response, keeping the platform's words.
pub fn error_for(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    now: DateTime<Utc>,
) -> ConnError {
    let reason = reason(status, body);
    match status.as_u16() {
        429 => ConnError::RateLimited {
            retry_after: RateInfo::from_headers(headers, now).wait(now),
            message: reason,
        },
        401 => ConnError::Auth(reason),
        408 | 425 | 500..=599 => ConnError::Transient(reason),
        _ => ConnError::Permanent(reason),
    }
}

/// `"HTTP 422: <the platform's message>"`, cut to a readable length. JSON
/// bodies give their `error`/`message`/`error_description` field.
pub fn reason(status: StatusCode, body: &str) -> String {
    let said = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            ["error_description", "message", "error"]
                .iter()
                .find_map(|k| v.get(k).and_then(|m| m.as_str()).map(str::to_string))
        })
        .unwrap_or_else(|| body.trim().to_string());
    let mut said: String = said.chars().take(MAX_REASON).collect();
    if said.is_empty() {
        said = status
            .canonical_reason()
            .unwrap_or("no reason given")
            .to_string();
    }
    format!("HTTP {}: {said}", status.as_u16())
}

/// Classifies a transport error: one raised before the request was sent is
/// transient; a timeout or reset after it may have landed.
pub fn send_error(e: &reqwest::Error, request_sent: bool) -> ConnError {
    let text = with_cause(e);
    if e.is_connect() || (!request_sent && !e.is_timeout()) {
        ConnError::Transient(text)
    } else if e.is_timeout() || request_sent {
        ConnError::Unknown(text)
    } else {
        ConnError::Transient(text)
    }
}

/// The error and its innermost cause ("… : Connection refused (os error
/// 111)"), which is what an admin needs to read in the source's health.
fn with_cause(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut innermost = None;
    while let Some(c) = cause {
        innermost = Some(c);
        cause = c.source();
    }
    if let Some(c) = innermost {
        let c = c.to_string();
        if !text.contains(&c) {
            text = format!("{text}: {c}");
        }
    }
    text
}

/// Full-jitter exponential backoff: a random wait in
/// `[0, min(cap, base·2^attempt)]`. `attempt` counts from 0.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, rng: &mut impl Rng) -> Duration {
    let ceiling = base
        .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(cap)
        .min(cap);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rng.random_range(0..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                *k,
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            );
        }
        h
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let now =
            DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z").map(|d| d.with_timezone(&Utc));
        let Ok(now) = now else { panic!("bad fixture") };
        let info = RateInfo::from_headers(&headers(&[("retry-after", "120")]), now);
        assert_eq!(info.wait(now), Some(Duration::from_secs(120)));
        let info = RateInfo::from_headers(
            &headers(&[("retry-after", "Tue, 01 Dec 2026 12:00:30 GMT")]),
            now,
        );
        assert_eq!(info.wait(now), Some(Duration::from_secs(30)));
    }

    #[test]
    fn a_spent_budget_waits_for_the_reset_in_each_platforms_format() {
        let now =
            DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z").map(|d| d.with_timezone(&Utc));
        let Ok(now) = now else { panic!("bad fixture") };
        // Mastodon: ISO time.
        let m = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "2026-12-01T12:05:00.000Z"),
        ]);
        assert_eq!(
            RateInfo::from_headers(&m, now).wait(now),
            Some(Duration::from_secs(300))
        );
        // Reddit: seconds from now, fractional remaining.
        let r = headers(&[
            ("x-ratelimit-remaining", "0.0"),
            ("x-ratelimit-reset", "42"),
        ]);
        assert_eq!(
            RateInfo::from_headers(&r, now).wait(now),
            Some(Duration::from_secs(42))
        );
        // Bluesky: a Unix time.
        let at = now.timestamp() + 60;
        let b = headers(&[
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", &at.to_string()),
        ]);
        assert_eq!(
            RateInfo::from_headers(&b, now).wait(now),
            Some(Duration::from_secs(60))
        );
        // Budget left: no wait.
        let ok = headers(&[("x-ratelimit-remaining", "12"), ("x-ratelimit-reset", "42")]);
        assert_eq!(RateInfo::from_headers(&ok, now).wait(now), None);
    }

    #[test]
    fn statuses_are_classified_with_the_platforms_words() {
        let now = Utc::now();
        let e = error_for(
            StatusCode::UNPROCESSABLE_ENTITY,
            &HeaderMap::new(),
            r#"{"error":"Validation failed: Text character limit of 500 exceeded"}"#,
            now,
        );
        assert_eq!(
            e,
            ConnError::Permanent(
                "HTTP 422: Validation failed: Text character limit of 500 exceeded".into()
            )
        );
        assert!(matches!(
            error_for(StatusCode::UNAUTHORIZED, &HeaderMap::new(), "", now),
            ConnError::Auth(_)
        ));
        assert!(error_for(StatusCode::BAD_GATEWAY, &HeaderMap::new(), "", now).is_retryable());
        let limited = error_for(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "7")]),
            "",
            now,
        );
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(7)));
    }

    #[tokio::test]
    async fn a_refused_connection_says_why() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
            l.local_addr().map(|a| a.port()).unwrap_or(0)
        };
        let err = client()
            .get(format!("http://127.0.0.1:{port}/feed.xml"))
            .send()
            .await
            .err()
            .unwrap_or_else(|| panic!("nothing listens there"));
        let e = send_error(&err, false);
        assert!(matches!(e, ConnError::Transient(_)), "{e:?}");
        assert!(e.to_string().to_lowercase().contains("refused"), "{e}");
    }

    #[test]
    fn backoff_stays_under_its_ceiling_and_cap() {
        let mut rng = rand::rng();
        for attempt in 0..40 {
            let d = backoff(
                attempt,
                Duration::from_secs(2),
                Duration::from_secs(900),
                &mut rng,
            );
            let ceiling =
                Duration::from_secs(2u64.saturating_mul(1u64 << attempt.min(20)).min(900));
            assert!(d <= ceiling, "attempt {attempt}: {d:?} > {ceiling:?}");
        }
    }
}
