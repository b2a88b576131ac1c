//! The export's queries. Each works on one batch of members (or teams) for the whole range,
//! grouped by period in the organisation's time zone, so memory is bounded by the batch.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Date, Double, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::AppResult;
use crate::initiatives::queries::StageCounts;

type SqlUuid = diesel::sql_types::Uuid;

/// What an export needs of the organisation.
#[derive(Debug, Clone, QueryableByName)]
pub struct MemberRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    /// The keyset's sort key, as the database orders it.
    #[diesel(sql_type = Text)]
    pub sort_name: String,
    #[diesel(sql_type = Text)]
    pub display_name: String,
    #[diesel(sql_type = Text)]
    pub email: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub team_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub team_name: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub deactivated_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub erased_at: Option<DateTime<Utc>>,
}

/// Where a keyset page starts: after `(name, id)` when ordered by name, after `id` otherwise,
/// and never beyond `upto` (inclusive).
#[derive(Debug, Clone)]
pub struct Keyset {
    pub by_name: bool,
    pub after_name: String,
    pub after_id: Uuid,
    pub upto: Uuid,
}

const MEMBER_COLUMNS: &str = "m.id, lower(m.display_name) AS sort_name, m.display_name, m.email, m.team_id, t.name AS team_name, \
     m.created_at, m.deactivated_at, m.erased_at \
     FROM members m LEFT JOIN teams t ON t.organisation_id = m.organisation_id AND t.id = m.team_id";

/// The next batch of members (of one team, if given).
pub async fn members_page(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    team: Option<Uuid>,
    keyset: &Keyset,
    limit: i64,
) -> AppResult<Vec<MemberRow>> {
    let team_filter = if team.is_some() {
        "AND m.team_id = $6"
    } else {
        "AND $6::uuid IS NULL"
    };
    let sql = if keyset.by_name {
        format!(
            "SELECT {MEMBER_COLUMNS} WHERE m.organisation_id = $1 {team_filter} \
             AND (lower(m.display_name), m.id) > ($2, $3) AND $4::uuid IS NOT NULL \
             ORDER BY lower(m.display_name), m.id LIMIT $5"
        )
    } else {
        format!(
            "SELECT {MEMBER_COLUMNS} WHERE m.organisation_id = $1 {team_filter} \
             AND $2::text IS NOT NULL AND m.id > $3 AND m.id <= $4 \
             ORDER BY m.id LIMIT $5"
        )
    };
    Ok(diesel::sql_query(sql)
        .bind::<SqlUuid, _>(org)
        .bind::<Text, _>(&keyset.after_name)
        .bind::<SqlUuid, _>(keyset.after_id)
        .bind::<SqlUuid, _>(keyset.upto)
        .bind::<BigInt, _>(limit)
        .bind::<Nullable<SqlUuid>, _>(team)
        .load(conn)
        .await?)
}

#[derive(Debug, Clone, QueryableByName)]
pub struct TeamRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub sort_name: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub archived_at: Option<DateTime<Utc>>,
}

