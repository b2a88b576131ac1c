//! `GET /api/v1/leaderboards/members` and `GET /api/v1/leaderboards/teams`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use rocket::State;
use rocket::form::FromForm;
use rocket::get;
use utoipa::IntoParams;
use uuid::Uuid;

use super::cache::{BoardCache, BoardKey, BoardKind};
use super::queries::{self, Board};
use super::{MemberBoard, MemberStanding, Scope, TeamBoard, TeamMetric, TeamStanding, period};
use crate::auth::Caller;
use crate::clock::Clock;
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::{RawJson, check, int_param, uuid_param};
use crate::openapi::responses::{Invalid, Unauthorized};
use crate::organisations::OrganisationCache;
use crate::read_cache;
use crate::schema::teams;
use crate::vocabulary::Dimension;
use crate::{organisations, periods};

type Problem = crate::error::Problem;

pub const MAX_LIMIT: i64 = 100;
pub const MAX_AROUND: i64 = 50;

/// Both boards' query, read as text so that a bad value is named; each board documents its
/// own parameters (`MemberBoardParams`, `TeamBoardParams`).
#[derive(Debug, FromForm)]
pub struct BoardParams {
    pub scope: Option<String>,
    pub team_id: Option<String>,
    pub period: Option<String>,
    pub dimension: Option<String>,
    pub limit: Option<String>,
    pub around_me: Option<String>,
    pub metric: Option<String>,
}

/// The members board's query parameters (documentation).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct MemberBoardParams {
    /// `organisation` (default) or `team`.
    #[param(value_type = Option<Scope>)]
    scope: Option<String>,
    /// With `scope=team`: the team (default: the caller's).
    #[param(value_type = Option<Uuid>)]
    team_id: Option<String>,
    /// `week`, `month` (default), `quarter`, `year`, `all`, or a past period: `2026-W47`,
    /// `2026-11`, `2026-Q4`, `2026`. Periods follow the organisation's time zone.
    period: Option<String>,
    /// Only points earned in one CX dimension.
    #[param(value_type = Option<Dimension>)]
    dimension: Option<String>,
    /// Top N, 1-100 (default 10).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Also return the caller's neighbours: N above and N below (0-50, default 0).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 50)]
    around_me: Option<String>,
}

/// The teams board's query parameters (documentation).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct TeamBoardParams {
    /// `organisation` (the default, and the only scope: the board compares teams across the
    /// organisation).
    #[param(value_type = Option<TeamBoardScope>, inline)]
    scope: Option<String>,
    /// `week`, `month` (default), `quarter`, `year`, `all`, or a past period: `2026-W47`,
    /// `2026-11`, `2026-Q4`, `2026`. Periods follow the organisation's time zone.
    period: Option<String>,
    /// Only points earned in one CX dimension.
    #[param(value_type = Option<Dimension>)]
    dimension: Option<String>,
    /// Top N, 1-100 (default 10).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Also return the caller's team's neighbours: N above and N below (0-50, default 0).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 50)]
    around_me: Option<String>,
    /// `total` (default) or `per_member` (points per active member).
    #[param(value_type = Option<TeamMetric>)]
    metric: Option<String>,
}

/// Values of the teams board's `scope` (documentation).
#[derive(Debug, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum TeamBoardScope {
    Organisation,
}

struct Parsed {
    scope: Scope,
    team_id: Option<Uuid>,
    period: period::Period,
    dimension: Option<Dimension>,
    limit: i64,
    around: i64,
    metric: TeamMetric,
}

fn parse(
    organisation: &organisations::Organisation,
    p: &BoardParams,
    now: DateTime<Utc>,
) -> AppResult<Parsed> {
    let tz = periods::parse_tz(&organisation.time_zone);
    let mut errors = Vec::new();
    let scope = match p.scope.as_deref() {
        None | Some("organisation") => Scope::Organisation,
        Some("team") => Scope::Team,
        Some(_) => {
            errors.push(FieldError::new("scope", "must be team or organisation"));
            Scope::Organisation
        }
    };
    let team_id = uuid_param("team_id", p.team_id.as_deref(), &mut errors);
    let period = period::parse(p.period.as_deref(), tz, now)
        .map_err(|e| errors.push(e))
        .ok();
    let dimension = p.dimension.as_deref().and_then(|d| {
        Dimension::parse_field(d, "dimension")
            .map_err(|e| errors.push(e))
            .ok()
    });
    let limit = int_param("limit", p.limit.as_deref(), 10, (1, MAX_LIMIT), &mut errors);
    let around = int_param(
        "around_me",
        p.around_me.as_deref(),
        0,
        (0, MAX_AROUND),
        &mut errors,
    );
    let metric = match p.metric.as_deref() {
        None | Some("total") => TeamMetric::Total,
        Some("per_member") => TeamMetric::PerMember,
        Some(_) => {
            errors.push(FieldError::new("metric", "must be total or per_member"));
            TeamMetric::Total
        }
    };
    check(errors)?;
    let period = period.ok_or_else(|| AppError::invalid("period", "is not a period"))?;
    Ok(Parsed {
        scope,
        team_id,
        period,
        dimension,
        limit,
        around,
        metric,
    })
}

impl Parsed {
    fn cache_key(&self, board: BoardKind, caller: &Caller) -> BoardKey {
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
        }
    }
}

