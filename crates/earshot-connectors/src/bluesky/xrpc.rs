//! The handful of XRPC calls Earshot makes, over plain reqwest: a session
//! from an app password, refreshed when the PDS says `ExpiredToken`, and
//! chat calls proxied through the PDS to the chat service.

use std::fmt;

use chrono::Utc;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;
use url::Url;

use crate::error::ConnError;
use crate::http;

/// The header that routes a `chat.bsky.*` call through the PDS.
const CHAT_PROXY: &str = "did:web:api.bsky.chat#bsky_chat";

/// A password that never reaches a log.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub(super) struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Our account's session on its PDS.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Session {
    pub did: String,
    pub handle: String,
    access_jwt: String,
    refresh_jwt: String,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("did", &self.did)
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

/// A failed call: the XRPC error name (`RecordNotFound`, `ExpiredToken`)
/// when the server gave one, and the classified error.
#[derive(Debug)]
pub(super) struct XrpcError {
    pub name: Option<String>,
    pub error: ConnError,
}

impl From<XrpcError> for ConnError {
    fn from(e: XrpcError) -> ConnError {
        e.error
    }
}

impl From<ConnError> for XrpcError {
    fn from(error: ConnError) -> XrpcError {
        XrpcError { name: None, error }
    }
}

pub(super) type XrpcResult<T> = Result<T, XrpcError>;

/// Which service answers a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Service {
    Pds,
    /// `chat.bsky.*`, proxied by the PDS.
    Chat,
}

#[derive(Debug)]
pub(super) struct Xrpc {
    http: reqwest::Client,
    base: Url,
    identifier: String,
    password: Secret,
    session: Mutex<Option<Session>>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<String>,
}

impl Xrpc {
    pub fn new(base: Url, identifier: String, password: Secret) -> Xrpc {
        Xrpc {
            http: http::client(),
            base,
            identifier,
            password,
            session: Mutex::new(None),
        }
    }

    fn url(&self, nsid: &str) -> XrpcResult<Url> {
        self.base.join(&format!("xrpc/{nsid}")).map_err(|e| {
            XrpcError::from(ConnError::Permanent(format!(
                "bad service_url for {nsid}: {e}"
            )))
        })
    }

    /// Logs in afresh with the app password (`createSession`).
    pub async fn create_session(&self) -> XrpcResult<Session> {
        let body = serde_json::json!({
            "identifier": self.identifier,
            "password": self.password.0,
        });
        let req = self
            .http
            .post(self.url("com.atproto.server.createSession")?)
            .json(&body);
        let text = send(req, false).await?;
        let session: Session = parse(&text, "createSession")?;
        *self.session.lock().await = Some(session.clone());
        Ok(session)
    }

    /// The current session, logging in when there is none.
    pub async fn session(&self) -> XrpcResult<Session> {
        let current = self.session.lock().await.clone();
        match current {
            Some(s) => Ok(s),
            None => self.create_session().await,
        }
    }

    /// Checks the session we hold with `getSession` (refreshed when
    /// expired), or logs in when we hold none or it was revoked.
    pub async fn check_session(&self) -> XrpcResult<Session> {
        if self.session.lock().await.is_none() {
            return self.create_session().await;
        }
        match self
            .query(Service::Pds, "com.atproto.server.getSession", &[])
            .await
        {
            Ok(_) => self.session().await,
            Err(e) if matches!(e.error, ConnError::Auth(_)) => self.create_session().await,
            Err(e) => Err(e),
        }
    }

    /// Trades the refresh token for new tokens; logs in again when the
    /// refresh token has expired too.
    async fn refresh(&self, old: &Session) -> XrpcResult<Session> {
        let req = self
            .http
            .post(self.url("com.atproto.server.refreshSession")?)
            .bearer_auth(&old.refresh_jwt);
        match send(req, false).await {
            Ok(text) => {
                let session: Session = parse(&text, "refreshSession")?;
                *self.session.lock().await = Some(session.clone());
                Ok(session)
            }
            Err(e) if matches!(e.name.as_deref(), Some("ExpiredToken" | "InvalidToken")) => {
                self.create_session().await
            }
            Err(e) => Err(e),
        }
    }

    /// A GET (`query`) call; returns the body.
    pub async fn query(
        &self,
        service: Service,
        nsid: &str,
        params: &[(&str, &str)],
    ) -> XrpcResult<String> {
        self.call(Method::GET, service, nsid, params, None, false)
            .await
    }

    /// A POST (`procedure`) call. `write`: a timeout after sending may
    /// have landed (`ConnError::Unknown`).
    pub async fn procedure(
        &self,
        service: Service,
        nsid: &str,
        body: &Value,
        write: bool,
    ) -> XrpcResult<String> {
        self.call(Method::POST, service, nsid, &[], Some(body), write)
            .await
    }

    async fn call(
        &self,
        method: Method,
        service: Service,
        nsid: &str,
        params: &[(&str, &str)],
        body: Option<&Value>,
        write: bool,
    ) -> XrpcResult<String> {
        let url = self.url(nsid)?;
        let mut session = self.session().await?;
        let mut refreshed = false;
        loop {
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(&session.access_jwt);
            if !params.is_empty() {
                req = req.query(params);
            }
            if service == Service::Chat {
                req = req.header("atproto-proxy", CHAT_PROXY);
            }
            if let Some(body) = body {
                req = req.json(body);
            }
            match send(req, write).await {
                Err(e) if !refreshed && e.name.as_deref() == Some("ExpiredToken") => {
                    session = self.refresh(&session).await?;
                    refreshed = true;
                }
                other => return other,
            }
        }
    }
}

/// Sends one request; a non-success status becomes an [`XrpcError`] that
/// keeps the platform's words.
async fn send(req: reqwest::RequestBuilder, write: bool) -> XrpcResult<String> {
    let resp = req
        .send()
        .await
        .map_err(|e| XrpcError::from(http::send_error(&e, write)))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp
        .text()
        .await
        .map_err(|e| XrpcError::from(http::send_error(&e, write)))?;
    if status.is_success() {
        return Ok(text);
    }
    let name = serde_json::from_str::<ErrorBody>(&text)
        .ok()
        .and_then(|b| b.error);
    let mut error = http::error_for(status, &headers, &text, Utc::now());
    // The PDS answers an expired or revoked token with 400.
    if matches!(
        name.as_deref(),
        Some("ExpiredToken" | "InvalidToken" | "AuthenticationRequired")
    ) && !matches!(error, ConnError::Auth(_))
    {
        error = ConnError::Auth(http::reason(status, &text));
    }
    Err(XrpcError { name, error })
}

/// Reads a response body, naming the call when it is not what the lexicon
/// says.
pub(super) fn parse<'a, T: Deserialize<'a>>(text: &'a str, nsid: &str) -> XrpcResult<T> {
    serde_json::from_str(text).map_err(|e| {
        XrpcError::from(ConnError::Transient(format!(
            "unreadable {nsid} response: {e}"
        )))
    })
}
