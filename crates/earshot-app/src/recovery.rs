//! Recovery at work: assessing resolved cases from what their authors say in
//! public afterwards ([`earshot_core::recovery`] holds the definition), a
//! worker that keeps the stored outcomes current, and the reads behind the
//! API and the desk.
//!
//! The worker's pass is cheap and idempotent: it asks the store only for
//! the cases whose assessment is due (none yet, another resolution or
//! window, or provisional with its window just closed or a new public post
//! by the author), assesses each from scratch and replaces the stored row.
//! Its first pass after start sweeps every resolved case (so a changed
//! window or an upgraded store is caught up); later passes look only at
//! cases resolved within the last window (plus a day) and provisional rows.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use earshot_core::auth::Principal;
use earshot_core::error::{Error, Result};
use earshot_core::ids::CaseId;
use earshot_core::mention::Mention;
use earshot_core::recovery::{
    RecoveryAssessment, RecoveryGroupBy, RecoveryInput, RecoverySummary, TonePost, assess,
    summarise,
};
use earshot_core::store::CaseDetail;
use earshot_workflow::Action;
use serde::Serialize;

use crate::App;

/// How often the worker wakes, unless the runtime is given another interval.
pub const INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
/// Cases assessed per store round trip of a pass.
const PAGE: u32 = 200;
/// Pages per pass at most, so a pass always ends.
const MAX_PAGES: usize = 50;
/// Later posts read per case at most (the oldest first).
const MAX_LATER_POSTS: u32 = 5_000;

/// Assesses the case's latest resolution at `now`; `None` while the case
/// is not resolved (never resolved, or reopened).
pub async fn assess_detail(
    app: &App,
    detail: &CaseDetail,
    now: DateTime<Utc>,
) -> Result<Option<(RecoveryAssessment, Vec<Mention>)>> {
    let case = &detail.case;
    let Some(resolved_at) = case.resolved_at else {
        return Ok(None);
    };
    let window = app.recovery_window;
    let handle = case.author_handle.to_lowercase();
    let case_posts: Vec<TonePost> = detail
        .mentions
        .iter()
        .filter(|m| {
            m.mention.source == case.source && m.mention.author.handle.to_lowercase() == handle
        })
        .map(TonePost::of)
        .collect();
    let later = app
        .recovery
        .later_public_mentions(
            case.source,
            &case.author_handle,
            resolved_at,
            resolved_at + window,
            MAX_LATER_POSTS,
        )
        .await?;
    let later_posts: Vec<TonePost> = later.iter().map(TonePost::of).collect();
    let assessment = assess(&RecoveryInput {
        case_id: case.id,
        resolved_at,
        first_response_at: case.first_response_at,
        case_posts: &case_posts,
        later_posts: &later_posts,
        window,
        now,
    });
    // The evidence, as the desk shows it: opening posts from the case,
    // later ones from wherever they are.
    let mut by_id: HashMap<_, &Mention> = detail.mentions.iter().map(|m| (m.id, m)).collect();
    by_id.extend(later.iter().map(|m| (m.id, m)));
    let evidence = assessment
        .before_mentions
        .iter()
        .chain(&assessment.after_mentions)
        .filter_map(|id| by_id.get(id).map(|m| (*m).clone()))
        .collect();
    Ok(Some((assessment, evidence)))
}

/// The same outcome and evidence (when it was assessed aside).
fn same(a: &RecoveryAssessment, b: &RecoveryAssessment) -> bool {
    RecoveryAssessment {
        assessed_at: b.assessed_at,
        ..a.clone()
    } == *b
}

/// Assesses one case now and stores the result when it changed; `None`
/// while the case is not resolved.
pub async fn refresh_case(
    app: &App,
    id: CaseId,
) -> Result<Option<(RecoveryAssessment, Vec<Mention>)>> {
    let Some(detail) = app.store.case_detail(id).await? else {
        return Err(Error::case_not_found(id));
    };
    let stored = app.recovery.recovery(id).await?;
    // A final outcome stays as it was decided at the window's end.
    if let Some(stored) = stored
        .as_ref()
        .filter(|s| s.is_final && s.window_end - s.resolved_at == app.recovery_window)
        && detail.case.resolved_at == Some(stored.resolved_at)
    {
        let evidence = evidence_of(app, &detail, stored).await?;
        return Ok(Some((stored.clone(), evidence)));
    }
    let Some((assessment, evidence)) = assess_detail(app, &detail, app.clock.now()).await? else {
        return Ok(None);
    };
    if !stored.as_ref().is_some_and(|s| same(s, &assessment)) {
        app.recovery.save_recovery(&assessment).await?;
    }
    Ok(Some((assessment, evidence)))
}

