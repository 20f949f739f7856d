//! The contract a client relies on: every rejection under /api/v1 is one JSON
//! shape (bodies pinned whole), and the OpenAPI document lists what each
//! operation can answer.

use insta::assert_json_snapshot;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestApp, mention, spawn_app};

/// Status, content type and body of a response, for one snapshot.
async fn answer(r: reqwest::RequestBuilder) -> Value {
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    json!({"status": status, "content_type": content_type, "body": body})
}

fn get(app: &TestApp, path: &str) -> reqwest::RequestBuilder {
    app.authed(Method::GET, path)
}

#[tokio::test]
async fn an_invalid_field_in_a_mention_names_the_field() {
    let app = spawn_app().await;
    let mut m = mention("x1", "jane", "hello");
    m["created_at"] = json!("yesterday");
    let r = app.authed(Method::POST, "/api/v1/mentions").json(&m);
    assert_json_snapshot!(answer(r).await, @r#"
    {
      "body": {
        "code": "invalid_field",
        "message": "created_at: input contains invalid characters"
      },
      "content_type": "application/json",
      "status": 400
    }
    "#);
}

#[tokio::test]
async fn an_unknown_case_is_case_not_found() {
    let app = spawn_app().await;
    assert_json_snapshot!(answer(get(&app, "/api/v1/cases/999999")).await, @r#"
    {
      "body": {
        "code": "case_not_found",
        "message": "case 999999 not found"
      },
      "content_type": "application/json",
      "status": 404
    }
    "#);
}

#[tokio::test]
async fn a_bad_query_parameter_is_named() {
    let app = spawn_app().await;
    assert_json_snapshot!(answer(get(&app, "/api/v1/mentions?limit=many")).await, @r#"
    {
      "body": {
        "code": "invalid_query_parameter",
        "message": "limit: invalid digit found in string"
      },
      "content_type": "application/json",
      "status": 400
    }
    "#);
}

#[tokio::test]
async fn a_bad_path_parameter_is_json() {
    let app = spawn_app().await;
    assert_json_snapshot!(answer(get(&app, "/api/v1/cases/abc")).await, @r#"
    {
      "body": {
        "code": "invalid_path_parameter",
        "message": "id: \"abc\" is not a valid i64"
      },
      "content_type": "application/json",
      "status": 400
    }
    "#);
}

#[tokio::test]
async fn no_token_is_401() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/api/v1/cases"));
    assert_json_snapshot!(answer(r).await, @r#"
    {
      "body": {
        "code": "unauthorized",
        "message": "no token: send Authorization: Bearer <token> (see `earshot token create`)"
      },
      "content_type": "application/json",
      "status": 401
    }
    "#);
}

#[tokio::test]
async fn a_method_the_path_does_not_take_is_405_with_allow() {
    let app = spawn_app().await;
    let r = app
        .authed(Method::DELETE, "/api/v1/cases")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["allow"], "GET,HEAD");
    let r = app.authed(Method::DELETE, "/api/v1/cases");
    assert_json_snapshot!(answer(r).await, @r#"
    {
      "body": {
        "code": "method_not_allowed",
        "message": "DELETE is not allowed on /api/v1/cases; the Allow header lists what is"
      },
      "content_type": "application/json",
      "status": 405
    }
    "#);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = spawn_app().await;
    let big = vec![b' '; earshot_web::MAX_BODY_BYTES + 1];
    let r = app
        .authed(Method::POST, "/api/v1/mentions")
        .header("content-type", "application/json")
        .body(big);
    assert_json_snapshot!(answer(r).await, @r#"
    {
      "body": {
        "code": "payload_too_large",
        "message": "the request body is larger than 16777216 bytes; send smaller batches"
      },
      "content_type": "application/json",
      "status": 413
    }
    "#);
}

#[tokio::test]
async fn an_unknown_endpoint_is_json_404() {
    let app = spawn_app().await;
    assert_json_snapshot!(answer(get(&app, "/api/v1/nothing-here")).await, @r#"
    {
      "body": {
        "code": "not_found",
        "message": "no such endpoint; see /api/v1/openapi.json"
      },
      "content_type": "application/json",
      "status": 404
    }
    "#);
}

#[tokio::test]
async fn a_second_team_of_the_same_name_is_team_exists() {
    let app = spawn_app().await;
    let team = json!({"name": "care"});
    let (status, _) = app.post_json("/api/v1/teams", &team).await;
    assert_eq!(status, 201);
    let r = app.authed(Method::POST, "/api/v1/teams").json(&team);
    assert_json_snapshot!(answer(r).await, @r#"
    {
      "body": {
        "code": "team_exists",
        "message": "team \"care\" exists; PUT /api/v1/teams/care changes it"
      },
      "content_type": "application/json",
      "status": 409
    }
    "#);
}

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

#[tokio::test]
async fn every_operation_documents_its_errors() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let retry = &doc["components"]["responses"]["TooManyRequests"]["headers"]["Retry-After"];
    assert_eq!(retry["schema"]["type"], "integer");
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            operations += 1;
            let at = format!("{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            for status in ["401", "429", "500"] {
                assert!(responses.contains_key(status), "{at}: no {status}");
            }
            if path.contains('{') {
                assert!(responses.contains_key("404"), "{at}: no 404");
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413"] {
                    assert!(responses.contains_key(status), "{at}: no {status}");
                }
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                let in_path = path.contains(&format!("{{{name}}}"));
                assert_eq!(p["in"] == "path", in_path, "{at}: parameter {name}");
            }
        }
    }
    assert!(operations >= 47, "{operations} operations");
}

#[tokio::test]
async fn the_workflow_api_is_in_the_openapi_document() {
    let app = spawn_app().await;
    let (_, doc) = app.get_json("/api/v1/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/teams",
        "/api/v1/users",
        "/api/v1/rules",
        "/api/v1/rules/dry-run",
        "/api/v1/sla-policies",
        "/api/v1/cases/{id}/sla",
        "/api/v1/sla/report",
        "/api/v1/audit",
        "/api/v1/approvals",
        "/api/v1/replies/{id}/approve",
        "/api/v1/cases/{id}/presence",
        "/api/v1/notifications",
        "/api/v1/cases/{id}/handoff",
    ] {
        assert!(paths.contains_key(path), "{path} missing");
    }
}
