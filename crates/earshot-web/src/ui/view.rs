//! Turning cases into what a row or a header shows: badges, SLA countdowns,
//! relative times.

use chrono::{DateTime, Utc};
use earshot_core::case::Case;
use earshot_core::source::SourceKind;
use earshot_workflow::{SlaEvaluation, TargetKind, TargetStatus};

/// The SLA countdown of a case, as the policies in force judge it (the
/// same evaluation the ticker escalates on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sla {
    /// `ok`, `warn`, `breach`, `done`, `late`, `paused` or `none`.
    pub state: &'static str,
    pub label: String,
    /// Epoch ms when the running target is due; 0 when none runs.
    pub due_ms: i64,
    /// How long before `due_ms` the countdown turns amber, in ms.
    pub warn_ms: i64,
    /// The running target ("first response", …); empty when none runs.
    pub kind: String,
}

/// The countdown for `case` from its evaluation: the running target due
/// soonest, or how the last one ended.
pub fn sla(
    case: &Case,
    eval: Option<&SlaEvaluation>,
    warn_minutes: u32,
    now: DateTime<Utc>,
) -> Sla {
    let still = |state: &'static str, label: String| Sla {
        state,
        label,
        due_ms: 0,
        warn_ms: 0,
        kind: String::new(),
    };
    let Some(eval) = eval else {
        return still("none", "no SLA policy applies".into());
    };
    let running = eval
        .targets
        .iter()
        .filter(|t| t.achieved_at.is_none())
        .filter(|t| {
            matches!(
                t.status,
                TargetStatus::Active | TargetStatus::Warning | TargetStatus::Missed
            )
        })
        .filter_map(|t| t.due_at.map(|due| (t, due)))
        .min_by_key(|(_, due)| *due);
    if let Some((t, due)) = running {
        let left = (due - now).num_minutes();
        let warn = i64::from(warn_minutes);
        let (state, label) = if due <= now {
            (
                "breach",
                format!("{} {} overdue", t.kind, duration((now - due).num_minutes())),
            )
        } else if left < warn {
            ("warn", format!("{} due in {}", t.kind, duration(left)))
        } else {
            ("ok", format!("{} due in {}", t.kind, duration(left)))
        };
        return Sla {
            state,
            label,
            due_ms: due.timestamp_millis(),
            warn_ms: warn * 60_000,
            kind: t.kind.to_string(),
        };
    }
    if eval
        .targets
        .iter()
        .any(|t| t.status == TargetStatus::Paused)
    {
        return still("paused", "waiting on the customer".into());
    }
    if let Some(first) = eval.target(TargetKind::FirstResponse)
        && let Some(at) = first.achieved_at
    {
        let mins = (at - case.created_at).num_minutes().max(0);
        let late = first.status == TargetStatus::Missed;
        return still(
            if late { "late" } else { "done" },
            format!(
                "answered in {}{}",
                duration(mins),
                if late { ", late" } else { "" }
            ),
        );
    }
    if !case.status.is_active() {
        return still("done", "no answer needed".into());
    }
    still("done", "on target".into())
}

pub fn duration(mins: i64) -> String {
    if mins < 60 {
        format!("{mins}m")
    } else if mins < 48 * 60 {
        format!("{}h {}m", mins / 60, mins % 60)
    } else {
        format!("{}d", mins / (24 * 60))
    }
}

pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let mins = (now - t).num_minutes();
    if mins < 1 {
        "just now".into()
    } else {
        format!("{} ago", duration(mins))
    }
}

/// A short, screen-reader friendly source mark.
pub fn source_icon(source: SourceKind) -> &'static str {
    match source {
        SourceKind::Mastodon => "🐘",
        SourceKind::Bluesky => "🦋",
        SourceKind::Reddit => "👽",
        SourceKind::Email => "✉",
        SourceKind::Rss => "📰",
        SourceKind::Webhook => "🔗",
        SourceKind::Import => "📥",
        SourceKind::GooglePlay => "▶",
        SourceKind::AppStore => "🍏",
    }
}

/// The urgency level read from the priority breakdown.
pub fn urgency(case: &Case) -> (&'static str, String) {
    let c = case
        .priority
        .breakdown
        .iter()
        .find(|c| c.factor == "urgency");
    match c {
        Some(c) if c.value >= 0.8 => ("high", c.reason.clone()),
        Some(c) if c.value >= 0.3 => ("medium", c.reason.clone()),
        Some(c) if c.value > 0.0 => ("low", c.reason.clone()),
        _ => ("", String::new()),
    }
}

/// Reach as the breakdown explains it ("1200 followers, 3 reposts, …").
pub fn reach(case: &Case) -> String {
    case.priority
        .breakdown
        .iter()
        .find(|c| c.factor == "reach")
        .and_then(|c| c.reason.split(',').next())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use earshot_core::analysis::Sentiment;
    use earshot_core::case::CaseStatus;
    use earshot_core::priority::Priority;

    fn case(age_min: i64, now: DateTime<Utc>) -> Case {
        let created = now - chrono::Duration::minutes(age_min);
        Case {
            id: earshot_core::CaseId(1),
            status: CaseStatus::New,
            source: SourceKind::Webhook,
            conversation_key: "k".into(),
            author_handle: "a".into(),
            subject: "s".into(),
            sentiment: Sentiment::Negative,
            category: None,
            priority: Priority::default(),
            assignee: None,
            team: None,
            tags: vec![],
            location: None,
            product: None,
            mention_count: 1,
            created_at: created,
            updated_at: created,
            last_customer_at: created,
            first_response_at: None,
            last_brand_at: None,
            resolved_at: None,
        }
    }

    fn policy() -> earshot_workflow::SlaPolicy {
        serde_json::from_value(serde_json::json!({"id": 1, "name": "std", "position": 1,
            "targets": {"first_response_minutes": 60},
            "time_basis": {"type": "calendar_hours"}, "warn_before_minutes": 15}))
        .unwrap()
    }

    fn evaluate(case: &Case, now: DateTime<Utc>) -> SlaEvaluation {
        let mut events = Vec::new();
        if let Some(at) = case.first_response_at {
            events.push(earshot_workflow::TimelineEvent::AgentReply { at });
        }
        let timeline = earshot_workflow::CaseTimeline {
            created_at: case.created_at,
            events,
        };
        earshot_workflow::evaluate_sla(&policy(), &timeline, now)
    }

    #[test]
    fn countdown_follows_the_policy_from_the_customers_post() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let show = |c: &Case| sla(c, Some(&evaluate(c, now)), 15, now);
        let fresh = show(&case(10, now));
        assert_eq!(
            (fresh.state, fresh.label.as_str()),
            ("ok", "first response due in 50m")
        );
        assert_eq!(show(&case(50, now)).state, "warn");
        let late = show(&case(90, now));
        assert_eq!(
            (late.state, late.label.as_str()),
            ("breach", "first response 30m overdue")
        );
        // Posted 32 days ago and never answered: overdue, never "59m left".
        let old = show(&case(32 * 24 * 60, now));
        assert_eq!(
            (old.state, old.label.as_str()),
            ("breach", "first response 31d overdue")
        );
        let mut answered = case(90, now);
        answered.first_response_at = Some(answered.created_at + chrono::Duration::minutes(5));
        assert_eq!(show(&answered).label, "answered in 5m");
        assert_eq!(sla(&answered, None, 15, now).state, "none");
    }
}
