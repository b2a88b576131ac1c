//! Gamification: badges, levels, weekly streaks and challenges, rewarding behaviour over time.
//!
//! Everything is evaluated inside the transaction of the activity that may earn it
//! ([`settle`]), so a badge or a completed challenge is there as soon as the request
//! that earned it has answered, and awarded exactly once however many requests race.

pub mod badges;
pub mod challenge_rules;
pub mod challenges;
pub mod levels;
pub mod routes;
pub mod streaks;

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use crate::error::AppResult;
use crate::ledger::{self, Credit};

pub use routes::routes;

/// Write an activity's points and what the activity earned, inside its transaction: the
/// badges `involved` members now qualify for, then the organisation's running challenges.
///
/// The activity's credits and the badges' go to the ledger in one statement. Two ledger
/// statements in one transaction lock leaderboard rows in two rounds, and two such
/// transactions deadlock each other under load; one statement takes its locks in key order.
pub async fn settle(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    involved: &[Uuid],
    mut credits: Vec<Credit>,
) -> AppResult<()> {
    let earned = badges::evaluate(conn, org, involved, &credits).await?;
    credits.extend(earned);
    ledger::record(conn, org, credits).await?;
    // Challenges measure the ledger, so they come after the write; a completion (rare) writes
    // its rewards in a statement of its own, under a lock timeout.
    challenges::evaluate(conn, org).await?;
    Ok(())
}
