//! The private side of a case: taking a conversation private as one
//! tracked handoff (a public acknowledgement, then the private message or a
//! follow-up), and messages only the customer sees, sent on the channel the
//! case was taken to.
//!
//! The order of the channels, their gates and how the private thread comes
//! back into the case are described in docs/HANDOFF.md.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use earshot_connectors::Outbound;
use earshot_core::error::{Error, ErrorCode, Result};
use earshot_core::ids::{CaseId, PrivateHandoffId, ReplyId, SourceId};
use earshot_core::mention::{Mention, reject_nul};
use earshot_core::outbox::{OutboxAddress, OutboxTarget};
use earshot_core::private_handoff::{
    ChannelOption, GateCheck, HandoffText, NewFollowUp, NewPrivateHandoff, PrivateChannelKind,
    PrivateHandoff, PrivateHandoffRecord, email_address, email_subject, suggest_acknowledgement,
};
use earshot_core::reply::{Reply, ReplyRoute, Visibility};
use earshot_core::source::SourceKind;
use earshot_core::store::{CaseDetail, NewReply};
use earshot_core::{Case, auth::Principal};
use serde_json::{Value, json};

use crate::access::check_visible;
use crate::cases::case_detail;
use crate::channels::Channel;
use crate::replies::{answering_source, reason_names, workflow_checks};
use crate::{App, LiveEvent};

/// The longest text of a handoff (either one), in bytes.
pub const MAX_TEXT_BYTES: usize = 20_000;
/// The longest email subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Follow-ups the periodic check reads per pass.
const DUE_BATCH: u32 = 200;

/// Sends `body` to the case's customer in private as `author` (a person,
/// or a system name for automated messages such as a CSAT request). After
/// a handoff it goes where the case was taken: to the email address
/// through the email source, or into the platform's private thread;
/// otherwise through the platform's private replies of the source that
/// heard the customer. With no running connector for it, it is a manual
/// reply an agent posts by hand. A case whose source takes no private
/// replies is refused (400, naming `visibility`).
pub async fn send_private(app: &App, case_id: CaseId, body: &str, author: &str) -> Result<Reply> {
    reject_nul("body", body)?;
    let detail = case_detail(app, case_id).await?;
    let route = established_route(app, &detail).await?;
    let queued = matches!(route, ReplyRoute::Queue(_));
    let reply = NewReply {
        visibility: Visibility::Private,
        body: body.to_string(),
        send: true,
    };
    let saved = app
        .store
        .add_reply(case_id, &reply, route, author, app.clock.now())
        .await?;
    if queued {
        app.outbox_wake.notify_one();
    }
    Ok(saved)
}

/// Where a private message on the case goes now: the channel of its latest
/// handoff that sent one, else the platform's private replies.
async fn established_route(app: &App, detail: &CaseDetail) -> Result<ReplyRoute> {
    let handoffs = app
        .private_handoffs
        .private_handoffs(detail.case.id)
        .await?;
    let taken = handoffs
        .iter()
        .rev()
        .find(|h| h.channel.sends_message() && h.private_reply_id.is_some());
    match taken {
        Some(h) if h.channel == PrivateChannelKind::Email => email_follow_on(app, detail, h).await,
        _ => Ok(platform_route(app, detail).0),
    }
}

