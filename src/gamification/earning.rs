//! What an activity earns: the badges its members now qualify for, found in the activity's
//! own transaction.
//!
//! Every activity that writes points asks this, so its cost is part of every recognition and
//! every win. It is one statement for all the members involved, and each count in it stops at
//! the highest threshold still to reach (a giver's thousandth recognition costs what their
//! tenth did): the cost follows the badges, not the member's history.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Date, Jsonb, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use uuid::Uuid;

use super::badges::{BadgeRow, Criterion, award};
use super::streaks;
use crate::error::AppResult;
use crate::ledger::Credit;
use crate::schema::{badges, member_badges};
use crate::sql::Prepared;

/// What one member has done, each count exact up to the cap the statement was given.
#[derive(QueryableByName)]
struct Counts {
    #[diesel(sql_type = SqlUuid)]
    member_id: Uuid,
    #[diesel(sql_type = BigInt)]
    approved: i64,
    #[diesel(sql_type = BigInt)]
    measured: i64,
    #[diesel(sql_type = BigInt)]
    received: i64,
    #[diesel(sql_type = BigInt)]
    given: i64,
    #[diesel(sql_type = BigInt)]
    cross_team: i64,
    #[diesel(sql_type = BigInt)]
    lifetime: i64,
    /// Approved initiatives per CX dimension (`{}` unless a dimension badge is missing).
    #[diesel(sql_type = Jsonb)]
    per_dimension: serde_json::Value,
    /// Active weeks (Mondays, newest first) back to the longest streak still to reach.
    #[diesel(sql_type = Array<Date>)]
    weeks: Vec<NaiveDate>,
    #[diesel(sql_type = Date)]
    this_week: NaiveDate,
}

/// How far each count must go: the highest threshold among the badges some member still
/// lacks (zero: not counted at all).
#[derive(Default)]
struct Caps {
    approved: i64,
    measured: i64,
    received: i64,
    given: i64,
    cross_team: i64,
    streak_weeks: i64,
    per_dimension: bool,
}

impl Caps {
    fn of<'b>(missing: impl Iterator<Item = &'b BadgeRow>) -> Caps {
        let mut caps = Caps::default();
        for b in missing {
            let t = i64::from(b.threshold);
            let cap = match Criterion::parse(&b.criterion) {
                Some(Criterion::InitiativesApproved) if b.dimension.is_some() => {
                    caps.per_dimension = true;
                    continue;
                }
                Some(Criterion::InitiativesInOneDimension) => {
                    caps.per_dimension = true;
                    continue;
                }
                Some(Criterion::InitiativesApproved) => &mut caps.approved,
                Some(Criterion::InitiativesMeasured) => &mut caps.measured,
                Some(Criterion::RecognitionsReceived) => &mut caps.received,
                Some(Criterion::RecognitionsGiven) => &mut caps.given,
                Some(Criterion::CrossTeamContributions) => &mut caps.cross_team,
                Some(Criterion::WeeklyStreak) => &mut caps.streak_weeks,
                Some(Criterion::LifetimePoints | Criterion::Challenge) | None => continue,
            };
            *cap = (*cap).max(t);
        }
        // A threshold may be set out of reach (a million weeks): the window of active weeks
        // stops at a century, which no streak outlasts, instead of a date before the calendar.
        caps.streak_weeks = caps.streak_weeks.min(STREAK_WINDOW_WEEKS);
        caps
    }
}

/// About a hundred years of weeks.
const STREAK_WINDOW_WEEKS: i64 = 5_200;

const APPROVED: &str = "('approved', 'implemented', 'measured')";

