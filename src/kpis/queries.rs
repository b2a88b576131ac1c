//! KPI rows: the list query, recording and correcting. Writes run in one transaction with
//! their audit entry.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Date, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::Kpi;
use crate::audit::{self, Action, Actor};
use crate::error::{AppError, AppResult};
use crate::schema::team_kpis;

type SqlUuid = diesel::sql_types::Uuid;

/// A row as stored.
#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = team_kpis)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Stored {
    pub id: Uuid,
    pub team_id: Uuid,
    pub kpi: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub value: f64,
    pub sample_size: Option<i32>,
    pub note: Option<String>,
    pub supersedes: Option<Uuid>,
    pub recorded_by: Option<Uuid>,
    pub recorded_by_key: Option<Uuid>,
    pub recorded_at: DateTime<Utc>,
}

impl Stored {
    pub fn view(self, superseded_by: Option<Uuid>) -> Kpi {
        Kpi {
            id: self.id,
            team_id: self.team_id,
            kpi: self.kpi,
            period_start: self.period_start,
            period_end: self.period_end,
            value: self.value,
            sample_size: self.sample_size,
            note: self.note,
            supersedes: self.supersedes,
            superseded_by,
            current: superseded_by.is_none(),
            recorded_by: self.recorded_by,
            recorded_by_key: self.recorded_by_key,
            recorded_at: self.recorded_at,
        }
    }
}

#[derive(QueryableByName)]
struct Listed {
    #[diesel(embed)]
    stored: Stored,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    superseded_by: Option<Uuid>,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// A value to record.
#[derive(Debug, Clone)]
pub struct NewKpi {
    pub kpi: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub value: f64,
    pub sample_size: Option<i32>,
    pub note: Option<String>,
}

/// A correction of a row.
#[derive(Debug, Clone)]
pub struct Correction {
    pub value: f64,
    pub sample_size: Option<i32>,
    pub note: String,
}

/// What the list shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub kpi: Option<String>,
    /// period_start on or after this day.
    pub from: Option<NaiveDate>,
    /// period_start before this day.
    pub to: Option<NaiveDate>,
    /// Superseded rows too.
    pub include_history: bool,
    /// Keyset: rows after (period_start, recorded_at, id) in the list's order.
    pub after: Option<(NaiveDate, DateTime<Utc>, Uuid)>,
}

const COLUMNS: &str = "k.id, k.team_id, k.kpi, k.period_start, k.period_end, k.value, \
    k.sample_size, k.note, k.supersedes, k.recorded_by, k.recorded_by_key, k.recorded_at";

/// A team's KPI values, newest period first (then newest recorded first).
pub async fn list(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    team: Uuid,
    filter: &ListFilter,
    limit: i64,
) -> AppResult<Vec<Kpi>> {
    let sql = format!(
        "SELECT {COLUMNS}, n.id AS superseded_by \
         FROM team_kpis k \
         LEFT JOIN team_kpis n ON n.supersedes = k.id AND n.organisation_id = k.organisation_id \
         WHERE k.organisation_id = $1 AND k.team_id = $2 \
           AND ($3::text IS NULL OR k.kpi = $3::text) \
           AND ($4::date IS NULL OR k.period_start >= $4::date) \
           AND ($5::date IS NULL OR k.period_start < $5::date) \
           AND ($6 OR n.id IS NULL) \
           AND ($7::date IS NULL OR (k.period_start, k.recorded_at, k.id) < ($7::date, $8::timestamptz, $9::uuid)) \
         ORDER BY k.period_start DESC, k.recorded_at DESC, k.id DESC \
         LIMIT $10"
    );
    let rows: Vec<Listed> = diesel::sql_query(sql)
        .bind::<SqlUuid, _>(org)
        .bind::<SqlUuid, _>(team)
        .bind::<Nullable<Text>, _>(filter.kpi.as_deref())
        .bind::<Nullable<Date>, _>(filter.from)
        .bind::<Nullable<Date>, _>(filter.to)
        .bind::<Bool, _>(filter.include_history)
        .bind::<Nullable<Date>, _>(filter.after.map(|a| a.0))
        .bind::<Nullable<Timestamptz>, _>(filter.after.map(|a| a.1))
        .bind::<Nullable<SqlUuid>, _>(filter.after.map(|a| a.2))
        .bind::<BigInt, _>(limit)
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| r.stored.view(r.superseded_by))
        .collect())
}

