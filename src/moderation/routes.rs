//! Reporting (any member, on what they can see) and the admins' moderation queue.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rocket::State;
use rocket::form::FromForm;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, post};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{QueueFilter, Report, ReportStatus};
use crate::audit::{self, Action, Actor};
use crate::auth::{Admin, Caller};
use crate::clock::Clock;
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::{Cursor, JsonBody, Page, check, page_limit, path_id, time_cursor};
use crate::openapi::responses::{Forbidden, Invalid, NotFound, Unauthorized};
use crate::rates::{REPORTS_SPENT, Rated, Rates};
use crate::recognition::visibility::Viewer;
use crate::recognition::{comments, queries as recognitions, take_back};
use crate::schema::{moderation_reports, recognition_comments};
use crate::validation::long_text;

type Problem = crate::error::Problem;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    /// Why it should not be there: 1-1000 characters.
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// What the admin says about the decision (at most 1000 characters), kept with the report.
    pub note: Option<String>,
}

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueParams {
    /// Only reports in this status (default: every status).
    #[param(value_type = Option<ReportStatus>)]
    pub status: Option<String>,
    /// Page size, 1-200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn text(field: &str, raw: &str) -> AppResult<String> {
    let mut errors: Vec<FieldError> = Vec::new();
    let text = long_text(field, raw, 1000, true, &mut errors);
    check(errors)?;
    Ok(text)
}

/// File a report, once the reporter's budget of reports has paid for it (`429` when spent).
async fn file(
    conn: &mut AsyncPgConnection,
    rates: &Rates,
    caller: &Caller,
    rid: Uuid,
    cid: Option<Uuid>,
    reason: &str,
) -> AppResult<Report> {
    rates.spend(conn, caller, Rated::Report).await?;
    let org = caller.organisation_id;
    // The reporter must be able to see what they report: otherwise it is not there for them.
    recognitions::load(conn, org, &Viewer::from(caller), rid).await?;
    if let Some(cid) = cid {
        comments::find(conn, org, rid, cid).await?;
    }
    let id: Uuid = diesel::insert_into(moderation_reports::table)
        .values((
            moderation_reports::organisation_id.eq(org),
            moderation_reports::recognition_id.eq(rid),
            moderation_reports::comment_id.eq(cid),
            moderation_reports::reporter_id.eq(caller.member_id),
            moderation_reports::reason.eq(reason),
        ))
        .returning(moderation_reports::id)
        .get_result(conn)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Conflict { .. } => {
                AppError::conflict("you have already reported this; an admin will look at it")
            }
            other => other,
        })?;
    super::find(conn, org, id).await
}

