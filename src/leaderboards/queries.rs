//! Board reads. Every query is an index range scan on a board's key
//! (organisation, period, period_start, dimension[, team]) in board order
//! (points desc, reached_at, id), or a range sum over the board's histogram.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::sql_types::{BigInt, Date, Integer, Text, Uuid as SqlUuid};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{MemberStanding, TeamStanding};
use crate::error::AppResult;
use crate::sql::Prepared;

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

/// A row of the member board answer: which part of it (`top`, `me`, `tie_above`, `above`,
/// `tie_below`, `below`) and the member.
#[derive(QueryableByName, Debug, Clone)]
pub struct MemberWindowRow {
    #[diesel(sql_type = Text)]
    pub part: String,
    #[diesel(sql_type = SqlUuid)]
    pub member_id: Uuid,
    #[diesel(sql_type = Text)]
    pub display_name: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<SqlUuid>)]
    pub team_id: Option<Uuid>,
    #[diesel(sql_type = BigInt)]
    pub points: i64,
    /// Absent for a caller without points on the board.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    pub reached_at: Option<DateTime<Utc>>,
}

impl MemberWindowRow {
    pub fn standing(self, histogram: &Histogram) -> MemberStanding {
        MemberStanding {
            rank: histogram.rank(self.points),
            member_id: self.member_id,
            display_name: self.display_name,
            team_id: self.team_id,
            points: self.points,
            reached_at: self.reached_at,
            distinct_givers: None,
        }
    }
}

/// The rows of a member board answer in one statement: the top `limit` (none when the caller
/// has the board's top from the shelf it shares with every other caller), the caller (`$6`)
/// and up to `around` members either side of them, each an index range scan on the board in
/// board order. A caller without points is placed below everyone with points. Ranks come
/// from the board's [`Histogram`].
pub async fn member_window(
    conn: &mut AsyncPgConnection,
    b: &Board,
    me: Uuid,
    limit: i64,
    around: i64,
) -> AppResult<Vec<MemberWindowRow>> {
    let w = member_where(b);
    let cols = "m.member_id, m.team_id, m.points, m.reached_at";
    let sql = format!(
        "WITH me AS (SELECT {cols} FROM member_period_points m WHERE {w} AND m.member_id = $6), \
         pos AS (SELECT COALESCE((SELECT points FROM me), 0) AS points, \
                        COALESCE((SELECT reached_at FROM me), 'infinity'::timestamptz) AS reached_at, \
                        COALESCE((SELECT member_id FROM me), 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) AS member_id, \
                        EXISTS (SELECT 1 FROM me) AS listed), \
         picked AS ( \
           (SELECT 'top' AS part, {cols} FROM member_period_points m WHERE {w} \
              ORDER BY m.points DESC, m.reached_at, m.member_id LIMIT $7) \
           UNION ALL \
           (SELECT 'me', {cols} FROM me m) \
           UNION ALL \
           (SELECT 'me', mem.id, mem.team_id, 0, NULL FROM members mem \
              WHERE mem.organisation_id = $1 AND mem.id = $6 AND NOT EXISTS (SELECT 1 FROM me)) \
           UNION ALL \
           (SELECT 'tie_above', {cols} FROM member_period_points m WHERE {w} AND $8 > 0 \
              AND m.points = (SELECT points FROM pos) AND (m.reached_at, m.member_id) < ((SELECT reached_at FROM pos), (SELECT member_id FROM pos)) \
              ORDER BY m.reached_at DESC, m.member_id DESC LIMIT $8) \
           UNION ALL \
           (SELECT 'above', {cols} FROM member_period_points m WHERE {w} AND $8 > 0 \
              AND m.points > (SELECT points FROM pos) \
              ORDER BY m.points, m.reached_at DESC, m.member_id DESC LIMIT $8) \
           UNION ALL \
           (SELECT 'tie_below', {cols} FROM member_period_points m WHERE {w} AND $8 > 0 AND (SELECT listed FROM pos) \
              AND m.points = (SELECT points FROM pos) AND (m.reached_at, m.member_id) > ((SELECT reached_at FROM pos), (SELECT member_id FROM pos)) \
              ORDER BY m.reached_at, m.member_id LIMIT $8) \
           UNION ALL \
           (SELECT 'below', {cols} FROM member_period_points m WHERE {w} AND $8 > 0 AND (SELECT listed FROM pos) \
              AND m.points < (SELECT points FROM pos) \
              ORDER BY m.points DESC, m.reached_at, m.member_id LIMIT $8)) \
         SELECT p.part, p.member_id, mem.display_name, p.team_id, p.points, p.reached_at \
         FROM picked p JOIN members mem ON mem.id = p.member_id"
    );
    Ok(Prepared(
        bind_board!(sql_query(sql), b)
            .bind::<SqlUuid, _>(me)
            .bind::<BigInt, _>(limit)
            .bind::<BigInt, _>(around),
    )
    .load(conn)
    .await?)
}

