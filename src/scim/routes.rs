//! The SCIM 2.0 endpoints under `/scim/v2` (every one for a [`ScimClient`]), their catcher,
//! and their own OpenAPI document (`GET /scim/v2/openapi.json`), apart from the main one.

use rocket::http::Status;
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rocket::{State, catch, delete, get, patch, post, put};
use serde_json::Value;
use utoipa::{Modify, OpenApi};

use super::body::ScimBody;
use super::params::{ListParams, Shape};
use super::users;
use super::{Locations, PATCH_SCHEMA, ScimClient, ScimError, ScimJson, ScimResult, discovery};
use crate::db::Db;

fn id_of(raw: &str) -> ScimResult<uuid::Uuid> {
    uuid::Uuid::parse_str(raw).map_err(|_| ScimError::not_found("user"))
}

/// The service provider's configuration.
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    responses((status = 200, description = "ServiceProviderConfig", content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 403, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[get("/scim/v2/ServiceProviderConfig")]
pub fn service_provider_config(_client: ScimClient) -> ScimJson {
    ScimJson::ok(discovery::service_provider_config())
}

/// The resource types (ListResponse).
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    responses((status = 200, description = "ListResponse of ResourceType", content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[get("/scim/v2/ResourceTypes")]
pub fn resource_types(_client: ScimClient) -> ScimJson {
    ScimJson::ok(discovery::list(discovery::resource_types()))
}

/// One resource type.
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    params(("id" = String, Path, description = "`User`")),
    responses((status = 200, description = "ResourceType", content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[get("/scim/v2/ResourceTypes/<id>")]
pub fn resource_type(_client: ScimClient, id: &str) -> ScimResult<ScimJson> {
    discovery::resource_type(id).map(ScimJson::ok)
}

/// The schemas (ListResponse).
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    responses((status = 200, description = "ListResponse of Schema", content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[get("/scim/v2/Schemas")]
pub fn schemas(_client: ScimClient) -> ScimJson {
    ScimJson::ok(discovery::list(discovery::schemas()))
}

/// One schema, by its URN.
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    params(("id" = String, Path, description = "The schema's URN")),
    responses((status = 200, description = "Schema", content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[get("/scim/v2/Schemas/<id>")]
pub fn schema(_client: ScimClient, id: &str) -> ScimResult<ScimJson> {
    discovery::schema(id).map(ScimJson::ok)
}

/// The discovery endpoints and the collections answer only what RFC 7644 defines on them:
/// other methods are 405; an unknown endpoint is 404.
fn not_allowed(endpoint: &str) -> ScimError {
    match endpoint {
        "ServiceProviderConfig" | "ResourceTypes" | "Schemas" | "Users" | "Groups" => {
            ScimError::method_not_allowed()
        }
        _ => ScimError::new(
            Status::NotFound,
            None,
            format!("nothing at /scim/v2/{endpoint}"),
        ),
    }
}

/// 405 on the discovery endpoints (only GET).
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    params(("endpoint" = String, Path, description = "`ServiceProviderConfig`, `ResourceTypes` or `Schemas`")),
    responses((status = 405, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[post("/scim/v2/<endpoint>", rank = 5)]
pub fn post_other(_client: ScimClient, endpoint: &str) -> ScimError {
    not_allowed(endpoint)
}

/// 405 on the discovery endpoints and the collection (only GET, or POST for `/Users`).
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    params(("endpoint" = String, Path, description = "`ServiceProviderConfig`, `ResourceTypes`, `Schemas` or `Users`")),
    responses((status = 405, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[put("/scim/v2/<endpoint>", rank = 5)]
pub fn put_other(_client: ScimClient, endpoint: &str) -> ScimError {
    not_allowed(endpoint)
}

/// 405, as `PUT /scim/v2/{endpoint}`.
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    params(("endpoint" = String, Path, description = "`ServiceProviderConfig`, `ResourceTypes`, `Schemas` or `Users`")),
    responses((status = 405, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[patch("/scim/v2/<endpoint>", rank = 5)]
pub fn patch_other(_client: ScimClient, endpoint: &str) -> ScimError {
    not_allowed(endpoint)
}

/// 405, as `PUT /scim/v2/{endpoint}`.
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    params(("endpoint" = String, Path, description = "`ServiceProviderConfig`, `ResourceTypes`, `Schemas` or `Users`")),
    responses((status = 405, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[delete("/scim/v2/<endpoint>", rank = 5)]
pub fn delete_other(_client: ScimClient, endpoint: &str) -> ScimError {
    not_allowed(endpoint)
}

/// Searching several resource types at once is not supported (501).
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    responses((status = 501, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[post("/scim/v2/.search")]
pub fn search_all(_client: ScimClient) -> ScimError {
    ScimError::new(
        Status::NotImplemented,
        None,
        "search one resource type at a time: POST /scim/v2/Users/.search",
    )
}

/// List members as Users: `filter`, paging (`startIndex`, `count`), attributes.
#[utoipa::path(tag = "scim", security(("scim_key" = [])), params(ListParams),
    responses((status = 200, description = "ListResponse of User", content_type = "application/scim+json"),
        (status = 400, description = "`invalidFilter`, `invalidValue`", body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 403, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[get("/scim/v2/Users?<params..>")]
pub async fn list_users(
    db: &State<Db>,
    at: &State<Locations>,
    client: ScimClient,
    params: ListParams,
) -> ScimResult<ScimJson> {
    let q = params.query(users::FILTERABLE)?;
    let mut conn = db.conn().await?;
    Ok(ScimJson::ok(users::list(&mut conn, &client, q, at).await?))
}

/// `GET /Users` with a SearchRequest body.
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    request_body(content = Object, content_type = "application/scim+json", description = "SearchRequest: filter, startIndex, count, attributes, excludedAttributes"),
    responses((status = 200, description = "ListResponse of User", content_type = "application/scim+json"),
        (status = 400, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[post("/scim/v2/Users/.search", data = "<body>")]
pub async fn search_users(
    db: &State<Db>,
    at: &State<Locations>,
    client: ScimClient,
    body: ScimBody,
) -> ScimResult<ScimJson> {
    let q = ListParams::of_search(&body.0)?.query(users::FILTERABLE)?;
    let mut conn = db.conn().await?;
    Ok(ScimJson::ok(users::list(&mut conn, &client, q, at).await?))
}

/// Provision a User: a new member (an employee, without a password), or the member who has
/// the email (an existing employee; a re-hire after a DELETE, reactivated).
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    request_body(content = Object, content_type = "application/scim+json", description = "A User: userName, emails, name, displayName, active, externalId"),
    responses((status = 201, description = "The User", content_type = "application/scim+json"),
        (status = 400, description = "`invalidValue`, `invalidSyntax`", body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 403, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`: the userName or email is taken", body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[post("/scim/v2/Users", data = "<body>")]
pub async fn create_user(
    db: &State<Db>,
    at: &State<Locations>,
    mail: &State<crate::mail::Mail>,
    client: ScimClient,
    body: ScimBody,
) -> ScimResult<ScimJson> {
    let mut conn = db.conn().await?;
    let (id, user) = users::create(&mut conn, mail, &client, body.0, at).await?;
    Ok(ScimJson {
        status: Status::Created,
        body: user,
        location: Some(at.user(id)),
    })
}

/// One User.
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    params(("id" = uuid::Uuid, Path, description = "The member's id"), Shape),
    responses((status = 200, description = "The User", content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[get("/scim/v2/Users/<id>?<shape..>")]
pub async fn get_user(
    db: &State<Db>,
    at: &State<Locations>,
    client: ScimClient,
    id: &str,
    shape: Shape,
) -> ScimResult<ScimJson> {
    let (id, shape) = (id_of(id)?, shape.parse()?);
    let mut conn = db.conn().await?;
    let user = users::get(&mut conn, &client, id, at).await?;
    Ok(ScimJson::ok(shape.apply(user)))
}

/// Replace a User: the document replaces the one kept; email, name and `active` follow it.
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    params(("id" = uuid::Uuid, Path, description = "The member's id")),
    request_body(content = Object, content_type = "application/scim+json", description = "A User"),
    responses((status = 200, description = "The User", content_type = "application/scim+json"),
        (status = 400, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`, or the last admin", body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[put("/scim/v2/Users/<id>", data = "<body>")]
pub async fn replace_user(
    db: &State<Db>,
    at: &State<Locations>,
    mail: &State<crate::mail::Mail>,
    client: ScimClient,
    id: &str,
    body: ScimBody,
) -> ScimResult<ScimJson> {
    let id = id_of(id)?;
    let mut conn = db.conn().await?;
    Ok(ScimJson::ok(
        users::replace(&mut conn, mail, &client, id, body.0, at).await?,
    ))
}

/// Change a User with PATCH operations (RFC 7644 §3.5.2).
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    params(("id" = uuid::Uuid, Path, description = "The member's id")),
    request_body(content = Object, content_type = "application/scim+json", description = "PatchOp: Operations of add, remove, replace"),
    responses((status = 200, description = "The User", content_type = "application/scim+json"),
        (status = 400, description = "`invalidPath`, `noTarget`, `mutability`, `invalidValue`", body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[patch("/scim/v2/Users/<id>", data = "<body>")]
pub async fn patch_user(
    db: &State<Db>,
    at: &State<Locations>,
    mail: &State<crate::mail::Mail>,
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
        users::patch(&mut conn, mail, &client, id, ops, at).await?,
    ))
}

/// Delete a User: the member is deactivated (history kept) and leaves their team; the User
/// answers 404 from then on. A later POST with the email re-hires the same member.
#[utoipa::path(tag = "scim", security(("scim_key" = [])),
    params(("id" = uuid::Uuid, Path, description = "The member's id")),
    responses((status = 204, description = "Deleted"),
        (status = 401, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, body = super::ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "The organisation's last admin", body = super::ScimErrorBody, content_type = "application/scim+json")))]
#[delete("/scim/v2/Users/<id>")]
pub async fn delete_user(
    db: &State<Db>,
    at: &State<Locations>,
    client: ScimClient,
    id: &str,
) -> ScimResult<Status> {
    let id = id_of(id)?;
    let mut conn = db.conn().await?;
    users::delete(&mut conn, &client, id, at).await?;
    Ok(Status::NoContent)
}

/// The SCIM endpoints' OpenAPI 3.1 document (apart from the main one).
#[utoipa::path(tag = "scim",
    responses((status = 200, description = "The OpenAPI 3.1 document of /scim/v2", content_type = "application/json")))]
#[get("/scim/v2/openapi.json")]
pub fn scim_openapi() -> (rocket::http::ContentType, String) {
    (
        rocket::http::ContentType::JSON,
        document().to_pretty_json().unwrap_or_else(|_| "{}".into()),
    )
}

struct ScimKey;

impl Modify for ScimKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "scim_key",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "An API key with the `scim` scope, owned by an admin (POST /api/v1/api-keys)",
                        ))
                        .build(),
                ),
            );
    }
}

/// The SCIM document: its operations, the key scheme, and a title of its own.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ScimApi::openapi();
    doc.info.title = "Frontline SCIM 2.0".into();
    doc.info.description = Some(
        "SCIM 2.0 provisioning (RFC 7643, RFC 7644) of members as Users. Errors are SCIM errors (urn:ietf:params:scim:api:messages:2.0:Error), application/scim+json.".into(),
    );
    ScimKey.modify(&mut doc);
    // Every response has a description (OpenAPI requires one): the status's reason where the
    // handler gave none.
    for item in doc.paths.paths.values_mut() {
        for op in crate::openapi::responses::operations_mut(item) {
            for (code, response) in op.responses.responses.iter_mut() {
                if let utoipa::openapi::RefOr::T(r) = response
                    && r.description.trim().is_empty()
                {
                    r.description = code
                        .parse::<u16>()
                        .ok()
                        .and_then(|c| Status::from_code(c)?.reason())
                        .unwrap_or("Response")
                        .to_string();
                }
            }
        }
    }
    doc
}

/// Unrouted paths and refused guards under `/scim/v2` answer SCIM errors.
#[catch(default)]
pub fn scim_catch(status: Status, req: &Request<'_>) -> Caught {
    crate::read_cache::refused(req);
    Caught(super::catch(status, req))
}

pub struct Caught(Response<'static>);

impl<'r> Responder<'r, 'static> for Caught {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        Ok(self.0)
    }
}

crate::http::operations!(
    /// The SCIM operations: a document of their own (`/scim/v2/openapi.json`).
    ScimApi {
        service_provider_config,
        resource_types,
        resource_type,
        schemas,
        schema,
        post_other,
        put_other,
        patch_other,
        delete_other,
        search_all,
        list_users,
        search_users,
        create_user,
        get_user,
        replace_user,
        patch_user,
        delete_user,
        super::group_routes::list_groups,
        super::group_routes::search_groups,
        super::group_routes::create_group,
        super::group_routes::get_group,
        super::group_routes::replace_group,
        super::group_routes::patch_group,
        super::group_routes::delete_group,
        scim_openapi,
    }
);
