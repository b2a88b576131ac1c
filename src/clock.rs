//! The time the service goes by where a calendar decides something: the day of the peer daily
//! cap and of the cap on self-paid win points, the month of an allowance, the period a board
//! shows, an export's default range, the week of a streak, whether a challenge is running, when
//! a win happened, and how long a cached read lives.
//!
//! Production runs on the real clock. Tests hand the service a settable one
//! ([`Clock::settable`]) and keep its [`ClockControl`], so they can stand at 23:59 in Oslo and
//! then at 00:00 without waiting for midnight. The database goes by the same time: while a
//! settable clock is pinned, every connection the service checks out sets `frontline.now`,
//! which the SQL function `frontline_now()` (the default of the timestamps those rules read)
//! prefers to `now()`. The real clock never sets it, so production's SQL is `now()` as before.
//!
//! Audit timestamps, sessions, tokens and login throttling stay on the real clock: no test
//! needs to move them, and a pinned clock must not make a token expire.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// The service's clock: real, or settable through a [`ClockControl`]. Held as Rocket state;
/// clones share one time.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<Mutex<Setting>>>);

/// What a test set.
#[derive(Default)]
struct Setting {
    /// The wall time, while pinned.
    pinned: Option<DateTime<Utc>>,
    /// How much further than real time elapsed time has gone (cached reads age by it).
    ahead: Duration,
    /// Ever set: from then on every connection says what time it is, pinned or not, so that a
    /// pooled connection does not keep a time since unpinned.
    touched: bool,
}

/// The hand that sets a settable [`Clock`] (tests only).
#[derive(Clone)]
pub struct ClockControl(Arc<Mutex<Setting>>);

impl Clock {
    /// The real clock.
    pub fn real() -> Clock {
        Clock(None)
    }

    /// A clock that follows the real one until its control sets it.
    pub fn settable() -> (Clock, ClockControl) {
        let setting = Arc::new(Mutex::new(Setting::default()));
        (Clock(Some(Arc::clone(&setting))), ClockControl(setting))
    }

    fn read<T>(&self, f: impl FnOnce(&Setting) -> T) -> Option<T> {
        self.0
            .as_ref()
            .map(|s| f(&s.lock().unwrap_or_else(|poisoned| poisoned.into_inner())))
    }

    /// The wall time.
    pub fn now(&self) -> DateTime<Utc> {
        self.read(|s| s.pinned).flatten().unwrap_or_else(Utc::now)
    }

    /// The monotonic time, for lifetimes.
    pub fn instant(&self) -> Instant {
        Instant::now() + self.read(|s| s.ahead).unwrap_or_default()
    }

    /// What `frontline.now` must say on a connection checked out now: `None` to leave the
    /// connection alone (the real clock, or a settable one never set), else the pinned time
    /// in RFC 3339, or an empty string for the database's own time.
    pub fn database_setting(&self) -> Option<String> {
        self.read(|s| {
            s.touched
                .then(|| s.pinned.map(|at| at.to_rfc3339()).unwrap_or_default())
        })
        .flatten()
    }
}

impl ClockControl {
    fn write(&self, f: impl FnOnce(&mut Setting)) {
        let mut s = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        s.touched = true;
        f(&mut s);
    }

    /// Stand still at `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        self.write(|s| s.pinned = Some(at));
    }

    /// Let `by` pass: a pinned time moves on by it, and cached reads age by it.
    pub fn advance(&self, by: Duration) {
        self.write(|s| {
            s.ahead += by;
            if let Some(at) = s.pinned {
                s.pinned = Some(at + by);
            }
        });
    }

    /// Follow the real clock again.
    pub fn unpin(&self) {
        self.write(|s| s.pinned = None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_real_clock_leaves_the_database_alone() {
        let clock = Clock::real();
        assert_eq!(clock.database_setting(), None);
        let before = Utc::now();
        assert!(clock.now() >= before);
    }

    #[test]
    fn a_settable_clock_stands_where_it_is_set_and_moves_when_told() {
        let (clock, control) = Clock::settable();
        assert_eq!(
            clock.database_setting(),
            None,
            "untouched, it is the real clock"
        );
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 22, 59, 0).unwrap();
        control.set(at);
        assert_eq!(clock.clone().now(), at);
        assert_eq!(
            clock.database_setting().as_deref(),
            Some("2026-11-30T22:59:00+00:00")
        );
        let before = clock.instant();
        control.advance(Duration::from_secs(60));
        assert_eq!(clock.now(), at + Duration::from_secs(60));
        assert!(clock.instant() >= before + Duration::from_secs(60));
        control.unpin();
        assert_eq!(clock.database_setting().as_deref(), Some(""));
    }
}
