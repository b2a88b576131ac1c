//! How each metric is counted: one SQL description per metric ([`metric_sql`]), from which a
//! challenge's exact progress, its participants and its tallies' seed are computed.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{ChallengeRow, Metric};
use crate::error::AppResult;
use crate::schema::challenge_tallies;

/// A challenge's metric, now.
#[derive(Debug, Default, Clone, Copy, QueryableByName)]
pub(super) struct Measure {
    #[diesel(sql_type = BigInt)]
    pub(super) progress: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) participants: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) contribution: i64,
}

/// One `id` column: a member, a challenge or an organisation, as the query names it.
#[derive(QueryableByName)]
pub(super) struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    pub(super) id: Uuid,
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

/// Taken-back activity does not count: undone and hidden recognitions, reversed entries (the
/// migration `taken_back_activity` takes them out of the tallies the same way).
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
            // A celebration has no giver: nobody gave it.
            from: "FROM recognitions x \
                   WHERE x.organisation_id = $1 AND x.created_at >= $2 AND x.created_at < $3 \
                     AND x.giver_id IS NOT NULL AND x.undone_at IS NULL AND x.hidden_at IS NULL",
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
                   WHERE x.organisation_id = $1 AND x.created_at >= $2 AND x.created_at < $3 \
                     AND r.undone_at IS NULL AND r.hidden_at IS NULL",
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
                     AND x.points > 0 AND x.reason NOT IN ('challenge_reward', 'redemption') \
                     AND NOT (x.reason = 'badge' AND x.source_type = 'badge' AND x.source_id IN \
                       (SELECT b.id FROM badges b WHERE b.organisation_id = $1 AND b.criterion = 'challenge')) \
                     AND NOT EXISTS (SELECT 1 FROM ledger_entries rv \
                       WHERE rv.reverses = x.id AND rv.reason = 'reversal')",
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
pub(super) async fn measure(
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
pub(super) async fn participants(
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
    let rows: Vec<IdRow> = diesel::sql_query(query)
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
pub(super) async fn seed_tallies(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    row: &ChallengeRow,
) -> AppResult<()> {
    diesel::delete(challenge_tallies::table.filter(challenge_tallies::challenge_id.eq(row.id)))
        .execute(conn)
        .await?;
    if row.starts_at > crate::sql::now(conn).await? {
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
