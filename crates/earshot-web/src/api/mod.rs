//! `/api/v1`: JSON in, JSON out, every route authenticated.

pub mod advocates;
pub mod approvals;
pub mod audit;
pub mod cases;
pub mod csat;
pub mod handoffs;
pub mod inbound;
mod input;
pub mod mentions;
pub mod notifications;
pub mod presence;
pub mod private_handoffs;
pub mod recovery;
pub mod replies;
pub mod rules;
pub mod sla;
pub mod sources;
pub mod teams;
pub mod tokens;
pub mod users;
pub mod webhooks;

use axum::Json;
use axum::extract::State;
use earshot_core::error::ErrorCode;
use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder, header::HeaderBuilder};
use utoipa::{Modify, OpenApi};
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

/// Responses every operation can answer, added after the routes are collected
/// so a new handler cannot forget them: (status, component name, description).
const COMMON: &[(&str, &str, &str)] = &[
    ("401", "Unauthorized", "No valid bearer token"),
    (
        "429",
        "TooManyRequests",
        "Over the token's rate limit; retry after `Retry-After` seconds",
    ),
    ("500", "Internal", "A bug or a database failure"),
];

/// Added where the operation takes parameters or a body / a path id / a body.
const INPUT: (&str, &str, &str) = (
    "400",
    "BadRequest",
    "Malformed JSON, an invalid field or parameter",
);
const MISSING: (&str, &str, &str) = ("404", "NotFound", "No such resource");
const TOO_LARGE: (&str, &str, &str) = ("413", "PayloadTooLarge", "The body is over the limit");

struct CommonResponses;

/// Adds a reference to a shared response unless the handler documents its own.
fn add(op: &mut Operation, (status, name, _): (&str, &str, &str)) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
}

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for &(status, name, description) in COMMON.iter().chain([&INPUT, &MISSING, &TOO_LARGE]) {
            let mut response = ResponseBuilder::new().description(description).content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            );
            if status == "429" {
                let seconds = ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0));
                let header = HeaderBuilder::new()
                    .schema(seconds)
                    .description(Some("Seconds to wait before retrying"))
                    .build();
                response = response.header("Retry-After", header);
            }
            components
                .responses
                .insert(name.to_string(), response.build().into());
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                for common in COMMON {
                    add(op, *common);
                }
                let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let has_body = op.request_body.is_some();
                if has_params || has_body {
                    add(op, INPUT);
                }
                if path.contains('{') {
                    add(op, MISSING);
                }
                if has_body {
                    add(op, TOO_LARGE);
                }
            }
        }
    }
}