/// A later private message after an email handoff: into the customer's
/// answer when they wrote back through that source, else under the
/// handoff's own email (same address, same subject).
async fn email_follow_on(
    app: &App,
    detail: &CaseDetail,
    h: &PrivateHandoffRecord,
) -> Result<ReplyRoute> {
    let Some(channel) = h.source_id.and_then(|id| app.channels.get(id)) else {
        return Ok(ReplyRoute::Manual);
    };
    let answered = detail.mentions.iter().any(|m| {
        m.mention
            .origin
            .as_ref()
            .is_some_and(|o| o.source_id == channel.source_id)
    });
    let address = if answered {
        None
    } else {
        let first = match h.private_reply_id {
            Some(id) => app.outbox.for_reply(id).await?,
            None => None,
        };
        let recipient = h.address.clone().unwrap_or_default();
        let reply_ref = match first {
            Some(item) => json!({
                "message_id": item.idempotency_key,
                "subject": h.subject.clone().unwrap_or_default(),
                "from": recipient,
            }),
            None => channel.connector.open_private(
                &Value::Null,
                &recipient,
                h.subject.as_deref().unwrap_or_default(),
            ),
        };
        Some(OutboxAddress {
            recipient,
            reply_ref,
        })
    };
    Ok(ReplyRoute::Queue(OutboxTarget {
        source_id: channel.source_id,
        idempotency_key: channel.connector.new_idempotency_key(),
        address,
    }))
}

/// The customer's latest post heard through `source`, public ones first
/// when `public`.
fn latest_heard(mentions: &[Mention], source: SourceId) -> Option<&Mention> {
    mentions.iter().rev().find(|m| {
        m.mention
            .origin
            .as_ref()
            .is_some_and(|o| o.source_id == source)
    })
}

/// The platform's private route on this case, with the running channel:
/// into the customer's private thread when they wrote in private through
/// the source, else a new private conversation the connector opens
/// (`open_private`). No running connector: left to post by hand.
fn platform_route(app: &App, detail: &CaseDetail) -> (ReplyRoute, Option<(Channel, Outbound)>) {
    let Some(channel) = answering_source(&detail.mentions).and_then(|id| app.channels.get(id))
    else {
        return (ReplyRoute::Manual, None);
    };
    let in_private = detail.mentions.iter().any(|m| {
        m.mention
            .origin
            .as_ref()
            .is_some_and(|o| o.source_id == channel.source_id && o.private)
    });
    let heard = latest_heard(&detail.mentions, channel.source_id);
    let recipient = heard
        .map(|m| m.mention.author.handle.clone())
        .unwrap_or_else(|| detail.case.author_handle.clone());
    let heard_ref = heard
        .and_then(|m| m.mention.origin.as_ref())
        .map(|o| o.reply_ref.clone())
        .unwrap_or(Value::Null);
    let reply_ref = if in_private {
        latest_private_ref(&detail.mentions, channel.source_id).unwrap_or(heard_ref)
    } else {
        channel
            .connector
            .open_private(&heard_ref, &recipient, &detail.case.subject)
    };
    let key = channel.connector.new_idempotency_key();
    let probe = Outbound {
        idempotency_key: key.clone(),
        visibility: Visibility::Private,
        body: String::new(),
        recipient: recipient.clone(),
        reply_ref: reply_ref.clone(),
        last_inbound_at: Some(detail.case.last_customer_at),
    };
    let route = ReplyRoute::Queue(OutboxTarget {
        source_id: channel.source_id,
        idempotency_key: key,
        address: (!in_private).then_some(OutboxAddress {
            recipient,
            reply_ref,
        }),
    });
    (route, Some((channel, probe)))
}

fn latest_private_ref(mentions: &[Mention], source: SourceId) -> Option<Value> {
    mentions.iter().rev().find_map(|m| {
        m.mention
            .origin
            .as_ref()
            .filter(|o| o.source_id == source && o.private)
            .map(|o| o.reply_ref.clone())
    })
}

/// A channel option with what taking it needs.
struct Resolved {
    option: ChannelOption,
    /// Where the private message goes (platform and email).
    route: Option<ReplyRoute>,
    /// The kind of the source carrying it.
    kind: Option<SourceKind>,
}

fn option(channel: PrivateChannelKind, label: String) -> ChannelOption {
    ChannelOption {
        channel,
        label,
        available: true,
        reason: None,
        note: None,
        source_id: None,
        address: None,
        needs_address: false,
        follow_up: !channel.sends_message(),
    }
}

