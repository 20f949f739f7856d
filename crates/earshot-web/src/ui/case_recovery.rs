//! The case page's recovery block: whether the customer came back round
//! after the case was resolved, with the posts before and after
//! (`templates/case_recovery.html`).

use chrono::{DateTime, Utc};
use earshot_app::recovery::CaseRecovery;
use earshot_core::recovery::RecoveryOutcome;

use crate::ui::view;

/// One post named as evidence.
pub struct EvidencePost {
    pub text: String,
    pub sentiment: &'static str,
    pub when: String,
    pub url: String,
}

/// What the block shows; `outcome` is empty while the case is not resolved.
#[derive(Default)]
pub struct RecoveryView {
    pub outcome: &'static str,
    pub label: &'static str,
    pub reason: String,
    /// "provisional until 2026-04-01" or "final since 2026-04-01".
    pub window: String,
    pub before: Vec<EvidencePost>,
    pub after: Vec<EvidencePost>,
    pub window_days: u32,
    /// The inbox listing every case with this outcome.
    pub others: String,
}

fn label(o: RecoveryOutcome) -> &'static str {
    match o {
        RecoveryOutcome::Recovered => "Recovered",
        RecoveryOutcome::Lost => "Lost",
        RecoveryOutcome::Unknown => "Unknown: no later public post",
        RecoveryOutcome::Watching => "Watching",
        RecoveryOutcome::NotApplicable => "Not applicable",
    }
}

pub fn view(r: &CaseRecovery, now: DateTime<Utc>) -> RecoveryView {
    let Some(a) = &r.assessment else {
        return RecoveryView {
            window_days: r.window_days,
            ..RecoveryView::default()
        };
    };
    let post = |id| {
        r.evidence
            .iter()
            .find(|m| m.id == id)
            .map(|m| EvidencePost {
                text: m.mention.text.clone(),
                sentiment: m.analysis.sentiment.as_str(),
                when: view::ago(m.mention.created_at, now),
                url: m.mention.url.clone().unwrap_or_default(),
            })
    };
    let day = a.window_end.format("%Y-%m-%d");
    RecoveryView {
        outcome: a.outcome.as_str(),
        label: label(a.outcome),
        reason: a.reason.clone(),
        window: if a.is_final {
            format!("final since {day}")
        } else {
            format!("provisional until {day}")
        },
        before: a
            .before_mentions
            .iter()
            .filter_map(|id| post(*id))
            .collect(),
        after: a.after_mentions.iter().filter_map(|id| post(*id)).collect(),
        window_days: r.window_days,
        others: format!("/inbox?recovery={}", a.outcome.as_str()),
    }
}
