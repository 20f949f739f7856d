//! The desk's Sources page: every configured source with its health, the
//! admin's Pause/Resume buttons, and an "Add a source" form per kind.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use earshot_core::auth::Role;
use earshot_core::ids::SourceId;
use earshot_core::source::SourceKind;
use earshot_core::sources::SourceState;

use crate::state::AppState;
use crate::ui::session::CurrentUser;
use crate::ui::sources_form::{self, Input, KINDS};
use crate::ui::{Chrome, CsrfForm, UiError, html, view};
use axum::extract::Path;

pub struct Row {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    pub icon: &'static str,
    pub state: &'static str,
    pub state_label: &'static str,
    pub paused: bool,
    /// In the platform's words.
    pub last_error: String,
    pub last_success: String,
    pub last_success_ago: String,
    pub mentions: u64,
    pub skipped: u64,
    /// Where a webhook source's sender pushes to.
    pub inbound_url: String,
}

pub struct FieldView {
    pub key: &'static str,
    pub label: &'static str,
    pub input: &'static str,
    pub required: bool,
    pub hint: &'static str,
    pub value: String,
    pub options: Vec<&'static str>,
}

pub struct FormView {
    pub kind: &'static str,
    pub icon: &'static str,
    pub title: &'static str,
    /// The form the error belongs to stays open.
    pub open: bool,
    pub name: String,
    pub fields: Vec<FieldView>,
}

#[derive(Template)]
#[template(path = "sources.html")]
struct SourcesPage {
    chrome: Chrome,
    rows: Vec<Row>,
    forms: Vec<FormView>,
    is_admin: bool,
    message: String,
}

fn state_label(state: SourceState) -> &'static str {
    match state {
        SourceState::Starting => "starting",
        SourceState::Running => "running",
        SourceState::BackingOff => "retrying",
        SourceState::Error => "error",
        SourceState::Paused => "paused",
        SourceState::AuthPaused => "auth paused",
    }
}

/// The forms, refilled from `submitted` for the kind that failed (never a
/// credential: those are typed again).
fn forms(failed: Option<(SourceKind, &HashMap<String, String>)>) -> Vec<FormView> {
    KINDS
        .iter()
        .map(|(kind, title, fields)| {
            let refill = failed.filter(|(k, _)| k == kind).map(|(_, f)| f);
            let value = |key: &str, default: &str| match refill {
                Some(f) => f.get(key).cloned().unwrap_or_default(),
                None => default.to_string(),
            };
            FormView {
                kind: kind.as_str(),
                icon: view::source_icon(*kind),
                title,
                open: refill.is_some(),
                name: value("name", ""),
                fields: fields
                    .iter()
                    .map(|f| FieldView {
                        key: f.key,
                        label: f.label,
                        input: match f.input {
                            Input::Url => "url",
                            Input::Secret => "password",
                            Input::Number => "number",
                            Input::Select(_) => "select",
                            Input::Text | Input::List => "text",
                        },
                        required: f.required,
                        hint: f.hint,
                        value: match f.input {
                            Input::Secret => String::new(),
                            _ => value(f.key, f.default),
                        },
                        options: match f.input {
                            Input::Select(options) => options.to_vec(),
                            _ => Vec::new(),
                        },
                    })
                    .collect(),
            }
        })
        .collect()
}

async fn render(
    state: &AppState,
    me: &CurrentUser,
    message: String,
    failed: Option<(SourceKind, &HashMap<String, String>)>,
    status: StatusCode,
) -> Result<Response, UiError> {
    let now = state.app.clock.now();
    let sources = earshot_app::sources::list(&state.app, &me.principal()).await?;
    let rows = sources
        .into_iter()
        .map(|s| Row {
            id: s.id.0,
            name: s.name,
            kind: s.kind.as_str(),
            icon: view::source_icon(s.kind),
            state: s.health.state.as_str(),
            state_label: state_label(s.health.state),
            paused: s.paused,
            last_error: s.health.last_error.unwrap_or_default(),
            last_success: s
                .health
                .last_success_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            last_success_ago: s
                .health
                .last_success_at
                .map(|t| view::ago(t, now))
                .unwrap_or_default(),
            mentions: s.health.mentions_ingested,
            skipped: s.health.records_skipped,
            inbound_url: if s.kind == SourceKind::Webhook {
                format!("/api/v1/sources/{}/inbound", s.id.0)
            } else {
                String::new()
            },
        })
        .collect();
    let page = SourcesPage {
        chrome: Chrome::new(me, "settings"),
        rows,
        forms: forms(failed),
        is_admin: me.user.role == Role::Admin,
        message,
    };
    Ok((status, html(page.render())).into_response())
}

/// Admins and supervisors; the app layer refuses everyone else.
pub async fn page(State(state): State<AppState>, me: CurrentUser) -> Result<Response, UiError> {
    render(&state, &me, String::new(), None, StatusCode::OK).await
}

pub async fn add(
    State(state): State<AppState>,
    me: CurrentUser,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, UiError> {
    me.check_csrf(form.get("csrf_token").map(String::as_str).unwrap_or(""))?;
    let kind_text = form.get("kind").cloned().unwrap_or_default();
    let Some(kind) = SourceKind::parse(&kind_text) else {
        return Err(UiError::BadRequest(format!(
            "kind: unknown source kind {kind_text:?}"
        )));
    };
    let name = form.get("name").cloned().unwrap_or_default();
    let created = match sources_form::config_from_form(kind, &form) {
        Ok(config) => {
            earshot_app::sources::create(&state.app, &me.principal(), kind, &name, config).await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok(_) => Ok(Redirect::to("/settings/sources#listed").into_response()),
        Err(e) if e.code.http_status() < 500 && !matches!(e.code.http_status(), 401 | 403) => {
            render(
                &state,
                &me,
                e.message,
                Some((kind, &form)),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

async fn set_paused(
    state: &AppState,
    me: &CurrentUser,
    id: i64,
    csrf: &str,
    paused: bool,
) -> Result<Response, UiError> {
    me.check_csrf(csrf)?;
    let change = earshot_app::sources::SourceUpdate {
        paused: Some(paused),
        ..Default::default()
    };
    earshot_app::sources::update(&state.app, &me.principal(), SourceId(id), change).await?;
    Ok(Redirect::to(&format!("/settings/sources#source-{id}")).into_response())
}

pub async fn pause(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, UiError> {
    set_paused(&state, &me, id, &f.csrf_token, true).await
}

pub async fn resume(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, UiError> {
    set_paused(&state, &me, id, &f.csrf_token, false).await
}
