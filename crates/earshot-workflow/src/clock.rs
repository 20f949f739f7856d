//! Where "now" comes from. Everything time-dependent in Earshot takes a
//! [`Clock`] so that SLA behaviour can be driven deterministically in tests.

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, TimeDelta, Utc};

/// A source of the current instant.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to. Clones share the same instant, so a
/// test can hand one clone to the server and advance another.
#[derive(Debug, Clone)]
pub struct FakeClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl FakeClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        FakeClock {
            now: Arc::new(Mutex::new(at)),
        }
    }

    /// Jumps to `at` (backwards too: tests of clock skew need it).
    pub fn set(&self, at: DateTime<Utc>) {
        *self.guard() = at;
    }

    /// Moves forward by `by` and returns the new instant.
    pub fn advance(&self, by: TimeDelta) -> DateTime<Utc> {
        let mut now = self.guard();
        *now += by;
        *now
    }

    fn guard(&self) -> MutexGuard<'_, DateTime<Utc>> {
        // A panic while holding the lock cannot leave a DateTime half-written,
        // so a poisoned lock still holds a valid instant.
        self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *self.guard()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn fake_clock_clones_share_time_and_advance() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single();
        let Some(t0) = t0 else { panic!("valid date") };
        let clock = FakeClock::new(t0);
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        assert_eq!(shared.now(), t0);
        clock.advance(TimeDelta::minutes(90));
        assert_eq!(shared.now(), t0 + TimeDelta::minutes(90));
        clock.set(t0);
        assert_eq!(shared.now(), t0);
    }

    #[test]
    fn system_clock_is_close_to_utc_now() {
        let before = Utc::now();
        let now = SystemClock.now();
        assert!(now >= before && now - before < TimeDelta::seconds(5));
    }
}
