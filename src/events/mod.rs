//! Domain events: what happened (a recognition received, a win approved, a badge earned...),
//! written **in the transaction of the change**, so that an event exists exactly when its
//! change committed. [`emit`] hands the events to every sink in [`SINKS`], each one SQL
//! statement: the members' inbox (`notifications::inbox`) and the webhooks' outbox
//! (`webhooks::outbox`); another is added to the list without touching a caller.
//!
//! The emitters are the domains' transactions (recognition, initiatives, gamification,
//! ledger, rewards); this module imports only infrastructure and the sinks, which import only
//! infrastructure, so every domain may use it.

mod happened;

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use crate::error::AppResult;

pub use happened::{Happened, Kind, SubjectType, subject_title};

/// A sink's future (one SQL statement, in the caller's transaction).
pub type Sunk<'c> = std::pin::Pin<Box<dyn Future<Output = AppResult<()>> + Send + 'c>>;

/// A sink: writes the organisation's events where it keeps them.
pub type Sink = for<'c> fn(&'c mut AsyncPgConnection, Uuid, &'c [Happened]) -> Sunk<'c>;

/// Every sink, in the order they write.
pub const SINKS: &[(&str, Sink)] = &[
    ("inbox", |conn, org, events| {
        Box::pin(crate::notifications::inbox::deliver(conn, org, events))
    }),
    ("webhooks", |conn, org, events| {
        Box::pin(crate::webhooks::outbox::enqueue(conn, org, events))
    }),
];

/// Write `events` of organisation `org` to every sink, in the caller's transaction: a
/// rollback (or a savepoint stepped back) takes them back with the change.
pub async fn emit(conn: &mut AsyncPgConnection, org: Uuid, events: &[Happened]) -> AppResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    for (_, sink) in SINKS {
        sink(conn, org, events).await?;
    }
    Ok(())
}
