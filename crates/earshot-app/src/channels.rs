//! Which sources Earshot can answer through a connector. A reply to any
//! other source is never reported sent: it waits for an agent to post it
//! by hand (`ReplyStatus::Manual`). Connectors register their source here
//! when they start; until one has, nothing is delivered.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use earshot_core::reply::ReplyRoute;
use earshot_core::source::SourceKind;

#[derive(Clone, Default)]
pub struct Channels {
    delivering: Arc<RwLock<HashSet<SourceKind>>>,
}

impl Channels {
    /// A connector for `source` is running and delivers its outbox.
    pub fn register(&self, source: SourceKind) {
        if let Ok(mut set) = self.delivering.write() {
            set.insert(source);
        }
    }

    pub fn delivers(&self, source: SourceKind) -> bool {
        self.delivering
            .read()
            .map(|set| set.contains(&source))
            .unwrap_or(false)
    }

    /// Where a reply sent on a `source` case goes: the outbox when a
    /// connector delivers there, otherwise to the agent to post by hand.
    pub fn route(&self, source: SourceKind) -> ReplyRoute {
        if self.delivers(source) {
            ReplyRoute::Queue
        } else {
            ReplyRoute::Manual
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_queued_for_a_source_without_a_connector() {
        let c = Channels::default();
        assert_eq!(c.route(SourceKind::Import), ReplyRoute::Manual);
        assert_eq!(c.route(SourceKind::Mastodon), ReplyRoute::Manual);
        c.register(SourceKind::Mastodon);
        assert_eq!(c.route(SourceKind::Mastodon), ReplyRoute::Queue);
        assert_eq!(c.route(SourceKind::Import), ReplyRoute::Manual);
    }
}
