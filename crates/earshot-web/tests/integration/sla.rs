//! SLA warnings, breaches and escalations on a fake clock, over the team's business hours.

use chrono::{TimeDelta, TimeZone, Utc};
use earshot_core::auth::Role;
use reqwest::Method;
use serde_json::json;

use crate::support::spawn_app;

use crate::calls::{
    COMPLAINT, admin, call, case, kinds, notifications, open_case, team, token_for,
};
use crate::support::both_databases;

/// The SLA clock on a fake clock: a warning before the due time, a breach
/// at it, then the ladder (notify the assignee, the supervisor, reassign),
/// each exactly once however often the ticker runs.
async fn sla_warns_breaches_and_escalates_on_the_fake_clock() {
    let app = spawn_app().await;
    team(
        &app,
        json!({"name": "care", "members": ["ann", "bob"], "supervisor": "sue"}),
    )
    .await;
    let (s, policy) = admin(
        &app,
        Method::POST,
        "/api/v1/sla-policies",
        Some(json!({"id": 0, "name": "standard", "position": 1,
            "targets": {"first_response_minutes": 60},
            "time_basis": {"type": "calendar_hours"},
            "warn_before_minutes": 15,
            "escalation": [
                {"after_minutes": 10, "action": "notify_assignee"},
                {"after_minutes": 20, "action": "notify_supervisor"},
                {"after_minutes": 30, "action": "reassign"}]})),
    )
    .await;
    assert_eq!(s, 201, "{policy}");
    let start = app.clock_now();
    let id = open_case(&app, "s1", "gus", COMPLAINT).await;
    admin(
        &app,
        Method::POST,
        &format!("/api/v1/cases/{id}/assign"),
        Some(json!({"assignee": "ann", "team": "care"})),
    )
    .await;
    // A second case answered in time counts as "hit".
    let hit = open_case(
        &app,
        "s2",
        "hal",
        "Where is my refund? Nobody answers, awful",
    )
    .await;
    let ann = token_for(&app, "ann", Role::Agent).await;
    let sue = token_for(&app, "sue", Role::Supervisor).await;
    let bob = token_for(&app, "bob", Role::Agent).await;

    let tick = |minutes: i64| {
        let state = app.state.clone();
        let clock = app.clock.clone();
        async move {
            clock.set(start + TimeDelta::minutes(minutes));
            earshot_app::sla::run_sla_tick(&state.app, start + TimeDelta::minutes(minutes))
                .await
                .unwrap()
        }
    };

    let r = tick(30).await;
    assert_eq!((r.evaluated, r.warnings, r.breaches), (2, 0, 0));
    let (s, b) = call(
        &app,
        &ann,
        Method::POST,
        &format!("/api/v1/cases/{hit}/replies"),
        Some(json!({"visibility": "public", "body": "Hal, refund sent just now."})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    // No connector delivers to this source: Ann posts it herself, and only
    // that stops Hal's clock.
    let (s, b) = call(
        &app,
        &ann,
        Method::POST,
        &format!("/api/v1/replies/{}/posted", b["id"]),
        Some(json!({})),
    )
    .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("sent")), "{b}");
    let (_, sla) = app.get_json(&format!("/api/v1/cases/{id}/sla")).await;
    assert_eq!(sla["state"], "active", "{sla}");

    // Someone looks at the case just as it enters its warning window: the
    // read must not stop the ticker from sending the warning.
    app.clock.set(start + TimeDelta::seconds(45 * 60 + 30));
    let (_, sla) = app.get_json(&format!("/api/v1/cases/{id}/sla")).await;
    assert_eq!(sla["state"], "warning");
    let r = tick(46).await;
    assert_eq!((r.warnings, r.breaches, r.escalations), (1, 0, 0));
    let r = tick(47).await;
    assert_eq!(r.warnings, 0, "a warning is sent once");
    assert_eq!(
        r.evaluated, 0,
        "nothing changed and nothing is due: no case is loaded"
    );
    assert_eq!(kinds(&notifications(&app, &ann).await), ["sla_warning"]);
    let (_, sla) = app.get_json(&format!("/api/v1/cases/{id}/sla")).await;
    assert_eq!(sla["state"], "warning");

    let r = tick(61).await;
    assert_eq!((r.breaches, r.escalations), (1, 0));
    let (_, sla) = app.get_json(&format!("/api/v1/cases/{id}/sla")).await;
    assert_eq!(sla["state"], "missed");
    assert_eq!(kinds(&notifications(&app, &sue).await), ["sla_breach"]);

    // Step 1, ten minutes after the breach: the assignee.
    let r = tick(71).await;
    assert_eq!(r.escalations, 1);
    assert_eq!(
        kinds(&notifications(&app, &ann).await),
        ["escalation", "sla_breach", "sla_warning"]
    );
    // Step 2: the supervisor.
    assert_eq!(tick(81).await.escalations, 1);
    assert_eq!(
        kinds(&notifications(&app, &sue).await),
        ["escalation", "sla_breach"]
    );
    // Step 3: reassigned within the team, away from the assignee.
    assert_eq!(tick(91).await.escalations, 1);
    assert_eq!(case(&app, id).await["case"]["assignee"], "bob");
    assert!(kinds(&notifications(&app, &bob).await).contains(&"assigned".into()));
    let r = tick(200).await;
    assert_eq!(
        (r.warnings, r.breaches, r.escalations),
        (0, 0, 0),
        "each step runs once"
    );

    let (_, audit) = admin(
        &app,
        Method::GET,
        &format!("/api/v1/audit?entity=case&entity_id={id}&actor=system"),
        None,
    )
    .await;
    let steps: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "escalated")
        .map(|r| r["after"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["reassign", "notify_supervisor", "notify_assignee"]);
    let (_, deliveries) = admin(&app, Method::GET, "/api/v1/webhooks/deliveries", None).await;
    assert_eq!(
        deliveries,
        json!([]),
        "no webhook configured, nothing queued"
    );

    let (s, report) = app.get_json("/api/v1/sla/report").await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(
        (report["hit"].as_u64(), report["missed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(report["percent_met"].as_f64(), Some(50.0));
}
both_databases!(sla_warns_breaches_and_escalates_on_the_fake_clock);

/// Business-hours SLAs count the case team's own calendar: a complaint on
/// Sunday morning is due one working hour after Monday's opening in Berlin.
async fn business_hours_follow_the_teams_calendar() {
    let app = spawn_app().await;
    let weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday"]
        .map(|d| json!({"day": d, "open": "09:00", "close": "17:00"}));
    team(
        &app,
        json!({"name": "care", "members": ["ann"],
            "calendar": {"time_zone": "Europe/Berlin", "hours": weekdays}}),
    )
    .await;
    // The policy's own calendar (Sundays, UTC) is replaced by the team's.
    let (s, b) = admin(
        &app,
        Method::POST,
        "/api/v1/sla-policies",
        Some(json!({"name": "office hours", "position": 1,
            "targets": {"first_response_minutes": 60},
            "time_basis": {"type": "business_hours", "calendar": {"time_zone": "UTC",
                "hours": [{"day": "sunday", "open": "00:00", "close": "23:59"}]}}})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        app.clock_now(),
        Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap(),
        "a Sunday"
    );
    let id = open_case(&app, "b1", "liv", COMPLAINT).await;
    let (_, sla) = app.get_json(&format!("/api/v1/cases/{id}/sla")).await;
    assert_eq!(
        sla["evaluation"]["targets"][0]["due_at"], "2026-11-22T11:00:00Z",
        "unrouted: the policy's calendar"
    );
    admin(
        &app,
        Method::POST,
        &format!("/api/v1/cases/{id}/assign"),
        Some(json!({"team": "care", "assignee": "ann"})),
    )
    .await;
    let (_, sla) = app.get_json(&format!("/api/v1/cases/{id}/sla")).await;
    assert_eq!(sla["state"], "active", "{sla}");
    // Monday 09:00 CET is 08:00 UTC; one business hour later.
    assert_eq!(
        sla["evaluation"]["targets"][0]["due_at"],
        "2026-11-23T09:00:00Z"
    );
}
both_databases!(business_hours_follow_the_teams_calendar);
