//! The read cache's machinery for the hot read paths (the session behind an access token, an
//! organisation's settings, leaderboard answers): the write clock, [`Shelf`] (one kind of
//! cached read) and the fairing that ticks the clock. Each domain owns its shelves and what
//! they hold (`auth::SessionCache`, `organisations::OrganisationCache`,
//! `leaderboards::cache::BoardCache`); this file knows none of them, so every module may use it.
//!
//! Leaderboards are read far more often than they change, and a board that has to look at
//! the database costs several index scans; served from memory it costs a hash lookup. The
//! promise that a point is on the board as soon as the request that created it has answered
//! still holds, because of how entries are invalidated:
//!
//! - A process-wide write clock ticks after every write to an organisation: the
//!   [`InvalidateOnWrite`] fairing ticks it when a state-changing request (POST, PUT, PATCH,
//!   DELETE) has been handled, so after its transaction committed and before its response is
//!   sent, for the caller's organisation (requests the authentication guards refused wrote
//!   nothing; handlers without a caller say what they wrote with a [`WriteNote`], else every
//!   organisation's entries go). Code that writes inside a safe request (completing a
//!   challenge on a read) calls [`wrote`] itself.
//! - A reader notes the clock ([`mark`]) before it reads the database and stores what it read
//!   with that mark. An entry is served only while no write to its organisation has ticked
//!   the clock past its mark: a write that committed before the read began is in the entry,
//!   and any later write invalidates it.
//! - Other server processes on the database are told what was written ([`wrote`] fills an
//!   outbox that `broadcast` sends through PostgreSQL `NOTIFY` every 100 ms) and tick their
//!   clocks ([`tick`]) within a fraction of a second.
//! - Writes no server process made (the CLI, SQL) are bounded by the time to live,
//!   `read_cache_ttl_ms` (10 s by default; 0 turns the cache off; each entry lives between
//!   half of it and all of it, so that entries read together do not expire together).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock};
use std::time::{Duration, Instant};

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::Method;
use rocket::{Request, Response};
use uuid::Uuid;

