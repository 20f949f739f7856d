//! The binary as users and scripts run it: analyze, import, and crash safety
//! of acknowledged mentions (`kill -9` right after the acknowledgement).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_earshot");

fn earshot(args: &[&str], data_dir: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("EARSHOT_DATA_DIR", data_dir)
        .env_remove("EARSHOT_DATABASE_URL")
        .output()
        .unwrap()
}

#[test]
fn analyze_prints_the_analysis_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = earshot(
        &[
            "analyze",
            "my flight was cancelled and nobody answers, I want a refund",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sentiment"], "negative");
    assert_eq!(v["complaint"], true);
}

#[test]
fn import_stores_valid_records_reports_bad_ones_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mentions.jsonl");
    let mut f = std::fs::File::create(&file).unwrap();
    writeln!(f, r#"{{"source":"webhook","external_id":"1","author":{{"handle":"a"}},"text":"my parcel never arrived","created_at":"2026-11-22T10:00:00Z"}}"#).unwrap();
    writeln!(f, r#"{{"source":"webhook","external_id":"2","author":{{"handle":"b"}},"text":"hi","created_at":"someday"}}"#).unwrap();
    writeln!(f, r#"{{"source":"webhook","external_id":"3","author":{{"handle":"c"}},"text":"love it","created_at":"2026-11-22T10:00:00Z"}}"#).unwrap();
    drop(f);
    let data = dir.path().join("data");
    let out = earshot(&["import", file.to_str().unwrap(), "--quiet"], &data);
    assert!(
        !out.status.success(),
        "bad records make the exit status non-zero"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["created"], 2);
    assert_eq!(report["invalid"], 1);
    assert!(
        report["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("line 2: created_at:"),
        "{report}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 invalid record"), "{stderr}");

    let again = earshot(&["import", file.to_str().unwrap(), "--quiet"], &data);
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["created"], 0);
    assert_eq!(report["duplicates"], 2);
}

#[test]
fn import_reports_a_broken_csv_quote_reads_on_and_counts_brand_replies() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("twcs.csv");
    std::fs::write(
        &file,
        "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n\
         1,115712,True,Tue Oct 31 22:08:27 +0000 2017,my phone is broken,2,\n\
         2,sprintcare,False,Tue Oct 31 22:10:47 +0000 2017,@115712 please DM us,,1.0\n\
         3,115713,True,Tue Oct 31 22:11:27 +0000 2017,\"the quote never closes,,\n\
         4,115714,True,Tue Oct 31 22:12:27 +0000 2017,\"no signal, again\",,\n",
    )
    .unwrap();
    let out = earshot(&["import", file.to_str().unwrap(), "--quiet"], dir.path());
    assert!(!out.status.success(), "a broken record fails the import");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["created"], 2, "{report}");
    assert_eq!(report["brand_replies"], 1, "{report}");
    assert_eq!(report["invalid"], 1, "{report}");
    let first = report["errors"][0].as_str().unwrap();
    assert!(first.starts_with("line 4: row: a quoted field"), "{first}");
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// A request to `path` with the bootstrap token, and a JSON body if given.
    async fn call(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth("crash-test");
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }

    async fn get_json(&self, client: &reqwest::Client, path: &str) -> serde_json::Value {
        self.call(client, reqwest::Method::GET, path, None)
            .await
            .json()
            .await
            .unwrap()
    }

    /// SIGKILL: no shutdown hook, no flush, nothing but what was committed.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

fn start(data_dir: &std::path::Path) -> Server {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("EARSHOT_DATA_DIR", data_dir)
        .env("EARSHOT_BOOTSTRAP_TOKEN", "crash-test")
        .env_remove("EARSHOT_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

async fn wait_healthy(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("earshot did not become healthy");
}

#[tokio::test]
async fn acknowledged_mentions_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let server = start(dir.path());
    wait_healthy(&client, &server.base).await;
    let mut acknowledged = 0;
    for batch in 0..20 {
        let records: serde_json::Value = (0..50)
            .map(|i| {
                serde_json::json!({
                    "source": "webhook",
                    "external_id": format!("{batch}-{i}"),
                    "author": {"handle": format!("u{i}")},
                    "text": "the app crashed again and I lost my order",
                    "created_at": "2026-11-22T10:00:00Z"
                })
            })
            .collect();
        let r = server
            .call(
                &client,
                reqwest::Method::POST,
                "/api/v1/mentions",
                Some(&records),
            )
            .await;
        assert_eq!(r.status(), 200);
        acknowledged += 50;
    }
    server.kill();

    let server = start(dir.path());
    wait_healthy(&client, &server.base).await;
    let health = server.get_json(&client, "/healthz").await;
    assert_eq!(health["mentions"], acknowledged);
    let found = server
        .get_json(&client, "/api/v1/mentions?q=crashed&limit=500")
        .await;
    assert_eq!(found.as_array().unwrap().len(), 500, "and searchable");
    server.kill();
}

#[tokio::test]
async fn imported_mentions_meet_the_routing_rules() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let server = start(dir.path());
    wait_healthy(&client, &server.base).await;
    let rules = serde_json::json!({"rules": [{
        "id": 1, "name": "refunds", "position": 1,
        "condition": {"type": "keyword", "any_of": ["refund*"]},
        "actions": [{"type": "tag", "tag": "refund"}, {"type": "set_priority", "score": 95}]
    }]});
    let r = server
        .call(&client, reqwest::Method::PUT, "/api/v1/rules", Some(&rules))
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    server.kill();

    let file = dir.path().join("mentions.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"source":"webhook","external_id":"r1","author":{"handle":"ann"},"text":"@shop I was charged twice and want a refund now","created_at":"2026-11-22T10:00:00Z"}"#,
            "\n",
            r#"{"source":"webhook","external_id":"r2","author":{"handle":"bob"},"text":"@shop my parcel is three days late, where is it?","created_at":"2026-11-22T10:01:00Z"}"#,
            "\n"
        ),
    )
    .unwrap();
    let out = earshot(&["import", file.to_str().unwrap(), "--quiet"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let server = start(dir.path());
    wait_healthy(&client, &server.base).await;
    let cases = server.get_json(&client, "/api/v1/cases?limit=10").await;
    let cases = cases.as_array().unwrap();
    let of = |handle: &str| {
        cases
            .iter()
            .find(|c| c["author_handle"] == handle)
            .unwrap_or_else(|| panic!("no case for {handle}: {cases:?}"))
    };
    assert_eq!(
        of("ann")["tags"],
        serde_json::json!(["refund"]),
        "{cases:?}"
    );
    assert_eq!(of("bob")["tags"], serde_json::json!([]), "{cases:?}");
    server.kill();
}

#[test]
fn tokens_are_listed_without_secrets_and_revoked_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let ok = |out: &std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let token = ok(&earshot(
        &["token", "create", "--name", "ci-bot", "--role", "agent"],
        dir.path(),
    ));
    let token = token.trim();
    let listed = ok(&earshot(&["token", "list", "--json"], dir.path()));
    assert!(
        !listed.contains(token) && !listed.contains("hash"),
        "{listed}"
    );
    let v: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(v[0]["name"], "ci-bot");
    assert_eq!(v[0]["role"], "agent");
    assert!(v[0]["revoked_at"].is_null());
    let id = v[0]["id"].as_i64().unwrap().to_string();
    let table = ok(&earshot(&["token", "list"], dir.path()));
    assert!(
        table.contains("ci-bot") && table.contains("agent"),
        "{table}"
    );

    ok(&earshot(&["token", "revoke", &id], dir.path()));
    let v: serde_json::Value =
        serde_json::from_str(&ok(&earshot(&["token", "list", "--json"], dir.path()))).unwrap();
    assert!(v[0]["revoked_at"].is_string(), "{v}");
    let unknown = earshot(&["token", "revoke", "424242"], dir.path());
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("424242"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
}

#[test]
fn a_demo_on_a_busy_port_changes_nothing() {
    // A running demo holds the port (and printed its passwords): a second
    // one must fail before it opens the store, so those passwords stand.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = earshot(
        &[
            "demo",
            "--listen",
            &addr,
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &data,
    );
    assert!(!out.status.success(), "a busy port is an error");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&addr), "names the address: {stderr}");
    assert!(
        !data.join("earshot.db").exists(),
        "nothing was opened, so no password was rotated"
    );
}
