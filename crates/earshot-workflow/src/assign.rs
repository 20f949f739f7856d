//! Auto-assignment within a team: round-robin or least-loaded, respecting
//! capacity, availability, language and skills.

use serde::{Deserialize, Serialize};

// Defined in core: a team's strategy crosses the store contract typed.
pub use earshot_core::workflow_store::AssignmentStrategy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Available,
    Away,
    Offline,
}

/// An agent of the team, with their current load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentCandidate {
    pub user: String,
    pub availability: Availability,
    /// Active cases currently assigned.
    pub open_cases: u32,
    /// Most active cases the agent takes on.
    pub capacity: u32,
    /// ISO 639-1 codes the agent answers in.
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub skills: Vec<String>,
}

/// What the case needs from its agent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AssignmentNeeds {
    /// The customer's language; `None` when unknown (anyone will do).
    pub language: Option<String>,
    #[serde(default)]
    pub skills: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    Away,
    Offline,
    AtCapacity,
    Language,
    Skills,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Skipped {
    pub user: String,
    pub reason: SkipReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Assignment {
    pub user: String,
    /// Store this as the team's round-robin cursor.
    pub next_cursor: String,
    pub skipped: Vec<Skipped>,
}

/// Nobody could take the case; `skipped` says why for each agent.
#[derive(
    Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize, utoipa::ToSchema,
)]
#[error("no agent can take this case ({} considered)", skipped.len())]
pub struct NoAgent {
    pub skipped: Vec<Skipped>,
}

fn skip_reason(a: &AgentCandidate, needs: &AssignmentNeeds) -> Option<SkipReason> {
    match a.availability {
        Availability::Away => return Some(SkipReason::Away),
        Availability::Offline => return Some(SkipReason::Offline),
        Availability::Available => {}
    }
    if a.open_cases >= a.capacity {
        return Some(SkipReason::AtCapacity);
    }
    if let Some(lang) = &needs.language
        && !a.languages.iter().any(|l| l.eq_ignore_ascii_case(lang))
    {
        return Some(SkipReason::Language);
    }
    if !needs
        .skills
        .iter()
        .all(|s| a.skills.iter().any(|have| have.eq_ignore_ascii_case(s)))
    {
        return Some(SkipReason::Skills);
    }
    None
}

