//! Reversing a ledger entry: a new entry that cancels it, once, and for a recognition's points
//! the giver's allowance given back.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{Credit, Entry, EntryRow, Reason, SourceType, record};
use crate::error::{AppError, AppResult};
use crate::recognition::giving;
use crate::schema::ledger_entries;

/// Reverses entry `id` for admin `by`, with the admin's `reason`, and audits it: the
/// reversing entry.
pub async fn reverse(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    by: Uuid,
    id: Uuid,
    reason: String,
) -> AppResult<Entry> {
    let entry: EntryRow = ledger_entries::table
        .filter(ledger_entries::organisation_id.eq(org))
        .filter(ledger_entries::id.eq(id))
        .select(EntryRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("ledger entry"))?;
    if entry.reverses.is_some() {
        return Err(AppError::conflict(
            "this entry is itself a reversal; make an adjustment instead",
        ));
    }
    let mut credit = Credit::new(entry.member_id, -entry.points, Reason::Reversal)
        .source(SourceType::LedgerEntry, entry.id);
    credit.dimension = entry
        .dimension
        .as_deref()
        .and_then(|d| crate::vocabulary::Dimension::parse_field(d, "dimension").ok());
    credit.note = Some(reason);
    credit.created_by = Some(by);
    credit.reverses = Some(entry.id);
    let created = record(conn, org, vec![credit]).await.map_err(|e| match e {
        AppError::Conflict { .. } => AppError::Conflict {
            detail: "this entry has already been reversed".into(),
            extra: Some(serde_json::json!({ "entry_id": id })),
        },
        other => other,
    })?;
    let reversal = created
        .into_iter()
        .next()
        .ok_or_else(|| AppError::internal("reversal not written"))?;
    // A recognition that is taken back was not given: its giver gets the points back.
    // After the reversal's insert, whose unique key on `reverses` makes this once only.
    let refunded = match (
        entry.reason.as_str(),
        entry.source_type.as_deref(),
        entry.source_id,
    ) {
        ("recognition_received", Some("recognition"), Some(recognition)) => {
            giving::refund(conn, org, recognition, entry.points).await?
        }
        ("recognition_boost", Some("recognition"), Some(recognition)) => match entry.created_by {
            Some(booster) => {
                giving::refund_boost(conn, org, recognition, booster, entry.points).await?
            }
            None => None,
        },
        _ => None,
    };
    let mut detail = serde_json::json!({ "reversal": reversal.id, "member_id": reversal.member_id, "points": reversal.points });
    if let Some((giver, points)) = refunded {
        detail["refunded_to_giver"] = serde_json::json!({ "member_id": giver, "points": points });
    }
    crate::audit::record(
        conn,
        org,
        crate::audit::Actor::Member(by),
        crate::audit::Action::PointReversal,
        Some(("ledger_entry", id)),
        detail,
    )
    .await?;
    tracing::info!(organisation_id = %org, by = %by, entry = %id, "ledger entry reversed");
    Ok(reversal)
}
