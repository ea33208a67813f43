//! Wall-clock times as the engine sees them: milliseconds since the Unix epoch, passed in.
//!
//! The engine never reads a clock, so it only needs to turn such numbers into
//! text and back. The calendar arithmetic is done here by hand (the
//! proleptic Gregorian calendar, via Howard Hinnant's days-from-civil
//! algorithms) rather than through a date crate, which keeps the engine small
//! in WebAssembly and makes every conversion exact for the whole `i64` range.

use std::{fmt, iter};

pub const MILLIS_PER_SECOND: i64 = 1_000;
pub const MILLIS_PER_MINUTE: i64 = 60 * MILLIS_PER_SECOND;
pub const MILLIS_PER_HOUR: i64 = 60 * MILLIS_PER_MINUTE;
pub const MILLIS_PER_DAY: i64 = 24 * MILLIS_PER_HOUR;

/// Days from 0000-03-01 to 1970-01-01. Counting years from March 1st puts
/// the leap day at the end of the year, so the month lengths before it follow
/// one formula whatever the year.
const DAYS_FROM_MARCH_YEAR_ZERO_TO_EPOCH: i64 = 719_468;
/// The Gregorian calendar repeats exactly every 400 years.
const DAYS_PER_400_YEARS: i64 = 146_097;

/// Formats `millis` as ISO 8601 UTC with milliseconds, e.g. `2024-01-15T10:30:00.123Z`.
///
/// Years outside 0000–9999 use ISO 8601's expanded form, a sign and at least
/// six digits (`+010000-01-01T00:00:00.000Z`, `-000001-12-31T23:59:59.999Z`),
/// as JavaScript's `toISOString` does, so that every `i64` has a text form
/// that [`parse_iso8601`] reads back to the same number.
pub fn format_iso8601(millis: i64) -> String {
    let date = CivilDate::from_days_since_epoch(millis.div_euclid(MILLIS_PER_DAY));
    let millis_of_day = millis.rem_euclid(MILLIS_PER_DAY);
    format!(
        "{year}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millisecond:03}Z",
        year = IsoYear(date.year),
        month = date.month,
        day = date.day,
        hour = millis_of_day / MILLIS_PER_HOUR,
        minute = millis_of_day % MILLIS_PER_HOUR / MILLIS_PER_MINUTE,
        second = millis_of_day % MILLIS_PER_MINUTE / MILLIS_PER_SECOND,
        millisecond = millis_of_day % MILLIS_PER_SECOND,
    )
}

/// Reads a date and time into milliseconds since the Unix epoch.
///
/// Accepted forms:
/// - `YYYY-MM-DDTHH:MM:SSZ`, optionally with a fraction of a second after the
///   seconds (`.123`); digits finer than a millisecond are dropped, because
///   the engine counts whole milliseconds;
/// - the same with a UTC offset `+HH:MM` or `-HH:MM` instead of `Z`;
/// - a plain date `YYYY-MM-DD`, meaning midnight UTC;
/// - any of these with an expanded year (`+010000`, `-000001`), as
///   [`format_iso8601`] writes years outside 0000–9999.
///
/// A date and time without `Z` or an offset is refused: it would name a
/// different instant on every peer's local clock.
pub fn parse_iso8601(text: &str) -> Result<i64, TimeParseError> {
    parse_millis(text.as_bytes()).ok_or_else(|| TimeParseError { text: text.chars().take(64).collect() })
}

/// A text that is not a date and time in a form [`parse_iso8601`] accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeParseError {
    /// The refused text, shortened to 64 characters so that a huge paste
    /// does not end up in messages and logs.
    pub text: String,
}

impl fmt::Display for TimeParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' is not a date and time (expected e.g. 2026-02-05T14:30:00Z)", self.text)
    }
}

impl std::error::Error for TimeParseError {}

/// `None` for every malformed or out-of-range text; the caller turns that
/// into one plain message, as people fix a date by looking at it, not by
/// reading which component the parser stumbled on.
fn parse_millis(text: &[u8]) -> Option<i64> {
    let mut cursor = Cursor { rest: text };
    let year = cursor.year()?;
    cursor.expect(b'-')?;
    let month = cursor.digits(2)?;
    cursor.expect(b'-')?;
    let day = cursor.digits(2)?;
    let days = CivilDate::new(year, month, day)?.days_since_epoch();
    if cursor.rest.is_empty() {
        return i64::try_from(i128::from(days) * i128::from(MILLIS_PER_DAY)).ok();
    }

    cursor.expect(b'T')?;
    let hour = cursor.digits(2)?;
    cursor.expect(b':')?;
    let minute = cursor.digits(2)?;
    cursor.expect(b':')?;
    let second = cursor.digits(2)?;
    // Leap seconds (second 60) are refused: Unix time has no place for them.
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let millisecond = if cursor.accept(b'.') { cursor.fraction_as_millis()? } else { 0 };
    let offset_millis = cursor.utc_offset_millis()?;
    if !cursor.rest.is_empty() {
        return None;
    }

    // i128, because the day's midnight can lie outside i64 even when the
    // instant itself does not (the earliest representable day starts before i64::MIN).
    let local_millis = i128::from(days) * i128::from(MILLIS_PER_DAY)
        + i128::from(hour * MILLIS_PER_HOUR + minute * MILLIS_PER_MINUTE + second * MILLIS_PER_SECOND + millisecond);
    i64::try_from(local_millis - i128::from(offset_millis)).ok()
}

