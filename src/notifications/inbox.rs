//! Writing the members' inbox: the sink of `events::emit` for notifications. One statement,
//! in the transaction of the change.
//!
//! **No gap, no duplicate.** A member's notifications are numbered by `seq` from their row in
//! `notification_sequences`, whose lock the statement takes and the transaction holds to its
//! commit: a second writer for the member waits for it and takes the next numbers, so the
//! numbers follow commit order and a rollback gives its numbers back. A reader that has seen
//! everything up to `seq` (a stream's `Last-Event-ID`) therefore never misses a row that
//! commits later. Rows are locked in member-id order, so two deliveries never deadlock on
//! them; run it late in the transaction, so that the lock is held briefly.

use diesel::sql_types::{Array, Jsonb, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::AppResult;
use crate::events::Happened;
use crate::sql::Prepared;

/// Who gets what: the audience of each event, without its actor, each member once; members
/// of `$1` who are active and not erased and have not turned the kind off. `quiet` is whether
/// the member's local time (their zone, else the organisation's) is in their quiet hours
/// (`[start, end)`, wrapping midnight when start > end).
const DELIVER: &str = "\
WITH input AS (
    SELECT * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::uuid[], $6::uuid[], $7::jsonb[])
        WITH ORDINALITY AS i(member_id, kind, subject_type, subject_id, actor_id, data, ord)
), wanted AS (
    SELECT i.*, coalesce((
        SELECT CASE WHEN s.quiet_start <= s.quiet_end THEN t.at >= s.quiet_start AND t.at < s.quiet_end
                    ELSE t.at >= s.quiet_start OR t.at < s.quiet_end END
        FROM notification_settings s
        CROSS JOIN LATERAL (SELECT (frontline_now() AT TIME ZONE coalesce(s.time_zone, o.time_zone))::time AS at) t
        WHERE s.member_id = i.member_id AND s.quiet_start IS NOT NULL
    ), false) AS quiet
    FROM input i
    JOIN members m ON m.organisation_id = $1 AND m.id = i.member_id
        AND m.deactivated_at IS NULL AND m.erased_at IS NULL
    JOIN organisations o ON o.id = $1
    WHERE NOT EXISTS (SELECT 1 FROM notification_preferences p
        WHERE p.member_id = i.member_id AND p.kind = i.kind AND NOT p.enabled)
), seqs AS (
    INSERT INTO notification_sequences (organisation_id, member_id, last_seq)
    SELECT $1, member_id, count(*) FROM wanted GROUP BY member_id ORDER BY member_id
    ON CONFLICT (member_id) DO UPDATE SET last_seq = notification_sequences.last_seq + EXCLUDED.last_seq
    RETURNING member_id, last_seq
)
INSERT INTO notifications (organisation_id, member_id, seq, kind, subject_type, subject_id, actor_id, data, quiet)
SELECT $1, w.member_id,
       s.last_seq - count(*) OVER (PARTITION BY w.member_id)
           + row_number() OVER (PARTITION BY w.member_id ORDER BY w.ord),
       w.kind, w.subject_type, w.subject_id, w.actor_id, w.data, w.quiet
FROM wanted w JOIN seqs s USING (member_id)";

/// Deliver `events` of organisation `org` to their audiences' inboxes.
pub async fn deliver(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    events: &[Happened],
) -> AppResult<()> {
    let mut members = Vec::new();
    let mut kinds = Vec::new();
    let mut subject_types = Vec::new();
    let mut subjects = Vec::new();
    let mut actors = Vec::new();
    let mut data = Vec::new();
    for e in events {
        for member in e.listeners() {
            members.push(member);
            kinds.push(e.kind.as_str());
            subject_types.push(e.subject.0.as_str());
            subjects.push(e.subject.1);
            actors.push(e.actor);
            data.push(e.data.clone());
        }
    }
    if members.is_empty() {
        return Ok(());
    }
    Prepared(
        diesel::sql_query(DELIVER)
            .bind::<SqlUuid, _>(org)
            .bind::<Array<SqlUuid>, _>(&members)
            .bind::<Array<Text>, _>(&kinds)
            .bind::<Array<Text>, _>(&subject_types)
            .bind::<Array<SqlUuid>, _>(&subjects)
            .bind::<Array<Nullable<SqlUuid>>, _>(&actors)
            .bind::<Array<Jsonb>, _>(&data),
    )
    .execute(conn)
    .await?;
    // Their open streams read again once this commits (a member left out above only reads
    // nothing new).
    crate::wakeups::noted(members);
    Ok(())
}

/// Take back what recognition `id` told its recipients and giver (received, boosted): it was
/// undone or hidden, and an inbox should not announce kudos that no longer stand. Read or not,
/// the rows go (a stream that already showed one has shown it; the next numbers are unaffected).
pub async fn withdraw_recognition(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    id: Uuid,
) -> AppResult<usize> {
    Ok(diesel::sql_query(
        "DELETE FROM notifications n \
         USING (SELECT rr.member_id FROM recognition_recipients rr \
                WHERE rr.organisation_id = $1 AND rr.recognition_id = $2 \
                UNION SELECT r.giver_id FROM recognitions r \
                WHERE r.organisation_id = $1 AND r.id = $2 AND r.giver_id IS NOT NULL) told \
         WHERE n.member_id = told.member_id AND n.organisation_id = $1 \
           AND n.subject_type = 'recognition' AND n.subject_id = $2",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(id)
    .execute(conn)
    .await?)
}
