//! The delivery worker. Every server process runs one (unless `webhook_delivery` is off);
//! they share the outbox through PostgreSQL, so any number behave as one sender.
//!
//! **Leases, not memory.** A worker takes due messages with `FOR UPDATE SKIP LOCKED` and
//! marks them leased (`leased_until`, a timeout and a margin away) in one statement, then
//! lets go of the rows and sends without holding a connection or a lock. A worker that dies
//! while sending leaves the lease to run out; the message is then due again for any process.
//! Delivery is therefore at least once: a receiver that must not act twice keys on
//! `webhook-id`, which stays the same on every attempt.
//!
//! **A slow receiver slows only itself.** Sends run concurrently (`webhook_concurrency` per
//! process), each bounded by `webhook_timeout_ms`; a lease takes at most [`PER_ENDPOINT`] of
//! one endpoint's messages, so a dead receiver cannot fill every slot. API requests never
//! wait on a delivery: they only write the outbox row.
//!
//! **Outcomes in batches.** Finished sends are written back by one recorder task, many per
//! statement (the message's status and next attempt, the attempt's log row, the endpoint's
//! health), so a thousand deliveries a second cost a few statements, not thousands.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::sql_types::{
    Array, Bool, Bytea, Double, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use reqwest::Url;
use tokio::sync::{Notify, Semaphore, mpsc};
use uuid::Uuid;

use super::render::{self, Named, Outgoing};
use super::signing::{Secret, signature_header};
use super::{Format, webhook_id};
use crate::config::{ConfigError, Settings};
use crate::db::Db;
use crate::error::AppResult;
use crate::outbound::{Client, Policy};
use crate::sql::Prepared;

/// The most messages one lease takes.
const BATCH: usize = 200;
/// The most messages of one endpoint one lease takes.
const PER_ENDPOINT: i64 = 50;
/// How long past its timeout a lease lasts: a worker that has not written the outcome by
/// then is taken for dead (a late outcome only means the message may be sent twice).
const LEASE_MARGIN: Duration = Duration::from_secs(10);
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER_SECS: u64 = 86_400;

/// What the worker needs of the configuration, and its client.
#[derive(Clone)]
pub struct Delivery {
    pub client: Client,
    pub run: bool,
    pub timeout: Duration,
    pub poll: Duration,
    pub concurrency: usize,
    pub schedule: Vec<Duration>,
    pub disable_after: Duration,
    pub retention_days: u64,
}

impl Delivery {
    pub fn from_settings(s: &Settings) -> Result<Delivery, ConfigError> {
        let timeout = Duration::from_millis(s.webhook_timeout_ms.clamp(100, 60_000));
        let policy = Policy::from_settings(s)?;
        let user_agent = concat!("Frontline-Webhooks/", env!("CARGO_PKG_VERSION"));
        let client = Client::new(policy, timeout, user_agent).map_err(ConfigError::Webhooks)?;
        Ok(Delivery {
            client,
            run: s.webhook_delivery,
            timeout,
            poll: Duration::from_millis(s.webhook_poll_ms.max(10)),
            concurrency: s.webhook_concurrency.clamp(1, 1024),
            schedule: s
                .webhook_retry_schedule_secs
                .iter()
                .map(|secs| Duration::from_secs(*secs))
                .collect(),
            disable_after: Duration::from_secs(s.webhook_disable_after_hours.saturating_mul(3600)),
            retention_days: s.webhook_retention_days.max(1),
        })
    }

    /// The wait before attempt `attempts + 1` after attempt `attempts` failed (none: give up).
    fn next_delay(&self, attempts: i32, retry_after: Option<u64>) -> Option<Duration> {
        let index = usize::try_from(attempts).ok()?.checked_sub(1)?;
        let scheduled = *self.schedule.get(index)?;
        let asked = Duration::from_secs(retry_after.unwrap_or(0).min(MAX_RETRY_AFTER_SECS));
        Some(scheduled.max(asked))
    }
}

/// Wakes this process's worker: a message was queued (it looks shortly after, once the
/// queuing transaction has had time to commit; the poll catches anything later).
static NUDGE: LazyLock<Notify> = LazyLock::new(Notify::new);

pub fn nudge() {
    NUDGE.notify_one();
}

