#![allow(clippy::unwrap_used)]

use super::*;
use earshot_core::UrgencySignal;
use earshot_core::analysis::CategoryScore;
use proptest::prelude::*;

fn ctx(text: &str) -> RuleContext {
    RuleContext {
        source: Some(SourceKind::Mastodon),
        text: text.into(),
        analysis: Analysis {
            language: Some("de".into()),
            sentiment: Sentiment::Negative,
            complaint: true,
            categories: vec![CategoryScore {
                name: "Delivery".into(),
                score: 0.8,
                terms: vec![],
            }],
            urgency: vec![UrgencySignal {
                kind: UrgencyKind::LegalThreat,
                trigger: "lawyer".into(),
            }],
            ..Analysis::default()
        },
        author_handle: "jane".into(),
        author_followers: 12_000,
        author_lists: vec![AuthorList::Press],
        location: Some("Berlin-Mitte".into()),
        product: Some("Espresso X".into()),
    }
}

fn rule(id: i64, position: i32, condition: Condition, actions: Vec<RuleAction>) -> Rule {
    Rule {
        id,
        name: format!("rule {id}"),
        position,
        enabled: true,
        condition,
        actions,
        stop_processing: false,
    }
}

fn tag(t: &str) -> RuleAction {
    RuleAction::Tag { tag: t.into() }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn every_condition_matches_what_it_describes() {
    let c = ctx("My order never arrived, my lawyer will hear about this #fail");
    let yes_no: Vec<(Condition, Condition)> = vec![
        (
            Condition::Source {
                any_of: vec![SourceKind::Mastodon],
            },
            Condition::Source {
                any_of: vec![SourceKind::Reddit],
            },
        ),
        (
            Condition::Language {
                any_of: strings(&["DE"]),
            },
            Condition::Language {
                any_of: strings(&["en"]),
            },
        ),
        (
            Condition::Sentiment {
                any_of: vec![Sentiment::Negative],
            },
            Condition::Sentiment {
                any_of: vec![Sentiment::Positive],
            },
        ),
        (
            Condition::Category {
                any_of: strings(&["delivery"]),
            },
            Condition::Category {
                any_of: strings(&["billing"]),
            },
        ),
        (
            Condition::Urgency {
                any_of: vec![UrgencyKind::LegalThreat],
            },
            Condition::Urgency {
                any_of: vec![UrgencyKind::Safety],
            },
        ),
        (
            Condition::Keyword {
                any_of: strings(&["never arrived"]),
            },
            Condition::Keyword {
                any_of: strings(&["arrive"]),
            },
        ),
        (
            Condition::Keyword {
                any_of: strings(&["arriv*", "#FAIL"]),
            },
            Condition::Keyword {
                any_of: strings(&["order arrived"]),
            },
        ),
        (
            Condition::AuthorIn {
                list: AuthorList::Press,
            },
            Condition::AuthorIn {
                list: AuthorList::Vip,
            },
        ),
        (
            Condition::Location {
                any_of: strings(&["berlin-mitte"]),
            },
            Condition::Location {
                any_of: strings(&["hamburg"]),
            },
        ),
        (
            Condition::Product {
                any_of: strings(&["espresso x"]),
            },
            Condition::Product {
                any_of: strings(&["milk frother"]),
            },
        ),
        (
            Condition::Reach {
                min_followers: 12_000,
            },
            Condition::Reach {
                min_followers: 12_001,
            },
        ),
    ];
    for (yes, no) in yes_no {
        assert!(yes.matches(&c), "{yes:?} should match");
        assert!(!no.matches(&c), "{no:?} should not match");
    }
    assert!(Condition::Complaint.matches(&c));
    let mut calm = c.clone();
    calm.analysis.complaint = false;
    calm.analysis.language = None;
    assert!(!Condition::Complaint.matches(&calm));
    // No detected language matches no language list.
    assert!(
        !Condition::Language {
            any_of: strings(&["de"])
        }
        .matches(&calm)
    );
}

#[test]
fn combinators_nest() {
    let c = ctx("refund please");
    let press = Condition::AuthorIn {
        list: AuthorList::Press,
    };
    let vip = Condition::AuthorIn {
        list: AuthorList::Vip,
    };
    let any = Condition::Any {
        conditions: vec![vip.clone(), press.clone()],
    };
    let all = Condition::All {
        conditions: vec![vip.clone(), press.clone()],
    };
    assert!(any.matches(&c));
    assert!(!all.matches(&c));
    assert!(
        Condition::Not {
            condition: Box::new(all)
        }
        .matches(&c)
    );
    assert!(Condition::All { conditions: vec![] }.matches(&c));
    assert!(!Condition::Any { conditions: vec![] }.matches(&c));
}

fn every_action() -> Vec<RuleAction> {
    vec![
        RuleAction::AssignTeam {
            team: "escalations".into(),
        },
        RuleAction::AssignUser { user: "sam".into() },
        RuleAction::SetPriority { score: 95.0 },
        tag("legal"),
        RuleAction::Escalate {
            reason: "legal threat".into(),
        },
        RuleAction::Notify {
            target: NotifyTarget::Team("legal".into()),
            message: "legal threat on social".into(),
        },
        RuleAction::MarkSensitive,
        RuleAction::SendToAdvocates,
        RuleAction::RequireSkill {
            skill: "legal".into(),
        },
    ]
}

#[test]
fn every_action_reaches_the_routing_outcome() {
    let set = RuleSet::empty()
        .with_rule(rule(
            1,
            0,
            Condition::Urgency {
                any_of: vec![UrgencyKind::LegalThreat],
            },
            every_action(),
        ))
        .unwrap();
    let fired = evaluate(&set, &ctx("my lawyer"));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].version, 1);
    let o = outcome(&fired);
    assert_eq!(o.team.as_deref(), Some("escalations"));
    assert_eq!(o.assignee.as_deref(), Some("sam"));
    assert_eq!(o.priority, Some(95.0));
    assert_eq!(o.tags, strings(&["legal"]));
    assert_eq!(o.escalations, strings(&["legal threat"]));
    assert_eq!(
        o.notifications,
        vec![RuleNotification {
            target: NotifyTarget::Team("legal".into()),
            message: "legal threat on social".into()
        }]
    );
    assert!(o.sensitive && o.send_to_advocates);
    assert_eq!(o.skills, strings(&["legal"]));
}

