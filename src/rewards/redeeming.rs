//! Redeeming an item, and the redemption's status changes with their refunds: the rules and
//! the transactions behind the handlers (and the demo).

use diesel_async::AsyncPgConnection;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::queries::{self, NewRedemption};
use super::{MAX_DECLINE_REASON, Redemption, RedemptionStatus};
use crate::audit::{self, Action, Actor};
use crate::auth::{Caller, Role};
use crate::error::{AppError, AppResult};
use crate::events::{Happened, Kind, SubjectType};
use crate::http::check;
use crate::ledger::{self, Credit, Reason, SourceType};
use crate::{sql, validation};

/// Redeem `item` for `member`, inside the caller's transaction (see [`crate::db::transaction`]
/// and `idempotency::once`): take one of its stock, check the member can pay under their
/// redemption lock, debit them (a `redemption` ledger entry) and audit it. Items without
/// approval start `approved`, the others `requested`.
pub async fn redeem(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    member: Uuid,
    item: Uuid,
) -> AppResult<Redemption> {
    // One redemption at a time per member, on every server process: the balance read below
    // sees every earlier redemption of theirs, committed (the lock is held until commit).
    let key = sql::advisory_key_of("redemption", org, &[member.as_bytes()]);
    sql::advisory_xact_lock(conn, key).await?;
    let taken = match queries::take_stock(conn, org, item).await? {
        Some(taken) => taken,
        None => return Err(unavailable(conn, org, item).await),
    };
    let balance = ledger::balance(conn, org, member).await?;
    if balance < i64::from(taken.point_cost) {
        return Err(AppError::Conflict {
            detail: format!(
                "not enough points: this costs {} and you have {balance} to spend",
                taken.point_cost
            ),
            extra: Some(json!({ "point_cost": taken.point_cost, "spendable": balance })),
        });
    }
    let id = Uuid::new_v4();
    let debit = Credit::new(member, -taken.point_cost, Reason::Redemption)
        .source(SourceType::Redemption, id);
    let entry = ledger::record(conn, org, vec![debit])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AppError::internal("redemption's debit not written"))?;
    let status = if taken.requires_approval {
        RedemptionStatus::Requested
    } else {
        RedemptionStatus::Approved
    };
    let new = NewRedemption {
        id,
        item,
        member,
        points: taken.point_cost,
        status,
        entry: entry.id,
    };
    queries::insert_redemption(conn, org, &new).await?;
    let details = json!({ "item_id": item, "points": taken.point_cost, "status": status });
    audit::record(
        conn,
        org,
        Actor::Member(member),
        Action::RedemptionRequested,
        Some(("redemption", id)),
        details,
    )
    .await?;
    tracing::info!(organisation_id = %org, member = %member, item = %item, redemption = %id, "reward redeemed");
    load(conn, org, id).await
}

/// Why an item could not be taken: 404 (no such item), or 409 (inactive, out of stock).
async fn unavailable(conn: &mut AsyncPgConnection, org: Uuid, item: Uuid) -> AppError {
    match queries::find_item(conn, org, item).await {
        Err(e) => e,
        Ok(None) => AppError::not_found("reward item"),
        Ok(Some(row)) if !row.active => AppError::Conflict {
            detail: "this item is no longer in the catalogue".into(),
            extra: Some(json!({ "active": false })),
        },
        Ok(Some(_)) => AppError::Conflict {
            detail: "this item is out of stock".into(),
            extra: Some(json!({ "stock": 0 })),
        },
    }
}

/// Decline a redemption (admins).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineRedemption {
    /// Why (1-1000 characters on one line); the member sees it.
    pub reason: String,
}

impl DeclineRedemption {
    /// The reason, once valid.
    pub fn parse(self) -> AppResult<String> {
        let mut errors = Vec::new();
        let reason = validation::text("reason", &self.reason, MAX_DECLINE_REASON, &mut errors);
        check(errors)?;
        Ok(reason)
    }
}

/// A change of a redemption's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `requested` -> `approved` (admins).
    Approve,
    /// `requested` -> `declined`, with the reason, refunded (admins).
    Decline(String),
    /// `approved` -> `fulfilled` (admins).
    Fulfil,
    /// -> `cancelled`, refunded: by the member who redeemed it while `requested`; by an admin
    /// while `requested` or `approved`.
    Cancel,
}

impl Step {
    /// Where it goes, what it may start from for `caller`, its audit action and its verb.
    fn rule(
        &self,
        admin: bool,
    ) -> (
        RedemptionStatus,
        &'static [RedemptionStatus],
        Action,
        &'static str,
    ) {
        use RedemptionStatus::*;
        match self {
            Step::Approve => (
                Approved,
                &[Requested],
                Action::RedemptionApproved,
                "approved",
            ),
            Step::Decline(_) => (
                Declined,
                &[Requested],
                Action::RedemptionDeclined,
                "declined",
            ),
            Step::Fulfil => (
                Fulfilled,
                &[Approved],
                Action::RedemptionFulfilled,
                "fulfilled",
            ),
            Step::Cancel if admin => (
                Cancelled,
                &[Requested, Approved],
                Action::RedemptionCancelled,
                "cancelled",
            ),
            Step::Cancel => (
                Cancelled,
                &[Requested],
                Action::RedemptionCancelled,
                "cancelled",
            ),
        }
    }
}

