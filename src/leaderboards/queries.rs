//! Board reads. Every query is an index range scan on a board's key
//! (organisation, period, period_start, dimension[, team]) in board order
//! (points desc, reached_at, id), or a range sum over the board's histogram.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::sql_types::{Array, BigInt, Date, Integer, Text, Uuid as SqlUuid};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{MemberStanding, TeamStanding, assign_ranks};
use crate::error::AppResult;

/// Which board: totals of one period and dimension, optionally within one team.
#[derive(Debug, Clone)]
pub struct Board {
    pub org: Uuid,
    pub period: &'static str,
    pub start: NaiveDate,
    /// '' for every dimension.
    pub dimension: String,
    /// Team scope (member boards only).
    pub team: Option<Uuid>,
}

#[derive(QueryableByName, Debug, Clone)]
pub struct MemberRow {
    #[diesel(sql_type = SqlUuid)]
    pub member_id: Uuid,
    #[diesel(sql_type = Text)]
    pub display_name: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<SqlUuid>)]
    pub team_id: Option<Uuid>,
    #[diesel(sql_type = BigInt)]
    pub points: i64,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub reached_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Tie {
    #[diesel(sql_type = BigInt)]
    points: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

const MEMBER_COLUMNS: &str = "m.member_id, mem.display_name, m.team_id, m.points, m.reached_at \
    FROM member_period_points m JOIN members mem ON mem.id = m.member_id";

/// `WHERE` for a member board; `$1..$4` are the key, `$5` the team when scoped.
fn member_where(board: &Board) -> &'static str {
    if board.team.is_some() {
        "m.organisation_id = $1 AND m.period = $2 AND m.period_start = $3 AND m.dimension = $4 AND m.listed AND m.team_id = $5"
    } else {
        "m.organisation_id = $1 AND m.period = $2 AND m.period_start = $3 AND m.dimension = $4 AND m.listed AND $5::uuid IS NULL"
    }
}

macro_rules! bind_board {
    ($q:expr, $b:expr) => {
        $q.bind::<SqlUuid, _>($b.org)
            .bind::<Text, _>($b.period)
            .bind::<Date, _>($b.start)
            .bind::<Text, _>($b.dimension.clone())
            .bind::<diesel::sql_types::Nullable<SqlUuid>, _>($b.team)
    };
}

pub async fn top_members(
    conn: &mut AsyncPgConnection,
    b: &Board,
    limit: i64,
) -> AppResult<Vec<MemberRow>> {
    let sql = format!(
        "SELECT {MEMBER_COLUMNS} WHERE {} ORDER BY m.points DESC, m.reached_at, m.member_id LIMIT $6",
        member_where(b)
    );
    Ok(bind_board!(sql_query(sql), b)
        .bind::<BigInt, _>(limit)
        .load(conn)
        .await?)
}

pub async fn member_row(
    conn: &mut AsyncPgConnection,
    b: &Board,
    member: Uuid,
) -> AppResult<Option<MemberRow>> {
    let sql = format!(
        "SELECT {MEMBER_COLUMNS} WHERE {} AND m.member_id = $6",
        member_where(b)
    );
    let mut rows: Vec<MemberRow> = bind_board!(sql_query(sql), b)
        .bind::<SqlUuid, _>(member)
        .load(conn)
        .await?;
    Ok(rows.pop())
}

/// Up to `n` members right above and right below a place on the board.
pub async fn member_neighbours(
    conn: &mut AsyncPgConnection,
    b: &Board,
    me: Option<&MemberRow>,
    n: i64,
) -> AppResult<(Vec<MemberRow>, Vec<MemberRow>)> {
    let w = member_where(b);
    let (points, reached, id) = match me {
        Some(r) => (r.points, r.reached_at, r.member_id),
        // Not on the board: below everyone with points.
        None => (0, DateTime::<Utc>::MAX_UTC, Uuid::max()),
    };
    let tie_above = format!(
        "SELECT {MEMBER_COLUMNS} WHERE {w} AND m.points = $6 AND (m.reached_at, m.member_id) < ($7, $8) \
         ORDER BY m.reached_at DESC, m.member_id DESC LIMIT $9"
    );
    let above = format!(
        "SELECT {MEMBER_COLUMNS} WHERE {w} AND m.points > $6 AND $7::timestamptz IS NOT NULL AND $8::uuid IS NOT NULL \
         ORDER BY m.points, m.reached_at DESC, m.member_id DESC LIMIT $9"
    );
    let tie_below = format!(
        "SELECT {MEMBER_COLUMNS} WHERE {w} AND m.points = $6 AND (m.reached_at, m.member_id) > ($7, $8) \
         ORDER BY m.reached_at, m.member_id LIMIT $9"
    );
    let below = format!(
        "SELECT {MEMBER_COLUMNS} WHERE {w} AND m.points < $6 AND $7::timestamptz IS NOT NULL AND $8::uuid IS NOT NULL \
         ORDER BY m.points DESC, m.reached_at, m.member_id LIMIT $9"
    );
    let mut run = async |sql: String| -> AppResult<Vec<MemberRow>> {
        Ok(bind_board!(sql_query(sql), b)
            .bind::<BigInt, _>(points)
            .bind::<diesel::sql_types::Timestamptz, _>(reached)
            .bind::<SqlUuid, _>(id)
            .bind::<BigInt, _>(n)
            .load(conn)
            .await?)
    };
    // Nearest first, then reversed into board order.
    let mut up = run(tie_above).await?;
    if (up.len() as i64) < n {
        up.extend(run(above).await?);
    }
    up.truncate(n as usize);
    up.reverse();
    let mut down = if me.is_some() {
        run(tie_below).await?
    } else {
        Vec::new()
    };
    if me.is_some() && (down.len() as i64) < n {
        down.extend(run(below).await?);
    }
    down.truncate(n as usize);
    Ok((up, down))
}

