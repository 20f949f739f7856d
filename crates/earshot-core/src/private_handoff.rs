//! Taking a conversation private as one tracked handoff: a short public
//! acknowledgement that names the customer and their issue, then the
//! details in private, on the best channel the customer can be reached on.
//!
//! The channels, best first: the platform's own private messages (a
//! Mastodon direct status, a Bluesky chat when the recipient accepts
//! messages), email when the customer gave an address (through a configured
//! email source), otherwise a follow-up an agent owns with a due time: a
//! phone call, or a "DM us" public reply that waits for the customer to
//! write. The private message's thread is linked to the case, so the
//! customer's answers land in the same case.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{CaseId, PrivateHandoffId, ReplyId, SourceId};
use crate::reply::{Reply, ReplyRoute, ReplyStatus};
use crate::source::SourceKind;

/// Where the private part of a handoff goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrivateChannelKind {
    /// The platform's own private messages, through the source that heard
    /// the customer (Mastodon `visibility=direct`, Bluesky chat).
    Platform,
    /// An email to an address the customer gave, through a configured
    /// email source's SMTP side.
    Email,
    /// A phone call an agent makes and logs: a follow-up with a due time.
    Phone,
    /// The public acknowledgement asks the customer to message the brand;
    /// a follow-up with a due time checks that they did.
    DmUs,
}

impl PrivateChannelKind {
    /// Best first: the order the desk offers them in.
    pub const ALL: [PrivateChannelKind; 4] = [
        PrivateChannelKind::Platform,
        PrivateChannelKind::Email,
        PrivateChannelKind::Phone,
        PrivateChannelKind::DmUs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PrivateChannelKind::Platform => "platform",
            PrivateChannelKind::Email => "email",
            PrivateChannelKind::Phone => "phone",
            PrivateChannelKind::DmUs => "dm_us",
        }
    }

    pub fn parse(s: &str) -> Option<PrivateChannelKind> {
        PrivateChannelKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// A message is sent to the customer (rather than a follow-up owned by
    /// an agent).
    pub fn sends_message(self) -> bool {
        matches!(
            self,
            PrivateChannelKind::Platform | PrivateChannelKind::Email
        )
    }

    /// What the desk calls it.
    pub fn label(self) -> &'static str {
        match self {
            PrivateChannelKind::Platform => "Private message on the platform",
            PrivateChannelKind::Email => "Email",
            PrivateChannelKind::Phone => "Phone call (follow-up)",
            PrivateChannelKind::DmUs => "Ask them to DM us (follow-up)",
        }
    }
}

impl std::fmt::Display for PrivateChannelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A platform's private gate, checked before an agent sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum GateCheck {
    /// A private message may be sent now.
    Open,
    /// It may not, in the platform's words.
    Closed { reason: String },
}

impl GateCheck {
    pub fn closed(reason: impl Into<String>) -> GateCheck {
        GateCheck::Closed {
            reason: reason.into(),
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self, GateCheck::Open)
    }
}

/// One way this case can be taken private, as the desk and the API offer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChannelOption {
    pub channel: PrivateChannelKind,
    /// What the desk calls it ("Private message on mastodon").
    pub label: String,
    /// Can be chosen now.
    pub available: bool,
    /// Why not, when it is blocked: the platform's gate in its own words,
    /// "no email source is configured", "mastodon has no private messages".
    pub reason: Option<String>,
    /// What choosing it means when it is available ("saved for you to send
    /// by hand: no connector is running for this source").
    pub note: Option<String>,
    /// The source that carries the private message (platform, email).
    #[schema(value_type = Option<i64>)]
    pub source_id: Option<SourceId>,
    /// An address already known for this customer (their own email, an
    /// earlier handoff's), to prefill.
    pub address: Option<String>,
    /// The channel needs an email address.
    pub needs_address: bool,
    /// The channel is a follow-up with a due time, not a message.
    pub follow_up: bool,
}

/// A phone call or "DM us" follow-up an agent owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FollowUp {
    /// What to do or say (internal, never sent).
    pub note: String,
    pub due_at: DateTime<Utc>,
    /// Who is told when it falls due undone: the case's assignee when the
    /// handoff was made, else its author.
    pub assignee: String,
    pub done_at: Option<DateTime<Utc>>,
    pub done_by: Option<String>,
    /// When the assignee was told it fell due undone.
    pub notified_at: Option<DateTime<Utc>>,
}