/// Award every badge `members` now qualify for and do not hold yet, counting `pending`: the
/// activity's credits, not yet in the ledger. Returns the badges' own credits, for the caller
/// to write with the activity's in one ledger statement.
pub async fn evaluate(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    members: &[Uuid],
    pending: &[Credit],
) -> AppResult<Vec<Credit>> {
    let candidates: Vec<BadgeRow> = badges::table
        .filter(badges::organisation_id.eq(org))
        .filter(badges::active.eq(true))
        .filter(badges::criterion.ne(Criterion::Challenge.as_str()))
        .select(BadgeRow::as_select())
        .load(conn)
        .await?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let mut unique: Vec<Uuid> = members.to_vec();
    unique.sort();
    unique.dedup();
    let held: HashSet<(Uuid, Uuid)> = member_badges::table
        .filter(member_badges::organisation_id.eq(org))
        .filter(member_badges::member_id.eq_any(&unique))
        .select((member_badges::member_id, member_badges::badge_id))
        .load::<(Uuid, Uuid)>(conn)
        .await?
        .into_iter()
        .collect();
    let missing: HashMap<Uuid, Vec<&BadgeRow>> = unique
        .iter()
        .map(|m| {
            let lacks = candidates
                .iter()
                .filter(|b| !held.contains(&(*m, b.id)))
                .collect::<Vec<_>>();
            (*m, lacks)
        })
        .filter(|(_, lacks)| !lacks.is_empty())
        .collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let caps = Caps::of(missing.values().flatten().copied());
    let who: Vec<Uuid> = missing.keys().copied().collect();
    let all_counts = counts(conn, org, &who, &caps).await?;
    let mut earned_credits = Vec::new();
    for counts in all_counts {
        let Some(lacks) = missing.get(&counts.member_id) else {
            continue;
        };
        let pending_points: i64 = pending
            .iter()
            .filter(|c| c.member_id == counts.member_id)
            .map(|c| i64::from(c.points))
            .sum();
        for badge in lacks {
            if qualifies(badge, &counts, pending_points) {
                let credit = award(conn, org, counts.member_id, badge.id, badge.points).await?;
                earned_credits.extend(credit);
            }
        }
    }
    Ok(earned_credits)
}

fn qualifies(badge: &BadgeRow, counts: &Counts, pending_points: i64) -> bool {
    let threshold = i64::from(badge.threshold);
    let in_dimension = |d: &str| {
        counts
            .per_dimension
            .get(d)
            .and_then(|n| n.as_i64())
            .unwrap_or(0)
    };
    match Criterion::parse(&badge.criterion) {
        Some(Criterion::InitiativesApproved) => match &badge.dimension {
            Some(d) => in_dimension(d) >= threshold,
            None => counts.approved >= threshold,
        },
        Some(Criterion::InitiativesInOneDimension) => match &badge.dimension {
            Some(d) => in_dimension(d) >= threshold,
            None => counts
                .per_dimension
                .as_object()
                .is_some_and(|m| m.values().any(|n| n.as_i64().unwrap_or(0) >= threshold)),
        },
        Some(Criterion::InitiativesMeasured) => counts.measured >= threshold,
        Some(Criterion::RecognitionsReceived) => counts.received >= threshold,
        Some(Criterion::RecognitionsGiven) => counts.given >= threshold,
        Some(Criterion::WeeklyStreak) => {
            streaks::compute(&counts.weeks, counts.this_week).current_weeks >= threshold
        }
        Some(Criterion::CrossTeamContributions) => counts.cross_team >= threshold,
        Some(Criterion::LifetimePoints) => counts.lifetime + pending_points >= threshold,
        Some(Criterion::Challenge) | None => false,
    }
}