use crate::clock;

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
fn unchanged_since(organisation: Uuid, mark: u64) -> bool {
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
fn member_unchanged_since(member: &Uuid, mark: u64) -> bool {
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

#[derive(Clone)]
struct Entry<V> {
    organisation: Uuid,
    mark: u64,
    /// When it was stored (by the shelf's clock): how long a lagging shelf may keep it.
    stored: Instant,
    expires: Instant,
    value: V,
}

/// How long a lagging shelf's entry may outlive a write of its organisation made through
/// another request ([`Shelf::lagging`]).
#[derive(Debug, Clone, Copy)]
pub struct Lag {
    /// Served as it is until this old, whatever was written since.
    pub refresh_after: Duration,
    /// Then served while it is reloaded in the background, until this old; after that a
    /// written entry is loaded before the answer.
    pub serve_for: Duration,
}

impl Lag {
    /// Written entries are never served (the default).
    pub const NONE: Lag = Lag {
        refresh_after: Duration::ZERO,
        serve_for: Duration::ZERO,
    };

    /// At most `bound` behind a write: refreshed once half of it old (while requests come,
    /// that is how far behind it is), never served once `bound` old.
    pub fn within(bound: Duration) -> Lag {
        Lag {
            refresh_after: bound / 2,
            serve_for: bound,
        }
    }
}

/// Weighs an entry by the bytes it holds, so the cache's memory is bounded.
#[derive(Clone)]
struct Bytes;

impl<K: Weigh, V: Weigh> quick_cache::Weighter<K, Entry<V>> for Bytes {
    fn weight(&self, key: &K, entry: &Entry<V>) -> u64 {
        (key.bytes() + entry.value.bytes() + 64) as u64
    }
}

/// Approximate heap and inline size of a cached key or value.
pub trait Weigh {
    fn bytes(&self) -> usize;
}

impl Weigh for String {
    fn bytes(&self) -> usize {
        self.len() + 24
    }
}

impl Weigh for Arc<[u8]> {
    fn bytes(&self) -> usize {
        self.len() + 16
    }
}

/// One kind of cached read. Clones share it, so that a refresh can outlive its request.
pub struct Shelf<K, V>(Arc<ShelfInner<K, V>>);

impl<K, V> Clone for Shelf<K, V> {
    fn clone(&self) -> Self {
        Shelf(Arc::clone(&self.0))
    }
}

struct ShelfInner<K, V> {
    entries: Option<quick_cache::sync::Cache<K, Entry<V>, Bytes>>,
    ttl: Duration,
    lag: Lag,
    /// What entries' lifetimes are measured by.
    clock: clock::Clock,
    /// Loads take the lock of their key's stripe, so that one of them reads the database
    /// while the others wait for it or, when the entry only expired, are served the expiring
    /// one.
    loading: [Arc<tokio::sync::Mutex<()>>; 16],
    /// Reads answered from memory, and reads the request loaded itself (`/metrics`).
    hits: metrics::Counter,
    misses: metrics::Counter,
}

/// Where a value that is not fresh comes from.
enum Stale<V> {
    /// Written to since it was read, or never read: load it before answering.
    Missing,
    /// Only older than its time to live: serve it while it is reloaded.
    Expired(V),
}

impl<K: Eq + Hash + Clone + Weigh, V: Clone + Weigh> Shelf<K, V> {
    /// Entries live for `ttl` at most (zero turns the shelf off) and weigh `bytes` in all;
    /// `typical_entry` sizes the index. Lifetimes go by `clock`. `kind` names the shelf in
    /// `/metrics` (`frontline_read_cache_hits_total{kind=...}`); its counters are registered
    /// here, so a shelf built before the metrics recorder was installed counts nothing.
    pub fn new(
        kind: &'static str,
        ttl: Duration,
        bytes: u64,
        typical_entry: u64,
        clock: &clock::Clock,
    ) -> Self {
        let entries = (!ttl.is_zero() && bytes > 0).then(|| {
            let items = (bytes / typical_entry.max(1)).clamp(16, 1 << 20) as usize;
            quick_cache::sync::Cache::with_weighter(items, bytes, Bytes)
        });
        Shelf(Arc::new(ShelfInner {
            entries,
            ttl,
            lag: Lag::NONE,
            clock: clock.clone(),
            loading: std::array::from_fn(|_| Arc::new(tokio::sync::Mutex::new(()))),
            hits: metrics::counter!("frontline_read_cache_hits_total", "kind" => kind),
            misses: metrics::counter!("frontline_read_cache_misses_total", "kind" => kind),
        }))
    }

    /// Let writes age in: an entry of an organisation written to since it was read is still
    /// served as `lag` says, except to the members those writes paid (see [`members_paid`]).
    /// For what many callers read and may see a moment late (boards), so that a stream of
    /// writes does not reload every entry on every write.
    pub fn lagging(self, lag: Lag) -> Self {
        match Arc::try_unwrap(self.0) {
            Ok(mut inner) => {
                inner.lag = lag;
                Shelf(Arc::new(inner))
            }
            Err(shared) => Shelf(shared),
        }
    }

    fn stripe(&self, key: &K) -> &Arc<tokio::sync::Mutex<()>> {
        use std::hash::{BuildHasher, RandomState};
        static STRIPES: LazyLock<RandomState> = LazyLock::new(RandomState::new);
        &self.0.loading[(STRIPES.hash_one(key) % 16) as usize]
    }

    /// The entry under `key` if it is fresh for `asker` (the member the answer is for, if
    /// any), else what kind of stale it is.
    fn lookup(&self, key: &K, asker: Option<&Uuid>) -> Result<V, Stale<V>> {
        let entries = self.0.entries.as_ref().ok_or(Stale::Missing)?;
        let Some(e) = entries.get(key) else {
            return Err(Stale::Missing);
        };
        if asker.is_some_and(|m| !member_unchanged_since(m, e.mark)) {
            return Err(Stale::Missing);
        }
        let now = self.0.clock.instant();
        if unchanged_since(e.organisation, e.mark) {
            return if now < e.expires {
                Ok(e.value)
            } else {
                Err(Stale::Expired(e.value))
            };
        }
        let age = now.saturating_duration_since(e.stored);
        let lag = self.0.lag;
        if age < lag.refresh_after && now < e.expires {
            Ok(e.value)
        } else if age < lag.serve_for {
            Err(Stale::Expired(e.value))
        } else {
            Err(Stale::Missing)
        }
    }

    /// Wait for the stripe of `key`; then, unless the request waited for has stored it, load
    /// it with the clock read before `since` (or now) and store it.
    async fn load_now<E>(
        &self,
        key: K,
        organisation: Uuid,
        asker: Option<&Uuid>,
        since: Option<u64>,
        load: impl AsyncFnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        let _loading = self.stripe(&key).lock().await;
        if let Ok(value) = self.lookup(&key, asker) {
            // The request waited for has loaded it.
            self.0.hits.increment(1);
            return Ok(value);
        }
        self.0.misses.increment(1);
        let at = since.unwrap_or_else(mark);
        let value = load().await?;
        self.put(key, organisation, at, value.clone());
        Ok(value)
    }

    /// A value shared by many requests (a board's ranking or histogram), loaded by one of them
    /// at a time. A value that was written to since it was read is never served; one that only
    /// outlived its time to live is served to the others while one request reloads it.
    ///
    /// `asker`: the member the value is read for, if any: a write that paid them is never
    /// aged in (see [`Shelf::lagging`]).
    pub async fn get_or_load<E>(
        &self,
        key: K,
        organisation: Uuid,
        asker: Option<&Uuid>,
        load: impl AsyncFnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        if self.0.entries.is_none() {
            self.0.misses.increment(1);
            return load().await;
        }
        match self.lookup(&key, asker) {
            Ok(value) => {
                self.0.hits.increment(1);
                Ok(value)
            }
            Err(Stale::Expired(value)) => {
                let Ok(_loading) = self.stripe(&key).try_lock() else {
                    // Another request is reloading it.
                    self.0.hits.increment(1);
                    return Ok(value);
                };
                self.0.misses.increment(1);
                let at = mark();
                let value = load().await?;
                self.put(key, organisation, at, value.clone());
                Ok(value)
            }
            Err(Stale::Missing) => self.load_now(key, organisation, asker, None, load).await,
        }
    }

    /// Like [`Shelf::get_or_load`], but a value that only outlived its time to live is served
    /// to every request, the one that noticed included, and reloaded in the background. For the
    /// values on every request's path (sessions, organisation settings, board answers): the
    /// time to live bounds writes made outside this process, and no request should wait on the
    /// database for that (under load, the round trip of the request that reloaded was the
    /// slowest 1% of board requests).
    ///
    /// `since` is the [`mark`] taken before the first read the value depends on, when that
    /// happened before this call (e.g. the organisation's settings its key was computed from);
    /// by default the mark is taken just before `load` runs.
    pub async fn get_or_refresh<E, F, Fut>(
        &self,
        key: K,
        organisation: Uuid,
        asker: Option<&Uuid>,
        since: Option<u64>,
        load: F,
    ) -> Result<V, E>
    where
        K: Send + Sync + 'static,
        V: Send + Sync + 'static,
        E: std::fmt::Display + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        if self.0.entries.is_none() {
            self.0.misses.increment(1);
            return load().await;
        }
        match self.lookup(&key, asker) {
            Ok(value) => {
                self.0.hits.increment(1);
                Ok(value)
            }
            Err(Stale::Expired(value)) => {
                // Served from memory: a hit, whatever the refresh behind it costs.
                self.0.hits.increment(1);
                // No lock: another request is reloading it already.
                if let Ok(loading) = Arc::clone(self.stripe(&key)).try_lock_owned() {
                    let shelf = self.clone();
                    tokio::spawn(async move {
                        let _loading = loading;
                        let at = since.unwrap_or_else(mark);
                        match load().await {
                            Ok(value) => shelf.put(key, organisation, at, value),
                            Err(e) => {
                                // The next request loads it and answers with the error.
                                tracing::warn!(error = %e, "read cache: a background refresh failed");
                                if let Some(entries) = &shelf.0.entries {
                                    entries.remove(&key);
                                }
                            }
                        }
                    });
                }
                Ok(value)
            }
            Err(Stale::Missing) => {
                self.load_now(key, organisation, asker, since, async move || load().await)
                    .await
            }
        }
    }

    /// The value stored under `key`, unless its organisation was written to since it was read
    /// or it is older than the time to live.
    #[cfg(test)]
    pub fn get(&self, key: &K) -> Option<V> {
        self.lookup(key, None).ok()
    }

    /// Store what was read after `mark` was taken.
    pub fn put(&self, key: K, organisation: Uuid, mark: u64, value: V) {
        if let Some(entries) = &self.0.entries {
            // Each entry lives between half the time to live and all of it: entries filled
            // together (a server's first minute, a write that invalidated them all) would
            // otherwise expire together and be read again all at once.
            let life = self.0.ttl.mul_f64(0.5 + 0.5 * rand::random::<f64>());
            let now = self.0.clock.instant();
            entries.insert(
                key,
                Entry {
                    organisation,
                    mark,
                    stored: now,
                    expires: now + life,
                    value,
                },
            );
        }
    }
}

impl Weigh for Uuid {
    fn bytes(&self) -> usize {
        16
    }
}

/// The write clock is process-wide: tests that tick it, here and in the domains' caches, run
/// one at a time (a write to every organisation would invalidate another test's entries).
#[cfg(test)]
pub(crate) static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What a state-changing request may have changed, as far as cached reads care.
#[derive(Debug, Clone, Copy)]
enum Changed {
    /// The handler did not run (authentication failed) or says it changed nothing cached.
    Nothing,
    /// The organisation, and the member who wrote (who sees what they wrote at once, on
    /// every shelf).
    Organisation(Uuid, Option<Uuid>),
}

/// Request-local: set by the authentication guards (the caller's organisation, or nothing
/// when they refuse the request) and by handlers without a caller through [`WriteNote`].
#[derive(Default)]
pub struct Noted(Mutex<Option<Changed>>);

impl Noted {
    fn set(&self, changed: Changed) {
        let mut slot = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // A later refusal by another guard does not hide an organisation already known.
        if !matches!(
            (*slot, changed),
            (Some(Changed::Organisation(..)), Changed::Nothing)
        ) {
            *slot = Some(changed);
        }
    }
}

/// The request is authenticated for `organisation` (as `member`, when a member makes it):
/// its writes are that organisation's.
pub fn authenticated(req: &Request<'_>, organisation: Uuid, member: Option<Uuid>) {
    req.local_cache(Noted::default)
        .set(Changed::Organisation(organisation, member));
}

/// The request was refused before its handler ran: it wrote nothing.
pub fn refused(req: &Request<'_>) {
    req.local_cache(Noted::default).set(Changed::Nothing);
}

/// For handlers without an authenticated caller (login, refresh, invites): say what the
/// request changed, so that the fairing does not invalidate every organisation's entries.
pub struct WriteNote<'r>(&'r Noted);