fn blocked(mut o: ChannelOption, reason: impl Into<String>) -> ChannelOption {
    o.available = false;
    o.reason = Some(reason.into());
    o
}

/// How long the platform's gate may take to answer: the case page asks it
/// on every view, so a slow platform must not hold the page.
pub const GATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);

/// Asks the platform's gate, in its words; a gate that cannot be asked
/// blocks with why.
async fn gate(channel: &Channel, probe: &Outbound) -> GateCheck {
    match tokio::time::timeout(GATE_TIMEOUT, channel.connector.private_gate(probe)).await {
        Ok(Ok(check)) => check,
        Ok(Err(e)) => GateCheck::closed(format!("the platform's gate could not be checked: {e}")),
        Err(_) => GateCheck::closed(format!(
            "the platform's gate could not be checked: it did not answer within {} s; try again",
            GATE_TIMEOUT.as_secs()
        )),
    }
}

/// The channel options of a case, best first, for an email handoff to
/// `address` (when known) through `email_source` (when chosen).
async fn resolve(
    app: &App,
    detail: &CaseDetail,
    address: Option<&str>,
    email_source: Option<SourceId>,
    subject: &str,
) -> Result<Vec<Resolved>> {
    let case = &detail.case;
    let caps = case.source.capabilities();
    let mut out = Vec::with_capacity(4);

    // The platform's own private messages.
    let mut platform = option(
        PrivateChannelKind::Platform,
        format!("Private message on {}", case.source),
    );
    let mut platform_route_found = None;
    if !caps.private_reply {
        platform = blocked(platform, format!("{} has no private messages", case.source));
    } else {
        let (route, running) = platform_route(app, detail);
        match running {
            None => {
                platform.note = Some(format!(
                    "no connector is running for {}: saved for you to send by hand",
                    case.source
                ));
                platform_route_found = Some(route);
            }
            Some((channel, probe)) => {
                platform.source_id = Some(channel.source_id);
                if channel.capabilities.reply_private.is_none() {
                    platform = blocked(platform, "the platform has no private messages");
                } else {
                    match gate(&channel, &probe).await {
                        GateCheck::Open => platform_route_found = Some(route),
                        GateCheck::Closed { reason } => platform = blocked(platform, reason),
                    }
                }
            }
        }
    }
    out.push(Resolved {
        option: platform,
        route: platform_route_found,
        kind: Some(case.source),
    });

    // Email, through a configured email source.
    let mut email = option(PrivateChannelKind::Email, "Email".into());
    email.needs_address = true;
    email.address = match address {
        Some(a) => Some(a.to_string()),
        None => known_address(app, case).await?,
    };
    let sources: Vec<_> = app
        .sources
        .sources()
        .await?
        .into_iter()
        .filter(|s| s.kind == SourceKind::Email)
        .collect();
    let mut email_route = None;
    if let Some(id) = email_source
        && !sources.iter().any(|s| s.id == id)
    {
        return Err(Error::invalid_field(
            "source_id",
            format!("there is no email source {id}"),
        ));
    }
    let chosen = match email_source {
        Some(id) => sources.iter().find(|s| s.id == id),
        None => sources
            .iter()
            .find(|s| app.channels.get(s.id).is_some())
            .or(sources.first()),
    };
    match chosen {
        None => email = blocked(email, "no email source is configured"),
        Some(s) => {
            email.source_id = Some(s.id);
            email.label = format!("Email (from {})", s.name);
            match app.channels.get(s.id) {
                None if s.paused => {
                    email = blocked(email, format!("the email source {} is paused", s.name))
                }
                None => {
                    email = blocked(email, format!("the email source {} is not running", s.name))
                }
                Some(channel) => {
                    let recipient = email.address.clone().unwrap_or_default();
                    let reply_ref =
                        channel
                            .connector
                            .open_private(&Value::Null, &recipient, subject);
                    let probe = Outbound {
                        idempotency_key: String::new(),
                        visibility: Visibility::Private,
                        body: String::new(),
                        recipient: recipient.clone(),
                        reply_ref: reply_ref.clone(),
                        last_inbound_at: Some(case.last_customer_at),
                    };
                    match gate(&channel, &probe).await {
                        GateCheck::Closed { reason } => email = blocked(email, reason),
                        GateCheck::Open => {
                            email_route = Some(ReplyRoute::Queue(OutboxTarget {
                                source_id: channel.source_id,
                                idempotency_key: channel.connector.new_idempotency_key(),
                                address: Some(OutboxAddress {
                                    recipient,
                                    reply_ref,
                                }),
                            }))
                        }
                    }
                }
            }
        }
    }
    out.push(Resolved {
        option: email,
        route: email_route,
        kind: Some(SourceKind::Email),
    });

    // A phone call an agent logs.
    let mut phone = option(
        PrivateChannelKind::Phone,
        PrivateChannelKind::Phone.label().into(),
    );
    phone.note = Some("a follow-up with a due time; its assignee is told when it falls due".into());
    out.push(Resolved {
        option: phone,
        route: None,
        kind: None,
    });

    // "DM us": the acknowledgement asks them to write.
    let mut dm = option(
        PrivateChannelKind::DmUs,
        PrivateChannelKind::DmUs.label().into(),
    );
    if caps.public_reply {
        dm.note =
            Some("the public reply asks them to message you; a follow-up checks they did".into());
    } else {
        dm = blocked(
            dm,
            format!("{} has no public replies to ask them in", case.source),
        );
    }
    out.push(Resolved {
        option: dm,
        route: None,
        kind: None,
    });
    Ok(out)
}

