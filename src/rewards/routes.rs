//! Rewards endpoints: the catalogue (`/api/v1/rewards/items`), redeeming
//! (`POST /api/v1/rewards/items/{id}/redemptions`), the admins' queue and its actions
//! (`/api/v1/rewards/redemptions/...`) and a member's own (`GET /api/v1/me/redemptions`). Each
//! parses, authorises (the guard) and calls one function of `catalogue` or `redeeming`.

use rocket::State;
use rocket::form::FromForm;
use rocket::http::Status;
use rocket::http::uri::Origin;
use rocket::serde::json::Json;
use rocket::{get, patch, post};
use utoipa::IntoParams;

use super::catalogue::{self, CreateRewardItem, UpdateRewardItem};
use super::queries::{self, RedemptionFilter};
use super::redeeming::{self, DeclineRedemption, Step};
use super::{Redemption, RedemptionStatus, RewardItem};
use crate::auth::{Admin, Caller, Role};
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::{
    Cursor, Fingerprint, JsonBody, Page, bool_param, check, page_limit, path_id, time_cursor,
    uuid_param,
};
use crate::idempotency::{self, IdempotencyKey, Replayable};
use crate::openapi::responses::{Forbidden, Invalid, NotFound, Unauthorized};

type Problem = crate::error::Problem;

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemParams {
    /// Include inactive items too (admins only; default false).
    #[param(value_type = Option<bool>)]
    pub include_inactive: Option<String>,
    /// Page size, 1-200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The catalogue, newest first: active items (any member), inactive ones too for admins who
/// ask (`include_inactive=true`).
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(ItemParams),
    responses(
        (status = 200, body = Page<RewardItem>),
        Unauthorized,
        (status = 403, description = "`include_inactive` asked for by someone who is not an admin", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[get("/api/v1/rewards/items?<params..>")]
pub async fn list_items(
    db: &State<Db>,
    caller: Caller,
    params: ItemParams,
) -> AppResult<Json<Page<RewardItem>>> {
    let mut errors = Vec::new();
    let limit = page_limit(params.limit.as_deref(), &mut errors);
    let after = time_cursor(params.cursor.as_deref(), &mut errors);
    let inactive = params.include_inactive.as_deref();
    let include_inactive = bool_param("include_inactive", inactive, false, &mut errors);
    check(errors)?;
    if include_inactive && !caller.is(Role::Admin) {
        return Err(AppError::Forbidden(
            "only admins may list inactive items".into(),
        ));
    }
    let mut conn = db.conn().await?;
    let org = caller.organisation_id;
    let rows = queries::list_items(&mut conn, org, include_inactive, after, limit + 1).await?;
    let items = rows.into_iter().map(RewardItem::from).collect();
    Ok(Json(Page::from_rows(items, limit, |i: &RewardItem| {
        Cursor::at(i.created_at, i.id)
    })))
}

/// Add an item to the catalogue (admins). Audited (`reward_item_created`).
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    request_body = CreateRewardItem,
    responses(
        (status = 201, body = RewardItem),
        Unauthorized,
        Forbidden,
        Invalid,
    )
)]
#[post("/api/v1/rewards/items", data = "<body>")]
pub async fn create_item(
    db: &State<Db>,
    admin: Admin,
    body: JsonBody<CreateRewardItem>,
) -> AppResult<(Status, Json<RewardItem>)> {
    let fields = body.0.parse()?;
    let mut conn = db.conn().await?;
    let item = catalogue::create(&mut conn, admin.organisation_id, admin.member_id, fields).await?;
    Ok((Status::Created, Json(item)))
}

/// One item: active ones for any member, inactive ones for admins (404 for others).
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Reward item id")),
    responses(
        (status = 200, body = RewardItem),
        Unauthorized,
        NotFound,
    )
)]
#[get("/api/v1/rewards/items/<id>")]
pub async fn show_item(db: &State<Db>, caller: Caller, id: &str) -> AppResult<Json<RewardItem>> {
    let id = path_id(id, "reward item")?;
    let mut conn = db.conn().await?;
    let admin = caller.is(Role::Admin);
    Ok(Json(
        catalogue::find(&mut conn, caller.organisation_id, id, admin).await?,
    ))
}

