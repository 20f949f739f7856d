//! Hardening against hostile clients: the login redirect, request timeouts,
//! webhook targets and the API rate limit.

use earshot_core::auth::Role;

use crate::support::spawn_app;

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

#[tokio::test]
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
