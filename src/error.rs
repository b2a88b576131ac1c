//! One error type for the whole service, and the one place it becomes an HTTP response.
//!
//! Every failure a handler can meet is an [`AppError`]; `?` converts Diesel's errors here, so
//! handlers never build an error response by hand. Responses are RFC 9457 problem documents
//! (`application/problem+json`).
//!
//! An error keeps its cause: a database error stays the source of the `AppError` it became, so
//! the logs show the whole chain ([`AppError::chain`]) while the response shows none of it.

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

/// The cause an error keeps for the logs: any error, or a message when there is nothing more.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

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
    /// Lost a race with concurrent writers: a serialization failure (40001) or a deadlock
    /// (40P01). `db::transaction` replays its work before this reaches a client.
    #[error("a concurrent change got in the way; retry the request")]
    Contention(#[source] BoxError),
    /// Waited longer than the transaction's `lock_timeout` for a lock another transaction
    /// holds (55P03). Not replayed: whoever set the timeout chose to step back, not to wait.
    #[error("another request holds what this one needs; retry the request")]
    LockTimeout(#[source] BoxError),
    /// Something that is our fault. Its cause is logged, never sent.
    #[error(transparent)]
    Internal(BoxError),
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

    /// Our fault, because of `cause` (an error, kept with its own causes, or a message).
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        AppError::Internal(cause.into())
    }

    /// Seconds a client should wait before trying again (the `Retry-After` header and the
    /// problem's `retry_after`), or `None` when trying again will not help.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::TooManyRequests {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            // Busy or briefly unreachable (contention, a full pool, a saturated password
            // hasher): worth retrying in a second.
            AppError::Contention(_) | AppError::LockTimeout(_) | AppError::Unavailable(_) => {
                Some(1)
            }
            _ => None,
        }
    }

    /// This error and every cause under it, `: `-separated: what the logs show.
    pub fn chain(&self) -> Chain<'_> {
        Chain(self)
    }

    /// A copy for the catcher's slot. The error type is not `Clone` (its causes need not be);
    /// the copy keeps a cause as its text, which is all the catcher logs of it.
    pub fn clone_shallow(&self) -> AppError {
        match self {
            AppError::BadRequest(s) => AppError::BadRequest(s.clone()),
            AppError::Unauthorized(s) => AppError::Unauthorized(s.clone()),
            AppError::Forbidden(s) => AppError::Forbidden(s.clone()),
            AppError::NotFound(s) => AppError::NotFound(s.clone()),
            AppError::Conflict { detail, extra } => AppError::Conflict {
                detail: detail.clone(),
                extra: extra.clone(),
            },
            AppError::PayloadTooLarge(s) => AppError::PayloadTooLarge(s.clone()),
            AppError::UnsupportedMediaType(s) => AppError::UnsupportedMediaType(s.clone()),
            AppError::Validation(v) => AppError::Validation(v.clone()),
            AppError::TooManyRequests {
                detail,
                retry_after_secs,
            } => AppError::TooManyRequests {
                detail: detail.clone(),
                retry_after_secs: *retry_after_secs,
            },
            AppError::Unavailable(s) => AppError::Unavailable(s.clone()),
            AppError::Contention(cause) => {
                AppError::Contention(Chain(cause.as_ref()).to_string().into())
            }
            AppError::LockTimeout(cause) => {
                AppError::LockTimeout(Chain(cause.as_ref()).to_string().into())
            }
            AppError::Internal(_) => AppError::Internal(self.chain().to_string().into()),
        }
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
            AppError::Unavailable(_) | AppError::Contention(_) | AppError::LockTimeout(_) => {
                Status::ServiceUnavailable
            }
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

/// An error and its causes, `: `-separated (see [`AppError::chain`]).
pub struct Chain<'a>(&'a (dyn std::error::Error + 'a));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
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

impl From<DieselError> for AppError {
    /// What a database error means for the request, decided here once; the error itself stays
    /// the cause of races and of our own faults, for the logs.
    fn from(e: DieselError) -> Self {
        let DieselError::DatabaseError(kind, info) = &e else {
            return match e {
                DieselError::NotFound => {
                    AppError::NotFound("not found in your organisation".into())
                }
                other => AppError::Internal(Box::new(other)),
            };
        };
        let field = || {
            info.column_name().map(str::to_string).unwrap_or_else(|| {
                friendly_constraint(info.constraint_name().unwrap_or(""), info.table_name())
            })
        };
        match kind {
            DatabaseErrorKind::UniqueViolation => {
                return AppError::conflict(format!(
                    "this conflicts with an existing record ({})",
                    field()
                ));
            }
            DatabaseErrorKind::ForeignKeyViolation => {
                return AppError::invalid(
                    field(),
                    "refers to something that does not exist in your organisation",
                );
            }
            DatabaseErrorKind::CheckViolation | DatabaseErrorKind::NotNullViolation => {
                return AppError::invalid(field(), "value not allowed");
            }
            _ => {}
        }
        match Unmet::of(*kind, info.message()) {
            // 22021: text PostgreSQL cannot store (a NUL character). Every text field should
            // refuse it first; this keeps one that does not from answering 500.
            Unmet::Unstorable => {
                AppError::invalid("body", "contains a character that cannot be stored (NUL)")
            }
            Unmet::Race => AppError::Contention(Box::new(e)),
            Unmet::LockTimeout => AppError::LockTimeout(Box::new(e)),
            // A lost database (the server went away, or an administrator ended the session:
            // 57P01) is a 503 the client may retry, never a 500.
            Unmet::Lost => {
                tracing::warn!(error = %e, "database connection lost");
                AppError::Unavailable("the database is unavailable; try again shortly".into())
            }
            Unmet::Fault => AppError::Internal(Box::new(e)),
        }
    }
}

/// Why a statement that broke no constraint failed.
#[derive(Debug, PartialEq, Eq)]
enum Unmet {
    /// Lost a race: a serialization failure (40001) or a deadlock (40P01).
    Race,
    /// `lock_timeout` ran out (55P03 lock_not_available).
    LockTimeout,
    /// The connection or the server went away.
    Lost,
    /// The request's text cannot be stored (22021, a NUL character).
    Unstorable,
    /// Anything else: our fault.
    Fault,
}

impl Unmet {
    /// diesel-async keeps PostgreSQL's SQLSTATE only for the kinds diesel names (40001 among
    /// them), and its error information has no code: the others are known by PostgreSQL's own
    /// message (the server's `lc_messages` is English unless an administrator changed it).
    fn of(kind: DatabaseErrorKind, message: &str) -> Unmet {
        match kind {
            DatabaseErrorKind::SerializationFailure => Unmet::Race,
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                Unmet::Lost
            }
            // 40P01.
            _ if message.contains("deadlock detected") => Unmet::Race,
            // 55P03: "canceling statement due to lock timeout", or "could not obtain lock on
            // row in relation ..." for NOWAIT.
            _ if message.contains("due to lock timeout")
                || message.starts_with("could not obtain lock") =>
            {
                Unmet::LockTimeout
            }
            // 57P01 and its kin.
            _ if message.contains("terminating connection") => Unmet::Lost,
            // 22021.
            _ if message.starts_with("invalid byte sequence for encoding") => Unmet::Unstorable,
            _ => Unmet::Fault,
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
        AppError::Internal(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> AppError {
        AppError::from(DieselError::DatabaseError(
            kind,
            Box::new(message.to_string()),
        ))
    }

    #[test]
    fn races_and_lock_timeouts_are_told_apart_once() {
        let race = database_error(
            DatabaseErrorKind::SerializationFailure,
            "could not serialize",
        );
        assert!(matches!(race, AppError::Contention(_)));
        let nul = database_error(
            DatabaseErrorKind::Unknown,
            "invalid byte sequence for encoding \"UTF8\": 0x00",
        );
        assert_eq!(nul.status().code, 422);
        let deadlock = database_error(DatabaseErrorKind::Unknown, "deadlock detected");
        assert!(matches!(deadlock, AppError::Contention(_)));
        let timeout = database_error(
            DatabaseErrorKind::Unknown,
            "canceling statement due to lock timeout",
        );
        assert!(matches!(timeout, AppError::LockTimeout(_)));
        let nowait = database_error(
            DatabaseErrorKind::Unknown,
            "could not obtain lock on row in relation \"challenges\"",
        );
        assert!(matches!(nowait, AppError::LockTimeout(_)));
        let statement_timeout = database_error(
            DatabaseErrorKind::Unknown,
            "canceling statement due to statement timeout",
        );
        assert!(matches!(statement_timeout, AppError::Internal(_)));
        let lost = database_error(
            DatabaseErrorKind::Unknown,
            "terminating connection due to administrator command",
        );
        assert!(matches!(lost, AppError::Unavailable(_)));
    }

    #[test]
    fn every_busy_answer_says_when_to_retry() {
        for busy in [
            database_error(DatabaseErrorKind::Unknown, "deadlock detected"),
            database_error(
                DatabaseErrorKind::Unknown,
                "canceling statement due to lock timeout",
            ),
            AppError::Unavailable("busy".into()),
        ] {
            assert_eq!(busy.status(), Status::ServiceUnavailable);
            assert_eq!(busy.retry_after(), Some(1));
            assert_eq!(busy.to_problem(None, None).retry_after, Some(1));
            assert_eq!(busy.clone_shallow().retry_after(), Some(1));
        }
        let throttled = AppError::TooManyRequests {
            detail: "slow down".into(),
            retry_after_secs: 7,
        };
        assert_eq!(throttled.to_problem(None, None).retry_after, Some(7));
        assert_eq!(AppError::not_found("team").retry_after(), None);
    }

    #[test]
    fn causes_reach_the_logs_and_never_the_response() {
        let fault = database_error(
            DatabaseErrorKind::Unknown,
            "relation \"secret\" does not exist",
        );
        assert!(matches!(fault, AppError::Internal(_)));
        assert!(fault.chain().to_string().contains("relation \"secret\""));
        assert!(
            fault
                .clone_shallow()
                .chain()
                .to_string()
                .contains("relation \"secret\"")
        );
        let problem = serde_json::to_string(&fault.to_problem(None, None)).unwrap_or_default();
        assert!(!problem.contains("secret"), "{problem}");

        let timeout = database_error(
            DatabaseErrorKind::Unknown,
            "canceling statement due to lock timeout",
        );
        assert!(
            timeout
                .chain()
                .to_string()
                .ends_with(": canceling statement due to lock timeout")
        );
        let problem = serde_json::to_string(&timeout.to_problem(None, None)).unwrap_or_default();
        assert!(!problem.contains("canceling"), "{problem}");

        let parse = "x".parse::<i32>().map_err(AppError::internal);
        assert!(matches!(parse, Err(AppError::Internal(_))));
    }

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
