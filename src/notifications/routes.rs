//! `/api/v1/me/notifications`: the caller's inbox, newest first, marking read.

use rocket::State;
use rocket::form::FromForm;
use rocket::serde::json::Json;
use rocket::{get, post, put};
use utoipa::IntoParams;

use super::preferences::{self, Preferences};
use super::{Inbox, Notification, ReadAll, ReadAllDone, queries};
use crate::auth::Caller;
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::{Cursor, JsonBody, bool_param, check, page_limit, path_id};
use crate::openapi::responses::{Invalid, NotFound, Unauthorized};

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxParams {
    /// Page size, 1-200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only unread notifications (default false).
    #[param(value_type = Option<bool>)]
    pub unread_only: Option<String>,
}

/// The `seq` a cursor of this inbox carries.
fn seq_cursor(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<i64> {
    let cursor = Cursor::decode(raw, errors)?;
    let seq = cursor.key.parse::<i64>().ok();
    if seq.is_none() {
        errors.push(FieldError::new(
            "cursor",
            "is not a cursor this API returned; start again without it",
        ));
    }
    seq
}

/// The caller's notifications, newest first (by `seq`), with how many are unread.
#[utoipa::path(
    tag = "notifications",
    security(("bearer" = [])),
    params(InboxParams),
    responses((status = 200, body = Inbox), Unauthorized, Invalid)
)]
#[get("/api/v1/me/notifications?<params..>")]
pub async fn list(db: &State<Db>, caller: Caller, params: InboxParams) -> AppResult<Json<Inbox>> {
    let mut errors = Vec::new();
    let limit = page_limit(params.limit.as_deref(), &mut errors);
    let before = seq_cursor(params.cursor.as_deref(), &mut errors);
    let unread = params.unread_only.as_deref();
    let unread_only = bool_param("unread_only", unread, false, &mut errors);
    check(errors)?;
    let (org, me) = (caller.organisation_id, caller.member_id);
    let mut conn = db.conn().await?;
    let mut items = queries::page(&mut conn, org, me, before, unread_only, limit + 1).await?;
    let more = items.len() as i64 > limit;
    items.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = items.last().filter(|_| more).map(|n| {
        Cursor {
            key: n.seq.to_string(),
            id: n.id,
        }
        .encode()
    });
    let unread_count = queries::unread_count(&mut conn, org, me).await?;
    Ok(Json(Inbox {
        items,
        next_cursor,
        unread_count,
    }))
}

/// Mark one of the caller's notifications read (again: no change). Another member's, or
/// another organisation's, is not found.
#[utoipa::path(
    tag = "notifications",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Notification id")),
    responses((status = 200, body = Notification), Unauthorized, NotFound)
)]
#[post("/api/v1/me/notifications/<id>/read")]
pub async fn read_one(db: &State<Db>, caller: Caller, id: &str) -> AppResult<Json<Notification>> {
    let id = path_id(id, "notification")?;
    let (org, me) = (caller.organisation_id, caller.member_id);
    let mut conn = db.conn().await?;
    if !queries::mark_read(&mut conn, org, me, id).await? {
        return Err(AppError::not_found("notification"));
    }
    let shown = queries::one(&mut conn, org, me, id).await?;
    shown
        .map(Json)
        .ok_or_else(|| AppError::not_found("notification"))
}

/// Mark the caller's unread notifications read: all of them (`{}`), or those up to
/// `up_to_seq` (what the client has shown, so that one arrived since stays unread).
#[utoipa::path(
    tag = "notifications",
    security(("bearer" = [])),
    request_body = ReadAll,
    responses((status = 200, body = ReadAllDone), Unauthorized, Invalid)
)]
#[post("/api/v1/me/notifications/read-all", data = "<body>")]
pub async fn read_all(
    db: &State<Db>,
    caller: Caller,
    body: JsonBody<ReadAll>,
) -> AppResult<Json<ReadAllDone>> {
    let up_to = body.0.up_to_seq;
    if up_to.is_some_and(|s| s < 0) {
        return Err(AppError::invalid("up_to_seq", "must be 0 or more"));
    }
    let (org, me) = (caller.organisation_id, caller.member_id);
    let mut conn = db.conn().await?;
    let marked = queries::mark_all_read(&mut conn, org, me, up_to).await?;
    let unread_count = queries::unread_count(&mut conn, org, me).await?;
    Ok(Json(ReadAllDone {
        marked,
        unread_count,
    }))
}

/// The caller's notification preferences: every kind of event with whether it notifies, and
/// their quiet hours.
#[utoipa::path(
    tag = "notifications",
    security(("bearer" = [])),
    responses((status = 200, body = Preferences), Unauthorized)
)]
#[get("/api/v1/me/notification-preferences")]
pub async fn show_preferences(db: &State<Db>, caller: Caller) -> AppResult<Json<Preferences>> {
    let mut conn = db.conn().await?;
    let (org, me) = (caller.organisation_id, caller.member_id);
    Ok(Json(preferences::load(&mut conn, org, me).await?))
}

/// Replace the caller's notification preferences. A kind turned off is no longer written to
/// the inbox; quiet hours keep notifications in the inbox but off the stream.
#[utoipa::path(
    tag = "notifications",
    security(("bearer" = [])),
    request_body = Preferences,
    responses((status = 200, body = Preferences), Unauthorized, Invalid)
)]
#[put("/api/v1/me/notification-preferences", data = "<body>")]
pub async fn set_preferences(
    db: &State<Db>,
    caller: Caller,
    body: JsonBody<Preferences>,
) -> AppResult<Json<Preferences>> {
    let new = body.0;
    let (org, me) = (caller.organisation_id, caller.member_id);
    let mut conn = db.conn().await?;
    let saved = crate::db::transaction(&mut conn, move |conn| {
        let new = new.clone();
        Box::pin(async move { preferences::replace(conn, org, me, &new).await })
    })
    .await?;
    Ok(Json(saved))
}

crate::http::operations!(
    /// The caller's notifications.
    NotificationsApi {
        list,
        read_one,
        read_all,
        super::stream::stream,
        show_preferences,
        set_preferences,
    }
);
