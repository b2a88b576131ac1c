//! SCIM Groups' rows: a live team and, once an identity provider wrote it, its `scim_groups`
//! row; who is in it (`members.team_id`), and the moves a Group's membership makes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::schema::{members, scim_groups, scim_users, team_memberships, teams};

/// id, name, created, updated; the stored document, its creation and change.
pub type GroupRow = (
    Uuid,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<Value>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

macro_rules! groups_of {
    ($org:expr) => {
        teams::table
            .left_join(
                scim_groups::table.on(scim_groups::team_id
                    .eq(teams::id)
                    .and(scim_groups::organisation_id.eq(teams::organisation_id))),
            )
            .filter(teams::organisation_id.eq($org))
            .filter(teams::archived_at.is_null())
            .select((
                teams::id,
                teams::name,
                teams::created_at,
                teams::updated_at,
                scim_groups::document.nullable(),
                scim_groups::created_at.nullable(),
                scim_groups::updated_at.nullable(),
            ))
    };
}

/// One live team of the organisation.
pub async fn load(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
) -> AppResult<Option<GroupRow>> {
    Ok(groups_of!(org)
        .filter(teams::id.eq(id))
        .first(conn)
        .await
        .optional()?)
}

/// Lock a live team's row for the rest of the transaction; false when there is none.
pub async fn lock(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<bool> {
    let found: Option<Uuid> = teams::table
        .filter(teams::organisation_id.eq(org))
        .filter(teams::id.eq(id))
        .filter(teams::archived_at.is_null())
        .select(teams::id)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    Ok(found.is_some())
}

pub async fn count(conn: &mut AsyncPgConnection, org: Uuid) -> AppResult<i64> {
    Ok(teams::table
        .filter(teams::organisation_id.eq(org))
        .filter(teams::archived_at.is_null())
        .count()
        .get_result(conn)
        .await?)
}

/// Live teams in order of creation; `name`: only the one so named (any case).
pub async fn page(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    name: Option<&str>,
    after: Option<(DateTime<Utc>, Uuid)>,
    offset: i64,
    limit: i64,
) -> AppResult<Vec<GroupRow>> {
    let mut query = groups_of!(org)
        .order((teams::created_at, teams::id))
        .offset(offset)
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = after {
        query = query.filter(
            teams::created_at
                .gt(at)
                .or(teams::created_at.eq(at).and(teams::id.gt(id))),
        );
    }
    if let Some(name) = name {
        query = query.filter(
            diesel::dsl::sql::<Bool>("lower(teams.name) = lower(")
                .bind::<Text, _>(name.to_string())
                .sql(")"),
        );
    }
    Ok(query.load(conn).await?)
}

/// The (member, team) of every provisioned-or-not, not erased member of these teams.
pub async fn members_of(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    teams: &[Uuid],
) -> AppResult<Vec<(Uuid, Uuid)>> {
    let rows: Vec<(Uuid, Option<Uuid>)> = members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::team_id.eq_any(teams))
        .filter(members::erased_at.is_null())
        .select((members::id, members::team_id))
        .order((members::created_at, members::id))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(m, t)| t.map(|t| (m, t)))
        .collect())
}

/// Which of `ids` are Users of the organisation (not erased, not deleted over SCIM).
pub async fn existing_users(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    ids: &[Uuid],
) -> AppResult<Vec<Uuid>> {
    Ok(members::table
        .left_join(
            scim_users::table.on(scim_users::member_id
                .eq(members::id)
                .and(scim_users::organisation_id.eq(members::organisation_id))),
        )
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq_any(ids))
        .filter(members::erased_at.is_null())
        .filter(scim_users::deleted_at.is_null())
        .select(members::id)
        .load(conn)
        .await?)
}

/// Put a member in `team`: their current stint ends, a new one starts (a member is in one
/// team at a time: joining a Group leaves the last).
pub async fn join(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    team: Uuid,
) -> AppResult<()> {
    let now = Utc::now();
    diesel::update(
        team_memberships::table
            .filter(team_memberships::organisation_id.eq(org))
            .filter(team_memberships::member_id.eq(member))
            .filter(team_memberships::ended_at.is_null()),
    )
    .set(team_memberships::ended_at.eq(now))
    .execute(conn)
    .await?;
    diesel::insert_into(team_memberships::table)
        .values((
            team_memberships::organisation_id.eq(org),
            team_memberships::member_id.eq(member),
            team_memberships::team_id.eq(team),
            team_memberships::started_at.eq(now),
        ))
        .execute(conn)
        .await?;
    diesel::update(
        members::table
            .filter(members::organisation_id.eq(org))
            .filter(members::id.eq(member)),
    )
    .set((members::team_id.eq(team), members::updated_at.eq(now)))
    .execute(conn)
    .await?;
    Ok(())
}

/// Keep what the identity provider asserted about a team.
pub async fn store(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    team: Uuid,
    external_id: Option<&str>,
    document: &Value,
    deleted_at: Option<DateTime<Utc>>,
) -> AppResult<()> {
    diesel::insert_into(scim_groups::table)
        .values((
            scim_groups::organisation_id.eq(org),
            scim_groups::team_id.eq(team),
            scim_groups::external_id.eq(external_id),
            scim_groups::document.eq(document),
            scim_groups::deleted_at.eq(deleted_at),
        ))
        .on_conflict(scim_groups::team_id)
        .do_update()
        .set((
            scim_groups::external_id.eq(external_id),
            scim_groups::document.eq(document),
            scim_groups::deleted_at.eq(deleted_at),
            scim_groups::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Rename a live team; a live team with the name already is a conflict.
pub async fn rename(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    team: Uuid,
    name: &str,
) -> AppResult<()> {
    diesel::update(
        teams::table
            .filter(teams::organisation_id.eq(org))
            .filter(teams::id.eq(team))
            .filter(teams::name.ne(name)),
    )
    .set((teams::name.eq(name), teams::updated_at.eq(Utc::now())))
    .execute(conn)
    .await
    .map_err(|e| match AppError::from(e) {
        AppError::Conflict { .. } => super::taken(format!("a team named '{name}' already exists")),
        other => other,
    })?;
    Ok(())
}

/// Archive a team (it has no members left by then).
pub async fn archive(conn: &mut AsyncPgConnection, org: Uuid, team: Uuid) -> AppResult<()> {
    let now = Utc::now();
    diesel::update(
        teams::table
            .filter(teams::organisation_id.eq(org))
            .filter(teams::id.eq(team)),
    )
    .set((teams::archived_at.eq(now), teams::updated_at.eq(now)))
    .execute(conn)
    .await?;
    Ok(())
}
