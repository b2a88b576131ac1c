//! The challenges' HTTP edge: parse, authorise (the guards; a lead's own team for what they
//! set), call one domain function, answer.

use rocket::State;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, patch, post};

use super::{
    ChallengeProgress, Change, CreateChallenge, ListParams, ListQuery, NewChallenge,
    UpdateChallenge,
};
use crate::auth::{Caller, LeadOrAdmin, Role};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::http::{JsonBody, Page, path_id};
use crate::openapi::responses::{Invalid, NotFound, Unauthorized};

type Problem = crate::error::Problem;

/// Set a challenge (admins for any team or the organisation; team leads for their own team,
/// paid from their monthly recognition budget). Audited (`challenge_created`). Answers the
/// challenge with its progress so far: a window an admin backdated counts what happened since.
#[utoipa::path(
    tag = "gamification", operation_id = "create_challenge",
    security(("bearer" = [])),
    request_body = CreateChallenge,
    responses(
        (status = 201, description = "Set", body = ChallengeProgress),
        Unauthorized,
        (status = 403, description = "Not an admin, or a team lead setting one for another team or the organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The lead's budget cannot cover the reward, or the organisation or team has as many open challenges as it may", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[post("/api/v1/challenges", data = "<body>")]
pub async fn create_challenge(
    db: &State<Db>,
    caller: LeadOrAdmin,
    body: JsonBody<CreateChallenge>,
) -> AppResult<(Status, Json<ChallengeProgress>)> {
    body.0.authorise(&caller)?;
    let org = caller.organisation_id;
    let may_backdate = caller.is(Role::Admin);
    let mut conn = db.conn().await?;
    let now = crate::sql::now(&mut conn).await?;
    let new = NewChallenge::validated(&mut conn, org, body.0, now, may_backdate).await?;
    let created = super::create(&mut conn, &caller, new).await?;
    Ok((Status::Created, Json(created)))
}

/// Change a challenge before it starts (the admin, or the team lead who set it for their own
/// team). Audited (`challenge_changed`, with what changed from what).
#[utoipa::path(
    tag = "gamification", operation_id = "update_challenge",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Challenge id")),
    request_body = UpdateChallenge,
    responses(
        (status = 200, description = "Changed", body = ChallengeProgress),
        Unauthorized,
        (status = 403, description = "Not an admin, nor the team lead who set it for their own team", body = Problem, content_type = "application/problem+json"),
        NotFound,
        (status = 409, description = "It has started or is cancelled, or the lead's budget cannot cover the new reward", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[patch("/api/v1/challenges/<id>", data = "<body>")]
pub async fn update_challenge(
    db: &State<Db>,
    caller: LeadOrAdmin,
    id: &str,
    body: JsonBody<UpdateChallenge>,
) -> AppResult<Json<ChallengeProgress>> {
    let id = path_id(id, "challenge")?;
    let change = Change::parse(body.0).map_err(AppError::Validation)?;
    let mut conn = db.conn().await?;
    Ok(Json(super::change(&mut conn, &caller, id, change).await?))
}

/// Cancel a challenge before it starts (the admin, or the team lead who set it for their own
/// team): it never counts or pays, and a team lead's reservation goes back to the budget it
/// came from. Audited (`challenge_cancelled`).
#[utoipa::path(
    tag = "gamification", operation_id = "cancel_challenge",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Challenge id")),
    responses(
        (status = 200, description = "Cancelled", body = ChallengeProgress),
        Unauthorized,
        (status = 403, description = "Not an admin, nor the team lead who set it for their own team", body = Problem, content_type = "application/problem+json"),
        NotFound,
        (status = 409, description = "It has started or is already cancelled", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/challenges/<id>/cancel")]
pub async fn cancel_challenge(
    db: &State<Db>,
    caller: LeadOrAdmin,
    id: &str,
) -> AppResult<Json<ChallengeProgress>> {
    let id = path_id(id, "challenge")?;
    let mut conn = db.conn().await?;
    Ok(Json(super::cancel(&mut conn, &caller, id).await?))
}

/// The organisation's challenges with live progress (any member), cursor-paginated.
#[utoipa::path(
    tag = "gamification", operation_id = "list_challenges",
    security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, body = Page<ChallengeProgress>),
        Unauthorized,
        Invalid,
    )
)]
#[get("/api/v1/challenges?<params..>")]
pub async fn list_challenges(
    db: &State<Db>,
    caller: Caller,
    params: ListParams,
) -> AppResult<Json<Page<ChallengeProgress>>> {
    let query = ListQuery::parse(&params)?;
    let mut conn = db.conn().await?;
    let page = super::list(&mut conn, caller.organisation_id, caller.member_id, query).await?;
    Ok(Json(page))
}

/// One challenge with its live progress (any member of the organisation).
#[utoipa::path(
    tag = "gamification", operation_id = "show_challenge",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Challenge id")),
    responses(
        (status = 200, body = ChallengeProgress),
        Unauthorized,
        NotFound,
    )
)]
#[get("/api/v1/challenges/<id>")]
pub async fn show_challenge(
    db: &State<Db>,
    caller: Caller,
    id: &str,
) -> AppResult<Json<ChallengeProgress>> {
    let id = path_id(id, "challenge")?;
    let mut conn = db.conn().await?;
    Ok(Json(
        super::find(&mut conn, caller.organisation_id, caller.member_id, id).await?,
    ))
}

crate::http::operations!(
    /// The challenges operations.
    ChallengesApi {
        create_challenge,
        list_challenges,
        show_challenge,
        update_challenge,
        cancel_challenge,
    }
);
