//! An endpoint's delivery log: its messages (each with its last attempt) and its attempts,
//! newest first.

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{LastAttempt, MessageStatus, WebhookAttempt, WebhookMessage, webhook_id};
use crate::error::{AppError, AppResult};

/// A message with its last attempt; `$1` organisation, `$2` endpoint.
const MESSAGE_VIEW: &str = "\
SELECT m.id, m.event_type, m.status, m.attempts, m.occurred_at, m.next_attempt_at,
       m.delivered_at, a.attempted_at, a.status_code, a.error
FROM webhook_messages m
LEFT JOIN LATERAL (SELECT attempted_at, status_code, error FROM webhook_attempts
    WHERE message_id = m.id ORDER BY attempted_at DESC, id DESC LIMIT 1) a ON true
WHERE m.organisation_id = $1 AND m.endpoint_id = $2 ";

#[derive(diesel::QueryableByName)]
struct MessageRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Timestamptz)]
    occurred_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    next_attempt_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    delivered_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    attempted_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Integer>)]
    status_code: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    error: Option<String>,
}

impl From<MessageRow> for WebhookMessage {
    fn from(r: MessageRow) -> WebhookMessage {
        let status = MessageStatus::parse(&r.status).unwrap_or(MessageStatus::Pending);
        WebhookMessage {
            id: r.id,
            webhook_id: webhook_id(r.id),
            event_type: r.event_type,
            status,
            attempts: r.attempts,
            occurred_at: r.occurred_at,
            next_attempt_at: (status == MessageStatus::Pending).then_some(r.next_attempt_at),
            delivered_at: r.delivered_at,
            last_attempt: r.attempted_at.map(|attempted_at| LastAttempt {
                attempted_at,
                status_code: r.status_code,
                error: r.error,
            }),
        }
    }
}

pub async fn message_of(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    endpoint: Uuid,
    id: Uuid,
) -> AppResult<WebhookMessage> {
    let rows: Vec<MessageRow> = diesel::sql_query(format!("{MESSAGE_VIEW}AND m.id = $3"))
        .bind::<SqlUuid, _>(org)
        .bind::<SqlUuid, _>(endpoint)
        .bind::<SqlUuid, _>(id)
        .load(conn)
        .await?;
    rows.into_iter()
        .next()
        .map(WebhookMessage::from)
        .ok_or_else(|| AppError::not_found("message of this webhook"))
}

/// Up to `limit` of endpoint `endpoint`'s messages before `before` (time, id), newest first.
pub async fn messages(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    endpoint: Uuid,
    status: Option<MessageStatus>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> AppResult<Vec<WebhookMessage>> {
    known(conn, org, endpoint).await?;
    let rows: Vec<MessageRow> = diesel::sql_query(format!(
        "{MESSAGE_VIEW}AND ($3::text IS NULL OR m.status = $3) \
         AND ($4::timestamptz IS NULL OR (m.occurred_at, m.id) < ($4, $5)) \
         ORDER BY m.occurred_at DESC, m.id DESC LIMIT $6"
    ))
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(endpoint)
    .bind::<Nullable<Text>, _>(status.map(|s| s.as_str()))
    .bind::<Nullable<Timestamptz>, _>(before.map(|b| b.0))
    .bind::<SqlUuid, _>(before.map(|b| b.1).unwrap_or_default())
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(WebhookMessage::from).collect())
}

#[derive(diesel::QueryableByName)]
struct AttemptRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    message_id: Uuid,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Timestamptz)]
    attempted_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Integer>)]
    status_code: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    error: Option<String>,
    #[diesel(sql_type = Text)]
    response: String,
    #[diesel(sql_type = Integer)]
    duration_ms: i32,
}

/// Up to `limit` of endpoint `endpoint`'s attempts (of one message when given) before
/// `before`, newest first: the delivery log.
pub async fn attempts(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    endpoint: Uuid,
    message: Option<Uuid>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> AppResult<Vec<WebhookAttempt>> {
    known(conn, org, endpoint).await?;
    let rows: Vec<AttemptRow> = diesel::sql_query(
        "SELECT a.id, a.message_id, m.event_type, a.attempted_at, a.status_code, a.error, \
                a.response, a.duration_ms \
         FROM webhook_attempts a JOIN webhook_messages m ON m.id = a.message_id \
         WHERE a.organisation_id = $1 AND a.endpoint_id = $2 \
           AND ($3::uuid IS NULL OR a.message_id = $3) \
           AND ($4::timestamptz IS NULL OR (a.attempted_at, a.id) < ($4, $5)) \
         ORDER BY a.attempted_at DESC, a.id DESC LIMIT $6",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(endpoint)
    .bind::<Nullable<SqlUuid>, _>(message)
    .bind::<Nullable<Timestamptz>, _>(before.map(|b| b.0))
    .bind::<SqlUuid, _>(before.map(|b| b.1).unwrap_or_default())
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| WebhookAttempt {
            id: r.id,
            message_id: r.message_id,
            event_type: r.event_type,
            attempted_at: r.attempted_at,
            status_code: r.status_code,
            error: r.error,
            response: r.response,
            duration_ms: r.duration_ms,
        })
        .collect())
}

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    found: bool,
}

/// 404 unless `endpoint` is one of `org`'s.
async fn known(conn: &mut AsyncPgConnection, org: Uuid, endpoint: Uuid) -> AppResult<()> {
    let e: Exists = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM webhook_endpoints \
         WHERE organisation_id = $1 AND id = $2) AS found",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(endpoint)
    .get_result(conn)
    .await?;
    if e.found {
        Ok(())
    } else {
        Err(AppError::not_found("webhook"))
    }
}
