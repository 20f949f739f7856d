//! Earshot's HTTP surface: the authenticated JSON API under `/api/v1` with
//! an OpenAPI document generated from the handlers, and `/healthz`.

pub mod api;
pub mod auth;
pub mod error;
pub mod ratelimit;
pub mod state;
pub mod ui;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::http::{Request, StatusCode};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;

pub use state::AppState;

/// Largest accepted request body: a batch of thousands of mentions.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How long a client may take, so slow or stalled clients cannot hold
/// connections open.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// To send a request's headers; also how long an idle keep-alive
    /// connection waits for its next request (hyper's timer covers both).
    pub header_read_timeout: Duration,
    /// Between two pieces of a request body.
    pub body_timeout: Duration,
    /// For a whole request, body and handler included (`408`); the live
    /// stream is exempt.
    pub request_timeout: Duration,
    /// After a shutdown signal, for requests in flight to finish.
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_read_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// The whole application router, with the default timeouts.
pub fn router(state: AppState) -> Router {
    router_with(state, &ServeOptions::default())
}

/// The whole application router.
pub fn router_with(state: AppState, options: &ServeOptions) -> Router {
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
        .layer(RequestBodyTimeoutLayer::new(options.body_timeout))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            options.request_timeout,
        ))
        .layer(axum::middleware::map_response(error::request_timeout_body))
        // Merged after the timeout layers, which apply only to the routes
        // above: the live stream stays open.
        .merge(ui::live_routes())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves until ctrl-c or SIGTERM, finishing requests in flight.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    serve_with(listener, state, ServeOptions::default(), shutdown_signal()).await
}

/// [`serve`] with chosen timeouts, until `shutdown` completes.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    // Background workers (SLA clock, deliveries) run while the server does.
    let workers = earshot_app::runtime::Runtime::start(&state.app, Default::default());
    serve_router(listener, router_with(state, &options), options, shutdown).await;
    workers.shutdown().await;
    Ok(())
}

/// Accepts connections for `router` until `shutdown`, then lets requests in
/// flight finish for up to `options.shutdown_grace`. hyper-util's builder
/// rather than `axum::serve`, which has no header-read timeout.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, not spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Connect info gives the login limiter the client address.
        let service = tower::ServiceExt::map_request(
            router.clone(),
            move |mut request: Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(addr));
                request
            },
        );
        let connection = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    // Live streams never finish on their own; do not wait for them forever.
    if tokio::time::timeout(options.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period");
    }
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