/// The unread rest of the text being parsed.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl Cursor<'_> {
    /// Consumes `byte` if the text continues with it.
    fn accept(&mut self, byte: u8) -> bool {
        match self.rest.strip_prefix(&[byte]) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.accept(byte).then_some(())
    }

    /// Consumes the run of ASCII digits at the front, however long.
    fn digit_run(&mut self) -> &[u8] {
        let length = self.rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
        let (digits, rest) = self.rest.split_at(length);
        self.rest = rest;
        digits
    }

    /// Exactly `count` digits (at most nine, so the value fits easily).
    fn digits(&mut self, count: usize) -> Option<i64> {
        let (digits, rest) = self.rest.split_at_checked(count)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.rest = rest;
        Some(decimal_value(digits))
    }

    /// Four digits, or a sign and six to nine digits (the expanded form).
    /// Nine digits is already beyond the years an `i64` of milliseconds
    /// reaches, so longer years could never parse to a valid instant anyway.
    fn year(&mut self) -> Option<i64> {
        let sign = if self.accept(b'-') {
            -1
        } else if self.accept(b'+') {
            1
        } else {
            return self.digits(4);
        };
        let digits = self.digit_run();
        (6..=9).contains(&digits.len()).then(|| sign * decimal_value(digits))
    }

    /// The digits after the decimal point as whole milliseconds: `.5` is 500,
    /// `.123456` is 123. Up to nine digits (nanoseconds) are accepted.
    fn fraction_as_millis(&mut self) -> Option<i64> {
        let digits = self.digit_run();
        if !(1..=9).contains(&digits.len()) {
            return None;
        }
        Some(decimal_value(digits.iter().chain(iter::repeat(&b'0')).take(3)))
    }

    /// `Z`, `+HH:MM` or `-HH:MM`, as the milliseconds to subtract from local
    /// time to get UTC.
    fn utc_offset_millis(&mut self) -> Option<i64> {
        if self.accept(b'Z') {
            return Some(0);
        }
        let sign = if self.accept(b'+') {
            1
        } else if self.accept(b'-') {
            -1
        } else {
            return None;
        };
        let hours = self.digits(2)?;
        self.expect(b':')?;
        let minutes = self.digits(2)?;
        if hours > 23 || minutes > 59 {
            return None;
        }
        Some(sign * (hours * MILLIS_PER_HOUR + minutes * MILLIS_PER_MINUTE))
    }
}

/// The value of a short run of ASCII digits; callers keep it to nine digits.
fn decimal_value<'a>(digits: impl IntoIterator<Item = &'a u8>) -> i64 {
    digits.into_iter().fold(0, |value, digit| value * 10 + i64::from(digit - b'0'))
}

/// A day in the proleptic Gregorian calendar (the current calendar extended
/// backwards), which is what ISO 8601 and Unix time both count in.
struct CivilDate {
    year: i64,
    /// 1–12.
    month: i64,
    /// 1–31, within the month's length.
    day: i64,
}

impl CivilDate {
    /// `None` if the month or the day does not exist.
    fn new(year: i64, month: i64, day: i64) -> Option<CivilDate> {
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if is_leap_year(year) => 29,
            2 => 28,
            _ => return None,
        };
        (1..=days_in_month).contains(&day).then_some(CivilDate { year, month, day })
    }

    /// Valid for any `days` whose year fits in an `i64`, far beyond the
    /// range of millisecond instants.
    fn from_days_since_epoch(days: i64) -> CivilDate {
        let days_since_march_year_zero = days + DAYS_FROM_MARCH_YEAR_ZERO_TO_EPOCH;
        let era = days_since_march_year_zero.div_euclid(DAYS_PER_400_YEARS);
        let day_of_era = days_since_march_year_zero.rem_euclid(DAYS_PER_400_YEARS);
        // Corrects for the leap days of every 4th, 100th and 400th year.
        let year_of_era =
            (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / (DAYS_PER_400_YEARS - 1)) / 365;
        let day_of_march_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        // Months from March have lengths 31, 30, 31, 30, 31, 31, … which
        // (153 * month + 2) / 5 reproduces exactly.
        let month_from_march = (5 * day_of_march_year + 2) / 153;
        let day = day_of_march_year - (153 * month_from_march + 2) / 5 + 1;
        let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
        let year = era * 400 + year_of_era + i64::from(month <= 2);
        CivilDate { year, month, day }
    }

    /// The inverse of [`CivilDate::from_days_since_epoch`].
    fn days_since_epoch(&self) -> i64 {
        let march_year = if self.month <= 2 { self.year - 1 } else { self.year };
        let era = march_year.div_euclid(400);
        let year_of_era = march_year.rem_euclid(400);
        let month_from_march = if self.month > 2 { self.month - 3 } else { self.month + 9 };
        let day_of_march_year = (153 * month_from_march + 2) / 5 + self.day - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_march_year;
        era * DAYS_PER_400_YEARS + day_of_era - DAYS_FROM_MARCH_YEAR_ZERO_TO_EPOCH
    }
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// A year as ISO 8601 writes it: four digits within 0000–9999, otherwise the
/// expanded form with a sign and at least six digits.
struct IsoYear(i64);

