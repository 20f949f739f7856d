//! A WebSocket server on 127.0.0.1 that replays scripted text frames
//! (JSONL fixtures), one script per connection, then drops the socket: the
//! way a stream dies mid-way. It records each connection's request path and
//! query, so a test can check the client resumed from its cursor.

use std::sync::{Arc, Mutex};

use futures_util::SinkExt;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

pub struct WsReplay {
    pub url: String,
    requests: Arc<Mutex<Vec<String>>>,
    headers: Arc<Mutex<Vec<Vec<(String, String)>>>>,
}

/// What the server does on one connection.
#[derive(Clone, Debug)]
pub struct Script {
    pub frames: Vec<String>,
    /// Keep the socket open after the frames (the last connection of a
    /// test) instead of dropping it.
    pub hold: bool,
}

impl Script {
    pub fn drop_after(frames: Vec<String>) -> Script {
        Script {
            frames,
            hold: false,
        }
    }
    pub fn hold_after(frames: Vec<String>) -> Script {
        Script { frames, hold: true }
    }
}

impl WsReplay {
    /// Serves `scripts` in order, one per accepted connection; later
    /// connections get an empty held-open stream.
    pub async fn start(scripts: Vec<Script>) -> WsReplay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let headers = Arc::new(Mutex::new(Vec::new()));
        let (req_log, hdr_log) = (requests.clone(), headers.clone());
        tokio::spawn(async move {
            let mut scripts = scripts.into_iter();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let script = scripts.next().unwrap_or(Script::hold_after(Vec::new()));
                let (req_log, hdr_log) = (req_log.clone(), hdr_log.clone());
                tokio::spawn(async move {
                    let callback = |req: &Request, resp: Response| {
                        req_log.lock().unwrap().push(req.uri().to_string());
                        hdr_log.lock().unwrap().push(
                            req.headers()
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                                .collect(),
                        );
                        Ok(resp)
                    };
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await
                    else {
                        return;
                    };
                    for frame in script.frames {
                        if ws.send(Message::text(frame)).await.is_err() {
                            return;
                        }
                    }
                    if script.hold {
                        // Answer pings and wait for the client to go.
                        use futures_util::StreamExt;
                        while let Some(Ok(_)) = ws.next().await {}
                    }
                    // Dropping `ws` without a close frame: a dropped stream.
                });
            }
        });
        WsReplay {
            url: format!("ws://{addr}"),
            requests,
            headers,
        }
    }

    /// The request target (path and query) of every connection so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// The request headers of connection `n`.
    pub fn headers(&self, n: usize) -> Vec<(String, String)> {
        self.headers
            .lock()
            .unwrap()
            .get(n)
            .cloned()
            .unwrap_or_default()
    }
}

/// The non-comment, non-blank lines of a JSONL fixture.
pub fn jsonl(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("//"))
        .map(str::to_string)
        .collect()
}
