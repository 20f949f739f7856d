//! Case actions: assignment, status, notes, and loading a case.

use earshot_core::auth::Principal;
use earshot_core::case::{Case, CaseStatus};
use earshot_core::error::{Error, Result};
use earshot_core::mention::reject_nul;
use earshot_core::reply::Note;
use earshot_core::store::CaseDetail;
use earshot_workflow::Action;

use crate::access::authorize;
use crate::{App, LiveEvent};

/// Assigns case `id` to a user and/or team for `p`.
pub async fn assign_case(
    app: &App,
    p: &Principal,
    id: i64,
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
pub async fn set_case_status(app: &App, p: &Principal, id: i64, to: CaseStatus) -> Result<Case> {
    authorize(app, p, id, Action::UpdateCase).await?;
    let case = app
        .store
        .set_status(id, to, &p.name, app.clock.now())
        .await?;
    let _ = app.live.send(LiveEvent::CaseUpdated { case_id: id });
    Ok(case)
}

/// Adds an internal note to case `id` for `p`.
pub async fn add_note(app: &App, p: &Principal, id: i64, body: &str) -> Result<Note> {
    // Here rather than in each handler: the API and the desk's form both land here.
    reject_nul("body", body)?;
    authorize(app, p, id, Action::WriteNote).await?;
    app.store.add_note(id, body, &p.name, app.clock.now()).await
}

pub async fn case_detail(app: &App, id: i64) -> Result<CaseDetail> {
    app.store
        .case_detail(id)
        .await?
        .ok_or_else(|| Error::case_not_found(id))
}
