//! Several server processes on one database keep one read cache's promise: a write made
//! through any of them drops the cached answers of its organisation in all of them within a
//! fraction of a second, through PostgreSQL `LISTEN`/`NOTIFY`.
//!
//! Each process sends what it wrote ([`read_cache::take_outbox`]) every [`FLUSH_EVERY`] as one
//! notification on [`CHANNEL`] (its process id and the organisations, or `*` for all), and
//! listens on a connection of its own, outside the pool, ticking its write clock for what the
//! others wrote ([`read_cache::tick`]). Batching keeps the database's work at a few
//! notifications a second per process however many writes flow: a `NOTIFY` inside every
//! write's transaction would serialise their commits on PostgreSQL's notification queue lock.
//!
//! Nothing decides a result on a notification: a lost one (a listener reconnecting, a process
//! that died between its commit and its flush) only leaves another process's answers to age
//! out by the read cache's time to live, as writes from outside the API (the CLI, SQL) do. A
//! listener that reconnects drops every cached answer, since it may have missed some.

use std::fmt::Write as _;
use std::sync::LazyLock;
use std::time::Duration;

use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use tokio_postgres::{AsyncMessage, NoTls};
use uuid::Uuid;

use crate::db::Db;
use crate::read_cache;

/// The notification channel (one per database: `NOTIFY` does not cross databases).
pub const CHANNEL: &str = "frontline_writes";

/// How often a process sends what it wrote: well inside the one second within which a point
/// must be on every process's boards.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// PostgreSQL refuses payloads of 8000 bytes or more; beyond this, `*` (everything) is sent.
const MAX_PAYLOAD: usize = 7900;

/// This process, so that it skips its own notifications (its clock ticked at the write).
static PROCESS: LazyLock<Uuid> = LazyLock::new(Uuid::new_v4);

/// Start the sender and the listener on the current Tokio runtime.
pub fn start(db: Db, url: String) {
    tokio::spawn(send(db));
    tokio::spawn(listen(url));
}

/// The payload for what was written, or `None` when nothing was.
fn payload(outbox: &read_cache::Outbox) -> Option<String> {
    if !outbox.everyone && outbox.organisations.is_empty() {
        return None;
    }
    let mut text = format!("{}|", *PROCESS);
    if outbox.everyone {
        text.push('*');
        return Some(text);
    }
    let prefix = text.len();
    for (i, org) in outbox.organisations.iter().enumerate() {
        if text.len() + 37 > MAX_PAYLOAD {
            text.truncate(prefix);
            text.push('*');
            return Some(text);
        }
        if i > 0 {
            text.push(',');
        }
        let _ = write!(text, "{org}");
    }
    Some(text)
}

/// What another process's payload asks this one to drop: `Some(None)` for everything,
/// `Some(Some(orgs))` for those, `None` for its own notifications and for what is not ours.
fn parse(text: &str) -> Option<Option<Vec<Uuid>>> {
    let (sender, what) = text.split_once('|')?;
    if Uuid::parse_str(sender).ok()? == *PROCESS {
        return None;
    }
    if what == "*" {
        return Some(None);
    }
    let orgs: Result<Vec<Uuid>, _> = what.split(',').map(Uuid::parse_str).collect();
    Some(Some(orgs.ok()?))
}

async fn send(db: Db) {
    let mut every = tokio::time::interval(FLUSH_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let outbox = read_cache::take_outbox();
        let Some(text) = payload(&outbox) else {
            continue;
        };
        let sent = match db.conn().await {
            Ok(mut conn) => diesel::sql_query("SELECT pg_notify($1, $2)")
                .bind::<Text, _>(CHANNEL)
                .bind::<Text, _>(&text)
                .execute(&mut conn)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = sent {
            // The others' answers age out by the time to live instead; said once per failure.
            tracing::warn!(error = %e, "could not tell the other server processes what was written");
        }
    }
}

async fn listen(url: String) {
    let mut first = true;
    loop {
        match listen_once(&url, &mut first).await {
            Ok(()) => tracing::warn!("the write notification listener lost its connection"),
            Err(e) => tracing::warn!(error = %e, "the write notification listener cannot connect"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Listen until the connection ends. After the first connection, a (re)connect drops every
/// cached answer: notifications sent while this one was away are lost.
async fn listen_once(url: &str, first: &mut bool) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let AsyncMessage::Notification(n) = message
                && tx.send(n.payload().to_owned()).is_err()
            {
                break;
            }
        }
    });
    let listening = client.batch_execute(&format!("LISTEN {CHANNEL}")).await;
    if let Err(e) = listening {
        driver.abort();
        return Err(e);
    }
    if !std::mem::replace(first, false) {
        read_cache::tick(None);
    }
    while let Some(text) = rx.recv().await {
        match parse(&text) {
            Some(None) => read_cache::tick(None),
            Some(Some(orgs)) => orgs.into_iter().for_each(|org| read_cache::tick(Some(org))),
            None => {}
        }
    }
    drop(client);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_names_the_organisations_and_its_sender_skips_it() {
        let mut outbox = read_cache::Outbox::default();
        assert_eq!(payload(&outbox), None);
        let org = Uuid::new_v4();
        outbox.organisations.insert(org);
        let text = payload(&outbox).unwrap();
        assert_eq!(text, format!("{}|{org}", *PROCESS));
        assert_eq!(parse(&text), None, "its own notification");
        let other = Uuid::new_v4();
        assert_eq!(
            parse(&format!("{other}|{org}")),
            Some(Some(vec![org])),
            "another process's"
        );
        assert_eq!(parse(&format!("{other}|*")), Some(None));
        assert_eq!(parse("not ours"), None);
        assert_eq!(parse(&format!("{other}|not-a-uuid")), None);
    }

    #[test]
    fn too_many_organisations_for_one_notification_become_everything() {
        let mut outbox = read_cache::Outbox::default();
        for _ in 0..1000 {
            outbox.organisations.insert(Uuid::new_v4());
        }
        let text = payload(&outbox).unwrap();
        assert!(text.len() < 8000);
        assert!(text.ends_with("|*"), "{text}");
    }
}
