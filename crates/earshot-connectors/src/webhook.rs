//! Signed inbound webhooks: another system pushes mentions to
//! `POST /api/v1/sources/{id}/inbound`, and the signature is the only
//! authentication. Two schemes are verified, always over the raw body and
//! in constant time:
//!
//! - **Standard Webhooks** (`"scheme": "standard"`): `webhook-id`,
//!   `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of
//!   "id.timestamp.body">`, a space-separated list so a sender can sign with
//!   an old and a new secret while rotating. The timestamp must be within
//!   `tolerance_secs` of the server's clock, so a captured request cannot be
//!   replayed later.
//! - **GitHub style** (`"scheme": "github"`): `X-Hub-Signature-256:
//!   sha256=<hex HMAC-SHA256 of the body>`. It carries no timestamp; replays
//!   are caught by deduplicating on `X-GitHub-Delivery`.
//!
//! Verification here is pure (headers, body, clock in; a delivery id or a
//! typed error out). The connector itself is listen-only: it has nothing to
//! poll and cannot answer.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use earshot_core::error::{Error, ErrorCode, Result};
use earshot_core::mention::MentionInput;
use earshot_core::source::SourceKind;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use crate::{
    Capabilities, ConnError, ConnResult, Connector, Cursor, Outbound, Page, RateBudget, Sent,
    SourceSettings, Transport, parse_settings,
};

type HmacSha256 = Hmac<Sha256>;

/// How far a Standard Webhooks timestamp may be from the server's clock
/// unless the source says otherwise (the specification's suggestion).
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
/// The widest replay window a source may configure: one day.
pub const MAX_TOLERANCE_SECS: u64 = 86_400;
/// Most mentions one push may carry (as `POST /api/v1/mentions`).
pub const MAX_PUSHED_ITEMS: usize = 10_000;
/// Most secrets accepted at once (the current one and those being rotated out).
pub const MAX_SECRETS: usize = 3;
/// Shortest accepted key: a short secret can be guessed offline from one
/// signed request.
pub const MIN_SECRET_BYTES: usize = 16;
/// Most signatures read from one `webhook-signature` header, so a header
/// of thousands cannot make one request expensive.
const MAX_SIGNATURES: usize = 8;
const MAX_DELIVERY_ID_BYTES: usize = 256;

pub const STANDARD_ID: &str = "webhook-id";
pub const STANDARD_TIMESTAMP: &str = "webhook-timestamp";
pub const STANDARD_SIGNATURE: &str = "webhook-signature";
pub const GITHUB_SIGNATURE: &str = "x-hub-signature-256";
pub const GITHUB_DELIVERY: &str = "x-github-delivery";

/// Which signature format a source's sender uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    #[default]
    Standard,
    Github,
}

/// HMAC key material. `whsec_<base64>` (the Standard Webhooks form) is
/// decoded; any other string is used as its UTF-8 bytes (GitHub secrets,
/// or a plain passphrase). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(redacted)")
    }
}

impl WebhookSecret {
    /// Reads a secret as an admin pastes it; the error says what is wrong
    /// without repeating it.
    pub fn parse(text: &str) -> Result<WebhookSecret, &'static str> {
        let text = text.trim();
        let key = match text.strip_prefix("whsec_") {
            Some(b64) => BASE64
                .decode(b64)
                .map_err(|_| "after `whsec_` must come base64")?,
            None => text.as_bytes().to_vec(),
        };
        if key.len() < MIN_SECRET_BYTES {
            return Err("is too short: use at least 16 bytes of key (e.g. 32 random bytes)");
        }
        if key.len() > 1024 {
            return Err("is longer than 1024 bytes");
        }
        Ok(WebhookSecret(key))
    }

    /// The HMAC over `parts` in order (HMAC takes keys of any length, so
    /// `None` never happens in practice).
    fn mac(&self, parts: &[&[u8]]) -> Option<HmacSha256> {
        let mut mac = HmacSha256::new_from_slice(&self.0).ok()?;
        for part in parts {
            mac.update(part);
        }
        Some(mac)
    }
}

