//! Earshot's HTTP surface: the authenticated JSON API under `/api/v1` with
//! an OpenAPI document generated from the handlers, and `/healthz`.

pub mod api;
pub mod auth;
pub mod error;
pub mod state;
pub mod ui;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use tower_http::trace::TraceLayer;

pub use state::AppState;

/// Largest accepted request body: a batch of thousands of mentions.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = api::router_and_document();
    let openapi = std::sync::Arc::new(openapi);
    Router::new()
        .merge(api)
        .merge(ui::routes())
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = openapi.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .route("/healthz", get(api::health))
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn(error::json_rejections))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves until ctrl-c or SIGTERM, finishing requests in flight.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    // Background workers (SLA clock, deliveries) run while the server does.
    let workers = earshot_app::runtime::Runtime::start(&state.app, Default::default());
    // Connect info gives the login limiter the client address.
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    workers.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
