//! Leaderboards of members and teams, by period and CX dimension.
//!
//! Totals live in `member_period_points` and `team_period_points`, folded in by a trigger on
//! the ledger in the same transaction as each entry (see the leaderboards migration). Reading a
//! board is an index range scan for the top N and the neighbours, and a rank is a range sum
//! over the board's histogram of totals: the cost follows N and the number of distinct totals,
//! not the number of members.

pub mod period;
pub mod queries;
pub mod routes;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::vocabulary::Dimension;
pub use period::{Period, PeriodKind};
pub use routes::routes;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One team: the caller's, or `team_id`.
    Team,
    /// The whole organisation.
    Organisation,
}

/// How teams are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TeamMetric {
    /// Total points earned by the team's members while in the team.
    Total,
    /// Total divided by the team's active members: fair between big and small teams.
    PerMember,
}

/// A member's place on a board.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberStanding {
    /// Standard competition ranking: equal points share a rank (1, 2, 2, 4).
    pub rank: i64,
    pub member_id: Uuid,
    pub display_name: String,
    pub team_id: Option<Uuid>,
    pub points: i64,
    /// When the member reached these points; among equals, who got there first is shown first.
    pub reached_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberBoard {
    pub scope: Scope,
    /// The team of a team-scope board.
    pub team_id: Option<Uuid>,
    pub period: Period,
    pub dimension: Option<Dimension>,
    /// Members with points in the period (deactivated members are not listed).
    pub ranked_members: i64,
    /// The top `limit`.
    pub top: Vec<MemberStanding>,
    /// The caller, always, even outside the top.
    pub me: MemberStanding,
    /// With `around_me=N`: up to N members above the caller, the caller, up to N below.
    pub around_me: Option<Vec<MemberStanding>>,
}

/// A team's place on a board.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamStanding {
    pub rank: i64,
    pub team_id: Uuid,
    pub name: String,
    pub points: i64,
    pub active_members: i32,
    /// points / active members (0 for a team without active members).
    pub points_per_member: f64,
    pub reached_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamBoard {
    pub period: Period,
    pub dimension: Option<Dimension>,
    pub metric: TeamMetric,
    /// Live teams with points in the period.
    pub ranked_teams: i64,
    pub top: Vec<TeamStanding>,
    /// The caller's team; absent when the caller has no team.
    pub my_team: Option<TeamStanding>,
    pub around_my_team: Option<Vec<TeamStanding>>,
}

/// Standard competition ranks for rows already in board order, given the rank of the first
/// row and, for each distinct value, how many members share it on the whole board.
pub fn assign_ranks(values: &[i64], first_rank: i64, tied: impl Fn(i64) -> i64) -> Vec<i64> {
    let mut ranks = Vec::with_capacity(values.len());
    let mut rank = first_rank;
    for (i, v) in values.iter().enumerate() {
        if i > 0 && values[i - 1] != *v {
            rank += tied(values[i - 1]);
        }
        ranks.push(rank);
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::assign_ranks;

    #[test]
    fn ties_share_a_rank_and_the_next_rank_skips() {
        // Board: 50, 40, 40, 30 -> 1, 2, 2, 4.
        let counts = |v: i64| if v == 40 { 2 } else { 1 };
        assert_eq!(assign_ranks(&[50, 40, 40, 30], 1, counts), vec![1, 2, 2, 4]);
        // A window starting inside a tie group: the first row's rank comes from the board.
        assert_eq!(assign_ranks(&[40, 30, 20], 2, counts), vec![2, 4, 5]);
    }
}