/// How many listed members have each total on a board: a rank is 1 + the members with more
/// points, found by binary search. An organisation's board has a few thousand distinct totals
/// even at a million members (the trigger keeps them in `member_points_histogram`); a team's is
/// counted from its rows.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Distinct totals, highest first.
    points: Vec<i64>,
    /// Members with at least `points[i]`.
    through: Vec<i64>,
}

impl Histogram {
    pub fn new(mut counts: Vec<(i64, i64)>) -> Histogram {
        counts.sort_unstable_by_key(|&(points, _)| std::cmp::Reverse(points));
        let mut through = Vec::with_capacity(counts.len());
        let mut sum = 0;
        for &(_, n) in &counts {
            sum += n;
            through.push(sum);
        }
        Histogram {
            points: counts.into_iter().map(|(points, _)| points).collect(),
            through,
        }
    }

    /// Standard competition rank of a total: 1 + the members with more.
    pub fn rank(&self, points: i64) -> i64 {
        let above = self.points.partition_point(|&p| p > points);
        1 + above.checked_sub(1).map_or(0, |i| self.through[i])
    }

    /// Listed members on the board.
    pub fn members(&self) -> i64 {
        self.through.last().copied().unwrap_or(0)
    }

    pub fn distinct(&self) -> usize {
        self.points.len()
    }
}

#[derive(QueryableByName)]
struct Bucket {
    #[diesel(sql_type = BigInt)]
    points: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

pub async fn histogram(conn: &mut AsyncPgConnection, b: &Board) -> AppResult<Histogram> {
    let sql = if b.team.is_some() {
        format!(
            "SELECT m.points, count(*) AS n FROM member_period_points m WHERE {} GROUP BY m.points",
            member_where(b)
        )
    } else {
        // The folded totals plus the queue (see migration `board_deltas`): exact at any time.
        "SELECT points, members AS n FROM board_histogram($1, $2, $3, $4) WHERE $5::uuid IS NULL"
            .to_string()
    };
    let buckets: Vec<Bucket> = Prepared(bind_board!(sql_query(sql), b)).load(conn).await?;
    Ok(Histogram::new(
        buckets.into_iter().map(|b| (b.points, b.n)).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::Histogram;

    #[test]
    fn ranks_count_the_members_with_more_points() {
        // Board: 50, 40, 40, 30 -> 1, 2, 2, 4; 0 points -> 5.
        let h = Histogram::new(vec![(40, 2), (30, 1), (50, 1)]);
        assert_eq!(
            [50, 40, 30, 35, 0, 60].map(|p| h.rank(p)),
            [1, 2, 4, 4, 5, 1]
        );
        assert_eq!(h.members(), 4);
        assert_eq!(Histogram::default().rank(10), 1);
    }
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
    FROM board_team_points($1, $2, $3, $4) t \
    JOIN teams tm ON tm.id = t.team_id AND tm.organisation_id = $1 AND tm.archived_at IS NULL \
    LEFT JOIN team_sizes s ON s.organisation_id = $1 AND s.team_id = t.team_id";

/// Every live team of a board, ranked by the metric, in board order: a team count, not a
/// member count (thousands at most), so it is read whole and shared by every caller.
pub async fn team_ranking(
    conn: &mut AsyncPgConnection,
    b: &Board,
    metric: super::TeamMetric,
) -> AppResult<Vec<TeamRow>> {
    let value = match metric {
        super::TeamMetric::Total => "points",
        super::TeamMetric::PerMember => "ppm",
    };
    let sql = format!(
        "SELECT team_id, name, points, reached_at, active_members, \
                rank() OVER (ORDER BY {value} DESC) AS rank, \
                row_number() OVER (ORDER BY {value} DESC, reached_at, team_id) AS position \
         FROM ({TEAM_BOARD}) b ORDER BY position"
    );
    Ok(Prepared(
        sql_query(sql)
            .bind::<SqlUuid, _>(b.org)
            .bind::<Text, _>(b.period)
            .bind::<Date, _>(b.start)
            .bind::<Text, _>(b.dimension.clone()),
    )
    .load(conn)
    .await?)
}
