//! Comments on recognitions: whoever may see a recognition may comment on it while it stands;
//! an author may edit their comment for 15 minutes, and delete it (so may an admin, audited).
//! Deleted and hidden comments are kept (moderation reads them) but never shown.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rocket::State;
use rocket::form::FromForm;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, patch, post};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::visibility::Viewer;
use super::{MemberRef, take_back};
use crate::audit::{self, Action, Actor};
use crate::auth::{Caller, Role};
use crate::clock::Clock;
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::{Cursor, JsonBody, Page, check, page_limit, path_id, time_cursor};
use crate::openapi::responses::{Forbidden, Invalid, NotFound, Unauthorized};
use crate::rates::{COMMENTS_SPENT, Rated, Rates};
use crate::schema::{members, recognition_comments};
use crate::validation::long_text;

type Problem = crate::error::Problem;

pub const MAX_BODY: usize = 2000;
/// How long an author may edit a comment.
pub const EDIT_MINUTES: i64 = 15;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecognitionComment {
    pub id: Uuid,
    pub recognition_id: Uuid,
    pub author: MemberRef,
    pub body: String,
    pub created_at: DateTime<Utc>,
    /// Set when its author edited it.
    pub edited_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    /// 1-2000 characters; line breaks allowed.
    pub body: String,
}

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CommentPage {
    /// Page size, 1-200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

type Row = (
    Uuid,
    Uuid,
    Uuid,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

macro_rules! shown_comments {
    ($org:expr) => {
        recognition_comments::table
            .inner_join(
                members::table.on(members::id
                    .eq(recognition_comments::author_id)
                    .and(members::organisation_id.eq(recognition_comments::organisation_id))),
            )
            .filter(recognition_comments::organisation_id.eq($org))
            .filter(recognition_comments::deleted_at.is_null())
            .filter(recognition_comments::hidden_at.is_null())
            .select((
                recognition_comments::id,
                recognition_comments::recognition_id,
                members::id,
                members::display_name,
                recognition_comments::body,
                recognition_comments::created_at,
                recognition_comments::edited_at,
            ))
    };
}

fn view(
    (id, recognition_id, author, display_name, body, created_at, edited_at): Row,
) -> RecognitionComment {
    RecognitionComment {
        id,
        recognition_id,
        author: MemberRef {
            id: author,
            display_name,
        },
        body,
        created_at,
        edited_at,
    }
}

fn body(raw: &str) -> AppResult<String> {
    let mut errors: Vec<FieldError> = Vec::new();
    let text = long_text("body", raw, MAX_BODY, true, &mut errors);
    check(errors)?;
    Ok(text)
}

/// A shown comment of recognition `rid`, or 404.
pub async fn find(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    rid: Uuid,
    id: Uuid,
) -> AppResult<RecognitionComment> {
    let row: Row = shown_comments!(org)
        .filter(recognition_comments::recognition_id.eq(rid))
        .filter(recognition_comments::id.eq(id))
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("comment"))?;
    Ok(view(row))
}

/// Comment on a recognition (whoever may see it, while it is not undone or hidden).
#[utoipa::path(
    tag = "recognition", operation_id = "comment_on_recognition",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Recognition id")),
    request_body = CommentBody,
    responses(
        (status = 201, body = RecognitionComment),
        Unauthorized,
        NotFound,
        (status = 409, description = "The recognition was undone or hidden", body = Problem, content_type = "application/problem+json"),
        Invalid,
        (status = 429, description = COMMENTS_SPENT, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/recognitions/<id>/comments", data = "<body>")]
pub async fn create(
    db: &State<Db>,
    rates: &State<Rates>,
    caller: Caller,
    id: &str,
    body: JsonBody<CommentBody>,
) -> AppResult<(Status, Json<RecognitionComment>)> {
    let rid = path_id(id, "recognition")?;
    let text = self::body(&body.0.body)?;
    let (org, viewer) = (caller.organisation_id, Viewer::from(&caller));
    let mut conn = db.conn().await?;
    rates.spend(&mut conn, &caller, Rated::Comment).await?;
    let comment = crate::db::transaction(&mut conn, |conn| {
        let text = text.clone();
        Box::pin(async move {
            let locked = take_back::lock(conn, org, &viewer, rid).await?;
            if locked.status != super::Status::Active {
                return Err(AppError::conflict(format!(
                    "this recognition is {}: it takes no comments",
                    locked.status.as_str()
                )));
            }
            let cid: Uuid = diesel::insert_into(recognition_comments::table)
                .values((
                    recognition_comments::organisation_id.eq(org),
                    recognition_comments::recognition_id.eq(rid),
                    recognition_comments::author_id.eq(viewer.member),
                    recognition_comments::body.eq(&text),
                ))
                .returning(recognition_comments::id)
                .get_result(conn)
                .await?;
            find(conn, org, rid, cid).await
        })
    })
    .await?;
    Ok((Status::Created, Json(comment)))
}

/// A recognition's comments, oldest first, paginated (whoever may see it).
#[utoipa::path(
    tag = "recognition", operation_id = "list_recognition_comments",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Recognition id"), CommentPage),
    responses((status = 200, body = Page<RecognitionComment>), Unauthorized, NotFound, Invalid)
)]
#[get("/api/v1/recognitions/<id>/comments?<page..>")]
pub async fn list(
    db: &State<Db>,
    caller: Caller,
    id: &str,
    page: CommentPage,
) -> AppResult<Json<Page<RecognitionComment>>> {
    let rid = path_id(id, "recognition")?;
    let mut errors: Vec<FieldError> = Vec::new();
    let limit = page_limit(page.limit.as_deref(), &mut errors);
    let after = time_cursor(page.cursor.as_deref(), &mut errors);
    check(errors)?;
    let org = caller.organisation_id;
    let mut conn = db.conn().await?;
    super::queries::load(&mut conn, org, &Viewer::from(&caller), rid).await?;
    let items = page_of(&mut conn, org, rid, after, limit).await?;
    Ok(Json(Page::from_rows(items, limit, |c| {
        Cursor::at(c.created_at, c.id)
    })))
}

async fn page_of(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    rid: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> AppResult<Vec<RecognitionComment>> {
    let mut query = shown_comments!(org)
        .filter(recognition_comments::recognition_id.eq(rid))
        .order((recognition_comments::created_at, recognition_comments::id))
        .limit(limit + 1)
        .into_boxed();
    if let Some((t, after_id)) = after {
        query = query.filter(
            recognition_comments::created_at
                .gt(t)
                .or(recognition_comments::created_at
                    .eq(t)
                    .and(recognition_comments::id.gt(after_id))),
        );
    }
    let rows: Vec<Row> = query.load(conn).await?;
    Ok(rows.into_iter().map(view).collect())
}

/// Edit one's comment, within 15 minutes of writing it.
#[utoipa::path(
    tag = "recognition", operation_id = "edit_recognition_comment",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Recognition id"),
        ("comment_id" = Uuid, Path, description = "Comment id"),
    ),
    request_body = CommentBody,
    responses(
        (status = 200, body = RecognitionComment),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "More than 15 minutes have passed", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[patch("/api/v1/recognitions/<id>/comments/<comment_id>", data = "<body>")]
pub async fn edit(
    db: &State<Db>,
    clock: &State<Clock>,
    caller: Caller,
    id: &str,
    comment_id: &str,
    body: JsonBody<CommentBody>,
) -> AppResult<Json<RecognitionComment>> {
    let (rid, cid) = (path_id(id, "recognition")?, path_id(comment_id, "comment")?);
    let text = self::body(&body.0.body)?;
    let mut conn = db.conn().await?;
    let now = clock.now();
    Ok(Json(
        change(&mut conn, &caller, rid, cid, &text, now).await?,
    ))
}

async fn change(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    rid: Uuid,
    cid: Uuid,
    text: &str,
    now: DateTime<Utc>,
) -> AppResult<RecognitionComment> {
    let org = caller.organisation_id;
    super::queries::load(conn, org, &Viewer::from(caller), rid).await?;
    let comment = find(conn, org, rid, cid).await?;
    if comment.author.id != caller.member_id {
        return Err(AppError::Forbidden(
            "only its author may edit a comment".into(),
        ));
    }
    let until = comment.created_at + chrono::Duration::minutes(EDIT_MINUTES);
    // The time limit is in the statement too, so an edit racing the deadline cannot pass it.
    let changed = diesel::update(
        recognition_comments::table
            .filter(recognition_comments::organisation_id.eq(org))
            .filter(recognition_comments::id.eq(cid))
            .filter(recognition_comments::deleted_at.is_null())
            .filter(recognition_comments::hidden_at.is_null())
            .filter(
                recognition_comments::created_at.ge(now - chrono::Duration::minutes(EDIT_MINUTES)),
            ),
    )
    .set((
        recognition_comments::body.eq(text),
        recognition_comments::edited_at.eq(now),
    ))
    .execute(conn)
    .await?;
    if changed == 0 {
        return Err(AppError::Conflict {
            detail: format!(
                "a comment can be edited for {EDIT_MINUTES} minutes after it is written"
            ),
            extra: Some(serde_json::json!({ "editable_until": until })),
        });
    }
    find(conn, org, rid, cid).await
}

/// Delete a comment: its author, or an admin (audited).
#[utoipa::path(
    tag = "recognition", operation_id = "delete_recognition_comment",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Recognition id"),
        ("comment_id" = Uuid, Path, description = "Comment id"),
    ),
    responses((status = 204, description = "Deleted"), Unauthorized, Forbidden, NotFound)
)]
#[delete("/api/v1/recognitions/<id>/comments/<comment_id>")]
pub async fn remove(
    db: &State<Db>,
    clock: &State<Clock>,
    caller: Caller,
    id: &str,
    comment_id: &str,
) -> AppResult<Status> {
    let (rid, cid) = (path_id(id, "recognition")?, path_id(comment_id, "comment")?);
    let mut conn = db.conn().await?;
    let now = clock.now();
    let caller = caller.clone();
    crate::db::transaction(&mut conn, move |conn| {
        let caller = caller.clone();
        Box::pin(async move { delete_comment(conn, &caller, rid, cid, now).await })
    })
    .await?;
    Ok(Status::NoContent)
}

async fn delete_comment(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    rid: Uuid,
    cid: Uuid,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let org = caller.organisation_id;
    super::queries::load(conn, org, &Viewer::from(caller), rid).await?;
    let comment = find(conn, org, rid, cid).await?;
    let own = comment.author.id == caller.member_id;
    if !own && !caller.is(Role::Admin) {
        return Err(AppError::Forbidden(
            "only its author or an admin may delete a comment".into(),
        ));
    }
    diesel::update(
        recognition_comments::table
            .filter(recognition_comments::organisation_id.eq(org))
            .filter(recognition_comments::id.eq(cid)),
    )
    .set((
        recognition_comments::deleted_at.eq(now),
        recognition_comments::deleted_by.eq(caller.member_id),
    ))
    .execute(conn)
    .await?;
    if !own {
        let detail = serde_json::json!({ "recognition_id": rid, "author": comment.author.id });
        let actor = Actor::Member(caller.member_id);
        audit::record(
            conn,
            org,
            actor,
            Action::CommentDeleted,
            Some(("comment", cid)),
            detail,
        )
        .await?;
    }
    Ok(())
}