/// The next batch of teams by name (one team, if given), archived ones included.
pub async fn teams_page(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    team: Option<Uuid>,
    keyset: &Keyset,
    limit: i64,
) -> AppResult<Vec<TeamRow>> {
    Ok(diesel::sql_query(
        "SELECT t.id, lower(t.name) AS sort_name, t.name, t.created_at, t.archived_at FROM teams t \
         WHERE t.organisation_id = $1 AND ($5::uuid IS NULL OR t.id = $5) \
         AND (lower(t.name), t.id) > ($2, $3) \
         ORDER BY lower(t.name), t.id LIMIT $4",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<Text, _>(&keyset.after_name)
    .bind::<SqlUuid, _>(keyset.after_id)
    .bind::<BigInt, _>(limit)
    .bind::<Nullable<SqlUuid>, _>(team)
    .load(conn)
    .await?)
}

/// Counts of one member (or team) in one period.
#[derive(Debug, Clone, Default, QueryableByName)]
pub struct Activity {
    /// The member or team.
    #[diesel(sql_type = SqlUuid)]
    pub subject: Uuid,
    #[diesel(sql_type = Date)]
    pub bucket: NaiveDate,
    #[diesel(embed)]
    pub wins: StageCounts,
    #[diesel(sql_type = BigInt)]
    pub given: i64,
    #[diesel(sql_type = BigInt)]
    pub received: i64,
    #[diesel(sql_type = BigInt)]
    pub points: i64,
    /// Events that are activity, whatever the value filter: initiatives and their events,
    /// recognitions given and received, ledger entries the member earned (not an admin's
    /// adjustment or reversal).
    #[diesel(sql_type = BigInt)]
    pub activity_events: i64,
    /// Distinct members with activity (team rows), whatever the value filter.
    #[diesel(sql_type = BigInt)]
    pub active_members: i64,
}

impl Activity {
    pub fn active(&self) -> bool {
        self.activity_events > 0
    }
}

// Event kinds in the union below.
// 1 submitted, 2 approved, 3 implemented, 4 measured, 5 given, 6 received,
// 7 an earning ledger entry, 8 an adjustment or reversal (points, not activity). Redemptions
// (points spent on rewards, and their refunds) are not points earned: not in the union at all.
// `counted`: whether the event counts in the columns a value filter narrows (recognitions
// given and received, points); activity and active members always count every event.
const AGGREGATE: &str = "SELECT subject, date_trunc($5, at AT TIME ZONE $6)::date AS bucket, \
       count(*) FILTER (WHERE kind = 1) AS submitted, \
       count(*) FILTER (WHERE kind = 2) AS approved, \
       count(*) FILTER (WHERE kind = 3) AS implemented, \
       count(*) FILTER (WHERE kind = 4) AS measured, \
       count(*) FILTER (WHERE kind = 5 AND counted) AS given, \
       count(*) FILTER (WHERE kind = 6 AND counted) AS received, \
       coalesce(sum(points) FILTER (WHERE counted), 0)::bigint AS points, \
       count(*) FILTER (WHERE kind <> 8) AS activity_events, \
       count(DISTINCT member_id) FILTER (WHERE kind <> 8) AS active_members \
     FROM ev GROUP BY 1, 2";

/// Whether the recognition whose id is the SQL expression `id` carries the value `$7` (used
/// only when there is a value to filter by).
fn carries(id: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM recognition_values cv WHERE cv.organisation_id = $1 \
           AND cv.recognition_id = {id} AND cv.value_id = $7)"
    )
}

/// With a value filter (`$7`), whether ledger entry `l` is points of a recognition carrying
/// the value: paid for it (the recipient's entry, or a boost's), or reversing such an entry.
/// These are the entries the value's boards sum (`leaderboards::by_value`).
fn value_points() -> String {
    let paid = carries("l.source_id");
    let reversed = carries("p.source_id");
    format!(
        "((l.source_type = 'recognition' AND {paid}) \
          OR (l.reverses IS NOT NULL AND EXISTS (SELECT 1 FROM ledger_entries p \
                WHERE p.organisation_id = $1 AND p.id = l.reverses \
                  AND p.source_type = 'recognition' AND {reversed})))"
    )
}

const EVENT_KIND: &str = "CASE e.kind WHEN 'approved' THEN 2 WHEN 'implemented' THEN 3 ELSE 4 END";
const LEDGER_KIND: &str = "CASE WHEN l.reason IN ('adjustment', 'reversal') THEN 8 ELSE 7 END";

/// Whose activity an export counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// Each member, by their own id.
    Member,
    /// Each team, every event counted for the team its member was in at the time: the
    /// initiative's team for initiatives and their events, the recipient's team as recorded for
    /// recognitions received, the ledger entry's team for points, and the giver's team stint
    /// at the moment of giving for recognitions given.
    Team,
}

