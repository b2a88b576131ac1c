//! Ledger endpoints: my points, a member's points, reversals and adjustments.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rocket::State;
use rocket::form::FromForm;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::reversal;
use super::{Credit, Entry, EntryRow, Reason, record, rules, totals};
use crate::auth::{Admin, Caller, Role};
use crate::clock::Clock;
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::{Cursor, JsonBody, check, page_limit, path_id, time_cursor};
use crate::idempotency::{self, IdempotencyKey, Replayable};
use crate::openapi::responses::{Forbidden, Invalid, NotFound, Unauthorized};
use crate::recognition::giving::{self, Allowance};
use crate::schema::{ledger_entries, members};
use crate::{organisations, periods, validation};

type Problem = crate::error::Problem;

/// A member's points: balance, what they may still give, and their ledger, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Points {
    pub member_id: Uuid,
    /// The sum of every ledger entry of the member: what they may spend on rewards (the same
    /// as `spendable`).
    pub balance: i64,
    /// Points earned: every entry but redemptions and their refunds (what boards and levels
    /// count). Spending on rewards does not lower it.
    pub earned: i64,
    /// Points left to spend on rewards: earned minus what redemptions took (refunds given
    /// back). Equal to `balance`.
    pub spendable: i64,
    /// This period's giving allowance (peers) or budget (team leads); absent for admins, who
    /// give without a budget.
    pub allowance: Option<Allowance>,
    /// One page of the member's ledger, newest first.
    pub entries: Vec<Entry>,
    /// Pass as `cursor` for the next page of entries.
    pub next_cursor: Option<String>,
}

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1-200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

async fn points_of(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    role: Role,
    params: PageParams,
    now: DateTime<Utc>,
) -> AppResult<Points> {
    let mut errors = Vec::new();
    let limit = page_limit(params.limit.as_deref(), &mut errors);
    let after = time_cursor(params.cursor.as_deref(), &mut errors);
    check(errors)?;
    let organisation = organisations::find(conn, org).await?;
    let rules = rules::load(conn, org).await?;
    let tz = periods::parse_tz(&organisation.time_zone);
    let allowance = giving::current(conn, org, member, role, tz, &rules, now).await?;
    let totals = totals(conn, org, member).await?;
    let mut query = ledger_entries::table
        .filter(ledger_entries::organisation_id.eq(org))
        .filter(ledger_entries::member_id.eq(member))
        .order((ledger_entries::created_at.desc(), ledger_entries::id.desc()))
        .limit(limit + 1)
        .select(EntryRow::as_select())
        .into_boxed();
    if let Some((t, id)) = after {
        query = query.filter(
            ledger_entries::created_at
                .lt(t)
                .or(ledger_entries::created_at
                    .eq(t)
                    .and(ledger_entries::id.lt(id))),
        );
    }
    let rows: Vec<EntryRow> = query.load(conn).await?;
    let mut entries = rows
        .into_iter()
        .map(EntryRow::into_entry)
        .collect::<AppResult<Vec<_>>>()?;
    let next_cursor = if entries.len() as i64 > limit {
        entries.truncate(limit as usize);
        entries
            .last()
            .map(|e| Cursor::at(e.created_at, e.id).encode())
    } else {
        None
    };
    Ok(Points {
        member_id: member,
        balance: totals.spendable,
        earned: totals.earned,
        spendable: totals.spendable,
        allowance,
        entries,
        next_cursor,
    })
}

/// The caller's balance, giving allowance left this period, and ledger.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, body = Points),
        Unauthorized,
        Invalid,
    )
)]
#[get("/api/v1/me/points?<params..>")]
pub async fn my_points(
    db: &State<Db>,
    clock: &State<Clock>,
    caller: Caller,
    params: PageParams,
) -> AppResult<Json<Points>> {
    let mut conn = db.conn().await?;
    Ok(Json(
        points_of(
            &mut conn,
            caller.organisation_id,
            caller.member_id,
            caller.role,
            params,
            clock.now(),
        )
        .await?,
    ))
}

