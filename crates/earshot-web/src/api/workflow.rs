//! `/api/v1` for the case workflow: teams, users' workflow profiles, routing
//! rules (versioned, with a dry run), SLA policies and case SLA state, reply
//! approvals, presence, handoffs, notifications, webhooks and the audit log.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use earshot_core::error::{Error, ErrorCode};
use earshot_core::mention::reject_nul;
use earshot_core::reply::Reply;
use earshot_core::store::MentionQuery;
use earshot_core::workflow_store::{
    ApprovalRecord, AuditQuery, AuditRecord, Handoff, HandoffKind, Notification, RuleSetVersion,
    TeamRecord, UserProfile, Webhook, WebhookDelivery,
};
use earshot_workflow::{
    Action, Activity, AssignmentStrategy, AuthorList, BusinessCalendar, DryRunItem, DryRunReport,
    Presence, Rule, RuleContext, RuleSet, SlaEvaluation, SlaPolicy, SlaReport, can, dry_run,
    sla_report,
};
use serde::{Deserialize, Serialize};

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody, Path, parse_json};
use crate::state::AppState;
use earshot_app::access::denied;

type ApiResult<T> = Result<T, ApiError>;

fn body<T: serde::de::DeserializeOwned>(raw: Result<Bytes, BytesRejection>) -> ApiResult<T> {
    parse_json(&raw?)
}

fn name_ok(field: &str, v: &str) -> ApiResult<String> {
    let v = v.trim();
    if v.is_empty() || v.len() > 64 || v.chars().any(char::is_control) {
        return Err(ApiError(Error::invalid_field(
            field,
            "must be 1-64 printable characters",
        )));
    }
    Ok(v.to_string())
}

// ---------------------------------------------------------------- teams

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamInput {
    pub name: String,
    /// Opening hours, time zone and holidays; leave out for calendar hours.
    #[serde(default)]
    pub calendar: Option<BusinessCalendar>,
    #[serde(default = "round_robin")]
    pub strategy: AssignmentStrategy,
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub supervisor: Option<String>,
}

fn round_robin() -> AssignmentStrategy {
    AssignmentStrategy::RoundRobin
}

fn team_record(input: TeamInput) -> ApiResult<TeamRecord> {
    let members = input
        .members
        .iter()
        .map(|m| name_ok("members", m))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(TeamRecord {
        name: name_ok("name", &input.name)?,
        calendar: input.calendar,
        strategy: input.strategy,
        members,
        supervisor: input
            .supervisor
            .map(|s| name_ok("supervisor", &s))
            .transpose()?,
        round_robin_cursor: None,
    })
}

/// Teams with their members, calendar and assignment strategy.
#[utoipa::path(get, path = "/api/v1/teams", tag = "workflow",
    responses((status = 200, body = Vec<TeamRecord>), (status = 401, body = ErrorBody)))]
pub async fn list_teams(
    State(state): State<AppState>,
    _auth: Authenticated,
) -> ApiResult<Json<Vec<TeamRecord>>> {
    Ok(Json(state.app.workflow.teams().await?))
}

/// Create a team (admins).
#[utoipa::path(post, path = "/api/v1/teams", tag = "workflow", request_body = TeamInput,
    responses((status = 201, body = TeamRecord), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_team(
    State(state): State<AppState>,
    auth: Authenticated,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<TeamRecord>)> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageTeams).await?;
    let team = team_record(body(raw)?)?;
    if state.app.workflow.team(&team.name).await?.is_some() {
        return Err(ApiError::new(
            ErrorCode::TeamExists,
            format!(
                "team {:?} exists; PUT /api/v1/teams/{} changes it",
                team.name, team.name
            ),
        ));
    }
    let saved = state
        .app
        .workflow
        .put_team(&team, &auth.0.name, state.app.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

#[utoipa::path(get, path = "/api/v1/teams/{name}", tag = "workflow",
    params(("name" = String, Path)),
    responses((status = 200, body = TeamRecord), (status = 404, body = ErrorBody)))]
pub async fn get_team(
    State(state): State<AppState>,
    _auth: Authenticated,
    Path(name): Path<String>,
) -> ApiResult<Json<TeamRecord>> {
    state
        .app
        .workflow
        .team(&name)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError(Error::not_found(format!("team {name:?}"))))
}

