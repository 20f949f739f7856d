//! Calls the case-workflow tests share: tokens, authenticated requests,
//! profiles, teams, cases and notifications.

use earshot_core::auth::Role;
use earshot_core::store::Store;
use reqwest::Method;
use serde_json::Value;

use crate::support::{TestApp, mention};

// Every text that must open a case asks a question: the question signal is
// rule-based, so these tests do not depend on the sentiment model's verdicts.
pub(crate) const COMPLAINT: &str = "@acme my order 4411 never arrived and support hung up on me twice. \
                         Where is my money? I am cancelling my account";

/// A bearer token for user `name` (the principal is `token:<name>`).
pub(crate) async fn token_for(app: &TestApp, name: &str, role: Role) -> String {
    let token = earshot_web::auth::generate_token();
    app.store
        .create_token(
            name,
            &earshot_web::auth::hash_token(&token),
            role,
            app.clock_now(),
        )
        .await
        .unwrap();
    token
}

pub(crate) async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn admin(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    call(app, crate::support::TOKEN, method, path, body).await
}

pub(crate) async fn profile(app: &TestApp, name: &str, body: Value) {
    let (s, b) = admin(
        app,
        Method::PUT,
        &format!("/api/v1/users/{name}/profile"),
        Some(body),
    )
    .await;
    assert_eq!(s, 200, "{b}");
}

pub(crate) async fn team(app: &TestApp, body: Value) {
    let (s, b) = admin(app, Method::POST, "/api/v1/teams", Some(body)).await;
    assert_eq!(s, 201, "{b}");
}

pub(crate) async fn open_case(app: &TestApp, id: &str, handle: &str, text: &str) -> i64 {
    let (s, b) = app
        .post_json("/api/v1/mentions", &mention(id, handle, text))
        .await;
    assert_eq!(s, 201, "{b}");
    b["case"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no case: {b}"))
}

pub(crate) async fn case(app: &TestApp, id: i64) -> Value {
    let (s, b) = app.get_json(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(s, 200, "{b}");
    b
}

pub(crate) async fn notifications(app: &TestApp, token: &str) -> Vec<Value> {
    let (s, b) = call(app, token, Method::GET, "/api/v1/notifications", None).await;
    assert_eq!(s, 200, "{b}");
    b.as_array().unwrap().clone()
}

pub(crate) fn kinds(n: &[Value]) -> Vec<String> {
    n.iter()
        .map(|x| x["kind"].as_str().unwrap().to_string())
        .collect()
}
