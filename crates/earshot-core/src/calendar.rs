//! Business-hours arithmetic over a team calendar: an IANA time zone, weekly
//! opening hours and holidays.
//!
//! Instants are UTC; opening hours are local wall-clock times. Local times
//! that do not exist (the spring-forward gap) are moved to the instant the
//! gap ends; local times that exist twice (the autumn fold) take the earlier
//! instant. That mapping never goes backwards, so opening intervals never
//! overlap and no business second is counted twice.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// A day of the week (ISO order).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];
    pub const WORKDAYS: [Weekday; 5] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
    ];
}

impl From<chrono::Weekday> for Weekday {
    fn from(d: chrono::Weekday) -> Self {
        match d {
            chrono::Weekday::Mon => Weekday::Monday,
            chrono::Weekday::Tue => Weekday::Tuesday,
            chrono::Weekday::Wed => Weekday::Wednesday,
            chrono::Weekday::Thu => Weekday::Thursday,
            chrono::Weekday::Fri => Weekday::Friday,
            chrono::Weekday::Sat => Weekday::Saturday,
            chrono::Weekday::Sun => Weekday::Sunday,
        }
    }
}

/// One opening interval on a weekday, in local time. A `close` of "00:00"
/// means midnight at the end of the day, so "00:00"–"00:00" is open all day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OpeningHours {
    pub day: Weekday,
    #[serde(with = "hhmm")]
    #[schema(value_type = String, example = "09:00")]
    pub open: NaiveTime,
    #[serde(with = "hhmm")]
    #[schema(value_type = String, example = "17:00")]
    pub close: NaiveTime,
}

impl OpeningHours {
    pub fn new(day: Weekday, open: NaiveTime, close: NaiveTime) -> Self {
        OpeningHours { day, open, close }
    }

    /// Seconds from local midnight, with a "00:00" close counted as 24:00.
    fn span_secs(&self) -> (u32, u32) {
        let open = self.open.num_seconds_from_midnight();
        let close = match self.close.num_seconds_from_midnight() {
            0 => 86_400,
            c => c,
        };
        (open, close)
    }
}

/// Why a calendar was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
    #[error("{day:?}: opening time {open} is not before closing time {close}")]
    EmptyInterval {
        day: Weekday,
        open: NaiveTime,
        close: NaiveTime,
    },
    #[error("{day:?}: opening hours overlap")]
    Overlap { day: Weekday },
    #[error("the calendar has no opening hours, so no deadline could ever be reached")]
    NeverOpen,
}

/// A validated team calendar. Deserialising validates too, so a stored
/// calendar that loads is always usable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "CalendarSpec")]
pub struct BusinessCalendar {
    #[schema(value_type = String, example = "Europe/Berlin")]
    time_zone: Tz,
    hours: Vec<OpeningHours>,
    #[schema(value_type = Vec<String>, example = json!(["2026-12-25"]))]
    holidays: BTreeSet<NaiveDate>,
}

#[derive(Deserialize)]
struct CalendarSpec {
    time_zone: Tz,
    hours: Vec<OpeningHours>,
    #[serde(default)]
    holidays: BTreeSet<NaiveDate>,
}

impl TryFrom<CalendarSpec> for BusinessCalendar {
    type Error = CalendarError;
    fn try_from(s: CalendarSpec) -> Result<Self, CalendarError> {
        BusinessCalendar::new(s.time_zone, s.hours, s.holidays)
    }
}

