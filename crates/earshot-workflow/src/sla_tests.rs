#![allow(clippy::unwrap_used)]

use super::*;
use crate::calendar::{BusinessCalendar, Weekday};
use crate::clock::{Clock, FakeClock};
use chrono::{NaiveTime, TimeZone};
use chrono_tz::Europe::Berlin;
use earshot_core::SourceKind;
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap()
}

fn min(m: i64) -> TimeDelta {
    TimeDelta::minutes(m)
}

fn ladder() -> Vec<EscalationStep> {
    vec![
        EscalationStep {
            after_minutes: 0,
            action: EscalationAction::NotifyAssignee,
        },
        EscalationStep {
            after_minutes: 30,
            action: EscalationAction::NotifySupervisor,
        },
        EscalationStep {
            after_minutes: 60,
            action: EscalationAction::Reassign,
        },
    ]
}

fn policy(targets: SlaTargets, basis: TimeBasis) -> SlaPolicy {
    SlaPolicy {
        id: 1,
        name: "standard".into(),
        position: 0,
        conditions: SlaConditions::default(),
        targets,
        time_basis: basis,
        warn_before_minutes: 15,
        escalation: ladder(),
    }
}

fn first_response(minutes: u32) -> SlaPolicy {
    policy(
        SlaTargets {
            first_response_minutes: Some(minutes),
            ..SlaTargets::default()
        },
        TimeBasis::CalendarHours,
    )
}

fn timeline(events: Vec<TimelineEvent>) -> CaseTimeline {
    CaseTimeline {
        created_at: t0(),
        events,
    }
}

fn status_of(e: &SlaEvaluation, kind: TargetKind) -> TargetStatus {
    e.target(kind).unwrap().status
}

fn steps(e: &SlaEvaluation) -> Vec<EscalationAction> {
    e.escalations_due.iter().map(|s| s.action).collect()
}

#[test]
fn warning_breach_and_each_escalation_step_driven_by_a_fake_clock() {
    let p = first_response(60);
    let tl = timeline(vec![]);
    let clock = FakeClock::new(t0());

    clock.advance(min(10));
    let e = evaluate_sla(&p, &tl, clock.now());
    assert_eq!(
        status_of(&e, TargetKind::FirstResponse),
        TargetStatus::Active
    );
    assert_eq!(
        e.target(TargetKind::FirstResponse).unwrap().due_at,
        Some(t0() + min(60))
    );
    assert_eq!(
        e.next_check_at,
        Some(t0() + min(45)),
        "the warning is the next change"
    );

    clock.set(t0() + min(45));
    let e = evaluate_sla(&p, &tl, clock.now());
    assert_eq!(
        status_of(&e, TargetKind::FirstResponse),
        TargetStatus::Warning
    );
    assert!(e.escalations_due.is_empty());

    // Exactly at the due time the budget is used up but not exceeded.
    clock.set(t0() + min(60));
    let e = evaluate_sla(&p, &tl, clock.now());
    assert_eq!(
        status_of(&e, TargetKind::FirstResponse),
        TargetStatus::Warning
    );
    assert_eq!(
        e.next_check_at,
        Some(t0() + min(60) + TimeDelta::seconds(1))
    );

    clock.advance(min(1));
    let e = evaluate_sla(&p, &tl, clock.now());
    assert_eq!(
        status_of(&e, TargetKind::FirstResponse),
        TargetStatus::Missed
    );
    assert_eq!(steps(&e), vec![EscalationAction::NotifyAssignee]);
    assert_eq!(e.escalations_due[0].due_at, t0() + min(60));
    assert_eq!(e.next_check_at, Some(t0() + min(90)));
    assert_eq!(e.overall(), Some(CaseSlaState::Missed));

    clock.set(t0() + min(95));
    let e = evaluate_sla(&p, &tl, clock.now());
    assert_eq!(
        steps(&e),
        vec![
            EscalationAction::NotifyAssignee,
            EscalationAction::NotifySupervisor
        ]
    );

    clock.set(t0() + min(125));
    let e = evaluate_sla(&p, &tl, clock.now());
    assert_eq!(steps(&e).last(), Some(&EscalationAction::Reassign));
    assert_eq!(e.escalations_due.len(), 3);
    assert_eq!(e.next_check_at, None, "nothing left to happen on its own");
    assert_eq!(
        e.target(TargetKind::FirstResponse)
            .unwrap()
            .remaining_seconds,
        -65 * 60
    );

    // A late reply records the miss and stops the ladder.
    let answered = timeline(vec![TimelineEvent::AgentReply {
        at: t0() + min(130),
    }]);
    let e = evaluate_sla(&p, &answered, t0() + min(200));
    assert_eq!(
        status_of(&e, TargetKind::FirstResponse),
        TargetStatus::Missed
    );
    assert!(e.escalations_due.is_empty());
}

