//! API key endpoints (admins): create, list, revoke, re-assign. Each parses, authorises and
//! calls one function of `domain` or `queries`.

use rocket::State;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, post};

use super::domain::{self, NewApiKey};
use super::queries::{self, view};
use super::{ApiKey, CreateApiKey, CreatedApiKey, ReassignApiKey};
use crate::auth::Admin;
use crate::db::Db;
use crate::error::AppResult;
use crate::http::{JsonBody, path_id};
use crate::openapi::responses::{Forbidden, Invalid, NotFound, Unauthorized};

type Problem = crate::error::Problem;

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
    let new = NewApiKey::parse(body.0)?;
    let mut conn = db.conn().await?;
    let created = domain::create(&mut conn, admin.organisation_id, admin.member_id, new).await?;
    Ok((Status::Created, Json(created)))
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
    let rows = queries::list(&mut conn, admin.organisation_id).await?;
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
    let mut conn = db.conn().await?;
    let row = domain::revoke(&mut conn, admin.organisation_id, admin.member_id, id).await?;
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
    let mut conn = db.conn().await?;
    let row = domain::reassign(&mut conn, admin.organisation_id, admin.member_id, id, to).await?;
    Ok(Json(view(row)))
}

crate::http::operations!(
    /// The API key operations.
    ApiKeysApi { create, list, revoke, reassign }
);
