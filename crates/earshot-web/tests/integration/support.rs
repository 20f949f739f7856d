//! Spawns Earshot in-process for tests, like `earshot serve` does.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use earshot_core::pipeline::Pipeline;
use earshot_core::priority::PriorityWeights;
use earshot_store::SqlStore;
use earshot_web::{AppState, ServeOptions};
use earshot_workflow::FakeClock;

pub const TOKEN: &str = "test-bootstrap-token";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: SqlStore,
    pub clock: FakeClock,
    #[allow(dead_code)] // for tests that drive background work directly
    pub state: AppState,
    _dir: Option<tempfile::TempDir>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the admin bootstrap token.
    pub fn authed(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(TOKEN)
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let r = self
            .authed(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// A signed-in desk user: the session cookie to send and the session's
    /// CSRF token for forms (made in the store, as a login would).
    #[allow(dead_code)] // used by the workflow tests only
    pub async fn desk_session(
        &self,
        name: &str,
        role: earshot_core::auth::Role,
    ) -> (String, String) {
        use earshot_core::accounts::{Accounts, NewUser};
        let user = NewUser {
            name: name.into(),
            display_name: name.into(),
            role,
            in_training: false,
            teams: vec![],
        };
        let hash = earshot_app::credentials::hash_password("desk-test-password").unwrap();
        let now = self.clock_now();
        self.store.create_user(&user, &hash, now).await.unwrap();
        let id = earshot_app::credentials::random_hex();
        let csrf = earshot_app::credentials::random_hex();
        self.store
            .create_session(
                &earshot_web::ui::session::hash_session_id(&id),
                name,
                &csrf,
                now,
                now + chrono::Duration::hours(8),
            )
            .await
            .unwrap();
        (format!("earshot_session={id}"), csrf)
    }

    pub fn clock_now(&self) -> chrono::DateTime<Utc> {
        earshot_workflow::Clock::now(&self.clock)
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self
            .authed(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }
}

/// Starts a server on a free port with a fresh store (SQLite, or the
/// database [`both_databases!`] runs the test on), the shipped
/// analysis models and a fake clock set to 2026-11-22 10:00 UTC. Webhooks
/// may target private addresses: the test receivers listen on 127.0.0.1.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(ServeOptions::default(), |state| {
        state.app.delivery_policy.allow_private = true;
        state
    })
    .await
}

/// [`spawn_app`] with chosen timeouts and state (the default delivery
/// policy, public targets only, unless `configure` changes it).
pub async fn spawn_app_with(
    options: ServeOptions,
    configure: impl FnOnce(&mut AppState) -> &mut AppState,
) -> TestApp {
    let (store, dir) = open_store().await;
    let clock = FakeClock::new(Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap());
    let pipeline = Pipeline::new(
        Arc::new(earshot_analysis::Engine::builtin()),
        PriorityWeights::default(),
    );
    let state = AppState::new(
        earshot_app::App::new(Arc::new(store.clone()), pipeline, Arc::new(clock.clone())),
        Some(TOKEN),
    )
    .with_desk(Arc::new(store.clone()));
    let mut state = state;
    configure(&mut state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    // The server loop `earshot serve` runs, with its timeouts.
    let app = earshot_web::router_with(state.clone(), &options);
    tokio::spawn(earshot_web::serve_router(
        listener,
        app,
        options,
        std::future::pending(),
    ));
    TestApp {
        base,
        client: reqwest::Client::new(),
        store,
        clock,
        state,
        _dir: dir,
    }
}

pub fn mention(id: &str, handle: &str, text: &str) -> serde_json::Value {
    serde_json::json!({
        "source": "webhook",
        "external_id": id,
        "author": {"handle": handle, "followers": 120},
        "text": text,
        "created_at": "2026-11-22T10:00:00Z",
        "url": format!("https://example.org/p/{id}")
    })
}

/// The database a test's server stores into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

tokio::task_local! {
    // Set by `both_databases!` around the test body, so the bodies keep
    // calling `spawn_app()` unchanged; unset means SQLite.
    static BACKEND: Backend;
}

/// Runs a test body with [`spawn_app`] (and [`spawn_app_with`]) opening
/// stores on `backend`.
pub async fn on_backend<F: std::future::Future<Output = ()>>(backend: Backend, test: F) {
    BACKEND.scope(backend, test).await;
}

/// Turns `async fn name()` (written without `#[tokio::test]`) into two
/// tests, `name::sqlite` and `name::postgres`. PostgreSQL is the server at
/// `EARSHOT_TEST_DATABASE_URL`, one fresh database per test; with `CI` set
/// a missing URL fails the test rather than skipping it.
macro_rules! both_databases {
    ($test:ident) => {
        mod $test {
            use $crate::support::{Backend, on_backend};

            #[tokio::test]
            async fn sqlite() {
                on_backend(Backend::Sqlite, super::$test()).await;
            }

            #[tokio::test]
            async fn postgres() {
                if $crate::support::postgres_url().is_some() {
                    on_backend(Backend::Postgres, super::$test()).await;
                }
            }
        }
    };
}
pub(crate) use both_databases;

/// A fresh store on the current test's backend; the temp dir holds SQLite's file.
async fn open_store() -> (SqlStore, Option<tempfile::TempDir>) {
    match BACKEND.try_with(|b| *b).unwrap_or(Backend::Sqlite) {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let location = earshot_store::Location::SqliteDir(dir.path().into());
            (earshot_store::open(&location).await.unwrap(), Some(dir))
        }
        Backend::Postgres => {
            let server = postgres_url().expect("both_databases! checked the URL");
            let location = earshot_store::Location::Postgres(
                earshot_store::testing::fresh_postgres_database(&server)
                    .await
                    .unwrap(),
            );
            (earshot_store::open(&location).await.unwrap(), None)
        }
    }
}

pub use earshot_store::testing::postgres_url;
