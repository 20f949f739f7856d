#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Google Play reviews connector against a local fake of Google's token
//! endpoint and the Play Developer API, with payloads retyped from
//! developers.google.com/android-publisher/api-ref/rest/v3/reviews (see
//! tests/fixtures/reviews/README.md). The service account key is generated
//! here, and the token request's JWT is verified with its public half.

use std::time::Duration;

use earshot_connectors::reviews::google_play::GooglePlay;
use earshot_connectors::{ConnError, Connector, InboundKind, Outbound, SourceSettings};
use earshot_core::reply::Visibility;
use earshot_core::source::SourceKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REVIEWS: &str = "/androidpublisher/v3/applications/com.example.app/reviews";
const CLIENT_EMAIL: &str = "earshot-replies@acme-play.iam.gserviceaccount.com";

struct Keys {
    private_pem: String,
    public_pem: String,
}

fn keys() -> Keys {
    let key = rsa::PrivateKey::new(&mut rand_0_10::rng(), 2048).unwrap();
    Keys {
        private_pem: key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
        public_pem: key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
    }
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/reviews/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn config(server: &MockServer, keys: &Keys) -> Value {
    let account = json!({
        "type": "service_account",
        "project_id": "acme-play",
        "private_key_id": "key-1",
        "private_key": keys.private_pem,
        "client_email": CLIENT_EMAIL,
        "token_uri": "https://oauth2.googleapis.com/token",
    });
    json!({
        "package_name": "com.example.app",
        "base_url": server.uri(),
        "token_url": format!("{}/token", server.uri()),
        // As an admin pastes it: the key file's text.
        "service_account_json": account.to_string(),
    })
}

fn connector(server: &MockServer, keys: &Keys) -> GooglePlay {
    let settings =
        earshot_connectors::split_settings(SourceKind::GooglePlay, config(server, keys)).unwrap();
    assert!(settings.credentials.contains_key("service_account_json"));
    assert!(!settings.config.contains_key("service_account_json"));
    GooglePlay::from_settings(&settings).unwrap()
}

async fn mount_token(server: &MockServer, expect: u64) {
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "ya29.test-token",
            "expires_in": 3599,
            "token_type": "Bearer"
        })))
        .expect(expect)
        .mount(server)
        .await;
}

async fn mount_pages(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path(REVIEWS))
        .and(query_param_is_missing("token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("google_play_reviews_page1.json")),
        )
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(REVIEWS))
        .and(query_param("token", "page-2-token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("google_play_reviews_page2.json")),
        )
        .mount(server)
        .await;
}

fn reply(body: &str) -> Outbound {
    Outbound {
        idempotency_key: "0193a0e0-0000-7000-8000-000000000001".into(),
        visibility: Visibility::Public,
        body: body.into(),
        recipient: "Jane Bloggs".into(),
        reply_ref: json!({"review_id": "gp:AOqpTOF-review-1"}),
        last_inbound_at: None,
    }
}

#[tokio::test]
async fn the_token_request_carries_a_jwt_signed_by_the_service_account() {
    let server = MockServer::start().await;
    let keys = keys();
    mount_token(&server, 1).await;
    mount_pages(&server).await;
    let play = connector(&server, &keys);
    play.start().await.unwrap();
    // A second call reuses the cached token.
    play.poll(None).await.unwrap();

    let requests = server.received_requests().await.unwrap();
    let token_request = requests.iter().find(|r| r.url.path() == "/token").unwrap();
    assert_eq!(
        token_request.headers.get("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&token_request.body)
            .into_owned()
            .collect();
    assert_eq!(
        form["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let token_url = format!("{}/token", server.uri());
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[&token_url]);
    validation.set_issuer(&[CLIENT_EMAIL]);
    let decoded = jsonwebtoken::decode::<Value>(
        &form["assertion"],
        &DecodingKey::from_rsa_pem(keys.public_pem.as_bytes()).unwrap(),
        &validation,
    )
    .unwrap();
    assert_eq!(decoded.header.kid.as_deref(), Some("key-1"));
    let claims = decoded.claims;
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/androidpublisher"
    );
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 3600);
    assert!((iat - chrono::Utc::now().timestamp()).abs() < 60);

    // A JWT signed by another key does not verify: the check above can fail.
    let other = self::keys();
    assert!(
        jsonwebtoken::decode::<Value>(
            &form["assertion"],
            &DecodingKey::from_rsa_pem(other.public_pem.as_bytes()).unwrap(),
            &validation,
        )
        .is_err()
    );

    let listing = requests.iter().find(|r| r.url.path() == REVIEWS).unwrap();
    assert_eq!(
        listing.headers.get("authorization").unwrap(),
        "Bearer ya29.test-token"
    );
}

#[tokio::test]
async fn reviews_become_items_oldest_first_across_pages() {
    let server = MockServer::start().await;
    let keys = keys();
    mount_token(&server, 1).await;
    mount_pages(&server).await;
    let page = connector(&server, &keys).poll(None).await.unwrap();
    let now = chrono::Utc::now();
    for item in &page.items {
        item.mention.clone().validate(now).unwrap();
        assert_eq!(item.kind, InboundKind::Review);
        assert_eq!(item.mention.source, SourceKind::GooglePlay);
        assert!(!item.by_brand);
    }
    let ids: Vec<_> = page
        .items
        .iter()
        .map(|i| i.mention.external_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "google_play:gp:AOqpTOF-review-3",
            "google_play:gp:AOqpTOF-review-2",
            "google_play:gp:AOqpTOF-review-1"
        ]
    );
    let crash = &page.items[2];
    assert_eq!(
        crash.mention.text,
        "★★☆☆☆ Crashes on start — Since the last update the app closes right away."
    );
    assert_eq!(crash.mention.author.handle, "Jane Bloggs");
    assert_eq!(crash.mention.language.as_deref(), Some("en"));
    assert_eq!(
        crash.mention.created_at.to_rfc3339(),
        "2026-11-30T10:00:00.500+00:00"
    );
    assert_eq!(crash.reply_ref, json!({"review_id": "gp:AOqpTOF-review-1"}));
    // No author name: a stand-in handle; seconds given as a JSON number.
    let love = &page.items[1];
    assert_eq!(love.mention.text, "★★★★★ Love it");
    assert_eq!(love.mention.author.handle, "Google Play user");
    assert_eq!(love.mention.author.display_name, None);
    assert_eq!(
        love.mention.created_at.to_rfc3339(),
        "2026-11-30T08:30:00+00:00"
    );
    assert_eq!(page.skipped.len(), 1);
    assert!(
        page.skipped[0].contains("no user comment"),
        "{:?}",
        page.skipped
    );

    let cursor = page.cursor.unwrap();
    assert_eq!(
        cursor.0,
        json!({"newest": "2026-11-30T10:00:00.500Z", "ids": ["google_play:gp:AOqpTOF-review-1"]})
    );
}

