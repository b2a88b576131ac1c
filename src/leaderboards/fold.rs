//! Moving the boards' queues into their totals (`fold_boards()`, migration `board_deltas`).
//!
//! A point updates its members' own rows at once and queues its changes to the rows that many
//! writers share (a board's histogram of totals, a team's totals), so that no two
//! recognitions wait for each other on a shared row. Reads add the queue to the totals, so
//! folding changes no answer: it only keeps the queue short. Each server process tries every
//! `board_fold_interval_ms`; one at a time folds (the others find the database's lock taken
//! and skip).

use std::time::Duration;

use diesel::sql_types::Uuid as SqlUuid;
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::Db;
use crate::error::AppResult;

#[derive(QueryableByName)]
struct Folded {
    #[diesel(sql_type = SqlUuid)]
    #[allow(dead_code)]
    fold_boards: Uuid,
}

/// Fold every organisation's queued board changes; answers how many organisations had some
/// (none when another process was folding).
pub async fn fold(conn: &mut AsyncPgConnection) -> AppResult<usize> {
    let folded: Vec<Folded> = sql_query("SELECT fold_boards()").load(conn).await?;
    Ok(folded.len())
}

/// The queues are vacuumed this often by the process that folds: every row they hold is
/// deleted a moment after it was inserted, and a fold scans them whole, dead rows included.
/// Autovacuum would come eventually (the migration sets it to), but it may be slow or off.
const VACUUM_EVERY: Duration = Duration::from_secs(5);

/// Vacuum the queues, unless another process is vacuuming them.
pub async fn vacuum(conn: &mut AsyncPgConnection) -> AppResult<()> {
    sql_query("VACUUM (SKIP_LOCKED) member_points_histogram_pending, team_period_points_pending")
        .execute(conn)
        .await?;
    Ok(())
}

/// The server's background task: fold every `every`, for as long as the server runs.
pub fn start(db: Db, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut vacuumed = tokio::time::Instant::now();
        // Folded since the last vacuum: dead rows to clear (once more after writes stop).
        let mut dirty = false;
        loop {
            tick.tick().await;
            let folded = match db.conn().await {
                Ok(mut conn) => match fold(&mut conn).await {
                    Ok(n) => {
                        dirty |= n > 0;
                        if dirty && vacuumed.elapsed() >= VACUUM_EVERY {
                            vacuumed = tokio::time::Instant::now();
                            dirty = false;
                            vacuum(&mut conn).await
                        } else {
                            Ok(())
                        }
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            if let Err(e) = folded {
                tracing::warn!(error = %e, "board fold failed");
            }
        }
    });
}
