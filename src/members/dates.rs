//! A member's personal dates: their birthday (a day of the year, no year of birth is kept) and
//! the day they started. Admins, HR and the member see them; colleagues only see the
//! celebrations they lead to (`celebrations`).
//!
//! On the wire a birthday is ISO 8601's date without a year, `--MM-DD` (`--03-14`); the day
//! someone started is a date, `YYYY-MM-DD`. `null` clears either.

use chrono::{Datelike, Days, NaiveDate, Utc};

use crate::error::FieldError;

/// A day of the year someone was born on: a real month and day, Feb 29 included. Valid once
/// made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BirthDate {
    month: u32,
    day: u32,
}

impl BirthDate {
    /// The day, when it exists in some year (Feb 29 does, in leap years).
    pub fn new(month: u32, day: u32) -> Option<BirthDate> {
        // 2000 is a leap year: every day that ever exists exists in it.
        NaiveDate::from_ymd_opt(2000, month, day).map(|_| BirthDate { month, day })
    }

    /// As stored (`birth_month`, `birth_day`); `None` unless both are there and make a day.
    pub fn from_columns(month: Option<i16>, day: Option<i16>) -> Option<BirthDate> {
        let month = u32::try_from(month?).ok()?;
        let day = u32::try_from(day?).ok()?;
        BirthDate::new(month, day)
    }

    /// `--MM-DD`, exactly; the complaint names `field`.
    pub fn parse(field: &str, raw: &str) -> Result<BirthDate, FieldError> {
        let bad = || {
            FieldError::new(
                field,
                "must be a day of the year without a year, --MM-DD (e.g. --03-14; --02-29 is allowed)",
            )
        };
        let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
        let rest = raw.strip_prefix("--").ok_or_else(bad)?;
        let (month, day) = rest.split_once('-').ok_or_else(bad)?;
        if !digits(month) || !digits(day) {
            return Err(bad());
        }
        let month = month.parse().map_err(|_| bad())?;
        let day = day.parse().map_err(|_| bad())?;
        BirthDate::new(month, day).ok_or_else(bad)
    }

    pub fn month(self) -> u32 {
        self.month
    }

    pub fn day(self) -> u32 {
        self.day
    }
}

impl std::fmt::Display for BirthDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--{:02}-{:02}", self.month, self.day)
    }
}

/// The (month, days) whose birthdays and anniversaries are celebrated on `date`: its own, and
/// on Feb 28 of a year without Feb 29, Feb 29's too.
pub fn celebrated_on(date: NaiveDate) -> (u32, Vec<u32>) {
    let (month, day) = (date.month(), date.day());
    if month == 2 && day == 28 && !date.leap_year() {
        (2, vec![28, 29])
    } else {
        (month, vec![day])
    }
}

/// A start date: `YYYY-MM-DD`, from 1900 to at most a year from today (a start agreed ahead).
pub fn parse_started_on(field: &str, raw: &str) -> Result<NaiveDate, FieldError> {
    let latest = Utc::now()
        .date_naive()
        .checked_add_days(Days::new(366))
        .unwrap_or(NaiveDate::MAX);
    match NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        Ok(d) if raw.len() == 10 && d.year() >= 1900 && d <= latest => Ok(d),
        Ok(_) if raw.len() == 10 => Err(FieldError::new(
            field,
            "must be from 1900-01-01 to at most a year from today",
        )),
        _ => Err(FieldError::new(
            field,
            "must be a date, YYYY-MM-DD (e.g. 2021-09-01)",
        )),
    }
}

/// A change of personal dates: `None` leaves one as it is, `Some(None)` clears it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DatesChange {
    pub birth_date: Option<Option<BirthDate>>,
    pub started_on: Option<Option<NaiveDate>>,
}

impl DatesChange {
    /// The change a body asks for (`null` clears, absence leaves); each bad value is noted in
    /// `errors`, naming its field.
    pub fn parse(
        birth_date: Option<Option<&str>>,
        started_on: Option<Option<&str>>,
        errors: &mut Vec<FieldError>,
    ) -> DatesChange {
        let mut change = DatesChange::default();
        match birth_date {
            None => {}
            Some(None) => change.birth_date = Some(None),
            Some(Some(raw)) => match BirthDate::parse("birth_date", raw) {
                Ok(d) => change.birth_date = Some(Some(d)),
                Err(e) => errors.push(e),
            },
        }
        match started_on {
            None => {}
            Some(None) => change.started_on = Some(None),
            Some(Some(raw)) => match parse_started_on("started_on", raw) {
                Ok(d) => change.started_on = Some(Some(d)),
                Err(e) => errors.push(e),
            },
        }
        change
    }

    pub fn is_empty(&self) -> bool {
        self.birth_date.is_none() && self.started_on.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn birth_dates_are_real_days_of_some_year() {
        assert_eq!(
            BirthDate::parse("b", "--03-14").unwrap().to_string(),
            "--03-14"
        );
        assert_eq!(BirthDate::parse("b", "--02-29").unwrap().day(), 29);
        for bad in [
            "--02-30",
            "--04-31",
            "--13-01",
            "--00-10",
            "--01-00",
            "03-14",
            "--3-14",
            "--03-1",
            "2000-03-14",
            "--03-14x",
            "--+3-14",
            "",
            "--",
        ] {
            let e = BirthDate::parse("birth_date", bad).unwrap_err();
            assert_eq!(e.field, "birth_date", "{bad}");
        }
        assert_eq!(BirthDate::from_columns(Some(2), Some(30)), None);
        assert_eq!(BirthDate::from_columns(Some(2), None), None);
        assert_eq!(
            BirthDate::from_columns(Some(12), Some(31)),
            BirthDate::new(12, 31)
        );
    }

    #[test]
    fn feb_29_is_celebrated_on_feb_28_in_other_years() {
        assert_eq!(celebrated_on(day(2027, 2, 28)), (2, vec![28, 29]));
        assert_eq!(celebrated_on(day(2028, 2, 28)), (2, vec![28]));
        assert_eq!(celebrated_on(day(2028, 2, 29)), (2, vec![29]));
        assert_eq!(celebrated_on(day(2027, 3, 1)), (3, vec![1]));
    }

    #[test]
    fn start_dates() {
        assert_eq!(
            parse_started_on("s", "2021-09-01").unwrap(),
            day(2021, 9, 1)
        );
        for bad in [
            "2021-9-01",
            "1899-12-31",
            "9999-01-01",
            "2021-02-29",
            "yesterday",
        ] {
            assert!(parse_started_on("s", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_change_tells_clear_from_leave() {
        let mut e = Vec::new();
        let c = DatesChange::parse(Some(None), None, &mut e);
        assert_eq!(c.birth_date, Some(None));
        assert_eq!(c.started_on, None);
        let c = DatesChange::parse(Some(Some("--02-30")), Some(Some("x")), &mut e);
        assert!(c.is_empty());
        assert_eq!(e.len(), 2);
    }
}
