//! CX KPIs per team and period (CSAT, NPS, CES, FCR or organisation-defined), with corrections that keep history.
//!
//! A KPI value is a row of `team_kpis`: a team, a KPI name, a period `[period_start,
//! period_end)`, a value and an optional sample size. Rows are never changed (the database
//! refuses UPDATE and DELETE): a correction is a new row whose `supersedes` points at the row it
//! replaces, and `supersedes` is unique, so a row is corrected at most once and the current
//! value of a period is the one row of its chain that nothing supersedes.
//!
//! - `routes`: the HTTP edge (who may call what, parsing and validation).
//! - `queries`: rows, the list query, recording and correcting (with their audit entries).

pub mod queries;
pub mod routes;
pub use routes::{KpisApi, routes};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::FieldError;

/// The longest period one value may cover, in days (a leap year).
pub const MAX_PERIOD_DAYS: i64 = 366;
/// The longest note, in characters.
pub const MAX_NOTE: usize = 1000;

/// The KPIs the service knows, with the range a value must lie in. Other names
/// (organisation-defined KPIs) take any finite value.
pub const KNOWN: [(&str, f64, f64, &str); 4] = [
    ("csat", 0.0, 100.0, "customer satisfaction, 0-100"),
    ("nps", -100.0, 100.0, "net promoter score, -100 to 100"),
    ("ces", 1.0, 7.0, "customer effort score, 1-7"),
    (
        "fcr",
        0.0,
        100.0,
        "first-contact resolution, 0-100 (percent)",
    ),
];

/// The allowed range of a known KPI's values.
pub fn range_of(kpi: &str) -> Option<(f64, f64, &'static str)> {
    KNOWN
        .iter()
        .find(|(name, ..)| *name == kpi)
        .map(|(_, lo, hi, what)| (*lo, *hi, *what))
}

/// A KPI name: `csat`, `nps`, `ces`, `fcr`, or an organisation-defined name of 1-40 lower-case
/// letters, digits and underscores, starting with a letter (`^[a-z][a-z0-9_]{0,39}$`).
pub fn kpi_name(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let name = raw.trim();
    let mut chars = name.chars();
    let valid = name.len() <= 40
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Some(name.to_string())
    } else {
        errors.push(FieldError::new(
            field,
            "must be csat, nps, ces, fcr or your own name: 1-40 lower-case letters, digits or \
             underscores, starting with a letter (e.g. chat_resolution)",
        ));
        None
    }
}

/// A value for `kpi`: finite, and within the range of a known KPI.
pub fn kpi_value(field: &str, kpi: Option<&str>, value: f64, errors: &mut Vec<FieldError>) {
    if !value.is_finite() {
        errors.push(FieldError::new(field, "must be a finite number"));
        return;
    }
    if let Some((lo, hi, what)) = kpi.and_then(range_of)
        && !(lo..=hi).contains(&value)
    {
        errors.push(FieldError::new(
            field,
            format!("must be from {lo} to {hi} for {what}"),
        ));
    }
}

/// One recorded value of a team's KPI for a period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Kpi {
    pub id: Uuid,
    pub team_id: Uuid,
    /// `csat`, `nps`, `ces`, `fcr` or an organisation-defined name.
    pub kpi: String,
    /// First day of the period (inclusive).
    pub period_start: NaiveDate,
    /// Day after the period (exclusive).
    pub period_end: NaiveDate,
    pub value: f64,
    /// How many responses or cases the value is based on, when known.
    pub sample_size: Option<i32>,
    /// For a correction: why it was made.
    pub note: Option<String>,
    /// For a correction: the row it replaces.
    pub supersedes: Option<Uuid>,
    /// The row that replaced this one; `null` while this is the current value.
    pub superseded_by: Option<Uuid>,
    /// Whether this is the current value of its period (nothing supersedes it).
    pub current: bool,
    /// The member who recorded it, when a member did.
    pub recorded_by: Option<Uuid>,
    /// The API key that recorded it, when a machine client did.
    pub recorded_by_key: Option<Uuid>,
    pub recorded_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_pattern() {
        let mut e = Vec::new();
        for ok in ["csat", "nps", "a", "chat_resolution_2", &"k".repeat(40)] {
            assert_eq!(kpi_name("kpi", ok, &mut e).as_deref(), Some(ok));
        }
        assert!(e.is_empty());
        for bad in ["", "CSAT", "1csat", "_x", "a-b", "é", &"k".repeat(41)] {
            assert!(kpi_name("kpi", bad, &mut e).is_none(), "{bad}");
        }
        assert_eq!(e.len(), 7);
    }

    #[test]
    fn known_kpis_have_ranges_and_custom_ones_any_finite_value() {
        let mut e = Vec::new();
        kpi_value("value", Some("csat"), 100.0, &mut e);
        kpi_value("value", Some("nps"), -100.0, &mut e);
        kpi_value("value", Some("ces"), 1.0, &mut e);
        kpi_value("value", Some("own"), -1e12, &mut e);
        assert!(e.is_empty());
        kpi_value("value", Some("csat"), 100.5, &mut e);
        kpi_value("value", Some("ces"), 0.5, &mut e);
        kpi_value("value", Some("fcr"), -1.0, &mut e);
        kpi_value("value", Some("own"), f64::NAN, &mut e);
        assert_eq!(e.len(), 4);
    }
}