/// Start the worker and the hourly purge of old messages.
pub fn start(db: Db, delivery: Delivery) {
    let delivery = Arc::new(delivery);
    let (outcomes, received) = mpsc::channel(delivery.concurrency.saturating_mul(4).max(64));
    tokio::spawn(record_outcomes(db.clone(), Arc::clone(&delivery), received));
    tokio::spawn(send_due(db.clone(), Arc::clone(&delivery), outcomes));
    let retention_days = delivery.retention_days;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            if let Ok(mut conn) = db.conn().await
                && let Err(e) = purge(&mut conn, retention_days).await
            {
                tracing::warn!(error = %e, "webhook message purge failed");
            }
        }
    });
}

/// Lease what is due and send each message in its own task, at most `concurrency` at once.
/// A lease is taken once half the slots are free, for twice as many messages as there are
/// slots: one statement per many messages, and no message waits in this process longer than
/// its lease (see [`lease_secs`]).
async fn send_due(db: Db, delivery: Arc<Delivery>, outcomes: mpsc::Sender<Outcome>) {
    let slots = Arc::new(Semaphore::new(delivery.concurrency));
    let batch = delivery.concurrency.saturating_mul(2).min(BATCH);
    let half = u32::try_from(delivery.concurrency.div_ceil(2)).unwrap_or(1);
    let lease_secs = lease_secs(delivery.timeout);
    loop {
        match Arc::clone(&slots).acquire_many_owned(half).await {
            Ok(free) => drop(free),
            Err(_) => return,
        }
        let leased = match db.conn().await {
            Ok(mut conn) => lease(&mut conn, batch, lease_secs).await,
            Err(e) => Err(e),
        };
        let leased = match leased {
            Ok(leased) => leased,
            Err(e) => {
                tracing::warn!(error = %e, "webhook lease failed");
                tokio::time::sleep(delivery.poll).await;
                continue;
            }
        };
        let got = leased.len();
        for message in leased {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let (delivery, outcomes) = (Arc::clone(&delivery), outcomes.clone());
            tokio::spawn(async move {
                let outcome = send(&delivery, message).await;
                // The recorder outlives the senders; were it gone, the lease runs out and the
                // message is sent again.
                let _ = outcomes.send(outcome).await;
                drop(slot);
            });
        }
        if got == 0 {
            // Nothing is due: wait for a nudge (then a moment for its commit) or the poll. (A
            // short lease is no sign of that: it takes at most PER_ENDPOINT of one endpoint.)
            if tokio::time::timeout(delivery.poll, NUDGE.notified())
                .await
                .is_ok()
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// How long a lease lasts: a leased message may wait for a slot while the slots before it
/// run to their timeout (at most a lease's worth, twice the slots), then be sent (one
/// timeout), then be recorded (the margin).
fn lease_secs(timeout: Duration) -> f64 {
    (timeout * 2 + LEASE_MARGIN).as_secs_f64()
}

/// A leased message with what its body names.
#[derive(diesel::QueryableByName)]
struct Leased {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    organisation_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    endpoint_id: Uuid,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Text)]
    subject_type: String,
    #[diesel(sql_type = SqlUuid)]
    subject_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    actor_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    actor_name: Option<String>,
    #[diesel(sql_type = Jsonb)]
    members: serde_json::Value,
    #[diesel(sql_type = Nullable<Text>)]
    subject_title: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    message: Option<String>,
    #[diesel(sql_type = Jsonb)]
    data: serde_json::Value,
    #[diesel(sql_type = Timestamptz)]
    occurred_at: DateTime<Utc>,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Text)]
    url: String,
    #[diesel(sql_type = Text)]
    format: String,
    #[diesel(sql_type = Bytea)]
    secret: Vec<u8>,
    #[diesel(sql_type = Nullable<Bytea>)]
    previous_secret: Option<Vec<u8>>,
}

