//! One error type for the whole service, and the one place it becomes an HTTP response.
//!
//! Every failure a handler can meet is an [`AppError`]; `?` converts Diesel's errors here, so
//! handlers never build an error response by hand. Responses are RFC 9457 problem documents
//! (`application/problem+json`).

use std::io::Cursor;
use std::sync::Mutex;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::telemetry::RequestId;

pub type AppResult<T> = Result<T, AppError>;

/// One offending input field.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// Where the value sits: a JSON path such as `email` or `contributors[2]`, or a query parameter.
    pub field: String,
    /// What is wrong with it, for a person.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{detail}")]
    Conflict {
        detail: String,
        /// Extension members, e.g. the current status of a resource.
        extra: Option<serde_json::Value>,
    },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    Unavailable(String),
    /// Lost a race with concurrent writers (deadlock, serialization failure). Transactions
    /// that can be replayed are retried before this reaches a client.
    #[error("{0}")]
    Contention(String),
    /// Something that is our fault. The message is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn conflict(detail: impl Into<String>) -> Self {
        AppError::Conflict {
            detail: detail.into(),
            extra: None,
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn not_found(what: &str) -> Self {
        AppError::NotFound(format!("no {what} with that id in your organisation"))
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        AppError::Internal(e.to_string())
    }

    pub fn status(&self) -> Status {
        match self {
            AppError::BadRequest(_) => Status::BadRequest,
            AppError::Unauthorized(_) => Status::Unauthorized,
            AppError::Forbidden(_) => Status::Forbidden,
            AppError::NotFound(_) => Status::NotFound,
            AppError::Conflict { .. } => Status::Conflict,
            AppError::PayloadTooLarge(_) => Status::PayloadTooLarge,
            AppError::UnsupportedMediaType(_) => Status::UnsupportedMediaType,
            AppError::Validation(_) => Status::UnprocessableEntity,
            AppError::TooManyRequests { .. } => Status::TooManyRequests,
            AppError::Unavailable(_) | AppError::Contention(_) => Status::ServiceUnavailable,
            AppError::Internal(_) => Status::InternalServerError,
        }
    }

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
            retry_after: None,
            extra: None,
        };
        match self {
            AppError::Validation(errors) => problem.errors = Some(errors.clone()),
            AppError::TooManyRequests {
                retry_after_secs, ..
            } => problem.retry_after = Some(*retry_after_secs),
            AppError::Conflict { extra, .. } => problem.extra = extra.clone(),
            // Busy or briefly unreachable (contention, a full pool, a saturated password
            // hasher): worth retrying in a second.
            AppError::Contention(_) | AppError::Unavailable(_) => problem.retry_after = Some(1),
            _ => {}
        }
        problem
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
    /// For 429: seconds to wait, as in the `Retry-After` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Extension members (e.g. `current_status` on a 409).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub extra: Option<serde_json::Value>,
}

