//! Leaderboards of members and teams, by period and CX dimension.
//!
//! Totals live in `member_period_points` and `team_period_points`, folded in by a trigger on
//! the ledger in the same transaction as each entry (see the leaderboards migration); the
//! rows many writers share (histograms, team totals) through a queue (`fold`). Reading a
//! board is an index range scan for the top N and the neighbours, and a rank is a range sum
//! over the board's histogram of totals: the cost follows N and the number of distinct totals,
//! not the number of members.

mod answers;
mod by_givers;
mod by_value;
pub mod cache;
pub mod fold;
pub mod period;
pub mod queries;
pub mod routes;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::vocabulary::Dimension;
pub use cache::BoardCache;
pub use period::{Period, PeriodKind};
pub use routes::routes;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One team: the caller's, or `team_id`.
    Team,
    /// The whole organisation.
    Organisation,
}

/// How teams are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TeamMetric {
    /// Total points earned by the team's members while in the team.
    Total,
    /// Total divided by the team's active members: fair between big and small teams.
    PerMember,
}

/// What ranks the members board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    /// Points earned in the period.
    Points,
    /// How many different colleagues recognised or boosted the member in the period, then the
    /// recognition points they brought.
    DistinctGivers,
}

impl RankBy {
    pub fn parse(raw: &str) -> Option<RankBy> {
        match raw {
            "points" => Some(RankBy::Points),
            "distinct_givers" => Some(RankBy::DistinctGivers),
            _ => None,
        }
    }
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
    /// On a board ranked by `distinct_givers`: how many different colleagues recognised or
    /// boosted the member (`points` is then the recognition points they brought).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct_givers: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberBoard {
    pub scope: Scope,
    /// The team of a team-scope board.
    pub team_id: Option<Uuid>,
    pub period: Period,
    pub dimension: Option<Dimension>,
    /// With `value_id`: only points from recognitions carrying that company value.
    pub value_id: Option<Uuid>,
    pub rank_by: RankBy,
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
    /// With `value_id`: only points from recognitions carrying that company value.
    pub value_id: Option<Uuid>,
    pub metric: TeamMetric,
    /// Live teams with points in the period.
    pub ranked_teams: i64,
    pub top: Vec<TeamStanding>,
    /// The caller's team; absent when the caller has no team.
    pub my_team: Option<TeamStanding>,
    pub around_my_team: Option<Vec<TeamStanding>>,
}
