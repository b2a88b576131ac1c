//! Giving allowances (peers) and budgets (team leads): what a member may still give this month.
//!
//! `giving_balances` holds one row per giver, kind and month. Spending is a single conditional
//! UPDATE (`spent + cost <= granted`) that takes the row's lock, so concurrent recognitions by
//! one giver serialise on it and the balance can never go below zero, however many race.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Role;
use crate::error::{AppError, AppResult};
use crate::ledger::rules::PointRules;
use crate::periods;
use crate::schema::{giving_balances, lead_budgets, recognition_boosts, recognitions};
use crate::sql::Prepared;
use crate::vocabulary::vocabulary;

vocabulary!(
    /// Which pot a recognition is paid from.
    GivingKind {
        /// A member's monthly allowance for recognising peers.
        Peer = "peer",
        /// A team lead's monthly recognition budget.
        Lead = "lead",
        /// Admins recognise without a budget.
        Admin = "admin",
        /// A birthday or work anniversary the organisation awards itself (no giver, no budget).
        Celebration = "celebration",
    }
);

impl GivingKind {
    /// The pot a member's recognitions come from (never `Celebration`: that has no giver).
    pub fn for_role(role: Role) -> GivingKind {
        match role {
            Role::Admin => GivingKind::Admin,
            Role::TeamLead => GivingKind::Lead,
            Role::Employee | Role::Hr => GivingKind::Peer,
        }
    }
}

/// What is left of an allowance or budget in the current period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Allowance {
    pub kind: GivingKind,
    /// First day of the period (a calendar month in the organisation's time zone).
    pub period_start: NaiveDate,
    /// When the next period starts.
    pub resets_at: DateTime<Utc>,
    pub granted: i32,
    pub spent: i32,
    pub remaining: i32,
}

/// This period's grant for a giver: the rule, or a lead's own budget.
async fn grant(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    kind: GivingKind,
    rules: &PointRules,
) -> AppResult<i32> {
    Ok(match kind {
        GivingKind::Peer => rules.peer_monthly_allowance,
        GivingKind::Lead => lead_budgets::table
            .filter(lead_budgets::organisation_id.eq(org))
            .filter(lead_budgets::member_id.eq(member))
            .select(lead_budgets::monthly_points)
            .first::<i32>(conn)
            .await
            .optional()?
            .unwrap_or(rules.lead_monthly_budget),
        GivingKind::Admin | GivingKind::Celebration => i32::MAX,
    })
}

/// The allowance a member with `role` has this period (none for admins: they are unbudgeted).
pub async fn current(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    role: Role,
    tz: chrono_tz::Tz,
    rules: &PointRules,
    now: DateTime<Utc>,
) -> AppResult<Option<Allowance>> {
    let kind = GivingKind::for_role(role);
    if kind == GivingKind::Admin {
        return Ok(None);
    }
    let (period_start, _, resets_at) = periods::month_bounds(tz, now);
    let granted = grant(conn, org, member, kind, rules).await?;
    let spent: i32 = giving_balances::table
        .filter(giving_balances::organisation_id.eq(org))
        .filter(giving_balances::member_id.eq(member))
        .filter(giving_balances::kind.eq(kind.as_str()))
        .filter(giving_balances::period_start.eq(period_start))
        .select(giving_balances::spent)
        .first(conn)
        .await
        .optional()?
        .unwrap_or(0);
    Ok(Some(Allowance {
        kind,
        period_start,
        resets_at,
        granted,
        spent,
        remaining: (granted - spent).max(0),
    }))
}

/// Take `cost` from the giver's pot for this period, or refuse with 409 and what is left.
/// Must run inside the recognition's transaction: the row lock it takes is what serialises
/// a giver's concurrent recognitions. Returns the period paid from (none for admins), which
/// the recognition keeps so that a reversal can give the points back to it.
#[allow(clippy::too_many_arguments)]
pub async fn spend(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    kind: GivingKind,
    cost: i64,
    tz: chrono_tz::Tz,
    rules: &PointRules,
    now: DateTime<Utc>,
) -> AppResult<Option<NaiveDate>> {
    if matches!(kind, GivingKind::Admin | GivingKind::Celebration) {
        return Ok(None);
    }
    take(conn, org, member, kind, cost, tz, now, rules, "recognition")
        .await
        .map(Some)
}

