//! Notifications: in-app for users, and the Slack-compatible webhook payload.

use chrono::{DateTime, Utc};
use earshot_core::case::Case;
use earshot_core::error::{Error, Result};
use earshot_workflow::{CaseRef, NotificationEvent, notification_text, slack_payload};

use crate::App;

/// Notifies `users` in-app and queues the Slack-compatible webhook payload.
pub(crate) async fn send(
    app: &App,
    case: &Case,
    event: &NotificationEvent,
    users: &[String],
    now: DateTime<Utc>,
) -> Result<()> {
    let case_ref = CaseRef {
        case_id: case.id.0,
        subject: case.subject.clone(),
        url: None,
    };
    let text = notification_text(event, &case_ref);
    let payload = serde_json::to_value(event).map_err(|e| Error::internal(e.to_string()))?;
    let kind = payload
        .get("type")
        .and_then(|v| v.as_str())
        .unwrap_or("notification")
        .to_string();
    for u in users {
        app.workflow
            .notify(u, &kind, Some(case.id), &text, &payload, now)
            .await?;
    }
    app.workflow
        .queue_webhooks(&slack_payload(event, &case_ref), now)
        .await?;
    Ok(())
}