/// An address already known for the case's customer: their own, on an
/// email case, or the latest one a handoff used.
async fn known_address(app: &App, case: &Case) -> Result<Option<String>> {
    if case.source == SourceKind::Email {
        return Ok(Some(case.author_handle.clone()));
    }
    Ok(app
        .private_handoffs
        .private_handoffs(case.id)
        .await?
        .into_iter()
        .rev()
        .find_map(|h| h.address))
}

/// What the case's issue is called in a suggestion and a subject.
pub fn issue_of(case: &Case) -> Option<String> {
    if let Some(c) = case.category.as_deref().filter(|c| !c.is_empty()) {
        return Some(format!("the {} problem", c.replace(['_', '-'], " ")));
    }
    let s = case.subject.trim();
    if s.is_empty() {
        return None;
    }
    let short: String = s.chars().take(60).collect();
    let cut = if short.len() < s.len() {
        "\u{2026}"
    } else {
        ""
    };
    Some(format!("your message \u{201c}{short}{cut}\u{201d}"))
}

/// The customer as a suggestion addresses them: the first word of their
/// display name, else their @handle.
pub fn customer_name(detail: &CaseDetail) -> String {
    detail
        .mentions
        .iter()
        .find_map(|m| m.mention.author.display_name.clone())
        .and_then(|n| n.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| format!("@{}", detail.case.author_handle))
}

/// The public acknowledgement the desk prefills for `channel`: it names
/// the customer and their issue; the agent edits it before it is posted.
pub fn suggestion(detail: &CaseDetail, channel: PrivateChannelKind) -> String {
    suggest_acknowledgement(
        &customer_name(detail),
        issue_of(&detail.case).as_deref(),
        channel,
    )
}

/// The ways this case can be taken private, best first, each available or
/// blocked with the reason (a closed gate in the platform's words).
pub async fn private_channels(
    app: &App,
    p: &Principal,
    case_id: CaseId,
) -> Result<Vec<ChannelOption>> {
    let detail = case_detail(app, case_id).await?;
    check_visible(app, p, &detail.case).await?;
    let subject = email_subject(issue_of(&detail.case).as_deref(), case_id);
    Ok(resolve(app, &detail, None, None, &subject)
        .await?
        .into_iter()
        .map(|r| r.option)
        .collect())
}

