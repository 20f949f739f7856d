//! Routing rules: ordered, versioned condition → action rules run on each
//! new mention, plus a dry run that shows which rules would fire on what.

use std::collections::BTreeMap;

use earshot_core::{Analysis, Sentiment, SourceKind, UrgencyKind};
use serde::{Deserialize, Serialize};

/// Named author lists maintained by the brand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthorList {
    Vip,
    Press,
    Blocked,
    /// The brand's own accounts: never thanked as advocates.
    Brand,
}

/// What a rule can test. Combinators nest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Condition {
    /// True when every inner condition is (an empty list is true).
    All {
        #[schema(no_recursion)]
        conditions: Vec<Condition>,
    },
    /// True when at least one inner condition is (an empty list is false).
    Any {
        #[schema(no_recursion)]
        conditions: Vec<Condition>,
    },
    Not {
        #[schema(no_recursion)]
        condition: Box<Condition>,
    },
    Source {
        any_of: Vec<SourceKind>,
    },
    /// ISO 639-1 codes; an undetected language matches nothing.
    Language {
        any_of: Vec<String>,
    },
    Sentiment {
        any_of: Vec<Sentiment>,
    },
    /// The analysis judged the post a complaint.
    Complaint,
    /// Any of the post's complaint categories, case-insensitive.
    Category {
        any_of: Vec<String>,
    },
    Urgency {
        any_of: Vec<UrgencyKind>,
    },
    /// Whole words or phrases, case-insensitive; a trailing `*` matches a
    /// word prefix ("refund*" matches "refunded").
    Keyword {
        any_of: Vec<String>,
    },
    AuthorIn {
        list: AuthorList,
    },
    Location {
        any_of: Vec<String>,
    },
    Product {
        any_of: Vec<String>,
    },
    /// The author has at least this many followers.
    Reach {
        min_followers: u64,
    },
}

/// Who a notification goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", content = "name", rename_all = "snake_case")]
pub enum NotifyTarget {
    User(String),
    Team(String),
    /// The configured outbound webhook (Slack-compatible).
    Webhook,
}

/// What a rule does when it fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RuleAction {
    AssignTeam {
        team: String,
    },
    AssignUser {
        user: String,
    },
    /// Overrides the computed priority score (0–100).
    SetPriority {
        score: f32,
    },
    Tag {
        tag: String,
    },
    Escalate {
        reason: String,
    },
    Notify {
        target: NotifyTarget,
        message: String,
    },
    MarkSensitive,
    SendToAdvocates,
    /// Auto-assignment picks an agent of the team with this skill.
    RequireSkill {
        skill: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rule {
    pub id: i64,
    pub name: String,
    /// Lower positions run first.
    pub position: i32,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub condition: Condition,
    pub actions: Vec<RuleAction>,
    /// When this rule fires, later rules are not evaluated.
    #[serde(default)]
    pub stop_processing: bool,
}

fn yes() -> bool {
    true
}

/// All routing rules at one version. Every edit yields a new version, so a
/// fired rule can always be traced back to the exact rule text that fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleSet {
    pub version: u32,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("rule {0} appears twice")]
    DuplicateId(i64),
    #[error("rule {0} has no actions")]
    NoActions(i64),
    #[error("rule {0} does not exist")]
    UnknownRule(i64),
    #[error("rule {id}: {why}")]
    Invalid { id: i64, why: String },
}

impl RuleSet {
    pub fn empty() -> Self {
        RuleSet {
            version: 0,
            rules: Vec::new(),
        }
    }

    pub fn validate(&self) -> Result<(), RuleError> {
        let mut seen = std::collections::BTreeSet::new();
        for r in &self.rules {
            if !seen.insert(r.id) {
                return Err(RuleError::DuplicateId(r.id));
            }
            if r.actions.is_empty() {
                return Err(RuleError::NoActions(r.id));
            }
            for a in &r.actions {
                if let RuleAction::SetPriority { score } = a
                    && !(0.0..=100.0).contains(score)
                {
                    return Err(RuleError::Invalid {
                        id: r.id,
                        why: format!("priority {score} is outside 0–100"),
                    });
                }
            }
            if let Some(why) = invalid_condition(&r.condition) {
                return Err(RuleError::Invalid { id: r.id, why });
            }
        }
        Ok(())
    }

    fn next(&self, rules: Vec<Rule>) -> Result<RuleSet, RuleError> {
        let set = RuleSet {
            version: self.version + 1,
            rules,
        };
        set.validate()?;
        Ok(set)
    }

    /// A new version with `rule` added.
    pub fn with_rule(&self, rule: Rule) -> Result<RuleSet, RuleError> {
        let mut rules = self.rules.clone();
        rules.push(rule);
        self.next(rules)
    }

