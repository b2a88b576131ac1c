//! Admins' changes to Open Badges, each audited in its own transaction: a badge's image, the
//! revocation of an assertion, the issuer's contact email.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::images::ImageKind;
use super::queries::{self, AssertionRow};
use crate::audit::{self, Action, Actor};
use crate::db;
use crate::error::{AppError, AppResult};
use crate::schema::organisations;

/// Store a checked image for a badge of `org`; its SHA-256 (hex) and when it was stored.
pub async fn set_image(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    by: Uuid,
    badge: Uuid,
    kind: ImageKind,
    bytes: Vec<u8>,
) -> AppResult<(String, DateTime<Utc>)> {
    let digest = Sha256::digest(&bytes).to_vec();
    let hex = hex::encode(&digest);
    let details =
        json!({ "content_type": kind.content_type(), "bytes": bytes.len(), "sha256": hex });
    let updated_at = db::transaction(conn, move |c| {
        let (bytes, digest, details) = (bytes.clone(), digest.clone(), details.clone());
        Box::pin(async move {
            queries::badge_in(c, org, badge).await?;
            let at =
                queries::put_image(c, org, badge, kind.content_type(), &bytes, &digest).await?;
            audit::record(
                c,
                org,
                Actor::Member(by),
                Action::BadgeImageChanged,
                Some(("badge", badge)),
                details,
            )
            .await?;
            Ok(at)
        })
    })
    .await?;
    Ok((hex, updated_at))
}

/// Remove a badge's image (the placeholder is served again).
pub async fn remove_image(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    by: Uuid,
    badge: Uuid,
) -> AppResult<()> {
    db::transaction(conn, move |c| {
        Box::pin(async move {
            queries::badge_in(c, org, badge).await?;
            if !queries::delete_image(c, org, badge).await? {
                return Err(AppError::NotFound(
                    "this badge has no uploaded image".into(),
                ));
            }
            let details = json!({ "removed": true });
            audit::record(
                c,
                org,
                Actor::Member(by),
                Action::BadgeImageChanged,
                Some(("badge", badge)),
                details,
            )
            .await
        })
    })
    .await
}

/// Revoke an assertion of `org`: its public URL answers `410 Gone` from now on and the issuer's
/// revocation list names it. Refused (409) if it is revoked already.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    by: Uuid,
    id: Uuid,
    reason: String,
) -> AppResult<AssertionRow> {
    db::transaction(conn, move |c| {
        let reason = reason.clone();
        Box::pin(async move {
            let row = queries::lock_assertion(c, org, id).await?;
            if let Some(at) = row.revoked_at {
                return Err(AppError::Conflict {
                    detail: "this assertion is already revoked".into(),
                    extra: Some(
                        json!({ "revoked_at": at, "revocation_reason": row.revocation_reason }),
                    ),
                });
            }
            let row = queries::revoke(c, id, &reason).await?;
            let details =
                json!({ "reason": reason, "badge_id": row.badge_id, "member_id": row.member_id });
            audit::record(
                c,
                org,
                Actor::Member(by),
                Action::BadgeAssertionRevoked,
                Some(("badge_assertion", id)),
                details,
            )
            .await?;
            Ok(row)
        })
    })
    .await
}

/// Set (or clear, `None`) the email the Issuer profile publishes.
pub async fn set_contact_email(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    by: Uuid,
    email: Option<String>,
) -> AppResult<()> {
    db::transaction(conn, move |c| {
        let email = email.clone();
        Box::pin(async move {
            diesel::update(organisations::table.find(org))
                .set(organisations::badge_contact_email.eq(&email))
                .execute(c)
                .await?;
            let details = json!({ "badge_contact_email": email });
            audit::record(
                c,
                org,
                Actor::Member(by),
                Action::OrganisationSettingsChanged,
                Some(("organisation", org)),
                details,
            )
            .await
        })
    })
    .await
}
