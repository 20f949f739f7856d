//! Priority that stays true while the customer waits: the waiting factor
//! grows from their latest message until the brand answers, and drops to
//! nothing once the case waits on the customer. A worker refreshes it, so
//! the stored breakdown and the queue order always agree.

use chrono::{DateTime, Utc};
use earshot_core::case::Case;
use earshot_core::error::Result;
use earshot_core::ids::CaseId;
use earshot_core::priority::Priority;

use crate::App;

/// The priority `case` has at `now`: its waiting factor from the
/// customer's latest message, or zero when the brand has answered it.
pub fn at(app: &App, case: &Case, now: DateTime<Utc>) -> Priority {
    let hours = if case.answered() {
        0.0
    } else {
        (now - case.last_customer_at).num_seconds().max(0) as f32 / 3600.0
    };
    case.priority.with_waiting(hours, &app.pipeline.weights)
}

/// Stores the current priority of every active case whose breakdown moved;
/// returns how many changed.
pub async fn refresh(app: &App, now: DateTime<Utc>) -> Result<usize> {
    let changed: Vec<(CaseId, Priority)> =
        crate::cases::all_with_status(app, &crate::cases::ACTIVE)
            .await?
            .iter()
            .filter_map(|case| {
                let current = at(app, case, now);
                moved(&case.priority, &current).then_some((case.id, current))
            })
            .collect();
    app.store.set_priorities(&changed).await?;
    Ok(changed.len())
}

/// [`refresh`] for one case, right after something answered it.
pub async fn refresh_case(app: &App, case_id: CaseId, now: DateTime<Utc>) -> Result<()> {
    if let Some(detail) = app.store.case_detail(case_id).await? {
        let current = at(app, &detail.case, now);
        if moved(&detail.case.priority, &current) {
            app.store.set_priorities(&[(case_id, current)]).await?;
        }
    }
    Ok(())
}

/// Worth a write: the score or a factor's points changed (not only the
/// wording of how long the wait is so far).
fn moved(stored: &Priority, current: &Priority) -> bool {
    stored.score != current.score
        || stored
            .breakdown
            .iter()
            .zip(&current.breakdown)
            .any(|(a, b)| a.points != b.points || a.factor != b.factor)
}

/// Runs [`refresh`] every `every` until the task is dropped.
pub fn spawn_refresher(app: App, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(e) = refresh(&app, app.clock.now()).await {
                tracing::warn!(error = %e.message, "priority refresh failed");
            }
        }
    })
}
