//! The record of signed inbound webhook deliveries already received, so a
//! sender's retry of one delivery stores nothing twice.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::ids::SourceId;

#[async_trait]
pub trait InboundDeliveries: Send + Sync + 'static {
    /// Whether `delivery_id` was already received for `source`.
    async fn delivery_seen(&self, source: SourceId, delivery_id: &str) -> Result<bool>;
    /// Remembers `delivery_id` (a second call changes nothing) and forgets
    /// the source's deliveries received before `forget_before`.
    async fn record_delivery(
        &self,
        source: SourceId,
        delivery_id: &str,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<()>;
}