/// Take up to `$1` due messages of enabled endpoints (at most `PER_ENDPOINT` each among the
/// 2,000 due first, so that the statement reads a bounded slice of a long backlog), lease them
/// for `$2` seconds and count the attempt; with their endpoint's URL, format and secrets, and
/// the names and titles their bodies need as they are now.
static LEASE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "\
WITH candidates AS (
    SELECT id, next_attempt_at FROM (
        SELECT m.id, m.next_attempt_at,
               row_number() OVER (PARTITION BY m.endpoint_id ORDER BY m.next_attempt_at) AS nth
        FROM (SELECT m.id, m.endpoint_id, m.next_attempt_at FROM webhook_messages m
              WHERE m.status = 'pending' AND m.next_attempt_at <= frontline_now()
                AND (m.leased_until IS NULL OR m.leased_until < frontline_now())
                AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = m.endpoint_id AND e.enabled)
              ORDER BY m.next_attempt_at LIMIT 2000) m
    ) ranked WHERE nth <= $3
    ORDER BY next_attempt_at LIMIT $1
), due AS (
    SELECT m.id FROM webhook_messages m JOIN candidates c ON c.id = m.id
    WHERE m.status = 'pending' AND (m.leased_until IS NULL OR m.leased_until < frontline_now())
    FOR UPDATE OF m SKIP LOCKED
), leased AS (
    UPDATE webhook_messages m
    SET leased_until = frontline_now() + make_interval(secs => $2), attempts = m.attempts + 1
    FROM due WHERE m.id = due.id
    RETURNING m.*
)
SELECT l.id, l.organisation_id, l.endpoint_id, l.event_type, l.subject_type, l.subject_id,
       l.actor_id, l.data, l.occurred_at, l.attempts,
       CASE WHEN a.erased_at IS NOT NULL THEN 'Former member' ELSE a.display_name END AS actor_name,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('id', mm.id, 'display_name',
                   CASE WHEN mm.erased_at IS NOT NULL THEN 'Former member' ELSE mm.display_name END)
               ORDER BY u.ord), '[]'::jsonb)
        FROM unnest(l.member_ids) WITH ORDINALITY AS u(id, ord)
        JOIN members mm ON mm.organisation_id = l.organisation_id AND mm.id = u.id) AS members,
       {subject_title} AS subject_title,
       CASE WHEN l.subject_type = 'recognition' THEN (SELECT r.message FROM recognitions r
           WHERE r.organisation_id = l.organisation_id AND r.id = l.subject_id
             AND r.visibility = 'public' AND r.undone_at IS NULL AND r.hidden_at IS NULL)
       END AS message,
       e.url, e.format, e.secret,
       CASE WHEN e.previous_secret_until > frontline_now() THEN e.previous_secret END AS previous_secret
FROM leased l
JOIN webhook_endpoints e ON e.id = l.endpoint_id
LEFT JOIN members a ON a.organisation_id = l.organisation_id AND a.id = l.actor_id",
        subject_title = crate::events::subject_title("l")
    )
});

async fn lease(conn: &mut AsyncPgConnection, want: usize, secs: f64) -> AppResult<Vec<Leased>> {
    Ok(Prepared(
        diesel::sql_query(LEASE.as_str())
            .bind::<diesel::sql_types::BigInt, _>(i64::try_from(want).unwrap_or(1))
            .bind::<Double, _>(secs)
            .bind::<diesel::sql_types::BigInt, _>(PER_ENDPOINT),
    )
    .load(conn)
    .await?)
}

/// What one attempt came to.
struct Outcome {
    message_id: Uuid,
    endpoint_id: Uuid,
    organisation_id: Uuid,
    status_code: Option<i32>,
    error: Option<String>,
    response: String,
    duration_ms: i32,
    delivered: bool,
    gone: bool,
    /// When failed: seconds to the next attempt; none when the schedule ran out.
    next_in_secs: Option<f64>,
}

