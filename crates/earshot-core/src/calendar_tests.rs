#![allow(clippy::unwrap_used)]

use super::*;
use chrono_tz::{America::New_York, Europe::Berlin, Europe::London};
use proptest::prelude::*;

fn t(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

fn d(y: i32, mo: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, mo, day).unwrap()
}

fn local(tz: Tz, y: i32, mo: u32, day: u32, h: u32, m: u32) -> DateTime<Utc> {
    tz.with_ymd_and_hms(y, mo, day, h, m, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn nine_to_five(tz: Tz, holidays: Vec<NaiveDate>) -> BusinessCalendar {
    BusinessCalendar::weekly(tz, &Weekday::WORKDAYS, t(9, 0), t(17, 0), holidays).unwrap()
}

/// Opening hours that straddle the DST switch hours (gap and fold) on every
/// day, to stress the local-time mapping.
fn night_shift(tz: Tz) -> BusinessCalendar {
    let hours = Weekday::ALL
        .iter()
        .flat_map(|&day| {
            [
                OpeningHours::new(day, t(0, 30), t(2, 15)),
                OpeningHours::new(day, t(2, 40), t(4, 0)),
                OpeningHours::new(day, t(22, 0), t(0, 0)),
            ]
        })
        .collect();
    BusinessCalendar::new(tz, hours, [d(2026, 3, 30), d(2026, 10, 26)]).unwrap()
}

fn split_shift() -> BusinessCalendar {
    let days = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
    ];
    let hours = days
        .iter()
        .flat_map(|&day| {
            [
                OpeningHours::new(day, t(8, 0), t(12, 0)),
                OpeningHours::new(day, t(13, 0), t(18, 30)),
            ]
        })
        .collect();
    let holidays = [
        d(2025, 12, 25),
        d(2025, 12, 26),
        d(2026, 4, 3),
        d(2026, 4, 6),
    ];
    BusinessCalendar::new(London, hours, holidays).unwrap()
}

#[test]
fn friday_afternoon_plus_one_hour_is_monday_morning_even_across_dst() {
    // 2026-03-27 is the Friday before Berlin springs forward.
    let cal = nine_to_five(Berlin, vec![]);
    let start = local(Berlin, 2026, 3, 27, 16, 30);
    let due = add_business_duration(start, TimeDelta::hours(1), &cal);
    assert_eq!(due, local(Berlin, 2026, 3, 30, 9, 30));
    assert_eq!(
        business_duration_between(start, due, &cal),
        TimeDelta::hours(1)
    );
}

#[test]
fn landing_on_closing_time_stays_on_the_same_day() {
    let cal = nine_to_five(Berlin, vec![]);
    let start = local(Berlin, 2026, 5, 8, 16, 0);
    assert_eq!(
        cal.add_business_duration(start, TimeDelta::hours(1)),
        local(Berlin, 2026, 5, 8, 17, 0)
    );
}

#[test]
fn weekend_start_counts_from_monday_opening() {
    let cal = nine_to_five(New_York, vec![]);
    let saturday = local(New_York, 2026, 5, 9, 11, 0);
    assert!(!cal.is_open(saturday));
    assert_eq!(
        cal.add_business_duration(saturday, TimeDelta::minutes(30)),
        local(New_York, 2026, 5, 11, 9, 30)
    );
}

#[test]
fn holidays_are_skipped() {
    // Good Friday and Easter Monday 2026 are holidays.
    let cal = nine_to_five(Berlin, vec![d(2026, 4, 3), d(2026, 4, 6)]);
    let thursday = local(Berlin, 2026, 4, 2, 16, 30);
    assert_eq!(
        cal.add_business_duration(thursday, TimeDelta::hours(1)),
        local(Berlin, 2026, 4, 7, 9, 30)
    );
    assert!(!cal.is_open(local(Berlin, 2026, 4, 3, 10, 0)));
    let week = business_duration_between(
        local(Berlin, 2026, 3, 30, 0, 0),
        local(Berlin, 2026, 4, 6, 0, 0),
        &cal,
    );
    assert_eq!(week, TimeDelta::hours(32));
}

#[test]
fn new_york_weekend_of_spring_forward_keeps_eight_hour_days() {
    // America/New_York springs forward on Sunday 2026-03-08.
    let cal = nine_to_five(New_York, vec![]);
    let friday = local(New_York, 2026, 3, 6, 16, 0);
    let due = cal.add_business_duration(friday, TimeDelta::hours(2));
    assert_eq!(due, local(New_York, 2026, 3, 9, 10, 0));
    // 66 wall-clock hours minus one skipped hour, but two business hours.
    assert_eq!(due - friday, TimeDelta::hours(65));
    let week = cal.business_duration_between(
        local(New_York, 2026, 3, 2, 0, 0),
        local(New_York, 2026, 3, 16, 0, 0),
    );
    assert_eq!(week, TimeDelta::hours(80));
}

#[test]
fn opening_hours_across_the_gap_and_the_fold_count_real_time() {
    // Sunday 01:00–04:00 local: 3h normally, 2h when Berlin springs forward
    // (02:00→03:00 on 2026-03-29), 4h when it falls back (2026-10-25).
    let cal = BusinessCalendar::new(
        Berlin,
        vec![OpeningHours::new(Weekday::Sunday, t(1, 0), t(4, 0))],
        [],
    )
    .unwrap();
    let day = |mo, dd| {
        cal.business_duration_between(
            local(Berlin, 2026, mo, dd, 0, 0),
            local(Berlin, 2026, mo, dd, 12, 0),
        )
    };
    assert_eq!(day(3, 22), TimeDelta::hours(3));
    assert_eq!(day(3, 29), TimeDelta::hours(2));
    assert_eq!(day(10, 25), TimeDelta::hours(4));
}

#[test]
fn a_window_inside_the_gap_does_not_exist_that_day() {
    let cal = BusinessCalendar::new(
        Berlin,
        vec![OpeningHours::new(Weekday::Sunday, t(2, 15), t(2, 45))],
        [],
    )
    .unwrap();
    assert!(cal.open_intervals(d(2026, 3, 29)).is_empty());
    assert_eq!(cal.open_intervals(d(2026, 3, 22)).len(), 1);
    // A deadline started that morning rolls to the following Sunday.
    let start = local(Berlin, 2026, 3, 29, 0, 0);
    assert_eq!(
        cal.add_business_duration(start, TimeDelta::minutes(10)),
        local(Berlin, 2026, 4, 5, 2, 25)
    );
}

#[test]
fn midnight_close_means_end_of_day() {
    let cal = BusinessCalendar::weekly(Berlin, &Weekday::ALL, t(0, 0), t(0, 0), []).unwrap();
    let a = local(Berlin, 2026, 10, 24, 12, 0);
    let b = local(Berlin, 2026, 10, 25, 12, 0);
    // The fall-back day has 25 hours and all of them are open.
    assert_eq!(cal.business_duration_between(a, b), TimeDelta::hours(25));
    assert_eq!(cal.add_business_duration(a, TimeDelta::hours(25)), b);
}

#[test]
fn invalid_calendars_are_rejected() {
    let empty = BusinessCalendar::weekly(Berlin, &[Weekday::Monday], t(17, 0), t(9, 0), []);
    assert!(matches!(
        empty,
        Err(CalendarError::EmptyInterval {
            day: Weekday::Monday,
            ..
        })
    ));
    let overlap = BusinessCalendar::new(
        Berlin,
        vec![
            OpeningHours::new(Weekday::Tuesday, t(9, 0), t(13, 0)),
            OpeningHours::new(Weekday::Tuesday, t(12, 0), t(17, 0)),
        ],
        [],
    );
    assert_eq!(
        overlap,
        Err(CalendarError::Overlap {
            day: Weekday::Tuesday
        })
    );
    assert_eq!(
        BusinessCalendar::new(Berlin, vec![], []),
        Err(CalendarError::NeverOpen)
    );
    assert!(matches!(
        BusinessCalendar::parse_time_zone("Mars/Olympus"),
        Err(CalendarError::UnknownTimeZone(_))
    ));
    assert_eq!(
        BusinessCalendar::parse_time_zone("Europe/Berlin").unwrap(),
        Berlin
    );
}

#[test]
fn serde_round_trips_and_validates_on_load() {
    let cal = nine_to_five(Berlin, vec![d(2026, 12, 25)]);
    let json = serde_json::to_value(&cal).unwrap();
    assert_eq!(json["time_zone"], "Europe/Berlin");
    assert_eq!(json["hours"][0]["open"], "09:00");
    assert_eq!(json["holidays"][0], "2026-12-25");
    let back: BusinessCalendar = serde_json::from_value(json).unwrap();
    assert_eq!(back, cal);

    let bad = serde_json::json!({
        "time_zone": "Europe/Berlin",
        "hours": [{"day": "monday", "open": "18:00", "close": "09:00"}]
    });
    assert!(serde_json::from_value::<BusinessCalendar>(bad).is_err());
    let basis: TimeBasis =
        serde_json::from_value(serde_json::json!({"type": "calendar_hours"})).unwrap();
    assert_eq!(basis, TimeBasis::CalendarHours);
}

#[test]
fn calendar_basis_is_plain_wall_clock() {
    let a = local(Berlin, 2026, 3, 28, 12, 0);
    let b = TimeBasis::CalendarHours.add(a, TimeDelta::hours(24));
    // 24 real hours later is 13:00 local after the spring-forward night.
    assert_eq!(b, local(Berlin, 2026, 3, 29, 13, 0));
    assert_eq!(TimeBasis::CalendarHours.between(a, b), TimeDelta::hours(24));
}

// ---- properties -------------------------------------------------------------

fn calendars() -> Vec<BusinessCalendar> {
    vec![
        nine_to_five(
            Berlin,
            vec![d(2026, 3, 30), d(2026, 10, 26), d(2025, 12, 25)],
        ),
        nine_to_five(
            New_York,
            vec![d(2026, 3, 9), d(2026, 11, 2), d(2026, 11, 26)],
        ),
        night_shift(Berlin),
        night_shift(New_York),
        split_shift(),
    ]
}

/// DST transition days in Berlin, New York and London, 2025–2027.
fn dst_days() -> Vec<NaiveDate> {
    vec![
        d(2025, 3, 9),
        d(2025, 3, 30),
        d(2025, 10, 26),
        d(2025, 11, 2),
        d(2026, 3, 8),
        d(2026, 3, 29),
        d(2026, 10, 25),
        d(2026, 11, 1),
        d(2027, 3, 14),
        d(2027, 3, 28),
    ]
}

/// Instants within five days of a DST change, at whole minutes.
fn instant_near_dst() -> impl Strategy<Value = DateTime<Utc>> {
    (0..dst_days().len(), -5 * 1440i64..5 * 1440i64).prop_map(|(i, minutes)| {
        dst_days()[i].and_time(NaiveTime::MIN).and_utc() + TimeDelta::minutes(minutes)
    })
}

fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        instant_near_dst(),
        (0i64..2 * 365 * 1440)
            .prop_map(|m| d(2025, 1, 1).and_time(NaiveTime::MIN).and_utc() + TimeDelta::minutes(m)),
    ]
}