/// 1 + the number of listed members with more than `points`.
pub async fn member_rank(conn: &mut AsyncPgConnection, b: &Board, points: i64) -> AppResult<i64> {
    let c: Count = if b.team.is_some() {
        let sql = format!(
            "SELECT count(*) AS n FROM member_period_points m WHERE {} AND m.points > $6",
            member_where(b)
        );
        bind_board!(sql_query(sql), b)
            .bind::<BigInt, _>(points)
            .get_result(conn)
            .await?
    } else {
        sql_query(
            "SELECT COALESCE(sum(members), 0)::bigint AS n FROM member_points_histogram \
             WHERE organisation_id = $1 AND period = $2 AND period_start = $3 AND dimension = $4 AND points > $5",
        )
        .bind::<SqlUuid, _>(b.org)
        .bind::<Text, _>(b.period)
        .bind::<Date, _>(b.start)
        .bind::<Text, _>(b.dimension.clone())
        .bind::<BigInt, _>(points)
        .get_result(conn)
        .await?
    };
    Ok(c.n + 1)
}

/// How many listed members share each of `values` on the whole board.
pub async fn member_ties(
    conn: &mut AsyncPgConnection,
    b: &Board,
    values: &[i64],
) -> AppResult<HashMap<i64, i64>> {
    let mut distinct = values.to_vec();
    distinct.dedup();
    let rows: Vec<Tie> = if b.team.is_some() {
        let sql = format!(
            "SELECT m.points, count(*) AS n FROM member_period_points m WHERE {} AND m.points = ANY($6) GROUP BY m.points",
            member_where(b)
        );
        bind_board!(sql_query(sql), b)
            .bind::<Array<BigInt>, _>(distinct)
            .load(conn)
            .await?
    } else {
        sql_query(
            "SELECT points, members::bigint AS n FROM member_points_histogram \
             WHERE organisation_id = $1 AND period = $2 AND period_start = $3 AND dimension = $4 AND points = ANY($5)",
        )
        .bind::<SqlUuid, _>(b.org)
        .bind::<Text, _>(b.period)
        .bind::<Date, _>(b.start)
        .bind::<Text, _>(b.dimension.clone())
        .bind::<Array<BigInt>, _>(distinct)
        .load(conn)
        .await?
    };
    Ok(rows.into_iter().map(|t| (t.points, t.n)).collect())
}

pub async fn ranked_members(conn: &mut AsyncPgConnection, b: &Board) -> AppResult<i64> {
    let c: Count = if b.team.is_some() {
        let sql = format!(
            "SELECT count(*) AS n FROM member_period_points m WHERE {}",
            member_where(b)
        );
        bind_board!(sql_query(sql), b).get_result(conn).await?
    } else {
        sql_query(
            "SELECT COALESCE(sum(members), 0)::bigint AS n FROM member_points_histogram \
             WHERE organisation_id = $1 AND period = $2 AND period_start = $3 AND dimension = $4",
        )
        .bind::<SqlUuid, _>(b.org)
        .bind::<Text, _>(b.period)
        .bind::<Date, _>(b.start)
        .bind::<Text, _>(b.dimension.clone())
        .get_result(conn)
        .await?
    };
    Ok(c.n)
}

/// Rows in board order, with their ranks.
pub async fn ranked(
    conn: &mut AsyncPgConnection,
    b: &Board,
    rows: Vec<MemberRow>,
    first_rank: Option<i64>,
) -> AppResult<Vec<MemberStanding>> {
    let Some(first) = <[_]>::first(&rows) else {
        return Ok(Vec::new());
    };
    let first_rank = match first_rank {
        Some(r) => r,
        None => member_rank(conn, b, first.points).await?,
    };
    let values: Vec<i64> = rows.iter().map(|r| r.points).collect();
    let ties = member_ties(conn, b, &values).await?;
    let ranks = assign_ranks(&values, first_rank, |v| ties.get(&v).copied().unwrap_or(1));
    Ok(rows
        .into_iter()
        .zip(ranks)
        .map(|(r, rank)| MemberStanding {
            rank,
            member_id: r.member_id,
            display_name: r.display_name,
            team_id: r.team_id,
            points: r.points,
            reached_at: Some(r.reached_at),
        })
        .collect())
}

