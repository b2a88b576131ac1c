//! Gamification: badges, levels, weekly streaks and challenges, rewarding behaviour over time.
//!
//! Badges, levels and streaks are evaluated inside the transaction of the activity that may
//! earn them ([`settle`]), so a badge is there as soon as the request that earned it has
//! answered, and awarded exactly once however many requests race. Challenges are completed a
//! moment after the activity that reached them (see `challenges`), also exactly once.

pub mod badges;
pub mod challenge_rules;
pub mod challenges;
pub mod earning;
pub mod levels;
pub mod routes;
pub mod streaks;

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use crate::error::AppResult;
use crate::ledger::{self, Credit};

pub use routes::routes;

/// Write an activity's points and what the activity earned, inside its transaction: the
/// badges `involved` members now qualify for. Running challenges hear of the activity through
/// the triggers of migration `challenge_activity` and are completed by `challenges::fold`.
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
    let earned = earning::evaluate(conn, org, involved, &credits).await?;
    credits.extend(earned);
    ledger::record(conn, org, credits).await?;
    Ok(())
}
