//! The binary with a real connector against a local Mastodon
//! (`earshot_peers::mastodon`): an admin adds the account over the API,
//! customers' mentions become cases, a reply leaves exactly once in its
//! thread, and `kill -9` while listening or sending loses nothing and
//! posts nothing twice, counted on the fake server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use earshot_peers::mastodon::{FakeMastodon, PostFault, TOKEN};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_earshot");
const ADMIN: &str = "connector-test";
/// 32 bytes, base64: the key that seals the source's token, the same for
/// every start so a restarted server can open it.
const SECRET_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
/// The outbox lease of the send-crash test: a reply held by a killed
/// server is taken over after this, not after the default minute.
const SHORT_LEASE_SECS: &str = "4";

/// An `earshot serve` process on a SQLite data dir.
struct Server {
    child: Option<Child>,
    base: String,
    client: reqwest::Client,
    log: PathBuf,
}

impl Server {
    /// Starts the binary and waits until it answers `/healthz`.
    async fn start(data_dir: &Path, port: u16, env: &[(&str, &str)]) -> Server {
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        let n = STARTS.fetch_add(1, Ordering::Relaxed);
        let log = data_dir.join(format!("earshot-{n}.log"));
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("EARSHOT_DATA_DIR", data_dir)
            .env("EARSHOT_BOOTSTRAP_TOKEN", ADMIN)
            .env("EARSHOT_SECRET_KEY", SECRET_KEY)
            // The tests poll the API faster than a person would.
            .env("EARSHOT_RATE_LIMIT", "off")
            .env("EARSHOT_LOG", "info")
            .env_remove("EARSHOT_DATABASE_URL")
            .env_remove("EARSHOT_OUTBOX_LEASE_SECS")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            command.env(k, v);
        }
        let server = Server {
            child: Some(command.spawn().unwrap()),
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = server
                .client
                .get(format!("{}/healthz", server.base))
                .send()
                .await
                && r.status() == 200
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("earshot did not become healthy");
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// SIGKILL: nothing survives but what was committed.
    fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- {} (last lines) ---", self.log.display());
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Waits until `f` gives a value, or fails after `secs` naming `what`.
async fn wait_for<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Adds the brand's Mastodon account as an admin does, and waits until it
/// listens: it is running and has its starting cursor (a new source starts
/// from now, so only what is posted after this is heard).
async fn add_mastodon(server: &Server, fake: &FakeMastodon) -> i64 {
    let (status, body) = server
        .call(
            reqwest::Method::POST,
            "/api/v1/sources",
            Some(json!({
                "kind": "mastodon",
                "name": "Acme on Mastodon",
                "config": {"base_url": fake.base_url, "access_token": TOKEN},
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(
        !body.to_string().contains(TOKEN),
        "the token is write-only: {body}"
    );
    assert_eq!(body["credentials_set"], json!(["access_token"]), "{body}");
    let id = body["id"].as_i64().unwrap();
    listening(server, id).await;
    id
}

async fn listening(server: &Server, id: i64) {
    wait_for(30, "the source listens", || async {
        let source = server.get(&format!("/api/v1/sources/{id}")).await;
        (source["health"]["state"] == "running" && !source["cursor"].is_null()).then_some(())
    })
    .await;
}

async fn mention_count(server: &Server) -> i64 {
    server.get("/healthz").await["mentions"].as_i64().unwrap()
}

async fn cases(server: &Server) -> Vec<Value> {
    server
        .get("/api/v1/cases?limit=500")
        .await
        .as_array()
        .unwrap()
        .clone()
}

/// The id of the case opened by `handle`.
async fn case_of(server: &Server, handle: &str) -> Option<i64> {
    cases(server)
        .await
        .iter()
        .find(|c| c["author_handle"] == handle)
        .and_then(|c| c["id"].as_i64())
}

/// Sends a public reply on the case, as an agent does.
async fn reply(server: &Server, case_id: i64, body: &str) -> i64 {
    let (status, reply) = server
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/cases/{case_id}/replies"),
            Some(json!({"visibility": "public", "body": body, "send": true})),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(
        reply["status"], "queued",
        "a running connector takes it: {reply}"
    );
    reply["id"].as_i64().unwrap()
}

/// The reply as the case detail shows it (with its `delivery`).
async fn shown_reply(server: &Server, case_id: i64, reply_id: i64) -> Value {
    let case = server.get(&format!("/api/v1/cases/{case_id}")).await;
    case["replies"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["id"] == reply_id).cloned())
        .unwrap_or(Value::Null)
}

async fn sent_reply(server: &Server, case_id: i64, reply_id: i64) -> Value {
    sent_within(30, server, case_id, reply_id).await
}

async fn sent_within(secs: u64, server: &Server, case_id: i64, reply_id: i64) -> Value {
    wait_for(secs, "the reply is sent", || async {
        let shown = shown_reply(server, case_id, reply_id).await;
        assert_ne!(shown["status"], "failed", "{shown}");
        (shown["status"] == "sent").then_some(shown)
    })
    .await
}

/// The brand status the fake server made with this local id.
fn brand_status(fake: &FakeMastodon, id: &str) -> Value {
    fake.brand_statuses()
        .into_iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no brand status {id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mastodon_mention_becomes_a_case_and_the_reply_arrives_once_in_its_thread() {
    let fake = FakeMastodon::start(0).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), free_port(), &[]).await;
    add_mastodon(&server, &fake).await;
    let status_id = fake.customer_mention(
        "ida@social.example",
        "my order 4411 never arrived, two weeks now",
    );

    let case_id = wait_for(30, "the mention is a case", || {
        case_of(&server, "ida@social.example")
    })
    .await;
    let case = server.get(&format!("/api/v1/cases/{case_id}")).await;
    let mention = &case["mentions"][0];
    assert_eq!(case["mentions"].as_array().unwrap().len(), 1, "{case}");
    assert!(
        mention["text"]
            .as_str()
            .unwrap()
            .contains("my order 4411 never arrived"),
        "{mention}"
    );
    assert!(
        mention["external_id"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/statuses/{status_id}")),
        "named by the status uri: {mention}"
    );

    let body = "Ida, I am sorry: order 4411 ships again today, tracking by DM.";
    let reply_id = reply(&server, case_id, body).await;
    let shown = sent_reply(&server, case_id, reply_id).await;

    let posts = fake.received_posts();
    assert_eq!(posts.len(), 1, "posted exactly once: {posts:?}");
    let post = &posts[0];
    assert_eq!(
        post.in_reply_to_id.as_deref(),
        Some(status_id.as_str()),
        "threaded under the mention"
    );
    assert_eq!(post.visibility, "public", "the mention's audience");
    assert_eq!(post.status, format!("@ida@social.example {body}"));
    assert!(
        post.idempotency_key.is_some(),
        "carries its idempotency key"
    );
    let made = brand_status(&fake, post.status_id.as_deref().unwrap());
    assert_eq!(fake.brand_statuses().len(), 1);
    // The connector names a sent reply by its status uri, as it names the
    // mentions it hears.
    assert_eq!(shown["channel_message_id"], made["uri"], "{shown}");
    assert_eq!(shown["channel_url"], made["url"], "{shown}");
    assert_eq!(shown["delivered_via"], "channel", "{shown}");
    assert_eq!(shown["delivery"]["status"], "sent", "{shown}");
    assert_eq!(shown["delivery"]["attempts"], 1, "{shown}");
    assert_eq!(shown["delivery"]["remote_id"], made["uri"], "{shown}");
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_listening_loses_no_mention_and_stores_none_twice() {
    let fake = Arc::new(FakeMastodon::start(0).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = Server::start(dir.path(), port, &[]).await;
    let source_id = add_mastodon(&server, &fake).await;
    // A sustained flow of mentions that goes on while the server is killed
    // and started again.
    let total: i64 = 400;
    let producer = {
        let fake = fake.clone();
        tokio::spawn(async move {
            for i in 0..total {
                fake.customer_mention(
                    &format!("customer{i}@social.example"),
                    &format!("parcel {i} is lost, please help"),
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    wait_for(30, "some mentions are stored", || async {
        (mention_count(&server).await > 10).then_some(())
    })
    .await;
    server.kill();
    assert!(!producer.is_finished(), "killed during the flow");
    let server = Server::start(dir.path(), port, &[]).await;
    producer.await.unwrap();
    wait_for(60, "every mention is stored", || async {
        (mention_count(&server).await >= total).then_some(())
    })
    .await;
    assert_eq!(mention_count(&server).await, total, "none stored twice");
    let source = server.get(&format!("/api/v1/sources/{source_id}")).await;
    assert_eq!(
        source["health"]["mentions_ingested"], total,
        "each counted once: {source}"
    );
    assert_eq!(source["health"]["records_skipped"], 0, "{source}");
    let handles: HashSet<String> = cases(&server)
        .await
        .iter()
        .map(|c| c["author_handle"].as_str().unwrap().to_string())
        .collect();
    let expected: HashSet<String> = (0..total)
        .map(|i| format!("customer{i}@social.example"))
        .collect();
    assert_eq!(handles, expected, "one case per customer, none missing");
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_sending_posts_every_reply_exactly_once() {
    let fake = FakeMastodon::start(0).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let lease = [("EARSHOT_OUTBOX_LEASE_SECS", SHORT_LEASE_SECS)];
    let server = Server::start(dir.path(), port, &lease).await;
    add_mastodon(&server, &fake).await;
    let customers = 12;
    let mut mention_of = HashMap::new();
    for i in 0..customers {
        let handle = format!("c{i}@social.example");
        let id = fake.customer_mention(&handle, &format!("refund {i} still missing after a month"));
        mention_of.insert(handle, id);
    }
    let mut cases = Vec::new();
    for i in 0..customers {
        let handle = format!("c{i}@social.example");
        let case_id = wait_for(30, "the mention is a case", || case_of(&server, &handle)).await;
        cases.push((handle, case_id));
    }

    // A third of the replies are posted and acknowledged; then the platform
    // creates the next status but answers late, and the server is killed
    // while that post is in flight and the rest are queued.
    let body = |i: usize| format!("We found refund {i}: it is on its way today.");
    let mut replies = Vec::new();
    let before = customers / 3;
    for (i, (_, case_id)) in cases.iter().enumerate().take(before) {
        replies.push((*case_id, reply(&server, *case_id, &body(i)).await));
    }
    wait_for(30, "the first replies are posted", || async {
        (fake.received_posts().len() >= before).then_some(())
    })
    .await;
    fake.fault_next_post(PostFault::SlowAfterCreating(Duration::from_secs(30)));
    for (i, (_, case_id)) in cases.iter().enumerate().skip(before) {
        replies.push((*case_id, reply(&server, *case_id, &body(i)).await));
    }
    wait_for(30, "a post is in flight", || async {
        (fake.received_posts().len() > before).then_some(())
    })
    .await;
    server.kill();
    let in_flight = fake.received_posts()[before].clone();

    let server = Server::start(dir.path(), port, &lease).await;
    // The post in flight waits out its lease; the queued ones leave as
    // soon as the source is running again, not 30 s later.
    let restarted = Instant::now();
    let mut shown = Vec::new();
    for (case_id, reply_id) in &replies {
        shown.push(sent_within(20, &server, *case_id, *reply_id).await);
    }
    eprintln!(
        "every reply sent {:?} after the restart",
        restarted.elapsed()
    );

    let posts = fake.received_posts();
    let statuses = fake.brand_statuses();
    let mut keys: HashMap<String, HashSet<String>> = HashMap::new();
    for post in &posts {
        let key = post
            .idempotency_key
            .clone()
            .expect("every POST has its key");
        keys.entry(key)
            .or_default()
            .insert(post.status_id.clone().unwrap());
    }
    eprintln!(
        "{} POSTs received, {} idempotency keys, {} brand statuses",
        posts.len(),
        keys.len(),
        statuses.len()
    );
    assert_eq!(keys.len(), customers, "one key per reply: {posts:?}");
    assert!(
        keys.values().all(|made| made.len() == 1),
        "a repeated key made no second status: {keys:?}"
    );
    assert_eq!(
        statuses.len(),
        customers,
        "one status per reply: {statuses:?}"
    );
    for ((handle, _), reply) in cases.iter().zip(&shown) {
        let answers: Vec<&Value> = statuses
            .iter()
            .filter(|s| s["in_reply_to_id"] == mention_of[handle].as_str())
            .collect();
        assert_eq!(answers.len(), 1, "{handle} answered once: {answers:?}");
        assert_eq!(reply["channel_message_id"], answers[0]["uri"], "{reply}");
    }
    let landed = brand_status(&fake, in_flight.status_id.as_deref().unwrap());
    assert!(
        shown
            .iter()
            .any(|r| r["channel_message_id"] == landed["uri"]),
        "the post in flight at the kill is the reply's, found again"
    );
    server.kill();
}
