//! The team leads' weekly digest: where an organisation asks for it (`weekly_lead_digest`),
//! each active team lead gets, from Monday 07:00 in the organisation's time zone, an email on
//! their team's past week (Monday to Sunday): recognitions received and their points, wins
//! logged, the company values recognised most, and who on the team has not been recognised in
//! 30 days. Counts only: no recognition's message or private detail is in it.
//!
//! Every process looks every `mail_digest_check_secs` on Mondays from 07:00 (local); the
//! outbox's `dedupe_key` (the lead and the ISO week) makes the first to queue a lead's digest
//! the only one. A digest is a Monday email: if no process runs all Monday, that week's is
//! skipped rather than arriving on a Thursday.

use std::time::Duration;

use chrono::NaiveDate;
use diesel::sql_types::{BigInt, Date, Jsonb, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::kinds::EmailKind;
use super::mailer::Mail;
use super::outbox::{self, Letter};
use crate::db::Db;
use crate::error::AppResult;

/// The most digests one look queues (the rest on the next look).
const PER_LOOK: i64 = 200;
/// The most quiet members named (the rest are counted).
const QUIET_NAMED: usize = 10;

pub fn start(db: Db, mail: Mail, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match db.conn().await {
                Ok(mut conn) => {
                    if let Err(e) = queue_due(&mut conn, &mail).await {
                        tracing::warn!(error = %e, "weekly digests failed");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "weekly digests: no connection"),
            }
        }
    });
}

#[derive(diesel::QueryableByName)]
struct Due {
    #[diesel(sql_type = SqlUuid)]
    organisation_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    member_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    team_id: Uuid,
    #[diesel(sql_type = Text)]
    team: String,
    #[diesel(sql_type = Text)]
    time_zone: String,
    #[diesel(sql_type = Text)]
    dedupe_key: String,
    /// The Monday the digest's week ends before (local).
    #[diesel(sql_type = Date)]
    monday: NaiveDate,
}

/// Leads whose digest for this week is due and not yet queued.
const DUE: &str = "\
SELECT m.organisation_id, m.id AS member_id, t.id AS team_id, t.name AS team, o.time_zone,
       'digest:' || m.id || ':' || to_char(l.local, 'IYYY-\"W\"IW') AS dedupe_key,
       date_trunc('week', l.local)::date AS monday
FROM organisations o
CROSS JOIN LATERAL (SELECT frontline_now() AT TIME ZONE o.time_zone AS local) l
JOIN members m ON m.organisation_id = o.id AND m.role = 'team_lead'
     AND m.deactivated_at IS NULL AND m.erased_at IS NULL
JOIN teams t ON t.organisation_id = o.id AND t.id = m.team_id AND t.archived_at IS NULL
WHERE o.weekly_lead_digest
  AND l.local >= date_trunc('week', l.local) + interval '7 hours'
  AND l.local < date_trunc('week', l.local) + interval '1 day'
  AND NOT EXISTS (SELECT 1 FROM email_messages e
                  WHERE e.dedupe_key = 'digest:' || m.id || ':' || to_char(l.local, 'IYYY-\"W\"IW'))
ORDER BY m.organisation_id, m.id
LIMIT $1";

/// Queue the digests that are due; how many.
pub async fn queue_due(conn: &mut AsyncPgConnection, mail: &Mail) -> AppResult<usize> {
    if !mail.enabled() {
        return Ok(0);
    }
    let due: Vec<Due> = diesel::sql_query(DUE)
        .bind::<BigInt, _>(PER_LOOK)
        .load(conn)
        .await?;
    let mut queued = 0;
    for lead in due {
        let week = week_of(conn, &lead).await?;
        let letter = Letter {
            kind: EmailKind::WeeklyDigest,
            organisation_id: lead.organisation_id,
            member_id: lead.member_id,
            to: None,
            dedupe_key: Some(lead.dedupe_key.clone()),
        };
        let from = lead.monday - chrono::Days::new(7);
        let to = lead.monday - chrono::Days::new(1);
        let link = mail.link("", None);
        let mut quiet = week.quiet;
        let quiet_more = quiet.len().saturating_sub(QUIET_NAMED);
        quiet.truncate(QUIET_NAMED);
        let sent = outbox::queue(conn, mail, letter, |_| {
            minijinja::context! {
                team => lead.team, from => from.to_string(), to => to.to_string(),
                recognitions => week.recognitions, points => week.points, wins => week.wins,
                values => minijinja::Value::from(minijinja::value::Serde(&week.top_values)), quiet => quiet, quiet_more => quiet_more, link => link,
            }
        })
        .await?;
        queued += usize::from(sent);
    }
    Ok(queued)
}

