//! Times in `allowed_signers` files (`valid-after`, `valid-before`) and in
//! messages: seconds since the Unix epoch, read from OpenSSH's
//! `YYYYMMDD[HHMM[SS]]` forms and shown as ISO 8601 in UTC.

use std::fmt;

/// Seconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

/// A time that an `allowed_signers` file cannot hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error(
        "`{0}` has no time zone; OpenSSH reads it in the local time of whichever machine \
         checks it, so one policy would mean different instants on different machines: \
         write it in UTC with a `Z` suffix (`{0}Z`)"
    )]
    NoZone(String),
    #[error("`{0}` is not a time (YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, then `Z`)")]
    Malformed(String),
    #[error("`{0}` is before 1970-01-01T00:00:01Z")]
    TooEarly(String),
}

impl Timestamp {
    /// Parses OpenSSH's absolute time (`parse_absolute_time` in its
    /// `misc.c`): `YYYYMMDD`, `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, followed by
    /// `Z` or `UTC` (either case). Without a zone OpenSSH takes the local
    /// time; eka refuses it (see [`TimeError::NoZone`]).
    pub fn parse_openssh(text: &str) -> Result<Self, TimeError> {
        let upper = text.to_ascii_uppercase();
        let digits = match upper
            .strip_suffix("UTC")
            .or_else(|| upper.strip_suffix('Z'))
        {
            Some(d) => &text[..d.len()],
            None if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(TimeError::NoZone(text.to_owned()))
            }
            None => return Err(TimeError::Malformed(text.to_owned())),
        };
        let bad = || TimeError::Malformed(text.to_owned());
        if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let field = |at: usize, len: usize| -> i64 {
            digits
                .get(at..at + len)
                .map_or(0, |s| s.parse().unwrap_or(0))
        };
        let (year, month, day) = (field(0, 4), field(4, 2), field(6, 2));
        let (hour, minute, second) = (field(8, 2), field(10, 2), field(12, 2));
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(bad());
        }
        let seconds =
            days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
        if seconds <= 0 {
            return Err(TimeError::TooEarly(text.to_owned()));
        }
        Ok(Timestamp(seconds))
    }

    /// The form `ssh-keygen -Overify-time=` reads as UTC: `YYYYMMDDHHMMSSZ`.
    pub fn to_openssh(self) -> String {
        let (y, mo, d, h, mi, s) = self.civil();
        format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z")
    }

    fn civil(self) -> (i64, i64, i64, i64, i64, i64) {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, mo, d) = civil_from_days(days);
        (y, mo, d, secs / 3_600, secs / 60 % 60, secs % 60)
    }
}

/// ISO 8601 in UTC: `2026-01-31T12:00:00Z`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s) = self.civil();
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssh_forms() {
        assert_eq!(
            Timestamp::parse_openssh("20240101Z").unwrap().0,
            1_704_067_200
        );
        assert_eq!(
            Timestamp::parse_openssh("202401010000z").unwrap().0,
            1_704_067_200
        );
        assert_eq!(
            Timestamp::parse_openssh("20240229123456UTC").unwrap().0,
            1_709_210_096
        );
        assert_eq!(Timestamp(1_709_210_096).to_string(), "2024-02-29T12:34:56Z");
        assert_eq!(Timestamp(1_709_210_096).to_openssh(), "20240229123456Z");
    }

    #[test]
    fn local_times_and_nonsense_are_refused() {
        assert!(matches!(
            Timestamp::parse_openssh("20240101"),
            Err(TimeError::NoZone(_))
        ));
        for bad in [
            "2024010Z",
            "20240230Z",
            "20231301Z",
            "202401012400Z",
            "20240101000060Z",
            "Z",
            "",
            "2024-01-01Z",
            "+20240101Z",
        ] {
            assert!(
                matches!(Timestamp::parse_openssh(bad), Err(TimeError::Malformed(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            Timestamp::parse_openssh("19700101Z"),
            Err(TimeError::TooEarly(_))
        ));
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1, 0, 59, 365, 11_016, 19_782, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
