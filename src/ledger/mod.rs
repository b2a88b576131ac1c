//! The points ledger: every point ever earned is an immutable entry with a reason.
//!
//! Balances are sums over entries, so they cannot drift from the ledger. The database refuses
//! UPDATE, DELETE and TRUNCATE on `ledger_entries`; corrections are reversing entries made by
//! an admin, each entry reversible once.

pub mod levels;
pub mod reversal;
pub mod routes;
pub mod rules;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Integer, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::schema::ledger_entries;
use crate::sql::Prepared;
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
        /// A boost: another member's add-on to a recognition (`created_by` is the booster).
        RecognitionBoost = "recognition_boost",
        Badge = "badge",
        /// Reward for taking part in a completed challenge.
        ChallengeReward = "challenge_reward",
        /// A birthday or work anniversary, paid by the organisation (source: its recognition).
        Celebration = "celebration",
        /// A manual correction by an admin.
        Adjustment = "adjustment",
        /// Cancels an earlier entry (see `reverses`).
        Reversal = "reversal",
        /// Points spent on a reward (negative), or given back when the redemption is declined
        /// or cancelled (positive, `reverses` the debit). Not points earned: boards, levels,
        /// challenges and exports leave these out.
        Redemption = "redemption",
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
        /// A redemption of a reward (`rewards`).
        Redemption = "redemption",
    }
);

/// A ledger entry as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Entry {
    pub id: Uuid,
    pub member_id: Uuid,
    /// The member's team when the points were granted.
    pub team_id: Option<Uuid>,
    /// Positive for credits, negative for reversals, negative adjustments and redemptions.
    pub points: i32,
    pub reason: Reason,
    pub source_type: Option<SourceType>,
    pub source_id: Option<Uuid>,
    pub dimension: Option<Dimension>,
    pub note: Option<String>,
    /// The admin who made an adjustment or reversal; for a boost, the member who paid it.
    pub created_by: Option<Uuid>,
    /// For reversals: the entry cancelled; for a redemption's refund: its debit.
    pub reverses: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, QueryableByName)]
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
    // Each entry counts for the team its member is in now, joined in the insert itself: one
    // statement (and one round trip) for every entry, whatever their number, prepared once
    // per connection (every activity that pays runs it).
    let inserted: Vec<EntryRow> = Prepared(diesel::sql_query(
        "INSERT INTO ledger_entries (organisation_id, member_id, team_id, points, reason, \
             source_type, source_id, dimension, note, created_by, reverses) \
         SELECT $1, c.member_id, m.team_id, c.points, c.reason, c.source_type, c.source_id, \
             c.dimension, c.note, c.created_by, c.reverses \
         FROM unnest($2::uuid[], $3::int4[], $4::text[], $5::text[], $6::uuid[], $7::text[], \
             $8::text[], $9::uuid[], $10::uuid[]) WITH ORDINALITY \
             AS c(member_id, points, reason, source_type, source_id, dimension, note, created_by, reverses, n) \
         JOIN members m ON m.organisation_id = $1 AND m.id = c.member_id \
         ORDER BY c.n \
         RETURNING id, member_id, team_id, points, reason, source_type, source_id, dimension, \
             note, created_by, reverses, created_at",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Array<Integer>, _>(credits.iter().map(|c| c.points).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(credits.iter().map(|c| c.reason.as_str()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(
        credits
            .iter()
            .map(|c| c.source.map(|s| s.0.as_str()))
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Nullable<SqlUuid>>, _>(
        credits
            .iter()
            .map(|c| c.source.map(|s| s.1))
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Nullable<Text>>, _>(
        credits
            .iter()
            .map(|c| c.dimension.map(|d| d.as_str()))
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Nullable<Text>>, _>(credits.iter().map(|c| c.note.clone()).collect::<Vec<_>>())
    .bind::<Array<Nullable<SqlUuid>>, _>(credits.iter().map(|c| c.created_by).collect::<Vec<_>>())
    .bind::<Array<Nullable<SqlUuid>>, _>(credits.iter().map(|c| c.reverses).collect::<Vec<_>>()))
    .load(conn)
    .await?;
    // A member of another organisation (or none) joined nothing: refuse the whole write.
    if inserted.len() != credits.len() {
        return Err(AppError::invalid(
            "member_id",
            "no member with that id in your organisation",
        ));
    }
    for c in &credits {
        metrics::counter!("frontline_ledger_entries_written_total", "reason" => c.reason.as_str())
            .increment(1);
    }
    // Redemptions move no board (the trigger leaves them out).
    let on_boards = credits
        .iter()
        .filter(|c| c.reason != Reason::Redemption)
        .count();
    metrics::counter!("frontline_board_updates_total").increment(on_boards as u64);
    let (earners, earned): (Vec<Uuid>, Vec<i32>) = credits
        .iter()
        .filter(|c| c.reason != Reason::Redemption && c.points > 0)
        .map(|c| (c.member_id, c.points))
        .unzip();
    levels::reached(conn, org, &earners, &earned).await?;
    inserted.into_iter().map(EntryRow::into_entry).collect()
}

/// What a member has: points `earned` (every entry but redemptions and their refunds: what
/// boards and levels count) and `spendable` (every entry: earned minus what rewards took).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, QueryableByName)]
pub struct Totals {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub earned: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub spendable: i64,
}

/// A member's [`Totals`], in one pass over their entries.
pub async fn totals(conn: &mut AsyncPgConnection, org: Uuid, member: Uuid) -> AppResult<Totals> {
    Ok(Prepared(diesel::sql_query(
        "SELECT COALESCE(sum(points) FILTER (WHERE reason <> 'redemption'), 0)::bigint AS earned, \
                COALESCE(sum(points), 0)::bigint AS spendable \
         FROM ledger_entries WHERE organisation_id = $1 AND member_id = $2",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(member))
    .get_result(conn)
    .await?)
}

/// A member's balance: the sum of their entries (what they may spend).
pub async fn balance(conn: &mut AsyncPgConnection, org: Uuid, member: Uuid) -> AppResult<i64> {
    let sum: Option<i64> = ledger_entries::table
        .filter(ledger_entries::organisation_id.eq(org))
        .filter(ledger_entries::member_id.eq(member))
        .select(diesel::dsl::sum(ledger_entries::points))
        .first(conn)
        .await?;
    Ok(sum.unwrap_or(0))
}
