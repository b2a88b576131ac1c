//! Initiative endpoints: log a win, list, show, edit, and move it through its lifecycle.

use rocket::State;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, patch, post};
use uuid::Uuid;

use super::input::{
    Approve, CreateInitiative, Decline, EditInitiative, Implement, ListParams, ListQuery, MAX_NOTE,
    Measure, note, refuse, validate_create, validate_edit, validate_measure,
};
use super::lifecycle::{self, Transition};
use super::{Initiative, InitiativeDetail};
use super::{listing, queries};
use crate::auth::Caller;
use crate::clock::Clock;
use crate::db::Db;
use crate::error::AppResult;
use crate::http::{JsonBody, Page, check, path_id};
use crate::idempotency::{self, IdempotencyKey, Replayable};
use crate::openapi::responses::{Invalid, NotFound, Unauthorized};
use crate::validation::long_text;

type Problem = crate::error::Problem;

/// Log a win (any member). Its team is the author's current team. With the organisation's
/// mandate on, it is approved on submission. Points: `initiative_submitted` to the author (now,
/// or on approval when `submission_points_on_approval` is on) and, with the mandate,
/// `initiative_approved` and each contributor's share; all of them within each member's
/// `submission_points_daily_cap` (what is not paid is named on the timeline). Accepts
/// `Idempotency-Key`: a retry with the same key returns the first response.
#[utoipa::path(
    tag = "initiatives",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response; the same key with another body answers 422")),
    request_body = CreateInitiative,
    responses(
        (status = 201, description = "Logged (approved already when the mandate is on)", body = Initiative),
        Unauthorized,
        (status = 422, description = "Invalid input; every offending field is named, e.g. `contributors[1]`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/initiatives", data = "<body>")]
pub async fn create(
    db: &State<Db>,
    caller: Caller,
    key: IdempotencyKey,
    body: JsonBody<CreateInitiative>,
) -> AppResult<Replayable> {
    let mut errors = Vec::new();
    let contributors = body.0.contributors.clone().unwrap_or_default();
    let new = match validate_create(body.0, &mut errors) {
        Some(new) if errors.is_empty() => new,
        _ => return Err(refuse(db, &caller, &contributors, errors).await),
    };
    let mut conn = db.conn().await?;
    let author = caller.clone();
    idempotency::once(&mut conn, &caller, &key, body.1, move |conn| {
        let author = author.clone();
        let new = new.clone();
        Box::pin(async move {
            let initiative = lifecycle::submit(conn, &author, new).await?;
            Replayable::new(Status::Created, &initiative)
        })
    })
    .await
}

/// List initiatives: yours, a team's, or the organisation's; filtered, sorted by newest or
/// priority, and cursor-paginated.
#[utoipa::path(
    tag = "initiatives",
    security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, body = Page<Initiative>),
        Unauthorized,
        (status = 403, description = "The scope or team is not yours to see", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[get("/api/v1/initiatives?<params..>")]
pub async fn list(
    db: &State<Db>,
    caller: Caller,
    params: ListParams,
) -> AppResult<Json<Page<Initiative>>> {
    let query = ListQuery::parse(&params, &caller)?;
    let (org, sort, after, limit) = (caller.organisation_id, query.sort, query.after, query.limit);
    let mut conn = db.conn().await?;
    let filter = query.filter(&mut conn, org).await?;
    let rows = listing::list(&mut conn, org, &filter, sort, after, limit).await?;
    Ok(Json(Page::from_rows(rows, limit, |i: &Initiative| {
        sort.cursor_of(i)
    })))
}

/// One initiative with its contributors, its timeline (oldest first) and its comment count
/// (any member of the organisation).
#[utoipa::path(
    tag = "initiatives",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Initiative id")),
    responses(
        (status = 200, body = InitiativeDetail),
        Unauthorized,
        NotFound,
    )
)]
#[get("/api/v1/initiatives/<id>")]
pub async fn show(db: &State<Db>, caller: Caller, id: &str) -> AppResult<Json<InitiativeDetail>> {
    let id = path_id(id, "initiative")?;
    let mut conn = db.conn().await?;
    Ok(Json(
        queries::detail(&mut conn, caller.organisation_id, id).await?,
    ))
}

