//! The export's query parameters: parsed, checked and resolved into whole periods in the
//! organisation's time zone before a byte is streamed, so ordinary mistakes answer 422.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use crate::error::FieldError;
use crate::http::{bool_param, uuid_param};
use crate::periods;
use crate::vocabulary::vocabulary;

/// The longest range one export may cover (before widening to whole periods).
pub const MAX_RANGE_YEARS: u32 = 5;
/// How many periods an export covers when `from` is absent.
pub const DEFAULT_PERIODS: u32 = 12;

pub const PARAMETERS: [&str; 9] = [
    "from",
    "to",
    "granularity",
    "group_by",
    "team",
    "value_id",
    "format",
    "pseudonymise",
    "bom",
];

vocabulary!(
    /// How long one row's period is: `week` (ISO, from Monday), `month` or `quarter`.
    Granularity {
        Week = "week",
        Month = "month",
        Quarter = "quarter",
    } field = "granularity"
);

impl Granularity {
    /// The first day of the period containing `d` (weeks start on Monday, ISO 8601).
    pub fn start_of(self, d: NaiveDate) -> NaiveDate {
        match self {
            Granularity::Week => d - Days::new(u64::from(d.weekday().num_days_from_monday())),
            Granularity::Month => periods::month_start(d),
            Granularity::Quarter => {
                NaiveDate::from_ymd_opt(d.year(), d.month0() / 3 * 3 + 1, 1).unwrap_or(d)
            }
        }
    }

    pub fn add(self, d: NaiveDate, n: u32) -> NaiveDate {
        match self {
            Granularity::Week => d + Days::new(7 * u64::from(n)),
            Granularity::Month => d + Months::new(n),
            Granularity::Quarter => d + Months::new(3 * n),
        }
    }

    pub fn sub(self, d: NaiveDate, n: u32) -> NaiveDate {
        match self {
            Granularity::Week => d - Days::new(7 * u64::from(n)),
            Granularity::Month => d - Months::new(n),
            Granularity::Quarter => d - Months::new(3 * n),
        }
    }

    /// How the period starting on `start` is named: `2026-W47`, `2026-11`, `2026-Q4`.
    pub fn label(self, start: NaiveDate) -> String {
        match self {
            Granularity::Week => {
                let iso = start.iso_week();
                format!("{}-W{:02}", iso.year(), iso.week())
            }
            Granularity::Month => format!("{}-{:02}", start.year(), start.month()),
            Granularity::Quarter => format!("{}-Q{}", start.year(), start.month0() / 3 + 1),
        }
    }
}

vocabulary!(
    /// What one row is about: a member or a team (in a period).
    GroupBy {
        Member = "member",
        Team = "team",
    } field = "group_by"
);

vocabulary!(
    /// How the export is encoded.
    Format {
        Csv = "csv",
        Ndjson = "ndjson",
        Json = "json",
    } field = "format"
);

impl Format {
    pub fn extension(self) -> &'static str {
        self.as_str()
    }

    /// The format an `Accept` media type asks for; `*/*` and `text/*` mean the default, CSV.
    pub fn from_media_type(top: &str, sub: &str) -> Option<Format> {
        match (top, sub) {
            ("text", "csv") => Some(Format::Csv),
            ("application", "x-ndjson") | ("application", "ndjson") => Some(Format::Ndjson),
            ("application", "json") => Some(Format::Json),
            ("*", "*") | ("text", "*") => Some(Format::Csv),
            _ => None,
        }
    }
}

/// One period of the export: local dates [start, end) and their UTC instants.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub label: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
}

/// The raw parameters, as sent.
#[derive(Debug, Default)]
pub struct RawParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub granularity: Option<String>,
    pub group_by: Option<String>,
    pub team: Option<String>,
    pub value_id: Option<String>,
    pub format: Option<String>,
    pub pseudonymise: Option<String>,
    pub bom: Option<String>,
}

