//! Who may do what on which case: roles, per-team access, location-scoped
//! managers, publish rights, and the reply approval rule (draft → approved →
//! sent) for agents in training and sensitive cases.

use earshot_core::auth::Role;
use earshot_core::{ErrorCode, ReplyStatus, Visibility};
use serde::{Deserialize, Serialize};

/// A signed-in user as the workflow sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    /// The user name (as in `Principal::name`, `Case::assignee`).
    pub name: String,
    pub role: Role,
    /// Teams whose cases the user works on. Admins see every team.
    #[serde(default)]
    pub teams: Vec<String>,
    /// Replies need a supervisor's approval before they go out.
    #[serde(default)]
    pub in_training: bool,
    /// Overrides the role's publish right; `None` uses the role default.
    #[serde(default)]
    pub can_publish: Option<bool>,
    /// When set, the user is a store or product manager who sees only
    /// cases handed to these locations, whatever their role or teams.
    #[serde(default)]
    pub locations: Option<Vec<String>>,
}

impl Actor {
    pub fn new(name: impl Into<String>, role: Role) -> Self {
        Actor {
            name: name.into(),
            role,
            teams: Vec::new(),
            in_training: false,
            can_publish: None,
            locations: None,
        }
    }

    pub fn in_teams(mut self, teams: &[&str]) -> Self {
        self.teams = teams.iter().map(|t| (*t).to_owned()).collect();
        self
    }

    /// Whether the user may speak for the brand in public.
    pub fn has_publish_rights(&self) -> bool {
        self.can_publish.unwrap_or(match self.role {
            Role::Admin | Role::Supervisor | Role::Agent => true,
            Role::Analyst => false,
        })
    }
}

/// The case an action touches; `CaseScope::default()` for actions that are
/// not about one case (managing rules, users…).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseScope {
    pub team: Option<String>,
    pub location: Option<String>,
    #[serde(default)]
    pub sensitive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "action", content = "visibility")]
pub enum Action {
    ViewCase,
    /// Status, tags, priority, fields.
    UpdateCase,
    AssignCase,
    WriteNote,
    DraftReply,
    SendReply(Visibility),
    ApproveReply,
    /// A store or product manager answers a case handed to them.
    AnswerHandoff,
    ManageRules,
    ManageSlaPolicies,
    ManageUsers,
    ManageTeams,
    ViewAudit,
    ViewReports,
    /// Add, edit, pause and delete the sources Earshot listens to.
    ManageSources,
    /// See the sources and their health (never their credentials).
    ViewSources,
}

impl Action {
    fn writes(self) -> bool {
        !matches!(
            self,
            Action::ViewCase | Action::ViewAudit | Action::ViewReports | Action::ViewSources
        )
    }

    fn is_case_action(self) -> bool {
        matches!(
            self,
            Action::ViewCase
                | Action::UpdateCase
                | Action::AssignCase
                | Action::WriteNote
                | Action::DraftReply
                | Action::SendReply(_)
                | Action::ApproveReply
                | Action::AnswerHandoff
        )
    }
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, utoipa::ToSchema)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Denied {
    #[error("analysts have read-only access")]
    ReadOnly,
    #[error("this needs one of the roles {needed:?}")]
    RoleRequired { needed: Vec<Role> },
    #[error("no access to team {team:?}")]
    NoTeamAccess { team: String },
    #[error("the case is not at one of your locations")]
    OutsideLocations,
    #[error("location managers may only view and answer cases handed to them")]
    LocationScoped,
    #[error("you have no right to publish on behalf of the brand")]
    NoPublishRights,
}

impl Denied {
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode::Forbidden
    }
}

/// Checks that `actor` may do `action` on the case described by `scope`.
/// Approval of replies is a separate question: see [`reply_decision`].
pub fn can(actor: &Actor, action: Action, scope: &CaseScope) -> Result<(), Denied> {
    if let Some(locations) = &actor.locations {
        if !matches!(
            action,
            Action::ViewCase | Action::WriteNote | Action::AnswerHandoff
        ) {
            return Err(Denied::LocationScoped);
        }
        return match &scope.location {
            Some(l) if locations.iter().any(|x| x == l) => Ok(()),
            _ => Err(Denied::OutsideLocations),
        };
    }
    if action == Action::AnswerHandoff {
        // Staff answer in the case itself; handoff answers come from managers.
        return Err(Denied::LocationScoped);
    }
    let role = actor.role;
    if role == Role::Analyst && action.writes() {
        return Err(Denied::ReadOnly);
    }
    let needed: &[Role] = match action {
        Action::ManageUsers | Action::ManageTeams | Action::ManageSources => &[Role::Admin],
        Action::ViewSources => &[Role::Admin, Role::Supervisor],
        Action::ManageRules | Action::ManageSlaPolicies | Action::ApproveReply => {
            &[Role::Admin, Role::Supervisor]
        }
        Action::ViewAudit => &[Role::Admin, Role::Supervisor, Role::Analyst],
        _ => &Role::ALL,
    };
    if !needed.contains(&role) {
        return Err(Denied::RoleRequired {
            needed: needed.to_vec(),
        });
    }
    if action.is_case_action() && role != Role::Admin {
        // Unrouted cases (no team yet) are the shared triage queue.
        if let Some(team) = &scope.team
            && !actor.teams.contains(team)
        {
            return Err(Denied::NoTeamAccess { team: team.clone() });
        }
    }
    if action == Action::SendReply(Visibility::Public) && !actor.has_publish_rights() {
        return Err(Denied::NoPublishRights);
    }
    Ok(())
}

