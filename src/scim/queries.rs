//! SCIM Users' rows: a member and, once an identity provider wrote it, its `scim_users` row.
//! Every query is scoped by organisation; erased members and ended SCIM identities are none.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::schema::{members, scim_users, team_memberships};

/// id, email, display name, deactivated at, created, updated; the stored document, its
/// creation and its change, when provisioned.
pub type UserRow = (
    Uuid,
    String,
    String,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<Value>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

macro_rules! users_of {
    ($org:expr) => {
        members::table
            .left_join(
                scim_users::table.on(scim_users::member_id
                    .eq(members::id)
                    .and(scim_users::organisation_id.eq(members::organisation_id))),
            )
            .filter(members::organisation_id.eq($org))
            .filter(members::erased_at.is_null())
            .filter(scim_users::deleted_at.is_null())
            .select((
                members::id,
                members::email,
                members::display_name,
                members::deactivated_at,
                members::created_at,
                members::updated_at,
                scim_users::document.nullable(),
                scim_users::created_at.nullable(),
                scim_users::updated_at.nullable(),
            ))
    };
}

/// What the database can narrow a filtered list by before the filter is evaluated.
pub enum Narrow {
    UserName(String),
    ExternalId(String),
}

/// One user of the organisation, unless erased or deleted over SCIM.
pub async fn load(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<Option<UserRow>> {
    Ok(users_of!(org)
        .filter(members::id.eq(id))
        .first(conn)
        .await
        .optional()?)
}

/// How many users the organisation has.
pub async fn count(conn: &mut AsyncPgConnection, org: Uuid) -> AppResult<i64> {
    Ok(members::table
        .left_join(
            scim_users::table.on(scim_users::member_id
                .eq(members::id)
                .and(scim_users::organisation_id.eq(members::organisation_id))),
        )
        .filter(members::organisation_id.eq(org))
        .filter(members::erased_at.is_null())
        .filter(scim_users::deleted_at.is_null())
        .count()
        .get_result(conn)
        .await?)
}

/// Users in order of creation: `limit` of them after `offset`, or after the (created, id)
/// of `after`; only those `narrow` allows.
pub async fn page(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    narrow: Option<&Narrow>,
    after: Option<(DateTime<Utc>, Uuid)>,
    offset: i64,
    limit: i64,
) -> AppResult<Vec<UserRow>> {
    let mut query = users_of!(org)
        .order((members::created_at, members::id))
        .offset(offset)
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = after {
        query = query.filter(
            members::created_at
                .gt(at)
                .or(members::created_at.eq(at).and(members::id.gt(id))),
        );
    }
    match narrow {
        Some(Narrow::UserName(name)) => {
            query = query.filter(
                diesel::dsl::sql::<Bool>(
                    "lower(coalesce(scim_users.user_name, members.email)) = lower(",
                )
                .bind::<Text, _>(name.clone())
                .sql(")"),
            )
        }
        Some(Narrow::ExternalId(ext)) => {
            query = query.filter(
                diesel::dsl::sql::<Bool>("lower(scim_users.external_id) = lower(")
                    .bind::<Text, _>(ext.clone())
                    .sql(")"),
            )
        }
        None => {}
    }
    Ok(query.load(conn).await?)
}

/// Lock a member's row for the rest of the transaction: its deactivation state, or `None`
/// when the organisation has no such member (or it was erased, or deleted over SCIM).
pub async fn lock(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
) -> AppResult<Option<Option<DateTime<Utc>>>> {
    let found = lock_member(conn, org, id).await?;
    if found.is_none() || is_deleted(conn, org, id).await? {
        return Ok(None);
    }
    Ok(found)
}

/// [`lock`], whether or not the SCIM identity was deleted.
pub async fn lock_member(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
) -> AppResult<Option<Option<DateTime<Utc>>>> {
    let found: Option<Option<DateTime<Utc>>> = members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq(id))
        .filter(members::erased_at.is_null())
        .select(members::deactivated_at)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    Ok(found)
}

async fn is_deleted(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<bool> {
    let n: i64 = scim_users::table
        .filter(scim_users::organisation_id.eq(org))
        .filter(scim_users::member_id.eq(id))
        .filter(scim_users::deleted_at.is_not_null())
        .count()
        .get_result(conn)
        .await?;
    Ok(n > 0)
}

/// The (not erased) member with this email, locked: its id and whether it has a live SCIM
/// identity already.
pub async fn by_email(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    email: &str,
) -> AppResult<Option<(Uuid, bool)>> {
    let id: Option<Uuid> = members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::email.eq(email))
        .filter(members::erased_at.is_null())
        .select(members::id)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    let Some(id) = id else {
        return Ok(None);
    };
    let live: i64 = scim_users::table
        .filter(scim_users::organisation_id.eq(org))
        .filter(scim_users::member_id.eq(id))
        .filter(scim_users::deleted_at.is_null())
        .count()
        .get_result(conn)
        .await?;
    Ok(Some((id, live > 0)))
}

/// Keep what the identity provider asserted (a deleted identity comes back to life).
pub async fn store(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
    (user_name, external_id): (&str, Option<&str>),
    document: &Value,
    deleted_at: Option<DateTime<Utc>>,
) -> AppResult<()> {
    let now = Utc::now();
    diesel::insert_into(scim_users::table)
        .values((
            scim_users::organisation_id.eq(org),
            scim_users::member_id.eq(id),
            scim_users::user_name.eq(user_name),
            scim_users::external_id.eq(external_id),
            scim_users::document.eq(document),
            scim_users::deleted_at.eq(deleted_at),
        ))
        .on_conflict(scim_users::member_id)
        .do_update()
        .set((
            scim_users::user_name.eq(user_name),
            scim_users::external_id.eq(external_id),
            scim_users::document.eq(document),
            scim_users::deleted_at.eq(deleted_at),
            scim_users::updated_at.eq(now),
        ))
        .execute(conn)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Conflict { .. } => {
                super::taken(format!("another user has the userName '{user_name}'"))
            }
            other => other,
        })?;
    Ok(())
}

/// Set the member's email and name; another member's email is a conflict.
/// Set the member's email and name; the email they had, when it changed.
pub async fn set_profile(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
    email: &str,
    display_name: &str,
) -> AppResult<Option<String>> {
    let before: Option<String> = members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq(id))
        .select(members::email)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    diesel::update(
        members::table
            .filter(members::organisation_id.eq(org))
            .filter(members::id.eq(id))
            .filter(
                members::email
                    .ne(email)
                    .or(members::display_name.ne(display_name)),
            ),
    )
    .set((
        members::email.eq(email),
        members::display_name.eq(display_name),
        members::updated_at.eq(Utc::now()),
    ))
    .execute(conn)
    .await
    .map_err(|e| match AppError::from(e) {
        AppError::Conflict { .. } => super::taken(format!("another member has the email {email}")),
        other => other,
    })?;
    Ok(before.filter(|old| old != email))
}

/// Take the member out of their team (the stint ends; history stays).
pub async fn leave_team(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<()> {
    let now = Utc::now();
    diesel::update(
        team_memberships::table
            .filter(team_memberships::organisation_id.eq(org))
            .filter(team_memberships::member_id.eq(id))
            .filter(team_memberships::ended_at.is_null()),
    )
    .set(team_memberships::ended_at.eq(now))
    .execute(conn)
    .await?;
    diesel::update(
        members::table
            .filter(members::organisation_id.eq(org))
            .filter(members::id.eq(id)),
    )
    .set((
        members::team_id.eq(None::<Uuid>),
        members::updated_at.eq(now),
    ))
    .execute(conn)
    .await?;
    Ok(())
}
