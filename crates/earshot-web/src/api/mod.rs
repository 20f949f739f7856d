//! `/api/v1`: JSON in, JSON out, every route authenticated.

pub mod cases;
pub mod mentions;
pub mod replies;
pub mod tokens;
pub mod workflow;

use axum::Json;
use axum::extract::State;
use earshot_core::error::ErrorCode;
use serde::Serialize;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Earshot API",
        description = "Social customer care: mentions in, tracked cases out. \
            Every endpoint except /healthz and this document needs `Authorization: Bearer <token>`."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(mentions::post_mentions, mentions::list_mentions))
        .routes(routes!(cases::list_cases))
        .routes(routes!(cases::get_case))
        .routes(routes!(cases::assign_case))
        .routes(routes!(cases::set_case_status))
        .routes(routes!(cases::add_note))
        .routes(routes!(cases::add_reply))
        .routes(routes!(cases::list_advocates))
        // Case workflow (issue 4): teams, users, rules, SLA, approvals, audit.
        .routes(routes!(workflow::list_teams, workflow::create_team))
        .routes(routes!(
            workflow::get_team,
            workflow::update_team,
            workflow::delete_team
        ))
        .routes(routes!(workflow::list_users))
        .routes(routes!(workflow::get_profile, workflow::put_profile))
        .routes(routes!(workflow::get_rules, workflow::put_rules))
        .routes(routes!(workflow::rule_versions))
        .routes(routes!(workflow::dry_run_rules))
        .routes(routes!(
            workflow::get_author_list,
            workflow::put_author_list
        ))
        .routes(routes!(workflow::list_policies, workflow::create_policy))
        .routes(routes!(workflow::update_policy, workflow::delete_policy))
        .routes(routes!(workflow::case_sla))
        .routes(routes!(workflow::report))
        .routes(routes!(workflow::list_approvals))
        .routes(routes!(workflow::approve_reply))
        .routes(routes!(workflow::reject_reply))
        .routes(routes!(workflow::reply_posted))
        .routes(routes!(workflow::touch_presence, workflow::get_presence))
        .routes(routes!(workflow::create_handoff, workflow::case_handoffs))
        .routes(routes!(workflow::list_handoffs))
        .routes(routes!(workflow::answer_handoff))
        .routes(routes!(workflow::list_notifications))
        .routes(routes!(workflow::read_notification))
        .routes(routes!(workflow::list_webhooks, workflow::add_webhook))
        .routes(routes!(workflow::delete_webhook))
        .routes(routes!(workflow::webhook_deliveries))
        .routes(routes!(workflow::audit))
        .routes(routes!(replies::check_reply))
        .routes(routes!(replies::export_corrections))
        .routes(routes!(tokens::list_tokens))
        .routes(routes!(tokens::revoke_token))
}

#[derive(Serialize)]
pub struct Health {
    status: &'static str,
    mentions: i64,
}

/// Liveness and a cheap store round trip.
pub async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let mentions = state.app.store.mention_count().await?;
    Ok(Json(Health {
        status: "ok",
        mentions,
    }))
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "no such endpoint; see /api/v1/openapi.json",
    )
}
