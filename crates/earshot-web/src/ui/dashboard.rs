//! The dashboard (charts drawn by the vendored Chart.js; clicking opens the
//! cases behind a bar) and the settings page.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use earshot_core::accounts::NewUser;
use earshot_core::auth::Role;
use earshot_core::source::SourceKind;
use serde::{Deserialize, Serialize};

use crate::state::AppState;
use crate::ui::session::{self, CurrentUser};
use crate::ui::{Chrome, REPLY_TEMPLATES, UiError, html, view};

pub const DASHBOARD_DAYS: i64 = 14;

#[derive(Serialize)]
struct ChartData {
    days: Vec<String>,
    negative: Vec<i64>,
    neutral: Vec<i64>,
    positive: Vec<i64>,
    priority_bands: [i64; 4],
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    data_json: String,
    total_mentions: i64,
    open_cases: i64,
    first_response_median: String,
    first_response_p90: String,
    resolution_median: String,
    sla_pct: String,
    sla_detail: String,
    days: i64,
    csat: Option<CsatTile>,
    recovery: Option<RecoveryTile>,
}

/// All-time CSAT: each figure links to exactly the cases it counts (the
/// inbox's `csat=` filter has no date bound, so neither has the tile).
struct CsatTile {
    mean: String,
    answered: i64,
    /// Asked and not answered yet (with or without a channel).
    unanswered: i64,
    /// The share of answers rated 4 or 5.
    satisfied: String,
}

/// All-time recovery over the stored assessments, each count linking to
/// the cases behind it (`recovery=`).
struct RecoveryTile {
    rate: String,
    recovered: u64,
    lost: u64,
    unknown: u64,
    watching: u64,
    window_days: u32,
}

/// The CSAT and recovery tiles for `me`; `None` for a tile the viewer may
/// not see (reports need `ViewReports`).
async fn loop_tiles(
    state: &AppState,
    me: &CurrentUser,
) -> Result<(Option<CsatTile>, Option<RecoveryTile>), UiError> {
    use earshot_core::recovery::RecoveryGroupBy;
    let p = me.principal();
    let app = &state.app;
    let allowed = |e: &earshot_core::Error| e.code == earshot_core::ErrorCode::Forbidden;
    let csat = match earshot_app::csat::total(app, &p, None, None).await {
        Ok(t) => {
            let of_answers =
                |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or_else(|| "—".to_string(), f);
            Some(CsatTile {
                mean: of_answers(t.mean_score, &|m| format!("★{m:.1}")),
                satisfied: of_answers(t.satisfied_share, &|s| format!("{:.0}%", 100.0 * s)),
                answered: t.answered,
                // Unanswered, as `csat=unanswered` lists them: asked,
                // whether or not a channel carried the message.
                unanswered: t.requests + t.no_channel - t.answered,
            })
        }
        Err(e) if allowed(&e) => None,
        Err(e) => return Err(e.into()),
    };
    let recovery =
        match earshot_app::recovery::summary(app, &p, RecoveryGroupBy::Month, None, None).await {
            Ok(s) => Some(RecoveryTile {
                rate: s
                    .total
                    .recovery_rate
                    .map_or_else(|| "—".into(), |r| format!("{:.0}%", 100.0 * r)),
                recovered: s.total.recovered,
                lost: s.total.lost,
                unknown: s.total.unknown,
                watching: s.total.watching,
                window_days: s.window_days,
            }),
            Err(e) if allowed(&e) => None,
            Err(e) => return Err(e.into()),
        };
    Ok((csat, recovery))
}

fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let idx = ((v.len() - 1) as f64 * p).round() as usize;
    v.get(idx).copied()
}

fn minutes(v: Option<f64>) -> String {
    v.map(|m| view::duration(m.round() as i64))
        .unwrap_or_else(|| "—".into())
}

