//! Case rules at intake: what a newly analysed mention does to the case list.

use serde::Serialize;

use crate::analysis::{Analysis, Sentiment};
use crate::case::CaseStatus;

/// What to do with a new mention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum CasePlan {
    /// The conversation already has a case: the mention joins it, and the
    /// case takes `status` (a waiting case reopens; a resolved one reopens
    /// only for a post that would open a case itself). Which case is the
    /// caller's to know: it may be one the same batch is creating.
    Join { status: CaseStatus },
    /// A negative post, complaint or question with no case yet.
    Open,
    /// A happy customer: thank them, grow them. Goes to the advocates list.
    Advocate,
    /// Neutral chatter: stored and searchable, nothing to do.
    StoreOnly,
}

/// The case of the mention's conversation, if there is one that is not closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExistingCase {
    pub status: CaseStatus,
}

/// Any follow-up from the customer belongs to their conversation's case,
/// even a "thanks" (that is how the tone turning positive becomes visible,
/// and what recovery reads). A follow-up on a resolved case reopens it only
/// when it would open a case by itself (negative, a complaint, a question):
/// "thanks, all sorted!" joins the resolved case and creates no work. Only
/// negative posts, complaints and questions open new cases.
pub fn plan(analysis: &Analysis, existing: Option<ExistingCase>) -> CasePlan {
    if let Some(case) = existing.filter(|c| c.status.accepts_mentions()) {
        let status = if case.status == CaseStatus::Resolved && !needs_a_case(analysis) {
            CaseStatus::Resolved
        } else {
            case.status.on_customer_message()
        };
        return CasePlan::Join { status };
    }
    if needs_a_case(analysis) {
        CasePlan::Open
    } else if analysis.sentiment == Sentiment::Positive {
        CasePlan::Advocate
    } else {
        CasePlan::StoreOnly
    }
}

pub fn needs_a_case(analysis: &Analysis) -> bool {
    analysis.sentiment == Sentiment::Negative || analysis.complaint || analysis.is_question()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{UrgencyKind, UrgencySignal};

    fn with(sentiment: Sentiment, complaint: bool) -> Analysis {
        Analysis {
            sentiment,
            complaint,
            ..Analysis::default()
        }
    }

    #[test]
    fn negative_complaint_or_question_opens_a_case() {
        assert_eq!(
            plan(&with(Sentiment::Negative, false), None),
            CasePlan::Open
        );
        assert_eq!(plan(&with(Sentiment::Neutral, true), None), CasePlan::Open);
        let mut q = with(Sentiment::Neutral, false);
        q.urgency.push(UrgencySignal {
            kind: UrgencyKind::Question,
            trigger: "how do I".into(),
        });
        assert_eq!(plan(&q, None), CasePlan::Open);
    }

    #[test]
    fn positive_goes_to_advocates_and_neutral_is_only_stored() {
        assert_eq!(
            plan(&with(Sentiment::Positive, false), None),
            CasePlan::Advocate
        );
        assert_eq!(
            plan(&with(Sentiment::Neutral, false), None),
            CasePlan::StoreOnly
        );
    }

    #[test]
    fn follow_ups_join_and_reopen_the_conversation() {
        let resolved = ExistingCase {
            status: CaseStatus::Resolved,
        };
        assert_eq!(
            plan(&with(Sentiment::Negative, false), Some(resolved)),
            CasePlan::Join {
                status: CaseStatus::Open
            }
        );
        assert_eq!(
            plan(&with(Sentiment::Neutral, true), Some(resolved)),
            CasePlan::Join {
                status: CaseStatus::Open
            }
        );
        let pending = ExistingCase {
            status: CaseStatus::Pending,
        };
        // The customer answered what the brand waited for.
        assert_eq!(
            plan(&with(Sentiment::Positive, false), Some(pending)),
            CasePlan::Join {
                status: CaseStatus::Open
            }
        );
        let new = ExistingCase {
            status: CaseStatus::New,
        };
        assert_eq!(
            plan(&with(Sentiment::Negative, true), Some(new)),
            CasePlan::Join {
                status: CaseStatus::New
            }
        );
    }

    #[test]
    fn a_thanks_joins_a_resolved_case_without_reopening_it() {
        let resolved = ExistingCase {
            status: CaseStatus::Resolved,
        };
        for sentiment in [Sentiment::Positive, Sentiment::Neutral] {
            assert_eq!(
                plan(&with(sentiment, false), Some(resolved)),
                CasePlan::Join {
                    status: CaseStatus::Resolved
                },
                "{sentiment:?}"
            );
        }
        // A question still reopens it.
        let mut q = with(Sentiment::Positive, false);
        q.urgency.push(UrgencySignal {
            kind: UrgencyKind::Question,
            trigger: "?".into(),
        });
        assert_eq!(
            plan(&q, Some(resolved)),
            CasePlan::Join {
                status: CaseStatus::Open
            }
        );
    }

    #[test]
    fn a_closed_case_is_not_reopened() {
        let closed = ExistingCase {
            status: CaseStatus::Closed,
        };
        assert_eq!(
            plan(&with(Sentiment::Negative, false), Some(closed)),
            CasePlan::Open
        );
    }
}
