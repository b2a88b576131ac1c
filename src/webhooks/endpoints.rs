//! Registering and keeping endpoints (admins): each change in one transaction with its audit
//! entry; and reading an endpoint's messages and attempts (the delivery log).

use chrono::{DateTime, Utc};
use diesel::sql_types::{
    Array, BigInt, Bool, Bytea, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::signing::Secret;
use super::{
    CreateWebhook, DisabledReason, Format, MAX_ENDPOINTS, TEST_EVENT, UpdateWebhook, Webhook,
    WebhookMessage, WebhookWithSecret,
};
use crate::audit::{self, Action, Actor};
use crate::error::{AppError, AppResult, FieldError};
use crate::events::Kind;
use crate::http::check;
use crate::outbound::{Policy, Refused};
use crate::validation;

/// How long the secret before a rotation keeps signing beside the new one.
const ROTATION_GRACE_HOURS: i32 = 24;

/// A checked URL, or the error naming `url`.
async fn checked_url(policy: &Policy, raw: &str, errors: &mut Vec<FieldError>) -> String {
    if raw.chars().count() > 2000 {
        errors.push(FieldError::new("url", "must be at most 2000 characters"));
        return String::new();
    }
    match policy.check(raw).await {
        Ok(url) => url.to_string(),
        Err(why) => {
            let hint = match why {
                Refused::Forbidden => {
                    " (a server may allow such a network in webhook_allowed_networks)"
                }
                _ => "",
            };
            errors.push(FieldError::new("url", format!("{why}{hint}")));
            String::new()
        }
    }
}

fn event_types(kinds: &[Kind], errors: &mut Vec<FieldError>) -> Vec<String> {
    let mut names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        errors.push(FieldError::new(
            "event_types",
            format!(
                "give at least one of {}",
                Kind::ALL.map(|k| k.as_str()).join(", ")
            ),
        ));
    }
    names.into_iter().map(String::from).collect()
}

/// A checked registration.
#[derive(Clone)]
pub struct NewWebhook {
    url: String,
    event_types: Vec<String>,
    description: String,
    format: Format,
}

impl NewWebhook {
    pub async fn parse(req: CreateWebhook, policy: &Policy) -> AppResult<NewWebhook> {
        let mut errors = Vec::new();
        let url = checked_url(policy, &req.url, &mut errors).await;
        let event_types = event_types(&req.event_types, &mut errors);
        let description = match req.description.as_deref() {
            Some(d) if !d.trim().is_empty() => validation::text("description", d, 200, &mut errors),
            _ => String::new(),
        };
        check(errors)?;
        Ok(NewWebhook {
            url,
            event_types,
            description,
            format: req.format.unwrap_or(Format::Standard),
        })
    }
}

/// A checked change.
#[derive(Clone)]
pub struct Change {
    url: Option<String>,
    event_types: Option<Vec<String>>,
    description: Option<String>,
    format: Option<Format>,
    enabled: Option<bool>,
}

impl Change {
    pub async fn parse(req: UpdateWebhook, policy: &Policy) -> AppResult<Change> {
        let mut errors = Vec::new();
        let url = match req.url.as_deref() {
            Some(raw) => Some(checked_url(policy, raw, &mut errors).await),
            None => None,
        };
        let event_types = req.event_types.map(|k| event_types(&k, &mut errors));
        let description = req.description.map(|d| {
            if d.trim().is_empty() {
                String::new()
            } else {
                validation::text("description", &d, 200, &mut errors)
            }
        });
        check(errors)?;
        Ok(Change {
            url,
            event_types,
            description,
            format: req.format,
            enabled: req.enabled,
        })
    }
}

/// An endpoint with its pending count; `$1` the organisation; each use adds its conditions.
const VIEW: &str = "\
SELECT e.id, e.url, e.description, e.event_types, e.format, e.enabled, e.disabled_reason,
       e.disabled_at, e.failing_since,
       CASE WHEN e.previous_secret_until > frontline_now() THEN e.previous_secret_until END
           AS previous_secret_until,
       (SELECT count(*) FROM (SELECT 1 FROM webhook_messages m
            WHERE m.endpoint_id = e.id AND m.status = 'pending' LIMIT 10000) p) AS pending,
       e.created_by, e.created_at, e.updated_at
