//! SLA policies and the clocks they run on a case.
//!
//! [`evaluate_sla`] is a pure state machine: given a policy, the case's
//! timeline and `now`, it says where each target stands (active, warning,
//! paused, hit, missed), when it is due, which escalation steps are due, and
//! when the answer will next change so a scheduler knows when to look again.

use chrono::{DateTime, TimeDelta, Utc};
use earshot_core::CaseStatus;
use serde::{Deserialize, Serialize};

use crate::calendar::TimeBasis;

// The policy's data lives in core so it crosses the store contract typed.
pub use earshot_core::sla_policy::{
    EscalationAction, EscalationStep, SlaConditions, SlaPolicy, SlaPolicyError, SlaSubject,
    SlaTargets, TargetKind,
};

/// The first policy, by position, whose conditions match.
pub fn select_policy<'a>(
    policies: &'a [SlaPolicy],
    subject: &SlaSubject<'_>,
) -> Option<&'a SlaPolicy> {
    let mut ordered: Vec<&SlaPolicy> = policies.iter().collect();
    ordered.sort_by_key(|p| (p.position, p.id));
    ordered.into_iter().find(|p| p.conditions.matches(subject))
}

/// Something that happened on a case, as far as SLAs care.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TimelineEvent {
    /// The customer wrote (the first post of the case included or not: the
    /// case's creation starts the first-response clock either way).
    CustomerMessage { at: DateTime<Utc> },
    /// The brand answered the customer (public or private reply).
    AgentReply { at: DateTime<Utc> },
    /// The case moved to `status`.
    StatusChanged {
        at: DateTime<Utc>,
        status: CaseStatus,
    },
}

impl TimelineEvent {
    pub fn at(&self) -> DateTime<Utc> {
        match *self {
            TimelineEvent::CustomerMessage { at }
            | TimelineEvent::AgentReply { at }
            | TimelineEvent::StatusChanged { at, .. } => at,
        }
    }
}

/// A case's history from the SLA's point of view. Events need not be sorted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseTimeline {
    pub created_at: DateTime<Utc>,
    pub events: Vec<TimelineEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetStatus {
    /// Running, not yet within the warning lead time.
    Active,
    /// Running and due within the warning lead time.
    Warning,
    /// Stopped for now (resolution while pending on the customer).
    Paused,
    /// Achieved in time.
    Hit,
    /// Breached: achieved late, or still running past its due time.
    Missed,
    /// No longer applies (the case was resolved without ever needing it)
    /// and never breached; left out of "% met".
    Cancelled,
}

/// One escalation step that is due now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EscalationDue {
    pub target: TargetKind,
    /// Which cycle of the target (next response runs once per customer
    /// message); with `step` it identifies the escalation so it runs once.
    pub cycle: u32,
    /// Index in the policy's ladder.
    pub step: usize,
    pub action: EscalationAction,
    pub due_at: DateTime<Utc>,
}

/// Where one target stands at `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TargetState {
    pub kind: TargetKind,
    pub cycle: u32,
    pub status: TargetStatus,
    pub started_at: DateTime<Utc>,
    /// When the budget runs out if the clock keeps running; `None` while
    /// paused or when cancelled.
    pub due_at: Option<DateTime<Utc>>,
    pub achieved_at: Option<DateTime<Utc>>,
    /// Target minus time used, in seconds of the policy's basis; negative
    /// once overdue.
    pub remaining_seconds: i64,
}

/// The SLA verdict for one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlaEvaluation {
    pub policy_id: i64,
    pub evaluated_at: DateTime<Utc>,
    pub targets: Vec<TargetState>,
    /// Every escalation step whose time has come, including ones already
    /// carried out: the caller keeps (target, cycle, step) to run each once.
    pub escalations_due: Vec<EscalationDue>,
    /// The next instant at which a status changes or an escalation falls
    /// due, assuming nothing else happens.
    pub next_check_at: Option<DateTime<Utc>>,
}

/// The case-level summary shown in lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseSlaState {
    Active,
    Warning,
    Hit,
    Missed,
}

impl SlaEvaluation {
    /// Missed if any target is missed, else warning or active while any runs,
    /// else hit; `None` when nothing was tracked.
    pub fn overall(&self) -> Option<CaseSlaState> {
        let has = |s: TargetStatus| self.targets.iter().any(|t| t.status == s);
        if has(TargetStatus::Missed) {
            Some(CaseSlaState::Missed)
        } else if has(TargetStatus::Warning) {
            Some(CaseSlaState::Warning)
        } else if has(TargetStatus::Active) || has(TargetStatus::Paused) {
            Some(CaseSlaState::Active)
        } else if has(TargetStatus::Hit) {
            Some(CaseSlaState::Hit)
        } else {
            None
        }
    }

    pub fn target(&self, kind: TargetKind) -> Option<&TargetState> {
        self.targets.iter().rev().find(|t| t.kind == kind)
    }
}

/// A span during which a target's clock runs; `end: None` means still running.
#[derive(Debug, Clone, Copy)]
struct Segment {
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Running,
    Paused,
    Achieved(DateTime<Utc>),
    Cancelled(DateTime<Utc>),
}