/// A handoff as an agent asks for it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TakePrivate {
    pub channel: Option<PrivateChannelKind>,
    /// The public acknowledgement: required where the platform has public
    /// replies, refused where it has none.
    pub public_text: Option<String>,
    /// The private message (platform, email).
    pub private_text: Option<String>,
    /// The customer's email address (email).
    pub address: Option<String>,
    /// Which email source, when there are several.
    pub email_source_id: Option<SourceId>,
    /// The email's subject; a default names the issue and the case.
    pub subject: Option<String>,
    /// What to do (phone, DM us); internal.
    pub follow_up_note: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub override_personalisation: bool,
    pub last_public_reply_seen: Option<ReplyId>,
}

/// The personalisation check's warnings on a handoff's texts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextWarnings {
    pub public: Vec<String>,
    pub private: Vec<String>,
}

impl TextWarnings {
    pub fn is_empty(&self) -> bool {
        self.public.is_empty() && self.private.is_empty()
    }

    /// The 422 message, naming each text.
    pub fn message(&self) -> String {
        let mut parts = Vec::new();
        if !self.public.is_empty() {
            parts.push(format!(
                "public_text: reads as generic: {}",
                self.public.join("; ")
            ));
        }
        if !self.private.is_empty() {
            parts.push(format!(
                "private_text: reads as generic: {}",
                self.private.join("; ")
            ));
        }
        parts.push("revise them or send with override_personalisation = true".into());
        parts.join(". ")
    }
}

/// What a handoff came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Taken {
    Done(Box<PrivateHandoff>),
    /// The personalisation check found a text generic and no override was
    /// given: nothing was stored.
    Generic(TextWarnings),
}

fn text(field: &str, raw: Option<&str>) -> Result<Option<String>> {
    let Some(raw) = raw else { return Ok(None) };
    reject_nul(field, raw)?;
    let t = raw.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if t.len() > MAX_TEXT_BYTES {
        return Err(Error::invalid_field(
            field,
            format!("is longer than {MAX_TEXT_BYTES} bytes"),
        ));
    }
    Ok(Some(t.to_string()))
}

