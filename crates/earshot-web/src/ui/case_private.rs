//! The case page's "Take it private" block (templates/case_private.html):
//! the form with both texts visible and editable (the acknowledgement
//! prefilled with a suggestion naming the customer and their issue, never
//! posted unseen), the channel options with their availability and reason,
//! and each handoff shown as one block linking both messages. Works
//! without JavaScript.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use earshot_app::handoff::{TakePrivate, Taken, TextWarnings};
use earshot_core::ids::{CaseId, PrivateHandoffId, ReplyId};
use earshot_core::private_handoff::{ChannelOption, PrivateChannelKind, PrivateHandoff};
use earshot_core::reply::Reply;
use earshot_core::store::CaseDetail;
use serde::Deserialize;

use crate::state::AppState;
use crate::ui::UiError;
use crate::ui::case::{Composer, delivery_line, render_with};
use crate::ui::session::CurrentUser;

/// What the take-private form shows: the texts as the agent left them (or
/// the suggestion), the warnings, the refusal.
#[derive(Debug, Clone, Default)]
pub struct TakeForm {
    pub channel: String,
    pub public_text: String,
    pub private_text: String,
    pub address: String,
    pub follow_up_note: String,
    pub due_at: String,
    pub public_reasons: Vec<String>,
    pub private_reasons: Vec<String>,
    pub error: String,
    /// Set once the form came back: the page shows what was typed.
    pub submitted: bool,
}

pub struct ChannelRow {
    pub value: &'static str,
    pub label: String,
    pub available: bool,
    pub checked: bool,
    pub reason: String,
    pub note: String,
}

pub struct MessageRow {
    pub id: i64,
    pub kind: &'static str,
    pub status: &'static str,
    pub delivery: String,
    pub link: String,
}

pub struct HandoffRow {
    pub id: i64,
    pub channel: &'static str,
    pub status: String,
    pub messages: Vec<MessageRow>,
    pub address: String,
    pub follow_up: String,
    pub follow_up_open: bool,
}

/// The whole block, as the template reads it.
pub struct PrivateBlock {
    pub shown: bool,
    pub channels: Vec<ChannelRow>,
    pub handoffs: Vec<HandoffRow>,
    pub form: TakeForm,
    pub warned: bool,
}

fn message(kind: &'static str, r: &Reply) -> MessageRow {
    MessageRow {
        id: r.id.0,
        kind,
        status: r.status.as_str(),
        delivery: r.delivery.as_ref().map(delivery_line).unwrap_or_default(),
        link: r
            .channel_url
            .clone()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .unwrap_or_default(),
    }
}

fn row(h: &PrivateHandoff) -> HandoffRow {
    let mut messages = Vec::new();
    if let Some(r) = &h.public_reply {
        messages.push(message("public acknowledgement", r));
    }
    if let Some(r) = &h.private_reply {
        messages.push(message("private message", r));
    }
    let status = serde_json::to_value(h.status)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_default();
    HandoffRow {
        id: h.id.0,
        channel: h.channel.label(),
        status,
        messages,
        address: h.address.clone().unwrap_or_default(),
        follow_up: h
            .follow_up
            .as_ref()
            .map(|f| {
                let due = f.due_at.format("%Y-%m-%d %H:%M UTC");
                match (&f.done_at, &f.done_by) {
                    (Some(at), Some(by)) => format!(
                        "{} \u{b7} due {due} \u{b7} done by {by} at {}",
                        f.note,
                        at.format("%Y-%m-%d %H:%M UTC")
                    ),
                    _ => format!("{} \u{b7} due {due} \u{b7} {}", f.note, f.assignee),
                }
            })
            .unwrap_or_default(),
        follow_up_open: h.follow_up.as_ref().is_some_and(|f| f.done_at.is_none()),
    }
}

/// Builds the block for the case page.
pub async fn block(
    state: &AppState,
    me: &CurrentUser,
    detail: &CaseDetail,
    form: Option<TakeForm>,
) -> Result<PrivateBlock, UiError> {
    let app = &state.app;
    let options: Vec<ChannelOption> =
        earshot_app::handoff::private_channels(app, &me.principal(), detail.case.id).await?;
    let handoffs = earshot_app::handoff::handoffs_of(app, detail).await?;
    let mut form = form.unwrap_or_default();
    let first = options.iter().find(|o| o.available).map(|o| o.channel);
    if !form.submitted {
        let channel = first.unwrap_or(PrivateChannelKind::Phone);
        form.channel = channel.as_str().to_string();
        if detail.case.source.capabilities().public_reply {
            form.public_text = earshot_app::handoff::suggestion(detail, channel);
        }
        form.address = options
            .iter()
            .find(|o| o.channel == PrivateChannelKind::Email)
            .and_then(|o| o.address.clone())
            .unwrap_or_default();
    }
    let warned = !form.public_reasons.is_empty() || !form.private_reasons.is_empty();
    let channels = options
        .iter()
        .map(|o| ChannelRow {
            value: o.channel.as_str(),
            label: o.label.clone(),
            available: o.available,
            checked: o.available && form.channel == o.channel.as_str(),
            reason: o.reason.clone().unwrap_or_default(),
            note: o.note.clone().unwrap_or_default(),
        })
        .collect();
    Ok(PrivateBlock {
        shown: true,
        channels,
        handoffs: handoffs.iter().map(row).collect(),
        form,
        warned,
    })
}

