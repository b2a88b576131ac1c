//! What a database error means for the request, decided once.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::AppError;

impl From<DieselError> for AppError {
    /// What a database error means for the request, decided here once; the error itself stays
    /// the cause of races and of our own faults, for the logs.
    fn from(e: DieselError) -> Self {
        let DieselError::DatabaseError(kind, info) = &e else {
            return match e {
                DieselError::NotFound => {
                    AppError::NotFound("not found in your organisation".into())
                }
                // A COMMIT that failed, and the ROLLBACK after it too: the COMMIT's error
                // says why (most often the connection went away mid-transaction).
                DieselError::RollbackErrorOnCommit { commit_error, .. } => {
                    AppError::from(*commit_error)
                }
                // The connection broke inside a transaction and cannot be used again: the
                // pool drops it, and the client may retry on another.
                DieselError::BrokenTransactionManager => lost(&e),
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
            // The request's statement ran past `statement_timeout` (or was cancelled): the
            // database is busy or something holds a lock for long; the client may retry.
            Unmet::TimedOut => {
                tracing::warn!(error = %e, "database statement timed out");
                AppError::Unavailable(
                    "the database took too long to answer; try again shortly".into(),
                )
            }
            // A lost database (the server went away, or an administrator ended the session:
            // 57P01) is a 503 the client may retry, never a 500.
            Unmet::Lost => lost(&e),
            Unmet::Fault => AppError::Internal(Box::new(e)),
        }
    }
}

/// A connection that went away: `503`, logged as a warning (it is the database's or the
/// network's doing, not ours).
fn lost(e: &DieselError) -> AppError {
    tracing::warn!(error = %e, "database connection lost");
    AppError::Unavailable("the database is unavailable; try again shortly".into())
}

/// Why a statement that broke no constraint failed.
#[derive(Debug, PartialEq, Eq)]
enum Unmet {
    /// Lost a race: a serialization failure (40001) or a deadlock (40P01).
    Race,
    /// `lock_timeout` ran out (55P03 lock_not_available).
    LockTimeout,
    /// `statement_timeout` ran out, or the statement was cancelled (57014 query_canceled).
    TimedOut,
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
            // 57014: "canceling statement due to statement timeout" (or "... due to user
            // request", pg_cancel_backend).
            _ if message.starts_with("canceling statement due to") => Unmet::TimedOut,
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
    use rocket::http::Status;

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
        assert!(matches!(statement_timeout, AppError::Unavailable(_)));
        assert_eq!(statement_timeout.retry_after(), Some(1));
        let cancelled = database_error(
            DatabaseErrorKind::Unknown,
            "canceling statement due to user request",
        );
        assert!(matches!(cancelled, AppError::Unavailable(_)));
        let closed = database_error(DatabaseErrorKind::UnableToSendCommand, "connection closed");
        assert!(matches!(closed, AppError::Unavailable(_)));
        let commit = AppError::from(DieselError::RollbackErrorOnCommit {
            rollback_error: Box::new(DieselError::BrokenTransactionManager),
            commit_error: Box::new(DieselError::DatabaseError(
                DatabaseErrorKind::UnableToSendCommand,
                Box::new("connection closed".to_string()),
            )),
        });
        assert!(matches!(commit, AppError::Unavailable(_)));
        assert!(matches!(
            AppError::from(DieselError::BrokenTransactionManager),
            AppError::Unavailable(_)
        ));
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
