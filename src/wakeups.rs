//! Waking the open notification streams of members whose inbox changed, in this process and,
//! through `broadcast` (PostgreSQL `NOTIFY` on [`CHANNEL`]), in every other.
//!
//! A delivery notes its members ([`noted`]) inside its transaction; `db::transaction` wakes
//! them ([`fire`]) once it has committed, so a woken stream reads what committed. A wake only
//! makes a stream read its inbox again: every stream also reads it every `sse_poll_secs`, so
//! a lost wake (a `NOTIFY` lost with a listener's connection, a delivery outside
//! `db::transaction`) delays a notification, never loses it. Nothing is decided on a wake.
//!
//! Wakes are a coalescing [`tokio::sync::watch`] per member (a counter), not a queue: a stream
//! that was busy sees one wake for any number, and memory stays bounded by the open streams.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use tokio::sync::watch;
use uuid::Uuid;

/// The notification channel of inbox wakes (`broadcast` sends and listens).
pub const CHANNEL: &str = "frontline_inbox";

/// Members with an open stream in this process: their wake senders, alive while a stream
/// holds one.
static STREAMS: LazyLock<Mutex<HashMap<Uuid, Weak<watch::Sender<u64>>>>> =
    LazyLock::new(Default::default);

/// Wakes this process made that the other processes have not been told of yet.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Too many to name: every stream should read.
    pub everyone: bool,
    pub members: HashSet<Uuid>,
}

/// Past this many members in one flush, the others are told to wake everyone (`*`): a
/// `NOTIFY` payload must stay under 8000 bytes.
const MAX_NAMED: usize = 200;

static OUTBOX: LazyLock<Mutex<Outbox>> = LazyLock::new(Default::default);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A stream's subscription: woken when its member's inbox may have changed.
pub struct Subscription {
    _sender: Arc<watch::Sender<u64>>,
    receiver: watch::Receiver<u64>,
}

impl Subscription {
    /// Until the next wake (at once if one came since the last call).
    pub async fn changed(&mut self) {
        // The sender lives as long as this subscription: this never fails.
        let _ = self.receiver.changed().await;
        self.receiver.borrow_and_update();
    }
}

/// Subscribe to `member`'s wakes. Subscribe before reading, so that no wake falls between
/// the read and the wait.
pub fn subscribe(member: Uuid) -> Subscription {
    let mut streams = lock(&STREAMS);
    let sender = match streams.get(&member).and_then(Weak::upgrade) {
        Some(sender) => sender,
        None => {
            // Forget members whose streams all closed, now and then (amortised).
            if streams.len() >= 64 && streams.len().is_power_of_two() {
                streams.retain(|_, s| s.strong_count() > 0);
            }
            let sender = Arc::new(watch::Sender::new(0));
            streams.insert(member, Arc::downgrade(&sender));
            sender
        }
    };
    let mut receiver = sender.subscribe();
    receiver.mark_unchanged();
    Subscription {
        _sender: sender,
        receiver,
    }
}

/// Wake `members`' streams in this process.
pub fn fire_local(members: &[Uuid]) {
    let mut streams = lock(&STREAMS);
    for member in members {
        match streams.get(member).map(Weak::upgrade) {
            Some(Some(sender)) => sender.send_modify(|n| *n = n.wrapping_add(1)),
            Some(None) => {
                streams.remove(member);
            }
            None => {}
        }
    }
}

/// Wake every stream in this process (another process's wakes may have been missed).
pub fn fire_everyone_local() {
    let streams = lock(&STREAMS);
    for sender in streams.values().filter_map(Weak::upgrade) {
        sender.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Wake `members`' streams here and, within a flush, in the other processes.
pub fn fire(members: &[Uuid]) {
    if members.is_empty() {
        return;
    }
    fire_local(members);
    let mut outbox = lock(&OUTBOX);
    if outbox.everyone {
        return;
    }
    outbox.members.extend(members.iter().copied());
    if outbox.members.len() > MAX_NAMED {
        outbox.members.clear();
        outbox.everyone = true;
    }
}

/// What to tell the other processes, since the last call.
pub fn take_outbox() -> Outbox {
    std::mem::take(&mut *lock(&OUTBOX))
}

tokio::task_local! {
    static NOTED: std::cell::RefCell<Vec<Uuid>>;
}

/// The running transaction delivered to `members`: woken once it commits (see [`collect`]).
/// Outside one, nothing is noted (the streams' polling reads it).
pub fn noted(members: impl IntoIterator<Item = Uuid>) {
    let _ = NOTED.try_with(|n| n.borrow_mut().extend(members));
}

/// Run `work` noting whom it delivered to; answers them with its result. Nested calls note
/// into the outermost one, whose commit is the one that counts.
pub async fn collect<T>(work: impl Future<Output = T>) -> (T, Vec<Uuid>) {
    if NOTED.try_with(|_| ()).is_ok() {
        return (work.await, Vec::new());
    }
    NOTED
        .scope(std::cell::RefCell::new(Vec::new()), async move {
            let result = work.await;
            let mut members = NOTED.with(|n| std::mem::take(&mut *n.borrow_mut()));
            members.sort_unstable();
            members.dedup();
            (result, members)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_reaches_the_member_s_streams_and_coalesces() {
        let (ana, ben) = (Uuid::new_v4(), Uuid::new_v4());
        let mut a1 = subscribe(ana);
        let mut a2 = subscribe(ana);
        let mut b = subscribe(ben);
        fire_local(&[ana]);
        fire_local(&[ana]);
        tokio::time::timeout(std::time::Duration::from_secs(1), a1.changed())
            .await
            .unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(1), a2.changed())
            .await
            .unwrap();
        // Coalesced: no second wake waits.
        let again = tokio::time::timeout(std::time::Duration::from_millis(50), a1.changed()).await;
        assert!(again.is_err());
        let none = tokio::time::timeout(std::time::Duration::from_millis(50), b.changed()).await;
        assert!(none.is_err(), "Ben was not woken");
        fire_everyone_local();
        tokio::time::timeout(std::time::Duration::from_secs(1), b.changed())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn deliveries_are_noted_in_the_outermost_scope_only() {
        let m = Uuid::new_v4();
        let ((), outer) = collect(async {
            noted([m]);
            let ((), inner) = collect(async { noted([m]) }).await;
            assert!(inner.is_empty());
        })
        .await;
        assert_eq!(outer, vec![m]);
        noted([m]); // outside any scope: nothing, no panic
    }
}