struct Tracker<'a> {
    policy: &'a SlaPolicy,
    now: DateTime<Utc>,
    targets: Vec<TargetState>,
    escalations: Vec<EscalationDue>,
    next_check: Option<DateTime<Utc>>,
}

impl Tracker<'_> {
    fn basis(&self) -> &TimeBasis {
        &self.policy.time_basis
    }

    fn consider_check(&mut self, at: DateTime<Utc>) {
        if at > self.now && self.next_check.is_none_or(|n| at < n) {
            self.next_check = Some(at);
        }
    }

    fn track(
        &mut self,
        kind: TargetKind,
        cycle: u32,
        minutes: u32,
        segments: &[Segment],
        outcome: Outcome,
    ) {
        let Some(first) = segments.first() else {
            return;
        };
        let target = TimeDelta::minutes(i64::from(minutes));
        let warn = TimeDelta::minutes(i64::from(self.policy.warn_before_minutes));
        let now = self.now;

        let mut used = TimeDelta::zero();
        let mut due_at = None;
        let mut running_from = None;
        for seg in segments {
            let end = seg.end.unwrap_or(now).max(seg.start);
            let span = self.basis().between(seg.start, end);
            if due_at.is_none() && (used + span >= target || seg.end.is_none()) {
                due_at = Some(self.basis().add(seg.start, target - used));
                if seg.end.is_none() {
                    running_from = Some((seg.start, used));
                }
            }
            used += span;
        }
        if due_at.is_none()
            && let Some(end) = segments.last().and_then(|s| s.end)
            && matches!(outcome, Outcome::Achieved(_))
        {
            // Achieved early: show when it would have been due.
            due_at = Some(self.basis().add(end, target - used));
        }
        let remaining = target - used;
        let running = matches!(outcome, Outcome::Running);
        let status = match outcome {
            Outcome::Achieved(_) if used <= target => TargetStatus::Hit,
            Outcome::Achieved(_) => TargetStatus::Missed,
            _ if used > target => TargetStatus::Missed,
            Outcome::Cancelled(_) => TargetStatus::Cancelled,
            Outcome::Paused => TargetStatus::Paused,
            Outcome::Running if remaining <= warn => TargetStatus::Warning,
            Outcome::Running => TargetStatus::Active,
        };
        let shown_due = match status {
            TargetStatus::Paused | TargetStatus::Cancelled => None,
            _ => due_at,
        };

        if running {
            if let Some((start, used_before)) = running_from {
                // The instants at which the status will change on its own.
                let warn_at = self.basis().add(start, target - warn - used_before);
                let missed_at = self
                    .basis()
                    .add(start, target - used_before + TimeDelta::seconds(1));
                if status == TargetStatus::Active {
                    self.consider_check(warn_at);
                }
                if status != TargetStatus::Missed {
                    self.consider_check(missed_at);
                }
            }
            if status == TargetStatus::Missed
                && let Some(breached) = due_at
            {
                for (step, rung) in self.policy.escalation.iter().enumerate() {
                    let at = self
                        .basis()
                        .add(breached, TimeDelta::minutes(i64::from(rung.after_minutes)));
                    if at <= now {
                        self.escalations.push(EscalationDue {
                            target: kind,
                            cycle,
                            step,
                            action: rung.action,
                            due_at: at,
                        });
                    } else {
                        self.consider_check(at);
                    }
                }
            }
        }

        self.targets.push(TargetState {
            kind,
            cycle,
            status,
            started_at: first.start,
            due_at: shown_due,
            achieved_at: match outcome {
                Outcome::Achieved(at) => Some(at),
                _ => None,
            },
            remaining_seconds: remaining.num_seconds(),
        });
    }
}

fn is_stopped(status: CaseStatus) -> bool {
    matches!(status, CaseStatus::Resolved | CaseStatus::Closed)
}

