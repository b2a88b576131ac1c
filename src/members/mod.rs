//! Members: the people of an organisation, their roles, teams (with history) and accounts.

pub mod dates;
pub mod input;
pub mod lifecycle;
pub mod queries;
pub mod routes;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Role;
use crate::vocabulary::vocabulary;

pub use routes::routes;

vocabulary!(
    /// Where a member's account stands.
    MemberStatus {
        /// Can log in.
        Active = "active",
        /// Created with an invite; has not chosen a password yet.
        Invited = "invited",
        /// Can no longer log in; their history stays.
        Deactivated = "deactivated",
        /// Personal data erased; only anonymous totals remain.
        Erased = "erased",
    }
);

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Member {
    pub id: Uuid,
    /// Shown to admins, HR and the member themself; absent for everyone else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub display_name: String,
    pub role: Role,
    pub team_id: Option<Uuid>,
    pub team_name: Option<String>,
    pub status: MemberStatus,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Birthday without a year, `--MM-DD`. Shown to admins, HR and the member themself (null
    /// when not set); absent for everyone else, who only see the celebration.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^--(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$", example = "--03-14")]
    pub birth_date: Option<Option<String>>,
    /// The day they started: work anniversaries follow it. Shown like `birth_date`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<NaiveDate>)]
    pub started_on: Option<Option<NaiveDate>>,
    /// The number their employer knows them by; they may sign in with it instead of their
    /// email. Shown like `email` (null when not set).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub employee_number: Option<Option<String>>,
}

/// One stint of a member in a team.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamStint {
    pub team_id: Uuid,
    pub team_name: String,
    pub started_at: DateTime<Utc>,
    /// Absent for the current team.
    pub ended_at: Option<DateTime<Utc>>,
    /// The admin who made the move, when one did.
    pub moved_by: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberDetail {
    #[serde(flatten)]
    pub member: Member,
    /// Every team the member has been in, oldest first.
    pub team_history: Vec<TeamStint>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedMember {
    #[serde(flatten)]
    pub member: Member,
    /// Present when no password was given and the server sends no email: hand it to the
    /// member, who sets a password with it at `POST /api/v1/auth/invites/accept`. Shown once;
    /// only a hash is kept. (When the server sends email, the invite went to the member's
    /// address instead, and `invite_emailed` is true.)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_expires_at: Option<DateTime<Utc>>,
    /// Present when no password was given: whether the invite was emailed to the member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_emailed: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Invite {
    /// Shown once; only a hash is kept. Absent when the invite was emailed to the member
    /// (the server sends email): then only their mailbox sees it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_token: Option<String>,
    pub invite_expires_at: DateTime<Utc>,
    /// Whether the invite was emailed to the member.
    pub invite_emailed: bool,
}

/// Validated input for a new member.
pub struct NewMember {
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub team_id: Option<Uuid>,
    pub password_hash: Option<String>,
    pub birth_date: Option<dates::BirthDate>,
    pub started_on: Option<NaiveDate>,
    pub employee_number: Option<String>,
}
