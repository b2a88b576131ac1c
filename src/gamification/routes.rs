//! Badges, levels and `GET /api/v1/me/progress`.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use rocket::State;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, patch, post, put};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::badges::{
    self, AwardedBadge, Badge, BadgeChange, BadgeRow, CreateBadge, NewBadge, UpdateBadge,
};
use super::challenges::{self, ChallengeProgress};
use super::levels::{self, Level, LevelProgress};
use super::streaks::{self, Streaks};
use crate::auth::{Admin, Caller, Role};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::http::{JsonBody, path_id};
use crate::ledger;
use crate::openapi::responses::{Forbidden, Invalid, NotFound, Unauthorized};
use crate::organisations;
use crate::schema::{badges as badges_table, level_settings, members};

type Problem = crate::error::Problem;

/// The organisation's badges (any member; inactive ones for admins only).
#[utoipa::path(
    tag = "gamification",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<Badge>),
        Unauthorized,
    )
)]
#[get("/api/v1/badges")]
pub async fn list_badges(db: &State<Db>, caller: Caller) -> AppResult<Json<Vec<Badge>>> {
    let mut conn = db.conn().await?;
    let mut query = badges_table::table
        .filter(badges_table::organisation_id.eq(caller.organisation_id))
        .order((badges_table::created_at, badges_table::key))
        .select(BadgeRow::as_select())
        .into_boxed();
    if !caller.is(Role::Admin) {
        query = query.filter(badges_table::active.eq(true));
    }
    let rows: Vec<BadgeRow> = query.load(&mut conn).await?;
    Ok(Json(
        rows.into_iter()
            .map(BadgeRow::into_badge)
            .collect::<AppResult<_>>()?,
    ))
}

/// Define a badge (admins). Members who already qualify receive it with their next activity.
#[utoipa::path(
    tag = "gamification",
    security(("bearer" = [])),
    request_body = CreateBadge,
    responses(
        (status = 201, body = Badge),
        Unauthorized,
        Forbidden,
        (status = 409, description = "The key is taken", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[post("/api/v1/badges", data = "<body>")]
pub async fn create_badge(
    db: &State<Db>,
    admin: Admin,
    body: JsonBody<CreateBadge>,
) -> AppResult<(Status, Json<Badge>)> {
    let new = NewBadge::parse(body.0)?;
    let mut conn = db.conn().await?;
    let badge = badges::create(&mut conn, admin.organisation_id, new).await?;
    Ok((Status::Created, Json(badge)))
}

/// Change a badge (admins). Its criterion and threshold are fixed once defined, so holders
/// and newcomers earned the same thing; define a new badge instead.
#[utoipa::path(
    tag = "gamification",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Badge id")),
    request_body = UpdateBadge,
    responses(
        (status = 200, body = Badge),
        Unauthorized,
        Forbidden,
        NotFound,
        Invalid,
    )
)]
#[patch("/api/v1/badges/<id>", data = "<body>")]
pub async fn update_badge(
    db: &State<Db>,
    admin: Admin,
    id: &str,
    body: JsonBody<UpdateBadge>,
) -> AppResult<Json<Badge>> {
    let id = path_id(id, "badge")?;
    let change = BadgeChange::parse(body.0)?;
    let mut conn = db.conn().await?;
    let badge = badges::update(&mut conn, admin.organisation_id, id, change).await?;
    Ok(Json(badge))
}

/// The badges a member holds, in the order they were earned (any member of the organisation).
#[utoipa::path(
    tag = "gamification",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Member id")),
    responses(
        (status = 200, body = Vec<AwardedBadge>),
        Unauthorized,
        NotFound,
    )
)]
#[get("/api/v1/members/<id>/badges")]
pub async fn member_badges(
    db: &State<Db>,
    caller: Caller,
    id: &str,
) -> AppResult<Json<Vec<AwardedBadge>>> {
    let id = path_id(id, "member")?;
    let mut conn = db.conn().await?;
    let exists: i64 = members::table
        .filter(members::organisation_id.eq(caller.organisation_id))
        .filter(members::id.eq(id))
        .count()
        .get_result(&mut conn)
        .await?;
    if exists == 0 {
        return Err(AppError::not_found("member"));
    }
    Ok(Json(
        badges::of_member(&mut conn, caller.organisation_id, id).await?,
    ))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Levels {
    /// Ascending thresholds of lifetime points; the first at 0.
    pub levels: Vec<Level>,
}

/// The organisation's levels (any member).
#[utoipa::path(
    tag = "gamification",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Levels),
        Unauthorized,
    )
)]
#[get("/api/v1/organisation/levels")]
pub async fn show_levels(db: &State<Db>, caller: Caller) -> AppResult<Json<Levels>> {
    let mut conn = db.conn().await?;
    Ok(Json(Levels {
        levels: levels::load(&mut conn, caller.organisation_id).await?,
    }))
}