/// Whether a case is visible to a location manager; staff visibility is
/// decided by [`can`] with [`Action::ViewCase`].
pub fn location_visible(actor: &Actor, location: Option<&str>) -> bool {
    match &actor.locations {
        None => true,
        Some(mine) => location.is_some_and(|l| mine.iter().any(|m| m == l)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalReason {
    AuthorInTraining,
    SensitiveCase,
    /// An agent credential that belongs to no registered user (no account,
    /// profile or team): nobody known is accountable for what it publishes.
    UnregisteredAuthor,
}

/// What happens when `actor` wants to send a reply they wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum ReplyDecision {
    SendDirectly,
    NeedsApproval { reasons: Vec<ApprovalReason> },
}

fn approval_reasons(author: &Actor, scope: &CaseScope) -> Vec<ApprovalReason> {
    // Supervisors and admins are the approvers: their own replies go out.
    if matches!(author.role, Role::Admin | Role::Supervisor) {
        return Vec::new();
    }
    let mut reasons = Vec::new();
    if author.in_training {
        reasons.push(ApprovalReason::AuthorInTraining);
    }
    if scope.sensitive {
        reasons.push(ApprovalReason::SensitiveCase);
    }
    reasons
}

/// Whether `author` may send a reply of `visibility` on the case directly,
/// must ask for approval, or may not send at all.
pub fn reply_decision(
    author: &Actor,
    visibility: Visibility,
    scope: &CaseScope,
) -> Result<ReplyDecision, Denied> {
    can(author, Action::SendReply(visibility), scope)?;
    let reasons = approval_reasons(author, scope);
    Ok(if reasons.is_empty() {
        ReplyDecision::SendDirectly
    } else {
        ReplyDecision::NeedsApproval { reasons }
    })
}

/// A reply as stored, for approval decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyRef<'a> {
    pub author: &'a Actor,
    pub visibility: Visibility,
    pub status: ReplyStatus,
    pub approved_by: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("this reply needs a supervisor's approval first ({reasons:?})")]
    ApprovalRequired { reasons: Vec<ApprovalReason> },
    #[error("nobody may approve their own reply")]
    SelfApproval,
    #[error("the reply is already {0:?}")]
    WrongStatus(ReplyStatus),
}

impl ApprovalError {
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ApprovalError::Denied(_)
            | ApprovalError::ApprovalRequired { .. }
            | ApprovalError::SelfApproval => ErrorCode::Forbidden,
            ApprovalError::WrongStatus(_) => ErrorCode::InvalidTransition,
        }
    }
}

/// The approval to record on a draft: status becomes `Approved` and
/// `approved_by` the approver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Approval {
    pub approved_by: String,
}

/// Checks that `approver` may approve `reply` (held for approval on the
/// case `scope`).
pub fn approve_reply(
    approver: &Actor,
    reply: &ReplyRef<'_>,
    scope: &CaseScope,
) -> Result<Approval, ApprovalError> {
    if reply.status != ReplyStatus::PendingApproval {
        return Err(ApprovalError::WrongStatus(reply.status));
    }
    can(approver, Action::ApproveReply, scope)?;
    if reply.visibility == Visibility::Public && !approver.has_publish_rights() {
        return Err(Denied::NoPublishRights.into());
    }
    if approver.name == reply.author.name {
        return Err(ApprovalError::SelfApproval);
    }
    Ok(Approval {
        approved_by: approver.name.clone(),
    })
}

/// What to record when a reply goes out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SendPermit {
    pub sent_by: String,
    pub approved_by: Option<String>,
}

/// Checks that `sender` may send `reply` now: they need the right to send,
/// and a draft that needs approval (because of its author, the sender or
/// the case) must carry one. A failed send may be retried.
pub fn send_reply(
    sender: &Actor,
    reply: &ReplyRef<'_>,
    scope: &CaseScope,
) -> Result<SendPermit, ApprovalError> {
    if reply.status == ReplyStatus::Sent {
        return Err(ApprovalError::WrongStatus(reply.status));
    }
    can(sender, Action::SendReply(reply.visibility), scope)?;
    let mut reasons = approval_reasons(reply.author, scope);
    for r in approval_reasons(sender, scope) {
        if !reasons.contains(&r) {
            reasons.push(r);
        }
    }
    let approved = reply.approved_by.filter(|_| {
        !matches!(
            reply.status,
            ReplyStatus::Draft | ReplyStatus::PendingApproval
        )
    });
    if !reasons.is_empty() && approved.is_none() {
        return Err(ApprovalError::ApprovalRequired { reasons });
    }
    Ok(SendPermit {
        sent_by: sender.name.clone(),
        approved_by: approved.map(str::to_owned),
    })
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
