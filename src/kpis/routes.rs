//! The HTTP edge of KPIs: who may record, correct and read them, and what a valid value is.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rocket::State;
use rocket::form::FromForm;
use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::serde::json::Json;
use rocket::{get, post};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::queries::{self, Correction, ListFilter, NewKpi};
use super::{Kpi, MAX_NOTE, MAX_PERIOD_DAYS, kpi_name, kpi_value};
use crate::api_keys::{KEY_PREFIX, KpiWriter, Principal};
use crate::auth::{Caller, Role};
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::{Cursor, JsonBody, Page, check, page_limit, path_id};
use crate::openapi::responses::{Invalid, Unauthorized};
use crate::teams;
use crate::validation::{self, required};

type Problem = crate::error::Problem;

/// Record a KPI value. Send numbers as JSON numbers; all missing or invalid fields are reported
/// at once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordKpi {
    /// `csat` (0-100), `nps` (-100 to 100), `ces` (1-7), `fcr` (0-100, percent), or your own
    /// name: 1-40 lower-case letters, digits or underscores starting with a letter
    /// (`^[a-z][a-z0-9_]{0,39}$`), which takes any finite value.
    #[schema(required = true, value_type = String, example = "csat")]
    pub kpi: Option<String>,
    /// First day of the period, `YYYY-MM-DD`.
    #[schema(required = true, value_type = String, format = Date, example = "2026-11-01")]
    pub period_start: Option<String>,
    /// The day after the period (exclusive), `YYYY-MM-DD`; after `period_start`, at most 366
    /// days later.
    #[schema(required = true, value_type = String, format = Date, example = "2026-12-01")]
    pub period_end: Option<String>,
    /// The value, a finite number within the KPI's range.
    #[schema(required = true, value_type = f64, example = 82.5)]
    pub value: Option<serde_json::Value>,
    /// How many responses or cases the value is based on (a whole number, 0 or more).
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub sample_size: Option<serde_json::Value>,
    /// Up to 1000 characters on one line.
    pub note: Option<String>,
}

/// Correct a KPI value: a new value superseding the current one, with the reason.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectKpi {
    /// The corrected value, within the KPI's range.
    #[schema(required = true, value_type = f64, example = 79.0)]
    pub value: Option<serde_json::Value>,
    /// The corrected sample size; absent keeps the corrected row's, `null` clears it.
    #[serde(default, deserialize_with = "validation::present")]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub sample_size: Option<Option<serde_json::Value>>,
    /// Why the value is corrected (required, 1-1000 characters on one line).
    #[schema(required = true, value_type = String, example = "the survey tool counted test answers")]
    pub note: Option<String>,
}

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only this KPI, e.g. `csat`.
    #[param(pattern = r"^[a-z][a-z0-9_]{0,39}$")]
    pub kpi: Option<String>,
    /// Periods starting on or after this day (`YYYY-MM-DD`).
    #[param(format = Date)]
    pub from: Option<String>,
    /// Periods starting before this day (`YYYY-MM-DD`, exclusive).
    #[param(format = Date)]
    pub to: Option<String>,
    /// `true` to list superseded values too, each with `superseded_by` (default false: current
    /// values only).
    #[param(value_type = Option<bool>)]
    pub include_history: Option<String>,
    /// Page size, 1-200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Who may read a team's KPIs: HR, admins, an API key with the `kpis` scope, or a team lead of
