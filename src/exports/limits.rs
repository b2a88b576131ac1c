//! What bounds the exports: their own small pool, so a slow download never holds one of the
//! connections ordinary requests need; a time limit on each query and on each idle wait for a
//! slow client; and a number of slots per organisation, counted in PostgreSQL so that every
//! server process on the database sees the same count.
//!
//! A slot is a transaction-level advisory lock taken inside the export's own transaction: it
//! is held exactly as long as the export reads, and released by COMMIT, by ROLLBACK, or by the
//! connection closing (a client that hangs up, a process that dies). There is no lease to
//! expire and no per-process counter.

use std::time::Duration;

use diesel_async::RunQueryDsl;
use diesel_async::pooled_connection::deadpool::Object;
use uuid::Uuid;

use crate::db::{Bounds, Conn, Db};
use crate::error::{AppError, AppResult};

/// What a refused export tells its client to wait, in seconds.
pub const RETRY_AFTER_SECS: u64 = 10;
/// How long an export waits for one of the pool's connections before `503`.
const POOL_WAIT: Duration = Duration::from_secs(2);

/// Exports' connections and limits (Rocket state).
pub struct ExportPool {
    db: Db,
    statement_timeout_ms: u64,
    per_organisation: u32,
}

impl ExportPool {
    pub fn new(
        url: &str,
        size: usize,
        statement_timeout_ms: u64,
        per_organisation: u32,
    ) -> Result<ExportPool, String> {
        Ok(ExportPool {
            db: Db::with_wait(
                url,
                size.max(1),
                Bounds {
                    wait: POOL_WAIT,
                    statement_timeout: Duration::from_millis(statement_timeout_ms),
                },
                true,
            )?,
            statement_timeout_ms,
            per_organisation: per_organisation.max(1),
        })
    }

    /// The export pool's connections and waiters, for `/metrics`.
    pub fn status(&self) -> deadpool::Status {
        self.db.status()
    }

    /// A connection in the export's REPEATABLE READ, READ ONLY transaction, holding one of the
    /// organisation's slots; `429` when every slot is taken. The caller owns the transaction:
    /// it must COMMIT, or [`discard`] the connection.
    pub async fn begin(&self, org: Uuid) -> AppResult<Conn> {
        let mut conn = self.db.conn().await?;
        match self.claim(&mut conn, org).await {
            Ok(true) => Ok(conn),
            Ok(false) => {
                match diesel::sql_query("ROLLBACK").execute(&mut conn).await {
                    Ok(_) => drop(conn),
                    Err(_) => discard(conn),
                }
                Err(AppError::TooManyRequests {
                    detail: format!(
                        "your organisation already has {} exports running; retry when one has finished",
                        self.per_organisation
                    ),
                    retry_after_secs: RETRY_AFTER_SECS,
                })
            }
            Err(e) => {
                discard(conn);
                Err(e)
            }
        }
    }

    async fn claim(&self, conn: &mut Conn, org: Uuid) -> AppResult<bool> {
        diesel::sql_query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(conn)
            .await?;
        // SET takes no bind parameters; the value is a number we formatted ourselves.
        let ms = self.statement_timeout_ms;
        for setting in ["statement_timeout", "idle_in_transaction_session_timeout"] {
            diesel::sql_query(format!("SET LOCAL {setting} = {ms}"))
                .execute(conn)
                .await?;
        }
        for slot in 0..self.per_organisation {
            if crate::sql::try_advisory_xact_lock(conn, slot_key(org, slot)).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Close a connection that may be mid-transaction instead of returning it to the pool (the
/// server rolls back, and the slot's lock goes with it).
pub fn discard(conn: Conn) {
    drop(Object::take(conn));
}

/// The advisory lock key of one organisation's export slot.
fn slot_key(org: Uuid, slot: u32) -> i64 {
    crate::sql::advisory_key("export slot", org, slot)
}

#[cfg(test)]
mod tests {
    use super::slot_key;
    use uuid::Uuid;

    #[test]
    fn slots_of_one_organisation_and_of_two_differ() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert_ne!(slot_key(a, 0), slot_key(a, 1));
        assert_ne!(slot_key(a, 0), slot_key(b, 0));
        assert_eq!(slot_key(a, 1), slot_key(a, 1));
    }
}
