//! Reading the inbox: pages, single notifications, unread counts, marking read.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Bool, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{MAX_UNREAD_COUNT, Notification, NotificationActor, Subject};
use crate::error::AppResult;
use crate::sql::Prepared;

/// A notification with its actor's name and its subject's title as they are now. `$1` is the
/// organisation, `$2` the member; each use adds its conditions, order and limit.
static VIEW: LazyLock<String> = LazyLock::new(|| {
    format!(
        "\
SELECT n.id, n.seq, n.kind, n.subject_type, n.subject_id, n.actor_id,
       CASE WHEN a.erased_at IS NOT NULL THEN 'Former member' ELSE a.display_name END AS actor_name,
       {subject_title} AS subject_title,
       n.data, n.quiet, n.created_at, n.read_at
FROM notifications n
LEFT JOIN members a ON a.organisation_id = n.organisation_id AND a.id = n.actor_id
WHERE n.organisation_id = $1 AND n.member_id = $2 ",
        subject_title = crate::events::subject_title("n")
    )
});

#[derive(diesel::QueryableByName)]
struct Row {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    subject_type: String,
    #[diesel(sql_type = SqlUuid)]
    subject_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    actor_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    actor_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    subject_title: Option<String>,
    #[diesel(sql_type = Jsonb)]
    data: serde_json::Value,
    #[diesel(sql_type = Bool)]
    quiet: bool,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    read_at: Option<DateTime<Utc>>,
}

impl From<Row> for Notification {
    fn from(r: Row) -> Notification {
        Notification {
            id: r.id,
            seq: r.seq,
            kind: r.kind,
            subject: Subject {
                subject_type: r.subject_type,
                id: r.subject_id,
                title: r.subject_title,
            },
            actor: r.actor_id.map(|id| NotificationActor {
                id,
                display_name: r.actor_name.unwrap_or_else(|| "Former member".into()),
            }),
            data: r.data,
            quiet: r.quiet,
            created_at: r.created_at,
            read_at: r.read_at,
        }
    }
}

/// Up to `limit` of `member`'s notifications before `before` (a `seq`), newest first; unread
/// ones only when asked.
pub async fn page(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    before: Option<i64>,
    unread_only: bool,
    limit: i64,
) -> AppResult<Vec<Notification>> {
    const SQL: &str = "AND ($3::bigint IS NULL OR n.seq < $3) AND (NOT $4 OR n.read_at IS NULL) \
                       ORDER BY n.seq DESC LIMIT $5";
    let rows: Vec<Row> = Prepared(
        diesel::sql_query(format!("{}{SQL}", *VIEW))
            .bind::<SqlUuid, _>(org)
            .bind::<SqlUuid, _>(member)
            .bind::<Nullable<BigInt>, _>(before)
            .bind::<Bool, _>(unread_only)
            .bind::<BigInt, _>(limit),
    )
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(Notification::from).collect())
}

/// Up to `limit` of `member`'s notifications after `after` (a `seq`), oldest first, quiet ones
/// left out: what a stream sends next.
pub async fn after(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    after: i64,
    limit: i64,
) -> AppResult<Vec<Notification>> {
    const SQL: &str = "AND n.seq > $3 AND NOT n.quiet ORDER BY n.seq LIMIT $4";
    let rows: Vec<Row> = Prepared(
        diesel::sql_query(format!("{}{SQL}", *VIEW))
            .bind::<SqlUuid, _>(org)
            .bind::<SqlUuid, _>(member)
            .bind::<BigInt, _>(after)
            .bind::<BigInt, _>(limit),
    )
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(Notification::from).collect())
}

/// One of `member`'s notifications.
pub async fn one(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    id: Uuid,
) -> AppResult<Option<Notification>> {
    let rows: Vec<Row> = diesel::sql_query(format!("{}AND n.id = $3", *VIEW))
        .bind::<SqlUuid, _>(org)
        .bind::<SqlUuid, _>(member)
        .bind::<SqlUuid, _>(id)
        .load(conn)
        .await?;
    Ok(rows.into_iter().next().map(Notification::from))
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many of `member`'s notifications are unread, counting at most [`MAX_UNREAD_COUNT`].
pub async fn unread_count(conn: &mut AsyncPgConnection, org: Uuid, member: Uuid) -> AppResult<i64> {
    let count: Count = Prepared(
        diesel::sql_query(
            "SELECT count(*) AS n FROM (SELECT 1 FROM notifications \
             WHERE organisation_id = $1 AND member_id = $2 AND read_at IS NULL LIMIT $3) u",
        )
        .bind::<SqlUuid, _>(org)
        .bind::<SqlUuid, _>(member)
        .bind::<BigInt, _>(MAX_UNREAD_COUNT),
    )
    .get_result(conn)
    .await?;
    Ok(count.n)
}

/// Mark one of `member`'s notifications read (again: no change). `false` when it is not theirs.
pub async fn mark_read(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    id: Uuid,
) -> AppResult<bool> {
    let n = diesel::sql_query(
        "UPDATE notifications SET read_at = coalesce(read_at, frontline_now()) \
         WHERE organisation_id = $1 AND member_id = $2 AND id = $3",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(member)
    .bind::<SqlUuid, _>(id)
    .execute(conn)
    .await?;
    Ok(n > 0)
}

/// Mark `member`'s unread notifications read, those up to `up_to` when given. Answers how
/// many were marked.
pub async fn mark_all_read(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    up_to: Option<i64>,
) -> AppResult<i64> {
    let n = diesel::sql_query(
        "UPDATE notifications SET read_at = frontline_now() \
         WHERE organisation_id = $1 AND member_id = $2 AND read_at IS NULL \
           AND ($3::bigint IS NULL OR seq <= $3)",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(member)
    .bind::<Nullable<BigInt>, _>(up_to)
    .execute(conn)
    .await?;
    Ok(n as i64)
}

/// The `seq` of `member`'s newest notification (0 when none).
pub async fn last_seq(conn: &mut AsyncPgConnection, org: Uuid, member: Uuid) -> AppResult<i64> {
    let count: Count = diesel::sql_query(
        "SELECT coalesce((SELECT last_seq FROM notification_sequences \
         WHERE organisation_id = $1 AND member_id = $2), 0) AS n",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(member)
    .get_result(conn)
    .await?;
    Ok(count.n)
}
