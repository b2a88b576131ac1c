//! The rows ring detection reads: the window's dominant edges, and the members it names.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::Thresholds;
use crate::error::AppResult;

type SqlUuid = diesel::sql_types::Uuid;

/// The statement that finds a window's dominant edges (its parameters are described in the
/// file). Public so that the tests and the benchmark time the very statement the service runs.
pub const DOMINANT_EDGES: &str = include_str!("dominant_edges.sql");

/// Settings of the detection's transaction. The aggregate reads every peer recognition of the
/// window once: JIT compilation would cost it more than it saves (~0.2 s), and its hash tables
/// fit in this much memory for a 90-day window of an organisation of 10,000 members (larger
/// windows spill to disk rather than grow). A window of a year may take a few seconds in a
/// large organisation, so its statements may run for 30 s, unless the server allows longer.
pub const SETTINGS: &str = "SELECT set_config('jit', 'off', true), \
     set_config('work_mem', '32MB', true), \
     set_config('statement_timeout', \
        (SELECT CASE WHEN setting::bigint = 0 THEN '0' ELSE greatest(setting::bigint, 30000)::text END \
         FROM pg_settings WHERE name = 'statement_timeout'), true)";

/// A giver -> recipient edge over the thresholds, with its giver's total.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct DominantEdge {
    #[diesel(sql_type = SqlUuid)]
    pub giver_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub recipient_id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub points: i64,
    #[diesel(sql_type = BigInt)]
    pub recognitions: i64,
    #[diesel(sql_type = Timestamptz)]
    pub first_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub last_at: DateTime<Utc>,
    /// The giver's peer points given in the window, to anyone.
    #[diesel(sql_type = BigInt)]
    pub given: i64,
}

/// The dominant edges of `[starts_at, ends_at)` in `org`, by giver and recipient.
pub async fn dominant_edges(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    (starts_at, ends_at): (DateTime<Utc>, DateTime<Utc>),
    thresholds: &Thresholds,
) -> AppResult<Vec<DominantEdge>> {
    Ok(diesel::sql_query(DOMINANT_EDGES)
        .bind::<SqlUuid, _>(org)
        .bind::<Timestamptz, _>(starts_at)
        .bind::<Timestamptz, _>(ends_at)
        .bind::<BigInt, _>(thresholds.min_recognitions)
        .bind::<BigInt, _>(thresholds.min_points)
        .bind::<BigInt, _>(thresholds.min_share_percent)
        .load(conn)
        .await?)
}

/// A member as a ring names them.
#[derive(Debug, Clone, QueryableByName)]
pub struct MemberRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub display_name: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub team_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub team_name: Option<String>,
    #[diesel(sql_type = Bool)]
    pub deactivated: bool,
}

/// The members of `org` among `ids`, with their current team.
pub async fn members(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    ids: &[Uuid],
) -> AppResult<Vec<MemberRow>> {
    Ok(diesel::sql_query(
        "SELECT m.id, m.display_name, m.team_id, t.name AS team_name, \
                m.deactivated_at IS NOT NULL AS deactivated \
         FROM members m \
         LEFT JOIN teams t ON t.organisation_id = m.organisation_id AND t.id = m.team_id \
         WHERE m.organisation_id = $1 AND m.id = ANY($2)",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<Array<SqlUuid>, _>(ids)
    .load(conn)
    .await?)
}
