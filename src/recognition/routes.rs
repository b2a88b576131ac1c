//! Recognition endpoints: give, feed, show, react, and team leads' budgets. Each parses,
//! authorises and calls one function of `domain` or `queries`.

use rocket::State;
use rocket::form::FromForm;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, post, put};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::boosts::{self, NewBoost};
use super::domain::{self, CreateRecognition};
use super::giving::GivingKind;
use super::queries::{self, FeedFilter};
use super::visibility::Viewer;
use super::{ReactionKind, Recognition};
use super::{comments, take_back};
use crate::auth::{Admin, Caller};
use crate::clock::Clock;
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::{Cursor, JsonBody, Page, check, page_limit, path_id, time_cursor, uuid_param};
use crate::idempotency::{self, IdempotencyKey, Replayable};
use crate::openapi::responses::{Forbidden, Invalid, NotFound, Unauthorized};

type Problem = crate::error::Problem;

/// Recognise one or more members. Peers pay from their monthly allowance, team leads from their
/// budget; an overdrawn allowance or budget answers 409 and grants nothing. Accepts
/// `Idempotency-Key`: a retry with the same key returns the first response.
#[utoipa::path(
    tag = "recognition",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response; the same key with another body answers 422")),
    request_body = CreateRecognition,
    responses(
        (status = 201, body = Recognition),
        Unauthorized,
        (status = 409, description = "Allowance, budget or daily cap exceeded", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[post("/api/v1/recognitions", data = "<body>")]
pub async fn create(
    db: &State<Db>,
    clock: &State<Clock>,
    caller: Caller,
    key: IdempotencyKey,
    body: JsonBody<CreateRecognition>,
) -> AppResult<Replayable> {
    let req = body.0;
    let mut conn = db.conn().await?;
    let org = caller.organisation_id;
    let giver = caller.member_id;
    let kind = GivingKind::for_role(caller.role);
    let now = clock.now();
    idempotency::once(&mut conn, &caller, &key, body.1, move |conn| {
        let req = req.clone();
        Box::pin(async move {
            let view = domain::create(conn, org, giver, kind, &req, now).await?;
            Replayable::new(Status::Created, &view)
        })
    })
    .await
}

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// Only recognitions of members of this team (their team when recognised).
    #[param(value_type = Option<Uuid>)]
    pub team_id: Option<String>,
    /// Only recognitions this member gave or received.
    #[param(value_type = Option<Uuid>)]
    pub member_id: Option<String>,
    /// Only recognitions carrying this company value.
    #[param(value_type = Option<Uuid>)]
    pub value_id: Option<String>,
    /// Only recognitions whose message names this `#hashtag` (with or without '#'; 1-50
    /// letters, digits or '_'), free or a value's.
    #[param(min_length = 1, max_length = 51)]
    pub hashtag: Option<String>,
    /// Page size, 1-200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The recognition feed of the organisation, or of one team, member, value or hashtag, newest
/// first.
#[utoipa::path(
    tag = "recognition",
    security(("bearer" = [])),
    params(FeedParams),
    responses(
        (status = 200, body = Page<Recognition>),
        Unauthorized,
        Invalid,
    )
)]
#[get("/api/v1/recognitions?<params..>")]
pub async fn feed(
    db: &State<Db>,
    caller: Caller,
    params: FeedParams,
) -> AppResult<Json<Page<Recognition>>> {
    let mut errors = Vec::new();
    let limit = page_limit(params.limit.as_deref(), &mut errors);
    let after = time_cursor(params.cursor.as_deref(), &mut errors);
    let team = uuid_param("team_id", params.team_id.as_deref(), &mut errors);
    let member = uuid_param("member_id", params.member_id.as_deref(), &mut errors);
    let value = uuid_param("value_id", params.value_id.as_deref(), &mut errors);
    let hashtag = params.hashtag.as_deref().map(|t| {
        let tag = t.trim().trim_start_matches('#').to_lowercase();
        if !crate::values::is_hashtag(&tag) {
            errors.push(FieldError::new(
                "hashtag",
                "must be 1-50 letters, digits or '_'",
            ));
        }
        tag
    });
    check(errors)?;
    let filter = FeedFilter {
        team,
        member,
        value,
        hashtag,
        after,
        limit: limit + 1,
    };
    let mut conn = db.conn().await?;
    let viewer = Viewer::from(&caller);
    let items = queries::feed(&mut conn, caller.organisation_id, &viewer, &filter).await?;
    Ok(Json(Page::from_rows(items, limit, |r: &Recognition| {
        Cursor::at(r.created_at, r.id)
    })))
}