/// that team (checked by the handler, which knows the team).
pub enum KpiReader {
    Key(Principal),
    Member(Caller),
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for KpiReader {
    type Error = AppError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let is_key = req
            .headers()
            .get_one("Authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .is_some_and(|k| k.starts_with(&format!("{KEY_PREFIX}_")));
        if is_key {
            KpiWriter::from_request(req)
                .await
                .map(|w| KpiReader::Key(w.0))
        } else {
            Caller::from_request(req).await.map(KpiReader::Member)
        }
    }
}

impl KpiReader {
    /// The reader's organisation, and for a team lead the team they lead (`Some(None)`: none);
    /// employees may not read KPIs at all.
    fn organisation_and_lead_of(&self) -> AppResult<(Uuid, Option<Option<Uuid>>)> {
        match self {
            KpiReader::Key(p) => Ok((p.organisation_id, None)),
            KpiReader::Member(c) => match c.role {
                Role::Hr | Role::Admin => Ok((c.organisation_id, None)),
                Role::TeamLead => Ok((c.organisation_id, Some(c.team_id))),
                Role::Employee => Err(AppError::Forbidden(
                    "only HR, admins, team leads (of their own team) or an API key with the \
                     kpis scope may read KPIs"
                        .into(),
                )),
            },
        }
    }
}

/// A strict `YYYY-MM-DD` day.
pub fn date(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<NaiveDate> {
    let raw = raw.trim();
    match NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        Ok(d) if raw.len() == 10 => Some(d),
        _ => {
            errors.push(FieldError::new(
                field,
                "must be a date, YYYY-MM-DD (e.g. 2026-11-01)",
            ));
            None
        }
    }
}

fn number(field: &str, raw: &serde_json::Value, errors: &mut Vec<FieldError>) -> Option<f64> {
    match raw.as_f64() {
        Some(v) if v.is_finite() => Some(v),
        _ => {
            errors.push(FieldError::new(field, "must be a finite number"));
            None
        }
    }
}

fn sample_size(raw: &serde_json::Value, errors: &mut Vec<FieldError>) -> Option<i32> {
    match raw.as_i64().and_then(|n| i32::try_from(n).ok()) {
        Some(n) if n >= 0 => Some(n),
        _ => {
            errors.push(FieldError::new(
                "sample_size",
                format!("must be a whole number from 0 to {}", i32::MAX),
            ));
            None
        }
    }
}

fn note(raw: &str, errors: &mut Vec<FieldError>) -> String {
    validation::text("note", raw, MAX_NOTE, errors)
}

/// A correction of `old`: its value within `old`'s KPI's range, the reason required.
fn validate_correction(req: CorrectKpi, old: &queries::Stored) -> AppResult<Correction> {
    let mut e = Vec::new();
    let value = required("value", req.value, &mut e).and_then(|v| number("value", &v, &mut e));
    if let Some(v) = value {
        kpi_value("value", Some(&old.kpi), v, &mut e);
    }
    let sample_size = match req.sample_size {
        None => old.sample_size,
        Some(None) => None,
        Some(Some(s)) => sample_size(&s, &mut e),
    };
    let note = required("note", req.note, &mut e).map(|n| note(&n, &mut e));
    check(e)?;
    let (Some(value), Some(note)) = (value, note) else {
        return Err(AppError::internal("validated correction is incomplete"));
    };
    Ok(Correction {
        value,
        sample_size,
        note,
    })
}

fn validate_record(req: RecordKpi, errors: &mut Vec<FieldError>) -> Option<NewKpi> {
    let kpi = required("kpi", req.kpi, errors).and_then(|k| kpi_name("kpi", &k, errors));
    let start = required("period_start", req.period_start, errors)
        .and_then(|d| date("period_start", &d, errors));
    let end =
        required("period_end", req.period_end, errors).and_then(|d| date("period_end", &d, errors));
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            errors.push(FieldError::new(
                "period_end",
                "must be after period_start (the period ends the day before period_end)",
            ));
        } else if (e - s).num_days() > MAX_PERIOD_DAYS {
            errors.push(FieldError::new(
                "period_end",
                format!("a period may span at most {MAX_PERIOD_DAYS} days"),
            ));
        }
    }
    let value = required("value", req.value, errors).and_then(|v| number("value", &v, errors));
    if let Some(v) = value {
        kpi_value("value", kpi.as_deref(), v, errors);
    }
    let sample_size = req.sample_size.and_then(|s| sample_size(&s, errors));
    // A blank note is no note.
    let note = req
        .note
        .filter(|n| !n.trim().is_empty())
        .map(|n| note(&n, errors));
    Some(NewKpi {
        kpi: kpi?,
        period_start: start?,
        period_end: end?,
        value: value?,
        sample_size,
        note,
    })
}

