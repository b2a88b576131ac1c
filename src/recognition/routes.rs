//! Recognition endpoints: give, feed, show, react, and team leads' budgets.

use std::collections::HashSet;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rocket::State;
use rocket::form::FromForm;
use rocket::http::Status;
use rocket::serde::json::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::giving::{self, GivingKind};
use super::{ReactionKind, Recognition, RecognitionRow, load, views};
use crate::auth::{Admin, Caller, Role};
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::{Cursor, JsonBody, Page, check, page_limit, path_id, uuid_param};
use crate::idempotency::{self, IdempotencyKey, Replayable};
use crate::ledger::{Credit, Reason, SourceType, rules};
use crate::schema::{
    initiatives, members, recognition_reactions, recognition_recipients, recognitions,
};
use crate::vocabulary::Dimension;
use crate::{organisations, periods, validation};

type Problem = crate::error::Problem;

pub const MAX_RECIPIENTS: usize = 50;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRecognition {
    /// Members to recognise (1-50, not yourself).
    pub recipients: Vec<Uuid>,
    pub message: String,
    /// Points for each recipient.
    pub points: i32,
    pub dimension: Option<Dimension>,
    /// The initiative this recognises, if any.
    pub initiative_id: Option<Uuid>,
}

/// Recognise one or more members. Peers pay from their monthly allowance, team leads from their
/// budget; an overdrawn allowance or budget answers 409 and grants nothing. Accepts
/// `Idempotency-Key`: a retry with the same key returns the first response.
#[utoipa::path(
    post, path = "/api/v1/recognitions", tag = "recognition",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response; the same key with another body answers 422")),
    request_body = CreateRecognition,
    responses(
        (status = 201, body = Recognition),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Allowance, budget or daily cap exceeded", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::post("/api/v1/recognitions", data = "<body>")]
pub async fn create(
    db: &State<Db>,
    caller: Caller,
    key: IdempotencyKey,
    body: JsonBody<CreateRecognition>,
) -> AppResult<Replayable> {
    let req = body.0;
    let mut conn = db.conn().await?;
    let org = caller.organisation_id;
    let giver = caller.member_id;
    let kind = GivingKind::for_role(caller.role);
    idempotency::once(&mut conn, &caller, &key, body.1, move |conn| {
        let req = req.clone();
        Box::pin(async move {
            let (id, unsettled) = record(conn, org, giver, kind, &req).await?;
            // The answer is read before the points are written: the ledger write locks
            // leaderboard rows that concurrent recognitions share until commit, so it goes last.
            let view = load(conn, org, giver, id).await?;
            unsettled.settle(conn).await?;
            Replayable::new(Status::Created, &view)
        })
    })
    .await
}

/// Recognise `new.recipients` on behalf of `giver`, points included. Checks every rule.
pub async fn give(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    giver: Uuid,
    kind: GivingKind,
    new: &CreateRecognition,
) -> AppResult<Uuid> {
    let (id, unsettled) = record(conn, org, giver, kind, new).await?;
    unsettled.settle(conn).await?;
    Ok(id)
}

/// A recognition written, its points not yet: [`Unsettled::settle`] must follow in the same
/// transaction.
#[must_use = "the recipients' points are only written by settle"]
pub struct Unsettled {
    org: Uuid,
    involved: Vec<Uuid>,
    credits: Vec<Credit>,
}

impl Unsettled {
    /// Write the recipients' points and what the recognition earned (badges, challenges).
    pub async fn settle(self, conn: &mut AsyncPgConnection) -> AppResult<()> {
        crate::gamification::settle(conn, self.org, &self.involved, self.credits).await
    }
}

/// [`give`] without its points: everything is checked and written but the ledger entries.
pub async fn record(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    giver: Uuid,
    kind: GivingKind,
    new: &CreateRecognition,
) -> AppResult<(Uuid, Unsettled)> {
    let CreateRecognition {
        recipients,
        message,
        points,
        dimension,
        initiative_id,
    } = new;
    let (points, dimension, initiative_id) = (*points, *dimension, *initiative_id);
    // Every rule is checked here, not in the handler, so no caller (the demo, a future
    // import) can skip one.
    let mut errors = Vec::new();
    let message = validation::text("message", message, 2000, &mut errors);
    if recipients.is_empty() {
        errors.push(FieldError::new(
            "recipients",
            "name at least one member to recognise",
        ));
    } else if recipients.len() > MAX_RECIPIENTS {
        errors.push(FieldError::new(
            "recipients",
            format!("at most {MAX_RECIPIENTS} members at once"),
        ));
    }
    let mut seen = HashSet::new();
    for (i, r) in recipients.iter().enumerate() {
        if *r == giver {
            errors.push(FieldError::new(
                format!("recipients[{i}]"),
                "you cannot recognise yourself",
            ));
        } else if !seen.insert(*r) {
            errors.push(FieldError::new(
                format!("recipients[{i}]"),
                "is listed twice",
            ));
        }
    }
    if points < 1 {
        errors.push(FieldError::new("points", "must be at least 1"));
    }
    check(errors)?;
    let rules = rules::load(conn, org).await?;
    let mut errors = Vec::new();
    if points > rules.max_points_per_recognition {
        errors.push(FieldError::new(
            "points",
            format!(
                "must be at most {} per recipient",
                rules.max_points_per_recognition
            ),
        ));
    }
    let active: HashSet<Uuid> = members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq_any(recipients))
        .filter(members::deactivated_at.is_null())
        .select(members::id)
        .load::<Uuid>(conn)
        .await?
        .into_iter()
        .collect();
    for (i, r) in recipients.iter().enumerate() {
        if !active.contains(r) {
            errors.push(FieldError::new(
                format!("recipients[{i}]"),
                "no active member with that id in your organisation",
            ));
        }
    }
    if let Some(initiative) = initiative_id {
        let exists: i64 = initiatives::table
            .filter(initiatives::organisation_id.eq(org))
            .filter(initiatives::id.eq(initiative))
            .count()
            .get_result(conn)
            .await?;
        if exists == 0 {
            errors.push(FieldError::new(
                "initiative_id",
                "no initiative with that id in your organisation",
            ));
        }
    }
    check(errors)?;

    let organisation = organisations::find(conn, org).await?;
    let tz = periods::parse_tz(&organisation.time_zone);
    let cost = i64::from(points) * recipients.len() as i64;
    // Takes the giver's balance row lock: everything below sees every earlier recognition by
    // this giver, committed.
    let period = giving::spend(conn, org, giver, kind, cost, tz, &rules).await?;

    if kind == GivingKind::Peer {
        let (day_start, day_end) = periods::day_bounds(tz, Utc::now());
        let given: Vec<(Uuid, i32)> = recognitions::table
            .inner_join(
                recognition_recipients::table
                    .on(recognition_recipients::recognition_id.eq(recognitions::id)),
            )
            .filter(recognitions::organisation_id.eq(org))
            .filter(recognitions::giver_id.eq(giver))
            .filter(recognitions::kind.eq(GivingKind::Peer.as_str()))
            .filter(recognitions::created_at.ge(day_start))
            .filter(recognitions::created_at.lt(day_end))
            .filter(recognition_recipients::member_id.eq_any(recipients))
            .select((recognition_recipients::member_id, recognitions::points_each))
            .load(conn)
            .await?;
        for r in recipients {
            let today: i64 = given
                .iter()
                .filter(|(m, _)| m == r)
                .map(|(_, p)| i64::from(*p))
                .sum();
            if today + i64::from(points) > i64::from(rules.peer_daily_cap_per_recipient) {
                return Err(AppError::Conflict {
                    detail: format!(
                        "daily cap reached: you may give one colleague at most {} points a day, and have given {today} to this one today",
                        rules.peer_daily_cap_per_recipient
                    ),
                    extra: Some(
                        serde_json::json!({ "recipient": r, "given_today": today, "daily_cap": rules.peer_daily_cap_per_recipient }),
                    ),
                });
            }
        }
    }

    let id: Uuid = diesel::insert_into(recognitions::table)
        .values((
            recognitions::organisation_id.eq(org),
            recognitions::giver_id.eq(giver),
            recognitions::kind.eq(kind.as_str()),
            recognitions::message.eq(&message),
            recognitions::points_each.eq(points),
            recognitions::dimension.eq(dimension.map(|d| d.as_str())),
            recognitions::initiative_id.eq(initiative_id),
            recognitions::giving_period_start.eq(period),
        ))
        .returning(recognitions::id)
        .get_result(conn)
        .await?;
    let teams: Vec<(Uuid, Option<Uuid>)> = members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq_any(recipients))
        .select((members::id, members::team_id))
        .load(conn)
        .await?;
    let rows: Vec<_> = teams
        .iter()
        .map(|(member, team)| {
            (
                recognition_recipients::organisation_id.eq(org),
                recognition_recipients::recognition_id.eq(id),
                recognition_recipients::member_id.eq(*member),
                recognition_recipients::team_id.eq(*team),
            )
        })
        .collect();
    diesel::insert_into(recognition_recipients::table)
        .values(rows)
        .execute(conn)
        .await?;
    let credits = recipients
        .iter()
        .map(|r| {
            Credit::new(*r, points, Reason::RecognitionReceived)
                .source(SourceType::Recognition, id)
                .dimension(dimension)
        })
        .collect();
    let mut involved = recipients.clone();
    involved.push(giver);
    Ok((
        id,
        Unsettled {
            org,
            involved,
            credits,
        },
    ))
}

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// Only recognitions of members of this team (their team when recognised).
    pub team_id: Option<String>,
    /// Only recognitions this member gave or received.
    pub member_id: Option<String>,
    /// Page size, 1-200 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The recognition feed of the organisation, or of one team or member, newest first.