/// Report a recognition you can see (any member), with a reason; admins see it in their queue.
#[utoipa::path(
    tag = "moderation",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Recognition id")),
    request_body = NewReport,
    responses(
        (status = 201, body = Report),
        Unauthorized,
        NotFound,
        (status = 409, description = "You have an open report of it already", body = Problem, content_type = "application/problem+json"),
        Invalid,
        (status = 429, description = REPORTS_SPENT, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/recognitions/<id>/reports", data = "<body>")]
pub async fn report_recognition(
    db: &State<Db>,
    rates: &State<Rates>,
    caller: Caller,
    id: &str,
    body: JsonBody<NewReport>,
) -> AppResult<(Status, Json<Report>)> {
    let rid = path_id(id, "recognition")?;
    let reason = text("reason", &body.0.reason)?;
    let mut conn = db.conn().await?;
    let report = file(&mut conn, rates, &caller, rid, None, &reason).await?;
    Ok((Status::Created, Json(report)))
}

/// Report a comment on a recognition you can see (any member), with a reason.
#[utoipa::path(
    tag = "moderation",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Recognition id"),
        ("comment_id" = Uuid, Path, description = "Comment id"),
    ),
    request_body = NewReport,
    responses(
        (status = 201, body = Report),
        Unauthorized,
        NotFound,
        (status = 409, description = "You have an open report of it already", body = Problem, content_type = "application/problem+json"),
        Invalid,
        (status = 429, description = REPORTS_SPENT, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post(
    "/api/v1/recognitions/<id>/comments/<comment_id>/reports",
    data = "<body>"
)]
pub async fn report_comment(
    db: &State<Db>,
    rates: &State<Rates>,
    caller: Caller,
    id: &str,
    comment_id: &str,
    body: JsonBody<NewReport>,
) -> AppResult<(Status, Json<Report>)> {
    let (rid, cid) = (path_id(id, "recognition")?, path_id(comment_id, "comment")?);
    let reason = text("reason", &body.0.reason)?;
    let mut conn = db.conn().await?;
    let report = file(&mut conn, rates, &caller, rid, Some(cid), &reason).await?;
    Ok((Status::Created, Json(report)))
}

/// The moderation queue (admins), oldest first: each report with what it reported.
#[utoipa::path(
    tag = "moderation",
    security(("bearer" = [])),
    params(QueueParams),
    responses((status = 200, body = Page<Report>), Unauthorized, Forbidden, Invalid)
)]
#[get("/api/v1/moderation/reports?<params..>")]
pub async fn queue(
    db: &State<Db>,
    admin: Admin,
    params: QueueParams,
) -> AppResult<Json<Page<Report>>> {
    let mut errors = Vec::new();
    let limit = page_limit(params.limit.as_deref(), &mut errors);
    let after = time_cursor(params.cursor.as_deref(), &mut errors);
    let status = params.status.as_deref().and_then(|s| {
        ReportStatus::parse_field(s, "status")
            .map_err(|e| errors.push(e))
            .ok()
    });
    check(errors)?;
    let filter = QueueFilter {
        status,
        after,
        limit: limit + 1,
    };
    let mut conn = db.conn().await?;
    let items = super::queue(&mut conn, admin.organisation_id, &filter).await?;
    Ok(Json(Page::from_rows(items, limit, |r: &Report| {
        Cursor::at(r.created_at, r.id)
    })))
}

