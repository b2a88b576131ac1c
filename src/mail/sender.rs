//! The email sender. Every server process runs one when email is configured; they share the
//! outbox through PostgreSQL, as the webhook workers do, so any number behave as one sender.
//!
//! It leases due messages with `FOR UPDATE SKIP LOCKED` (marking them `leased_until` a
//! timeout and a margin away), lets go of the rows, speaks SMTP without holding a connection
//! or a lock, then writes the outcome: sent (the bodies, which may hold a token, are cleared),
//! tried again on the schedule (a `4xx`, a timeout, a refused connection), or failed (a `5xx`,
//! or the schedule ran out). A process that dies mid-send leaves the lease to run out; the
//! message is then due again. Each message keeps one `Message-ID` on every attempt, so a
//! receiving system can drop a duplicate.

use std::sync::LazyLock;
use std::time::Duration;

use diesel::sql_types::{BigInt, Double, Integer, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::config::{ConfigError, Settings};
use crate::db::Db;
use crate::error::AppResult;

/// The most messages one lease takes.
const BATCH: i64 = 10;
/// How long past its timeout a lease lasts before the message is taken for abandoned.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// The SMTP connection and what the sender needs of the configuration.
#[derive(Clone)]
pub struct Transport {
    smtp: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    timeout: Duration,
    poll: Duration,
    schedule: Vec<Duration>,
    retention_days: u64,
}

fn mail_error(text: impl Into<String>) -> ConfigError {
    ConfigError::Mail(text.into())
}

impl Transport {
    /// The transport `mail_smtp_url` names, or none when it is unset (email is off). Errors
    /// never repeat the URL: it may hold a password.
    pub fn from_settings(s: &Settings) -> Result<Option<Transport>, ConfigError> {
        let Some(url) = s.mail_smtp_url.as_ref() else {
            return Ok(None);
        };
        let url = reqwest::Url::parse(url.expose_secret().trim()).map_err(|_| {
            mail_error("mail_smtp_url is not a URL (smtp://host:587 or smtps://host:465)")
        })?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| mail_error("mail_smtp_url names no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let tls_mode = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let timeout = Duration::from_millis(s.mail_timeout_ms.clamp(1000, 300_000));
        let parameters = tls_parameters(&host, s.mail_smtp_ca_file.as_deref())?;
        let (tls, default_port) = match (url.scheme(), tls_mode.as_deref()) {
            ("smtps", None | Some("wrapper")) => (Tls::Wrapper(parameters), 465),
            ("smtp", None | Some("required")) => (Tls::Required(parameters), 587),
            ("smtp", Some("opportunistic")) => (Tls::Opportunistic(parameters), 587),
            ("smtp", Some("none")) => (Tls::None, 25),
            _ => {
                return Err(mail_error(
                    "mail_smtp_url must be smtp://... (STARTTLS; ?tls=opportunistic or ?tls=none to relax it) or smtps://... (TLS)",
                ));
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(url.port().unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(timeout));
        if !url.username().is_empty() {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            builder = builder.credentials(Credentials::new(
                decode(url.username()),
                decode(url.password().unwrap_or_default()),
            ));
        }
        let from = s
            .mail_from
            .as_deref()
            .ok_or_else(|| mail_error("mail_from is required with mail_smtp_url"))?
            .parse::<Mailbox>()
            .map_err(|_| {
                mail_error("mail_from is not an address (e.g. Frontline <no-reply@example.com>)")
            })?;
        let reply_to = match s.mail_reply_to.as_deref() {
            None => None,
            Some(text) => Some(
                text.parse::<Mailbox>()
                    .map_err(|_| mail_error("mail_reply_to is not an address"))?,
            ),
        };
        Ok(Some(Transport {
            smtp: builder.build(),
            from,
            reply_to,
            timeout,
            poll: Duration::from_millis(s.mail_poll_ms.max(10)),
            schedule: s
                .mail_retry_schedule_secs
                .iter()
                .map(|secs| Duration::from_secs(*secs))
                .collect(),
            retention_days: s.mail_retention_days.max(1),
        }))
    }

    /// The wait before the next attempt after `attempts` failed ones (none: give up).
    fn next_delay(&self, attempts: i32) -> Option<Duration> {
        let index = usize::try_from(attempts).ok()?.checked_sub(1)?;
        self.schedule.get(index).copied()
    }
}

/// The TLS settings for `host`, trusting the PEM certificate in `ca_file` besides the public
/// roots.
fn tls_parameters(
    host: &str,
    ca_file: Option<&std::path::Path>,
) -> Result<TlsParameters, ConfigError> {
    let mut builder = TlsParameters::builder(host.to_string());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| mail_error(format!("mail_smtp_ca_file {}: {e}", path.display())))?;
        let certificate = Certificate::from_pem(&pem).map_err(|_| {
            mail_error(format!(
                "mail_smtp_ca_file {}: not a PEM certificate",
                path.display()
            ))
        })?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build_rustls()
        .map_err(|e| mail_error(format!("SMTP TLS settings: {e}")))
}

/// Wakes this process's sender: an email was queued.
static NUDGE: LazyLock<Notify> = LazyLock::new(Notify::new);

pub fn nudge() {
    NUDGE.notify_one();
}

/// Start the sender and the hourly purge of old messages.
pub fn start(db: Db, transport: Transport) {
    let purge_db = db.clone();
    let retention_days = transport.retention_days;
    tokio::spawn(send_due(db, transport));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            if let Ok(mut conn) = purge_db.conn().await
                && let Err(e) = purge(&mut conn, retention_days).await
            {
                tracing::warn!(error = %e, "email purge failed");
            }
        }
    });
}

