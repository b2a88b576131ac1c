//! Boards by company value (`value=`): points received from recognitions that carry the value
//! (their recipients' entries, boosts included, less what was reversed), in the period.
//!
//! Unlike the other boards these totals are not kept by the ledger's trigger: a value is not a
//! column of an entry, and folding every value into every period on each write would make the
//! write path, the scarce resource, pay for a filter few callers use. They are summed when
//! asked, from the value's recognitions (an index range) and their entries (by source and by
//! `reverses`), and the answer is shelved like any board's. The cost follows the value's
//! recognitions up to the period's end.

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Nullable, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::queries::per_member;
use super::{
    MemberBoard, MemberStanding, RankBy, Scope, TeamBoard, TeamMetric, TeamStanding, period,
};
use crate::error::{AppError, AppResult};

/// Entries paid for recognitions carrying value `$2` and reversals of them, in [`$3`, `$4`).
const VALUE_ENTRIES: &str = "\
    WITH carried AS ( \
        SELECT recognition_id FROM recognition_values \
        WHERE organisation_id = $1 AND value_id = $2 \
          AND ($4::timestamptz IS NULL OR created_at < $4)), \
    paid AS ( \
        SELECT e.id, e.member_id, e.team_id, e.points, e.created_at \
        FROM carried c JOIN ledger_entries e \
          ON e.organisation_id = $1 AND e.source_type = 'recognition' AND e.source_id = c.recognition_id), \
    entries AS ( \
        SELECT member_id, team_id, points, created_at FROM paid \
        UNION ALL \
        SELECT r.member_id, r.team_id, r.points, r.created_at \
        FROM paid p JOIN ledger_entries r ON r.organisation_id = $1 AND r.reverses = p.id) \
    SELECT * FROM entries \
    WHERE ($3::timestamptz IS NULL OR created_at >= $3) AND ($4::timestamptz IS NULL OR created_at < $4)";

/// What a value board answers: the board's request, the value and the period as times.
pub(super) struct ValueQuery {
    pub(super) value: Uuid,
    pub(super) scope: Scope,
    pub(super) period: period::Period,
    /// [from, to) of the period; open ends for `all`.
    pub(super) window: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    pub(super) limit: i64,
    pub(super) around: i64,
    pub(super) metric: TeamMetric,
}

#[derive(diesel::QueryableByName)]
struct MemberTotal {
    #[diesel(sql_type = SqlUuid)]
    member_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    display_name: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    team_id: Option<Uuid>,
    #[diesel(sql_type = BigInt)]
    points: i64,
    #[diesel(sql_type = Timestamptz)]
    reached_at: DateTime<Utc>,
}

#[derive(diesel::QueryableByName)]
struct TeamTotal {
    #[diesel(sql_type = SqlUuid)]
    team_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    points: i64,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    active_members: i32,
    #[diesel(sql_type = Timestamptz)]
    reached_at: DateTime<Utc>,
}

/// Competition ranks of keys already in board order: equal keys share a rank.
pub(super) fn ranks<K: PartialEq + Copy>(keys: impl Iterator<Item = K>) -> Vec<i64> {
    let mut out: Vec<i64> = Vec::new();
    let mut last: Option<K> = None;
    for (i, p) in keys.enumerate() {
        let rank = match (last, out.last()) {
            (Some(prev), Some(r)) if prev == p => *r,
            _ => i as i64 + 1,
        };
        out.push(rank);
        last = Some(p);
    }
    out
}

/// The members board of value `value` in `p`'s period, in the organisation or `team` (the
/// members' current team, as on the other boards).
pub(super) async fn members(
    conn: &mut AsyncPgConnection,
    caller: &crate::auth::Caller,
    p: ValueQuery,
    team: Option<Uuid>,
) -> AppResult<MemberBoard> {
    let value = p.value;
    let org = caller.organisation_id;
    known_value(conn, org, value).await?;
    let (from, to) = p.window;
    let sql = format!(
        "WITH e AS ({VALUE_ENTRIES}) \
         SELECT m.id AS member_id, m.display_name, m.team_id, sum(e.points)::int8 AS points, \
                max(e.created_at) AS reached_at \
         FROM e JOIN members m ON m.organisation_id = $1 AND m.id = e.member_id \
         WHERE m.deactivated_at IS NULL AND ($5::uuid IS NULL OR m.team_id = $5) \
         GROUP BY m.id, m.display_name, m.team_id HAVING sum(e.points) > 0 \
         ORDER BY 4 DESC, 5, 1"
    );
    let rows: Vec<MemberTotal> = diesel::sql_query(sql)
        .bind::<SqlUuid, _>(org)
        .bind::<SqlUuid, _>(value)
        .bind::<Nullable<Timestamptz>, _>(from)
        .bind::<Nullable<Timestamptz>, _>(to)
        .bind::<Nullable<SqlUuid>, _>(team)
        .load(conn)
        .await?;
    let ranks = ranks(rows.iter().map(|r| r.points));
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
            distinct_givers: None,
        })
        .collect();
    board_of(
        conn,
        caller,
        standings,
        p.limit,
        p.around,
        |ranked, top, me, around| MemberBoard {
            scope: p.scope,
            team_id: team,
            period: p.period,
            dimension: None,
            value_id: Some(value),
            rank_by: RankBy::Points,
            ranked_members: ranked,
            top,
            me,
            around_me: around,
        },
    )
    .await
}

