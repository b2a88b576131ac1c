//! Ring detection: the window, the search for cycles among dominant edges, and the report.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Days, NaiveDate, Utc};
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use uuid::Uuid;

use super::queries::{self, DominantEdge, MemberRow};
use super::{MAX_RING_SIZE, MAX_RINGS, Ring, RingEdge, RingMember, RingReport, Thresholds, Window};
use crate::db;
use crate::error::{AppError, AppResult};
use crate::{organisations, periods};

/// The window a request asks for: the last `n` days (today included), or dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    LastDays(u64),
    /// `[from, to)`, days in the organisation's time zone.
    Dates(NaiveDate, NaiveDate),
}

/// Rings in `org` over `span` (its days in the organisation's time zone; `now` says what
/// today is), by the `thresholds`. Reads only.
pub async fn detect(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    span: Span,
    thresholds: Thresholds,
    now: DateTime<Utc>,
) -> AppResult<RingReport> {
    let organisation = organisations::find(conn, org).await?;
    let window = window(organisation.time_zone, span, now)?;
    let bounds = (window.starts_at, window.ends_at);
    let (edges, members) = db::transaction(conn, move |c| {
        Box::pin(async move {
            c.batch_execute(queries::SETTINGS).await?;
            let edges = queries::dominant_edges(c, org, bounds, &thresholds).await?;
            let mut named: Vec<Uuid> = edges.iter().map(|e| e.giver_id).collect();
            named.extend(edges.iter().map(|e| e.recipient_id));
            named.sort_unstable();
            named.dedup();
            let members = queries::members(c, org, &named).await?;
            Ok((edges, members))
        })
    })
    .await?;
    Ok(report(window, thresholds, &edges, members))
}

/// The window of `span`, as dates and instants in `time_zone`.
fn window(time_zone: String, span: Span, now: DateTime<Utc>) -> AppResult<Window> {
    let tz = periods::parse_tz(&time_zone);
    let (from, to) = match span {
        Span::Dates(from, to) => (from, to),
        Span::LastDays(n) => {
            let tomorrow = periods::local_date(tz, now)
                .checked_add_days(Days::new(1))
                .ok_or_else(|| AppError::internal("today has no tomorrow"))?;
            let from = tomorrow
                .checked_sub_days(Days::new(n))
                .ok_or_else(|| AppError::internal("the window starts before the calendar"))?;
            (from, tomorrow)
        }
    };
    Ok(Window {
        from,
        to,
        starts_at: periods::start_of_day(tz, from),
        ends_at: periods::start_of_day(tz, to),
        time_zone,
    })
}

/// The report from the dominant edges and the members they name.
fn report(
    window: Window,
    thresholds: Thresholds,
    edges: &[DominantEdge],
    members: Vec<MemberRow>,
) -> RingReport {
    let pairs: Vec<(Uuid, Uuid)> = edges.iter().map(|e| (e.giver_id, e.recipient_id)).collect();
    let members: HashMap<Uuid, MemberRow> = members.into_iter().map(|m| (m.id, m)).collect();
    let mut rings: Vec<Ring> = cycles(&pairs, MAX_RING_SIZE)
        .into_iter()
        .map(|cycle| ring(&cycle, edges, &members))
        .collect();
    rings.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.members[0].id.cmp(&b.members[0].id))
            .then_with(|| a.size.cmp(&b.size))
    });
    let truncated = rings.len() > MAX_RINGS;
    rings.truncate(MAX_RINGS);
    RingReport {
        window,
        thresholds,
        max_ring_size: MAX_RING_SIZE as i64,
        dominant_edges: edges.len() as i64,
        rings,
        truncated,
    }
}

/// A percentage with one decimal.
fn percent(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        return 0.0;
    }
    (part as f64 * 1000.0 / whole as f64).round() / 10.0
}

/// The ring of `cycle` (indices of `edges`, in order round the cycle).
fn ring(cycle: &[usize], edges: &[DominantEdge], members: &HashMap<Uuid, MemberRow>) -> Ring {
    let edges: Vec<&DominantEdge> = cycle.iter().map(|&i| &edges[i]).collect();
    let evidence: Vec<RingEdge> = edges
        .iter()
        .map(|e| RingEdge {
            giver_id: e.giver_id,
            recipient_id: e.recipient_id,
            points: e.points,
            recognitions: e.recognitions,
            share_percent: percent(e.points, e.given),
            first_at: e.first_at,
            last_at: e.last_at,
        })
        .collect();
    let points = edges.iter().map(|e| e.points).sum::<i64>();
    let weakest = evidence
        .iter()
        .map(|e| e.share_percent)
        .fold(f64::INFINITY, f64::min);
    let named = edges
        .iter()
        .map(|e| {
            let row = members.get(&e.giver_id);
            RingMember {
                id: e.giver_id,
                display_name: row.map(|m| m.display_name.clone()).unwrap_or_default(),
                team_id: row.and_then(|m| m.team_id),
                team_name: row.and_then(|m| m.team_name.clone()),
                deactivated: row.is_some_and(|m| m.deactivated),
                given_points: e.given,
            }
        })
        .collect();
    Ring {
        size: cycle.len() as i64,
        score: (points as f64 * weakest / 10.0).round() / 10.0,
        points,
        weakest_share_percent: weakest,
        members: named,
        edges: evidence,
    }
}

