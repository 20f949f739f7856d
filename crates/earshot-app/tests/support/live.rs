//! What the live suites share: an app on a real store with the real
//! connectors and runtime, fast timings, waits, the Bluesky PDS stand-in,
//! an IMAP reader, and the macro that runs a test on SQLite and PostgreSQL.
//! Included by `connectors_live.rs` and `private_handoff.rs`; each uses
//! part of it.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use earshot_app::App;
use earshot_app::listen::ListenOptions;
use earshot_app::runtime::{Intervals, Runtime};
use earshot_app::sources::{self, SourceView};
use earshot_core::analysis::{Analysis, Analyzer, Sentiment};
use earshot_core::auth::{Principal, Role};
use earshot_core::ids::{CaseId, SourceId};
use earshot_core::mention::Mention;
use earshot_core::pipeline::Pipeline;
use earshot_core::priority::PriorityWeights;
use earshot_core::source::SourceKind;
use earshot_core::sources::SourceState;
use earshot_core::store::{MentionQuery, Store};
use earshot_core::workflow_store::{UserProfile, WorkflowStore};
use earshot_store::{Location, SqlStore};
use earshot_workflow::SystemClock;
use futures_util::TryStreamExt;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::mail_server::MailServer;

pub const OUR_DID: &str = "did:plc:acmebrandaccount000000000";
pub const CUSTOMER_DID: &str = "did:plc:customeraaaaaaaaaaaaaaaa";

/// Complaints open cases: texts with one of these words.
pub struct Keywords;
impl Analyzer for Keywords {
    fn analyze(&self, text: &str) -> Analysis {
        let complaint = ["never", "broke", "refund", "charged twice"]
            .iter()
            .any(|w| text.to_lowercase().contains(w));
        Analysis {
            sentiment: if complaint {
                Sentiment::Negative
            } else {
                Sentiment::Neutral
            },
            sentiment_score: if complaint { -0.8 } else { 0.0 },
            complaint,
            complaint_score: if complaint { 0.9 } else { 0.1 },
            language: Some("en".into()),
            ..Analysis::default()
        }
    }
}

pub fn admin() -> Principal {
    Principal {
        name: "root".into(),
        role: Role::Admin,
    }
}

/// Fast timings: tests wait milliseconds, not seconds.
pub fn quick() -> ListenOptions {
    ListenOptions {
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(200),
        healthy_after: Duration::from_secs(30),
        batch_max: 200,
        batch_window: Duration::from_millis(30),
    }
}

/// Only the outbox and the sources run; the outbox is also woken at once
/// whenever a reply is queued.
pub fn intervals() -> Intervals {
    let hour = Duration::from_secs(3600);
    Intervals {
        sla_tick: hour,
        deliveries: hour,
        priority: hour,
        outbox: Duration::from_millis(200),
        csat: hour,
        recovery: hour,
    }
}

pub struct Live {
    pub app: App,
    pub store: Arc<SqlStore>,
    _dir: Option<tempfile::TempDir>,
}

impl Live {
    pub async fn new(store: SqlStore, dir: Option<tempfile::TempDir>) -> Live {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("earshot_app=debug,earshot_connectors=debug,sqlx=warn")
            .with_test_writer()
            .try_init();
        let store = Arc::new(store);
        // The default connector factory: `earshot_connectors::build`.
        let app = App::new(
            store.clone(),
            Pipeline::new(Arc::new(Keywords), PriorityWeights::default()),
            Arc::new(SystemClock),
        );
        store
            .put_user(
                &UserProfile {
                    role: Some(Role::Admin),
                    ..UserProfile::new("root")
                },
                "test",
                Utc::now(),
            )
            .await
            .unwrap();
        Live {
            app,
            store,
            _dir: dir,
        }
    }

    pub fn run(&self) -> Runtime {
        Runtime::start_with(&self.app, intervals(), quick())
    }

    pub async fn add(&self, kind: SourceKind, name: &str, config: Value) -> SourceView {
        sources::create(&self.app, &admin(), kind, name, config)
            .await
            .unwrap()
    }

    pub async fn view(&self, id: SourceId) -> SourceView {
        sources::get(&self.app, &admin(), id).await.unwrap()
    }

    /// Waits until the source's connector has answered and a cursor is
    /// saved: from here on, whatever the customer posts is new to it.
    pub async fn listening(&self, id: SourceId) {
        eventually("the source to be running with a cursor", || async {
            let v = self.view(id).await;
            assert_ne!(
                v.health.state,
                SourceState::Error,
                "{:?}",
                v.health.last_error
            );
            v.health.state == SourceState::Running && v.cursor.is_some()
        })
        .await;
    }

