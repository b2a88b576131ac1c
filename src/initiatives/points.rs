//! The daily cap on points members pay themselves through wins.
//!
//! Submitting costs nothing, so its points would be free money for a script; so would
//! approving, implementing or measuring one's own win where that is allowed (the mandate, an
//! admin who is the only possible approver). Those points are "self-paid": each member may earn
//! at most `submission_points_daily_cap` of them per day (organisation time zone). Points a
//! lead or admin pays by deciding on someone else's win are not capped, except submission
//! points, which always are.
//!
//! `submission_points_daily` holds what each member was paid per day. Paying takes that row's
//! lock, so concurrent submissions by one member serialise on it: the second sees what the
//! first paid, and the cap holds however many race. Members' rows are locked in id order, so
//! two wins naming each other's authors as contributors cannot deadlock.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::AppResult;
use crate::ledger::Credit;
use crate::periods;
use crate::schema::submission_points_daily;
use crate::sql;

/// Points a cap kept from one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Withheld {
    pub member_id: Uuid,
    pub points: i32,
}

/// Pay `credits` (all self-paid) up to what each member's cap has left today. A credit cut
/// short says so in its note; a credit cut to nothing is dropped (the ledger keeps no empty
/// entries), and both are in the returned `Withheld` list, for the timeline.
pub async fn pay_capped(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    tz: chrono_tz::Tz,
    cap: i32,
    credits: Vec<Credit>,
) -> AppResult<(Vec<Credit>, Vec<Withheld>)> {
    let mut by_member: BTreeMap<Uuid, Vec<Credit>> = BTreeMap::new();
    for c in credits.into_iter().filter(|c| c.points > 0) {
        by_member.entry(c.member_id).or_default().push(c);
    }
    if by_member.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    // The day on the connection's clock, the one its ledger entries are stamped with.
    let day = periods::local_date(tz, sql::now(conn).await?);
    let mut paid = Vec::new();
    let mut withheld = Vec::new();
    for (member, credits) in by_member {
        let wanted: i64 = credits.iter().map(|c| i64::from(c.points)).sum();
        let mut room = i64::from(take(conn, org, member, day, cap, wanted).await?);
        let mut kept = 0i64;
        for mut c in credits {
            let full = c.points;
            let pay = i64::from(full).min(room);
            room -= pay;
            kept += i64::from(full) - pay;
            // `pay` is at most `full`, an i32.
            c.points = i32::try_from(pay).unwrap_or(0);
            if c.points < full {
                c.note = Some(format!(
                    "daily cap of {cap} points from own wins reached: {} of {full} paid",
                    c.points
                ));
            }
            if c.points > 0 {
                paid.push(c);
            }
        }
        if kept > 0 {
            withheld.push(Withheld {
                member_id: member,
                points: i32::try_from(kept).unwrap_or(i32::MAX),
            });
        }
    }
    Ok((paid, withheld))
}

/// Take up to `wanted` points from `member`'s room under `cap` for `day`: what may be paid.
async fn take(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    day: NaiveDate,
    cap: i32,
    wanted: i64,
) -> AppResult<i32> {
    diesel::insert_into(submission_points_daily::table)
        .values((
            submission_points_daily::organisation_id.eq(org),
            submission_points_daily::member_id.eq(member),
            submission_points_daily::day.eq(day),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    let key = submission_points_daily::table
        .filter(submission_points_daily::organisation_id.eq(org))
        .filter(submission_points_daily::member_id.eq(member))
        .filter(submission_points_daily::day.eq(day));
    let already: i32 = key
        .select(submission_points_daily::paid)
        .for_update()
        .first(conn)
        .await?;
    let room = (i64::from(cap) - i64::from(already)).max(0);
    let pay = i32::try_from(wanted.min(room)).unwrap_or(0);
    if pay > 0 {
        diesel::update(key)
            .set(submission_points_daily::paid.eq(submission_points_daily::paid + pay))
            .execute(conn)
            .await?;
    }
    Ok(pay)
}

/// The timeline's words for what a cap withheld, or `None` when it withheld nothing.
pub fn withheld_note(withheld: &[Withheld], author: Uuid, cap: i32) -> Option<String> {
    if withheld.is_empty() {
        return None;
    }
    let mine: i32 = withheld
        .iter()
        .filter(|w| w.member_id == author)
        .map(|w| w.points)
        .sum();
    let others: Vec<&Withheld> = withheld.iter().filter(|w| w.member_id != author).collect();
    let mut parts = Vec::new();
    if mine > 0 {
        parts.push(format!("{mine} of the author's points"));
    }
    if !others.is_empty() {
        let points: i64 = others.iter().map(|w| i64::from(w.points)).sum();
        parts.push(format!(
            "{points} points of {} contributor(s)",
            others.len()
        ));
    }
    Some(format!(
        "not paid (daily cap of {cap} points from own wins reached): {}",
        parts.join(" and ")
    ))
}
