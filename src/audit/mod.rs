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
use uuid::Uuid;

use crate::error::AppResult;
use crate::schema::audit_log;
use crate::vocabulary::vocabulary;

pub use routes::routes;

vocabulary!(
    Action {
        Export = "export",
        Erasure = "erasure",
        RoleChange = "role_change",
        MemberDeactivated = "member_deactivated",
        MemberReactivated = "member_reactivated",
        ApiKeyCreated = "api_key_created",
        ApiKeyRevoked = "api_key_revoked",
        ApiKeyUsed = "api_key_used",
        PointReversal = "point_reversal",
        PointAdjustment = "point_adjustment",
        PointRulesChanged = "point_rules_changed",
        KpiRecorded = "kpi_recorded",
        KpiCorrected = "kpi_corrected",
        OrganisationSettingsChanged = "organisation_settings_changed",
        MemberCreated = "member_created",
        InviteCreated = "invite_created",
        InviteAccepted = "invite_accepted",
        PasswordChanged = "password_changed",
        PasswordReset = "password_reset",
        ApiKeyReassigned = "api_key_reassigned",
        ChallengeCreated = "challenge_created",
        ChallengeChanged = "challenge_changed",
        ChallengeCancelled = "challenge_cancelled",
        ValueCreated = "value_created",
        ValueChanged = "value_changed",
        RecognitionUndone = "recognition_undone",
        RecognitionHidden = "recognition_hidden",
        CommentHidden = "comment_hidden",
        CommentDeleted = "comment_deleted",
        ReportDismissed = "report_dismissed",
        RewardItemCreated = "reward_item_created",
        RewardItemChanged = "reward_item_changed",
        RedemptionRequested = "redemption_requested",
        RedemptionApproved = "redemption_approved",
        RedemptionDeclined = "redemption_declined",
        RedemptionFulfilled = "redemption_fulfilled",
        RedemptionCancelled = "redemption_cancelled",
        BadgeImageChanged = "badge_image_changed",
        BadgeAssertionRevoked = "badge_assertion_revoked",
        ScimUserCreated = "scim_user_created",
        ScimUserReplaced = "scim_user_replaced",
        ScimUserPatched = "scim_user_patched",
        ScimUserDeleted = "scim_user_deleted",
        ScimGroupCreated = "scim_group_created",
        ScimGroupReplaced = "scim_group_replaced",
        ScimGroupPatched = "scim_group_patched",
        ScimGroupDeleted = "scim_group_deleted",
        WebhookCreated = "webhook_created",
        WebhookChanged = "webhook_changed",
        WebhookDeleted = "webhook_deleted",
        WebhookSecretRotated = "webhook_secret_rotated",
        WebhookDisabled = "webhook_disabled",
        PinSet = "pin_set",
        PinRemoved = "pin_removed",
        SsoConfigured = "sso_configured",
        SsoRemoved = "sso_removed",
        SsoLinked = "sso_linked",
        SsoMemberCreated = "sso_member_created",
    }
);

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
