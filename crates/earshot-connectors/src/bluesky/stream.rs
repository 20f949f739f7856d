//! The live stream: Jetstream frames, matched and turned into items, with
//! the chat log read every 30 s and merged in (chat is not on the
//! firehose).

use std::collections::VecDeque;
use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::jetstream::{Interest, Outcome};
use super::{CHECKPOINT_EVERY_US, DM_POLL_EVERY, Inner, RESOLVE_BATCH, RESOLVE_WAIT, STREAM_IDLE};
use crate::{ConnError, ConnResult, Cursor, EventStream, Inbound, StreamEvent, http};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens the WebSocket, TLS through rustls with ring and the webpki roots.
pub(super) async fn connect(url: &str) -> ConnResult<Socket> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnError::Permanent(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connecting = tokio_tungstenite::connect_async_tls_with_config(
        url,
        None,
        false,
        Some(tokio_tungstenite::Connector::Rustls(Arc::new(tls))),
    );
    match tokio::time::timeout(http::CONNECT_TIMEOUT, connecting).await {
        Err(_) => Err(ConnError::Transient(
            "Jetstream did not answer in time".into(),
        )),
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(tungstenite::Error::Http(resp)))
            if resp.status().is_client_error() && resp.status().as_u16() != 429 =>
        {
            Err(ConnError::Permanent(format!(
                "Jetstream refused the subscription: HTTP {}",
                resp.status().as_u16()
            )))
        }
        Ok(Err(e)) => Err(ConnError::Transient(format!(
            "cannot open the Jetstream socket: {e}"
        ))),
    }
}

struct State {
    inner: Arc<Inner>,
    socket: Socket,
    interest: Interest,
    /// The cursor as it was given, updated field by field.
    cursor: Map<String, Value>,
    last_time_us: Option<i64>,
    checkpointed_us: i64,
    pending: VecDeque<ConnResult<StreamEvent>>,
    chat: Option<tokio::time::Interval>,
    /// Items waiting for their authors' handles (named by DID until then),
    /// in stream order; no checkpoint passes them.
    held: Vec<Inbound>,
    /// Distinct uncached authors among `held`.
    unresolved: Vec<String>,
    flush_at: Option<Instant>,
    done: bool,
}

enum Wake {
    Frame(Option<Result<Message, tungstenite::Error>>),
    Idle,
    Chat,
    Resolve,
}

pub(super) fn events(
    inner: Arc<Inner>,
    socket: Socket,
    interest: Interest,
    cursor: Map<String, Value>,
    resume_us: Option<i64>,
) -> EventStream {
    let chat = inner.direct_messages.then(|| {
        let mut every = tokio::time::interval_at(Instant::now() + DM_POLL_EVERY, DM_POLL_EVERY);
        every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        every
    });
    let state = State {
        inner,
        socket,
        interest,
        cursor,
        last_time_us: resume_us,
        checkpointed_us: resume_us.unwrap_or(0),
        pending: VecDeque::new(),
        chat,
        held: Vec::new(),
        unresolved: Vec::new(),
        flush_at: None,
        done: false,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(event) = st.pending.pop_front() {
                return Some((event, st));
            }
            if st.done {
                return None;
            }
            let wake = {
                let socket = &mut st.socket;
                let chat = &mut st.chat;
                let flush_at = st.flush_at;
                tokio::select! {
                    _ = async {
                        match flush_at {
                            Some(at) => tokio::time::sleep_until(at).await,
                            None => std::future::pending::<()>().await,
                        }
                    } => Wake::Resolve,
                    frame = tokio::time::timeout(STREAM_IDLE, socket.next()) => match frame {
                        Ok(frame) => Wake::Frame(frame),
                        Err(_) => Wake::Idle,
                    },
                    _ = async {
                        match chat {
                            Some(every) => { every.tick().await; }
                            None => std::future::pending::<()>().await,
                        }
                    } => Wake::Chat,
                }
            };
            match wake {
                Wake::Frame(Some(Ok(Message::Text(text)))) => st.on_text(text.as_str()).await,
                Wake::Frame(Some(Ok(Message::Binary(_)))) => {
                    st.pending.push_back(Ok(StreamEvent::Skipped(
                        "binary Jetstream frame (compression is not asked for)".into(),
                    )))
                }
                Wake::Frame(Some(Ok(Message::Close(_))) | None) => {
                    st.fail("Jetstream closed the stream".into()).await
                }
                Wake::Frame(Some(Ok(_))) => {}
                Wake::Frame(Some(Err(e))) => st.fail(format!("Jetstream stream failed: {e}")).await,
                Wake::Idle => {
                    st.fail(format!(
                        "Jetstream sent nothing for {} s",
                        STREAM_IDLE.as_secs()
                    ))
                    .await
                }
                Wake::Chat => st.on_chat().await,
                Wake::Resolve => st.resolve().await,
            }
        }
    })
    .boxed()
}

