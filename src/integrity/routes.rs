//! `GET /api/v1/integrity/rings`: the endpoint and its parameters.

use rocket::State;
use rocket::form::FromForm;
use rocket::get;
use rocket::serde::json::Json;
use utoipa::IntoParams;

use super::rings::{self, Span};
use super::{RingReport, Thresholds};
use crate::auth::Admin;
use crate::clock::Clock;
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::{check, date_param, int_param};
use crate::openapi::responses::{Invalid, Unauthorized};

type Problem = crate::error::Problem;

/// The longest window, in days.
pub const MAX_WINDOW_DAYS: i64 = 366;
/// The window when none is given, in days.
pub const DEFAULT_WINDOW_DAYS: i64 = 90;

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RingParams {
    /// The last N days, today (in the organisation's time zone) included: 1-366, default 90.
    /// Not with `from` and `to`.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 366)]
    pub days: Option<String>,
    /// First day of the window (`YYYY-MM-DD`, in the organisation's time zone), with `to`,
    /// instead of `days`.
    #[param(format = Date)]
    pub from: Option<String>,
    /// Day after the window (`YYYY-MM-DD`, exclusive), with `from`; after it, at most 366
    /// days later.
    #[param(format = Date)]
    pub to: Option<String>,
    /// An edge is dominant when it carries at least this share of its giver's peer points
    /// given in the window, in percent: 20-100, default 50.
    #[param(value_type = Option<i64>, minimum = 20, maximum = 100)]
    pub min_share_percent: Option<String>,
    /// ... and at least this many recognitions: 2-1000, default 3.
    #[param(value_type = Option<i64>, minimum = 2, maximum = 1000)]
    pub min_recognitions: Option<String>,
    /// ... and at least this many points: 0-1000000, default 30.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1000000)]
    pub min_points: Option<String>,
}

/// Reciprocal rings (admins): members who send each other most of their peer allowance, A <-> B
/// or round a cycle of three or four, in a window (default the last 90 days), each with the
/// evidence: every edge's points, recognitions, share of its giver's peer giving and first
/// and last date. Peer recognitions only (those that spend an allowance). A giver -> recipient
/// edge counts when it carries at least `min_share_percent` of the giver's peer points given
/// in the window, `min_recognitions` recognitions and `min_points` points; a ring is a cycle
/// of 2-4 such edges. Listed by score, highest first. Nothing is changed: a ring is for an
/// admin to look into, never punished automatically. See docs/api.md, "Ring detection".
#[utoipa::path(
    tag = "integrity", operation_id = "list_rings",
    security(("bearer" = [])),
    params(RingParams),
    responses(
        (status = 200, body = RingReport),
        Unauthorized,
        (status = 403, description = "Only admins", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[get("/api/v1/integrity/rings?<params..>")]
pub async fn list_rings(
    db: &State<Db>,
    clock: &State<Clock>,
    admin: Admin,
    params: RingParams,
) -> AppResult<Json<RingReport>> {
    let (span, thresholds) = parse(&params)?;
    let mut conn = db.conn().await?;
    let report = rings::detect(
        &mut conn,
        admin.organisation_id,
        span,
        thresholds,
        clock.now(),
    )
    .await?;
    Ok(Json(report))
}

/// The window and thresholds a request names, each checked; every problem named at once.
fn parse(params: &RingParams) -> AppResult<(Span, Thresholds)> {
    let mut e = Vec::new();
    let from = date_param("from", params.from.as_deref(), &mut e);
    let to = date_param("to", params.to.as_deref(), &mut e);
    let span = match (params.days.as_deref(), &params.from, &params.to) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            e.push(FieldError::new("days", "give either days, or from and to"));
            None
        }
        (None, Some(_), None) => {
            e.push(FieldError::new("to", "is required with from"));
            None
        }
        (None, None, Some(_)) => {
            e.push(FieldError::new("from", "is required with to"));
            None
        }
        (days, None, None) => {
            let days = int_param(
                "days",
                days,
                DEFAULT_WINDOW_DAYS,
                (1, MAX_WINDOW_DAYS),
                &mut e,
            );
            Some(Span::LastDays(days.unsigned_abs()))
        }
        (None, Some(_), Some(_)) => dates(from, to, &mut e),
    };
    let thresholds = Thresholds {
        min_share_percent: int_param(
            "min_share_percent",
            params.min_share_percent.as_deref(),
            50,
            (20, 100),
            &mut e,
        ),
        min_recognitions: int_param(
            "min_recognitions",
            params.min_recognitions.as_deref(),
            3,
            (2, 1000),
            &mut e,
        ),
        min_points: int_param(
            "min_points",
            params.min_points.as_deref(),
            30,
            (0, 1_000_000),
            &mut e,
        ),
    };
    check(e)?;
    let span = span.ok_or_else(|| AppError::internal("validated window is incomplete"))?;
    Ok((span, thresholds))
}

/// `[from, to)` when both parsed, `to` is after `from` and the window is at most 366 days.
fn dates(
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    e: &mut Vec<FieldError>,
) -> Option<Span> {
    let (from, to) = (from?, to?);
    if to <= from {
        e.push(FieldError::new("to", "must be after from"));
        return None;
    }
    if (to - from).num_days() > MAX_WINDOW_DAYS {
        e.push(FieldError::new(
            "to",
            format!("the window may span at most {MAX_WINDOW_DAYS} days"),
        ));
        return None;
    }
    Some(Span::Dates(from, to))
}

crate::http::operations!(
    /// Integrity of the recognition game: reciprocal rings.
    IntegrityApi { list_rings }
);
