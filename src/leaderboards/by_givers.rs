//! The members board weighted by distinct givers (`rank_by=distinct_givers`, or the
//! organisation's `rank_members_by` rule): members ranked by how many different colleagues
//! recognised or boosted them in the period, then by the recognition points those brought, then
//! by who got there first. A ring of two friends trading kudos, or one generous lead, moves a
//! member one place per person, not per point.
//!
//! Summed when asked from the period's recipients and boosts (index ranges on their times),
//! like the value boards, and shelved as any board answer; undone and hidden recognitions do not
//! count. The cost follows the recognitions in the period.

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Nullable, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::by_value::ranks;
use super::{MemberBoard, MemberStanding, Scope, period};

/// What a distinct-givers board answers.
pub(super) struct GiversQuery {
    pub(super) scope: Scope,
    pub(super) period: period::Period,
    pub(super) window: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    pub(super) limit: i64,
    pub(super) around: i64,
}

#[derive(diesel::QueryableByName)]
struct Row {
    #[diesel(sql_type = SqlUuid)]
    member_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    display_name: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    team_id: Option<Uuid>,
    #[diesel(sql_type = BigInt)]
    givers: i64,
    #[diesel(sql_type = BigInt)]
    points: i64,
    #[diesel(sql_type = Timestamptz)]
    reached_at: DateTime<Utc>,
}

const RECEIVED: &str = "\
    WITH got AS ( \
        SELECT rr.member_id, r.giver_id AS from_id, r.points_each AS points, rr.created_at \
        FROM recognition_recipients rr \
        JOIN recognitions r ON r.organisation_id = rr.organisation_id AND r.id = rr.recognition_id \
        WHERE rr.organisation_id = $1 \
          AND ($2::timestamptz IS NULL OR rr.created_at >= $2) \
          AND ($3::timestamptz IS NULL OR rr.created_at < $3) \
          AND r.undone_at IS NULL AND r.hidden_at IS NULL \
        UNION ALL \
        SELECT rr.member_id, b.booster_id, b.points, b.created_at \
        FROM recognition_boosts b \
        JOIN recognitions r ON r.organisation_id = b.organisation_id AND r.id = b.recognition_id \
        JOIN recognition_recipients rr ON rr.organisation_id = b.organisation_id \
             AND rr.recognition_id = b.recognition_id \
        WHERE b.organisation_id = $1 \
          AND ($2::timestamptz IS NULL OR b.created_at >= $2) \
          AND ($3::timestamptz IS NULL OR b.created_at < $3) \
          AND r.undone_at IS NULL AND r.hidden_at IS NULL) \
    SELECT m.id AS member_id, m.display_name, m.team_id, \
           count(DISTINCT g.from_id) AS givers, sum(g.points)::int8 AS points, \
           max(g.created_at) AS reached_at \
    FROM got g JOIN members m ON m.organisation_id = $1 AND m.id = g.member_id \
    WHERE m.deactivated_at IS NULL AND ($4::uuid IS NULL OR m.team_id = $4) \
    GROUP BY m.id, m.display_name, m.team_id \
    ORDER BY 4 DESC, 5 DESC, 6, 1";

/// The members board ranked by distinct givers, in the organisation or `team`.
pub(super) async fn members(
    conn: &mut AsyncPgConnection,
    caller: &crate::auth::Caller,
    q: GiversQuery,
    team: Option<Uuid>,
) -> crate::error::AppResult<MemberBoard> {
    let rows: Vec<Row> = diesel::sql_query(RECEIVED)
        .bind::<SqlUuid, _>(caller.organisation_id)
        .bind::<Nullable<Timestamptz>, _>(q.window.0)
        .bind::<Nullable<Timestamptz>, _>(q.window.1)
        .bind::<Nullable<SqlUuid>, _>(team)
        .load(conn)
        .await?;
    // Equal when both the givers and the points are equal.
    let ranks = ranks(rows.iter().map(|r| (r.givers, r.points)));
    let standings: Vec<MemberStanding> = rows
        .into_iter()
        .zip(ranks)
        .map(|(r, rank)| MemberStanding {
            rank,
            member_id: r.member_id,
            display_name: r.display_name,
            team_id: r.team_id,
            points: r.points,
            reached_at: Some(r.reached_at),
            distinct_givers: Some(r.givers),
        })
        .collect();
    super::by_value::board_of(
        conn,
        caller,
        standings,
        q.limit,
        q.around,
        |ranked, top, me, around| MemberBoard {
            scope: q.scope,
            team_id: team,
            period: q.period,
            dimension: None,
            value_id: None,
            rank_by: super::RankBy::DistinctGivers,
            ranked_members: ranked,
            top,
            me,
            around_me: around,
        },
    )
    .await
}
