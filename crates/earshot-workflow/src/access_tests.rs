#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

fn scope(team: Option<&str>, sensitive: bool) -> CaseScope {
    CaseScope {
        team: team.map(str::to_owned),
        location: None,
        sensitive,
    }
}

fn agent() -> Actor {
    Actor::new("alice", Role::Agent).in_teams(&["care"])
}

fn supervisor() -> Actor {
    Actor::new("sam", Role::Supervisor).in_teams(&["care"])
}

fn draft<'a>(author: &'a Actor, status: ReplyStatus, approved_by: Option<&'a str>) -> ReplyRef<'a> {
    ReplyRef {
        author,
        visibility: Visibility::Public,
        status,
        approved_by,
    }
}

#[test]
fn analysts_read_but_never_write() {
    let analyst = Actor::new("ann", Role::Analyst).in_teams(&["care"]);
    let care = scope(Some("care"), false);
    assert_eq!(can(&analyst, Action::ViewCase, &care), Ok(()));
    assert_eq!(
        can(&analyst, Action::ViewReports, &CaseScope::default()),
        Ok(())
    );
    assert_eq!(
        can(&analyst, Action::ViewAudit, &CaseScope::default()),
        Ok(())
    );
    assert_eq!(
        can(&analyst, Action::WriteNote, &care),
        Err(Denied::ReadOnly)
    );
    assert_eq!(
        reply_decision(&analyst, Visibility::Public, &care),
        Err(Denied::ReadOnly)
    );
    assert!(!analyst.has_publish_rights());
}

#[test]
fn team_access_limits_staff_but_not_admins() {
    let billing = scope(Some("billing"), false);
    assert_eq!(
        can(&agent(), Action::ViewCase, &billing),
        Err(Denied::NoTeamAccess {
            team: "billing".into()
        })
    );
    assert_eq!(
        can(&agent(), Action::ViewCase, &scope(Some("care"), false)),
        Ok(())
    );
    // The unrouted triage queue is everyone's.
    assert_eq!(
        can(&agent(), Action::AssignCase, &scope(None, false)),
        Ok(())
    );
    assert_eq!(
        can(
            &Actor::new("root", Role::Admin),
            Action::UpdateCase,
            &billing
        ),
        Ok(())
    );
}

#[test]
fn configuration_needs_the_right_role() {
    let global = CaseScope::default();
    assert!(matches!(
        can(&agent(), Action::ManageRules, &global),
        Err(Denied::RoleRequired { .. })
    ));
    assert_eq!(can(&supervisor(), Action::ManageRules, &global), Ok(()));
    assert_eq!(
        can(&supervisor(), Action::ManageSlaPolicies, &global),
        Ok(())
    );
    assert!(matches!(
        can(&supervisor(), Action::ManageUsers, &global),
        Err(Denied::RoleRequired { .. })
    ));
    assert_eq!(
        can(
            &Actor::new("root", Role::Admin),
            Action::ManageUsers,
            &global
        ),
        Ok(())
    );
    assert!(matches!(
        can(&agent(), Action::ViewAudit, &global),
        Err(Denied::RoleRequired { .. })
    ));
}

#[test]
fn only_users_with_publish_rights_reply_in_public() {
    let mut muted = agent();
    muted.can_publish = Some(false);
    let care = scope(Some("care"), false);
    assert_eq!(
        reply_decision(&muted, Visibility::Public, &care),
        Err(Denied::NoPublishRights)
    );
    // Private replies are not publishing.
    assert_eq!(
        reply_decision(&muted, Visibility::Private, &care),
        Ok(ReplyDecision::SendDirectly)
    );
    assert_eq!(
        reply_decision(&agent(), Visibility::Public, &care),
        Ok(ReplyDecision::SendDirectly)
    );
}

#[test]
fn trainee_is_blocked_until_a_supervisor_approves_and_the_approver_is_recorded() {
    let mut trainee = agent();
    trainee.in_training = true;
    let care = scope(Some("care"), false);
    assert_eq!(
        reply_decision(&trainee, Visibility::Public, &care),
        Ok(ReplyDecision::NeedsApproval {
            reasons: vec![ApprovalReason::AuthorInTraining]
        })
    );
    let blocked = send_reply(&trainee, &draft(&trainee, ReplyStatus::Draft, None), &care);
    assert_eq!(
        blocked,
        Err(ApprovalError::ApprovalRequired {
            reasons: vec![ApprovalReason::AuthorInTraining]
        })
    );
    assert_eq!(blocked.unwrap_err().error_code(), ErrorCode::Forbidden);

    // A fellow agent cannot approve; the supervisor can.
    let peer = Actor::new("bob", Role::Agent).in_teams(&["care"]);
    assert!(matches!(
        approve_reply(
            &peer,
            &draft(&trainee, ReplyStatus::PendingApproval, None),
            &care
        ),
        Err(ApprovalError::Denied(Denied::RoleRequired { .. }))
    ));
    let approval = approve_reply(
        &supervisor(),
        &draft(&trainee, ReplyStatus::PendingApproval, None),
        &care,
    )
    .unwrap();
    assert_eq!(approval.approved_by, "sam");

    // Approved, then refused by its channel: it may be sent again.
    let approved = draft(&trainee, ReplyStatus::Failed, Some("sam"));
    let permit = send_reply(&trainee, &approved, &care).unwrap();
    assert_eq!(
        permit,
        SendPermit {
            sent_by: "alice".into(),
            approved_by: Some("sam".into())
        }
    );

    let sent = draft(&trainee, ReplyStatus::Sent, Some("sam"));
    assert_eq!(
        send_reply(&trainee, &sent, &care),
        Err(ApprovalError::WrongStatus(ReplyStatus::Sent))
    );
    assert_eq!(
        approve_reply(&supervisor(), &approved, &care),
        Err(ApprovalError::WrongStatus(ReplyStatus::Failed))
    );
}

