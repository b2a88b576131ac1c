//! API keys for machine clients (an HR system pulling exports nightly): created by an admin,
//! shown once, stored hashed, scoped, revocable, with their last use recorded and audited.
//!
//! A key expires (one year unless the admin chooses a nearer date) and acts for a member, its
//! owner: its creator until an admin re-assigns it. While the owner is deactivated or erased
//! the key does not work, so a departed admin's integrations do not outlive their account
//! unnoticed. Each use is audited, at most once per key per minute (see [`audit_use`]).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rocket::State;
use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::serde::json::Json;
use rocket::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{self, Action, Actor};
use crate::auth::tokens::{hash_opaque_token, new_opaque_token};
use crate::auth::{Admin, Caller, Role};
use crate::db::Db;
use crate::error::{AppError, AppResult, ErrorSlot, FieldError};
use crate::http::{JsonBody, check, path_id};
use crate::openapi::responses::{Forbidden, Invalid, NotFound, Unauthorized};
use crate::schema::{api_keys, members};
use crate::validation;

type Problem = crate::error::Problem;

/// What a key may do.
// Published as `ApiKeyScope`: the leaderboards' `Scope` has the schema name `Scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = ApiKeyScope)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Pull engagement exports.
    Exports,
    /// Record CX KPIs.
    Kpis,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Exports => "exports",
            Scope::Kpis => "kpis",
        }
    }
}

pub const KEY_PREFIX: &str = "flk";

/// A key's lifetime when the admin does not choose one.
pub const DEFAULT_LIFETIME_DAYS: i64 = 365;
/// The furthest expiry an admin may choose: a key is a bearer secret, rotated at least this often.
pub const MAX_LIFETIME_DAYS: i64 = 730;

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_by: Uuid,
    /// The member the key acts for; it stops working while they are deactivated, erased or no
    /// longer an admin or HR analyst.
    pub owner_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The key itself. Shown this once; only a hash is kept. Send it as
    /// `Authorization: Bearer <key>`.
    pub key: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    /// When the key stops working (RFC 3339), in the future and at most 730 days away.
    /// Default: one year from now.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignApiKey {
    /// The new owner: an active admin or HR member of the organisation.
    pub member_id: Uuid,
}

type Row = (
    Uuid,
    String,
    String,
    Vec<Option<String>>,
    Uuid,
    Uuid,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

fn view(r: Row) -> ApiKey {
    let (
        id,
        name,
        prefix,
        scopes,
        created_by,
        owner_id,
        created_at,
        expires_at,
        last_used_at,
        revoked_at,
    ) = r;
    ApiKey {
        id,
        name,
        prefix,
        scopes: scopes
            .iter()
            .filter_map(|s| match s.as_deref().unwrap_or_default() {
                "exports" => Some(Scope::Exports),
                "kpis" => Some(Scope::Kpis),
                _ => None,
            })
            .collect(),
        created_by,
        owner_id,
        created_at,
        expires_at,
        last_used_at,
        revoked_at,
    }
}

macro_rules! key_columns {
    () => {
        (
            api_keys::id,
            api_keys::name,
            api_keys::prefix,
            api_keys::scopes,
            api_keys::created_by,
            api_keys::owner_id,
            api_keys::created_at,
            api_keys::expires_at,
            api_keys::last_used_at,
            api_keys::revoked_at,
        )
    };
}

/// Create an API key (admins). The answer carries the key once.
#[utoipa::path(
    tag = "privacy", operation_id = "create_api_key",
    security(("bearer" = [])),
    request_body = CreateApiKey,
    responses(
        (status = 201, body = CreatedApiKey),
        Unauthorized,
        Forbidden,
        Invalid,
    )
)]
#[post("/api/v1/api-keys", data = "<body>")]
pub async fn create(
    db: &State<Db>,
    admin: Admin,
    body: JsonBody<CreateApiKey>,
) -> AppResult<(Status, Json<CreatedApiKey>)> {
    let req = body.0;
    let mut errors = Vec::new();
    let name = validation::text("name", &req.name, 100, &mut errors);
    let mut scopes: Vec<&str> = req.scopes.iter().map(|s| s.as_str()).collect();
    scopes.sort_unstable();
    scopes.dedup();
    if scopes.is_empty() {
        errors.push(crate::error::FieldError::new(
            "scopes",
            "give at least one scope: exports, kpis",
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
    let (key, hash) = new_opaque_token(KEY_PREFIX);
    let prefix: String = key.chars().take(12).collect();
    let org = admin.organisation_id;
    let by = admin.member_id;
    let scopes: Vec<Option<String>> = scopes.into_iter().map(|s| Some(s.to_string())).collect();
    let mut conn = db.conn().await?;
    let row: Row = crate::db::transaction(&mut conn, move |conn| {
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
    Ok((
        Status::Created,
        Json(CreatedApiKey {
            api_key: view(row),
            key,
        }),
    ))
}

/// The organisation's API keys, without the keys themselves (admins).
#[utoipa::path(
    tag = "privacy", operation_id = "list_api_keys",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<ApiKey>),
        Unauthorized,
        Forbidden,
    )
)]
#[get("/api/v1/api-keys")]
pub async fn list(db: &State<Db>, admin: Admin) -> AppResult<Json<Vec<ApiKey>>> {
    let mut conn = db.conn().await?;
    let rows: Vec<Row> = api_keys::table
        .filter(api_keys::organisation_id.eq(admin.organisation_id))
        .order(api_keys::created_at.desc())
        .select(key_columns!())
        .load(&mut conn)
        .await?;
    Ok(Json(rows.into_iter().map(view).collect()))
}

/// Revoke an API key (admins): it stops working at once.
#[utoipa::path(
    tag = "privacy", operation_id = "revoke_api_key",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "API key id")),
    responses(
        (status = 200, body = ApiKey),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "Already revoked", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/api-keys/<id>/revoke")]
pub async fn revoke(db: &State<Db>, admin: Admin, id: &str) -> AppResult<Json<ApiKey>> {
    let id = path_id(id, "API key")?;
    let org = admin.organisation_id;
    let by = admin.member_id;
    let mut conn = db.conn().await?;
    let row = crate::db::transaction(&mut conn, move |conn| {
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
    .await?;
    Ok(Json(view(row)))
}

/// Re-assign an API key to another active admin or HR member (admins): for keys whose owner
/// left, which stop working while the owner is deactivated or erased.
#[utoipa::path(
    tag = "privacy", operation_id = "reassign_api_key",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "API key id")),
    request_body = ReassignApiKey,
    responses(
        (status = 200, body = ApiKey),
        Unauthorized,
        Forbidden,
        (status = 404, description = "No such key in your organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The key is revoked or expired", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The member is not an active admin or HR member of your organisation", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/api-keys/<id>/reassign", data = "<body>")]
pub async fn reassign(
    db: &State<Db>,
    admin: Admin,
    id: &str,
    body: JsonBody<ReassignApiKey>,
) -> AppResult<Json<ApiKey>> {
    let id = path_id(id, "API key")?;
    let to = body.0.member_id;
    let org = admin.organisation_id;
    let by = admin.member_id;
    let mut conn = db.conn().await?;
    let row = crate::db::transaction(&mut conn, move |conn| {
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
    .await?;
    Ok(Json(view(row)))
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![create, list, revoke, reassign]
}

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
async fn key_principal(
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
                        crate::read_cache::authenticated(req, p.organisation_id);
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
