//! The members' notifications: an inbox per member, written by `inbox` (a sink of
//! `events::emit`, in the transaction of the change), read and marked read through `routes`
//! (`/api/v1/me/notifications`).
//!
//! A notification keeps ids, numbers and statuses only (`data`); who did it and what it is
//! about are named when it is read (`queries`), so a renamed or erased member shows as they
//! are now ("Former member").

pub mod inbox;
pub mod preferences;
pub mod queries;
pub mod routes;
pub mod stream;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use routes::NotificationsApi;
pub use stream::StreamSlots;

/// The most unread notifications counted: past it, `unread_count` says 1000.
pub const MAX_UNREAD_COUNT: i64 = 1000;

/// What a notification is about.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Subject {
    /// `recognition`, `initiative`, `badge`, `level`, `challenge` or `redemption`.
    #[serde(rename = "type")]
    #[schema(value_type = crate::events::SubjectType)]
    pub subject_type: String,
    /// Its id (a level's is the member's own).
    pub id: Uuid,
    /// Its title as it is now (a win's, a badge's, a challenge's, a reward's, a level's name);
    /// none for a recognition, or when it is gone.
    pub title: Option<String>,
}

/// Who caused a notification.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotificationActor {
    pub id: Uuid,
    /// "Former member" once erased.
    pub display_name: String,
}

/// One notification of the caller's inbox.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Notification {
    pub id: Uuid,
    /// Its place in the member's inbox: 1, 2, 3... with no gap, in the order they committed
    /// (the stream's event id).
    pub seq: i64,
    #[schema(value_type = crate::events::Kind)]
    pub kind: String,
    pub subject: Subject,
    /// None for what nobody did (a badge, a level, a celebration).
    pub actor: Option<NotificationActor>,
    /// The event's numbers and statuses (`points`, `status`, `level_points`...).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// Delivered in the member's quiet hours: kept in the inbox, not pushed to the stream.
    pub quiet: bool,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// A page of the inbox, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Inbox {
    pub items: Vec<Notification>,
    /// Pass as `cursor` to get the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Unread notifications in the whole inbox (at most 1000: more says 1000).
    pub unread_count: i64,
}

/// `POST /api/v1/me/notifications/read-all`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadAll {
    /// Mark only those up to this `seq` (what the client has shown); all when absent.
    pub up_to_seq: Option<i64>,
}

/// What `read-all` did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadAllDone {
    pub marked: i64,
    pub unread_count: i64,
}

/// Notifications purged per statement: a backlog goes in bounded steps.
const PURGE_BATCH: i64 = 10_000;

/// Delete notifications older than `days` days; answers how many went.
pub async fn purge(
    conn: &mut diesel_async::AsyncPgConnection,
    days: u32,
) -> crate::error::AppResult<usize> {
    use diesel::sql_types::{BigInt, Integer};
    use diesel_async::RunQueryDsl;
    let mut total = 0;
    loop {
        let n = diesel::sql_query(
            "DELETE FROM notifications WHERE ctid IN (SELECT ctid FROM notifications \
             WHERE created_at < frontline_now() - make_interval(days => $1) LIMIT $2)",
        )
        .bind::<Integer, _>(i32::try_from(days).unwrap_or(i32::MAX))
        .bind::<BigInt, _>(PURGE_BATCH)
        .execute(conn)
        .await?;
        total += n;
        if (n as i64) < PURGE_BATCH {
            return Ok(total);
        }
    }
}

/// Purge old notifications hourly (and once at start), on whichever processes run: the
/// deletes are idempotent.
pub fn start_purge(db: crate::db::Db, days: u32) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let purged = match db.conn().await {
                Ok(mut conn) => purge(&mut conn, days).await,
                Err(e) => Err(e),
            };
            match purged {
                Ok(n) if n > 0 => tracing::info!(purged = n, "old notifications purged"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "notification purge failed"),
            }
        }
    });
}