/// Evaluates every target of `policy` on a case at `now`. Events after `now`
/// are ignored, so a timeline can be replayed at any past instant.
pub fn evaluate_sla(
    policy: &SlaPolicy,
    timeline: &CaseTimeline,
    now: DateTime<Utc>,
) -> SlaEvaluation {
    let mut events: Vec<TimelineEvent> = timeline
        .events
        .iter()
        .copied()
        .filter(|e| e.at() <= now && e.at() >= timeline.created_at)
        .collect();
    events.sort_by_key(TimelineEvent::at);
    let created = timeline.created_at;

    let mut tracker = Tracker {
        policy,
        now,
        targets: Vec::new(),
        escalations: Vec::new(),
        next_check: None,
    };

    // Where the case's status ends up, and when it last stopped.
    let mut status = CaseStatus::New;
    let mut stopped_at = None;
    for e in &events {
        if let TimelineEvent::StatusChanged { at, status: s } = *e {
            status = s;
            stopped_at = is_stopped(s).then_some(at);
        }
    }
    let currently_stopped = is_stopped(status);

    if let Some(minutes) = policy.targets.first_response_minutes {
        let reply = events.iter().find_map(|e| match e {
            TimelineEvent::AgentReply { at } => Some(*at),
            _ => None,
        });
        let (end, outcome) = match (reply, stopped_at) {
            (Some(at), _) => (Some(at), Outcome::Achieved(at)),
            (None, Some(at)) if currently_stopped => (Some(at), Outcome::Cancelled(at)),
            _ => (None, Outcome::Running),
        };
        let segments = [Segment {
            start: created,
            end,
        }];
        tracker.track(TargetKind::FirstResponse, 0, minutes, &segments, outcome);
    }

    if let Some(minutes) = policy.targets.next_response_minutes {
        // A cycle starts with the first customer message after a reply and
        // ends with the next reply; resolving the case cancels it. A message
        // to a resolved case (a "thanks" that joins it without reopening
        // it) starts no cycle unless the case is reopened: then the cycle
        // starts at that message, as if it had reopened the case itself.
        let mut replied = false;
        let mut open: Option<DateTime<Utc>> = None;
        let mut stopped = false;
        let mut held: Option<DateTime<Utc>> = None;
        let mut cycle = 0u32;
        for e in &events {
            match *e {
                TimelineEvent::AgentReply { at } => {
                    held = None;
                    if let Some(start) = open.take() {
                        cycle += 1;
                        let seg = [Segment {
                            start,
                            end: Some(at),
                        }];
                        tracker.track(
                            TargetKind::NextResponse,
                            cycle,
                            minutes,
                            &seg,
                            Outcome::Achieved(at),
                        );
                    }
                    replied = true;
                }
                TimelineEvent::CustomerMessage { at } if replied && open.is_none() => {
                    if stopped {
                        held.get_or_insert(at);
                    } else {
                        open = Some(at);
                    }
                }
                TimelineEvent::StatusChanged { at, status } if is_stopped(status) => {
                    stopped = true;
                    held = None;
                    if let Some(start) = open.take() {
                        cycle += 1;
                        let seg = [Segment {
                            start,
                            end: Some(at),
                        }];
                        tracker.track(
                            TargetKind::NextResponse,
                            cycle,
                            minutes,
                            &seg,
                            Outcome::Cancelled(at),
                        );
                    }
                }
                // Reopened: a message it held starts the cycle.
                TimelineEvent::StatusChanged { .. } if stopped => {
                    stopped = false;
                    if open.is_none() {
                        open = held.take();
                    }
                }
                _ => {}
            }
        }
        if let Some(start) = open {
            let seg = [Segment { start, end: None }];
            tracker.track(
                TargetKind::NextResponse,
                cycle + 1,
                minutes,
                &seg,
                Outcome::Running,
            );
        }
    }

    if let Some(minutes) = policy.targets.resolution_minutes {
        // The clock runs while the case is new or open, pauses while pending
        // on the customer, stops on resolve and resumes on reopen.
        let mut segments = Vec::new();
        let mut running_since = Some(created);
        for e in &events {
            if let TimelineEvent::StatusChanged { at, status } = *e {
                let runs = matches!(status, CaseStatus::New | CaseStatus::Open);
                match (running_since, runs) {
                    (Some(start), false) => {
                        segments.push(Segment {
                            start,
                            end: Some(at),
                        });
                        running_since = None;
                    }
                    (None, true) => running_since = Some(at),
                    _ => {}
                }
            }
        }
        let outcome = match (running_since, stopped_at) {
            (Some(start), _) => {
                segments.push(Segment { start, end: None });
                Outcome::Running
            }
            (None, Some(at)) if currently_stopped => Outcome::Achieved(at),
            (None, _) => Outcome::Paused,
        };
        if segments.is_empty() {
            // Paused from the very start: nothing has been used yet.
            segments.push(Segment {
                start: created,
                end: Some(created),
            });
        }
        tracker.track(TargetKind::Resolution, 0, minutes, &segments, outcome);
    }

    SlaEvaluation {
        policy_id: policy.id,
        evaluated_at: now,
        targets: tracker.targets,
        escalations_due: tracker.escalations,
        next_check_at: tracker.next_check,
    }
}

/// "% SLA met" over many targets: hits over hits plus misses. Running,
/// paused and cancelled targets are counted but do not enter the ratio.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlaReport {
    pub hit: u64,
    pub missed: u64,
    pub in_progress: u64,
    pub cancelled: u64,
    /// `None` when nothing has been decided yet.
    pub percent_met: Option<f64>,
}

pub fn sla_report<'a>(targets: impl IntoIterator<Item = &'a TargetState>) -> SlaReport {
    let mut r = SlaReport::default();
    for t in targets {
        match t.status {
            TargetStatus::Hit => r.hit += 1,
            TargetStatus::Missed => r.missed += 1,
            TargetStatus::Active | TargetStatus::Warning | TargetStatus::Paused => {
                r.in_progress += 1
            }
            TargetStatus::Cancelled => r.cancelled += 1,
        }
    }
    let decided = r.hit + r.missed;
    r.percent_met = (decided > 0).then(|| r.hit as f64 * 100.0 / decided as f64);
    r
}

#[cfg(test)]
#[path = "sla_tests.rs"]
mod tests;