async fn evidence_of(
    app: &App,
    detail: &CaseDetail,
    a: &RecoveryAssessment,
) -> Result<Vec<Mention>> {
    let later = app
        .recovery
        .later_public_mentions(
            detail.case.source,
            &detail.case.author_handle,
            a.resolved_at,
            a.window_end,
            MAX_LATER_POSTS,
        )
        .await?;
    let by_id: HashMap<_, &Mention> = detail
        .mentions
        .iter()
        .chain(&later)
        .map(|m| (m.id, m))
        .collect();
    Ok(a.before_mentions
        .iter()
        .chain(&a.after_mentions)
        .filter_map(|id| by_id.get(id).map(|m| (*m).clone()))
        .collect())
}

/// One worker pass: assesses every case that is due and stores the
/// results; returns how many were assessed. `since` limits it to cases
/// resolved from then on (plus provisional ones); `None` sweeps them all.
pub async fn pass(app: &App, since: Option<DateTime<Utc>>) -> Result<usize> {
    let mut assessed = 0;
    for _ in 0..MAX_PAGES {
        let now = app.clock.now();
        let due = app
            .recovery
            .recovery_due(now, app.recovery_window, since, PAGE)
            .await?;
        for id in &due {
            let Some(detail) = app.store.case_detail(*id).await? else {
                continue;
            };
            if let Some((assessment, _)) = assess_detail(app, &detail, now).await? {
                app.recovery.save_recovery(&assessment).await?;
                assessed += 1;
            }
        }
        if due.len() < PAGE as usize {
            break;
        }
    }
    Ok(assessed)
}

/// How far back a regular pass looks: one window and a day, so a window
/// that closed since the last pass is final-assessed.
pub fn since(app: &App, now: DateTime<Utc>) -> DateTime<Utc> {
    now - app.recovery_window - TimeDelta::days(1)
}

/// Runs [`pass`] every `every` (a full sweep first) until dropped.
pub fn spawn_worker(app: App, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut swept = false;
        loop {
            interval.tick().await;
            let since = swept.then(|| since(&app, app.clock.now()));
            match pass(&app, since).await {
                Ok(n) => {
                    // A sweep that hit the pass's cap goes on next time.
                    swept = swept || n < MAX_PAGES * PAGE as usize;
                    if n > 0 {
                        tracing::debug!(assessed = n, "recovery pass");
                    }
                }
                Err(e) => tracing::warn!(error = %e.message, "recovery pass failed"),
            }
        }
    })
}

/// A case's recovery as the API and the desk show it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CaseRecovery {
    pub case_id: i64,
    /// `null` while the case is not resolved (never resolved, or reopened:
    /// it is assessed again from its next resolution).
    pub assessment: Option<RecoveryAssessment>,
    /// The mentions named in the assessment (before, then after).
    pub evidence: Vec<Mention>,
    /// How long after a resolution the author is followed.
    pub window_days: u32,
}

/// Case `id`'s recovery for `p` (403 outside a location manager's
/// locations), assessed now: the page never lags the worker.
pub async fn case_recovery(app: &App, p: &Principal, id: CaseId) -> Result<CaseRecovery> {
    let detail = crate::cases::case_detail(app, id).await?;
    crate::access::check_visible(app, p, &detail.case).await?;
    let found = refresh_case(app, id).await?;
    let (assessment, evidence) = match found {
        Some((a, e)) => (Some(a), e),
        None => (None, Vec::new()),
    };
    Ok(CaseRecovery {
        case_id: id.0,
        assessment,
        evidence,
        window_days: window_days(app),
    })
}

fn window_days(app: &App) -> u32 {
    u32::try_from(app.recovery_window.num_days()).unwrap_or(u32::MAX)
}

/// The recovery rates of cases resolved in `[from, to)`, grouped by `by`,
/// from the stored assessments. Reports need `ViewReports` (location
/// managers are refused); the scope is applied to the rows all the same.
pub async fn summary(
    app: &App,
    p: &Principal,
    by: RecoveryGroupBy,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<RecoverySummary> {
    if let (Some(from), Some(to)) = (from, to)
        && to <= from
    {
        return Err(Error::invalid_field("to", "must be after `from`"));
    }
    let actor = crate::access::require(app, p, Action::ViewReports).await?;
    let scope = crate::access::Scope::of(&actor);
    let rows = app
        .recovery
        .recovery_rows(from, to, scope.locations())
        .await?;
    let (groups, total) = summarise(&rows, by);
    Ok(RecoverySummary {
        by,
        from,
        to,
        window_days: window_days(app),
        groups,
        total,
    })
}