/// What failed when a push was checked. The messages name the header and
/// the reason and never repeat a secret or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("the {header} header {why}")]
    BadHeader {
        header: &'static str,
        why: &'static str,
    },
    #[error("the {STANDARD_TIMESTAMP} header is not a Unix time in whole seconds")]
    BadTimestamp,
    #[error(
        "the {STANDARD_TIMESTAMP} header is {skew_secs} s from the server's clock; \
         at most {tolerance_secs} s are accepted (a replay, or a sender's clock that is off)"
    )]
    Stale { skew_secs: i64, tolerance_secs: u64 },
    #[error("no signature in the {0} header matches the body signed with this source's secret")]
    BadSignature(&'static str),
}

/// A verified push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The sender's id for this delivery, the same on every retry: a second
    /// push with it is a duplicate.
    pub id: String,
    /// When it was signed (Standard Webhooks only).
    pub timestamp: Option<DateTime<Utc>>,
}

/// Every value of `name`, joined by spaces (a list may span headers).
fn header(headers: &HeaderMap, name: &'static str) -> Result<String, VerifyError> {
    let mut values = headers.get_all(name).iter().peekable();
    if values.peek().is_none() {
        return Err(VerifyError::MissingHeader(name));
    }
    let mut joined = String::new();
    for v in values {
        let v = v.to_str().map_err(|_| VerifyError::BadHeader {
            header: name,
            why: "is not visible ASCII",
        })?;
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(v.trim());
    }
    if joined.is_empty() {
        return Err(VerifyError::MissingHeader(name));
    }
    Ok(joined)
}

fn delivery_id(headers: &HeaderMap, name: &'static str) -> Result<String, VerifyError> {
    let id = header(headers, name)?;
    if id.len() > MAX_DELIVERY_ID_BYTES || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(VerifyError::BadHeader {
            header: name,
            why: "must be at most 256 visible ASCII characters without spaces",
        });
    }
    Ok(id)
}

/// Checks a Standard Webhooks push against any of `secrets`.
pub fn verify_standard(
    secrets: &[WebhookSecret],
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance_secs: u64,
) -> Result<Delivery, VerifyError> {
    let id = delivery_id(headers, STANDARD_ID)?;
    let ts_text = header(headers, STANDARD_TIMESTAMP)?;
    if ts_text.is_empty() || ts_text.len() > 12 || !ts_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::BadTimestamp);
    }
    let ts: i64 = ts_text.parse().map_err(|_| VerifyError::BadTimestamp)?;
    let timestamp = DateTime::from_timestamp(ts, 0).ok_or(VerifyError::BadTimestamp)?;
    let skew_secs = now.timestamp() - ts;
    if skew_secs.unsigned_abs() > tolerance_secs {
        return Err(VerifyError::Stale {
            skew_secs,
            tolerance_secs,
        });
    }
    let list = header(headers, STANDARD_SIGNATURE)?;
    let signatures: Vec<Vec<u8>> = list
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .take(MAX_SIGNATURES)
        .filter_map(|b64| BASE64.decode(b64).ok())
        .collect();
    if signatures.is_empty() {
        return Err(VerifyError::BadHeader {
            header: STANDARD_SIGNATURE,
            why: "holds no `v1,<base64>` signature",
        });
    }
    let signed = [id.as_bytes(), b".", ts_text.as_bytes(), b".", body];
    if matches_any(secrets, &signed, &signatures) {
        Ok(Delivery {
            id,
            timestamp: Some(timestamp),
        })
    } else {
        Err(VerifyError::BadSignature(STANDARD_SIGNATURE))
    }
}

