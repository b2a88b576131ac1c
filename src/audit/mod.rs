//! The audit log: exports, erasures, role changes, API-key use and point corrections, each
//! with who, when and what. Append-only in the database.
//!
//! This file is what writers need ([`record`], [`Action`], [`Actor`]); reading the log over
//! HTTP is in `routes` (its query in `queries`), which needs the authentication guards, so
//! that `auth` can record without importing what imports it.

pub mod queries;
pub mod routes;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::AppResult;
use crate::schema::audit_log;

pub use routes::routes;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Export,
    Erasure,
    RoleChange,
    MemberDeactivated,
    MemberReactivated,
    ApiKeyCreated,
    ApiKeyRevoked,
    ApiKeyUsed,
    PointReversal,
    PointAdjustment,
    PointRulesChanged,
    KpiRecorded,
    KpiCorrected,
    OrganisationSettingsChanged,
    MemberCreated,
    InviteCreated,
    InviteAccepted,
    PasswordChanged,
    ApiKeyReassigned,
    ChallengeCreated,
    ChallengeChanged,
    ChallengeCancelled,
}

impl Action {
    pub const ALL: [Action; 22] = [
        Action::Export,
        Action::Erasure,
        Action::RoleChange,
        Action::MemberDeactivated,
        Action::MemberReactivated,
        Action::ApiKeyCreated,
        Action::ApiKeyRevoked,
        Action::ApiKeyUsed,
        Action::PointReversal,
        Action::PointAdjustment,
        Action::PointRulesChanged,
        Action::KpiRecorded,
        Action::KpiCorrected,
        Action::OrganisationSettingsChanged,
        Action::MemberCreated,
        Action::InviteCreated,
        Action::InviteAccepted,
        Action::PasswordChanged,
        Action::ApiKeyReassigned,
        Action::ChallengeCreated,
        Action::ChallengeChanged,
        Action::ChallengeCancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Export => "export",
            Action::Erasure => "erasure",
            Action::RoleChange => "role_change",
            Action::MemberDeactivated => "member_deactivated",
            Action::MemberReactivated => "member_reactivated",
            Action::ApiKeyCreated => "api_key_created",
            Action::ApiKeyRevoked => "api_key_revoked",
            Action::ApiKeyUsed => "api_key_used",
            Action::PointReversal => "point_reversal",
            Action::PointAdjustment => "point_adjustment",
            Action::PointRulesChanged => "point_rules_changed",
            Action::KpiRecorded => "kpi_recorded",
            Action::KpiCorrected => "kpi_corrected",
            Action::OrganisationSettingsChanged => "organisation_settings_changed",
            Action::MemberCreated => "member_created",
            Action::InviteCreated => "invite_created",
            Action::InviteAccepted => "invite_accepted",
            Action::PasswordChanged => "password_changed",
            Action::ApiKeyReassigned => "api_key_reassigned",
            Action::ChallengeCreated => "challenge_created",
            Action::ChallengeChanged => "challenge_changed",
            Action::ChallengeCancelled => "challenge_cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Who did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Member(Uuid),
    ApiKey(Uuid),
}

/// Append an entry. Call inside the transaction of the action, so an action and its audit
/// entry commit together or not at all.
pub async fn record(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    actor: Actor,
    action: Action,
    subject: Option<(&str, Uuid)>,
    details: serde_json::Value,
) -> AppResult<()> {
    let (member, key) = match actor {
        Actor::Member(m) => (Some(m), None),
        Actor::ApiKey(k) => (None, Some(k)),
    };
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::organisation_id.eq(org),
            audit_log::action.eq(action.as_str()),
            audit_log::actor_member_id.eq(member),
            audit_log::actor_api_key_id.eq(key),
            audit_log::subject_type.eq(subject.map(|s| s.0)),
            audit_log::subject_id.eq(subject.map(|s| s.1)),
            audit_log::details.eq(details),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
