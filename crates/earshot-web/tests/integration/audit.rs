//! Admin changes to teams, users and policies in the audit log.

use chrono::{TimeDelta, TimeZone, Utc};
use earshot_core::auth::Role;
use reqwest::Method;
use serde_json::json;

use crate::support::spawn_app;

use crate::calls::{admin, call, profile, team, token_for};
use crate::support::both_databases;

/// Admin changes to teams, users and SLA policies are audited with before
/// and after, and the log filters by entity, actor and time.
async fn changes_to_teams_users_and_policies_are_audited() {
    let app = spawn_app().await;
    let ann = token_for(&app, "ann", Role::Agent).await;
    let (s, _) = call(
        &app,
        &ann,
        Method::POST,
        "/api/v1/teams",
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(s, 403, "only admins manage teams");
    team(&app, json!({"name": "care", "members": ["ann"]})).await;
    let (s, _) = admin(
        &app,
        Method::POST,
        "/api/v1/teams",
        Some(json!({"name": "care"})),
    )
    .await;
    assert_eq!(s, 409);
    app.clock.advance(TimeDelta::minutes(5));
    let (s, t) = admin(
        &app,
        Method::PUT,
        "/api/v1/teams/care",
        Some(
            json!({"name": "ignored", "members": ["ann", "bob"], "strategy": "least_loaded",
            "calendar": {"time_zone": "Europe/Berlin",
                "hours": [{"day": "monday", "open": "09:00", "close": "17:00"}],
                "holidays": ["2026-12-25"]}}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["members"], json!(["ann", "bob"]));
    let (s, b) = admin(
        &app,
        Method::PUT,
        "/api/v1/teams/care",
        Some(json!({"name": "care", "calendar": {"time_zone": "Mars/Olympus", "hours": []}})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["message"].as_str().unwrap().starts_with("calendar"),
        "{b}"
    );
    profile(
        &app,
        "ann",
        json!({"languages": ["en", "de"], "capacity": 5}),
    )
    .await;
    let (_, users) = app.get_json("/api/v1/users").await;
    assert_eq!(users[0]["name"], "ann");
    assert_eq!(users[0]["profile"]["teams"], json!(["care"]));
    assert_eq!(users[0]["profile"]["capacity"], 5);

    let policy = json!({"name": "vip", "position": 1, "targets": {"resolution_minutes": 480},
        "time_basis": {"type": "calendar_hours"}});
    let (s, p) = admin(&app, Method::POST, "/api/v1/sla-policies", Some(policy)).await;
    assert_eq!(s, 201, "{p}");
    let pid = p["id"].as_i64().unwrap();
    let (s, b) = admin(
        &app,
        Method::PUT,
        &format!("/api/v1/sla-policies/{pid}"),
        Some(json!({"name": "vip", "position": 1, "targets": {},
            "time_basis": {"type": "calendar_hours"}})),
    )
    .await;
    assert_eq!(s, 400, "a policy needs a target: {b}");
    let (s, _) = admin(
        &app,
        Method::DELETE,
        &format!("/api/v1/sla-policies/{pid}"),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = admin(&app, Method::DELETE, "/api/v1/teams/care", None).await;
    assert_eq!(s, 204);

    let (_, log) = admin(
        &app,
        Method::GET,
        "/api/v1/audit?entity=team&entity_id=care",
        None,
    )
    .await;
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["deleted", "updated", "created"]);
    assert_eq!(log[1]["before"]["strategy"], "round_robin");
    assert_eq!(log[1]["after"]["strategy"], "least_loaded");
    assert_eq!(log[1]["actor"], "bootstrap");
    let (_, log) = admin(&app, Method::GET, "/api/v1/audit?entity=policy", None).await;
    assert_eq!(log.as_array().unwrap().len(), 2);
    let (_, log) = admin(
        &app,
        Method::GET,
        "/api/v1/audit?entity=user&entity_id=ann",
        None,
    )
    .await;
    assert_eq!(log[0]["after"]["capacity"], 5);
    let since = Utc.with_ymd_and_hms(2026, 11, 22, 10, 1, 0).unwrap();
    let (_, log) = admin(
        &app,
        Method::GET,
        &format!(
            "/api/v1/audit?entity=team&until={}",
            since.to_rfc3339().replace('+', "%2B")
        ),
        None,
    )
    .await;
    assert_eq!(log.as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log[0]["action"], "created");
}
both_databases!(changes_to_teams_users_and_policies_are_audited);