/// Reserve a team lead's challenge reward (`cost`) from their budget for this period, as
/// [`spend`] does for a recognition; answers the period it came from, for [`give_back`].
pub async fn reserve(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    lead: Uuid,
    cost: i64,
    tz: chrono_tz::Tz,
    rules: &PointRules,
) -> AppResult<NaiveDate> {
    // The month of the connection's clock, the one challenges' windows go by.
    let now = crate::sql::now(conn).await?;
    take(
        conn,
        org,
        lead,
        GivingKind::Lead,
        cost,
        tz,
        now,
        rules,
        "challenge's reward",
    )
    .await
}

/// Return a reservation that was never paid out (a challenge cancelled before it started) to
/// the period it was taken from. Inside the cancellation's transaction.
pub async fn give_back(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    kind: GivingKind,
    period_start: NaiveDate,
    points: i32,
) -> AppResult<()> {
    let back = return_points(conn, org, member, kind, period_start, points).await?;
    if back != Some(points) && points > 0 {
        // The reservation was taken from this row, so it should all fit: someone changed the
        // row by hand. Give back what fits rather than fail the cancellation.
        tracing::warn!(organisation_id = %org, member = %member, period = %period_start, points, ?back, "a reservation did not fit back into its budget row");
    }
    Ok(())
}

/// Give up to `points` back to a giver's row for `period_start`: never more than it has spent,
/// whatever an operator did to the row by hand, so `spent` never goes below zero. The row lock
/// serialises this with the giver's concurrent spending. Answers the points given back, or
/// `None` when the giver has no row for that period (nothing was spent from it).
async fn return_points(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    kind: GivingKind,
    period_start: NaiveDate,
    points: i32,
) -> AppResult<Option<i32>> {
    if points <= 0 {
        return Ok(None);
    }
    let row = giving_balances::table
        .filter(giving_balances::organisation_id.eq(org))
        .filter(giving_balances::member_id.eq(member))
        .filter(giving_balances::kind.eq(kind.as_str()))
        .filter(giving_balances::period_start.eq(period_start));
    let spent: Option<i32> = row
        .select(giving_balances::spent)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    let Some(spent) = spent else {
        return Ok(None);
    };
    let back = points.min(spent);
    diesel::update(row)
        .set(giving_balances::spent.eq(giving_balances::spent - back))
        .execute(conn)
        .await?;
    Ok(Some(back))
}

#[allow(clippy::too_many_arguments)]
async fn take(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    kind: GivingKind,
    cost: i64,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
    rules: &PointRules,
    what_for: &str,
) -> AppResult<NaiveDate> {
    let (period_start, _, resets_at) = periods::month_bounds(tz, now);
    let granted = grant(conn, org, member, kind, rules).await?;
    let what = match kind {
        GivingKind::Peer => "monthly giving allowance",
        _ => "monthly recognition budget",
    };
    let cost = i32::try_from(cost)
        .ok()
        .filter(|c| *c <= granted)
        .ok_or_else(|| AppError::Conflict {
            detail: format!("this {what_for} costs more than your whole {what} ({granted} points)"),
            extra: Some(serde_json::json!({ "granted": granted })),
        })?;
    // One statement: the period's row is made with this spend, or the spend is added to it
    // if it fits (its row lock orders the giver's concurrent spends); no row means it did
    // not fit.
    let updated = Prepared(diesel::sql_query(
        "INSERT INTO giving_balances AS b (organisation_id, member_id, kind, period_start, granted, spent) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (organisation_id, member_id, kind, period_start) \
         DO UPDATE SET spent = b.spent + EXCLUDED.spent, granted = EXCLUDED.granted \
         WHERE b.spent + EXCLUDED.spent <= EXCLUDED.granted",
    )
    .bind::<diesel::sql_types::Uuid, _>(org)
    .bind::<diesel::sql_types::Uuid, _>(member)
    .bind::<diesel::sql_types::Text, _>(kind.as_str())
    .bind::<diesel::sql_types::Date, _>(period_start)
    .bind::<diesel::sql_types::Integer, _>(granted)
    .bind::<diesel::sql_types::Integer, _>(cost))
    .execute(conn)
    .await?;
    let key = giving_balances::table
        .filter(giving_balances::organisation_id.eq(org))
        .filter(giving_balances::member_id.eq(member))
        .filter(giving_balances::kind.eq(kind.as_str()))
        .filter(giving_balances::period_start.eq(period_start));
    if updated == 0 {
        let spent: i32 = key.select(giving_balances::spent).first(conn).await?;
        let remaining = (granted - spent).max(0);
        return Err(AppError::Conflict {
            detail: format!(
                "not enough left of your {what}: {remaining} of {granted} points remain until {}",
                resets_at.to_rfc3339()
            ),
            extra: Some(serde_json::json!({
                "remaining": remaining,
                "granted": granted,
                "resets_at": resets_at,
            })),
        });
    }
    Ok(period_start)
}