#[tokio::test]
async fn the_cursor_yields_each_review_once_and_stops_paging_at_a_seen_one() {
    let server = MockServer::start().await;
    let keys = keys();
    mount_token(&server, 1).await;
    mount_pages(&server).await;
    let play = connector(&server, &keys);
    let first = play.poll(None).await.unwrap();
    assert_eq!(first.items.len(), 3);
    let cursor = first.cursor.unwrap();

    // Same reviews: nothing new, and page 2 is not read (the list is most
    // recently modified first, and its first review was seen).
    server.reset().await;
    mount_token(&server, 0).await;
    let mut page1 = fixture("google_play_reviews_page1.json");
    page1["reviews"].as_array_mut().unwrap().insert(
        0,
        json!({
            "reviewId": "gp:AOqpTOF-review-4",
            "authorName": "Kim",
            "comments": [{"userComment": {
                "text": "Where is the export button?",
                "lastModified": {"seconds": "1796036400", "nanos": 0},
                "starRating": 3
            }}]
        }),
    );
    Mock::given(method("GET"))
        .and(path(REVIEWS))
        .and(query_param_is_missing("token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page1))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(REVIEWS))
        .and(query_param("token", "page-2-token"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let second = play.poll(Some(&cursor)).await.unwrap();
    let ids: Vec<_> = second
        .items
        .iter()
        .map(|i| i.mention.external_id.as_str())
        .collect();
    assert_eq!(ids, ["google_play:gp:AOqpTOF-review-4"]);
    let third = play.poll(second.cursor.as_ref()).await.unwrap();
    assert!(third.items.is_empty());
}

#[tokio::test]
async fn a_reply_posts_reply_text_to_the_reviews_reply_method() {
    let server = MockServer::start().await;
    let keys = keys();
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(format!("{REVIEWS}/gp:AOqpTOF-review-1:reply")))
        .and(body_json(
            json!({"replyText": "Sorry! Version 2.1.1 fixes the crash."}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "result": {
                "replyText": "Sorry! Version 2.1.1 fixes the crash.",
                "lastEdited": {"seconds": "1796040000", "nanos": 0}
            }
        })))
        .expect(1)
        .mount(&server)
        .await;
    let play = connector(&server, &keys);
    let sent = play
        .send(&reply("Sorry! Version 2.1.1 fixes the crash."))
        .await
        .unwrap();
    assert_eq!(sent.remote_id, "google_play:gp:AOqpTOF-review-1:reply");
    let requests = server.received_requests().await.unwrap();
    let post = requests
        .iter()
        .find(|r| r.method.as_str() == "POST" && r.url.path() != "/token");
    assert_eq!(
        post.unwrap().headers.get("authorization").unwrap(),
        "Bearer ya29.test-token"
    );

    let caps = play.capabilities();
    assert_eq!(caps.reply_public.unwrap().max, 350);
    assert_eq!(caps.reply_private, None);
    assert_eq!(caps.idempotency, earshot_connectors::Idempotency::Overwrite);
    assert_eq!(
        caps.transport,
        earshot_connectors::Transport::Poll {
            interval: Duration::from_secs(3600)
        }
    );
}

#[tokio::test]
async fn a_reply_over_350_characters_is_refused_without_a_request() {
    let server = MockServer::start().await;
    let keys = keys();
    let play = connector(&server, &keys);
    let err = play.send(&reply(&"é".repeat(351))).await.unwrap_err();
    assert!(
        matches!(err, ConnError::TooLong { length: 351, .. }),
        "{err:?}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
    // Counted in characters, not bytes: 350 "é" (700 bytes) fit.
    assert!(play.render(&reply(&"é".repeat(350))).is_ok());
    let private = Outbound {
        visibility: Visibility::Private,
        ..reply("hi")
    };
    assert!(matches!(
        play.send(&private).await,
        Err(ConnError::Unsupported(_))
    ));
}

#[tokio::test]
async fn reconcile_finds_our_developer_comment() {
    let server = MockServer::start().await;
    let keys = keys();
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(format!("{REVIEWS}/gp:AOqpTOF-review-1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "reviewId": "gp:AOqpTOF-review-1",
            "authorName": "Jane Bloggs",
            "comments": [
                {"userComment": {"text": "Crashes", "lastModified": {"seconds": "1796032800"}, "starRating": 2}},
                {"developerComment": {"text": "Sorry! Fixed in 2.1.1.", "lastModified": {"seconds": "1796040000"}}}
            ]
        })))
        .mount(&server)
        .await;
    let play = connector(&server, &keys);
    let landed = play
        .reconcile(&reply("Sorry! Fixed in 2.1.1."))
        .await
        .unwrap();
    assert_eq!(
        landed.unwrap().remote_id,
        "google_play:gp:AOqpTOF-review-1:reply"
    );
    assert_eq!(play.reconcile(&reply("Another text")).await.unwrap(), None);
}

#[tokio::test]
async fn auth_rate_limit_and_server_errors_are_classified() {
    let server = MockServer::start().await;
    let keys = keys();
    // A 401 drops the cached token: the next call asks for a new one.
    mount_token(&server, 2).await;
    Mock::given(method("GET"))
        .and(path(REVIEWS))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(REVIEWS))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "30"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(REVIEWS))
        .respond_with(ResponseTemplate::new(503).set_body_string("backend unavailable"))
        .mount(&server)
        .await;
    let play = connector(&server, &keys);
    assert!(matches!(
        play.poll(None).await.unwrap_err(),
        ConnError::Auth(_)
    ));
    let limited = play.poll(None).await.unwrap_err();
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(30)));
    let down = play.poll(None).await.unwrap_err();
    assert_eq!(
        down,
        ConnError::Transient("HTTP 503: backend unavailable".into())
    );
}