#[test]
fn a_reply_in_time_or_exactly_at_the_due_time_is_a_hit() {
    let p = first_response(60);
    for at in [t0() + min(5), t0() + min(60)] {
        let tl = timeline(vec![TimelineEvent::AgentReply { at }]);
        let e = evaluate_sla(&p, &tl, t0() + min(300));
        let fr = e.target(TargetKind::FirstResponse).unwrap();
        assert_eq!(fr.status, TargetStatus::Hit);
        assert_eq!(fr.achieved_at, Some(at));
        assert_eq!(fr.due_at, Some(t0() + min(60)));
        assert_eq!(e.overall(), Some(CaseSlaState::Hit));
    }
}

#[test]
fn events_after_now_are_ignored_so_history_can_be_replayed() {
    let p = first_response(60);
    let tl = timeline(vec![TimelineEvent::AgentReply { at: t0() + min(30) }]);
    assert_eq!(
        status_of(
            &evaluate_sla(&p, &tl, t0() + min(20)),
            TargetKind::FirstResponse
        ),
        TargetStatus::Active
    );
    assert_eq!(
        status_of(
            &evaluate_sla(&p, &tl, t0() + min(40)),
            TargetKind::FirstResponse
        ),
        TargetStatus::Hit
    );
}

#[test]
fn business_hours_clock_stops_over_the_weekend() {
    let cal = BusinessCalendar::weekly(
        Berlin,
        &Weekday::WORKDAYS,
        NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
        NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
        [],
    )
    .unwrap();
    let mut p = first_response(60);
    p.time_basis = TimeBasis::BusinessHours { calendar: cal };
    let local = |d, h, m| {
        Berlin
            .with_ymd_and_hms(2026, 3, d, h, m, 0)
            .unwrap()
            .with_timezone(&Utc)
    };
    // Friday 16:30, the weekend before Berlin's DST change.
    let tl = CaseTimeline {
        created_at: local(27, 16, 30),
        events: vec![],
    };
    let sunday = evaluate_sla(&p, &tl, local(29, 12, 0));
    let fr = sunday.target(TargetKind::FirstResponse).unwrap();
    assert_eq!(fr.status, TargetStatus::Active);
    assert_eq!(fr.remaining_seconds, 30 * 60);
    assert_eq!(fr.due_at, Some(local(30, 9, 30)));
    assert_eq!(sunday.next_check_at, Some(local(30, 9, 15)));

    let monday = evaluate_sla(&p, &tl, local(30, 9, 20));
    assert_eq!(
        status_of(&monday, TargetKind::FirstResponse),
        TargetStatus::Warning
    );
    let late = evaluate_sla(&p, &tl, local(30, 9, 31));
    assert_eq!(
        status_of(&late, TargetKind::FirstResponse),
        TargetStatus::Missed
    );
    // The supervisor step is 30 business minutes after the breach.
    assert_eq!(late.next_check_at, Some(local(30, 10, 0)));
}

#[test]
fn pending_on_customer_pauses_the_resolution_clock() {
    let p = policy(
        SlaTargets {
            resolution_minutes: Some(120),
            ..SlaTargets::default()
        },
        TimeBasis::CalendarHours,
    );
    let pending = TimelineEvent::StatusChanged {
        at: t0() + min(30),
        status: CaseStatus::Pending,
    };
    let reopened = TimelineEvent::StatusChanged {
        at: t0() + min(300),
        status: CaseStatus::Open,
    };

    let paused = evaluate_sla(&p, &timeline(vec![pending]), t0() + min(200));
    let r = paused.target(TargetKind::Resolution).unwrap();
    assert_eq!(r.status, TargetStatus::Paused);
    assert_eq!(r.due_at, None);
    assert_eq!(r.remaining_seconds, 90 * 60);
    assert_eq!(paused.next_check_at, None);

    let resumed = evaluate_sla(&p, &timeline(vec![pending, reopened]), t0() + min(360));
    let r = resumed.target(TargetKind::Resolution).unwrap();
    assert_eq!(r.status, TargetStatus::Active);
    assert_eq!(r.remaining_seconds, 30 * 60);
    assert_eq!(r.due_at, Some(t0() + min(390)));

    let resolved = TimelineEvent::StatusChanged {
        at: t0() + min(380),
        status: CaseStatus::Resolved,
    };
    let done = evaluate_sla(
        &p,
        &timeline(vec![pending, reopened, resolved]),
        t0() + min(900),
    );
    let r = done.target(TargetKind::Resolution).unwrap();
    // 380 wall-clock minutes, but only 110 of them counted.
    assert_eq!(r.status, TargetStatus::Hit);
    assert_eq!(r.achieved_at, Some(t0() + min(380)));
}

