//! Challenges as members see them: measured live, and completed on the way when due.

use chrono::{DateTime, SecondsFormat, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::completion::complete;
use super::input::ListQuery;
use super::metrics::{Measure, measure};
use super::{ChallengeProgress, ChallengeRow, ChallengeScope, ChallengeStatus};
use crate::db;
use crate::error::{AppError, AppResult};
use crate::http::{Cursor, Page};
use crate::schema::{challenges, members};
use crate::sql;
use crate::vocabulary::{Channel, Dimension};

fn view(row: ChallengeRow, m: Measure, now: DateTime<Utc>) -> AppResult<ChallengeProgress> {
    let metric = row.metric()?;
    let scope = ChallengeScope::parse(&row.scope)
        .ok_or_else(|| AppError::internal(format!("unknown challenge scope {}", row.scope)))?;
    let target = i64::from(row.target);
    Ok(ChallengeProgress {
        status: ChallengeStatus::at(row.starts_at, row.ends_at, now),
        percent: if target > 0 {
            (m.progress.saturating_mul(100) / target).clamp(0, 100)
        } else {
            100
        },
        dimension: row
            .dimension
            .as_deref()
            .and_then(|d| Dimension::parse_field(d, "dimension").ok()),
        channel: row
            .channel
            .as_deref()
            .and_then(|c| Channel::parse_field(c, "channel").ok()),
        id: row.id,
        title: row.title,
        description: row.description,
        scope,
        team_id: row.team_id,
        metric,
        target,
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        reward_points: row.reward_points,
        reward_badge_id: row.reward_badge_id,
        created_by: row.created_by,
        created_at: row.created_at,
        completed_at: row.completed_at,
        cancelled_at: row.cancelled_at,
        reserved_points: row.reserved_points,
        reward_slots: row.reward_slots,
        progress: m.progress,
        participants: m.participants,
        contribution: m.contribution,
    })
}

/// Views with live progress. A started, uncompleted challenge whose window has counted enough
/// is completed on the way (see the module documentation: concurrent activities that only
/// together reach a target leave it to the next activity or read).
pub(super) async fn views(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    viewer: Option<Uuid>,
    rows: Vec<ChallengeRow>,
) -> AppResult<Vec<ChallengeProgress>> {
    let now = sql::now(conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    for mut row in rows {
        let m = if row.starts_at > now || row.cancelled_at.is_some() {
            Measure::default()
        } else {
            measure(conn, org, &row, viewer).await?
        };
        if row.completed_at.is_none()
            && row.cancelled_at.is_none()
            && row.starts_at <= now
            && m.progress >= i64::from(row.target)
        {
            let id = row.id;
            if db::transaction(conn, move |c| Box::pin(complete(c, org, id))).await? {
                // Rewards went into the ledger during a read: cached boards must go.
                crate::read_cache::wrote(Some(org));
            }
            // FOR SHARE waits for a completion another transaction holds the row for (the
            // server's fold, which the completion above skipped), so the read answers with
            // its outcome instead of "not completed" a moment before it commits.
            row.completed_at = challenges::table
                .filter(challenges::organisation_id.eq(org))
                .filter(challenges::id.eq(id))
                .select(challenges::completed_at)
                .for_share()
                .first(conn)
                .await?;
        }
        out.push(view(row, m, now)?);
    }
    Ok(out)
}

/// Running challenges that concern a member (their team's and the organisation's), ending
/// soonest first, with progress and the member's contribution.
pub async fn active_for(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
) -> AppResult<Vec<ChallengeProgress>> {
    let team: Option<Uuid> = members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq(member))
        .select(members::team_id)
        .first(conn)
        .await
        .optional()?
        .flatten();
    let now = sql::now(conn).await?;
    let mut query = challenges::table
        .filter(challenges::organisation_id.eq(org))
        .filter(challenges::cancelled_at.is_null())
        .filter(challenges::ends_at.gt(now))
        .filter(challenges::starts_at.le(now))
        .order((challenges::ends_at.asc(), challenges::id.asc()))
        .select(ChallengeRow::as_select())
        .into_boxed();
    query = match team {
        Some(team) => query.filter(
            challenges::scope
                .eq(ChallengeScope::Organisation.as_str())
                .or(challenges::team_id.eq(team)),
        ),
        None => query.filter(challenges::scope.eq(ChallengeScope::Organisation.as_str())),
    };
    let rows: Vec<ChallengeRow> = query.load(conn).await?;
    views(conn, org, Some(member), rows).await
}

/// The view of one challenge (see [`views`]); `what` names it in the error should it have none.
pub(super) async fn one(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    viewer: Uuid,
    row: ChallengeRow,
    what: &str,
) -> AppResult<ChallengeProgress> {
    views(conn, org, Some(viewer), vec![row])
        .await?
        .pop()
        .ok_or_else(|| AppError::internal(format!("{what} has no view")))
}

/// One challenge of the organisation with its live progress.
pub async fn find(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    viewer: Uuid,
    id: Uuid,
) -> AppResult<ChallengeProgress> {
    let row: ChallengeRow = challenges::table
        .filter(challenges::organisation_id.eq(org))
        .filter(challenges::id.eq(id))
        .select(ChallengeRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("challenge"))?;
    one(conn, org, viewer, row, "challenge").await
}

/// A page of the organisation's challenges in `query.status`'s window, with live progress.
pub async fn list(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    viewer: Uuid,
    query: ListQuery,
) -> AppResult<Page<ChallengeProgress>> {
    let ListQuery {
        status,
        team,
        limit,
        after,
    } = query;
    let now = sql::now(conn).await?;
    let mut rows = challenges::table
        .filter(challenges::organisation_id.eq(org))
        .filter(challenges::cancelled_at.is_null())
        .select(ChallengeRow::as_select())
        .limit(limit + 1)
        .into_boxed();
    if let Some(team) = team {
        rows = rows.filter(challenges::team_id.eq(team));
    }
    rows = match status {
        ChallengeStatus::Active => {
            let q = rows
                .filter(challenges::starts_at.le(now))
                .filter(challenges::ends_at.gt(now))
                .order((challenges::ends_at.asc(), challenges::id.asc()));
            match after {
                Some((t, id)) => q.filter(
                    challenges::ends_at
                        .gt(t)
                        .or(challenges::ends_at.eq(t).and(challenges::id.gt(id))),
                ),
                None => q,
            }
        }
        ChallengeStatus::Upcoming => {
            let q = rows
                .filter(challenges::starts_at.gt(now))
                .order((challenges::starts_at.asc(), challenges::id.asc()));
            match after {
                Some((t, id)) => q.filter(
                    challenges::starts_at
                        .gt(t)
                        .or(challenges::starts_at.eq(t).and(challenges::id.gt(id))),
                ),
                None => q,
            }
        }
        ChallengeStatus::Past => {
            let q = rows
                .filter(challenges::ends_at.le(now))
                .order((challenges::ends_at.desc(), challenges::id.desc()));
            match after {
                Some((t, id)) => q.filter(
                    challenges::ends_at
                        .lt(t)
                        .or(challenges::ends_at.eq(t).and(challenges::id.lt(id))),
                ),
                None => q,
            }
        }
    };
    let mut rows: Vec<ChallengeRow> = rows.load(conn).await?;
    // Only the page is measured; the extra row only tells that more exist.
    let more = usize::try_from(limit).is_ok_and(|l| rows.len() > l);
    let extra = if more { rows.pop() } else { None };
    let mut items = views(conn, org, Some(viewer), rows).await?;
    if let Some(row) = extra {
        items.push(view(row, Measure::default(), now)?);
    }
    Ok(Page::from_rows(items, limit, |c: &ChallengeProgress| {
        let key = match status {
            ChallengeStatus::Upcoming => c.starts_at,
            ChallengeStatus::Active | ChallengeStatus::Past => c.ends_at,
        };
        Cursor {
            key: key.to_rfc3339_opts(SecondsFormat::Micros, true),
            id: c.id,
        }
    }))
}
