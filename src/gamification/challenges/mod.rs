//! Challenges: time-boxed goals for a team or the organisation ("20 empathy wins this month"),
//! set by an admin (any scope) or a team lead (their own team), with live progress and a
//! reward of points and a badge for everyone who took part, granted once on completion.
//!
//! What counts, over the window `[starts_at, ends_at)`:
//! - `initiatives_submitted`: initiatives created; team scope: the team the author was in when
//!   submitting (`initiatives.team_id`). Participants: their authors.
//! - `initiatives_approved`: approvals (`initiative_events.kind = 'approved'`, each initiative
//!   once); team: the initiative's team. Participants: the initiatives' authors.
//! - `recognitions_given`: recognitions given; team scope: those whose giver was in the team when
//!   giving (team membership history), as every other metric counts by the team at the time.
//!   Participants: the givers.
//! - `recognitions_received`: recognised members, one per recipient of a recognition; team: the
//!   recipient's team when recognised. Participants: the recipients.
//! - `points_earned`: the sum of positive ledger entries (reversals do not subtract);
//!   team: the member's team when earned. Rewards of challenges (`challenge_reward` entries and
//!   the points of challenge badges) never count. Participants: members with such entries.
//!
//! `dimension` narrows every metric to that CX dimension (of the initiative, the recognition or
//! the ledger entry); `channel` applies to initiative metrics only.
//!
//! Bounds (issue #12: who may set what, windows, caps, a lead's reward reserved from their
//! budget, change and cancel before the start) are in `challenge_rules`.
//!
//! Writes do not measure any challenge: while a challenge of its metric runs, each counted
//! activity leaves one row in `challenge_activity` (migration `challenge_activity`), and a
//! moment later (every `challenge_fold_interval_ms`, default one second, by any server process)
//! [`fold`] moves those rows into per-challenge tallies in one statement and measures only the
//! challenges whose tallies reached their target.
//!
//! Completion happens in the fold after the activity that reaches the target: the challenge
//! row is locked, its
//! `completed_at` re-checked, then set, and every participant (active members who contributed
//! at least one counted event so far; for a team lead's challenge at most `reward_slots` of
//! them, the earliest contributors first) gets `reward_points` (one `challenge_reward` ledger
//! entry) and the reward badge. Exactly once however many requests race: the row lock and the
//! `completed_at` check make it so. A transaction that finds the row locked skips it (the holder
//! is completing it), so racing requests neither wait on each other nor deadlock there.
//!
//! A completion may be left for later, never lost: when the rewards cannot lock the
//! participants' leaderboard rows in time (see `completion::complete`) the challenge is completed by a
//! later fold, or by the next read of it (`GET /api/v1/challenges`, `.../{id}`,
//! `/api/v1/me/progress`), which measure exactly and complete any started challenge whose
//! window has counted enough, whether or not a fold has run.

mod completion;
mod input;
mod metrics;
pub mod routes;
mod views;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use self::metrics::seed_tallies;
use self::views::one;
use super::challenge_rules as rules;
use crate::audit;
use crate::auth::{Caller, Role};
use crate::db;
use crate::error::{AppError, AppResult};
use crate::http::check;
use crate::ledger;
use crate::schema::challenges;
use crate::vocabulary::{Channel, Dimension};

pub use completion::{fold, fold_all, pending};
pub use input::{Change, CreateChallenge, ListParams, ListQuery, NewChallenge, UpdateChallenge};
pub use routes::{ChallengesApi, routes};
pub use views::{active_for, find, list};

pub const MAX_TITLE: usize = 200;
pub const MAX_DESCRIPTION: usize = 2000;
pub const MAX_TARGET: i64 = 10_000_000;
pub const MAX_REWARD_POINTS: i64 = 100_000;

/// Whose activity a challenge counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeScope {
    /// One team's (`team_id`): activity credited to the team at the time.
    Team,
    /// Everyone's in the organisation.
    Organisation,
}

