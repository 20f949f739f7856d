//! Signed inbound webhook deliveries already received ([`InboundDeliveries`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use earshot_core::error::Result;
use earshot_core::ids::SourceId;
use earshot_core::inbound::InboundDeliveries;

use crate::rows::{ms, q};
use crate::{SqlStore, db_error};

#[async_trait]
impl InboundDeliveries for SqlStore {
    async fn delivery_seen(&self, source: SourceId, delivery_id: &str) -> Result<bool> {
        let row =
            q("SELECT 1 AS seen FROM inbound_deliveries WHERE source_id = $1 AND delivery_id = $2")
                .bind(source.0)
                .bind(delivery_id.to_string())
                .fetch_optional(self.pool())
                .await
                .map_err(|e| db_error("read inbound delivery", e))?;
        Ok(row.is_some())
    }

    async fn record_delivery(
        &self,
        source: SourceId,
        delivery_id: &str,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<()> {
        q(
            "INSERT INTO inbound_deliveries (source_id, delivery_id, received_at) \
           VALUES ($1, $2, $3) ON CONFLICT (source_id, delivery_id) DO NOTHING",
        )
        .bind(source.0)
        .bind(delivery_id.to_string())
        .bind(ms(now))
        .execute(self.pool())
        .await
        .map_err(|e| db_error("record inbound delivery", e))?;
        q("DELETE FROM inbound_deliveries WHERE source_id = $1 AND received_at < $2")
            .bind(source.0)
            .bind(ms(forget_before))
            .execute(self.pool())
            .await
            .map_err(|e| db_error("forget old inbound deliveries", e))?;
        Ok(())
    }
}
