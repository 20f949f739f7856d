//! Hardening against hostile clients: the login redirect, request timeouts,
//! webhook targets and the API rate limit.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use earshot_app::deliveries::{client, refused_by_resolver, run_webhook_tick};
use earshot_core::auth::Role;
use earshot_core::store::Store;
use earshot_web::ServeOptions;
use earshot_web::ratelimit::ApiLimiter;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{TOKEN, both_databases, spawn_app, spawn_app_with};

/// Logs in through the real form with `next` and answers the `Location`.
async fn login_redirect(app: &crate::support::TestApp, next: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client.get(app.url("/login")).send().await.unwrap();
    let csrf = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("earshot_login_csrf="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let r = client
        .post(app.url("/login"))
        .header("cookie", format!("earshot_login_csrf={csrf}"))
        .form(&[
            ("username", "nina"),
            ("password", "desk-test-password"),
            ("csrf_token", csrf.as_str()),
            ("next", next),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "next={next:?}");
    r.headers()["location"].to_str().unwrap().to_string()
}

async fn login_redirects_only_to_paths_on_this_site() {
    let app = spawn_app().await;
    app.desk_session("nina", Role::Agent).await;
    assert_eq!(
        login_redirect(&app, "/cases/7?tab=notes").await,
        "/cases/7?tab=notes"
    );
    for attack in [
        "/\t/evil.example/",
        "/\n/evil.example/",
        "/inbox\r\nSet-Cookie: x=1",
        "//evil.example/",
        "/\\evil.example/",
        "https://evil.example/",
    ] {
        assert_eq!(login_redirect(&app, attack).await, "/inbox", "{attack:?}");
    }
}
both_databases!(login_redirects_only_to_paths_on_this_site);

// ---- Timeouts -------------------------------------------------------------

fn short_timeouts() -> ServeOptions {
    ServeOptions {
        header_read_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(800),
        shutdown_grace: Duration::from_secs(1),
    }
}

/// Reads for at most `limit`: what arrived, and whether the server closed
/// the connection.
async fn read_for(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let closed = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

async fn connect(app: &crate::support::TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_client_that_stalls_in_its_headers_is_disconnected() {
    let app = spawn_app_with(short_timeouts(), |s| s).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHo")
        .await
        .unwrap();
    let started = Instant::now();
    let (_, closed) = read_for(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "still open after 5 s");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = spawn_app_with(short_timeouts(), |s| s).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: earshot\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = read_for(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "an idle connection stayed open");
}

/// Sends the headers of a 100-byte JSON body and one byte of it.
async fn stalled_body(app: &crate::support::TestApp) -> TcpStream {
    let mut stream = connect(app).await;
    let head = format!(
        "POST /api/v1/mentions HTTP/1.1\r\nHost: earshot\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_with_the_error_body() {
    let options = ServeOptions {
        request_timeout: Duration::from_secs(30),
        ..short_timeouts()
    };
    let app = spawn_app_with(options, |s| s).await;
    let mut stream = stalled_body(&app).await;
    let (answer, _) = read_for(&mut stream, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains(r#"{"code":"request_timeout","message":"the request body"#),
        "{answer}"
    );
}

#[tokio::test]
async fn a_request_over_the_time_limit_is_answered_408_with_the_error_body() {
    let options = ServeOptions {
        body_timeout: Duration::from_secs(30),
        ..short_timeouts()
    };
    let app = spawn_app_with(options, |s| s).await;
    let mut stream = stalled_body(&app).await;
    let started = Instant::now();
    let (answer, _) = read_for(&mut stream, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/json"), "{answer}");
    assert!(
        answer.contains(r#"{"code":"request_timeout","message":"the request took too long"#),
        "{answer}"
    );
    assert!(started.elapsed() >= Duration::from_millis(700));
}

#[tokio::test]
async fn the_live_stream_outlives_the_request_timeout() {
    let app = spawn_app_with(short_timeouts(), |s| s).await;
    let (cookie, _) = app.desk_session("lena", Role::Agent).await;
    let mut stream = app
        .client
        .get(app.url("/inbox/stream"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.state
        .app
        .live
        .send(earshot_app::LiveEvent::CaseUpdated {
            case_id: earshot_core::CaseId(42),
        })
        .unwrap();
    let chunk = tokio::time::timeout(Duration::from_secs(3), stream.chunk())
        .await
        .expect("no event within 3 s")
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&chunk);
    assert!(
        text.contains("event: case") && text.contains("42"),
        "{text}"
    );
}

// ---- Webhook targets --------------------------------------------------------

/// A receiver that records each request's path and answers `status`, with
/// `Location: location` when given.
async fn receiver(
    status: StatusCode,
    location: Option<String>,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let log = log.clone();
        let location = location.clone();
        async move {
            log.lock().unwrap().push(uri.path().to_string());
            let mut response = status.into_response();
            if let Some(l) = location {
                response
                    .headers_mut()
                    .insert("location", l.parse().unwrap());
            }
            response
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("127.0.0.1:{port}"), seen)
}

async fn last_errors(app: &crate::support::TestApp) -> Vec<String> {
    let (_, deliveries) = app.get_json("/api/v1/webhooks/deliveries").await;
    deliveries
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["last_error"].as_str().unwrap_or("").to_string())
        .collect()
}

async fn private_webhook_targets_are_refused_unless_allowed() {
    let strict = spawn_app_with(ServeOptions::default(), |s| s).await;
    for url in [
        "http://127.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/hook",
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost:9000/",
    ] {
        let (status, body) = strict
            .post_json("/api/v1/webhooks", &json!({"url": url}))
            .await;
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(body["code"], "invalid_field", "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with("url: "), "{message}");
        assert!(
            !message.contains(url),
            "the URL may carry a secret: {message}"
        );
    }
    let (_, listed) = strict.get_json("/api/v1/webhooks").await;
    assert_eq!(listed, json!([]));
    let (status, _) = strict
        .post_json(
            "/api/v1/webhooks",
            &json!({"url": "https://hooks.example.com/x"}),
        )
        .await;
    assert_eq!(status, 201);

    // spawn_app allows private targets, as EARSHOT_ALLOW_PRIVATE_WEBHOOKS does.
    let open = spawn_app().await;
    for url in ["http://127.0.0.1/", "http://169.254.169.254/"] {
        let (status, body) = open
            .post_json("/api/v1/webhooks", &json!({"url": url}))
            .await;
        assert_eq!(status, 201, "{url}: {body}");
    }
}
both_databases!(private_webhook_targets_are_refused_unless_allowed);

async fn deliveries_to_private_addresses_are_refused_when_sent() {
    let app = spawn_app_with(ServeOptions::default(), |s| s).await;
    let (addr, seen) = receiver(StatusCode::OK, None).await;
    let port = addr.rsplit(':').next().unwrap();
    // Stored directly, as if added while private targets were allowed.
    app.state
        .app
        .workflow
        .add_webhook(
            &format!("http://{addr}/literal"),
            "whsec_x",
            "test",
            app.clock_now(),
        )
        .await
        .unwrap();
    app.state
        .app
        .workflow
        .queue_webhooks(&json!({"text": "x"}), app.clock_now())
        .await
        .unwrap();
    let http = client(app.state.app.delivery_policy).unwrap();
    let report = run_webhook_tick(&app.state.app, &http, app.clock_now())
        .await
        .unwrap();
    assert_eq!(report.retrying, 1, "{report:?}");
    assert!(seen.lock().unwrap().is_empty(), "the receiver was reached");
    let errors = last_errors(&app).await;
    assert!(
        errors[0].starts_with("the URL points at a loopback"),
        "{errors:?}"
    );

    // A name is judged by what it resolves to, by the client's own
    // resolver, so the addresses checked are the ones connected to.
    let err = http
        .post(format!("http://localhost:{port}/name"))
        .send()
        .await
        .unwrap_err();
    assert!(refused_by_resolver(&err), "{err:?}");
    assert!(seen.lock().unwrap().is_empty());
}
both_databases!(deliveries_to_private_addresses_are_refused_when_sent);

async fn redirects_are_not_followed() {
    let app = spawn_app().await;
    let (target, target_seen) = receiver(StatusCode::OK, None).await;
    let (hop, hop_seen) = receiver(
        StatusCode::FOUND,
        Some(format!("http://{target}/elsewhere")),
    )
    .await;
    let (status, _) = app
        .post_json(
            "/api/v1/webhooks",
            &json!({"url": format!("http://{hop}/hook")}),
        )
        .await;
    assert_eq!(status, 201);
    app.state
        .app
        .workflow
        .queue_webhooks(&json!({"text": "x"}), app.clock_now())
        .await
        .unwrap();
    let http = client(app.state.app.delivery_policy).unwrap();
    let report = run_webhook_tick(&app.state.app, &http, app.clock_now())
        .await
        .unwrap();
    assert_eq!((report.delivered, report.retrying), (0, 1), "{report:?}");
    assert_eq!(hop_seen.lock().unwrap().as_slice(), ["/hook"]);
    assert!(
        target_seen.lock().unwrap().is_empty(),
        "the redirect was followed"
    );
    assert_eq!(
        last_errors(&app).await,
        ["the receiver answered HTTP 302; redirect not followed"]
    );
}
both_databases!(redirects_are_not_followed);

// ---- Rate limit -------------------------------------------------------------

async fn each_token_has_its_own_request_quota() {
    let app = spawn_app_with(ServeOptions::default(), |s| {
        s.api_limiter = Arc::new(ApiLimiter::new(Some("3/h,burst=3".parse().unwrap())));
        s
    })
    .await;
    for _ in 0..3 {
        assert_eq!(app.get_json("/api/v1/cases").await.0, 200);
    }
    let r = app
        .authed(reqwest::Method::GET, "/api/v1/cases")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // One request in 20 minutes replenishes.
    assert!((1_000..=1_200).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "too_many_requests", "{body}");

    let other = earshot_app::credentials::generate_token();
    app.store
        .create_token(
            "other",
            &earshot_app::credentials::hash_token(&other),
            Role::Agent,
            app.clock_now(),
        )
        .await
        .unwrap();
    let r = app
        .client
        .get(app.url("/api/v1/cases"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "another token is not limited");
    // An unknown token is turned away before it is counted.
    let r = app
        .client
        .get(app.url("/api/v1/cases"))
        .bearer_auth("es_unknown")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
both_databases!(each_token_has_its_own_request_quota);
