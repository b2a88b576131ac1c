//! Setting, changing and cancelling challenges: the transactions behind the handlers, with
//! the rules of `challenge_rules` (reservations, caps, windows) and their audit entries.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use super::input::{Change, NewChallenge};
use super::metrics::seed_tallies;
use super::views::one;
use super::{ChallengeProgress, ChallengeRow};
use crate::audit;
use crate::auth::{Caller, Role};
use crate::db;
use crate::error::{AppError, AppResult};
use crate::gamification::challenge_rules as rules;
use crate::http::check;
use crate::ledger;
use crate::schema::challenges;
use crate::sql;

/// Set a challenge: within the organisation's and team's caps, a team lead's reward reserved
/// from their budget, audited (`challenge_created`). Answers it with its progress so far: a
/// window an admin backdated counts what happened since.
pub async fn create(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    new: NewChallenge,
) -> AppResult<ChallengeProgress> {
    let who = caller.clone();
    let row = db::transaction(conn, move |c| {
        let (who, new) = (who.clone(), new.clone());
        Box::pin(async move { insert(c, &who, new).await })
    })
    .await?;
    tracing::info!(organisation_id = %caller.organisation_id, challenge = %row.id, by = %caller.member_id, metric = %row.metric, "challenge set");
    one(
        conn,
        caller.organisation_id,
        caller.member_id,
        row,
        "created challenge",
    )
    .await
}

/// Insert a challenge within the organisation's and team's caps, reserve a team lead's reward
/// from their budget, seed its tallies and audit it, in one transaction.
async fn insert(
    conn: &mut AsyncPgConnection,
    by: &Caller,
    new: NewChallenge,
) -> AppResult<ChallengeRow> {
    let org = by.organisation_id;
    rules::lock_organisation(conn, org).await?;
    rules::check_room(conn, org, new.team_id).await?;
    let reservation = match (by.is(Role::TeamLead), new.team_id) {
        (true, Some(team)) => {
            let per_member = new
                .reward_points
                .saturating_add(rules::badge_points(conn, org, new.reward_badge_id).await?);
            Some(rules::reserve(conn, org, by.member_id, team, per_member).await?)
        }
        _ => None,
    };
    let row: ChallengeRow = diesel::insert_into(challenges::table)
        .values((
            challenges::organisation_id.eq(org),
            challenges::title.eq(&new.title),
            challenges::description.eq(&new.description),
            challenges::scope.eq(new.scope.as_str()),
            challenges::team_id.eq(new.team_id),
            challenges::metric.eq(new.metric.as_str()),
            challenges::dimension.eq(new.dimension),
            challenges::channel.eq(new.channel),
            challenges::target.eq(new.target),
            challenges::starts_at.eq(new.starts_at),
            challenges::ends_at.eq(new.ends_at),
            challenges::reward_points.eq(new.reward_points),
            challenges::reward_badge_id.eq(new.reward_badge_id),
            challenges::created_by.eq(by.member_id),
            challenges::reserved_points.eq(reservation.as_ref().map_or(0, |r| r.points)),
            challenges::reserved_period.eq(reservation.as_ref().and_then(|r| r.period)),
            challenges::reward_slots.eq(reservation.as_ref().map(|r| r.slots)),
        ))
        .returning(ChallengeRow::as_returning())
        .get_result(conn)
        .await?;
    seed_tallies(conn, org, &row).await?;
    audit::record(
        conn,
        org,
        audit::Actor::Member(by.member_id),
        audit::Action::ChallengeCreated,
        Some(("challenge", row.id)),
        json!({
            "title": row.title,
            "scope": row.scope,
            "team_id": row.team_id,
            "metric": row.metric,
            "target": row.target,
            "starts_at": row.starts_at,
            "ends_at": row.ends_at,
            "backdated": new.backdated,
            "reward_points": row.reward_points,
            "reward_badge_id": row.reward_badge_id,
            "reserved_points": row.reserved_points,
            "reward_slots": row.reward_slots,
        }),
    )
    .await?;
    Ok(row)
}

/// Lock a challenge the caller may change or cancel: 404 for another organisation's, 403 for a
/// team lead's that they did not set for their own team, 409 once cancelled or started.
async fn lock_unstarted(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
) -> AppResult<ChallengeRow> {
    let row: ChallengeRow = challenges::table
        .filter(challenges::organisation_id.eq(caller.organisation_id))
        .filter(challenges::id.eq(id))
        .select(ChallengeRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("challenge"))?;
    if !caller.is(Role::Admin)
        && (row.created_by != caller.member_id
            || row.team_id.is_none()
            || row.team_id != caller.team_id)
    {
        return Err(AppError::Forbidden(
            "team leads may change or cancel only the challenges they set for their own team"
                .into(),
        ));
    }
    if row.cancelled_at.is_some() {
        return Err(AppError::conflict("this challenge is cancelled"));
    }
    if row.starts_at <= sql::now(conn).await? {
        return Err(AppError::Conflict {
            detail: "this challenge has started: it can no longer be changed or cancelled".into(),
            extra: Some(serde_json::json!({ "starts_at": row.starts_at })),
        });
    }
    Ok(row)
}

/// Change a challenge before it starts (the admin, or the team lead who set it for their own
/// team). Audited (`challenge_changed`, with what changed from what).
pub async fn change(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    change: Change,
) -> AppResult<ChallengeProgress> {
    let who = caller.clone();
    let row = db::transaction(conn, move |c| {
        let (who, change) = (who.clone(), change.clone());
        Box::pin(async move { apply(c, &who, id, change).await })
    })
    .await?;
    tracing::info!(organisation_id = %caller.organisation_id, challenge = %row.id, by = %caller.member_id, "challenge changed");
    one(
        conn,
        caller.organisation_id,
        caller.member_id,
        row,
        "changed challenge",
    )
    .await
}