/// What the per-period queries of one batch read: whose, when, and how bucketed.
#[derive(Debug, Clone, Copy)]
pub struct BatchQuery<'a> {
    pub org: Uuid,
    pub by: By,
    /// The batch's members or teams.
    pub subjects: &'a [Uuid],
    /// [start, end) of the whole export.
    pub range: (DateTime<Utc>, DateTime<Utc>),
    /// `week`, `month` or `quarter` (`date_trunc`'s names).
    pub granularity: &'a str,
    /// The organisation's time zone.
    pub tz: &'a str,
    /// Only recognitions carrying this company value count (`value_id=`).
    pub value: Option<Uuid>,
}

/// Activity of a batch of members or teams per period. With a value, recognitions given and
/// received, and points, count only recognitions carrying that company value (and the points
/// they paid); initiatives, activity and active members stay whole.
pub async fn activity(
    conn: &mut AsyncPgConnection,
    q: &BatchQuery<'_>,
) -> AppResult<Vec<Activity>> {
    let BatchQuery { by, value, .. } = *q;
    // The subject column of each source, and for recognitions given what joins it.
    let (author, giver, giver_join, recipient, earner) = match by {
        By::Member => (
            "i.author_id",
            "r.giver_id",
            "",
            "rr.member_id",
            "l.member_id",
        ),
        By::Team => (
            "i.team_id",
            "tm.team_id",
            "JOIN team_memberships tm ON tm.organisation_id = r.organisation_id AND tm.member_id = r.giver_id \
              AND tm.started_at <= r.created_at AND (tm.ended_at IS NULL OR tm.ended_at > r.created_at)",
            "rr.team_id",
            "l.team_id",
        ),
    };
    // Without a value every event counts; `$7` (null) is still named so the binds match.
    let (given_counted, received_counted, points_counted) = match value {
        None => (
            "$7::uuid IS NULL".to_string(),
            "$7::uuid IS NULL".to_string(),
            "$7::uuid IS NULL".to_string(),
        ),
        Some(_) => (
            carries("r.id"),
            carries("rr.recognition_id"),
            value_points(),
        ),
    };
    let sql = format!(
        "WITH ev AS ( \
           SELECT {author} AS subject, i.author_id AS member_id, i.created_at AS at, 1 AS kind, 0 AS points, \
                  true AS counted \
             FROM initiatives i \
             WHERE i.organisation_id = $1 AND {author} = ANY($2) AND i.created_at >= $3 AND i.created_at < $4 \
           UNION ALL \
           SELECT {author}, i.author_id, e.created_at, {EVENT_KIND}, 0, true \
             FROM initiatives i JOIN initiative_events e ON e.initiative_id = i.id AND e.organisation_id = i.organisation_id \
             WHERE i.organisation_id = $1 AND {author} = ANY($2) \
               AND e.kind IN ('approved', 'implemented', 'measured') AND e.created_at >= $3 AND e.created_at < $4 \
           UNION ALL \
           SELECT {giver}, r.giver_id, r.created_at, 5, 0, {given_counted} FROM recognitions r {giver_join} \
             WHERE r.organisation_id = $1 AND {giver} = ANY($2) AND r.created_at >= $3 AND r.created_at < $4 \
               AND r.undone_at IS NULL AND r.hidden_at IS NULL \
           UNION ALL \
           SELECT {recipient}, rr.member_id, rr.created_at, 6, 0, {received_counted} FROM recognition_recipients rr \
             WHERE rr.organisation_id = $1 AND {recipient} = ANY($2) AND rr.created_at >= $3 AND rr.created_at < $4 \
               AND {standing} \
           UNION ALL \
           SELECT {earner}, l.member_id, l.created_at, {LEDGER_KIND}, l.points, {points_counted} FROM ledger_entries l \
             WHERE l.organisation_id = $1 AND {earner} = ANY($2) AND l.created_at >= $3 AND l.created_at < $4 \
               AND l.reason <> 'redemption' \
         ) {AGGREGATE}",
        standing = crate::sql::standing("rr.recognition_id"),
    );
    Ok(diesel::sql_query(sql)
        .bind::<SqlUuid, _>(q.org)
        .bind::<Array<SqlUuid>, _>(q.subjects)
        .bind::<Timestamptz, _>(q.range.0)
        .bind::<Timestamptz, _>(q.range.1)
        .bind::<Text, _>(q.granularity)
        .bind::<Text, _>(q.tz)
        .bind::<Nullable<SqlUuid>, _>(value)
        .load(conn)
        .await?)
}