/// The API's routes and their finished OpenAPI document.
pub fn router_and_document() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut document) = routes().split_for_parts();
    CommonResponses.modify(&mut document);
    (router, document)
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
        .routes(routes!(advocates::list_advocates))
        .routes(routes!(advocates::advocates_csv))
        .routes(routes!(advocates::advocate_profile))
        .routes(routes!(advocates::thanks_queue))
        .routes(routes!(advocates::send_thanks))
        .routes(routes!(advocates::skip_thanks))
        // Case workflow (issue 4): teams, users, rules, SLA, approvals, audit.
        .routes(routes!(teams::list_teams, teams::create_team))
        .routes(routes!(
            teams::get_team,
            teams::update_team,
            teams::delete_team
        ))
        .routes(routes!(users::list_users))
        .routes(routes!(users::get_profile, users::put_profile))
        .routes(routes!(rules::get_rules, rules::put_rules))
        .routes(routes!(rules::rule_versions))
        .routes(routes!(rules::dry_run_rules))
        .routes(routes!(rules::get_author_list, rules::put_author_list))
        .routes(routes!(sla::list_policies, sla::create_policy))
        .routes(routes!(sla::update_policy, sla::delete_policy))
        .routes(routes!(sla::case_sla))
        .routes(routes!(sla::report))
        .routes(routes!(approvals::list_approvals))
        .routes(routes!(approvals::approve_reply))
        .routes(routes!(approvals::reject_reply))
        .routes(routes!(approvals::reply_posted))
        .routes(routes!(presence::touch_presence, presence::get_presence))
        .routes(routes!(handoffs::create_handoff, handoffs::case_handoffs))
        .routes(routes!(handoffs::list_handoffs))
        .routes(routes!(handoffs::answer_handoff))
        // Taking a case private (public acknowledgement, then the private channel).
        .routes(routes!(private_handoffs::private_channels))
        .routes(routes!(private_handoffs::take_private))
        .routes(routes!(private_handoffs::private_handoffs))
        .routes(routes!(private_handoffs::follow_up_done))
        .routes(routes!(notifications::list_notifications))
        .routes(routes!(notifications::read_notification))
        .routes(routes!(webhooks::list_webhooks, webhooks::add_webhook))
        .routes(routes!(webhooks::delete_webhook))
        .routes(routes!(webhooks::webhook_deliveries))
        .routes(routes!(audit::audit))
        .routes(routes!(replies::check_reply))
        .routes(routes!(replies::export_corrections))
        .routes(routes!(tokens::list_tokens))
        .routes(routes!(tokens::revoke_token))
        // Sources (issue 12): where Earshot listens, and signed pushes.
        .routes(routes!(sources::list_sources, sources::create_source))
        .routes(routes!(
            sources::get_source,
            sources::update_source,
            sources::delete_source
        ))
        .routes(routes!(inbound::receive))
        // CSAT in the customer's channel.
        .routes(routes!(csat::case_csat, csat::ask_csat))
        .routes(routes!(csat::summary))
        .routes(routes!(csat::get_policies, csat::put_policies))
        // Recovery: did an unhappy customer come back round?
        .routes(routes!(recovery::case_recovery))
        .routes(routes!(recovery::summary))
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    /// The id newtypes stay plain integers in the document: no component
    /// of their own, and the fields that carry them say `integer`.
    #[test]
    fn ids_are_integers_in_the_openapi_document() {
        let (_, doc) = super::router_and_document();
        let doc = serde_json::to_value(doc).unwrap();
        let schemas = &doc["components"]["schemas"];
        let text = doc.to_string();
        for id in ["CaseId", "MentionId", "ReplyId", "NoteId"] {
            assert!(schemas.get(id).is_none(), "{id} has its own component");
            assert!(!text.contains(&format!("schemas/{id}")), "{id} referenced");
        }
        for (schema, field) in [
            ("Case", "id"),
            ("Reply", "id"),
            ("Reply", "case_id"),
            ("Note", "case_id"),
            ("ApprovalRecord", "reply_id"),
        ] {
            let ty = &schemas[schema]["properties"][field]["type"];
            assert_eq!(ty, "integer", "{schema}.{field}");
        }
    }

    /// Every schema the document refers to is in it (a parameter type
    /// that is not inlined would otherwise point nowhere).
    #[test]
    fn operation_ids_are_unique() {
        let (_, doc) = super::router_and_document();
        let doc = serde_json::to_value(doc).unwrap();
        let mut seen = std::collections::HashMap::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if let Some(id) = op["operationId"].as_str()
                    && let Some(other) = seen.insert(id.to_string(), format!("{method} {path}"))
                {
                    panic!("operationId {id} is used by {other} and {method} {path}");
                }
            }
        }
        assert!(seen.len() > 50, "{} operations", seen.len());
    }

    #[test]
    fn every_schema_reference_resolves() {
        let (_, doc) = super::router_and_document();
        let doc = serde_json::to_value(doc).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let text = doc.to_string();
        let prefix = "#/components/schemas/";
        for (i, _) in text.match_indices(prefix) {
            let name: String = text[i + prefix.len()..]
                .chars()
                .take_while(|c| *c != '"')
                .collect();
            assert!(
                schemas.contains_key(&name),
                "{name} is referred to but missing"
            );
        }
    }

    /// A case's events carry `before`/`after` as any JSON, often null (a
    /// case that was just opened has no "before"): the document must allow
    /// it, or a conforming client rejects every case detail.
    #[test]
    fn event_states_may_be_null_in_the_openapi_document() {
        let (_, doc) = super::router_and_document();
        let doc = serde_json::to_value(doc).unwrap();
        for schema in ["Event", "AuditRecord"] {
            for field in ["before", "after"] {
                let s = &doc["components"]["schemas"][schema]["properties"][field];
                assert!(
                    s.get("type").is_none_or(|t| t.to_string().contains("null")),
                    "{schema}.{field}: {s}"
                );
            }
        }
    }
}