/// A row of the team, or 404 (ids of other teams and organisations too).
pub async fn find(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    team: Uuid,
    id: Uuid,
) -> AppResult<Stored> {
    team_kpis::table
        .filter(team_kpis::organisation_id.eq(org))
        .filter(team_kpis::team_id.eq(team))
        .filter(team_kpis::id.eq(id))
        .select(Stored::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("KPI value of this team"))
}

/// The current row of the chain `id` belongs to: follow `supersedes` forward to the row that
/// nothing supersedes.
pub async fn current_of(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
) -> AppResult<Option<Uuid>> {
    let row: Option<IdRow> = diesel::sql_query(
        "WITH RECURSIVE chain AS ( \
             SELECT id FROM team_kpis WHERE organisation_id = $1 AND id = $2 \
             UNION ALL \
             SELECT n.id FROM team_kpis n JOIN chain c ON n.supersedes = c.id \
             WHERE n.organisation_id = $1 \
         ) \
         SELECT c.id FROM chain c \
         WHERE NOT EXISTS (SELECT 1 FROM team_kpis n WHERE n.supersedes = c.id) \
         LIMIT 1",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
    .optional()?;
    Ok(row.map(|r| r.id))
}

/// Serialise writers of one (team, KPI, period) for the rest of the transaction: the table has
/// no unique key for "one current value per period" (history rows share the period), so the
/// duplicate check and the insert run under this lock. Collisions of the 64-bit key only make
/// unrelated writers wait for each other.
async fn lock_period(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    team: Uuid,
    new: &NewKpi,
) -> AppResult<()> {
    let (start, end) = (new.period_start.to_string(), new.period_end.to_string());
    let parts: [&[u8]; 6] = [
        team.as_bytes(),
        new.kpi.as_bytes(),
        &[0],
        start.as_bytes(),
        &[0],
        end.as_bytes(),
    ];
    crate::sql::advisory_xact_lock(conn, crate::sql::advisory_key_of("team_kpis", org, &parts))
        .await?;
    Ok(())
}

/// Who is writing.
fn recorder(actor: Actor) -> (Option<Uuid>, Option<Uuid>) {
    match actor {
        Actor::Member(m) => (Some(m), None),
        Actor::ApiKey(k) => (None, Some(k)),
    }
}

/// Record a value (inside a transaction). A period that already has a current value answers
/// 409 with its id: correct it instead.
pub async fn record(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    team: Uuid,
    actor: Actor,
    new: &NewKpi,
) -> AppResult<Kpi> {
    lock_period(conn, org, team, new).await?;
    let existing: Option<Listed> = diesel::sql_query(format!(
        "SELECT {COLUMNS}, NULL::uuid AS superseded_by FROM team_kpis k \
         WHERE k.organisation_id = $1 AND k.team_id = $2 AND k.kpi = $3 \
           AND k.period_start = $4 AND k.period_end = $5 \
           AND NOT EXISTS (SELECT 1 FROM team_kpis n WHERE n.supersedes = k.id) \
         LIMIT 1"
    ))
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(team)
    .bind::<Text, _>(&new.kpi)
    .bind::<Date, _>(new.period_start)
    .bind::<Date, _>(new.period_end)
    .get_result(conn)
    .await
    .optional()?;
    if let Some(existing) = existing {
        let current = existing.stored.view(None);
        return Err(AppError::Conflict {
            detail: format!(
                "{} of this team for {} to {} is already recorded; correct it instead \
                 (POST /api/v1/teams/{team}/kpis/{}/corrections)",
                new.kpi, new.period_start, new.period_end, current.id
            ),
            extra: Some(serde_json::json!({ "existing_id": current.id, "current": current })),
        });
    }
    let (by, by_key) = recorder(actor);
    let stored: Stored = diesel::insert_into(team_kpis::table)
        .values((
            team_kpis::organisation_id.eq(org),
            team_kpis::team_id.eq(team),
            team_kpis::kpi.eq(&new.kpi),
            team_kpis::period_start.eq(new.period_start),
            team_kpis::period_end.eq(new.period_end),
            team_kpis::value.eq(new.value),
            team_kpis::sample_size.eq(new.sample_size),
            team_kpis::note.eq(new.note.as_deref()),
            team_kpis::recorded_by.eq(by),
            team_kpis::recorded_by_key.eq(by_key),
        ))
        .returning(Stored::as_returning())
        .get_result(conn)
        .await?;
    audit::record(
        conn,
        org,
        actor,
        Action::KpiRecorded,
        Some(("team_kpi", stored.id)),
        serde_json::json!({
            "team_id": team,
            "kpi": stored.kpi,
            "period_start": stored.period_start,
            "period_end": stored.period_end,
            "value": stored.value,
            "sample_size": stored.sample_size,
        }),
    )
    .await?;
    Ok(stored.view(None))
}

/// Correct the current row `old` (inside a transaction): a new row superseding it. The old row
/// is locked first, so of concurrent corrections one wins and the others see it superseded
/// (409 with the current id); the unique `supersedes` is the last line of defence.
pub async fn correct(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    old: &Stored,
    actor: Actor,
    correction: &Correction,
) -> AppResult<Kpi> {
    // FOR UPDATE takes a row lock only: the append-only trigger fires on UPDATE, not on this.
    team_kpis::table
        .filter(team_kpis::organisation_id.eq(org))
        .filter(team_kpis::id.eq(old.id))
        .select(team_kpis::id)
        .for_update()
        .first::<Uuid>(conn)
        .await?;
    let newer: Option<Uuid> = team_kpis::table
        .filter(team_kpis::supersedes.eq(old.id))
        .select(team_kpis::id)
        .first(conn)
        .await
        .optional()?;
    if newer.is_some() {
        let current = current_of(conn, org, old.id).await?;
        return Err(superseded(old.id, current));
    }
    let (by, by_key) = recorder(actor);
    let stored: Stored = diesel::insert_into(team_kpis::table)
        .values((
            team_kpis::organisation_id.eq(org),
            team_kpis::team_id.eq(old.team_id),
            team_kpis::kpi.eq(&old.kpi),
            team_kpis::period_start.eq(old.period_start),
            team_kpis::period_end.eq(old.period_end),
            team_kpis::value.eq(correction.value),
            team_kpis::sample_size.eq(correction.sample_size),
            team_kpis::note.eq(&correction.note),
            team_kpis::supersedes.eq(old.id),
            team_kpis::recorded_by.eq(by),
            team_kpis::recorded_by_key.eq(by_key),
        ))
        .returning(Stored::as_returning())
        .get_result(conn)
        .await
        .map_err(|e| match e {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => superseded(old.id, None),
            other => AppError::from(other),
        })?;
    audit::record(
        conn,
        org,
        actor,
        Action::KpiCorrected,
        Some(("team_kpi", stored.id)),
        serde_json::json!({
            "team_id": old.team_id,
            "kpi": old.kpi,
            "period_start": old.period_start,
            "period_end": old.period_end,
            "supersedes": old.id,
            "previous_value": old.value,
            "previous_sample_size": old.sample_size,
            "value": stored.value,
            "sample_size": stored.sample_size,
            "note": correction.note,
        }),
    )
    .await?;
    Ok(stored.view(None))
}

fn superseded(id: Uuid, current: Option<Uuid>) -> AppError {
    AppError::Conflict {
        detail: match current {
            Some(c) => format!(
                "this value has already been corrected; correct the current value {c} instead"
            ),
            None => "this value has just been corrected by someone else; list the KPIs with \
                     include_history=true to see the current value"
                .to_string(),
        },
        extra: Some(serde_json::json!({ "kpi_id": id, "current_id": current })),
    }
}
