//! Notification texts and the Slack-compatible webhook payload
//! (`{"text": …, "blocks": […]}`, which Slack, Mattermost and Rocket.Chat
//! incoming webhooks accept).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::sla::{EscalationAction, TargetKind};

/// Something people must hear about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NotificationEvent {
    SlaWarning {
        target: TargetKind,
        due_at: DateTime<Utc>,
        remaining_seconds: i64,
    },
    SlaBreach {
        target: TargetKind,
        due_at: DateTime<Utc>,
    },
    Escalation {
        target: TargetKind,
        step: usize,
        action: EscalationAction,
    },
    Assigned {
        assignee: Option<String>,
        team: Option<String>,
        by: String,
    },
}

/// The case a notification is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseRef {
    pub case_id: i64,
    pub subject: String,
    /// Link into the Earshot UI, when the public base URL is configured.
    pub url: Option<String>,
}

/// "1h 5m", "45m", "2d 3h": coarse on purpose, for people.
fn human(seconds: i64) -> String {
    let m = seconds.unsigned_abs() / 60;
    let (d, h, m) = (m / 1440, (m / 60) % 24, m % 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// Slack mrkdwn needs `&`, `<` and `>` escaped in user text: unescaped,
/// `<!channel>` in a customer's words would ping the whole channel.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One line for in-app notifications and the webhook's fallback text.
pub fn notification_text(event: &NotificationEvent, case: &CaseRef) -> String {
    let c = format!("case #{} \"{}\"", case.case_id, case.subject);
    match event {
        NotificationEvent::SlaWarning {
            target,
            due_at,
            remaining_seconds,
        } => format!(
            "SLA warning: {target} on {c} is due in {} ({})",
            human(*remaining_seconds),
            due_at.format("%Y-%m-%d %H:%M UTC")
        ),
        NotificationEvent::SlaBreach { target, due_at } => format!(
            "SLA breached: {target} on {c} was due {}",
            due_at.format("%Y-%m-%d %H:%M UTC")
        ),
        NotificationEvent::Escalation {
            target,
            step,
            action,
        } => {
            let what = match action {
                EscalationAction::NotifyAssignee => "notifying the assignee",
                EscalationAction::NotifySupervisor => "notifying the supervisor",
                EscalationAction::Reassign => "reassigning the case",
            };
            format!("Escalation step {} for {target} on {c}: {what}", step + 1)
        }
        NotificationEvent::Assigned { assignee, team, by } => {
            let to = match (assignee, team) {
                (Some(a), Some(t)) => format!("{a} ({t})"),
                (Some(a), None) => a.clone(),
                (None, Some(t)) => format!("team {t}"),
                (None, None) => "nobody".to_owned(),
            };
            format!("{c} assigned to {to} by {by}")
        }
    }
}

/// The webhook body: a plain `text` fallback plus Block Kit blocks.
pub fn slack_payload(event: &NotificationEvent, case: &CaseRef) -> Value {
    let text = notification_text(event, case);
    let emoji = match event {
        NotificationEvent::SlaWarning { .. } => ":warning:",
        NotificationEvent::SlaBreach { .. } => ":rotating_light:",
        NotificationEvent::Escalation { .. } => ":arrow_double_up:",
        NotificationEvent::Assigned { .. } => ":inbox_tray:",
    };
    let mut blocks = vec![json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": format!("{emoji} {}", escape(&text))},
    })];
    let mut context = vec![json!({"type": "mrkdwn", "text": format!("Case #{}", case.case_id)})];
    if let Some(url) = &case.url {
        context
            .push(json!({"type": "mrkdwn", "text": format!("<{}|Open in Earshot>", escape(url))}));
    }
    blocks.push(json!({"type": "context", "elements": context}));
    // Slack reads `text` as mrkdwn too (it is the notification preview).
    json!({"text": escape(&text), "blocks": blocks})
}

