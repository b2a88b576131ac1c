//! [`Shelf`]: one kind of cached read, invalidated by the write clock (`ticks`).

use std::hash::Hash;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::ticks::{mark, member_unchanged_since, unchanged_since};
use crate::clock;

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

    /// At most `bound` behind a write: refreshed in the background once three quarters of it
    /// old (while requests come, that is how far behind it is; the last quarter leaves room
    /// for the refresh to land before anyone would have to wait for one), never served once
    /// `bound` old.
    pub fn within(bound: Duration) -> Lag {
        Lag {
            refresh_after: bound * 3 / 4,
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

    /// The value under `key` if it may be served to `asker` as it is (neither missing nor due
    /// for a reload), counted as a hit; else `None`, counted as a miss: for a value its reader
    /// can load more cheaply together with something else than alone (the caller stores it
    /// with [`Shelf::put`], under a [`mark`] taken before that read).
    pub fn fresh(&self, key: &K, asker: Option<&Uuid>) -> Option<V> {
        let value = self.lookup(key, asker).ok();
        match value {
            Some(_) => self.0.hits.increment(1),
            None => self.0.misses.increment(1),
        }
        value
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_cache::{SERIAL, wrote};

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
    fn fresh_serves_only_what_needs_no_reload() {
        let _serial = SERIAL.blocking_lock();
        let (clock, control) = clock::Clock::settable();
        let lag = Lag::within(Duration::from_millis(400));
        let shelf: Shelf<String, Arc<[u8]>> =
            Shelf::new("test", Duration::from_secs(60), 1 << 20, 64, &clock).lagging(lag);
        let (org, paid) = (Uuid::new_v4(), Uuid::new_v4());
        let key = "top".to_string();
        assert!(shelf.fresh(&key, None).is_none(), "missing");
        shelf.put(key.clone(), org, mark(), Arc::from(&b"1"[..]));
        wrote(Some(org));
        assert!(shelf.fresh(&key, None).is_some(), "a write ages in");
        crate::read_cache::members_paid(&[paid]);
        assert!(
            shelf.fresh(&key, Some(&paid)).is_none(),
            "never for whom a later write paid"
        );
        control.advance(lag.refresh_after);
        assert!(shelf.fresh(&key, None).is_none(), "due for a refresh");
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
