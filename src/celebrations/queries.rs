//! Celebrations' rows: which organisations award them, claiming a batch of due ones, writing
//! their recognitions; and the recognition gaps of a team.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Date, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::CelebrationKind;
use crate::error::AppResult;
use crate::recognition::giving::GivingKind;
use crate::schema::{recognition_recipients, recognitions};

/// An organisation that pays for at least one kind of celebration.
#[derive(QueryableByName)]
pub struct Awarding {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub time_zone: String,
    #[diesel(sql_type = Integer)]
    pub birthday_points: i32,
    #[diesel(sql_type = Integer)]
    pub anniversary_points: i32,
}

/// Every organisation whose point rules pay birthdays or anniversaries.
pub async fn awarding_organisations(conn: &mut AsyncPgConnection) -> AppResult<Vec<Awarding>> {
    Ok(sql_query(
        "SELECT o.id, o.time_zone, r.birthday_points, r.anniversary_points \
         FROM organisations o JOIN point_rules r ON r.organisation_id = o.id \
         WHERE r.birthday_points > 0 OR r.anniversary_points > 0 \
         ORDER BY o.id",
    )
    .load(conn)
    .await?)
}

/// A celebration this transaction claimed, with what its recognition needs.
#[derive(QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = SqlUuid)]
    pub member_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub recognition_id: Uuid,
    #[diesel(sql_type = Text)]
    pub display_name: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub team_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Date>)]
    pub started_on: Option<NaiveDate>,
}

/// Claim up to `limit` of the organisation's `kind` celebrations due on a day of `year` whose
/// month is `month` and day one of `days` (Feb 29's on Feb 28 of other years): active members
/// who have none of that kind this year, in member order. One statement: the primary key
/// (member, kind, year) decides; a claim another transaction holds makes this one wait for it
/// and then skip the member, so however many processes run, each is claimed once. Answers the
/// claimed, each with the id its recognition must take.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    kind: CelebrationKind,
    (year, month, days): (i32, u32, &[u32]),
    limit: i64,
) -> AppResult<Vec<Claimed>> {
    let due = match kind {
        CelebrationKind::Birthday => "m.birth_month = $4 AND m.birth_day = ANY($5)",
        // Anniversaries from the first one on: a start this year is no anniversary yet.
        CelebrationKind::WorkAnniversary => {
            "EXTRACT(MONTH FROM m.started_on) = $4 AND EXTRACT(DAY FROM m.started_on) = ANY($5) \
             AND EXTRACT(YEAR FROM m.started_on) < $3"
        }
    };
    let days: Vec<i32> = days.iter().map(|d| *d as i32).collect();
    Ok(sql_query(format!(
        "WITH due AS ( \
           SELECT m.id FROM members m \
           WHERE m.organisation_id = $1 AND m.deactivated_at IS NULL AND m.erased_at IS NULL \
             AND {due} \
             AND NOT EXISTS (SELECT 1 FROM celebrations c \
                             WHERE c.member_id = m.id AND c.kind = $2 AND c.year = $3) \
           ORDER BY m.id LIMIT $6 \
         ), claimed AS ( \
           INSERT INTO celebrations (organisation_id, member_id, kind, year, recognition_id) \
           SELECT $1, due.id, $2, $3, gen_random_uuid() FROM due ORDER BY due.id \
           ON CONFLICT DO NOTHING \
           RETURNING member_id, recognition_id \
         ) \
         SELECT c.member_id, c.recognition_id, m.display_name, m.team_id, m.started_on \
         FROM claimed c JOIN members m ON m.organisation_id = $1 AND m.id = c.member_id \
         ORDER BY c.member_id"
    ))
    .bind::<SqlUuid, _>(org)
    .bind::<Text, _>(kind.as_str())
    .bind::<Integer, _>(year)
    .bind::<Integer, _>(month as i32)
    .bind::<Array<Integer>, _>(days)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?)
}

/// A celebration's recognition: no giver, the company's pot, one recipient.
pub struct CelebrationRecognition {
    pub id: Uuid,
    pub member_id: Uuid,
    pub team_id: Option<Uuid>,
    pub message: String,
    pub points: i32,
}

/// Write the recognitions (kind `celebration`, no giver) and their recipients, in the claim's
/// transaction: the feed shows them like any other.
pub async fn insert_recognitions(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    rows: &[CelebrationRecognition],
) -> AppResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let recognition_rows: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                recognitions::organisation_id.eq(org),
                recognitions::id.eq(r.id),
                recognitions::giver_id.eq(None::<Uuid>),
                recognitions::kind.eq(GivingKind::Celebration.as_str()),
                recognitions::message.eq(r.message.as_str()),
                recognitions::points_each.eq(r.points),
            )
        })
        .collect();
    diesel::insert_into(recognitions::table)
        .values(recognition_rows)
        .execute(conn)
        .await?;
    let recipient_rows: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                recognition_recipients::organisation_id.eq(org),
                recognition_recipients::recognition_id.eq(r.id),
                recognition_recipients::member_id.eq(r.member_id),
                recognition_recipients::team_id.eq(r.team_id),
            )
        })
        .collect();
    diesel::insert_into(recognition_recipients::table)
        .values(recipient_rows)
        .execute(conn)
        .await?;
    Ok(())
}

/// One team member and their last recognition (celebrations aside).
#[derive(QueryableByName)]
pub struct GapRow {
    #[diesel(sql_type = SqlUuid)]
    pub member_id: Uuid,
    #[diesel(sql_type = Text)]
    pub display_name: String,
    #[diesel(sql_type = Text)]
    pub role: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub giver_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub giver_name: Option<String>,
}

/// The active members of `team` but `caller`, each with their latest recognition received
/// (not a celebration, nor one undone or hidden) and its giver: never recognised first (by name), then the longest ago;
/// at most `limit`. One look-up of the newest recipient row per member
/// (`recognition_recipients_member_idx`).
pub async fn gaps(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    team: Uuid,
    caller: Uuid,
    limit: i64,
) -> AppResult<Vec<GapRow>> {
    Ok(sql_query(
        "SELECT m.id AS member_id, m.display_name, m.role, last.created_at AS last_at, \
                last.giver_id, g.display_name AS giver_name \
         FROM members m \
         LEFT JOIN LATERAL ( \
           SELECT rr.created_at, r.giver_id FROM recognition_recipients rr \
           JOIN recognitions r ON r.organisation_id = rr.organisation_id AND r.id = rr.recognition_id \
           WHERE rr.organisation_id = $1 AND rr.member_id = m.id AND r.kind <> 'celebration' \
             AND r.undone_at IS NULL AND r.hidden_at IS NULL \
           ORDER BY rr.created_at DESC LIMIT 1 \
         ) last ON true \
         LEFT JOIN members g ON g.organisation_id = $1 AND g.id = last.giver_id \
         WHERE m.organisation_id = $1 AND m.team_id = $2 AND m.deactivated_at IS NULL \
           AND m.id <> $3 \
         ORDER BY last.created_at ASC NULLS FIRST, lower(m.display_name), m.id \
         LIMIT $4",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(team)
    .bind::<SqlUuid, _>(caller)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?)
}
