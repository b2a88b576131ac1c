//! Managing keys: creating one (its checked request), revoking and re-assigning, each in one
//! transaction with its audit entry.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::queries::{Row, key_columns, view};
use super::{CreateApiKey, CreatedApiKey, DEFAULT_LIFETIME_DAYS, KEY_PREFIX, MAX_LIFETIME_DAYS};
use crate::audit::{self, Action, Actor};
use crate::auth::Role;
use crate::auth::tokens::new_opaque_token;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::check;
use crate::schema::{api_keys, members};
use crate::validation;

/// A checked request for a key: a valid name, at least one scope, an expiry within bounds.
pub struct NewApiKey {
    name: String,
    scopes: Vec<Option<String>>,
    expires_at: DateTime<Utc>,
}

impl NewApiKey {
    pub fn parse(req: CreateApiKey) -> AppResult<NewApiKey> {
        let mut errors = Vec::new();
        let name = validation::text("name", &req.name, 100, &mut errors);
        let mut scopes: Vec<&str> = req.scopes.iter().map(|s| s.as_str()).collect();
        scopes.sort_unstable();
        scopes.dedup();
        if scopes.is_empty() {
            errors.push(crate::error::FieldError::new(
                "scopes",
                "give at least one scope: exports, kpis, scim",
            ));
        }
        let now = Utc::now();
        let expires_at = match req.expires_at {
            None => now + Duration::days(DEFAULT_LIFETIME_DAYS),
            Some(at) if at <= now => {
                errors.push(FieldError::new("expires_at", "must be in the future"));
                at
            }
            Some(at) if at > now + Duration::days(MAX_LIFETIME_DAYS) => {
                errors.push(FieldError::new(
                    "expires_at",
                    format!("must be at most {MAX_LIFETIME_DAYS} days away"),
                ));
                at
            }
            Some(at) => at,
        };
        check(errors)?;
        let scopes: Vec<Option<String>> = scopes.into_iter().map(|s| Some(s.to_string())).collect();
        Ok(NewApiKey {
            name,
            scopes,
            expires_at,
        })
    }
}

/// Makes a key and stores its hash and first characters, owned by its creator; the answer
/// carries the key itself, this once.
pub async fn create(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    by: Uuid,
    new: NewApiKey,
) -> AppResult<CreatedApiKey> {
    let NewApiKey {
        name,
        scopes,
        expires_at,
    } = new;
    let (key, hash) = new_opaque_token(KEY_PREFIX);
    let prefix: String = key.chars().take(12).collect();
    let row: Row = crate::db::transaction(conn, move |conn| {
        let (name, prefix, hash, scopes) =
            (name.clone(), prefix.clone(), hash.clone(), scopes.clone());
        Box::pin(async move {
            let row: Row = diesel::insert_into(api_keys::table)
                .values((
                    api_keys::organisation_id.eq(org),
                    api_keys::name.eq(&name),
                    api_keys::prefix.eq(&prefix),
                    api_keys::key_hash.eq(hash),
                    api_keys::scopes.eq(&scopes),
                    api_keys::created_by.eq(by),
                    api_keys::owner_id.eq(by),
                    api_keys::expires_at.eq(expires_at),
                ))
                .returning(key_columns!())
                .get_result(conn)
                .await?;
            audit::record(
                conn,
                org,
                Actor::Member(by),
                Action::ApiKeyCreated,
                Some(("api_key", row.0)),
                serde_json::json!({ "name": name, "scopes": scopes, "expires_at": expires_at }),
            )
            .await?;
            Ok(row)
        })
    })
    .await?;
    Ok(CreatedApiKey {
        api_key: view(row),
        key,
    })
}

/// Revokes a key at once; a key already revoked is a conflict.
pub async fn revoke(conn: &mut AsyncPgConnection, org: Uuid, by: Uuid, id: Uuid) -> AppResult<Row> {
    crate::db::transaction(conn, move |conn| {
        Box::pin(async move {
            let current: Option<Option<DateTime<Utc>>> = api_keys::table
                .filter(api_keys::organisation_id.eq(org))
                .filter(api_keys::id.eq(id))
                .select(api_keys::revoked_at)
                .for_update()
                .first(conn)
                .await
                .optional()?;
            match current {
                None => return Err(AppError::not_found("API key")),
                Some(Some(at)) => {
                    return Err(AppError::Conflict {
                        detail: "this key is already revoked".into(),
                        extra: Some(serde_json::json!({ "revoked_at": at })),
                    });
                }
                Some(None) => {}
            }
            let row: Row = diesel::update(
                api_keys::table
                    .filter(api_keys::organisation_id.eq(org))
                    .filter(api_keys::id.eq(id)),
            )
            .set(api_keys::revoked_at.eq(Utc::now()))
            .returning(key_columns!())
            .get_result(conn)
            .await?;
            audit::record(
                conn,
                org,
                Actor::Member(by),
                Action::ApiKeyRevoked,
                Some(("api_key", id)),
                serde_json::json!({}),
            )
            .await?;
            Ok(row)
        })
    })
    .await
}

/// Hands a live key to another active admin or HR member (`to`).
pub async fn reassign(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    by: Uuid,
    id: Uuid,
    to: Uuid,
) -> AppResult<Row> {
    crate::db::transaction(conn, move |conn| {
        Box::pin(async move {
            type Current = (Uuid, DateTime<Utc>, Option<DateTime<Utc>>);
            let current: Option<Current> = api_keys::table
                .filter(api_keys::organisation_id.eq(org))
                .filter(api_keys::id.eq(id))
                .select((
                    api_keys::owner_id,
                    api_keys::expires_at,
                    api_keys::revoked_at,
                ))
                .for_update()
                .first(conn)
                .await
                .optional()?;
            let (from, expires_at, revoked_at) =
                current.ok_or_else(|| AppError::not_found("API key"))?;
            if revoked_at.is_some() {
                return Err(AppError::conflict(
                    "this key is revoked; create a new one instead",
                ));
            }
            if expires_at <= Utc::now() {
                return Err(AppError::conflict(
                    "this key has expired; create a new one instead",
                ));
            }
            // Lock the new owner so a concurrent deactivation or role change cannot slip
            // between this check and the commit.
            let owner: Option<(String, bool)> = members::table
                .filter(members::organisation_id.eq(org))
                .filter(members::id.eq(to))
                .select((
                    members::role,
                    members::deactivated_at
                        .is_null()
                        .and(members::erased_at.is_null()),
                ))
                .for_update()
                .first(conn)
                .await
                .optional()?;
            let eligible = owner.is_some_and(|(role, active)| {
                active && (role == Role::Admin.as_str() || role == Role::Hr.as_str())
            });
            if !eligible {
                return Err(AppError::invalid(
                    "member_id",
                    "must be an active admin or HR member of your organisation",
                ));
            }
            let row: Row = diesel::update(
                api_keys::table
                    .filter(api_keys::organisation_id.eq(org))
                    .filter(api_keys::id.eq(id)),
            )
            .set(api_keys::owner_id.eq(to))
            .returning(key_columns!())
            .get_result(conn)
            .await?;
            audit::record(
                conn,
                org,
                Actor::Member(by),
                Action::ApiKeyReassigned,
                Some(("api_key", id)),
                serde_json::json!({ "from": from, "to": to }),
            )
            .await?;
            Ok(row)
        })
    })
    .await
}
