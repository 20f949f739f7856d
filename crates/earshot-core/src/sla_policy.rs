//! SLA policies as they are stored: which cases they select, their targets,
//! their time basis and escalation ladder. The clocks that run them are in
//! `earshot_workflow::sla`; the definitions live here so the store contract
//! can carry them typed.

use serde::{Deserialize, Serialize};

use crate::calendar::TimeBasis;
use crate::source::SourceKind;

/// Which case attributes select a policy. Empty lists and `None` bounds
/// match anything.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlaConditions {
    /// Inclusive lower bound on the case's priority score (0–100).
    #[serde(default)]
    pub min_priority: Option<f32>,
    /// Inclusive upper bound on the case's priority score.
    #[serde(default)]
    pub max_priority: Option<f32>,
    #[serde(default)]
    pub sources: Vec<SourceKind>,
    /// Complaint categories; matched case-insensitively.
    #[serde(default)]
    pub categories: Vec<String>,
}

/// The case attributes policies are chosen by.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaSubject<'a> {
    pub priority: f32,
    pub source: SourceKind,
    pub category: Option<&'a str>,
}

impl SlaConditions {
    pub fn matches(&self, s: &SlaSubject<'_>) -> bool {
        self.min_priority.is_none_or(|min| s.priority >= min)
            && self.max_priority.is_none_or(|max| s.priority <= max)
            && (self.sources.is_empty() || self.sources.contains(&s.source))
            && (self.categories.is_empty()
                || s.category
                    .is_some_and(|c| self.categories.iter().any(|x| x.eq_ignore_ascii_case(c))))
    }
}

/// Target durations, in minutes of the policy's time basis. A `None` target
/// is not tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlaTargets {
    #[serde(default)]
    pub first_response_minutes: Option<u32>,
    #[serde(default)]
    pub next_response_minutes: Option<u32>,
    #[serde(default)]
    pub resolution_minutes: Option<u32>,
}

/// What an escalation step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EscalationAction {
    NotifyAssignee,
    NotifySupervisor,
    Reassign,
}

/// One rung of the ladder: `action` runs `after_minutes` (policy time
/// basis) after the target was breached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EscalationStep {
    pub after_minutes: u32,
    pub action: EscalationAction,
}

/// An SLA policy. Policies are tried in `position` order; the first whose
/// conditions match applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlaPolicy {
    pub id: i64,
    pub name: String,
    pub position: i32,
    #[serde(default)]
    pub conditions: SlaConditions,
    pub targets: SlaTargets,
    pub time_basis: TimeBasis,
    /// Warn this many minutes (policy time basis) before a target is due.
    #[serde(default)]
    pub warn_before_minutes: u32,
    /// Steps run in order of `after_minutes`.
    #[serde(default)]
    pub escalation: Vec<EscalationStep>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlaPolicyError {
    #[error("policy has no targets")]
    NoTargets,
    #[error("{0} target must be at least one minute")]
    ZeroTarget(TargetKind),
    #[error("escalation steps must be listed in order of their delay")]
    LadderOutOfOrder,
    #[error("priority bounds are inverted or outside 0–100")]
    BadPriorityRange,
}

impl SlaPolicy {
    pub fn validate(&self) -> Result<(), SlaPolicyError> {
        let t = &self.targets;
        if t.first_response_minutes.is_none()
            && t.next_response_minutes.is_none()
            && t.resolution_minutes.is_none()
        {
            return Err(SlaPolicyError::NoTargets);
        }
        for (kind, minutes) in self.target_list() {
            if minutes == 0 {
                return Err(SlaPolicyError::ZeroTarget(kind));
            }
        }
        if self
            .escalation
            .windows(2)
            .any(|w| w[0].after_minutes > w[1].after_minutes)
        {
            return Err(SlaPolicyError::LadderOutOfOrder);
        }
        let c = &self.conditions;
        let in_range = |p: Option<f32>| p.is_none_or(|p| (0.0..=100.0).contains(&p));
        if !in_range(c.min_priority)
            || !in_range(c.max_priority)
            || matches!((c.min_priority, c.max_priority), (Some(a), Some(b)) if a > b)
        {
            return Err(SlaPolicyError::BadPriorityRange);
        }
        Ok(())
    }

    fn target_list(&self) -> Vec<(TargetKind, u32)> {
        let t = &self.targets;
        [
            (TargetKind::FirstResponse, t.first_response_minutes),
            (TargetKind::NextResponse, t.next_response_minutes),
            (TargetKind::Resolution, t.resolution_minutes),
        ]
        .into_iter()
        .filter_map(|(k, m)| m.map(|m| (k, m)))
        .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    FirstResponse,
    NextResponse,
    Resolution,
}

impl std::fmt::Display for TargetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TargetKind::FirstResponse => "first response",
            TargetKind::NextResponse => "next response",
            TargetKind::Resolution => "resolution",
        })
    }
}
