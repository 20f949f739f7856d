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
//!
//! Targets must be public addresses unless [`DeliveryPolicy::allow_private`]
//! is set: a webhook aimed at `127.0.0.1`, `169.254.169.254` (cloud metadata)
//! or the office network would let an admin token reach inside the server's
//! network. The URL is checked when the webhook is added (an IP literal) and
//! again at each send, where the client's resolver refuses a name that
//! resolves to any non-public address, so the checked addresses are the ones
//! connected to (no DNS rebinding). Redirects are not followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use earshot_core::error::{Error, Result};
use earshot_core::workflow_store::WebhookAttempt;
use hmac::{Hmac, Mac};
use ipnet::{Ipv4Net, Ipv6Net};
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

/// Which webhook targets may be reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Also loopback, private, link-local and other non-public addresses
    /// (`EARSHOT_ALLOW_PRIVATE_WEBHOOKS`): for a receiver on the same host or
    /// network, when every admin is trusted with that network.
    pub allow_private: bool,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(first: u16, second: u16, len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(Ipv6Addr::new(first, second, 0, 0, 0, 0, 0, 0), len)
}

/// IPv4 networks that are not the public internet (IANA special-purpose).
const NON_PUBLIC_V4: [Ipv4Net; 15] = [
    v4(0, 0, 0, 0, 8),       // "this network", 0.0.0.0
    v4(10, 0, 0, 0, 8),      // private
    v4(100, 64, 0, 0, 10),   // carrier-grade NAT
    v4(127, 0, 0, 0, 8),     // loopback
    v4(169, 254, 0, 0, 16),  // link-local, cloud metadata
    v4(172, 16, 0, 0, 12),   // private
    v4(192, 0, 0, 0, 24),    // IETF protocol assignments
    v4(192, 0, 2, 0, 24),    // documentation
    v4(192, 88, 99, 0, 24),  // 6to4 relays
    v4(192, 168, 0, 0, 16),  // private
    v4(198, 18, 0, 0, 15),   // benchmarking
    v4(198, 51, 100, 0, 24), // documentation
    v4(203, 0, 113, 0, 24),  // documentation
    v4(224, 0, 0, 0, 4),     // multicast
    v4(240, 0, 0, 0, 4),     // reserved, broadcast
];

/// IPv6 networks that are not the public internet. IPv4-mapped and NAT64
/// addresses are judged by the IPv4 address they carry.
const NON_PUBLIC_V6: [Ipv6Net; 9] = [
    v6(0, 0, 96),          // ::, ::1, IPv4-compatible
    v6(0x100, 0, 64),      // discard
    v6(0x2001, 0, 32),     // Teredo
    v6(0x2001, 0xdb8, 32), // documentation
    v6(0x2002, 0, 16),     // 6to4
    v6(0xfc00, 0, 7),      // unique local
    v6(0xfe80, 0, 10),     // link-local
    v6(0xfec0, 0, 10),     // site-local
    v6(0xff00, 0, 8),      // multicast
];

const NAT64: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => !NON_PUBLIC_V4.iter().any(|n| n.contains(&ip)),
        IpAddr::V6(ip) => {
            if let Some(mapped) = ip.to_ipv4_mapped() {
                return is_public(IpAddr::V4(mapped));
            }
            if NAT64.contains(&ip) {
                let [.., a, b, c, d] = ip.octets();
                return is_public(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
            }
            !NON_PUBLIC_V6.iter().any(|n| n.contains(&ip))
        }
    }
}

/// Why `url` may not be a webhook target under `policy`, judged without DNS:
/// an IP-literal host must be public, and `localhost` is refused. Names are
/// checked when resolved, at each send. The reason never quotes the URL,
/// which may carry a secret.
pub fn check_target(url: &str, policy: DeliveryPolicy) -> std::result::Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| "is not a valid URL".to_string())?;
    let host = parsed.host_str().ok_or_else(|| "has no host".to_string())?;
    if policy.allow_private {
        return Ok(());
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let refused = || {
        "points at a loopback, private or link-local address; only public \
         addresses are allowed unless EARSHOT_ALLOW_PRIVATE_WEBHOOKS is set"
            .to_string()
    };
    match host.parse::<IpAddr>() {
        Ok(ip) if !is_public(ip) => Err(refused()),
        Ok(_) => Ok(()),
        Err(_) => {
            let host = host.trim_end_matches('.').to_ascii_lowercase();
            if host == "localhost" || host.ends_with(".localhost") {
                Err(refused())
            } else {
                Ok(())
            }
        }
    }
}