/// Replace a team (admins); the name in the path wins.
#[utoipa::path(put, path = "/api/v1/teams/{name}", tag = "workflow",
    params(("name" = String, Path)), request_body = TeamInput,
    responses((status = 200, body = TeamRecord), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_team(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(name): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<TeamRecord>> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageTeams).await?;
    let mut input: TeamInput = body(raw)?;
    input.name = name.clone();
    if state.app.workflow.team(&name).await?.is_none() {
        return Err(ApiError(Error::not_found(format!("team {name:?}"))));
    }
    let team = team_record(input)?;
    Ok(Json(
        state
            .app
            .workflow
            .put_team(&team, &auth.0.name, state.app.clock.now())
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/teams/{name}", tag = "workflow",
    params(("name" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_team(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageTeams).await?;
    state
        .app
        .workflow
        .delete_team(&name, &auth.0.name, state.app.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- users

/// A user as the workflow knows them: account (when the desk has one) and
/// workflow profile.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub name: String,
    pub display_name: Option<String>,
    pub role: Option<earshot_core::auth::Role>,
    pub has_account: bool,
    pub profile: UserProfile,
}

/// Users with their roles, teams and workflow profile (staff; 403 for
/// location managers).
#[utoipa::path(get, path = "/api/v1/users", tag = "workflow",
    responses((status = 200, body = Vec<UserView>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_users(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<Vec<UserView>>> {
    earshot_app::access::read_scope(&state.app, &auth.0)
        .await?
        .staff_only()?;
    let profiles = state.app.workflow.users().await?;
    let accounts = match &state.app.accounts {
        Some(desk) => desk.users().await?,
        None => Vec::new(),
    };
    let mut out: Vec<UserView> = Vec::new();
    for u in &accounts {
        let mut profile = profiles
            .iter()
            .find(|p| p.name == u.name)
            .cloned()
            .unwrap_or_else(|| UserProfile::new(u.name.clone()));
        profile.in_training |= u.in_training;
        for t in &u.teams {
            if !profile.teams.contains(t) {
                profile.teams.push(t.clone());
            }
        }
        out.push(UserView {
            name: u.name.clone(),
            display_name: Some(u.display_name.clone()),
            role: Some(u.role),
            has_account: true,
            profile,
        });
    }
    for p in profiles {
        if !out.iter().any(|u| u.name == p.name) {
            out.push(UserView {
                name: p.name.clone(),
                display_name: None,
                role: p.role,
                has_account: false,
                profile: p,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(out))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    #[serde(default)]
    pub role: Option<earshot_core::auth::Role>,
    #[serde(default)]
    pub in_training: bool,
    #[serde(default)]
    pub can_publish: Option<bool>,
    /// Store or product manager: the locations/products they manage.
    #[serde(default)]
    pub locations: Option<Vec<String>>,
    #[serde(default)]
    pub away: bool,
    #[serde(default = "ten")]
    pub capacity: u32,
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub skills: Vec<String>,
}

fn ten() -> u32 {
    10
}

/// Set a user's workflow profile (admins): training flag, publish right,
/// managed locations, away, capacity, languages, skills.
#[utoipa::path(put, path = "/api/v1/users/{name}/profile", tag = "workflow",
    params(("name" = String, Path)), request_body = ProfileInput,
    responses((status = 200, body = UserProfile), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn put_profile(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(name): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<UserProfile>> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageUsers).await?;
    let input: ProfileInput = body(raw)?;
    let profile = UserProfile {
        name: name_ok("name", &name)?,
        role: input.role,
        in_training: input.in_training,
        can_publish: input.can_publish,
        locations: input.locations,
        away: input.away,
        capacity: input.capacity,
        languages: input.languages,
        skills: input.skills,
        teams: Vec::new(),
    };
    Ok(Json(
        state
            .app
            .workflow
            .put_user(&profile, &auth.0.name, state.app.clock.now())
            .await?,
    ))
}

/// A user's workflow profile (staff; 403 for location managers).
#[utoipa::path(get, path = "/api/v1/users/{name}/profile", tag = "workflow",
    params(("name" = String, Path)),
    responses((status = 200, body = UserProfile), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get_profile(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(name): Path<String>,
) -> ApiResult<Json<UserProfile>> {
    earshot_app::access::read_scope(&state.app, &auth.0)
        .await?
        .staff_only()?;
    state
        .app
        .workflow
        .user(&name)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError(Error::not_found(format!("profile of {name:?}"))))
}

// ---------------------------------------------------------------- rules

/// The current routing rules (version 0 and no rules before the first save).
#[utoipa::path(get, path = "/api/v1/rules", tag = "workflow",
    responses((status = 200, body = RuleSet), (status = 401, body = ErrorBody)))]
pub async fn get_rules(
    State(state): State<AppState>,
    _auth: Authenticated,
) -> ApiResult<Json<RuleSet>> {
    Ok(Json(earshot_app::routing::current_rules(&state.app).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesInput {
    pub rules: Vec<Rule>,
}

/// Replace the routing rules: saved as a new version; old versions are kept.
#[utoipa::path(put, path = "/api/v1/rules", tag = "workflow", request_body = RulesInput,
    responses((status = 200, body = RuleSet), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn put_rules(
    State(state): State<AppState>,
    auth: Authenticated,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<RuleSet>> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageRules).await?;
    let input: RulesInput = body(raw)?;
    let candidate = RuleSet {
        version: 0,
        rules: input.rules,
    };
    candidate
        .validate()
        .map_err(|e| ApiError(Error::invalid_field("rules", e)))?;
    let json =
        serde_json::to_value(&candidate.rules).map_err(|e| Error::internal(e.to_string()))?;
    let saved = state
        .app
        .workflow
        .save_rule_set(&json, &auth.0.name, state.app.clock.now())
        .await?;
    Ok(Json(RuleSet {
        version: u32::try_from(saved.version).unwrap_or(u32::MAX),
        rules: candidate.rules,
    }))
}

/// Every saved version of the rules, newest first.
#[utoipa::path(get, path = "/api/v1/rules/versions", tag = "workflow",
    responses((status = 200, body = Vec<RuleSetVersion>)))]
pub async fn rule_versions(
    State(state): State<AppState>,
    _auth: Authenticated,
) -> ApiResult<Json<Vec<RuleSetVersion>>> {
    Ok(Json(state.app.workflow.rule_set_versions().await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunInput {
    /// Rules to try; leave out to test the current version.
    #[serde(default)]
    pub rules: Option<Vec<Rule>>,
    /// How many of the latest stored mentions to test (default 200).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Which rules would fire on which stored mentions; changes nothing. Staff
/// only: it reads the latest mentions of the whole brand, so location
/// managers get 403.
#[utoipa::path(post, path = "/api/v1/rules/dry-run", tag = "workflow", request_body = DryRunInput,
    responses((status = 200, body = DryRunReport), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn dry_run_rules(
    State(state): State<AppState>,
    auth: Authenticated,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<DryRunReport>> {
    earshot_app::access::read_scope(&state.app, &auth.0)
        .await?
        .staff_only()?;
    let raw = raw?;
    let input: DryRunInput = if raw.iter().all(u8::is_ascii_whitespace) {
        DryRunInput::default()
    } else {
        parse_json(&raw)?
    };
    let rules = match input.rules {
        Some(rules) => {
            let set = RuleSet { version: 0, rules };
            set.validate()
                .map_err(|e| ApiError(Error::invalid_field("rules", e)))?;
            set
        }
        None => earshot_app::routing::current_rules(&state.app).await?,
    };
    let mentions = state
        .app
        .store
        .mentions(&MentionQuery {
            limit: Some(input.limit.unwrap_or(200)),
            ..MentionQuery::default()
        })
        .await?;
    let mut items = Vec::with_capacity(mentions.len());
    for m in &mentions {
        let (location, product) = match m.case_id {
            Some(id) => match state.app.store.case_detail(id).await? {
                Some(d) => (d.case.location, d.case.product),
                None => (None, None),
            },
            None => (None, None),
        };
        items.push(DryRunItem {
            mention_id: m.id,
            context: RuleContext::from_mention(
                m,
                earshot_app::routing::author_lists(&state.app, &m.mention.author.handle).await?,
                location,
                product,
            ),
        });
    }
    Ok(Json(dry_run(&rules, &items)))
}

/// The handles on one of the brand's author lists (`vip`, `press`,
/// `blocked`): customers of every location, so 403 for location managers.
#[utoipa::path(get, path = "/api/v1/author-lists/{list}", tag = "workflow",
    params(("list" = AuthorList, Path)),
    responses((status = 200, body = Vec<String>), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn get_author_list(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(list): Path<AuthorList>,
) -> ApiResult<Json<Vec<String>>> {
    earshot_app::access::read_scope(&state.app, &auth.0)
        .await?
        .staff_only()?;
    Ok(Json(state.app.workflow.author_list(list_name(list)).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorListInput {
    /// Author handles; `@` and case are ignored.
    pub handles: Vec<String>,
}

/// Replace an author list (supervisors, admins); rules test it with `author_in`.
#[utoipa::path(put, path = "/api/v1/author-lists/{list}", tag = "workflow",
    params(("list" = AuthorList, Path)), request_body = AuthorListInput,
    responses((status = 200, body = Vec<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn put_author_list(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(list): Path<AuthorList>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Vec<String>>> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageRules).await?;
    let input: AuthorListInput = body(raw)?;
    if input.handles.len() > 100_000 || input.handles.iter().any(|h| h.len() > 256) {
        return Err(ApiError(Error::invalid_field(
            "handles",
            "at most 100000 handles of at most 256 bytes",
        )));
    }
    for h in &input.handles {
        reject_nul("handles", h)?;
    }
    Ok(Json(
        state
            .app
            .workflow
            .put_author_list(
                list_name(list),
                &input.handles,
                &auth.0.name,
                state.app.clock.now(),
            )
            .await?,
    ))
}

fn list_name(list: AuthorList) -> &'static str {
    match list {
        AuthorList::Vip => "vip",
        AuthorList::Press => "press",
        AuthorList::Blocked => "blocked",
    }
}

// ---------------------------------------------------------------- SLA

fn policy_in(raw: Result<Bytes, BytesRejection>, id: i64) -> ApiResult<SlaPolicy> {
    let mut v: serde_json::Value = body(raw)?;
    if let Some(o) = v.as_object_mut() {
        // The store assigns ids; a client-sent id is ignored.
        o.insert("id".into(), serde_json::json!(id));
    }
    // Parsed from text so the error names the field at fault.
    let policy: SlaPolicy = parse_json(v.to_string().as_bytes())?;
    policy
        .validate()
        .map_err(|e| ApiError(Error::invalid_field("policy", e)))?;
    Ok(policy)
}

#[utoipa::path(get, path = "/api/v1/sla-policies", tag = "workflow",
    responses((status = 200, body = Vec<SlaPolicy>)))]
pub async fn list_policies(
    State(state): State<AppState>,
    _auth: Authenticated,
) -> ApiResult<Json<Vec<SlaPolicy>>> {
    Ok(Json(earshot_app::sla::policies(&state.app).await?))
}

/// Create an SLA policy (supervisors, admins).
#[utoipa::path(post, path = "/api/v1/sla-policies", tag = "workflow", request_body = SlaPolicy,
    responses((status = 201, body = SlaPolicy), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_policy(
    State(state): State<AppState>,
    auth: Authenticated,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<SlaPolicy>)> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageSlaPolicies).await?;
    let v = policy_in(raw, 0)?;
    let saved = state
        .app
        .workflow
        .create_sla_policy(&v, &auth.0.name, state.app.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

#[utoipa::path(put, path = "/api/v1/sla-policies/{id}", tag = "workflow",
    params(("id" = i64, Path)), request_body = SlaPolicy,
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 200, body = SlaPolicy), (status = 404, body = ErrorBody)))]
pub async fn update_policy(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<SlaPolicy>> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageSlaPolicies).await?;
    let v = policy_in(raw, id)?;
    Ok(Json(
        state
            .app
            .workflow
            .update_sla_policy(id, &v, &auth.0.name, state.app.clock.now())
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/sla-policies/{id}", tag = "workflow",
    params(("id" = i64, Path)),
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_policy(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageSlaPolicies).await?;
    state
        .app
        .workflow
        .delete_sla_policy(id, &auth.0.name, state.app.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaseSla {
    pub case_id: i64,
    /// `active`, `warning`, `hit`, `missed`; `null` when no policy applies.
    pub state: Option<earshot_workflow::CaseSlaState>,
    pub evaluation: Option<SlaEvaluation>,
}

/// A case's SLA state now: each target's status, due time and remaining
/// time, and the escalation steps due.
#[utoipa::path(get, path = "/api/v1/cases/{id}/sla", tag = "workflow",
    params(("id" = i64, Path)),
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 200, body = CaseSla), (status = 404, body = ErrorBody)))]
pub async fn case_sla(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<Json<CaseSla>> {
    let detail = earshot_app::cases::case_detail(&state.app, id).await?;
    earshot_app::access::check_visible(&state.app, &auth.0, &detail.case).await?;
    let policies = earshot_app::sla::policies(&state.app).await?;
    let eval = earshot_app::sla::evaluate_case(
        &state.app,
        &policies,
        &detail,
        state.app.clock.now(),
        false,
    )
    .await?;
    Ok(Json(CaseSla {
        case_id: id,
        state: eval.as_ref().and_then(SlaEvaluation::overall),
        evaluation: eval,
    }))
}

/// "% SLA met" over every case's targets as last evaluated.
#[utoipa::path(get, path = "/api/v1/sla/report", tag = "workflow",
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 200, body = SlaReport)))]
pub async fn report(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<SlaReport>> {
    earshot_app::access::require(&state.app, &auth.0, Action::ViewReports).await?;
    let mut targets = Vec::new();
    for r in state.app.workflow.all_case_sla().await? {
        if let Some(v) = r.evaluation
            && let Ok(e) = serde_json::from_value::<SlaEvaluation>(v)
        {
            targets.extend(e.targets);
        }
    }
    Ok(Json(sla_report(&targets)))
}

// ---------------------------------------------------------------- approvals

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ApprovalQuery {
    /// Include approved ones too.
    #[serde(default)]
    pub all: bool,
}

/// Replies waiting for a supervisor's approval (supervisors, admins).
#[utoipa::path(get, path = "/api/v1/approvals", tag = "workflow", params(ApprovalQuery),
    responses((status = 200, body = Vec<ApprovalRecord>), (status = 403, body = ErrorBody)))]
pub async fn list_approvals(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<ApprovalQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<ApprovalRecord>>> {
    let Query(query) = query?;
    earshot_app::access::require(&state.app, &auth.0, Action::ApproveReply).await?;
    Ok(Json(state.app.workflow.approvals(!query.all).await?))
}

/// Approve a held reply: it is sent, and the approver recorded on the
/// reply and in the audit log. Nobody approves their own reply.
#[utoipa::path(post, path = "/api/v1/replies/{id}/approve", tag = "workflow",
    params(("id" = i64, Path, description = "Reply id")),
    responses((status = 200, body = Reply), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn approve_reply(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<Json<Reply>> {
    Ok(Json(
        earshot_app::replies::approve(&state.app, &auth.0, id).await?,
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostedInput {
    /// A link to the post the agent made, when they have one.
    #[serde(default)]
    pub url: Option<String>,
}

/// Record that a reply left to post by hand (no connector delivers to its
/// source, or its channel refused it) was posted by the agent themselves.
/// Only then is it `sent`, and only then does the customer's clock stop.
#[utoipa::path(post, path = "/api/v1/replies/{id}/posted", tag = "workflow",
    params(("id" = i64, Path, description = "Reply id")),
    request_body = PostedInput,
    responses((status = 200, body = Reply), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reply_posted(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Reply>> {
    let body = body?;
    let input: PostedInput = if body.iter().all(u8::is_ascii_whitespace) {
        PostedInput::default()
    } else {
        parse_json(&body)?
    };
    Ok(Json(
        earshot_app::replies::mark_posted_by_hand(&state.app, auth.writer()?, id, input.url)
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectInput {
    /// What the author should change.
    pub reason: String,
}

/// Turn a held reply down with a reason for its author; it stays a draft
/// and leaves the approval queue.
#[utoipa::path(post, path = "/api/v1/replies/{id}/reject", tag = "workflow",
    params(("id" = i64, Path, description = "Reply id")), request_body = RejectInput,
    responses((status = 200, body = ApprovalRecord), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reject_reply(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ApprovalRecord>> {
    let input: RejectInput = body(raw)?;
    let reason = input.reason.trim();
    if reason.is_empty() || reason.len() > 2000 {
        return Err(ApiError(Error::invalid_field(
            "reason",
            "must be 1-2000 bytes",
        )));
    }
    Ok(Json(
        earshot_app::replies::reject(&state.app, &auth.0, id, reason).await?,
    ))
}

// ---------------------------------------------------------------- presence

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceInput {
    pub activity: Activity,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PresenceView {
    /// Everyone else viewing or drafting the case, drafters first.
    pub others: Vec<Presence>,
}

/// Heartbeat: "I am viewing/drafting this case" (lasts 60 s); answers who
/// else is on it.
#[utoipa::path(post, path = "/api/v1/cases/{id}/presence", tag = "workflow",
    params(("id" = i64, Path)), request_body = PresenceInput,
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 200, body = PresenceView), (status = 404, body = ErrorBody)))]
pub async fn touch_presence(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<PresenceView>> {
    let input: PresenceInput = body(raw)?;
    let others = earshot_app::presence::touch(&state.app, &auth.0, id, input.activity).await?;
    Ok(Json(PresenceView { others }))
}

/// Who is viewing or drafting the case now.
#[utoipa::path(get, path = "/api/v1/cases/{id}/presence", tag = "workflow",
    params(("id" = i64, Path)),
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 200, body = PresenceView)))]
pub async fn get_presence(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<Json<PresenceView>> {
    let others = earshot_app::presence::others(&state.app, &auth.0, id).await?;
    Ok(Json(PresenceView { others }))
}

// ---------------------------------------------------------------- handoffs

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffInput {
    pub kind: HandoffKind,
    /// The location (store) or product.
    pub target: String,
    /// The question, with the customer's context.
    pub message: String,
}

/// Hand a case to a store manager or product owner; the managers of that
/// location are notified.
#[utoipa::path(post, path = "/api/v1/cases/{id}/handoff", tag = "workflow",
    params(("id" = i64, Path)), request_body = HandoffInput,
    responses((status = 201, body = Handoff), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_handoff(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Handoff>)> {
    let input: HandoffInput = body(raw)?;
    let target = name_ok("target", &input.target)?;
    let message = input.message.trim();
    if message.is_empty() || message.len() > 20_000 {
        return Err(ApiError(Error::invalid_field(
            "message",
            "must be 1-20000 bytes",
        )));
    }
    reject_nul("message", message)?;
    let detail = earshot_app::cases::case_detail(&state.app, id).await?;
    let a = earshot_app::access::actor(&state.app, &auth.0).await?;
    can(
        &a,
        Action::UpdateCase,
        &earshot_app::access::scope(&state.app, &detail.case).await?,
    )
    .map_err(denied)?;
    let now = state.app.clock.now();
    let h = state
        .app
        .workflow
        .create_handoff(id, input.kind, &target, message, &auth.0.name, now)
        .await?;
    let text = format!(
        "Case #{id} handed to {target}: {message} (customer: @{})",
        detail.case.author_handle
    );
    for u in state.app.workflow.users().await? {
        if u.locations.as_ref().is_some_and(|l| l.contains(&target)) {
            state
                .app
                .workflow
                .notify(
                    &u.name,
                    "handoff",
                    Some(id),
                    &text,
                    &serde_json::json!({"handoff_id": h.id}),
                    now,
                )
                .await?;
        }
    }
    Ok((StatusCode::CREATED, Json(h)))
}

/// The case's handoffs and their answers.
#[utoipa::path(get, path = "/api/v1/cases/{id}/handoff", tag = "workflow",
    params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Handoff>), (status = 403, body = ErrorBody)))]
pub async fn case_handoffs(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<Handoff>>> {
    let detail = earshot_app::cases::case_detail(&state.app, id).await?;
    earshot_app::access::check_visible(&state.app, &auth.0, &detail.case).await?;
    Ok(Json(state.app.workflow.handoffs(Some(id)).await?))
}

/// Handoffs the caller may see: a manager only those for their locations.
#[utoipa::path(get, path = "/api/v1/handoffs", tag = "workflow",
    responses((status = 200, body = Vec<Handoff>)))]
pub async fn list_handoffs(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<Vec<Handoff>>> {
    let a = earshot_app::access::actor(&state.app, &auth.0).await?;
    let all = state.app.workflow.handoffs(None).await?;
    Ok(Json(
        all.into_iter()
            .filter(|h| earshot_workflow::location_visible(&a, Some(&h.target)))
            .collect(),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerInput {
    pub answer: String,
}

/// A manager answers a handoff; the answer comes back into the case as a note.
#[utoipa::path(post, path = "/api/v1/handoffs/{id}/answer", tag = "workflow",
    params(("id" = i64, Path)), request_body = AnswerInput,
    responses((status = 200, body = Handoff), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn answer_handoff(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Handoff>> {
    let input: AnswerInput = body(raw)?;
    let answer = input.answer.trim();
    if answer.is_empty() || answer.len() > 20_000 {
        return Err(ApiError(Error::invalid_field(
            "answer",
            "must be 1-20000 bytes",
        )));
    }
    reject_nul("answer", answer)?;
    let h = state
        .app
        .workflow
        .handoff(id)
        .await?
        .ok_or_else(|| Error::not_found(format!("handoff {id}")))?;
    let a = earshot_app::access::actor(&state.app, &auth.0).await?;
    let scope = earshot_workflow::CaseScope {
        team: None,
        location: Some(h.target.clone()),
        sensitive: false,
    };
    can(&a, Action::AnswerHandoff, &scope).map_err(denied)?;
    let answered = state
        .app
        .workflow
        .answer_handoff(id, answer, &auth.0.name, state.app.clock.now())
        .await?;
    if let Some(case) = state.app.store.case_detail(h.case_id).await?
        && let Some(assignee) = case.case.assignee
    {
        let text = format!("{} answered on case #{}: {answer}", auth.0.name, h.case_id);
        state
            .app
            .workflow
            .notify(
                &assignee,
                "handoff_answer",
                Some(h.case_id),
                &text,
                &serde_json::json!({"handoff_id": id}),
                state.app.clock.now(),
            )
            .await?;
    }
    Ok(Json(answered))
}

// ---------------------------------------------------------------- notifications

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NotificationQuery {
    #[serde(default)]
    pub unread: bool,
}

/// The caller's in-app notifications, newest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "workflow", params(NotificationQuery),
    responses((status = 200, body = Vec<Notification>)))]
pub async fn list_notifications(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<NotificationQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<Notification>>> {
    let Query(query) = query?;
    Ok(Json(
        state
            .app
            .workflow
            .notifications(earshot_app::access::user_name(&auth.0), query.unread)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "workflow",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn read_notification(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    state
        .app
        .workflow
        .mark_notification_read(
            earshot_app::access::user_name(&auth.0),
            id,
            state.app.clock.now(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// An incoming-webhook URL (Slack, Mattermost, Rocket.Chat).
    pub url: String,
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "workflow",
    responses((status = 200, body = Vec<Webhook>), (status = 403, body = ErrorBody)))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<Vec<Webhook>>> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageTeams).await?;
    Ok(Json(state.app.workflow.webhooks().await?))
}

/// A webhook just added, with its signing secret: shown this once, never
/// listed again.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// Key of the HMAC-SHA256 in each delivery's `X-Earshot-Signature`.
    pub signing_secret: String,
}

/// Add an outbound webhook (admins); SLA warnings, breaches, escalations,
/// assignments and rule notifications are queued for it as Slack payloads.
/// Deliveries are signed; the answer carries the signing secret, once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "workflow", request_body = WebhookInput,
    responses((status = 201, body = CreatedWebhook), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn add_webhook(
    State(state): State<AppState>,
    auth: Authenticated,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageTeams).await?;
    let input: WebhookInput = body(raw)?;
    let url = input.url.trim();
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2000 {
        return Err(ApiError(Error::invalid_field(
            "url",
            "must be an http(s) URL",
        )));
    }
    reject_nul("url", url)?;
    earshot_app::deliveries::check_target(url, state.app.delivery_policy)
        .map_err(|why| ApiError(Error::invalid_field("url", why)))?;
    let signing_secret = earshot_app::deliveries::generate_secret();
    let webhook = state
        .app
        .workflow
        .add_webhook(url, &signing_secret, &auth.0.name, state.app.clock.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook {
            webhook,
            signing_secret,
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "workflow",
    params(("id" = i64, Path)),
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageTeams).await?;
    state
        .app
        .workflow
        .delete_webhook(id, &auth.0.name, state.app.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Payloads queued for the webhooks, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/deliveries", tag = "workflow",
    responses((status = 403, description = "The role or scope does not allow it", body = ErrorBody), (status = 200, body = Vec<WebhookDelivery>)))]
pub async fn webhook_deliveries(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<Vec<WebhookDelivery>>> {
    earshot_app::access::require(&state.app, &auth.0, Action::ManageTeams).await?;
    Ok(Json(state.app.workflow.webhook_deliveries(100).await?))
}

// ---------------------------------------------------------------- audit

/// Who changed what and when: changes to rules, policies, users, teams,
/// webhooks and approvals, and every case event, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "workflow", params(AuditQuery),
    responses((status = 200, body = Vec<AuditRecord>), (status = 403, body = ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<AuditRecord>>> {
    let Query(query) = query?;
    earshot_app::access::require(&state.app, &auth.0, Action::ViewAudit).await?;
    Ok(Json(state.app.workflow.audit(&query).await?))
}
