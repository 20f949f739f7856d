//! `/api/v1/rules` (versioned, with a dry run) and the author lists rules test.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use earshot_core::error::Error;
use earshot_core::mention::reject_nul;
use earshot_core::store::MentionQuery;
use earshot_core::workflow_store::RuleSetVersion;
use earshot_workflow::{
    Action, AuthorList, DryRunItem, DryRunReport, Rule, RuleContext, RuleSet, dry_run,
};
use serde::Deserialize;

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody, Path, parse_json};
use crate::state::AppState;

use super::input::{ApiResult, body};

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
            mention_id: m.id.0,
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
        AuthorList::Brand => "brand",
    }
}
