//! Mentions pushed to a signed inbound webhook source: verified against the
//! source's secret, deduplicated on the sender's delivery id, then ingested
//! like any other mention, with the source as their origin.

use chrono::TimeDelta;
use earshot_connectors::webhook::{InboundWebhook, parse_pushed};
use earshot_connectors::{Inbound, InboundKind, SourceSettings};
use earshot_core::error::{Error, ErrorCode, Result};
use earshot_core::ids::SourceId;
use earshot_core::source::SourceKind;
use earshot_core::sources::SourceRecord;
use reqwest::header::HeaderMap;

use crate::App;
use crate::ingest::Ingested;

/// How long a delivery id is remembered: longer than senders retry
/// (Standard Webhooks senders give up within days).
pub const DELIVERY_RETENTION: TimeDelta = TimeDelta::days(30);

/// What happened to one pushed item.
#[derive(Debug, Clone)]
pub enum ItemOutcome {
    /// Stored (or already stored: `outcome.duplicate`).
    Ingested(Box<Ingested>),
    /// Invalid, with the field at fault; nothing of it was stored.
    Rejected(Error),
}

/// The answer to one push.
#[derive(Debug, Clone)]
pub struct Received {
    pub delivery_id: String,
    /// This delivery id was received before: nothing was read or stored.
    pub duplicate: bool,
    /// One per pushed item, in order (empty for a duplicate delivery).
    pub items: Vec<ItemOutcome>,
}

/// Verifies and ingests a push to webhook source `id`. An unknown id (or a
/// source of another kind) is `not_found`; a bad signature is `unauthorized` (naming what
/// failed, never the secret); a body that is not a mention or a list of
/// them is a 4xx naming the field; each item is accepted or rejected on its
/// own. The delivery id is remembered once something was stored, so a
/// retry stores nothing twice (and mentions are idempotent on their own,
/// so a crash between the two only makes the retry answer duplicates).
pub async fn receive(
    app: &App,
    id: SourceId,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Received> {
    let not_found = || Error::not_found(format!("webhook source {id}"));
    let source: SourceRecord = app.sources.source(id).await?.ok_or_else(not_found)?;
    if source.kind != SourceKind::Webhook {
        return Err(not_found());
    }
    let settings = SourceSettings {
        config: source.config.clone(),
        credentials: crate::sources::open(app, &source)?,
    };
    if source.paused {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!("source {} is paused; resume it to accept pushes", source.id),
        ));
    }
    let webhook = InboundWebhook::from_settings(&settings).map_err(|e| {
        Error::new(
            ErrorCode::Conflict,
            format!("source {} cannot verify pushes: {}", source.id, e.message),
        )
    })?;
    let now = app.clock.now();
    let delivery = webhook
        .verify(headers, body, now)
        .map_err(|e| Error::new(ErrorCode::Unauthorized, e.to_string()))?;
    if app.inbound.delivery_seen(source.id, &delivery.id).await? {
        return Ok(Received {
            delivery_id: delivery.id,
            duplicate: true,
            items: Vec::new(),
        });
    }
    let parsed = parse_pushed(body, now)?;
    let mut valid: Vec<Inbound> = Vec::new();
    let mut rejections: Vec<String> = Vec::new();
    let mut slots: Vec<Option<Error>> = Vec::with_capacity(parsed.len());
    for (index, item) in parsed.into_iter().enumerate() {
        match item {
            Ok(mention) => {
                valid.push(Inbound {
                    mention,
                    kind: InboundKind::Push,
                    reply_ref: serde_json::Value::Null,
                    by_brand: false,
                });
                slots.push(None);
            }
            Err(e) => {
                rejections.push(format!("pushed item {index}: {}", e.message));
                slots.push(Some(e));
            }
        }
    }
    let stored_any = !valid.is_empty();
    let expected = valid.len();
    // The runtime's own path: validated again (it passed at `now`, so it
    // passes now), marked with this source, rejections counted as skipped.
    let ingested = crate::listen::store_inbound(app, source.id, valid, rejections, None).await?;
    if ingested.len() != expected {
        return Err(Error::internal(
            "storing a push returned fewer results than valid items",
        ));
    }
    let mut ingested = ingested.into_iter();
    let mut items = Vec::with_capacity(slots.len());
    for slot in slots {
        match slot {
            Some(e) => items.push(ItemOutcome::Rejected(e)),
            None => {
                let i = ingested
                    .next()
                    .ok_or_else(|| Error::internal("lost a pushed item's result"))?;
                items.push(ItemOutcome::Ingested(Box::new(i)));
            }
        }
    }
    if stored_any {
        app.inbound
            .record_delivery(source.id, &delivery.id, now, now - DELIVERY_RETENTION)
            .await?;
    }
    Ok(Received {
        delivery_id: delivery.id,
        duplicate: false,
        items,
    })
}
