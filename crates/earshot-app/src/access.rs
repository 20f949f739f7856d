//! Who the caller is as a workflow [`Actor`], and the permission checks every
//! case action runs before storage changes anything.

use earshot_core::accounts::InboxQuery;
use earshot_core::auth::Principal;
use earshot_core::case::Case;
use earshot_core::error::{Error, ErrorCode, Result};
use earshot_core::ids::CaseId;
use earshot_core::store::{CaseQuery, MentionQuery};
use earshot_workflow::{Action, Actor, CaseScope, Denied, can};

use crate::App;
use crate::cases::case_detail;

/// act as that user; the bootstrap token is an admin with no profile.
pub fn user_name(p: &Principal) -> &str {
    p.name.strip_prefix("token:").unwrap_or(&p.name)
}

/// The caller as the workflow sees them: the authenticated role, plus teams,
/// training flag, publish right and managed locations from their profile
/// and (when the desk is enabled) their account.
pub async fn actor(app: &App, p: &Principal) -> Result<Actor> {
    let name = user_name(p);
    let mut a = Actor::new(name, p.role);
    // Team membership counts even for users without a profile row.
    a.teams = app
        .workflow
        .teams()
        .await?
        .into_iter()
        .filter(|t| t.members.iter().any(|m| m == name))
        .map(|t| t.name)
        .collect();
    if let Some(profile) = app.workflow.user(name).await? {
        a.in_training = profile.in_training;
        a.can_publish = profile.can_publish;
        a.locations = profile.locations;
    }
    // Desk accounts (issue 5) carry role-independent facts too: a trainee
    // flagged there, or teams listed there, count as well.
    if let Some(desk) = &app.accounts
        && let Some(user) = desk.users().await?.into_iter().find(|u| u.name == name)
    {
        a.in_training |= user.in_training;
        for t in user.teams {
            if !a.teams.contains(&t) {
                a.teams.push(t);
            }
        }
    }
    Ok(a)
}

/// A known person: a desk account, a workflow profile, or a team member.
pub(crate) async fn is_registered(app: &App, a: &Actor) -> Result<bool> {
    if !a.teams.is_empty() || app.workflow.user(&a.name).await?.is_some() {
        return Ok(true);
    }
    Ok(match &app.accounts {
        Some(desk) => desk.users().await?.iter().any(|u| u.name == a.name),
        None => false,
    })
}

pub async fn scope(app: &App, case: &Case) -> Result<CaseScope> {
    Ok(CaseScope {
        team: case.team.clone(),
        location: case.location.clone(),
        sensitive: app.workflow.is_sensitive(case.id).await?,
    })
}

pub fn denied(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::Forbidden, e.to_string())
}

/// Fails with 403 unless the caller may do `action` outside any case.
pub async fn require(app: &App, p: &Principal, action: Action) -> Result<Actor> {
    let a = actor(app, p).await?;
    can(&a, action, &CaseScope::default()).map_err(denied)?;
    Ok(a)
}

/// What a caller may read, computed once per request: everything (staff),
/// or only what belongs to cases at a location manager's locations. Lists
/// pass [`Scope::locations`] to the store, so the filter is part of the
/// query and pages stay full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Mentions without a case, and unrouted cases, are outside it.
    Locations(Vec<String>),
}

impl Scope {
    pub fn of(actor: &Actor) -> Scope {
        match &actor.locations {
            Some(l) => Scope::Locations(l.clone()),
            None => Scope::All,
        }
    }

    /// The store filter: `None` for staff.
    pub fn locations(&self) -> Option<&[String]> {
        match self {
            Scope::All => None,
            Scope::Locations(l) => Some(l),
        }
    }

    /// `query` limited to this scope (whatever the client sent).
    pub fn mentions(&self, query: MentionQuery) -> MentionQuery {
        MentionQuery {
            locations: self.locations().map(<[String]>::to_vec),
            ..query
        }
    }

    /// `query` limited to this scope.
    pub fn cases(&self, query: CaseQuery) -> CaseQuery {
        CaseQuery {
            locations: self.locations().map(<[String]>::to_vec),
            ..query
        }
    }

    /// The desk's inbox `query` limited to this scope.
    pub fn inbox(&self, query: InboxQuery) -> InboxQuery {
        InboxQuery {
            locations: self.locations().map(<[String]>::to_vec),
            ..query
        }
    }

    /// 403 for location managers: reads that are about the whole brand or its
    /// staff (user lists, author lists, rule dry runs over every mention).
    pub fn staff_only(&self) -> Result<()> {
        match self {
            Scope::All => Ok(()),
            Scope::Locations(_) => Err(denied(Denied::LocationScoped)),
        }
    }
}

/// The caller's [`Scope`].
pub async fn read_scope(app: &App, p: &Principal) -> Result<Scope> {
    Ok(Scope::of(&actor(app, p).await?))
}

/// 403 when a location manager opens a case outside their locations.
pub async fn check_visible(app: &App, p: &Principal, case: &Case) -> Result<()> {
    let a = actor(app, p).await?;
    if earshot_workflow::location_visible(&a, case.location.as_deref()) {
        Ok(())
    } else {
        Err(denied(earshot_workflow::Denied::OutsideLocations))
    }
}

/// Fails with 403 unless the caller may do `action` on the case (team
/// access, location managers, read-only analysts).
pub async fn authorize(app: &App, p: &Principal, case_id: CaseId, action: Action) -> Result<()> {
    let detail = case_detail(app, case_id).await?;
    authorize_case(app, p, &detail.case, action).await
}

/// [`authorize`] for a case the caller has already loaded.
pub async fn authorize_case(app: &App, p: &Principal, case: &Case, action: Action) -> Result<()> {
    let a = actor(app, p).await?;
    can(&a, action, &scope(app, case).await?).map_err(denied)
}

// The case actions of the API and the desk: one place that checks the
// caller's team and location scope before the store changes anything.

#[cfg(test)]
mod tests {
    use super::*;
    use earshot_core::auth::Role;

    #[test]
    fn location_managers_get_a_filter_and_no_staff_reads() {
        let staff = Scope::of(&Actor::new("ann", Role::Admin));
        assert_eq!(staff.locations(), None);
        assert!(staff.staff_only().is_ok());
        assert_eq!(staff.mentions(MentionQuery::default()).locations, None);

        let mut mia = Actor::new("mia", Role::Supervisor);
        mia.locations = Some(vec!["berlin".into()]);
        let scope = Scope::of(&mia);
        assert_eq!(scope.locations(), Some(&["berlin".to_string()][..]));
        let e = scope.staff_only().err().map(|e| e.code);
        assert_eq!(e, Some(ErrorCode::Forbidden));
        let q = scope.mentions(MentionQuery {
            q: Some("refund".into()),
            ..MentionQuery::default()
        });
        assert_eq!(q.q.as_deref(), Some("refund"));
        assert_eq!(q.locations, Some(vec!["berlin".to_string()]));
    }
}