impl State {
    async fn fail(&mut self, why: String) {
        self.resolve().await;
        self.pending.push_back(Err(ConnError::Transient(why)));
        self.done = true;
    }

    /// Names the held items' authors with one `getProfiles` call per 25
    /// and releases them, then checkpoints.
    async fn resolve(&mut self) {
        self.flush_at = None;
        if self.held.is_empty() {
            return;
        }
        let dids: Vec<&str> = self.unresolved.iter().map(String::as_str).collect();
        let handles = self.inner.handles(&dids).await;
        for mut item in self.held.drain(..) {
            if let Some(handle) = handles.get(&item.mention.author.handle) {
                item.mention.author.handle = handle.clone();
            }
            self.pending
                .push_back(Ok(StreamEvent::Item(Box::new(item))));
        }
        self.unresolved.clear();
        self.checkpoint();
    }

    fn checkpoint(&mut self) {
        if let Some(t) = self.last_time_us {
            self.cursor.insert("jetstream_time_us".into(), json!(t));
            self.checkpointed_us = t;
        }
        self.pending
            .push_back(Ok(StreamEvent::Checkpoint(Cursor(Value::Object(
                self.cursor.clone(),
            )))));
    }

    async fn on_text(&mut self, text: &str) {
        let (time, outcome) = self.interest.classify(text);
        if let Some(t) = time {
            self.last_time_us = Some(self.last_time_us.map_or(t, |last| last.max(t)));
        }
        match outcome {
            Outcome::Ignore => {}
            Outcome::Skip(why) => {
                tracing::debug!(%why, "bluesky: skipped a Jetstream event");
                self.pending.push_back(Ok(StreamEvent::Skipped(why)));
            }
            Outcome::Hit(hit) => {
                let uri = hit.uri();
                // A replay of the reconnect overlap: already yielded.
                let fresh = self
                    .inner
                    .recent
                    .lock()
                    .map(|mut recent| recent.insert(&uri))
                    .unwrap_or(true);
                if fresh {
                    let cached = self.inner.cached_handle(&hit.did);
                    let handle = cached.as_deref().unwrap_or(&hit.did);
                    match self.inner.hit_item(&hit, time.unwrap_or(0), handle) {
                        Err(why) => self.pending.push_back(Ok(StreamEvent::Skipped(why))),
                        Ok(item) if cached.is_some() && self.held.is_empty() => {
                            self.pending
                                .push_back(Ok(StreamEvent::Item(Box::new(item))));
                            self.checkpoint();
                            return;
                        }
                        Ok(item) => {
                            if cached.is_none() && !self.unresolved.iter().any(|d| *d == hit.did) {
                                self.unresolved.push(hit.did.to_string());
                            }
                            self.held.push(item);
                            if self.unresolved.len() >= RESOLVE_BATCH {
                                self.resolve().await;
                                return;
                            }
                            self.flush_at
                                .get_or_insert_with(|| Instant::now() + RESOLVE_WAIT);
                        }
                    }
                }
            }
        }
        if self.held.is_empty()
            && self
                .last_time_us
                .is_some_and(|t| t - self.checkpointed_us >= CHECKPOINT_EVERY_US)
        {
            self.checkpoint();
        }
    }

    /// Reads the chat log; a failing chat service is logged and retried at
    /// the next tick rather than ending the firehose, except a lost login.
    async fn on_chat(&mut self) {
        // Its checkpoint must not pass firehose items still held.
        self.resolve().await;
        let log = self
            .cursor
            .get("chat_log")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut skipped = Vec::new();
        match self.inner.chat_log(log, &mut skipped).await {
            Ok((items, log, _more)) => {
                self.pending
                    .extend(skipped.into_iter().map(|s| Ok(StreamEvent::Skipped(s))));
                self.pending.extend(
                    items
                        .into_iter()
                        .map(|i| Ok(StreamEvent::Item(Box::new(i)))),
                );
                if let Some(log) = log {
                    self.cursor.insert("chat_log".into(), json!(log));
                }
                self.checkpoint();
            }
            Err(e) if matches!(e.error, ConnError::Auth(_)) => {
                self.pending.push_back(Err(e.error));
                self.done = true;
            }
            Err(e) => tracing::warn!(error = %e.error, "bluesky: reading the chat log failed"),
        }
    }
}