/// Record a CX KPI value for a team and period (HR, admins, or an API key with the `kpis`
/// scope).
///
/// Known KPIs have ranges: `csat` 0-100, `nps` -100 to 100, `ces` 1-7, `fcr` 0-100
/// (percent); organisation-defined names take any finite value. A period that already has a
/// value answers 409 with `existing_id`: correct it instead. Audited as `kpi_recorded`.
#[utoipa::path(
    tag = "hr", operation_id = "record_kpi",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Team id")),
    request_body = RecordKpi,
    responses(
        (status = 201, description = "Recorded", body = Kpi),
        (status = 401, description = "No valid token or API key (revoked keys too)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not HR or an admin, or a key without the `kpis` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team in your organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "This team, KPI and period already have a value (`existing_id`, `current`); correct it instead", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[post("/api/v1/teams/<id>/kpis", data = "<body>")]
pub async fn record(
    db: &State<Db>,
    writer: KpiWriter,
    id: &str,
    body: JsonBody<RecordKpi>,
) -> AppResult<(Status, Json<Kpi>)> {
    let team = path_id(id, "team")?;
    let mut errors = Vec::new();
    let new = validate_record(body.0, &mut errors);
    check(errors)?;
    let new = new.ok_or_else(|| AppError::internal("validated KPI is incomplete"))?;
    let org = writer.0.organisation_id;
    let actor = writer.0.actor;
    let mut conn = db.conn().await?;
    teams::find(&mut conn, org, team).await?;
    let kpi = crate::db::transaction(&mut conn, move |conn| {
        let new = new.clone();
        Box::pin(async move { queries::record(conn, org, team, actor, &new).await })
    })
    .await?;
    Ok((Status::Created, Json(kpi)))
}

fn cursor_key(k: &Kpi) -> Cursor {
    Cursor {
        key: format!(
            "{}|{}",
            k.period_start,
            k.recorded_at.to_rfc3339_opts(SecondsFormat::Micros, true)
        ),
        id: k.id,
    }
}

fn cursor_after(
    c: &Cursor,
    errors: &mut Vec<FieldError>,
) -> Option<(NaiveDate, DateTime<Utc>, Uuid)> {
    let parsed = c.key.split_once('|').and_then(|(d, t)| {
        Some((
            NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()?,
            DateTime::parse_from_rfc3339(t).ok()?.with_timezone(&Utc),
        ))
    });
    match parsed {
        Some((d, t)) => Some((d, t, c.id)),
        None => {
            errors.push(FieldError::new(
                "cursor",
                "is not a cursor this API returned; start again without it",
            ));
            None
        }
    }
}

/// A team's KPI values, newest period first (HR, admins, an API key with the `kpis` scope, and
/// team leads of that team).
///
/// Current values only, unless `include_history=true`: then
/// superseded values too, each with `superseded_by`.
#[utoipa::path(
    tag = "hr", operation_id = "list_kpis",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Team id"), ListParams),
    responses(
        (status = 200, body = Page<Kpi>),
        Unauthorized,
        (status = 403, description = "Employees, team leads of other teams, keys without the `kpis` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team in your organisation", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[get("/api/v1/teams/<id>/kpis?<params..>")]
pub async fn list(
    db: &State<Db>,
    reader: KpiReader,
    id: &str,
    params: ListParams,
) -> AppResult<Json<Page<Kpi>>> {
    let (org, lead_of) = reader.organisation_and_lead_of()?;
    let team = path_id(id, "team")?;
    let mut e = Vec::new();
    let (filter, limit) = list_filter(&params, &mut e);
    let mut conn = db.conn().await?;
    teams::find(&mut conn, org, team).await?;
    if let Some(own) = lead_of
        && own != Some(team)
    {
        return Err(AppError::Forbidden(
            "team leads may read only their own team's KPIs".into(),
        ));
    }
    check(e)?;
    let rows = queries::list(&mut conn, org, team, &filter, limit + 1).await?;
    Ok(Json(Page::from_rows(rows, limit, cursor_key)))
}

/// The list's filters and page size; their errors join `e`.
fn list_filter(params: &ListParams, e: &mut Vec<FieldError>) -> (ListFilter, i64) {
    let kpi = params.kpi.as_deref().and_then(|k| kpi_name("kpi", k, e));
    let from = params.from.as_deref().and_then(|d| date("from", d, e));
    let to = params.to.as_deref().and_then(|d| date("to", d, e));
    if let (Some(f), Some(t)) = (from, to)
        && t <= f
    {
        e.push(FieldError::new("to", "must be after from"));
    }
    let include_history = crate::http::bool_param(
        "include_history",
        params.include_history.as_deref(),
        false,
        e,
    );
    let limit = page_limit(params.limit.as_deref(), e);
    let after = Cursor::decode(params.cursor.as_deref(), e).and_then(|c| cursor_after(&c, e));
    let filter = ListFilter {
        kpi,
        from,
        to,
        include_history,
        after,
    };
    (filter, limit)
}

/// Correct a KPI value (HR, admins, or an API key with the `kpis` scope): a new value that
/// supersedes the current one, with a `note` saying why.
///
/// History stays: the corrected row is
/// kept and listed with `include_history=true`. Correcting a value that has already been
/// corrected answers 409 with `current_id`; of concurrent corrections of one value exactly one
/// succeeds. Audited as `kpi_corrected`.
#[utoipa::path(
    tag = "hr", operation_id = "correct_kpi",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Team id"),
        ("kpi_id" = Uuid, Path, description = "The KPI value to correct (the current one of its period)"),
    ),
    request_body = CorrectKpi,
    responses(
        (status = 201, description = "The new current value", body = Kpi),
        Unauthorized,
        (status = 403, description = "Not HR or an admin, or a key without the `kpis` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team, or no such KPI value of this team", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already corrected (`current_id` is the value to correct)", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[post("/api/v1/teams/<id>/kpis/<kpi_id>/corrections", data = "<body>")]
pub async fn correct(
    db: &State<Db>,
    writer: KpiWriter,
    id: &str,
    kpi_id: &str,
    body: JsonBody<CorrectKpi>,
) -> AppResult<(Status, Json<Kpi>)> {
    let team = path_id(id, "team")?;
    let kpi_id = path_id(kpi_id, "KPI value")?;
    let org = writer.0.organisation_id;
    let actor = writer.0.actor;
    let mut conn = db.conn().await?;
    teams::find(&mut conn, org, team).await?;
    let old = queries::find(&mut conn, org, team, kpi_id).await?;

    let correction = validate_correction(body.0, &old)?;
    let kpi = crate::db::transaction(&mut conn, move |conn| {
        let (old, correction) = (old.clone(), correction.clone());
        Box::pin(async move { queries::correct(conn, org, &old, actor, &correction).await })
    })
    .await?;
    Ok((Status::Created, Json(kpi)))
}

crate::http::operations!(
    /// The KPI operations.
    KpisApi { record, list, correct }
);