impl RawParams {
    /// Collect the query string's parameters; unknown and repeated ones are errors.
    pub fn collect<'a>(
        pairs: impl Iterator<Item = (&'a str, &'a str)>,
        errors: &mut Vec<FieldError>,
    ) -> RawParams {
        let mut raw = RawParams::default();
        for (name, value) in pairs {
            let slot = match name {
                "from" => &mut raw.from,
                "to" => &mut raw.to,
                "granularity" => &mut raw.granularity,
                "group_by" => &mut raw.group_by,
                "team" => &mut raw.team,
                "value_id" => &mut raw.value_id,
                "format" => &mut raw.format,
                "pseudonymise" => &mut raw.pseudonymise,
                "bom" => &mut raw.bom,
                other => {
                    if !errors.iter().any(|e| e.field == other) {
                        errors.push(FieldError::new(
                            other,
                            format!(
                                "is not a parameter of this export; use {}",
                                PARAMETERS.join(", ")
                            ),
                        ));
                    }
                    continue;
                }
            };
            if slot.is_some() {
                errors.push(FieldError::new(name, "is given more than once"));
            } else {
                *slot = Some(value.to_string());
            }
        }
        raw
    }
}

/// Everything the export needs to know, checked.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub granularity: Granularity,
    pub group_by: GroupBy,
    pub team: Option<Uuid>,
    /// Only recognitions carrying this company value count (and the points they paid).
    pub value: Option<Uuid>,
    pub format: Format,
    pub pseudonymise: bool,
    pub bom: bool,
    /// First day of the first period (local), inclusive.
    pub from: NaiveDate,
    /// First day after the last period (local), exclusive.
    pub to: NaiveDate,
    pub buckets: Vec<Bucket>,
}

fn parse_date(field: &str, raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<NaiveDate> {
    let raw = raw?;
    match NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        Ok(d) if raw.len() == 10 && (2000..=2200).contains(&d.year()) => Some(d),
        _ => {
            errors.push(FieldError::new(
                field,
                "must be a date YYYY-MM-DD (local to the organisation) between 2000 and 2200",
            ));
            None
        }
    }
}

