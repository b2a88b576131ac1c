//! Recognition: team leads, admins and peers recognise members with a message and points.
//!
//! Peers give from a monthly allowance, team leads from a monthly budget set by an admin, and
//! admins without a budget. Every recipient's points are ledger entries written in the same
//! transaction as the recognition and the spend, so points are neither created nor lost.
//!
//! - `routes`: the HTTP edge (parsing, who may call what).
//! - `domain`: giving a recognition with every rule checked, reactions, leads' budgets.
//! - `giving`: allowances and budgets: what a giver may still give, spending and giving back.
//! - `queries`: rows, views and the feed query.
//! - `visibility`: who may see a recognition (public, team, private).
//! - `comments`: comments on recognitions.
//! - `boosts`: members adding points to someone else's recognition from their own pot.
//! - `take_back`: undoing a recognition (its giver) and hiding one (moderation): every entry
//!   reversed, every pot refunded.

pub mod boosts;
pub mod comments;
pub mod domain;
pub mod extras;
pub mod giving;
pub mod queries;
pub mod routes;
pub mod take_back;
pub mod visibility;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::vocabulary::{Dimension, vocabulary};
use giving::GivingKind;
use visibility::Visibility;

pub use routes::routes;

/// The most recipients a recognition reaches once `team_ids` are counted in.
pub const MAX_TEAM_RECIPIENTS: usize = 200;

/// A member as shown inside a recognition.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberRef {
    pub id: Uuid,
    pub display_name: String,
}

vocabulary!(
    /// The reactions members may leave on a recognition (one of each kind per member).
    ReactionKind {
        Applause = "applause",
        Heart = "heart",
        Celebrate = "celebrate",
        Insightful = "insightful",
        Star = "star",
    }
);

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReactionCount {
    pub kind: ReactionKind,
    pub count: i64,
    /// Whether the caller left this reaction.
    pub mine: bool,
}

/// A team a recognition named as a whole.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamRef {
    pub id: Uuid,
    pub name: String,
}

vocabulary!(
    /// Where a recognition stands.
    Status {
        Active = "active",
        /// Taken back by its giver: its points reversed, kept for the record.
        Undone = "undone",
        /// Hidden by an admin after a report: its points reversed; only admins see it.
        Hidden = "hidden",
    }
);

/// A member's add-on to a recognition.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Boost {
    pub booster: MemberRef,
    /// Points each recipient received from this boost.
    pub points_each: i32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recognition {
    pub id: Uuid,
    /// Who gave it; null for a celebration (kind `celebration`: the organisation's award).
    pub giver: Option<MemberRef>,
    /// Which pot paid for it.
    pub kind: GivingKind,
    pub message: String,
    /// Points each recipient received.
    pub points_each: i32,
    /// points_each times the number of recipients, boosts not included.
    pub total_points: i64,
    pub dimension: Option<Dimension>,
    pub initiative_id: Option<Uuid>,
    pub recipients: Vec<MemberRef>,
    /// Teams recognised as a whole (their members are among `recipients`).
    pub teams: Vec<TeamRef>,
    pub visibility: Visibility,
    pub status: Status,
    /// The company values it stands for, in the organisation's order.
    pub values: Vec<crate::values::ValueRef>,
    /// Free `#hashtags` of its message (lower case, without '#'), other than the values'.
    pub hashtags: Vec<String>,
    /// Add-ons by other members, oldest first.
    pub boosts: Vec<Boost>,
    pub reactions: Vec<ReactionCount>,
    /// Comments shown on it.
    pub comments: i64,
    pub created_at: DateTime<Utc>,
}