    pub async fn mention(&self, external_id: &str) -> Option<Mention> {
        self.store
            .mentions(&MentionQuery::default())
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.mention.external_id == external_id)
    }

    /// Waits until the post is stored, and returns the case it opened.
    pub async fn case_of(&self, external_id: &str) -> CaseId {
        until(&format!("a case for {external_id}"), || async {
            self.mention(external_id).await.and_then(|m| m.case_id)
        })
        .await
    }
}

/// Waits (up to 45 s: the machine may be busy, and an email the test
/// server did not report to IDLE waits for the 20-second re-read) until `check` finds
/// something, and returns it.
pub async fn until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `check` holds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    until(what, || {
        let holds = check();
        async move { holds.await.then_some(()) }
    })
    .await
}

/// The one mention by `handle` heard on `kind`, once stored.
pub async fn mention_by(live: &Live, kind: SourceKind, handle: &str) -> Mention {
    until(&format!("{handle}'s mention"), || async {
        let all = live.store.mentions(&MentionQuery::default()).await.unwrap();
        all.into_iter()
            .find(|m| m.mention.source == kind && m.mention.author.handle == handle)
    })
    .await
}

/// A fake PDS: the session, the customer's profile, no notifications yet,
/// and `createRecord` answering with the record's URI (its rkey as asked).
pub async fn pds() -> MockServer {
    let server = MockServer::start().await;
    let session = json!({
        "did": OUR_DID,
        "handle": "acme.bsky.social",
        "accessJwt": "access-1",
        "refreshJwt": "refresh-1",
    });
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.server.createSession"))
        .respond_with(ResponseTemplate::new(200).set_body_json(session.clone()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/com.atproto.server.getSession"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"did": OUR_DID, "handle": "acme.bsky.social"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.actor.getProfiles"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"profiles": [
                {"did": CUSTOMER_DID, "handle": "customer.bsky.social", "displayName": "Casey"},
            ]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.notification.listNotifications"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"notifications": []})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.repo.createRecord"))
        .respond_with(|req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let rkey = body["rkey"].as_str().unwrap_or("none");
            ResponseTemplate::new(200).set_body_json(json!({
                "uri": format!("at://{OUR_DID}/app.bsky.feed.post/{rkey}"),
                "cid": "bafyreiourreply",
            }))
        })
        .mount(&server)
        .await;
    server
}

/// A Jetstream commit: the customer's post @mentioning the brand, now.
pub fn customer_post_frame(rkey: &str, cid: &str, text: &str) -> String {
    let handle = "@acme.bsky.social";
    assert!(text.starts_with(handle));
    json!({
        "did": CUSTOMER_DID,
        "time_us": Utc::now().timestamp_micros(),
        "kind": "commit",
        "commit": {
            "rev": "3lcustlive0001",
            "operation": "create",
            "collection": "app.bsky.feed.post",
            "rkey": rkey,
            "record": {
                "$type": "app.bsky.feed.post",
                "createdAt": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "langs": ["en"],
                "text": text,
                "facets": [{
                    "index": {"byteStart": 0, "byteEnd": handle.len()},
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": OUR_DID}],
                }],
            },
            "cid": cid,
        },
    })
    .to_string()
}

/// Every message in `user`'s INBOX, raw, oldest first.
pub async fn inbox(server: &MailServer, user: &str) -> Vec<Vec<u8>> {
    let tcp = tokio::net::TcpStream::connect((server.imap.0.as_str(), server.imap.1))
        .await
        .unwrap();
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.unwrap();
    let mut session = client
        .login(user, &server.password)
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    let selected = session.select("INBOX").await.unwrap();
    if selected.exists == 0 {
        session.logout().await.unwrap();
        return Vec::new();
    }
    let fetched: Vec<_> = session
        .uid_fetch("1:*", "(UID BODY.PEEK[])")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mail = fetched
        .iter()
        .filter_map(|f| f.body().map(<[u8]>::to_vec))
        .collect();
    session.logout().await.unwrap();
    mail
}

pub async fn sqlite() -> Option<Live> {
    let dir = tempfile::tempdir().unwrap();
    let store = earshot_store::open(&Location::SqliteDir(dir.path().to_path_buf()))
        .await
        .unwrap();
    Some(Live::new(store, Some(dir)).await)
}

pub async fn postgres() -> Option<Live> {
    let url = earshot_store::testing::postgres_url()?;
    let url = earshot_store::testing::fresh_postgres_database(&url)
        .await
        .unwrap();
    let store = earshot_store::open(&Location::Postgres(url)).await.unwrap();
    Some(Live::new(store, None).await)
}

macro_rules! both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(live) = crate::live::sqlite().await {
                        super::$test(live).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(live) = crate::live::postgres().await {
                        super::$test(live).await;
                    }
                }
            )*
        }
    };
}
