//! The fake Mastodon's notification stream, seen by a WebSocket client:
//! it counts subscribed streams, so a caller knows when a pushed mention
//! will be delivered rather than dropped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use earshot_peers::mastodon::{FakeMastodon, TOKEN};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn until(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_subscribed_stream_is_counted_and_receives_mentions() {
    let fake = FakeMastodon::start(0).await.unwrap();
    let url = format!(
        "{}/api/v1/streaming",
        fake.base_url.replace("http://", "ws://")
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    // Connected but not yet subscribed: not counted.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(fake.notification_streams(), 0);

    ws.send(Message::text(
        r#"{"type":"subscribe","stream":"user:notification"}"#,
    ))
    .await
    .unwrap();
    until("the subscription is counted", || {
        fake.notification_streams() == 1
    })
    .await;

    let id = fake.customer_mention("ana", "my order never came");
    let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a frame")
        .unwrap()
        .unwrap();
    let event: Value = serde_json::from_str(frame.to_text().unwrap()).unwrap();
    assert_eq!(event["event"], "notification");
    let payload: Value = serde_json::from_str(event["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["type"], "mention");
    assert_eq!(payload["status"]["id"], id.as_str());

    ws.close(None).await.unwrap();
    drop(ws);
    until("the closed stream is no longer counted", || {
        fake.notification_streams() == 0
    })
    .await;
}