#[utoipa::path(
    get, path = "/api/v1/recognitions", tag = "recognition",
    security(("bearer" = [])),
    params(FeedParams),
    responses(
        (status = 200, body = Page<Recognition>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::get("/api/v1/recognitions?<params..>")]
pub async fn feed(
    db: &State<Db>,
    caller: Caller,
    params: FeedParams,
) -> AppResult<Json<Page<Recognition>>> {
    let mut errors = Vec::new();
    let limit = page_limit(params.limit.as_deref(), &mut errors);
    let cursor = Cursor::decode(params.cursor.as_deref(), &mut errors);
    let after = cursor
        .as_ref()
        .and_then(|c| c.time(&mut errors).map(|t| (t, c.id)));
    let team = uuid_param("team_id", params.team_id.as_deref(), &mut errors);
    let member = uuid_param("member_id", params.member_id.as_deref(), &mut errors);
    check(errors)?;
    let org = caller.organisation_id;
    let mut query = recognitions::table
        .filter(recognitions::organisation_id.eq(org))
        .order((recognitions::created_at.desc(), recognitions::id.desc()))
        .limit(limit + 1)
        .select(RecognitionRow::as_select())
        .into_boxed();
    if let Some(team) = team {
        query = query.filter(
            recognitions::id.eq_any(
                recognition_recipients::table
                    .filter(recognition_recipients::organisation_id.eq(org))
                    .filter(recognition_recipients::team_id.eq(team))
                    .select(recognition_recipients::recognition_id),
            ),
        );
    }
    if let Some(member) = member {
        query = query.filter(
            recognitions::giver_id
                .eq(member)
                .or(recognitions::id.eq_any(
                    recognition_recipients::table
                        .filter(recognition_recipients::organisation_id.eq(org))
                        .filter(recognition_recipients::member_id.eq(member))
                        .select(recognition_recipients::recognition_id),
                )),
        );
    }
    if let Some((t, id)) = after {
        query = query.filter(
            recognitions::created_at
                .lt(t)
                .or(recognitions::created_at.eq(t).and(recognitions::id.lt(id))),
        );
    }
    let mut conn = db.conn().await?;
    let rows: Vec<RecognitionRow> = query.load(&mut conn).await?;
    let items = views(&mut conn, org, caller.member_id, rows).await?;
    Ok(Json(Page::from_rows(items, limit, |r: &Recognition| {
        Cursor::at(r.created_at, r.id)
    })))
}

/// One recognition.
#[utoipa::path(
    get, path = "/api/v1/recognitions/{id}", tag = "recognition",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Recognition id")),
    responses(
        (status = 200, body = Recognition),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::get("/api/v1/recognitions/<id>")]
pub async fn show(db: &State<Db>, caller: Caller, id: &str) -> AppResult<Json<Recognition>> {
    let id = path_id(id, "recognition")?;
    let mut conn = db.conn().await?;
    Ok(Json(
        load(&mut conn, caller.organisation_id, caller.member_id, id).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct React {
    pub kind: ReactionKind,
}

/// React to a recognition (any member; one reaction of each kind per member).
#[utoipa::path(
    post, path = "/api/v1/recognitions/{id}/reactions", tag = "recognition",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Recognition id")),
    request_body = React,
    responses(
        (status = 201, description = "The recognition with its reactions", body = Recognition),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "You already reacted with this kind", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::post("/api/v1/recognitions/<id>/reactions", data = "<body>")]
pub async fn react(
    db: &State<Db>,
    caller: Caller,
    id: &str,
    body: JsonBody<React>,
) -> AppResult<(Status, Json<Recognition>)> {
    let id = path_id(id, "recognition")?;
    let org = caller.organisation_id;
    let mut conn = db.conn().await?;
    load(&mut conn, org, caller.member_id, id).await?;
    diesel::insert_into(recognition_reactions::table)
        .values((
            recognition_reactions::organisation_id.eq(org),
            recognition_reactions::recognition_id.eq(id),
            recognition_reactions::member_id.eq(caller.member_id),
            recognition_reactions::kind.eq(body.0.kind.as_str()),
        ))
        .execute(&mut conn)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Conflict { .. } => AppError::Conflict {
                detail: format!("you already reacted with {}", body.0.kind.as_str()),
                extra: Some(serde_json::json!({ "kind": body.0.kind })),
            },
            other => other,
        })?;
    Ok((
        Status::Created,
        Json(load(&mut conn, org, caller.member_id, id).await?),
    ))
}

/// Take back one's reaction.
#[utoipa::path(
    delete, path = "/api/v1/recognitions/{id}/reactions/{kind}", tag = "recognition",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Recognition id"),
        ("kind" = ReactionKind, Path, description = "The reaction to take back"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such recognition, or no such reaction of yours", body = Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::delete("/api/v1/recognitions/<id>/reactions/<kind>")]
pub async fn unreact(db: &State<Db>, caller: Caller, id: &str, kind: &str) -> AppResult<Status> {
    let id = path_id(id, "recognition")?;
    let kind = ReactionKind::parse(kind)
        .ok_or_else(|| AppError::NotFound("no such reaction kind".into()))?;
    let mut conn = db.conn().await?;
    let n = diesel::delete(
        recognition_reactions::table
            .filter(recognition_reactions::organisation_id.eq(caller.organisation_id))
            .filter(recognition_reactions::recognition_id.eq(id))
            .filter(recognition_reactions::member_id.eq(caller.member_id))
            .filter(recognition_reactions::kind.eq(kind.as_str())),
    )
    .execute(&mut conn)
    .await?;
    if n == 0 {
        return Err(AppError::NotFound(
            "you have no such reaction on that recognition".into(),
        ));
    }
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
    put, path = "/api/v1/members/{id}/recognition-budget", tag = "recognition",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Member id of a team lead")),
    request_body = LeadBudget,
    responses(
        (status = 200, body = LeadBudgetView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The member is not a team lead", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[rocket::put("/api/v1/members/<id>/recognition-budget", data = "<body>")]
pub async fn set_budget(
    db: &State<Db>,
    admin: Admin,
    id: &str,
    body: JsonBody<LeadBudget>,
) -> AppResult<Json<LeadBudgetView>> {
    let id = path_id(id, "member")?;
    let points = body.0.monthly_points;
    if !(0..=10_000_000).contains(&points) {
        return Err(AppError::invalid(
            "monthly_points",
            "must be between 0 and 10000000",
        ));
    }
    let mut conn = db.conn().await?;
    let role: String = members::table
        .filter(members::organisation_id.eq(admin.organisation_id))
        .filter(members::id.eq(id))
        .select(members::role)
        .first(&mut conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("member"))?;
    if role != Role::TeamLead.as_str() {
        return Err(AppError::Conflict {
            detail: "only team leads have a recognition budget; make the member a team lead first"
                .into(),
            extra: Some(serde_json::json!({ "role": role })),
        });
    }
    giving::set_lead_budget(
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

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![create, feed, show, react, unreact, set_budget]
}
