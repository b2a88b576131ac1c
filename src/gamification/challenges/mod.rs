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
//!   the points of challenge badges) never count, nor do refunds of redemptions (spending is
//!   not earning). Participants: members with such entries.
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
//! participants' leaderboard rows in time (see `completion::complete`) the challenge is completed by a
//! later fold, or by the next read of it (`GET /api/v1/challenges`, `.../{id}`,
//! `/api/v1/me/progress`), which measure exactly and complete any started challenge whose
//! window has counted enough, whether or not a fold has run.

mod completion;
mod input;
mod manage;
mod metrics;
pub mod routes;
mod views;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::schema::challenges;
use crate::vocabulary::{Channel, Dimension, vocabulary};

pub use completion::{fold, fold_all, pending};
pub use input::{Change, CreateChallenge, ListParams, ListQuery, NewChallenge, UpdateChallenge};
pub use manage::{cancel, change, create};
pub use routes::{ChallengesApi, routes};
pub use views::{active_for, find, list};

pub const MAX_TITLE: usize = 200;
pub const MAX_DESCRIPTION: usize = 2000;
pub const MAX_TARGET: i64 = 10_000_000;
pub const MAX_REWARD_POINTS: i64 = 100_000;

vocabulary!(
    /// Whose activity a challenge counts.
    ChallengeScope {
        /// One team's (`team_id`): activity credited to the team at the time.
        Team = "team",
        /// Everyone's in the organisation.
        Organisation = "organisation",
    }
);

vocabulary!(
    /// What a challenge counts (see the module documentation for each one's exact meaning).
    Metric {
        /// Initiatives submitted in the window.
        InitiativesSubmitted = "initiatives_submitted",
        /// Initiatives approved in the window.
        InitiativesApproved = "initiatives_approved",
        /// Recognitions given in the window.
        RecognitionsGiven = "recognitions_given",
        /// Recognitions received in the window (one per recipient).
        RecognitionsReceived = "recognitions_received",
        /// Points earned in the window (challenge rewards excluded).
        PointsEarned = "points_earned",
    }
);

impl Metric {
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
