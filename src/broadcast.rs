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
use crate::{read_cache, wakeups};

/// The notification channel (one per database: `NOTIFY` does not cross databases).
pub const CHANNEL: &str = "frontline_writes";

/// How often a process sends what it wrote: well inside the one second within which a point
/// must be on every process's boards.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// PostgreSQL refuses payloads of 8000 bytes or more; beyond this, `*` (everything) is sent.
const MAX_PAYLOAD: usize = 7900;

/// This process, so that it skips its own notifications (its clock ticked at the write).
static PROCESS: LazyLock<Uuid> = LazyLock::new(Uuid::new_v4);

/// Start the sender and the listener on the current Tokio runtime. Inbox wakes
/// ([`wakeups::CHANNEL`]) always go both ways; writes ([`CHANNEL`]) only when `writes` (the
/// read cache is on: with it off, nobody holds an answer to drop).
pub fn start(db: Db, url: String, writes: bool) {
    tokio::spawn(send(db, writes));
    tokio::spawn(listen(url, writes));
}

/// The payload for what was written, or `None` when nothing was.
fn payload(outbox: &read_cache::Outbox) -> Option<String> {
    encode(outbox.everyone, outbox.organisations.iter())
}

/// The payload for the members whose streams to wake, or `None` when there are none.
fn inbox_payload(outbox: &wakeups::Outbox) -> Option<String> {
    encode(outbox.everyone, outbox.members.iter())
}

/// `<process>|<id>,<id>...`, or `<process>|*` for everything.
fn encode<'a>(everyone: bool, ids: impl ExactSizeIterator<Item = &'a Uuid>) -> Option<String> {
    if !everyone && ids.len() == 0 {
        return None;
    }
    let mut text = format!("{}|", *PROCESS);
    if everyone {
        text.push('*');
        return Some(text);
    }
    let prefix = text.len();
    for (i, org) in ids.enumerate() {
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

async fn send(db: Db, writes: bool) {
    let mut every = tokio::time::interval(FLUSH_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let written = if writes {
            payload(&read_cache::take_outbox())
        } else {
            None
        };
        let woken = inbox_payload(&wakeups::take_outbox());
        for (channel, text) in [(CHANNEL, written), (wakeups::CHANNEL, woken)] {
            let Some(text) = text else {
                continue;
            };
            if let Err(e) = notify(&db, channel, &text).await {
                // The others' answers age out by the time to live, and their streams read
                // on their own every poll interval; said once per failure.
                tracing::warn!(error = %e, channel, "could not tell the other server processes");
            }
        }
    }
}

async fn notify(db: &Db, channel: &str, text: &str) -> Result<(), String> {
    let mut conn = db.conn().await.map_err(|e| e.to_string())?;
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<Text, _>(channel)
        .bind::<Text, _>(text)
        .execute(&mut conn)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn listen(url: String, writes: bool) {
    let mut first = true;
    loop {
        match listen_once(&url, writes, &mut first).await {
            Ok(()) => tracing::warn!("the write notification listener lost its connection"),
            Err(e) => tracing::warn!(error = %e, "the write notification listener cannot connect"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Listen until the connection ends. After the first connection, a (re)connect drops every
/// cached answer and wakes every stream: notifications sent while this one was away are lost.
async fn listen_once(
    url: &str,
    writes: bool,
    first: &mut bool,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    let driver = tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let AsyncMessage::Notification(n) = message
                && tx
                    .send((n.channel().to_owned(), n.payload().to_owned()))
                    .is_err()
            {
                break;
            }
        }
    });
    let channels = if writes {
        format!("LISTEN {CHANNEL}; LISTEN {}", wakeups::CHANNEL)
    } else {
        format!("LISTEN {}", wakeups::CHANNEL)
    };
    let listening = client.batch_execute(&channels).await;
    if let Err(e) = listening {
        driver.abort();
        return Err(e);
    }
    if !std::mem::replace(first, false) {
        read_cache::tick(None);
        wakeups::fire_everyone_local();
    }
    while let Some((channel, text)) = rx.recv().await {
        match (channel == wakeups::CHANNEL, parse(&text)) {
            (false, Some(None)) => read_cache::tick(None),
            (false, Some(Some(orgs))) => {
                orgs.into_iter().for_each(|org| read_cache::tick(Some(org)))
            }
            (true, Some(None)) => wakeups::fire_everyone_local(),
            (true, Some(Some(members))) => wakeups::fire_local(&members),
            (_, None) => {}
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