impl BusinessCalendar {
    pub fn new(
        time_zone: Tz,
        mut hours: Vec<OpeningHours>,
        holidays: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Self, CalendarError> {
        for h in &hours {
            let (open, close) = h.span_secs();
            if open >= close {
                return Err(CalendarError::EmptyInterval {
                    day: h.day,
                    open: h.open,
                    close: h.close,
                });
            }
        }
        hours.sort_by_key(|h| (h.day, h.span_secs()));
        for pair in hours.windows(2) {
            if pair[0].day == pair[1].day && pair[0].span_secs().1 > pair[1].span_secs().0 {
                return Err(CalendarError::Overlap { day: pair[0].day });
            }
        }
        if hours.is_empty() {
            return Err(CalendarError::NeverOpen);
        }
        Ok(BusinessCalendar {
            time_zone,
            hours,
            holidays: holidays.into_iter().collect(),
        })
    }

    /// The common case: the same hours on each of `days`.
    pub fn weekly(
        time_zone: Tz,
        days: &[Weekday],
        open: NaiveTime,
        close: NaiveTime,
        holidays: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Self, CalendarError> {
        let hours = days
            .iter()
            .map(|&d| OpeningHours::new(d, open, close))
            .collect();
        BusinessCalendar::new(time_zone, hours, holidays)
    }

    /// Parses an IANA name such as "America/New_York".
    pub fn parse_time_zone(name: &str) -> Result<Tz, CalendarError> {
        name.parse::<Tz>()
            .map_err(|_| CalendarError::UnknownTimeZone(name.to_owned()))
    }

    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }
    pub fn hours(&self) -> &[OpeningHours] {
        &self.hours
    }
    pub fn holidays(&self) -> &BTreeSet<NaiveDate> {
        &self.holidays
    }

    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.holidays.contains(&date)
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.time_zone).date_naive()
    }

    /// The UTC instant of a local wall-clock time (see the module docs for
    /// gaps and folds).
    fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.time_zone.from_local_datetime(&local) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
            LocalResult::None => self.gap_end(local),
        }
    }

    /// The first instant whose local time is at or after `local`, which lies
    /// in a gap: a binary search over a window wider than any UTC offset.
    fn gap_end(&self, local: NaiveDateTime) -> DateTime<Utc> {
        // Whole seconds: zone transitions happen on whole seconds, and exact
        // answers let two times inside the same gap map to the same instant.
        let naive_secs = local.and_utc().timestamp();
        let mut lo = naive_secs - 15 * 3600;
        let mut hi = naive_secs + 15 * 3600;
        let at = |secs: i64| {
            DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
        };
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if at(mid).with_timezone(&self.time_zone).naive_local() >= local {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        at(hi)
    }

    /// The opening intervals of one local date as UTC half-open ranges,
    /// in order; none on holidays.
    pub fn open_intervals(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if self.is_holiday(date) {
            return Vec::new();
        }
        let day = Weekday::from(date.weekday());
        let midnight = date.and_time(NaiveTime::MIN);
        self.hours
            .iter()
            .filter(|h| h.day == day)
            .filter_map(|h| {
                let (open, close) = h.span_secs();
                let s = self.to_utc(midnight + TimeDelta::seconds(i64::from(open)));
                let e = self.to_utc(midnight + TimeDelta::seconds(i64::from(close)));
                // A window entirely inside a DST gap does not exist that day.
                (s < e).then_some((s, e))
            })
            .collect()
    }

    /// Whether `t` falls inside opening hours (opening inclusive, closing
    /// exclusive).
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        let d = self.local_date(t);
        [d.pred_opt(), Some(d)]
            .into_iter()
            .flatten()
            .flat_map(|d| self.open_intervals(d))
            .any(|(s, e)| s <= t && t < e)
    }

    /// `start` moved forward by `duration` of open time. Landing exactly on
    /// a closing time stays there (Friday 16:00 + 1h = Friday 17:00), and a
    /// non-positive duration returns `start` unchanged.
    pub fn add_business_duration(
        &self,
        start: DateTime<Utc>,
        duration: TimeDelta,
    ) -> DateTime<Utc> {
        if duration <= TimeDelta::zero() {
            return start;
        }
        let mut remaining = duration;
        let mut date = self.local_date(start);
        date = date.pred_opt().unwrap_or(date);
        // Terminates: validation guarantees weekly opening hours and there
        // are finitely many holidays.
        loop {
            for (s, e) in self.open_intervals(date) {
                if e <= start {
                    continue;
                }
                let from = s.max(start);
                let available = e - from;
                if remaining <= available {
                    return from + remaining;
                }
                remaining -= available;
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => return DateTime::<Utc>::MAX_UTC,
            }
        }
    }

    /// Open time between `a` and `b`; negative when `b` is before `a`.
    pub fn business_duration_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> TimeDelta {
        if b < a {
            return -self.business_duration_between(b, a);
        }
        let mut total = TimeDelta::zero();
        let first = self.local_date(a);
        let mut date = first.pred_opt().unwrap_or(first);
        let last = self.local_date(b);
        while date <= last {
            for (s, e) in self.open_intervals(date) {
                let lo = s.max(a);
                let hi = e.min(b);
                if hi > lo {
                    total += hi - lo;
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        total
    }
}

/// `start` moved forward by `duration` of open time in `calendar`.
pub fn add_business_duration(
    start: DateTime<Utc>,
    duration: TimeDelta,
    calendar: &BusinessCalendar,
) -> DateTime<Utc> {
    calendar.add_business_duration(start, duration)
}

/// Open time in `calendar` between `a` and `b`.
pub fn business_duration_between(
    a: DateTime<Utc>,
    b: DateTime<Utc>,
    calendar: &BusinessCalendar,
) -> TimeDelta {
    calendar.business_duration_between(a, b)
}

/// How an SLA counts time: every hour, or only a team's opening hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TimeBasis {
    CalendarHours,
    BusinessHours { calendar: BusinessCalendar },
}

impl TimeBasis {
    pub fn add(&self, start: DateTime<Utc>, duration: TimeDelta) -> DateTime<Utc> {
        match self {
            TimeBasis::CalendarHours => start + duration.max(TimeDelta::zero()),
            TimeBasis::BusinessHours { calendar } => {
                calendar.add_business_duration(start, duration)
            }
        }
    }

    pub fn between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> TimeDelta {
        match self {
            TimeBasis::CalendarHours => b - a,
            TimeBasis::BusinessHours { calendar } => calendar.business_duration_between(a, b),
        }
    }
}

/// "HH:MM" on the wire ("HH:MM:SS" accepted and kept when seconds are set).
mod hhmm {
    use chrono::{NaiveTime, Timelike};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        let text = if t.second() == 0 {
            t.format("%H:%M").to_string()
        } else {
            t.format("%H:%M:%S").to_string()
        };
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(d)?;
        NaiveTime::parse_from_str(&text, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(&text, "%H:%M:%S"))
            .map_err(|e| D::Error::custom(format!("time {text:?}: {e}")))
    }
}

#[cfg(test)]
#[path = "calendar_tests.rs"]
mod tests;
