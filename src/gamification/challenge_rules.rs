//! What bounds a challenge (issue #12): its window, how many may be open at once, and what a
//! team lead's reward reserves from their monthly recognition budget.
//!
//! - `starts_at` is not before the moment a challenge is set or changed: a window that started
//!   earlier would count (and pay for) what happened before anyone was challenged. A client's
//!   clock may lag: up to [`START_SKEW`] in the past is taken as now. Admins may backdate; the
//!   audit entry says so.
//! - A window lasts at most [`MAX_LENGTH_DAYS`] and starts within [`MAX_LEAD_DAYS`].
//! - At most [`MAX_OPEN_PER_ORGANISATION`] challenges of an organisation, and
//!   [`MAX_OPEN_PER_TEAM`] of one team, are open (not ended, not cancelled) at once; creations
//!   serialise on an advisory lock per organisation, so racing requests (on any instance) cannot
//!   exceed them.
//! - A team lead's challenge reserves (`reward_points` + the reward badge's points) times the
//!   team's active members from the lead's budget when it is set (409 beyond it), and pays at
//!   most that many participants. Admins are unbudgeted; `point_rules.challenge_reward_cap`
//!   bounds every challenge's `reward_points`.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::{AppError, AppResult, FieldError};
use crate::ledger::rules;
use crate::organisations;
use crate::periods;
use crate::recognition::giving::{self, GivingKind};
use crate::schema::{badges, challenges, members};

/// Open (not ended, not cancelled) challenges an organisation may have at once.
pub const MAX_OPEN_PER_ORGANISATION: i64 = 100;
/// Open challenges one team may have at once (of the organisation's).
pub const MAX_OPEN_PER_TEAM: i64 = 10;
/// The longest window, in days (a quarter).
pub const MAX_LENGTH_DAYS: i64 = 92;
/// How far ahead a window may start, in days.
pub const MAX_LEAD_DAYS: i64 = 365;
/// A `starts_at` this little in the past is a lagging clock, taken as now.
pub const START_SKEW: Duration = Duration::seconds(60);

/// The window a caller asked for, checked: the start it takes effect from (a start within
/// [`START_SKEW`] of now is now) and whether an admin backdated it.
pub struct Window {
    pub starts_at: DateTime<Utc>,
    pub backdated: bool,
}

/// Check a window (what parsed of it); field errors go to `e`. `None` when a field was wrong
/// or missing.
pub fn window(
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    may_backdate: bool,
    e: &mut Vec<FieldError>,
) -> Option<Window> {
    let errors = e.len();
    let mut backdated = false;
    let start = starts_at.map(|start| {
        if start < now - START_SKEW {
            if may_backdate {
                backdated = true;
            } else {
                e.push(FieldError::new(
                    "starts_at",
                    "must not be in the past: only admins may backdate a challenge",
                ));
            }
            start
        } else {
            start.max(now)
        }
    });
    if start.is_some_and(|s| s > now + Duration::days(MAX_LEAD_DAYS)) {
        e.push(FieldError::new(
            "starts_at",
            format!("must be within {MAX_LEAD_DAYS} days from now"),
        ));
    }
    if let Some(end) = ends_at {
        if end <= now {
            e.push(FieldError::new(
                "ends_at",
                "must be in the future: a challenge cannot end before it is set",
            ));
        } else if let Some(start) = start {
            if end <= start {
                e.push(FieldError::new("ends_at", "must be after starts_at"));
            } else if end - start > Duration::days(MAX_LENGTH_DAYS) {
                e.push(FieldError::new(
                    "ends_at",
                    format!("a challenge lasts at most {MAX_LENGTH_DAYS} days"),
                ));
            }
        }
    }
    match (start, ends_at) {
        (Some(starts_at), Some(_)) if e.len() == errors => Some(Window {
            starts_at,
            backdated,
        }),
        _ => None,
    }
}

/// `reward_points` against the organisation's cap.
pub fn reward_within_cap(reward: i32, cap: i32, e: &mut Vec<FieldError>) {
    if reward > cap {
        e.push(FieldError::new(
            "reward_points",
            format!(
                "must be at most {cap}, the organisation's challenge reward cap \
                 (point_rules.challenge_reward_cap)"
            ),
        ));
    }
}

