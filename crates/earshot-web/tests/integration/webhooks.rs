//! Outbound webhooks: queued Slack-compatible payloads are POSTed to the
//! configured URL, retried with backoff on failure, and recorded.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::TimeDelta;
use earshot_app::deliveries::{WebhookTickReport, client, run_webhook_tick, signature};
use earshot_workflow::Clock;
use serde_json::{Value, json};

use crate::support::spawn_app;

/// One request as the receiver saw it: the raw body and the signature headers.
#[derive(Clone, Debug)]
struct Received {
    body: Vec<u8>,
    timestamp: Option<String>,
    signature: Option<String>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A receiver that fails its first request and accepts the rest.
async fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let app =
        axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(
                    |State(seen): State<Arc<Mutex<Vec<Received>>>>,
                     headers: HeaderMap,
                     body: Bytes| async move {
                        let header =
                            |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
                        let mut seen = seen.lock().unwrap();
                        seen.push(Received {
                            body: body.to_vec(),
                            timestamp: header("x-earshot-timestamp"),
                            signature: header("x-earshot-signature"),
                        });
                        if seen.len() == 1 {
                            StatusCode::SERVICE_UNAVAILABLE
                        } else {
                            StatusCode::OK
                        }
                    },
                ),
            )
            .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test]
async fn payloads_are_posted_and_retried_after_a_failure() {
    let app = spawn_app().await;
    let (url, seen) = receiver().await;
    let (status, body) = app
        .post_json("/api/v1/webhooks", &json!({"url": format!("{url}\u{0}")}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().starts_with("url:"),
        "{body}"
    );
    let (status, created) = app
        .post_json("/api/v1/webhooks", &json!({"url": url}))
        .await;
    assert_eq!(status, 201);
    let secret = created["signing_secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{created}");
    // Shown once: the list does not carry it.
    let (_, listed) = app.get_json("/api/v1/webhooks").await;
    assert!(!listed.to_string().contains(&secret), "{listed}");
    let payload = json!({"text": "SLA breached on case 7", "blocks": [{"type": "section"}]});
    let queued = app
        .state
        .app
        .workflow
        .queue_webhooks(&payload, app.clock_now())
        .await
        .unwrap();
    assert_eq!(queued, 1);

    let http = client(app.state.app.delivery_policy).unwrap();
    let now = app.clock_now();
    let first = run_webhook_tick(&app.state.app, &http, now).await.unwrap();
    assert_eq!(
        first,
        WebhookTickReport {
            delivered: 0,
            retrying: 1,
            given_up: 0
        }
    );
    // Not due again until the backoff has passed.
    let early = run_webhook_tick(&app.state.app, &http, now + TimeDelta::seconds(30))
        .await
        .unwrap();
    assert_eq!(early, WebhookTickReport::default());
    app.clock.advance(TimeDelta::minutes(2));
    let second = run_webhook_tick(&app.state.app, &http, app.clock.now())
        .await
        .unwrap();
    assert_eq!(second.delivered, 1);

    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[1].json(), payload);
    // Signed: the receiver recomputes the HMAC over timestamp and raw body.
    let got = &bodies[1];
    let ts = got.timestamp.as_deref().unwrap();
    assert_eq!(ts, app.clock.now().timestamp().to_string());
    assert_eq!(
        got.signature.as_deref().unwrap(),
        signature(&secret, ts.parse().unwrap(), &got.body)
    );
    assert_ne!(
        got.signature.as_deref().unwrap(),
        signature("whsec_someone_else", ts.parse().unwrap(), &got.body)
    );
    let (_, deliveries) = app.get_json("/api/v1/webhooks/deliveries").await;
    assert!(deliveries[0]["delivered_at"].is_string(), "{deliveries}");
    // Delivered payloads are never sent again.
    let later = run_webhook_tick(&app.state.app, &http, app.clock.now() + TimeDelta::hours(2))
        .await
        .unwrap();
    assert_eq!(later, WebhookTickReport::default());
}

#[tokio::test]
async fn an_unreachable_webhook_is_given_up_after_bounded_attempts() {
    let app = spawn_app().await;
    // A port nobody listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/gone");
    app.post_json("/api/v1/webhooks", &json!({"url": url}))
        .await;
    app.state
        .app
        .workflow
        .queue_webhooks(&json!({"text": "x"}), app.clock_now())
        .await
        .unwrap();
    let http = client(app.state.app.delivery_policy).unwrap();
    let mut given_up = 0;
    for _ in 0..earshot_app::deliveries::MAX_ATTEMPTS {
        app.clock.advance(TimeDelta::hours(2));
        given_up += run_webhook_tick(&app.state.app, &http, app.clock.now())
            .await
            .unwrap()
            .given_up;
    }
    assert_eq!(given_up, 1);
    app.clock.advance(TimeDelta::hours(2));
    let after = run_webhook_tick(&app.state.app, &http, app.clock.now())
        .await
        .unwrap();
    assert_eq!(after, WebhookTickReport::default());
}