/// Hide what a report names (admins): a recognition's points are reversed and every pot that
/// paid refunded, as by an undo, and only admins see it from then on; a comment is no longer
/// shown. Every open report of the same thing is resolved with it. Audited.
#[utoipa::path(
    tag = "moderation",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Report id")),
    request_body = Decision,
    responses(
        (status = 200, body = Report),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "The report is no longer open", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[post("/api/v1/moderation/reports/<id>/hide", data = "<body>")]
pub async fn hide(
    db: &State<Db>,
    clock: &State<Clock>,
    admin: Admin,
    id: &str,
    body: JsonBody<Decision>,
) -> AppResult<Json<Report>> {
    decide(db, clock.now(), &admin, id, body.0, ReportStatus::Hidden).await
}

/// Dismiss a report (admins): what it names stays. Audited.
#[utoipa::path(
    tag = "moderation",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Report id")),
    request_body = Decision,
    responses(
        (status = 200, body = Report),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "The report is no longer open", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[post("/api/v1/moderation/reports/<id>/dismiss", data = "<body>")]
pub async fn dismiss(
    db: &State<Db>,
    clock: &State<Clock>,
    admin: Admin,
    id: &str,
    body: JsonBody<Decision>,
) -> AppResult<Json<Report>> {
    decide(db, clock.now(), &admin, id, body.0, ReportStatus::Dismissed).await
}

async fn decide(
    db: &Db,
    now: DateTime<Utc>,
    admin: &Caller,
    id: &str,
    decision: Decision,
    to: ReportStatus,
) -> AppResult<Json<Report>> {
    let id = path_id(id, "report")?;
    let note = match decision.note.as_deref() {
        Some(n) => Some(text("note", n)?),
        None => None,
    };
    let admin = admin.clone();
    let mut conn = db.conn().await?;
    let report = crate::db::transaction(&mut conn, move |conn| {
        let (admin, note) = (admin.clone(), note.clone());
        Box::pin(async move { resolve(conn, &admin, id, note, to, now).await })
    })
    .await?;
    Ok(Json(report))
}

/// Resolve report `id` as `to`, hiding what it names first when `to` is `hidden`.
async fn resolve(
    conn: &mut AsyncPgConnection,
    admin: &Caller,
    id: Uuid,
    note: Option<String>,
    to: ReportStatus,
    now: DateTime<Utc>,
) -> AppResult<Report> {
    let org = admin.organisation_id;
    let target: (Uuid, Option<Uuid>, String) = moderation_reports::table
        .filter(moderation_reports::organisation_id.eq(org))
        .filter(moderation_reports::id.eq(id))
        .select((
            moderation_reports::recognition_id,
            moderation_reports::comment_id,
            moderation_reports::status,
        ))
        .for_no_key_update()
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("report"))?;
    let (rid, cid, status) = target;
    if status != ReportStatus::Open.as_str() {
        return Err(AppError::Conflict {
            detail: format!("this report is already {status}"),
            extra: Some(serde_json::json!({ "current_status": status })),
        });
    }
    let actor = Actor::Member(admin.member_id);
    let resolved = moderation_reports::table
        .filter(moderation_reports::organisation_id.eq(org))
        .filter(moderation_reports::status.eq(ReportStatus::Open.as_str()))
        .into_boxed();
    let resolved = match to {
        ReportStatus::Hidden => {
            hide_target(conn, admin, rid, cid, now).await?;
            // Every open report of the same thing is answered by hiding it.
            let same = resolved.filter(moderation_reports::recognition_id.eq(rid));
            match cid {
                Some(c) => same.filter(moderation_reports::comment_id.eq(c)),
                None => same.filter(moderation_reports::comment_id.is_null()),
            }
        }
        _ => {
            let detail = serde_json::json!({ "recognition_id": rid, "comment_id": cid });
            audit::record(
                conn,
                org,
                actor,
                Action::ReportDismissed,
                Some(("report", id)),
                detail,
            )
            .await?;
            resolved.filter(moderation_reports::id.eq(id))
        }
    };
    let ids: Vec<Uuid> = resolved.select(moderation_reports::id).load(conn).await?;
    diesel::update(moderation_reports::table.filter(moderation_reports::id.eq_any(&ids)))
        .set((
            moderation_reports::status.eq(to.as_str()),
            moderation_reports::resolved_at.eq(now),
            moderation_reports::resolved_by.eq(admin.member_id),
            moderation_reports::resolution_note.eq(&note),
        ))
        .execute(conn)
        .await?;
    super::find(conn, org, id).await
}

async fn hide_target(
    conn: &mut AsyncPgConnection,
    admin: &Caller,
    rid: Uuid,
    cid: Option<Uuid>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let org = admin.organisation_id;
    let actor = Actor::Member(admin.member_id);
    match cid {
        Some(c) => {
            diesel::update(
                recognition_comments::table
                    .filter(recognition_comments::organisation_id.eq(org))
                    .filter(recognition_comments::id.eq(c))
                    .filter(recognition_comments::hidden_at.is_null()),
            )
            .set(recognition_comments::hidden_at.eq(now))
            .execute(conn)
            .await?;
            let detail = serde_json::json!({ "recognition_id": rid });
            audit::record(
                conn,
                org,
                actor,
                Action::CommentHidden,
                Some(("comment", c)),
                detail,
            )
            .await
        }
        None => {
            let reversed = take_back::hide(conn, org, &Viewer::from(admin), rid, now).await?;
            let detail = serde_json::json!({ "reversed_entries": reversed.entries, "points": reversed.points });
            audit::record(
                conn,
                org,
                actor,
                Action::RecognitionHidden,
                Some(("recognition", rid)),
                detail,
            )
            .await
        }
    }
}

crate::http::operations!(
    /// Reports and the moderation queue.
    ModerationApi { report_recognition, report_comment, queue, hide, dismiss }
);
