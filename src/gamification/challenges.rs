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
//! participants' leaderboard rows in time (see [`complete`]) the challenge is completed by a
//! later fold, or by the next read of it (`GET /api/v1/challenges`, `.../{id}`,
//! `/api/v1/me/progress`), which measure exactly and complete any started challenge whose
//! window has counted enough, whether or not a fold has run.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rocket::State;
use rocket::form::FromForm;
use rocket::http::Status;
use rocket::serde::json::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use super::badges::{self, Criterion};
use super::challenge_rules as rules;
use crate::audit;
use crate::auth::{Caller, LeadOrAdmin, Role};
use crate::db::{self, Db};
use crate::error::{AppError, AppResult, FieldError};
use crate::http::{Cursor, JsonBody, Page, check, page_limit, path_id, time_param, uuid_param};
use crate::ledger::{self, Credit, Reason, SourceType};
use crate::schema::{badges as badges_table, challenge_tallies, challenges, members, teams};
use crate::validation;
use crate::vocabulary::{Channel, Dimension};

type Problem = crate::error::Problem;

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

/// A challenge's metric, now.
#[derive(Debug, Default, Clone, Copy, QueryableByName)]
struct Measure {
    #[diesel(sql_type = BigInt)]
    progress: i64,
    #[diesel(sql_type = BigInt)]
    participants: i64,
    #[diesel(sql_type = BigInt)]
    contribution: i64,
}