/// A company value as the export names it.
#[derive(Debug, Clone, QueryableByName)]
pub struct ValueKey {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    /// Without its '#', as stored.
    #[diesel(sql_type = Text)]
    pub hashtag: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub active: bool,
}

/// Every company value of the organisation, active or not (an organisation keeps a few dozen).
pub async fn values(conn: &mut AsyncPgConnection, org: Uuid) -> AppResult<Vec<ValueKey>> {
    Ok(diesel::sql_query(
        "SELECT id, hashtag, active FROM company_values WHERE organisation_id = $1 ORDER BY hashtag, id",
    )
    .bind::<SqlUuid, _>(org)
    .load(conn)
    .await?)
}

/// Recognitions received by one member (or team) in one period that carry one value.
#[derive(Debug, Clone, QueryableByName)]
pub struct ValueCount {
    #[diesel(sql_type = SqlUuid)]
    pub subject: Uuid,
    #[diesel(sql_type = Date)]
    pub bucket: NaiveDate,
    #[diesel(sql_type = SqlUuid)]
    pub value_id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub recognitions: i64,
}

/// Per member (or team) of the batch, period and company value: the recognitions received that
/// carry the value. A member's row counts each recognition naming them; a team's counts each
/// recognition naming one of its members (as recorded at the time, `recognition_recipients.
/// team_id`) once, however many of them it names. With `value`, only recognitions that also
/// carry that value count.
pub async fn recognitions_by_value(
    conn: &mut AsyncPgConnection,
    q: &BatchQuery<'_>,
) -> AppResult<Vec<ValueCount>> {
    let BatchQuery { by, value, .. } = *q;
    let subject = match by {
        By::Member => "rr.member_id",
        By::Team => "rr.team_id",
    };
    let carried = match value {
        None => "$7::uuid IS NULL".to_string(),
        Some(_) => carries("rr.recognition_id"),
    };
    let sql = format!(
        "SELECT {subject} AS subject, date_trunc($5, rr.created_at AT TIME ZONE $6)::date AS bucket, \
                rv.value_id, count(DISTINCT rr.recognition_id) AS recognitions \
         FROM recognition_recipients rr \
         JOIN recognition_values rv ON rv.organisation_id = rr.organisation_id \
              AND rv.recognition_id = rr.recognition_id \
         WHERE rr.organisation_id = $1 AND {subject} = ANY($2) \
           AND rr.created_at >= $3 AND rr.created_at < $4 AND {carried} AND {standing} \
         GROUP BY 1, 2, 3",
        standing = crate::sql::standing("rr.recognition_id"),
    );
    Ok(diesel::sql_query(sql)
        .bind::<SqlUuid, _>(q.org)
        .bind::<Array<SqlUuid>, _>(q.subjects)
        .bind::<Timestamptz, _>(q.range.0)
        .bind::<Timestamptz, _>(q.range.1)
        .bind::<Text, _>(q.granularity)
        .bind::<Text, _>(q.tz)
        .bind::<Nullable<SqlUuid>, _>(value)
        .load(conn)
        .await?)
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Headcount {
    #[diesel(sql_type = SqlUuid)]
    pub team_id: Uuid,
    #[diesel(sql_type = Date)]
    pub bucket: NaiveDate,
    #[diesel(sql_type = BigInt)]
    pub members: i64,
}

/// Per team and period: the members who were in the team at some time during the period
/// (by their team history) and not deactivated before it began.
pub async fn team_headcounts(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    teams: &[Uuid],
    buckets: &[(NaiveDate, DateTime<Utc>, DateTime<Utc>)],
) -> AppResult<Vec<Headcount>> {
    let starts: Vec<NaiveDate> = buckets.iter().map(|b| b.0).collect();
    let start_ats: Vec<DateTime<Utc>> = buckets.iter().map(|b| b.1).collect();
    let end_ats: Vec<DateTime<Utc>> = buckets.iter().map(|b| b.2).collect();
    Ok(diesel::sql_query(
        "SELECT tm.team_id, b.bucket, count(DISTINCT tm.member_id) AS members \
         FROM unnest($3::date[], $4::timestamptz[], $5::timestamptz[]) AS b(bucket, s, e) \
         JOIN team_memberships tm ON tm.organisation_id = $1 AND tm.team_id = ANY($2) \
              AND tm.started_at < b.e AND (tm.ended_at IS NULL OR tm.ended_at > b.s) \
         JOIN members m ON m.organisation_id = tm.organisation_id AND m.id = tm.member_id \
              AND (m.deactivated_at IS NULL OR m.deactivated_at > b.s) \
         GROUP BY 1, 2",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<Array<SqlUuid>, _>(teams)
    .bind::<Array<Date>, _>(starts)
    .bind::<Array<Timestamptz>, _>(start_ats)
    .bind::<Array<Timestamptz>, _>(end_ats)
    .load(conn)
    .await?)
}

#[derive(Debug, Clone, QueryableByName)]
pub struct TeamSize {
    #[diesel(sql_type = SqlUuid)]
    pub team_id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub members: i64,
}

/// The current number of active (not deactivated, not erased) members of each team.
pub async fn current_team_sizes(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    teams: &[Uuid],
) -> AppResult<Vec<TeamSize>> {
    Ok(diesel::sql_query(
        "SELECT team_id, count(*) AS members FROM members \
         WHERE organisation_id = $1 AND team_id = ANY($2) \
           AND deactivated_at IS NULL AND erased_at IS NULL \
         GROUP BY team_id",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<Array<SqlUuid>, _>(teams)
    .load(conn)
    .await?)
}

#[derive(Debug, Clone, QueryableByName)]
pub struct KpiValue {
    #[diesel(sql_type = SqlUuid)]
    pub team_id: Uuid,
    #[diesel(sql_type = Date)]
    pub bucket: NaiveDate,
    #[diesel(sql_type = Text)]
    pub kpi: String,
    #[diesel(sql_type = Double)]
    pub value: f64,
}

/// Per team, period and KPI: the current value (not superseded by a correction) of the
/// latest KPI period starting in the export period.
pub async fn kpis(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    teams: &[Uuid],
    range: (NaiveDate, NaiveDate),
    granularity: &str,
) -> AppResult<Vec<KpiValue>> {
    Ok(diesel::sql_query(
        "SELECT DISTINCT ON (k.team_id, bucket, k.kpi) \
                k.team_id, date_trunc($5, k.period_start::timestamp)::date AS bucket, k.kpi, k.value \
         FROM team_kpis k \
         WHERE k.organisation_id = $1 AND k.team_id = ANY($2) \
           AND k.period_start >= $3 AND k.period_start < $4 \
           AND NOT EXISTS (SELECT 1 FROM team_kpis c WHERE c.supersedes = k.id) \
         ORDER BY k.team_id, bucket, k.kpi, k.period_start DESC, k.recorded_at DESC, k.id DESC",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<Array<SqlUuid>, _>(teams)
    .bind::<Date, _>(range.0)
    .bind::<Date, _>(range.1)
    .bind::<Text, _>(granularity)
    .load(conn)
    .await?)
}
