//! Point rules and giving budgets: organisation settings with sensible defaults.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rocket::State;
use rocket::serde::json::Json;
use rocket::{get, patch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Admin, Caller};
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::{JsonBody, check};
use crate::openapi::responses::{Forbidden, Invalid, Unauthorized};
use crate::schema::point_rules;

#[derive(Debug, Clone, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = point_rules)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct PointRules {
    /// Points to the author when an initiative is submitted.
    pub initiative_submitted: i32,
    /// Points to the author when it is approved (on submission, with mandate on).
    pub initiative_approved: i32,
    /// Points to the author when it is implemented.
    pub initiative_implemented: i32,
    /// Points to the author when its outcome is measured.
    pub initiative_measured: i32,
    /// Points to each contributor at approval, implementation and measurement.
    pub contributor: i32,
    /// What each member may give peers per calendar month (organisation time zone).
    pub peer_monthly_allowance: i32,
    /// The most one member may give one peer per day.
    pub peer_daily_cap_per_recipient: i32,
    /// Each team lead's monthly recognition budget, unless set for the lead.
    pub lead_monthly_budget: i32,
    /// The most points a recognition may carry per recipient.
    pub max_points_per_recognition: i32,
    pub updated_at: DateTime<Utc>,
    /// The most points one member earns per day (organisation time zone) from submitting wins
    /// and from marking their own wins implemented or measured.
    pub submission_points_daily_cap: i32,
    /// Submission points are paid when the win is approved (and taken back if it is
    /// declined), not when it is submitted. On by default for new organisations.
    pub submission_points_on_approval: bool,
    /// The most points an admin's challenge may pay each member who completes it.
    pub challenge_reward_cap: i32,
    /// Every recognition must carry at least one of the organisation's values.
    pub values_required: bool,
    /// The shortest message a recognition may have (characters, after trimming).
    pub min_message_length: i32,
    /// The most one member may give one peer per calendar month (organisation time zone), on
    /// top of the daily cap.
    pub peer_monthly_cap_per_recipient: i32,
    /// How long (hours, 0-720) a giver may take a recognition back.
    pub undo_window_hours: i32,
    /// Points the organisation gives each member on their birthday (0-1000; 0: no birthday
    /// awards), posted to the feed as a celebration.
    pub birthday_points: i32,
    /// Points the organisation gives each member on each work anniversary (0-1000; 0: none).
    pub anniversary_points: i32,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePointRules {
    pub initiative_submitted: Option<i32>,
    pub initiative_approved: Option<i32>,
    pub initiative_implemented: Option<i32>,
    pub initiative_measured: Option<i32>,
    pub contributor: Option<i32>,
    pub peer_monthly_allowance: Option<i32>,
    pub peer_daily_cap_per_recipient: Option<i32>,
    pub lead_monthly_budget: Option<i32>,
    pub max_points_per_recognition: Option<i32>,
    pub submission_points_daily_cap: Option<i32>,
    pub submission_points_on_approval: Option<bool>,
    pub challenge_reward_cap: Option<i32>,
    pub values_required: Option<bool>,
    pub min_message_length: Option<i32>,
    pub peer_monthly_cap_per_recipient: Option<i32>,
    pub undo_window_hours: Option<i32>,
    pub birthday_points: Option<i32>,
    pub anniversary_points: Option<i32>,
}

pub async fn load(conn: &mut AsyncPgConnection, org: Uuid) -> AppResult<PointRules> {
    point_rules::table
        .find(org)
        .select(PointRules::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::internal("organisation has no point rules"))
}

/// The organisation's point rules and its time zone, in one statement (a recognition needs
/// both: its limits and the day and month it falls in).
pub async fn load_with_time_zone(
    conn: &mut AsyncPgConnection,
    org: Uuid,
) -> AppResult<(PointRules, String)> {
    point_rules::table
        .inner_join(crate::schema::organisations::table)
        .filter(point_rules::organisation_id.eq(org))
        .select((
            PointRules::as_select(),
            crate::schema::organisations::time_zone,
        ))
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::internal("organisation has no point rules"))
}

/// The organisation's point rules (any member: knowing the rules is part of the game).
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    responses(
        (status = 200, body = PointRules),
        Unauthorized,
    )
)]
#[get("/api/v1/organisation/point-rules")]
pub async fn show(db: &State<Db>, caller: Caller) -> AppResult<Json<PointRules>> {
    let mut conn = db.conn().await?;
    Ok(Json(load(&mut conn, caller.organisation_id).await?))
}

fn bounded(
    field: &str,
    v: Option<i32>,
    min: i32,
    max: i32,
    errors: &mut Vec<FieldError>,
) -> Option<i32> {
    if let Some(n) = v
        && !(min..=max).contains(&n)
    {
        errors.push(FieldError::new(
            field,
            format!("must be between {min} and {max}"),
        ));
    }
    v
}

