//! Awarding birthdays and work anniversaries: on the member's day in the organisation's time
//! zone, from the company's pot (no giver, no allowance spent), posted to the feed.
//!
//! Each award is one claim row in `celebrations` (primary key member, kind, year), one
//! recognition of kind `celebration` without a giver, and one ledger entry (reason
//! `celebration`, source the recognition), written in one transaction. The claim comes first:
//! a second process (or a second run of this one) that reaches the same member waits for the
//! first transaction and then skips the member, so a member gets one award per kind and year
//! however many processes run, and a restart finds today's awards already made.
//!
//! Every server process runs [`award_due`] every `celebration_interval_ms` (and once on
//! start). A run works in batches of [`BATCH`] members, each its own transaction, and stops
//! after [`MAX_BATCHES`] per organisation and kind: the rest waits for the next run, so a huge
//! organisation never makes one giant transaction. Only the day itself counts: a member whose
//! day passed while no server ran gets nothing for it.

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::CelebrationKind;
use super::queries::{self, CelebrationRecognition, Claimed};
use crate::clock::Clock;
use crate::db::Db;
use crate::error::AppResult;
use crate::events::{Happened, Kind, SubjectType};
use crate::ledger::{Credit, Reason, SourceType};
use crate::members::dates::celebrated_on;
use crate::periods;

/// Members awarded per transaction.
pub const BATCH: i64 = 200;

/// Batches per organisation, kind and run.
pub const MAX_BATCHES: usize = 25;

/// What one run awarded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Awarded {
    pub birthdays: usize,
    pub anniversaries: usize,
}

impl Awarded {
    pub fn total(&self) -> usize {
        self.birthdays + self.anniversaries
    }

    fn add(&mut self, kind: CelebrationKind, n: usize) {
        match kind {
            CelebrationKind::Birthday => self.birthdays += n,
            CelebrationKind::WorkAnniversary => self.anniversaries += n,
        }
    }
}

/// Award every celebration due at `now` (each organisation's local day) that is not awarded
/// yet, in every organisation that pays for it. Safe to run at once in any number of
/// processes. An organisation that fails is logged and the others still run; the first
/// failure is answered after them.
pub async fn award_due(db: &Db, now: DateTime<Utc>) -> AppResult<Awarded> {
    let mut conn = db.conn().await?;
    let organisations = queries::awarding_organisations(&mut conn).await?;
    let mut awarded = Awarded::default();
    let mut failure = None;
    for org in organisations {
        let date = periods::local_date(periods::parse_tz(&org.time_zone), now);
        let pays = [
            (CelebrationKind::Birthday, org.birthday_points),
            (CelebrationKind::WorkAnniversary, org.anniversary_points),
        ];
        let mut here = Awarded::default();
        for (kind, points) in pays.into_iter().filter(|(_, p)| *p > 0) {
            match award_kind(&mut conn, org.id, kind, points, date).await {
                Ok(n) => here.add(kind, n),
                Err(e) => {
                    tracing::warn!(organisation_id = %org.id, kind = %kind, error = %e.chain(), "celebrations failed");
                    failure.get_or_insert(e);
                }
            }
        }
        if here.total() > 0 {
            // Written outside any request: cached feeds and boards of the organisation go.
            crate::read_cache::wrote(Some(org.id));
            tracing::info!(organisation_id = %org.id, birthdays = here.birthdays, anniversaries = here.anniversaries, "celebrations awarded");
        }
        awarded.birthdays += here.birthdays;
        awarded.anniversaries += here.anniversaries;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(awarded),
    }
}

/// Award one kind in batches, each its own transaction, until none is left or the run's share
/// is used.
async fn award_kind(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    kind: CelebrationKind,
    points: i32,
    date: NaiveDate,
) -> AppResult<usize> {
    let mut total = 0;
    for _ in 0..MAX_BATCHES {
        let n = crate::db::transaction(conn, move |conn| {
            Box::pin(async move { award_batch(conn, org, kind, points, date, BATCH).await })
        })
        .await?;
        total += n;
        // A short batch: nothing more is due, or another process holds the rest.
        if (n as i64) < BATCH {
            break;
        }
    }
    Ok(total)
}

/// Claim up to `limit` of `kind` due on `date` and write their recognitions and points, in the
/// caller's transaction. Answers how many were awarded.
pub async fn award_batch(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    kind: CelebrationKind,
    points: i32,
    date: NaiveDate,
    limit: i64,
) -> AppResult<usize> {
    let (month, days) = celebrated_on(date);
    let year = date.year();
    let claimed = queries::claim(conn, org, kind, (year, month, &days), limit).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let rows: Vec<CelebrationRecognition> = claimed
        .iter()
        .map(|c| CelebrationRecognition {
            id: c.recognition_id,
            member_id: c.member_id,
            team_id: c.team_id,
            message: message(kind, c, year),
            points,
        })
        .collect();
    queries::insert_recognitions(conn, org, &rows).await?;
    let members: Vec<Uuid> = claimed.iter().map(|c| c.member_id).collect();
    let credits = rows
        .iter()
        .map(|r| {
            let mut credit = Credit::new(r.member_id, r.points, Reason::Celebration)
                .source(SourceType::Recognition, r.id);
            credit.note = Some(kind.as_str().replace('_', " "));
            credit
        })
        .collect();
    let events: Vec<Happened> = rows
        .iter()
        .map(|r| {
            Happened::new(Kind::RecognitionReceived, SubjectType::Recognition, r.id)
                .to([r.member_id])
                .data(serde_json::json!({ "points": r.points, "celebration": kind.as_str() }))
        })
        .collect();
    crate::events::emit(conn, org, &events).await?;
    // Points as any recognition's: boards, levels and badges.
    crate::gamification::settle(conn, org, &members, credits).await?;
    Ok(claimed.len())
}

/// The feed's words for it.
fn message(kind: CelebrationKind, c: &Claimed, year: i32) -> String {
    match kind {
        CelebrationKind::Birthday => format!("Happy birthday, {}!", c.display_name),
        CelebrationKind::WorkAnniversary => {
            let years = c.started_on.map(|s| year - s.year()).unwrap_or(1);
            let unit = if years == 1 { "year" } else { "years" };
            format!(
                "{} celebrates {years} {unit} with us today!",
                c.display_name
            )
        }
    }
}

/// Award one organisation's celebrations due at `now` on the caller's connection, in batches
/// (each a nested transaction of the caller's): the demo uses it to show some at once.
pub async fn award_organisation(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    now: DateTime<Utc>,
) -> AppResult<Awarded> {
    let (rules, time_zone) = crate::ledger::rules::load_with_time_zone(conn, org).await?;
    let date = periods::local_date(periods::parse_tz(&time_zone), now);
    let mut awarded = Awarded::default();
    for (kind, points) in [
        (CelebrationKind::Birthday, rules.birthday_points),
        (CelebrationKind::WorkAnniversary, rules.anniversary_points),
    ] {
        if points > 0 {
            awarded.add(kind, award_kind(conn, org, kind, points, date).await?);
        }
    }
    Ok(awarded)
}

/// The server's background task: award what is due every `every` (the first run at once), by
/// the service's clock, for as long as the server runs.
pub fn start(db: Db, clock: Clock, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = award_due(&db, clock.now()).await {
                tracing::warn!(error = %e.chain(), "celebrations run failed");
            }
        }
    });
}