#[test]
fn a_breach_before_pending_stays_a_breach() {
    let p = policy(
        SlaTargets {
            resolution_minutes: Some(60),
            ..SlaTargets::default()
        },
        TimeBasis::CalendarHours,
    );
    let tl = timeline(vec![TimelineEvent::StatusChanged {
        at: t0() + min(90),
        status: CaseStatus::Pending,
    }]);
    let e = evaluate_sla(&p, &tl, t0() + min(120));
    assert_eq!(status_of(&e, TargetKind::Resolution), TargetStatus::Missed);
    // Escalation only chases running clocks.
    assert!(e.escalations_due.is_empty());
}

#[test]
fn next_response_runs_once_per_customer_follow_up() {
    let p = policy(
        SlaTargets {
            next_response_minutes: Some(60),
            ..SlaTargets::default()
        },
        TimeBasis::CalendarHours,
    );
    let tl = timeline(vec![
        // The first message is covered by first response, not next response.
        TimelineEvent::CustomerMessage { at: t0() },
        TimelineEvent::AgentReply { at: t0() + min(10) },
        TimelineEvent::CustomerMessage { at: t0() + min(20) },
        TimelineEvent::CustomerMessage { at: t0() + min(25) },
        TimelineEvent::AgentReply { at: t0() + min(50) },
        TimelineEvent::CustomerMessage {
            at: t0() + min(100),
        },
    ]);
    let e = evaluate_sla(&p, &tl, t0() + min(200));
    let cycles: Vec<(u32, TargetStatus)> = e.targets.iter().map(|t| (t.cycle, t.status)).collect();
    assert_eq!(
        cycles,
        vec![(1, TargetStatus::Hit), (2, TargetStatus::Missed)]
    );
    assert!(
        e.escalations_due
            .iter()
            .all(|s| s.cycle == 2 && s.target == TargetKind::NextResponse)
    );
    // Breached at +160: assignee at +160 and supervisor at +190 are due,
    // reassignment at +220 is not yet.
    assert_eq!(e.escalations_due.len(), 2);
    assert_eq!(
        e.targets[0].started_at,
        t0() + min(20),
        "the oldest unanswered message starts the clock"
    );
}

#[test]
fn a_thanks_to_a_resolved_case_starts_no_next_response_clock() {
    let p = policy(
        SlaTargets {
            next_response_minutes: Some(60),
            ..SlaTargets::default()
        },
        TimeBasis::CalendarHours,
    );
    let resolved = TimelineEvent::StatusChanged {
        at: t0() + min(30),
        status: CaseStatus::Resolved,
    };
    let events = vec![
        TimelineEvent::CustomerMessage { at: t0() },
        TimelineEvent::AgentReply { at: t0() + min(10) },
        resolved,
        // "Thanks, all sorted!" joins the resolved case.
        TimelineEvent::CustomerMessage { at: t0() + min(40) },
    ];
    let e = evaluate_sla(&p, &timeline(events.clone()), t0() + min(500));
    assert!(e.target(TargetKind::NextResponse).is_none(), "{e:?}");
    assert!(e.escalations_due.is_empty());

    // A message that reopens the case starts the cycle at the message.
    let mut reopened = events;
    reopened.push(TimelineEvent::StatusChanged {
        at: t0() + min(41),
        status: CaseStatus::Open,
    });
    let e = evaluate_sla(&p, &timeline(reopened), t0() + min(60));
    let t = e.target(TargetKind::NextResponse).unwrap();
    assert_eq!(t.status, TargetStatus::Active);
    assert_eq!(t.started_at, t0() + min(40));
}

#[test]
fn resolving_without_a_reply_cancels_first_response() {
    let p = policy(
        SlaTargets {
            first_response_minutes: Some(60),
            resolution_minutes: Some(240),
            ..SlaTargets::default()
        },
        TimeBasis::CalendarHours,
    );
    let tl = timeline(vec![TimelineEvent::StatusChanged {
        at: t0() + min(20),
        status: CaseStatus::Resolved,
    }]);
    let e = evaluate_sla(&p, &tl, t0() + min(600));
    assert_eq!(
        status_of(&e, TargetKind::FirstResponse),
        TargetStatus::Cancelled
    );
    assert_eq!(status_of(&e, TargetKind::Resolution), TargetStatus::Hit);
    let report = sla_report(&e.targets);
    assert_eq!((report.hit, report.missed, report.cancelled), (1, 0, 1));
    assert_eq!(report.percent_met, Some(100.0));
}

