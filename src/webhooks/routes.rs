//! `/api/v1/webhooks` (admins): register endpoints, change, rotate, test and remove them,
//! read their delivery log and redeliver a message. Each handler parses, authorises and calls
//! one function of `endpoints`.

use rocket::State;
use rocket::form::FromForm;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, patch, post};
use utoipa::IntoParams;

use super::endpoints::{self, Change, NewWebhook};
use super::{
    CreateWebhook, Delivery, MessageStatus, UpdateWebhook, Webhook, WebhookAttempt, WebhookMessage,
    WebhookWithSecret,
};
use crate::auth::Admin;
use crate::db::Db;
use crate::error::AppResult;
use crate::http::{Cursor, JsonBody, Page, check, page_limit, path_id, time_cursor, uuid_param};
use crate::openapi::responses::{Forbidden, Invalid, NotFound, Unauthorized};

type Problem = crate::error::Problem;

/// Register an endpoint (admins). The answer carries its signing secret, this once.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    request_body = CreateWebhook,
    responses(
        (status = 201, body = WebhookWithSecret),
        Unauthorized,
        Forbidden,
        (status = 409, description = "The organisation has 20 endpoints already", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[post("/api/v1/webhooks", data = "<body>")]
pub async fn create(
    db: &State<Db>,
    delivery: &State<Delivery>,
    admin: Admin,
    body: JsonBody<CreateWebhook>,
) -> AppResult<(Status, Json<WebhookWithSecret>)> {
    let new = NewWebhook::parse(body.0, delivery.client.policy()).await?;
    let mut conn = db.conn().await?;
    let created = endpoints::create(&mut conn, admin.organisation_id, admin.member_id, new).await?;
    Ok((Status::Created, Json(created)))
}

/// The organisation's endpoints (admins), without their secrets.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<Webhook>), Unauthorized, Forbidden)
)]
#[get("/api/v1/webhooks")]
pub async fn list(db: &State<Db>, admin: Admin) -> AppResult<Json<Vec<Webhook>>> {
    let mut conn = db.conn().await?;
    Ok(Json(
        endpoints::list(&mut conn, admin.organisation_id).await?,
    ))
}

/// One endpoint (admins).
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses((status = 200, body = Webhook), Unauthorized, Forbidden, NotFound)
)]
#[get("/api/v1/webhooks/<id>")]
pub async fn get(db: &State<Db>, admin: Admin, id: &str) -> AppResult<Json<Webhook>> {
    let id = path_id(id, "webhook")?;
    let mut conn = db.conn().await?;
    Ok(Json(
        endpoints::get(&mut conn, admin.organisation_id, id).await?,
    ))
}

/// Change an endpoint (admins): its URL, event types, description, format, or switch it off
/// and on (on again, it sends what waited and forgets its failures).
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook id")),
    request_body = UpdateWebhook,
    responses((status = 200, body = Webhook), Unauthorized, Forbidden, NotFound, Invalid)
)]
#[patch("/api/v1/webhooks/<id>", data = "<body>")]
pub async fn update(
    db: &State<Db>,
    delivery: &State<Delivery>,
    admin: Admin,
    id: &str,
    body: JsonBody<UpdateWebhook>,
) -> AppResult<Json<Webhook>> {
    let id = path_id(id, "webhook")?;
    let change = Change::parse(body.0, delivery.client.policy()).await?;
    let mut conn = db.conn().await?;
    let (org, by) = (admin.organisation_id, admin.member_id);
    Ok(Json(
        endpoints::update(&mut conn, org, by, id, change).await?,
    ))
}

/// Remove an endpoint with its waiting messages and its log (admins).
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses((status = 204, description = "Removed"), Unauthorized, Forbidden, NotFound)
)]
#[delete("/api/v1/webhooks/<id>")]
pub async fn remove(db: &State<Db>, admin: Admin, id: &str) -> AppResult<Status> {
    let id = path_id(id, "webhook")?;
    let mut conn = db.conn().await?;
    endpoints::delete(&mut conn, admin.organisation_id, admin.member_id, id).await?;
    Ok(Status::NoContent)
}

/// A new signing secret (admins), shown this once. For a day both secrets sign every
/// delivery (two `v1,` signatures), so the receiver can switch without missing one.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses((status = 200, body = WebhookWithSecret), Unauthorized, Forbidden, NotFound)
)]
#[post("/api/v1/webhooks/<id>/rotate-secret")]
pub async fn rotate_secret(
    db: &State<Db>,
    admin: Admin,
    id: &str,
) -> AppResult<Json<WebhookWithSecret>> {
    let id = path_id(id, "webhook")?;
    let mut conn = db.conn().await?;
    let (org, by) = (admin.organisation_id, admin.member_id);
    Ok(Json(endpoints::rotate(&mut conn, org, by, id).await?))
}

