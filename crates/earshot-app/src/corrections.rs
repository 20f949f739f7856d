//! An agent corrects a mention's sentiment, category or urgency: the
//! mention's analysis, its case's badge and the case priority follow at
//! once, and the correction (with the original analysis) is kept for
//! training.

use earshot_core::accounts::{CorrectedCase, Correction, CorrectionTask, NewCorrection};
use earshot_core::analysis::Analysis;
use earshot_core::auth::Principal;
use earshot_core::case::Case;
use earshot_core::error::{Error, Result};
use earshot_core::ids::{CaseId, MentionId};
use earshot_core::mention::Mention;
use earshot_core::priority::{Priority, PriorityInputs, PriorityWeights};
use earshot_workflow::Action;

use crate::access::authorize_case;
use crate::cases::case_detail;
use crate::{App, LiveEvent};

/// Corrects `task` of mention `mention_id` on case `case_id` to `label`.
pub async fn correct(
    app: &App,
    p: &Principal,
    case_id: CaseId,
    mention_id: MentionId,
    task: CorrectionTask,
    label: &str,
) -> Result<Correction> {
    let accounts = app
        .accounts
        .as_ref()
        .ok_or_else(|| Error::not_found("the desk is not enabled on this server"))?;
    let detail = case_detail(app, case_id).await?;
    let mention = detail
        .mentions
        .iter()
        .find(|m| m.id == mention_id)
        .ok_or_else(|| Error::not_found(format!("case {case_id} has no mention {mention_id}")))?;
    authorize_case(app, p, &detail.case, Action::UpdateCase).await?;
    let (corrected, label) = task.apply(&mention.analysis, label)?;
    let case = corrected_case(
        &detail.case,
        &detail.mentions,
        mention_id,
        &corrected,
        &app.pipeline.weights,
    );
    let saved = accounts
        .add_correction(
            &NewCorrection {
                mention_id: mention_id.0,
                task,
                label,
                actor: p.name.clone(),
                original: mention.analysis.clone(),
                corrected,
                case: Some(case),
            },
            app.clock.now(),
        )
        .await?;
    let _ = app.live.send(LiveEvent::CaseUpdated { case_id });
    Ok(saved)
}

/// The priority one mention brings to its case, as ingestion scores it.
fn mention_priority(m: &Mention, a: &Analysis, weights: &PriorityWeights) -> Priority {
    Priority::compute(
        &PriorityInputs {
            analysis: a,
            followers: m.mention.author.followers,
            reposts: m.mention.metrics.reposts,
            likes: m.mention.metrics.likes,
            vip: false,
            press: false,
            waiting_hours: 0.0,
        },
        weights,
    )
}

/// The case's top mention priority (ingestion keeps the highest).
fn top_priority<'a>(
    mentions: &'a [Mention],
    analysis: impl Fn(&'a Mention) -> &'a Analysis,
    weights: &PriorityWeights,
) -> Priority {
    mentions
        .iter()
        .map(|m| mention_priority(m, analysis(m), weights))
        .max_by(|a, b| a.score.total_cmp(&b.score))
        .unwrap_or_default()
}

/// The case as ingestion would have left it had mention `mention_id` read
/// `corrected`: the latest mention's sentiment, the first category, the
/// highest priority. A priority moved by something else (a routing rule)
/// keeps that offset: the correction moves it by what the analysis changed.
pub fn corrected_case(
    case: &Case,
    mentions: &[Mention],
    mention_id: MentionId,
    corrected: &Analysis,
    weights: &PriorityWeights,
) -> CorrectedCase {
    fn read<'a>(m: &'a Mention, id: MentionId, corrected: &'a Analysis) -> &'a Analysis {
        if m.id == id { corrected } else { &m.analysis }
    }
    let after = |m| read(m, mention_id, corrected);
    let sentiment = mentions
        .last()
        .map_or(case.sentiment, |m| after(m).sentiment);
    let category = mentions
        .iter()
        .find_map(|m| after(m).top_category().map(str::to_string))
        .or_else(|| case.category.clone());
    // What the author is worth and how long they have waited are not read
    // from the post: the case keeps those factors as they stand.
    let keep = |p: Priority| {
        Priority::from_breakdown(
            p.breakdown
                .into_iter()
                .map(|c| {
                    case.priority
                        .breakdown
                        .iter()
                        .find(|k| {
                            k.factor == c.factor
                                && matches!(c.factor.as_str(), "customer_value" | "waiting")
                        })
                        .cloned()
                        .unwrap_or(c)
                })
                .collect(),
        )
    };
    let before = keep(top_priority(mentions, |m| &m.analysis, weights));
    let mut priority = keep(top_priority(mentions, after, weights));
    let offset = case.priority.score - before.score;
    priority.score = ((priority.score + offset).clamp(0.0, 100.0) * 10.0).round() / 10.0;
    CorrectedCase {
        id: case.id.0,
        sentiment,
        category,
        priority,
    }
}