impl ChallengeScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeScope::Team => "team",
            ChallengeScope::Organisation => "organisation",
        }
    }

    pub fn parse(s: &str) -> Option<ChallengeScope> {
        [ChallengeScope::Team, ChallengeScope::Organisation]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// What a challenge counts (see the module documentation for each one's exact meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Initiatives submitted in the window.
    InitiativesSubmitted,
    /// Initiatives approved in the window.
    InitiativesApproved,
    /// Recognitions given in the window.
    RecognitionsGiven,
    /// Recognitions received in the window (one per recipient).
    RecognitionsReceived,
    /// Points earned in the window (challenge rewards excluded).
    PointsEarned,
}

impl Metric {
    pub const ALL: [Metric; 5] = [
        Metric::InitiativesSubmitted,
        Metric::InitiativesApproved,
        Metric::RecognitionsGiven,
        Metric::RecognitionsReceived,
        Metric::PointsEarned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::InitiativesSubmitted => "initiatives_submitted",
            Metric::InitiativesApproved => "initiatives_approved",
            Metric::RecognitionsGiven => "recognitions_given",
            Metric::RecognitionsReceived => "recognitions_received",
            Metric::PointsEarned => "points_earned",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }

    fn about_initiatives(self) -> bool {
        matches!(
            self,
            Metric::InitiativesSubmitted | Metric::InitiativesApproved
        )
    }
}

/// Where a challenge's window stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeStatus {
    /// Starts later.
    Upcoming,
    /// Running: `starts_at <= now < ends_at` (completed or not).
    Active,
    /// Ended (completed or not).
    Past,
}

impl ChallengeStatus {
    fn parse(s: &str) -> Option<ChallengeStatus> {
        match s {
            "upcoming" => Some(ChallengeStatus::Upcoming),
            "active" => Some(ChallengeStatus::Active),
            "past" => Some(ChallengeStatus::Past),
            _ => None,
        }
    }

    fn at(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        if now < starts_at {
            ChallengeStatus::Upcoming
        } else if now < ends_at {
            ChallengeStatus::Active
        } else {
            ChallengeStatus::Past
        }
    }
}

/// A challenge with its live progress.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChallengeProgress {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub scope: ChallengeScope,
    /// The team, for team challenges.
    pub team_id: Option<Uuid>,
    pub metric: Metric,
    /// Only activity in this CX dimension counts.
    pub dimension: Option<Dimension>,
    /// Only initiatives from this channel count (initiative metrics).
    pub channel: Option<Channel>,
    /// What `progress` must reach.
    pub target: i64,
    /// The window is `[starts_at, ends_at)`.
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Granted to every participant on completion.
    pub reward_points: i32,
    /// Awarded to every participant on completion.
    pub reward_badge_id: Option<Uuid>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub status: ChallengeStatus,
    /// When the target was reached and the rewards granted; absent until then.
    pub completed_at: Option<DateTime<Utc>>,
    /// When it was cancelled (before it started); a cancelled challenge never counts or pays.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// What a team lead's challenge reserved from their monthly recognition budget
    /// (`reward_points` plus the badge's points, times the team's active members at the time).
    pub reserved_points: i32,
    /// The most participants a team lead's challenge pays (the team's active members when the
    /// reward was reserved), the earliest contributors first; absent for admins' challenges.
    pub reward_slots: Option<i32>,
    /// The metric over the window and scope, live: it keeps counting after completion until
    /// the window ends, and may exceed `target`.
    pub progress: i64,
    /// `progress` as a percentage of `target`, capped at 100.
    pub percent: i64,
    /// Members who contributed at least one counted event so far.
    pub participants: i64,
    /// The caller's own share of `progress`.
    pub contribution: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = challenges)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct ChallengeRow {
    id: Uuid,
    title: String,
    description: String,
    scope: String,
    team_id: Option<Uuid>,
    metric: String,
    dimension: Option<String>,
    channel: Option<String>,
    target: i32,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    reward_points: i32,
    reward_badge_id: Option<Uuid>,
    created_by: Uuid,
    completed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    reserved_points: i32,
    reserved_period: Option<NaiveDate>,
    reward_slots: Option<i32>,
    cancelled_at: Option<DateTime<Utc>>,
}

impl ChallengeRow {
    fn metric(&self) -> AppResult<Metric> {
        Metric::parse(&self.metric)
            .ok_or_else(|| AppError::internal(format!("unknown challenge metric {}", self.metric)))
    }
}

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
    if row.starts_at <= Utc::now() {
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
    let now = Utc::now();
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
