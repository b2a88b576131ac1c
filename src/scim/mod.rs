//! SCIM 2.0 provisioning (RFC 7643, RFC 7644) under `/scim/v2`: an identity provider or HR
//! system keeps members in sync, with an API key of the `scim` scope whose owner is an admin.
//!
//! A SCIM User is a member (the same id). What the identity provider asserted is kept as it
//! sent it (`scim_users.document`), so what it wrote reads back exactly; the member's email,
//! name and active state are projected from it. DELETE deactivates the member (history kept)
//! and ends the SCIM identity: a later GET answers 404, a later POST with the email re-hires.
//!
//! - `guard`: `ScimClient`, the only caller these routes accept.
//! - `body`: the request body (`application/scim+json` or `application/json`).
//! - `discovery`: ServiceProviderConfig, ResourceTypes and Schemas (`schemas/*.json`).
//! - `filter`: the `filter` parameter (RFC 7644 §3.4.2.2), parsed and evaluated.
//! - `patch`: PATCH operations (RFC 7644 §3.5.2) on a resource's JSON.
//! - `projection`: `attributes` and `excludedAttributes`.
//! - `users`: the Users rules and transactions; `queries`: their rows.
//! - `groups`: Groups = teams, their rules and transactions; `team_queries`: their rows;
//!   `group_routes`: their handlers.
//! - `routes`: the handlers and the separate OpenAPI document (`ScimApi`).

pub mod body;
pub mod discovery;
pub mod filter;
pub mod group_routes;
pub mod groups;
pub mod guard;
pub mod params;
pub mod patch;
pub mod projection;
pub mod queries;
pub mod routes;
pub mod team_queries;
pub mod users;

use std::io::Cursor;

use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{AppError, ErrorSlot};
use crate::telemetry::RequestId;

pub use guard::ScimClient;
pub use routes::{ScimApi, routes, scim_catch};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// The largest page a list answers with (`count`), and the default.
pub const MAX_COUNT: i64 = 200;
pub const DEFAULT_COUNT: i64 = 100;

/// Where the resources live: `public_base_url` + `/scim/v2`, or a path alone without it.
#[derive(Debug, Clone)]
pub struct Locations(String);

impl Locations {
    pub fn new(public_base_url: Option<&str>) -> Locations {
        let base = public_base_url
            .map(|b| b.trim().trim_end_matches('/'))
            .unwrap_or_default();
        Locations(format!("{base}/scim/v2"))
    }

    pub fn user(&self, id: uuid::Uuid) -> String {
        format!("{}/Users/{id}", self.0)
    }

    pub fn group(&self, id: uuid::Uuid) -> String {
        format!("{}/Groups/{id}", self.0)
    }
}

/// A SCIM error (RFC 7644 §3.12): the status, a `scimType` for 400 and 409, and a detail.
#[derive(Debug)]
pub struct ScimError {
    pub status: Status,
    pub scim_type: Option<&'static str>,
    pub detail: String,
    /// For 503: seconds to wait.
    pub retry_after: Option<u64>,
    /// Kept for the logs when the failure is ours.
    pub cause: Option<AppError>,
}

/// The body of a SCIM error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScimErrorBody {
    /// `["urn:ietf:params:scim:api:messages:2.0:Error"]`
    pub schemas: Vec<String>,
    /// The HTTP status, as a string.
    pub status: String,
    /// For 400 and 409: `invalidFilter`, `invalidSyntax`, `invalidPath`, `invalidValue`,
    /// `noTarget`, `mutability`, `uniqueness`, `tooMany`.
    #[serde(rename = "scimType", skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<String>,
    pub detail: String,
}

