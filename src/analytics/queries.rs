//! The aggregates behind the engagement report. Each query groups by team and, with
//! `GROUPING SETS (..., ())`, adds the organisation's total in the same pass: a row whose
//! `total` is 1 is the organisation, not a team without one.
//!
//! Activity is attributed to the team stored with it: `initiatives.team_id` (the author's team at
//! submission), `recognition_recipients.team_id` and `ledger_entries.team_id` (the member's team
//! at the time); a recognition given counts for the giver's current team, the only one known.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Date, Double, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::AppResult;
use crate::initiatives::queries::StageCounts;

type SqlUuid = diesel::sql_types::Uuid;

/// The organisation and the range, as instants (activity) and as days (KPI periods).
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub org: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// A figure per team, and the organisation's.
#[derive(Debug, Clone, Default)]
pub struct PerTeam<T> {
    pub teams: HashMap<Uuid, T>,
    pub organisation: T,
}

impl<T: Default + Clone> PerTeam<T> {
    pub fn of(&self, team: Uuid) -> T {
        self.teams.get(&team).cloned().unwrap_or_default()
    }
}

#[derive(QueryableByName)]
pub struct TeamRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Bool)]
    pub archived: bool,
}

/// The live teams by name, and `also` (any team of the organisation, archived or not).
pub async fn teams(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    also: Option<Uuid>,
) -> AppResult<Vec<TeamRow>> {
    Ok(diesel::sql_query(
        "SELECT id, name, archived_at IS NOT NULL AS archived FROM teams \
         WHERE organisation_id = $1 AND (archived_at IS NULL OR id = $2) \
         ORDER BY lower(name), id",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<Nullable<SqlUuid>, _>(also)
    .load(conn)
    .await?)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    team_id: Option<Uuid>,
    #[diesel(sql_type = Integer)]
    total: i32,
    /// Members counted for their team.
    #[diesel(sql_type = BigInt)]
    in_team: i64,
    /// Members counted for the organisation.
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn per_team_counts(rows: Vec<Count>) -> PerTeam<i64> {
    let mut out = PerTeam::default();
    for r in rows {
        match (r.total, r.team_id) {
            (1, _) => out.organisation = r.n,
            (_, Some(team)) => {
                out.teams.insert(team, r.in_team);
            }
            _ => {}
        }
    }
    out
}

/// Active members now (not deactivated, not erased), by current team; the organisation's
/// count includes members without a team (HR, admins).
pub async fn members(conn: &mut AsyncPgConnection, org: Uuid) -> AppResult<PerTeam<i64>> {
    let rows: Vec<Count> = diesel::sql_query(
        "SELECT team_id, GROUPING(team_id) AS total, count(*) AS in_team, count(*) AS n \
         FROM members \
         WHERE organisation_id = $1 AND deactivated_at IS NULL AND erased_at IS NULL \
         GROUP BY GROUPING SETS ((team_id), ())",
    )
    .bind::<SqlUuid, _>(org)
    .load(conn)
    .await?;
    Ok(per_team_counts(rows))
}

/// Activity in the range, as (team at the time, member) pairs: initiatives submitted,
/// recognitions given and received, points earned (positive entries, not adjustments or
/// reversals, which are an admin's doing, nor refunds of redemptions, which are not earned).
/// Undone and hidden recognitions are not activity (`sql::standing`).
fn activity() -> String {
    format!(
        "SELECT team_id, author_id AS member_id FROM initiatives \
          WHERE organisation_id = $1 AND created_at >= $2 AND created_at < $3 \
         UNION \
         SELECT g.team_id, r.giver_id FROM recognitions r \
           JOIN members g ON g.organisation_id = r.organisation_id AND g.id = r.giver_id \
          WHERE r.organisation_id = $1 AND r.created_at >= $2 AND r.created_at < $3 \
            AND r.undone_at IS NULL AND r.hidden_at IS NULL \
         UNION \
         {received} \
         UNION \
         SELECT team_id, member_id FROM ledger_entries \
          WHERE organisation_id = $1 AND created_at >= $2 AND created_at < $3 \
            AND points > 0 AND reason NOT IN ('adjustment', 'reversal', 'redemption')",
        received = received()
    )
}

fn received() -> String {
    format!(
        "SELECT rr.team_id, rr.member_id FROM recognition_recipients rr \
          WHERE rr.organisation_id = $1 AND rr.created_at >= $2 AND rr.created_at < $3 AND {}",
        crate::sql::standing("rr.recognition_id")
    )
}

/// Distinct active members of `pairs`: per team, those who are members of that team now and
/// whose activity was in that team; for the organisation, every active member.
async fn distinct_members(
    conn: &mut AsyncPgConnection,
    range: &Range,
    pairs: &str,
) -> AppResult<PerTeam<i64>> {
    let sql = format!(
        "WITH a (team_id, member_id) AS ({pairs}) \
         SELECT a.team_id, GROUPING(a.team_id) AS total, \
                count(DISTINCT a.member_id) FILTER (WHERE m.team_id = a.team_id) AS in_team, \
                count(DISTINCT a.member_id) AS n \
         FROM a JOIN members m ON m.organisation_id = $1 AND m.id = a.member_id \
              AND m.deactivated_at IS NULL AND m.erased_at IS NULL \
         GROUP BY GROUPING SETS ((a.team_id), ())"
    );
    let rows: Vec<Count> = diesel::sql_query(sql)
        .bind::<SqlUuid, _>(range.org)
        .bind::<Timestamptz, _>(range.starts_at)
        .bind::<Timestamptz, _>(range.ends_at)
        .load(conn)
        .await?;
    Ok(per_team_counts(rows))
}

/// Members with any activity in the range.
pub async fn participants(conn: &mut AsyncPgConnection, range: &Range) -> AppResult<PerTeam<i64>> {
    distinct_members(conn, range, &activity()).await
}

/// Members who received a recognition in the range.
pub async fn recognised(conn: &mut AsyncPgConnection, range: &Range) -> AppResult<PerTeam<i64>> {
    distinct_members(conn, range, &received()).await
}

/// Initiatives submitted in the range, and how far they have got since.
#[derive(Debug, Clone, Default, QueryableByName)]
pub struct Funnel {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub team_id: Option<Uuid>,
    #[diesel(sql_type = Integer)]
    pub total: i32,
    #[diesel(embed)]
    pub stages: StageCounts,
    #[diesel(sql_type = BigInt)]
    pub declined: i64,
}

/// The funnel of the initiatives submitted in the range (a cohort): how many of them have
/// reached approved, implemented and measured by now. The lifecycle only moves forward, so
/// "reached approved" is a status of approved, implemented or measured.
pub async fn funnel(conn: &mut AsyncPgConnection, range: &Range) -> AppResult<PerTeam<Funnel>> {
    let rows: Vec<Funnel> = diesel::sql_query(
        "SELECT team_id, GROUPING(team_id) AS total, count(*) AS submitted, \
                count(*) FILTER (WHERE status IN ('approved', 'implemented', 'measured')) AS approved, \
                count(*) FILTER (WHERE status IN ('implemented', 'measured')) AS implemented, \
                count(*) FILTER (WHERE status = 'measured') AS measured, \
                count(*) FILTER (WHERE status = 'declined') AS declined \
         FROM initiatives \
         WHERE organisation_id = $1 AND created_at >= $2 AND created_at < $3 \
         GROUP BY GROUPING SETS ((team_id), ())",
    )
    .bind::<SqlUuid, _>(range.org)
    .bind::<Timestamptz, _>(range.starts_at)
    .bind::<Timestamptz, _>(range.ends_at)
    .load(conn)
    .await?;
    let mut out = PerTeam::default();
    for r in rows {
        match (r.total, r.team_id) {
            (1, _) => out.organisation = r,
            (_, Some(team)) => {
                out.teams.insert(team, r);
            }
            _ => {}
        }
    }
    Ok(out)
}

#[derive(QueryableByName)]
struct Keyed {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    team_id: Option<Uuid>,
    #[diesel(sql_type = Integer)]
    total: i32,
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = BigInt)]
    points: i64,
}