/// Takes the case private, as one handoff. In order: the request's fields
/// (400 naming the field), the chosen channel's gate (422 naming
/// `channel`, in the platform's words), the personalisation check of both
/// texts ([`Taken::Generic`] unless overridden; the override is recorded),
/// and the workflow (403 without the right, 409 when the acknowledgement
/// would talk over another agent's unseen public reply; a trainee's or a
/// sensitive case's handoff holds BOTH texts for approval). Only then is
/// anything stored, in one transaction.
pub async fn take_private(
    app: &App,
    p: &Principal,
    case_id: CaseId,
    req: &TakePrivate,
) -> Result<Taken> {
    let detail = case_detail(app, case_id).await?;
    check_visible(app, p, &detail.case).await?;
    let case = &detail.case;
    let caps = case.source.capabilities();
    let channel = req
        .channel
        .ok_or_else(|| Error::invalid_field("channel", "must be chosen"))?;
    let public_text = text("public_text", req.public_text.as_deref())?;
    let private_text = text("private_text", req.private_text.as_deref())?;
    let note = text("follow_up_note", req.follow_up_note.as_deref())?;
    let subject_given = text("subject", req.subject.as_deref())?;
    let now = app.clock.now();

    match (&public_text, caps.public_reply) {
        (None, true) => {
            return Err(Error::invalid_field(
                "public_text",
                format!(
                    "must not be empty: answer in public on {} before taking it private",
                    case.source
                ),
            ));
        }
        (Some(_), false) => {
            return Err(Error::invalid_field(
                "public_text",
                format!("{} has no public replies; leave it out", case.source),
            ));
        }
        _ => {}
    }
    let mut address = None;
    let mut follow_up = None;
    if channel.sends_message() {
        if private_text.is_none() {
            return Err(Error::invalid_field("private_text", "must not be empty"));
        }
        for (field, given) in [
            ("follow_up_note", note.is_some()),
            ("due_at", req.due_at.is_some()),
        ] {
            if given {
                return Err(Error::invalid_field(
                    field,
                    format!("only a phone or DM-us handoff has a follow-up, not {channel}"),
                ));
            }
        }
    } else {
        if private_text.is_some() {
            return Err(Error::invalid_field(
                "private_text",
                format!("a {channel} handoff sends no private message; write follow_up_note"),
            ));
        }
        let note =
            note.ok_or_else(|| Error::invalid_field("follow_up_note", "must not be empty"))?;
        let due_at = req
            .due_at
            .ok_or_else(|| Error::invalid_field("due_at", "is required for a follow-up"))?;
        if due_at <= now {
            return Err(Error::invalid_field("due_at", "must be in the future"));
        }
        follow_up = Some(NewFollowUp {
            note,
            due_at,
            assignee: case
                .assignee
                .clone()
                .unwrap_or_else(|| crate::access::user_name(p).to_string()),
        });
    }
    if channel == PrivateChannelKind::Email {
        let raw = req
            .address
            .as_deref()
            .ok_or_else(|| Error::invalid_field("address", "is required for an email handoff"))?;
        reject_nul("address", raw)?;
        address = Some(email_address("address", raw)?);
    } else if req.address.as_deref().is_some_and(|a| !a.trim().is_empty()) {
        return Err(Error::invalid_field(
            "address",
            "only an email handoff takes an address",
        ));
    }
    if req.email_source_id.is_some() && channel != PrivateChannelKind::Email {
        return Err(Error::invalid_field(
            "source_id",
            "only an email handoff names an email source",
        ));
    }
    let subject = match (&subject_given, channel) {
        (Some(s), PrivateChannelKind::Email) => {
            if s.chars().count() > MAX_SUBJECT_CHARS || s.chars().any(char::is_control) {
                return Err(Error::invalid_field(
                    "subject",
                    format!("must be one line of at most {MAX_SUBJECT_CHARS} characters"),
                ));
            }
            Some(s.clone())
        }
        (Some(_), _) => {
            return Err(Error::invalid_field(
                "subject",
                "only an email handoff has a subject",
            ));
        }
        (None, PrivateChannelKind::Email) => {
            Some(email_subject(issue_of(case).as_deref(), case_id))
        }
        (None, _) => None,
    };

    // The gate, before anything else is asked of anyone.
    let options = resolve(
        app,
        &detail,
        address.as_deref(),
        req.email_source_id,
        subject.as_deref().unwrap_or_default(),
    )
    .await?;
    let chosen = options
        .into_iter()
        .find(|r| r.option.channel == channel)
        .ok_or_else(|| Error::internal("every channel has an option"))?;
    if !chosen.option.available {
        return Err(Error::new(
            ErrorCode::Unprocessable,
            format!(
                "channel: {} is not available: {}",
                channel,
                chosen.option.reason.unwrap_or_default()
            ),
        ));
    }

    // Personalisation of both texts.
    let mut warnings = TextWarnings::default();
    if let Some(t) = &public_text {
        let c = crate::personalisation::check_in_case(app, case_id, None, t).await?;
        if c.generic {
            warnings.public = c.reasons;
        }
    }
    if let Some(t) = &private_text {
        let c = crate::personalisation::check_in_case(app, case_id, None, t).await?;
        if c.generic {
            warnings.private = c.reasons;
        }
    }
    if !warnings.is_empty() && !req.override_personalisation {
        return Ok(Taken::Generic(warnings));
    }

    // The workflow: rights, approvals (both held), collisions.
    let mut reasons = Vec::new();
    if public_text.is_some() {
        reasons.extend(
            workflow_checks(
                app,
                p,
                case,
                Visibility::Public,
                true,
                req.last_public_reply_seen,
            )
            .await?,
        );
    }
    reasons.extend(workflow_checks(app, p, case, Visibility::Private, true, None).await?);
    let reasons: Vec<String> = reason_names(&reasons)
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let held = !reasons.is_empty();

    let public = public_text.map(|body| HandoffText {
        body,
        route: if held {
            ReplyRoute::PendingApproval
        } else {
            app.channels
                .route(answering_source(&detail.mentions), Visibility::Public)
        },
    });
    let private = match (private_text, chosen.route) {
        (Some(body), Some(route)) => Some(HandoffText {
            body,
            route: if held {
                ReplyRoute::PendingApproval
            } else {
                route
            },
        }),
        (Some(_), None) => return Err(Error::internal("an available channel has a route")),
        (None, _) => None,
    };
    let queued = [&public, &private].iter().any(|t| {
        t.as_ref()
            .is_some_and(|t| matches!(t.route, ReplyRoute::Queue(_)))
    });
    let mut overridden: Vec<String> = warnings.public.clone();
    overridden.extend(warnings.private.iter().cloned());
    let new = NewPrivateHandoff {
        case_id,
        channel,
        source_id: chosen.option.source_id,
        private_kind: if channel.sends_message() {
            chosen.kind
        } else {
            None
        },
        address,
        subject,
        public,
        private,
        follow_up,
        approval_reasons: reasons,
        overridden,
        actor: p.name.clone(),
    };
    let record = app
        .private_handoffs
        .create_private_handoff(&new, now)
        .await?;
    if queued {
        app.outbox_wake.notify_one();
    }
    if held {
        tell_supervisor(app, case, &record, &p.name, now).await?;
    }
    let _ = app.live.send(LiveEvent::CaseUpdated { case_id });
    Ok(Taken::Done(Box::new(view(app, record).await?)))
}

