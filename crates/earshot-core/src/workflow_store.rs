//! The workflow store contract: what the case workflow (teams, per-user
//! workflow profiles, versioned routing rules, SLA policies and per-case SLA
//! state, reply approvals, handoffs, notifications, webhooks, audit log)
//! keeps between requests.
//!
//! Teams, calendars and SLA policies cross this contract typed: their data
//! definitions live in core (`calendar`, `sla_policy`, [`AssignmentStrategy`])
//! and `earshot-workflow`, which depends on this crate, re-exports them and
//! runs the clocks and assignment over them. A stored value that does not
//! parse is an error, never a default. Routing rules are still JSON here
//! (`earshot_workflow::Rule` as a document): their matching logic is tied to
//! the rule types, so moving those is a larger change.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::Role;
use crate::calendar::BusinessCalendar;
use crate::error::Result;
use crate::ids::{CaseId, MentionId, ReplyId};
use crate::reply::{Reply, ReplyRoute};
use crate::sla_policy::SlaPolicy;

/// How a team's cases are handed to its agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentStrategy {
    RoundRobin,
    LeastLoaded,
}

impl AssignmentStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentStrategy::RoundRobin => "round_robin",
            AssignmentStrategy::LeastLoaded => "least_loaded",
        }
    }
    pub fn parse(s: &str) -> Option<AssignmentStrategy> {
        match s {
            "round_robin" => Some(AssignmentStrategy::RoundRobin),
            "least_loaded" => Some(AssignmentStrategy::LeastLoaded),
            _ => None,
        }
    }
}

/// A team: who works on its cases, how they are assigned, which hours count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TeamRecord {
    pub name: String,
    /// The team's opening hours; `None` counts calendar hours.
    pub calendar: Option<BusinessCalendar>,
    pub strategy: AssignmentStrategy,
    pub members: Vec<String>,
    /// Who SLA escalations "notify the supervisor" reach.
    pub supervisor: Option<String>,
    /// The last agent assigned by round-robin.
    pub round_robin_cursor: Option<String>,
}

/// A user's workflow settings, keyed by user name. Accounts (passwords,
/// sessions) live elsewhere; this is what routing and approvals need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserProfile {
    pub name: String,
    /// The role shown in the user list; permissions come from the caller's
    /// authenticated role.
    pub role: Option<Role>,
    pub in_training: bool,
    /// Overrides the role's publish right.
    pub can_publish: Option<bool>,
    /// Set for store or product managers: the locations they manage.
    pub locations: Option<Vec<String>>,
    pub away: bool,
    /// Most active cases auto-assignment gives this user.
    pub capacity: u32,
    pub languages: Vec<String>,
    pub skills: Vec<String>,
    /// Teams the user belongs to (from team membership).
    pub teams: Vec<String>,
}

impl UserProfile {
    pub fn new(name: impl Into<String>) -> Self {
        UserProfile {
            name: name.into(),
            role: None,
            in_training: false,
            can_publish: None,
            locations: None,
            away: false,
            capacity: 10,
            languages: Vec::new(),
            skills: Vec::new(),
            teams: Vec::new(),
        }
    }
}

/// One stored version of the routing rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleSetVersion {
    pub version: i64,
    /// `earshot_workflow::Rule` list as JSON.
    #[schema(value_type = Vec<Object>)]
    pub rules: Value,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// A case's stored SLA verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseSlaRecord {
    #[schema(value_type = i64)]
    pub case_id: CaseId,
    pub policy_id: Option<i64>,
    /// `active`, `warning`, `hit` or `missed`; `None` when no policy applies.
    pub state: Option<String>,
    /// `earshot_workflow::SlaEvaluation` as JSON.
    #[schema(value_type = Option<Object>)]
    pub evaluation: Option<Value>,
    /// When the verdict next changes if nothing happens to the case.
    pub next_check_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// What the SLA ticker needs to decide whether a case must be re-evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaCheckpoint {
    pub case_id: CaseId,
    pub policy_id: Option<i64>,
    pub state: Option<String>,
    pub next_check_at: Option<DateTime<Utc>>,
    /// When the verdict was computed.
    pub updated_at: DateTime<Utc>,
}

