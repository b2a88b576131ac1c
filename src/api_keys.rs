//! API keys for machine clients (an HR system pulling exports nightly): created by an admin,
//! shown once, stored hashed, scoped, revocable, with their last use recorded and audited.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rocket::State;
use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::serde::json::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{self, Action, Actor};
use crate::auth::tokens::{hash_opaque_token, new_opaque_token};
use crate::auth::{Admin, Caller, Role};
use crate::db::Db;
use crate::error::{AppError, AppResult, ErrorSlot};
use crate::http::{JsonBody, check, path_id};
use crate::schema::api_keys;
use crate::validation;

type Problem = crate::error::Problem;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
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
}

type Row = (
    Uuid,
    String,
    String,
    Vec<Option<String>>,
    Uuid,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

fn view(r: Row) -> ApiKey {
    let (id, name, prefix, scopes, created_by, created_at, last_used_at, revoked_at) = r;
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
        created_at,
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
            api_keys::created_at,
            api_keys::last_used_at,
            api_keys::revoked_at,
        )
    };
}

/// Create an API key (admins). The answer carries the key once.
#[utoipa::path(
    post, path = "/api/v1/api-keys", tag = "privacy", operation_id = "create_api_key",
    security(("bearer" = [])),
    request_body = CreateApiKey,
    responses(
        (status = 201, body = CreatedApiKey),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::post("/api/v1/api-keys", data = "<body>")]
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
                serde_json::json!({ "name": name, "scopes": scopes }),
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
    get, path = "/api/v1/api-keys", tag = "privacy", operation_id = "list_api_keys",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<ApiKey>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::get("/api/v1/api-keys")]
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
    post, path = "/api/v1/api-keys/{id}/revoke", tag = "privacy", operation_id = "revoke_api_key",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "API key id")),
    responses(
        (status = 200, body = ApiKey),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already revoked", body = Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::post("/api/v1/api-keys/<id>/revoke")]
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

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![create, list, revoke]
}

/// Who is calling an endpoint open to machine clients: a member (by JWT) or an API key.
#[derive(Debug, Clone)]
pub struct Principal {
    pub organisation_id: Uuid,
    pub actor: Actor,
    /// For members: their role.
    pub role: Option<Role>,
}

/// Look up an API key by its value; `Ok(None)` when unknown or revoked.
async fn key_principal(
    conn: &mut AsyncPgConnection,
    key: &str,
    scope: Scope,
) -> AppResult<Principal> {
    let hash = hash_opaque_token(key);
    type KeyRow = (Uuid, Uuid, Vec<Option<String>>, Option<DateTime<Utc>>);
    let found: Option<KeyRow> = api_keys::table
        .filter(api_keys::key_hash.eq(&hash))
        .select((
            api_keys::id,
            api_keys::organisation_id,
            api_keys::scopes,
            api_keys::revoked_at,
        ))
        .first(conn)
        .await
        .optional()?;
    let (id, org, scopes, revoked_at) =
        found.ok_or_else(|| AppError::Unauthorized("the API key is not valid".into()))?;
    if revoked_at.is_some() {
        return Err(AppError::Unauthorized(
            "this API key has been revoked".into(),
        ));
    }
    if !scopes.iter().any(|s| s.as_deref() == Some(scope.as_str())) {
        return Err(AppError::Forbidden(format!(
            "this API key is not allowed the {} scope",
            scope.as_str()
        )));
    }
    diesel::update(api_keys::table.find(id))
        .set(api_keys::last_used_at.eq(Utc::now()))
        .execute(conn)
        .await?;
    Ok(Principal {
        organisation_id: org,
        actor: Actor::ApiKey(id),
        role: None,
    })
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
        return key_principal(&mut conn, key, scope).await;
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