#[derive(Deserialize)]
pub struct PrivateForm {
    csrf_token: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    public_text: String,
    /// `body` is what the form sent before it had two texts.
    #[serde(default, alias = "body")]
    private_text: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    follow_up_note: String,
    /// `YYYY-MM-DDTHH:MM` (a `datetime-local` field), in UTC.
    #[serde(default)]
    due_at: String,
    #[serde(default)]
    r#override: String,
    #[serde(default)]
    last_public_reply_seen: String,
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

/// A `datetime-local` value (or RFC 3339), read as UTC.
fn due(raw: &str) -> Result<Option<DateTime<Utc>>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    for f in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(raw, f) {
            return Ok(Some(t.and_utc()));
        }
    }
    Err(format!(
        "due_at: {raw:?} is not a date and time (YYYY-MM-DD HH:MM, UTC)"
    ))
}

/// "Take it private": both texts, the channel, and what it needs. A
/// refusal (a bad field, a closed gate, a generic text, a collision)
/// comes back on the page with the texts kept and nothing stored.
pub async fn take_private(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<PrivateForm>,
) -> Result<Response, UiError> {
    let id = CaseId(id);
    me.check_csrf(&f.csrf_token)?;
    me.can_write()?;
    let mut form = TakeForm {
        channel: f.channel.clone(),
        public_text: f.public_text.trim().to_string(),
        private_text: f.private_text.trim().to_string(),
        address: f.address.trim().to_string(),
        follow_up_note: f.follow_up_note.trim().to_string(),
        due_at: f.due_at.trim().to_string(),
        submitted: true,
        ..TakeForm::default()
    };
    let back = |form: TakeForm, status: StatusCode, conflict: bool| {
        let state = state.clone();
        let me_ref = &me;
        async move {
            render_with(
                &state,
                me_ref,
                id,
                Composer {
                    conflict,
                    ..Composer::empty()
                },
                Some(form),
                status,
            )
            .await
        }
    };
    let channel = match PrivateChannelKind::parse(f.channel.trim()) {
        Some(c) => c,
        None => {
            form.error = "Choose where to take the conversation.".into();
            return back(form, StatusCode::UNPROCESSABLE_ENTITY, false).await;
        }
    };
    let due_at = match due(&f.due_at) {
        Ok(d) => d,
        Err(e) => {
            form.error = e;
            return back(form, StatusCode::UNPROCESSABLE_ENTITY, false).await;
        }
    };
    let last_seen = match f.last_public_reply_seen.trim() {
        "" => None,
        v => Some(ReplyId(v.parse().map_err(|_| {
            UiError::BadRequest("last_public_reply_seen must be a reply id".into())
        })?)),
    };
    let sends = channel.sends_message();
    let req = TakePrivate {
        channel: Some(channel),
        public_text: opt(&f.public_text),
        private_text: if sends { opt(&f.private_text) } else { None },
        address: if channel == PrivateChannelKind::Email {
            Some(f.address.clone())
        } else {
            None
        },
        follow_up_note: if sends { None } else { opt(&f.follow_up_note) },
        due_at: if sends { None } else { due_at },
        override_personalisation: f.r#override == "1",
        last_public_reply_seen: last_seen,
        ..TakePrivate::default()
    };
    match earshot_app::handoff::take_private(&state.app, &me.principal(), id, &req).await {
        Ok(Taken::Done(h)) => {
            let ids: Vec<String> = h
                .public_reply
                .iter()
                .chain(h.private_reply.iter())
                .map(|r| r.id.to_string())
                .collect();
            Ok(Redirect::to(&format!(
                "/cases/{id}?replied={}#handoff-{}",
                ids.join(","),
                h.id
            ))
            .into_response())
        }
        Ok(Taken::Generic(TextWarnings { public, private })) => {
            form.public_reasons = public;
            form.private_reasons = private;
            back(form, StatusCode::UNPROCESSABLE_ENTITY, false).await
        }
        Err(e) if e.code == earshot_core::ErrorCode::Conflict => {
            form.error = "Another agent replied publicly while you were writing. Read their \
                 reply; your texts are kept for you to send again."
                .into();
            back(form, StatusCode::CONFLICT, true).await
        }
        Err(e) if e.code.http_status() == 400 || e.code.http_status() == 422 => {
            form.error = e.message;
            back(form, StatusCode::UNPROCESSABLE_ENTITY, false).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct DoneForm {
    csrf_token: String,
}

/// Marks a phone or "DM us" follow-up done.
pub async fn follow_up_done(
    State(state): State<AppState>,
    me: CurrentUser,
    Path((id, handoff_id)): Path<(i64, i64)>,
    Form(f): Form<DoneForm>,
) -> Result<Response, UiError> {
    me.check_csrf(&f.csrf_token)?;
    me.can_write()?;
    let id = CaseId(id);
    earshot_app::handoff::follow_up_done(
        &state.app,
        &me.principal(),
        id,
        PrivateHandoffId(handoff_id),
    )
    .await?;
    Ok(Redirect::to(&format!("/cases/{id}#handoff-{handoff_id}")).into_response())
}
