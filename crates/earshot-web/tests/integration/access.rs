//! Read access found broken by an outside client: secrets kept out of the
//! audit log.

use earshot_core::auth::Role;
use reqwest::Method;
use serde_json::json;

use crate::support::{TestApp, spawn_app};
use crate::workflow::{admin, token_for};

async fn text(app: &TestApp, token: &str, path: &str) -> (u16, String) {
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A webhook URL carries its secret in the path (Slack) or query; neither
/// it nor the signing secret reaches the audit log, whoever reads it.
#[tokio::test]
async fn webhook_secrets_never_reach_the_audit_log() {
    let app = spawn_app().await;
    let url = "https://hooks.slack.com/services/T0AAAA/B0BBBB/s3cr3tXYZ?key=qq9";
    let (s, created) = admin(
        &app,
        Method::POST,
        "/api/v1/webhooks",
        Some(json!({"url": url})),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let signing = created["signing_secret"].as_str().unwrap().to_string();
    let id = created["id"].as_i64().unwrap();
    let (s, _) = admin(
        &app,
        Method::DELETE,
        &format!("/api/v1/webhooks/{id}"),
        None,
    )
    .await;
    assert_eq!(s, 204);

    let supervisor = token_for(&app, "sue", Role::Supervisor).await;
    let analyst = token_for(&app, "ana", Role::Analyst).await;
    for token in [supervisor.as_str(), analyst.as_str(), crate::support::TOKEN] {
        let (s, body) = text(&app, token, "/api/v1/audit?entity=webhook").await;
        assert_eq!(s, 200, "{body}");
        assert!(body.contains("https://hooks.slack.com/…"), "{body}");
        for leak in ["s3cr3tXYZ", "T0AAAA", "/services", "qq9", signing.as_str()] {
            assert!(!body.contains(leak), "{leak} in {body}");
        }
    }
}
