//! Celebrations and nudges: birthdays and work anniversaries the organisation awards itself,
//! and the recognition gaps that help team leads notice quiet performers.
//!
//! - `award`: what is due today in each organisation's time zone, awarded once per member,
//!   kind and year (the `celebrations` key decides, in the transaction that writes the
//!   recognition and its ledger entry), in bounded batches; the server's background task.
//! - `gaps`: who may see a team's gaps, and the days since each member was last recognised.
//! - `queries`: the rows: claims, celebration recognitions, the gaps query.
//! - `routes`: `GET /api/v1/teams/{id}/recognition-gaps`.

pub mod award;
pub mod gaps;
pub mod queries;
pub mod routes;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Role;
use crate::recognition::MemberRef;
use crate::vocabulary::vocabulary;

pub use award::{Awarded, award_due};
pub use routes::routes;

vocabulary!(
    /// What is celebrated.
    CelebrationKind {
        /// The member's birthday (Feb 29 on Feb 28 in other years).
        Birthday = "birthday",
        /// Each full year since the member started.
        WorkAnniversary = "work_anniversary",
    }
);

/// A team's members by how long since anyone recognised them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecognitionGaps {
    pub team_id: Uuid,
    /// The organisation's local day the days are counted to.
    pub as_of: NaiveDate,
    /// Active members of the team but the caller, most overlooked first: never recognised
    /// (by name), then the longest ago. At most 500.
    pub members: Vec<RecognitionGap>,
    /// The team has more members than were listed (the 500 most overlooked are).
    pub truncated: bool,
}

/// One member's gap: when they were last recognised (celebrations do not count) and by whom.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecognitionGap {
    pub member_id: Uuid,
    pub display_name: String,
    pub role: Role,
    /// Whole local days since their last recognition (0: today); null if never recognised.
    pub days_since_recognised: Option<i64>,
    pub last_recognised_at: Option<DateTime<Utc>>,
    /// Who gave that recognition; null if never recognised.
    pub last_recognised_by: Option<MemberRef>,
}
