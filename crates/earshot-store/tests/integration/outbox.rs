//! The reply outbox (issue 12) on both backends: claiming under a lease,
//! what each result does to the row and to its reply, reclaiming after a
//! crash mid-send, and concurrent workers never sharing a row.

use chrono::{DateTime, TimeDelta, Utc};
use earshot_core::error::ErrorCode;
use earshot_core::ids::{CaseId, OutboxId, ReplyId};
use earshot_core::outbox::{OutboxResult, OutboxStatus, OutboxStore};
use earshot_core::reply::{DeliveredVia, ReplyStatus, Visibility};
use earshot_core::store::{NewReply, Store};
use earshot_store::SqlStore;

use super::{complaint, queue, t0};

async fn sqlite() -> Option<super::Harness> {
    super::sqlite().await
}

async fn postgres() -> Option<super::Harness> {
    super::postgres().await
}

fn at(seconds: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(seconds)
}

const LEASE: TimeDelta = TimeDelta::seconds(60);

/// A case for `handle` with one reply queued under `key`.
async fn queued(s: &SqlStore, handle: &str, key: &str) -> (CaseId, ReplyId) {
    let out = s
        .ingest(&[complaint(key, handle, "my parcel never arrived")], t0())
        .await
        .unwrap();
    let case_id = out[0].case.unwrap().id;
    let reply = s
        .add_reply(
            case_id,
            &NewReply {
                visibility: Visibility::Public,
                body: format!("{handle}, we are on it"),
                send: true,
            },
            queue(key),
            "ann",
            t0(),
        )
        .await
        .unwrap();
    (case_id, reply.id)
}

async fn reply_status(s: &SqlStore, case_id: CaseId, reply_id: ReplyId) -> ReplyStatus {
    let detail = s.case_detail(case_id).await.unwrap().unwrap();
    detail
        .replies
        .iter()
        .find(|r| r.id == reply_id)
        .unwrap()
        .status
}