/// Edit an initiative while it is submitted (its author only). `contributors` replaces the
/// list. Recorded on the timeline as an `edited` event naming the fields changed.
#[utoipa::path(
    tag = "initiatives",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Initiative id")),
    request_body = EditInitiative,
    responses(
        (status = 200, body = Initiative),
        Unauthorized,
        (status = 403, description = "You are not its author", body = Problem, content_type = "application/problem+json"),
        NotFound,
        (status = 409, description = "No longer submitted; `current_status` says what it is", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[patch("/api/v1/initiatives/<id>", data = "<body>")]
pub async fn edit(
    db: &State<Db>,
    caller: Caller,
    id: &str,
    body: JsonBody<EditInitiative>,
) -> AppResult<Json<Initiative>> {
    let id = path_id(id, "initiative")?;
    let mut errors = Vec::new();
    let edit = validate_edit(body.0, &mut errors);
    if !errors.is_empty() {
        let contributors = edit.contributors.clone().unwrap_or_default();
        return Err(refuse(db, &caller, &contributors, errors).await);
    }
    let mut conn = db.conn().await?;
    let initiative = crate::db::transaction(&mut conn, move |conn| {
        let caller = caller.clone();
        let edit = edit.clone();
        Box::pin(async move { lifecycle::edit(conn, &caller, id, edit).await })
    })
    .await?;
    Ok(Json(initiative))
}

/// Run a points-granting status change at most once per `Idempotency-Key`.
async fn transition_once(
    db: &State<Db>,
    caller: Caller,
    key: IdempotencyKey,
    fingerprint: crate::http::Fingerprint,
    id: Uuid,
    t: Transition,
) -> AppResult<Replayable> {
    let mut conn = db.conn().await?;
    let actor = caller.clone();
    idempotency::once(&mut conn, &caller, &key, fingerprint, move |conn| {
        let actor = actor.clone();
        let t = t.clone();
        Box::pin(async move {
            let initiative = lifecycle::transition(conn, &actor, id, t).await?;
            Replayable::new(Status::Ok, &initiative)
        })
    })
    .await
}

/// Approve a submitted initiative: a team lead of its team or an admin, neither its author nor
/// a contributor (an involved admin only when nobody else could; those points are capped).
/// Points: `initiative_approved` to the author (and `initiative_submitted`, within the daily
/// cap, when the organisation pays it on approval), `contributor` to each contributor.
/// Accepts `Idempotency-Key`.
#[utoipa::path(
    tag = "initiatives",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Initiative id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response"),
    ),
    request_body = Approve,
    responses(
        (status = 200, body = Initiative),
        Unauthorized,
        (status = 403, description = "Not a lead of its team, or you are its author or a contributor", body = Problem, content_type = "application/problem+json"),
        NotFound,
        (status = 409, description = "Not submitted; `current_status` says what it is", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[post("/api/v1/initiatives/<id>/approve", data = "<body>")]
pub async fn approve(
    db: &State<Db>,
    caller: Caller,
    key: IdempotencyKey,
    id: &str,
    body: JsonBody<Approve>,
) -> AppResult<Replayable> {
    let id = path_id(id, "initiative")?;
    let mut e = Vec::new();
    let note = note(body.0.note.as_deref(), &mut e);
    check(e)?;
    transition_once(db, caller, key, body.1, id, Transition::Approve { note }).await
}

/// Decline a submitted initiative, with a reason: a team lead of its team or an admin, neither
/// its author nor a contributor. No points; when the organisation pays submission points on
/// approval, submission points paid before are taken back with a reversing entry.
#[utoipa::path(
    tag = "initiatives",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Initiative id")),
    request_body = Decline,
    responses(
        (status = 200, body = Initiative),
        Unauthorized,
        (status = 403, description = "Not a lead of its team, or you are its author or a contributor", body = Problem, content_type = "application/problem+json"),
        NotFound,
        (status = 409, description = "Not submitted; `current_status` says what it is", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason given", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/initiatives/<id>/decline", data = "<body>")]
pub async fn decline(
    db: &State<Db>,
    caller: Caller,
    id: &str,
    body: JsonBody<Decline>,
) -> AppResult<Json<Initiative>> {
    let id = path_id(id, "initiative")?;
    let mut e = Vec::new();
    let reason = long_text("reason", &body.0.reason, MAX_NOTE, true, &mut e);
    check(e)?;
    let mut conn = db.conn().await?;
    let initiative = crate::db::transaction(&mut conn, move |conn| {
        let caller = caller.clone();
        let reason = reason.clone();
        Box::pin(async move {
            lifecycle::transition(conn, &caller, id, Transition::Decline { reason }).await
        })
    })
    .await?;
    Ok(Json(initiative))
}

/// Mark an approved initiative implemented: a team lead of its team or an admin, neither its
/// author nor a contributor; with the mandate on, also its author, whose points for it then
/// count against the daily cap. Points: `initiative_implemented` to the author, `contributor`
/// to each contributor. Accepts `Idempotency-Key`.
#[utoipa::path(
    tag = "initiatives",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Initiative id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response"),
    ),
    request_body = Implement,
    responses(
        (status = 200, body = Initiative),
        Unauthorized,
        (status = 403, description = "Not a lead of its team or an admin, or involved in it (the author may only with the mandate)", body = Problem, content_type = "application/problem+json"),
        NotFound,
        (status = 409, description = "Not approved; `current_status` says what it is", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[post("/api/v1/initiatives/<id>/implement", data = "<body>")]
pub async fn implement(
    db: &State<Db>,
    caller: Caller,
    key: IdempotencyKey,
    id: &str,
    body: JsonBody<Implement>,
) -> AppResult<Replayable> {
    let id = path_id(id, "initiative")?;
    let mut e = Vec::new();
    let note = note(body.0.note.as_deref(), &mut e);
    check(e)?;
    transition_once(db, caller, key, body.1, id, Transition::Implement { note }).await
}

/// Record the outcome of an implemented initiative: the KPI it moved, its baseline and result.
/// A team lead of its team or an admin, neither its author nor a contributor; with the mandate
/// on, also its author (within the daily cap). Points: `initiative_measured` to the author,
/// `contributor` to each contributor. Accepts `Idempotency-Key`.
#[utoipa::path(
    tag = "initiatives",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Initiative id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response"),
    ),
    request_body = Measure,
    responses(
        (status = 200, body = Initiative),
        Unauthorized,
        (status = 403, description = "Not a lead of its team or an admin, or involved in it (the author may only with the mandate)", body = Problem, content_type = "application/problem+json"),
        NotFound,
        (status = 409, description = "Not implemented; `current_status` says what it is", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[post("/api/v1/initiatives/<id>/measure", data = "<body>")]
pub async fn measure(
    db: &State<Db>,
    clock: &State<Clock>,
    caller: Caller,
    key: IdempotencyKey,
    id: &str,
    body: JsonBody<Measure>,
) -> AppResult<Replayable> {
    let id = path_id(id, "initiative")?;
    let (outcome, note) = validate_measure(body.0, clock.now())?;
    transition_once(
        db,
        caller,
        key,
        body.1,
        id,
        Transition::Measure { outcome, note },
    )
    .await
}

crate::http::operations!(
    /// Wins and their comments.
    InitiativesApi {
        create,
        list,
        show,
        edit,
        approve,
        decline,
        implement,
        measure,
        super::comments::create,
        super::comments::list,
    }
);
