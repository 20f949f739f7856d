//! Which sources Earshot can answer through a running connector. A reply on
//! any other case is never reported sent: it waits for an agent to post it
//! by hand (`ReplyStatus::Manual`). The source runtime registers a source's
//! connector once it has started and unregisters it when the source stops,
//! is paused or is deleted; the outbox worker delivers through what is
//! registered here.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use earshot_connectors::{Capabilities, Connector};
use earshot_core::ids::SourceId;
use earshot_core::outbox::OutboxTarget;
use earshot_core::reply::{ReplyRoute, Visibility};
use earshot_core::source::SourceKind;

/// A started connector that can deliver replies for its source.
#[derive(Clone)]
pub struct Channel {
    pub source_id: SourceId,
    pub kind: SourceKind,
    pub connector: Arc<dyn Connector>,
    /// As the connector reported them when it started.
    pub capabilities: Capabilities,
}

#[derive(Clone, Default)]
pub struct Channels {
    running: Arc<RwLock<HashMap<SourceId, Channel>>>,
}

impl Channels {
    /// `channel`'s connector has started and delivers its source's outbox.
    pub fn register(&self, channel: Channel) {
        if let Ok(mut map) = self.running.write() {
            map.insert(channel.source_id, channel);
        }
    }

    /// The source stopped (paused, deleted, failing): nothing is delivered
    /// through it until it registers again.
    pub fn unregister(&self, source_id: SourceId) {
        if let Ok(mut map) = self.running.write() {
            map.remove(&source_id);
        }
    }

    pub fn get(&self, source_id: SourceId) -> Option<Channel> {
        self.running
            .read()
            .ok()
            .and_then(|map| map.get(&source_id).cloned())
    }

    /// Whether a reply of `visibility` on a case heard through `source_id`
    /// can leave through a connector.
    pub fn delivers(&self, source_id: Option<SourceId>, visibility: Visibility) -> bool {
        source_id
            .and_then(|id| self.get(id))
            .is_some_and(|c| c.capabilities.limit(visibility).is_some())
    }

    /// Where a sent reply goes: the outbox when a running connector can
    /// deliver it (with the idempotency key that connector makes, kept for
    /// every attempt), otherwise to the agent to post by hand.
    pub fn route(&self, source_id: Option<SourceId>, visibility: Visibility) -> ReplyRoute {
        match source_id.and_then(|id| self.get(id)) {
            Some(c) if c.capabilities.limit(visibility).is_some() => {
                ReplyRoute::Queue(OutboxTarget {
                    source_id: c.source_id,
                    idempotency_key: c.connector.new_idempotency_key(),
                    address: None,
                })
            }
            _ => ReplyRoute::Manual,
        }
    }
}
