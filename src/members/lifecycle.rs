//! Role changes, deactivation and reactivation, and the rule they keep: an organisation never
//! loses its last active admin.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::queries::{self, is_erased, lock_member};
use crate::audit::{self, Action, Actor};
use crate::auth::{Role, sessions};
use crate::error::{AppError, AppResult};
use crate::schema::{members, teams};

/// Lock every active admin row of the organisation, in id order, and return their ids. Every
/// change that can take away an admin (demotion, deactivation, erasure) takes these locks
/// first and in the same order, so two admins removing each other at once serialise (the
/// second sees the first's change) instead of both succeeding or deadlocking.
pub async fn lock_active_admins(conn: &mut AsyncPgConnection, org: Uuid) -> AppResult<Vec<Uuid>> {
    // Only admins who can log in count: an invited admin who never set a password cannot
    // administer anything.
    Ok(members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::role.eq(Role::Admin.as_str()))
        .filter(members::deactivated_at.is_null())
        .filter(members::password_hash.is_not_null())
        .select(members::id)
        .order(members::id)
        .for_update()
        .load(conn)
        .await?)
}

/// Refuse to leave the organisation without an active admin. `admins` comes from
/// [`lock_active_admins`], taken at the start of the transaction.
pub fn ensure_other_admin(admins: &[Uuid], member_id: Uuid) -> AppResult<()> {
    if admins.iter().all(|a| *a == member_id) && admins.contains(&member_id) {
        return Err(AppError::conflict(
            "this is the organisation's last active admin; make someone else admin first",
        ));
    }
    Ok(())
}

pub async fn set_role(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member_id: Uuid,
    role: Role,
    by: Uuid,
) -> AppResult<()> {
    conn.transaction::<_, AppError, _>(async move |conn| {
        let admins = lock_active_admins(conn, org).await?;
        let (current, _, _) = lock_member(conn, org, member_id).await?;
        if current == role.as_str() {
            return Ok(());
        }
        if current == Role::Admin.as_str() {
            ensure_other_admin(&admins, member_id)?;
        }
        diesel::update(
            members::table
                .filter(members::organisation_id.eq(org))
                .filter(members::id.eq(member_id)),
        )
        .set((
            members::role.eq(role.as_str()),
            members::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
        audit::record(
            conn,
            org,
            Actor::Member(by),
            Action::RoleChange,
            Some(("member", member_id)),
            serde_json::json!({ "from": current, "to": role.as_str() }),
        )
        .await?;
        Ok(())
    })
    .await
}

pub async fn deactivate(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member_id: Uuid,
    by: Actor,
) -> AppResult<()> {
    conn.transaction::<_, AppError, _>(async move |conn| {
        let admins = lock_active_admins(conn, org).await?;
        let (role, _, deactivated_at) = lock_member(conn, org, member_id).await?;
        if deactivated_at.is_some() {
            return Err(AppError::Conflict {
                detail: "the member is already deactivated".into(),
                extra: Some(serde_json::json!({ "deactivated_at": deactivated_at })),
            });
        }
        if role == Role::Admin.as_str() {
            ensure_other_admin(&admins, member_id)?;
        }
        diesel::update(
            members::table
                .filter(members::organisation_id.eq(org))
                .filter(members::id.eq(member_id)),
        )
        .set((
            members::deactivated_at.eq(Utc::now()),
            members::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
        sessions::revoke_all(conn, org, member_id, None, "member deactivated").await?;
        audit::record(
            conn,
            org,
            by,
            Action::MemberDeactivated,
            Some(("member", member_id)),
            serde_json::json!({}),
        )
        .await?;
        // Pending invites die with the account; an admin issues a new one after reactivation.
        queries::expire_invites(conn, org, member_id).await?;
        Ok(())
    })
    .await
}

pub async fn reactivate(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member_id: Uuid,
    by: Actor,
) -> AppResult<()> {
    conn.transaction::<_, AppError, _>(async move |conn| {
        let (_, team, deactivated_at) = lock_member(conn, org, member_id).await?;
        if is_erased(conn, org, member_id).await? {
            return Err(AppError::conflict(
                "this member was erased; erasure cannot be undone",
            ));
        }
        audit::record(
            conn,
            org,
            by,
            Action::MemberReactivated,
            Some(("member", member_id)),
            serde_json::json!({}),
        )
        .await?;
        if deactivated_at.is_none() {
            return Err(AppError::conflict("the member is active"));
        }
        let now = Utc::now();
        // Their team may have been archived while they were away: they come back without a
        // team (the stint ends) rather than as a live member of a team that no longer exists.
        let team_archived = match team {
            Some(t) => {
                teams::table
                    .filter(teams::organisation_id.eq(org))
                    .filter(teams::id.eq(t))
                    .select(teams::archived_at.is_not_null())
                    .first::<bool>(conn)
                    .await?
            }
            None => false,
        };
        if team_archived {
            queries::end_stint(conn, org, member_id, now).await?;
        }
        let team = if team_archived { None } else { team };
        diesel::update(
            members::table
                .filter(members::organisation_id.eq(org))
                .filter(members::id.eq(member_id)),
        )
        .set((
            members::deactivated_at.eq(None::<DateTime<Utc>>),
            members::team_id.eq(team),
            members::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
        Ok(())
    })
    .await
}
