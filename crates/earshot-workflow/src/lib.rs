//! Earshot's case workflow as pure, I/O-free logic: who may do what, how a
//! case is routed and assigned, how its SLA clocks run over business hours and
//! escalate, what is recorded in the audit log, how collisions between agents
//! are detected and what notification webhooks carry.
//!
//! Nothing here reads a clock directly: time comes from a [`clock::Clock`] or
//! is passed in as `now`, so every behaviour is reproducible in tests.

pub mod calendar;
pub mod clock;

pub use calendar::{
    BusinessCalendar, CalendarError, OpeningHours, TimeBasis, Weekday, add_business_duration,
    business_duration_between,
};
pub use clock::{Clock, FakeClock, SystemClock};
pub mod sla;
pub use sla::{
    CaseSlaState, CaseTimeline, EscalationAction, EscalationDue, EscalationStep, SlaConditions,
    SlaEvaluation, SlaPolicy, SlaPolicyError, SlaReport, SlaSubject, SlaTargets, TargetKind,
    TargetState, TargetStatus, TimelineEvent, evaluate_sla, select_policy, sla_report,
};
pub mod access;
pub use access::{
    Action, Actor, Approval, ApprovalError, ApprovalReason, CaseScope, Denied, ReplyDecision,
    ReplyRef, SendPermit, approve_reply, can, location_visible, reply_decision, send_reply,
};
pub mod rules;
pub use rules::{
    AuthorList, Condition, DryRunItem, DryRunMatch, DryRunReport, FiredRule, NotifyTarget,
    RoutingOutcome, Rule, RuleAction, RuleContext, RuleError, RuleNotification, RuleSet, dry_run,
    evaluate, outcome,
};
pub mod assign;
pub use assign::{
    AgentCandidate, Assignment, AssignmentNeeds, AssignmentStrategy, Availability, NoAgent,
    SkipReason, Skipped, choose_agent,
};
pub mod audit;
pub mod collision;
pub use audit::{AuditAction, AuditActor, AuditEntity, AuditError, Change};
pub use collision::{
    Activity, Conflict, Presence, PresenceRegistry, PublicReplyRef, check_public_reply,
};
