//! Board answers, made from what every caller of a board shares (its top, its histogram of
//! totals, a whole team ranking: `BoardCache`'s shared shelves) and the caller's own rows.
//! The database is asked only for what is not on a shelf, on a connection checked out when
//! the first such read comes: a teams answer made from a cached ranking needs none.

use std::sync::Arc;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::cache::{BoardCache, BoardKey, BoardKind};
use super::queries::{self, Board};
use super::{
    MemberBoard, MemberStanding, RankBy, Scope, TeamBoard, TeamMetric, TeamStanding, period,
};
use super::{by_givers, by_value};
use crate::auth::Caller;
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult};
use crate::http::RawJson;
use crate::rates::{Rated, Rates};
use crate::read_cache;
use crate::schema::teams;
use crate::vocabulary::Dimension;

/// A board request's parameters, parsed (`routes::parse`).
pub(super) struct Parsed {
    pub(super) scope: Scope,
    pub(super) team_id: Option<Uuid>,
    pub(super) period: period::Period,
    pub(super) dimension: Option<Dimension>,
    pub(super) limit: i64,
    pub(super) around: i64,
    pub(super) metric: TeamMetric,
    /// Only points from recognitions carrying this company value.
    pub(super) value: Option<Uuid>,
    /// What ranks a members board (the request's, else the organisation's).
    pub(super) rank_by: RankBy,
    /// The period as times, [from, to) (open ends for `all`), for boards summed when asked.
    pub(super) window: (Option<chrono::DateTime<Utc>>, Option<chrono::DateTime<Utc>>),
}

impl Parsed {
    /// A value board's request, when this is one.
    fn by_value(&self) -> Option<by_value::ValueQuery> {
        self.value.map(|value| by_value::ValueQuery {
            value,
            scope: self.scope,
            period: self.period.clone(),
            window: self.window,
            limit: self.limit,
            around: self.around,
            metric: self.metric,
        })
    }

    pub(super) fn cache_key(&self, board: BoardKind, caller: &Caller) -> BoardKey {
        BoardKey {
            board,
            organisation: caller.organisation_id,
            member: caller.member_id,
            member_team: caller.team_id,
            scope: self.scope,
            team_id: self.team_id,
            period: self.period.kind,
            start: self.period.storage_start(),
            dimension: self.dimension,
            limit: self.limit,
            around: self.around,
            metric: self.metric,
            value: self.value,
            rank_by: self.rank_by,
        }
    }
}

/// A pool connection, checked out by the first read that needs one.
struct Lazy<'a> {
    db: &'a Db,
    conn: Option<Conn>,
    rates: &'a Rates,
}

impl Lazy<'_> {
    async fn get(&mut self) -> AppResult<&mut AsyncPgConnection> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.db.conn().await?,
        };
        Ok(&mut **self.conn.insert(conn))
    }

    /// The connection for a board summed when asked, once `caller` has paid for it from
    /// their budget of such computations (`429` when it is spent).
    async fn summed_for(&mut self, caller: &Caller) -> AppResult<&mut AsyncPgConnection> {
        let rates = self.rates;
        let conn = self.get().await?;
        rates.spend(conn, caller, Rated::Board).await?;
        Ok(conn)
    }
}

/// The answer to `p` for `caller`, serialised. A board summed when asked first spends one from
/// the caller's budget of such computations (`rates`).
pub(super) async fn compute_board(
    db: Db,
    cache: BoardCache,
    rates: Rates,
    caller: Caller,
    p: Parsed,
    board: BoardKind,
) -> AppResult<Arc<[u8]>> {
    let mut conn = Lazy {
        db: &db,
        conn: None,
        rates: &rates,
    };
    let answer = match board {
        BoardKind::Members => RawJson::of(&member_answer(&mut conn, &cache, &caller, p).await?),
        BoardKind::Teams => RawJson::of(&team_answer(&mut conn, &cache, &caller, p).await?),
    };
    answer.map(|answer| answer.0)
}

fn board(org: Uuid, p: &Parsed, team: Option<Uuid>) -> Board {
    Board {
        org,
        period: p.period.kind.as_str(),
        start: p.period.storage_start(),
        dimension: p
            .dimension
            .map(|d| d.as_str().to_string())
            .unwrap_or_default(),
        team,
    }
}

