//! CSAT on both backends: policies, one request per case, answering once
//! (a second submission and a race leave the first answer), the scan's
//! candidates, the case-list filter and the summary's sums.

use chrono::{DateTime, TimeDelta, Utc};
use earshot_core::case::CaseStatus;
use earshot_core::csat::{
    AnswerOutcome, CsatDelivery, CsatFilter, CsatGroupBy, CsatPolicies, CsatPolicy, CsatStore,
    CsatSummaryQuery, CsatTrigger, NewCsatRequest, Rating, SourceCsatPolicy, TeamCsatPolicy,
};
use earshot_core::error::ErrorCode;
use earshot_core::ids::{CaseId, ReplyId, SourceId};
use earshot_core::reply::{ReplyRoute, Visibility};
use earshot_core::store::{CaseQuery, NewReply, Store};
use earshot_store::SqlStore;

use super::{complaint, t0};

async fn sqlite() -> Option<super::Harness> {
    super::sqlite().await
}

async fn postgres() -> Option<super::Harness> {
    super::postgres().await
}

fn at(minutes: i64) -> DateTime<Utc> {
    t0() + TimeDelta::minutes(minutes)
}

/// A resolved case for `handle`, resolved at `at(resolved)`.
async fn resolved_case(s: &SqlStore, handle: &str, resolved: i64) -> CaseId {
    let out = s
        .ingest(
            &[complaint(handle, handle, "my parcel never arrived")],
            t0(),
        )
        .await
        .unwrap();
    let id = out[0].case.unwrap().id;
    s.set_status(id, CaseStatus::Resolved, "ann", at(resolved))
        .await
        .unwrap();
    id
}

fn new_request(case_id: CaseId, now: DateTime<Utc>) -> NewCsatRequest {
    NewCsatRequest {
        case_id,
        trigger: CsatTrigger::OnResolve,
        requested_by: "earshot".into(),
        source_id: None,
        expires_at: now + TimeDelta::days(7),
        lease_until: now + TimeDelta::minutes(5),
    }
}

async fn a_reply(s: &SqlStore, case_id: CaseId) -> ReplyId {
    s.add_reply(
        case_id,
        &NewReply {
            visibility: Visibility::Private,
            body: "Hi, how did we do?".into(),
            send: true,
        },
        ReplyRoute::Manual,
        "earshot",
        t0(),
    )
    .await
    .unwrap()
    .id
}

async fn policies_round_trip(s: &SqlStore) {
    assert_eq!(s.csat_policies().await.unwrap(), CsatPolicies::default());
    let p = CsatPolicies {
        default: CsatPolicy::on_demand(),
        teams: vec![TeamCsatPolicy {
            team: "billing".into(),
            policy: CsatPolicy::never(),
        }],
        sources: vec![SourceCsatPolicy {
            source_id: SourceId(4),
            policy: CsatPolicy::on_resolve(30),
        }],
    };
    s.set_csat_policies(&p, "admin", t0()).await.unwrap();
    assert_eq!(s.csat_policies().await.unwrap(), p);
    // A replacement drops what it does not list.
    s.set_csat_policies(&CsatPolicies::default(), "admin", t0())
        .await
        .unwrap();
    assert_eq!(s.csat_policies().await.unwrap(), CsatPolicies::default());
}

async fn one_request_per_case_and_one_answer(s: &SqlStore) {
    let case = resolved_case(s, "ida", 0).await;
    let created = s
        .create_csat_request(&new_request(case, at(1440)), at(1440))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(created.delivery, CsatDelivery::Scheduled);
    assert_eq!(created.case_id, case);
    // The UNIQUE constraint: a second create changes nothing.
    let again = s
        .create_csat_request(&new_request(case, at(1500)), at(1500))
        .await
        .unwrap();
    assert_eq!(again, None);
    assert_eq!(s.csat_for_case(case).await.unwrap().unwrap(), created);
    // An unknown case is a 404, not a constraint error.
    let e = s
        .create_csat_request(&new_request(CaseId(999_999), t0()), t0())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::CaseNotFound);

    let reply = a_reply(s, case).await;
    let sent = s
        .mark_csat_sent(
            created.id,
            reply,
            at(1440) + TimeDelta::days(7),
            "earshot",
            at(1441),
        )
        .await
        .unwrap();
    assert_eq!(sent.delivery, CsatDelivery::Sent);
    assert_eq!(sent.reply_id, Some(reply));
    assert_eq!(sent.sent_at, Some(at(1441)));
    let e = s
        .mark_csat_sent(created.id, reply, at(1), "earshot", at(1442))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);

    let first = Rating::new(4, Some("quick and kind")).unwrap();
    let stored = match s.answer_csat(created.id, &first, at(1500)).await.unwrap() {
        AnswerOutcome::Stored(r) => r,
        other => panic!("{other:?}"),
    };
    let answer = stored.answer.clone().unwrap();
    assert_eq!(
        (answer.score, answer.comment.as_deref()),
        (4, Some("quick and kind"))
    );
    assert_eq!(answer.answered_at, at(1500));
    // A second submission keeps the first answer.
    let second = Rating::new(1, Some("changed my mind")).unwrap();
    match s.answer_csat(created.id, &second, at(1501)).await.unwrap() {
        AnswerOutcome::AlreadyAnswered(r) => assert_eq!(r.answer.unwrap(), answer),
        other => panic!("{other:?}"),
    }
    let events: Vec<String> = s
        .case_detail(case)
        .await
        .unwrap()
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.action)
        .filter(|a| a.starts_with("csat."))
        .collect();
    assert_eq!(events, ["csat.sent", "csat.answered"]);
}