fn duration() -> impl Strategy<Value = TimeDelta> {
    (0i64..120 * 60).prop_map(TimeDelta::minutes)
}

fn calendar() -> impl Strategy<Value = BusinessCalendar> {
    (0..calendars().len()).prop_map(|i| calendars().swap_remove(i))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn add_then_measure_round_trips(cal in calendar(), start in any_instant(), dur in duration()) {
        let end = cal.add_business_duration(start, dur);
        prop_assert_eq!(cal.business_duration_between(start, end), dur);
    }

    #[test]
    fn adding_is_monotonic(cal in calendar(), start in any_instant(), a in duration(), b in duration()) {
        let (short, long) = (a.min(b), a.max(b));
        prop_assert!(cal.add_business_duration(start, short) <= cal.add_business_duration(start, long));
        // And later starts never give earlier deadlines.
        let later = start + long;
        prop_assert!(cal.add_business_duration(start, short) <= cal.add_business_duration(later, short));
    }

    #[test]
    fn adding_is_additive(cal in calendar(), start in any_instant(), a in duration(), b in duration()) {
        let stepwise = cal.add_business_duration(cal.add_business_duration(start, a), b);
        prop_assert_eq!(stepwise, cal.add_business_duration(start, a + b));
    }

    #[test]
    fn never_lands_in_closed_time_or_on_a_holiday(cal in calendar(), start in any_instant(), dur in duration()) {
        prop_assume!(dur > TimeDelta::zero());
        let end = cal.add_business_duration(start, dur);
        // The last second consumed was open, on a day that is not a holiday.
        let last = end - TimeDelta::seconds(1);
        prop_assert!(cal.is_open(last), "{} lands in closed time", end);
        let local_day = last.with_timezone(&cal.time_zone()).date_naive();
        prop_assert!(!cal.is_holiday(local_day));
    }

    #[test]
    fn measuring_is_additive_and_bounded(cal in calendar(), a in any_instant(), x in duration(), y in duration()) {
        let b = a + x;
        let c = b + y;
        let ab = cal.business_duration_between(a, b);
        let bc = cal.business_duration_between(b, c);
        prop_assert_eq!(ab + bc, cal.business_duration_between(a, c));
        prop_assert!(ab >= TimeDelta::zero() && ab <= b - a);
        prop_assert_eq!(cal.business_duration_between(b, a), -ab);
    }

    #[test]
    fn holidays_contribute_no_time(cal in calendar(), pick in 0usize..64) {
        let holidays: Vec<NaiveDate> = cal.holidays().iter().copied().collect();
        let holiday = holidays[pick % holidays.len()];
        let tz = cal.time_zone();
        let midnight = |day: NaiveDate| {
            tz.from_local_datetime(&day.and_time(NaiveTime::MIN)).earliest().unwrap().with_timezone(&Utc)
        };
        let (start, end) = (midnight(holiday), midnight(holiday.succ_opt().unwrap()));
        prop_assert_eq!(cal.business_duration_between(start, end), TimeDelta::zero());
        // The same weekday one week later is open (these calendars open daily
        // or on workdays and no holiday is a weekend).
        let next_week = holiday + TimeDelta::days(7);
        prop_assert!(cal.business_duration_between(midnight(next_week), midnight(next_week.succ_opt().unwrap())) > TimeDelta::zero());
    }
}