pub type Breakdown = HashMap<String, i64>;

async fn points_by(
    conn: &mut AsyncPgConnection,
    range: &Range,
    keyed: &str,
) -> AppResult<PerTeam<Breakdown>> {
    let sql = format!(
        "SELECT e.team_id, GROUPING(e.team_id) AS total, e.key, sum(e.points)::bigint AS points \
         FROM ({keyed}) e \
         GROUP BY GROUPING SETS ((e.team_id, e.key), (e.key))"
    );
    let rows: Vec<Keyed> = diesel::sql_query(sql)
        .bind::<SqlUuid, _>(range.org)
        .bind::<Timestamptz, _>(range.starts_at)
        .bind::<Timestamptz, _>(range.ends_at)
        .load(conn)
        .await?;
    Ok(per_team_keys(rows))
}

fn per_team_keys(rows: Vec<Keyed>) -> PerTeam<Breakdown> {
    let mut out: PerTeam<Breakdown> = PerTeam::default();
    for r in rows {
        match (r.total, r.team_id) {
            (1, _) => {
                out.organisation.insert(r.key, r.points);
            }
            (_, Some(team)) => {
                out.teams.entry(team).or_default().insert(r.key, r.points);
            }
            _ => {}
        }
    }
    out
}

/// Net points earned by the ledger entries made in the range, by CX dimension (`none` without
/// one). Reversals carry the dimension of the entry they cancel, so they net out; redemptions
/// (spending, and refunds) are not points earned.
pub async fn points_by_dimension(
    conn: &mut AsyncPgConnection,
    range: &Range,
) -> AppResult<PerTeam<Breakdown>> {
    points_by(
        conn,
        range,
        "SELECT team_id, COALESCE(dimension, 'none') AS key, points FROM ledger_entries \
         WHERE organisation_id = $1 AND created_at >= $2 AND created_at < $3 \
           AND reason <> 'redemption'",
    )
    .await
}