async fn a_queued_reply_is_claimed_once_and_sent_like_an_acknowledgement(s: &SqlStore) {
    let (case_id, reply_id) = queued(s, "jane", "key-jane").await;
    let row = s.for_reply(reply_id).await.unwrap().unwrap();
    assert_eq!(row.status, OutboxStatus::Queued);
    assert_eq!(row.idempotency_key, "key-jane");
    assert_eq!(row.recipient, "jane");
    assert_eq!(row.source_id, Some(earshot_core::ids::SourceId(1)));
    assert_eq!(row.attempts, 0);

    let claimed = s.claim_due(at(1), LEASE, 10, "w1").await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, row.id);
    assert!(!claimed[0].needs_reconcile, "a plainly queued row is sent");
    assert_eq!(claimed[0].lease_until, Some(at(61)));
    assert_eq!(
        reply_status(s, case_id, reply_id).await,
        ReplyStatus::Sending
    );
    assert!(
        s.claim_due(at(2), LEASE, 10, "w2")
            .await
            .unwrap()
            .is_empty(),
        "a leased row is not claimed twice"
    );

    let done = s
        .complete(
            row.id,
            "w1",
            &OutboxResult::Sent {
                remote_id: "109876".into(),
                url: Some("https://social.example/@brand/109876".into()),
            },
            at(3),
        )
        .await
        .unwrap();
    assert_eq!(done.status, OutboxStatus::Sent);
    assert_eq!(done.attempts, 1);
    assert_eq!(done.first_attempt_at, Some(at(3)));
    assert_eq!(done.remote_id.as_deref(), Some("109876"));
    assert_eq!(done.lease_owner, None);
    let detail = s.case_detail(case_id).await.unwrap().unwrap();
    let reply = &detail.replies[0];
    assert_eq!(reply.status, ReplyStatus::Sent);
    assert_eq!(reply.delivered_via, Some(DeliveredVia::Channel));
    assert_eq!(reply.channel_message_id.as_deref(), Some("109876"));
    assert_eq!(
        reply.channel_url.as_deref(),
        Some("https://social.example/@brand/109876")
    );
    assert_eq!(reply.sent_at, Some(at(3)));
    let delivery = reply.delivery.as_ref().unwrap();
    assert_eq!(delivery.status, OutboxStatus::Sent);
    assert_eq!(delivery.next_attempt_at, None);
    assert_eq!(detail.case.first_response_at, Some(at(3)));
    assert_eq!(detail.case.last_brand_at, Some(at(3)));
    assert_eq!(detail.events.last().unwrap().action, "reply.sent");

    let again = s
        .complete(
            row.id,
            "w1",
            &OutboxResult::Sent {
                remote_id: "x".into(),
                url: None,
            },
            at(4),
        )
        .await
        .unwrap_err();
    assert_eq!(again.code, ErrorCode::Conflict, "recorded once");
    assert!(
        s.claim_due(at(3600), LEASE, 10, "w1")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn an_expired_lease_is_reclaimed_for_reconciliation(s: &SqlStore) {
    let (case_id, reply_id) = queued(s, "kim", "key-kim").await;
    let first = s.claim_due(at(0), LEASE, 10, "w1").await.unwrap();
    assert_eq!(first.len(), 1);
    // w1 dies mid-send: nothing happens until its lease runs out.
    assert!(
        s.claim_due(at(59), LEASE, 10, "w2")
            .await
            .unwrap()
            .is_empty()
    );
    let second = s.claim_due(at(61), LEASE, 10, "w2").await.unwrap();
    assert_eq!(second.len(), 1);
    assert!(second[0].needs_reconcile, "it may have landed");
    assert_eq!(second[0].lease_owner.as_deref(), Some("w2"));
    // w1 wakes up late: its lease is gone, its word is not recorded.
    let late = s
        .complete(
            first[0].id,
            "w1",
            &OutboxResult::Failed {
                error: "late".into(),
            },
            at(62),
        )
        .await
        .unwrap_err();
    assert_eq!(late.code, ErrorCode::Conflict);
    assert_eq!(
        reply_status(s, case_id, reply_id).await,
        ReplyStatus::Sending
    );
}

async fn retries_release_and_failures_move_the_row_and_its_reply(s: &SqlStore) {
    let (case_id, reply_id) = queued(s, "lee", "key-lee").await;
    let id = s.claim_due(at(0), LEASE, 10, "w1").await.unwrap()[0].id;

    // No answer after sending: in doubt, shown as still sending.
    let row = s
        .complete(
            id,
            "w1",
            &OutboxResult::Retry {
                at: at(30),
                error: "no answer after sending: timed out".into(),
                unknown: true,
            },
            at(1),
        )
        .await
        .unwrap();
    assert_eq!(row.status, OutboxStatus::Unknown);
    assert_eq!(row.attempts, 1);
    assert_eq!(row.next_attempt_at, at(30));
    assert_eq!(
        reply_status(s, case_id, reply_id).await,
        ReplyStatus::Sending
    );
    assert!(
        s.claim_due(at(29), LEASE, 10, "w1")
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = s.claim_due(at(30), LEASE, 10, "w1").await.unwrap();
    assert!(claimed[0].needs_reconcile);

    // Its channel is not running: back untried, still in doubt.
    s.release(id, "w1", at(90), at(31)).await.unwrap();
    let row = s.for_reply(reply_id).await.unwrap().unwrap();
    assert_eq!(row.status, OutboxStatus::Unknown);
    assert_eq!(row.attempts, 1, "a release counts no attempt");
    let claimed = s.claim_due(at(90), LEASE, 10, "w1").await.unwrap();
    assert!(claimed[0].needs_reconcile);

    // A plain retry (reconciled: it had not landed) goes back to queued.
    s.complete(
        id,
        "w1",
        &OutboxResult::Retry {
            at: at(120),
            error: "HTTP 503: try later".into(),
            unknown: false,
        },
        at(91),
    )
    .await
    .unwrap();
    assert_eq!(
        reply_status(s, case_id, reply_id).await,
        ReplyStatus::Queued
    );
    let claimed = s.claim_due(at(120), LEASE, 10, "w1").await.unwrap();
    assert!(!claimed[0].needs_reconcile);

    let failed = s
        .complete(
            id,
            "w1",
            &OutboxResult::Failed {
                error: "HTTP 422: Validation failed".into(),
            },
            at(121),
        )
        .await
        .unwrap();
    assert_eq!(failed.status, OutboxStatus::Failed);
    assert_eq!(failed.attempts, 3);
    assert_eq!(failed.first_attempt_at, Some(at(1)));
    let detail = s.case_detail(case_id).await.unwrap().unwrap();
    let reply = &detail.replies[0];
    assert_eq!(reply.status, ReplyStatus::Failed);
    assert_eq!(reply.error.as_deref(), Some("HTTP 422: Validation failed"));
    let delivery = reply.delivery.as_ref().unwrap();
    assert_eq!(
        delivery.last_error.as_deref(),
        Some("HTTP 422: Validation failed")
    );
    assert_eq!(delivery.attempts, 3);
    assert_eq!(detail.case.first_response_at, None, "nothing reached them");
    assert_eq!(detail.events.last().unwrap().action, "reply.failed");
    assert!(
        s.claim_due(at(9999), LEASE, 10, "w1")
            .await
            .unwrap()
            .is_empty(),
        "a failed row is never tried again"
    );
    assert_eq!(s.for_case(case_id).await.unwrap().len(), 1);
    let unknown = s
        .complete(
            OutboxId(999_999),
            "w1",
            &OutboxResult::Dead { error: "x".into() },
            at(1),
        )
        .await
        .unwrap_err();
    assert_eq!(unknown.code, ErrorCode::NotFound);
}

/// A claim takes at most `limit` rows (a worker leases only what it will
/// send now), oldest first.
async fn a_claim_takes_no_more_than_its_limit(s: &SqlStore) {
    for n in 0..5 {
        queued(s, &format!("lim{n}"), &format!("key-lim{n}")).await;
    }
    for (n, expected) in [(1, 1), (2, 2), (3, 2)] {
        let claimed = s
            .claim_due(at(n), LEASE, if n == 3 { 10 } else { n as u32 }, "w1")
            .await
            .unwrap();
        assert_eq!(claimed.len(), expected, "claim {n}");
    }
}

both_backends!(
    a_claim_takes_no_more_than_its_limit,
    a_queued_reply_is_claimed_once_and_sent_like_an_acknowledgement,
    an_expired_lease_is_reclaimed_for_reconciliation,
    retries_release_and_failures_move_the_row_and_its_reply,
);

/// Two servers claim the same queue at once, again and again: every row is
/// claimed by exactly one of them.
async fn two_servers_never_claim_one_row_twice(s: &super::TwoServers) {
    const REPLIES: usize = 40;
    let mut all = Vec::new();
    for n in 0..REPLIES {
        all.push(
            queued(&s.a, &format!("cust{n}"), &format!("key-{n}"))
                .await
                .1,
        );
    }
    let worker = |store: SqlStore, owner: &'static str| async move {
        let mut mine = Vec::new();
        loop {
            let got = store.claim_due(at(1), LEASE, 3, owner).await.unwrap();
            if got.is_empty() {
                return mine;
            }
            for item in got {
                assert_eq!(item.lease_owner.as_deref(), Some(owner));
                mine.push(item.reply_id);
            }
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(worker(s.a.clone(), "a")),
        tokio::spawn(worker(s.b.clone(), "b"))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut claimed: Vec<ReplyId> = a.iter().chain(b.iter()).copied().collect();
    claimed.sort();
    let before = claimed.len();
    claimed.dedup();
    assert_eq!(before, claimed.len(), "a row was claimed by both servers");
    all.sort();
    assert_eq!(claimed, all, "every row was claimed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sqlite_servers_never_claim_one_row_twice() {
    if let Some(s) = super::two_sqlite_servers().await {
        two_servers_never_claim_one_row_twice(&s).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_servers_never_claim_one_row_twice() {
    if let Some(s) = super::two_postgres_servers().await {
        two_servers_never_claim_one_row_twice(&s).await;
    }
}
