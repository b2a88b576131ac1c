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

pub mod domain;
pub mod giving;
pub mod queries;
pub mod routes;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::vocabulary::{Dimension, vocabulary};
use giving::GivingKind;

pub use routes::routes;

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
    /// points_each times the number of recipients.
    pub total_points: i64,
    pub dimension: Option<Dimension>,
    pub initiative_id: Option<Uuid>,
    pub recipients: Vec<MemberRef>,
    /// The company values it stands for, in the organisation's order.
    pub values: Vec<crate::values::ValueRef>,
    /// Free `#hashtags` of its message (lower case, without '#'), other than the values'.
    pub hashtags: Vec<String>,
    pub reactions: Vec<ReactionCount>,
    pub created_at: DateTime<Utc>,
}