#[test]
fn rules_run_by_position_and_stop_processing_ends_the_run() {
    let all = Condition::All { conditions: vec![] };
    let mut stopper = rule(2, 1, all.clone(), vec![tag("second")]);
    stopper.stop_processing = true;
    let mut disabled = rule(4, 0, all.clone(), vec![tag("disabled")]);
    disabled.enabled = false;
    let set = RuleSet {
        version: 7,
        rules: vec![
            rule(3, 2, all.clone(), vec![tag("third")]),
            stopper,
            rule(
                1,
                0,
                all.clone(),
                vec![tag("first"), RuleAction::AssignTeam { team: "a".into() }],
            ),
            disabled,
        ],
    };
    let fired = evaluate(&set, &ctx("x"));
    let ids: Vec<i64> = fired.iter().map(|f| f.rule_id).collect();
    assert_eq!(ids, vec![1, 2]);
    assert!(fired.iter().all(|f| f.version == 7));
    assert_eq!(outcome(&fired).tags, strings(&["first", "second"]));
}

#[test]
fn later_rules_override_single_valued_actions() {
    let all = Condition::All { conditions: vec![] };
    let set = RuleSet {
        version: 1,
        rules: vec![
            rule(
                1,
                0,
                all.clone(),
                vec![
                    RuleAction::AssignTeam {
                        team: "care".into(),
                    },
                    tag("x"),
                ],
            ),
            rule(
                2,
                1,
                all,
                vec![RuleAction::AssignTeam { team: "vip".into() }, tag("x")],
            ),
        ],
    };
    let o = outcome(&evaluate(&set, &ctx("x")));
    assert_eq!(o.team.as_deref(), Some("vip"));
    assert_eq!(o.tags, strings(&["x"]), "tags are not duplicated");
}

