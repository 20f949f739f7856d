//! The API's request rate limit, per authenticated caller (GCRA, from
//! governor): a steady rate with a burst allowance. Keys are principals
//! that passed authentication, so unknown tokens cannot grow the table.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// `requests` per `per`, with at most `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: NonZeroU32,
    pub per: Per,
    pub burst: NonZeroU32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    Second,
    Minute,
    Hour,
}

impl Default for RateLimit {
    /// 600 requests a minute, 120 at once: far above an integration's needs.
    fn default() -> Self {
        RateLimit {
            requests: NonZeroU32::new(600).unwrap_or(NonZeroU32::MIN),
            per: Per::Minute,
            burst: NonZeroU32::new(120).unwrap_or(NonZeroU32::MIN),
        }
    }
}

impl RateLimit {
    fn quota(&self) -> Quota {
        let q = match self.per {
            Per::Second => Quota::per_second(self.requests),
            Per::Minute => Quota::per_minute(self.requests),
            Per::Hour => Quota::per_hour(self.requests),
        };
        q.allow_burst(self.burst)
    }
}

/// `600/min`, `10/s,burst=20`, `5000/h`; the burst defaults to the rate.
impl FromStr for RateLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?}: expected e.g. 600/min or 600/min,burst=120");
        let (rate, burst) = match s.trim().split_once(',') {
            Some((rate, burst)) => (rate, Some(burst)),
            None => (s.trim(), None),
        };
        let (n, per) = rate.split_once('/').ok_or_else(bad)?;
        let requests: NonZeroU32 = n.trim().parse().map_err(|_| bad())?;
        let per = match per.trim() {
            "s" | "sec" | "second" => Per::Second,
            "m" | "min" | "minute" => Per::Minute,
            "h" | "hour" => Per::Hour,
            _ => return Err(bad()),
        };
        let burst = match burst {
            Some(b) => b
                .trim()
                .strip_prefix("burst=")
                .and_then(|b| b.trim().parse().ok())
                .ok_or_else(bad)?,
            None => requests,
        };
        Ok(RateLimit {
            requests,
            per,
            burst,
        })
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per = match self.per {
            Per::Second => "s",
            Per::Minute => "min",
            Per::Hour => "h",
        };
        write!(f, "{}/{per},burst={}", self.requests, self.burst)
    }
}

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

/// The limiter shared by every API request; `None` turns it off.
pub struct ApiLimiter {
    limiter: Option<Keyed>,
}

impl ApiLimiter {
    pub fn new(limit: Option<RateLimit>) -> Self {
        ApiLimiter {
            limiter: limit.map(|l| RateLimiter::keyed(l.quota())),
        }
    }

    /// `Err(wait)` when `key` is over its quota and must wait that long.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check_key(&key.to_string())
            .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }
}

impl Default for ApiLimiter {
    fn default() -> Self {
        ApiLimiter::new(Some(RateLimit::default()))
    }
}

impl fmt::Debug for ApiLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiLimiter")
            .field("enabled", &self.limiter.is_some())
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_and_print() {
        let l: RateLimit = "600/min,burst=120".parse().unwrap();
        assert_eq!(l, RateLimit::default());
        assert_eq!(l.to_string(), "600/min,burst=120");
        let l: RateLimit = " 10 / s ".parse().unwrap();
        assert_eq!(
            (l.requests.get(), l.per, l.burst.get()),
            (10, Per::Second, 10)
        );
        assert_eq!("5000/hour".parse::<RateLimit>().unwrap().per, Per::Hour);
        for bad in [
            "",
            "600",
            "0/min",
            "x/min",
            "600/day",
            "600/min,120",
            "600/min,burst=0",
        ] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn each_key_has_its_own_burst() {
        let l = ApiLimiter::new(Some("1/h,burst=2".parse().unwrap()));
        assert!(l.check("a").is_ok() && l.check("a").is_ok());
        let wait = l.check("a").unwrap_err();
        assert!(wait > Duration::from_secs(60 * 29), "{wait:?}");
        assert!(l.check("b").is_ok());
        let off = ApiLimiter::new(None);
        assert!((0..1000).all(|_| off.check("a").is_ok()));
    }
}