/// Checks a GitHub-style push (`X-Hub-Signature-256`) against any of
/// `secrets`; the delivery id is `X-GitHub-Delivery`.
pub fn verify_github(
    secrets: &[WebhookSecret],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Delivery, VerifyError> {
    let id = delivery_id(headers, GITHUB_DELIVERY)?;
    let value = header(headers, GITHUB_SIGNATURE)?;
    let signature = value
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(VerifyError::BadHeader {
            header: GITHUB_SIGNATURE,
            why: "must be `sha256=` followed by the hex HMAC",
        })?;
    if matches_any(secrets, &[body], &[signature]) {
        Ok(Delivery {
            id,
            timestamp: None,
        })
    } else {
        Err(VerifyError::BadSignature(GITHUB_SIGNATURE))
    }
}

/// One pass over the body per secret, then a constant-time comparison
/// (`verify_slice`) with each signature.
fn matches_any(secrets: &[WebhookSecret], signed: &[&[u8]], signatures: &[Vec<u8>]) -> bool {
    secrets.iter().filter_map(|s| s.mac(signed)).any(|mac| {
        signatures
            .iter()
            .any(|sig| mac.clone().verify_slice(sig).is_ok())
    })
}

/// A source's webhook settings, as `POST /api/v1/sources` gives them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    scheme: Scheme,
    #[serde(default = "default_tolerance")]
    tolerance_secs: u64,
    /// A string, or a list of up to three while rotating.
    secret: Value,
}

fn default_tolerance() -> u64 {
    DEFAULT_TOLERANCE_SECS
}

/// A signed inbound webhook source.
#[derive(Debug, Clone)]
pub struct InboundWebhook {
    scheme: Scheme,
    tolerance_secs: u64,
    secrets: Vec<WebhookSecret>,
}

impl InboundWebhook {
    /// Reads `{"scheme": "standard"|"github", "tolerance_secs": 300,
    /// "secret": "whsec_…"}`; errors name the field (`config.secret`).
    pub fn from_settings(settings: &SourceSettings) -> Result<InboundWebhook> {
        let config: Config = parse_settings(settings)?;
        if config.tolerance_secs == 0 || config.tolerance_secs > MAX_TOLERANCE_SECS {
            return Err(Error::invalid_field(
                "config.tolerance_secs",
                format!("must be between 1 and {MAX_TOLERANCE_SECS} seconds"),
            ));
        }
        let texts: Vec<&Value> = match &config.secret {
            Value::Array(list) => list.iter().collect(),
            one => vec![one],
        };
        if texts.is_empty() || texts.len() > MAX_SECRETS {
            return Err(Error::invalid_field(
                "config.secret",
                format!("give one secret, or up to {MAX_SECRETS} while rotating"),
            ));
        }
        let secrets = texts
            .iter()
            .map(|v| {
                let text = v
                    .as_str()
                    .ok_or_else(|| Error::invalid_field("config.secret", "must be a string"))?;
                WebhookSecret::parse(text).map_err(|why| Error::invalid_field("config.secret", why))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(InboundWebhook {
            scheme: config.scheme,
            tolerance_secs: config.tolerance_secs,
            secrets,
        })
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Checks a push as this source's scheme says.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Delivery, VerifyError> {
        match self.scheme {
            Scheme::Standard => {
                verify_standard(&self.secrets, headers, body, now, self.tolerance_secs)
            }
            Scheme::Github => verify_github(&self.secrets, headers, body),
        }
    }
}

#[async_trait]
impl Connector for InboundWebhook {
    fn kind(&self) -> SourceKind {
        SourceKind::Webhook
    }

    fn capabilities(&self) -> Capabilities {
        // Nothing is ever requested from the sender; the budget only keeps
        // the runtime's arithmetic meaningful.
        let mut caps = Capabilities::listen_only(
            Transport::Push,
            RateBudget {
                requests: 60,
                per: Duration::from_secs(60),
            },
        );
        caps.limitations = vec![
            "Listen only: replies to pushed mentions are posted by hand.".into(),
            "Mentions arrive only when the sender pushes them; nothing is fetched.".into(),
        ];
        caps
    }

    async fn start(&self) -> ConnResult<Capabilities> {
        Ok(self.capabilities())
    }

    /// Pushed sources have nothing to fetch.
    async fn poll(&self, _cursor: Option<&Cursor>) -> ConnResult<Page> {
        Ok(Page::default())
    }

    async fn send(&self, _out: &Outbound) -> ConnResult<Sent> {
        Err(ConnError::Unsupported("replies"))
    }

    async fn reconcile(&self, _out: &Outbound) -> ConnResult<Option<Sent>> {
        Err(ConnError::Unsupported("replies"))
    }
}

/// Reads a pushed body: one mention object or an array of them, the shape
/// of `POST /api/v1/mentions` (`source` may be left out: it is then
/// `webhook`). The body as a whole fails only when it is not JSON or not an
/// object/array; each item is then parsed and validated (at `now`) on its
/// own, so one bad item never rejects its neighbours. Item errors name the
/// field; an `Ok` item passed validation.
pub fn parse_pushed(body: &[u8], now: DateTime<Utc>) -> Result<Vec<Result<MentionInput>>> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Error::new(ErrorCode::InvalidJson, format!("invalid JSON: {e}")))?;
    let items = match value {
        Value::Array(items) => items,
        object @ Value::Object(_) => vec![object],
        _ => {
            return Err(Error::new(
                ErrorCode::InvalidJson,
                "body: expected a mention object or an array of them",
            ));
        }
    };
    if items.len() > MAX_PUSHED_ITEMS {
        return Err(Error::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "body: {} items; at most {MAX_PUSHED_ITEMS} per push",
                items.len()
            ),
        ));
    }
    Ok(items
        .into_iter()
        .map(|item| parse_item(item, now))
        .collect())
}

