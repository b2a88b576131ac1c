//! `GET /api/v1/analytics/engagement`: the endpoint and its parameters.

use chrono::NaiveDate;
use rocket::State;
use rocket::form::FromForm;
use rocket::get;
use rocket::serde::json::Json;
use utoipa::IntoParams;
use uuid::Uuid;

use super::report::{self, EngagementReport};
use crate::auth::HrOrAdmin;
use crate::db::Db;
use crate::error::{AppResult, FieldError};
use crate::http::{check, uuid_param};
use crate::kpis::routes::date;
use crate::openapi::responses::Unauthorized;

type Problem = crate::error::Problem;

/// The longest range, in days (two years, one of them leap).
pub const MAX_RANGE_DAYS: i64 = 731;

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EngagementParams {
    /// First day of the range (`YYYY-MM-DD`, in the organisation's time zone). Required.
    #[param(format = Date, required = true)]
    pub from: Option<String>,
    /// Day after the range (`YYYY-MM-DD`, exclusive); after `from`, at most 731 days later.
    /// Required.
    #[param(format = Date, required = true)]
    pub to: Option<String>,
    /// Only this team in `teams` (archived teams too). The organisation's figures and the
    /// correlations still cover every live team.
    #[param(value_type = Option<Uuid>)]
    pub team_id: Option<String>,
}

/// Engagement analytics for a range (HR and admins): per live team and for the organisation,
/// participation rate, recognition reach, the initiatives funnel, points by CX dimension and by
/// channel, and each KPI's change beside the team's engagement, with the correlation across
/// teams. A team with fewer active members than the organisation's `min_group_size` is
/// `suppressed`: its engagement figures are left out, and it takes no part in the correlations.
///
/// Method. A member participates when, in the range, they submitted an initiative, gave or
/// received a recognition, or earned points (positive ledger entries other than adjustments and
/// reversals); `participation_rate` = participating active members / active members now, and
/// for a team only activity recorded for that team counts (the team stored with each row; for
/// recognitions given, the giver's current team). `recognition_reach` = active members
/// recognised in the range / active members. The funnel is the cohort of initiatives submitted
/// in the range and how far each has got by now. Points are net ledger points of entries made in
/// the range. A KPI's `change` = its last minus its first current value among periods starting
/// in the range (by period start); null with one period. `correlations`: for each KPI, Pearson's
/// product-moment r over the live teams that have both a participation rate and a change, r =
/// sum(dx*dy) / sqrt(sum(dx^2) * sum(dy^2)); null with a note when fewer than 3 teams qualify or
/// either variable does not vary. A correlation describes co-occurrence across teams, not cause
/// and effect; with few teams it is fragile. See docs/analytics.md.
#[utoipa::path(
    tag = "hr", operation_id = "engagement_analytics",
    security(("bearer" = [])),
    params(EngagementParams),
    responses(
        (status = 200, body = EngagementReport),
        Unauthorized,
        (status = 403, description = "Only HR and admins", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`team_id` is not a team of your organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is missing or invalid; it is named", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/analytics/engagement?<params..>")]
pub async fn engagement_report(
    db: &State<Db>,
    caller: HrOrAdmin,
    params: EngagementParams,
) -> AppResult<Json<EngagementReport>> {
    let (from, to, team_filter) = parse(&params)?;
    let mut conn = db.conn().await?;
    let report = report::build(&mut conn, caller.organisation_id, from, to, team_filter).await?;
    Ok(Json(report))
}

/// The range and team a request names, each checked; every problem named at once.
fn parse(params: &EngagementParams) -> AppResult<(NaiveDate, NaiveDate, Option<Uuid>)> {
    let mut e = Vec::new();
    let from = match params.from.as_deref() {
        None => {
            e.push(FieldError::new("from", "is required (YYYY-MM-DD)"));
            None
        }
        Some(d) => date("from", d, &mut e),
    };
    let to = match params.to.as_deref() {
        None => {
            e.push(FieldError::new("to", "is required (YYYY-MM-DD, exclusive)"));
            None
        }
        Some(d) => date("to", d, &mut e),
    };
    if let (Some(f), Some(t)) = (from, to) {
        if t <= f {
            e.push(FieldError::new("to", "must be after from"));
        } else if (t - f).num_days() > MAX_RANGE_DAYS {
            e.push(FieldError::new(
                "to",
                format!("the range may span at most {MAX_RANGE_DAYS} days (about two years)"),
            ));
        }
    }
    let team_filter = uuid_param("team_id", params.team_id.as_deref(), &mut e);
    check(e)?;
    let (Some(from), Some(to)) = (from, to) else {
        return Err(crate::error::AppError::internal(
            "validated range is incomplete",
        ));
    };
    Ok((from, to, team_filter))
}
