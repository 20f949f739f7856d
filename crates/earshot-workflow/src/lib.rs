//! Earshot's case workflow as pure, I/O-free logic: who may do what, how a
//! case is routed and assigned, how its SLA clocks run over business hours and
//! escalate, who the audit log names, how collisions between agents
//! are detected and what notification webhooks carry.
//!
//! Nothing here reads a clock directly: time comes from a [`clock::Clock`] or
//! is passed in as `now`, so every behaviour is reproducible in tests.

pub mod access;
pub mod assign;
pub mod audit;
// Defined in core so that teams and SLA policies can cross the store
// contract typed; re-exported so `earshot_workflow::calendar` still works.
pub use earshot_core::calendar;
pub mod clock;
pub mod collision;
pub mod notify;
pub mod rules;
pub mod sla;

pub use access::{
    Action, Actor, Approval, ApprovalError, ApprovalReason, CaseScope, Denied, ReplyDecision,
    ReplyRef, SendPermit, approve_reply, can, location_visible, reply_decision, send_reply,
};
pub use assign::{
    AgentCandidate, Assignment, AssignmentNeeds, AssignmentStrategy, Availability, NoAgent,
    SkipReason, Skipped, choose_agent,
};
pub use audit::AuditActor;
pub use calendar::{
    BusinessCalendar, CalendarError, OpeningHours, TimeBasis, Weekday, add_business_duration,
    business_duration_between,
};
pub use clock::{Clock, FakeClock, SystemClock};
pub use collision::{
    Activity, Conflict, Presence, PresenceRegistry, PublicReplyRef, check_public_reply,
};
pub use notify::{
    CaseRef, NotificationEvent, notification_text, rule_webhook_payload, slack_payload,
};
pub use rules::{
    AuthorList, Condition, DryRunItem, DryRunMatch, DryRunReport, FiredRule, NotifyTarget,
    RoutingOutcome, Rule, RuleAction, RuleContext, RuleError, RuleNotification, RuleSet, dry_run,
    evaluate, outcome,
};
pub use sla::{
    CaseSlaState, CaseTimeline, EscalationAction, EscalationDue, EscalationStep, SlaConditions,
    SlaEvaluation, SlaPolicy, SlaPolicyError, SlaReport, SlaSubject, SlaTargets, TargetKind,
    TargetState, TargetStatus, TimelineEvent, evaluate_sla, select_policy, sla_report,
};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    /// Every type the API will expose builds into one OpenAPI document.
    #[test]
    fn api_types_register_in_openapi() {
        use utoipa::OpenApi;
        #[derive(OpenApi)]
        #[openapi(components(schemas(
            crate::SlaPolicy,
            crate::SlaEvaluation,
            crate::SlaReport,
            crate::CaseSlaState,
            crate::CaseTimeline,
            crate::RuleSet,
            crate::DryRunItem,
            crate::DryRunReport,
            crate::Actor,
            crate::CaseScope,
            crate::Denied,
            crate::ReplyDecision,
            crate::Assignment,
            crate::NoAgent,
            crate::AgentCandidate,
            crate::Presence,
            crate::Conflict,
            crate::NotificationEvent,
        )))]
        struct Doc;
        let json = serde_json::to_value(Doc::openapi()).unwrap();
        let schemas = &json["components"]["schemas"];
        for name in [
            "SlaPolicy",
            "BusinessCalendar",
            "TimeBasis",
            "Condition",
            "Conflict",
        ] {
            assert!(schemas.get(name).is_some(), "{name} missing");
        }
        assert_eq!(
            schemas["BusinessCalendar"]["properties"]["time_zone"]["type"],
            "string"
        );
    }
}