/// The webhook body for a rule's `notify` action aimed at the webhooks:
/// the rule's message is written by an admin but may quote customer text.
pub fn rule_webhook_payload(case_id: i64, message: &str) -> Value {
    json!({"text": escape(&format!("Case #{case_id}: {message}"))})
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    fn case() -> CaseRef {
        CaseRef {
            case_id: 7,
            subject: "Order <never> arrived & no refund".into(),
            url: Some("https://care.example/cases/7".into()),
        }
    }

    fn due() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 11, 0, 0).unwrap()
    }

    #[test]
    fn payload_has_fallback_text_and_escaped_blocks() {
        let p = slack_payload(
            &NotificationEvent::SlaWarning {
                target: TargetKind::FirstResponse,
                due_at: due(),
                remaining_seconds: 65 * 60,
            },
            &case(),
        );
        let text = p["text"].as_str().unwrap();
        assert!(text.starts_with("SLA warning: first response on case #7"));
        assert!(text.contains("due in 1h 5m (2026-06-01 11:00 UTC)"));
        let section = p["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(section.starts_with(":warning: "));
        assert!(section.contains("&lt;never&gt; arrived &amp; no refund"));
        assert!(!section.contains("<never>"));
        assert_eq!(p["blocks"][1]["type"], "context");
        assert_eq!(
            p["blocks"][1]["elements"][1]["text"],
            "<https://care.example/cases/7|Open in Earshot>"
        );
    }

    #[test]
    fn user_text_cannot_ping_the_channel() {
        let c = CaseRef {
            subject: "<!channel> & <@U123> <https://evil.example|click>".into(),
            ..case()
        };
        let events = [
            NotificationEvent::SlaBreach {
                target: TargetKind::Resolution,
                due_at: due(),
            },
            NotificationEvent::Assigned {
                assignee: Some("<!here>".into()),
                team: Some("<!everyone>".into()),
                by: "<@U1>".into(),
            },
        ];
        for event in &events {
            let p = slack_payload(event, &c);
            let text = p["text"].as_str().unwrap();
            let section = p["blocks"][0]["text"]["text"].as_str().unwrap();
            for s in [text, section] {
                assert!(s.contains("&lt;!channel&gt; &amp; &lt;@U123&gt;"), "{s}");
                assert!(!s.contains('<') && !s.contains('>'), "{s}");
            }
        }
        let assigned = slack_payload(&events[1], &c);
        assert!(
            assigned["text"]
                .as_str()
                .unwrap()
                .ends_with("&lt;!here&gt; (&lt;!everyone&gt;) by &lt;@U1&gt;")
        );
        // The in-app line stays plain text: the desk escapes it as HTML.
        assert!(notification_text(&events[0], &c).contains("<!channel>"));

        let rule = rule_webhook_payload(9, "VIP <!channel> says: a & b");
        assert_eq!(
            rule,
            json!({"text": "Case #9: VIP &lt;!channel&gt; says: a &amp; b"})
        );
    }

    #[test]
    fn every_event_has_its_own_wording() {
        let c = CaseRef {
            url: None,
            ..case()
        };
        let breach = slack_payload(
            &NotificationEvent::SlaBreach {
                target: TargetKind::Resolution,
                due_at: due(),
            },
            &c,
        );
        assert!(
            breach["text"]
                .as_str()
                .unwrap()
                .starts_with("SLA breached: resolution")
        );
        assert_eq!(
            breach["blocks"][1]["elements"].as_array().unwrap().len(),
            1,
            "no link without a URL"
        );
        let esc = notification_text(
            &NotificationEvent::Escalation {
                target: TargetKind::FirstResponse,
                step: 2,
                action: EscalationAction::Reassign,
            },
            &c,
        );
        assert!(esc.contains("Escalation step 3") && esc.ends_with("reassigning the case"));
        let assigned = notification_text(
            &NotificationEvent::Assigned {
                assignee: Some("alice".into()),
                team: Some("care".into()),
                by: "rule:3@v5".into(),
            },
            &c,
        );
        assert!(assigned.ends_with("assigned to alice (care) by rule:3@v5"));
        assert_eq!(human(3 * 86_400 + 7_200), "3d 2h");
        assert_eq!(human(59), "0m");
    }
}