/// One statement for every member: each count stops at its cap (`LIMIT 0` reads nothing), and
/// active weeks go back only as far as the longest streak still to reach (the streak's
/// definition is `streaks::activity_since`; this is its window).
async fn counts(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    members: &[Uuid],
    caps: &Caps,
) -> AppResult<Vec<Counts>> {
    let capped = |from_where: &str, cap: usize| {
        format!("(SELECT count(*) FROM (SELECT 1 FROM {from_where} LIMIT ${cap}) capped)")
    };
    let sql = format!(
        "SELECT m.id AS member_id, \
           {approved} AS approved, {measured} AS measured, {received} AS received, \
           {given} AS given, {cross_team} AS cross_team, \
           COALESCE((SELECT points FROM member_period_points WHERE organisation_id = $1 AND period = 'all' \
              AND period_start = DATE '1970-01-01' AND dimension = '' AND member_id = m.id), 0) AS lifetime, \
           CASE WHEN $8 THEN (SELECT COALESCE(jsonb_object_agg(d.dimension, d.n), '{{}}') FROM ( \
              SELECT dimension, count(*) AS n FROM initiatives WHERE organisation_id = $1 AND author_id = m.id \
                AND status IN {APPROVED} AND dimension IS NOT NULL GROUP BY dimension) d) \
              ELSE '{{}}'::jsonb END AS per_dimension, \
           ARRAY(SELECT DISTINCT date_trunc('week', a.t AT TIME ZONE o.time_zone)::date FROM ( \
              {activity} \
           ) a WHERE $9 > 0 ORDER BY 1 DESC) AS weeks, \
           w.this_week \
         FROM unnest($2::uuid[]) AS m(id) \
         JOIN organisations o ON o.id = $1 \
         CROSS JOIN LATERAL (SELECT date_trunc('week', frontline_now() AT TIME ZONE o.time_zone)::date AS this_week) tw \
         CROSS JOIN LATERAL (SELECT tw.this_week, \
              ((tw.this_week - 7 * $9::int)::timestamp AT TIME ZONE o.time_zone) AS since) w",
        activity = streaks::activity_since("m.id", "w.since"),
        approved = capped(
            &format!(
                "initiatives WHERE organisation_id = $1 AND author_id = m.id AND status IN {APPROVED}"
            ),
            3
        ),
        measured = capped(
            "initiatives WHERE organisation_id = $1 AND author_id = m.id AND status = 'measured'",
            4
        ),
        received = capped(
            &format!(
                "recognition_recipients rr WHERE rr.organisation_id = $1 AND rr.member_id = m.id \
                 AND {}",
                crate::sql::standing("rr.recognition_id")
            ),
            5
        ),
        given = capped(
            "recognitions WHERE organisation_id = $1 AND giver_id = m.id \
             AND undone_at IS NULL AND hidden_at IS NULL",
            6
        ),
        cross_team = capped(
            &format!(
                "initiative_contributors c \
                 JOIN initiatives i ON i.id = c.initiative_id AND i.organisation_id = c.organisation_id \
                 JOIN members cm ON cm.id = c.member_id AND cm.organisation_id = c.organisation_id \
                 WHERE c.organisation_id = $1 AND c.member_id = m.id AND i.status IN {APPROVED} \
                   AND i.team_id IS DISTINCT FROM cm.team_id"
            ),
            7
        ),
    );
    // Prepared once per connection (the text is made of constants only) and run with its
    // generic plan: PostgreSQL would otherwise plan it afresh on every run, since a plan made
    // for the values folds away the counts a cap of zero skips, and it costs more to plan than
    // to run (bench-10k: 1.4 ms to plan, 0.6 to run; the generic plan runs as fast). The
    // setting is the transaction's, so it is put back for the statements after this one.
    conn.batch_execute("SET LOCAL plan_cache_mode = force_generic_plan")
        .await?;
    let rows = Prepared(
        diesel::sql_query(sql)
            .bind::<SqlUuid, _>(org)
            .bind::<Array<SqlUuid>, _>(members)
            .bind::<BigInt, _>(caps.approved)
            .bind::<BigInt, _>(caps.measured)
            .bind::<BigInt, _>(caps.received)
            .bind::<BigInt, _>(caps.given)
            .bind::<BigInt, _>(caps.cross_team)
            .bind::<Bool, _>(caps.per_dimension)
            .bind::<BigInt, _>(caps.streak_weeks),
    )
    .load(conn)
    .await?;
    conn.batch_execute("SET LOCAL plan_cache_mode = DEFAULT")
        .await?;
    Ok(rows)
}
