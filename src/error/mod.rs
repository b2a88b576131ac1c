//! One error type for the whole service, and the one place it becomes an HTTP response.
//!
//! Every failure a handler can meet is an [`AppError`]; `?` converts Diesel's errors here, so
//! handlers never build an error response by hand. Responses are RFC 9457 problem documents
//! (`application/problem+json`).
//!
//! An error keeps its cause: a database error stays the source of the `AppError` it became, so
//! the logs show the whole chain ([`AppError::chain`]) while the response shows none of it.
//!
//! - `problem`: the problem document, the responder and the catcher.
//! - `database`: what a database error means for the request.

mod database;
mod problem;

use rocket::http::Status;
use serde::Serialize;
use utoipa::ToSchema;

pub use problem::{ErrorSlot, Problem, catch, problem_kind};

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