/// Move redemption `id` by `step` for `caller`, in a transaction of its own (see [`step`]).
pub async fn act(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    change: Step,
) -> AppResult<Redemption> {
    let caller = caller.clone();
    crate::db::transaction(conn, move |c| {
        let (caller, change) = (caller.clone(), change.clone());
        Box::pin(async move { step(c, &caller, id, &change).await })
    })
    .await
}

/// Move redemption `id` by `step` for `caller`, inside the caller's transaction: a conditional
/// `UPDATE` on the status it may start from (of two racing changes one wins, the other answers
/// 409 with `current_status`), the refund of a decline or cancellation (a `redemption` entry
/// reversing the debit, once: the ledger's unique key on `reverses`) with the item restocked,
/// and the audit entry. Only admins decline, approve and fulfil (the guards say so); others may
/// cancel only their own (403).
pub async fn step(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    step: &Step,
) -> AppResult<Redemption> {
    let org = caller.organisation_id;
    let admin = caller.is(Role::Admin);
    let core = queries::core(conn, org, id)
        .await?
        .ok_or_else(|| AppError::not_found("redemption"))?;
    if !admin && core.member_id != caller.member_id {
        return Err(AppError::Forbidden(
            "only the member who redeemed it, or an admin, may cancel a redemption".into(),
        ));
    }
    let (to, from, action, verb) = step.rule(admin);
    let reason = match step {
        Step::Decline(reason) => Some(reason.as_str()),
        _ => None,
    };
    if !queries::change_status(conn, org, id, from, to, caller.member_id, reason).await? {
        return Err(not_from(conn, org, id, verb).await);
    }
    let refunded = matches!(to, RedemptionStatus::Declined | RedemptionStatus::Cancelled);
    if refunded {
        refund(conn, org, caller.member_id, id, &core, reason).await?;
    }
    let changed = Happened::new(Kind::RedemptionChanged, SubjectType::Redemption, id)
        .by(caller.member_id)
        .to([core.member_id])
        .data(
            json!({ "from": core.status, "to": to, "points": core.points, "refunded": refunded }),
        );
    crate::events::emit(conn, org, &[changed]).await?;
    let details = json!({
        "member_id": core.member_id, "item_id": core.item_id, "points": core.points,
        "from": core.status, "to": to, "refunded": refunded,
    });
    audit::record(
        conn,
        org,
        Actor::Member(caller.member_id),
        action,
        Some(("redemption", id)),
        details,
    )
    .await?;
    tracing::info!(organisation_id = %org, by = %caller.member_id, redemption = %id, status = %to, "redemption {verb}");
    load(conn, org, id).await
}

/// Give a redemption's points back (a positive `redemption` entry reversing its debit) and
/// one of its item's stock. After the status change, whose row lock serialises this with any
/// other change of the redemption; the unique key on `reverses` makes it once in any case.
async fn refund(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    by: Uuid,
    id: Uuid,
    core: &queries::Core,
    reason: Option<&str>,
) -> AppResult<()> {
    let mut credit = Credit::new(core.member_id, core.points, Reason::Redemption)
        .source(SourceType::Redemption, id);
    credit.reverses = Some(core.entry_id);
    credit.created_by = Some(by);
    credit.note = reason.map(str::to_string);
    ledger::record(conn, org, vec![credit])
        .await
        .map_err(|e| match e {
            AppError::Conflict { .. } => AppError::conflict("this redemption was refunded already"),
            other => other,
        })?;
    queries::restock(conn, org, core.item_id).await
}

/// The 409 of a change that found the redemption in another status than it starts from.
async fn not_from(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid, verb: &str) -> AppError {
    match queries::core(conn, org, id).await {
        Err(e) => e,
        Ok(None) => AppError::not_found("redemption"),
        Ok(Some(now)) => AppError::Conflict {
            detail: format!("this redemption is {} and cannot be {verb}", now.status),
            extra: Some(json!({ "current_status": now.status })),
        },
    }
}

async fn load(conn: &mut AsyncPgConnection, org: Uuid, id: Uuid) -> AppResult<Redemption> {
    queries::load(conn, org, id)
        .await?
        .ok_or_else(|| AppError::internal("a redemption just written is missing"))
}

/// A redemption as `caller` may see it: their own, or any for admins (403 for others').
pub async fn find(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
) -> AppResult<Redemption> {
    let found = queries::load(conn, caller.organisation_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("redemption"))?;
    if found.member.id != caller.member_id && !caller.is(Role::Admin) {
        return Err(AppError::Forbidden(
            "only the member who redeemed it, and admins, may see a redemption".into(),
        ));
    }
    Ok(found)
}
