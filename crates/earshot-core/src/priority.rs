//! Priority: how urgently a case needs the brand, as a 0–100 score that
//! always carries its breakdown so an agent can see why a case is on top.

use serde::{Deserialize, Serialize};

use crate::analysis::{Analysis, UrgencyKind};

/// Configurable weights; each is the number of points its factor contributes
/// at full strength. Setting `reach` to 0 turns influence-based priority off.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PriorityWeights {
    pub severity: f32,
    pub urgency: f32,
    pub reach: f32,
    pub customer_value: f32,
    pub waiting: f32,
    /// Hours of waiting at which the waiting factor is at full strength.
    pub waiting_full_after_hours: f32,
}

impl Default for PriorityWeights {
    fn default() -> Self {
        PriorityWeights {
            severity: 35.0,
            urgency: 30.0,
            reach: 15.0,
            customer_value: 10.0,
            waiting: 10.0,
            waiting_full_after_hours: 24.0,
        }
    }
}

/// What priority is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct PriorityInputs<'a> {
    pub analysis: &'a Analysis,
    pub followers: u64,
    pub reposts: u64,
    pub likes: u64,
    /// The author is on the VIP list.
    pub vip: bool,
    /// The author is on the press list (journalists, analysts).
    pub press: bool,
    /// Hours the customer has been waiting for an answer.
    pub waiting_hours: f32,
}

/// One factor of the score: its strength in `[0, 1]`, its weight and the
/// points it contributed, with a human explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PriorityComponent {
    pub factor: String,
    pub value: f32,
    pub weight: f32,
    pub points: f32,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, Default)]
pub struct Priority {
    /// 0–100, higher first.
    pub score: f32,
    pub breakdown: Vec<PriorityComponent>,
}

impl Priority {
    pub fn compute(inputs: &PriorityInputs<'_>, weights: &PriorityWeights) -> Priority {
        let a = inputs.analysis;
        let negativity = (-a.sentiment_score).clamp(0.0, 1.0);
        let complaint = if a.complaint {
            a.complaint_score.clamp(0.5, 1.0)
        } else {
            a.complaint_score.clamp(0.0, 1.0) * 0.5
        };
        let severity = 0.6 * negativity + 0.4 * complaint;

        let (urgency, urgency_reason) = urgency_strength(a);

        // Reach grows with the log of the audience: 1M followers is full strength.
        let audience = inputs.followers as f64 + 10.0 * inputs.reposts as f64 + inputs.likes as f64;
        let reach = ((1.0 + audience).log10() / 6.0).clamp(0.0, 1.0) as f32;

        // A VIP is worth the full weight; the press, whose stories reach
        // far beyond their followers, most of it.
        let customer_value = if inputs.vip {
            1.0
        } else if inputs.press {
            0.7
        } else {
            0.0
        };
        let full = weights.waiting_full_after_hours.max(0.1);
        let waiting = (inputs.waiting_hours.max(0.0) / full).clamp(0.0, 1.0);

        let component = |factor: &str, value: f32, weight: f32, reason: String| PriorityComponent {
            factor: factor.to_string(),
            value,
            weight,
            points: round1(value * weight),
            reason,
        };
        let breakdown = vec![
            component(
                "severity",
                severity,
                weights.severity,
                format!(
                    "sentiment {:.2}, complaint {:.2}",
                    a.sentiment_score, a.complaint_score
                ),
            ),
            component("urgency", urgency, weights.urgency, urgency_reason),
            component(
                "reach",
                reach,
                weights.reach,
                if weights.reach == 0.0 {
                    "reach is switched off".to_string()
                } else {
                    format!(
                        "{} followers, {} reposts, {} likes",
                        inputs.followers, inputs.reposts, inputs.likes
                    )
                },
            ),
            component(
                "customer_value",
                customer_value,
                weights.customer_value,
                if inputs.vip {
                    "VIP customer"
                } else if inputs.press {
                    "on the press list"
                } else {
                    "not on the VIP or press list"
                }
                .to_string(),
            ),
            component(
                "waiting",
                waiting,
                weights.waiting,
                format!("waiting {:.1} h", inputs.waiting_hours.max(0.0)),
            ),
        ];
        Priority::from_breakdown(breakdown)
    }

    /// The score a breakdown adds up to.
    pub fn from_breakdown(breakdown: Vec<PriorityComponent>) -> Priority {
        let total: f32 = breakdown.iter().map(|c| c.points).sum();
        Priority {
            score: round1(total.clamp(0.0, 100.0)),
            breakdown,
        }
    }

    /// The same priority with the waiting factor at `waiting_hours` (0 once
    /// the brand has answered): the customer's wait grows while the other
    /// factors, read from their posts, stay. The score moves by exactly what
    /// the waiting factor moved, so a score a routing rule set keeps its
    /// offset. A breakdown without a waiting factor is left as it is.
    pub fn with_waiting(&self, waiting_hours: f32, weights: &PriorityWeights) -> Priority {
        let Some(old) = self.breakdown.iter().find(|c| c.factor == "waiting") else {
            return self.clone();
        };
        let old_points = old.points;
        let full = weights.waiting_full_after_hours.max(0.1);
        let hours = waiting_hours.max(0.0);
        let value = (hours / full).clamp(0.0, 1.0);
        let breakdown = self
            .breakdown
            .iter()
            .map(|c| {
                if c.factor != "waiting" {
                    return c.clone();
                }
                PriorityComponent {
                    factor: c.factor.clone(),
                    value,
                    weight: weights.waiting,
                    points: round1(value * weights.waiting),
                    reason: if hours == 0.0 {
                        "answered; waiting on the customer".to_string()
                    } else {
                        format!("waiting {hours:.1} h")
                    },
                }
            })
            .collect::<Vec<_>>();
        let new_points = breakdown
            .iter()
            .find(|c| c.factor == "waiting")
            .map_or(old_points, |c| c.points);
        Priority {
            score: round1((self.score + new_points - old_points).clamp(0.0, 100.0)),
            breakdown,
        }
    }
}

