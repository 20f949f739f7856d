//! Delivers queued outbound webhook payloads (Slack-compatible JSON) with
//! retries: a failed POST is tried again after 1, 2, 4 … minutes (at most an
//! hour apart) and given up after `MAX_ATTEMPTS`, keeping the last error.
//! Webhook URLs often carry a secret, so they are never logged.
//!
//! Each delivery is signed (Stripe/Slack style) so a receiver can check that
//! it came from this Earshot and is fresh: `X-Earshot-Timestamp` carries the
//! Unix time of the attempt and `X-Earshot-Signature` is `v1=` followed by
//! the hex HMAC-SHA256, keyed with the webhook's secret, of
//! `"{timestamp}.{body}"`. Receivers should compare in constant time and
//! reject timestamps more than a few minutes old.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use earshot_core::error::Result;
use earshot_core::workflow_store::WebhookAttempt;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::Serialize;
use sha2::Sha256;

use crate::App;

pub const MAX_ATTEMPTS: i64 = 8;
const BATCH: u32 = 100;

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct WebhookTickReport {
    pub delivered: usize,
    pub retrying: usize,
    pub given_up: usize,
}

pub const SIGNATURE_HEADER: &str = "x-earshot-signature";
pub const TIMESTAMP_HEADER: &str = "x-earshot-timestamp";

/// A new signing secret for a webhook (256 bits, prefixed so it is
/// recognisable in a receiver's configuration).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

/// The `X-Earshot-Signature` value for `body` sent at `timestamp`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The wait before the next attempt after `attempts` failures.
pub fn backoff(attempts: i64) -> TimeDelta {
    let minutes = 1i64 << attempts.clamp(1, 7).saturating_sub(1);
    TimeDelta::minutes(minutes.min(60))
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("earshot/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// One pass over the deliveries due at `now`.
pub async fn run_webhook_tick(
    app: &App,
    client: &reqwest::Client,
    now: DateTime<Utc>,
) -> Result<WebhookTickReport> {
    let mut report = WebhookTickReport::default();
    for due in app.workflow.due_webhook_deliveries(now, BATCH).await? {
        let body = serde_json::to_vec(&due.delivery.payload).unwrap_or_default();
        let mut request = client
            .post(&due.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(secret) = &due.secret {
            let timestamp = now.timestamp();
            request = request
                .header(TIMESTAMP_HEADER, timestamp)
                .header(SIGNATURE_HEADER, signature(secret, timestamp, &body));
        }
        let sent = request.body(body).send().await;
        let failure = match sent {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!(
                "the receiver answered HTTP {}",
                r.status().as_u16()
            )),
            // Without the URL: reqwest's message may include it.
            Err(e) if e.is_timeout() => Some("timed out".to_string()),
            Err(e) if e.is_connect() => Some("could not connect".to_string()),
            Err(_) => Some("the request failed".to_string()),
        };
        let attempt = match failure {
            None => {
                report.delivered += 1;
                WebhookAttempt::Delivered
            }
            Some(error) => {
                let attempts = due.attempts + 1;
                tracing::warn!(
                    webhook_id = due.delivery.webhook_id,
                    delivery_id = due.delivery.id,
                    attempts,
                    %error,
                    "webhook delivery failed"
                );
                let retry_at = (attempts < MAX_ATTEMPTS).then(|| now + backoff(attempts));
                if retry_at.is_some() {
                    report.retrying += 1;
                } else {
                    report.given_up += 1;
                }
                WebhookAttempt::Failed { error, retry_at }
            }
        };
        app.workflow
            .record_webhook_attempt(due.delivery.id, &attempt, now)
            .await?;
    }
    Ok(report)
}

pub fn spawn_webhook_sender(app: App, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = client();
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let now = app.clock.now();
            if let Err(e) = run_webhook_tick(&app, &client, now).await {
                tracing::warn!(error = %e.message, "webhook tick failed");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_the_timestamp_and_the_body() {
        let s = signature("whsec_k", 1_700_000_000, br#"{"text":"hi"}"#);
        // The value Python's `hmac.new(key, b"1700000000." + body, sha256)`
        // gives: the recipe in docs/WORKFLOW.md.
        assert_eq!(
            s,
            "v1=390a5616e6df834b8d610e4cd5675f7b104527e176d75891c8d44239bdecea6a"
        );
        assert_eq!(s, signature("whsec_k", 1_700_000_000, br#"{"text":"hi"}"#));
        assert_ne!(s, signature("whsec_k", 1_700_000_001, br#"{"text":"hi"}"#));
        assert_ne!(s, signature("whsec_k", 1_700_000_000, br#"{"text":"ho"}"#));
        assert_ne!(s, signature("whsec_j", 1_700_000_000, br#"{"text":"hi"}"#));
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let minutes: Vec<i64> = (1..=8).map(|a| backoff(a).num_minutes()).collect();
        assert_eq!(minutes, [1, 2, 4, 8, 16, 32, 60, 60]);
    }
}
