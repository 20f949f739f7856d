//! The agent desk: server-rendered pages (askama), embedded assets, login.
//! Every page needs a session and every POST carries the session's CSRF
//! token, except the customer's CSAT page (`/csat/{token}`, see [`csat`]).

pub mod advocates;
pub mod assets;
pub mod case;
pub mod case_private;
pub mod case_recovery;
pub mod csat;
pub mod dashboard;
pub mod inbox;
pub mod session;
pub mod sources;
pub mod sources_form;
pub mod view;

use std::time::Instant;

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use earshot_core::error::Error;
use serde::Deserialize;

use crate::state::AppState;
use session::{CurrentUser, LOGIN_CSRF_COOKIE, SESSION_COOKIE, SESSION_HOURS};

pub use earshot_app::personalisation::REPLY_TEMPLATES;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/inbox") }))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/inbox", get(inbox::page))
        .route("/inbox/assign", post(inbox::assign_to_me))
        .route("/inbox/resolve", post(inbox::resolve))
        .route("/cases/{id}", get(case::page))
        .route("/cases/{id}/assign", post(case::assign))
        .route("/cases/{id}/status", post(case::status))
        .route("/cases/{id}/notes", post(case::note))
        .route("/cases/{id}/reply", post(case::reply))
        .route("/cases/{id}/private", post(case_private::take_private))
        .route(
            "/cases/{id}/follow-ups/{handoff_id}/done",
            post(case_private::follow_up_done),
        )
        .route("/cases/{id}/replies/{reply_id}/posted", post(case::posted))
        .route("/cases/{id}/correct", post(case::correct))
        .route("/cases/{id}/csat", post(csat::ask))
        // Public: the customer's CSAT page (the signed link is the
        // capability; no session).
        .route("/csat/{token}", get(csat::page).post(csat::answer))
        .route(
            "/cases/{id}/presence",
            get(case::presence).post(case::touch_presence),
        )
        .route("/advocates", get(advocates::page))
        .route("/advocates/export.csv", get(advocates::export))
        .route("/advocates/thanks/{id}/send", post(advocates::send))
        .route("/advocates/thanks/{id}/skip", post(advocates::skip))
        .route("/advocates/{source}/{handle}", get(advocates::profile))
        .route("/dashboard", get(dashboard::page))
        .route("/settings", get(dashboard::settings))
        .route("/settings/users", post(dashboard::add_user))
        .route("/settings/sources", get(sources::page).post(sources::add))
        .route("/settings/sources/{id}/pause", post(sources::pause))
        .route("/settings/sources/{id}/resume", post(sources::resume))
        .route("/assets/{*path}", get(assets::serve))
}

/// The live stream (server-sent events): open for as long as the desk is,
/// so it is served outside the request timeouts.
pub fn live_routes() -> Router<AppState> {
    Router::new().route("/inbox/stream", get(inbox::stream))
}

/// An error shown as a page.
#[derive(Debug)]
pub enum UiError {
    NotFound(String),
    Forbidden(String),
    BadRequest(String),
    Unavailable(String),
    Internal(String),
}

impl From<Error> for UiError {
    fn from(e: Error) -> Self {
        // By status, so codes split out of a broad one land on the same page.
        match e.code.http_status() {
            404 => UiError::NotFound(e.message),
            401 | 403 => UiError::Forbidden(e.message),
            500.. => {
                tracing::error!(message = %e.message, "desk error");
                UiError::Internal("internal error; the details are in the server log".into())
            }
            _ => UiError::BadRequest(e.message),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: String,
    message: String,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            UiError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m),
            UiError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m),
            UiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Cannot do that", m),
            UiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, "Unavailable", m),
            UiError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, "Something broke", m),
        };
        let page = ErrorPage {
            title: title.into(),
            message,
        };
        (status, html(page.render())).into_response()
    }
}