    /// A new version with the rule of the same id replaced.
    pub fn with_rule_replaced(&self, rule: Rule) -> Result<RuleSet, RuleError> {
        let mut rules = self.rules.clone();
        let slot = rules
            .iter_mut()
            .find(|r| r.id == rule.id)
            .ok_or(RuleError::UnknownRule(rule.id))?;
        *slot = rule;
        self.next(rules)
    }

    /// A new version without rule `id`.
    pub fn without_rule(&self, id: i64) -> Result<RuleSet, RuleError> {
        if !self.rules.iter().any(|r| r.id == id) {
            return Err(RuleError::UnknownRule(id));
        }
        self.next(self.rules.iter().filter(|r| r.id != id).cloned().collect())
    }

    /// A new version with positions renumbered to follow `ids`; every rule
    /// must be listed once.
    pub fn reordered(&self, ids: &[i64]) -> Result<RuleSet, RuleError> {
        let mut rules = self.rules.clone();
        for r in &mut rules {
            let pos = ids
                .iter()
                .position(|&id| id == r.id)
                .ok_or(RuleError::UnknownRule(r.id))?;
            r.position = i32::try_from(pos).unwrap_or(i32::MAX);
        }
        if let Some(&extra) = ids
            .iter()
            .find(|&&id| !self.rules.iter().any(|r| r.id == id))
        {
            return Err(RuleError::UnknownRule(extra));
        }
        self.next(rules)
    }

    /// Enabled rules in evaluation order (position, then id).
    pub fn ordered(&self) -> Vec<&Rule> {
        let mut v: Vec<&Rule> = self.rules.iter().filter(|r| r.enabled).collect();
        v.sort_by_key(|r| (r.position, r.id));
        v
    }
}

fn invalid_condition(c: &Condition) -> Option<String> {
    match c {
        Condition::All { conditions } | Condition::Any { conditions } => {
            conditions.iter().find_map(invalid_condition)
        }
        Condition::Not { condition } => invalid_condition(condition),
        Condition::Keyword { any_of }
            if any_of
                .iter()
                .any(|k| tokens(k.trim_end_matches('*')).is_empty()) =>
        {
            Some("a keyword has no letters or digits".into())
        }
        _ => None,
    }
}

/// Everything a rule may look at for one mention.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleContext {
    pub source: Option<SourceKind>,
    pub text: String,
    pub analysis: Analysis,
    pub author_handle: String,
    pub author_followers: u64,
    /// The lists the author is on.
    #[serde(default)]
    pub author_lists: Vec<AuthorList>,
    pub location: Option<String>,
    pub product: Option<String>,
}

impl RuleContext {
    /// Builds the context of a stored mention; lists, location and product
    /// come from the brand's own data.
    pub fn from_mention(
        mention: &earshot_core::Mention,
        author_lists: Vec<AuthorList>,
        location: Option<String>,
        product: Option<String>,
    ) -> Self {
        RuleContext {
            source: Some(mention.mention.source),
            text: mention.mention.text.clone(),
            analysis: mention.analysis.clone(),
            author_handle: mention.mention.author.handle.clone(),
            author_followers: mention.mention.author.followers,
            author_lists,
            location,
            product,
        }
    }
}

/// Lowercased words: runs of letters, digits, `#`, `@`, `'` and `_`.
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '#' | '@' | '\'' | '_')))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn keyword_matches(words: &[String], keyword: &str) -> bool {
    let prefix = keyword.ends_with('*');
    let wanted = tokens(keyword.trim_end_matches('*'));
    if wanted.is_empty() || words.len() < wanted.len() {
        return false;
    }
    words.windows(wanted.len()).any(|w| {
        let last = wanted.len() - 1;
        w.iter().zip(&wanted).enumerate().all(|(i, (have, want))| {
            if prefix && i == last {
                have.starts_with(want.as_str())
            } else {
                have == want
            }
        })
    })
}

fn eq_any(list: &[String], value: Option<&str>) -> bool {
    value.is_some_and(|v| list.iter().any(|x| x.eq_ignore_ascii_case(v)))
}

impl Condition {
    pub fn matches(&self, ctx: &RuleContext) -> bool {
        self.eval(ctx, &tokens(&ctx.text))
    }