/// Net points of the ledger entries made in the range, by the channel of the initiative they
/// came from; entries from anything else (recognitions, badges, adjustments...) under `other`.
/// A reversal counts under the source of the entry it cancels. Redemptions are left out.
pub async fn points_by_channel(
    conn: &mut AsyncPgConnection,
    range: &Range,
) -> AppResult<PerTeam<Breakdown>> {
    points_by(
        conn,
        range,
        "SELECT e.team_id, COALESCE(i.channel, 'other') AS key, e.points \
         FROM ledger_entries e \
         LEFT JOIN ledger_entries o ON o.organisation_id = e.organisation_id AND o.id = e.reverses \
         LEFT JOIN initiatives i ON i.organisation_id = e.organisation_id \
              AND i.id = CASE WHEN e.reverses IS NULL THEN e.source_id ELSE o.source_id END \
              AND (CASE WHEN e.reverses IS NULL THEN e.source_type ELSE o.source_type END) = 'initiative' \
         WHERE e.organisation_id = $1 AND e.created_at >= $2 AND e.created_at < $3 \
           AND e.reason <> 'redemption'",
    )
    .await
}

/// Recognitions received in the range by company value (the value's hashtag as key): per
/// team, those with a recipient in the team (their team when recognised), each once however
/// many of its members it named; for the organisation, each once.
pub async fn recognitions_by_value(
    conn: &mut AsyncPgConnection,
    range: &Range,
) -> AppResult<PerTeam<Breakdown>> {
    let rows: Vec<Keyed> = diesel::sql_query(format!(
        "SELECT rr.team_id, GROUPING(rr.team_id) AS total, c.hashtag AS key, \
                count(DISTINCT v.recognition_id) AS points \
         FROM recognition_values v \
         JOIN company_values c ON c.organisation_id = v.organisation_id AND c.id = v.value_id \
         JOIN recognition_recipients rr ON rr.organisation_id = v.organisation_id \
              AND rr.recognition_id = v.recognition_id \
         WHERE v.organisation_id = $1 AND v.created_at >= $2 AND v.created_at < $3 AND {} \
         GROUP BY GROUPING SETS ((rr.team_id, c.hashtag), (c.hashtag))",
        crate::sql::standing("v.recognition_id")
    ))
    .bind::<SqlUuid, _>(range.org)
    .bind::<Timestamptz, _>(range.starts_at)
    .bind::<Timestamptz, _>(range.ends_at)
    .load(conn)
    .await?;
    Ok(per_team_keys(rows))
}

