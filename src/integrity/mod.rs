//! Integrity of the recognition game: reciprocal rings, for admins to look into.
//!
//! A ring is a few members who send each other most of their peer allowance: A <-> B, or a
//! cycle of three or four (A -> B -> C -> A). Detection is read-only and explains itself: it
//! lists what it found with the evidence, and changes or punishes nothing (an admin who
//! decides a ring gamed the boards acts with the ledger's reversals and adjustments).
//!
//! Method (docs/api.md, "Ring detection"): over a window, the peer recognitions (the ones that
//! spend an allowance) are aggregated by giver and recipient in one statement. A
//! giver -> recipient edge is *dominant* when it carries at least `min_share_percent` of the
//! giver's peer points given in the window, at least `min_recognitions` recognitions and at
//! least `min_points` points. Each giver has few dominant edges (at most 100 /
//! `min_share_percent`), so the cycles of 2 to 4 members among them are found here, in
//! memory, and each is one ring.
//!
//! - `routes`: the endpoint and its parameters.
//! - `rings`: the window, the cycle search and the report.
//! - `queries`: the dominant edges (`dominant_edges.sql`) and the members named.

pub mod queries;
pub mod rings;
pub mod routes;

pub use routes::routes;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// The longest ring searched for, in members.
pub const MAX_RING_SIZE: usize = 4;

/// The most rings one answer lists (the highest scores); `truncated` says when there were more.
pub const MAX_RINGS: usize = 500;

/// When an edge counts as dominant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Thresholds {
    /// The least share of the giver's peer points given in the window that the edge carries,
    /// in percent.
    pub min_share_percent: i64,
    /// The fewest recognitions from the giver to the recipient in the window.
    pub min_recognitions: i64,
    /// The fewest points from the giver to the recipient in the window.
    pub min_points: i64,
}

/// The window looked at, in the organisation's time zone.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Window {
    /// First day of the window.
    pub from: NaiveDate,
    /// Day after the window (exclusive).
    pub to: NaiveDate,
    pub time_zone: String,
    /// Local midnight of `from` and of `to`.
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// A member of a ring.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RingMember {
    pub id: Uuid,
    pub display_name: String,
    /// Their team now.
    pub team_id: Option<Uuid>,
    pub team_name: Option<String>,
    pub deactivated: bool,
    /// Peer points they gave in the window, to anyone (each recipient of a recognition to
    /// several counts).
    pub given_points: i64,
}

/// One giver -> recipient edge of a ring: the evidence.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RingEdge {
    pub giver_id: Uuid,
    pub recipient_id: Uuid,
    /// Peer points the giver gave the recipient in the window.
    pub points: i64,
    /// Peer recognitions the giver gave the recipient in the window.
    pub recognitions: i64,
    /// `points` as a share of the giver's `given_points`, in percent (one decimal).
    pub share_percent: f64,
    /// The first and the last of those recognitions.
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

/// Members who send each other most of their peer giving, round a cycle.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Ring {
    /// Members in the ring, 2-4.
    pub size: i64,
    /// `points` x `weakest_share_percent` / 100 (one decimal): how much went round the ring,
    /// as exclusively as its least exclusive edge. Rings are listed by it, highest first.
    pub score: f64,
    /// Points on the ring's edges, together.
    pub points: i64,
    /// The smallest `share_percent` of the ring's edges.
    pub weakest_share_percent: f64,
    /// In ring order, starting with the smallest id: each gives to the next, the last to the
    /// first.
    pub members: Vec<RingMember>,
    /// `edges[i]` goes from `members[i]` to the next member.
    pub edges: Vec<RingEdge>,
}

/// What ring detection found in a window.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RingReport {
    pub window: Window,
    pub thresholds: Thresholds,
    /// The longest cycle searched for, in members (4).
    pub max_ring_size: i64,
    /// Dominant edges in the window, in rings or not.
    pub dominant_edges: i64,
    /// Highest score first, at most 500.
    pub rings: Vec<Ring>,
    /// True when more than 500 rings were found and only the 500 highest scores are listed.
    pub truncated: bool,
}