/// Picks an agent. Round-robin takes the first eligible agent after
/// `cursor` (the last one assigned) in name order, wrapping around;
/// least-loaded takes the lowest load relative to capacity, ties broken in
/// round-robin order so equal agents take turns.
pub fn choose_agent(
    strategy: AssignmentStrategy,
    agents: &[AgentCandidate],
    needs: &AssignmentNeeds,
    cursor: Option<&str>,
) -> Result<Assignment, NoAgent> {
    let mut ordered: Vec<&AgentCandidate> = agents.iter().collect();
    ordered.sort_by(|a, b| a.user.cmp(&b.user));
    let mut skipped = Vec::new();
    let mut eligible = Vec::new();
    for a in ordered {
        match skip_reason(a, needs) {
            Some(reason) => skipped.push(Skipped {
                user: a.user.clone(),
                reason,
            }),
            None => eligible.push(a),
        }
    }
    // Rotate so the agent after the cursor comes first.
    let start = cursor.map_or(0, |c| {
        eligible
            .iter()
            .position(|a| a.user.as_str() > c)
            .unwrap_or(0)
    });
    eligible.rotate_left(start);
    let chosen = match strategy {
        AssignmentStrategy::RoundRobin => eligible.first().copied(),
        AssignmentStrategy::LeastLoaded => eligible
            .iter()
            .enumerate()
            // Compare open/capacity as fractions without floating point:
            // a/b < c/d  ⇔  a·d < c·b; the index keeps the rotation order.
            .min_by(|(i, a), (j, b)| {
                let lhs = u64::from(a.open_cases) * u64::from(b.capacity);
                let rhs = u64::from(b.open_cases) * u64::from(a.capacity);
                lhs.cmp(&rhs).then(i.cmp(j))
            })
            .map(|(_, a)| *a),
    };
    match chosen {
        Some(a) => Ok(Assignment {
            user: a.user.clone(),
            next_cursor: a.user.clone(),
            skipped,
        }),
        None => Err(NoAgent { skipped }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn agent(user: &str, open: u32, capacity: u32) -> AgentCandidate {
        AgentCandidate {
            user: user.into(),
            availability: Availability::Available,
            open_cases: open,
            capacity,
            languages: vec!["en".into(), "de".into()],
            skills: vec!["billing".into()],
        }
    }

    #[test]
    fn round_robin_takes_turns_and_wraps() {
        let team = [agent("cy", 0, 5), agent("al", 0, 5), agent("bo", 0, 5)];
        let needs = AssignmentNeeds::default();
        let mut cursor: Option<String> = None;
        let mut picks = Vec::new();
        for _ in 0..4 {
            let a = choose_agent(
                AssignmentStrategy::RoundRobin,
                &team,
                &needs,
                cursor.as_deref(),
            )
            .unwrap();
            picks.push(a.user.clone());
            cursor = Some(a.next_cursor);
        }
        assert_eq!(picks, ["al", "bo", "cy", "al"]);
    }

    #[test]
    fn away_full_and_mismatched_agents_are_skipped_with_reasons() {
        let mut away = agent("al", 0, 5);
        away.availability = Availability::Away;
        let full = agent("bo", 5, 5);
        let mut english_only = agent("cy", 0, 5);
        english_only.languages = vec!["en".into()];
        let mut no_billing = agent("di", 0, 5);
        no_billing.skills.clear();
        let ok = agent("ed", 4, 5);
        let needs = AssignmentNeeds {
            language: Some("DE".into()),
            skills: vec!["billing".into()],
        };
        let team = [away, full, english_only, no_billing, ok];
        let a = choose_agent(AssignmentStrategy::RoundRobin, &team, &needs, None).unwrap();
        assert_eq!(a.user, "ed");
        let reasons: Vec<SkipReason> = a.skipped.iter().map(|s| s.reason).collect();
        assert_eq!(
            reasons,
            [
                SkipReason::Away,
                SkipReason::AtCapacity,
                SkipReason::Language,
                SkipReason::Skills
            ]
        );

        let err =
            choose_agent(AssignmentStrategy::LeastLoaded, &team[..4], &needs, None).unwrap_err();
        assert_eq!(err.skipped.len(), 4);
    }

    #[test]
    fn least_loaded_compares_load_against_capacity() {
        // 3/10 is lighter than 1/2.
        let team = [agent("al", 1, 2), agent("bo", 3, 10), agent("cy", 2, 4)];
        let a = choose_agent(
            AssignmentStrategy::LeastLoaded,
            &team,
            &AssignmentNeeds::default(),
            None,
        )
        .unwrap();
        assert_eq!(a.user, "bo");
        // Equal loads take turns after the cursor.
        let even = [agent("al", 1, 5), agent("bo", 1, 5)];
        let a = choose_agent(
            AssignmentStrategy::LeastLoaded,
            &even,
            &AssignmentNeeds::default(),
            Some("al"),
        )
        .unwrap();
        assert_eq!(a.user, "bo");
    }

    fn candidate() -> impl Strategy<Value = AgentCandidate> {
        (
            "[a-f]{1,3}",
            prop::sample::select(vec![
                Availability::Available,
                Availability::Away,
                Availability::Offline,
            ]),
            0u32..6,
            0u32..6,
            prop::sample::subsequence(vec!["en", "de", "fr"], 0..3),
            prop::sample::subsequence(vec!["billing", "tech"], 0..2),
        )
            .prop_map(|(user, availability, open, capacity, langs, skills)| {
                AgentCandidate {
                    user,
                    availability,
                    open_cases: open,
                    capacity,
                    languages: langs.into_iter().map(String::from).collect(),
                    skills: skills.into_iter().map(String::from).collect(),
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn picks_an_eligible_agent_exactly_when_one_exists(
            agents in prop::collection::vec(candidate(), 0..8),
            lang in prop::option::of(prop::sample::select(vec!["en", "de", "fr"])),
            skill in prop::option::of(prop::sample::select(vec!["billing", "tech"])),
            least in any::<bool>(),
            cursor in prop::option::of("[a-f]{1,3}"),
        ) {
            // Agent names are unique within a team.
            let agents: Vec<AgentCandidate> = agents
                .into_iter()
                .enumerate()
                .map(|(i, mut a)| {
                    a.user = format!("{}{i}", a.user);
                    a
                })
                .collect();
            let needs = AssignmentNeeds { language: lang.map(String::from), skills: skill.into_iter().map(String::from).collect() };
            let strategy = if least { AssignmentStrategy::LeastLoaded } else { AssignmentStrategy::RoundRobin };
            let any_eligible = agents.iter().any(|a| skip_reason(a, &needs).is_none());
            match choose_agent(strategy, &agents, &needs, cursor.as_deref()) {
                Ok(a) => {
                    let chosen = agents.iter().find(|x| x.user == a.user).unwrap();
                    prop_assert!(chosen.availability == Availability::Available);
                    prop_assert!(chosen.open_cases < chosen.capacity);
                    prop_assert!(skip_reason(chosen, &needs).is_none());
                }
                Err(e) => {
                    prop_assert!(!any_eligible);
                    prop_assert_eq!(e.skipped.len(), agents.len());
                }
            }
        }

        #[test]
        fn round_robin_visits_every_eligible_agent_before_repeating(n in 1usize..7) {
            let team: Vec<AgentCandidate> = (0..n).map(|i| agent(&format!("agent{i}"), 0, 9)).collect();
            let mut cursor: Option<String> = None;
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..n {
                let a = choose_agent(AssignmentStrategy::RoundRobin, &team, &AssignmentNeeds::default(), cursor.as_deref()).unwrap();
                prop_assert!(seen.insert(a.user.clone()));
                cursor = Some(a.next_cursor);
            }
        }
    }
}
