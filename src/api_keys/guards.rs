//! `ExportReader` and `KpiWriter`: who may call an endpoint open to machine clients, a member
//! with the role or an API key with the scope; each key use is recorded and audited.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rocket::State;
use rocket::request::{FromRequest, Outcome, Request};
use uuid::Uuid;

use super::{KEY_PREFIX, Scope};
use crate::audit::Actor;
use crate::auth::tokens::hash_opaque_token;
use crate::auth::{Caller, Role};
use crate::db::Db;
use crate::error::{AppError, AppResult, ErrorSlot};
use crate::schema::{api_keys, members};

/// Who is calling an endpoint open to machine clients: a member (by JWT) or an API key.
#[derive(Debug, Clone)]
pub struct Principal {
    pub organisation_id: Uuid,
    pub actor: Actor,
    /// For members: their role.
    pub role: Option<Role>,
}

/// Look up an API key by its value: refused when unknown, revoked, expired, its owner is
/// deactivated or erased, or it lacks the scope. A use is recorded and audited.
pub async fn key_principal(
    conn: &mut AsyncPgConnection,
    key: &str,
    scope: Scope,
    path: &str,
) -> AppResult<Principal> {
    let hash = hash_opaque_token(key);
    type KeyRow = (
        Uuid,
        Uuid,
        Vec<Option<String>>,
        Option<DateTime<Utc>>,
        DateTime<Utc>,
        bool,
    );
    let found: Option<KeyRow> = api_keys::table
        .inner_join(
            members::table.on(members::organisation_id
                .eq(api_keys::organisation_id)
                .and(members::id.eq(api_keys::owner_id))),
        )
        .filter(api_keys::key_hash.eq(&hash))
        .select((
            api_keys::id,
            api_keys::organisation_id,
            api_keys::scopes,
            api_keys::revoked_at,
            api_keys::expires_at,
            // A key acts for its owner: it stops when they leave or lose the role that may
            // own keys (admin or HR; a demoted admin's keys must not keep their reach).
            members::deactivated_at
                .is_null()
                .and(members::erased_at.is_null())
                .and(members::role.eq_any([Role::Admin.as_str(), Role::Hr.as_str()])),
        ))
        .first(conn)
        .await
        .optional()?;
    let (id, org, scopes, revoked_at, expires_at, owner_active) =
        found.ok_or_else(|| AppError::Unauthorized("the API key is not valid".into()))?;
    if revoked_at.is_some() {
        return Err(AppError::Unauthorized(
            "this API key has been revoked".into(),
        ));
    }
    if expires_at <= Utc::now() {
        return Err(AppError::Unauthorized("this API key has expired".into()));
    }
    if !owner_active {
        return Err(AppError::Unauthorized(
            "this API key's owner is deactivated or no longer an admin or HR analyst; an admin \
             can re-assign the key"
                .into(),
        ));
    }
    if !scopes.iter().any(|s| s.as_deref() == Some(scope.as_str())) {
        return Err(AppError::Forbidden(format!(
            "this API key is not allowed the {} scope",
            scope.as_str()
        )));
    }
    audit_use(conn, org, id, path).await?;
    Ok(Principal {
        organisation_id: org,
        actor: Actor::ApiKey(id),
        role: None,
    })
}

/// Records a key's use: `last_used_at` always, and an `api_key_used` audit entry when the
/// key's last one is a minute old or more. One statement claims the minute (a conditional
/// UPDATE, which concurrent uses of the key serialise on, in this process or any other) and
/// writes the entry, so the minute's entry is written exactly once.
async fn audit_use(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid, path: &str) -> AppResult<()> {
    use diesel::sql_types::{Text, Uuid as SqlUuid};
    // One statement: the use is recorded, and the minute is claimed in the same row update.
    // The CASE is evaluated on the row version the update locks, so of racing uses (on any
    // server process) only the first in a minute finds the claim free and writes an entry.
    diesel::sql_query(
        "WITH used AS ( \
             UPDATE api_keys SET last_used_at = now(), \
                 last_audited_at = CASE \
                     WHEN last_audited_at IS NULL OR last_audited_at <= now() - interval '1 minute' \
                     THEN now() ELSE last_audited_at END \
             WHERE organisation_id = $1 AND id = $2 \
             RETURNING organisation_id, id, last_audited_at = now() AS claimed) \
         INSERT INTO audit_log (organisation_id, action, actor_api_key_id, subject_type, subject_id, details) \
         SELECT organisation_id, 'api_key_used', id, 'api_key', id, jsonb_build_object('path', $3::text) \
         FROM used WHERE claimed",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(path)
    .execute(conn)
    .await?;
    Ok(())
}

async fn principal(req: &Request<'_>, scope: Scope, roles: &[Role]) -> Result<Principal, AppError> {
    let bearer = req
        .headers()
        .get_one("Authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    if let Some(key) = bearer.filter(|k| k.starts_with(&format!("{KEY_PREFIX}_"))) {
        let db = req
            .guard::<&State<Db>>()
            .await
            .succeeded()
            .ok_or_else(|| AppError::internal("database pool is not managed"))?;
        let mut conn = db.conn().await?;
        return key_principal(&mut conn, key, scope, req.uri().path().as_str()).await;
    }
    match Caller::from_request(req).await {
        Outcome::Success(c) if c.is_any(roles) => Ok(Principal {
            organisation_id: c.organisation_id,
            actor: Actor::Member(c.member_id),
            role: Some(c.role),
        }),
        Outcome::Success(_) => Err(AppError::Forbidden(
            "only HR, admins or an API key with this scope may do this".into(),
        )),
        Outcome::Error((_, e)) => Err(e),
        Outcome::Forward(_) => Err(AppError::Unauthorized(
            "send an access token or an API key".into(),
        )),
    }
}

macro_rules! principal_guard {
    ($(#[$doc:meta])* $name:ident, $scope:expr) => {
        $(#[$doc])*
        pub struct $name(pub Principal);

        #[rocket::async_trait]
        impl<'r> FromRequest<'r> for $name {
            type Error = AppError;
            async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
                match principal(req, $scope, &[Role::Hr, Role::Admin]).await {
                    Ok(p) => {
                        crate::read_cache::authenticated(req, p.organisation_id, None);
                        Outcome::Success($name(p))
                    }
                    Err(e) => {
                        crate::read_cache::refused(req);
                        Outcome::Error((ErrorSlot::put(req, e.clone_shallow()), e))
                    }
                }
            }
        }
    };
}

principal_guard!(
    /// HR, an admin, or an API key with the `exports` scope.
    ExportReader, Scope::Exports
);
principal_guard!(
    /// HR, an admin, or an API key with the `kpis` scope.
    KpiWriter, Scope::Kpis
);