#[test]
fn every_edit_is_a_new_validated_version() {
    let kw = |k: &str| Condition::Keyword {
        any_of: strings(&[k]),
    };
    let v1 = RuleSet::empty()
        .with_rule(rule(1, 0, kw("refund"), vec![tag("billing")]))
        .unwrap();
    let v2 = v1
        .with_rule(rule(2, 1, kw("broken"), vec![tag("defect")]))
        .unwrap();
    let v3 = v2
        .with_rule_replaced(rule(1, 0, kw("money back"), vec![tag("billing")]))
        .unwrap();
    let v4 = v3.reordered(&[2, 1]).unwrap();
    let v5 = v4.without_rule(2).unwrap();
    assert_eq!(
        [v1.version, v2.version, v3.version, v4.version, v5.version],
        [1, 2, 3, 4, 5]
    );
    assert_eq!(v4.ordered()[0].id, 2);
    assert_eq!(v5.rules.len(), 1);
    // The old version is untouched and still answers as before.
    assert_eq!(evaluate(&v1, &ctx("refund now")).len(), 1);
    assert!(evaluate(&v3, &ctx("refund now")).is_empty());

    assert_eq!(
        v2.with_rule(rule(1, 5, kw("x"), vec![tag("y")])),
        Err(RuleError::DuplicateId(1))
    );
    assert_eq!(
        v2.with_rule(rule(9, 5, kw("x"), vec![])),
        Err(RuleError::NoActions(9))
    );
    assert_eq!(v2.without_rule(42), Err(RuleError::UnknownRule(42)));
    assert_eq!(v2.reordered(&[1]), Err(RuleError::UnknownRule(2)));
    assert_eq!(v2.reordered(&[1, 2, 3]), Err(RuleError::UnknownRule(3)));
    assert!(matches!(
        v2.with_rule(rule(
            9,
            5,
            kw("x"),
            vec![RuleAction::SetPriority { score: 250.0 }]
        )),
        Err(RuleError::Invalid { id: 9, .. })
    ));
    assert!(matches!(
        v2.with_rule(rule(9, 5, kw("!!"), vec![tag("y")])),
        Err(RuleError::Invalid { id: 9, .. })
    ));
}

#[test]
fn dry_run_shows_which_rules_fire_on_what() {
    let set = RuleSet {
        version: 3,
        rules: vec![
            rule(
                1,
                0,
                Condition::Keyword {
                    any_of: strings(&["refund"]),
                },
                vec![tag("billing")],
            ),
            rule(
                2,
                1,
                Condition::Reach {
                    min_followers: 10_000,
                },
                vec![RuleAction::Escalate {
                    reason: "reach".into(),
                }],
            ),
            rule(
                3,
                2,
                Condition::AuthorIn {
                    list: AuthorList::Blocked,
                },
                vec![tag("blocked")],
            ),
        ],
    };
    let mut small = ctx("refund please");
    small.author_followers = 10;
    let items = vec![
        DryRunItem {
            mention_id: 10,
            context: small,
        },
        DryRunItem {
            mention_id: 11,
            context: ctx("refund please"),
        },
        DryRunItem {
            mention_id: 12,
            context: RuleContext::default(),
        },
    ];
    let report = dry_run(&set, &items);
    assert_eq!(report.version, 3);
    assert_eq!(report.evaluated, 3);
    assert_eq!(report.by_rule[&1], vec![10, 11]);
    assert_eq!(report.by_rule[&2], vec![11]);
    assert!(report.by_rule[&3].is_empty());
    let matched: Vec<i64> = report.matches.iter().map(|m| m.mention_id).collect();
    assert_eq!(matched, vec![10, 11]);
}

#[test]
fn rules_json_is_tagged_and_round_trips() {
    let r = rule(
        1,
        0,
        Condition::Not {
            condition: Box::new(Condition::Any {
                conditions: vec![Condition::Complaint, Condition::Reach { min_followers: 5 }],
            }),
        },
        every_action(),
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["condition"]["type"], "not");
    assert_eq!(
        json["condition"]["condition"]["conditions"][1]["min_followers"],
        5
    );
    assert_eq!(
        json["actions"][5]["target"],
        serde_json::json!({"type": "team", "name": "legal"})
    );
    assert_eq!(serde_json::from_value::<Rule>(json).unwrap(), r);
}