async fn apply(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    change: Change,
) -> AppResult<ChallengeRow> {
    let org = caller.organisation_id;
    let row = lock_unstarted(conn, caller, id).await?;
    let now = sql::now(conn).await?;
    let mut e = Vec::new();
    let window = rules::window(
        Some(change.starts_at.unwrap_or(row.starts_at)),
        Some(change.ends_at.unwrap_or(row.ends_at)),
        now,
        caller.is(Role::Admin),
        &mut e,
    );
    let reward = change.reward_points.unwrap_or(row.reward_points);
    if change.reward_points.is_some() {
        let cap = ledger::rules::load(conn, org).await?.challenge_reward_cap;
        rules::reward_within_cap(reward, cap, &mut e);
    }
    check(e)?;
    let Some(window) = window else {
        return Err(AppError::internal("validated window missing"));
    };
    let (mut reserved_points, mut reserved_period, mut reward_slots) =
        (row.reserved_points, row.reserved_period, row.reward_slots);
    // A team lead's challenge (it has slots) is re-priced from its creator's budget.
    if reward != row.reward_points
        && row.reward_slots.is_some()
        && let Some(team) = row.team_id
    {
        rules::release(
            conn,
            org,
            row.created_by,
            row.reserved_points,
            row.reserved_period,
        )
        .await?;
        let per_member =
            reward.saturating_add(rules::badge_points(conn, org, row.reward_badge_id).await?);
        let r = rules::reserve(conn, org, row.created_by, team, per_member).await?;
        (reserved_points, reserved_period, reward_slots) = (r.points, r.period, Some(r.slots));
    }
    let title = change.title.clone().unwrap_or_else(|| row.title.clone());
    let description = change
        .description
        .clone()
        .unwrap_or_else(|| row.description.clone());
    let target = change.target.unwrap_or(row.target);
    let updated: ChallengeRow = diesel::update(
        challenges::table
            .filter(challenges::organisation_id.eq(org))
            .filter(challenges::id.eq(id)),
    )
    .set((
        challenges::title.eq(&title),
        challenges::description.eq(&description),
        challenges::target.eq(target),
        challenges::starts_at.eq(window.starts_at),
        challenges::ends_at.eq(change.ends_at.unwrap_or(row.ends_at)),
        challenges::reward_points.eq(reward),
        challenges::reserved_points.eq(reserved_points),
        challenges::reserved_period.eq(reserved_period),
        challenges::reward_slots.eq(reward_slots),
    ))
    .returning(ChallengeRow::as_returning())
    .get_result(conn)
    .await?;
    seed_tallies(conn, org, &updated).await?;
    let changed: serde_json::Map<String, serde_json::Value> = [
        ("title", json!(row.title), json!(updated.title)),
        (
            "description",
            json!(row.description),
            json!(updated.description),
        ),
        ("target", json!(row.target), json!(updated.target)),
        ("starts_at", json!(row.starts_at), json!(updated.starts_at)),
        ("ends_at", json!(row.ends_at), json!(updated.ends_at)),
        (
            "reward_points",
            json!(row.reward_points),
            json!(updated.reward_points),
        ),
        (
            "reserved_points",
            json!(row.reserved_points),
            json!(updated.reserved_points),
        ),
    ]
    .into_iter()
    .filter(|(_, from, to)| from != to)
    .map(|(field, from, to)| (field.to_string(), json!({ "from": from, "to": to })))
    .collect();
    audit::record(
        conn,
        org,
        audit::Actor::Member(caller.member_id),
        audit::Action::ChallengeChanged,
        Some(("challenge", id)),
        json!({ "changed": changed, "backdated": window.backdated }),
    )
    .await?;
    Ok(updated)
}

/// Cancel a challenge before it starts (the admin, or the team lead who set it for their own
/// team): it never counts or pays, and a team lead's reservation goes back to the budget it
/// came from. Audited (`challenge_cancelled`).
pub async fn cancel(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
) -> AppResult<ChallengeProgress> {
    let org = caller.organisation_id;
    let who = caller.clone();
    let row = db::transaction(conn, move |c| {
        let who = who.clone();
        Box::pin(async move {
            let row = lock_unstarted(c, &who, id).await?;
            rules::release(
                c,
                org,
                row.created_by,
                row.reserved_points,
                row.reserved_period,
            )
            .await?;
            let cancelled: ChallengeRow = diesel::update(
                challenges::table
                    .filter(challenges::organisation_id.eq(org))
                    .filter(challenges::id.eq(id)),
            )
            .set((
                challenges::cancelled_at.eq(diesel::dsl::now),
                challenges::cancelled_by.eq(who.member_id),
            ))
            .returning(ChallengeRow::as_returning())
            .get_result(c)
            .await?;
            audit::record(
                c,
                org,
                audit::Actor::Member(who.member_id),
                audit::Action::ChallengeCancelled,
                Some(("challenge", id)),
                json!({
                    "title": row.title,
                    "starts_at": row.starts_at,
                    "returned_points": row.reserved_points,
                    "returned_to": row.reserved_period.map(|_| row.created_by),
                }),
            )
            .await?;
            Ok(cancelled)
        })
    })
    .await?;
    tracing::info!(organisation_id = %org, challenge = %id, by = %caller.member_id, "challenge cancelled");
    one(conn, org, caller.member_id, row, "cancelled challenge").await
}
