//! `ScimClient`: an API key with the `scim` scope whose owner is an active admin. SCIM takes
//! keys only (no member's token): an identity provider is a machine.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use rocket::State;
use rocket::request::{FromRequest, Outcome, Request};
use uuid::Uuid;

use crate::api_keys::guards::key_principal;
use crate::api_keys::{KEY_PREFIX, Scope};
use crate::audit::Actor;
use crate::auth::Role;
use crate::db::Db;
use crate::error::{AppError, ErrorSlot};
use crate::schema::{api_keys, members};

/// The identity provider calling: its organisation and its key (what audit entries name).
#[derive(Debug, Clone, Copy)]
pub struct ScimClient {
    pub organisation_id: Uuid,
    pub key_id: Uuid,
}

impl ScimClient {
    pub fn actor(&self) -> Actor {
        Actor::ApiKey(self.key_id)
    }
}

async fn authenticate(req: &Request<'_>) -> Result<ScimClient, AppError> {
    let header = req.headers().get_one("Authorization").ok_or_else(|| {
        AppError::Unauthorized(
            "send an API key with the scim scope: Authorization: Bearer <key>".into(),
        )
    })?;
    let key = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|k| k.starts_with(&format!("{KEY_PREFIX}_")))
        .ok_or_else(|| {
            AppError::Unauthorized("the Authorization header must be 'Bearer <API key>'".into())
        })?;
    let db = req
        .guard::<&State<Db>>()
        .await
        .succeeded()
        .ok_or_else(|| AppError::internal("database pool is not managed"))?;
    let mut conn = db.conn().await?;
    let principal = key_principal(&mut conn, key, Scope::Scim, req.uri().path().as_str()).await?;
    let Actor::ApiKey(key_id) = principal.actor else {
        return Err(AppError::internal("an API key's principal is not the key"));
    };
    // Provisioning creates and deactivates members: only an admin's key may.
    let owner_is_admin: bool = api_keys::table
        .inner_join(
            members::table.on(members::organisation_id
                .eq(api_keys::organisation_id)
                .and(members::id.eq(api_keys::owner_id))),
        )
        .filter(api_keys::id.eq(key_id))
        .select(members::role.eq(Role::Admin.as_str()))
        .first(&mut conn)
        .await?;
    if !owner_is_admin {
        return Err(AppError::Forbidden(
            "a SCIM key must belong to an admin; an admin can re-assign it".into(),
        ));
    }
    Ok(ScimClient {
        organisation_id: principal.organisation_id,
        key_id,
    })
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ScimClient {
    type Error = AppError;
    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        match authenticate(req).await {
            Ok(client) => {
                crate::read_cache::authenticated(req, client.organisation_id, None);
                Outcome::Success(client)
            }
            Err(e) => {
                crate::read_cache::refused(req);
                Outcome::Error((ErrorSlot::put(req, e.clone_shallow()), e))
            }
        }
    }
}