impl WriteNote<'_> {
    pub fn organisation(&self, organisation: Uuid) {
        self.0.set(Changed::Organisation(organisation, None));
    }

    pub fn nothing_cached(&self) {
        self.0.set(Changed::Nothing);
    }
}

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for WriteNote<'r> {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> rocket::request::Outcome<Self, Self::Error> {
        rocket::request::Outcome::Success(WriteNote(req.local_cache(Noted::default)))
    }
}

/// Ticks the write clock after every state-changing request (see the module documentation).
pub struct InvalidateOnWrite;

#[rocket::async_trait]
impl Fairing for InvalidateOnWrite {
    fn info(&self) -> Info {
        Info {
            name: "read cache invalidation",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, _res: &mut Response<'r>) {
        if matches!(req.method(), Method::Get | Method::Head | Method::Options) {
            return;
        }
        let noted = *req
            .local_cache(Noted::default)
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match noted {
            Some(Changed::Nothing) => {}
            Some(Changed::Organisation(org, member)) => {
                // Whoever wrote sees it at once, on boards too (read your own writes).
                if let Some(member) = member {
                    members_paid(&[member]);
                }
                wrote(Some(org));
            }
            // Nobody said: assume it may have changed anything.
            None => wrote(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_after_the_mark_invalidates_and_a_write_before_it_does_not() {
        let _serial = SERIAL.blocking_lock();
        let shelf: Shelf<String, Arc<[u8]>> = Shelf::new(
            "test",
            Duration::from_secs(60),
            1 << 20,
            64,
            &clock::Clock::real(),
        );
        let (org, other) = (Uuid::new_v4(), Uuid::new_v4());
        wrote(Some(org));
        let before = mark();
        shelf.put("board".into(), org, before, Arc::from(&b"{}"[..]));
        assert!(shelf.get(&"board".to_string()).is_some());
        wrote(Some(other));
        assert!(
            shelf.get(&"board".to_string()).is_some(),
            "another organisation's write leaves it"
        );
        wrote(Some(org));
        assert!(shelf.get(&"board".to_string()).is_none());
        let after = mark();
        shelf.put("board".into(), org, after, Arc::from(&b"{}"[..]));
        assert!(shelf.get(&"board".to_string()).is_some());
        wrote(None);
        assert!(shelf.get(&"board".to_string()).is_none());
    }

    #[test]
    fn a_zero_time_to_live_turns_it_off() {
        let shelf: Shelf<String, Arc<[u8]>> =
            Shelf::new("test", Duration::ZERO, 1 << 20, 64, &clock::Clock::real());
        let org = Uuid::new_v4();
        shelf.put("board".into(), org, mark(), Arc::from(&b"{}"[..]));
        assert!(shelf.get(&"board".to_string()).is_none());
    }

    #[tokio::test]
    async fn an_expired_value_is_served_while_it_is_refreshed_but_a_written_one_is_not() {
        let _serial = SERIAL.lock().await;
        let ttl = Duration::from_millis(200);
        let (clock, control) = clock::Clock::settable();
        let shelf: Shelf<String, Arc<[u8]>> = Shelf::new("test", ttl, 1 << 20, 64, &clock);
        let org = Uuid::new_v4();
        let key = || "board".to_string();
        let load = |v: &'static [u8]| move || async move { Ok::<_, String>(Arc::from(v)) };
        let first = shelf
            .get_or_refresh(key(), org, None, None, load(b"1"))
            .await;
        assert_eq!(first.as_deref(), Ok(&b"1"[..]));
        control.advance(ttl);
        let expired = shelf
            .get_or_refresh(key(), org, None, None, load(b"2"))
            .await;
        assert_eq!(
            expired.as_deref(),
            Ok(&b"1"[..]),
            "served at once, not waited for"
        );
        let mut refreshed = None;
        for _ in 0..100 {
            refreshed = shelf.get(&key());
            if refreshed.as_deref() == Some(&b"2"[..]) {
                break;
            }
            // The refresh runs on this test's one thread once it yields.
            tokio::task::yield_now().await;
        }
        assert_eq!(
            refreshed.as_deref(),
            Some(&b"2"[..]),
            "refreshed in the background"
        );
        wrote(Some(org));
        let written = shelf
            .get_or_refresh(key(), org, None, None, load(b"3"))
            .await;
        assert_eq!(
            written.as_deref(),
            Ok(&b"3"[..]),
            "after a write, loaded before answering"
        );
    }
}