/// Renders a template with the desk's security headers.
pub fn html(rendered: askama::Result<String>) -> Response {
    match rendered {
        Ok(body) => {
            let mut r = Html(body).into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                     form-action 'self'; base-uri 'none'",
                ),
            );
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

/// What every logged-in page shows in its header.
pub struct Chrome {
    pub user: String,
    pub role: String,
    pub csrf: String,
    pub asset_v: &'static str,
    pub active: &'static str,
}

impl Chrome {
    pub fn new(me: &CurrentUser, active: &'static str) -> Chrome {
        Chrome {
            user: me.user.display_name.clone(),
            role: me.user.role.as_str().to_string(),
            csrf: me.csrf_token.clone(),
            asset_v: assets::version(),
            active,
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    next: String,
    error: String,
    username: String,
    asset_v: &'static str,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn login_form(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    next: String,
    error: String,
    username: String,
) -> Response {
    // Double-submit: the pre-session cookie and the hidden field must match.
    let token = session::random_token();
    let page = LoginPage {
        csrf: token.clone(),
        next,
        error,
        username,
        asset_v: assets::version(),
    };
    let mut r = (status, html(page.render())).into_response();
    if let Ok(v) = HeaderValue::from_str(&session::set_cookie(
        LOGIN_CSRF_COOKIE,
        &token,
        3600,
        session::wants_secure(state, headers),
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    login_form(
        &state,
        &headers,
        StatusCode::OK,
        session::safe_next(q.next.as_deref()),
        String::new(),
        String::new(),
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    csrf_token: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    session::ClientIp(ip): session::ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, UiError> {
    let next = session::safe_next(form.next.as_deref());
    let username = form.username.trim().to_lowercase();
    let fail = |status: StatusCode, why: String| {
        Ok(login_form(
            &state,
            &headers,
            status,
            next.clone(),
            why,
            username.clone(),
        ))
    };
    let expected = session::cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !session::same(&expected, &form.csrf_token) {
        return fail(
            StatusCode::FORBIDDEN,
            "The login form expired (CSRF check failed). Please try again.".into(),
        );
    }
    let now = Instant::now();
    if let Some(wait) = state.login_limiter.blocked(&username, ip, now) {
        let minutes = wait.as_secs().div_ceil(60).max(1);
        return fail(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed logins for {username:?} from your address. \
                 Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            ),
        );
    }
    let desk = session::desk(&state)?;
    let creds = desk.credentials(&username).await?;
    let ok = match &creds {
        Some(c) => session::verify_password(&form.password, &c.password_hash),
        None => {
            // Spend the same time as a real check so names cannot be probed.
            let _ = session::verify_password(&form.password, &DUMMY_HASH);
            false
        }
    };
    let Some(creds) = creds.filter(|_| ok) else {
        state.login_limiter.failed(&username, ip, now);
        return fail(
            StatusCode::UNAUTHORIZED,
            "Wrong user name or password.".into(),
        );
    };
    state.login_limiter.succeeded(&username, ip);
    let id = session::random_token();
    let clock_now = state.app.clock.now();
    desk.create_session(
        &session::hash_session_id(&id),
        &creds.user.name,
        &session::random_token(),
        clock_now,
        clock_now + chrono::Duration::hours(SESSION_HOURS),
    )
    .await?;
    let secure = session::wants_secure(&state, &headers);
    let mut r = Redirect::to(&next).into_response();
    for c in [
        session::set_cookie(SESSION_COOKIE, &id, SESSION_HOURS * 3600, secure),
        session::set_cookie(LOGIN_CSRF_COOKIE, "", 0, secure),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(r)
}

/// A real argon2id hash of a random string, so unknown names cost a full check.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    session::hash_password(&session::random_token()).unwrap_or_default()
});

#[derive(Deserialize)]
pub struct CsrfForm {
    pub csrf_token: String,
}

async fn logout(
    State(state): State<AppState>,
    me: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, UiError> {
    me.check_csrf(&form.csrf_token)?;
    session::desk(&state)?
        .delete_session(&me.session_hash)
        .await?;
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&session::set_cookie(
        SESSION_COOKIE,
        "",
        0,
        session::wants_secure(&state, &headers),
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}