/// The hashtags of the organisation's active values, the keys every `recognitions_by_value`
/// shows.
pub async fn active_hashtags(conn: &mut AsyncPgConnection, org: Uuid) -> AppResult<Vec<String>> {
    use crate::schema::company_values;
    use diesel::{ExpressionMethods, QueryDsl};
    use diesel_async::RunQueryDsl;
    Ok(company_values::table
        .filter(company_values::organisation_id.eq(org))
        .filter(company_values::active.eq(true))
        .select(company_values::hashtag)
        .load(conn)
        .await?)
}

/// The first and last current value of one team's KPI in the range.
#[derive(Debug, Clone, QueryableByName)]
pub struct KpiSpan {
    #[diesel(sql_type = SqlUuid)]
    pub team_id: Uuid,
    #[diesel(sql_type = Text)]
    pub kpi: String,
    #[diesel(sql_type = BigInt)]
    pub periods: i64,
    #[diesel(sql_type = Date)]
    pub first_start: NaiveDate,
    #[diesel(sql_type = Date)]
    pub first_end: NaiveDate,
    #[diesel(sql_type = Double)]
    pub first_value: f64,
    #[diesel(sql_type = Nullable<Integer>)]
    pub first_sample: Option<i32>,
    #[diesel(sql_type = Date)]
    pub last_start: NaiveDate,
    #[diesel(sql_type = Date)]
    pub last_end: NaiveDate,
    #[diesel(sql_type = Double)]
    pub last_value: f64,
    #[diesel(sql_type = Nullable<Integer>)]
    pub last_sample: Option<i32>,
}

/// For each team and KPI: the current values (rows nothing supersedes) whose period starts in
/// the range, first and last by period start (then period end, then recording time).
pub async fn kpi_spans(
    conn: &mut AsyncPgConnection,
    range: &Range,
) -> AppResult<HashMap<Uuid, Vec<KpiSpan>>> {
    const FIRST: &str = "ORDER BY k.period_start, k.period_end, k.recorded_at, k.id";
    const LAST: &str =
        "ORDER BY k.period_start DESC, k.period_end DESC, k.recorded_at DESC, k.id DESC";
    let sql = format!(
        "SELECT k.team_id, k.kpi, count(*) AS periods, \
                (array_agg(k.period_start {FIRST}))[1] AS first_start, \
                (array_agg(k.period_end {FIRST}))[1] AS first_end, \
                (array_agg(k.value {FIRST}))[1] AS first_value, \
                (array_agg(k.sample_size {FIRST}))[1] AS first_sample, \
                (array_agg(k.period_start {LAST}))[1] AS last_start, \
                (array_agg(k.period_end {LAST}))[1] AS last_end, \
                (array_agg(k.value {LAST}))[1] AS last_value, \
                (array_agg(k.sample_size {LAST}))[1] AS last_sample \
         FROM team_kpis k \
         WHERE k.organisation_id = $1 AND k.period_start >= $2 AND k.period_start < $3 \
           AND NOT EXISTS (SELECT 1 FROM team_kpis n WHERE n.supersedes = k.id) \
         GROUP BY k.team_id, k.kpi \
         ORDER BY k.team_id, k.kpi"
    );
    let rows: Vec<KpiSpan> = diesel::sql_query(sql)
        .bind::<SqlUuid, _>(range.org)
        .bind::<Date, _>(range.from)
        .bind::<Date, _>(range.to)
        .load(conn)
        .await?;
    let mut out: HashMap<Uuid, Vec<KpiSpan>> = HashMap::new();
    for r in rows {
        out.entry(r.team_id).or_default().push(r);
    }
    Ok(out)
}