/// Change an item (admins): its words, picture, cost, stock, approval, or take it out of the
/// catalogue (`active: false`; items are never deleted). Audited (`reward_item_changed`).
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Reward item id")),
    request_body = UpdateRewardItem,
    responses(
        (status = 200, body = RewardItem),
        Unauthorized,
        Forbidden,
        NotFound,
        Invalid,
    )
)]
#[patch("/api/v1/rewards/items/<id>", data = "<body>")]
pub async fn update_item(
    db: &State<Db>,
    admin: Admin,
    id: &str,
    body: JsonBody<UpdateRewardItem>,
) -> AppResult<Json<RewardItem>> {
    let id = path_id(id, "reward item")?;
    let fields = body.0.parse()?;
    let mut conn = db.conn().await?;
    let org = admin.organisation_id;
    Ok(Json(
        catalogue::change(&mut conn, org, admin.member_id, id, fields).await?,
    ))
}

/// Redeem an active item (any member; no body): its cost comes off the caller's spendable
/// points (a `redemption` ledger entry) and one off its stock. Without approval it is
/// `approved` at once, otherwise `requested`. Refused with 409 when the caller cannot pay (with
/// `point_cost` and `spendable`), or the item is out of stock or inactive; concurrent
/// redemptions never overspend or oversell. Accepts `Idempotency-Key`. Audited.
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Reward item id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response"),
    ),
    responses(
        (status = 201, body = Redemption),
        Unauthorized,
        NotFound,
        (status = 409, description = "Not enough spendable points, out of stock, or no longer in the catalogue", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid `Idempotency-Key`, or one used for another request", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/rewards/items/<id>/redemptions")]
pub async fn redeem(
    db: &State<Db>,
    caller: Caller,
    key: IdempotencyKey,
    uri: &Origin<'_>,
    id: &str,
) -> AppResult<Replayable> {
    let item = path_id(id, "reward item")?;
    // No body: the path is the whole request.
    let fingerprint = Fingerprint::of(uri.path().as_str(), &serde_json::Value::Null);
    let (org, member) = (caller.organisation_id, caller.member_id);
    let mut conn = db.conn().await?;
    idempotency::once(&mut conn, &caller, &key, fingerprint, move |conn| {
        Box::pin(async move {
            let redemption = redeeming::redeem(conn, org, member, item).await?;
            Replayable::new(Status::Created, &redemption)
        })
    })
    .await
}

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueParams {
    /// Only redemptions in this status (e.g. `requested`: what waits for a decision).
    #[param(value_type = Option<RedemptionStatus>)]
    pub status: Option<String>,
    /// Only this member's.
    #[param(value_type = Option<Uuid>)]
    pub member_id: Option<String>,
    /// Only this item's.
    #[param(value_type = Option<Uuid>)]
    pub item_id: Option<String>,
    /// Page size, 1-200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `status`, parsed (its error noted in `errors`).
fn status_param(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<RedemptionStatus> {
    let raw = raw?;
    RedemptionStatus::parse_field(raw.trim(), "status")
        .map_err(|e| errors.push(e))
        .ok()
}

fn page(items: Vec<Redemption>, limit: i64) -> Json<Page<Redemption>> {
    Json(Page::from_rows(items, limit, |r: &Redemption| {
        Cursor::at(r.created_at, r.id)
    }))
}

/// The organisation's redemptions, oldest first (admins): the queue to act on, by `status`,
/// member or item.
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(QueueParams),
    responses(
        (status = 200, body = Page<Redemption>),
        Unauthorized,
        Forbidden,
        Invalid,
    )
)]
#[get("/api/v1/rewards/redemptions?<params..>")]
pub async fn list_redemptions(
    db: &State<Db>,
    admin: Admin,
    params: QueueParams,
) -> AppResult<Json<Page<Redemption>>> {
    let mut errors = Vec::new();
    let limit = page_limit(params.limit.as_deref(), &mut errors);
    let filter = RedemptionFilter {
        member: uuid_param("member_id", params.member_id.as_deref(), &mut errors),
        item: uuid_param("item_id", params.item_id.as_deref(), &mut errors),
        status: status_param(params.status.as_deref(), &mut errors),
        after: time_cursor(params.cursor.as_deref(), &mut errors),
        oldest_first: true,
        limit: limit + 1,
    };
    check(errors)?;
    let mut conn = db.conn().await?;
    let items = queries::list(&mut conn, admin.organisation_id, &filter).await?;
    Ok(page(items, limit))
}

