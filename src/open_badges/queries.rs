//! The rows of Open Badges. Assertions are inserted by the database (the trigger on
//! `member_badges`); here they are read, revoked and forgotten.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::schema::{badge_assertions, badge_images, badges};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = badge_assertions)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct AssertionRow {
    pub organisation_id: Uuid,
    pub id: Uuid,
    pub badge_id: Uuid,
    pub member_id: Uuid,
    pub issued_on: DateTime<Utc>,
    pub recipient_salt: Option<String>,
    pub recipient_hash: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revocation_reason: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = badges)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct BadgeClassRow {
    pub organisation_id: Uuid,
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub criterion: String,
    pub threshold: i32,
    pub dimension: Option<String>,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct IssuerRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub email: Option<String>,
}

/// An assertion by its id alone (the public URL's key), in whatever organisation.
pub async fn assertion(conn: &mut AsyncPgConnection, id: Uuid) -> AppResult<Option<AssertionRow>> {
    Ok(badge_assertions::table
        .find(id)
        .select(AssertionRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// A badge by its id alone (inactive badges stay published: awards made remain valid).
pub async fn badge(conn: &mut AsyncPgConnection, id: Uuid) -> AppResult<Option<BadgeClassRow>> {
    Ok(badges::table
        .find(id)
        .select(BadgeClassRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The organisation as an issuer: its name and contact email (`badge_contact_email`, else the
/// earliest active admin's).
pub async fn issuer(conn: &mut AsyncPgConnection, org: Uuid) -> AppResult<Option<IssuerRow>> {
    Ok(diesel::sql_query(
        "SELECT o.id, o.name, COALESCE(o.badge_contact_email, \
            (SELECT m.email FROM members m WHERE m.organisation_id = o.id AND m.role = 'admin' \
               AND m.deactivated_at IS NULL AND m.erased_at IS NULL ORDER BY m.created_at, m.id LIMIT 1)) AS email \
         FROM organisations o WHERE o.id = $1",
    )
    .bind::<SqlUuid, _>(org)
    .get_result(conn)
    .await
    .optional()?)
}

/// The organisation's revoked assertions with their reasons, oldest revocation first.
pub async fn revoked(conn: &mut AsyncPgConnection, org: Uuid) -> AppResult<Vec<(Uuid, String)>> {
    let rows: Vec<(Uuid, Option<String>)> = badge_assertions::table
        .filter(badge_assertions::organisation_id.eq(org))
        .filter(badge_assertions::revoked_at.is_not_null())
        .order((badge_assertions::revoked_at, badge_assertions::id))
        .select((badge_assertions::id, badge_assertions::revocation_reason))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, reason)| (id, reason.unwrap_or_else(|| "revoked".into())))
        .collect())
}

/// A badge's uploaded image: its content type and bytes.
pub async fn image(
    conn: &mut AsyncPgConnection,
    badge: Uuid,
) -> AppResult<Option<(String, Vec<u8>)>> {
    Ok(badge_images::table
        .find(badge)
        .select((badge_images::content_type, badge_images::bytes))
        .first(conn)
        .await
        .optional()?)
}

/// A badge of `org` exists (any state).
pub async fn badge_in(conn: &mut AsyncPgConnection, org: Uuid, badge: Uuid) -> AppResult<()> {
    let found: Option<Uuid> = badges::table
        .filter(badges::organisation_id.eq(org))
        .filter(badges::id.eq(badge))
        .select(badges::id)
        .first(conn)
        .await
        .optional()?;
    found
        .map(|_| ())
        .ok_or_else(|| AppError::not_found("badge"))
}

/// Store (or replace) a badge's image; when it was stored.
pub async fn put_image(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    badge: Uuid,
    content_type: &str,
    bytes: &[u8],
    sha256: &[u8],
) -> AppResult<DateTime<Utc>> {
    Ok(diesel::insert_into(badge_images::table)
        .values((
            badge_images::organisation_id.eq(org),
            badge_images::badge_id.eq(badge),
            badge_images::content_type.eq(content_type),
            badge_images::bytes.eq(bytes),
            badge_images::sha256.eq(sha256),
        ))
        .on_conflict(badge_images::badge_id)
        .do_update()
        .set((
            badge_images::content_type.eq(content_type),
            badge_images::bytes.eq(bytes),
            badge_images::sha256.eq(sha256),
            badge_images::updated_at.eq(diesel::dsl::sql::<diesel::sql_types::Timestamptz>(
                "frontline_now()",
            )),
        ))
        .returning(badge_images::updated_at)
        .get_result(conn)
        .await?)
}

/// Remove a badge's image; whether there was one.
pub async fn delete_image(conn: &mut AsyncPgConnection, org: Uuid, badge: Uuid) -> AppResult<bool> {
    let n = diesel::delete(
        badge_images::table
            .filter(badge_images::organisation_id.eq(org))
            .filter(badge_images::badge_id.eq(badge)),
    )
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// An assertion of `org`, locked for a change.
pub async fn lock_assertion(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
) -> AppResult<AssertionRow> {
    badge_assertions::table
        .filter(badge_assertions::organisation_id.eq(org))
        .filter(badge_assertions::id.eq(id))
        .select(AssertionRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("badge assertion"))
}

/// Mark an assertion revoked, now (by the app clock).
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    reason: &str,
) -> AppResult<AssertionRow> {
    Ok(diesel::update(badge_assertions::table.find(id))
        .set((
            badge_assertions::revoked_at.eq(diesel::dsl::sql::<
                Nullable<diesel::sql_types::Timestamptz>,
            >("frontline_now()")),
            badge_assertions::revocation_reason.eq(reason),
        ))
        .returning(AssertionRow::as_returning())
        .get_result(conn)
        .await?)
}

/// A member's assertions with their badges' names, in the order they were issued.
pub async fn of_member(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
) -> AppResult<Vec<(AssertionRow, String)>> {
    Ok(badge_assertions::table
        .inner_join(
            badges::table.on(badges::id
                .eq(badge_assertions::badge_id)
                .and(badges::organisation_id.eq(badge_assertions::organisation_id))),
        )
        .filter(badge_assertions::organisation_id.eq(org))
        .filter(badge_assertions::member_id.eq(member))
        .order((badge_assertions::issued_on, badge_assertions::id))
        .select((AssertionRow::as_select(), badges::name))
        .load(conn)
        .await?)
}

/// Erasure: every standing assertion of the member is revoked, and the recipient's hash and
/// salt are forgotten on all of them (the public documents then name no one, not even by a
/// hash that a guess of the email would match).
pub async fn forget_recipient(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
) -> AppResult<()> {
    diesel::sql_query(
        "UPDATE badge_assertions SET recipient_salt = NULL, recipient_hash = NULL, \
            revoked_at = COALESCE(revoked_at, frontline_now()), \
            revocation_reason = COALESCE(revocation_reason, 'recipient erased') \
         WHERE organisation_id = $1 AND member_id = $2",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(member)
    .execute(conn)
    .await?;
    Ok(())
}

/// A member of `org` exists (erased ones too: their assertions remain, revoked).
pub async fn member_in(conn: &mut AsyncPgConnection, org: Uuid, member: Uuid) -> AppResult<()> {
    use crate::schema::members;
    let found: Option<Uuid> = members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq(member))
        .select(members::id)
        .first(conn)
        .await
        .optional()?;
    found
        .map(|_| ())
        .ok_or_else(|| AppError::not_found("member"))
}

/// The organisation's `badge_contact_email`, as set.
pub async fn contact_email(conn: &mut AsyncPgConnection, org: Uuid) -> AppResult<Option<String>> {
    use crate::schema::organisations;
    Ok(organisations::table
        .find(org)
        .select(organisations::badge_contact_email)
        .first(conn)
        .await
        .optional()?
        .flatten())
}
