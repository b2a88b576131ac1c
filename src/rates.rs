//! Members' budgets of what costs the service more than a lookup, counted in PostgreSQL so
//! that every server process on the database spends from the same budget.
//!
//! - `board`: a leaderboard computed because the read cache could not answer, for the boards
//!   summed when asked (by company value, by distinct givers). A cached answer costs nothing;
//!   a background refresh of one counts like any other computation.
//! - `report`: a report of a recognition or a comment.
//! - `comment`: a comment, on a recognition or on a win.
//!
//! Each is a budget per member per fixed window (`uncached_boards_per_member` per
//! `uncached_boards_window_secs`, ...). A request *reserves* before it does the work, by one
//! atomic upsert of the member's row for the action ([`Rates::spend`]): concurrent requests
//! meet on the row's lock, so exactly the budget of them get through, whichever server process
//! serves them. The window starts with the first reservation after the previous one ended; a
//! spent budget answers `429` with `Retry-After` (the seconds left in the window), and a refused
//! attempt spends nothing. A reservation is not given back when the work then fails (a `404`,
//! a `409`): it was still asked for.
//!
//! Times are the database's `frontline_now()` (the tests' clock when they set one, else
//! `now()`): one clock for every process, whatever their own clocks say. Rows are reused (a
//! window over is restarted in place), so the table holds at most members x actions rows;
//! every process also deletes rows whose window is over ([`purge`], every minute).

use std::time::Duration;

use diesel::sql_types::{BigInt, Integer, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::auth::Caller;
use crate::config::Settings;
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::vocabulary::vocabulary;

vocabulary!(
    /// What a member's budget is for.
    Rated {
        /// A board summed when asked (by value, by distinct givers) that the cache could not
        /// answer.
        Board = "board",
        /// A report of a recognition or a comment.
        Report = "report",
        /// A comment on a recognition or a win.
        Comment = "comment",
    } field = "action"
);

/// So many per member per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub per_window: u32,
    pub window: Duration,
}

/// The longest window a setting may ask for (a longer one is taken as this).
const LONGEST_WINDOW_SECS: u64 = 30 * 24 * 3600;

impl Budget {
    /// At least one per window, and a window of a second to 30 days.
    fn new(per_window: u32, window_secs: u64) -> Budget {
        Budget {
            per_window: per_window.max(1),
            window: Duration::from_secs(window_secs.clamp(1, LONGEST_WINDOW_SECS)),
        }
    }
}

/// Every action's budget, from configuration; Rocket state.
#[derive(Debug, Clone)]
pub struct Rates {
    board: Budget,
    report: Budget,
    comment: Budget,
}

/// How often each server process deletes rows whose window is over.
const PURGE_EVERY: Duration = Duration::from_secs(60);

impl Rates {
    pub fn new(settings: &Settings) -> Rates {
        Rates {
            board: Budget::new(
                settings.uncached_boards_per_member,
                settings.uncached_boards_window_secs,
            ),
            report: Budget::new(settings.reports_per_member, settings.reports_window_secs),
            comment: Budget::new(settings.comments_per_member, settings.comments_window_secs),
        }
    }

    pub fn budget(&self, action: Rated) -> Budget {
        match action {
            Rated::Board => self.board,
            Rated::Report => self.report,
            Rated::Comment => self.comment,
        }
    }

    /// Reserve one `action` from the caller's budget, or answer `429` with the seconds left in
    /// the window. One statement, outside any transaction of the caller's: run it before the
    /// work, on the request's connection.
    pub async fn spend(
        &self,
        conn: &mut AsyncPgConnection,
        caller: &Caller,
        action: Rated,
    ) -> AppResult<()> {
        #[derive(diesel::QueryableByName)]
        struct Spent {
            #[diesel(sql_type = Integer)]
            used: i32,
            #[diesel(sql_type = BigInt)]
            wait_ms: i64,
        }
        let budget = self.budget(action);
        let per_window = i32::try_from(budget.per_window).unwrap_or(i32::MAX - 1);
        // The conflict takes the row's lock and sees its latest committed version, so
        // concurrent reservations count one another. A window is over when it has ended, or
        // when it ends further away than a whole window (the setting was lowered). Within a
        // window the count stops at the budget + 1: whatever is refused spends nothing, and
        // the row always answers, with the window's end.
        let spent: Spent = diesel::sql_query(
            "INSERT INTO member_rates AS r (organisation_id, member_id, action, used, window_ends_at)
             VALUES ($1, $2, $3, 1, frontline_now() + $5 * interval '1 millisecond')
             ON CONFLICT (organisation_id, member_id, action) DO UPDATE SET
                 used = CASE WHEN r.window_ends_at <= frontline_now()
                               OR r.window_ends_at > frontline_now() + $5 * interval '1 millisecond'
                             THEN 1 ELSE least(r.used, $4) + 1 END,
                 window_ends_at = CASE WHEN r.window_ends_at <= frontline_now()
                               OR r.window_ends_at > frontline_now() + $5 * interval '1 millisecond'
                             THEN frontline_now() + $5 * interval '1 millisecond'
                             ELSE r.window_ends_at END
             RETURNING r.used,
                 ceil(extract(epoch FROM r.window_ends_at - frontline_now()) * 1000)::bigint AS wait_ms",
        )
        .bind::<SqlUuid, _>(caller.organisation_id)
        .bind::<SqlUuid, _>(caller.member_id)
        .bind::<Text, _>(action.as_str())
        .bind::<Integer, _>(per_window)
        .bind::<BigInt, _>(i64::try_from(budget.window.as_millis()).unwrap_or(i64::MAX))
        .get_result(conn)
        .await?;
        if spent.used <= per_window {
            return Ok(());
        }
        let secs = u64::try_from(spent.wait_ms.max(0))
            .unwrap_or(0)
            .div_ceil(1000)
            .max(1);
        Err(refusal(action, budget, secs))
    }
}