/// A name resolved to a non-public address.
#[derive(Debug)]
struct NotPublic;

impl std::fmt::Display for NotPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the host resolves to a non-public address")
    }
}

impl std::error::Error for NotPublic {}

/// The system resolver, refusing a name when any of its addresses is not
/// public. reqwest connects to exactly the addresses it returns.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            // The port is replaced by the URL's when connecting.
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.iter().any(|a| !is_public(a.ip())) {
                return Err(Box::new(NotPublic) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP client for deliveries under `policy`: no redirects (a redirect
/// could lead anywhere), and, unless private targets are allowed, a resolver
/// that refuses non-public addresses.
pub fn client(policy: DeliveryPolicy) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("earshot/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none());
    if !policy.allow_private {
        builder = builder.dns_resolver(Arc::new(PublicOnly));
    }
    builder
        .build()
        .map_err(|e| Error::internal(format!("building the webhook client: {e}")))
}

/// Whether a failed request was refused by the client's resolver because the
/// host resolves to a non-public address.
pub fn refused_by_resolver(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<NotPublic>() {
            return true;
        }
        source = err.source();
    }
    false
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
        // Checked at every send too: the URL may predate the policy.
        let failure = match check_target(&due.url, app.delivery_policy) {
            Err(why) => Some(format!("the URL {why}")),
            Ok(()) => match request.body(body).send().await {
                Ok(r) if r.status().is_success() => None,
                Ok(r) if r.status().is_redirection() => Some(format!(
                    "the receiver answered HTTP {}; redirect not followed",
                    r.status().as_u16()
                )),
                Ok(r) => Some(format!(
                    "the receiver answered HTTP {}",
                    r.status().as_u16()
                )),
                Err(e) if refused_by_resolver(&e) => Some(
                    "the host resolves to a non-public address; only public addresses \
                     are allowed unless EARSHOT_ALLOW_PRIVATE_WEBHOOKS is set"
                        .to_string(),
                ),
                // Without the URL: reqwest's message may include it.
                Err(e) if e.is_timeout() => Some("timed out".to_string()),
                Err(e) if e.is_connect() => Some("could not connect".to_string()),
                Err(_) => Some("the request failed".to_string()),
            },
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
        let client = match client(app.delivery_policy) {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e.message, "webhook deliveries are off");
                return;
            }
        };
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
#[allow(clippy::unwrap_used)]
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
    fn only_public_addresses_are_targets() {
        let private = [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ];
        for ip in private {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        let public = [
            "1.1.1.1",
            "93.184.215.14",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ];
        for ip in public {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_with_private_hosts_are_refused_unless_allowed() {
        let strict = DeliveryPolicy::default();
        let open = DeliveryPolicy {
            allow_private: true,
        };
        for url in [
            "http://127.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:8080/hook",
            "http://[::ffff:7f00:1]/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://localhost:9000/",
            "http://api.localhost./",
            "https://10.0.0.8/hook",
        ] {
            assert!(check_target(url, strict).is_err(), "{url}");
            assert!(check_target(url, open).is_ok(), "{url}");
        }
        for url in ["https://hooks.slack.com/services/T/B/X", "http://8.8.8.8/"] {
            assert!(check_target(url, strict).is_ok(), "{url}");
        }
        assert!(check_target("not a url", open).is_err());
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_private_addresses() {
        use reqwest::dns::Resolve;
        let refused = PublicOnly
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .unwrap();
        assert!(refused.is::<NotPublic>(), "{refused:?}");
        // The worker reports it as such, not as "could not connect".
        let strict = client(DeliveryPolicy::default()).unwrap();
        let err = strict
            .post("http://localhost:9/hook")
            .send()
            .await
            .unwrap_err();
        assert!(refused_by_resolver(&err), "{err:?}");
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let minutes: Vec<i64> = (1..=8).map(|a| backoff(a).num_minutes()).collect();
        assert_eq!(minutes, [1, 2, 4, 8, 16, 32, 60, 60]);
    }
}
