//! Case actions: assignment, status, notes, and loading a case.

use earshot_core::auth::Principal;
use earshot_core::case::{Case, CaseStatus};
use earshot_core::error::{Error, Result};
use earshot_core::ids::CaseId;
use earshot_core::mention::reject_nul;
use earshot_core::reply::Note;
use earshot_core::store::{CaseDetail, CaseQuery};
use earshot_workflow::Action;

use crate::access::authorize;
use crate::{App, LiveEvent};

/// Assigns case `id` to a user and/or team for `p`.
pub async fn assign_case(
    app: &App,
    p: &Principal,
    id: CaseId,
    assignee: Option<String>,
    team: Option<String>,
) -> Result<Case> {
    authorize(app, p, id, Action::AssignCase).await?;
    let case = app
        .store
        .assign(id, assignee, team, &p.name, app.clock.now())
        .await?;
    let _ = app.live.send(LiveEvent::CaseUpdated { case_id: id });
    Ok(case)
}

/// Moves case `id` through its lifecycle for `p`.
pub async fn set_case_status(app: &App, p: &Principal, id: CaseId, to: CaseStatus) -> Result<Case> {
    authorize(app, p, id, Action::UpdateCase).await?;
    let case = app
        .store
        .set_status(id, to, &p.name, app.clock.now())
        .await?;
    let _ = app.live.send(LiveEvent::CaseUpdated { case_id: id });
    Ok(case)
}

/// Adds an internal note to case `id` for `p`.
pub async fn add_note(app: &App, p: &Principal, id: CaseId, body: &str) -> Result<Note> {
    // Here rather than in each handler: the API and the desk's form both land here.
    reject_nul("body", body)?;
    authorize(app, p, id, Action::WriteNote).await?;
    app.store.add_note(id, body, &p.name, app.clock.now()).await
}

pub async fn case_detail(app: &App, id: CaseId) -> Result<CaseDetail> {
    app.store
        .case_detail(id)
        .await?
        .ok_or_else(|| Error::case_not_found(id))
}

/// Every case in one of `statuses`, read a page at a time (the background
/// workers walk the whole active queue).
pub async fn all_with_status(app: &App, statuses: &[CaseStatus]) -> Result<Vec<Case>> {
    const PAGE: u32 = 500;
    let mut all = Vec::new();
    for status in statuses {
        let mut offset = 0;
        loop {
            let page = app
                .store
                .cases(&CaseQuery {
                    status: Some(*status),
                    limit: Some(PAGE),
                    offset: Some(offset),
                    ..CaseQuery::default()
                })
                .await?;
            let n = page.len() as u32;
            all.extend(page);
            if n < PAGE {
                break;
            }
            offset += PAGE;
        }
    }
    Ok(all)
}

/// The statuses in which a case still waits on someone.
pub const ACTIVE: [CaseStatus; 3] = [CaseStatus::New, CaseStatus::Open, CaseStatus::Pending];