#[derive(diesel::QueryableByName)]
struct Week {
    #[diesel(sql_type = BigInt)]
    recognitions: i64,
    #[diesel(sql_type = BigInt)]
    points: i64,
    #[diesel(sql_type = BigInt)]
    wins: i64,
    /// `[{name, count}]`, most first, at most three.
    #[diesel(sql_type = Jsonb)]
    top_values: serde_json::Value,
    /// Names, alphabetical.
    #[diesel(sql_type = diesel::sql_types::Array<Text>)]
    quiet: Vec<String>,
}

/// The team's week before `$4` (local Monday) in zone `$3`: recognitions its members received
/// (not undone or hidden) and their points, wins its members logged, the top values, and the
/// active members (the lead aside) not recognised in the 30 days before the Monday.
const WEEK: &str = "\
WITH bounds AS (
    SELECT (($4::date - 7)::timestamp AT TIME ZONE $3) AS starts,
           ($4::date::timestamp AT TIME ZONE $3) AS ends
), received AS (
    SELECT r.id, r.points_each
    FROM recognition_recipients rr
    JOIN recognitions r ON r.organisation_id = rr.organisation_id AND r.id = rr.recognition_id
    CROSS JOIN bounds b
    WHERE rr.organisation_id = $1 AND rr.team_id = $2
      AND r.created_at >= b.starts AND r.created_at < b.ends
      AND r.undone_at IS NULL AND r.hidden_at IS NULL
)
SELECT (SELECT count(*) FROM received) AS recognitions,
       (SELECT coalesce(sum(points_each), 0)::bigint FROM received) AS points,
       (SELECT count(*) FROM initiatives i CROSS JOIN bounds b
        WHERE i.organisation_id = $1 AND i.team_id = $2
          AND i.created_at >= b.starts AND i.created_at < b.ends) AS wins,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('name', v.name, 'count', v.n)
                                  ORDER BY v.n DESC, v.name), '[]'::jsonb)
        FROM (SELECT cv.name, count(*) AS n
              FROM (SELECT DISTINCT id FROM received) rc
              JOIN recognition_values rv ON rv.organisation_id = $1 AND rv.recognition_id = rc.id
              JOIN company_values cv ON cv.organisation_id = $1 AND cv.id = rv.value_id
              GROUP BY cv.name ORDER BY n DESC, cv.name LIMIT 3) v) AS top_values,
       ARRAY(SELECT m.display_name FROM members m CROSS JOIN bounds b
             WHERE m.organisation_id = $1 AND m.team_id = $2 AND m.id <> $5
               AND m.deactivated_at IS NULL AND m.erased_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM recognition_recipients rr
                   JOIN recognitions r ON r.organisation_id = rr.organisation_id
                                      AND r.id = rr.recognition_id
                   WHERE rr.organisation_id = $1 AND rr.member_id = m.id
                     AND r.created_at >= b.ends - interval '30 days' AND r.created_at < b.ends
                     AND r.undone_at IS NULL AND r.hidden_at IS NULL)
             ORDER BY m.display_name LIMIT 1000) AS quiet";

async fn week_of(conn: &mut AsyncPgConnection, lead: &Due) -> AppResult<Week> {
    Ok(diesel::sql_query(WEEK)
        .bind::<SqlUuid, _>(lead.organisation_id)
        .bind::<SqlUuid, _>(lead.team_id)
        .bind::<Text, _>(&lead.time_zone)
        .bind::<Date, _>(lead.monday)
        .bind::<SqlUuid, _>(lead.member_id)
        .get_result(conn)
        .await?)
}