/// Change point rules and budgets (admins). Absent fields are left as they are. Changes apply
/// to points granted from now on; the ledger keeps what was granted before.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    request_body = UpdatePointRules,
    responses(
        (status = 200, body = PointRules),
        Unauthorized,
        Forbidden,
        Invalid,
    )
)]
#[patch("/api/v1/organisation/point-rules", data = "<body>")]
pub async fn update(
    db: &State<Db>,
    admin: Admin,
    body: JsonBody<UpdatePointRules>,
) -> AppResult<Json<PointRules>> {
    let rules = change(db, admin.organisation_id, admin.member_id, body.0).await?;
    tracing::info!(organisation_id = %admin.organisation_id, by = %admin.member_id, "point rules changed");
    Ok(Json(rules))
}

/// Checks every present value against its bounds, then changes the rules in one transaction
/// with its audit entry.
pub async fn change(db: &Db, org: Uuid, by: Uuid, r: UpdatePointRules) -> AppResult<PointRules> {
    let mut e = Vec::new();
    let values = (
        bounded(
            "initiative_submitted",
            r.initiative_submitted,
            0,
            10_000,
            &mut e,
        )
        .map(|v| point_rules::initiative_submitted.eq(v)),
        bounded(
            "initiative_approved",
            r.initiative_approved,
            0,
            10_000,
            &mut e,
        )
        .map(|v| point_rules::initiative_approved.eq(v)),
        bounded(
            "initiative_implemented",
            r.initiative_implemented,
            0,
            10_000,
            &mut e,
        )
        .map(|v| point_rules::initiative_implemented.eq(v)),
        bounded(
            "initiative_measured",
            r.initiative_measured,
            0,
            10_000,
            &mut e,
        )
        .map(|v| point_rules::initiative_measured.eq(v)),
        bounded("contributor", r.contributor, 0, 10_000, &mut e)
            .map(|v| point_rules::contributor.eq(v)),
        bounded(
            "peer_monthly_allowance",
            r.peer_monthly_allowance,
            0,
            1_000_000,
            &mut e,
        )
        .map(|v| point_rules::peer_monthly_allowance.eq(v)),
        bounded(
            "peer_daily_cap_per_recipient",
            r.peer_daily_cap_per_recipient,
            0,
            1_000_000,
            &mut e,
        )
        .map(|v| point_rules::peer_daily_cap_per_recipient.eq(v)),
        bounded(
            "lead_monthly_budget",
            r.lead_monthly_budget,
            0,
            10_000_000,
            &mut e,
        )
        .map(|v| point_rules::lead_monthly_budget.eq(v)),
        bounded(
            "max_points_per_recognition",
            r.max_points_per_recognition,
            1,
            1_000_000,
            &mut e,
        )
        .map(|v| point_rules::max_points_per_recognition.eq(v)),
        point_rules::updated_at.eq(Utc::now()),
        bounded(
            "submission_points_daily_cap",
            r.submission_points_daily_cap,
            0,
            1_000_000,
            &mut e,
        )
        .map(|v| point_rules::submission_points_daily_cap.eq(v)),
        r.submission_points_on_approval
            .map(|v| point_rules::submission_points_on_approval.eq(v)),
        bounded(
            "challenge_reward_cap",
            r.challenge_reward_cap,
            0,
            100_000,
            &mut e,
        )
        .map(|v| point_rules::challenge_reward_cap.eq(v)),
        r.values_required
            .map(|v| point_rules::values_required.eq(v)),
        bounded("min_message_length", r.min_message_length, 1, 500, &mut e)
            .map(|v| point_rules::min_message_length.eq(v)),
        bounded(
            "peer_monthly_cap_per_recipient",
            r.peer_monthly_cap_per_recipient,
            0,
            1_000_000,
            &mut e,
        )
        .map(|v| point_rules::peer_monthly_cap_per_recipient.eq(v)),
        bounded("undo_window_hours", r.undo_window_hours, 0, 720, &mut e)
            .map(|v| point_rules::undo_window_hours.eq(v)),
        bounded("birthday_points", r.birthday_points, 0, 1000, &mut e)
            .map(|v| point_rules::birthday_points.eq(v)),
        bounded("anniversary_points", r.anniversary_points, 0, 1000, &mut e)
            .map(|v| point_rules::anniversary_points.eq(v)),
    );
    check(e)?;
    let mut conn = db.conn().await?;
    let changes = serde_json::to_value(&r).unwrap_or_default();
    crate::db::transaction(&mut conn, move |conn| {
        let changes = changes.clone();
        Box::pin(async move {
            let rules = diesel::update(point_rules::table.find(org))
                .set(values)
                .returning(PointRules::as_returning())
                .get_result(conn)
                .await?;
            crate::audit::record(
                conn,
                org,
                crate::audit::Actor::Member(by),
                crate::audit::Action::PointRulesChanged,
                None,
                changes,
            )
            .await?;
            Ok(rules)
        })
    })
    .await
}