#[derive(QueryableByName)]
struct MemberId {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// How a metric is counted. Parameters: $1 organisation, $2 window start, $3 window end,
/// $4 team (NULL: organisation), $5 dimension (NULL: any), $6 channel (NULL: any).
struct MetricSql {
    /// `FROM ... WHERE ...` over the organisation and the window.
    from: &'static str,
    team: &'static str,
    dimension: &'static str,
    channel: &'static str,
    /// The member an event is credited to.
    participant: &'static str,
    /// When an event happened.
    at: &'static str,
    /// The aggregate that is the progress.
    value: &'static str,
}

fn metric_sql(metric: Metric) -> MetricSql {
    match metric {
        Metric::InitiativesSubmitted => MetricSql {
            from: "FROM initiatives x \
                   WHERE x.organisation_id = $1 AND x.created_at >= $2 AND x.created_at < $3",
            team: "x.team_id = $4",
            dimension: "x.dimension = $5",
            channel: "x.channel = $6",
            participant: "x.author_id",
            at: "x.created_at",
            value: "count(*)",
        },
        Metric::InitiativesApproved => MetricSql {
            from: "FROM initiative_events e \
                   JOIN initiatives x ON x.id = e.initiative_id AND x.organisation_id = e.organisation_id \
                   WHERE e.organisation_id = $1 AND e.kind = 'approved' \
                     AND e.created_at >= $2 AND e.created_at < $3",
            team: "x.team_id = $4",
            dimension: "x.dimension = $5",
            channel: "x.channel = $6",
            participant: "x.author_id",
            at: "e.created_at",
            value: "count(DISTINCT e.initiative_id)",
        },
        Metric::RecognitionsGiven => MetricSql {
            from: "FROM recognitions x \
                   WHERE x.organisation_id = $1 AND x.created_at >= $2 AND x.created_at < $3",
            team: "EXISTS (SELECT 1 FROM team_memberships tm \
                   WHERE tm.organisation_id = $1 AND tm.member_id = x.giver_id AND tm.team_id = $4 \
                     AND tm.started_at <= x.created_at \
                     AND (tm.ended_at IS NULL OR tm.ended_at > x.created_at))",
            dimension: "x.dimension = $5",
            channel: "TRUE",
            participant: "x.giver_id",
            at: "x.created_at",
            value: "count(*)",
        },
        Metric::RecognitionsReceived => MetricSql {
            from: "FROM recognition_recipients x \
                   JOIN recognitions r ON r.id = x.recognition_id AND r.organisation_id = x.organisation_id \
                   WHERE x.organisation_id = $1 AND x.created_at >= $2 AND x.created_at < $3",
            team: "x.team_id = $4",
            dimension: "r.dimension = $5",
            channel: "TRUE",
            participant: "x.member_id",
            at: "x.created_at",
            value: "count(*)",
        },
        Metric::PointsEarned => MetricSql {
            from: "FROM ledger_entries x \
                   WHERE x.organisation_id = $1 AND x.created_at >= $2 AND x.created_at < $3 \
                     AND x.points > 0 AND x.reason <> 'challenge_reward' \
                     AND NOT (x.reason = 'badge' AND x.source_type = 'badge' AND x.source_id IN \
                       (SELECT b.id FROM badges b WHERE b.organisation_id = $1 AND b.criterion = 'challenge'))",
            team: "x.team_id = $4",
            dimension: "x.dimension = $5",
            channel: "TRUE",
            participant: "x.member_id",
            at: "x.created_at",
            value: "sum(x.points)",
        },
    }
}

impl MetricSql {
    fn filtered(&self) -> String {
        format!(
            "{} AND ($4::uuid IS NULL OR {}) AND ($5::text IS NULL OR {}) AND ($6::text IS NULL OR {})",
            self.from, self.team, self.dimension, self.channel
        )
    }
}

/// Compute a challenge's progress, participants and `viewer`'s contribution.
async fn measure(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    row: &ChallengeRow,
    viewer: Option<Uuid>,
) -> AppResult<Measure> {
    let sql = metric_sql(row.metric()?);
    let query = format!(
        "SELECT COALESCE({value}, 0)::bigint AS progress, \
                count(DISTINCT {participant}) AS participants, \
                COALESCE({value} FILTER (WHERE {participant} = $7), 0)::bigint AS contribution \
         {filtered}",
        value = sql.value,
        participant = sql.participant,
        filtered = sql.filtered(),
    );
    Ok(diesel::sql_query(query)
        .bind::<SqlUuid, _>(org)
        .bind::<Timestamptz, _>(row.starts_at)
        .bind::<Timestamptz, _>(row.ends_at)
        .bind::<Nullable<SqlUuid>, _>(row.team_id)
        .bind::<Nullable<Text>, _>(row.dimension.as_deref())
        .bind::<Nullable<Text>, _>(row.channel.as_deref())
        .bind::<Nullable<SqlUuid>, _>(viewer)
        .get_result(conn)
        .await?)
}

/// Active members who contributed at least one counted event, the earliest contributors
/// first, at most `row.reward_slots` of them (a team lead's challenge pays no more members than
/// its reservation covers, however the team grew).
async fn participants(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    row: &ChallengeRow,
) -> AppResult<Vec<Uuid>> {
    let sql = metric_sql(row.metric()?);
    let query = format!(
        "SELECT m.id FROM \
           (SELECT {participant} AS id, min({at}) AS first_at {filtered} GROUP BY 1) p \
         JOIN members m ON m.organisation_id = $1 AND m.id = p.id AND m.deactivated_at IS NULL \
         WHERE m.id IS DISTINCT FROM $8 \
         ORDER BY p.first_at, p.id \
         LIMIT $7",
        participant = sql.participant,
        at = sql.at,
        filtered = sql.filtered(),
    );
    let rows: Vec<MemberId> = diesel::sql_query(query)
        .bind::<SqlUuid, _>(org)
        .bind::<Timestamptz, _>(row.starts_at)
        .bind::<Timestamptz, _>(row.ends_at)
        .bind::<Nullable<SqlUuid>, _>(row.team_id)
        .bind::<Nullable<Text>, _>(row.dimension.as_deref())
        .bind::<Nullable<Text>, _>(row.channel.as_deref())
        .bind::<Nullable<BigInt>, _>(row.reward_slots.map(i64::from))
        // A lead's challenge (the one with reserved slots) never pays the lead who set it.
        .bind::<Nullable<SqlUuid>, _>(row.reward_slots.map(|_| row.created_by))
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Set a challenge's tallies (see the migration `challenge_budgets`) to what its window has
/// counted so far: for a window that starts before its challenge was set or changed, whose
/// earlier activity the triggers never saw.
async fn seed_tallies(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    row: &ChallengeRow,
) -> AppResult<()> {
    diesel::delete(challenge_tallies::table.filter(challenge_tallies::challenge_id.eq(row.id)))
        .execute(conn)
        .await?;
    if row.starts_at > Utc::now() {
        return Ok(());
    }
    let sql = metric_sql(row.metric()?);
    let query = format!(
        "INSERT INTO challenge_tallies (organisation_id, challenge_id, shard, amount) \
         SELECT $1, $7, p.shard, sum(p.v)::bigint FROM \
           (SELECT challenge_shard({participant}) AS shard, COALESCE({value}, 0)::bigint AS v \
            {filtered} GROUP BY {participant}) p \
         GROUP BY p.shard",
        participant = sql.participant,
        value = sql.value,
        filtered = sql.filtered(),
    );
    diesel::sql_query(query)
        .bind::<SqlUuid, _>(org)
        .bind::<Timestamptz, _>(row.starts_at)
        .bind::<Timestamptz, _>(row.ends_at)
        .bind::<Nullable<SqlUuid>, _>(row.team_id)
        .bind::<Nullable<Text>, _>(row.dimension.as_deref())
        .bind::<Nullable<Text>, _>(row.channel.as_deref())
        .bind::<SqlUuid, _>(row.id)
        .execute(conn)
        .await?;
    Ok(())
}

/// How long a completion waits for a lock on the rows its rewards touch (leaderboard rows of
/// the participants, held by their in-flight activity) before it steps back.
const REWARD_LOCK_TIMEOUT: &str = "250ms";

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

/// Complete a challenge whose target is reached, once (see [`complete_now`]). Call inside a
/// transaction; the completion runs in a savepoint of its own.
///
/// The activity's transaction already holds the leaderboard rows of its own points, and the
/// rewards then take the participants' rows: against concurrent activity of the same members
/// that order can deadlock. So the completion waits at most [`REWARD_LOCK_TIMEOUT`] for a lock;
/// when it cannot have one (or is chosen to break a deadlock) it rolls back to its savepoint,
/// the activity itself goes through, and the challenge stays uncompleted for the next activity
/// or read to complete, with no request failing for it.
async fn complete(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<bool> {
    use diesel_async::AsyncConnection;
    let attempt = conn
        .transaction::<_, AppError, _>(async |conn| {
            let previous: Setting = diesel::sql_query(
                "SELECT current_setting('lock_timeout') AS value, \
                        set_config('lock_timeout', $1, true) AS _set",
            )
            .bind::<Text, _>(REWARD_LOCK_TIMEOUT)
            .get_result(conn)
            .await?;
            let done = complete_now(conn, org, id).await?;
            diesel::sql_query("SELECT set_config('lock_timeout', $1, true) AS value")
                .bind::<Text, _>(&previous.value)
                .execute(conn)
                .await?;
            Ok(done)
        })
        .await;
    match attempt {
        Err(AppError::Contention(why)) => {
            tracing::debug!(organisation_id = %org, challenge = %id, %why, "challenge completion deferred");
            Ok(false)
        }
        Err(AppError::Internal(why)) if why.contains("lock timeout") => {
            tracing::debug!(organisation_id = %org, challenge = %id, %why, "challenge completion deferred");
            Ok(false)
        }
        other => other,
    }
}

/// Lock the challenge row, re-check that it is not completed and that the target is reached,
/// mark it, and reward every participant. `false` when there was nothing to do, or another
/// transaction holds the row (it is completing it).
async fn complete_now(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<bool> {
    let row: Option<ChallengeRow> = challenges::table
        .filter(challenges::organisation_id.eq(org))
        .filter(challenges::id.eq(id))
        .filter(challenges::completed_at.is_null())
        .filter(challenges::cancelled_at.is_null())
        .select(ChallengeRow::as_select())
        // Not FOR UPDATE: activity adding to the challenge's tallies holds KEY SHARE on the row
        // (their foreign key), which must not make the completion skip it.
        .for_no_key_update()
        .skip_locked()
        .first(conn)
        .await
        .optional()?;
    let Some(row) = row else {
        return Ok(false);
    };
    let reached = measure(conn, org, &row, None).await?;
    if reached.progress < i64::from(row.target) {
        return Ok(false);
    }
    diesel::update(
        challenges::table
            .filter(challenges::organisation_id.eq(org))
            .filter(challenges::id.eq(id)),
    )
    .set(challenges::completed_at.eq(diesel::dsl::now))
    .execute(conn)
    .await?;
    let rewarded = participants(conn, org, &row).await?;
    // Rewards and badge points go to the ledger in one statement, as every activity's do.
    let mut credits: Vec<Credit> = Vec::new();
    if row.reward_points > 0 {
        credits.extend(rewarded.iter().map(|m| {
            Credit::new(*m, row.reward_points, Reason::ChallengeReward)
                .source(SourceType::Challenge, id)
        }));
    }
    if let Some(badge) = row.reward_badge_id {
        let points: Option<i32> = badges_table::table
            .filter(badges_table::organisation_id.eq(org))
            .filter(badges_table::id.eq(badge))
            .filter(badges_table::active.eq(true))
            .select(badges_table::points)
            .first(conn)
            .await
            .optional()?;
        // A lead's challenge reserved the badge's points as they were at creation: an admin
        // raising them since must not pay past the reservation.
        let reserved_badge = row
            .reward_slots
            .filter(|slots| *slots > 0)
            .map(|slots| (row.reserved_points / slots - row.reward_points).max(0));
        let points = match (points, reserved_badge) {
            (Some(now), Some(reserved)) => Some(now.min(reserved)),
            (points, _) => points,
        };
        if let Some(points) = points {
            for member in &rewarded {
                credits.extend(badges::award(conn, org, *member, badge, points).await?);
            }
        }
    }
    ledger::record(conn, org, credits).await?;
    tracing::info!(
        organisation_id = %org,
        challenge = %id,
        progress = reached.progress,
        rewarded = rewarded.len(),
        "challenge completed"
    );
    Ok(true)
}

/// Pending counted activity moved into the tallies per statement: a backlog (a server that
/// was down) is folded in bounded batches, not in one statement of unbounded size.
const FOLD_BATCH: i64 = 5_000;

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    locked: bool,
}

#[derive(QueryableByName)]
struct Folded {
    #[diesel(sql_type = BigInt)]
    folded: i64,
}

/// Organisations with counted activity not yet folded into their challenges' tallies.
pub async fn pending(conn: &mut AsyncPgConnection) -> AppResult<Vec<Uuid>> {
    let rows: Vec<MemberId> =
        diesel::sql_query("SELECT DISTINCT organisation_id AS id FROM challenge_activity")
            .load(conn)
            .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Move an organisation's pending counted activity (rows the triggers of migration
/// `challenge_activity` leave, one per counted event while a challenge of its metric runs) into
/// the tallies of the challenges it counts for, then complete those whose tallies reached their
/// target. Call inside a transaction; answers the number of challenges completed.
///
/// Activities no longer do this in their own transaction: with 200 running challenges it was
/// up to 200 tally updates per recognition (issue #12 item 2). One fold per organisation and
/// second does the same for every activity of that second in one statement. Any server process
/// may fold; an advisory lock makes it one at a time per organisation (the others skip: rows
/// they would have seen are folded by the next tick). Rows committed while a fold runs stay
/// for the next one, never lost: the fold deletes only the rows it read.
pub async fn fold(conn: &mut AsyncPgConnection, org: Uuid) -> AppResult<usize> {
    let lock: Locked = diesel::sql_query(
        "SELECT pg_try_advisory_xact_lock(hashtextextended('challenge fold ' || $1::text, 0)) \
         AS locked",
    )
    .bind::<SqlUuid, _>(org)
    .get_result(conn)
    .await?;
    if !lock.locked {
        return Ok(0);
    }
    loop {
        // The conditions mirror `metric_sql`: team by the giver's membership at the time for
        // recognitions given, by the row's team otherwise; channel for initiative metrics only.
        let batch: Folded = diesel::sql_query(
            "WITH batch AS ( \
               DELETE FROM challenge_activity WHERE id IN ( \
                 SELECT id FROM challenge_activity WHERE organisation_id = $1 \
                 ORDER BY id LIMIT $2) \
               RETURNING organisation_id, metric, member_id, team_id, dimension, channel, at, \
                         amount), \
             tallied AS ( \
               INSERT INTO challenge_tallies AS t (organisation_id, challenge_id, shard, amount) \
               SELECT c.organisation_id, c.id, challenge_shard(b.member_id), sum(b.amount) \
               FROM batch b \
               JOIN challenges c ON c.organisation_id = b.organisation_id \
                 AND c.metric = b.metric AND c.ends_at > b.at AND c.starts_at <= b.at \
                 AND c.completed_at IS NULL AND c.cancelled_at IS NULL \
                 AND (c.dimension IS NULL OR c.dimension = b.dimension) \
                 AND (c.channel IS NULL \
                      OR b.metric NOT IN ('initiatives_submitted', 'initiatives_approved') \
                      OR c.channel = b.channel) \
                 AND (c.team_id IS NULL OR CASE WHEN b.metric = 'recognitions_given' \
                      THEN EXISTS (SELECT 1 FROM team_memberships tm \
                        WHERE tm.organisation_id = b.organisation_id \
                          AND tm.member_id = b.member_id AND tm.team_id = c.team_id \
                          AND tm.started_at <= b.at \
                          AND (tm.ended_at IS NULL OR tm.ended_at > b.at)) \
                      ELSE c.team_id = b.team_id END) \
               GROUP BY 1, 2, 3 \
               ORDER BY 2, 3 \
               ON CONFLICT (challenge_id, shard) DO UPDATE SET amount = t.amount + EXCLUDED.amount \
               RETURNING 1) \
             SELECT count(*) AS folded FROM batch",
        )
        .bind::<SqlUuid, _>(org)
        .bind::<BigInt, _>(FOLD_BATCH)
        .get_result(conn)
        .await?;
        if batch.folded < FOLD_BATCH {
            break;
        }
    }
    let due: Vec<MemberId> = diesel::sql_query(
        "SELECT c.id FROM challenges c \
         WHERE c.organisation_id = $1 AND c.completed_at IS NULL AND c.cancelled_at IS NULL \
           AND c.ends_at > now() AND c.starts_at <= now() \
           AND c.target <= (SELECT COALESCE(sum(t.amount), 0) FROM challenge_tallies t \
                            WHERE t.challenge_id = c.id) \
         ORDER BY c.id",
    )
    .bind::<SqlUuid, _>(org)
    .load(conn)
    .await?;
    let mut completed = 0;
    for challenge in due {
        if complete(conn, org, challenge.id).await? {
            completed += 1;
        }
    }
    Ok(completed)
}

/// Fold every organisation's pending activity (see [`fold`]), each in a transaction of its
/// own, and drop what this process has cached of an organisation whose challenge completed
/// (its rewards changed the boards). What the server's background task runs every
/// `challenge_fold_interval_ms`.
pub async fn fold_all(db: &Db) -> AppResult<()> {
    let mut conn = db.conn().await?;
    for org in pending(&mut conn).await? {
        let completed = db::transaction(&mut conn, move |c| Box::pin(fold(c, org))).await?;
        if completed > 0 {
            crate::read_cache::wrote(Some(org));
        }
    }
    Ok(())
}

fn view(row: ChallengeRow, m: Measure, now: DateTime<Utc>) -> AppResult<ChallengeProgress> {
    let metric = row.metric()?;
    let scope = ChallengeScope::parse(&row.scope)
        .ok_or_else(|| AppError::internal(format!("unknown challenge scope {}", row.scope)))?;
    let target = i64::from(row.target);
    Ok(ChallengeProgress {
        status: ChallengeStatus::at(row.starts_at, row.ends_at, now),
        percent: if target > 0 {
            (m.progress.saturating_mul(100) / target).clamp(0, 100)
        } else {
            100
        },
        dimension: row
            .dimension
            .as_deref()
            .and_then(|d| Dimension::parse_field(d, "dimension").ok()),
        channel: row
            .channel
            .as_deref()
            .and_then(|c| Channel::parse_field(c, "channel").ok()),
        id: row.id,
        title: row.title,
        description: row.description,
        scope,
        team_id: row.team_id,
        metric,
        target,
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        reward_points: row.reward_points,
        reward_badge_id: row.reward_badge_id,
        created_by: row.created_by,
        created_at: row.created_at,
        completed_at: row.completed_at,
        cancelled_at: row.cancelled_at,
        reserved_points: row.reserved_points,
        reward_slots: row.reward_slots,
        progress: m.progress,
        participants: m.participants,
        contribution: m.contribution,
    })
}

/// Views with live progress. A started, uncompleted challenge whose window has counted enough
/// is completed on the way (see the module documentation: concurrent activities that only
/// together reach a target leave it to the next activity or read).
async fn views(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    viewer: Option<Uuid>,
    rows: Vec<ChallengeRow>,
) -> AppResult<Vec<ChallengeProgress>> {
    let now = Utc::now();
    let mut out = Vec::with_capacity(rows.len());
    for mut row in rows {
        let m = if row.starts_at > now || row.cancelled_at.is_some() {
            Measure::default()
        } else {
            measure(conn, org, &row, viewer).await?
        };
        if row.completed_at.is_none()
            && row.cancelled_at.is_none()
            && row.starts_at <= now
            && m.progress >= i64::from(row.target)
        {
            let id = row.id;
            if db::transaction(conn, move |c| Box::pin(complete(c, org, id))).await? {
                // Rewards went into the ledger during a read: cached boards must go.
                crate::read_cache::wrote(Some(org));
            }
            row.completed_at = challenges::table
                .filter(challenges::organisation_id.eq(org))
                .filter(challenges::id.eq(id))
                .select(challenges::completed_at)
                .first(conn)
                .await?;
        }
        out.push(view(row, m, now)?);
    }
    Ok(out)
}

/// Running challenges that concern a member (their team's and the organisation's), ending
/// soonest first, with progress and the member's contribution.
pub async fn active_for(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
) -> AppResult<Vec<ChallengeProgress>> {
    let team: Option<Uuid> = members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq(member))
        .select(members::team_id)
        .first(conn)
        .await
        .optional()?
        .flatten();
    let now = Utc::now();
    let mut query = challenges::table
        .filter(challenges::organisation_id.eq(org))
        .filter(challenges::cancelled_at.is_null())
        .filter(challenges::ends_at.gt(now))
        .filter(challenges::starts_at.le(now))
        .order((challenges::ends_at.asc(), challenges::id.asc()))
        .select(ChallengeRow::as_select())
        .into_boxed();
    query = match team {
        Some(team) => query.filter(
            challenges::scope
                .eq(ChallengeScope::Organisation.as_str())
                .or(challenges::team_id.eq(team)),
        ),
        None => query.filter(challenges::scope.eq(ChallengeScope::Organisation.as_str())),
    };
    let rows: Vec<ChallengeRow> = query.load(conn).await?;
    views(conn, org, Some(member), rows).await
}

/// Set a challenge. Required: `title`, `scope`, `metric`, `target`, `ends_at`; all missing or
/// invalid fields are reported at once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChallenge {
    /// 1-200 characters, e.g. "20 empathy wins this month".
    #[schema(required = true, value_type = String)]
    pub title: Option<String>,
    /// Up to 2000 characters; line breaks allowed.
    pub description: Option<String>,
    /// `team` (with `team_id`) or `organisation`. Team leads: only `team`, their own.
    #[schema(required = true, value_type = ChallengeScope)]
    pub scope: Option<String>,
    /// The team, with `scope` `team`.
    #[schema(value_type = Option<Uuid>)]
    pub team_id: Option<String>,
    #[schema(required = true, value_type = Metric)]
    pub metric: Option<String>,
    /// Count only activity in this CX dimension.
    #[schema(value_type = Option<Dimension>)]
    pub dimension: Option<String>,
    /// Count only initiatives from this channel (initiative metrics only).
    #[schema(value_type = Option<Channel>)]
    pub channel: Option<String>,
    /// 1-10000000.
    #[schema(required = true, value_type = i64, minimum = 1, maximum = 10000000)]
    pub target: Option<i64>,
    /// RFC 3339; now when absent. Not in the past (up to a minute behind is taken as now),
    /// except for admins, who may backdate (activity since then counts; audited); within 365
    /// days.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<String>,
    /// RFC 3339, exclusive; after `starts_at`, in the future, at most 92 days after the start.
    #[schema(required = true, value_type = String, format = DateTime)]
    pub ends_at: Option<String>,
    /// Points for every participant on completion, 0-100000 (default 0) and at most the
    /// organisation's `challenge_reward_cap`. A team lead's reserves this (plus the badge's
    /// points) times the team's active members from their monthly recognition budget.
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 100000)]
    pub reward_points: Option<i64>,
    /// A badge of the organisation with criterion `challenge`, awarded to every participant.
    #[schema(value_type = Option<Uuid>)]
    pub reward_badge_id: Option<String>,
}

