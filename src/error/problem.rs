//! The RFC 9457 problem document every failure answers with: from a handler (`AppError`'s
//! `Responder`) or from Rocket's own errors (the catcher), with the error a guard left.

use std::io::Cursor;
use std::sync::Mutex;

use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::{AppError, FieldError};
use crate::telemetry::RequestId;

impl AppError {
    pub fn to_problem(&self, instance: Option<String>, request_id: Option<String>) -> Problem {
        let status = self.status();
        let (slug, title) = problem_kind(status);
        let detail = match self {
            AppError::Validation(errors) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                format!("invalid input in: {}", fields.join(", "))
            }
            AppError::Internal(_) => {
                "an unexpected error occurred; it has been logged with the request id".into()
            }
            other => other.to_string(),
        };
        let mut problem = Problem {
            problem_type: format!("/docs#problem-{slug}"),
            title: title.into(),
            status: status.code,
            detail,
            instance,
            request_id,
            errors: None,
            retry_after: self.retry_after(),
            extra: None,
        };
        match self {
            AppError::Validation(errors) => problem.errors = Some(errors.clone()),
            AppError::Conflict { extra, .. } => problem.extra = extra.clone(),
            _ => {}
        }
        problem
    }

    /// The response for this error on `req`, logged when it is ours or a race we gave up on.
    /// The one way an `AppError` becomes a response, from a handler or from the catcher.
    fn respond(self, req: &Request<'_>) -> Response<'static> {
        match &self {
            AppError::Internal(_) => {
                tracing::error!(request_id = %RequestId::of(req), error = %self.chain(), "internal error")
            }
            AppError::Contention(_) | AppError::LockTimeout(_) => {
                tracing::warn!(request_id = %RequestId::of(req), error = %self.chain(), "gave up on a concurrent change")
            }
            _ => {}
        }
        self.to_problem(
            Some(req.uri().path().to_string()),
            Some(RequestId::of(req).to_string()),
        )
        .into_response()
    }
}

/// The short slug and title of each problem type; `/docs` explains every one.
pub fn problem_kind(status: Status) -> (&'static str, &'static str) {
    match status.code {
        400 => ("bad-request", "Bad request"),
        401 => ("unauthorized", "Authentication required"),
        403 => ("forbidden", "Forbidden"),
        404 => ("not-found", "Not found"),
        405 => ("method-not-allowed", "Method not allowed"),
        409 => ("conflict", "Conflict"),
        413 => ("payload-too-large", "Request body too large"),
        415 => ("unsupported-media-type", "Unsupported media type"),
        422 => ("validation", "Invalid input"),
        429 => ("too-many-requests", "Too many requests"),
        503 => ("unavailable", "Service unavailable"),
        500 => ("internal", "Internal server error"),
        _ => ("error", "Error"),
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type; it resolves to its explanation in `/docs`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The request path the problem occurred on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The `X-Request-Id` of the request, to find it in the logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// For validation problems: every offending field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// For 429 and 503: seconds to wait, as in the `Retry-After` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Extension members (e.g. `current_status` on a 409).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = extension_members)]
    pub extra: Option<serde_json::Value>,
}

/// A problem's extension members: any names, any values. Declared open
/// (`additionalProperties: true`) so generated clients keep them instead of typing the branch
/// as an object with no members.
fn extension_members() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Object)
        .additional_properties(Some(
            utoipa::openapi::schema::AdditionalProperties::FreeForm(true),
        ))
        .description(Some("Extension members (e.g. `current_status` on a 409)."))
        .build()
}

impl Problem {
    fn into_response<'r>(self) -> Response<'r> {
        let status = Status::from_code(self.status).unwrap_or(Status::InternalServerError);
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let retry_after = self.retry_after;
        let mut builder = Response::build();
        builder
            .status(status)
            .header(ContentType::new("application", "problem+json"))
            .sized_body(body.len(), Cursor::new(body));
        if status == Status::Unauthorized {
            builder.header(Header::new("WWW-Authenticate", "Bearer"));
        }
        if let Some(secs) = retry_after {
            builder.header(Header::new("Retry-After", secs.to_string()));
        }
        builder.finalize()
    }
}

impl<'r> Responder<'r, 'static> for AppError {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        Ok(self.respond(req))
    }
}

/// Where a guard that failed leaves its error for the catcher: Rocket hands catchers only the
/// status, so the detail travels in the request's local cache.
#[derive(Default)]
pub struct ErrorSlot(Mutex<Option<AppError>>);

impl ErrorSlot {
    pub fn put(req: &Request<'_>, error: AppError) -> Status {
        let status = error.status();
        if let Ok(mut slot) = req.local_cache(ErrorSlot::default).0.lock() {
            *slot = Some(error);
        }
        status
    }

    pub fn take(req: &Request<'_>) -> Option<AppError> {
        req.local_cache(ErrorSlot::default)
            .0
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
    }
}

/// Renders the catcher response for `status`, using the error a guard left when there is one.
pub fn catch(status: Status, req: &Request<'_>) -> Response<'static> {
    let error = match ErrorSlot::take(req) {
        Some(e) if e.status() == status => e,
        _ => generic_error(status, req),
    };
    error.respond(req)
}

fn generic_error(status: Status, req: &Request<'_>) -> AppError {
    match status.code {
        400 => AppError::BadRequest("the request is malformed".into()),
        401 => AppError::Unauthorized("a valid bearer token is required".into()),
        403 => AppError::Forbidden("your role does not allow this".into()),
        404 => AppError::NotFound(format!("nothing at {}", req.uri().path())),
        413 => AppError::PayloadTooLarge("the request body exceeds the size limit".into()),
        415 => AppError::UnsupportedMediaType("send the body as application/json".into()),
        422 => AppError::Validation(vec![FieldError::new(
            "request",
            "a path or query parameter has an invalid value",
        )]),
        503 => AppError::Unavailable("the service is unavailable".into()),
        500 => AppError::internal(format!("unhandled failure on {}", req.uri().path())),
        _ => AppError::BadRequest(status.reason().unwrap_or("error").to_string()),
    }
}
