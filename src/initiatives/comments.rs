//! Comments on an initiative: team leads coach, peers cheer. Any member of the organisation.

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

use super::{Comment, MemberRef, queries};
use crate::auth::Caller;
use crate::db::Db;
use crate::error::{AppResult, FieldError};
use crate::http::{Cursor, JsonBody, Page, check, page_limit, path_id, time_cursor};
use crate::openapi::responses::{Invalid, NotFound, Unauthorized};
use crate::rates::{COMMENTS_SPENT, Rated, Rates};
use crate::schema::{initiative_comments, members};
use crate::validation::long_text;

type Problem = crate::error::Problem;

pub const MAX_BODY: usize = 5000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    /// 1-5000 characters; line breaks allowed.
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

type Row = (Uuid, Uuid, String, String, DateTime<Utc>);

fn comment((id, author_id, display_name, body, created_at): Row) -> Comment {
    Comment {
        id,
        author: MemberRef {
            id: author_id,
            display_name,
        },
        body,
        created_at,
    }
}

macro_rules! comments_with_author {
    () => {
        initiative_comments::table
            .inner_join(
                members::table.on(members::id
                    .eq(initiative_comments::author_id)
                    .and(members::organisation_id.eq(initiative_comments::organisation_id))),
            )
            .select((
                initiative_comments::id,
                members::id,
                members::display_name,
                initiative_comments::body,
                initiative_comments::created_at,
            ))
    };
}

async fn load(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<Comment> {
    let row: Row = comments_with_author!()
        .filter(initiative_comments::organisation_id.eq(org))
        .filter(initiative_comments::id.eq(id))
        .first(conn)
        .await?;
    Ok(comment(row))
}

/// Comment on an initiative (any member of the organisation).
#[utoipa::path(
    tag = "initiatives", operation_id = "add_comment",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Initiative id")),
    request_body = NewComment,
    responses(
        (status = 201, body = Comment),
        Unauthorized,
        NotFound,
        Invalid,
        (status = 429, description = COMMENTS_SPENT, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/initiatives/<id>/comments", data = "<body>")]
pub async fn create(
    db: &State<Db>,
    rates: &State<Rates>,
    caller: Caller,
    id: &str,
    body: JsonBody<NewComment>,
) -> AppResult<(Status, Json<Comment>)> {
    let id = path_id(id, "initiative")?;
    let mut errors = Vec::new();
    let text = long_text("body", &body.0.body, MAX_BODY, true, &mut errors);
    check(errors)?;
    let org = caller.organisation_id;
    let mut conn = db.conn().await?;
    rates.spend(&mut conn, &caller, Rated::Comment).await?;
    let author = caller.member_id;
    let comment_id = crate::db::transaction(&mut conn, move |conn| {
        let text = text.clone();
        Box::pin(async move { super::notices::add_comment(conn, org, author, id, &text).await })
    })
    .await?;
    Ok((
        Status::Created,
        Json(load(&mut conn, org, comment_id).await?),
    ))
}

/// An initiative's comments, oldest first, paginated (any member of the organisation).
#[utoipa::path(
    tag = "initiatives", operation_id = "list_comments",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Initiative id"), CommentPage),
    responses(
        (status = 200, body = Page<Comment>),
        Unauthorized,
        NotFound,
        Invalid,
    )
)]
#[get("/api/v1/initiatives/<id>/comments?<page..>")]
pub async fn list(
    db: &State<Db>,
    caller: Caller,
    id: &str,
    page: CommentPage,
) -> AppResult<Json<Page<Comment>>> {
    let id = path_id(id, "initiative")?;
    let mut errors: Vec<FieldError> = Vec::new();
    let limit = page_limit(page.limit.as_deref(), &mut errors);
    let after = time_cursor(page.cursor.as_deref(), &mut errors);
    check(errors)?;
    let org = caller.organisation_id;
    let mut conn = db.conn().await?;
    queries::ensure_exists(&mut conn, org, id).await?;
    let mut query = comments_with_author!()
        .filter(initiative_comments::organisation_id.eq(org))
        .filter(initiative_comments::initiative_id.eq(id))
        .order((initiative_comments::created_at, initiative_comments::id))
        .limit(limit + 1)
        .into_boxed();
    if let Some((t, after_id)) = after {
        query = query.filter(
            initiative_comments::created_at
                .gt(t)
                .or(initiative_comments::created_at
                    .eq(t)
                    .and(initiative_comments::id.gt(after_id))),
        );
    }
    let rows: Vec<Row> = query.load(&mut conn).await?;
    let items = rows.into_iter().map(comment).collect();
    Ok(Json(Page::from_rows(items, limit, |c: &Comment| {
        Cursor::at(c.created_at, c.id)
    })))
}
