#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The App Store reviews connector against a local fake of the App Store
//! Connect API, with payloads retyped from
//! developer.apple.com/documentation/appstoreconnectapi/customer-reviews and
//! .../customer-review-responses (see tests/fixtures/reviews/README.md). The
//! ES256 key is generated here, and every request's token is verified with
//! its public half.

use std::time::Duration;

use earshot_connectors::reviews::app_store::AppStore;
use earshot_connectors::{ConnError, Connector, InboundKind, Outbound};
use earshot_core::reply::Visibility;
use earshot_core::source::SourceKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use p256::elliptic_curve::Generate;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const REVIEWS: &str = "/v1/apps/1234567890/customerReviews";
const ISSUER: &str = "57246542-96fe-1a63-e053-0824d011072a";

struct Keys {
    p8: String,
    public_pem: String,
}

fn keys() -> Keys {
    let secret = p256::SecretKey::generate_from_rng(&mut rand_0_10::rng());
    Keys {
        p8: secret.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
        public_pem: secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
    }
}

fn fixture(server: &MockServer) -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/reviews/app_store_customer_reviews.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    serde_json::from_str(&text.replace("{{BASE}}", &server.uri())).unwrap()
}

fn connector(server: &MockServer, keys: &Keys) -> AppStore {
    let settings = earshot_connectors::split_settings(
        SourceKind::AppStore,
        json!({
            "app_id": "1234567890",
            "issuer_id": ISSUER,
            "key_id": "2X9R4HXF34",
            "base_url": server.uri(),
            "private_key_p8": keys.p8,
        }),
    )
    .unwrap();
    assert!(settings.credentials.contains_key("private_key_p8"));
    AppStore::from_settings(&settings).unwrap()
}

/// Decodes a request's bearer token with the key's public half.
fn claims(request: &Request, keys: &Keys) -> (jsonwebtoken::Header, Value) {
    let auth = request
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    let token = auth.strip_prefix("Bearer ").unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&["appstoreconnect-v1"]);
    validation.set_issuer(&[ISSUER]);
    let decoded = jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_ec_pem(keys.public_pem.as_bytes()).unwrap(),
        &validation,
    )
    .unwrap();
    (decoded.header, decoded.claims)
}

fn reply(body: &str) -> Outbound {
    Outbound {
        idempotency_key: "0193a0e0-0000-7000-8000-000000000002".into(),
        visibility: Visibility::Public,
        body: body.into(),
        recipient: "notetaker42".into(),
        reply_ref: json!({"review_id": "00000031-0c2e-4a6f-9c2e-000000000001"}),
        last_inbound_at: None,
    }
}

#[tokio::test]
async fn the_first_poll_reads_one_page_of_the_newest_reviews_with_a_signed_token() {
    let server = MockServer::start().await;
    let keys = keys();
    Mock::given(method("GET"))
        .and(path(REVIEWS))
        .and(query_param("sort", "-createdDate"))
        .and(query_param("limit", "50"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture(&server)))
        .expect(1)
        .mount(&server)
        .await;
    let store = connector(&server, &keys);
    let page = store.poll(None).await.unwrap();

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "the backfill is one page");
    let (header, claims) = claims(&requests[0], &keys);
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some("2X9R4HXF34"));
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(exp - iat <= 20 * 60 && exp > iat, "{claims}");
    // Another key's public half does not verify it.
    let other = self::keys();
    let token = requests[0].headers["authorization"].to_str().unwrap()[7..].to_string();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&["appstoreconnect-v1"]);
    assert!(
        jsonwebtoken::decode::<Value>(
            &token,
            &DecodingKey::from_ec_pem(other.public_pem.as_bytes()).unwrap(),
            &validation
        )
        .is_err()
    );

    let now = chrono::Utc::now();
    for item in &page.items {
        item.mention.clone().validate(now).unwrap();
        assert_eq!(item.kind, InboundKind::Review);
        assert_eq!(item.mention.source, SourceKind::AppStore);
    }
    let ids: Vec<_> = page
        .items
        .iter()
        .map(|i| i.mention.external_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "app_store:00000031-0c2e-4a6f-9c2e-000000000002",
            "app_store:00000031-0c2e-4a6f-9c2e-000000000001"
        ]
    );
    let lost = &page.items[1];
    assert_eq!(
        lost.mention.text,
        "★☆☆☆☆ Lost my data — After the update all my notes are gone."
    );
    assert_eq!(lost.mention.author.handle, "notetaker42");
    assert_eq!(
        lost.mention.created_at.to_rfc3339(),
        "2026-11-30T10:00:00+00:00"
    );
    assert_eq!(
        lost.reply_ref,
        json!({"review_id": "00000031-0c2e-4a6f-9c2e-000000000001"})
    );
    let dark = &page.items[0];
    assert_eq!(
        dark.mention.text,
        "★★★★☆ Nice app, a dark mode would be great."
    );
    assert_eq!(dark.mention.author.handle, "App Store user");
    assert_eq!(page.skipped.len(), 1);
    assert!(page.skipped[0].contains("rating"), "{:?}", page.skipped);
    assert_eq!(
        page.cursor.unwrap().0,
        json!({"newest": "2026-11-30T10:00:00Z", "ids": ["app_store:00000031-0c2e-4a6f-9c2e-000000000001"]})
    );
}