impl Problem {
    fn into_response<'r>(self, retry_after: Option<u64>) -> Response<'r> {
        let status = Status::from_code(self.status).unwrap_or(Status::InternalServerError);
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
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
        if let AppError::Internal(message) = &self {
            tracing::error!(request_id = %RequestId::of(req), error = %message, "internal error");
        }
        let retry_after = match &self {
            AppError::TooManyRequests {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            AppError::Contention(_) | AppError::Unavailable(_) => Some(1),
            _ => None,
        };
        let problem = self.to_problem(
            Some(req.uri().path().to_string()),
            Some(RequestId::of(req).to_string()),
        );
        Ok(problem.into_response(retry_after))
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
    if let AppError::Internal(message) = &error {
        tracing::error!(request_id = %RequestId::of(req), error = %message, "internal error");
    }
    let retry_after = match &error {
        AppError::TooManyRequests {
            retry_after_secs, ..
        } => Some(*retry_after_secs),
        AppError::Contention(_) | AppError::Unavailable(_) => Some(1),
        _ => None,
    };
    error
        .to_problem(
            Some(req.uri().path().to_string()),
            Some(RequestId::of(req).to_string()),
        )
        .into_response(retry_after)
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
        500 => AppError::Internal(format!("unhandled failure on {}", req.uri().path())),
        _ => AppError::BadRequest(status.reason().unwrap_or("error").to_string()),
    }
}

impl From<DieselError> for AppError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => AppError::NotFound("not found in your organisation".into()),
            DieselError::DatabaseError(kind, info) => {
                let constraint = info.constraint_name().unwrap_or("");
                let field = info
                    .column_name()
                    .map(str::to_string)
                    .unwrap_or_else(|| friendly_constraint(constraint, info.table_name()));
                match kind {
                    DatabaseErrorKind::UniqueViolation => AppError::conflict(format!(
                        "this conflicts with an existing record ({field})"
                    )),
                    DatabaseErrorKind::ForeignKeyViolation => AppError::invalid(
                        field,
                        "refers to something that does not exist in your organisation",
                    ),
                    DatabaseErrorKind::CheckViolation | DatabaseErrorKind::NotNullViolation => {
                        AppError::invalid(field, "value not allowed")
                    }
                    DatabaseErrorKind::SerializationFailure => AppError::Contention(
                        "a concurrent change got in the way; retry the request".into(),
                    ),
                    // A lost database (the server went away, or an administrator ended the
                    // session: 57P01) is a 503 the client may retry, never a 500.
                    DatabaseErrorKind::ClosedConnection
                    | DatabaseErrorKind::UnableToSendCommand => AppError::Unavailable(
                        "the database is unavailable; try again shortly".into(),
                    ),
                    _ if info.message().contains("terminating connection") => {
                        AppError::Unavailable(
                            "the database is unavailable; try again shortly".into(),
                        )
                    }
                    // PostgreSQL's 40P01; diesel has no kind of its own for it.
                    _ if info.message().contains("deadlock detected") => AppError::Contention(
                        "a concurrent change got in the way; retry the request".into(),
                    ),
                    _ => AppError::Internal(format!("database error: {}", info.message())),
                }
            }
            other => AppError::Internal(format!("database error: {other}")),
        }
    }
}

/// `members_email_key` -> `email`: the column a constraint is about, for error messages. A
/// constraint's raw name describes the schema, not the request: it is never echoed. Names
/// follow `<table>_<column>_<kind>`; what is not recognised becomes `request`.
fn friendly_constraint(name: &str, table: Option<&str>) -> String {
    let known = [
        ("members_email", "email"),
        ("teams_live_name", "name"),
        ("teams_name", "name"),
        ("organisations_slug", "slug"),
        ("members_team", "team_id"),
        ("members_display_name", "display_name"),
        ("members_role", "role"),
    ];
    if let Some((_, field)) = known.iter().find(|(prefix, _)| name.starts_with(prefix)) {
        return field.to_string();
    }
    let column = table
        .and_then(|t| name.strip_prefix(t))
        .and_then(|rest| rest.strip_prefix('_'))
        .and_then(|rest| {
            ["_fkey", "_check", "_key", "_length", "_format"]
                .iter()
                .find_map(|suffix| rest.strip_suffix(suffix))
        })
        .filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    column.unwrap_or("request").to_string()
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for AppError {
    fn from(e: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        tracing::error!(error = %e, "database pool error");
        AppError::Unavailable("the database is unavailable; try again shortly".into())
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> Self {
        AppError::Internal(format!("background task failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::friendly_constraint;

    #[test]
    fn constraint_names_become_fields_never_echoes() {
        assert_eq!(
            friendly_constraint("members_email_key", Some("members")),
            "email"
        );
        assert_eq!(
            friendly_constraint("ledger_entries_reverses_fkey", Some("ledger_entries")),
            "reverses"
        );
        assert_eq!(
            friendly_constraint("api_keys_name_length", Some("api_keys")),
            "name"
        );
        assert_eq!(
            friendly_constraint("some_internal_thing_idx", Some("members")),
            "request"
        );
        assert_eq!(
            friendly_constraint("ledger_entries_reverses_fkey", None),
            "request"
        );
        assert_eq!(friendly_constraint("", None), "request");
    }
}