async fn send_due(db: Db, transport: Transport) {
    let lease_secs = (transport.timeout + LEASE_MARGIN).as_secs_f64() * BATCH as f64;
    loop {
        let leased = match db.conn().await {
            Ok(mut conn) => lease(&mut conn, lease_secs).await,
            Err(e) => Err(e),
        };
        let leased = leased.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "email lease failed");
            Vec::new()
        });
        if leased.is_empty() {
            // Nothing due: wait for a nudge (then a moment for its transaction to commit) or
            // the poll.
            if tokio::time::timeout(transport.poll, NUDGE.notified())
                .await
                .is_ok()
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            continue;
        }
        for message in leased {
            let outcome = send(&transport, &message).await;
            let recorded = match db.conn().await {
                Ok(mut conn) => record(&mut conn, &transport, &message, outcome).await,
                Err(e) => Err(e),
            };
            if let Err(e) = recorded {
                // The lease runs out and the message is sent again: at least once.
                tracing::warn!(error = %e, email_id = %message.id, "could not record an email's outcome");
            }
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Leased {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    to_address: String,
    #[diesel(sql_type = Text)]
    subject: String,
    #[diesel(sql_type = Nullable<Text>)]
    body_text: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    body_html: Option<String>,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

/// Take up to `$1` due messages, lease them for `$2` seconds and count the attempt.
const LEASE: &str = "\
WITH due AS (
    SELECT id FROM email_messages
    WHERE status = 'pending' AND next_attempt_at <= frontline_now()
      AND (leased_until IS NULL OR leased_until < frontline_now())
    ORDER BY next_attempt_at LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE email_messages m
SET leased_until = frontline_now() + make_interval(secs => $2), attempts = m.attempts + 1
FROM due WHERE m.id = due.id
RETURNING m.id, m.kind, m.to_address, m.subject, m.body_text, m.body_html, m.attempts";

async fn lease(conn: &mut AsyncPgConnection, secs: f64) -> AppResult<Vec<Leased>> {
    Ok(diesel::sql_query(LEASE)
        .bind::<BigInt, _>(BATCH)
        .bind::<Double, _>(secs)
        .load(conn)
        .await?)
}

/// How one attempt went.
enum Outcome {
    Sent,
    /// Worth another try (a `4xx`, a timeout, no connection).
    Transient(String),
    /// Not worth another (a `5xx`, an address that is no address).
    Permanent(String),
}

async fn send(transport: &Transport, message: &Leased) -> Outcome {
    let email = match build(transport, message) {
        Ok(email) => email,
        Err(why) => return Outcome::Permanent(why),
    };
    let sent = tokio::time::timeout(transport.timeout, transport.smtp.send(email)).await;
    let outcome = match sent {
        Ok(Ok(_)) => Outcome::Sent,
        Ok(Err(e)) if e.is_permanent() => Outcome::Permanent(e.to_string()),
        Ok(Err(e)) => Outcome::Transient(e.to_string()),
        Err(_) => Outcome::Transient("the SMTP server did not answer in time".into()),
    };
    let label = match outcome {
        Outcome::Sent => "sent",
        Outcome::Transient(_) => "retry",
        Outcome::Permanent(_) => "failed",
    };
    metrics::counter!("frontline_emails_total", "outcome" => label, "kind" => message.kind.clone())
        .increment(1);
    outcome
}

fn build(transport: &Transport, message: &Leased) -> Result<Message, String> {
    let to = message
        .to_address
        .parse::<Mailbox>()
        .map_err(|_| "the recipient's address is not an email address".to_string())?;
    let mut builder = Message::builder()
        // One id on every attempt: a receiver can tell a repeat.
        .message_id(Some(format!("<{}@frontline.email>", message.id)))
        .from(transport.from.clone())
        .to(to)
        .subject(message.subject.clone());
    if let Some(reply_to) = &transport.reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            message.body_text.clone().unwrap_or_default(),
            message.body_html.clone().unwrap_or_default(),
        ))
        .map_err(|e| format!("the email could not be built: {e}"))
}