#[test]
fn sensitive_cases_need_approval_even_from_experienced_agents() {
    let sensitive = scope(Some("care"), true);
    assert_eq!(
        reply_decision(&agent(), Visibility::Private, &sensitive),
        Ok(ReplyDecision::NeedsApproval {
            reasons: vec![ApprovalReason::SensitiveCase]
        })
    );
    // A supervisor's own reply goes straight out.
    assert_eq!(
        reply_decision(&supervisor(), Visibility::Public, &sensitive),
        Ok(ReplyDecision::SendDirectly)
    );
    // A supervisor cannot approve their own draft, nor one from another team.
    let sam = supervisor();
    assert_eq!(
        approve_reply(
            &sam,
            &draft(&sam, ReplyStatus::PendingApproval, None),
            &sensitive
        ),
        Err(ApprovalError::SelfApproval)
    );
    let other_team = Actor::new("olga", Role::Supervisor).in_teams(&["billing"]);
    let alice = agent();
    assert!(matches!(
        approve_reply(
            &other_team,
            &draft(&alice, ReplyStatus::PendingApproval, None),
            &sensitive
        ),
        Err(ApprovalError::Denied(Denied::NoTeamAccess { .. }))
    ));
}

#[test]
fn a_trainee_cannot_send_a_colleagues_unapproved_draft() {
    let mut trainee = agent();
    trainee.in_training = true;
    let colleague = Actor::new("bob", Role::Agent).in_teams(&["care"]);
    let care = scope(Some("care"), false);
    assert!(matches!(
        send_reply(
            &trainee,
            &draft(&colleague, ReplyStatus::Draft, None),
            &care
        ),
        Err(ApprovalError::ApprovalRequired { .. })
    ));
    assert!(
        send_reply(
            &colleague,
            &draft(&colleague, ReplyStatus::Draft, None),
            &care
        )
        .is_ok()
    );
}

#[test]
fn store_managers_see_only_their_locations() {
    let mut manager = Actor::new("mia", Role::Agent);
    manager.locations = Some(vec!["berlin-mitte".into()]);
    let at = |loc: &str| CaseScope {
        team: Some("care".into()),
        location: Some(loc.into()),
        sensitive: false,
    };
    assert_eq!(can(&manager, Action::ViewCase, &at("berlin-mitte")), Ok(()));
    assert_eq!(
        can(&manager, Action::AnswerHandoff, &at("berlin-mitte")),
        Ok(())
    );
    assert_eq!(
        can(&manager, Action::ViewCase, &at("hamburg")),
        Err(Denied::OutsideLocations)
    );
    assert_eq!(
        can(&manager, Action::ViewCase, &scope(None, false)),
        Err(Denied::OutsideLocations)
    );
    assert_eq!(
        can(
            &manager,
            Action::SendReply(Visibility::Public),
            &at("berlin-mitte")
        ),
        Err(Denied::LocationScoped)
    );
    assert!(location_visible(&manager, Some("berlin-mitte")));
    assert!(!location_visible(&manager, Some("hamburg")));
    assert!(location_visible(&agent(), Some("hamburg")));
}

fn any_role() -> impl Strategy<Value = Role> {
    prop::sample::select(Role::ALL.to_vec())
}

fn any_action() -> impl Strategy<Value = Action> {
    prop::sample::select(vec![
        Action::ViewCase,
        Action::UpdateCase,
        Action::AssignCase,
        Action::WriteNote,
        Action::DraftReply,
        Action::SendReply(Visibility::Public),
        Action::SendReply(Visibility::Private),
        Action::ApproveReply,
        Action::AnswerHandoff,
        Action::ManageRules,
        Action::ManageSlaPolicies,
        Action::ManageUsers,
        Action::ManageTeams,
        Action::ViewAudit,
        Action::ViewReports,
        Action::ManageSources,
        Action::ViewSources,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn analysts_never_write_and_admins_may_do_all_staff_actions(
        action in any_action(), team in prop::option::of("[a-c]"), sensitive in any::<bool>()
    ) {
        let s = CaseScope { team, location: None, sensitive };
        let analyst = Actor::new("a", Role::Analyst).in_teams(&["a", "b", "c"]);
        if action.writes() {
            prop_assert!(can(&analyst, action, &s).is_err());
        }
        let admin = Actor::new("root", Role::Admin);
        prop_assert_eq!(can(&admin, action, &s).is_ok(), action != Action::AnswerHandoff);
    }

    #[test]
    fn no_case_action_outside_ones_teams(role in any_role(), action in any_action()) {
        prop_assume!(role != Role::Admin && action.is_case_action());
        let user = Actor::new("u", role).in_teams(&["care"]);
        let s = CaseScope { team: Some("billing".into()), location: None, sensitive: false };
        prop_assert!(can(&user, action, &s).is_err());
    }
}

#[test]
fn admins_manage_sources_and_supervisors_only_view_them() {
    let s = CaseScope::default();
    assert!(can(&Actor::new("root", Role::Admin), Action::ManageSources, &s).is_ok());
    for role in [Role::Supervisor, Role::Agent, Role::Analyst] {
        assert!(
            can(&Actor::new("u", role), Action::ManageSources, &s).is_err(),
            "{role:?}"
        );
    }
    assert!(
        can(
            &Actor::new("sue", Role::Supervisor),
            Action::ViewSources,
            &s
        )
        .is_ok()
    );
    assert!(can(&Actor::new("al", Role::Agent), Action::ViewSources, &s).is_err());
    assert!(can(&Actor::new("an", Role::Analyst), Action::ViewSources, &s).is_err());
}