/// A member's points (admins, HR, the member's team lead, and the member).
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Member id"), PageParams),
    responses(
        (status = 200, body = Points),
        Unauthorized,
        Forbidden,
        NotFound,
        Invalid,
    )
)]
#[get("/api/v1/members/<id>/points?<params..>")]
pub async fn member_points(
    db: &State<Db>,
    clock: &State<Clock>,
    caller: Caller,
    id: &str,
    params: PageParams,
) -> AppResult<Json<Points>> {
    let id = path_id(id, "member")?;
    let mut conn = db.conn().await?;
    let (role, team): (String, Option<Uuid>) = members::table
        .filter(members::organisation_id.eq(caller.organisation_id))
        .filter(members::id.eq(id))
        .select((members::role, members::team_id))
        .first(&mut conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("member"))?;
    let allowed = caller.member_id == id
        || caller.is_any(&[Role::Admin, Role::Hr])
        || (caller.is(Role::TeamLead) && team.is_some() && team == caller.team_id);
    if !allowed {
        return Err(AppError::Forbidden(
            "only admins, HR, the member's team lead and the member may see their points".into(),
        ));
    }
    let role: Role = role
        .parse()
        .map_err(|_| AppError::internal("unknown role in database"))?;
    Ok(Json(
        points_of(
            &mut conn,
            caller.organisation_id,
            id,
            role,
            params,
            clock.now(),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReverseEntry {
    /// Why the entry is cancelled; kept on the reversing entry.
    pub reason: String,
}

/// Cancel a ledger entry with a reversing entry (admins). Each entry can be reversed once;
/// reversals themselves cannot be reversed (make an adjustment instead). Reversing a
/// recognition's entry gives its points back to the giver's allowance or budget of the month
/// the recognition was paid from (admins' recognitions cost nothing, so nothing goes back).
/// Accepts `Idempotency-Key`.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Ledger entry id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response"),
    ),
    request_body = ReverseEntry,
    responses(
        (status = 201, description = "The reversing entry", body = Entry),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "Already reversed, or a reversal", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[post("/api/v1/ledger/<id>/reverse", data = "<body>")]
pub async fn reverse(
    db: &State<Db>,
    admin: Admin,
    key: IdempotencyKey,
    id: &str,
    body: JsonBody<ReverseEntry>,
) -> AppResult<Replayable> {
    let id = path_id(id, "ledger entry")?;
    let mut errors = Vec::new();
    let reason = validation::text("reason", &body.0.reason, 1000, &mut errors);
    check(errors)?;
    let org = admin.organisation_id;
    let by = admin.member_id;
    let mut conn = db.conn().await?;
    idempotency::once(&mut conn, &admin, &key, body.1, move |conn| {
        let reason = reason.clone();
        Box::pin(async move {
            let entry = reversal::reverse(conn, org, by, id, reason).await?;
            Replayable::new(Status::Created, &entry)
        })
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Adjustment {
    pub member_id: Uuid,
    /// Non-zero; negative takes points away.
    pub points: i32,
    /// Why; kept on the entry.
    pub reason: String,
}

/// Credit or debit a member by hand (admins), with a reason. Accepts `Idempotency-Key`.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response")),
    request_body = Adjustment,
    responses(
        (status = 201, body = Entry),
        Unauthorized,
        Forbidden,
        (status = 422, description = "Invalid input, or no such member", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/ledger/adjustments", data = "<body>")]
pub async fn adjust(
    db: &State<Db>,
    admin: Admin,
    key: IdempotencyKey,
    body: JsonBody<Adjustment>,
) -> AppResult<Replayable> {
    let credit = body.0.credit(admin.member_id)?;
    let (org, by) = (admin.organisation_id, admin.member_id);
    let mut conn = db.conn().await?;
    idempotency::once(&mut conn, &admin, &key, body.1, move |conn| {
        let credit = credit.clone();
        Box::pin(async move {
            let entry = write_adjustment(conn, org, by, credit).await?;
            Replayable::new(Status::Created, &entry)
        })
    })
    .await
}

impl Adjustment {
    /// The credit an adjustment by `by` writes, once its reason and points are valid.
    fn credit(self, by: Uuid) -> AppResult<Credit> {
        let mut errors = Vec::new();
        let reason = validation::text("reason", &self.reason, 1000, &mut errors);
        if self.points == 0 || self.points.unsigned_abs() > 1_000_000 {
            errors.push(FieldError::new(
                "points",
                "must be non-zero and at most 1000000 either way",
            ));
        }
        check(errors)?;
        let mut credit = Credit::new(self.member_id, self.points, Reason::Adjustment);
        credit.note = Some(reason);
        credit.created_by = Some(by);
        Ok(credit)
    }
}

/// Write an admin's adjustment and audit it.
async fn write_adjustment(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    by: Uuid,
    credit: Credit,
) -> AppResult<Entry> {
    let entry = record(conn, org, vec![credit])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AppError::internal("adjustment not written"))?;
    crate::audit::record(
        conn,
        org,
        crate::audit::Actor::Member(by),
        crate::audit::Action::PointAdjustment,
        Some(("ledger_entry", entry.id)),
        serde_json::json!({ "member_id": entry.member_id, "points": entry.points }),
    )
    .await?;
    tracing::info!(organisation_id = %org, by = %by, member = %entry.member_id, points = entry.points, "ledger adjustment");
    Ok(entry)
}

crate::http::operations!(
    /// Points, the ledger and point rules.
    LedgerApi {
        my_points,
        member_points,
        reverse,
        adjust,
        rules::show,
        rules::update,
    }
);
