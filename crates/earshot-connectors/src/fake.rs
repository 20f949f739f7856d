//! A scripted connector for the tests of the runtime, the outbox, the web
//! API and the binary (cargo feature `fake`; never registered in
//! [`crate::build`]). The test scripts what each call returns and reads
//! back every call made: the cursors polled from, the replies sent and the
//! reconciliations asked for.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use earshot_core::source::SourceKind;
use futures_util::StreamExt;
use tokio::time::Instant;

use crate::{
    Capabilities, ConnError, ConnResult, Connector, Cursor, EventStream, Idempotency, LengthLimit,
    Outbound, Page, PrivateGate, RateBudget, Sent, StreamEvent, Transport, Unit,
};

/// How a scripted stream ends once its events are yielded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The connection drops (the stream ends).
    Drop,
    /// It stays open, yielding nothing more.
    Hang,
}

/// What one `send` does.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// Posted; answered with this id.
    Posted,
    /// Posted, but the answer was lost (`ConnError::Unknown`): a
    /// `reconcile` finds it.
    PostedAnswerLost,
    /// Not posted; fails with this error.
    Fail(ConnError),
}

#[derive(Default)]
struct Script {
    starts: VecDeque<ConnResult<()>>,
    polls: VecDeque<ConnResult<Page>>,
    streams: VecDeque<ConnResult<(Vec<ConnResult<StreamEvent>>, StreamEnd)>>,
    sends: VecDeque<SendOutcome>,
    /// Every call, for assertions.
    started: usize,
    polled: Vec<(Option<Cursor>, Instant)>,
    streamed: Vec<Option<Cursor>>,
    sent: Vec<Outbound>,
    reconciled: Vec<Outbound>,
    /// What actually reached the "platform", by idempotency key.
    posted: HashMap<String, Sent>,
}

/// A connector whose answers the test scripts. Clones share one script, so
/// the test keeps a clone and hands another to the runtime.
#[derive(Clone)]
pub struct FakeConnector {
    kind: SourceKind,
    capabilities: Arc<Mutex<Capabilities>>,
    script: Arc<Mutex<Script>>,
}

impl FakeConnector {
    /// A connector of `kind` answering publicly and privately (500 chars),
    /// with `transport` and a generous rate budget.
    pub fn new(kind: SourceKind, transport: Transport) -> Self {
        let caps = Capabilities {
            listen_keyword: true,
            listen_hashtag: false,
            listen_mention: true,
            listen_dm: true,
            reply_public: Some(LengthLimit::new(500, Unit::Chars)),
            reply_private: Some(LengthLimit::new(500, Unit::Chars)),
            private_gate: PrivateGate::None,
            idempotency: Idempotency::ClientId,
            transport,
            rate: RateBudget {
                requests: 1000,
                per: Duration::from_secs(1),
            },
            limitations: Vec::new(),
        };
        FakeConnector {
            kind,
            capabilities: Arc::new(Mutex::new(caps)),
            script: Arc::default(),
        }
    }

    /// A polling connector asked every `interval`.
    pub fn polling(kind: SourceKind, interval: Duration) -> Self {
        Self::new(kind, Transport::Poll { interval })
    }

    /// Replaces the declared capabilities (a rate budget, a length limit).
    pub fn with_capabilities(self, caps: Capabilities) -> Self {
        *lock(&self.capabilities) = caps;
        self
    }

