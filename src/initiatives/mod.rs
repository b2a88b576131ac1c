//! Initiatives ("wins"): what staff did or propose to improve a customer's experience.
//!
//! An initiative moves `submitted` -> `approved` | `declined` -> `implemented` -> `measured`.
//! Every change is an event on its timeline, and every point it earns is a ledger entry
//! written in the same transaction as the change, with the initiative row locked so that two
//! concurrent changes cannot both succeed.
//!
//! - `routes`: the HTTP edge (thin handlers: parse, authorise, call the domain, answer).
//! - `input`: what clients send and its validation.
//! - `lifecycle`: creating, editing and moving an initiative through its statuses, with points.
//! - `points`: the daily cap on points members pay themselves through wins.
//! - `queries`: rows and views.
//! - `listing`: the list query, its filter, orders and cursors.
//! - `comments`: coaching and cheering on an initiative.

pub mod comments;
pub mod input;
pub mod lifecycle;
pub mod listing;
pub mod notices;
pub mod points;
pub mod queries;
pub mod routes;
pub use routes::{InitiativesApi, routes};

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

pub use crate::recognition::MemberRef;
use crate::vocabulary::{Channel, Dimension, JourneyStage, vocabulary};

vocabulary!(
    /// Where an initiative is in its lifecycle.
    InitiativeStatus {
        /// Logged, waiting for a team lead (or an admin) to approve or decline it.
        Submitted = "submitted",
        Approved = "approved",
        Declined = "declined",
        Implemented = "implemented",
        /// Implemented, and its effect on a CX KPI recorded.
        Measured = "measured",
    }
);

vocabulary!(
    /// What happened to an initiative, as recorded on its timeline.
    EventKind {
        Submitted = "submitted",
        /// The author changed it while it was still submitted; the note lists the fields.
        Edited = "edited",
        Approved = "approved",
        Declined = "declined",
        Implemented = "implemented",
        Measured = "measured",
    }
);

/// The measured effect of an initiative on a CX KPI.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Outcome {
    /// The KPI it moved, e.g. CSAT, NPS, CES, first-contact resolution.
    pub kpi: String,
    /// The KPI's unit, e.g. `%` or `points` (may be empty).
    pub unit: String,
    /// The KPI before the initiative.
    pub baseline: f64,
    /// The KPI after the initiative.
    pub result: f64,
    /// `result - baseline`.
    pub change: f64,
    pub measured_at: DateTime<Utc>,
}

/// An initiative ("win").
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Initiative {
    pub id: Uuid,
    pub author: MemberRef,
    /// The author's team when they submitted it: its leads approve it.
    pub team_id: Option<Uuid>,
    pub title: String,
    pub description: String,
    pub dimension: Dimension,
    pub channel: Channel,
    pub journey_stage: JourneyStage,
    /// Value for the customer, 1-5.
    pub customer_value: i16,
    /// Value for the organisation, 1-5.
    pub organisation_value: i16,
    /// Ease of implementation, 1-5 (5 = easiest).
    pub ease: i16,
    /// `(customer_value + organisation_value) * ease * 2`: 4 to 100, higher first.
    pub priority: i16,
    /// A reference to the customer case, ticket or conversation, if any.
    pub customer_reference: Option<String>,
    pub status: InitiativeStatus,
    /// Set once measured.
    pub outcome: Option<Outcome>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One change on an initiative's timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineEvent {
    pub id: Uuid,
    pub kind: EventKind,
    /// Who made the change.
    pub actor: MemberRef,
    pub from_status: Option<InitiativeStatus>,
    pub to_status: Option<InitiativeStatus>,
    /// The approver's note, the decline reason, or what an edit changed.
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An initiative with its contributors, its timeline (oldest first) and how many comments it has.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InitiativeDetail {
    #[serde(flatten)]
    pub initiative: Initiative,
    /// Members credited alongside the author, by name.
    pub contributors: Vec<MemberRef>,
    /// Every change, oldest first.
    pub timeline: Vec<TimelineEvent>,
    pub comment_count: i64,
}

/// A comment on an initiative.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Comment {
    pub id: Uuid,
    pub author: MemberRef,
    pub body: String,
    pub created_at: DateTime<Utc>,
}