#[derive(Debug, FromForm, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MineParams {
    /// Only redemptions in this status.
    #[param(value_type = Option<RedemptionStatus>)]
    pub status: Option<String>,
    /// Page size, 1-200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The caller's own redemptions, newest first.
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(MineParams),
    responses(
        (status = 200, body = Page<Redemption>),
        Unauthorized,
        Invalid,
    )
)]
#[get("/api/v1/me/redemptions?<params..>")]
pub async fn my_redemptions(
    db: &State<Db>,
    caller: Caller,
    params: MineParams,
) -> AppResult<Json<Page<Redemption>>> {
    let mut errors = Vec::new();
    let limit = page_limit(params.limit.as_deref(), &mut errors);
    let filter = RedemptionFilter {
        member: Some(caller.member_id),
        status: status_param(params.status.as_deref(), &mut errors),
        after: time_cursor(params.cursor.as_deref(), &mut errors),
        limit: limit + 1,
        ..RedemptionFilter::default()
    };
    check(errors)?;
    let mut conn = db.conn().await?;
    let items = queries::list(&mut conn, caller.organisation_id, &filter).await?;
    Ok(page(items, limit))
}

/// One redemption: the caller's own, or any for admins.
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Redemption id")),
    responses(
        (status = 200, body = Redemption),
        Unauthorized,
        (status = 403, description = "Another member's redemption", body = Problem, content_type = "application/problem+json"),
        NotFound,
    )
)]
#[get("/api/v1/rewards/redemptions/<id>")]
pub async fn show_redemption(
    db: &State<Db>,
    caller: Caller,
    id: &str,
) -> AppResult<Json<Redemption>> {
    let id = path_id(id, "redemption")?;
    let mut conn = db.conn().await?;
    Ok(Json(redeeming::find(&mut conn, &caller, id).await?))
}

/// Move a redemption by `step` for `caller`: the one body of the four actions below.
async fn act(db: &Db, caller: &Caller, id: &str, step: Step) -> AppResult<Json<Redemption>> {
    let id = path_id(id, "redemption")?;
    let mut conn = db.conn().await?;
    Ok(Json(redeeming::act(&mut conn, caller, id, step).await?))
}

/// Approve a `requested` redemption (admins). Audited (`redemption_approved`).
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Redemption id")),
    responses(
        (status = 200, body = Redemption),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "It is not `requested` (`current_status` says what it is)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/rewards/redemptions/<id>/approve")]
pub async fn approve(db: &State<Db>, admin: Admin, id: &str) -> AppResult<Json<Redemption>> {
    act(db, &admin, id, Step::Approve).await
}

/// Decline a `requested` redemption with a reason (admins): the member's points come back (a
/// `redemption` entry reversing the debit) and so does one of the item's stock. Audited
/// (`redemption_declined`).
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Redemption id")),
    request_body = DeclineRedemption,
    responses(
        (status = 200, body = Redemption),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "It is not `requested` (`current_status` says what it is)", body = Problem, content_type = "application/problem+json"),
        Invalid,
    )
)]
#[post("/api/v1/rewards/redemptions/<id>/decline", data = "<body>")]
pub async fn decline(
    db: &State<Db>,
    admin: Admin,
    id: &str,
    body: JsonBody<DeclineRedemption>,
) -> AppResult<Json<Redemption>> {
    let reason = body.0.parse()?;
    act(db, &admin, id, Step::Decline(reason)).await
}

/// Mark an `approved` redemption handed over (admins). Audited (`redemption_fulfilled`).
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Redemption id")),
    responses(
        (status = 200, body = Redemption),
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "It is not `approved` (`current_status` says what it is)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/rewards/redemptions/<id>/fulfil")]
pub async fn fulfil(db: &State<Db>, admin: Admin, id: &str) -> AppResult<Json<Redemption>> {
    act(db, &admin, id, Step::Fulfil).await
}

/// Cancel a redemption: the member who redeemed it while it is `requested`, an admin while it
/// is `requested` or `approved`. Refunded like a decline. Audited (`redemption_cancelled`).
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Redemption id")),
    responses(
        (status = 200, body = Redemption),
        Unauthorized,
        (status = 403, description = "Another member's redemption", body = Problem, content_type = "application/problem+json"),
        NotFound,
        (status = 409, description = "It can no longer be cancelled by the caller (`current_status` says what it is)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/rewards/redemptions/<id>/cancel")]
pub async fn cancel(db: &State<Db>, caller: Caller, id: &str) -> AppResult<Json<Redemption>> {
    act(db, &caller, id, Step::Cancel).await
}

crate::http::operations!(
    /// The rewards catalogue and redemptions.
    RewardsApi {
        list_items,
        create_item,
        show_item,
        update_item,
        redeem,
        list_redemptions,
        my_redemptions,
        show_redemption,
        approve,
        decline,
        fulfil,
        cancel,
    }
);
