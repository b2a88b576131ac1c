//! The rewards' rows: items and redemptions, what reads and writes them, and their views.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{MAX_STOCK, Redemption, RedemptionStatus, RewardItem, RewardRef};
use crate::error::{AppError, AppResult};
use crate::recognition::MemberRef;
use crate::schema::reward_items;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = reward_items)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct ItemRow {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub image_url: Option<String>,
    pub point_cost: i32,
    pub stock: Option<i32>,
    pub requires_approval: bool,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ItemRow> for RewardItem {
    fn from(r: ItemRow) -> RewardItem {
        RewardItem {
            id: r.id,
            title: r.title,
            description: r.description,
            image_url: r.image_url,
            point_cost: r.point_cost,
            stock: r.stock,
            requires_approval: r.requires_approval,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// An item's fields as written (valid already: see `catalogue`).
#[derive(Debug, Clone, AsChangeset, Default)]
#[diesel(table_name = reward_items)]
pub struct ItemFields {
    pub title: Option<String>,
    pub description: Option<String>,
    pub image_url: Option<Option<String>>,
    pub point_cost: Option<i32>,
    pub stock: Option<Option<i32>>,
    pub requires_approval: Option<bool>,
    pub active: Option<bool>,
}

pub async fn insert_item(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    by: Uuid,
    fields: &ItemFields,
) -> AppResult<ItemRow> {
    let (Some(title), Some(point_cost)) = (&fields.title, fields.point_cost) else {
        return Err(AppError::internal("an item needs a title and a cost"));
    };
    Ok(diesel::insert_into(reward_items::table)
        .values((
            reward_items::organisation_id.eq(org),
            reward_items::title.eq(title),
            reward_items::description.eq(fields.description.clone().unwrap_or_default()),
            reward_items::image_url.eq(fields.image_url.clone().flatten()),
            reward_items::point_cost.eq(point_cost),
            reward_items::stock.eq(fields.stock.flatten()),
            reward_items::requires_approval.eq(fields.requires_approval.unwrap_or(false)),
            reward_items::active.eq(fields.active.unwrap_or(true)),
            reward_items::created_by.eq(by),
        ))
        .returning(ItemRow::as_returning())
        .get_result(conn)
        .await?)
}

/// Change an item (locked until the transaction ends); `None` when the organisation has no
/// such item.
pub async fn update_item(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
    fields: &ItemFields,
) -> AppResult<Option<ItemRow>> {
    Ok(diesel::update(
        reward_items::table
            .filter(reward_items::organisation_id.eq(org))
            .filter(reward_items::id.eq(id)),
    )
    .set((fields, reward_items::updated_at.eq(Utc::now())))
    .returning(ItemRow::as_returning())
    .get_result(conn)
    .await
    .optional()?)
}

pub async fn find_item(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
) -> AppResult<Option<ItemRow>> {
    Ok(reward_items::table
        .filter(reward_items::organisation_id.eq(org))
        .filter(reward_items::id.eq(id))
        .select(ItemRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// One page of the catalogue, newest first: `limit` rows after the cursor's (time, id).
pub async fn list_items(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    include_inactive: bool,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> AppResult<Vec<ItemRow>> {
    let mut query = reward_items::table
        .filter(reward_items::organisation_id.eq(org))
        .order((reward_items::created_at.desc(), reward_items::id.desc()))
        .limit(limit)
        .select(ItemRow::as_select())
        .into_boxed();
    if !include_inactive {
        query = query.filter(reward_items::active.eq(true));
    }
    if let Some((t, id)) = after {
        query = query.filter(
            reward_items::created_at
                .lt(t)
                .or(reward_items::created_at.eq(t).and(reward_items::id.lt(id))),
        );
    }
    Ok(query.load(conn).await?)
}

/// What a redemption takes from an item: one of its stock, if it is active and has any left.
#[derive(Debug, Clone, QueryableByName)]
pub struct Taken {
    #[diesel(sql_type = Int4)]
    pub point_cost: i32,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub requires_approval: bool,
}

/// Take one of an active item's stock (an unlimited item keeps `NULL`) in one conditional
/// `UPDATE`: under its row lock, so two redemptions can never take the last one both. `None`
/// when the item is missing, inactive or out of stock (see [`item_state`] for which).
pub async fn take_stock(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    item: Uuid,
) -> AppResult<Option<Taken>> {
    Ok(diesel::sql_query(
        "UPDATE reward_items SET stock = stock - 1 \
         WHERE organisation_id = $1 AND id = $2 AND active AND (stock IS NULL OR stock > 0) \
         RETURNING point_cost, requires_approval",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(item)
    .get_result(conn)
    .await
    .optional()?)
}

/// Give back one of an item's stock (a refunded redemption); unlimited items stay unlimited.
pub async fn restock(conn: &mut AsyncPgConnection, org: Uuid, item: Uuid) -> AppResult<()> {
    diesel::sql_query(
        "UPDATE reward_items SET stock = LEAST(stock + 1, $3) \
         WHERE organisation_id = $1 AND id = $2 AND stock IS NOT NULL",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(item)
    .bind::<BigInt, _>(MAX_STOCK)
    .execute(conn)
    .await?;
    Ok(())
}

/// A new redemption's row.
pub struct NewRedemption {
    pub id: Uuid,
    pub item: Uuid,
    pub member: Uuid,
    pub points: i32,
    pub status: RedemptionStatus,
    pub entry: Uuid,
}

pub async fn insert_redemption(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    new: &NewRedemption,
) -> AppResult<()> {
    diesel::sql_query(
        "INSERT INTO redemptions (organisation_id, id, item_id, member_id, points, status, entry_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(new.id)
    .bind::<SqlUuid, _>(new.item)
    .bind::<SqlUuid, _>(new.member)
    .bind::<Int4, _>(new.points)
    .bind::<Text, _>(new.status.as_str())
    .bind::<SqlUuid, _>(new.entry)
    .execute(conn)
    .await?;
    Ok(())
}

/// What a status change needs of a redemption.
#[derive(Debug, Clone, QueryableByName)]
pub struct Core {
    #[diesel(sql_type = SqlUuid)]
    pub item_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub member_id: Uuid,
    #[diesel(sql_type = Int4)]
    pub points: i32,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = SqlUuid)]
    pub entry_id: Uuid,
}

pub async fn core(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<Option<Core>> {
    Ok(diesel::sql_query(
        "SELECT item_id, member_id, points, status, entry_id FROM redemptions \
         WHERE organisation_id = $1 AND id = $2",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
    .optional()?)
}

/// Move a redemption to `to` if it is in one of `from`, noting who did it (and a decline's
/// reason) in the columns of that status: `false` when it was in none of them (another
/// change got there first). The `WHERE` decides under the row lock, so of two racing changes
/// exactly one moves it.
pub async fn change_status(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
    from: &[RedemptionStatus],
    to: RedemptionStatus,
    by: Uuid,
    reason: Option<&str>,
) -> AppResult<bool> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let changed = diesel::sql_query(
        "UPDATE redemptions SET status = $3, updated_at = now(), \
           decided_by = CASE WHEN $3 IN ('approved', 'declined') THEN $4 ELSE decided_by END, \
           decided_at = CASE WHEN $3 IN ('approved', 'declined') THEN now() ELSE decided_at END, \
           decline_reason = CASE WHEN $3 = 'declined' THEN $5 ELSE decline_reason END, \
           fulfilled_by = CASE WHEN $3 = 'fulfilled' THEN $4 ELSE fulfilled_by END, \
           fulfilled_at = CASE WHEN $3 = 'fulfilled' THEN now() ELSE fulfilled_at END, \
           cancelled_by = CASE WHEN $3 = 'cancelled' THEN $4 ELSE cancelled_by END, \
           cancelled_at = CASE WHEN $3 = 'cancelled' THEN now() ELSE cancelled_at END \
         WHERE organisation_id = $1 AND id = $2 AND status = ANY($6)",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(to.as_str())
    .bind::<SqlUuid, _>(by)
    .bind::<Nullable<Text>, _>(reason)
    .bind::<Array<Text>, _>(from)
    .execute(conn)
    .await?;
    Ok(changed == 1)
}

/// Which redemptions a list shows, and in which order.
#[derive(Debug, Clone, Default)]
pub struct RedemptionFilter {
    pub member: Option<Uuid>,
    pub item: Option<Uuid>,
    pub status: Option<RedemptionStatus>,
    /// The (time, id) of the previous page's last row.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// Oldest first (the admins' queue) rather than newest first (a member's own).
    pub oldest_first: bool,
    pub limit: i64,
}

#[derive(Debug, QueryableByName)]
struct RedemptionRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    item_id: Uuid,
    #[diesel(sql_type = Text)]
    item_title: String,
    #[diesel(sql_type = SqlUuid)]
    member_id: Uuid,
    #[diesel(sql_type = Text)]
    member_name: String,
    #[diesel(sql_type = Int4)]
    points: i32,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = SqlUuid)]
    entry_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    refund_entry_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    decided_by: Option<Uuid>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    decided_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    decline_reason: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    fulfilled_by: Option<Uuid>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    fulfilled_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    cancelled_by: Option<Uuid>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    cancelled_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
}

impl RedemptionRow {
    fn into_view(self) -> AppResult<Redemption> {
        let status = RedemptionStatus::parse(&self.status).ok_or_else(|| {
            AppError::internal(format!("unknown redemption status {}", self.status))
        })?;
        Ok(Redemption {
            id: self.id,
            item: RewardRef {
                id: self.item_id,
                title: self.item_title,
            },
            member: MemberRef {
                id: self.member_id,
                display_name: self.member_name,
            },
            points: self.points,
            status,
            entry_id: self.entry_id,
            refund_entry_id: self.refund_entry_id,
            decided_by: self.decided_by,
            decided_at: self.decided_at,
            decline_reason: self.decline_reason,
            fulfilled_by: self.fulfilled_by,
            fulfilled_at: self.fulfilled_at,
            cancelled_by: self.cancelled_by,
            cancelled_at: self.cancelled_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A redemption as the API shows it: with its item's title, its member's name and its refund,
/// read in one statement. `$1` organisation, `$2` one redemption or none, `$3` member, `$4`
/// item, `$5` status, `$6`/`$7` the cursor's time and id; the order and `LIMIT $8` follow.
const VIEWS: &str = "\
    SELECT r.id, r.item_id, i.title AS item_title, r.member_id, m.display_name AS member_name, \
           r.points, r.status, r.entry_id, refund.id AS refund_entry_id, r.decided_by, r.decided_at, \
           r.decline_reason, r.fulfilled_by, r.fulfilled_at, r.cancelled_by, r.cancelled_at, \
           r.created_at, r.updated_at \
    FROM redemptions r \
    JOIN reward_items i ON i.organisation_id = r.organisation_id AND i.id = r.item_id \
    JOIN members m ON m.organisation_id = r.organisation_id AND m.id = r.member_id \
    LEFT JOIN ledger_entries refund ON refund.organisation_id = r.organisation_id \
         AND refund.reverses = r.entry_id \
    WHERE r.organisation_id = $1 AND ($2::uuid IS NULL OR r.id = $2) \
      AND ($3::uuid IS NULL OR r.member_id = $3) AND ($4::uuid IS NULL OR r.item_id = $4) \
      AND ($5::text IS NULL OR r.status = $5) ";

const OLDEST_FIRST: &str = "AND ($6::timestamptz IS NULL OR (r.created_at, r.id) > ($6, $7)) \
    ORDER BY r.created_at, r.id LIMIT $8";
const NEWEST_FIRST: &str = "AND ($6::timestamptz IS NULL OR (r.created_at, r.id) < ($6, $7)) \
    ORDER BY r.created_at DESC, r.id DESC LIMIT $8";

async fn views(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Option<Uuid>,
    filter: &RedemptionFilter,
) -> AppResult<Vec<Redemption>> {
    let order = if filter.oldest_first {
        OLDEST_FIRST
    } else {
        NEWEST_FIRST
    };
    let rows: Vec<RedemptionRow> = diesel::sql_query(format!("{VIEWS}{order}"))
        .bind::<SqlUuid, _>(org)
        .bind::<Nullable<SqlUuid>, _>(id)
        .bind::<Nullable<SqlUuid>, _>(filter.member)
        .bind::<Nullable<SqlUuid>, _>(filter.item)
        .bind::<Nullable<Text>, _>(filter.status.map(|s| s.as_str()))
        .bind::<Nullable<Timestamptz>, _>(filter.after.map(|a| a.0))
        .bind::<Nullable<SqlUuid>, _>(filter.after.map(|a| a.1))
        .bind::<BigInt, _>(filter.limit)
        .load(conn)
        .await?;
    rows.into_iter().map(RedemptionRow::into_view).collect()
}

/// One redemption of the organisation, or `None`.
pub async fn load(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
) -> AppResult<Option<Redemption>> {
    let filter = RedemptionFilter {
        limit: 1,
        ..RedemptionFilter::default()
    };
    Ok(views(conn, org, Some(id), &filter)
        .await?
        .into_iter()
        .next())
}

/// The redemptions `filter` picks, `filter.limit` of them.
pub async fn list(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    filter: &RedemptionFilter,
) -> AppResult<Vec<Redemption>> {
    views(conn, org, None, filter).await
}
