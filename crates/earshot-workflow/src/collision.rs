//! Collision detection: who is viewing or drafting which case, and the rule
//! that a public reply written without seeing the latest one is refused.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    Viewing,
    Drafting,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Presence {
    pub case_id: i64,
    pub user: String,
    pub activity: Activity,
    pub expires_at: DateTime<Utc>,
}

/// Who is on which case. Clients refresh their presence (heartbeat) before
/// `ttl` runs out; a closed tab simply expires.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceRegistry {
    entries: Vec<Presence>,
}

impl PresenceRegistry {
    pub fn new() -> Self {
        PresenceRegistry::default()
    }

    /// Records or refreshes `user` on `case_id`; one entry per user and case.
    pub fn touch(
        &mut self,
        case_id: i64,
        user: &str,
        activity: Activity,
        now: DateTime<Utc>,
        ttl: TimeDelta,
    ) {
        let expires_at = now + ttl;
        match self
            .entries
            .iter_mut()
            .find(|p| p.case_id == case_id && p.user == user)
        {
            Some(p) => {
                p.activity = activity;
                p.expires_at = expires_at;
            }
            None => self.entries.push(Presence {
                case_id,
                user: user.to_owned(),
                activity,
                expires_at,
            }),
        }
    }

    pub fn leave(&mut self, case_id: i64, user: &str) {
        self.entries
            .retain(|p| !(p.case_id == case_id && p.user == user));
    }

    /// Live presences on a case, drafters first.
    pub fn on_case(&self, case_id: i64, now: DateTime<Utc>) -> Vec<&Presence> {
        let mut v: Vec<&Presence> = self
            .entries
            .iter()
            .filter(|p| p.case_id == case_id && p.expires_at > now)
            .collect();
        v.sort_by_key(|p| (p.activity != Activity::Drafting, p.user.clone()));
        v
    }

    /// What `me` should be shown: everyone else on the case.
    pub fn others_on(&self, case_id: i64, me: &str, now: DateTime<Utc>) -> Vec<&Presence> {
        self.on_case(case_id, now)
            .into_iter()
            .filter(|p| p.user != me)
            .collect()
    }

    /// Drops expired entries; returns how many.
    pub fn prune(&mut self, now: DateTime<Utc>) -> usize {
        let before = self.entries.len();
        self.entries.retain(|p| p.expires_at > now);
        before - self.entries.len()
    }
}

/// The latest public reply on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicReplyRef {
    pub reply_id: i64,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// A second public reply was attempted without seeing the first.
#[derive(
    Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize, utoipa::ToSchema,
)]
#[error("{by} already replied publicly on case {case_id} at {at} (reply {first_reply_id})")]
pub struct Conflict {
    pub case_id: i64,
    pub first_reply_id: i64,
    pub by: String,
    pub at: DateTime<Utc>,
}

impl Conflict {
    pub fn error_code(&self) -> earshot_core::ErrorCode {
        earshot_core::ErrorCode::Conflict
    }
}

/// Refuses a public reply when a newer public reply exists than the one
/// the agent last saw (`None`: they saw none).
pub fn check_public_reply(
    case_id: i64,
    last_public_reply_seen: Option<i64>,
    latest_public_reply: Option<&PublicReplyRef>,
) -> Result<(), Conflict> {
    match latest_public_reply {
        Some(latest) if Some(latest.reply_id) != last_public_reply_seen => Err(Conflict {
            case_id,
            first_reply_id: latest.reply_id,
            by: latest.by.clone(),
            at: latest.at,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap() + TimeDelta::minutes(min)
    }

    #[test]
    fn others_see_who_views_and_drafts_until_it_expires() {
        let mut reg = PresenceRegistry::new();
        let ttl = TimeDelta::seconds(60);
        reg.touch(7, "alice", Activity::Viewing, t(0), ttl);
        reg.touch(7, "bob", Activity::Viewing, t(0), ttl);
        reg.touch(7, "bob", Activity::Drafting, t(0), ttl);
        reg.touch(8, "carol", Activity::Viewing, t(0), ttl);

        let seen: Vec<(&str, Activity)> = reg
            .others_on(7, "carol", t(0))
            .iter()
            .map(|p| (p.user.as_str(), p.activity))
            .collect();
        assert_eq!(
            seen,
            [("bob", Activity::Drafting), ("alice", Activity::Viewing)]
        );
        assert_eq!(reg.others_on(7, "alice", t(0)).len(), 1);

        // Alice keeps her heartbeat going, Bob does not.
        reg.touch(7, "alice", Activity::Viewing, t(1), ttl);
        let later = t(1) + TimeDelta::seconds(30);
        let users: Vec<&str> = reg
            .on_case(7, later)
            .iter()
            .map(|p| p.user.as_str())
            .collect();
        assert_eq!(users, ["alice"]);
        assert_eq!(reg.prune(later), 2);
        reg.leave(7, "alice");
        assert!(reg.on_case(7, later).is_empty());
    }

    #[test]
    fn a_second_public_reply_gets_a_conflict_naming_the_first() {
        let first = PublicReplyRef {
            reply_id: 41,
            by: "alice".into(),
            at: t(3),
        };
        // Nobody has replied yet: fine.
        assert_eq!(check_public_reply(7, None, None), Ok(()));
        // Bob opened the case before Alice's reply went out.
        let err = check_public_reply(7, None, Some(&first)).unwrap_err();
        assert_eq!(
            err,
            Conflict {
                case_id: 7,
                first_reply_id: 41,
                by: "alice".into(),
                at: t(3)
            }
        );
        assert_eq!(err.error_code().http_status(), 409);
        assert!(err.to_string().contains("alice"));
        // After reloading, Bob has seen it and may follow up.
        assert_eq!(check_public_reply(7, Some(41), Some(&first)), Ok(()));
        assert!(check_public_reply(7, Some(40), Some(&first)).is_err());
    }
}
