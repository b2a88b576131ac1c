//! The leaderboards' read cache: serialised answers per caller and parameter set, and what
//! every caller of a board shares (a team ranking, a member board's histogram). Invalidation
//! is the write clock's (see `read_cache`).

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::queries::{Histogram, MemberWindowRow, TeamRow};
use super::{Scope, TeamMetric, period};
use crate::clock::Clock;
use crate::read_cache::{Lag, Shelf, Weigh};
use crate::vocabulary::Dimension;

/// The leaderboards' shelves, held as Rocket state. Clones share them.
#[derive(Clone)]
pub struct BoardCache {
    /// Serialised leaderboard answers, keyed by everything the answer depends on.
    pub boards: Shelf<BoardKey, Arc<[u8]>>,
    /// Whole team rankings (every team of a board), shared by all callers.
    pub team_boards: Shelf<String, Arc<Vec<TeamRow>>>,
    /// Member boards' histograms of totals (for ranks), shared by all callers.
    pub histograms: Shelf<String, Arc<Histogram>>,
    /// Member boards' top N (per board and N), shared by all callers: a caller's answer only
    /// reads their own rows (themselves and their neighbours).
    pub tops: Shelf<String, Arc<Vec<MemberWindowRow>>>,
}

impl BoardCache {
    /// Entries live `ttl` at most (zero turns the cache off); answers take up to `bytes`, and
    /// the shared rankings and histograms up to as much again. An answer lags writes made
    /// through other requests by `lag` at most, except for the members they paid, who see them
    /// at once: while points flow, each answer is recomputed a few times a second instead of
    /// on every write.
    pub fn new(ttl: Duration, bytes: u64, lag: Duration, clock: &Clock) -> Self {
        // An answer is computed from a shared value, so the two share the bound: a third for
        // the shared values (one per board, read by every caller: cheap to keep fresher),
        // two thirds for the answers (one per caller and board: the many).
        let (answers, shared) = (Lag::within(lag * 2 / 3), Lag::within(lag / 3));
        BoardCache {
            boards: Shelf::new("board_answers", ttl, bytes, 4096, clock).lagging(answers),
            team_boards: Shelf::new("team_rankings", ttl, bytes / 2, 256 << 10, clock)
                .lagging(shared),
            histograms: Shelf::new("board_histograms", ttl, bytes / 4, 16 << 10, clock)
                .lagging(shared),
            tops: Shelf::new("board_tops", ttl, bytes / 4, 2 << 10, clock).lagging(shared),
        }
    }
}

/// Everything a board answer depends on besides the data: the answers' key. A plain value
/// rather than a formatted string, because it is built on every request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BoardKey {
    pub(super) board: BoardKind,
    pub(super) organisation: Uuid,
    pub(super) member: Uuid,
    pub(super) member_team: Option<Uuid>,
    pub(super) scope: Scope,
    pub(super) team_id: Option<Uuid>,
    pub(super) period: period::PeriodKind,
    pub(super) start: chrono::NaiveDate,
    pub(super) dimension: Option<Dimension>,
    pub(super) limit: i64,
    pub(super) around: i64,
    pub(super) metric: TeamMetric,
    pub(super) value: Option<Uuid>,
    pub(super) rank_by: super::RankBy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum BoardKind {
    Members,
    Teams,
}

impl Weigh for BoardKey {
    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

impl Weigh for Arc<Vec<TeamRow>> {
    fn bytes(&self) -> usize {
        self.iter()
            .map(|r| std::mem::size_of::<TeamRow>() + r.name.len())
            .sum::<usize>()
            + 32
    }
}

impl Weigh for Arc<Vec<MemberWindowRow>> {
    fn bytes(&self) -> usize {
        self.iter()
            .map(|r| std::mem::size_of::<MemberWindowRow>() + r.display_name.len() + r.part.len())
            .sum::<usize>()
            + 32
    }
}

impl Weigh for Arc<Histogram> {
    fn bytes(&self) -> usize {
        self.distinct() * 16 + 64
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::read_cache::{SERIAL, wrote};

    #[tokio::test]
    async fn shared_values_load_once_until_a_write() {
        let _serial = SERIAL.lock().await;
        let cache = BoardCache::new(
            Duration::from_secs(60),
            1 << 20,
            Duration::ZERO,
            &Clock::real(),
        );
        let org = Uuid::new_v4();
        let loads = std::sync::atomic::AtomicUsize::new(0);
        let load = async || -> Result<Arc<Histogram>, ()> {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(Arc::new(Histogram::new(vec![(10, 2)])))
        };
        for _ in 0..3 {
            let h = cache
                .histograms
                .get_or_load("b".into(), org, None, load)
                .await;
            assert_eq!(h.map(|h| h.members()), Ok(2));
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        wrote(Some(org));
        let _ = cache
            .histograms
            .get_or_load("b".into(), org, None, load)
            .await;
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }
}