async fn member_answer(
    conn: &mut Lazy<'_>,
    cache: &BoardCache,
    caller: &Caller,
    p: Parsed,
) -> AppResult<MemberBoard> {
    let org = caller.organisation_id;
    let team = match p.scope {
        Scope::Organisation => None,
        Scope::Team => {
            let team = p
                .team_id
                .or(caller.team_id)
                .ok_or_else(|| AppError::invalid("team_id", "you are not in a team: name one"))?;
            // The caller's own team is in their organisation (a foreign key says so).
            if Some(team) != caller.team_id
                && !crate::teams::exists(conn.get().await?, org, team).await?
            {
                return Err(AppError::not_found("team"));
            }
            Some(team)
        }
    };
    if let Some(q) = p.by_value() {
        return by_value::members(conn.summed_for(caller).await?, caller, q, team).await;
    }
    if p.rank_by == RankBy::DistinctGivers {
        let q = by_givers::GiversQuery {
            scope: p.scope,
            period: p.period,
            window: p.window,
            limit: p.limit,
            around: p.around,
        };
        return by_givers::members(conn.summed_for(caller).await?, caller, q, team).await;
    }
    let b = board(org, &p, team);
    let key = format!(
        "{org}|{}|{}|{}|{:?}",
        b.period, b.start, b.dimension, b.team
    );
    // The top is shared by every caller of the board: read with the caller's rows when the
    // shelf has none to serve (missing, or due for a refresh), and left there for the others.
    // Read for the caller, so a write that paid them is never aged in.
    let top_key = format!("{key}|{}", p.limit);
    let shared_top = cache.tops.fresh(&top_key, Some(&caller.member_id));
    let at = read_cache::mark();
    let limit = if shared_top.is_some() { 0 } else { p.limit };
    let rows =
        queries::member_window(conn.get().await?, &b, caller.member_id, limit, p.around).await?;
    // Ranks come from the board's histogram, shared by every caller. Taken after the rows, so
    // that a write which committed before they were read has also invalidated a histogram
    // read before it (unless its request has not ticked the clock yet: then this answer,
    // cached under an older mark, is dropped as soon as it does).
    let histogram = cache
        .histograms
        .get_or_load(key, org, Some(&caller.member_id), async || {
            queries::histogram(conn.get().await?, &b)
                .await
                .map(Arc::new)
        })
        .await?;
    let ranked_members = histogram.members();
    let mut top = Vec::new();
    let mut me = None;
    let (mut tie_above, mut above, mut tie_below, mut below) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        match row.part.as_str() {
            "top" => top.push(row),
            "me" => me = Some(row.standing(&histogram)),
            "tie_above" => tie_above.push(row),
            "above" => above.push(row),
            "tie_below" => tie_below.push(row),
            _ => below.push(row),
        }
    }
    let me = me.ok_or_else(|| AppError::not_found("member"))?;
    // Each part comes in the order of its index scan; the board's order is points desc, then
    // who reached them first.
    let board_order = |a: &queries::MemberWindowRow, b: &queries::MemberWindowRow| {
        b.points
            .cmp(&a.points)
            .then(a.reached_at.cmp(&b.reached_at))
            .then(a.member_id.cmp(&b.member_id))
    };
    let top = match shared_top {
        Some(top) => top,
        None => {
            top.sort_by(board_order);
            let top = Arc::new(top);
            cache.tops.put(top_key, org, at, Arc::clone(&top));
            top
        }
    };
    let around_me = (p.around > 0).then(|| {
        let n = p.around as usize;
        // Nearest first: ties just above, then the next higher totals.
        let mut up: Vec<_> = tie_above.into_iter().chain(above).collect();
        up.sort_by(|a, b| board_order(b, a));
        up.truncate(n);
        up.reverse();
        let mut down: Vec<_> = tie_below.into_iter().chain(below).collect();
        down.sort_by(board_order);
        down.truncate(n);
        let mut window: Vec<MemberStanding> =
            up.into_iter().map(|r| r.standing(&histogram)).collect();
        window.push(me.clone());
        window.extend(down.into_iter().map(|r| r.standing(&histogram)));
        window
    });
    let top = top
        .iter()
        .cloned()
        .map(|r| r.standing(&histogram))
        .collect();
    Ok(MemberBoard {
        scope: p.scope,
        team_id: team,
        period: p.period,
        dimension: p.dimension,
        value_id: None,
        rank_by: RankBy::Points,
        ranked_members,
        top,
        me,
        around_me,
    })
}

