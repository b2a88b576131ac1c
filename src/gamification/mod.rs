//! Gamification: badges, levels, weekly streaks and challenges, rewarding behaviour over time.
//!
//! Everything is evaluated inside the transaction of the activity that may earn it
//! ([`after_activity`]), so a badge or a completed challenge is there as soon as the request
//! that earned it has answered, and awarded exactly once however many requests race.

pub mod badges;
pub mod challenges;
pub mod levels;
pub mod routes;
pub mod streaks;

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use crate::error::AppResult;

pub use routes::routes;

/// Evaluate what `members`' latest activity may have earned: badges, and progress of the
/// organisation's running challenges. Call inside the activity's transaction.
pub async fn after_activity(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    members: &[Uuid],
) -> AppResult<()> {
    challenges::evaluate(conn, org).await?;
    badges::evaluate(conn, org, members).await?;
    Ok(())
}
