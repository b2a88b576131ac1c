//! The write clock: what was written since a cached value was read (per organisation, per
//! member a write paid), and the outbox of writes the other server processes are told about.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, RwLock};

use uuid::Uuid;

/// The write clock. Process-wide, so any code that writes can tick it without being handed
/// state; several servers in one process (the tests) only invalidate each other more often.
struct Clock {
    now: AtomicU64,
    /// Last tick of a write whose organisation is unknown: it invalidates everything.
    everyone: AtomicU64,
    /// Last tick of a write per organisation.
    organisations: RwLock<HashMap<Uuid, u64>>,
}

static CLOCK: LazyLock<Clock> = LazyLock::new(|| Clock {
    now: AtomicU64::new(0),
    everyone: AtomicU64::new(0),
    organisations: RwLock::new(HashMap::new()),
});

/// The clock before a read: store what the read returns with this mark.
pub fn mark() -> u64 {
    CLOCK.now.load(Ordering::SeqCst)
}

/// A write to `organisation` (or to any, when `None`) has committed: this process's entries
/// of it go at once, and the other server processes are told (`broadcast`).
pub fn wrote(organisation: Option<Uuid>) {
    tick(organisation);
    let mut outbox = OUTBOX
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match organisation {
        Some(org) if !outbox.everyone => {
            outbox.organisations.insert(org);
        }
        Some(_) => {}
        None => outbox.everyone = true,
    }
}

/// Writes this process made that the other processes have not been told about yet.
#[derive(Debug, Default)]
pub struct Outbox {
    pub everyone: bool,
    pub organisations: std::collections::HashSet<Uuid>,
}

static OUTBOX: LazyLock<Mutex<Outbox>> = LazyLock::new(Default::default);

/// What has been written since the last call, for `broadcast` to send.
pub fn take_outbox() -> Outbox {
    std::mem::take(
        &mut *OUTBOX
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    )
}

/// Tick the clock for a write to `organisation` (or to any, when `None`): this process's
/// entries of it go. [`wrote`] also tells the other processes; `broadcast` calls this alone
/// for what they told it, so nothing echoes back and forth.
pub fn tick(organisation: Option<Uuid>) {
    let tick = CLOCK.now.fetch_add(1, Ordering::SeqCst) + 1;
    match organisation {
        Some(org) => {
            let mut map = CLOCK
                .organisations
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let last = map.entry(org).or_insert(0);
            *last = (*last).max(tick);
        }
        None => {
            CLOCK.everyone.fetch_max(tick, Ordering::SeqCst);
        }
    }
}

/// No write to `organisation` has ticked the clock past `mark`.
pub(super) fn unchanged_since(organisation: Uuid, mark: u64) -> bool {
    if CLOCK.everyone.load(Ordering::SeqCst) > mark {
        return false;
    }
    let map = CLOCK
        .organisations
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    map.get(&organisation).is_none_or(|&tick| tick <= mark)
}

/// Last tick of a write that paid a member, per stripe of members (a member's stripe is a
/// hash of their id: two members sharing one only invalidate each other's entries more
/// often). What keeps "a point shows at once to the members it concerns" on shelves that let
/// other writes age in ([`Shelf::lagging`]).
const MEMBER_STRIPES: usize = 4096;

static MEMBERS: LazyLock<Box<[AtomicU64]>> =
    LazyLock::new(|| (0..MEMBER_STRIPES).map(|_| AtomicU64::new(0)).collect());

fn member_stripe(member: &Uuid) -> &'static AtomicU64 {
    let bits = member.as_u128();
    let hash = (bits as u64) ^ ((bits >> 64) as u64);
    &MEMBERS[(hash % MEMBER_STRIPES as u64) as usize]
}

/// Writes that paid `members` have committed (through this process): entries read for them
/// go at once, on every shelf. [`paid`] collects them inside a transaction, and
/// `db::transaction` calls this after its commit.
pub fn members_paid(members: &[Uuid]) {
    if members.is_empty() {
        return;
    }
    let tick = CLOCK.now.fetch_add(1, Ordering::SeqCst) + 1;
    for member in members {
        member_stripe(member).fetch_max(tick, Ordering::SeqCst);
    }
}

/// No write that paid `member` has ticked the clock past `mark`.
pub(super) fn member_unchanged_since(member: &Uuid, mark: u64) -> bool {
    member_stripe(member).load(Ordering::SeqCst) <= mark
}

tokio::task_local! {
    /// The members the writes of the running transaction paid (see [`paid`]).
    static PAID: std::cell::RefCell<Vec<Uuid>>;
}

/// The running transaction pays `members` (called by the ledger): noted, so that the
/// transaction's runner ([`collect_paid`]) ticks their entries once it has committed. Outside
/// one, nothing is noted: the organisation's write tick still covers them.
pub fn paid(members: impl IntoIterator<Item = Uuid>) {
    let _ = PAID.try_with(|paid| paid.borrow_mut().extend(members));
}

/// Run `work` noting the members it pays ([`paid`]); answers them with its result. Nested
/// calls note into the outermost one, whose commit is the one that counts.
pub async fn collect_paid<T>(work: impl Future<Output = T>) -> (T, Vec<Uuid>) {
    if PAID.try_with(|_| ()).is_ok() {
        return (work.await, Vec::new());
    }
    PAID.scope(std::cell::RefCell::new(Vec::new()), async move {
        let result = work.await;
        let members = PAID.with(|paid| std::mem::take(&mut *paid.borrow_mut()));
        (result, members)
    })
    .await
}
