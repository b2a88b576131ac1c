//! The points ledger: every point ever earned is an immutable entry with a reason.
//!
//! Balances are sums over entries, so they cannot drift from the ledger. The database refuses
//! UPDATE, DELETE and TRUNCATE on `ledger_entries`; corrections are reversing entries made by
//! an admin, each entry reversible once.

pub mod reversal;
pub mod routes;
pub mod rules;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::schema::{ledger_entries, members};
use crate::vocabulary::{Dimension, vocabulary};

pub use routes::routes;

vocabulary!(
    /// Why points were granted.
    Reason {
        InitiativeSubmitted = "initiative_submitted",
        InitiativeApproved = "initiative_approved",
        InitiativeImplemented = "initiative_implemented",
        InitiativeMeasured = "initiative_measured",
        /// Credit to a contributor of someone else's initiative.
        InitiativeContribution = "initiative_contribution",
        RecognitionReceived = "recognition_received",
        Badge = "badge",
        /// Reward for taking part in a completed challenge.
        ChallengeReward = "challenge_reward",
        /// A manual correction by an admin.
        Adjustment = "adjustment",
        /// Cancels an earlier entry (see `reverses`).
        Reversal = "reversal",
    }
);

vocabulary!(
    /// What an entry refers to.
    SourceType {
        Initiative = "initiative",
        Recognition = "recognition",
        Badge = "badge",
        Challenge = "challenge",
        LedgerEntry = "ledger_entry",
    }
);

/// A ledger entry as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Entry {
    pub id: Uuid,
    pub member_id: Uuid,
    /// The member's team when the points were granted.
    pub team_id: Option<Uuid>,
    /// Positive for credits, negative for reversals and negative adjustments.
    pub points: i32,
    pub reason: Reason,
    pub source_type: Option<SourceType>,
    pub source_id: Option<Uuid>,
    pub dimension: Option<Dimension>,
    pub note: Option<String>,
    /// The admin who made an adjustment or reversal.
    pub created_by: Option<Uuid>,
    /// For reversals: the entry cancelled.
    pub reverses: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = ledger_entries)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct EntryRow {
    pub id: Uuid,
    pub member_id: Uuid,
    pub team_id: Option<Uuid>,
    pub points: i32,
    pub reason: String,
    pub source_type: Option<String>,
    pub source_id: Option<Uuid>,
    pub dimension: Option<String>,
    pub note: Option<String>,
    pub created_by: Option<Uuid>,
    pub reverses: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl EntryRow {
    pub fn into_entry(self) -> AppResult<Entry> {
        let reason = Reason::parse(&self.reason)
            .ok_or_else(|| AppError::internal(format!("unknown ledger reason {}", self.reason)))?;
        Ok(Entry {
            id: self.id,
            member_id: self.member_id,
            team_id: self.team_id,
            points: self.points,
            reason,
            source_type: self.source_type.as_deref().and_then(SourceType::parse),
            source_id: self.source_id,
            dimension: self
                .dimension
                .as_deref()
                .and_then(|d| Dimension::parse_field(d, "dimension").ok()),
            note: self.note,
            created_by: self.created_by,
            reverses: self.reverses,
            created_at: self.created_at,
        })
    }
}

/// An entry to write.
#[derive(Debug, Clone)]
pub struct Credit {
    pub member_id: Uuid,
    pub points: i32,
    pub reason: Reason,
    pub source: Option<(SourceType, Uuid)>,
    pub dimension: Option<Dimension>,
    pub note: Option<String>,
    pub created_by: Option<Uuid>,
    pub reverses: Option<Uuid>,
}

impl Credit {
    pub fn new(member_id: Uuid, points: i32, reason: Reason) -> Credit {
        Credit {
            member_id,
            points,
            reason,
            source: None,
            dimension: None,
            note: None,
            created_by: None,
            reverses: None,
        }
    }

    pub fn source(mut self, kind: SourceType, id: Uuid) -> Credit {
        self.source = Some((kind, id));
        self
    }

    pub fn dimension(mut self, d: Option<Dimension>) -> Credit {
        self.dimension = d;
        self
    }
}

/// Write entries (in the caller's transaction). Zero-point credits are skipped: a rule set to
/// 0 means "no points for this", not an entry of nothing. Every write of points goes through
/// here, so derived totals (leaderboards) have one place to hook in.
pub async fn record(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    credits: Vec<Credit>,
) -> AppResult<Vec<Entry>> {
    let credits: Vec<Credit> = credits.into_iter().filter(|c| c.points != 0).collect();
    if credits.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = credits.iter().map(|c| c.member_id).collect();
    crate::read_cache::paid(ids.iter().copied());
    let teams: HashMap<Uuid, Option<Uuid>> = members::table
        .filter(members::organisation_id.eq(org))
        .filter(members::id.eq_any(&ids))
        .select((members::id, members::team_id))
        .load::<(Uuid, Option<Uuid>)>(conn)
        .await?
        .into_iter()
        .collect();
    let mut rows = Vec::with_capacity(credits.len());
    for c in &credits {
        let team = teams.get(&c.member_id).ok_or_else(|| {
            AppError::invalid("member_id", "no member with that id in your organisation")
        })?;
        rows.push((
            ledger_entries::organisation_id.eq(org),
            ledger_entries::member_id.eq(c.member_id),
            ledger_entries::team_id.eq(*team),
            ledger_entries::points.eq(c.points),
            ledger_entries::reason.eq(c.reason.as_str()),
            ledger_entries::source_type.eq(c.source.map(|s| s.0.as_str())),
            ledger_entries::source_id.eq(c.source.map(|s| s.1)),
            ledger_entries::dimension.eq(c.dimension.map(|d| d.as_str())),
            ledger_entries::note.eq(c.note.clone()),
            ledger_entries::created_by.eq(c.created_by),
            ledger_entries::reverses.eq(c.reverses),
        ));
    }
    let inserted: Vec<EntryRow> = diesel::insert_into(ledger_entries::table)
        .values(rows)
        .returning(EntryRow::as_returning())
        .get_results(conn)
        .await?;
    // Counted at the insert, inside the caller's transaction: one that rolls back or is
    // replayed (`db::transaction`) counts again. The statement trigger
    // `ledger_entries_to_boards` applies every inserted entry to the boards (its member's rows
    // at once, the shared rows through the queue `leaderboards::fold` empties), so each is
    // also a board update; counted here rather than in the boards' SQL.
    for c in &credits {
        metrics::counter!("frontline_ledger_entries_written_total", "reason" => c.reason.as_str())
            .increment(1);
    }
    metrics::counter!("frontline_board_updates_total").increment(inserted.len() as u64);
    inserted.into_iter().map(EntryRow::into_entry).collect()
}

/// A member's balance: the sum of their entries.
pub async fn balance(conn: &mut AsyncPgConnection, org: Uuid, member: Uuid) -> AppResult<i64> {
    let sum: Option<i64> = ledger_entries::table
        .filter(ledger_entries::organisation_id.eq(org))
        .filter(ledger_entries::member_id.eq(member))
        .select(diesel::dsl::sum(ledger_entries::points))
        .first(conn)
        .await?;
    Ok(sum.unwrap_or(0))
}