/// A members board from every ranked standing, in board order: the top `limit`, the caller
/// (below everyone when they have no standing) and `around` either side of them.
pub(super) async fn board_of(
    conn: &mut AsyncPgConnection,
    caller: &crate::auth::Caller,
    standings: Vec<MemberStanding>,
    limit: i64,
    around: i64,
    make: impl FnOnce(
        i64,
        Vec<MemberStanding>,
        MemberStanding,
        Option<Vec<MemberStanding>>,
    ) -> MemberBoard,
) -> AppResult<MemberBoard> {
    let ranked_members = standings.len() as i64;
    let mine = standings
        .iter()
        .position(|s| s.member_id == caller.member_id);
    let me = match mine {
        Some(i) => standings[i].clone(),
        None => without_points(conn, caller, ranked_members + 1).await?,
    };
    let around_me = (around > 0).then(|| {
        let n = usize::try_from(around).unwrap_or(0);
        match mine {
            Some(i) => standings[i.saturating_sub(n)..(i + n + 1).min(standings.len())].to_vec(),
            None => {
                let start = standings.len().saturating_sub(n);
                let mut w = standings[start..].to_vec();
                w.push(me.clone());
                w
            }
        }
    });
    let limit = usize::try_from(limit).unwrap_or(0);
    let top = standings.into_iter().take(limit).collect();
    Ok(make(ranked_members, top, me, around_me))
}

/// The caller, below everyone with points.
async fn without_points(
    conn: &mut AsyncPgConnection,
    caller: &crate::auth::Caller,
    rank: i64,
) -> AppResult<MemberStanding> {
    use crate::schema::members;
    use diesel::{ExpressionMethods, QueryDsl};
    let (display_name, team_id): (String, Option<Uuid>) = members::table
        .filter(members::organisation_id.eq(caller.organisation_id))
        .filter(members::id.eq(caller.member_id))
        .select((members::display_name, members::team_id))
        .first(conn)
        .await?;
    Ok(MemberStanding {
        rank,
        member_id: caller.member_id,
        display_name,
        team_id,
        points: 0,
        reached_at: None,
        distinct_givers: None,
    })
}

/// The teams board of value `value`: points count for the team the member was in when paid.
pub(super) async fn teams(
    conn: &mut AsyncPgConnection,
    caller: &crate::auth::Caller,
    p: ValueQuery,
) -> AppResult<TeamBoard> {
    let value = p.value;
    let org = caller.organisation_id;
    known_value(conn, org, value).await?;
    let (from, to) = p.window;
    let sql = format!(
        "WITH e AS ({VALUE_ENTRIES}) \
         SELECT t.id AS team_id, t.name, sum(e.points)::int8 AS points, \
                COALESCE(s.active_members, 0) AS active_members, max(e.created_at) AS reached_at \
         FROM e JOIN teams t ON t.organisation_id = $1 AND t.id = e.team_id \
         LEFT JOIN team_sizes s ON s.organisation_id = $1 AND s.team_id = t.id \
         WHERE t.archived_at IS NULL \
         GROUP BY t.id, t.name, s.active_members HAVING sum(e.points) > 0"
    );
    let rows: Vec<TeamTotal> = diesel::sql_query(sql)
        .bind::<SqlUuid, _>(org)
        .bind::<SqlUuid, _>(value)
        .bind::<Nullable<Timestamptz>, _>(from)
        .bind::<Nullable<Timestamptz>, _>(to)
        .load(conn)
        .await?;
    let mut rows: Vec<TeamStanding> = rows
        .into_iter()
        .map(|r| TeamStanding {
            rank: 0,
            team_id: r.team_id,
            name: r.name,
            points: r.points,
            active_members: r.active_members,
            points_per_member: per_member(r.points, r.active_members),
            reached_at: Some(r.reached_at),
        })
        .collect();
    let score = |t: &TeamStanding| match p.metric {
        TeamMetric::Total => t.points as f64,
        TeamMetric::PerMember => t.points_per_member,
    };
    rows.sort_by(|a, b| {
        score(b)
            .total_cmp(&score(a))
            .then(a.reached_at.cmp(&b.reached_at))
            .then(a.team_id.cmp(&b.team_id))
    });
    // Equal scores share a rank.
    let mut last: Option<(f64, i64)> = None;
    for (i, t) in rows.iter_mut().enumerate() {
        let s = score(t);
        t.rank = match last {
            Some((prev, rank)) if prev == s => rank,
            _ => i as i64 + 1,
        };
        last = Some((s, t.rank));
    }
    let ranked_teams = rows.len() as i64;
    let mine = caller
        .team_id
        .and_then(|t| rows.iter().position(|r| r.team_id == t));
    let around_my_team = match (mine, p.around > 0) {
        (Some(i), true) => {
            let n = usize::try_from(p.around).unwrap_or(0);
            Some(rows[i.saturating_sub(n)..(i + n + 1).min(rows.len())].to_vec())
        }
        _ => None,
    };
    let my_team = mine.map(|i| rows[i].clone());
    let limit = usize::try_from(p.limit).unwrap_or(0);
    Ok(TeamBoard {
        period: p.period,
        dimension: None,
        value_id: Some(value),
        metric: p.metric,
        ranked_teams,
        top: rows.into_iter().take(limit).collect(),
        my_team,
        around_my_team,
    })
}

/// 404 unless the organisation has the value (active or not: past boards stay readable).
async fn known_value(conn: &mut AsyncPgConnection, org: Uuid, value: Uuid) -> AppResult<()> {
    if !crate::values::exists(conn, org, value).await? {
        return Err(AppError::not_found("value"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn equal_totals_share_a_rank() {
        assert_eq!(
            super::ranks([9, 7, 7, 3, 3, 3, 1].into_iter()),
            vec![1, 2, 2, 4, 4, 4, 7]
        );
    }
}
