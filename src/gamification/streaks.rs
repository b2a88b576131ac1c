//! Weekly streaks: consecutive weeks (organisation time zone, ISO weeks from Monday) with at
//! least one approved initiative or one recognition given.

use chrono::{Days, NaiveDate};
use diesel::QueryableByName;
use diesel::sql_types::{Array, Date, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::AppResult;

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct Streaks {
    /// Consecutive active weeks up to this week (or last week, while this one is young).
    pub current_weeks: i64,
    pub longest_weeks: i64,
    /// Whether this week already counts.
    pub active_this_week: bool,
}

#[derive(QueryableByName)]
struct Weeks {
    #[diesel(sql_type = Date)]
    this_week: NaiveDate,
    #[diesel(sql_type = Array<Date>)]
    active: Vec<NaiveDate>,
}

/// What makes a week active, as one SQL subquery of activity times (`t`): an approved
/// initiative the member authored, or a recognition they gave, at `since` or later. `member`
/// and `since` are SQL expressions; `$1` is the organisation. Badges read it back only as far
/// as the longest streak still to reach (`earning`); the streak itself from the beginning.
pub fn activity_since(member: &str, since: &str) -> String {
    format!(
        "SELECT e.created_at AS t FROM initiative_events e \
         JOIN initiatives i ON i.id = e.initiative_id AND i.organisation_id = e.organisation_id \
         WHERE e.organisation_id = $1 AND i.author_id = {member} AND e.kind = 'approved' \
           AND e.created_at >= {since} \
         UNION ALL \
         SELECT created_at FROM recognitions WHERE organisation_id = $1 AND giver_id = {member} \
           AND created_at >= {since} AND undone_at IS NULL AND hidden_at IS NULL"
    )
}

/// This week (its Monday) and the member's active weeks, newest first. "This week" is the
/// database's (`frontline_now()`), so that it goes by the same clock as the activity's
/// timestamps (see `crate::clock`).
pub async fn active_weeks(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    tz: &str,
) -> AppResult<(NaiveDate, Vec<NaiveDate>)> {
    let weeks: Weeks = diesel::sql_query(format!(
        "SELECT date_trunc('week', frontline_now() AT TIME ZONE $3)::date AS this_week, ARRAY( \
             SELECT DISTINCT date_trunc('week', t AT TIME ZONE $3)::date AS week FROM ( \
                 {} \
             ) activity ORDER BY week DESC \
         ) AS active",
        activity_since("$2", "'-infinity'")
    ))
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(member)
    .bind::<Text, _>(tz)
    .get_result(conn)
    .await?;
    Ok((weeks.this_week, weeks.active))
}

/// Streaks from active weeks (newest first) as of `this_week` (a Monday).
pub fn compute(weeks: &[NaiveDate], this_week: NaiveDate) -> Streaks {
    let week = Days::new(7);
    let active_this_week = weeks.first() == Some(&this_week);
    let mut current = 0;
    // A streak is still alive on Monday morning: it may continue from last week.
    let mut expected = if active_this_week {
        this_week
    } else {
        this_week - week
    };
    for w in weeks {
        if *w == expected {
            current += 1;
            expected = expected - week;
        } else if *w < expected {
            break;
        }
    }
    let mut longest = 0;
    let mut run = 0;
    let mut previous: Option<NaiveDate> = None;
    for w in weeks {
        run = match previous {
            Some(p) if p - week == *w => run + 1,
            _ => 1,
        };
        longest = longest.max(run);
        previous = Some(*w);
    }
    Streaks {
        current_weeks: current,
        longest_weeks: longest,
        active_this_week,
    }
}

pub async fn of(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    tz_name: &str,
) -> AppResult<Streaks> {
    let (this_week, weeks) = active_weeks(conn, org, member, tz_name).await?;
    Ok(compute(&weeks, this_week))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn streaks_run_across_the_year_boundary() {
        // Mondays: 2026-12-21, 2026-12-28 (ISO 2026-W53), 2027-01-04 (2027-W01), 2027-01-11.
        let weeks = [
            d(2027, 1, 11),
            d(2027, 1, 4),
            d(2026, 12, 28),
            d(2026, 12, 21),
            d(2026, 11, 30),
        ];
        let s = compute(&weeks, d(2027, 1, 11));
        assert_eq!(
            s,
            Streaks {
                current_weeks: 4,
                longest_weeks: 4,
                active_this_week: true
            }
        );
        // Early in the next week the streak is still alive, not yet extended.
        let s = compute(&weeks, d(2027, 1, 18));
        assert_eq!(s.current_weeks, 4);
        assert!(!s.active_this_week);
        // A missed week breaks it.
        let s = compute(&weeks, d(2027, 1, 25));
        assert_eq!(s.current_weeks, 0);
        assert_eq!(s.longest_weeks, 4);
        assert_eq!(compute(&[], d(2027, 1, 25)).longest_weeks, 0);
    }
}