#[tokio::test]
async fn later_polls_follow_next_links_until_a_seen_review() {
    let server = MockServer::start().await;
    let keys = keys();
    // Page 2 (the fixture's next link) holds only older reviews.
    Mock::given(method("GET"))
        .and(path(REVIEWS))
        .and(query_param("cursor", "Mg"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [{
                "type": "customerReviews",
                "id": "00000031-0c2e-4a6f-9c2e-000000000000",
                "attributes": {"rating": 5, "title": "Old", "body": "Older review",
                               "reviewerNickname": "early", "createdDate": "2026-11-20T09:00:00Z"}
            }],
            "links": {"self": format!("{}{REVIEWS}?cursor=Mg", server.uri())}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(REVIEWS))
        .and(query_param("limit", "200"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture(&server)))
        .mount(&server)
        .await;
    let store = connector(&server, &keys);
    let cursor = earshot_connectors::Cursor(json!({
        "newest": "2026-11-25T00:00:00Z", "ids": ["app_store:00000031-0c2e-4a6f-9c2e-000000000000"]
    }));
    let page = store.poll(Some(&cursor)).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(page.skipped.iter().all(|s| !s.contains("not read")));
    let again = store.poll(page.cursor.as_ref()).await.unwrap();
    assert!(again.items.is_empty(), "each review once");
}

#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed() {
    let server = MockServer::start().await;
    let keys = keys();
    let mut body = fixture(&server);
    body["links"]["next"] =
        json!("https://elsewhere.example/v1/apps/1234567890/customerReviews?cursor=Mg");
    Mock::given(method("GET"))
        .and(path(REVIEWS))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    let cursor = earshot_connectors::Cursor(json!({"newest": "2026-01-01T00:00:00Z", "ids": []}));
    let page = connector(&server, &keys).poll(Some(&cursor)).await.unwrap();
    assert_eq!(page.items.len(), 2);
}

#[tokio::test]
async fn a_response_is_posted_as_a_customer_review_response() {
    let server = MockServer::start().await;
    let keys = keys();
    Mock::given(method("POST"))
        .and(path("/v1/customerReviewResponses"))
        .and(body_json(json!({
            "data": {
                "type": "customerReviewResponses",
                "attributes": {"responseBody": "Sorry! Please update to 3.2, it restores your notes."},
                "relationships": {"review": {"data": {
                    "type": "customerReviews", "id": "00000031-0c2e-4a6f-9c2e-000000000001"
                }}}
            }
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "data": {
                "type": "customerReviewResponses",
                "id": "response-77",
                "attributes": {
                    "responseBody": "Sorry! Please update to 3.2, it restores your notes.",
                    "lastModifiedDate": "2026-12-01T09:00:00Z",
                    "state": "PENDING_PUBLISH"
                }
            }
        })))
        .expect(1)
        .mount(&server)
        .await;
    let store = connector(&server, &keys);
    let sent = store
        .send(&reply(
            "Sorry! Please update to 3.2, it restores your notes.",
        ))
        .await
        .unwrap();
    assert_eq!(sent.remote_id, "response-77");
    let requests = server.received_requests().await.unwrap();
    claims(&requests[0], &keys);

    let caps = store.capabilities();
    assert_eq!(caps.reply_public.unwrap().max, 5_970);
    assert_eq!(caps.reply_private, None);
    assert_eq!(caps.idempotency, earshot_connectors::Idempotency::Overwrite);
    assert!(caps.limitations.iter().any(|l| l.contains("unverified")));
}

