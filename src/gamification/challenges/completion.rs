//! Completing challenges: the fold that moves pending counted activity into tallies, and the
//! exactly-once completion that pays the participants.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::ChallengeRow;
use super::metrics::{IdRow, measure, participants};
use crate::db::{self, Db};
use crate::error::{AppError, AppResult};
use crate::events::{Happened, Kind, SubjectType};
use crate::gamification::badges;
use crate::ledger::{self, Credit, Reason, SourceType};
use crate::schema::{badges as badges_table, challenges};

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
pub(super) async fn complete(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<bool> {
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
        Err(stepped_back @ (AppError::Contention(_) | AppError::LockTimeout(_))) => {
            tracing::debug!(organisation_id = %org, challenge = %id, error = %stepped_back.chain(), "challenge completion deferred");
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
    .set(challenges::completed_at.eq(crate::sql::frontline_now().nullable()))
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
    let completed = Happened::new(Kind::ChallengeCompleted, SubjectType::Challenge, id)
        .to(rewarded.iter().copied())
        .data(serde_json::json!({ "points": row.reward_points, "badge_id": row.reward_badge_id }));
    crate::events::emit(conn, org, &[completed]).await?;
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
struct Folded {
    #[diesel(sql_type = BigInt)]
    folded: i64,
}

/// Organisations with counted activity not yet folded into their challenges' tallies.
pub async fn pending(conn: &mut AsyncPgConnection) -> AppResult<Vec<Uuid>> {
    let rows: Vec<IdRow> =
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
    if !crate::sql::try_advisory_xact_lock(conn, crate::sql::advisory_key("challenge fold", org, 0))
        .await?
    {
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
    let due: Vec<IdRow> = diesel::sql_query(
        "SELECT c.id FROM challenges c \
         WHERE c.organisation_id = $1 AND c.completed_at IS NULL AND c.cancelled_at IS NULL \
           AND c.ends_at > frontline_now() AND c.starts_at <= frontline_now() \
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
