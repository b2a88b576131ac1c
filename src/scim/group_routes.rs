//! The Groups endpoints (teams), beside the Users ones in `routes`.

use rocket::http::Status;
use rocket::{State, delete, get, patch, post, put};
use serde_json::Value;

use super::body::ScimBody;
use super::params::{ListParams, Shape};
use super::{Locations, PATCH_SCHEMA, ScimClient, ScimError, ScimJson, ScimResult, groups};
use crate::db::Db;

fn id_of(raw: &str) -> ScimResult<uuid::Uuid> {
    uuid::Uuid::parse_str(raw).map_err(|_| ScimError::not_found("group"))
}

/// List teams as Groups: `filter` (`displayName`, `externalId`, `members.value`, ...), paging,
/// attributes.
#[utoipa::path(tag = "scim", security(("scim_key" = [])), params(ListParams),
    responses((status = 200, description = "ListResponse of Group", content_type = "application/scim+json"),
        (status = 400, description = "`invalidFilter`, `invalidValue`", body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 403, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[get("/scim/v2/Groups?<params..>")]
pub async fn list_groups(
    db: &State<Db>,
    at: &State<Locations>,
    client: ScimClient,
    params: ListParams,
) -> ScimResult<ScimJson> {
    let q = params.query(groups::FILTERABLE)?;
    let mut conn = db.conn().await?;
    Ok(ScimJson::ok(groups::list(&mut conn, &client, q, at).await?))
}

/// `GET /Groups` with a SearchRequest body.
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    request_body(content = Object, content_type = "application/scim+json", description = "SearchRequest: filter, startIndex, count, attributes, excludedAttributes"),
    responses((status = 200, description = "ListResponse of Group", content_type = "application/scim+json"),
        (status = 400, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[post("/scim/v2/Groups/.search", data = "<body>")]
pub async fn search_groups(
    db: &State<Db>,
    at: &State<Locations>,
    client: ScimClient,
    body: ScimBody,
) -> ScimResult<ScimJson> {
    let q = ListParams::of_search(&body.0)?.query(groups::FILTERABLE)?;
    let mut conn = db.conn().await?;
    Ok(ScimJson::ok(groups::list(&mut conn, &client, q, at).await?))
}

/// Provision a Group: a new team, with its members (each leaves their last team).
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    request_body(content = Object, content_type = "application/scim+json", description = "A Group: displayName, members [{value}], externalId"),
    responses((status = 201, description = "The Group", content_type = "application/scim+json"),
        (status = 400, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`: a live team has the name", body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[post("/scim/v2/Groups", data = "<body>")]
pub async fn create_group(
    db: &State<Db>,
    at: &State<Locations>,
    client: ScimClient,
    body: ScimBody,
) -> ScimResult<ScimJson> {
    let mut conn = db.conn().await?;
    let (id, group) = groups::create(&mut conn, &client, body.0, at).await?;
    Ok(ScimJson {
        status: Status::Created,
        body: group,
        location: Some(at.group(id)),
    })
}

/// One Group.
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    params(("id" = uuid::Uuid, Path, description = "The team's id"), Shape),
    responses((status = 200, description = "The Group", content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[get("/scim/v2/Groups/<id>?<shape..>")]
pub async fn get_group(
    db: &State<Db>,
    at: &State<Locations>,
    client: ScimClient,
    id: &str,
    shape: Shape,
) -> ScimResult<ScimJson> {
    let id = id_of(id)?;
    let shape = shape.parse()?;
    let mut conn = db.conn().await?;
    let group = groups::get(&mut conn, &client, id, at).await?;
    Ok(ScimJson::ok(shape.apply(group)))
}

/// Replace a Group: its name, external id and exactly the listed members.
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    params(("id" = uuid::Uuid, Path, description = "The team's id")),
    request_body(content = Object, content_type = "application/scim+json", description = "A Group"),
    responses((status = 200, description = "The Group", content_type = "application/scim+json"),
        (status = 400, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[put("/scim/v2/Groups/<id>", data = "<body>")]
pub async fn replace_group(
    db: &State<Db>,
    at: &State<Locations>,
    client: ScimClient,
    id: &str,
    body: ScimBody,
) -> ScimResult<ScimJson> {
    let id = id_of(id)?;
    let mut conn = db.conn().await?;
    Ok(ScimJson::ok(
        groups::replace(&mut conn, &client, id, body.0, at).await?,
    ))
}

/// Change a Group with PATCH operations (`add`/`remove` on `members`, ...).
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    params(("id" = uuid::Uuid, Path, description = "The team's id")),
    request_body(content = Object, content_type = "application/scim+json", description = "PatchOp"),
    responses((status = 200, description = "The Group", content_type = "application/scim+json"),
        (status = 400, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[patch("/scim/v2/Groups/<id>", data = "<body>")]
pub async fn patch_group(
    db: &State<Db>,
    at: &State<Locations>,
    client: ScimClient,
    id: &str,
    body: ScimBody,
) -> ScimResult<ScimJson> {
    let id = id_of(id)?;
    let doc = Value::Object(body.0);
    if let Some(schemas) = super::filter::member(&doc, "schemas").and_then(Value::as_array)
        && !schemas.iter().any(|s| s.as_str() == Some(PATCH_SCHEMA))
    {
        return Err(ScimError::bad(
            "invalidValue",
            format!("schemas must name {PATCH_SCHEMA}"),
        ));
    }
    let Some(Value::Array(ops)) = super::filter::member(&doc, "Operations").cloned() else {
        return Err(ScimError::bad("invalidSyntax", "Operations must be a list"));
    };
    let mut conn = db.conn().await?;
    Ok(ScimJson::ok(
        groups::patch(&mut conn, &client, id, ops, at).await?,
    ))
}

/// Delete a Group: every member leaves the team (their stint ends) and the team is archived.
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    params(("id" = uuid::Uuid, Path, description = "The team's id")),
    responses((status = 204, description = "Deleted"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[delete("/scim/v2/Groups/<id>")]
pub async fn delete_group(db: &State<Db>, client: ScimClient, id: &str) -> ScimResult<Status> {
    let id = id_of(id)?;
    let mut conn = db.conn().await?;
    groups::delete(&mut conn, &client, id).await?;
    Ok(Status::NoContent)
}
