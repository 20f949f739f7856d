//! Presence on a case page: who is viewing or typing.

use chrono::TimeDelta;
use earshot_core::auth::Principal;
use earshot_core::error::{Error, Result};
use earshot_core::ids::CaseId;
use earshot_workflow::{Activity, Presence};

use crate::App;
use crate::access::{check_visible, user_name};
use crate::cases::case_detail;

/// How long a presence heartbeat lasts.
pub const PRESENCE_TTL: TimeDelta = TimeDelta::seconds(60);

/// Records `p` as `activity` on case `case_id` (a heartbeat) and answers
/// who else is on it, drafters first.
pub async fn touch(
    app: &App,
    p: &Principal,
    case_id: CaseId,
    activity: Activity,
) -> Result<Vec<Presence>> {
    let detail = case_detail(app, case_id).await?;
    check_visible(app, p, &detail.case).await?;
    let me = user_name(p);
    let now = app.clock.now();
    let mut reg = app
        .presence
        .lock()
        .map_err(|_| Error::internal("presence lock poisoned"))?;
    reg.prune(now);
    reg.touch(case_id.0, me, activity, now, PRESENCE_TTL);
    Ok(reg
        .others_on(case_id.0, me, now)
        .into_iter()
        .cloned()
        .collect())
}

/// Everyone but `p` viewing or drafting case `case_id` now.
pub async fn others(app: &App, p: &Principal, case_id: CaseId) -> Result<Vec<Presence>> {
    let detail = case_detail(app, case_id).await?;
    check_visible(app, p, &detail.case).await?;
    let now = app.clock.now();
    let reg = app
        .presence
        .lock()
        .map_err(|_| Error::internal("presence lock poisoned"))?;
    Ok(reg
        .others_on(case_id.0, user_name(p), now)
        .into_iter()
        .cloned()
        .collect())
}