/// Serialise the organisation's challenge creations (the open-challenge caps are counted
/// under it). Inside the creation's transaction; released at its end.
pub async fn lock_organisation(conn: &mut AsyncPgConnection, org: Uuid) -> AppResult<()> {
    crate::sql::advisory_xact_lock(conn, crate::sql::advisory_key("challenge creation", org, 0))
        .await
}

/// Refuse (409) a new challenge beyond the open-challenge caps. Call under [`lock_organisation`].
pub async fn check_room(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    team: Option<Uuid>,
) -> AppResult<()> {
    let open = challenges::table
        .filter(challenges::organisation_id.eq(org))
        .filter(challenges::cancelled_at.is_null())
        .filter(challenges::ends_at.gt(diesel::dsl::now));
    let in_org: i64 = open.count().get_result(conn).await?;
    if in_org >= MAX_OPEN_PER_ORGANISATION {
        return Err(AppError::Conflict {
            detail: format!(
                "your organisation already has {in_org} open challenges, the most it may have \
                 at once; wait for one to end or cancel one that has not started"
            ),
            extra: Some(serde_json::json!({ "limit": MAX_OPEN_PER_ORGANISATION })),
        });
    }
    if let Some(team) = team {
        let in_team: i64 = open
            .filter(challenges::team_id.eq(team))
            .count()
            .get_result(conn)
            .await?;
        if in_team >= MAX_OPEN_PER_TEAM {
            return Err(AppError::Conflict {
                detail: format!(
                    "this team already has {in_team} open challenges, the most it may have at once"
                ),
                extra: Some(serde_json::json!({ "limit": MAX_OPEN_PER_TEAM })),
            });
        }
    }
    Ok(())
}

/// The points a challenge badge adds to every participant's reward (0 without a badge).
pub async fn badge_points(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    badge: Option<Uuid>,
) -> AppResult<i32> {
    let Some(badge) = badge else {
        return Ok(0);
    };
    Ok(badges::table
        .filter(badges::organisation_id.eq(org))
        .filter(badges::id.eq(badge))
        .select(badges::points)
        .first::<i32>(conn)
        .await
        .optional()?
        .unwrap_or(0)
        .max(0))
}

/// What a team lead's challenge reserved: points, the budget period, and how many members.
pub struct Reservation {
    pub points: i32,
    pub period: Option<NaiveDate>,
    pub slots: i32,
}

/// Reserve `per_member` times the team's active members from `lead`'s monthly recognition
/// budget (409 beyond what is left). Inside the challenge's transaction: the budget row's lock
/// serialises it with the lead's recognitions and other challenges.
pub async fn reserve(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    lead: Uuid,
    team: Uuid,
    per_member: i32,
) -> AppResult<Reservation> {
    let active: i64 = members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::team_id.eq(team))
        .filter(members::deactivated_at.is_null())
        // The lead sets the target and is paid from nobody's budget but their own: a lead's
        // challenge rewards the team, never the lead (else it is a way to pay oneself).
        .filter(members::id.ne(lead))
        .count()
        .get_result(conn)
        .await?;
    let slots = i32::try_from(active).map_err(AppError::internal)?;
    let cost = i64::from(per_member.max(0)) * active;
    if cost == 0 {
        return Ok(Reservation {
            points: 0,
            period: None,
            slots,
        });
    }
    let organisation = organisations::find(conn, org).await?;
    let tz = periods::parse_tz(&organisation.time_zone);
    let rules = rules::load(conn, org).await?;
    let period = giving::reserve(conn, org, lead, cost, tz, &rules).await?;
    Ok(Reservation {
        points: i32::try_from(cost).map_err(AppError::internal)?,
        period: Some(period),
        slots,
    })
}

/// Give a reservation back to the budget it came from (a challenge cancelled or re-priced
/// before it started).
pub async fn release(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    lead: Uuid,
    points: i32,
    period: Option<NaiveDate>,
) -> AppResult<()> {
    match period {
        Some(period) if points > 0 => {
            giving::give_back(conn, org, lead, GivingKind::Lead, period, points).await
        }
        _ => Ok(()),
    }
}
