//! Whether a password (or a PIN) may still open a session: an organisation whose single
//! sign-on is `required` lets only its break-glass admins in by password, and nobody by PIN.
//! The settings themselves are the `sso` area's; this is the one question the password paths
//! ask of them, answered from the same tables.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::Role;
use crate::error::{AppError, AppResult};
use crate::schema::{sso_break_glass_admins, sso_providers};

/// The refusal every password path gives while single sign-on is required: the same `401` as
/// any refused login, saying where to go instead. Only given once the password was right, so
/// it tells nothing to someone who does not hold it.
pub const SSO_REQUIRED: &str = "your organisation signs in with single sign-on: start at /api/v1/auth/sso/start?organisation=<your organisation>";

/// How a member is signing in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Password,
    Pin,
}

/// `Ok` when `member` (of `role`) may sign in `by` a password or PIN in `org`; the
/// [`SSO_REQUIRED`] `401` otherwise.
pub async fn check(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    role: Role,
    by: By,
) -> AppResult<()> {
    let required: Option<bool> = sso_providers::table
        .filter(sso_providers::organisation_id.eq(org))
        .select(sso_providers::required)
        .first(conn)
        .await
        .optional()?;
    if required != Some(true) {
        return Ok(());
    }
    if by == By::Password && role == Role::Admin {
        let break_glass: bool = diesel::select(diesel::dsl::exists(
            sso_break_glass_admins::table
                .filter(sso_break_glass_admins::organisation_id.eq(org))
                .filter(sso_break_glass_admins::member_id.eq(member)),
        ))
        .get_result(conn)
        .await?;
        if break_glass {
            return Ok(());
        }
    }
    Err(AppError::Unauthorized(SSO_REQUIRED.into()))
}
