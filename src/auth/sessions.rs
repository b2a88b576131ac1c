//! Sessions and refresh-token rotation.
//!
//! A session is one login. Each refresh consumes the presented token and issues a new one; a
//! consumed token presented again means two parties hold the family, so the whole session is
//! revoked (OAuth 2.0 Security BCP, refresh token rotation).
//!
//! Besides the sliding lifetime (each refresh extends it), a session has an absolute one
//! (`session_max_age_days` from its login): a stolen refresh token kept fresh by its thief
//! still dies, and the session's access tokens with it.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::auth::tokens::{hash_opaque_token, new_opaque_token};
use crate::auth::{AuthPolicy, Role};
use crate::error::AppError;
use crate::schema::{members, refresh_tokens, sessions};

/// A new session: its id and the first refresh token (returned to the client, never stored).
pub struct NewSession {
    pub session_id: Uuid,
    pub refresh_token: String,
}

pub async fn start(
    conn: &mut AsyncPgConnection,
    organisation_id: Uuid,
    member_id: Uuid,
    policy: &AuthPolicy,
) -> Result<NewSession, AppError> {
    let session_id = Uuid::new_v4();
    let expires_at = Utc::now() + policy.refresh_ttl.min(policy.session_max_age);
    let (refresh_token, hash) = new_opaque_token("frt");
    conn.transaction::<_, AppError, _>(async move |conn| {
        diesel::insert_into(sessions::table)
            .values((
                sessions::organisation_id.eq(organisation_id),
                sessions::id.eq(session_id),
                sessions::member_id.eq(member_id),
                sessions::expires_at.eq(expires_at),
            ))
            .execute(conn)
            .await?;
        diesel::insert_into(refresh_tokens::table)
            .values((
                refresh_tokens::organisation_id.eq(organisation_id),
                refresh_tokens::session_id.eq(session_id),
                refresh_tokens::token_hash.eq(hash),
                refresh_tokens::expires_at.eq(expires_at),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
    .await?;
    Ok(NewSession {
        session_id,
        refresh_token,
    })
}

/// What a successful rotation hands back.
pub struct Rotated {
    pub member_id: Uuid,
    pub organisation_id: Uuid,
    pub role: Role,
    pub session_id: Uuid,
    pub refresh_token: String,
}

/// What presenting a refresh token did.
pub enum Rotation {
    Rotated(Rotated),
    /// Refused; `revoked_in` names the organisation of a session this revoked (a re-used
    /// token), whose cached reads must go.
    Refused {
        why: &'static str,
        revoked_in: Option<Uuid>,
    },
}

use Rotation::Refused;

fn refused(why: &'static str) -> Rotation {
    Refused {
        why,
        revoked_in: None,
    }
}

pub async fn rotate(
    conn: &mut AsyncPgConnection,
    presented: &str,
    policy: &AuthPolicy,
) -> Result<Rotation, AppError> {
    let hash = hash_opaque_token(presented);
    let (ttl, max_age) = (policy.refresh_ttl, policy.session_max_age);
    conn.transaction::<_, AppError, _>(async move |conn| {
                type Row = (
                    Uuid,
                    Uuid,
                    Uuid,
                    Option<DateTime<Utc>>,
                    DateTime<Utc>,
                    Option<DateTime<Utc>>,
                    Uuid,
                    String,
                    Option<DateTime<Utc>>,
                    DateTime<Utc>,
                );
                // Lock the session row: concurrent refreshes of one family serialise here, so
                // exactly one wins and the others are treated as re-use.
                let row: Option<Row> = refresh_tokens::table
                    .inner_join(sessions::table.on(sessions::id.eq(refresh_tokens::session_id)))
                    .inner_join(members::table.on(members::id.eq(sessions::member_id)))
                    .filter(refresh_tokens::token_hash.eq(&hash))
                    .select((
                        refresh_tokens::id,
                        sessions::id,
                        sessions::organisation_id,
                        refresh_tokens::used_at,
                        refresh_tokens::expires_at,
                        sessions::revoked_at,
                        members::id,
                        members::role,
                        members::deactivated_at,
                        sessions::created_at,
                    ))
                    .for_update()
                    .first(conn)
                    .await
                    .optional()?;
                let Some((token_id, session_id, org, used_at, expires_at, revoked_at, member_id, role, deactivated_at, created_at)) = row
                else {
                    return Ok(refused("the refresh token is not valid"));
                };
                let now = Utc::now();
                if revoked_at.is_some() {
                    return Ok(refused("this session has ended; log in again"));
                }
                if used_at.is_some() {
                    revoke_session(conn, org, session_id, "refresh token re-used").await?;
                    tracing::warn!(%session_id, %member_id, "refresh token re-use detected; session revoked");
                    return Ok(Refused {
                        why: "this refresh token was already used; the session has been revoked for safety, log in again",
                        revoked_in: Some(org),
                    });
                }
                if expires_at <= now {
                    return Ok(refused("the refresh token has expired; log in again"));
                }
                let ends_at = absolute_end(created_at, max_age);
                if ends_at <= now {
                    return Ok(refused(
                        "this session has reached its maximum age; log in again",
                    ));
                }
                if deactivated_at.is_some() {
                    return Ok(refused("this account is deactivated"));
                }
                let role = role
                    .parse::<Role>()
                    .map_err(|_| AppError::internal(format!("unknown role in database: {role}")))?;
                diesel::update(refresh_tokens::table.find(token_id))
                    .set(refresh_tokens::used_at.eq(now))
                    .execute(conn)
                    .await?;
                let (refresh_token, new_hash) = new_opaque_token("frt");
                let new_expiry = (now + ttl).min(ends_at);
                diesel::insert_into(refresh_tokens::table)
                    .values((
                        refresh_tokens::organisation_id.eq(org),
                        refresh_tokens::session_id.eq(session_id),
                        refresh_tokens::token_hash.eq(new_hash),
                        refresh_tokens::expires_at.eq(new_expiry),
                    ))
                    .execute(conn)
                    .await?;
                diesel::update(sessions::table.find(session_id))
                    .set((sessions::last_used_at.eq(now), sessions::expires_at.eq(new_expiry)))
                    .execute(conn)
                    .await?;
                Ok(Rotation::Rotated(Rotated {
                    member_id,
                    organisation_id: org,
                    role,
                    session_id,
                    refresh_token,
                }))
        })
        .await
}

/// When a session that began at `created_at` ends whatever its refreshes.
pub fn absolute_end(created_at: DateTime<Utc>, max_age: Duration) -> DateTime<Utc> {
    created_at + max_age
}

pub async fn revoke_session(
    conn: &mut AsyncPgConnection,
    organisation_id: Uuid,
    session_id: Uuid,
    reason: &str,
) -> Result<(), AppError> {
    diesel::update(
        sessions::table
            .filter(sessions::organisation_id.eq(organisation_id))
            .filter(sessions::id.eq(session_id))
            .filter(sessions::revoked_at.is_null()),
    )
    .set((
        sessions::revoked_at.eq(Utc::now()),
        sessions::revoked_reason.eq(reason),
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// Revoke every live session of a member, except `keep` (the caller's own, when they changed
/// their password themselves).
pub async fn revoke_all(
    conn: &mut AsyncPgConnection,
    organisation_id: Uuid,
    member_id: Uuid,
    keep: Option<Uuid>,
    reason: &str,
) -> Result<usize, AppError> {
    let keep = keep.unwrap_or(Uuid::nil());
    let n = diesel::update(
        sessions::table
            .filter(sessions::organisation_id.eq(organisation_id))
            .filter(sessions::member_id.eq(member_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::id.ne(keep)),
    )
    .set((
        sessions::revoked_at.eq(Utc::now()),
        sessions::revoked_reason.eq(reason),
    ))
    .execute(conn)
    .await?;
    Ok(n)
}
