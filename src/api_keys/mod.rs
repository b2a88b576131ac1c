//! API keys for machine clients (an HR system pulling exports nightly): created by an admin,
//! shown once, stored hashed, scoped, revocable, with their last use recorded and audited.
//!
//! A key expires (one year unless the admin chooses a nearer date) and acts for a member, its
//! owner: its creator until an admin re-assigns it. While the owner is deactivated or erased
//! the key does not work, so a departed admin's integrations do not outlive their account
//! unnoticed. Each use is audited, at most once per key per minute (see [`guards`]).
//!
//! - `routes`: the HTTP edge (admins manage keys).
//! - `domain`: creating, revoking and re-assigning a key, each with its audit entry.
//! - `queries`: key rows and their view.
//! - `guards`: `ExportReader`, `KpiWriter`: a member with the role, or a key with the scope.

pub mod domain;
pub mod guards;
pub mod queries;
pub mod routes;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::vocabulary::vocabulary;
use utoipa::ToSchema;
use uuid::Uuid;

pub use guards::{ExportReader, KpiWriter, Principal};
pub use routes::routes;

vocabulary!(
    /// What a key may do.
    // Published as `ApiKeyScope`: the leaderboards' `Scope` has the schema name `Scope`.
    #[schema(as = ApiKeyScope)]
    Scope {
        /// Pull engagement exports.
        Exports = "exports",
        /// Record CX KPIs.
        Kpis = "kpis",
        /// Provision members and teams over SCIM 2.0 (`/scim/v2`); the key's owner must be
        /// an admin.
        Scim = "scim",
    }
);

pub const KEY_PREFIX: &str = "flk";

/// A key's lifetime when the admin does not choose one.
pub const DEFAULT_LIFETIME_DAYS: i64 = 365;
/// The furthest expiry an admin may choose: a key is a bearer secret, rotated at least this often.
pub const MAX_LIFETIME_DAYS: i64 = 730;

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_by: Uuid,
    /// The member the key acts for; it stops working while they are deactivated, erased or no
    /// longer an admin or HR analyst.
    pub owner_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The key itself. Shown this once; only a hash is kept. Send it as
    /// `Authorization: Bearer <key>`.
    pub key: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    /// When the key stops working (RFC 3339), in the future and at most 730 days away.
    /// Default: one year from now.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignApiKey {
    /// The new owner: an active admin or HR member of the organisation.
    pub member_id: Uuid,
}