FROM webhook_endpoints e WHERE e.organisation_id = $1 ";

#[derive(diesel::QueryableByName)]
struct Row {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    url: String,
    #[diesel(sql_type = Text)]
    description: String,
    #[diesel(sql_type = Array<Text>)]
    event_types: Vec<String>,
    #[diesel(sql_type = Text)]
    format: String,
    #[diesel(sql_type = Bool)]
    enabled: bool,
    #[diesel(sql_type = Nullable<Text>)]
    disabled_reason: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    disabled_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    failing_since: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    previous_secret_until: Option<DateTime<Utc>>,
    #[diesel(sql_type = BigInt)]
    pending: i64,
    #[diesel(sql_type = SqlUuid)]
    created_by: Uuid,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
}

impl From<Row> for Webhook {
    fn from(r: Row) -> Webhook {
        Webhook {
            id: r.id,
            url: r.url,
            description: r.description,
            event_types: r
                .event_types
                .iter()
                .filter_map(|k| Kind::parse(k))
                .collect(),
            format: Format::parse(&r.format).unwrap_or(Format::Standard),
            enabled: r.enabled,
            disabled_reason: r.disabled_reason.as_deref().and_then(DisabledReason::parse),
            disabled_at: r.disabled_at,
            failing_since: r.failing_since,
            previous_secret_until: r.previous_secret_until,
            pending: r.pending,
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The organisation's endpoints, oldest first.
pub async fn list(conn: &mut AsyncPgConnection, org: Uuid) -> AppResult<Vec<Webhook>> {
    let rows: Vec<Row> = diesel::sql_query(format!("{VIEW}ORDER BY e.created_at, e.id"))
        .bind::<SqlUuid, _>(org)
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(Webhook::from).collect())
}

/// One endpoint of the organisation, or 404.
pub async fn get(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<Webhook> {
    let rows: Vec<Row> = diesel::sql_query(format!("{VIEW}AND e.id = $2"))
        .bind::<SqlUuid, _>(org)
        .bind::<SqlUuid, _>(id)
        .load(conn)
        .await?;
    rows.into_iter()
        .next()
        .map(Webhook::from)
        .ok_or_else(|| AppError::not_found("webhook"))
}

#[derive(diesel::QueryableByName)]
struct Found {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Bool)]
    enabled: bool,
}

/// Lock endpoint `id` of `org` for a change, or 404.
async fn lock(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<Found> {
    let rows: Vec<Found> = diesel::sql_query(
        "SELECT id, enabled FROM webhook_endpoints \
         WHERE organisation_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(id)
    .load(conn)
    .await?;
    rows.into_iter()
        .next()
        .ok_or_else(|| AppError::not_found("webhook"))
}

/// Register an endpoint with a new secret; the answer shows the secret this once.
pub async fn create(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    by: Uuid,
    new: NewWebhook,
) -> AppResult<WebhookWithSecret> {
    let secret = Secret::generate();
    let bytes = secret.as_bytes().to_vec();
    let id = crate::db::transaction(conn, move |conn| {
        let (bytes, new) = (bytes.clone(), new.clone());
        Box::pin(async move {
            // One registration at a time per organisation, so the limit holds under a race.
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<BigInt, _>(crate::sql::advisory_key("webhooks", org, 0))
                .execute(conn)
                .await?;
            let existing = count(conn, org).await?;
            if existing >= MAX_ENDPOINTS {
                return Err(AppError::conflict(format!(
                    "an organisation may register at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
                )));
            }
            let row: Found = diesel::sql_query(
                "INSERT INTO webhook_endpoints \
                 (organisation_id, url, description, event_types, format, secret, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, enabled",
            )
            .bind::<SqlUuid, _>(org)
            .bind::<Text, _>(&new.url)
            .bind::<Text, _>(&new.description)
            .bind::<Array<Text>, _>(&new.event_types)
            .bind::<Text, _>(new.format.as_str())
            .bind::<Bytea, _>(&bytes)
            .bind::<SqlUuid, _>(by)
            .get_result(conn)
            .await?;
            audit::record(
                conn,
                org,
                Actor::Member(by),
                Action::WebhookCreated,
                Some(("webhook", row.id)),
                serde_json::json!({
                    "url": new.url, "event_types": new.event_types, "format": new.format,
                }),
            )
            .await?;
            Ok(row.id)
        })
    })
    .await?;
    Ok(WebhookWithSecret {
        webhook: get(conn, org, id).await?,
        secret: secret.reveal(),
    })
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(conn: &mut AsyncPgConnection, org: Uuid) -> AppResult<i64> {
    let c: Count =
        diesel::sql_query("SELECT count(*) AS n FROM webhook_endpoints WHERE organisation_id = $1")
            .bind::<SqlUuid, _>(org)
            .get_result(conn)
            .await?;
    Ok(c.n)
}

/// Change an endpoint. Disabling stops its deliveries and queues nothing for it; enabling
/// (whatever disabled it) forgets its failures and sends what was waiting.
pub async fn update(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    by: Uuid,
    id: Uuid,
    change: Change,
) -> AppResult<Webhook> {
    crate::db::transaction(conn, move |conn| {
        let change = change.clone();
        Box::pin(async move {
            let found = lock(conn, org, id).await?;
            diesel::sql_query(
                "UPDATE webhook_endpoints SET \
                   url = coalesce($3, url), \
                   event_types = coalesce($4, event_types), \
                   description = coalesce($5, description), \
                   format = coalesce($6, format), \
                   enabled = coalesce($7, enabled), \
                   disabled_reason = CASE WHEN $7 IS NULL THEN disabled_reason \
                                          WHEN $7 THEN NULL \
                                          WHEN enabled THEN 'admin' ELSE disabled_reason END, \
                   disabled_at = CASE WHEN $7 IS NULL THEN disabled_at WHEN $7 THEN NULL \
                                      WHEN enabled THEN frontline_now() ELSE disabled_at END, \
                   failing_since = CASE WHEN $7 AND NOT enabled THEN NULL ELSE failing_since END, \
                   updated_at = frontline_now() \
                 WHERE organisation_id = $1 AND id = $2",
            )
            .bind::<SqlUuid, _>(org)
            .bind::<SqlUuid, _>(id)
            .bind::<Nullable<Text>, _>(change.url.as_deref())
            .bind::<Nullable<Array<Text>>, _>(change.event_types.as_ref())
            .bind::<Nullable<Text>, _>(change.description.as_deref())
            .bind::<Nullable<Text>, _>(change.format.map(|f| f.as_str()))
            .bind::<Nullable<Bool>, _>(change.enabled)
            .execute(conn)
            .await?;
            if change.format.is_some_and(|f| f != Format::Standard) {
                // A chat channel hears only of public recognitions (see `outbox`): what was
                // queued for a program before the switch is not posted to a channel.
                diesel::sql_query(
                    "DELETE FROM webhook_messages m WHERE m.endpoint_id = $1 \
                       AND m.status = 'pending' AND m.subject_type = 'recognition' \
                       AND NOT EXISTS (SELECT 1 FROM recognitions r WHERE r.organisation_id = $2 \
                           AND r.id = m.subject_id AND r.visibility = 'public')",
                )
                .bind::<SqlUuid, _>(id)
                .bind::<SqlUuid, _>(org)
                .execute(conn)
                .await?;
            }
            if change.enabled == Some(true) && !found.enabled {
                // What waited while it was off goes now, not after its old backoff.
                diesel::sql_query(
                    "UPDATE webhook_messages SET next_attempt_at = frontline_now() \
                     WHERE endpoint_id = $1 AND status = 'pending' AND leased_until IS NULL",
                )
                .bind::<SqlUuid, _>(id)
                .execute(conn)
                .await?;
            }
            let action = if change.enabled == Some(false) && found.enabled {
                Action::WebhookDisabled
            } else {
                Action::WebhookChanged
            };
            audit::record(
                conn,
                org,
                Actor::Member(by),
                action,
                Some(("webhook", id)),
                serde_json::json!({
                    "url": change.url, "event_types": change.event_types,
                    "format": change.format, "enabled": change.enabled,
                }),
            )
            .await?;
            get(conn, org, id).await
        })
    })
    .await
}

/// Remove an endpoint with its messages and log.
pub async fn delete(conn: &mut AsyncPgConnection, org: Uuid, by: Uuid, id: Uuid) -> AppResult<()> {
    crate::db::transaction(conn, move |conn| {
        Box::pin(async move {
            lock(conn, org, id).await?;
            diesel::sql_query(
                "DELETE FROM webhook_endpoints WHERE organisation_id = $1 AND id = $2",
            )
            .bind::<SqlUuid, _>(org)
            .bind::<SqlUuid, _>(id)
            .execute(conn)
            .await?;
            audit::record(
                conn,
                org,
                Actor::Member(by),
                Action::WebhookDeleted,
                Some(("webhook", id)),
                serde_json::json!({}),
            )
            .await
        })
    })
    .await
}

/// A new secret; the previous one keeps signing beside it for a day.
pub async fn rotate(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    by: Uuid,
    id: Uuid,
) -> AppResult<WebhookWithSecret> {
    let secret = Secret::generate();
    let bytes = secret.as_bytes().to_vec();
    let webhook = crate::db::transaction(conn, move |conn| {
        let bytes = bytes.clone();
        Box::pin(async move {
            lock(conn, org, id).await?;
            diesel::sql_query(
                "UPDATE webhook_endpoints SET previous_secret = secret, secret = $3, \
                   previous_secret_until = frontline_now() + make_interval(hours => $4), \
                   updated_at = frontline_now() \
                 WHERE organisation_id = $1 AND id = $2",
            )
            .bind::<SqlUuid, _>(org)
            .bind::<SqlUuid, _>(id)
            .bind::<Bytea, _>(&bytes)
            .bind::<Integer, _>(ROTATION_GRACE_HOURS)
            .execute(conn)
            .await?;
            audit::record(
                conn,
                org,
                Actor::Member(by),
                Action::WebhookSecretRotated,
                Some(("webhook", id)),
                serde_json::json!({ "grace_hours": ROTATION_GRACE_HOURS }),
            )
            .await?;
            get(conn, org, id).await
        })
    })
    .await?;
    Ok(WebhookWithSecret {
        webhook,
        secret: secret.reveal(),
    })
}

/// Queue a `webhook.test` message for endpoint `id` (it must be enabled).
pub async fn test(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<WebhookMessage> {
    let message = crate::db::transaction(conn, move |conn| {
        Box::pin(async move {
            let found = lock(conn, org, id).await?;
            if !found.enabled {
                return Err(disabled());
            }
            let m: Found = diesel::sql_query(
                "INSERT INTO webhook_messages (organisation_id, endpoint_id, event_type, \
                   subject_type, subject_id, member_ids, data) \
                 VALUES ($1, $2, $3, 'webhook', $2, '{}', '{}') RETURNING id, true AS enabled",
            )
            .bind::<SqlUuid, _>(org)
            .bind::<SqlUuid, _>(id)
            .bind::<Text, _>(TEST_EVENT)
            .get_result(conn)
            .await?;
            Ok(m.id)
        })
    })
    .await?;
    super::delivery::nudge();
    super::log::message_of(conn, org, id, message).await
}

fn disabled() -> AppError {
    AppError::conflict("the webhook is disabled; enable it first")
}

/// Send message `message` of endpoint `id` again now, with a fresh retry schedule.
pub async fn redeliver(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
    message: Uuid,
) -> AppResult<WebhookMessage> {
    crate::db::transaction(conn, move |conn| {
        Box::pin(async move {
            let found = lock(conn, org, id).await?;
            let n = diesel::sql_query(
                "UPDATE webhook_messages SET status = 'pending', attempts = 0, \
                   next_attempt_at = frontline_now(), delivered_at = NULL \
                 WHERE organisation_id = $1 AND endpoint_id = $2 AND id = $3 \
                   AND (leased_until IS NULL OR leased_until < frontline_now())",
            )
            .bind::<SqlUuid, _>(org)
            .bind::<SqlUuid, _>(id)
            .bind::<SqlUuid, _>(message)
            .execute(conn)
            .await?;
            // Known, but not changed: being sent right now.
            let current = super::log::message_of(conn, org, id, message).await?;
            if n == 0 {
                return Err(AppError::conflict(
                    "the message is being sent right now; look again in a moment",
                ));
            }
            if !found.enabled {
                return Err(disabled());
            }
            Ok(current)
        })
    })
    .await
    .inspect(|_| super::delivery::nudge())
}