/// Send a `webhook.test` message to an endpoint (admins), to check a receiver's set-up. Its
/// outcome shows in the endpoint's messages and attempts.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses(
        (status = 202, body = WebhookMessage),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "The webhook is disabled", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/webhooks/<id>/test")]
pub async fn test(
    db: &State<Db>,
    admin: Admin,
    id: &str,
) -> AppResult<(Status, Json<WebhookMessage>)> {
    let id = path_id(id, "webhook")?;
    let mut conn = db.conn().await?;
    let message = endpoints::test(&mut conn, admin.organisation_id, id).await?;
    Ok((Status::Accepted, Json(message)))
}

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageParams {
    /// Only messages in this status.
    #[param(value_type = Option<MessageStatus>)]
    pub status: Option<String>,
    /// Page size, 1-200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// An endpoint's messages, newest first (admins): what was sent, what waits, what failed.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook id"), MessageParams),
    responses((status = 200, body = Page<WebhookMessage>), Unauthorized, Forbidden, NotFound, Invalid)
)]
#[get("/api/v1/webhooks/<id>/messages?<params..>")]
pub async fn messages(
    db: &State<Db>,
    admin: Admin,
    id: &str,
    params: MessageParams,
) -> AppResult<Json<Page<WebhookMessage>>> {
    let id = path_id(id, "webhook")?;
    let mut errors = Vec::new();
    let limit = page_limit(params.limit.as_deref(), &mut errors);
    let before = time_cursor(params.cursor.as_deref(), &mut errors);
    let status = match params.status.as_deref() {
        Some(raw) => raw
            .parse::<MessageStatus>()
            .map_err(|e| errors.push(e))
            .ok(),
        None => None,
    };
    check(errors)?;
    let mut conn = db.conn().await?;
    let org = admin.organisation_id;
    let items = super::log::messages(&mut conn, org, id, status, before, limit + 1).await?;
    Ok(Json(Page::from_rows(items, limit, |m: &WebhookMessage| {
        Cursor::at(m.occurred_at, m.id)
    })))
}

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttemptParams {
    /// Only the attempts at this message.
    #[param(value_type = Option<Uuid>)]
    pub message_id: Option<String>,
    /// Page size, 1-200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// An endpoint's delivery log (admins), newest attempt first: each attempt with the
/// receiver's status and the start of its answer, or why nothing was answered.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Webhook id"), AttemptParams),
    responses((status = 200, body = Page<WebhookAttempt>), Unauthorized, Forbidden, NotFound, Invalid)
)]
#[get("/api/v1/webhooks/<id>/attempts?<params..>")]
pub async fn attempts(
    db: &State<Db>,
    admin: Admin,
    id: &str,
    params: AttemptParams,
) -> AppResult<Json<Page<WebhookAttempt>>> {
    let id = path_id(id, "webhook")?;
    let mut errors = Vec::new();
    let limit = page_limit(params.limit.as_deref(), &mut errors);
    let before = time_cursor(params.cursor.as_deref(), &mut errors);
    let message = uuid_param("message_id", params.message_id.as_deref(), &mut errors);
    check(errors)?;
    let mut conn = db.conn().await?;
    let org = admin.organisation_id;
    let items = super::log::attempts(&mut conn, org, id, message, before, limit + 1).await?;
    Ok(Json(Page::from_rows(items, limit, |a: &WebhookAttempt| {
        Cursor::at(a.attempted_at, a.id)
    })))
}

/// Send a message again now, with a fresh retry schedule (admins): a failed one, or one the
/// receiver lost.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Webhook id"),
        ("message_id" = Uuid, Path, description = "Message id"),
    ),
    responses(
        (status = 202, body = WebhookMessage),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "The webhook is disabled, or the message is being sent right now", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/webhooks/<id>/messages/<message_id>/redeliver")]
pub async fn redeliver(
    db: &State<Db>,
    admin: Admin,
    id: &str,
    message_id: &str,
) -> AppResult<(Status, Json<WebhookMessage>)> {
    let id = path_id(id, "webhook")?;
    let message = path_id(message_id, "message")?;
    let mut conn = db.conn().await?;
    let sent = endpoints::redeliver(&mut conn, admin.organisation_id, id, message).await?;
    Ok((Status::Accepted, Json(sent)))
}

crate::http::operations!(
    /// The webhook operations.
    WebhooksApi { create, list, get, update, remove, rotate_secret, test, messages, attempts, redeliver }
);