/// A handoff as stored: which replies it links and where it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateHandoffRecord {
    pub id: PrivateHandoffId,
    pub case_id: CaseId,
    pub channel: PrivateChannelKind,
    pub source_id: Option<SourceId>,
    pub address: Option<String>,
    pub subject: Option<String>,
    pub public_reply_id: Option<ReplyId>,
    pub private_reply_id: Option<ReplyId>,
    pub follow_up: Option<FollowUp>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// Where a handoff stands, read from its replies and follow-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrivateHandoffStatus {
    /// Both texts wait for a supervisor's approval.
    PendingApproval,
    /// On their way (queued or sending).
    Sending,
    /// Everything it sends was acknowledged by its channel (or posted by
    /// hand); a follow-up, if any, is done.
    Done,
    /// A text waits for an agent to post it by hand.
    ToPostByHand,
    /// A channel refused a text; the reply says why.
    Failed,
    /// The follow-up is open and not due yet.
    FollowUpOpen,
    /// The follow-up is past its due time and not done.
    FollowUpOverdue,
    /// Approval was refused: the texts stay drafts.
    Rejected,
}

/// The handoff's state from its replies' statuses and its follow-up, at `now`.
pub fn status_of(
    replies: &[ReplyStatus],
    follow_up: Option<&FollowUp>,
    now: DateTime<Utc>,
) -> PrivateHandoffStatus {
    use PrivateHandoffStatus as S;
    if replies.contains(&ReplyStatus::Failed) {
        return S::Failed;
    }
    if replies.contains(&ReplyStatus::PendingApproval) {
        return S::PendingApproval;
    }
    if replies.contains(&ReplyStatus::Draft) {
        return S::Rejected;
    }
    if replies.contains(&ReplyStatus::Manual) {
        return S::ToPostByHand;
    }
    if replies
        .iter()
        .any(|s| matches!(s, ReplyStatus::Queued | ReplyStatus::Sending))
    {
        return S::Sending;
    }
    match follow_up {
        Some(f) if f.done_at.is_none() && f.due_at <= now => S::FollowUpOverdue,
        Some(f) if f.done_at.is_none() => S::FollowUpOpen,
        _ => S::Done,
    }
}

/// A handoff as the API and the desk show it: both messages with their
/// delivery state.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PrivateHandoff {
    #[schema(value_type = i64)]
    pub id: PrivateHandoffId,
    #[schema(value_type = i64)]
    pub case_id: CaseId,
    pub channel: PrivateChannelKind,
    pub status: PrivateHandoffStatus,
    /// The source carrying the private message.
    #[schema(value_type = Option<i64>)]
    pub source_id: Option<SourceId>,
    /// The email address it went to.
    pub address: Option<String>,
    /// The email's subject.
    pub subject: Option<String>,
    /// The public acknowledgement, with its delivery.
    pub public_reply: Option<Reply>,
    /// The private message, with its delivery.
    pub private_reply: Option<Reply>,
    pub follow_up: Option<FollowUp>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl PrivateHandoff {
    /// The record with its replies (looked up by id among `replies`).
    pub fn from_record(r: PrivateHandoffRecord, replies: &[Reply], now: DateTime<Utc>) -> Self {
        let find = |id: Option<ReplyId>| id.and_then(|id| replies.iter().find(|x| x.id == id));
        let public = find(r.public_reply_id).cloned();
        let private = find(r.private_reply_id).cloned();
        let statuses: Vec<ReplyStatus> = public
            .iter()
            .chain(private.iter())
            .map(|x| x.status)
            .collect();
        PrivateHandoff {
            id: r.id,
            case_id: r.case_id,
            channel: r.channel,
            status: status_of(&statuses, r.follow_up.as_ref(), now),
            source_id: r.source_id,
            address: r.address,
            subject: r.subject,
            public_reply: public,
            private_reply: private,
            follow_up: r.follow_up,
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

/// One of a handoff's texts, routed as the application decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffText {
    pub body: String,
    pub route: ReplyRoute,
}

/// A follow-up as an agent sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFollowUp {
    pub note: String,
    pub due_at: DateTime<Utc>,
    pub assignee: String,
}

/// Everything one handoff writes, in one transaction: nothing of it is
/// stored when any part is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPrivateHandoff {
    pub case_id: CaseId,
    pub channel: PrivateChannelKind,
    pub source_id: Option<SourceId>,
    /// The kind of the source carrying the private message: its reply
    /// capabilities (visibility, length) apply to it, not the case's.
    pub private_kind: Option<SourceKind>,
    pub address: Option<String>,
    pub subject: Option<String>,
    pub public: Option<HandoffText>,
    pub private: Option<HandoffText>,
    pub follow_up: Option<NewFollowUp>,
    /// Non-empty: both texts are held for approval, for these reasons.
    pub approval_reasons: Vec<String>,
    /// The personalisation warnings the agent overrode (recorded as an
    /// event); empty when there were none.
    pub overridden: Vec<String>,
    pub actor: String,
}

