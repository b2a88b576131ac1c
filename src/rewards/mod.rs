//! Rewards: a catalogue per organisation, and redemptions that spend members' points.
//!
//! A redemption is paid like everything else with points: a ledger entry (reason
//! `redemption`, negative, its source the redemption), written in the redemption's
//! transaction. Its refund (declined or cancelled) is a positive `redemption` entry that
//! `reverses` the debit, so the ledger's unique key on `reverses` makes it once per
//! redemption. Boards, levels, challenges and exports count points earned and leave both out;
//! what a member may spend is the sum of all their entries.
//!
//! Races: a member's redemptions serialise on a transaction-level advisory lock of their own
//! (every server process shares it), taken before their balance is read, so concurrent
//! redemptions can never spend more than the balance; an item's stock is taken by one
//! conditional `UPDATE` (`stock > 0`), so it is never oversold; status changes are conditional
//! `UPDATE`s on the status they start from, so of two racing changes one wins and the other
//! answers 409, and a redemption is refunded at most once.
//!
//! - `routes`: the HTTP edge.
//! - `catalogue`: what admins send to create and change items, its validation, and the
//!   catalogue's transactions.
//! - `redeeming`: redeeming an item, and the redemption's status changes with their refunds.
//! - `queries`: rows, views and lists.

pub mod catalogue;
pub mod queries;
pub mod redeeming;
pub mod routes;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::recognition::MemberRef;
use crate::vocabulary::vocabulary;

pub use routes::routes;

/// The longest title of an item.
pub const MAX_TITLE: usize = 200;
/// The longest description of an item (line breaks allowed).
pub const MAX_DESCRIPTION: usize = 2000;
/// The longest image URL.
pub const MAX_IMAGE_URL: usize = 2048;
/// The most an item may cost.
pub const MAX_POINT_COST: i64 = 1_000_000;
/// The most an item's stock may be.
pub const MAX_STOCK: i64 = 1_000_000;
/// The longest reason for declining a redemption.
pub const MAX_DECLINE_REASON: usize = 1000;

vocabulary!(
    /// Where a redemption stands: `requested` -> `approved` | `declined`, `approved` ->
    /// `fulfilled`; `requested` or `approved` -> `cancelled`. `declined` and `cancelled` were
    /// refunded.
    RedemptionStatus {
        /// Waits for an admin's approval (items with `requires_approval`).
        Requested = "requested",
        /// To be handed over (items without approval start here).
        Approved = "approved",
        /// Refused by an admin, with a reason; refunded.
        Declined = "declined",
        /// Handed over.
        Fulfilled = "fulfilled",
        /// Withdrawn (by the member while requested, or by an admin before it is fulfilled);
        /// refunded.
        Cancelled = "cancelled",
    }
);

/// An item of the organisation's catalogue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RewardItem {
    pub id: Uuid,
    pub title: String,
    /// May be empty.
    pub description: String,
    /// An `http` or `https` URL of a picture of it.
    pub image_url: Option<String>,
    /// What one redemption costs.
    pub point_cost: i32,
    /// How many are left to redeem; `null`: unlimited.
    pub stock: Option<i32>,
    /// Redemptions wait for an admin's approval (`requested`); without it they start
    /// `approved`.
    pub requires_approval: bool,
    /// Members see and redeem active items only.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An item as a redemption names it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RewardRef {
    pub id: Uuid,
    pub title: String,
}

/// A member's redemption of an item.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Redemption {
    pub id: Uuid,
    pub item: RewardRef,
    /// Who redeemed it.
    pub member: MemberRef,
    /// What it cost (the item's cost when redeemed), and what a refund gives back.
    pub points: i32,
    pub status: RedemptionStatus,
    /// The ledger entry that paid for it (negative).
    pub entry_id: Uuid,
    /// The ledger entry that refunded it (declined or cancelled).
    pub refund_entry_id: Option<Uuid>,
    /// The admin who approved or declined it (none when approved on request).
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    /// Why it was declined.
    pub decline_reason: Option<String>,
    pub fulfilled_by: Option<Uuid>,
    pub fulfilled_at: Option<DateTime<Utc>>,
    pub cancelled_by: Option<Uuid>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