/// Replace the organisation's levels (admins).
#[utoipa::path(
    tag = "gamification",
    security(("bearer" = [])),
    request_body = Levels,
    responses(
        (status = 200, body = Levels),
        Unauthorized,
        Forbidden,
        Invalid,
    )
)]
#[put("/api/v1/organisation/levels", data = "<body>")]
pub async fn set_levels(
    db: &State<Db>,
    admin: Admin,
    body: JsonBody<Levels>,
) -> AppResult<Json<Levels>> {
    let mut new = body.0.levels;
    for l in &mut new {
        l.name = l.name.trim().to_string();
    }
    levels::validate(&new).map_err(AppError::Validation)?;
    let raw = serde_json::to_value(&new).map_err(AppError::internal)?;
    let mut conn = db.conn().await?;
    diesel::insert_into(level_settings::table)
        .values((
            level_settings::organisation_id.eq(admin.organisation_id),
            level_settings::levels.eq(&raw),
        ))
        .on_conflict(level_settings::organisation_id)
        .do_update()
        .set((
            level_settings::levels.eq(&raw),
            level_settings::updated_at.eq(Utc::now()),
        ))
        .execute(&mut conn)
        .await?;
    Ok(Json(Levels { levels: new }))
}

/// The caller's progress: points, level, streaks, badges and running challenges.
#[derive(Debug, Serialize, ToSchema)]
pub struct Progress {
    pub member_id: Uuid,
    /// The caller's balance (the sum of their ledger): what they may spend, as `spendable`.
    pub balance: i64,
    /// Points earned (every entry but redemptions and their refunds).
    pub earned: i64,
    /// Points left to spend on rewards: earned minus redeemed.
    pub spendable: i64,
    /// All-time points on the leaderboard, which levels are measured by.
    pub lifetime_points: i64,
    pub level: LevelProgress,
    pub streaks: Streaks,
    pub badges: Vec<AwardedBadge>,
    pub challenges: Vec<ChallengeProgress>,
}

#[utoipa::path(
    tag = "gamification",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Progress),
        Unauthorized,
    )
)]
#[get("/api/v1/me/progress")]
pub async fn my_progress(db: &State<Db>, caller: Caller) -> AppResult<Json<Progress>> {
    let org = caller.organisation_id;
    let me = caller.member_id;
    let mut conn = db.conn().await?;
    let organisation = organisations::find(&mut conn, org).await?;
    let totals = ledger::totals(&mut conn, org, me).await?;
    let lifetime: i64 = crate::schema::member_period_points::table
        .filter(crate::schema::member_period_points::organisation_id.eq(org))
        .filter(crate::schema::member_period_points::period.eq("all"))
        .filter(
            crate::schema::member_period_points::period_start
                .eq(crate::leaderboards::period::ALL_TIME_START),
        )
        .filter(crate::schema::member_period_points::dimension.eq(""))
        .filter(crate::schema::member_period_points::member_id.eq(me))
        .select(crate::schema::member_period_points::points)
        .first(&mut conn)
        .await
        .optional()?
        .unwrap_or(0);
    let levels = levels::load(&mut conn, org).await?;
    Ok(Json(Progress {
        member_id: me,
        balance: totals.spendable,
        earned: totals.earned,
        spendable: totals.spendable,
        lifetime_points: lifetime,
        level: levels::progress(&levels, lifetime),
        streaks: streaks::of(&mut conn, org, me, &organisation.time_zone).await?,
        badges: badges::of_member(&mut conn, org, me).await?,
        challenges: challenges::active_for(&mut conn, org, me).await?,
    }))
}

crate::http::operations!(
    /// Badges, levels and progress (challenges have their own list: `challenges::routes`).
    GamificationApi {
        list_badges,
        create_badge,
        update_badge,
        member_badges,
        show_levels,
        set_levels,
        my_progress,
    }
);