#[test]
fn percent_met_counts_only_decided_targets() {
    let state = |status| TargetState {
        kind: TargetKind::FirstResponse,
        cycle: 0,
        status,
        started_at: t0(),
        due_at: None,
        achieved_at: None,
        remaining_seconds: 0,
    };
    let all = [
        state(TargetStatus::Hit),
        state(TargetStatus::Hit),
        state(TargetStatus::Hit),
        state(TargetStatus::Missed),
        state(TargetStatus::Active),
        state(TargetStatus::Paused),
    ];
    let r = sla_report(&all);
    assert_eq!(r.percent_met, Some(75.0));
    assert_eq!(r.in_progress, 2);
    assert_eq!(sla_report(&[]).percent_met, None);
}

#[test]
fn policies_are_chosen_by_position_and_conditions() {
    let mut urgent = first_response(15);
    urgent.id = 2;
    urgent.position = 0;
    urgent.conditions = SlaConditions {
        min_priority: Some(70.0),
        sources: vec![SourceKind::Mastodon, SourceKind::Bluesky],
        ..SlaConditions::default()
    };
    let mut billing = first_response(120);
    billing.id = 3;
    billing.position = 1;
    billing.conditions.categories = vec!["Billing".into()];
    let mut fallback = first_response(480);
    fallback.id = 4;
    fallback.position = 9;
    let policies = [fallback, billing, urgent];

    let pick = |priority, source, category| {
        select_policy(
            &policies,
            &SlaSubject {
                priority,
                source,
                category,
            },
        )
        .map(|p| p.id)
    };
    assert_eq!(pick(80.0, SourceKind::Mastodon, Some("billing")), Some(2));
    assert_eq!(pick(80.0, SourceKind::Email, Some("billing")), Some(3));
    assert_eq!(pick(10.0, SourceKind::Email, None), Some(4));
}

#[test]
fn invalid_policies_are_rejected() {
    let mut p = first_response(60);
    assert_eq!(p.validate(), Ok(()));
    p.targets.first_response_minutes = Some(0);
    assert_eq!(
        p.validate(),
        Err(SlaPolicyError::ZeroTarget(TargetKind::FirstResponse))
    );
    p.targets = SlaTargets::default();
    assert_eq!(p.validate(), Err(SlaPolicyError::NoTargets));
    let mut p = first_response(60);
    p.escalation.reverse();
    assert_eq!(p.validate(), Err(SlaPolicyError::LadderOutOfOrder));
    let mut p = first_response(60);
    p.conditions.min_priority = Some(80.0);
    p.conditions.max_priority = Some(20.0);
    assert_eq!(p.validate(), Err(SlaPolicyError::BadPriorityRange));
}

#[test]
fn policy_json_round_trips() {
    let p = first_response(60);
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["time_basis"]["type"], "calendar_hours");
    assert_eq!(json["escalation"][2]["action"], "reassign");
    assert_eq!(serde_json::from_value::<SlaPolicy>(json).unwrap(), p);
}

fn rank(s: TargetStatus) -> u8 {
    match s {
        TargetStatus::Active => 0,
        TargetStatus::Warning => 1,
        _ => 2,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// With no new events, a running target only moves forward
    /// (active → warning → missed) and escalations only accumulate.
    #[test]
    fn an_unanswered_case_only_gets_worse(target in 1u32..600, a in 0i64..2000, b in 0i64..2000) {
        let p = first_response(target);
        let tl = timeline(vec![]);
        let (early, late) = (t0() + min(a.min(b)), t0() + min(a.max(b)));
        let e1 = evaluate_sla(&p, &tl, early);
        let e2 = evaluate_sla(&p, &tl, late);
        prop_assert!(rank(status_of(&e1, TargetKind::FirstResponse)) <= rank(status_of(&e2, TargetKind::FirstResponse)));
        prop_assert!(e1.escalations_due.len() <= e2.escalations_due.len());
    }

    /// Nothing changes before `next_check_at`, and something changes at it.
    #[test]
    fn next_check_is_exactly_when_things_change(target in 1u32..600, at in 0i64..800) {
        let p = first_response(target);
        let tl = timeline(vec![]);
        let now = t0() + min(at);
        let e = evaluate_sla(&p, &tl, now);
        let observe = |e: &SlaEvaluation| (status_of(e, TargetKind::FirstResponse), e.escalations_due.len());
        if let Some(next) = e.next_check_at {
            prop_assert!(next > now);
            let before = evaluate_sla(&p, &tl, next - TimeDelta::seconds(1));
            prop_assert_eq!(observe(&before), observe(&e));
            let at_next = evaluate_sla(&p, &tl, next);
            prop_assert_ne!(observe(&at_next), observe(&e));
        } else {
            prop_assert_eq!(e.escalations_due.len(), 3);
        }
    }
}