fn parse_item(mut item: Value, now: DateTime<Utc>) -> Result<MentionInput> {
    let Some(object) = item.as_object_mut() else {
        return Err(Error::invalid_field("body", "each item must be an object"));
    };
    object
        .entry("source")
        .or_insert_with(|| Value::String(SourceKind::Webhook.as_str().into()));
    let input: MentionInput = serde_path_to_error::deserialize(item).map_err(|e| {
        let path = e.path().to_string();
        let text = e.into_inner().to_string();
        if let Some(rest) = text.strip_prefix("missing field ") {
            let field = rest.trim_matches('`');
            let full = if path == "." {
                field.to_string()
            } else {
                format!("{path}.{field}")
            };
            Error::new(ErrorCode::MissingField, format!("{full}: is required"))
        } else {
            let field = if path == "." { "body".into() } else { path };
            Error::invalid_field(&field, text)
        }
    })?;
    input.clone().validate(now)?;
    Ok(input)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use serde_json::json;

    // The Standard Webhooks specification's example
    // (github.com/standard-webhooks/standard-webhooks, the libraries' tests).
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    // GitHub's example (docs.github.com, "Validating webhook deliveries").
    const GH_SECRET: &str = "It's a Secret to Everybody";
    const GH_BODY: &[u8] = b"Hello, World!";
    const GH_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn secret(s: &str) -> WebhookSecret {
        WebhookSecret::parse(s).unwrap()
    }

    fn at(ts: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(ts, 0).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn spec_headers(signature: &str, ts: i64) -> HeaderMap {
        headers(&[
            (STANDARD_ID, SPEC_ID),
            (STANDARD_TIMESTAMP, &ts.to_string()),
            (STANDARD_SIGNATURE, signature),
        ])
    }

    /// Signs as a Standard Webhooks sender does.
    fn sign(key: &WebhookSecret, id: &str, ts: i64, body: &[u8]) -> String {
        let tag = key
            .mac(&[id.as_bytes(), b".", ts.to_string().as_bytes(), b".", body])
            .unwrap()
            .finalize()
            .into_bytes();
        format!("v1,{}", BASE64.encode(tag))
    }

    #[test]
    fn the_specifications_example_verifies() {
        let d = verify_standard(
            &[secret(SPEC_SECRET)],
            &spec_headers(SPEC_SIGNATURE, SPEC_TS),
            SPEC_BODY,
            at(SPEC_TS + 10),
            300,
        )
        .unwrap();
        assert_eq!(d.id, SPEC_ID);
        assert_eq!(d.timestamp, Some(at(SPEC_TS)));
        // And our signer reproduces it, so the test helper signs as senders do.
        assert_eq!(
            sign(&secret(SPEC_SECRET), SPEC_ID, SPEC_TS, SPEC_BODY),
            SPEC_SIGNATURE
        );
    }

    #[test]
    fn a_tampered_body_or_id_is_a_bad_signature() {
        let keys = [secret(SPEC_SECRET)];
        let tampered = br#"{"test": 2432232315}"#;
        assert_eq!(
            verify_standard(
                &keys,
                &spec_headers(SPEC_SIGNATURE, SPEC_TS),
                tampered,
                at(SPEC_TS),
                300
            ),
            Err(VerifyError::BadSignature(STANDARD_SIGNATURE))
        );
        let mut h = spec_headers(SPEC_SIGNATURE, SPEC_TS);
        h.insert(STANDARD_ID, HeaderValue::from_static("msg_other"));
        assert_eq!(
            verify_standard(&keys, &h, SPEC_BODY, at(SPEC_TS), 300),
            Err(VerifyError::BadSignature(STANDARD_SIGNATURE))
        );
        // The wrong secret, well formed.
        let other = [secret("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")];
        assert!(matches!(
            verify_standard(
                &other,
                &spec_headers(SPEC_SIGNATURE, SPEC_TS),
                SPEC_BODY,
                at(SPEC_TS),
                300
            ),
            Err(VerifyError::BadSignature(_))
        ));
    }

    #[test]
    fn a_replay_outside_the_window_is_stale_either_way() {
        let keys = [secret(SPEC_SECRET)];
        let h = spec_headers(SPEC_SIGNATURE, SPEC_TS);
        // Exactly at the edge passes; one second further does not.
        assert!(verify_standard(&keys, &h, SPEC_BODY, at(SPEC_TS + 300), 300).is_ok());
        assert_eq!(
            verify_standard(&keys, &h, SPEC_BODY, at(SPEC_TS + 301), 300),
            Err(VerifyError::Stale {
                skew_secs: 301,
                tolerance_secs: 300
            })
        );
        // A timestamp from the future is refused too.
        assert_eq!(
            verify_standard(&keys, &h, SPEC_BODY, at(SPEC_TS - 301), 300),
            Err(VerifyError::Stale {
                skew_secs: -301,
                tolerance_secs: 300
            })
        );
        // A wider configured window accepts the older one.
        assert!(verify_standard(&keys, &h, SPEC_BODY, at(SPEC_TS + 3600), 3600).is_ok());
    }

    #[test]
    fn rotation_accepts_any_listed_signature_and_any_configured_secret() {
        let old = secret(SPEC_SECRET);
        let new = secret("whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24=");
        let now = 1_800_000_000;
        let body = br#"{"text":"hi"}"#;
        // The sender signs with both while rotating; we hold only the new one.
        let both = format!(
            "v1a,c29tZXRoaW5nLWVsc2U= {} {}",
            sign(&old, "msg_1", now, body),
            sign(&new, "msg_1", now, body)
        );
        let h = headers(&[
            (STANDARD_ID, "msg_1"),
            (STANDARD_TIMESTAMP, &now.to_string()),
            (STANDARD_SIGNATURE, &both),
        ]);
        assert!(verify_standard(std::slice::from_ref(&new), &h, body, at(now), 300).is_ok());
        // The sender signs with the old one only; we hold old and new.
        let h = headers(&[
            (STANDARD_ID, "msg_1"),
            (STANDARD_TIMESTAMP, &now.to_string()),
            (STANDARD_SIGNATURE, &sign(&old, "msg_1", now, body)),
        ]);
        assert!(verify_standard(&[new.clone(), old], &h, body, at(now), 300).is_ok());
        assert!(verify_standard(&[new], &h, body, at(now), 300).is_err());
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        let keys = [secret(SPEC_SECRET)];
        let now = at(SPEC_TS);
        let without = |skip: &str| {
            let mut h = spec_headers(SPEC_SIGNATURE, SPEC_TS);
            h.remove(skip);
            verify_standard(&keys, &h, SPEC_BODY, now, 300)
        };
        for name in [STANDARD_ID, STANDARD_TIMESTAMP, STANDARD_SIGNATURE] {
            assert_eq!(without(name), Err(VerifyError::MissingHeader(name)));
        }
        for bad in ["soon", "-5", "1614265330.5", "99999999999999"] {
            let mut h = spec_headers(SPEC_SIGNATURE, SPEC_TS);
            h.insert(STANDARD_TIMESTAMP, HeaderValue::from_str(bad).unwrap());
            assert_eq!(
                verify_standard(&keys, &h, SPEC_BODY, now, 300),
                Err(VerifyError::BadTimestamp),
                "{bad}"
            );
        }
        let h = spec_headers("sha256=abc", SPEC_TS);
        let e = verify_standard(&keys, &h, SPEC_BODY, now, 300).unwrap_err();
        assert!(matches!(
            e,
            VerifyError::BadHeader {
                header: STANDARD_SIGNATURE,
                ..
            }
        ));
        assert!(e.to_string().contains("webhook-signature"), "{e}");
    }

    #[test]
    fn githubs_example_verifies_and_a_changed_body_does_not() {
        let keys = [secret(GH_SECRET)];
        let h = headers(&[
            (GITHUB_SIGNATURE, GH_SIGNATURE),
            (GITHUB_DELIVERY, "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ]);
        let d = verify_github(&keys, &h, GH_BODY).unwrap();
        assert_eq!(d.id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
        assert_eq!(d.timestamp, None);
        assert_eq!(
            verify_github(&keys, &h, b"Hello, World?"),
            Err(VerifyError::BadSignature(GITHUB_SIGNATURE))
        );
        let no_delivery = headers(&[(GITHUB_SIGNATURE, GH_SIGNATURE)]);
        assert_eq!(
            verify_github(&keys, &no_delivery, GH_BODY),
            Err(VerifyError::MissingHeader(GITHUB_DELIVERY))
        );
        let sha1 = headers(&[(GITHUB_SIGNATURE, "sha1=abcd"), (GITHUB_DELIVERY, "d1")]);
        assert!(matches!(
            verify_github(&keys, &sha1, GH_BODY),
            Err(VerifyError::BadHeader { .. })
        ));
    }

    #[test]
    fn secrets_never_show_in_debug_or_errors() {
        let settings = SourceSettings {
            config: serde_json::Map::from_iter([("scheme".into(), json!("github"))]),
            credentials: serde_json::Map::from_iter([("secret".into(), json!(GH_SECRET))]),
        };
        let source = InboundWebhook::from_settings(&settings).unwrap();
        let debug = format!("{source:?}");
        assert!(!debug.contains("Secret to Everybody"), "{debug}");
        assert!(!debug.contains("73656372"), "{debug}"); // nor its bytes in hex
        let h = headers(&[(GITHUB_SIGNATURE, GH_SIGNATURE), (GITHUB_DELIVERY, "d1")]);
        let e = source.verify(&h, b"tampered", Utc::now()).unwrap_err();
        assert!(!e.to_string().contains("Secret"), "{e}");
        assert!(!e.to_string().contains("757107ea"), "{e}");
    }

    fn settings(config: Value) -> SourceSettings {
        crate::split_settings(SourceKind::Webhook, config).unwrap()
    }

    #[test]
    fn config_errors_name_the_field() {
        let err = |config: Value| InboundWebhook::from_settings(&settings(config)).unwrap_err();
        assert!(err(json!({})).message.starts_with("config.secret"));
        assert!(
            err(json!({"secret": SPEC_SECRET, "scheme": "stripe"}))
                .message
                .starts_with("config.scheme")
        );
        assert!(
            err(json!({"secret": SPEC_SECRET, "tolerance_secs": 0}))
                .message
                .starts_with("config.tolerance_secs")
        );
        assert!(
            err(json!({"secret": SPEC_SECRET, "tolerance": 5}))
                .message
                .starts_with("config")
        );
        let short = err(json!({"secret": "hunter2"}));
        assert!(short.message.starts_with("config.secret: is too short"));
        assert!(!short.message.contains("hunter2"));
        assert!(
            err(json!({"secret": "whsec_not base64!"}))
                .message
                .starts_with("config.secret")
        );
        let ok = InboundWebhook::from_settings(&settings(json!({"secret": SPEC_SECRET}))).unwrap();
        assert_eq!(ok.scheme(), Scheme::Standard);
        assert_eq!(ok.tolerance_secs, DEFAULT_TOLERANCE_SECS);
        // A list while rotating.
        let two = json!({"secret": [SPEC_SECRET, GH_SECRET], "tolerance_secs": 60});
        assert_eq!(
            InboundWebhook::from_settings(&settings(two))
                .unwrap()
                .secrets
                .len(),
            2
        );
    }

    #[tokio::test]
    async fn the_connector_is_push_and_listen_only() {
        let source =
            InboundWebhook::from_settings(&settings(json!({"secret": SPEC_SECRET}))).unwrap();
        let caps = source.start().await.unwrap();
        assert_eq!(caps.transport, Transport::Push);
        assert!(caps.reply_public.is_none() && caps.reply_private.is_none());
        assert_eq!(source.poll(None).await.unwrap(), Page::default());
        assert_eq!(source.kind(), SourceKind::Webhook);
        // And `build` gives it for the webhook kind.
        let built = crate::build(
            SourceKind::Webhook,
            &settings(json!({"secret": SPEC_SECRET})),
        )
        .unwrap();
        assert_eq!(built.capabilities().transport, Transport::Push);
    }

    fn item(id: &str) -> Value {
        json!({"external_id": id, "author": {"handle": "jane"}, "text": "my order is late",
               "created_at": "2026-11-22T10:00:00Z"})
    }

    #[test]
    fn a_pushed_object_or_array_is_read_item_by_item() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:05:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let one = parse_pushed(item("a").to_string().as_bytes(), now).unwrap();
        let m = one[0].as_ref().unwrap();
        assert_eq!(m.source, SourceKind::Webhook);
        assert_eq!(m.external_id, "a");

        let mut future = item("c");
        future["created_at"] = json!("2027-01-01T00:00:00Z");
        let mut relayed = item("d");
        relayed["source"] = json!("mastodon");
        let batch = json!([item("b"), {"external_id": "x"}, future, 7, relayed]);
        let results = parse_pushed(batch.to_string().as_bytes(), now).unwrap();
        assert_eq!(results.len(), 5);
        assert!(results[0].is_ok());
        let missing = results[1].as_ref().unwrap_err();
        assert_eq!(missing.code, ErrorCode::MissingField);
        assert!(
            missing.message.starts_with("author: is required"),
            "{missing:?}"
        );
        assert!(
            results[2]
                .as_ref()
                .unwrap_err()
                .message
                .starts_with("created_at:")
        );
        assert!(
            results[3]
                .as_ref()
                .unwrap_err()
                .message
                .starts_with("body:")
        );
        assert_eq!(results[4].as_ref().unwrap().source, SourceKind::Mastodon);

        let mut typo = item("e");
        typo["txet"] = json!("x");
        let e = parse_pushed(typo.to_string().as_bytes(), now).unwrap()[0]
            .clone()
            .unwrap_err();
        assert!(e.message.contains("txet"), "{e:?}");
    }

    #[test]
    fn a_body_that_is_not_an_object_or_array_fails_whole() {
        let now = Utc::now();
        assert_eq!(
            parse_pushed(b"{not json", now).unwrap_err().code,
            ErrorCode::InvalidJson
        );
        assert_eq!(
            parse_pushed(b"\"text\"", now).unwrap_err().code,
            ErrorCode::InvalidJson
        );
        let many = Value::Array(vec![json!({}); MAX_PUSHED_ITEMS + 1]).to_string();
        assert_eq!(
            parse_pushed(many.as_bytes(), now).unwrap_err().code,
            ErrorCode::PayloadTooLarge
        );
    }
}