#[tokio::test]
async fn a_refused_assertion_is_an_auth_error() {
    let server = MockServer::start().await;
    let keys = keys();
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "Invalid JWT Signature."
        })))
        .mount(&server)
        .await;
    let err = connector(&server, &keys).start().await.unwrap_err();
    assert_eq!(
        err,
        ConnError::Auth("HTTP 400: Invalid JWT Signature.".into())
    );
}

#[test]
fn bad_settings_name_the_field_and_never_echo_the_key() {
    let build = |config: Value| {
        let settings: SourceSettings =
            earshot_connectors::split_settings(SourceKind::GooglePlay, config).unwrap();
        earshot_connectors::build(SourceKind::GooglePlay, &settings)
    };
    let err = |config: Value| build(config).err().unwrap().to_string();
    let secret_text = "-----BEGIN PRIVATE KEY-----\nnot really a key\n-----END PRIVATE KEY-----";
    let bad_key = err(json!({
        "package_name": "com.example.app",
        "service_account_json": {"client_email": CLIENT_EMAIL, "private_key": secret_text}
    }));
    assert!(bad_key.contains("config.service_account_json"), "{bad_key}");
    assert!(!bad_key.contains("not really a key"), "{bad_key}");
    assert!(
        err(json!({"package_name": "com.example.app", "service_account_json": "{oops"}))
            .contains("config.service_account_json")
    );
    assert!(
        err(json!({"package_name": "com/evil", "service_account_json": {}}))
            .contains("config.package_name")
    );
    assert!(
        err(json!({"package_name": "com.example.app", "service_account_json": {}, "base_url": "ftp://x"}))
            .contains("config.base_url")
    );
    assert!(err(json!({"package_name": "com.example.app"})).contains("service_account_json"));
    assert_eq!(
        earshot_connectors::credential_fields(SourceKind::GooglePlay),
        ["service_account_json"]
    );

    let keys = keys();
    let account = json!({"client_email": CLIENT_EMAIL, "private_key": keys.private_pem});
    let play =
        build(json!({"package_name": "com.example.app", "service_account_json": account})).unwrap();
    let printed = format!("{:?}", play.capabilities());
    assert!(printed.contains("last 7 days"));
    let connector = GooglePlay::from_settings(
        &earshot_connectors::split_settings(
            SourceKind::GooglePlay,
            json!({"package_name": "com.example.app", "service_account_json": account}),
        )
        .unwrap(),
    )
    .unwrap();
    let debug = format!("{connector:?}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
    assert!(!debug.contains(&keys.private_pem[40..80]), "{debug}");
}