/// The supervisor of the case's team hears that a handoff waits for them.
async fn tell_supervisor(
    app: &App,
    case: &Case,
    h: &PrivateHandoffRecord,
    author: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(team) = case.team.as_deref() else {
        return Ok(());
    };
    let Some(sup) = app.workflow.team(team).await?.and_then(|t| t.supervisor) else {
        return Ok(());
    };
    let text = format!(
        "Taking case #{} private ({}) by {author} needs your approval of both texts",
        case.id, h.channel
    );
    app.workflow
        .notify(
            &sup,
            "approval",
            Some(case.id),
            &text,
            &json!({"handoff_id": h.id, "reply_ids": [h.public_reply_id, h.private_reply_id]}),
            now,
        )
        .await?;
    Ok(())
}

/// A stored handoff with its replies as they stand.
async fn view(app: &App, record: PrivateHandoffRecord) -> Result<PrivateHandoff> {
    let detail = case_detail(app, record.case_id).await?;
    Ok(PrivateHandoff::from_record(
        record,
        &detail.replies,
        app.clock.now(),
    ))
}

/// A case's handoffs, oldest first, with their replies' delivery.
pub async fn handoffs(app: &App, p: &Principal, case_id: CaseId) -> Result<Vec<PrivateHandoff>> {
    let detail = case_detail(app, case_id).await?;
    check_visible(app, p, &detail.case).await?;
    handoffs_of(app, &detail).await
}

/// [`handoffs`] for a case already loaded and checked.
pub async fn handoffs_of(app: &App, detail: &CaseDetail) -> Result<Vec<PrivateHandoff>> {
    let now = app.clock.now();
    Ok(app
        .private_handoffs
        .private_handoffs(detail.case.id)
        .await?
        .into_iter()
        .map(|r| PrivateHandoff::from_record(r, &detail.replies, now))
        .collect())
}