/// Give `points` back to the pot that paid for a recognition: its giver's row for the period
/// it was spent in. Runs in the transaction of the reversal that cancels one recipient's
/// entry; each entry is reversed at most once (a unique key on `reverses`), so a recognition's
/// points go back at most once per recipient, and the row lock serialises the refund with the
/// giver's concurrent spending. Returns the giver and the points given back, or `None` when
/// nothing was spent (an admin's recognition, or no row for that period).
pub async fn refund(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    recognition: Uuid,
    points: i32,
) -> AppResult<Option<(Uuid, i32)>> {
    let Some((giver, kind, period, at)) = recognitions::table
        .filter(recognitions::organisation_id.eq(org))
        .filter(recognitions::id.eq(recognition))
        .select((
            recognitions::giver_id,
            recognitions::kind,
            recognitions::giving_period_start,
            recognitions::created_at,
        ))
        .first::<(Option<Uuid>, String, Option<NaiveDate>, DateTime<Utc>)>(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    // Unbudgeted pots (admins, celebrations) have nothing to give back to.
    let (Some(giver), Some(kind)) = (
        giver,
        GivingKind::parse(&kind)
            .filter(|k| !matches!(k, GivingKind::Admin | GivingKind::Celebration)),
    ) else {
        return Ok(None);
    };
    if points <= 0 {
        return Ok(None);
    }
    let period = match period {
        Some(p) => p,
        // Written without the period (an import, SQL): the month it was made in.
        None => {
            let tz = periods::parse_tz(&crate::organisations::find(conn, org).await?.time_zone);
            periods::month_bounds(tz, at).0
        }
    };
    let back = return_points(conn, org, giver, kind, period, points).await?;
    Ok(back.map(|back| (giver, back)))
}

/// Give `points` back to the pot that paid for `booster`'s boost of `recognition`: the booster's
/// row for the period it was paid from, as [`refund`] does for a recognition. `None` when
/// nothing was spent (an admin's boost, or no such boost).
pub async fn refund_boost(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    recognition: Uuid,
    booster: Uuid,
    points: i32,
) -> AppResult<Option<(Uuid, i32)>> {
    let boost: Option<(String, Option<NaiveDate>)> = recognition_boosts::table
        .filter(recognition_boosts::organisation_id.eq(org))
        .filter(recognition_boosts::recognition_id.eq(recognition))
        .filter(recognition_boosts::booster_id.eq(booster))
        .select((
            recognition_boosts::kind,
            recognition_boosts::giving_period_start,
        ))
        .first(conn)
        .await
        .optional()?;
    let Some((kind, Some(period))) = boost else {
        return Ok(None);
    };
    let Some(kind) = GivingKind::parse(&kind).filter(|k| *k != GivingKind::Admin) else {
        return Ok(None);
    };
    let back = return_points(conn, org, booster, kind, period, points).await?;
    Ok(back.map(|back| (booster, back)))
}

/// Set a team lead's own monthly budget (admins).
pub async fn set_lead_budget(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    points: i32,
    by: Uuid,
) -> AppResult<()> {
    diesel::insert_into(lead_budgets::table)
        .values((
            lead_budgets::organisation_id.eq(org),
            lead_budgets::member_id.eq(member),
            lead_budgets::monthly_points.eq(points),
            lead_budgets::updated_by.eq(by),
        ))
        .on_conflict((lead_budgets::organisation_id, lead_budgets::member_id))
        .do_update()
        .set((
            lead_budgets::monthly_points.eq(points),
            lead_budgets::updated_by.eq(by),
            lead_budgets::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
