//! What a connector instance can do, declared so the desk, the outbox and
//! the runtime never have to guess: how it listens, how (and how long) it can
//! answer, what gates a private message, how a retry avoids a double post,
//! and how fast it may be called.

use std::time::Duration;

use serde::Serialize;
use unicode_segmentation::UnicodeSegmentation;

/// How a platform counts a post's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// User-perceived characters (Bluesky).
    Graphemes,
    /// Unicode scalar values (Mastodon, Reddit, Google Play).
    Chars,
    /// UTF-8 bytes.
    Bytes,
}

/// The longest text a platform accepts for one kind of reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LengthLimit {
    pub max: u32,
    pub unit: Unit,
    /// Every URL counts as this many units whatever its length (Mastodon's
    /// `characters_reserved_per_url`, 23 by default).
    pub url_cost: Option<u32>,
}

impl LengthLimit {
    pub const fn new(max: u32, unit: Unit) -> Self {
        LengthLimit {
            max,
            unit,
            url_cost: None,
        }
    }

    /// `text`'s length as the platform counts it.
    pub fn measure(&self, text: &str) -> u32 {
        let count = |s: &str| -> usize {
            match self.unit {
                Unit::Graphemes => s.graphemes(true).count(),
                Unit::Chars => s.chars().count(),
                Unit::Bytes => s.len(),
            }
        };
        let total = match self.url_cost {
            None => count(text),
            Some(cost) => text
                .split_inclusive(char::is_whitespace)
                .map(|word| {
                    let trimmed = word.trim_end();
                    if is_url(trimmed) {
                        cost as usize + (word.len() - trimmed.len())
                    } else {
                        count(word)
                    }
                })
                .sum(),
        };
        u32::try_from(total).unwrap_or(u32::MAX)
    }

    /// `Ok` when `text` fits, otherwise its measured length.
    pub fn check(&self, text: &str) -> Result<(), u32> {
        let n = self.measure(text);
        if n <= self.max { Ok(()) } else { Err(n) }
    }
}

fn is_url(word: &str) -> bool {
    word.starts_with("https://") || word.starts_with("http://")
}

/// What must hold before the brand may message a customer privately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PrivateGate {
    /// Nothing: any address can be written to (email).
    None,
    /// The message must @mention the recipient (Mastodon `visibility=direct`).
    MustMention,
    /// The recipient's settings must allow incoming messages (Bluesky chat
    /// `allowIncoming`), checked before each send.
    RecipientAllowsIncoming,
    /// Only within this long after the customer's last message.
    WindowSinceLastInbound {
        #[schema(value_type = u64)]
        #[serde(with = "secs")]
        window: Duration,
    },
}

/// How a retried send avoids posting twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Idempotency {
    /// The platform deduplicates on a header for `ttl` (Mastodon's
    /// `Idempotency-Key`, kept one hour); past that, `reconcile` looks.
    NativeHeader {
        #[schema(value_type = u64)]
        #[serde(with = "secs")]
        ttl: Duration,
    },
    /// We choose the new item's id (Bluesky rkey, email Message-ID), so a
    /// retry can ask whether it exists.
    ClientId,
    /// Neither: `reconcile` searches our own recent posts.
    Reconcile,
    /// The platform keeps one reply per item and a resend overwrites it
    /// (store review responses), so a resend is harmless.
    Overwrite,
}

/// How new items reach Earshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Transport {
    /// A long-lived connection (WebSocket, IDLE); `poll` catches up after
    /// every reconnect.
    Stream,
    /// Asked every `interval`.
    Poll {
        #[schema(value_type = u64)]
        #[serde(with = "secs")]
        interval: Duration,
    },
    /// The platform calls us (signed inbound webhooks).
    Push,
}

/// A request budget: `requests` per `per`, the platform's documented limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RateBudget {
    pub requests: u32,
    #[schema(value_type = u64)]
    #[serde(with = "secs")]
    pub per: Duration,
}

/// Everything a connector instance declares. Some values are read from the
/// platform when the connector starts (Mastodon's `max_characters`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Capabilities {
    pub listen_keyword: bool,
    pub listen_hashtag: bool,
    pub listen_mention: bool,
    pub listen_dm: bool,
    /// `None`: cannot answer in public here.
    pub reply_public: Option<LengthLimit>,
    /// `None`: cannot answer privately here.
    pub reply_private: Option<LengthLimit>,
    pub private_gate: PrivateGate,
    pub idempotency: Idempotency,
    pub transport: Transport,
    pub rate: RateBudget,
    /// What the connector cannot do, in plain words for the desk.
    pub limitations: Vec<String>,
}

impl Capabilities {
    /// A listen-only source (feeds, inbound webhooks).
    pub fn listen_only(transport: Transport, rate: RateBudget) -> Self {
        Capabilities {
            listen_keyword: false,
            listen_hashtag: false,
            listen_mention: false,
            listen_dm: false,
            reply_public: None,
            reply_private: None,
            private_gate: PrivateGate::None,
            idempotency: Idempotency::Reconcile,
            transport,
            rate,
            limitations: Vec::new(),
        }
    }

    pub fn limit(&self, visibility: earshot_core::reply::Visibility) -> Option<LengthLimit> {
        match visibility {
            earshot_core::reply::Visibility::Public => self.reply_public,
            earshot_core::reply::Visibility::Private => self.reply_private,
        }
    }
}

mod secs {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphemes_count_a_family_emoji_once() {
        let limit = LengthLimit::new(300, Unit::Graphemes);
        assert_eq!(limit.measure("hi 👨‍👩‍👧"), 4);
        assert_eq!(LengthLimit::new(10, Unit::Chars).measure("hi 👨‍👩‍👧"), 8);
        assert_eq!(LengthLimit::new(10, Unit::Bytes).measure("é"), 2);
    }

    #[test]
    fn a_url_costs_its_reserved_length_on_mastodon() {
        let limit = LengthLimit {
            max: 500,
            unit: Unit::Chars,
            url_cost: Some(23),
        };
        let long = format!("see https://example.com/{} now", "a".repeat(200));
        assert_eq!(limit.measure(&long), 4 + 23 + 4);
        assert_eq!(limit.check(&"x".repeat(501)), Err(501));
        assert_eq!(limit.check(&"x".repeat(500)), Ok(()));
    }
}