#[async_trait]
pub trait PrivateHandoffStore: Send + Sync + 'static {
    /// Stores the handoff with its replies (queued, held or left to post
    /// by hand, as routed), their approval requests and the case events,
    /// in one transaction.
    async fn create_private_handoff(
        &self,
        new: &NewPrivateHandoff,
        now: DateTime<Utc>,
    ) -> Result<PrivateHandoffRecord>;
    /// A case's handoffs, oldest first.
    async fn private_handoffs(&self, case_id: CaseId) -> Result<Vec<PrivateHandoffRecord>>;
    async fn private_handoff(&self, id: PrivateHandoffId) -> Result<Option<PrivateHandoffRecord>>;
    /// The handoff one of whose texts is `reply_id`.
    async fn private_handoff_of_reply(
        &self,
        reply_id: ReplyId,
    ) -> Result<Option<PrivateHandoffRecord>>;
    /// Marks a handoff's follow-up done (409 when it already is, 400 when
    /// it has none).
    async fn complete_follow_up(
        &self,
        id: PrivateHandoffId,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<PrivateHandoffRecord>;
    /// Follow-ups due by `now`, not done and not yet notified, oldest first.
    async fn due_follow_ups(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PrivateHandoffRecord>>;
    /// Records that the assignee was told; `false` when another node did
    /// first (so each is told once).
    async fn mark_follow_up_notified(
        &self,
        id: PrivateHandoffId,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Links a thread the brand opened in private to the case: items whose
    /// conversation key is `conversation_key` join it while it is open.
    async fn link_thread(
        &self,
        conversation_key: &str,
        case_id: CaseId,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// The thread keys linked to a case.
    async fn case_threads(&self, case_id: CaseId) -> Result<Vec<String>>;
}

/// The conversation key of a thread on `source` (as
/// [`crate::mention::MentionInput::conversation_key`] makes it).
pub fn thread_key(source: SourceKind, thread_id: &str) -> String {
    format!("{source}:thread:{thread_id}")
}

/// The longest email address accepted (RFC 5321 §4.5.3.1.3 path limit).
pub const MAX_ADDRESS_BYTES: usize = 254;

/// An email address as a customer gives it, checked (errors name
/// `field`): one `@`, a local part and a dotted domain, no spaces,
/// brackets or separators; the domain lowercased.
pub fn email_address(field: &str, raw: &str) -> Result<String> {
    let a = raw.trim();
    if a.is_empty() {
        return Err(Error::invalid_field(field, "must not be empty"));
    }
    if a.len() > MAX_ADDRESS_BYTES {
        return Err(Error::invalid_field(
            field,
            format!("is longer than {MAX_ADDRESS_BYTES} bytes"),
        ));
    }
    let bad = |c: char| {
        c.is_whitespace() || c.is_control() || "<>()[],;:\\\"".contains(c) || !c.is_ascii()
    };
    if a.chars().any(bad) {
        return Err(Error::invalid_field(
            field,
            "is not an email address (no spaces, brackets or separators)",
        ));
    }
    let Some((local, domain)) = a.split_once('@') else {
        return Err(Error::invalid_field(
            field,
            "is not an email address (no @)",
        ));
    };
    let labels: Vec<&str> = domain.split('.').collect();
    if local.is_empty()
        || local.len() > 64
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
        || domain.contains('@')
        || labels.len() < 2
        || labels
            .iter()
            .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-') || l.len() > 63)
    {
        return Err(Error::invalid_field(
            field,
            "is not an email address (name@example.com)",
        ));
    }
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// A public acknowledgement to start from: it names the customer and what
/// they wrote about, and says where the conversation goes next. The agent
/// sees and edits it before anything is posted.
pub fn suggest_acknowledgement(
    name: &str,
    issue: Option<&str>,
    channel: PrivateChannelKind,
) -> String {
    let about = issue
        .map(|i| format!(" about {}", i.trim()))
        .unwrap_or_default();
    let next = match channel {
        PrivateChannelKind::Platform => {
            "We've sent you a private message so we can sort it out with your details."
        }
        PrivateChannelKind::Email => {
            "We've sent you an email so we can sort it out with your details."
        }
        PrivateChannelKind::Phone => "We'll call you to sort it out with your details.",
        PrivateChannelKind::DmUs => {
            "Could you send us a direct message with your details so we can sort it out?"
        }
    };
    format!("Hi {name}, we're sorry{about}. {next}")
}

/// A subject for an email that opens a new thread.
pub fn email_subject(issue: Option<&str>, case_id: CaseId) -> String {
    match issue.map(str::trim).filter(|i| !i.is_empty()) {
        Some(i) => format!("About your message: {i} (case {case_id})"),
        None => format!("About your message (case {case_id})"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn channels_parse_back_and_come_best_first() {
        for k in PrivateChannelKind::ALL {
            assert_eq!(PrivateChannelKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(PrivateChannelKind::ALL[0], PrivateChannelKind::Platform);
        assert_eq!(
            serde_json::to_string(&PrivateChannelKind::DmUs).unwrap(),
            "\"dm_us\""
        );
        assert!(PrivateChannelKind::Email.sends_message());
        assert!(!PrivateChannelKind::Phone.sends_message());
    }

    #[test]
    fn addresses_are_checked_and_their_domain_lowercased() {
        assert_eq!(
            email_address("address", " Ida.K@Example.ORG ").unwrap(),
            "Ida.K@example.org"
        );
        for bad in [
            "",
            "ida",
            "ida@",
            "@example.org",
            "ida@example",
            "ida@@example.org",
            "ida smith@example.org",
            "<ida@example.org>",
            "ida@example.org, eve@example.org",
            "ida@-x.org",
            "ida..k@example.org",
            "ïda@example.org",
        ] {
            let e = email_address("address", bad).unwrap_err();
            assert!(e.message.starts_with("address: "), "{bad}: {e:?}");
        }
    }

    #[test]
    fn the_status_reads_the_worst_part_first() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        use PrivateHandoffStatus as S;
        use ReplyStatus as R;
        assert_eq!(status_of(&[R::Sent, R::Sent], None, now), S::Done);
        assert_eq!(status_of(&[R::Sent, R::Queued], None, now), S::Sending);
        assert_eq!(status_of(&[R::Sent, R::Failed], None, now), S::Failed);
        assert_eq!(
            status_of(&[R::PendingApproval, R::PendingApproval], None, now),
            S::PendingApproval
        );
        assert_eq!(status_of(&[R::Manual], None, now), S::ToPostByHand);
        let mut f = FollowUp {
            note: "call".into(),
            due_at: now + chrono::TimeDelta::hours(1),
            assignee: "ann".into(),
            done_at: None,
            done_by: None,
            notified_at: None,
        };
        assert_eq!(status_of(&[R::Sent], Some(&f), now), S::FollowUpOpen);
        f.due_at = now;
        assert_eq!(status_of(&[], Some(&f), now), S::FollowUpOverdue);
        f.done_at = Some(now);
        assert_eq!(status_of(&[], Some(&f), now), S::Done);
    }

    #[test]
    fn the_suggestion_names_the_customer_and_the_issue() {
        let s = suggest_acknowledgement(
            "Ida",
            Some("your delayed refund"),
            PrivateChannelKind::Email,
        );
        assert_eq!(
            s,
            "Hi Ida, we're sorry about your delayed refund. We've sent you an email so we can sort it out with your details."
        );
        assert_eq!(
            thread_key(SourceKind::Email, "abc@x.org"),
            "email:thread:abc@x.org"
        );
    }
}
