//! `GET /api/v1/leaderboards/members` and `GET /api/v1/leaderboards/teams`.

use chrono::{DateTime, Utc};
use rocket::State;
use rocket::form::FromForm;
use rocket::get;
use utoipa::IntoParams;

use super::answers::{Parsed, compute_board};
use super::cache::{BoardCache, BoardKind};
use super::{MemberBoard, RankBy, Scope, TeamBoard, TeamMetric, period};
use crate::auth::Caller;
use crate::clock::Clock;
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::{RawJson, check, int_param, uuid_param};
use crate::openapi::responses::{Invalid, Unauthorized};
use crate::organisations::OrganisationCache;
use crate::rates::{Rates, UNCACHED_BOARDS_SPENT, UNCACHED_VALUE_BOARDS_SPENT};
use crate::read_cache;
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
    pub value_id: Option<String>,
    pub rank_by: Option<String>,
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
    /// Only points from recognitions carrying this company value (not with `dimension`).
    #[param(value_type = Option<Uuid>)]
    value_id: Option<String>,
    /// `points` or `distinct_givers` (how many different colleagues recognised or boosted each
    /// member in the period, then the recognition points they brought); default: the
    /// organisation's `rank_members_by`. Not with `dimension` or `value_id`.
    #[param(value_type = Option<RankBy>)]
    rank_by: Option<String>,
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
    /// Only points from recognitions carrying this company value (not with `dimension`).
    #[param(value_type = Option<Uuid>)]
    value_id: Option<String>,
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
    let value = uuid_param("value_id", p.value_id.as_deref(), &mut errors);
    if value.is_some() && dimension.is_some() {
        errors.push(FieldError::new(
            "value_id",
            "cannot be combined with dimension: a value board counts recognitions of any dimension",
        ));
    }
    let rank_by = match p.rank_by.as_deref() {
        None => None,
        Some(r) => RankBy::parse(r).or_else(|| {
            errors.push(FieldError::new(
                "rank_by",
                "must be points or distinct_givers",
            ));
            None
        }),
    };
    if rank_by == Some(RankBy::DistinctGivers) && (dimension.is_some() || value.is_some()) {
        errors.push(FieldError::new(
            "rank_by",
            "distinct_givers ranks whole recognitions: not with dimension or value_id",
        ));
    }
    // The organisation's default applies to the plain board only.
    let rank_by = rank_by.unwrap_or(if dimension.is_none() && value.is_none() {
        RankBy::parse(&organisation.rank_members_by).unwrap_or(RankBy::Points)
    } else {
        RankBy::Points
    });
    check(errors)?;
    let period = period.ok_or_else(|| AppError::invalid("period", "is not a period"))?;
    let window = (
        period.start.map(|d| periods::start_of_day(tz, d)),
        period.end.map(|d| periods::start_of_day(tz, d)),
    );
    Ok(Parsed {
        scope,
        team_id,
        period,
        dimension,
        limit,
        around,
        metric,
        value,
        window,
        rank_by,
    })
}

/// Serve a board from the read cache, or compute it and store it with the clock read before
/// any of its data was (the organisation's settings included). An answer that only outlived
/// its time to live is served while it is recomputed in the background
/// ([`read_cache::Shelf::get_or_refresh`]): a caller's client sends its next requests while
/// its answer is recomputed, and none of them waits on the database for it.
///
/// A board summed when asked (by value, by distinct givers) spends from the caller's budget of
/// uncached computations ([`Rates`]) when it is computed, in the background too; an answer
/// served from memory spends nothing.
async fn cached_board(
    states: Boards<'_>,
    caller: &Caller,
    params: &BoardParams,
    board: BoardKind,
) -> AppResult<RawJson> {
    let Boards {
        db,
        clock,
        cache,
        org_cache,
        rates,
    } = states;
    let since = read_cache::mark();
    let organisation = organisations::cached(db, org_cache, caller.organisation_id).await?;
    let p = parse(&organisation, params, clock.now())?;
    let key = p.cache_key(board, caller);
    let (db, cache_, caller_, rates) = (db.clone(), cache.clone(), caller.clone(), rates.clone());
    let answer = cache
        .boards
        .get_or_refresh(
            key,
            caller.organisation_id,
            Some(&caller.member_id),
            Some(since),
            move || compute_board(db, cache_, rates, caller_, p, board),
        )
        .await?;
    Ok(RawJson(answer))
}

/// What a board answer is made with: the service's states both boards take.
struct Boards<'a> {
    db: &'a Db,
    clock: &'a Clock,
    cache: &'a BoardCache,
    org_cache: &'a OrganisationCache,
    rates: &'a Rates,
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
        (status = 404, description = "No such team or value in your organisation", body = Problem, content_type = "application/problem+json"),
        Invalid,
        (status = 429, description = UNCACHED_BOARDS_SPENT, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/leaderboards/members?<params..>")]
pub async fn member_board(
    db: &State<Db>,
    clock: &State<Clock>,
    cache: &State<BoardCache>,
    org_cache: &State<OrganisationCache>,
    rates: &State<Rates>,
    caller: Caller,
    params: BoardParams,
) -> AppResult<RawJson> {
    let states = Boards {
        db,
        clock,
        cache,
        org_cache,
        rates,
    };
    cached_board(states, &caller, &params, BoardKind::Members).await
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
        (status = 404, description = "No such value in your organisation", body = Problem, content_type = "application/problem+json"),
        Invalid,
        (status = 429, description = UNCACHED_VALUE_BOARDS_SPENT, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/leaderboards/teams?<params..>")]
pub async fn team_board(
    db: &State<Db>,
    clock: &State<Clock>,
    cache: &State<BoardCache>,
    org_cache: &State<OrganisationCache>,
    rates: &State<Rates>,
    caller: Caller,
    params: BoardParams,
) -> AppResult<RawJson> {
    let states = Boards {
        db,
        clock,
        cache,
        org_cache,
        rates,
    };
    cached_board(states, &caller, &params, BoardKind::Teams).await
}

crate::http::operations!(
    /// The boards.
    LeaderboardsApi { member_board, team_board }
);