async fn team_answer(
    conn: &mut Lazy<'_>,
    cache: &BoardCache,
    caller: &Caller,
    p: Parsed,
) -> AppResult<TeamBoard> {
    if p.scope == Scope::Team {
        return Err(AppError::invalid(
            "scope",
            "the teams board compares teams across the organisation: use scope=organisation",
        ));
    }
    if let Some(q) = p.by_value() {
        return by_value::teams(conn.summed_for(caller).await?, caller, q).await;
    }
    let org = caller.organisation_id;
    let b = board(org, &p, None);
    let mine = caller.team_id;
    // The whole ranking (a team count, not a member count) is shared by every caller of the
    // organisation; each answer is a slice of it.
    let key = format!(
        "{org}|{}|{}|{}|{:?}",
        b.period, b.start, b.dimension, p.metric
    );
    let rows = cache
        .team_boards
        .get_or_load(key, org, Some(&caller.member_id), async || {
            queries::team_ranking(conn.get().await?, &b, p.metric)
                .await
                .map(Arc::new)
        })
        .await?;
    let ranked_teams = rows.len() as i64;
    let limit = usize::try_from(p.limit).unwrap_or(0);
    let top: Vec<TeamStanding> = rows
        .iter()
        .take(limit)
        .cloned()
        .map(|r| r.standing())
        .collect();
    let my_index = mine.and_then(|t| rows.iter().position(|r| r.team_id == t));
    let around_my_team = match (my_index, p.around > 0) {
        (Some(i), true) => {
            let n = usize::try_from(p.around).unwrap_or(0);
            let end = (i + n + 1).min(rows.len());
            Some(
                rows[i.saturating_sub(n)..end]
                    .iter()
                    .cloned()
                    .map(|r| r.standing())
                    .collect(),
            )
        }
        _ => None,
    };
    let my_team = my_index.map(|i| rows[i].clone().standing());
    // Below every team with points (total), or below every team on the board (per member).
    let rank_without_points = match p.metric {
        TeamMetric::Total => 1 + rows.iter().filter(|r| r.points > 0).count() as i64,
        TeamMetric::PerMember => ranked_teams + 1,
    };
    // The caller's team without points in the period still shows, at the bottom.
    let my_team = match (my_team, mine) {
        (Some(t), _) => Some(t),
        (None, Some(team)) => {
            team_without_points(conn.get().await?, org, team, rank_without_points).await?
        }
        (None, None) => None,
    };
    Ok(TeamBoard {
        period: p.period,
        dimension: p.dimension,
        value_id: None,
        metric: p.metric,
        ranked_teams,
        top,
        my_team,
        around_my_team,
    })
}

/// The caller's team when it has no points on the board: at `rank`, unless it was archived.
async fn team_without_points(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    team: Uuid,
    rank: i64,
) -> AppResult<Option<TeamStanding>> {
    let live: Option<(String, Option<chrono::DateTime<Utc>>)> = teams::table
        .filter(teams::organisation_id.eq(org))
        .filter(teams::id.eq(team))
        .select((teams::name, teams::archived_at))
        .first(conn)
        .await
        .optional()?;
    let Some((name, None)) = live else {
        return Ok(None);
    };
    let size: i32 = crate::schema::team_sizes::table
        .filter(crate::schema::team_sizes::organisation_id.eq(org))
        .filter(crate::schema::team_sizes::team_id.eq(team))
        .select(crate::schema::team_sizes::active_members)
        .first(conn)
        .await
        .optional()?
        .unwrap_or(0);
    Ok(Some(TeamStanding {
        rank,
        team_id: team,
        name,
        points: 0,
        active_members: size,
        points_per_member: 0.0,
        reached_at: None,
    }))
}