async fn record(
    conn: &mut AsyncPgConnection,
    transport: &Transport,
    message: &Leased,
    outcome: Outcome,
) -> AppResult<()> {
    let (retry_in, error) = match outcome {
        Outcome::Sent => (None, None),
        Outcome::Transient(e) => (transport.next_delay(message.attempts), Some(e)),
        Outcome::Permanent(e) => (None, Some(e)),
    };
    let error: Option<String> = error.map(|e| e.chars().take(500).collect());
    if error.is_some() {
        tracing::warn!(email_id = %message.id, kind = %message.kind, attempts = message.attempts,
            error = error.as_deref().unwrap_or_default(), retry = retry_in.is_some(), "email not sent");
    }
    diesel::sql_query(
        "UPDATE email_messages SET
             status = CASE WHEN $2 IS NULL THEN 'sent' WHEN $3 IS NOT NULL THEN 'pending' ELSE 'failed' END,
             sent_at = CASE WHEN $2 IS NULL THEN frontline_now() END,
             next_attempt_at = CASE WHEN $3 IS NOT NULL
                 THEN frontline_now() + make_interval(secs => $3) ELSE next_attempt_at END,
             body_text = CASE WHEN $2 IS NOT NULL AND $3 IS NOT NULL THEN body_text END,
             body_html = CASE WHEN $2 IS NOT NULL AND $3 IS NOT NULL THEN body_html END,
             leased_until = NULL,
             last_error = $2
         WHERE id = $1 AND status = 'pending'",
    )
    .bind::<SqlUuid, _>(message.id)
    .bind::<Nullable<Text>, _>(error)
    .bind::<Nullable<Double>, _>(retry_in.map(|d| d.as_secs_f64()))
    .execute(conn)
    .await?;
    Ok(())
}

/// Sent and failed messages older than the retention.
async fn purge(conn: &mut AsyncPgConnection, retention_days: u64) -> AppResult<usize> {
    Ok(diesel::sql_query(
        "DELETE FROM email_messages
         WHERE status <> 'pending' AND created_at < frontline_now() - make_interval(days => $1)",
    )
    .bind::<Integer, _>(i32::try_from(retention_days).unwrap_or(i32::MAX))
    .execute(conn)
    .await?)
}