/// Sign and send one message.
async fn send(delivery: &Delivery, m: Leased) -> Outcome {
    let format = Format::parse(&m.format).unwrap_or(Format::Standard);
    let outgoing = Outgoing {
        organisation_id: m.organisation_id,
        event_type: m.event_type,
        occurred_at: m.occurred_at,
        subject_type: m.subject_type,
        subject_id: m.subject_id,
        subject_title: m.subject_title,
        actor: m.actor_id.map(|id| Named {
            id,
            display_name: m.actor_name.unwrap_or_else(|| "Former member".into()),
        }),
        members: serde_json::from_value(m.members).unwrap_or_default(),
        data: m.data,
        message: m.message,
    };
    let body = render::body(format, &outgoing);
    let id = webhook_id(m.id);
    // The receiver checks the timestamp against its own clock: the real one, always.
    let timestamp = Utc::now().timestamp();
    let current = Secret::from_bytes(m.secret);
    let previous = m.previous_secret.map(Secret::from_bytes);
    let mut secrets = vec![&current];
    secrets.extend(previous.as_ref());
    let headers = [
        ("webhook-id", id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            signature_header(&secrets, &id, timestamp, &body),
        ),
    ];
    let started = Instant::now();
    let answer = match Url::parse(&m.url) {
        Ok(url) => delivery.client.post(&url, &headers, body).await,
        Err(_) => Err("the URL no longer parses".into()),
    };
    let duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    let (status_code, error, response, retry_after) = match answer {
        Ok(a) => (Some(i32::from(a.status)), None, a.excerpt, a.retry_after),
        Err(reason) => (None, Some(reason), String::new(), None),
    };
    let delivered = status_code.is_some_and(|s| (200..300).contains(&s));
    let gone = status_code == Some(410);
    let outcome = match (delivered, gone) {
        (true, _) => "delivered",
        (_, true) => "gone",
        _ => "failed",
    };
    metrics::counter!("frontline_webhook_attempts_total", "outcome" => outcome).increment(1);
    let next_in_secs = if delivered || gone {
        None
    } else {
        delivery
            .next_delay(m.attempts, retry_after)
            .map(|d| d.as_secs_f64())
    };
    Outcome {
        message_id: m.id,
        endpoint_id: m.endpoint_id,
        organisation_id: m.organisation_id,
        status_code,
        error,
        response,
        duration_ms,
        delivered,
        gone,
        next_in_secs,
    }
}