/// One recognition, if the caller may see it (its visibility; undone ones stay readable, hidden
/// ones only by admins).
#[utoipa::path(
    tag = "recognition",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Recognition id")),
    responses(
        (status = 200, body = Recognition),
        Unauthorized,
        NotFound,
    )
)]
#[get("/api/v1/recognitions/<id>")]
pub async fn show(db: &State<Db>, caller: Caller, id: &str) -> AppResult<Json<Recognition>> {
    let id = path_id(id, "recognition")?;
    let mut conn = db.conn().await?;
    let viewer = Viewer::from(&caller);
    Ok(Json(
        queries::load(&mut conn, caller.organisation_id, &viewer, id).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct React {
    pub kind: ReactionKind,
}

/// React to a recognition (any member; one reaction of each kind per member).
#[utoipa::path(
    tag = "recognition",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Recognition id")),
    request_body = React,
    responses(
        (status = 201, description = "The recognition with its reactions", body = Recognition),
        Unauthorized,
        NotFound,
        (status = 409, description = "You already reacted with this kind", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[post("/api/v1/recognitions/<id>/reactions", data = "<body>")]
pub async fn react(
    db: &State<Db>,
    caller: Caller,
    id: &str,
    body: JsonBody<React>,
) -> AppResult<(Status, Json<Recognition>)> {
    let id = path_id(id, "recognition")?;
    let mut conn = db.conn().await?;
    let viewer = Viewer::from(&caller);
    let view = domain::react(&mut conn, caller.organisation_id, &viewer, id, body.0.kind).await?;
    Ok((Status::Created, Json(view)))
}

/// Take back one's reaction.
#[utoipa::path(
    tag = "recognition",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Recognition id"),
        ("kind" = ReactionKind, Path, description = "The reaction to take back"),
    ),
    responses(
        (status = 204, description = "Removed"),
        Unauthorized,
        (status = 404, description = "No such recognition, or no such reaction of yours", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/recognitions/<id>/reactions/<kind>")]
pub async fn unreact(db: &State<Db>, caller: Caller, id: &str, kind: &str) -> AppResult<Status> {
    let id = path_id(id, "recognition")?;
    let kind = ReactionKind::parse(kind)
        .ok_or_else(|| AppError::NotFound("no such reaction kind".into()))?;
    let mut conn = db.conn().await?;
    domain::unreact(
        &mut conn,
        caller.organisation_id,
        caller.member_id,
        id,
        kind,
    )
    .await?;
    Ok(Status::NoContent)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadBudget {
    /// Points the lead may give per calendar month.
    pub monthly_points: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeadBudgetView {
    pub member_id: Uuid,
    pub monthly_points: i32,
}

/// Set a team lead's own monthly recognition budget (admins).
#[utoipa::path(
    tag = "recognition",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Member id of a team lead")),
    request_body = LeadBudget,
    responses(
        (status = 200, body = LeadBudgetView),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "The member is not a team lead", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[put("/api/v1/members/<id>/recognition-budget", data = "<body>")]
pub async fn set_budget(
    db: &State<Db>,
    admin: Admin,
    id: &str,
    body: JsonBody<LeadBudget>,
) -> AppResult<Json<LeadBudgetView>> {
    let id = path_id(id, "member")?;
    let points = body.0.monthly_points;
    let mut conn = db.conn().await?;
    domain::set_lead_budget(
        &mut conn,
        admin.organisation_id,
        id,
        points,
        admin.member_id,
    )
    .await?;
    Ok(Json(LeadBudgetView {
        member_id: id,
        monthly_points: points,
    }))
}

/// Boost someone else's recognition: `points` more for each recipient, paid from your own
/// allowance or budget (admins unbudgeted), once per recognition, within the same caps as a
/// recognition. Not your own recognition, nor one you received.
#[utoipa::path(
    tag = "recognition",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Recognition id")),
    request_body = NewBoost,
    responses(
        (status = 201, description = "The recognition with its boosts", body = Recognition),
        Unauthorized,
        (status = 403, description = "Your own recognition, or one you received", body = Problem, content_type = "application/problem+json"),
        NotFound,
        (status = 409, description = "Already boosted by you, undone or hidden, or your allowance, budget or a cap is exceeded", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[post("/api/v1/recognitions/<id>/boosts", data = "<body>")]
pub async fn boost(
    db: &State<Db>,
    clock: &State<Clock>,
    caller: Caller,
    id: &str,
    body: JsonBody<NewBoost>,
) -> AppResult<(Status, Json<Recognition>)> {
    let id = path_id(id, "recognition")?;
    let (org, viewer, new) = (caller.organisation_id, Viewer::from(&caller), body.0);
    let (kind, now) = (GivingKind::for_role(caller.role), clock.now());
    let mut conn = db.conn().await?;
    let view = crate::db::transaction(&mut conn, move |conn| {
        let new = new.clone();
        Box::pin(async move { boosts::boost(conn, org, &viewer, kind, id, &new, now).await })
    })
    .await?;
    Ok((Status::Created, Json(view)))
}

/// Undo a recognition you gave, within the organisation's `undo_window_hours` (default 24):
/// every recipient's and booster's points are reversed, every allowance and budget given back,
/// the boards corrected at once; the recognition is kept, `undone`.
#[utoipa::path(
    tag = "recognition",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Recognition id")),
    responses(
        (status = 200, description = "The recognition, undone", body = Recognition),
        Unauthorized,
        (status = 403, description = "You did not give it", body = Problem, content_type = "application/problem+json"),
        NotFound,
        (status = 409, description = "Already undone or hidden, or the undo window has passed", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/recognitions/<id>/undo")]
pub async fn undo(
    db: &State<Db>,
    clock: &State<Clock>,
    caller: Caller,
    id: &str,
) -> AppResult<Json<Recognition>> {
    let id = path_id(id, "recognition")?;
    let (org, viewer, now) = (caller.organisation_id, Viewer::from(&caller), clock.now());
    let mut conn = db.conn().await?;
    let view = crate::db::transaction(&mut conn, move |conn| {
        Box::pin(async move {
            let hours = crate::ledger::rules::load(conn, org)
                .await?
                .undo_window_hours;
            take_back::undo(conn, org, &viewer, id, hours, now).await
        })
    })
    .await?;
    Ok(Json(view))
}

crate::http::operations!(
    /// Recognitions, the feed, reactions, comments, boosts, undo and lead budgets.
    RecognitionApi {
        create,
        feed,
        show,
        react,
        unreact,
        set_budget,
        boost,
        undo,
        comments::create,
        comments::list,
        comments::edit,
        comments::remove,
    }
);