#[tokio::test]
async fn a_response_over_the_limit_is_refused_without_a_request() {
    let server = MockServer::start().await;
    let keys = keys();
    let store = connector(&server, &keys);
    let err = store.send(&reply(&"a".repeat(5_971))).await.unwrap_err();
    assert!(
        matches!(err, ConnError::TooLong { length: 5_971, .. }),
        "{err:?}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn reconcile_reads_the_reviews_response() {
    let server = MockServer::start().await;
    let keys = keys();
    Mock::given(method("GET"))
        .and(path(
            "/v1/customerReviews/00000031-0c2e-4a6f-9c2e-000000000001/response",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"type": "customerReviewResponses", "id": "response-77",
                     "attributes": {"responseBody": "We are on it.", "state": "PUBLISHED"}}
        })))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/v1/customerReviews/00000031-0c2e-4a6f-9c2e-000000000001/response",
        ))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "errors": [{"status": "404", "code": "NOT_FOUND", "title": "The specified resource does not exist",
                        "detail": "There is no resource of type 'customerReviewResponses' with id '…'"}]
        })))
        .mount(&server)
        .await;
    let store = connector(&server, &keys);
    let landed = store.reconcile(&reply("We are on it.")).await.unwrap();
    assert_eq!(landed.unwrap().remote_id, "response-77");
    assert_eq!(store.reconcile(&reply("Other words")).await.unwrap(), None);
    assert_eq!(
        store.reconcile(&reply("We are on it.")).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn auth_rate_limit_and_server_errors_are_classified() {
    let server = MockServer::start().await;
    let keys = keys();
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "errors": [{"status": "401", "code": "NOT_AUTHORIZED",
                        "title": "Authentication credentials are missing or invalid.",
                        "detail": "Provide a properly configured and signed bearer token."}]
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "60"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500).set_body_string("oops"))
        .mount(&server)
        .await;
    let store = connector(&server, &keys);
    let auth = store.poll(None).await.unwrap_err();
    assert_eq!(
        auth,
        ConnError::Auth(
            "HTTP 401: Authentication credentials are missing or invalid.: Provide a properly \
             configured and signed bearer token."
                .into()
        )
    );
    let limited = store.poll(None).await.unwrap_err();
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(60)));
    assert!(matches!(
        store.poll(None).await.unwrap_err(),
        ConnError::Transient(_)
    ));
}

#[test]
fn bad_settings_name_the_field_and_never_echo_the_key() {
    let err = |config: Value| {
        let settings = earshot_connectors::split_settings(SourceKind::AppStore, config).unwrap();
        earshot_connectors::build(SourceKind::AppStore, &settings)
            .err()
            .unwrap()
            .to_string()
    };
    let good = keys();
    let base = json!({"app_id": "1234567890", "issuer_id": ISSUER, "key_id": "2X9R4HXF34"});
    let with = |extra: Value| {
        let mut c = base.clone();
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };
    let bad_key = err(with(
        json!({"private_key_p8": "-----BEGIN PRIVATE KEY-----\nsecretstuff\n-----END PRIVATE KEY-----"}),
    ));
    assert!(bad_key.contains("config.private_key_p8"), "{bad_key}");
    assert!(!bad_key.contains("secretstuff"), "{bad_key}");
    assert!(
        err(with(json!({"private_key_p8": good.p8, "app_id": "my-app"}))).contains("config.app_id")
    );
    assert!(
        err(with(json!({"private_key_p8": good.p8, "issuer_id": " "})))
            .contains("config.issuer_id")
    );
    assert!(err(base.clone()).contains("private_key_p8"));
    assert_eq!(
        earshot_connectors::credential_fields(SourceKind::AppStore),
        ["private_key_p8"]
    );
    let settings = earshot_connectors::split_settings(
        SourceKind::AppStore,
        with(json!({"private_key_p8": good.p8})),
    )
    .unwrap();
    let store = AppStore::from_settings(&settings).unwrap();
    let debug = format!("{store:?}");
    assert!(
        !debug.contains("PRIVATE KEY") && !debug.contains(&good.p8[30..60]),
        "{debug}"
    );
}
