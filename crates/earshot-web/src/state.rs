//! What every request handler shares: the application, plus what only the
//! HTTP adapter needs (token bootstrap, cookies, the login limiter).

use std::sync::Arc;

use earshot_app::App;
use earshot_core::accounts::Accounts;

#[derive(Clone)]
pub struct AppState {
    pub app: App,
    /// SHA-256 (hex) of `EARSHOT_BOOTSTRAP_TOKEN`, accepted as an admin token.
    pub bootstrap_token_hash: Option<String>,
    /// Always mark session cookies `Secure` (behind a TLS proxy). Otherwise
    /// they are `Secure` only when the request arrived over https
    /// (`X-Forwarded-Proto: https`), so a plain-http demo on 127.0.0.1 works.
    pub secure_cookies: bool,
    pub login_limiter: Arc<crate::ui::session::LoginLimiter>,
    /// Requests per API caller (see [`crate::ratelimit`]).
    pub api_limiter: Arc<crate::ratelimit::ApiLimiter>,
}

impl AppState {
    pub fn new(app: App, bootstrap_token: Option<&str>) -> Self {
        AppState {
            app,
            bootstrap_token_hash: bootstrap_token
                .filter(|t| !t.is_empty())
                .map(earshot_app::credentials::hash_token),
            secure_cookies: false,
            login_limiter: Arc::default(),
            api_limiter: Arc::default(),
        }
    }

    /// Enables the browser desk on this store; it answers 503 until then.
    pub fn with_desk(mut self, desk: Arc<dyn Accounts>) -> Self {
        self.app = self.app.with_accounts(desk);
        self
    }

    /// The API's per-caller quota; `None` turns the limit off.
    pub fn with_rate_limit(mut self, limit: Option<crate::ratelimit::RateLimit>) -> Self {
        self.api_limiter = Arc::new(crate::ratelimit::ApiLimiter::new(limit));
        self
    }

    pub fn with_secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = secure;
        self
    }
}