/// Twenty submissions at once: exactly one is stored, and every other one
/// sees that one.
async fn racing_answers_store_one(s: &SqlStore) {
    let case = resolved_case(s, "rex", 0).await;
    let r = s
        .create_csat_request(&new_request(case, at(10)), at(10))
        .await
        .unwrap()
        .unwrap();
    let mut tasks = Vec::new();
    for score in 0..20i64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let rating = Rating::new(score % 5 + 1, None).unwrap();
            s.answer_csat(r.id, &rating, at(20)).await.unwrap()
        }));
    }
    let mut stored = Vec::new();
    let mut seen = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            AnswerOutcome::Stored(r) => stored.push(r.answer.unwrap().score),
            AnswerOutcome::AlreadyAnswered(r) => seen.push(r.answer.unwrap().score),
        }
    }
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(
        seen.iter().all(|s| *s == stored[0]),
        "{seen:?} vs {stored:?}"
    );
    let final_score = s
        .csat_for_case(case)
        .await
        .unwrap()
        .unwrap()
        .answer
        .unwrap()
        .score;
    assert_eq!(final_score, stored[0]);
}

async fn the_scan_sees_resolved_cases_without_a_request(s: &SqlStore) {
    let asked = resolved_case(s, "amy", 0).await;
    let waiting = resolved_case(s, "bob", 10).await;
    let reopened = resolved_case(s, "cat", 20).await;
    s.set_status(reopened, CaseStatus::Open, "ann", at(30))
        .await
        .unwrap();
    let closed = resolved_case(s, "dan", 40).await;
    s.set_status(closed, CaseStatus::Closed, "ann", at(50))
        .await
        .unwrap();
    let _open = s
        .ingest(&[complaint("eve", "eve", "still waiting")], t0())
        .await
        .unwrap();
    s.create_csat_request(&new_request(asked, at(60)), at(60))
        .await
        .unwrap();
    let found: Vec<CaseId> = s
        .csat_candidates(t0(), at(100), 50)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.case_id)
        .collect();
    assert_eq!(found, [waiting, closed]);
    let c = &s.csat_candidates(at(5), at(15), 50).await.unwrap()[0];
    assert_eq!((c.case_id, c.resolved_at), (waiting, at(10)));
    assert!(
        s.csat_candidates(at(41), at(100), 50)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_stalled_request_is_claimed_once(s: &SqlStore) {
    let case = resolved_case(s, "fay", 0).await;
    let r = s
        .create_csat_request(&new_request(case, at(0)), at(0))
        .await
        .unwrap()
        .unwrap();
    // Held for five minutes by its creator.
    assert!(s.stalled_csat_requests(at(4)).await.unwrap().is_empty());
    assert!(
        s.claim_csat_request(r.id, at(10), at(4))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.stalled_csat_requests(at(5)).await.unwrap().len(), 1);
    assert!(
        s.claim_csat_request(r.id, at(10), at(5))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.claim_csat_request(r.id, at(15), at(6))
            .await
            .unwrap()
            .is_none()
    );
    let none = s
        .mark_csat_no_channel(r.id, "no private channel", None, "earshot", at(7))
        .await
        .unwrap();
    assert_eq!(none.delivery, CsatDelivery::NoChannel);
    assert_eq!(
        none.no_channel_reason.as_deref(),
        Some("no private channel")
    );
    // A request no channel carried may be sent again (an agent asks).
    assert!(
        s.claim_csat_request(r.id, at(20), at(8))
            .await
            .unwrap()
            .is_some()
    );
}

/// Five cases, numbers worked out by hand: ann has three requests (scores
/// 5 and 2, one unanswered), bob one answered 4, and one unassigned case
/// had no channel.
async fn the_summary_sums_by_hand(s: &SqlStore) {
    let mut ids = Vec::new();
    for (i, who) in ["ann", "ann", "ann", "bob", ""].iter().enumerate() {
        let case = resolved_case(s, &format!("c{i}"), 0).await;
        if !who.is_empty() {
            s.assign(
                case,
                Some(who.to_string()),
                Some("care".into()),
                "lead",
                t0(),
            )
            .await
            .unwrap();
        }
        let r = s
            .create_csat_request(&new_request(case, at(1440 * i as i64)), at(1440 * i as i64))
            .await
            .unwrap()
            .unwrap();
        ids.push((case, r.id));
    }
    for (case, rid) in &ids[..4] {
        let reply = a_reply(s, *case).await;
        s.mark_csat_sent(*rid, reply, at(99_999), "earshot", at(1))
            .await
            .unwrap();
    }
    s.mark_csat_no_channel(ids[4].1, "no channel", None, "earshot", at(1))
        .await
        .unwrap();
    for (i, score) in [(0, 5), (1, 2), (3, 4)] {
        s.answer_csat(ids[i].1, &Rating::new(score, None).unwrap(), at(3000))
            .await
            .unwrap();
    }
    let all = CsatSummaryQuery::default();
    let by_agent = s.csat_counts(CsatGroupBy::Agent, &all).await.unwrap();
    assert_eq!(by_agent.len(), 3, "{by_agent:?}");
    let (ann, bob, none) = (&by_agent[0], &by_agent[1], &by_agent[2]);
    assert_eq!(ann.0.as_deref(), Some("ann"));
    assert_eq!(
        (
            ann.1.requests,
            ann.1.answered,
            ann.1.score_sum,
            ann.1.satisfied,
            ann.1.no_channel
        ),
        (3, 2, 7, 1, 0)
    );
    assert_eq!(bob.0.as_deref(), Some("bob"));
    assert_eq!((bob.1.requests, bob.1.answered, bob.1.score_sum), (1, 1, 4));
    assert_eq!(none.0, None);
    assert_eq!((none.1.requests, none.1.no_channel), (0, 1));

    let by_source = s.csat_counts(CsatGroupBy::Source, &all).await.unwrap();
    assert_eq!(by_source.len(), 1);
    assert_eq!(by_source[0].1.requests, 4);
    // Requests made on days 0..5 after t0; from/to pick days 1 and 2.
    let ranged = CsatSummaryQuery {
        from: Some(at(1440)),
        to: Some(at(1440 * 3)),
        locations: None,
    };
    let days = s.csat_daily_counts(&ranged).await.unwrap();
    assert_eq!(days.len(), 2, "{days:?}");
    assert_eq!(days[0].0, at(1440).timestamp() / 86_400);
    assert_eq!(
        (days[0].1.requests, days[0].1.answered, days[0].1.score_sum),
        (1, 1, 2)
    );
    assert_eq!((days[1].1.requests, days[1].1.answered), (1, 0));
    // A location manager with no matching cases sees nothing.
    let scoped = CsatSummaryQuery {
        locations: Some(vec!["berlin".into()]),
        ..CsatSummaryQuery::default()
    };
    assert!(
        s.csat_counts(CsatGroupBy::Team, &scoped)
            .await
            .unwrap()
            .is_empty()
    );

    // The case list behind the numbers.
    let list = |f| {
        let s = s.clone();
        async move {
            let mut ids: Vec<CaseId> = s
                .cases(&CaseQuery {
                    csat: Some(f),
                    ..CaseQuery::default()
                })
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(
        list(CsatFilter::Answered).await,
        [ids[0].0, ids[1].0, ids[3].0]
    );
    assert_eq!(list(CsatFilter::Unanswered).await, [ids[2].0, ids[4].0]);
    assert_eq!(list(CsatFilter::Score5).await, [ids[0].0]);
    assert_eq!(list(CsatFilter::Score2).await, [ids[1].0]);
    assert!(list(CsatFilter::Score3).await.is_empty());
    let inbox = earshot_core::accounts::Accounts::inbox(
        s,
        &earshot_core::accounts::InboxQuery {
            csat: Some(CsatFilter::Score4),
            any_status: true,
            limit: 50,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(inbox.iter().map(|c| c.id).collect::<Vec<_>>(), [ids[3].0]);
}

both_backends!(
    policies_round_trip,
    one_request_per_case_and_one_answer,
    racing_answers_store_one,
    the_scan_sees_resolved_cases_without_a_request,
    a_stalled_request_is_claimed_once,
    the_summary_sums_by_hand,
);