pub async fn page(State(state): State<AppState>, me: CurrentUser) -> Result<Response, UiError> {
    let desk = session::desk(&state)?;
    let now = state.app.clock.now();
    let since = now - chrono::Duration::days(DASHBOARD_DAYS);
    let stats = desk.dashboard(since).await?;
    // The same verdicts the ticker escalates on, for targets started in the window.
    let sla = earshot_app::sla::report(&state.app, Some(since)).await?;
    let data = ChartData {
        days: stats.volume.iter().map(|v| v.day.clone()).collect(),
        negative: stats.volume.iter().map(|v| v.negative).collect(),
        neutral: stats.volume.iter().map(|v| v.neutral).collect(),
        positive: stats.volume.iter().map(|v| v.positive).collect(),
        priority_bands: stats.open_by_priority,
    };
    // Inside <script type="application/json">: keep `</script>` out.
    let data_json = serde_json::to_string(&data)
        .map_err(|e| UiError::Internal(e.to_string()))?
        .replace('<', "\\u003c");
    let (csat, recovery) = loop_tiles(&state, &me).await?;
    let page = DashboardPage {
        chrome: Chrome::new(&me, "dashboard"),
        csat,
        recovery,
        data_json,
        total_mentions: stats
            .volume
            .iter()
            .map(|v| v.negative + v.neutral + v.positive)
            .sum(),
        open_cases: stats.open_by_priority.iter().sum(),
        first_response_median: minutes(percentile(&stats.first_response_minutes, 0.5)),
        first_response_p90: minutes(percentile(&stats.first_response_minutes, 0.9)),
        resolution_median: minutes(percentile(&stats.resolution_minutes, 0.5)),
        sla_pct: sla
            .percent_met
            .map_or_else(|| "—".into(), |p| format!("{p:.0}%")),
        sla_detail: format!(
            "{} of {} targets met, {} running",
            sla.hit,
            sla.hit + sla.missed,
            sla.in_progress
        ),
        days: DASHBOARD_DAYS,
    };
    Ok(html(page.render()))
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    users: Vec<(String, String, &'static str, bool, String)>,
    teams: Vec<(String, String)>,
    templates: Vec<(String, String)>,
    sources: Vec<(&'static str, &'static str, bool, bool, String)>,
    roles: Vec<&'static str>,
    is_admin: bool,
    message: String,
    /// (name, targets) of each SLA policy, in selection order.
    policies: Vec<(String, String)>,
    /// The current routing rule set: version and (position, name, enabled).
    rules_version: Option<i64>,
    rules: Vec<(i64, String, bool)>,
}

async fn render_settings(
    state: &AppState,
    me: &CurrentUser,
    message: String,
    status: StatusCode,
) -> Result<Response, UiError> {
    let users = session::desk(state)?.users().await?;
    let mut teams: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for u in &users {
        for t in &u.teams {
            teams.entry(t.clone()).or_default().push(u.name.clone());
        }
    }
    let policies = state
        .app
        .workflow
        .sla_policies()
        .await?
        .iter()
        .map(|p| {
            let t = &p.targets;
            let targets = [
                ("first response", t.first_response_minutes),
                ("next response", t.next_response_minutes),
                ("resolution", t.resolution_minutes),
            ]
            .iter()
            .filter_map(|(name, m)| m.map(|m| format!("{name} {m} min")))
            .collect::<Vec<_>>()
            .join(", ");
            (p.name.clone(), targets)
        })
        .collect();
    let rule_set = state.app.workflow.current_rule_set().await?;
    let rules = rule_set
        .as_ref()
        .and_then(|r| r.rules.as_array())
        .map(|rules| {
            rules
                .iter()
                .map(|r| {
                    (
                        r["position"].as_i64().unwrap_or_default(),
                        r["name"].as_str().unwrap_or("unnamed").to_string(),
                        r["enabled"].as_bool().unwrap_or(true),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let page = SettingsPage {
        policies,
        rules_version: rule_set.as_ref().map(|r| r.version),
        rules,
        chrome: Chrome::new(me, "settings"),
        users: users
            .iter()
            .map(|u| {
                (
                    u.name.clone(),
                    u.display_name.clone(),
                    u.role.as_str(),
                    u.in_training,
                    u.teams.join(", "),
                )
            })
            .collect(),
        teams: teams
            .into_iter()
            .map(|(t, members)| (t, members.join(", ")))
            .collect(),
        templates: REPLY_TEMPLATES
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect(),
        sources: SourceKind::ALL
            .iter()
            .map(|s| {
                let c = s.capabilities();
                (
                    s.as_str(),
                    view::source_icon(*s),
                    c.public_reply,
                    c.private_reply,
                    c.reply_max_chars
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| "no limit".into()),
                )
            })
            .collect(),
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        is_admin: me.user.role == Role::Admin,
        message,
    };
    Ok((status, html(page.render())).into_response())
}

pub async fn settings(State(state): State<AppState>, me: CurrentUser) -> Result<Response, UiError> {
    // The settings list every user: staff only, as /api/v1/users is.
    earshot_app::access::read_scope(&state.app, &me.principal())
        .await?
        .staff_only()?;
    render_settings(&state, &me, String::new(), StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct UserForm {
    csrf_token: String,
    name: String,
    #[serde(default)]
    display_name: String,
    role: String,
    password: String,
    #[serde(default)]
    teams: String,
    #[serde(default)]
    in_training: Option<String>,
}

pub async fn add_user(
    State(state): State<AppState>,
    me: CurrentUser,
    Form(f): Form<UserForm>,
) -> Result<Response, UiError> {
    me.check_csrf(&f.csrf_token)?;
    if me.user.role != Role::Admin {
        return Err(UiError::Forbidden("only admins add users".into()));
    }
    let fail = |m: String| render_settings(&state, &me, m, StatusCode::UNPROCESSABLE_ENTITY);
    let Some(role) = Role::parse(&f.role) else {
        return fail(format!("Unknown role {:?}.", f.role)).await;
    };
    if f.password.chars().count() < 10 {
        return fail("Passwords need at least 10 characters.".into()).await;
    }
    let hash = session::hash_password(&f.password)?;
    let new = NewUser {
        name: f.name,
        display_name: f.display_name,
        role,
        in_training: f.in_training.is_some(),
        teams: f.teams.split(',').map(str::to_string).collect(),
    };
    match session::desk(&state)?
        .create_user(&new, &hash, state.app.clock.now())
        .await
    {
        Ok(_) => Ok(Redirect::to("/settings#users").into_response()),
        Err(e) if e.code != earshot_core::ErrorCode::Internal => fail(e.message).await,
        Err(e) => Err(e.into()),
    }
}