// ---- Teams ------------------------------------------------------------------------------

#[derive(QueryableByName, Debug, Clone)]
pub struct TeamRow {
    #[diesel(sql_type = SqlUuid)]
    pub team_id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = BigInt)]
    pub points: i64,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub reached_at: DateTime<Utc>,
    #[diesel(sql_type = Integer)]
    pub active_members: i32,
    #[diesel(sql_type = BigInt)]
    pub rank: i64,
    #[diesel(sql_type = BigInt)]
    pub position: i64,
}

impl TeamRow {
    pub fn standing(self) -> TeamStanding {
        TeamStanding {
            rank: self.rank,
            team_id: self.team_id,
            name: self.name,
            points: self.points,
            active_members: self.active_members,
            points_per_member: per_member(self.points, self.active_members),
            reached_at: Some(self.reached_at),
        }
    }
}

pub fn per_member(points: i64, members: i32) -> f64 {
    if members > 0 {
        points as f64 / f64::from(members)
    } else {
        0.0
    }
}

const TEAM_BOARD: &str = "SELECT t.team_id, tm.name, t.points, t.reached_at, COALESCE(s.active_members, 0) AS active_members, \
      CASE WHEN COALESCE(s.active_members, 0) > 0 THEN t.points::float8 / s.active_members ELSE 0 END AS ppm \
    FROM team_period_points t \
    JOIN teams tm ON tm.id = t.team_id AND tm.organisation_id = t.organisation_id AND tm.archived_at IS NULL \
    LEFT JOIN team_sizes s ON s.organisation_id = t.organisation_id AND s.team_id = t.team_id \
    WHERE t.organisation_id = $1 AND t.period = $2 AND t.period_start = $3 AND t.dimension = $4";

#[derive(QueryableByName, Debug, Clone)]
pub struct TeamWindowRow {
    #[diesel(embed)]
    pub team: TeamRow,
    /// Live teams on the board.
    #[diesel(sql_type = BigInt)]
    pub ranked: i64,
}

/// The team board in one statement: every live team of the board ranked by the metric (a team
/// count, not a member count: thousands at most), keeping the top `limit` and the `around`
/// teams either side of `mine`.
pub async fn team_window(
    conn: &mut AsyncPgConnection,
    b: &Board,
    metric: super::TeamMetric,
    limit: i64,
    mine: Option<Uuid>,
    around: i64,
) -> AppResult<Vec<TeamWindowRow>> {
    let value = match metric {
        super::TeamMetric::Total => "points",
        super::TeamMetric::PerMember => "ppm",
    };
    let sql = format!(
        "WITH b AS ({TEAM_BOARD}), r AS ( \
           SELECT b.*, rank() OVER (ORDER BY {value} DESC) AS rank, \
                  row_number() OVER (ORDER BY {value} DESC, reached_at, team_id) AS position, \
                  count(*) OVER () AS ranked FROM b) \
         SELECT team_id, name, points, reached_at, active_members, rank, position, ranked FROM r \
         WHERE position <= $5 OR abs(position - COALESCE((SELECT position FROM r WHERE team_id = $6), -1000000)) <= $7 \
         ORDER BY position"
    );
    Ok(sql_query(sql)
        .bind::<SqlUuid, _>(b.org)
        .bind::<Text, _>(b.period)
        .bind::<Date, _>(b.start)
        .bind::<Text, _>(b.dimension.clone())
        .bind::<BigInt, _>(limit)
        .bind::<diesel::sql_types::Nullable<SqlUuid>, _>(mine)
        .bind::<BigInt, _>(around)
        .load(conn)
        .await?)
}

/// 1 + live teams with more than `points`.
pub async fn team_rank(conn: &mut AsyncPgConnection, b: &Board, points: i64) -> AppResult<i64> {
    let sql = format!("SELECT count(*) AS n FROM ({TEAM_BOARD}) b WHERE points > $5");
    let c: Count = sql_query(sql)
        .bind::<SqlUuid, _>(b.org)
        .bind::<Text, _>(b.period)
        .bind::<Date, _>(b.start)
        .bind::<Text, _>(b.dimension.clone())
        .bind::<BigInt, _>(points)
        .get_result(conn)
        .await?;
    Ok(c.n + 1)
}

pub async fn ranked_teams(conn: &mut AsyncPgConnection, b: &Board) -> AppResult<i64> {
    let sql = format!("SELECT count(*) AS n FROM ({TEAM_BOARD}) b");
    let c: Count = sql_query(sql)
        .bind::<SqlUuid, _>(b.org)
        .bind::<Text, _>(b.period)
        .bind::<Date, _>(b.start)
        .bind::<Text, _>(b.dimension.clone())
        .get_result(conn)
        .await?;
    Ok(c.n)
}