/// Write outcomes back as they come, up to 500 per statement.
async fn record_outcomes(db: Db, delivery: Arc<Delivery>, mut received: mpsc::Receiver<Outcome>) {
    let mut batch = Vec::with_capacity(500);
    loop {
        batch.clear();
        if received.recv_many(&mut batch, 500).await == 0 {
            return;
        }
        let written = match db.conn().await {
            Ok(mut conn) => record(&mut conn, &batch, delivery.disable_after).await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            // The messages stay leased; when the leases run out they are sent again.
            tracing::warn!(error = %e, outcomes = batch.len(), "webhook outcomes not recorded");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// One statement: each message's status and next attempt, the attempts' log rows, and each
/// endpoint's health (a success clears `failing_since`; failing since longer than
/// `$11` hours, or a `410 Gone`, disables it).
const RECORD: &str = "\
WITH r AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::text[],
                         $7::int[], $8::bool[], $9::bool[], $10::float8[])
        AS r(message_id, endpoint_id, organisation_id, status_code, error, response,
             duration_ms, delivered, gone, next_in_secs)
), messages AS (
    UPDATE webhook_messages m SET
        status = CASE WHEN r.delivered THEN 'delivered'
                      WHEN r.next_in_secs IS NULL THEN 'failed' ELSE 'pending' END,
        delivered_at = CASE WHEN r.delivered THEN frontline_now() ELSE m.delivered_at END,
        next_attempt_at = CASE WHEN r.next_in_secs IS NULL THEN m.next_attempt_at
                               ELSE frontline_now() + make_interval(secs => r.next_in_secs) END,
        leased_until = NULL
    FROM r WHERE m.id = r.message_id
    RETURNING m.id
), logged AS (
    INSERT INTO webhook_attempts (organisation_id, endpoint_id, message_id, status_code, error,
                                  response, duration_ms)
    SELECT r.organisation_id, r.endpoint_id, r.message_id, r.status_code, r.error, r.response,
           r.duration_ms
    FROM r JOIN messages ON messages.id = r.message_id
), health AS (
    SELECT r.endpoint_id, bool_or(r.delivered) AS any_ok, bool_or(r.gone) AS gone FROM r
    GROUP BY r.endpoint_id
), decided AS (
    SELECT h.endpoint_id, h.any_ok,
           CASE WHEN h.gone THEN 'gone'
                WHEN NOT h.any_ok AND e.failing_since
                     < frontline_now() - make_interval(secs => $11) THEN 'failing' END AS reason
    FROM health h JOIN webhook_endpoints e ON e.id = h.endpoint_id
)
UPDATE webhook_endpoints e SET
    failing_since = CASE WHEN d.any_ok THEN NULL ELSE coalesce(e.failing_since, frontline_now()) END,
    enabled = e.enabled AND d.reason IS NULL,
    disabled_reason = CASE WHEN e.enabled AND d.reason IS NOT NULL THEN d.reason
                           ELSE e.disabled_reason END,
    disabled_at = CASE WHEN e.enabled AND d.reason IS NOT NULL THEN frontline_now()
                       ELSE e.disabled_at END
FROM decided d
WHERE e.id = d.endpoint_id
  AND (d.any_ok AND e.failing_since IS NOT NULL
       OR NOT d.any_ok AND (e.failing_since IS NULL OR (e.enabled AND d.reason IS NOT NULL)))";

async fn record(
    conn: &mut AsyncPgConnection,
    outcomes: &[Outcome],
    disable_after: Duration,
) -> AppResult<()> {
    let column = |f: &dyn Fn(&Outcome) -> Uuid| outcomes.iter().map(f).collect::<Vec<_>>();
    let messages = column(&|o| o.message_id);
    let endpoints = column(&|o| o.endpoint_id);
    let organisations = column(&|o| o.organisation_id);
    let status_codes: Vec<Option<i32>> = outcomes.iter().map(|o| o.status_code).collect();
    let errors: Vec<Option<&str>> = outcomes.iter().map(|o| o.error.as_deref()).collect();
    let responses: Vec<&str> = outcomes.iter().map(|o| o.response.as_str()).collect();
    let durations: Vec<i32> = outcomes.iter().map(|o| o.duration_ms).collect();
    let delivered: Vec<bool> = outcomes.iter().map(|o| o.delivered).collect();
    let gone: Vec<bool> = outcomes.iter().map(|o| o.gone).collect();
    let next: Vec<Option<f64>> = outcomes.iter().map(|o| o.next_in_secs).collect();
    Prepared(
        diesel::sql_query(RECORD)
            .bind::<Array<SqlUuid>, _>(&messages)
            .bind::<Array<SqlUuid>, _>(&endpoints)
            .bind::<Array<SqlUuid>, _>(&organisations)
            .bind::<Array<Nullable<Integer>>, _>(&status_codes)
            .bind::<Array<Nullable<Text>>, _>(&errors)
            .bind::<Array<Text>, _>(&responses)
            .bind::<Array<Integer>, _>(&durations)
            .bind::<Array<Bool>, _>(&delivered)
            .bind::<Array<Bool>, _>(&gone)
            .bind::<Array<Nullable<Double>>, _>(&next)
            .bind::<Double, _>(disable_after.as_secs_f64()),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Forget delivered and failed messages (and their attempts) older than `days`, a slice at a
/// time so that no statement holds much.
async fn purge(conn: &mut AsyncPgConnection, days: u64) -> AppResult<usize> {
    let days = i32::try_from(days).unwrap_or(i32::MAX);
    let mut purged = 0;
    loop {
        let n = diesel::sql_query(
            "DELETE FROM webhook_messages WHERE id IN (SELECT id FROM webhook_messages \
             WHERE status <> 'pending' AND occurred_at < frontline_now() - make_interval(days => $1) \
             LIMIT 5000)",
        )
        .bind::<Integer, _>(days)
        .execute(conn)
        .await?;
        purged += n;
        if n < 5000 {
            return Ok(purged);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_schedule_and_a_retry_after_within_reason() {
        let settings =
            match crate::config::Settings::from_figment(&crate::config::figment_without_file()) {
                Ok(s) => s,
                Err(e) => panic!("{e}"),
            };
        let d = match Delivery::from_settings(&settings) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(d.next_delay(1, None), Some(Duration::from_secs(5)));
        assert_eq!(d.next_delay(2, Some(60)), Some(Duration::from_secs(300)));
        assert_eq!(d.next_delay(2, Some(900)), Some(Duration::from_secs(900)));
        assert_eq!(
            d.next_delay(1, Some(u64::MAX)),
            Some(Duration::from_secs(MAX_RETRY_AFTER_SECS))
        );
        assert_eq!(d.next_delay(7, None), Some(Duration::from_secs(36_000)));
        assert_eq!(d.next_delay(8, None), None);
        assert_eq!(d.next_delay(0, None), None);
    }
}
