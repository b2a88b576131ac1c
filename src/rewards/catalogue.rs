//! The catalogue: what admins send to create and change items, its validation (every
//! offending field named in one 422), and the transactions behind it (audited).

use diesel_async::AsyncPgConnection;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::queries::{self, ItemFields};
use super::{MAX_DESCRIPTION, MAX_IMAGE_URL, MAX_POINT_COST, MAX_STOCK, MAX_TITLE, RewardItem};
use crate::audit::{self, Action, Actor};
use crate::db;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::check;
use crate::validation::{self, required};

/// A new item. Required: `title` and `point_cost`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRewardItem {
    /// 1-200 characters on one line.
    #[schema(required = true, value_type = String)]
    pub title: Option<String>,
    /// Up to 2000 characters; line breaks allowed.
    pub description: Option<String>,
    /// An `http` or `https` URL of at most 2048 characters; `null` or empty for none.
    pub image_url: Option<String>,
    /// What one redemption costs, 1-1000000 points.
    #[schema(required = true, value_type = i64, minimum = 1, maximum = 1000000)]
    pub point_cost: Option<i64>,
    /// How many can be redeemed, 0-1000000; absent or `null`: unlimited.
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1000000)]
    pub stock: Option<i64>,
    /// Redemptions wait for an admin's approval (default false).
    pub requires_approval: Option<bool>,
    /// Shown to members (default true).
    pub active: Option<bool>,
}

/// Change an item: absent fields stay as they are; what is given is checked as on creation.
/// A new `point_cost` applies to later redemptions (earlier ones keep what they paid).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRewardItem {
    /// 1-200 characters on one line.
    pub title: Option<String>,
    /// Up to 2000 characters; line breaks allowed.
    pub description: Option<String>,
    /// `null` or empty removes it.
    #[serde(default, deserialize_with = "validation::present")]
    #[schema(value_type = Option<String>)]
    pub image_url: Option<Option<String>>,
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1000000)]
    pub point_cost: Option<i64>,
    /// 0-1000000; `null`: unlimited.
    #[serde(default, deserialize_with = "validation::present")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1000000)]
    pub stock: Option<Option<i64>>,
    pub requires_approval: Option<bool>,
    /// `false` takes it out of the catalogue members see (it is never deleted: redemptions
    /// refer to it); `true` puts it back.
    pub active: Option<bool>,
}

impl CreateRewardItem {
    /// The item's fields, once every one is valid.
    pub fn parse(self) -> AppResult<ItemFields> {
        let mut errors = Vec::new();
        let title = required("title", self.title, &mut errors)
            .map(|t| validation::text("title", &t, MAX_TITLE, &mut errors));
        let point_cost = required("point_cost", self.point_cost, &mut errors)
            .and_then(|c| point_cost(c, &mut errors));
        let fields = ItemFields {
            title,
            description: self.description.map(|d| {
                validation::long_text("description", &d, MAX_DESCRIPTION, false, &mut errors)
            }),
            image_url: Some(image_url(
                "image_url",
                self.image_url.as_deref(),
                &mut errors,
            )),
            point_cost,
            stock: Some(self.stock.and_then(|s| stock(s, &mut errors))),
            requires_approval: self.requires_approval,
            active: self.active,
        };
        check(errors)?;
        Ok(fields)
    }
}

impl UpdateRewardItem {
    /// The fields to change, once every one given is valid.
    pub fn parse(self) -> AppResult<ItemFields> {
        let mut errors = Vec::new();
        let fields = ItemFields {
            title: self
                .title
                .map(|t| validation::text("title", &t, MAX_TITLE, &mut errors)),
            description: self.description.map(|d| {
                validation::long_text("description", &d, MAX_DESCRIPTION, false, &mut errors)
            }),
            image_url: self
                .image_url
                .map(|u| image_url("image_url", u.as_deref(), &mut errors)),
            point_cost: self.point_cost.and_then(|c| point_cost(c, &mut errors)),
            stock: self.stock.map(|s| s.and_then(|s| stock(s, &mut errors))),
            requires_approval: self.requires_approval,
            active: self.active,
        };
        check(errors)?;
        Ok(fields)
    }
}

fn point_cost(raw: i64, errors: &mut Vec<FieldError>) -> Option<i32> {
    match i32::try_from(raw) {
        Ok(c) if (1..=MAX_POINT_COST).contains(&raw) => Some(c),
        _ => {
            errors.push(FieldError::new(
                "point_cost",
                format!("must be a whole number from 1 to {MAX_POINT_COST}"),
            ));
            None
        }
    }
}