/// A reply held for a supervisor's approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApprovalRecord {
    #[schema(value_type = i64)]
    pub reply_id: ReplyId,
    #[schema(value_type = i64)]
    pub case_id: CaseId,
    pub requested_by: String,
    /// Why approval is needed: `author_in_training`, `sensitive_case`.
    pub reasons: Vec<String>,
    pub requested_at: DateTime<Utc>,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub rejected_by: Option<String>,
    pub rejected_at: Option<DateTime<Utc>>,
    pub rejection_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandoffKind {
    /// To the manager of a store or location.
    Location,
    /// To the owner of a product.
    Product,
}

impl HandoffKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HandoffKind::Location => "location",
            HandoffKind::Product => "product",
        }
    }
    pub fn parse(s: &str) -> Option<HandoffKind> {
        match s {
            "location" => Some(HandoffKind::Location),
            "product" => Some(HandoffKind::Product),
            _ => None,
        }
    }
}

/// A case handed to a store manager or product owner, and their answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Handoff {
    pub id: i64,
    #[schema(value_type = i64)]
    pub case_id: CaseId,
    pub kind: HandoffKind,
    /// The location or product name.
    pub target: String,
    /// What the agent asks, with the customer's context.
    pub message: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub answer: Option<String>,
    pub answered_by: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notification {
    pub id: i64,
    pub user: String,
    /// `sla_warning`, `sla_breach`, `escalation`, `assigned`, `rule`, `handoff`…
    pub kind: String,
    #[schema(value_type = Option<i64>)]
    pub case_id: Option<CaseId>,
    pub text: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// An outbound webhook (Slack-compatible incoming webhook URL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub created_at: DateTime<Utc>,
}

/// A payload queued for a webhook; a delivery worker posts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookDelivery {
    pub id: i64,
    pub webhook_id: i64,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed (never the URL); cleared on delivery.
    pub last_error: Option<String>,
}

/// A delivery whose next attempt is due, with where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    pub delivery: WebhookDelivery,
    /// The webhook's URL; it often embeds a secret, so it is never logged.
    pub url: String,
    /// The key deliveries are signed with (`None` for webhooks added before
    /// signing existed: those are sent unsigned).
    pub secret: Option<String>,
    /// Attempts made so far.
    pub attempts: i64,
}

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookAttempt {
    Delivered,
    /// Failed; try again at `retry_at`, or give up when it is `None`.
    Failed {
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

/// One line of the audit log: workflow changes (rules, policies, users,
/// teams, approvals) and case events, in one shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// `case` for case events; `rule`, `policy`, `user`, `team`, `reply`…
    pub entity: String,
    pub entity_id: String,
    pub action: String,
    pub actor: String,
    #[schema(value_type = Option<Value>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Value>)]
    pub after: Option<Value>,
    pub at: DateTime<Utc>,
}

impl AuditRecord {
    /// Strips what the audit log must never show: webhook URLs (which often
    /// carry a secret in their path, as Slack's do) are cut to scheme and
    /// host, and any `secret`/`signing_secret`/`token`/`token_hash`/`password`
    /// value is replaced. Applied when a record is written and again when it
    /// is read, so rows written before this existed are covered too.
    pub fn redact(mut self) -> Self {
        let webhook = self.entity == "webhook";
        for v in [&mut self.before, &mut self.after].into_iter().flatten() {
            redact_value(v, webhook);
        }
        self
    }
}

const SECRET_KEYS: [&str; 5] = [
    "secret",
    "signing_secret",
    "token",
    "token_hash",
    "password",
];

fn redact_value(v: &mut Value, webhook: bool) {
    match v {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if SECRET_KEYS.contains(&k.as_str()) {
                    *v = Value::String("[redacted]".into());
                } else if webhook && k == "url" {
                    if let Value::String(u) = v {
                        *u = redact_url(u);
                    }
                } else {
                    redact_value(v, webhook);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_value(v, webhook)),
        _ => {}
    }
}

/// `https://hooks.slack.com/services/T0/B0/XYZ` → `https://hooks.slack.com/…`:
/// enough to tell webhooks apart, nothing a caller could post to. Userinfo,
/// port, path and query are dropped; what does not parse becomes `…`.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(u) => match u.host_str() {
            Some(host) => format!("{}://{host}/…", u.scheme()),
            None => format!("{}:…", u.scheme()),
        },
        Err(_) => "…".into(),
    }
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// `case`, `rule`, `policy`, `user`, `team`, `reply`, `webhook`.
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub actor: Option<String>,
    /// Only records at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only records before this instant.
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
}