// What the operations that spend a budget document for their `429`.

/// The members board's (by value, or ranked by distinct givers).
pub const UNCACHED_BOARDS_SPENT: &str = "A board by company value (`value_id`) or ranked by distinct givers that is not in the cache, when the caller's budget of such computations is spent: `uncached_boards_per_member` per window of `uncached_boards_window_secs`, 60 a minute by default, counted across every server process (an answer served from the cache is free); `Retry-After` says when the window ends";
/// The teams board's (by value).
pub const UNCACHED_VALUE_BOARDS_SPENT: &str = "A board by company value (`value_id`) that is not in the cache, when the caller's budget of board computations is spent: `uncached_boards_per_member` per window of `uncached_boards_window_secs`, 60 a minute by default, counted across every server process (an answer served from the cache is free); `Retry-After` says when the window ends";
/// Reports'.
pub const REPORTS_SPENT: &str = "The caller's budget of reports (of recognitions and comments together) is spent: `reports_per_member` per window of `reports_window_secs`, 20 an hour by default, counted across every server process; `Retry-After` says when the window ends";
/// Comments'.
pub const COMMENTS_SPENT: &str = "The caller's budget of comments (on recognitions and wins together) is spent: `comments_per_member` per window of `comments_window_secs`, 30 per 10 minutes by default, counted across every server process; `Retry-After` says when the window ends";

/// Every refusal is made here, and counted.
fn refusal(action: Rated, budget: Budget, secs: u64) -> AppError {
    metrics::counter!("frontline_member_rate_refusals_total", "action" => action.as_str())
        .increment(1);
    let (n, window) = (budget.per_window, span(budget.window));
    let what = match action {
        Rated::Board => {
            format!("{n} boards computed for you (by value or by distinct givers, not cached)")
        }
        Rated::Report => format!("{n} reports"),
        Rated::Comment => format!("{n} comments"),
    };
    AppError::TooManyRequests {
        detail: format!(
            "you have reached the limit of {what} per {window}; try again in {secs} seconds"
        ),
        retry_after_secs: secs,
    }
}

/// A window in words: `minute`, `10 minutes`, `hour`, `90 seconds`.
fn span(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        3600 => "hour".into(),
        60 => "minute".into(),
        s if s % 3600 == 0 => format!("{} hours", s / 3600),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        1 => "second".into(),
        s => format!("{s} seconds"),
    }
}

/// Delete the rows whose window is over: the next reservation would start again anyway.
pub async fn purge(conn: &mut AsyncPgConnection) -> AppResult<usize> {
    Ok(
        diesel::sql_query("DELETE FROM member_rates WHERE window_ends_at <= frontline_now()")
            .execute(conn)
            .await?,
    )
}

/// The server's background task: [`purge`] every minute, for as long as the server runs.
/// Every process purges; the DELETE is idempotent and cheap on its index.
pub fn start_purge(db: Db) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PURGE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let purged = match db.conn().await {
                Ok(mut conn) => purge(&mut conn).await,
                Err(e) => Err(e),
            };
            if let Err(e) = purged {
                tracing::warn!(error = %e, "member rate purge failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_as_words() {
        let words = [60, 600, 3600, 7200, 90, 1].map(|s| span(Duration::from_secs(s)));
        assert_eq!(
            words,
            [
                "minute",
                "10 minutes",
                "hour",
                "2 hours",
                "90 seconds",
                "second"
            ]
        );
    }

    #[test]
    fn a_budget_is_at_least_one_per_window_of_a_second_to_30_days() {
        assert_eq!(
            Budget::new(0, 0),
            Budget {
                per_window: 1,
                window: Duration::from_secs(1)
            }
        );
        assert_eq!(
            Budget::new(5, u64::MAX).window,
            Duration::from_secs(30 * 24 * 3600)
        );
    }
}
