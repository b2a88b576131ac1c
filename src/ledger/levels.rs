//! Levels reached: after a write that paid points, the members whose lifetime total crossed a
//! level's threshold are told (`level.reached`, once per member and level, ever: a level
//! crossed again after a reversal is not reached again). One statement, after the entries'
//! own: their statement-level trigger has already added them to the members' all-time board
//! rows, so the total after is that row and the total before is it minus what was added.

use diesel::sql_types::{Array, BigInt, Integer, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::AppResult;
use crate::events::{self, Happened, Kind, SubjectType};
use crate::sql::Prepared;

/// `$2`/`$3`: the members paid and their points. The all-time, every-dimension board row
/// (`period = 'all'`, `period_start` 1970-01-01, `dimension = ''`) holds the total after.
const CROSSED: &str = "\
WITH added AS (
    SELECT member_id, sum(points)::bigint AS pts
    FROM unnest($2::uuid[], $3::int4[]) c(member_id, points) GROUP BY 1
), totals AS (
    SELECT a.member_id, p.points AS pts_after, p.points - a.pts AS pts_before
    FROM added a
    JOIN member_period_points p ON p.organisation_id = $1 AND p.period = 'all'
        AND p.period_start = DATE '1970-01-01' AND p.dimension = '' AND p.member_id = a.member_id
), crossed AS (
    SELECT n.member_id, (l->>'points')::bigint AS level_points, l->>'name' AS level_name
    FROM totals n, level_settings s, jsonb_array_elements(s.levels) l
    WHERE s.organisation_id = $1
      AND (l->>'points')::bigint > n.pts_before AND (l->>'points')::bigint <= n.pts_after
      AND (l->>'points')::bigint > 0
)
INSERT INTO member_levels_reached (organisation_id, member_id, level_points, level_name)
SELECT $1, member_id, level_points, level_name FROM crossed ORDER BY member_id, level_points
ON CONFLICT DO NOTHING
RETURNING member_id, level_points, level_name";

#[derive(diesel::QueryableByName)]
struct Reached {
    #[diesel(sql_type = SqlUuid)]
    member_id: Uuid,
    #[diesel(sql_type = BigInt)]
    level_points: i64,
    #[diesel(sql_type = Text)]
    level_name: String,
}

/// Record the levels that paying `members` the `points` beside them (what boards and levels
/// count: positive, not redemptions) made them reach, and tell them (the highest, when one
/// write crossed several). In the caller's transaction, after the entries were written.
pub async fn reached(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    members: &[Uuid],
    points: &[i32],
) -> AppResult<()> {
    if members.is_empty() {
        return Ok(());
    }
    let rows: Vec<Reached> = Prepared(
        diesel::sql_query(CROSSED)
            .bind::<SqlUuid, _>(org)
            .bind::<Array<SqlUuid>, _>(members)
            .bind::<Array<Integer>, _>(points),
    )
    .load(conn)
    .await?;
    let mut highest: std::collections::BTreeMap<Uuid, Reached> = Default::default();
    for r in rows {
        if highest
            .get(&r.member_id)
            .is_none_or(|h| h.level_points < r.level_points)
        {
            highest.insert(r.member_id, r);
        }
    }
    let events: Vec<Happened> = highest
        .into_values()
        .map(|r| {
            Happened::new(Kind::LevelReached, SubjectType::Level, r.member_id)
                .to([r.member_id])
                .data(serde_json::json!({
                    "level_points": r.level_points, "level_name": r.level_name,
                }))
        })
        .collect();
    events::emit(conn, org, &events).await
}