/// Resolve the parameters. `accepted` lists the formats the `Accept` header asks for, most
/// preferred first; `today` is the organisation's local date.
pub fn resolve(
    raw: &RawParams,
    accepted: &[Format],
    tz: Tz,
    today: NaiveDate,
    errors: &mut Vec<FieldError>,
) -> Option<Resolved> {
    // An invalid value is named, and the default stands in so the other checks still run.
    let granularity = Granularity::param(raw.granularity.as_deref(), Granularity::Month, errors)
        .unwrap_or(Granularity::Month);
    let group_by =
        GroupBy::param(raw.group_by.as_deref(), GroupBy::Member, errors).unwrap_or(GroupBy::Member);
    let preferred = accepted.first().copied().unwrap_or(Format::Csv);
    let format = Format::param(raw.format.as_deref(), preferred, errors).unwrap_or(Format::Csv);
    let team = uuid_param("team", raw.team.as_deref(), errors);
    let value = uuid_param("value_id", raw.value_id.as_deref(), errors);
    let pseudonymise = bool_param("pseudonymise", raw.pseudonymise.as_deref(), false, errors);
    let bom = bool_param("bom", raw.bom.as_deref(), true, errors);
    if raw.bom.is_some() && format != Format::Csv {
        errors.push(FieldError::new("bom", "applies to CSV only"));
    }
    let from = parse_date("from", raw.from.as_deref(), errors);
    let to_given = parse_date("to", raw.to.as_deref(), errors);
    if (raw.from.is_some() && from.is_none()) || (raw.to.is_some() && to_given.is_none()) {
        return None;
    }
    let to = to_given.unwrap_or(today);
    if let Some(from) = from {
        if from >= to {
            errors.push(FieldError::new(
                "to",
                if to_given.is_some() {
                    "must be after from"
                } else {
                    "defaults to today, which is not after from; give a later to or an earlier from"
                },
            ));
            return None;
        }
        if from + Months::new(12 * MAX_RANGE_YEARS) < to {
            errors.push(FieldError::new(
                "to",
                format!("an export covers at most {MAX_RANGE_YEARS} years: from {from} to {} at the latest", from + Months::new(12 * MAX_RANGE_YEARS)),
            ));
            return None;
        }
    }
    // Whole periods: `to` moves forward to a period boundary, `from` back to one.
    let last_start = granularity.start_of(to - Days::new(1));
    let to = granularity.add(last_start, 1);
    let from = match from {
        Some(f) => granularity.start_of(f),
        None => granularity.sub(to, DEFAULT_PERIODS),
    };
    let mut buckets = Vec::new();
    let mut start = from;
    while start < to {
        let end = granularity.add(start, 1);
        buckets.push(Bucket {
            label: granularity.label(start),
            start,
            end,
            start_at: periods::start_of_day(tz, start),
            end_at: periods::start_of_day(tz, end),
        });
        start = end;
    }
    Some(Resolved {
        granularity,
        group_by,
        team,
        value,
        format,
        pseudonymise,
        bom,
        from,
        to,
        buckets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn resolve_with(pairs: &[(&str, &str)]) -> Result<Resolved, Vec<FieldError>> {
        let mut errors = Vec::new();
        let raw = RawParams::collect(pairs.iter().copied(), &mut errors);
        let r = resolve(&raw, &[], Tz::Europe__Oslo, d("2026-11-27"), &mut errors);
        if errors.is_empty() {
            Ok(r.unwrap())
        } else {
            Err(errors)
        }
    }

    #[test]
    fn ranges_widen_to_whole_periods() {
        let r = resolve_with(&[("from", "2026-09-15"), ("to", "2026-11-02")]).unwrap();
        assert_eq!((r.from, r.to), (d("2026-09-01"), d("2026-12-01")));
        assert_eq!(r.buckets.len(), 3);
        assert_eq!(r.buckets[0].label, "2026-09");
        // A boundary stays where it is.
        let r = resolve_with(&[("from", "2026-09-01"), ("to", "2026-11-01")]).unwrap();
        assert_eq!((r.from, r.to), (d("2026-09-01"), d("2026-11-01")));
        // Weeks start on Monday: 2026-11-27 is a Friday.
        let r = resolve_with(&[
            ("granularity", "week"),
            ("from", "2026-11-27"),
            ("to", "2026-11-28"),
        ])
        .unwrap();
        assert_eq!((r.from, r.to), (d("2026-11-23"), d("2026-11-30")));
        assert_eq!(r.buckets[0].label, "2026-W48");
        let r = resolve_with(&[("granularity", "quarter"), ("from", "2026-05-05")]).unwrap();
        assert_eq!((r.from, r.to), (d("2026-04-01"), d("2027-01-01")));
        assert_eq!(r.buckets[2].label, "2026-Q4");
    }

    #[test]
    fn the_default_range_is_twelve_periods_up_to_the_current_one() {
        let r = resolve_with(&[]).unwrap();
        assert_eq!((r.from, r.to), (d("2025-12-01"), d("2026-12-01")));
        assert_eq!(r.buckets.len(), 12);
        // Oslo is UTC+1 in December: local midnight is 23:00 UTC the day before.
        assert_eq!(
            r.buckets[0].start_at.to_rfc3339(),
            "2025-11-30T23:00:00+00:00"
        );
    }

    #[test]
    fn bad_parameters_are_named() {
        let fields = |pairs: &[(&str, &str)]| -> Vec<String> {
            resolve_with(pairs)
                .err()
                .unwrap()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(fields(&[("granularity", "day")]), ["granularity"]);
        assert_eq!(
            fields(&[("from", "2026-11-01"), ("to", "2026-11-01")]),
            ["to"]
        );
        assert_eq!(
            fields(&[("from", "2020-01-01"), ("to", "2026-01-01")]),
            ["to"]
        );
        assert_eq!(fields(&[("from", "01/11/2026")]), ["from"]);
        assert_eq!(fields(&[("from", "2026-12-01")]), ["to"]);
        assert_eq!(
            fields(&[("fromm", "2026-12-01"), ("format", "xml")]),
            ["fromm", "format"]
        );
        assert_eq!(fields(&[("team", "x"), ("team", "y")]), ["team", "team"]);
        assert_eq!(fields(&[("value_id", "#CustomerFirst")]), ["value_id"]);
        assert_eq!(
            fields(&[("value_id", "a"), ("value_id", "b")]),
            ["value_id", "value_id"]
        );
        assert_eq!(fields(&[("pseudonymise", "yes")]), ["pseudonymise"]);
        assert_eq!(fields(&[("pseudonymise", "1")]), ["pseudonymise"]);
        assert_eq!(fields(&[("bom", "")]), ["bom"]);
        assert_eq!(fields(&[("bom", " true")]), ["bom"]);
    }
}