impl ScimError {
    pub fn new(status: Status, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
            retry_after: None,
            cause: None,
        }
    }

    /// 400 with a `scimType`.
    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(Status::BadRequest, Some(scim_type), detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            Status::NotFound,
            None,
            format!("no {what} with that id in your organisation"),
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            Status::MethodNotAllowed,
            None,
            "this endpoint only answers GET",
        )
    }

    fn body(&self) -> ScimErrorBody {
        ScimErrorBody {
            schemas: vec![ERROR_SCHEMA.to_string()],
            status: self.status.code.to_string(),
            scim_type: self.scim_type.map(str::to_string),
            detail: self.detail.clone(),
        }
    }

    fn respond(self, req: &Request<'_>) -> Response<'static> {
        if let Some(cause) = &self.cause {
            match cause {
                AppError::Internal(_) => {
                    tracing::error!(request_id = %RequestId::of(req), error = %cause.chain(), "internal error")
                }
                AppError::Contention(_) | AppError::LockTimeout(_) => {
                    tracing::warn!(request_id = %RequestId::of(req), error = %cause.chain(), "gave up on a concurrent change")
                }
                _ => {}
            }
        }
        let body = serde_json::to_vec(&self.body()).unwrap_or_else(|_| b"{}".to_vec());
        let mut builder = Response::build();
        builder
            .status(self.status)
            .header(scim_json())
            .sized_body(body.len(), Cursor::new(body));
        if self.status == Status::Unauthorized {
            builder.header(Header::new("WWW-Authenticate", "Bearer"));
        }
        if let Some(secs) = self.retry_after {
            builder.header(Header::new("Retry-After", secs.to_string()));
        }
        builder.finalize()
    }
}

/// Every error of the service, in SCIM's words.
impl From<AppError> for ScimError {
    fn from(e: AppError) -> Self {
        let status = e.status();
        let retry_after = e.retry_after();
        let (status, scim_type, detail) = match &e {
            AppError::Validation(errors) => {
                let detail = errors
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                (Status::BadRequest, Some("invalidValue"), detail)
            }
            AppError::BadRequest(d) => (Status::BadRequest, Some("invalidSyntax"), d.clone()),
            AppError::Conflict { detail, extra } => {
                let unique = extra
                    .as_ref()
                    .is_some_and(|x| x["scimType"] == "uniqueness");
                (
                    Status::Conflict,
                    unique.then_some("uniqueness"),
                    detail.clone(),
                )
            }
            AppError::Internal(_) => (
                status,
                None,
                "an unexpected error occurred; it has been logged with the request id".to_string(),
            ),
            other => (status, None, other.to_string()),
        };
        ScimError {
            status,
            scim_type,
            detail,
            retry_after,
            cause: Some(e),
        }
    }
}

impl<'r> Responder<'r, 'static> for ScimError {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        Ok(self.respond(req))
    }
}

pub type ScimResult<T> = Result<T, ScimError>;

/// A conflict on a value that must be unique (a userName, an email): `uniqueness`.
pub fn taken(detail: impl Into<String>) -> AppError {
    AppError::Conflict {
        detail: detail.into(),
        extra: Some(serde_json::json!({ "scimType": "uniqueness" })),
    }
}

pub fn scim_json() -> ContentType {
    ContentType::new("application", "scim+json")
}

/// A SCIM answer: JSON as `application/scim+json`, with a status and, for a creation, its
/// `Location`.
pub struct ScimJson {
    pub status: Status,
    pub body: serde_json::Value,
    pub location: Option<String>,
}

impl ScimJson {
    pub fn ok(body: serde_json::Value) -> Self {
        ScimJson {
            status: Status::Ok,
            body,
            location: None,
        }
    }
}

impl<'r> Responder<'r, 'static> for ScimJson {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let bytes = serde_json::to_vec(&self.body).unwrap_or_else(|_| b"{}".to_vec());
        let mut builder = Response::build();
        builder
            .status(self.status)
            .header(scim_json())
            .sized_body(bytes.len(), Cursor::new(bytes));
        if let Some(location) = self.location {
            builder.header(Header::new("Location", location));
        }
        builder.ok()
    }
}

/// The catcher's answer under `/scim/v2`: the error a guard left, or the status's own.
pub fn catch(status: Status, req: &Request<'_>) -> Response<'static> {
    let error = match ErrorSlot::take(req) {
        Some(e) if e.status() == status => ScimError::from(e),
        _ => generic(status, req),
    };
    error.respond(req)
}

fn generic(status: Status, req: &Request<'_>) -> ScimError {
    match status.code {
        400 => ScimError::bad("invalidSyntax", "the request is malformed"),
        401 => ScimError::new(status, None, "send an API key with the scim scope"),
        404 => ScimError::new(status, None, format!("nothing at {}", req.uri().path())),
        413 => ScimError::new(status, None, "the request body exceeds the size limit"),
        415 => ScimError::new(
            status,
            None,
            "send the body as application/scim+json or application/json",
        ),
        422 => ScimError::bad(
            "invalidValue",
            "a path or query parameter has an invalid value",
        ),
        500 => ScimError::from(AppError::internal(format!(
            "unhandled failure on {}",
            req.uri().path()
        ))),
        _ => ScimError::new(status, None, status.reason().unwrap_or("error").to_string()),
    }
}