fn urgency_strength(a: &Analysis) -> (f32, String) {
    let weight = |kind: UrgencyKind| match kind {
        UrgencyKind::Safety | UrgencyKind::LegalThreat => 1.0,
        UrgencyKind::ChurnIntent => 0.8,
        UrgencyKind::PublicShaming => 0.6,
        UrgencyKind::Question => 0.3,
    };
    let strength: f32 = a.urgency.iter().map(|u| weight(u.kind)).sum();
    let reason = if a.urgency.is_empty() {
        "no urgency signals".to_string()
    } else {
        a.urgency
            .iter()
            .map(|u| format!("{:?} (\"{}\")", u.kind, u.trigger))
            .collect::<Vec<_>>()
            .join(", ")
    };
    (strength.min(1.0), reason)
}

fn round1(x: f32) -> f32 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Sentiment, UrgencySignal};

    fn angry() -> Analysis {
        Analysis {
            sentiment: Sentiment::Negative,
            sentiment_score: -0.9,
            complaint: true,
            complaint_score: 0.95,
            urgency: vec![UrgencySignal {
                kind: UrgencyKind::LegalThreat,
                trigger: "my lawyer".into(),
            }],
            ..Analysis::default()
        }
    }

    fn inputs(a: &Analysis) -> PriorityInputs<'_> {
        PriorityInputs {
            analysis: a,
            followers: 100,
            reposts: 0,
            likes: 0,
            vip: false,
            press: false,
            waiting_hours: 0.0,
        }
    }

    #[test]
    fn breakdown_adds_up_to_the_score() {
        let a = angry();
        let p = Priority::compute(&inputs(&a), &PriorityWeights::default());
        let sum: f32 = p.breakdown.iter().map(|c| c.points).sum();
        assert!((sum - p.score).abs() < 0.2, "{sum} vs {}", p.score);
        assert_eq!(p.breakdown.len(), 5);
        assert!(p.breakdown[1].reason.contains("my lawyer"));
    }

    #[test]
    fn legal_complaint_outranks_neutral_chatter() {
        let a = angry();
        let calm = Analysis::default();
        let w = PriorityWeights::default();
        let hot = Priority::compute(&inputs(&a), &w).score;
        let cold = Priority::compute(&inputs(&calm), &w).score;
        assert!(hot > cold + 40.0, "{hot} vs {cold}");
    }

    #[test]
    fn reach_can_be_switched_off() {
        let a = Analysis::default();
        let mut big = inputs(&a);
        big.followers = 2_000_000;
        let on = Priority::compute(&big, &PriorityWeights::default());
        let off = Priority::compute(
            &big,
            &PriorityWeights {
                reach: 0.0,
                ..PriorityWeights::default()
            },
        );
        assert!(on.score > off.score);
        assert_eq!(off.breakdown[2].points, 0.0);
        assert_eq!(off.breakdown[2].reason, "reach is switched off");
    }

    #[test]
    fn waiting_and_vip_raise_priority_within_bounds() {
        let a = angry();
        let mut i = inputs(&a);
        let base = Priority::compute(&i, &PriorityWeights::default()).score;
        i.vip = true;
        i.waiting_hours = 1000.0;
        i.followers = u64::MAX;
        let top = Priority::compute(&i, &PriorityWeights::default()).score;
        assert!(top > base);
        assert!(top <= 100.0);
    }

    #[test]
    fn five_hours_of_waiting_outrank_five_minutes() {
        let a = angry();
        let w = PriorityWeights::default();
        let fresh = Priority::compute(&inputs(&a), &w);
        let waited = fresh.with_waiting(5.0, &w);
        let five_minutes = fresh.with_waiting(5.0 / 60.0, &w);
        assert!(waited.score > five_minutes.score + 1.5, "{waited:?}");
        assert_eq!(waited.breakdown[4].reason, "waiting 5.0 h");
        let sum: f32 = waited.breakdown.iter().map(|c| c.points).sum();
        assert!((sum - waited.score).abs() < 0.2);
        // Answered: the factor drops to nothing.
        let answered = waited.with_waiting(0.0, &w);
        assert_eq!(answered.breakdown[4].points, 0.0);
        assert!(answered.score < waited.score);
    }

    #[test]
    fn press_counts_as_customer_value_below_vip() {
        let a = angry();
        let w = PriorityWeights::default();
        let mut i = inputs(&a);
        i.press = true;
        let press = Priority::compute(&i, &w).breakdown[3].points;
        i.vip = true;
        let vip = Priority::compute(&i, &w).breakdown[3].points;
        assert!(press > 0.0 && vip > press, "{press} {vip}");
    }

    #[test]
    fn a_score_set_by_a_rule_keeps_its_offset_as_the_wait_grows() {
        let a = angry();
        let w = PriorityWeights::default();
        let mut pinned = Priority::compute(&inputs(&a), &w);
        pinned.score = 95.0;
        let later = pinned.with_waiting(12.0, &w);
        assert_eq!(later.score, 95.0 + later.breakdown[4].points);
        assert_eq!(later.with_waiting(0.0, &w).score, 95.0);
    }
}