/// Serve a board from the read cache, or compute it and store it with the clock read before
/// any of its data was (the organisation's settings included). An answer that only outlived
/// its time to live is served while it is recomputed in the background
/// ([`read_cache::Shelf::get_or_refresh`]): a caller's client sends its next requests while
/// its answer is recomputed, and none of them waits on the database for it.
async fn cached_board(
    db: &Db,
    clock: &Clock,
    cache: &BoardCache,
    org_cache: &OrganisationCache,
    caller: &Caller,
    params: &BoardParams,
    board: BoardKind,
) -> AppResult<RawJson> {
    let since = read_cache::mark();
    let organisation = organisations::cached(db, org_cache, caller.organisation_id).await?;
    let p = parse(&organisation, params, clock.now())?;
    let key = p.cache_key(board, caller);
    let (db, cache_, caller_) = (db.clone(), cache.clone(), caller.clone());
    let answer = cache
        .boards
        .get_or_refresh(
            key,
            caller.organisation_id,
            Some(&caller.member_id),
            Some(since),
            move || compute_board(db, cache_, caller_, p, board),
        )
        .await?;
    Ok(RawJson(answer))
}

async fn compute_board(
    db: Db,
    cache: BoardCache,
    caller: Caller,
    p: Parsed,
    board: BoardKind,
) -> AppResult<std::sync::Arc<[u8]>> {
    let mut conn = db.conn().await?;
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

/// Members ranked by points in a period, in the organisation or one team. The answer always
/// includes the caller's own rank and points.
#[utoipa::path(
    tag = "leaderboards",
    security(("bearer" = [])),
    params(MemberBoardParams),
    responses(
        (status = 200, body = MemberBoard),
        Unauthorized,
        (status = 404, description = "No such team in your organisation", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[get("/api/v1/leaderboards/members?<params..>")]
pub async fn member_board(
    db: &State<Db>,
    clock: &State<Clock>,
    cache: &State<BoardCache>,
    org_cache: &State<OrganisationCache>,
    caller: Caller,
    params: BoardParams,
) -> AppResult<RawJson> {
    cached_board(
        db,
        clock,
        cache,
        org_cache,
        &caller,
        &params,
        BoardKind::Members,
    )
    .await
}

async fn member_answer(
    conn: &mut diesel_async::AsyncPgConnection,
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
            if Some(team) != caller.team_id && !crate::teams::exists(conn, org, team).await? {
                return Err(AppError::not_found("team"));
            }
            Some(team)
        }
    };
    let b = board(org, &p, team);
    let rows = queries::member_window(conn, &b, caller.member_id, p.limit, p.around).await?;
    // Ranks come from the board's histogram, shared by every caller. Taken after the rows, so
    // that a write which committed before they were read has also invalidated a histogram
    // read before it (unless its request has not ticked the clock yet: then this answer,
    // cached under an older mark, is dropped as soon as it does).
    let key = format!(
        "{org}|{}|{}|{}|{:?}",
        b.period, b.start, b.dimension, b.team
    );
    let histogram = cache
        .histograms
        .get_or_load(key, org, Some(&caller.member_id), async || {
            queries::histogram(conn, &b).await.map(std::sync::Arc::new)
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
    top.sort_by(board_order);
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
    let top = top.into_iter().map(|r| r.standing(&histogram)).collect();
    Ok(MemberBoard {
        scope: p.scope,
        team_id: team,
        period: p.period,
        dimension: p.dimension,
        ranked_members,
        top,
        me,
        around_me,
    })
}

/// Teams ranked by points in a period: total, or per active member. Points count for the team
/// a member was in when they earned them. The answer includes the caller's team.
#[utoipa::path(
    tag = "leaderboards",
    security(("bearer" = [])),
    params(TeamBoardParams),
    responses(
        (status = 200, body = TeamBoard),
        Unauthorized,
        Invalid,
    )
)]
#[get("/api/v1/leaderboards/teams?<params..>")]
pub async fn team_board(
    db: &State<Db>,
    clock: &State<Clock>,
    cache: &State<BoardCache>,
    org_cache: &State<OrganisationCache>,
    caller: Caller,
    params: BoardParams,
) -> AppResult<RawJson> {
    cached_board(
        db,
        clock,
        cache,
        org_cache,
        &caller,
        &params,
        BoardKind::Teams,
    )
    .await
}

async fn team_answer(
    conn: &mut diesel_async::AsyncPgConnection,
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
            queries::team_ranking(conn, &b, p.metric)
                .await
                .map(std::sync::Arc::new)
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
            let live: Option<(String, Option<chrono::DateTime<Utc>>)> = teams::table
                .filter(teams::organisation_id.eq(org))
                .filter(teams::id.eq(team))
                .select((teams::name, teams::archived_at))
                .first(conn)
                .await
                .optional()?;
            match live {
                Some((name, None)) => {
                    let size: i32 = crate::schema::team_sizes::table
                        .filter(crate::schema::team_sizes::organisation_id.eq(org))
                        .filter(crate::schema::team_sizes::team_id.eq(team))
                        .select(crate::schema::team_sizes::active_members)
                        .first(conn)
                        .await
                        .optional()?
                        .unwrap_or(0);
                    Some(TeamStanding {
                        rank: rank_without_points,
                        team_id: team,
                        name,
                        points: 0,
                        active_members: size,
                        points_per_member: 0.0,
                        reached_at: None,
                    })
                }
                _ => None,
            }
        }
        (None, None) => None,
    };
    Ok(TeamBoard {
        period: p.period,
        dimension: p.dimension,
        metric: p.metric,
        ranked_teams,
        top,
        my_team,
        around_my_team,
    })
}

crate::http::operations!(
    /// The boards.
    LeaderboardsApi { member_board, team_board }
);