    fn eval(&self, ctx: &RuleContext, words: &[String]) -> bool {
        let a = &ctx.analysis;
        match self {
            Condition::All { conditions } => conditions.iter().all(|c| c.eval(ctx, words)),
            Condition::Any { conditions } => conditions.iter().any(|c| c.eval(ctx, words)),
            Condition::Not { condition } => !condition.eval(ctx, words),
            Condition::Source { any_of } => ctx.source.is_some_and(|s| any_of.contains(&s)),
            Condition::Language { any_of } => eq_any(any_of, a.language.as_deref()),
            Condition::Sentiment { any_of } => any_of.contains(&a.sentiment),
            Condition::Complaint => a.complaint,
            Condition::Category { any_of } => {
                a.categories.iter().any(|c| eq_any(any_of, Some(&c.name)))
            }
            Condition::Urgency { any_of } => any_of.iter().any(|k| a.has_urgency(*k)),
            Condition::Keyword { any_of } => any_of.iter().any(|k| keyword_matches(words, k)),
            Condition::AuthorIn { list } => ctx.author_lists.contains(list),
            Condition::Location { any_of } => eq_any(any_of, ctx.location.as_deref()),
            Condition::Product { any_of } => eq_any(any_of, ctx.product.as_deref()),
            Condition::Reach { min_followers } => ctx.author_followers >= *min_followers,
        }
    }
}

/// A rule that fired, with the version it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FiredRule {
    pub rule_id: i64,
    pub rule_name: String,
    pub version: u32,
    pub actions: Vec<RuleAction>,
}

/// Runs the enabled rules in order; a firing rule with `stop_processing`
/// ends the run.
pub fn evaluate(rules: &RuleSet, ctx: &RuleContext) -> Vec<FiredRule> {
    let words = tokens(&ctx.text);
    let mut fired = Vec::new();
    for rule in rules.ordered() {
        if rule.condition.eval(ctx, &words) {
            fired.push(FiredRule {
                rule_id: rule.id,
                rule_name: rule.name.clone(),
                version: rules.version,
                actions: rule.actions.clone(),
            });
            if rule.stop_processing {
                break;
            }
        }
    }
    fired
}

/// A notification asked for by a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleNotification {
    pub target: NotifyTarget,
    pub message: String,
}

/// The combined effect of fired rules on a case. Later rules override
/// earlier ones for single-valued fields; tags and notifications add up.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoutingOutcome {
    pub team: Option<String>,
    pub assignee: Option<String>,
    pub priority: Option<f32>,
    pub tags: Vec<String>,
    pub escalations: Vec<String>,
    pub notifications: Vec<RuleNotification>,
    pub sensitive: bool,
    pub send_to_advocates: bool,
    /// Skills the assigned agent needs.
    #[serde(default)]
    pub skills: Vec<String>,
}

pub fn outcome(fired: &[FiredRule]) -> RoutingOutcome {
    let mut o = RoutingOutcome::default();
    for action in fired.iter().flat_map(|f| &f.actions) {
        match action {
            RuleAction::AssignTeam { team } => o.team = Some(team.clone()),
            RuleAction::AssignUser { user } => o.assignee = Some(user.clone()),
            RuleAction::SetPriority { score } => o.priority = Some(*score),
            RuleAction::Tag { tag } => {
                if !o.tags.contains(tag) {
                    o.tags.push(tag.clone());
                }
            }
            RuleAction::Escalate { reason } => o.escalations.push(reason.clone()),
            RuleAction::Notify { target, message } => o.notifications.push(RuleNotification {
                target: target.clone(),
                message: message.clone(),
            }),
            RuleAction::MarkSensitive => o.sensitive = true,
            RuleAction::SendToAdvocates => o.send_to_advocates = true,
            RuleAction::RequireSkill { skill } => {
                if !o.skills.contains(skill) {
                    o.skills.push(skill.clone());
                }
            }
        }
    }
    o
}

/// One stored mention to test rules against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DryRunItem {
    pub mention_id: i64,
    pub context: RuleContext,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DryRunMatch {
    pub mention_id: i64,
    pub fired: Vec<FiredRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DryRunReport {
    pub version: u32,
    pub evaluated: usize,
    /// Mentions on which at least one rule fired, in input order.
    pub matches: Vec<DryRunMatch>,
    /// For every rule (enabled or not), the mentions it fired on.
    // JSON object keys are strings, whatever type the map is keyed by.
    #[schema(value_type = BTreeMap<String, Vec<i64>>)]
    pub by_rule: BTreeMap<i64, Vec<i64>>,
}

/// Runs `rules` over many mentions without touching anything.
pub fn dry_run(rules: &RuleSet, items: &[DryRunItem]) -> DryRunReport {
    let mut by_rule: BTreeMap<i64, Vec<i64>> =
        rules.rules.iter().map(|r| (r.id, Vec::new())).collect();
    let mut matches = Vec::new();
    for item in items {
        let fired = evaluate(rules, &item.context);
        for f in &fired {
            by_rule.entry(f.rule_id).or_default().push(item.mention_id);
        }
        if !fired.is_empty() {
            matches.push(DryRunMatch {
                mention_id: item.mention_id,
                fired,
            });
        }
    }
    DryRunReport {
        version: rules.version,
        evaluated: items.len(),
        matches,
        by_rule,
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