/// Set a challenge (admins for any team or the organisation; team leads for their own team,
/// paid from their monthly recognition budget). Audited (`challenge_created`). Answers the
/// challenge with its progress so far: a window an admin backdated counts what happened since.
#[utoipa::path(
    post, path = "/api/v1/challenges", tag = "gamification", operation_id = "create_challenge",
    security(("bearer" = [])),
    request_body = CreateChallenge,
    responses(
        (status = 201, description = "Set", body = ChallengeProgress),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, or a team lead setting one for another team or the organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The lead's budget cannot cover the reward, or the organisation or team has as many open challenges as it may", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; every offending field is named", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable or too busy", body = Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::post("/api/v1/challenges", data = "<body>")]
pub async fn create_challenge(
    db: &State<Db>,
    caller: LeadOrAdmin,
    body: JsonBody<CreateChallenge>,
) -> AppResult<(Status, Json<ChallengeProgress>)> {
    let req = body.0;
    let org = caller.organisation_id;
    let mut e = Vec::new();
    let scope = validation::required("scope", req.scope.as_deref(), &mut e).and_then(|s| {
        let parsed = ChallengeScope::parse(s.trim());
        if parsed.is_none() {
            e.push(FieldError::new("scope", "must be team or organisation"));
        }
        parsed
    });
    let team_id = uuid_param("team_id", req.team_id.as_deref(), &mut e);
    // Who may set what comes first: a team lead is told "not yours", not "invalid".
    if caller.is(Role::TeamLead) {
        let own = caller.team_id.is_some() && team_id == caller.team_id;
        if scope == Some(ChallengeScope::Organisation) || (team_id.is_some() && !own) {
            return Err(AppError::Forbidden(
                "team leads may set challenges only for their own team".into(),
            ));
        }
    }
    let title = validation::required("title", req.title, &mut e)
        .map(|t| validation::text("title", &t, MAX_TITLE, &mut e));
    let description = req
        .description
        .map(|d| validation::long_text("description", &d, MAX_DESCRIPTION, false, &mut e))
        .unwrap_or_default();
    match (scope, req.team_id.is_some()) {
        (Some(ChallengeScope::Team), false) => {
            e.push(FieldError::new("team_id", "is required with scope team"));
        }
        (Some(ChallengeScope::Organisation), true) => e.push(FieldError::new(
            "team_id",
            "applies only to scope team; leave it out for the organisation",
        )),
        _ => {}
    }
    let metric = validation::required("metric", req.metric.as_deref(), &mut e).and_then(|m| {
        let parsed = Metric::parse(m.trim());
        if parsed.is_none() {
            e.push(FieldError::new(
                "metric",
                format!(
                    "must be one of {}",
                    Metric::ALL.map(Metric::as_str).join(", ")
                ),
            ));
        }
        parsed
    });
    let dimension = req.dimension.as_deref().and_then(|d| {
        Dimension::parse_field(d.trim(), "dimension")
            .map_err(|x| e.push(x))
            .ok()
    });
    let channel = req.channel.as_deref().and_then(|c| {
        Channel::parse_field(c.trim(), "channel")
            .map_err(|x| e.push(x))
            .ok()
    });
    if req.channel.is_some() && metric.is_some_and(|m| !m.about_initiatives()) {
        e.push(FieldError::new(
            "channel",
            "applies only to initiatives_submitted and initiatives_approved",
        ));
    }
    let target = validation::required("target", req.target, &mut e).and_then(|t| {
        if (1..=MAX_TARGET).contains(&t) {
            i32::try_from(t).ok()
        } else {
            e.push(FieldError::new(
                "target",
                format!("must be a whole number from 1 to {MAX_TARGET}"),
            ));
            None
        }
    });
    let reward_points = match req.reward_points {
        None => Some(0),
        Some(p) if (0..=MAX_REWARD_POINTS).contains(&p) => i32::try_from(p).ok(),
        Some(_) => {
            e.push(FieldError::new(
                "reward_points",
                format!("must be a whole number from 0 to {MAX_REWARD_POINTS}"),
            ));
            None
        }
    };
    let now = Utc::now();
    let starts_at = match req.starts_at.as_deref() {
        None => Some(now),
        Some(raw) => time_param("starts_at", Some(raw), &mut e),
    };
    let ends_at = validation::required("ends_at", req.ends_at.as_deref(), &mut e)
        .and_then(|raw| time_param("ends_at", Some(raw), &mut e));
    let window = rules::window(starts_at, ends_at, now, caller.is(Role::Admin), &mut e);
    let reward_badge_id = uuid_param("reward_badge_id", req.reward_badge_id.as_deref(), &mut e);

    let mut conn = db.conn().await?;
    if let Some(reward) = reward_points {
        let cap = ledger::rules::load(&mut conn, org)
            .await?
            .challenge_reward_cap;
        rules::reward_within_cap(reward, cap, &mut e);
    }
    if let Some(team) = team_id
        && scope == Some(ChallengeScope::Team)
    {
        let archived: Option<Option<DateTime<Utc>>> = teams::table
            .filter(teams::organisation_id.eq(org))
            .filter(teams::id.eq(team))
            .select(teams::archived_at)
            .first(&mut conn)
            .await
            .optional()?;
        match archived {
            None => e.push(FieldError::new(
                "team_id",
                "no team with that id in your organisation",
            )),
            Some(Some(_)) => e.push(FieldError::new(
                "team_id",
                "that team is archived; choose a live team",
            )),
            Some(None) => {}
        }
    }
    if let Some(badge) = reward_badge_id {
        let found: Option<(String, bool)> = badges_table::table
            .filter(badges_table::organisation_id.eq(org))
            .filter(badges_table::id.eq(badge))
            .select((badges_table::criterion, badges_table::active))
            .first(&mut conn)
            .await
            .optional()?;
        match found {
            None => e.push(FieldError::new(
                "reward_badge_id",
                "no badge with that id in your organisation",
            )),
            Some((criterion, _)) if criterion != Criterion::Challenge.as_str() => {
                e.push(FieldError::new(
                    "reward_badge_id",
                    "must be a badge with criterion challenge (awarded only by challenges)",
                ))
            }
            Some((_, false)) => e.push(FieldError::new(
                "reward_badge_id",
                "that badge is inactive; activate it or choose another",
            )),
            Some(_) => {}
        }
    }
    check(e)?;
    let (Some(scope), Some(title), Some(metric), Some(target), Some(reward_points), Some(window)) =
        (scope, title, metric, target, reward_points, window)
    else {
        return Err(AppError::internal("validated challenge lacks a field"));
    };
    let Some(ends_at) = ends_at else {
        return Err(AppError::internal("validated challenge lacks ends_at"));
    };
    let new = NewChallenge {
        org,
        by: caller.member_id,
        by_lead: caller.is(Role::TeamLead),
        title,
        description,
        scope,
        team_id: team_id.filter(|_| scope == ChallengeScope::Team),
        metric,
        dimension: dimension.map(|d| d.as_str()),
        channel: channel.map(|c| c.as_str()),
        target,
        starts_at: window.starts_at,
        ends_at,
        backdated: window.backdated,
        reward_points,
        reward_badge_id,
    };
    let row = db::transaction(&mut conn, move |c| {
        let new = new.clone();
        Box::pin(async move { insert(c, new).await })
    })
    .await?;
    tracing::info!(organisation_id = %org, challenge = %row.id, by = %caller.member_id, metric = %row.metric, "challenge set");
    let mut created = views(&mut conn, org, Some(caller.member_id), vec![row]).await?;
    let created = created
        .pop()
        .ok_or_else(|| AppError::internal("created challenge has no view"))?;
    Ok((Status::Created, Json(created)))
}

/// A validated challenge, to insert.
#[derive(Debug, Clone)]
struct NewChallenge {
    org: Uuid,
    by: Uuid,
    by_lead: bool,
    title: String,
    description: String,
    scope: ChallengeScope,
    team_id: Option<Uuid>,
    metric: Metric,
    dimension: Option<&'static str>,
    channel: Option<&'static str>,
    target: i32,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    backdated: bool,
    reward_points: i32,
    reward_badge_id: Option<Uuid>,
}

/// Insert a challenge within the organisation's and team's caps, reserve a team lead's reward
/// from their budget, seed its tallies and audit it, in one transaction.
async fn insert(conn: &mut AsyncPgConnection, new: NewChallenge) -> AppResult<ChallengeRow> {
    let org = new.org;
    rules::lock_organisation(conn, org).await?;
    rules::check_room(conn, org, new.team_id).await?;
    let reservation = match (new.by_lead, new.team_id) {
        (true, Some(team)) => {
            let per_member = new
                .reward_points
                .saturating_add(rules::badge_points(conn, org, new.reward_badge_id).await?);
            Some(rules::reserve(conn, org, new.by, team, per_member).await?)
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
            challenges::created_by.eq(new.by),
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
        audit::Actor::Member(new.by),
        audit::Action::ChallengeCreated,
        Some(("challenge", row.id)),
        serde_json::json!({
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

/// Change a challenge before it starts. Every field is optional; what is given is checked as
/// on creation.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChallenge {
    /// 1-200 characters.
    pub title: Option<String>,
    /// Up to 2000 characters; line breaks allowed.
    pub description: Option<String>,
    /// 1-10000000.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 10000000)]
    pub target: Option<i64>,
    /// RFC 3339; not in the past (admins may backdate; audited).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<String>,
    /// RFC 3339, exclusive; after `starts_at`, at most 92 days after it.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<String>,
    /// 0-100000 and at most the organisation's `challenge_reward_cap`. A team lead's challenge
    /// gives its reservation back and reserves the new reward for the team's active members.
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 100000)]
    pub reward_points: Option<i64>,
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
#[utoipa::path(
    patch, path = "/api/v1/challenges/{id}", tag = "gamification", operation_id = "update_challenge",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Challenge id")),
    request_body = UpdateChallenge,
    responses(
        (status = 200, description = "Changed", body = ChallengeProgress),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, nor the team lead who set it for their own team", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It has started or is cancelled, or the lead's budget cannot cover the new reward", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; every offending field is named", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable or too busy", body = Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::patch("/api/v1/challenges/<id>", data = "<body>")]
pub async fn update_challenge(
    db: &State<Db>,
    caller: LeadOrAdmin,
    id: &str,
    body: JsonBody<UpdateChallenge>,
) -> AppResult<Json<ChallengeProgress>> {
    let id = path_id(id, "challenge")?;
    let req = body.0;
    let mut e = Vec::new();
    let title = req
        .title
        .as_deref()
        .map(|t| validation::text("title", t, MAX_TITLE, &mut e));
    let description = req
        .description
        .as_deref()
        .map(|d| validation::long_text("description", d, MAX_DESCRIPTION, false, &mut e));
    let target = req.target.and_then(|t| {
        if (1..=MAX_TARGET).contains(&t) {
            i32::try_from(t).ok()
        } else {
            e.push(FieldError::new(
                "target",
                format!("must be a whole number from 1 to {MAX_TARGET}"),
            ));
            None
        }
    });
    let reward_points = req.reward_points.and_then(|p| {
        if (0..=MAX_REWARD_POINTS).contains(&p) {
            i32::try_from(p).ok()
        } else {
            e.push(FieldError::new(
                "reward_points",
                format!("must be a whole number from 0 to {MAX_REWARD_POINTS}"),
            ));
            None
        }
    });
    let starts_at = time_param("starts_at", req.starts_at.as_deref(), &mut e);
    let ends_at = time_param("ends_at", req.ends_at.as_deref(), &mut e);
    check(e)?;
    let change = Change {
        title,
        description,
        target,
        starts_at,
        ends_at,
        reward_points,
    };
    let org = caller.organisation_id;
    let who = caller.0.clone();
    let mut conn = db.conn().await?;
    let row = db::transaction(&mut conn, move |c| {
        let (who, change) = (who.clone(), change.clone());
        Box::pin(async move { apply(c, &who, id, change).await })
    })
    .await?;
    tracing::info!(organisation_id = %org, challenge = %row.id, by = %caller.member_id, "challenge changed");
    views(&mut conn, org, Some(caller.member_id), vec![row])
        .await?
        .pop()
        .map(Json)
        .ok_or_else(|| AppError::internal("changed challenge has no view"))
}

/// The fields of an [`UpdateChallenge`] that parsed.
#[derive(Debug, Clone)]
struct Change {
    title: Option<String>,
    description: Option<String>,
    target: Option<i32>,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    reward_points: Option<i32>,
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
    let mut changed = serde_json::Map::new();
    let mut note = |field: &str, from: serde_json::Value, to: serde_json::Value| {
        if from != to {
            changed.insert(field.into(), serde_json::json!({ "from": from, "to": to }));
        }
    };
    note(
        "title",
        row.title.clone().into(),
        updated.title.clone().into(),
    );
    note(
        "description",
        row.description.clone().into(),
        updated.description.clone().into(),
    );
    note("target", row.target.into(), updated.target.into());
    note(
        "starts_at",
        serde_json::json!(row.starts_at),
        serde_json::json!(updated.starts_at),
    );
    note(
        "ends_at",
        serde_json::json!(row.ends_at),
        serde_json::json!(updated.ends_at),
    );
    note(
        "reward_points",
        row.reward_points.into(),
        updated.reward_points.into(),
    );
    note(
        "reserved_points",
        row.reserved_points.into(),
        updated.reserved_points.into(),
    );
    audit::record(
        conn,
        org,
        audit::Actor::Member(caller.member_id),
        audit::Action::ChallengeChanged,
        Some(("challenge", id)),
        serde_json::json!({ "changed": changed, "backdated": window.backdated }),
    )
    .await?;
    Ok(updated)
}

/// Cancel a challenge before it starts (the admin, or the team lead who set it for their own
/// team): it never counts or pays, and a team lead's reservation goes back to the budget it
/// came from. Audited (`challenge_cancelled`).
#[utoipa::path(
    post, path = "/api/v1/challenges/{id}/cancel", tag = "gamification", operation_id = "cancel_challenge",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Challenge id")),
    responses(
        (status = 200, description = "Cancelled", body = ChallengeProgress),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, nor the team lead who set it for their own team", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It has started or is already cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable or too busy", body = Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::post("/api/v1/challenges/<id>/cancel")]
pub async fn cancel_challenge(
    db: &State<Db>,
    caller: LeadOrAdmin,
    id: &str,
) -> AppResult<Json<ChallengeProgress>> {
    let id = path_id(id, "challenge")?;
    let org = caller.organisation_id;
    let who = caller.0.clone();
    let mut conn = db.conn().await?;
    let row = db::transaction(&mut conn, move |c| {
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
                serde_json::json!({
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
    views(&mut conn, org, Some(caller.member_id), vec![row])
        .await?
        .pop()
        .map(Json)
        .ok_or_else(|| AppError::internal("cancelled challenge has no view"))
}

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `active` (default: running now, ending soonest first), `upcoming` (starting soonest
    /// first) or `past` (ended most recently first). Completed challenges stay in their
    /// window's list.
    pub status: Option<String>,
    /// Only this team's challenges.
    pub team_id: Option<String>,
    /// Page size, 1-200 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page (with the same `status`).
    pub cursor: Option<String>,
}

/// The organisation's challenges with live progress (any member), cursor-paginated.
#[utoipa::path(
    get, path = "/api/v1/challenges", tag = "gamification", operation_id = "list_challenges",
    security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, body = Page<ChallengeProgress>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is invalid; it is named", body = Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::get("/api/v1/challenges?<params..>")]
pub async fn list_challenges(
    db: &State<Db>,
    caller: Caller,
    params: ListParams,
) -> AppResult<Json<Page<ChallengeProgress>>> {
    let mut e = Vec::new();
    let status = match params.status.as_deref().map(str::trim) {
        None => Some(ChallengeStatus::Active),
        Some(s) => {
            let parsed = ChallengeStatus::parse(s);
            if parsed.is_none() {
                e.push(FieldError::new(
                    "status",
                    "must be active, upcoming or past",
                ));
            }
            parsed
        }
    };
    let team = uuid_param("team_id", params.team_id.as_deref(), &mut e);
    let limit = page_limit(params.limit.as_deref(), &mut e);
    let cursor = Cursor::decode(params.cursor.as_deref(), &mut e);
    let after = cursor.as_ref().and_then(|c| {
        DateTime::parse_from_rfc3339(&c.key)
            .map(|t| (t.with_timezone(&Utc), c.id))
            .map_err(|_| {
                e.push(FieldError::new(
                    "cursor",
                    "is not a cursor this API returned; start again without it",
                ))
            })
            .ok()
    });
    check(e)?;
    let Some(status) = status else {
        return Err(AppError::internal("validated status missing"));
    };
    let org = caller.organisation_id;
    let now = Utc::now();
    let mut query = challenges::table
        .filter(challenges::organisation_id.eq(org))
        .filter(challenges::cancelled_at.is_null())
        .select(ChallengeRow::as_select())
        .limit(limit + 1)
        .into_boxed();
    if let Some(team) = team {
        query = query.filter(challenges::team_id.eq(team));
    }
    query = match status {
        ChallengeStatus::Active => {
            let q = query
                .filter(challenges::starts_at.le(now))
                .filter(challenges::ends_at.gt(now))
                .order((challenges::ends_at.asc(), challenges::id.asc()));
            match after {
                Some((t, id)) => q.filter(
                    challenges::ends_at
                        .gt(t)
                        .or(challenges::ends_at.eq(t).and(challenges::id.gt(id))),
                ),
                None => q,
            }
        }
        ChallengeStatus::Upcoming => {
            let q = query
                .filter(challenges::starts_at.gt(now))
                .order((challenges::starts_at.asc(), challenges::id.asc()));
            match after {
                Some((t, id)) => q.filter(
                    challenges::starts_at
                        .gt(t)
                        .or(challenges::starts_at.eq(t).and(challenges::id.gt(id))),
                ),
                None => q,
            }
        }
        ChallengeStatus::Past => {
            let q = query
                .filter(challenges::ends_at.le(now))
                .order((challenges::ends_at.desc(), challenges::id.desc()));
            match after {
                Some((t, id)) => q.filter(
                    challenges::ends_at
                        .lt(t)
                        .or(challenges::ends_at.eq(t).and(challenges::id.lt(id))),
                ),
                None => q,
            }
        }
    };
    let mut conn = db.conn().await?;
    let mut rows: Vec<ChallengeRow> = query.load(&mut conn).await?;
    // Only the page is measured; the extra row only tells that more exist.
    let more = usize::try_from(limit).is_ok_and(|l| rows.len() > l);
    let extra = if more { rows.pop() } else { None };
    let mut items = views(&mut conn, org, Some(caller.member_id), rows).await?;
    if let Some(row) = extra {
        items.push(view(row, Measure::default(), now)?);
    }
    Ok(Json(Page::from_rows(
        items,
        limit,
        |c: &ChallengeProgress| {
            let key = match status {
                ChallengeStatus::Upcoming => c.starts_at,
                ChallengeStatus::Active | ChallengeStatus::Past => c.ends_at,
            };
            Cursor {
                key: key.to_rfc3339_opts(SecondsFormat::Micros, true),
                id: c.id,
            }
        },
    )))
}

/// One challenge with its live progress (any member of the organisation).
#[utoipa::path(
    get, path = "/api/v1/challenges/{id}", tag = "gamification", operation_id = "show_challenge",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Challenge id")),
    responses(
        (status = 200, body = ChallengeProgress),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::get("/api/v1/challenges/<id>")]
pub async fn show_challenge(
    db: &State<Db>,
    caller: Caller,
    id: &str,
) -> AppResult<Json<ChallengeProgress>> {
    let id = path_id(id, "challenge")?;
    let org = caller.organisation_id;
    let mut conn = db.conn().await?;
    let row: ChallengeRow = challenges::table
        .filter(challenges::organisation_id.eq(org))
        .filter(challenges::id.eq(id))
        .select(ChallengeRow::as_select())
        .first(&mut conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("challenge"))?;
    views(&mut conn, org, Some(caller.member_id), vec![row])
        .await?
        .pop()
        .map(Json)
        .ok_or_else(|| AppError::internal("challenge has no view"))
}

/// The challenges operations, merged into the service's OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(
    create_challenge,
    list_challenges,
    show_challenge,
    update_challenge,
    cancel_challenge
))]
pub struct ChallengesApi;

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![
        create_challenge,
        list_challenges,
        show_challenge,
        update_challenge,
        cancel_challenge
    ]
}