fn stock(raw: i64, errors: &mut Vec<FieldError>) -> Option<i32> {
    match i32::try_from(raw) {
        Ok(s) if (0..=MAX_STOCK).contains(&raw) => Some(s),
        _ => {
            errors.push(FieldError::new(
                "stock",
                format!("must be a whole number from 0 to {MAX_STOCK}, or null for unlimited"),
            ));
            None
        }
    }
}

/// An image URL: `http://` or `https://` (the scheme lower-cased), a host, at most
/// [`MAX_IMAGE_URL`] visible ASCII characters (percent-encode the rest), no user name or
/// password (`https://shop.example@elsewhere.example` shows one host and goes to another).
/// Absent, `null` or blank is none.
pub fn image_url(field: &str, raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    let raw = raw.map(str::trim).filter(|r| !r.is_empty())?;
    let parsed = ["https://", "http://"].iter().find_map(|scheme| {
        let head = raw.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme)
            .then(|| (scheme, &raw[scheme.len()..]))
    });
    let valid = |rest: &str| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !host.contains('@') && rest.bytes().all(|b| b.is_ascii_graphic())
    };
    match parsed {
        Some((scheme, rest)) if raw.len() <= MAX_IMAGE_URL && valid(rest) => {
            Some(format!("{scheme}{rest}"))
        }
        _ => {
            errors.push(FieldError::new(
                field,
                format!(
                    "must be an http or https URL with a host, at most {MAX_IMAGE_URL} characters without spaces, such as https://shop.example/mug.png"
                ),
            ));
            None
        }
    }
}

/// Add an item to the catalogue (admin `by`), audited (`reward_item_created`).
pub async fn create(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    by: Uuid,
    fields: ItemFields,
) -> AppResult<RewardItem> {
    let row = db::transaction(conn, move |c| {
        let fields = fields.clone();
        Box::pin(async move {
            let row = queries::insert_item(c, org, by, &fields).await?;
            let details =
                json!({ "title": row.title, "point_cost": row.point_cost, "stock": row.stock });
            audit::record(
                c,
                org,
                Actor::Member(by),
                Action::RewardItemCreated,
                Some(("reward_item", row.id)),
                details,
            )
            .await?;
            Ok(row)
        })
    })
    .await?;
    tracing::info!(organisation_id = %org, item = %row.id, by = %by, "reward item created");
    Ok(row.into())
}

/// Change an item (admin `by`), audited (`reward_item_changed`, with each changed field's
/// `from` and `to`).
pub async fn change(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    by: Uuid,
    id: Uuid,
    fields: ItemFields,
) -> AppResult<RewardItem> {
    let row = db::transaction(conn, move |c| {
        let fields = fields.clone();
        Box::pin(async move {
            let before = queries::find_item(c, org, id)
                .await?
                .ok_or_else(|| AppError::not_found("reward item"))?;
            let after = queries::update_item(c, org, id, &fields)
                .await?
                .ok_or_else(|| AppError::not_found("reward item"))?;
            let details = changes(&RewardItem::from(before), &RewardItem::from(after.clone()))?;
            audit::record(
                c,
                org,
                Actor::Member(by),
                Action::RewardItemChanged,
                Some(("reward_item", id)),
                details,
            )
            .await?;
            Ok(after)
        })
    })
    .await?;
    Ok(row.into())
}

/// `{field: {from, to}}` for each field that differs (times aside).
fn changes(before: &RewardItem, after: &RewardItem) -> AppResult<serde_json::Value> {
    let (before, after) = (
        serde_json::to_value(before).map_err(AppError::internal)?,
        serde_json::to_value(after).map_err(AppError::internal)?,
    );
    let mut changed = serde_json::Map::new();
    if let (Some(before), Some(after)) = (before.as_object(), after.as_object()) {
        for (field, to) in after {
            let from = before.get(field).cloned().unwrap_or_default();
            if field != "updated_at" && &from != to {
                changed.insert(field.clone(), json!({ "from": from, "to": to }));
            }
        }
    }
    Ok(serde_json::Value::Object(changed))
}

/// An item as `caller` may see it: inactive items only for admins; 404 otherwise.
pub async fn find(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
    sees_inactive: bool,
) -> AppResult<RewardItem> {
    queries::find_item(conn, org, id)
        .await?
        .filter(|row| row.active || sees_inactive)
        .map(RewardItem::from)
        .ok_or_else(|| AppError::not_found("reward item"))
}