/// Every elementary cycle of 2 to `max_len` edges in the directed graph `edges` (giver,
/// recipient), each once: as the indices of its edges, starting at its smallest member and
/// following the edges' direction. A cycle is found from its smallest member only, going
/// through larger members, so no rotation of it is found again.
pub fn cycles(edges: &[(Uuid, Uuid)], max_len: usize) -> Vec<Vec<usize>> {
    let mut out_edges: BTreeMap<Uuid, Vec<usize>> = BTreeMap::new();
    for (i, (from, to)) in edges.iter().enumerate() {
        if from != to {
            out_edges.entry(*from).or_default().push(i);
        }
    }
    let mut found = Vec::new();
    let mut path = Vec::with_capacity(max_len);
    for &start in out_edges.keys() {
        extend(
            start, start, edges, &out_edges, max_len, &mut path, &mut found,
        );
    }
    found
}

fn extend(
    start: Uuid,
    at: Uuid,
    edges: &[(Uuid, Uuid)],
    out_edges: &BTreeMap<Uuid, Vec<usize>>,
    max_len: usize,
    path: &mut Vec<usize>,
    found: &mut Vec<Vec<usize>>,
) {
    for &i in out_edges.get(&at).map(Vec::as_slice).unwrap_or_default() {
        let next = edges[i].1;
        if next == start {
            if !path.is_empty() {
                let mut cycle = path.clone();
                cycle.push(i);
                found.push(cycle);
            }
        } else if next > start
            && path.len() + 1 < max_len
            && !path.iter().any(|&p| edges[p].0 == next)
        {
            path.push(i);
            extend(start, next, edges, out_edges, max_len, path, found);
            path.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// The cycles as member numbers, each from its smallest member.
    fn found(edges: &[(u128, u128)], max_len: usize) -> Vec<Vec<u128>> {
        let edges: Vec<(Uuid, Uuid)> = edges.iter().map(|&(a, b)| (id(a), id(b))).collect();
        let mut out: Vec<Vec<u128>> = cycles(&edges, max_len)
            .into_iter()
            .map(|c| c.iter().map(|&i| edges[i].0.as_u128()).collect())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn pairs_and_small_cycles_are_found_once_from_their_smallest_member() {
        let edges = [
            (2, 1),
            (1, 2),
            (5, 3),
            (3, 4),
            (4, 5),
            (9, 6),
            (6, 7),
            (7, 8),
            (8, 9),
        ];
        assert_eq!(
            found(&edges, 4),
            vec![vec![1, 2], vec![3, 4, 5], vec![6, 7, 8, 9]]
        );
    }

    #[test]
    fn chains_one_way_edges_and_longer_cycles_are_not_rings() {
        // 1 -> 2 -> 3 (a chain), 4 -> 5 (one way), 10 -> ... -> 14 -> 10 (five members).
        let edges = [
            (1, 2),
            (2, 3),
            (4, 5),
            (10, 11),
            (11, 12),
            (12, 13),
            (13, 14),
            (14, 10),
        ];
        assert!(found(&edges, 4).is_empty());
        assert_eq!(found(&edges, 5), vec![vec![10, 11, 12, 13, 14]]);
    }

    #[test]
    fn a_member_with_two_dominant_edges_can_be_in_two_rings() {
        // 1 gives half to 2 and half to 3 (two edges at exactly 50%); both give back to 1.
        // 1 -> 2 -> 1 -> 3 -> 1 passes 1 twice: not a cycle of its own.
        let edges = [(1, 2), (1, 3), (2, 1), (3, 1)];
        assert_eq!(found(&edges, 4), vec![vec![1, 2], vec![1, 3]]);
    }

    #[test]
    fn the_window_of_the_last_days_ends_tonight_in_the_organisation() {
        let now = "2026-12-07T23:30:00Z".parse::<DateTime<Utc>>().unwrap();
        // 00:30 on the 8th in Oslo: the window ends at local midnight after the 8th.
        let w = window("Europe/Oslo".into(), Span::LastDays(90), now).unwrap();
        assert_eq!(w.to, NaiveDate::from_ymd_opt(2026, 12, 9).unwrap());
        assert_eq!((w.to - w.from).num_days(), 90);
        assert_eq!(
            w.ends_at,
            "2026-12-08T23:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn shares_are_rounded_to_one_decimal() {
        assert_eq!(percent(240, 300), 80.0);
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(2, 3), 66.7);
        assert_eq!(percent(5, 0), 0.0);
    }
}