/// Marks a handoff's follow-up done: the call was made, the customer
/// wrote. 404 when the handoff is not this case's, 409 when it is already
/// done, 400 when it has no follow-up.
pub async fn follow_up_done(
    app: &App,
    p: &Principal,
    case_id: CaseId,
    id: PrivateHandoffId,
) -> Result<PrivateHandoff> {
    let detail = case_detail(app, case_id).await?;
    crate::access::authorize_case(
        app,
        p,
        &detail.case,
        earshot_workflow::Action::SendReply(Visibility::Private),
    )
    .await?;
    match app.private_handoffs.private_handoff(id).await? {
        Some(h) if h.case_id == case_id => {}
        _ => {
            return Err(Error::not_found(format!(
                "private handoff {id} of case {case_id}"
            )));
        }
    }
    let record = app
        .private_handoffs
        .complete_follow_up(id, crate::access::user_name(p), app.clock.now())
        .await?;
    let _ = app.live.send(LiveEvent::CaseUpdated { case_id });
    view(app, record).await
}

/// Where a held reply of a handoff goes once approved: the private message
/// to the channel the handoff chose. `None` for any other reply (it goes
/// where replies on its case go).
pub async fn route_of_held(app: &App, reply: &Reply) -> Result<Option<ReplyRoute>> {
    if reply.visibility != Visibility::Private {
        return Ok(None);
    }
    let Some(h) = app
        .private_handoffs
        .private_handoff_of_reply(reply.id)
        .await?
    else {
        return Ok(None);
    };
    if h.private_reply_id != Some(reply.id) {
        return Ok(None);
    }
    let detail = case_detail(app, h.case_id).await?;
    Ok(Some(match h.channel {
        PrivateChannelKind::Email => match h.source_id.and_then(|id| app.channels.get(id)) {
            None => ReplyRoute::Manual,
            Some(channel) => {
                let recipient = h.address.clone().unwrap_or_default();
                ReplyRoute::Queue(OutboxTarget {
                    source_id: channel.source_id,
                    idempotency_key: channel.connector.new_idempotency_key(),
                    address: Some(OutboxAddress {
                        reply_ref: channel.connector.open_private(
                            &Value::Null,
                            &recipient,
                            h.subject.as_deref().unwrap_or_default(),
                        ),
                        recipient,
                    }),
                })
            }
        },
        _ => platform_route(app, &detail).0,
    }))
}

/// Tells each follow-up's assignee once it falls due undone. Returns how
/// many were told.
pub async fn check_due_follow_ups(app: &App, now: DateTime<Utc>) -> Result<usize> {
    let due = app.private_handoffs.due_follow_ups(now, DUE_BATCH).await?;
    let mut told = 0;
    for h in due {
        let Some(f) = &h.follow_up else { continue };
        // Another node may have told them already.
        if !app
            .private_handoffs
            .mark_follow_up_notified(h.id, now)
            .await?
        {
            continue;
        }
        let what = match h.channel {
            PrivateChannelKind::Phone => "call the customer",
            _ => "check that the customer sent a direct message",
        };
        let text = format!(
            "Follow-up on case #{} is due: {what}. {}",
            h.case_id, f.note
        );
        app.workflow
            .notify(
                &f.assignee,
                "follow_up_due",
                Some(h.case_id),
                &text,
                &json!({"handoff_id": h.id, "due_at": f.due_at, "channel": h.channel}),
                now,
            )
            .await?;
        let _ = app.live.send(LiveEvent::CaseUpdated { case_id: h.case_id });
        told += 1;
    }
    Ok(told)
}

/// Runs [`check_due_follow_ups`] every `every` on the app's clock.
pub fn spawn_follow_up_ticker(app: App, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(e) = check_due_follow_ups(&app, app.clock.now()).await {
                tracing::warn!(error = %e.message, "follow-up check failed");
            }
        }
    })
}
