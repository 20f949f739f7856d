//! Where mentions come from and what can be done there.

use serde::{Deserialize, Serialize};

/// The kind of connector a mention arrived through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Webhook,
    Import,
    Rss,
    Mastodon,
    Bluesky,
    Reddit,
    Email,
    /// Google Play reviews of the brand's own app (its service account).
    GooglePlay,
    /// App Store Connect customer reviews (the brand's own API key).
    AppStore,
}

/// What a source lets the brand do in reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SourceCapabilities {
    pub public_reply: bool,
    pub private_reply: bool,
    /// Longest reply the platform accepts, in characters; `None` when unlimited.
    pub reply_max_chars: Option<u32>,
}

impl SourceKind {
    pub const ALL: [SourceKind; 9] = [
        SourceKind::Webhook,
        SourceKind::Import,
        SourceKind::Rss,
        SourceKind::Mastodon,
        SourceKind::Bluesky,
        SourceKind::Reddit,
        SourceKind::Email,
        SourceKind::GooglePlay,
        SourceKind::AppStore,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Webhook => "webhook",
            SourceKind::Import => "import",
            SourceKind::Rss => "rss",
            SourceKind::Mastodon => "mastodon",
            SourceKind::Bluesky => "bluesky",
            SourceKind::Reddit => "reddit",
            SourceKind::Email => "email",
            SourceKind::GooglePlay => "google_play",
            SourceKind::AppStore => "app_store",
        }
    }

    pub fn parse(s: &str) -> Option<SourceKind> {
        SourceKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The platform's reply capabilities (Mastodon's default 500 characters,
    /// Bluesky's 300 graphemes, Reddit's 10,000 characters per comment).
    pub fn capabilities(self) -> SourceCapabilities {
        let (public_reply, private_reply, reply_max_chars) = match self {
            SourceKind::Mastodon => (true, true, Some(500)),
            SourceKind::Bluesky => (true, true, Some(300)),
            SourceKind::Reddit => (true, true, Some(10_000)),
            SourceKind::Email => (false, true, None),
            // One public response per review; Play caps it near 350 characters.
            SourceKind::GooglePlay => (true, false, Some(350)),
            SourceKind::AppStore => (true, false, None),
            // RSS items (blogs, review sites) cannot be answered in place.
            SourceKind::Rss => (false, false, None),
            // Webhook and import sources answer through the outbox; the
            // receiving system decides, so nothing is limited here.
            SourceKind::Webhook | SourceKind::Import => (true, true, None),
        };
        SourceCapabilities {
            public_reply,
            private_reply,
            reply_max_chars,
        }
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_every_kind() {
        for kind in SourceKind::ALL {
            assert_eq!(SourceKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(SourceKind::parse("twitter"), None);
    }

    #[test]
    fn rss_cannot_be_answered_and_email_is_private_only() {
        assert!(!SourceKind::Rss.capabilities().public_reply);
        let email = SourceKind::Email.capabilities();
        assert!(!email.public_reply && email.private_reply);
        assert_eq!(
            SourceKind::Bluesky.capabilities().reply_max_chars,
            Some(300)
        );
    }
}