#[test]
fn recursive_condition_schema_can_be_registered_in_openapi() {
    use utoipa::OpenApi;
    #[derive(OpenApi)]
    #[openapi(components(schemas(RuleSet, DryRunReport, RoutingOutcome)))]
    struct Doc;
    let doc = Doc::openapi();
    let schemas = doc.components.unwrap().schemas;
    assert!(schemas.contains_key("Condition"));
    assert!(schemas.contains_key("RuleAction"));
}

fn leaf() -> impl Strategy<Value = Condition> {
    prop_oneof![
        Just(Condition::Complaint),
        (0u64..30_000).prop_map(|n| Condition::Reach { min_followers: n }),
        prop::sample::select(vec!["refund", "never arrived", "arriv*", "lawyer"]).prop_map(|k| {
            Condition::Keyword {
                any_of: vec![k.to_owned()],
            }
        }),
        prop::sample::select(vec![
            AuthorList::Vip,
            AuthorList::Press,
            AuthorList::Blocked
        ])
        .prop_map(|list| Condition::AuthorIn { list }),
    ]
}

fn condition() -> impl Strategy<Value = Condition> {
    leaf().prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3)
                .prop_map(|conditions| Condition::All { conditions }),
            prop::collection::vec(inner.clone(), 0..3)
                .prop_map(|conditions| Condition::Any { conditions }),
            inner.prop_map(|c| Condition::Not {
                condition: Box::new(c)
            }),
        ]
    })
}

fn context() -> impl Strategy<Value = RuleContext> {
    (
        prop::sample::select(vec![
            "my refund never arrived",
            "lawyer",
            "all good",
            "arrivederci",
        ]),
        0u64..30_000,
        any::<bool>(),
    )
        .prop_map(|(text, followers, complaint)| {
            let mut c = ctx(text);
            c.author_followers = followers;
            c.analysis.complaint = complaint;
            c
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn not_negates_and_all_any_agree_with_their_parts(a in condition(), b in condition(), c in context()) {
        let not_a = Condition::Not { condition: Box::new(a.clone()) };
        prop_assert_eq!(not_a.matches(&c), !a.matches(&c));
        let all = Condition::All { conditions: vec![a.clone(), b.clone()] };
        let any = Condition::Any { conditions: vec![a.clone(), b.clone()] };
        prop_assert_eq!(all.matches(&c), a.matches(&c) && b.matches(&c));
        prop_assert_eq!(any.matches(&c), a.matches(&c) || b.matches(&c));
    }

    #[test]
    fn fired_rules_are_in_order_and_nothing_follows_a_stop(
        conds in prop::collection::vec((condition(), any::<bool>(), -5i32..5), 1..8), c in context()
    ) {
        let rules = conds.into_iter().enumerate().map(|(i, (cond, stop, pos))| {
            let mut r = rule(i as i64, pos, cond, vec![tag("t")]);
            r.stop_processing = stop;
            r
        }).collect();
        let set = RuleSet { version: 1, rules };
        let fired = evaluate(&set, &c);
        let order: Vec<i64> = set.ordered().iter().map(|r| r.id).collect();
        let idx: Vec<usize> = fired.iter().map(|f| order.iter().position(|&id| id == f.rule_id).unwrap()).collect();
        prop_assert!(idx.windows(2).all(|w| w[0] < w[1]));
        for (n, f) in fired.iter().enumerate() {
            let r = set.rules.iter().find(|r| r.id == f.rule_id).unwrap();
            prop_assert!(r.condition.matches(&c));
            if r.stop_processing {
                prop_assert_eq!(n, fired.len() - 1);
            }
        }
        // Without a stop, every matching rule fires.
        if !fired.iter().any(|f| set.rules.iter().any(|r| r.id == f.rule_id && r.stop_processing)) {
            let matching = set.rules.iter().filter(|r| r.condition.matches(&c)).count();
            prop_assert_eq!(fired.len(), matching);
        }
    }
}