    fn script(&self) -> MutexGuard<'_, Script> {
        lock(&self.script)
    }

    /// The next `start` fails with `error` (unscripted starts succeed).
    pub fn fail_start(&self, error: ConnError) {
        self.script().starts.push_back(Err(error));
    }

    /// The next unanswered `poll` returns `page` (unscripted polls return
    /// an empty page that keeps the cursor).
    pub fn push_page(&self, page: Page) {
        self.script().polls.push_back(Ok(page));
    }

    /// The next unanswered `poll` fails with `error`.
    pub fn push_poll_error(&self, error: ConnError) {
        self.script().polls.push_back(Err(error));
    }

    /// The next `stream` yields `events`, then ends as `end` says
    /// (unscripted streams stay open and yield nothing).
    pub fn push_stream(&self, events: Vec<ConnResult<StreamEvent>>, end: StreamEnd) {
        self.script().streams.push_back(Ok((events, end)));
    }

    /// The next `stream` cannot be opened.
    pub fn push_stream_error(&self, error: ConnError) {
        self.script().streams.push_back(Err(error));
    }

    /// What the next `send` does (unscripted sends post).
    pub fn push_send(&self, outcome: SendOutcome) {
        self.script().sends.push_back(outcome);
    }

    /// How many times `start` was called.
    pub fn starts(&self) -> usize {
        self.script().started
    }

    /// The cursor of each `poll`, in order, with when it was called.
    pub fn polls(&self) -> Vec<(Option<Cursor>, Instant)> {
        self.script().polled.clone()
    }

    /// The cursor each `stream` was opened from.
    pub fn streams(&self) -> Vec<Option<Cursor>> {
        self.script().streamed.clone()
    }

    /// Polls scripted but not yet made.
    pub fn pending_polls(&self) -> usize {
        self.script().polls.len()
    }

    pub fn sent(&self) -> Vec<Outbound> {
        self.script().sent.clone()
    }

    pub fn reconciled(&self) -> Vec<Outbound> {
        self.script().reconciled.clone()
    }

    /// What reached the platform, by idempotency key: one entry per post.
    pub fn posted(&self) -> HashMap<String, Sent> {
        self.script().posted.clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked mid-call leaves plain data behind: still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl Connector for FakeConnector {
    fn kind(&self) -> SourceKind {
        self.kind
    }

    fn capabilities(&self) -> Capabilities {
        lock(&self.capabilities).clone()
    }

    async fn start(&self) -> ConnResult<Capabilities> {
        let next = {
            let mut s = self.script();
            s.started += 1;
            s.starts.pop_front()
        };
        next.unwrap_or(Ok(()))?;
        Ok(self.capabilities())
    }

    async fn poll(&self, cursor: Option<&Cursor>) -> ConnResult<Page> {
        let mut s = self.script();
        s.polled.push((cursor.cloned(), Instant::now()));
        s.polls.pop_front().unwrap_or_else(|| {
            Ok(Page {
                cursor: None,
                ..Page::default()
            })
        })
    }

    async fn stream(&self, cursor: Option<&Cursor>) -> ConnResult<EventStream> {
        let next = {
            let mut s = self.script();
            s.streamed.push(cursor.cloned());
            s.streams.pop_front()
        };
        let (events, end) = next.unwrap_or_else(|| Ok((Vec::new(), StreamEnd::Hang)))?;
        let events = futures_util::stream::iter(events);
        Ok(match end {
            StreamEnd::Drop => events.boxed(),
            StreamEnd::Hang => events.chain(futures_util::stream::pending()).boxed(),
        })
    }

    async fn send(&self, out: &Outbound) -> ConnResult<Sent> {
        self.render(out)?;
        let mut s = self.script();
        s.sent.push(out.clone());
        let outcome = s.sends.pop_front().unwrap_or(SendOutcome::Posted);
        let n = s.posted.len() + 1;
        let landed = || Sent {
            remote_id: format!("fake-{n}"),
            url: Some(format!("https://fake.example/posts/{n}")),
        };
        match outcome {
            SendOutcome::Posted => {
                let sent = s
                    .posted
                    .entry(out.idempotency_key.clone())
                    .or_insert_with(landed)
                    .clone();
                Ok(sent)
            }
            SendOutcome::PostedAnswerLost => {
                s.posted
                    .entry(out.idempotency_key.clone())
                    .or_insert_with(landed);
                Err(ConnError::Unknown("the connection was reset".into()))
            }
            SendOutcome::Fail(e) => Err(e),
        }
    }

    async fn reconcile(&self, out: &Outbound) -> ConnResult<Option<Sent>> {
        let mut s = self.script();
        s.reconciled.push(out.clone());
        Ok(s.posted.get(&out.idempotency_key).cloned())
    }
}
