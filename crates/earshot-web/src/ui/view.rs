//! Turning cases into what a row or a header shows: badges, SLA countdowns,
//! relative times.

use chrono::{DateTime, Utc};
use earshot_core::accounts::{FIRST_RESPONSE_TARGET_MINUTES, SLA_WARNING_MINUTES};
use earshot_core::case::Case;
use earshot_core::source::SourceKind;

/// The first-response countdown of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sla {
    /// `ok`, `warn`, `breach` or `done`.
    pub state: &'static str,
    pub label: String,
    /// Epoch ms when the first response is due; 0 when answered.
    pub due_ms: i64,
}

pub fn sla(case: &Case, now: DateTime<Utc>) -> Sla {
    if let Some(at) = case.first_response_at {
        let mins = (at - case.created_at).num_minutes().max(0);
        return Sla {
            state: if mins <= FIRST_RESPONSE_TARGET_MINUTES {
                "done"
            } else {
                "late"
            },
            label: format!("answered in {}", duration(mins)),
            due_ms: 0,
        };
    }
    if !case.status.is_active() {
        return Sla {
            state: "done",
            label: "no answer needed".into(),
            due_ms: 0,
        };
    }
    let due = case.created_at + chrono::Duration::minutes(FIRST_RESPONSE_TARGET_MINUTES);
    let left = (due - now).num_minutes();
    let (state, label) = if left < 0 {
        ("breach", format!("{} overdue", duration(-left)))
    } else if left < SLA_WARNING_MINUTES {
        ("warn", format!("{} left", duration(left)))
    } else {
        ("ok", format!("{} left", duration(left)))
    };
    Sla {
        state,
        label,
        due_ms: due.timestamp_millis(),
    }
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
            id: 1,
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

    #[test]
    fn countdown_turns_amber_then_red() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        assert_eq!(sla(&case(10, now), now).state, "ok");
        assert_eq!(sla(&case(50, now), now).state, "warn");
        let late = sla(&case(90, now), now);
        assert_eq!((late.state, late.label.as_str()), ("breach", "30m overdue"));
        let mut answered = case(90, now);
        answered.first_response_at = Some(answered.created_at + chrono::Duration::minutes(5));
        assert_eq!(sla(&answered, now).state, "done");
    }
}