#[async_trait]
pub trait WorkflowStore: Send + Sync + 'static {
    // Teams. Every change is written to the audit log with before/after.
    async fn teams(&self) -> Result<Vec<TeamRecord>>;
    async fn team(&self, name: &str) -> Result<Option<TeamRecord>>;
    async fn put_team(
        &self,
        team: &TeamRecord,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<TeamRecord>;
    async fn delete_team(&self, name: &str, actor: &str, now: DateTime<Utc>) -> Result<()>;
    async fn set_team_cursor(&self, name: &str, cursor: &str) -> Result<()>;

    // Users' workflow profiles.
    async fn users(&self) -> Result<Vec<UserProfile>>;
    async fn user(&self, name: &str) -> Result<Option<UserProfile>>;
    /// Creates or replaces a profile (`teams` is ignored: membership is
    /// set on teams).
    async fn put_user(
        &self,
        profile: &UserProfile,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<UserProfile>;
    /// Active (new, open, pending) cases per assignee.
    async fn active_case_counts(&self) -> Result<Vec<(String, i64)>>;

    // Routing rules: every save is a new version; old versions are kept.
    async fn rule_set_versions(&self) -> Result<Vec<RuleSetVersion>>;
    async fn current_rule_set(&self) -> Result<Option<RuleSetVersion>>;
    async fn save_rule_set(
        &self,
        rules: &Value,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<RuleSetVersion>;

    // SLA policies. The store assigns ids: `policy.id` is ignored on the
    // way in and the stored id is returned.
    async fn sla_policies(&self) -> Result<Vec<SlaPolicy>>;
    async fn create_sla_policy(
        &self,
        policy: &SlaPolicy,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<SlaPolicy>;
    async fn update_sla_policy(
        &self,
        id: i64,
        policy: &SlaPolicy,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<SlaPolicy>;
    async fn delete_sla_policy(&self, id: i64, actor: &str, now: DateTime<Utc>) -> Result<()>;

    // Per-case SLA state.
    async fn case_sla(&self, case_id: CaseId) -> Result<Option<CaseSlaRecord>>;
    async fn all_case_sla(&self) -> Result<Vec<CaseSlaRecord>>;
    /// Every stored verdict's timing, without the evaluation documents.
    async fn sla_checkpoints(&self) -> Result<Vec<SlaCheckpoint>>;
    async fn save_case_sla(&self, record: &CaseSlaRecord) -> Result<()>;
    /// Records that `mark` (a warning, breach or escalation step of a
    /// target cycle) happened on the case; `false` when it already had, so
    /// each runs once even with several tickers.
    async fn claim_sla_mark(&self, case_id: CaseId, mark: &str, now: DateTime<Utc>)
    -> Result<bool>;

    // Case routing state.
    async fn set_sensitive(
        &self,
        case_id: CaseId,
        sensitive: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<()>;
    async fn is_sensitive(&self, case_id: CaseId) -> Result<bool>;
    /// Applies a routing rule's priority override and tags to a case.
    async fn route_case(
        &self,
        case_id: CaseId,
        priority: Option<f32>,
        tags: &[String],
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// Puts the author on the advocates list (a rule's "send to advocates").
    async fn add_advocate(
        &self,
        source: &str,
        handle: &str,
        followers: i64,
        mention_id: MentionId,
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// The lists (`vip`, `press`, `blocked`) a handle is on.
    async fn lists_of(&self, handle: &str) -> Result<Vec<String>>;
    /// The handles on a list, sorted.
    async fn author_list(&self, list: &str) -> Result<Vec<String>>;
    /// Replaces a list's handles (lowercase, no leading '@').
    async fn put_author_list(
        &self,
        list: &str,
        handles: &[String],
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>>;

    // Reply approvals.
    async fn request_approval(
        &self,
        reply_id: ReplyId,
        requested_by: &str,
        reasons: &[String],
        now: DateTime<Utc>,
    ) -> Result<ApprovalRecord>;
    async fn approvals(&self, pending_only: bool) -> Result<Vec<ApprovalRecord>>;
    async fn approval(&self, reply_id: ReplyId) -> Result<Option<ApprovalRecord>>;
    async fn reply(&self, reply_id: ReplyId) -> Result<Option<Reply>>;
    /// Records the approval and routes the reply on (`Queue` into the
    /// outbox, or `Manual`), with its events, in one transaction.
    async fn approve_and_send(
        &self,
        reply_id: ReplyId,
        approver: &str,
        route: ReplyRoute,
        now: DateTime<Utc>,
    ) -> Result<Reply>;
    /// Turns a held reply down: it stays a draft, no longer waiting.
    async fn reject_reply(
        &self,
        reply_id: ReplyId,
        approver: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<ApprovalRecord>;
    /// The latest public reply that is sent, on its way, left to post by
    /// hand, or waiting for approval: what a new public reply could collide
    /// with.
    async fn latest_public_reply(&self, case_id: CaseId) -> Result<Option<Reply>>;

    // Handoffs to location managers and product owners.
    async fn create_handoff(
        &self,
        case_id: CaseId,
        kind: HandoffKind,
        target: &str,
        message: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Handoff>;
    async fn handoff(&self, id: i64) -> Result<Option<Handoff>>;
    /// All handoffs, or for `case_id` only.
    async fn handoffs(&self, case_id: Option<CaseId>) -> Result<Vec<Handoff>>;
    /// Stores the answer and adds it to the case as a note, atomically.
    async fn answer_handoff(
        &self,
        id: i64,
        answer: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Handoff>;

    // Notifications and webhooks.
    async fn notify(
        &self,
        user: &str,
        kind: &str,
        case_id: Option<CaseId>,
        text: &str,
        payload: &Value,
        now: DateTime<Utc>,
    ) -> Result<Notification>;
    async fn notifications(&self, user: &str, unread_only: bool) -> Result<Vec<Notification>>;
    async fn mark_notification_read(&self, user: &str, id: i64, now: DateTime<Utc>) -> Result<()>;
    async fn webhooks(&self) -> Result<Vec<Webhook>>;
    /// Adds a webhook whose deliveries are signed with `secret` (never
    /// listed or audited; the caller shows it once).
    async fn add_webhook(
        &self,
        url: &str,
        secret: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Webhook>;
    async fn delete_webhook(&self, id: i64, actor: &str, now: DateTime<Utc>) -> Result<()>;
    /// Queues `payload` for every configured webhook.
    async fn queue_webhooks(&self, payload: &Value, now: DateTime<Utc>) -> Result<usize>;
    async fn webhook_deliveries(&self, limit: u32) -> Result<Vec<WebhookDelivery>>;
    /// Undelivered payloads whose next attempt is due at `now`, oldest first.
    async fn due_webhook_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>>;
    async fn record_webhook_attempt(
        &self,
        id: i64,
        attempt: &WebhookAttempt,
        now: DateTime<Utc>,
    ) -> Result<()>;

    // Audit log.
    async fn record_audit(&self, record: &AuditRecord) -> Result<()>;
    /// Workflow changes and case events, newest first.
    async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategies_are_stored_under_their_wire_names() {
        for s in [
            AssignmentStrategy::RoundRobin,
            AssignmentStrategy::LeastLoaded,
        ] {
            assert_eq!(json!(s), json!(s.as_str()));
            assert_eq!(AssignmentStrategy::parse(s.as_str()), Some(s));
        }
        assert_eq!(AssignmentStrategy::parse("random"), None);
    }

    #[test]
    fn webhook_urls_keep_only_scheme_and_host() {
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T000/B000/XXXXsecret?x=1"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            redact_url("http://user:pw@chat.example.org:8443/hooks/abc"),
            "http://chat.example.org/…"
        );
        assert_eq!(redact_url("not a url secret"), "…");
    }

    #[test]
    fn audit_records_lose_urls_and_secrets() {
        let record = AuditRecord {
            entity: "webhook".into(),
            entity_id: "1".into(),
            action: "created".into(),
            actor: "admin".into(),
            before: None,
            after: Some(
                json!({"id": 1, "url": "https://hooks.slack.com/services/T/B/s3cr3t",
                "secret": "whsec_abc", "nested": [{"signing_secret": "xyz"}]}),
            ),
            at: DateTime::<Utc>::UNIX_EPOCH,
        }
        .redact();
        let text = serde_json::to_string(&record).unwrap_or_default();
        for leak in ["s3cr3t", "whsec_abc", "xyz", "/services"] {
            assert!(!text.contains(leak), "{leak} in {text}");
        }
        assert!(text.contains("https://hooks.slack.com/…"), "{text}");
        // Only webhook records lose their URLs: a case event keeps a link.
        let event = AuditRecord {
            entity: "case".into(),
            after: Some(json!({"url": "https://example.org/p/1"})),
            ..record
        }
        .redact();
        assert_eq!(event.after, Some(json!({"url": "https://example.org/p/1"})));
    }
}