impl fmt::Display for IsoYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if (0..=9_999).contains(&self.0) { write!(f, "{:04}", self.0) } else { write!(f, "{:+07}", self.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator, so randomized tests replay exactly.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Instants with their text, checked against independent sources
    /// (`date -u`, JavaScript's `Date.prototype.toISOString`).
    const KNOWN: &[(i64, &str)] = &[
        (0, "1970-01-01T00:00:00.000Z"),
        (1, "1970-01-01T00:00:00.001Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (1_705_314_600_123, "2024-01-15T10:30:00.123Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
        (1_709_251_200_000, "2024-03-01T00:00:00.000Z"),
        (-2_203_891_200_000, "1900-03-01T00:00:00.000Z"),
        (-2_208_988_800_000, "1900-01-01T00:00:00.000Z"),
        (-14_182_940_000, "1969-07-20T20:17:40.000Z"),
        (-62_135_596_800_000, "0001-01-01T00:00:00.000Z"),
        (-62_167_219_200_000, "0000-01-01T00:00:00.000Z"),
        (-62_167_219_200_001, "-000001-12-31T23:59:59.999Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        (253_402_300_800_000, "+010000-01-01T00:00:00.000Z"),
        (8_640_000_000_000_000, "+275760-09-13T00:00:00.000Z"),
        (-8_640_000_000_000_000, "-271821-04-20T00:00:00.000Z"),
        (i64::MAX, "+292278994-08-17T07:12:55.807Z"),
        (i64::MIN, "-292275055-05-16T16:47:04.192Z"),
    ];

    #[test]
    fn formats_known_instants() {
        for &(millis, text) in KNOWN {
            assert_eq!(format_iso8601(millis), text, "{millis}");
        }
    }

    #[test]
    fn parses_known_instants() {
        for &(millis, text) in KNOWN {
            assert_eq!(parse_iso8601(text), Ok(millis), "{text}");
        }
    }

    #[test]
    fn round_trips_every_day_across_leap_years_and_the_epoch() {
        // 1896 to 2104 takes in the non-leap 1900 and 2100 and the leap 2000.
        let first_day = parse_iso8601("1896-01-01").unwrap() / MILLIS_PER_DAY;
        let last_day = parse_iso8601("2104-12-31").unwrap() / MILLIS_PER_DAY;
        for day in first_day..=last_day {
            for millis in [day * MILLIS_PER_DAY, day * MILLIS_PER_DAY + 45_296_789, (day + 1) * MILLIS_PER_DAY - 1] {
                assert_eq!(parse_iso8601(&format_iso8601(millis)), Ok(millis), "{millis}");
            }
        }
    }

    #[test]
    fn round_trips_random_instants_over_the_whole_range() {
        let mut random = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..100_000 {
            let millis = random.next() as i64;
            assert_eq!(parse_iso8601(&format_iso8601(millis)), Ok(millis), "{millis}");
            let recent = millis.rem_euclid(4_000_000_000_000) - 1_000_000_000_000;
            assert_eq!(parse_iso8601(&format_iso8601(recent)), Ok(recent), "{recent}");
        }
    }

    #[test]
    fn formatting_is_ordered_like_the_instants_within_four_digit_years() {
        let mut random = XorShift(42);
        let mut previous: Option<(i64, String)> = None;
        let mut instants: Vec<i64> = (0..1_000).map(|_| (random.next() % 253_402_300_800_000) as i64).collect();
        instants.sort();
        for millis in instants {
            let text = format_iso8601(millis);
            if let Some((previous_millis, previous_text)) = &previous {
                assert_eq!(previous_millis.cmp(&millis), previous_text.cmp(&text));
            }
            previous = Some((millis, text));
        }
    }

    #[test]
    fn plain_date_is_midnight_utc() {
        assert_eq!(parse_iso8601("2024-01-15"), parse_iso8601("2024-01-15T00:00:00Z"));
        assert_eq!(parse_iso8601("1970-01-01"), Ok(0));
        assert_eq!(parse_iso8601("1969-12-31"), Ok(-MILLIS_PER_DAY));
        assert_eq!(parse_iso8601("2024-02-29"), Ok(1_709_164_800_000));
    }

    #[test]
    fn offsets_convert_to_utc() {
        let utc = parse_iso8601("2024-01-15T10:30:00Z").unwrap();
        assert_eq!(parse_iso8601("2024-01-15T16:00:00+05:30"), Ok(utc));
        assert_eq!(parse_iso8601("2024-01-15T02:30:00-08:00"), Ok(utc));
        assert_eq!(parse_iso8601("2024-01-15T10:30:00+00:00"), Ok(utc));
        assert_eq!(parse_iso8601("2024-01-15T10:30:00-00:00"), Ok(utc));
        // The offset can move the instant into another day, month and year.
        assert_eq!(parse_iso8601("2024-01-01T01:00:00+02:00"), parse_iso8601("2023-12-31T23:00:00Z"));
        assert_eq!(parse_iso8601("2023-12-31T23:00:00-23:59"), parse_iso8601("2024-01-01T22:59:00Z"));
    }

    #[test]
    fn fractions_are_read_as_milliseconds() {
        let second = parse_iso8601("2024-01-15T10:30:00Z").unwrap();
        assert_eq!(parse_iso8601("2024-01-15T10:30:00.5Z"), Ok(second + 500));
        assert_eq!(parse_iso8601("2024-01-15T10:30:00.12Z"), Ok(second + 120));
        assert_eq!(parse_iso8601("2024-01-15T10:30:00.123Z"), Ok(second + 123));
        assert_eq!(parse_iso8601("2024-01-15T10:30:00.000Z"), Ok(second));
        assert_eq!(parse_iso8601("2024-01-15T10:30:00.123999Z"), Ok(second + 123));
        assert_eq!(parse_iso8601("2024-01-15T10:30:00.123456789+01:00"), Ok(second + 123 - MILLIS_PER_HOUR));
    }

    #[test]
    fn refuses_texts_that_are_not_dates_and_times() {
        let refused = [
            "",
            "2024",
            "2024-01",
            "2024-13-01",
            "2024-00-10",
            "2024-01-00",
            "2024-01-32",
            "2024-04-31",
            "2023-02-29",
            "1900-02-29",
            "2100-02-29",
            "2024-1-15",
            "24-01-15",
            "20240115",
            " 2024-01-15",
            "2024-01-15 ",
            "2024-01-15T",
            "2024-01-15T10:30:00",
            "2024-01-15 10:30:00Z",
            "2024-01-15t10:30:00z",
            "2024-01-15T10:30Z",
            "2024-01-15T24:00:00Z",
            "2024-01-15T10:60:00Z",
            "2024-01-15T23:59:60Z",
            "2024-01-15T1:30:00Z",
            "2024-01-15T10:30:00.Z",
            "2024-01-15T10:30:00.1234567890Z",
            "2024-01-15T10:30:00,123Z",
            "2024-01-15T10:30:00ZZ",
            "2024-01-15T10:30:00Z ",
            "2024-01-15T10:30:00+05",
            "2024-01-15T10:30:00+0530",
            "2024-01-15T10:30:00+24:00",
            "2024-01-15T10:30:00+05:60",
            "2024-01-15T10:30:00UTC",
            "+2024-01-15",
            "+02024-01-15",
            "+1234567890-01-01",
            "+292278994-08-17T07:12:55.808Z",
            "-292275055-05-16T16:47:04.191Z",
            "２０２４-01-15",
            "2024-01-15T10:30:00.1٢3Z",
            "yesterday",
        ];
        for text in refused {
            assert!(parse_iso8601(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn error_message_quotes_the_text_and_shows_an_example() {
        let error = parse_iso8601("2024-13-01").unwrap_err();
        assert_eq!(error.to_string(), "'2024-13-01' is not a date and time (expected e.g. 2026-02-05T14:30:00Z)");
    }

    #[test]
    fn error_keeps_only_the_start_of_a_long_text() {
        let error = parse_iso8601(&"9".repeat(10_000)).unwrap_err();
        assert_eq!(error.text, "9".repeat(64));
    }

    #[test]
    fn leap_years_follow_the_gregorian_rules() {
        assert!(is_leap_year(2024));
        assert!(is_leap_year(2000));
        assert!(is_leap_year(0));
        assert!(is_leap_year(-4));
        assert!(!is_leap_year(2023));
        assert!(!is_leap_year(1900));
        assert!(!is_leap_year(2100));
        assert!(!is_leap_year(-1));
    }
}
